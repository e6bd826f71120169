#!/usr/bin/env bash
# each(hosts, fn, opts) from a script: return values and per-host outcome fields, a failing,
# unreachable or hanging host does not stop the others, limit bounds concurrency, node-set
# strings and arrays, connect options for every host, prefix = false, bad arguments.
# The checks run inside one sshs script that prints the TAP lines itself.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 40

script each.sshs <<'EOF'
local clock = _SSHS.core.clock            -- monotonic seconds
local function check(name, good, ...)
  if good then print("ok - each(): " .. name); return end
  print("not ok - each(): " .. name)
  for i = 1, select("#", ...) do
    print("#   " .. (tostring((select(i, ...))):gsub("\n", "\n#   ")))
  end
end
local function show(o)
  if type(o) ~= "table" then return tostring(o) end
  local keys, parts = {}, {}
  for k in pairs(o) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(o[k]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
local function count(t) local n = 0; for _ in pairs(t) do n = n + 1 end; return n end

---------------------------------------------------------------- values and outcome fields
local calls = 0
local out = each("127.0.0.[1-6]", function(host)
  calls = calls + 1
  if host == "127.0.0.1" then $ echo live-#{host}
  end
  if host == "127.0.0.3" then $ false
  end
  if host == "127.0.0.4" then error("lua boom on four") end
  if host == "127.0.0.5" then return {answer = 42} end
  return $(set -- $SSH_CONNECTION; echo $3)
end)
check("a node-set string: one outcome per host, keyed by name", count(out) == 6 and out["127.0.0.6"] ~= nil, show(out))
check("fn called once per host", calls == 6, calls)
local o = out["127.0.0.2"] or {}
check("ok host: ok = true", o.ok == true, show(o))
check("ok host: value = fn's return (the address the host's sshd saw: the session was pushed)",
      o.value == "127.0.0.2", show(o))
check("ok host: exitcode 0, no error, not unreachable", o.error == nil and o.exitcode == 0 and math.type(o.exitcode) == "integer" and not o.unreachable, show(o))
check("ok host: duration is a number >= 0", type(o.duration) == "number" and o.duration >= 0, show(o))
o = out["127.0.0.5"] or {}
check("a returned table is the value", o.ok == true and type(o.value) == "table" and o.value.answer == 42, show(o))
o = out["127.0.0.3"] or {}
check("'$ false' on one host: ok = false, exitcode = 1, error names the command",
      o.ok == false and o.exitcode == 1 and tostring(o.error):find("false", 1, true) ~= nil, show(o))
check("'$ false' on one host: not unreachable, has a duration",
      not o.unreachable and type(o.duration) == "number", show(o))
o = out["127.0.0.4"] or {}
check("a Lua error on one host: ok = false, error has the message",
      o.ok == false and tostring(o.error):find("lua boom on four", 1, true) ~= nil, show(o))
local others = true
for _, h in ipairs{"127.0.0.1", "127.0.0.2", "127.0.0.5", "127.0.0.6"} do
  if not (out[h] and out[h].ok) then others = false end
end
check("the failing hosts do not stop the others", others, show(out["127.0.0.1"]), show(out["127.0.0.6"]))

---------------------------------------------------------------- arrays, unreachable hosts
calls = 0
out = each({"127.0.0.1", "127.0.0.7:1", "127.0.0.2"}, function(host) calls = calls + 1; return host end)
check("an array of hosts: one outcome per element", count(out) == 3, show(out))
o = out["127.0.0.7:1"] or {}
check("closed port: ok = false, unreachable = true, error says Connection refused",
      o.ok == false and o.unreachable == true and tostring(o.error):find("Connection refused", 1, true) ~= nil, show(o))
check("closed port: fn is not called for it", calls == 2, calls)
check("closed port: the other hosts are ok",
      (out["127.0.0.1"] or {}).value == "127.0.0.1" and (out["127.0.0.2"] or {}).value == "127.0.0.2",
      show(out["127.0.0.1"]), show(out["127.0.0.2"]))
out = each({}, function() error("not called") end)
check("an empty array: an empty result", type(out) == "table" and next(out) == nil, show(out))

-- connect options in opts apply to every host
out = each("127.0.0.[1-2]", function() return 1 end, {port = 1})
check("a connect option (port = 1) applies to every host",
      (out["127.0.0.1"] or {}).unreachable == true and (out["127.0.0.2"] or {}).unreachable == true,
      show(out["127.0.0.1"]), show(out["127.0.0.2"]))

---------------------------------------------------------------- limit
local function peak_of(hosts, limit, pause)
  local cur, peak = 0, 0
  local t0 = clock()
  local res = each(hosts, function()
    cur = cur + 1
    if cur > peak then peak = cur end
    sleep(pause)
    cur = cur - 1
    return true
  end, {limit = limit})
  local all = true
  for _, x in pairs(res) do if not x.ok then all = false end end
  return peak, clock() - t0, all
end
local peak, took, all = peak_of("127.0.0.[1-20]", 5, 0.2)
check("limit = 5: at most 5 hosts at once", peak <= 5 and all, "peak " .. peak)
check("limit = 5: hosts do run in parallel (peak > 1)", peak > 1, "peak " .. peak)
check("limit = 5: 20 hosts x 0.2 s take at least 0.8 s", took >= 0.75, "took " .. took)
peak, took, all = peak_of("127.0.0.[1-4]", 1, 0.1)
check("limit = 1: one host at a time", peak == 1 and all, "peak " .. peak)

---------------------------------------------------------------- bad arguments
local function raises(name, pattern, f)
  local ok, e = pcall(f)
  check(name, not ok and tostring(e):find(pattern) ~= nil, ok and "did not raise" or ("raised: " .. tostring(e)))
end
local function noop() end
calls = 0
local function counting() calls = calls + 1 end
raises("limit = 0 is an error naming limit", "limit", function() each("127.0.0.1", counting, {limit = 0}) end)
raises("limit = 'x' is an error naming limit", "limit", function() each("127.0.0.1", counting, {limit = "x"}) end)
raises("host_timeout = 'x' is an error naming host_timeout", "host_timeout",
       function() each("127.0.0.1", counting, {host_timeout = "x"}) end)
raises("an unknown option is an error naming it", "bogus", function() each("127.0.0.1", counting, {bogus = 1}) end)
raises("options that are not a table are an error", "option", function() each("127.0.0.1", counting, 5) end)
raises("fn not a function is an error", "function", function() each("127.0.0.1", "nope") end)
raises("hosts not a string or table is an error", "hosts", function() each(42, noop) end)
raises("a non-string in the hosts array is an error", "host 2", function() each({"127.0.0.1", 5}, counting) end)
raises("a bad node set is an error naming the problem", "5%-1", function() each("web[5-1]", counting) end)
raises("an unbalanced bracket is an error naming the problem", "unbalanced", function() each("web[1-3", counting) end)
check("bad arguments: fn never called", calls == 0, calls)

---------------------------------------------------------------- a hanging host
-- host_timeout = 5 (it covers the connect too: generous, for a busy machine); one host runs a
-- 120 s command: it is given up at the timeout, long before its command ends; the others finish.
local t0 = clock()
out = each("127.0.0.[1-4]", function(host)
  if host == "127.0.0.2" then $ sleep 120
  end
  return $(echo fine)
end, {host_timeout = 5})
local took_hang = clock() - t0
local hung = out["127.0.0.2"] or {}
check("host_timeout: the hanging host is reported failed with a timeout",
      hung.ok == false and tostring(hung.error):find("time") ~= nil, show(hung))
local quick = true
for _, h in ipairs{"127.0.0.1", "127.0.0.3", "127.0.0.4"} do
  local x = out[h] or {}
  if not (x.ok and x.value == "fine") then quick = false end
end
check("host_timeout: the other hosts finish normally (within their host_timeout)", quick,
      show(out["127.0.0.1"]), show(out["127.0.0.3"]), show(out["127.0.0.4"]))
check("host_timeout: each() returns at the timeout (not before 5 s), not when the command ends (120 s)",
      took_hang >= 4.95 and took_hang < 120, string.format("each() took %.1f s; the hung host's duration %s", took_hang, tostring(hung.duration)))

-- host_timeout is for the whole fn (docs/reference/fleet.md), Lua work included.
t0 = clock()
out = each({"127.0.0.1", "127.0.0.2"}, function(host)
  if host == "127.0.0.2" then sleep(120) end
  return "done"
end, {host_timeout = 5})
local took_lua = clock() - t0
check("host_timeout covers the whole fn: a host stuck in sleep(120) is given up at the timeout",
      (out["127.0.0.2"] or {}).ok == false and took_lua >= 4.95 and took_lua < 120,
      string.format("each() took %.1f s", took_lua), show(out["127.0.0.2"]))
check("host_timeout: the quick host is ok", (out["127.0.0.1"] or {}).value == "done", show(out["127.0.0.1"]))

---------------------------------------------------------------- prefix
each({"127.0.0.1"}, function() $ echo unprefixed-line
end, {prefix = false})
print("END OF CHECKS")
EOF

# The script prints its own TAP lines; here the parts only visible from outside.
HS_TIMEOUT=180 hs "$TMP/each.sshs"
grep -E '^(ok|not ok) - |^#' "$TMP/out"
check "each(): the script ran to the end, exit 0 (failed hosts do not raise)" \
  [ "$rc" = 0 -a "$(tail -n 1 "$TMP/out")" = "END OF CHECKS" ]
check "each(): live output inside fn is prefixed 'host: '" grep -qx '127.0.0.1: live-127.0.0.1' "$TMP/out"
check "each(): prefix = false drops the prefix" grep -qx 'unprefixed-line' "$TMP/out"
