#!/usr/bin/env bash
# The loop stays live while data floods in (issue 10, item 2): a ticker thread keeps ticking
# while 1 GiB of stdout is captured, shown and streamed to a callback, locally and from a
# remote host; `run("yes", {timeout = 2})` ends in about 2 s locally and remotely.
# The lateness of the ticker is reported; only a generous bound (< 1 s) is asserted here
# (the 50 ms target is measured by `make bench`).
source "$TESTROOT/remote_lib.sh"
source "$TESTROOT/fleet_lib.bash"
plan 20

script ticker.sshs <<'EOS'
local T = require "t"
local clock = _SSHS.core.clock
local where, mode = arg[1], arg[2]
if where ~= "local" then connect(where) end
local tag = "(" .. where .. ", " .. mode .. ") "
-- 1 GiB; 256 MiB under the sanitizers (that run looks for memory errors, and CI time is shared).
local GiB = T.env("SSHS_ASAN") and 268435456 or 1073741824
local running, worst, ticks = true, 0, 0
local ticker = thread(function()
  local last = clock()
  while running do
    sleep(0.05)
    local now = clock()
    local late = now - last - 0.05
    if late > worst then worst = late end
    ticks = ticks + 1
    last = now
  end
end)
local t0 = clock()
local cmd = "head -c " .. GiB .. " /dev/zero"
local n
if mode == "capture" then
  n = #run(cmd, {max_output = GiB}).stdout
elseif mode == "shown" then
  $ head -c #{GiB} /dev/zero | tr '\0' z | fold -w 4000; echo
  n = #$.stdout
else
  n = 0
  run(cmd, {on_stdout = function(d) n = n + #d end})
end
local took = clock() - t0
running = false
ticker:join()
io.stderr:write(string.format("%s%d MiB in %.1f s; %d ticks; worst tick lateness %.0f ms\n", tag, GiB // 1048576, took, ticks, worst * 1000))
T.ok(tag .. "all of it arrived", n == (mode == "shown" and 1048576 or GiB), n)
-- A generous bound (the 50 ms target is measured by make bench); sanitizers slow all down.
-- A capture's result string is made in one go at the end (one copy in place, ~0.5 s per
-- GiB here), which holds the loop: it gets twice the bound.
local bound = (T.env("SSHS_ASAN") and 3 or 1) * (mode == "capture" and 2 or 1)
T.ok(tag .. string.format("worst tick lateness %.0f ms < %d s (%d ticks in %.1f s)", worst * 1000, bound, ticks, took),
     worst < bound, worst)
EOS
for where in local 127.0.0.1; do
  for mode in capture shown callback; do
    HOME=$SSHS_TEST_HOME timeout -k 3 120 "$SSHS" "$TMP/ticker.sshs" "$where" "$mode" 2> "$TMP/err" < /dev/null |
      grep -a -E '^(ok|not ok|#) '
    rc=${PIPESTATUS[0]}
    grep -a 'worst tick' "$TMP/err" | sed 's/^/# /'
    [ "$rc" = 0 ] || not_ok "($where, $mode) the script runs to the end (exit $rc)" "$(tail -n 15 "$TMP/err")"
  done
done

# run("yes", {timeout = 2}) ends: captured, it stops at the timeout or at max_output (an
# error, whichever comes first); streamed to a callback, at the timeout in about 2 s.
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
T.between("(" .. where .. ") ... within 5 s (" .. string.format("%.2f", dt) .. " s)", dt, 0, 5)
t0 = clock()
local n = 0
ok, r = pcall(run, "yes", {timeout = 2, check = false, on_stdout = function(d) n = n + #d end})
dt = clock() - t0
T.ok("(" .. where .. ") run('yes', {timeout = 2, on_stdout = f}): ends timed out", ok and r.timed_out, T.msg(r))
T.between("(" .. where .. ") ... in about 2 s (" .. string.format("%.2f", dt) .. " s, " .. n .. " bytes)", dt, 1.9, 4)
EOS
for where in local 127.0.0.1; do LIMIT=60 lua_checks yes.sshs "$where"; done
