-- The interactive REPL (sshs on a terminal, -i, and the fleet REPL of -H without a script).
-- The terminal side (readline on the loop, history, Tab) is C (interp/repl.c); this is the
-- loop: read a whole chunk, run it as a thread sharing the REPL's session stack, print values.
local builtin, core = ...
-- The runtime's parts this module uses (stdlib/_results.lua, _contexts.lua, _quoting.lua,
-- _commands.lua, _sessions.lua, _loader.lua), by the names it had on _SSHS.
local S
do
  local results, contexts = builtin("_results"), builtin("_contexts")
  S = {Result = results.Result, error_text = results.error_text,
       state = contexts.state, current_session = contexts.current_session, LOCAL = contexts.LOCAL,
       effective = contexts.effective, Context = contexts.Context,
       quote = builtin("_quoting").quote, run_on = builtin("_commands").run_on,
       open_session = builtin("_sessions").open_session, builtin = builtin}
end
local M = {}

local HISTORY = (os.getenv("HOME") or ".") .. "/.sshs_history"

---------------------------------------------------------------------------- printing values

local MAX_DEPTH, MAX_ITEMS, MAX_STRING, ONE_LINE = 3, 24, 240, 72

local function quote(s)
  if #s > MAX_STRING then
    return string.format("%q", s:sub(1, MAX_STRING)):gsub("\\\n", "\\n") .. "..(" .. #s .. " bytes)"
  end
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function is_ident(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil end

-- A value as text: tables to MAX_DEPTH levels and MAX_ITEMS entries each, on one line when
-- short, else one entry a line.
local function show(v, depth, seen, indent)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring and mt ~= S.Result then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, math.min(n, MAX_ITEMS) do parts[#parts + 1] = show(v[i], depth + 1, seen, indent .. "  ") end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  local more = math.max(0, n - MAX_ITEMS)
  for i, k in ipairs(keys) do
    if #parts >= MAX_ITEMS then more = more + #keys - i + 1; break end
    local ks = is_ident(k) and k or ("[" .. show(k, MAX_DEPTH, seen, "") .. "]")
    parts[#parts + 1] = ks .. " = " .. show(v[k], depth + 1, seen, indent .. "  ")
  end
  seen[v] = nil
  if more > 0 then parts[#parts + 1] = "...(" .. more .. " more)" end
  if #parts == 0 then return "{}" end
  local flat = "{" .. table.concat(parts, ", ") .. "}"
  if #flat <= ONE_LINE and not flat:find("\n") then return flat end
  return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
end

-- What an expression line prints: top-level strings as they are (as lua.c does).
function M.format(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do
    local v = select(i, ...)
    out[i] = type(v) == "string" and v or show(v, 0, {}, "")
  end
  return table.concat(out, "\t")
end
M.show = function(v) return show(v, 0, {}, "") end

---------------------------------------------------------------------------- reading chunks

-- Statement forms of the sugar never get "return " (a `$ cmd` line shows its output live).
local function statement_only(src)
  return src:match("^%s*%$%s") or src:match("^%s*%$%[=*%[")
end

-- Compiles a chunk: "return <chunk>" first (so expressions print), else the chunk itself.
-- Returns fn, or nil, message, incomplete.
function M.compile(src, name, env)
  name = name or "=stdin"
  if not statement_only(src) then
    local fn = core.load("return " .. src .. ";", name, true)
    if fn then
      if env then debug.setupvalue(fn, 1, env) end
      return fn
    end
  end
  local fn, msg = core.load(src, name, true)
  if fn then
    if env then debug.setupvalue(fn, 1, env) end
    return fn
  end
  msg = tostring(msg)
  local incomplete = msg:find("<eof>$") ~= nil or msg:find("unterminated", 1, true) ~= nil
  -- A `$ cmd` line ending in "\" goes on with the next line.
  local last = src:match("([^\n]*)$")
  if last:match("^%s*%$.*\\$") then incomplete = true end
  return nil, msg, incomplete
end

---------------------------------------------------------------------------- the prompt

local function session_name(sess)
  if sess == S.LOCAL then return nil end
  return sess.target or sess.host
end

-- "sshs web1:/srv> ": the session on top of the REPL's stack and the cd that applies there.
local function prompt(st)
  local sess = S.current_session(st)
  local where = session_name(sess)
  local dir
  for _, f in ipairs(st.ctx) do
    if f.kind == "cd" and (f.session == nil or f.session == sess) then
      dir = (dir and f.value:sub(1, 1) ~= "/" and f.value:sub(1, 1) ~= "~") and (dir .. "/" .. f.value) or f.value
    end
  end
  local p = "sshs"
  if where then p = p .. " " .. where end
  if dir then p = p .. (where and ":" or " ") .. dir end
  return p .. "> "
end
M.prompt = prompt

-- A dead connection on top of the stack is reported and popped before the next prompt.
local function drop_dead(st)
  while true do
    local sess = S.current_session(st)
    if sess == S.LOCAL or not sess.conn then return end
    local alive, why = sess:alive()
    if alive then return end
    core.write(2, "sshs: the connection to " .. sess.host .. " is gone" .. (why and (": " .. why) or "") ..
      "; session closed\n")
    for i = #st.stack, 2, -1 do
      if st.stack[i] == sess then table.remove(st.stack, i) end
    end
    pcall(sess.release, sess)
  end
end

-- A line that is just a context (cd "/srv", env{...}, timeout(5), check(false), sudo{...})
-- enters it for the rest of the REPL session, as `with` would for a block.
local function enter_context(st, v)
  if type(v) ~= "table" or getmetatable(v) ~= S.Context then return false end
  v:__enter()
  if v.kind == "cd" then
    -- The folder must exist where the commands run: a typo is reported now, not later.
    local fine, r = pcall(S.run_on, S.current_session(st), "true", {check = false})
    if not fine or not r.ok then
      v:__exit()
      local why = fine and r.stderr:gsub("\n+$", "") or S.error_text(r)
      core.write(2, "sshs: cd " .. v.value .. ": " .. why .. "\n")
    end
  end
  return true
end

---------------------------------------------------------------------------- running a chunk

local verbose = core.options.verbose

-- Runs fn as a thread that shares st (so connect() stays pushed); Ctrl-C stops it (its
-- running command too) and the REPL goes on. Returns ok, values (packed) or error.
local function run_chunk(st, fn)
  local done = core.event()
  local t = core.spawn_in(st, function()
    local _ <close> = setmetatable({}, {__close = function() done:set() end})
    return fn()
  end)
  -- Ctrl-C: the first one cancels the chunk's thread (its command is stopped; threads started
  -- earlier go on); a second within a second interrupts everything, which also stops a chunk
  -- busy in Lua (it never waits, so the REPL never gets to cancel it).
  core.repl_running(true)
  core.on_sigint(done)
  local stopping = false
  while true do
    local n0 = core.sigints()
    pcall(done.wait, done)
    local status = t:status()
    if status == "done" or status == "failed" then break end
    if core.sigints() > n0 and not stopping then
      stopping = true
      core.cancel(t, "interrupted")
    end
    if core.interrupted() then coroutine.yield() end   -- waits raise now: let the chunk end
  end
  core.on_sigint(nil)
  local res = table.pack(pcall(t.join, t))
  core.repl_running(false)
  return res
end

local function report(err)
  local msg = S.error_text(err, verbose)
  if msg == "interrupted" then msg = "\n" .. msg end    -- after the terminal's "^C"
  core.write(2, msg .. (msg:sub(-1) == "\n" and "" or "\n"))
end

---------------------------------------------------------------------------- completion

local keywords = {"and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"}

local function add_keys(set, t, prefix, only_functions)
  if type(t) ~= "table" then return end
  for k, v in pairs(t) do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and k:sub(1, #prefix) == prefix
       and (not only_functions or type(v) == "function") then
      set[k] = true
    end
  end
end

-- The value a dotted path ("string", "s.conn") names, or nil.
local function resolve(path)
  local v = _G
  for part in path:gmatch("[^.:]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" and type(v) ~= "string" then return nil end
    local fine, x = pcall(function() return v[part] end)
    if not fine or x == nil then return nil end
    v = x
  end
  return v
end

-- Names for "a.b.c" / "a:b" / "name": fields of the value the path leads to, its methods
-- (an __index table), string methods for strings. Returns the names and what to append.
local function complete_lua(word)
  local path, sep, last = word:match("^(.-)([.:])([%w_]*)$")
  local set = {}
  if not path then
    last = word
    add_keys(set, _G, last)
    for _, k in ipairs(keywords) do if k:sub(1, #last) == last then set[k] = true end end
  else
    local v = resolve(path)
    if v == nil then return {} end
    local methods = sep == ":"
    if type(v) == "string" then add_keys(set, string, last, true)
    else
      if type(v) == "table" then add_keys(set, v, last, methods) end
      local mt = getmetatable(v)
      local idx = type(mt) == "table" and rawget(mt, "__index")
      if type(idx) == "table" then add_keys(set, idx, last, methods) end
    end
  end
  local out = {}
  for k in pairs(set) do out[#out + 1] = (path and (path .. sep) or "") .. k end
  table.sort(out)
  local append = ""
  if #out == 1 then
    local v = resolve(out[1])
    if type(v) == "table" then append = "." end
  end
  return out, append
end

-- Listings of folders and command names on a session, filled in by background threads.
local listings = {}          -- [session][key] = {at = clock, names = {...}} or {pending = true}
local LISTING_TTL = 10

local function listing(sess, key, cmd, o, line)
  listings[sess] = listings[sess] or setmetatable({}, {__mode = "k"})
  local per = listings[sess]
  local e = per[key]
  if e and e.names and core.clock() - e.at < LISTING_TTL then return e.names end
  if e and e.pending then return nil end
  per[key] = {pending = true}
  core.thread(function()
    local fine, r = pcall(sess.exec, sess, cmd, o, false)
    local names = {}
    if fine and r.stdout then for name in r.stdout:gmatch("[^\n]+") do names[#names + 1] = name end end
    per[key] = {at = core.clock(), names = names}
    core.repl_retry_complete(line)
  end)
  return nil
end

local function complete_shell(st, line, word, command_position)
  local sess = S.current_session(st)
  local o = S.effective(st, sess)
  local ctx = {cwd = o.cwd, env = o.env, timeout = 10, check = false}
  local out = {}
  if command_position and not word:find("/", 1, true) then
    local names = listing(sess, "\0commands",
      "IFS=:; for d in $PATH; do ls -1 \"$d\" 2>/dev/null; done", ctx, line)
    if not names then return {}, true end
    local seen = {}
    for _, n in ipairs(names) do
      if n:sub(1, #word) == word and not seen[n] then seen[n] = true; out[#out + 1] = n end
    end
    table.sort(out)
    return out
  end
  local dir, base = word:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", word end
  local target = dir == "" and "." or dir
  local qdir = (target == "~" or target:sub(1, 2) == "~/") and ("~/" .. S.quote(target:sub(3)))
               or S.quote(target)
  local names = listing(sess, (o.cwd or "") .. "\0" .. dir, "ls -1Ap -- " .. qdir .. " 2>/dev/null", ctx, line)
  if not names then return {}, true end
  for _, n in ipairs(names) do
    if n:sub(1, #base) == base and (base:sub(1, 1) == "." or n:sub(1, 1) ~= ".") then
      out[#out + 1] = dir .. n
    end
  end
  table.sort(out)
  return out
end

-- readline's completer: line, start and stop of the word (0-based, stop exclusive).
local function completer(st)
  return function(line, start, stop)
    local fine, res, append, paths = pcall(function()
      local word = line:sub(start + 1, stop)
      -- In a shell part ("$ …", "$(…")? The rule is C's, as readline's word breaks use it.
      local shell_from = core.repl_shell_start(line, start)
      if shell_from then
        local shell_part = line:sub(shell_from + 1, start)
        local cmd_pos = shell_part:match("^%s*$") or shell_part:match("[|;&(]%s*$")
                        or shell_part:match("sudo%s+$")
        -- The word as typed may hold backslash-escaped characters ("my\ dir/"); the
        -- names are matched unquoted, and readline quotes the one it inserts.
        local list = complete_shell(st, line, (word:gsub("\\(.)", "%1")), cmd_pos)
        if #list == 1 and list[1]:sub(-1) == "/" then return list, "", true end
        return list, " ", true
      end
      return complete_lua(word)
    end)
    if not fine then return {} end
    res.append = append
    res.paths = paths
    return res
  end
end

---------------------------------------------------------------------------- the REPL

-- Reads one whole chunk (continuation lines until it compiles or fails for good).
-- Returns src, fn | src, nil, message | nil ("eof").
local function read_chunk(first_prompt, env)
  local lines = {}
  while true do
    local line, why = core.readline(#lines == 0 and first_prompt or ">> ")
    if line == nil then
      if why == "interrupted" then return "", nil, nil end
      return nil
    end
    lines[#lines + 1] = line
    local src = table.concat(lines, "\n")
    if #lines == 1 and src:match("^%s*$") then return "", nil, nil end
    local fn, msg, incomplete = M.compile(src, "=stdin", env)
    if fn or not incomplete then return src, fn, msg end
  end
end
M.read_chunk = read_chunk

local function setup(st)
  core.repl_setup(HISTORY, completer(st))
end

-- The REPL on this thread's own state (so -i keeps the script's globals and sessions).
function M.run()
  local st = S.state()
  setup(st)
  while true do
    drop_dead(st)
    local src, fn, msg = read_chunk(prompt(st))
    if src == nil then core.write(1, "\n"); break end
    if src ~= "" then core.history_add(src) end
    if fn then
      local res = run_chunk(st, fn)
      if res[1] then
        if res.n > 1 then
          if res.n == 2 and enter_context(st, res[2]) then
            -- entered: the prompt shows it
          elseif not (res.n == 2 and getmetatable(res[2]) == S.Result and statement_only(src)) then
            print(M.format(table.unpack(res, 2, res.n)))
          end
        end
      else
        report(res[2])
      end
    elseif msg then
      report(msg)
    end
  end
  core.repl_end()
end

---------------------------------------------------------------------------- the fleet REPL

local FLEET_HELP = [[
Each line runs on every host of the set, as with -H; identical outputs are gathered (-b).
  :hosts            list the hosts (connected or not)
  :+NODES           add hosts (node set: web[01-05],db1) and connect to them
  :-NODES           take hosts out of the set (their connections close)
  :help             this text
Ctrl-C stops the line on every host; Ctrl-D leaves.
]]

-- sshs -H HOSTS on a terminal without a script: connections stay open, each line runs on
-- every host in its own thread (each host keeps its own globals), outputs gathered.
function M.fleet()
  local nodeset = S.builtin("nodeset")
  local fleet = S.builtin("_fleet")
  local options = core.options
  local st = S.state()
  setup(st)
  local list, sessions, envs, why_down = {}, {}, {}, {}

  local function in_set(h) for _, x in ipairs(list) do if x == h then return true end end end

  -- Connects the hosts of names that have no session yet, all at once (limit -f).
  local function connect_hosts(names)
    local slots, running, done = options.limit or 64, 0, core.event()
    local threads = {}
    for _, host in ipairs(names) do
      if not sessions[host] then
        while running >= slots do done:wait() end
        running = running + 1
        threads[#threads + 1] = core.thread(function()
          local fine, s = pcall(S.open_session, host, {})
          if fine then sessions[host], why_down[host] = s, nil
          else why_down[host] = (type(s) == "table" and s.message or tostring(s)):gsub("^[^\n]-:%d+: ", "", 1) end
          running = running - 1
          done:set()
        end)
      end
    end
    for _, t in ipairs(threads) do pcall(t.join, t) end
    local down = {}
    for _, host in ipairs(names) do if not sessions[host] then down[#down + 1] = host end end
    if #down > 0 then
      core.write(2, "sshs: not connected: " .. nodeset.fold(down) .. " (" .. #down .. "): " ..
        tostring(why_down[down[1]]) .. "\n")
    end
  end

  local function add(spec)
    local fine, names = pcall(nodeset.expand, spec)
    if not fine then core.write(2, "sshs: " .. tostring(names) .. "\n"); return end
    local new = {}
    for _, h in ipairs(names) do if not in_set(h) then list[#list + 1] = h; new[#new + 1] = h end end
    connect_hosts(new)
  end

  local function remove(spec)
    local fine, names = pcall(nodeset.expand, spec)
    if not fine then core.write(2, "sshs: " .. tostring(names) .. "\n"); return end
    for _, h in ipairs(names) do
      for i = #list, 1, -1 do if list[i] == h then table.remove(list, i) end end
      if sessions[h] then pcall(sessions[h].release, sessions[h]); sessions[h] = nil end
      envs[h] = nil
    end
  end

  local function live_hosts()
    local out = {}
    for _, h in ipairs(list) do
      local s = sessions[h]
      if s then
        local alive, why = s:alive()
        if alive then out[#out + 1] = h
        else
          core.write(2, "sshs: " .. h .. ": the connection is gone" .. (why and (": " .. why) or "") .. "\n")
          pcall(s.release, s)
          sessions[h], why_down[h] = nil, why or "connection lost"
        end
      end
    end
    return out
  end

  local function fleet_prompt()
    local up = live_hosts()
    local name = #up > 0 and nodeset.fold(up) or "no hosts"
    if #name > 40 then name = #up .. " hosts" end
    return "sshs " .. name .. "> "
  end

  local function command(line)
    local op, arg = line:match("^:%s*([%+%-]?)%s*(.-)%s*$")
    if op == "+" then add(arg)
    elseif op == "-" then remove(arg)
    elseif arg == "hosts" then
      local up = live_hosts()
      local down = {}
      for _, h in ipairs(list) do if not sessions[h] then down[#down + 1] = h end end
      core.write(1, "connected: " .. (#up > 0 and nodeset.fold(up) or "none") .. " (" .. #up .. ")\n")
      if #down > 0 then core.write(1, "not connected: " .. nodeset.fold(down) .. " (" .. #down .. ")\n") end
    elseif arg == "help" then core.write(1, FLEET_HELP)
    else core.write(2, "sshs: unknown command '" .. line .. "' (:help lists them)\n") end
  end

  -- Runs src on every connected host at once; gathers outputs; summarises failures.
  local function run_everywhere(src)
    local hosts = live_hosts()
    if #hosts == 0 then core.write(2, "sshs: no connected host (:+NODES adds some)\n"); return end
    local done, left, threads, results, sinks = core.event(), #hosts, {}, {}, {}
    local t0 = core.clock()
    for _, h in ipairs(hosts) do
      envs[h] = envs[h] or setmetatable({}, {__index = _G})
      local fn = M.compile(src, "=stdin", envs[h])
      local sink = {}
      sinks[h] = sink
      local hst = {stack = {S.LOCAL, sessions[h]}, ctx = {}, prefix = h .. ": ", host = h, sink = sink}
      results[h] = {host = h}
      threads[h] = core.spawn_in(hst, function()
        local _ <close> = setmetatable({}, {__close = function() left = left - 1; done:set() end})
        local res = table.pack(pcall(fn))
        local o = results[h]
        o.ok = res[1]
        if res[1] then
          if res.n > 1 then sink[#sink + 1] = M.format(table.unpack(res, 2, res.n)) .. "\n" end
        else
          local e = res[2]
          o.error = type(e) == "table" and e.message or tostring(e)
          if type(e) == "table" then o.exitcode, o.signal = e.exitcode, e.signal end
          if type(e) == "table" and e.kind == "connection" then o.unreachable = true end
          if o.error == "interrupted" then o.interrupted = true end
        end
      end)
    end
    core.repl_running(true)
    core.on_sigint(done)
    local stopping = false
    while left > 0 do
      local n0 = core.sigints()
      pcall(done.wait, done)
      if core.sigints() > n0 and left > 0 and not stopping then
        stopping = true
        core.write(2, "\n")                 -- after the terminal's "^C"
        for _, t in pairs(threads) do core.cancel(t, "interrupted") end
      end
      if core.interrupted() and left > 0 then coroutine.yield() end
    end
    core.on_sigint(nil)
    for h, t in pairs(threads) do pcall(t.join, t) end
    core.repl_running(false)
    for _, h in ipairs(hosts) do results[h].output = table.concat(sinks[h]) end
    fleet.print_gathered(hosts, results)
    local failed = false
    for _, h in ipairs(hosts) do if not results[h].ok then failed = true end end
    if failed then core.write(2, fleet.summary(hosts, results, string.format("in %.1fs", core.clock() - t0))) end
  end

  add(options.hosts)
  while true do
    local src, fn, msg = read_chunk(fleet_prompt())
    if src == nil then core.write(1, "\n"); break end
    if src ~= "" then core.history_add(src) end
    if src:match("^%s*:[^:]") then command(src:match("^%s*(.-)%s*$"))
    elseif fn then run_everywhere(src)
    elseif msg then report(msg) end
  end
  for _, s in pairs(sessions) do pcall(s.release, s) end
  core.repl_end()
end

return M
