#!/usr/bin/env bash
# A transfer to a server that stops answering (its per-connection sshd SIGSTOPped mid-transfer)
# still ends, as a command does: with timeout() and each{host_timeout} it fails with "timed
# out", on Ctrl-C (twice) and SIGTERM sshs exits; and the connection closes afterwards without
# waiting on the stopped server. Uploads and downloads; a private sshd of this file's own.
source "$TESTROOT/remote_lib.sh"
plan 32

start_sshd "$TMP/srv" || exit 1
# Every sshd process we stop is continued and killed whatever happens.
STOPPED=$TMP/stopped
: > "$STOPPED"
CLEANUP+=('for p in $(cat "$STOPPED"); do kill -CONT $p; kill -KILL $p; done')
export STOPPED

# libssh2 frees an SFTP handle (with the reads and writes it still holds) only once the server
# answers its close, which a stopped server never does: under ASan these stay at exit. Only
# here: every other file keeps the full leak check.
if [ -n "${SSHS_ASAN:-}" ]; then
  { cat "$REPO/tests/lsan.supp"
    printf 'leak:%s\n' sftp_open sftp_read sftp_write sftp_close_handle; } > "$TMP/lsan.supp"
  export LSAN_OPTIONS="suppressions=$TMP/lsan.supp:print_suppressions=0"
fi

# The transfer's source: 2 GiB of holes (fast to read, far more than moves before the stop).
truncate -s 2G "$TMP/big"

# stall.sshs MODE DIRECTION DEST MARK: connects to the private server, starts the transfer of
# $TMP/big into DEST (a folder; upload or download), and SIGSTOPs the server's session process
# as soon as the temporary in DEST has bytes, then writes MARK. MODE: timeout (with timeout(3)),
# host (each{host_timeout = 3}), wait (no limit: the test signals sshs).
script stall.sshs <<'EOF'
local T = require "t"
local mode, dir, dest, mark = arg[1], arg[2], arg[3], arg[4]
local big = T.env("TMP") .. "/big"

local function stop_when_moving(pid)
  T.wait_for(function()
    return T.sh("find " .. dest .. " -name '*.tmp' -size +0 2>/dev/null | head -n 1") ~= ""
  end, 60)
  local f = io.open(T.env("STOPPED"), "a"); f:write(pid, "\n"); f:close()
  T.sh("kill -STOP " .. pid)
  T.write(mark, "stopped\n")
end

local function transfer()
  local pid = $(echo $PPID)
  thread(stop_when_moving, pid)
  if dir == "up" then upload(big, dest) else download(big, dest) end
end

if mode == "timeout" then
  with connect("127.0.0.1") do
    local e = T.fails(function() with timeout(3) do transfer() end end)
    T.has(dir .. ": with timeout(3) the stalled transfer fails", e, "timed out after 3s")
    T.has("... naming the host", e, "127.0.0.1")
  end
  print("ok - " .. dir .. ": leaving the connection's block afterwards ends")
elseif mode == "host" then
  local out = each("127.0.0.1", function() transfer() end, {host_timeout = 3})
  local o = out["127.0.0.1"]
  T.eq(dir .. ": each{host_timeout = 3}: the stalled host fails", o and o.ok, false)
  T.has("... past its time limit", o and o.error, "time limit of 3s")
else
  with connect("127.0.0.1") do transfer() end
  print("not ok - the transfer was not interrupted")
end
EOF

export TMP
# run_stall MODE DIRECTION: runs it (guarded by 120 s); sets rc, out, err.
run_stall() {
  rm -rf "$TMP/dest"; mkdir "$TMP/dest"; rm -f "$TMP/mark"
  RHOME=$X_HOME LIMIT=120 lua_checks stall.sshs "$1" "$2" "$TMP/dest" "$TMP/mark"
}

for d in up down; do
  run_stall timeout "$d"
  if [ -s "$TMP/mark" ]; then ok "$d: the server was stopped mid-transfer"; else not_ok "$d: the server was stopped mid-transfer (the transfer ended first?)"; fi
  expect_rc 0 "$d: with timeout(3): sshs ends on its own, status 0"
  run_stall host "$d"
  expect_rc 0 "$d: each{host_timeout = 3}: sshs ends on its own, status 0"
done

# Signals: sshs in the background; once the server is stopped, Ctrl-C twice or SIGTERM.
signal_stall() { # $1 direction, $2 signal plan (INT2 | TERM)
  rm -rf "$TMP/dest"; mkdir "$TMP/dest"; rm -f "$TMP/mark"
  HOME=$X_HOME timeout -k 3 120 "$SSHS" "$TMP/stall.sshs" wait "$1" "$TMP/dest" "$TMP/mark" \
    > "$TMP/sig.out" 2> "$TMP/sig.err" < /dev/null &
  local guard=$! pid i
  for i in $(seq 1 600); do [ -s "$TMP/mark" ] && break; kill -0 "$guard" 2>/dev/null || break; sleep 0.1; done
  pid=$(pgrep -P "$guard")             # sshs itself, under the guard's timeout
  if [ -s "$TMP/mark" ]; then ok "$1/$2: the server was stopped mid-transfer"; else not_ok "$1/$2: the server was stopped mid-transfer" "$(cat "$TMP/sig.err")"; fi
  if [ "$2" = INT2 ]; then kill -INT "$pid"; sleep 0.5; kill -INT "$pid"; else kill -TERM "$pid"; fi
  wait "$guard"; rc=$?
  out=$(cat "$TMP/sig.out"); err=$(cat "$TMP/sig.err")
}
for d in up down; do
  signal_stall "$d" INT2
  expect_rc 130 "$d: Ctrl-C twice: sshs ends (130)"
  expect_err_has "interrupted" "$d: ... saying interrupted"
  case "$out" in *"not ok"*) not_ok "$d: ... the transfer did not complete" "$(show)";; *) ok "$d: ... the transfer did not complete";; esac
  signal_stall "$d" TERM
  expect_rc 143 "$d: SIGTERM: sshs ends (143)"
  case "$out" in *"not ok"*) not_ok "$d: ... the transfer did not complete" "$(show)";; *) ok "$d: ... the transfer did not complete";; esac
done
no_leftover "$TMP/stall.sshs" "no sshs left running"
# The temporaries of the interrupted downloads are removed (local: the stopped server does not matter).
left=$(find "$TMP/dest" -name '*.tmp' 2>/dev/null)
if [ -z "$left" ]; then ok "the interrupted download's temporary is removed"; else not_ok "the interrupted download's temporary is removed" "$left"; fi
