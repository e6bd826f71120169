#!/usr/bin/env bash
# The loop stays live while data floods in (issue 10, item 2): a ticker thread keeps ticking
# while 256 MiB of stdout (1 GiB under make soak) is captured, shown and streamed to a
# callback, locally and from a remote host; `run("yes", {timeout = 2})` ends at its timeout locally and remotely.
# Only behaviour is asserted, never speed: the ticker ticks while the data is still arriving
# (it sees the sender part-way through), and every transfer finishes. How late its ticks are
# is printed here and measured in `make bench` (section 8: median and worst of 10 runs).
# This file runs the local half; fault_liveness_remote.sh sources it for the remote half (two
# files, so that they run in parallel).
source "$TESTROOT/remote_lib.sh"
source "$TESTROOT/fleet_lib.bash"
WHERE=${LIVENESS_WHERE:-local}
plan 10

script ticker.sshs <<'EOS'
local T = require "t"
local clock = _SSHS.core.clock
local where, mode = arg[1], arg[2]
if where ~= "local" then connect(where) end
local tag = "(" .. where .. ", " .. mode .. ") "
-- 256 MiB; 1 GiB under make soak (SSHS_SOAK=1). Either is seconds of transfer, hundreds of ticks.
local GiB = T.env("SSHS_SOAK") and 1073741824 or 268435456
-- The sender writes 16 pieces and, after each, its count to a file the ticker reads: a tick
-- that sees 1..15 came while the data was still arriving (the capture cannot be complete).
local progress = T.tmp .. "/progress." .. where .. "." .. mode
T.write(progress, "0")
local running, worst, ticks, seen = true, 0, 0, {}
local ticker = thread(function()
  local last = clock()
  while running do
    sleep(0.01)
    local now = clock()
    local late = now - last - 0.01
    if late > worst then worst = late end
    ticks = ticks + 1
    local k = tonumber(T.read(progress))
    if k and k > 0 and k < 16 then seen[k] = true end
    last = now
  end
end)
local t0 = clock()
local cmd = string.format("i=0; while [ $i -lt 16 ]; do head -c %d /dev/zero; i=$((i+1)); echo $i > %s; done",
  GiB // 16, progress)
local n
if mode == "capture" then
  n = #run(cmd, {max_output = GiB}).stdout
elseif mode == "shown" then
  $ #{raw(cmd)} | tr '\0' z | fold -w 4000; echo
  n = #$.stdout
else
  n = 0
  run(cmd, {on_stdout = function(d) n = n + #d end})
end
local took = clock() - t0
running = false
ticker:join()
local parts = 0
for _ in pairs(seen) do parts = parts + 1 end
io.stderr:write(string.format("%s%d MiB in %.1f s; %d ticks, %d of them part-way; worst tick lateness %.0f ms\n",
  tag, GiB // 1048576, took, ticks, parts, worst * 1000))
T.ok(tag .. "all of it arrived", n == (mode == "shown" and 1048576 or GiB), n)
-- A loop held by the transfer would tick at most once while it runs; this one keeps ticking.
T.ok(tag .. string.format("the ticker ticks while the data arrives (it saw the sender at %d of 15 points part-way)", parts),
     parts >= 2, "ticks: " .. ticks)
EOS
for where in $WHERE; do
  for mode in capture shown callback; do
    HOME=$SSHS_TEST_HOME timeout -k 3 600 "$SSHS" "$TMP/ticker.sshs" "$where" "$mode" 2> "$TMP/err" < /dev/null |
      grep -a -E '^(ok|not ok|#) '
    rc=${PIPESTATUS[0]}
    grep -a 'worst tick' "$TMP/err" | sed 's/^/# /'
    [ "$rc" = 0 ] || not_ok "($where, $mode) the script runs to the end (exit $rc; 124: hung, killed after 600 s)" "$(tail -n 15 "$TMP/err")"
  done
done

# run("yes", {timeout = 2}) ends: captured, it stops at the timeout or at max_output (an
# error, whichever comes first); streamed to a callback, at the timeout (not before 2 s).
script yes.sshs <<'EOS'
local T = require "t"
local where = arg[1]
if where ~= "local" then connect(where) end
local clock = _SSHS.core.clock
local t0 = clock()
local ok, r = pcall(run, "yes", {timeout = 2})
local dt = clock() - t0
T.ok("(" .. where .. ") run('yes', {timeout = 2}) captured: raises, timed out or past max_output",
     not ok and type(r) == "table" and (r.timed_out or T.msg(r):find("exceeded max_output", 1, true)), T.msg(r))
T.ok("(" .. where .. ") ... at whichever comes first: the timeout not before 2 s, or max_output with truncated output ("
     .. string.format("%.2f", dt) .. " s)",
     type(r) == "table" and (r.timed_out and dt >= 1.95 or not r.timed_out and r.truncated == true), dt)
t0 = clock()
local n = 0
ok, r = pcall(run, "yes", {timeout = 2, check = false, on_stdout = function(d) n = n + #d end})
dt = clock() - t0
T.ok("(" .. where .. ") run('yes', {timeout = 2, on_stdout = f}): ends timed out", ok and r.timed_out, T.msg(r))
T.ok("(" .. where .. ") ... at the timeout, not before 2 s (" .. string.format("%.2f", dt) .. " s, " .. n .. " bytes)",
     dt >= 1.95 and n > 0, dt)
EOS
for where in $WHERE; do LIMIT=120 lua_checks yes.sshs "$where"; done
