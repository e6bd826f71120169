#!/usr/bin/env bash
# Hosts that never answer: a connect that never completes (full accept queue, as a firewall
# that drops packets) and a server that accepts and never speaks. Alone and among 20 hosts
# with -f 1 and -f 64: the connect timeout is honoured, every other host is ok, sshs exits.
# (Issue 10, item 1: a timed-out connect left its socket watcher registered: later hosts
# failed with "cannot watch a socket" and the process never exited.)
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
source "$TESTROOT/fault_lib.bash"
need_sshd
plan 21
trap 'stop_listeners; rm -rf "$TMP"' EXIT

start_listener silent 127.0.0.1; SILENT=$LPORT
start_listener mute 127.0.0.1; MUTE=$LPORT
H=$(fault_home connect "Host silent 127.0.0.5
  HostName 127.0.0.1
  Port $SILENT
  ConnectTimeout 2
Host mute 127.0.0.7
  HostName 127.0.0.1
  Port $MUTE
  ConnectTimeout 2")

# ---------------------------------------------------------------- alone
script alone.sshs <<'EOS'
for _, target in ipairs{"silent", "mute"} do
  local ok, e = pcall(connect, target)
  io.stdout:write(target, ": ", ok and "connected?!" or tostring(e.message or e), "\n")
end
-- The same process goes on: a connect to a live host works (its socket may reuse the fd).
with connect("127.0.0.2") do $ echo after end
EOS
if bounded 120 "a silent and a mute host alone" env HOME="$H" "$SSHS" "$TMP/alone.sshs"; then
  check "silent host alone: 'timed out after 2s connecting'" grep -q '^silent: .*timed out after 2s connecting' "$TMP/out"
  check "mute host alone: 'timed out after 2s in the SSH handshake'" grep -q '^mute: .*timed out after 2s in the SSH handshake' "$TMP/out"
  check "after both timeouts a live host works in the same process" grep -qx 'after' "$TMP/out"
  check "... and the script exits 0" [ "$rc" = 0 ]
  checkv "... at the timeouts, not before (2 x 2 s)" "took ${secs}s" ge "$secs" 4
fi

# ---------------------------------------------------------------- after busy Lua
# The connect timeout counts from the connect, also after Lua that ran 1.7 s without yielding
# (libuv's cached loop time is that old then: a 2 s timeout started from it fired after 0.3 s).
# A local 0.8 s command started just after the connect must end before it fires.
script busy.sshs <<'EOS'
local clock = _SSHS.core.clock
local order = {}
local t = clock()
while clock() - t < 1.7 do end
local command = thread(function() run("sleep 0.8"); order[#order + 1] = "command done" end)
local ok, e = pcall(connect, "mute", {timeout = 2})      -- the thread starts once this waits
order[#order + 1] = ok and "connected?!" or tostring(e.message or e)
command:join()
print(table.concat(order, " | "))
EOS
if bounded 120 "a connect timeout after busy Lua" env HOME="$H" "$SSHS" "$TMP/busy.sshs"; then
  check "after busy Lua the connect timeout still fires (timed out after 2s)" grep -q 'timed out after 2s' "$TMP/out"
  check "... not before a shorter command started after it has ended" grep -q '^command done | ' "$TMP/out"
fi

# ---------------------------------------------------------------- 20 hosts, two dead ones
for f in 1 64; do
  if bounded 120 "20 hosts with -f $f" env HOME="$H" "$SSHS" -H '127.0.0.[1-20]' -f "$f" -e '$ echo ok'; then
    expected=$( (hostlines 1 4 ok; hostlines 6 6 ok; hostlines 8 20 ok) | sort)
    got=$(sort "$TMP/out")
    if [ "$got" = "$expected" ]; then ok "-f $f: the 18 live hosts print ok"
    else fail "-f $f: the 18 live hosts print ok" "$(diff <(echo "$expected") <(echo "$got") | head)" "$(detail)"; fi
    check "-f $f: no 'cannot watch a socket'" bash -c "! grep -q 'cannot watch' '$TMP/err'"
    check "-f $f: the silent host is reported as a connect timeout" \
      grep -qE '^127\.0\.0\.5: timed out after 2s connecting' "$TMP/err"
    check "-f $f: the mute host is reported as a handshake timeout" \
      grep -qE '^127\.0\.0\.7: timed out after 2s in the SSH handshake' "$TMP/err"
    check "-f $f: summary 18 ok, 2 unreachable" grep -qE '^sshs: 20 hosts in [0-9.]+s: 18 ok, 0 failed, 2 unreachable' "$TMP/err"
    check "-f $f: exit status 3 (hosts unreachable, none failed)" [ "$rc" = 3 ]
    checkv "-f $f: the run exits once the timeouts pass, not before (2 s)" "took ${secs}s" ge "$secs" 2
  fi
done
