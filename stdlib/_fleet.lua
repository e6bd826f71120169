-- Many hosts at once: each(), and the -H driver (live "host: " lines, -b gathering, --json,
-- the summary, progress on a terminal, Ctrl-C). Loaded on first use.
local builtin, core = ...
-- The runtime's parts this module uses (stdlib/_results.lua, _contexts.lua, _sessions.lua,
-- _outcome.lua), by the names it had on _SSHS.
local S
local run_outcome = builtin("_outcome")
do
  local results, contexts, sessions = builtin("_results"), builtin("_contexts"), builtin("_sessions")
  S = {user_error = results.user_error, builtin = builtin, usage_exit = run_outcome.usage_exit,
       state = contexts.state, current_session = contexts.current_session, LOCAL = contexts.LOCAL,
       open_session = sessions.open_session, check_connect_options = sessions.check_connect_options}
end
local nodeset = S.builtin("nodeset")
local M = {}

-- A counting semaphore on scheduler events: acquire() parks the thread while none is free.
local function semaphore(n)
  local free, waiting = n, {}
  local sem = {capacity = n}
  function sem.acquire()
    if free > 0 and #waiting == 0 then free = free - 1; return end
    local ev = core.event()
    waiting[#waiting + 1] = ev
    ev:wait()
  end
  function sem.release()
    if free < 0 then free = free + 1; return end     -- capacity was lowered meanwhile
    local ev = table.remove(waiting, 1)
    if ev then ev:set() else free = free + 1 end
  end
  -- Changes how many may hold it at once (whole numbers; holders above it drain away).
  function sem.resize(cap)
    cap = math.floor(cap)
    local delta = cap - sem.capacity
    sem.capacity = cap
    free = free + delta
    while free > 0 and #waiting > 0 do
      free = free - 1
      table.remove(waiting, 1):set()
    end
  end
  return sem
end

local each_options = {limit = "number", handshakes = "number", retries = "number",
                      host_timeout = "number", idle_timeout = "number", prefix = "boolean",
                      gather = "boolean", exclude = "string", canary = "number",
                      count_unreachable = "boolean", batch = "amount", max_fail = "amount"}

local function split_options(opts)
  if opts == nil then return {}, {} end
  if type(opts) ~= "table" then S.user_error("each: options must be a table") end
  local own, conn = {}, {}
  for k, v in pairs(opts) do
    if each_options[k] then
      local want = each_options[k]
      if want == "amount" then
        if type(v) ~= "number" and type(v) ~= "string" then
          S.user_error("each: option " .. k .. ' must be a number or a percentage such as "10%"')
        end
      elseif type(v) ~= want then
        S.user_error("each: option " .. k .. " must be a " .. want)
      end
      own[k] = v
    else
      conn[k] = v
    end
  end
  -- retries = N also covers a refused or reset connection (open_session retries those).
  if own.retries then conn.retries = own.retries end
  S.check_connect_options(conn, "each")
  return own, conn
end

-- sshd drops handshakes over MaxStartups (default 10:30:100) by closing (or resetting) the
-- connection: those are retried here after a jittered, growing pause, and a refused connection
-- by S.open_session (when retries or ConnectionAttempts ask for it).
local function dropped_handshake(err)
  local msg = type(err) == "table" and err.message or tostring(err)
  return msg:find("SSH handshake with", 1, true) ~= nil or msg:find("Connection reset by peer", 1, true) ~= nil
end

-- Handshakes in flight adapt like TCP's window: halved when a server drops one, grown
-- slowly on success. One busy sshd settles near its MaxStartups; a fleet of separate
-- servers keeps the full window.
-- Returns the session and the connects it took (refused or reset ones retried inside
-- open_session included); an error carries that count as .attempts.
local function connect_with_retry(host, conn_opts, handshakes, retries, window, outer)
  local attempt, made = 0, 0
  while true do
    handshakes.acquire()
    local ok, s = pcall(S.open_session, host, conn_opts, outer, "refused")
    handshakes.release()
    made = made + (type(s) == "table" and s.attempts or 1)
    if not ok and type(s) == "table" then s.attempts = made end
    if ok then
      window.size = math.min(window.max, window.size + 0.25)
      if math.floor(window.size) ~= handshakes.capacity then handshakes.resize(window.size) end
      return s, made
    end
    attempt = attempt + 1
    if attempt > retries or not dropped_handshake(s) then error(s, 0) end
    window.size = math.max(4, window.size / 2)
    handshakes.resize(window.size)
    sleep(math.min(2, 0.05 * 2 ^ attempt) * (0.5 + math.random()))
  end
end

local function error_message(e)
  if type(e) == "table" and e.message then return e.message end
  return tostring(e)
end

-- The list without the hosts of the node sets in excludes (an array of specs).
local function exclude_hosts(list, excludes)
  if not excludes or #excludes == 0 then return list end
  local gone = {}
  for _, spec in ipairs(excludes) do
    for _, h in ipairs(nodeset.expand(spec)) do gone[h] = true end
  end
  local out = {}
  for _, h in ipairs(list) do if not gone[h] then out[#out + 1] = h end end
  return out
end
M.exclude_hosts = exclude_hosts

local function host_list(hosts, exclude)
  if type(hosts) == "string" then
    local ok, list = pcall(nodeset.expand, hosts)
    if ok and exclude then ok, list = pcall(exclude_hosts, list, {exclude}) end
    if not ok then S.user_error(tostring(list)) end
    return list
  end
  if type(hosts) ~= "table" then S.user_error("each: hosts must be a node set string or an array") end
  local list = {}
  for i, h in ipairs(hosts) do
    if type(h) ~= "string" then S.user_error("each: host " .. i .. " is a " .. type(h)) end
    list[#list + 1] = h
  end
  if exclude then
    local ok, l = pcall(exclude_hosts, list, {exclude})
    if not ok then S.user_error(tostring(l)) end
    list = l
  end
  return list
end

---------------------------------------------------------------------------- shards

-- "I/N" (1 <= I <= N), "N" (I from the job runner's environment) or "auto" (both from a Slurm
-- array job) -> i, n. getenv is os.getenv (a parameter for tests).
function M.parse_shard(spec, getenv)
  getenv = getenv or os.getenv
  local function int(name, v)
    local n = v and math.tointeger(tonumber(v))
    if not n then error("--shard: " .. name .. " is '" .. tostring(v) .. "', not a whole number", 0) end
    return n
  end
  local i, n = spec:match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  if i then
    i, n = int("I", i), int("N", n)
    if n < 1 or i < 1 or i > n then error("--shard " .. spec .. ": expected I/N with 1 <= I <= N", 0) end
    return i, n
  end
  if spec ~= "auto" and not spec:match("^%s*%d+%s*$") then
    error("--shard: expected I/N, N or auto, got '" .. spec .. "'", 0)
  end
  local index, where
  local slurm = getenv("SLURM_ARRAY_TASK_ID")
  if slurm then
    local min = getenv("SLURM_ARRAY_TASK_MIN")
    local step = getenv("SLURM_ARRAY_TASK_STEP")
    local id = int("SLURM_ARRAY_TASK_ID", slurm)
    min = min and int("SLURM_ARRAY_TASK_MIN", min) or 0
    step = step and int("SLURM_ARRAY_TASK_STEP", step) or 1
    if step < 1 or (id - min) % step ~= 0 then
      error("--shard: SLURM_ARRAY_TASK_ID " .. id .. " is not on the array's step", 0)
    end
    index, where = (id - min) // step, "SLURM_ARRAY_TASK_ID"
    if spec == "auto" then
      n = int("SLURM_ARRAY_TASK_COUNT", getenv("SLURM_ARRAY_TASK_COUNT"))
    end
  elseif getenv("JOB_COMPLETION_INDEX") then
    index, where = int("JOB_COMPLETION_INDEX", getenv("JOB_COMPLETION_INDEX")), "JOB_COMPLETION_INDEX"
    if spec == "auto" then
      error("--shard auto: JOB_COMPLETION_INDEX gives the index but not the count; "
            .. "give the count of completions: --shard N", 0)
    end
  else
    error("--shard " .. spec .. ": no shard index in the environment "
          .. "(SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX); give it as --shard I/N", 0)
  end
  n = n or int("N", spec)
  if n < 1 then error("--shard: the count must be at least 1", 0) end
  if index < 0 or index >= n then
    error("--shard: " .. where .. " gives shard index " .. index .. ", outside 0.." .. (n - 1), 0)
  end
  return index + 1, n
end

-- The i-th of n slices: hosts in byte order dealt round-robin, so a slice depends only on the
-- set of names (never on the order they were given in) and sizes differ by at most one.
-- The slice keeps the list's own order.
function M.shard(list, i, n)
  local sorted = table.move(list, 1, #list, 1, {})
  table.sort(sorted)
  local mine = {}
  for pos, h in ipairs(sorted) do
    if (pos - 1) % n == i - 1 then mine[h] = true end
  end
  local out = {}
  for _, h in ipairs(list) do if mine[h] then out[#out + 1] = h end end
  return out
end

---------------------------------------------------------------------------- Ctrl-C

-- While any each() runs, the first Ctrl-C prints which hosts are still running; a second one
-- within a second interrupts (the scheduler does that part).
local watch = {depth = 0, running = {}}

local function watch_start()
  watch.depth = watch.depth + 1
  if watch.depth > 1 then return end
  local ev = core.event()
  watch.ev = ev
  core.on_sigint(ev)
  core.thread(function()
    while true do
      local fine = pcall(ev.wait, ev)
      if not fine or watch.ev ~= ev then return end
      local names = {}
      for host in pairs(watch.running) do names[#names + 1] = host end
      core.write(2, "\nsshs: still running on " .. (#names > 0 and nodeset.fold(names) or "no host") ..
        " (" .. #names .. "); press Ctrl-C again within a second to stop them\n")
    end
  end)
end

local function watch_stop()
  watch.depth = watch.depth - 1
  if watch.depth > 0 then return end
  local ev = watch.ev
  watch.ev = nil
  core.on_sigint(nil)
  ev:set()                 -- the watcher sees it is no longer current and ends
end

---------------------------------------------------------------------------- outcomes

-- The last lines of a failed command's stderr (at most 20 lines and 4 KiB).
local function tail(s, lines, bytes)
  if type(s) ~= "string" then return nil end
  if #s > bytes then s = s:sub(-bytes) end
  local pos, n = #s, 0
  if s:sub(-1) == "\n" then pos = pos - 1 end
  while pos > 0 do
    if s:sub(pos, pos) == "\n" then
      n = n + 1
      if n == lines then return s:sub(pos + 1) end
    end
    pos = pos - 1
  end
  return s
end

-- Fills outcome o from the error e that ended fn: message, and for a failed command its
-- exit code, signal, command, stdout and the tail of stderr.
local function record_failure(o, e)
  o.ok, o.error = false, error_message(e)
  if type(e) == "table" then
    o.exitcode, o.signal, o.cmd, o.kind = e.exitcode, e.signal, e.cmd, e.kind
    o.timed_out = e.timed_out or nil
    if type(e.stdout) == "string" then o.stdout = e.stdout end
    o.stderr = tail(e.stderr, 20, 4096)
  end
end

---------------------------------------------------------------------------- rollouts

-- v (a count N, or "N" / "P%" as text) of total hosts, as a whole number; nil and why when v is
-- not one. A percentage of a batch rounds up (at least 1 host), of a failure budget down.
function M.amount(v, total, what, round_up)
  local n, pct
  if type(v) == "number" then n = v
  elseif type(v) == "string" then
    local num, sign = v:match("^%s*([%d.]+)%s*(%%?)%s*$")
    n = num and tonumber(num)
    pct = sign == "%"
  end
  if not n or n ~= n or n < 0 or (not pct and n ~= math.floor(n)) or (pct and n > 100) then
    return nil, what .. ": expected a whole number or a percentage from 0% to 100%, got '" .. tostring(v) .. "'"
  end
  if pct then
    local x = total * n / 100
    n = round_up and math.ceil(x) or math.floor(x + 1e-9)
  end
  n = math.tointeger(n) or n
  if round_up and n < 1 then
    if pct then n = 1 else return nil, what .. ": must be at least 1, got '" .. tostring(v) .. "'" end
  end
  return n
end

-- The stages of a rollout: the canary hosts, then batches of the rest (one stage of all
-- without batch). Returns stages, the failure budget (nil: none) and an error (nil: fine).
function M.rollout_plan(list, own)
  local total = #list
  local budget, batch, canary, err
  if own.max_fail ~= nil then
    budget, err = M.amount(own.max_fail, total, "max_fail", false)
    if not budget then return nil, nil, err end
  end
  if own.batch ~= nil then
    batch, err = M.amount(own.batch, total, "batch", true)
    if not batch then return nil, nil, err end
  end
  if own.canary ~= nil then
    canary, err = M.amount(own.canary, total, "canary", false)
    if not canary then return nil, nil, err end
  end
  local stages, pos = {}, 1
  if canary and canary > 0 then
    stages[1] = table.move(list, 1, math.min(canary, total), 1, {})
    stages[1].canary = true
    pos = canary + 1
  end
  batch = batch or math.max(1, total - pos + 1)
  while pos <= total do
    stages[#stages + 1] = table.move(list, pos, math.min(pos + batch - 1, total), 1, {})
    pos = pos + batch
  end
  return stages, budget
end

-- Runs fn(host) on every host with its session pushed; returns {[host] = outcome} and the
-- host list. A rollout (batch, canary, max_fail) runs stage after stage and stops starting
-- hosts once the budget is spent; the hosts it did not start get outcomes with not_started.
-- hooks (for -H): started(host), finished(host, outcome), sink(host) -> table or nil,
-- streams(host) -> {stdout =, stderr =} or nil (line callbacks for the host's commands).
function M.each(hosts, fn, opts, hooks)
  if type(fn) ~= "function" then S.user_error("each: expected a function, got " .. type(fn)) end
  local own, conn_opts = split_options(opts)
  local list = host_list(hosts, own.exclude)
  local inventory = S.builtin("inventory")
  hooks = hooks or {}
  local limit = own.limit or 64
  if limit < 1 then S.user_error("each: limit must be at least 1") end
  local stages, budget, plan_err = M.rollout_plan(list, own)
  if not stages then S.user_error("each: " .. plan_err) end
  local count_unreachable = own.count_unreachable ~= false
  local slots = semaphore(limit)
  local window = {size = own.handshakes or 32, max = own.handshakes or 32}
  local handshakes = semaphore(window.size)
  local retries = own.retries or 6
  local results, threads = {}, {}
  local failures, stopped = 0, nil
  local shared = {}           -- what the hosts of this run share (sync's reading of the local tree)
  -- Inside `with connect(jump)`, every host is reached through the jump host.
  local outer = S.current_session()
  if outer == S.LOCAL then outer = nil end

  local function counts(o)
    return not o.ok and not o.interrupted and (count_unreachable or not o.unreachable)
  end

  local function start_host(host)
    local finished = core.event()
    local t = thread(function()
      local t0 = core.clock()
      local outcome = {host = host}
      results[host] = outcome
      watch.running[host] = (watch.running[host] or 0) + 1   -- concurrent each() calls may share hosts
      if hooks.started then hooks.started(host) end
      local st = S.state()
      for i = #st.stack, 2, -1 do        -- each host gets its own connection, not the caller's
        local inherited = table.remove(st.stack, i)
        if inherited.release then inherited:release() end
      end
      if own.prefix ~= false then st.prefix = host .. ": " end
      st.host = host
      st.fleet_shared = shared
      st.sink = hooks.sink and hooks.sink(host)
      st.streams = hooks.streams and hooks.streams(host)
      if own.host_timeout then st.deadline = t0 + own.host_timeout end
      if own.idle_timeout then st.idle_timeout = own.idle_timeout end
      -- An inventory's ansible_host / _port / _user / _ssh_private_key_file for this host.
      local ok, s, made = pcall(function()
        local target, hopts = inventory.connection(host)
        local copts = conn_opts
        if next(hopts) then
          copts = {}
          for k, v in pairs(conn_opts) do copts[k] = v end
          for k, v in pairs(hopts) do copts[k] = v end
        end
        return connect_with_retry(target or host, copts, handshakes, retries, window, outer)
      end)
      -- How many connects it took, when more than one (retries).
      local attempts = ok and made or type(s) == "table" and s.attempts
      if attempts and attempts > 1 then outcome.attempts = attempts end
      if not ok then
        outcome.ok, outcome.error = false, error_message(s)
        if core.interrupted() then outcome.interrupted = true else outcome.unreachable = true end
      else
        st.stack[2] = s
        local res = table.pack(pcall(fn, host))
        if st.stack[2] == s then table.remove(st.stack, 2) end
        s:release()
        outcome.ok = res[1]
        if res[1] then
          outcome.exitcode = 0
          outcome.value = res[2]
          if res.n > 2 then outcome.values = table.pack(table.unpack(res, 2, res.n)) end
        else
          record_failure(outcome, res[2])
          if core.interrupted() then outcome.interrupted = true end
        end
      end
      watch.running[host] = watch.running[host] > 1 and watch.running[host] - 1 or nil
      outcome.duration = core.clock() - t0
      if counts(outcome) then failures = failures + 1 end
      finished:set()
      slots.release()
      if hooks.finished then hooks.finished(host, outcome) end
    end)
    threads[#threads + 1] = t
    if own.host_timeout then
      -- A watchdog: past the limit the host's thread raises at its next wait (a command,
      -- sleep, connect), and whatever it was running is stopped.
      local tlimit = own.host_timeout
      thread(function()
        if not finished:wait(tlimit) then
          core.cancel(t, "host time limit of " .. tlimit .. "s exceeded on " .. host)
        end
      end)
    end
    return t
  end

  local function over_budget()
    if budget and failures > budget then
      stopped = string.format("the failure budget (max_fail %d) was exceeded: %d host%s failed",
        budget, failures, failures == 1 and "" or "s")
    end
    return stopped
  end

  watch_start()
  local _ <close> = setmetatable({}, {__close = watch_stop})
  for _, stage in ipairs(stages) do
    local started = {}
    for _, host in ipairs(stage) do
      if over_budget() then break end
      slots.acquire()
      if over_budget() then slots.release(); break end
      started[#started + 1] = start_host(host)
    end
    if stopped then break end
    if #stages > 1 then                  -- a rollout: the stage ends before the next begins
      for _, t in ipairs(started) do pcall(t.join, t) end
      if stage.canary then
        local bad = {}
        for _, host in ipairs(stage) do
          if counts(results[host]) then bad[#bad + 1] = host end
        end
        if #bad > 0 then stopped = "the canary failed on " .. nodeset.fold(bad) end
      end
      if stopped or over_budget() or core.interrupted() then break end
    end
  end
  for _, t in ipairs(threads) do pcall(t.join, t) end
  if core.interrupted() then
    for _, host in ipairs(list) do
      local o = results[host]
      if not o then results[host] = {host = host, ok = false, error = "interrupted (not started)", interrupted = true}
      elseif o.ok == nil then o.ok, o.error, o.interrupted = false, "interrupted", true end
    end
  end
  for _, host in ipairs(list) do
    if not results[host] then
      results[host] = {host = host, ok = false, not_started = true, error = "not started: " .. (stopped or "stopped")}
    end
  end
  local fine, err = pcall(S.builtin("_last").record, list, results)
  if not fine then core.write(2, "sshs: warning: @last: " .. tostring(err) .. "\n") end
  return results, list, stopped
end

---------------------------------------------------------------------------- the -H driver

-- "<host>" stands for the host in a cause, so one cause groups many hosts.
local function cause_of(host, o)
  local msg = (o.error or ""):gsub("^[^\n]-:%d+: ", "", 1):match("^[^\n]*")
  local plain = host:gsub("%p", "%%%0")
  msg = msg:gsub("[%w_.-]*@?" .. plain .. "[:%d]*", "<host>")
  msg = msg:gsub(" %([^()]* port %d+%)", "")        -- "(127.0.0.7 port 1)": differs per host
  return msg
end

local function group_by(list, results, key)
  local groups, order = {}, {}
  for _, host in ipairs(list) do
    local k = key(host, results[host])
    if k then
      if not groups[k] then groups[k] = {}; order[#order + 1] = k end
      table.insert(groups[k], host)
    end
  end
  return groups, order
end

-- The summary: one count line (after head, e.g. "in 2.1s"), then one line per cause.
local function summary(list, results, head)
  local n_ok, n_failed, n_unreach, n_intr, n_skip = 0, 0, 0, 0, 0
  for _, host in ipairs(list) do
    local o = results[host]
    if o.ok then n_ok = n_ok + 1
    elseif o.interrupted then n_intr = n_intr + 1
    elseif o.not_started then n_skip = n_skip + 1
    elseif o.unreachable then n_unreach = n_unreach + 1
    else n_failed = n_failed + 1 end
  end
  local out = {string.format("sshs: %d host%s %s: %d ok, %d failed, %d unreachable%s%s",
    #list, #list == 1 and "" or "s", head, n_ok, n_failed, n_unreach,
    n_intr > 0 and (", " .. n_intr .. " interrupted") or "",
    n_skip > 0 and (", " .. n_skip .. " not started") or "")}
  local groups, order = group_by(list, results, function(host, o)
    if o.ok then return nil end
    local kind = o.interrupted and "interrupted" or o.not_started and "not started"
      or o.unreachable and "unreachable" or "failed"
    return kind .. "\0" .. cause_of(host, o):gsub("^not started: ", "")
  end)
  for _, k in ipairs(order) do
    local kind, cause = k:match("^(.-)%z(.*)$")
    local hosts = groups[k]
    out[#out + 1] = string.format("  %-11s %s (%d): %s", kind, nodeset.fold(hosts), #hosts, cause)
  end
  return table.concat(out, "\n") .. "\n"
end

-- A value as JSON can hold it: nil as null, what cannot be encoded as its tostring.
local function json_safe(json, v)
  if v == nil then return json.null end
  local fine = pcall(json.encode, v)
  return fine and v or tostring(v)
end

-- The JSON record of an outcome (a --json line, the "end" event of --jsonl).
local function json_record(json, o)
  local rec = {host = o.host, ok = o.ok, exitcode = o.exitcode, signal = o.signal, error = o.error, kind = o.kind,
               unreachable = o.unreachable or nil, interrupted = o.interrupted or nil,
               not_started = o.not_started or nil, attempts = o.attempts,
               timed_out = o.timed_out, cmd = o.cmd, stdout = o.stdout, stderr = o.stderr,
               duration = o.duration, output = o.output}
  if o.value ~= nil then rec.value = json_safe(json, o.value) end
  if o.values then
    rec.values = {}
    for i = 1, o.values.n do rec.values[i] = json_safe(json, o.values[i]) end
  end
  return rec
end

local function json_line(json, o) return json.encode(json_record(json, o)) .. "\n" end

local function print_gathered(list, results)
  local groups, order = group_by(list, results, function(_, o) return o.output or "" end)
  for _, out in ipairs(order) do
    if out ~= "" then
      local hosts = groups[out]
      local head = nodeset.fold(hosts) .. " (" .. #hosts .. ")"
      local rule = string.rep("-", math.min(#head, 78))
      core.write(1, rule .. "\n" .. head .. "\n" .. rule .. "\n" .. out .. (out:sub(-1) == "\n" and "" or "\n"))
    end
  end
end

-- The exit status of a fleet run (docs/reference/fleet.md, "Exit status of -H"): 4 when the
-- failure budget stopped it (hosts were left not started), 1 when a host failed, 3 when hosts
-- were unreachable and none failed, 0 when all succeeded.
function M.run_status(list, results)
  local failed, unreachable, skipped = false, false, false
  for _, host in ipairs(list) do
    local o = results[host]
    if o.not_started then skipped = true
    elseif o.unreachable then unreachable = true
    elseif not o.ok then failed = true end
  end
  return skipped and 4 or failed and 1 or unreachable and 3 or 0
end

-- The hosts of -H after node sets, groups, -x and --shard; nil and a usage error's text.
function M.cli_hosts(options)
  local ok, list = pcall(nodeset.expand, options.hosts)
  if ok then ok, list = pcall(exclude_hosts, list, options.exclude) end
  if not ok then return nil, "-H: " .. tostring(list) end
  if #list == 0 then
    return nil, "-H: no hosts in '" .. options.hosts .. "'" .. (#options.exclude > 0 and " once -x is applied" or "")
  end
  if options.shard then
    local fine, i, n = pcall(M.parse_shard, options.shard)
    if not fine then return nil, tostring(i) end
    list = M.shard(list, i, n)
  end
  return list
end

-- The rollout options of the command line (--batch, --canary, --max-fail) as each() options.
local function cli_rollout(options, list)
  local own = {batch = options.batch, max_fail = options.max_fail}
  if options.canary then
    local n = M.amount(options.canary, #list, "--canary", false)
    if not n then return nil, "--canary: expected a whole number, got '" .. options.canary .. "'" end
    own.canary = n
  end
  local stages, _, err = M.rollout_plan(list, own)
  if not stages then
    return nil, "--" .. err:gsub("^max_fail", "max-fail")
  end
  return own
end

-- Runs the main chunk once per host (sshs -H). Returns the driver thread's handle.
function M.start(chunk, ...)
  local options = core.options
  local args = table.pack(...)
  local list, why = M.cli_hosts(options)
  if not list then return S.usage_exit(why) end
  if options.list_hosts then
    return thread(function()
      if #list > 0 then core.write(1, table.concat(list, "\n") .. "\n") end
    end)
  end
  local rollout, bad = cli_rollout(options, list)
  if not rollout then return S.usage_exit(bad) end
  local gather = options.gather or options.json
  local json = (options.json or options.jsonl) and S.builtin("json")
  local fout = S.builtin("_fleetout")
  local per_host_out = fout.new(options, json)     -- --output-dir, --jsonl (nil: neither)
  return thread(function()
    local t0, done, failed = core.clock(), 0, 0
    local sinks = {}
    local tty = core.isatty(2)

    -- Progress on a terminal, for runs longer than a second.
    local progress_done = core.event()
    -- Transfers in flight (upload/download in the script) join the same line.
    run_outcome.fleet_progress = true
    local function progress_text()
      local text = string.format("[%d/%d done, %d failed]", done, #list, failed)
      local files = builtin("_loader").loaded("_files")
      local xfer = files and files.status_text()
      return xfer and (text .. " " .. xfer) or text
    end
    if tty then
      thread(function()
        if progress_done:wait(1) then return end
        repeat core.status(progress_text()) until progress_done:wait(0.25)
      end)
    end

    local hooks = {
      finished = function(host, o)
        done = done + 1
        if not o.ok then failed = failed + 1 end
        if gather then o.output = table.concat(sinks[host] or {}) end
        if not gather and not o.ok then
          core.write(2, host .. ": " .. (o.error or "failed"):gsub("\n", "\n" .. host .. ": ") .. "\n")
        end
        if options.json then core.write(1, json_line(json, o)) end
        if per_host_out then per_host_out.finished(host, options.jsonl and json_record(json, o)) end
      end,
      sink = gather and function(host) local t = {}; sinks[host] = t; return t end or nil,
      started = per_host_out and per_host_out.started,
      streams = per_host_out and per_host_out.streams,
    }
    -- Every host runs its own instance of the script: globals it sets stay its own.
    local code = string.dump(chunk)
    local name = options.script and ("@" .. options.script) or "=(command line)"
    local function per_host()
      local env = setmetatable({}, {__index = _G})
      local fn = assert(load(code, name, "b", env))
      return fn(table.unpack(args, 1, args.n))
    end
    rollout.limit = options.limit
    local results, _, stopped = M.each(list, per_host, rollout, hooks)
    progress_done:set()
    core.status("")
    for _, host in ipairs(list) do          -- the hosts a stopped rollout never started
      local o = results[host]
      if o.not_started and options.json then core.write(1, json_line(json, o)) end
      if o.not_started and options.jsonl then per_host_out.finished(host, json_record(json, o)) end
    end
    if options.diff then fout.print_diff(list, results, group_by)
    elseif options.gather and not options.json then print_gathered(list, results) end
    core.write(2, summary(list, results, string.format("in %.1fs", core.clock() - t0)))
    if stopped then core.write(2, "sshs: stopped: " .. stopped .. "\n") end
    run_outcome.exit_status = M.run_status(list, results)
  end)
end

-- sshs --summary FILE...: the fleet summary of --json outputs (one object per line; the
-- outputs of several shards concatenate). Returns the exit status.
function M.summary_files(files)
  local json = S.builtin("json")
  local list, results, seen_in = {}, {}, {}
  local function bad(msg) core.write(2, "sshs: --summary: " .. msg .. "\n"); return 2 end
  for _, path in ipairs(files) do
    local f, err = io.open(path, "r")
    if path == "-" then f, err = io.stdin, nil end
    if not f then return bad("cannot read " .. tostring(err)) end
    local lineno = 0
    for line in f:lines() do
      lineno = lineno + 1
      if line:find("%S") then
        local ok, o = pcall(json.decode, line)
        if not ok or type(o) ~= "table" or type(o.host) ~= "string" or type(o.ok) ~= "boolean" then
          if f ~= io.stdin then f:close() end
          return bad(string.format("%s:%d: not a host outcome of sshs --json%s", path, lineno,
            ok and "" or (": " .. tostring(o))))
        end
        for k, v in pairs(o) do if v == json.null then o[k] = nil end end
        if results[o.host] then
          core.write(2, string.format("sshs: --summary: %s is in %s and %s:%d; the later one counts\n",
            o.host, seen_in[o.host], path, lineno))
        else
          list[#list + 1] = o.host
        end
        results[o.host], seen_in[o.host] = o, path .. ":" .. lineno
      end
    end
    if f ~= io.stdin then f:close() end
  end
  core.write(2, summary(list, results, "from " .. #files .. " file" .. (#files == 1 and "" or "s")))
  return M.run_status(list, results)
end

-- For the fleet REPL (stdlib/_repl.lua).
M.print_gathered, M.summary = print_gathered, summary

return M
