#!/usr/bin/env bash
# Stopping remote commands, both ways: with libssh2 >= 1.11 and OpenSSH (non-root session) a
# "signal" channel request (sshd: killpg of the command's process group); otherwise (libssh2
# 1.10, or a root session, where sshd refuses signal requests) `kill -- -PID` on a second
# channel. Timeout, host_timeout (each) and Ctrl-C each stop the command on the path that
# applies; the server's debug log shows which one ran, and no process is left behind.
source "$TESTROOT/remote_lib.sh"

SIGNALS=$((1 - LIBSSH2_OLD))
plan 20

start_sshd "$TMP/ssshd" $'LogLevel DEBUG1' || exit 1
export X_PORT X_KNOWN_HOSTS X_KEY
LOG=$X_DIR/sshd.log
# A throw-away user with /bin/sh, who may read the test key's authorized_keys.
U=sshs_transport$$
if useradd -M -d /tmp -s /bin/sh -p '*' "$U" 2>/dev/null; then CLEANUP+=("userdel $U"); fi
chmod 755 "$TMP" "$X_DIR"; chmod 644 "$X_DIR/authorized_keys"
export U

# stop.sshs USER HOW TAG: runs `sleep` with a unique argument, stopped by HOW (timeout, each,
# or nothing: the test sends Ctrl-C); prints how it ended.
script stop.sshs <<'EOF'
local user, how, tag = arg[1], arg[2], arg[3]
local o = {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
           key = os.getenv("X_KEY"), user = user}
local cmd = "sleep " .. tag .. "; echo not-reached"
if how == "timeout" then
  with connect("127.0.0.1", o) do
    local ok, e = pcall(run, cmd, {timeout = 1})
    print("ENDED", ok, tostring(e and (e.message or e)))
  end
elseif how == "each" then
  o.host_timeout = 5           -- it covers the connect too, which a busy machine slows
  local out = each("127.0.0.1", function() run(cmd) end, o)
  print("ENDED", out["127.0.0.1"].ok, tostring(out["127.0.0.1"].error))
else
  with connect("127.0.0.1", o) do
    print("STARTED"); io.stdout:flush()
    run(cmd)
    print("ENDED", "not interrupted")
  end
end
EOF
lines() { LOGLINES=$(wc -l < "$LOG"); }
newlog() { tail -n +"$((LOGLINES + 1))" "$LOG"; }
gone() { # $1 tag, $2 name: no `sleep TAG` left on the server (this machine)
  local left=""
  for _ in $(seq 1 300); do left=$(pgrep -f "^sleep $1\$"); [ -z "$left" ] && break; sleep 0.1; done
  if [ -z "$left" ]; then ok "$2"; else not_ok "$2" "left running: $left"; kill -9 $left 2>/dev/null; fi
}
# path USER NAME: which path the log shows for the last stop, checked against what applies.
path() {
  local want=kill
  [ $SIGNALS = 1 ] && [ "$1" != root ] && want=signal
  local sig execs
  sig=$(newlog | grep -c 'session_signal_req: signal TERM, killpg')
  execs=$(newlog | grep -c 'req exec')
  if [ $want = signal ]; then
    if [ "$sig" -ge 1 ] && [ "$execs" = 1 ]; then ok "$2: stopped by a signal request (sshd killpg), no second channel"
    else not_ok "$2: stopped by a signal request (sshd killpg), no second channel" "signal lines: $sig, exec requests: $execs" "$(newlog | grep -i 'signal\|req exec')"; fi
  else
    if [ "$sig" = 0 ] && [ "$execs" -ge 2 ]; then ok "$2: stopped by kill on a second channel (libssh2 $LIBSSH2_VER, user $1)"
    else not_ok "$2: stopped by kill on a second channel (libssh2 $LIBSSH2_VER, user $1)" "signal lines: $sig, exec requests: $execs" "$(newlog | grep -i 'signal\|req exec')"; fi
  fi
}

for who in "$U" root; do
  # --- timeout
  tag=47$$1; lines
  run_remote stop.sshs "$who" timeout "$tag"
  case "$out" in "ENDED	false	"*"timed out"*) ok "$who: timeout stops the command";;
    *) not_ok "$who: timeout stops the command" "$(show)";; esac
  # not before the 1 s timeout; the command itself would run for days
  if is_between "$secs" 1 3600; then ok "$who: ... at the timeout ($secs s)"; else not_ok "$who: ... at the timeout" "took $secs s"; fi
  path "$who" "$who: timeout"
  gone "$tag" "$who: ... and nothing is left running on the server"

  # --- host_timeout in each()
  tag=48$$2; lines
  run_remote stop.sshs "$who" each "$tag"
  case "$out" in "ENDED	false	"*time*) ok "$who: host_timeout stops the host's command";;
    *) not_ok "$who: host_timeout stops the host's command" "$(show)";; esac
  path "$who" "$who: host_timeout"
  gone "$tag" "$who: ... and nothing is left running on the server"

  # --- Ctrl-C
  tag=49$$3; lines
  HOME=$SSHS_TEST_HOME timeout -k 3 90 "$SSHS" "$TMP/stop.sshs" "$who" ctrlc "$tag" > "$TMP/cout" 2> "$TMP/cerr" &
  pid=$!
  for _ in $(seq 1 1200); do pgrep -f "^sleep $tag\$" >/dev/null && break; sleep 0.05; done
  kill -INT "$pid"; wait "$pid"; rc=$?
  if [ "$rc" = 130 ] && ! grep -q 'not interrupted' "$TMP/cout"; then ok "$who: Ctrl-C stops the script (exit 130)"
  else not_ok "$who: Ctrl-C stops the script (exit 130)" "rc=$rc" "$(cat "$TMP/cout" "$TMP/cerr")"; fi
  path "$who" "$who: Ctrl-C"
  gone "$tag" "$who: ... and nothing is left running on the server"
done
