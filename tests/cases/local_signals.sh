# Ctrl-C, timeouts and a closed stdout: running commands' whole process groups are killed,
# the exit status says what happened, and no child process is left behind.
source "$TESTROOT/lib.sh"
plan 29

MARK=7$$$RANDOM
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
less_than() { [ "$(echo "$1 < $2" | bc)" = 1 ]; }

# wait_for PATTERN: until a process matching it runs (at most 60 s: a guard against a hang)
wait_for() { for _ in $(seq 1 1200); do pgrep -f -- "$1" > /dev/null && return 0; sleep 0.05; done; return 1; }
# ended PID: waits for PID to exit (60 s at most, a hang guard: else it is killed and rc is
# "hung"); sets rc. The commands here would run for days: exiting at all is the behaviour.
ended() {
  local i
  for i in $(seq 1 600); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; wait "$1"; rc=hung; else wait "$1"; rc=$?; fi
}
# guarded ARGS...: run_sshs under a 60 s hang guard (rc 124 when it hung); took: its wall time.
guarded() {
  local t0; t0=$(now)
  timeout -k 5 60 "$SSHS" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
  took=$(elapsed "$t0")
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}

# interrupt NAME PATTERN SCRIPT: runs SCRIPT in the background, waits until PATTERN runs,
# sends SIGINT to sshs, and records rc (see ended), stderr and how long sshs took to exit.
interrupt() {
  local name=$1 pat=$2
  "$SSHS" "$TMP/$3" > "$TMP/out" 2> "$TMP/err" < /dev/null &
  local pid=$!
  if ! wait_for "$pat"; then not_ok "$name: the command started" "$(cat "$TMP/err")"; fi
  local t0; t0=$(now)
  kill -INT "$pid"
  ended "$pid"
  took=$(elapsed "$t0")
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}

# --- Ctrl-C during a command (its background child too)
cat > "$TMP/int1.sshs" <<EOF
print("started")
\$ sleep 9$MARK.1 & sleep 9$MARK.2; echo never
print("not reached")
EOF
interrupt "Ctrl-C" "sleep 9$MARK.2" int1.sshs
expect_rc 130 "Ctrl-C: exit status 130"
if [ "$rc" != hung ]; then ok "Ctrl-C: sshs exits (does not wait for the command)"; else not_ok "Ctrl-C: sshs exits (does not wait for the command)" "still running after 60 s"; fi
expect_out "started" "Ctrl-C: the script does not go on"
no_leftover "sleep 9$MARK.[12]" "Ctrl-C: the command and its background child are killed"

# --- Ctrl-C with several threads running commands
cat > "$TMP/int2.sshs" <<EOF
for i = 1, 5 do thread(function() \$ sleep 9$MARK.3
 end) end
thread(function() sleep(100) end)
\$ sleep 9$MARK.4
EOF
interrupt "Ctrl-C with threads" "sleep 9$MARK.4" int2.sshs
expect_rc 130 "Ctrl-C with threads: exit status 130"
if [ "$rc" != hung ]; then ok "Ctrl-C with threads: exits"; else not_ok "Ctrl-C with threads: exits" "still running after 60 s"; fi
no_leftover "sleep 9$MARK.[34]" "Ctrl-C with threads: every thread's command is killed"

# --- Ctrl-C when the command ignores SIGINT: killed after the grace period
cat > "$TMP/int3.sshs" <<EOF
\$ trap '' INT; sleep 9$MARK.5
EOF
interrupt "Ctrl-C, INT ignored" "sleep 9$MARK.5" int3.sshs
expect_rc 130 "Ctrl-C, INT ignored: exit status 130"
if [ "$rc" != hung ] && ! less_than "$took" 1; then ok "Ctrl-C, INT ignored: killed after the grace period (1 s; took $took s)"
else not_ok "Ctrl-C, INT ignored: killed after the grace period (1 s)" "rc $rc after $took s"; fi
no_leftover "sleep 9$MARK.5" "Ctrl-C, INT ignored: nothing left behind"

# --- Ctrl-C during sleep()
echo 'sleep(60) print("not reached")' > "$TMP/int4.sshs"
"$SSHS" "$TMP/int4.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!; sleep 0.3; kill -INT "$pid"; ended "$pid"; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 130 "Ctrl-C during sleep(): exit status 130"
expect_out "" "Ctrl-C during sleep(): the script does not go on"

# --- timeout kills the whole process group
guarded -e "with timeout(0.3) do
  \$ sleep 9$MARK.6 & sleep 9$MARK.7; echo never
end"
expect_rc 1 "timeout: uncaught, exit 1"
expect_err_has "(timed out after 0.3s)" "timeout: reported as timed out"
if [ "$rc" != 124 ] && ! less_than "$took" 0.3; then ok "timeout: returns at the timeout (not before 0.3 s; $took s)"; else not_ok "timeout: returns at the timeout" "rc $rc after $took s"; fi
no_leftover "sleep 9$MARK.[67]" "timeout: the command and its background child are killed"

# --- a command that ignores TERM: KILL after 1 s
guarded -e "with timeout(0.2) do with check(false) do
  local r = \$ trap '' TERM; sleep 9$MARK.8 & sleep 9$MARK.9
  print(r.signal, r.exitcode, r.ok, r.duration >= 1.0)
end end"
expect_rc 0 "timeout, TERM ignored: check(false) returns the result"
expect_out "KILL	nil	false	true" "timeout, TERM ignored: killed by KILL after the 1 s grace"
if ! less_than "$took" 1.2; then ok "timeout, TERM ignored: done after the timeout and the grace (not before 1.2 s; $took s)"; else not_ok "timeout, TERM ignored: done after the timeout and the grace" "took $took s"; fi
no_leftover "sleep 9$MARK.[89]" "timeout, TERM ignored: nothing left behind"

# --- run(..., {timeout}) in several threads at once
# concurrently: all five are inside run() at once (one after another, at most one would be)
guarded -e "local hs, now, peak = {}, 0, 0
for i = 1, 5 do hs[i] = thread(function()
  now = now + 1; peak = math.max(peak, now)
  local s = run('sleep 9$MARK.10', {timeout = 0.3, check = false}).signal
  now = now - 1
  return s
end) end
for i = 1, 5 do io.write(hs[i]:join(), ' ') end print() print(peak)"
expect_out "TERM TERM TERM TERM TERM 
5" "timeouts in 5 threads: each command is stopped"
if [ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = 5 ]; then ok "timeouts in 5 threads: concurrently"; else not_ok "timeouts in 5 threads: concurrently" "$(show)"; fi
no_leftover "sleep 9$MARK.10" "timeouts in 5 threads: nothing left behind"

# --- sshs's stdout closed by the reader (sshs ... | head -1): sshs must not run on forever
timeout -k 5 60 "$SSHS" -e "\$ yes sshs-yes-$MARK" 2> "$TMP/err" < /dev/null | head -n 1 > "$TMP/out"
rc=${PIPESTATUS[0]}
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_out "sshs-yes-$MARK" "stdout closed: the first line arrived"
if [ "$rc" != 124 ] && [ "$rc" != 137 ]; then ok "stdout closed: sshs stops (does not run forever; 60 s hang guard)"
else not_ok "stdout closed: sshs stops (does not run forever)" "rc=$rc: still running after 60 s"; fi
no_leftover "yes sshs-yes-$MARK" "stdout closed: the command is not left behind"

# --- without a pidfd (old kernels, valgrind; SSHS_NO_PIDFD=1 makes it so): a command that
# closed its output and runs on is waited for (waitpid on a loop timer), never killed
export SSHS_NO_PIDFD=1
guarded -e "with check(false) do
  local r = run([[exec >/dev/null 2>&1; sleep 1; exit 7]])
  print(r.exitcode, r.signal)
end"
expect_out "7	nil" "no pidfd: a command that closed its output and ran on gives its own exit status"
guarded -e "with check(false) do
  local r = run([[exec >/dev/null 2>&1; exec sleep 9$MARK.11]], {timeout = 0.5})
  print(r.exitcode, r.signal)
end"
expect_out "nil	TERM" "no pidfd: its timeout still stops it (TERM), and it is reaped"
no_leftover "sleep 9$MARK.11" "no pidfd: nothing left behind"
unset SSHS_NO_PIDFD
