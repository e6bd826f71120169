#!/usr/bin/env bash
# Streamed output read straight into the chunk queue (cmdout_stream_space): stdout and stderr
# in turns, a callback that falls behind (chunks appended to while they wait, the unused room
# of a finished chunk given back), the pid marker on stderr, a stream beside a capture, and the
# Lua collector while a stream runs (a full cycle every few chunks cost ~10% of the client's
# CPU; the held ballast makes it one every few MiB).
source "$TESTROOT/remote_lib.sh"
plan 9
# ASan holds freed blocks back (256 MB by default): the RSS check needs a small quarantine.
[ -n "${SSHS_ASAN:-}" ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"

script chunks.sshs <<'EOF'
local T = require "t"
local function rss_kb()
  return tonumber((T.read("/proc/self/status") or ""):match("VmRSS:%s*(%d+)")) or 0
end

with connect("127.0.0.1") do
  -- Full collector cycles while 64 MiB stream to a callback: an object whose finalizer makes a
  -- new one counts them.
  local cycles = 0
  local function arm() setmetatable({}, {__gc = function() cycles = cycles + 1; arm() end}) end
  arm()
  local bytes, heap = 0, 0
  local c0 = cycles
  run("head -c 67108864 /dev/zero", {on_stdout = function(d)
    bytes = bytes + #d
    heap = math.max(heap, collectgarbage("count"))
  end})
  local n = cycles - c0
  T.eq("64 MiB to a callback: every byte", bytes, 67108864)
  T.ok("the collector runs a full cycle every MiB or less often (it was every ~250 KB)", n < 64, n .. " cycles")
  T.ok("the Lua heap stays bounded meanwhile (< 32 MiB)", heap < 32768, string.format("%.0f KB", heap))

  -- 3000 turns of stdout and stderr, lines of varying length; the callback sleeps now and then
  -- so that chunks of both streams queue up behind it.
  local cmd = [[i=0; while [ $i -lt 3000 ]; do
    printf 'o%d-%0*d\n' $i $((i % 97)) 0; printf 'e%d-%0*d\n' $i $((i % 89)) 0 >&2; i=$((i+1)); done]]
  local want_o, want_e = {}, {}
  for i = 0, 2999 do
    want_o[#want_o + 1] = string.format("o%d-%s\n", i, string.rep("0", math.max(1, i % 97)))
    want_e[#want_e + 1] = string.format("e%d-%s\n", i, string.rep("0", math.max(1, i % 89)))
  end
  local outs, errs, calls, rss0 = {}, {}, 0, rss_kb()
  local peak = rss0
  local r = run(cmd, {
    on_stdout = function(d) outs[#outs + 1] = d; calls = calls + 1; if calls % 50 == 0 then sleep(0.01) end end,
    on_stderr = function(d) errs[#errs + 1] = d; peak = math.max(peak, rss_kb()) end})
  T.eq("stdout in turns with stderr: every byte, in order", table.concat(outs), table.concat(want_o))
  T.eq("stderr in turns with stdout: every byte, in order (the pid marker taken off)", table.concat(errs), table.concat(want_e))
  T.eq("streamed output is not also kept", r.stdout .. r.stderr, "")
  T.ok("memory stays small while both streams queue (RSS grows < 32 MB)", peak - rss0 < 32768, (peak - rss0) .. " KB more")

  -- A stream beside a capture: stdout to the callback, stderr kept in the result.
  local got = {}
  r = run("head -c 3000000 /dev/zero | tr '\\0' x; echo kept >&2", {on_stdout = function(d) got[#got + 1] = d end})
  T.ok("a streamed stdout beside a captured stderr", table.concat(got) == string.rep("x", 3000000) and r.stderr == "kept\n",
    #table.concat(got) .. " bytes, stderr " .. r.stderr)

  -- A callback that holds the first chunk while the rest of the window arrives behind it.
  got = {}
  local first = true
  run("seq 1 400000", {on_stdout = function(d) got[#got + 1] = d; if first then first = false; sleep(0.5) end end})
  local s = table.concat(got)
  T.ok("a held callback gets the rest in order", s:sub(1, 8) == "1\n2\n3\n4\n" and s:sub(-14) == "399999\n400000\n" and
    select(2, s:gsub("\n", "")) == 400000, #s .. " bytes")

end
EOF
lua_checks chunks.sshs
