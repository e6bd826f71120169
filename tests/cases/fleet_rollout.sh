#!/usr/bin/env bash
# Rolling runs with a failure budget: each(hosts, fn, {batch, canary, max_fail,
# count_unreachable}) and -H --batch/--canary/--max-fail. Batches run one after another, a
# canary first; failing and unreachable hosts mid-batch spend the budget, and once it is
# exceeded no new host starts: the outcomes name the hosts not started and -H exits 4.
source "$TESTROOT/lib.sh"
source "$TESTROOT/fleet_lib.bash"
need_sshd
plan 30
export XDG_STATE_HOME=$TMP/state

cond() { eval "$1"; }

script roll.sshs <<'EOF'
local function check(name, good, ...)
  if good then print("ok - each(): " .. name); return end
  print("not ok - each(): " .. name)
  for i = 1, select("#", ...) do
    print("#   " .. (tostring((select(i, ...))):gsub("\n", "\n#   ")))
  end
end
local function show(t)
  if type(t) ~= "table" then return tostring(t) end
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(t[k]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
local function hosts(a, b)
  local l = {}
  for i = a, b do l[#l + 1] = "127.0.0." .. i end
  return l
end

-- Runs each() and logs "start HOST" / "end HOST" in the order they happen (fn runs on the
-- host, so unreachable hosts log nothing). fail: hosts whose fn fails.
local function logged(list, opts, fail)
  local log = {}
  local out, _, stopped = each(list, function(host)
    log[#log + 1] = "start " .. host
    sleep(0.05 * (#log % 3))            -- hosts of a batch end in another order than they began
    $ true
    log[#log + 1] = "end " .. host
    if fail and fail[host] then error("planned failure on " .. host) end
    return host
  end, opts)
  return out, log, stopped
end
local function pos(log, what)
  for i, l in ipairs(log) do if l == what then return i end end
end
-- True when every host of each batch starts after every host of the batch before has ended.
local function in_batches(log, batches)
  for b = 2, #batches do
    for _, later in ipairs(batches[b]) do
      for _, earlier in ipairs(batches[b - 1]) do
        local s, e = pos(log, "start " .. later), pos(log, "end " .. earlier)
        if not s or not e or s < e then return false end
      end
    end
  end
  return true
end

local out, log = logged(hosts(1, 7), {batch = 3})
check("batch = 3: batches of 3, 3, 1, each after the previous one ended",
  in_batches(log, {hosts(1, 3), hosts(4, 6), hosts(7, 7)}), table.concat(log, ", "))
local all = true
for _, h in ipairs(hosts(1, 7)) do all = all and out[h].ok end
check("batch = 3: every host ran and is ok", all, show(out))

out, log = logged(hosts(1, 9), {batch = "34%", limit = 2})
check('batch = "34%" of 9 is 4 (rounded up), limit still bounds a batch: 4, 4, 1',
  in_batches(log, {hosts(1, 4), hosts(5, 8), hosts(9, 9)}), table.concat(log, ", "))

-- A failing host (.3) and an unreachable one (.4:1) in the second batch; budget 1.
local list = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4:1", "127.0.0.5", "127.0.0.6", "127.0.0.7"}
local stopped
out, log, stopped = logged(list, {batch = 2, max_fail = 1}, {["127.0.0.3"] = true})
check("max_fail = 1: a failed and an unreachable host in batch 2 stop the run after it",
  out["127.0.0.3"].ok == false and out["127.0.0.4:1"].unreachable == true and
  out["127.0.0.5"].not_started == true and out["127.0.0.7"].not_started == true and
  pos(log, "start 127.0.0.5") == nil, show(out), table.concat(log, ", "))
check("the hosts not started: ok = false, error says the budget was exceeded (2 hosts failed)",
  out["127.0.0.6"].ok == false and tostring(out["127.0.0.6"].error):find("max_fail 1", 1, true) and
  tostring(out["127.0.0.6"].error):find("2 hosts failed", 1, true), show(out["127.0.0.6"]))
check("each returns the reason it stopped as a third value",
  type(stopped) == "string" and stopped:find("failure budget", 1, true), tostring(stopped))
check("the first batch is ok", out["127.0.0.1"].ok and out["127.0.0.2"].ok, show(out))

out, log, stopped = logged(list, {batch = 2, max_fail = 1, count_unreachable = false}, {["127.0.0.3"] = true})
check("count_unreachable = false: the unreachable host does not spend the budget, all run",
  stopped == nil and out["127.0.0.7"].ok and out["127.0.0.4:1"].unreachable and not out["127.0.0.5"].not_started,
  show(out), tostring(stopped))

out, log, stopped = logged(hosts(1, 6), {canary = 1, batch = 2}, {["127.0.0.1"] = true})
check("canary = 1: the canary runs alone first; its failure stops the run (no budget given)",
  log[1] == "start 127.0.0.1" and log[2] == "end 127.0.0.1" and #log == 2 and
  out["127.0.0.2"].not_started and tostring(stopped):find("canary failed on 127.0.0.1", 1, true),
  table.concat(log, ", "), tostring(stopped))
out, log = logged(hosts(1, 6), {canary = 2, batch = 2})
check("canary = 2 that succeeds: then the batches, all ok",
  in_batches(log, {hosts(1, 2), hosts(3, 4), hosts(5, 6)}) and out["127.0.0.6"].ok, table.concat(log, ", "))

-- No batches: max_fail alone stops starting hosts as soon as the budget is exceeded.
out, log, stopped = logged(hosts(1, 6), {max_fail = 0, limit = 1}, {["127.0.0.2"] = true})
check("max_fail = 0, limit = 1, no batch: nothing starts after the first failure",
  out["127.0.0.1"].ok and out["127.0.0.2"].ok == false and out["127.0.0.3"].not_started and
  pos(log, "start 127.0.0.3") == nil, table.concat(log, ", "))
out, log, stopped = logged(hosts(1, 10), {max_fail = "20%", batch = 2},
  {["127.0.0.1"] = true, ["127.0.0.2"] = true, ["127.0.0.3"] = true})
check('max_fail = "20%" of 10 is 2: the third failure (batch 2) stops the run',
  out["127.0.0.4"].ok and out["127.0.0.5"].not_started and tostring(stopped):find("max_fail 2", 1, true),
  show(out), tostring(stopped))

for _, bad in ipairs{{{batch = 0}, "batch: must be at least 1"}, {{max_fail = "lots"}, "max_fail: expected"},
                     {{batch = {}}, "batch must be a number or a percentage"}, {{max_fail = "150%"}, "max_fail: expected"}} do
  local fine, err = pcall(each, hosts(1, 2), function() end, bad[1])
  check("bad option " .. show(bad[1]) .. ": an error naming it",
    not fine and tostring(err):find(bad[2], 1, true), tostring(err))
end

-- @last: the last each() above
local failed = {}
for h in io.lines(os.getenv("XDG_STATE_HOME") .. "/sshs/last") do failed[#failed + 1] = h end
check("each() records its hosts for @last (one 'KIND HOST' line per host)",
  failed[1] == "failed 127.0.0.1" and failed[4] == "ok 127.0.0.4" and failed[5] == "skipped 127.0.0.5", show(failed))
out = each("@last:failed", function(host) return host end)
local n = 0
for h, o in pairs(out) do n = n + 1 end
check("each('@last:failed') runs on the failed hosts of the last run",
  n == 3 and out["127.0.0.3"] and out["127.0.0.3"].ok, show(out))
print("END OF CHECKS")
EOF

HS_TIMEOUT=120 hs "$TMP/roll.sshs"
grep -E '^(ok|not ok) - |^#' "$TMP/out"
check "each() rollouts: the script ran to the end" [ "$rc" = 0 -a "$(tail -n 1 "$TMP/out")" = "END OF CHECKS" ]

# -H: host .3 fails, .4:1 is unreachable, in the second batch of 2; budget 1.
script fail3.sshs <<'EOF'
local ip = $(set -- $SSH_CONNECTION; echo $3)
if ip == "127.0.0.3" then $ echo broken >&2; exit 3
end
print("done " .. ip)
EOF
LIST='127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4:1,127.0.0.[5-7]'
hs -H "$LIST" --batch 2 --max-fail 1 --json "$TMP/fail3.sshs"
check "-H --batch 2 --max-fail 1: exit 4 (stopped by the failure budget)" [ "$rc" = 4 ]
check "-H: the summary counts and names the hosts not started, and says why it stopped" \
  cond 'summary_line | grep -q "2 ok, 1 failed, 1 unreachable, 3 not started" &&
        grep -q "not started 127.0.0.\[5-7\] (3)" "$TMP/err" && grep -q "^sshs: stopped: the failure budget (max_fail 1)" "$TMP/err"'
check "-H --json: a line per host, the hosts not started with not_started = true" \
  cond '[ "$(grep -c . "$TMP/out")" = 7 ] && [ "$(grep -c "\"not_started\":true" "$TMP/out")" = 3 ]'
hs -H "$LIST" --batch 2 --max-fail 2 "$TMP/fail3.sshs"
check "-H with a budget that holds: every host runs; a failed host makes exit 1" \
  cond '[ "$rc" = 1 ] && grep -q "^127.0.0.7: done 127.0.0.7" "$TMP/out"'
hs -H "$LIST" --canary 1 --batch 3 --max-fail 0 "$TMP/fail3.sshs"
check "-H --canary 1 --batch 3 --max-fail 0: canary ok, failures in the first batch stop the rest" \
  cond '[ "$rc" = 4 ] && summary_line | grep -q "2 ok, 1 failed, 1 unreachable, 3 not started" &&
        grep -q "not started 127.0.0.\[5-7\] (3): the failure budget" "$TMP/err"'
hs -H '127.0.0.[1-3]' --canary 1 -e '$ false'
check "-H --canary 1 on a failing script: only the canary ran, exit 4" \
  cond '[ "$rc" = 4 ] && grep -q "canary failed on 127.0.0.1" "$TMP/err" && summary_line | grep -q "0 ok, 1 failed, 0 unreachable, 2 not started"'
hs -H '127.0.0.[1-4]' --batch 2 --max-fail 1 --list-hosts
check "--list-hosts with rollout flags prints the hosts and connects to none" \
  cond '[ "$rc" = 0 ] && [ "$(echo $out)" = "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4" ]'
for bad in "--batch 0" "--batch x" "--max-fail 101%" "--canary -1"; do
  # shellcheck disable=SC2086
  hs -H '127.0.0.[1-4]' $bad -e 'x = 1'
  check "-H $bad: a usage error (exit 2, one line and a hint)" \
    cond '[ "$rc" = 2 ] && [ "$(wc -l < "$TMP/err")" = 2 ] && grep -q "^Try .sshs --help" "$TMP/err"'
done
