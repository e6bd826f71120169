-- The Lua half of the sshs runtime, compiled into the binary and run once at start-up.
-- It defines _SSHS (what the translated sugar calls: run/cap/sub/test/last/q/with), result
-- objects, command failures, the per-thread session stack and context blocks, and `require`
-- for .sshs files. C primitives arrive as `core` (interp/l_runtime.c); the table S is
-- returned to C, which keeps its own reference (a script may reassign the global _SSHS).
local core = ...
local S = {core = core}
_SSHS = S
local options = core.options
local concat, type, setmetatable, getmetatable, error = table.concat, type, setmetatable, getmetatable, error

-- Frames of the runtime itself are skipped when an error names "file:line".
local function internal(source)
  return source == "=prelude" or source:sub(1, 6) == "=sshs/"
end

-- "deploy.sshs:14: " for the innermost frame of user code, "" if none.
local function user_where()
  for level = 2, 60 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and not internal(info.source) and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end
S.user_where = user_where

-- Raises msg at the user's line (for errors in arguments the user wrote).
local function user_error(msg)
  error(user_where() .. msg, 0)
end
S.user_error = user_error

---------------------------------------------------------------------------- results

local Result = {__name = "sshs.result"}
Result.__index = Result
S.Result = Result
function Result.__tostring(r) return r.stdout end
function Result.__concat(a, b) return tostring(a) .. tostring(b) end

-- Iterates over stdout's lines (without their newlines; a last line without one counts).
function Result:lines()
  local s, pos = self.stdout, 1
  return function()
    if pos > #s then return nil end
    local nl = s:find("\n", pos, true)
    local line = s:sub(pos, (nl or #s + 1) - 1)
    pos = (nl or #s) + 1
    return line
  end
end

-- Integers stay integers; JSON null is `null` (json.null).
function Result:json()
  local fine, v = pcall(S.builtin("json").decode, self.stdout)
  if not fine then user_error("stdout of '" .. self.cmd .. "' is not JSON: " .. tostring(v)) end
  return v
end

local CommandError = {__name = "sshs.CommandError"}
CommandError.__index = CommandError
CommandError.__tostring = function(e) return e.message end
S.CommandError = CommandError

local function stderr_head(s, max_lines)
  local out, n = {}, 0
  for line in s:gmatch("[^\n]+") do
    n = n + 1
    if n > max_lines then out[#out + 1] = "  ..."; break end
    out[#out + 1] = "  " .. line
  end
  return concat(out, "\n")
end

-- A command quoted in a message: readable, not 10 MB.
function S.cut(text)
  if #text <= 300 then return text end
  return text:sub(1, 300) .. "… (" .. #text .. " bytes)"
end

-- Raises the failure of result r: a table with r's fields and a message naming where and why.
local function fail(r)
  local why
  if r.idle_timed_out then
    why = string.format("no output for %gs", tonumber(string.format("%.3g", r.idle_timeout or 0)))
  elseif r.timed_out then why = string.format("timed out after %gs", tonumber(string.format("%.3g", r.timeout or 0)))
  elseif r.signal then why = "killed by signal " .. tostring(r.signal)
  else why = "exit " .. tostring(r.exitcode) end
  local shown = S.cut(r.cmd)
  local msg = user_where() .. "command failed on " .. r.host .. " (" .. why .. "): " .. shown
  local head = stderr_head(r.stderr or "", 5)
  if head ~= "" then msg = msg .. "\n" .. head end
  local e = {message = msg}
  for k, v in pairs(r) do e[k] = v end
  error(setmetatable(e, CommandError), 0)
end

-- A capture went past max_output: the command was stopped and its output is incomplete,
-- so this raises even under check(false).
local function overflow(r)
  r.ok = false
  local why = r.out_of_memory and ("ran out of memory keeping its " .. r.overflow)
    or ("exceeded max_output (" .. math.tointeger(r.max_output) .. " bytes of " .. r.overflow)
  local msg = user_where() .. "output of a command on " .. r.host .. " " .. why ..
    (r.out_of_memory and " (" or "; ") .. "the command was stopped): " .. r.cmd ..
    "\n  raise it with run(cmd, {max_output = bytes}) or with output_limits{max_output = bytes} do ... end," ..
    "\n  or take the output in pieces with on_stdout / on_stderr"
  local e = {message = msg}
  for k, v in pairs(r) do e[k] = v end
  error(setmetatable(e, CommandError), 0)
end

---------------------------------------------------------------------------- quoting

local Raw = {__name = "sshs.raw"}
function raw(v) return setmetatable({value = v}, Raw) end
-- maybe_empty(t): an array that may be empty (then it gives no word at all).
local MaybeEmpty = {__name = "sshs.maybe_empty"}
function maybe_empty(t)
  if type(t) ~= "table" or getmetatable(t) ~= nil then user_error("maybe_empty: expected an array, got " .. type(t)) end
  return setmetatable({value = t}, MaybeEmpty)
end

local function quote_string(s, src)
  if s:find("\0", 1, true) then user_error("#{" .. src .. "} contains a NUL byte, which no command can take") end
  if s ~= "" and not s:find("[^%w%-_./,:+@%%]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
S.quote = function(s) return quote_string(s, "?") end

-- How a value's bytes are written in each shell context the preprocessor tells apart
-- (interp/shctx.c): the shell then hands the command exactly those bytes.
local escapes = {
  [""] = quote_string,                                     -- a bare word: '...'
  g = quote_string,                                        -- glued to other text: still '...'
  d = function(s) return (s:gsub('[\\$`"]', "\\%0")) end, -- inside "...": \ $ ` " escaped
  s = function(s) return (s:gsub("'", "'\\''")) end,      -- inside '...': the '\'' splice
  h = function(s) return (s:gsub("[\\$`]", "\\%0")) end,  -- unquoted heredoc body
  H = function(s) return s end,                            -- quoted heredoc body: as is
  c = function(s) return s end,                            -- a # comment (no newline, below)
}

-- Inside shell arithmetic ($(( )), (( )), a[...], and quotes within them) the shell expands $( )
-- even inside '...', and bash evaluates a[...] subscripts: no quoting keeps bytes inert
-- there, so only integers go in (a Lua integer, an integral float, or a string of decimal
-- digits with an optional '-'), written in decimal, negatives in parentheses.
local function arith_int(v, src)
  local n
  if type(v) == "number" then n = math.tointeger(v)
  elseif type(v) == "string" and v:find("^%s*%-?%d+%s*$") then n = math.tointeger(tonumber(v:match("%S+"))) end
  if not n then
    user_error("#{" .. src .. "} is inside shell arithmetic ($(( )), (( )) or an array subscript a[...]) and is not an integer")
  end
  if n == math.mininteger then return "(-9223372036854775807-1)" end   -- dash misreads the literal
  return n < 0 and ("(" .. n .. ")") or tostring(n)
end

local function quote_in(s, src, ctx)
  if s:find("\0", 1, true) then user_error("#{" .. src .. "} contains a NUL byte, which no command can take") end
  local kind = ctx:sub(1, 1)
  if kind == "a" then return arith_int(s, src) end
  if kind == "c" and s:find("\n", 1, true) then
    user_error("#{" .. src .. "} is in a shell # comment and contains a newline, which would end the comment")
  end
  if ctx:sub(2, 2) == "-" and (s:find("\n\t", 1, true) or (ctx:sub(3, 3) == "^" and s:sub(1, 1) == "\t")) then
    user_error("#{" .. src .. "} has a line starting with a tab inside a <<- heredoc, which would strip it")
  end
  return escapes[kind](s, src)
end

-- Is t a plain array (keys exactly 1..#t)?  Returns its length, or nil.
local function array_length(t)
  local n, count = #t, 0
  for _ in pairs(t) do count = count + 1 end
  return count == n and n or nil
end

local function what(v)
  if type(v) == "table" then return "a table with keys that are not 1..n" end
  return "a " .. type(v)
end

-- #{expr} in shell context ctx (nil: a bare word): strings are written so that the command
-- receives their bytes exactly, numbers as numbers, arrays as one word per element (bare)
-- or their elements joined by spaces (inside quotes or a heredoc).
function S.q(v, src, ctx)
  ctx = ctx or ""
  local t = type(v)
  if t == "string" then return quote_in(v, src, ctx) end
  if t == "number" then return ctx == "a" and arith_int(v, src) or tostring(v) end
  if t == "nil" then user_error("#{" .. src .. "} is nil") end
  if t == "table" then
    local mt = getmetatable(v)
    if mt == Raw then
      if v.value == nil then user_error("#{" .. src .. "} is raw(nil)") end
      return tostring(v.value)
    end
    local may_be_empty = false
    if mt == MaybeEmpty then v, mt, may_be_empty = v.value, nil, true end
    if mt and mt.__tostring then return quote_in(tostring(v), src, ctx) end
    local n = not mt and array_length(v)
    if not n then
      user_error("#{" .. src .. "} is " .. what(v) .. " (expected a string, number or array)")
    end
    if n == 0 and not may_be_empty then
      user_error("#{" .. src .. "} is an empty array (it would give no word at all; write #{maybe_empty(" .. src .. ")} if that is meant)")
    end
    if ctx == "g" then
      user_error("#{" .. src .. "} is an array glued to other text (as in /srv/#{list}): write it as a word of its own, or build the strings in Lua")
    end
    local words = {}
    for i = 1, n do
      local e, esrc = v[i], src .. "[" .. i .. "]"
      if type(e) == "table" and getmetatable(e) == nil then user_error("#{" .. esrc .. "} is a table (arrays are not flattened)") end
      words[i] = S.q(e, esrc, ctx)
    end
    return concat(words, " ")
  end
  user_error("#{" .. src .. "} is " .. what(v) .. " (expected a string, number or array)")
end

-- A heredoc body with its pieces (see interp/preproc.c): no interpolated value may put the
-- delimiter on a line of its own inside it, which would end the heredoc early.
-- dash (Debian's /bin/sh) drops a byte >= 0x80 that follows the start of the delimiter at
-- the start of a body line ("E\x92" in a <<END body): such a line is refused, not mangled.
local function dash_drops(line, delim)
  for k = 1, #delim do
    if line:byte(k) ~= delim:byte(k) then return false end
    if (line:byte(k + 1) or 0) >= 128 then return true end
  end
  return false
end

function S.hd(parts, delim, dash, terminated)
  local body = concat(parts)
  local text = body
  if terminated then text = text:gsub("[^\n]*\n?$", "", 1) end   -- the delimiter line itself
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if dash == 1 then line = line:gsub("^\t+", "") end
    if line == delim then
      user_error("an interpolated value puts the heredoc delimiter " .. delim .. " on a line of its own")
    end
    if dash_drops(line, delim) then
      user_error("a heredoc line starts like its delimiter " .. delim ..
                 " and then has a non-ASCII byte, which dash (/bin/sh) would drop")
    end
  end
  return body
end

---------------------------------------------------------------------------- thread state

-- Every thread has a state table: stack (sessions, bottom = local), ctx (context frames),
-- last (the last result), prefix (the "host: " of live output).
local LOCAL = {host = "local", kind = "local"}
S.LOCAL = LOCAL

local function new_state()
  return {stack = {LOCAL}, ctx = {}}
end

local function state()
  local st = core.state()
  if st.stack == nil then st.stack = {LOCAL}; st.ctx = st.ctx or {} end
  return st
end
S.state = state

-- A new thread starts with its creator's current session and context blocks.
function S.inherit_state(parent)
  local st = new_state()
  if parent and parent.stack then
    local top = parent.stack[#parent.stack]
    if top.console_session then top = top.console_session end   -- a console is its creator's
    if top ~= LOCAL then
      st.stack[2] = top
      if top.retain then top:retain() end
    end
    for i, f in ipairs(parent.ctx) do st.ctx[i] = f end
    st.prefix = parent.prefix
    st.host = parent.host
  end
  return st
end

local function current_session(st)
  st = st or state()
  return st.stack[#st.stack]
end
S.current_session = current_session

---------------------------------------------------------------------------- contexts

local Context = {__name = "sshs.context"}
Context.__index = Context
S.Context = Context
-- cd/env/sudo belong to the session they were opened on; check/timeout to every command.
local session_bound = {cd = true, env = true, sudo = true}

function Context:__enter()
  local st = state()
  local frame = {kind = self.kind, value = self.value}
  if session_bound[self.kind] then frame.session = current_session(st) end
  st.ctx[#st.ctx + 1] = frame
  self.frame, self.st = frame, st
end

function Context:__exit()
  local ctx = self.st and self.st.ctx
  if not ctx then return end
  for i = #ctx, 1, -1 do
    if ctx[i] == self.frame then table.remove(ctx, i); break end
  end
  self.st, self.frame = nil, nil
end
Context.__close = Context.__exit

local function context(kind, value) return setmetatable({kind = kind, value = value}, Context) end

function cd(path)
  if type(path) ~= "string" then user_error("cd: expected a path string, got " .. type(path)) end
  return context("cd", path)
end
-- A table of environment variables (env{} and run's env option): names as the shell
-- allows them (a name is put into shell text remotely and under sudo), values strings or
-- numbers (false unsets).
local function check_env(t, who)
  for k, v in pairs(t) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      user_error(who .. ": bad variable name " .. (type(k) == "string" and string.format("%q", k):gsub("\\\n", "\\n") or tostring(k)) ..
                 " (letters, digits and _, not starting with a digit)")
    end
    if type(v) ~= "string" and type(v) ~= "number" and v ~= false then
      user_error(who .. ": value of " .. k .. " must be a string or number, got " .. type(v))
    end
  end
end
function env(t)
  if type(t) ~= "table" then user_error("env: expected a table of NAME = value, got " .. type(t)) end
  check_env(t, "env")
  return context("env", t)
end
function timeout(seconds)
  if type(seconds) ~= "number" or seconds <= 0 then user_error("timeout: expected a positive number of seconds") end
  return context("timeout", seconds)
end
-- with idle_timeout(s): a command that prints nothing (stdout or stderr) for s seconds is
-- stopped as a timeout would stop it.
function idle_timeout(seconds)
  if type(seconds) ~= "number" or seconds <= 0 then user_error("idle_timeout: expected a positive number of seconds") end
  return context("idle_timeout", seconds)
end
function check(flag) return context("check", flag ~= false) end
-- with output_limits{max_output = bytes, keep_shown = bytes} do: the output bounds of the
-- commands in the block (README "Bounds"); math.huge lifts one.
local limit_names = {max_output = true, keep_shown = true}
function output_limits(t)
  if type(t) ~= "table" then user_error("output_limits: expected a table {max_output =, keep_shown =}") end
  for k, v in pairs(t) do
    if not limit_names[k] then user_error("output_limits: unknown limit '" .. tostring(k) .. "'") end
    if type(v) ~= "number" or v < 0 or v ~= v then user_error("output_limits: " .. k .. " must be a number of bytes >= 0") end
  end
  return context("limits", t)
end
function sudo(t)
  t = t or {}
  if type(t) ~= "table" then user_error("sudo: expected a table {user =, password =}") end
  return context("sudo", {user = t.user or "root", password = t.password})
end

-- `with EXPR [as NAME] do` becomes `local NAME <close> = _S.with(EXPR)`.
function S.with(obj)
  if obj == nil then user_error("with: the expression gave nil") end
  local mt = getmetatable(obj)
  if not mt or not mt.__close then user_error("with: " .. tostring(obj) .. " cannot be used in a with block") end
  if type(obj) == "table" and obj.__enter then obj:__enter() end
  return obj
end

-- Folds the context frames that apply on sess into one option table.
local function join_path(base, path)
  if not base or path:sub(1, 1) == "/" or path:sub(1, 1) == "~" then return path end
  return base .. "/" .. path
end

local function effective(st, sess)
  local o = {check = true}
  for _, f in ipairs(st.ctx) do
    if f.session == nil or f.session == sess then
      local k, v = f.kind, f.value
      if k == "cd" then o.cwd = join_path(o.cwd, v)
      elseif k == "env" then
        local e = {}
        if o.env then for a, b in pairs(o.env) do e[a] = b end end
        for a, b in pairs(v) do e[a] = b end
        o.env = e
      elseif k == "timeout" then o.timeout = v
      elseif k == "idle_timeout" then o.idle_timeout = v
      elseif k == "check" then o.check = v
      elseif k == "limits" then
        if v.max_output then o.max_output = v.max_output end
        if v.keep_shown then o.keep_shown = v.keep_shown end
      elseif k == "sudo" then o.sudo = v end
    end
  end
  return o
end
S.effective = effective

S.effective = effective

---------------------------------------------------------------------------- commands

-- "cd DIR && export K=V; cmd" for shells we only reach through a command line.
local function quote_path(p)
  if p == "~" then return "~" end
  if p:sub(1, 2) == "~/" then return "~/" .. S.quote(p:sub(3)) end
  return S.quote(p)
end

local function env_assignments(env)
  local keys, parts = {}, {}
  for k in pairs(env) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = env[k]
    if v == false then parts[#parts + 1] = "unset " .. k .. ";"
    else parts[#parts + 1] = "export " .. k .. "=" .. S.quote(tostring(v)) .. ";" end
  end
  return concat(parts, " ")
end

-- The user's command as one quoted word for eval, so that the shell parses it on its own:
-- a syntax error then quotes only the user's text ("bash: eval: line 1: `echo ( oops'"), not
-- the wrappers put around it (the pid marker, env, cd, sudo's tokens).
local function own_parse(cmd) return "eval " .. S.quote(cmd) end

-- Wraps cmd for a shell we reach through a command line (remote, or under sudo) with o's
-- cwd, env and sudo; returns the command line, its stdin, and for sudo with a password the
-- feed that S.collect answers sudo's prompt with (see below). Env values never go on the
-- command line (where `ps` shows them): they come first on stdin, read by
-- `eval "$(head -c N)"`, which takes exactly those N bytes, so the command's own stdin follows
-- intact. With a pty (whose echo would print them) they stay on the command line.
function S.shell_command(cmd, o)
  local pre, lead = {}, ""
  if o.env and next(o.env) then
    local a = env_assignments(o.env)
    if o.pty then pre[#pre + 1] = a
    else
      pre[#pre + 1] = 'eval "$(head -c ' .. #a .. ')";'
      lead = a
    end
  end
  if o.cwd then pre[#pre + 1] = "cd " .. quote_path(o.cwd) .. " &&" end
  if #pre > 0 then cmd = concat(pre, " ") .. " " .. cmd end
  local stdin = lead ~= "" and (lead .. (o.stdin or "")) or o.stdin
  if not o.sudo then return cmd, stdin end
  local u = S.quote(o.sudo.user)
  if o.sudo.password then
    -- The password is written only when sudo asks: sudo prints our random prompt token
    -- (-p) on stderr, S.collect sees it (cmdout's watch), answers, and the token is taken
    -- out. The shell sudo starts prints a second token first; only then does the command's
    -- own stdin (env values, then o.stdin) go, and EOF. With NOPASSWD, cached credentials
    -- or root, sudo asks nothing and the password is never sent anywhere.
    local function token(what)
      return string.format("[sshs-%s-%08x%08x]", what, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    end
    local feed = {prompt = token("sudo"), start = token("run"), password = tostring(o.sudo.password), rest = stdin or ""}
    cmd = "printf '%s' " .. feed.start .. " >&2; " .. cmd
    return "sudo -S -p " .. S.quote(feed.prompt) .. " -u " .. u .. " -- /bin/sh -c " .. S.quote(cmd), nil, feed
  end
  return "sudo -n -u " .. u .. " -- /bin/sh -c " .. S.quote(cmd), stdin
end

-- The options that make a command answer sudo's prompt through S.collect (feed as above).
local function feed_options(opts, feed, pty)
  if not feed then return opts end
  opts.watch, opts.watch_stdout, opts.stdin_open, opts.stdin = {feed.prompt, feed.start}, pty, true, nil
  return opts
end

-- A local path with a leading ~ made $HOME.
local function home_path(p)
  if p == "~" or p:sub(1, 2) == "~/" then return (os.getenv("HOME") or "") .. p:sub(2) end
  return p
end
S.home_path = home_path

-- Waits for a command op to end, handing streamed chunks to the callbacks; returns its raw
-- result. A failure of the wait itself (a lost connection) goes to on_lost, else is raised.
function S.collect(op, o, on_lost, feed)
  while true do
    local fine, ev, data = pcall(op.wait, op)
    if not fine then
      if on_lost then on_lost(ev) end
      error(ev, 0)
    end
    if ev == "done" then return op:result() end
    if ev == "watch" then
      if data == 1 and not feed.answered then      -- sudo asks: the password, once
        feed.answered = true
        op:write(feed.password .. "\n")
      elseif data == 1 then                         -- asked again: it was wrong; let sudo fail
        op:write("", true)
      else                                          -- the command runs: its own stdin
        op:write(feed.rest, true)
      end
      goto continue
    end
    do
      local cb = ev == "stdout" and o.on_stdout or o.on_stderr
      if cb then cb(data) end
    end
    ::continue::
  end
end

-- Runs cmd on the local machine; returns the raw result fields.
function LOCAL:exec(cmd, o, show, prefix)
  local sp = {cwd = o.cwd and home_path(o.cwd), env = o.env, stdin = o.stdin, timeout = o.timeout, pty = o.pty,
              idle_timeout = o.idle_timeout,
              echo = show, prefix = prefix, color = prefix and S.color,
              max_output = o.max_output, keep_shown = o.keep_shown,
              stream_stdout = o.on_stdout and true, stream_stderr = o.on_stderr and true}
  local feed
  if o.sudo then       -- cd and env apply inside sudo (which resets the environment)
    cmd, sp.stdin, feed = S.shell_command(own_parse(cmd), o)
    sp.cwd, sp.env = nil, nil
    feed_options(sp, feed, o.pty)
  end
  local fine, op = pcall(core.spawn, cmd, sp)
  if not fine then
    if sp.cwd then user_error("cd(" .. sp.cwd .. "): " .. tostring(op):gsub("^.-%): ", "", 1)) end
    user_error(S.cut(tostring(op)))
  end
  local _ <close> = op
  return S.collect(op, o, nil, feed)
end

-- Hands a shown command's output to the fleet's streams as it arrives (on_stdout/on_stderr,
-- the user's own still called). Streamed output is not kept by the command, so the last
-- keep_shown bytes are kept here; returns the function that puts them in the result.
local function tee_streams(o, streams)
  local bound = o.keep_shown or 1024 * 1024
  local tails = {stdout = {n = 0}, stderr = {n = 0}}
  local user = {stdout = o.on_stdout, stderr = o.on_stderr}
  for _, name in ipairs{"stdout", "stderr"} do
    local t, send, own = tails[name], streams[name], user[name]
    o["on_" .. name] = function(chunk)
      send(chunk)
      if own then return own(chunk) end
      t[#t + 1], t.n = chunk, t.n + #chunk
      if t.n > 2 * bound + 4096 then
        local s = table.concat(t):sub(-bound)
        for i = #t, 1, -1 do t[i] = nil end
        t[1], t.n = s, #s
      end
    end
  end
  return function(r)
    for _, name in ipairs{"stdout", "stderr"} do
      if not user[name] then
        local s = table.concat(tails[name])
        r[name] = #s > bound and s:sub(-bound) or s
      end
    end
  end
end

-- Runs one command on session sess with the thread's contexts (and extra options) applied.
local function exec(sess, cmd, show, extra, test)
  local st = state()
  local o = effective(st, sess)
  if extra then for k, v in pairs(extra) do o[k] = v end end
  if st.deadline then                       -- each{host_timeout}: what is left of it
    local left = st.deadline - core.clock()
    if left <= 0 then user_error("host time limit exceeded before: " .. cmd) end
    if not o.timeout or o.timeout > left then o.timeout = left end
  end
  if st.idle_timeout and not o.idle_timeout then o.idle_timeout = st.idle_timeout end  -- each{idle_timeout}
  local prefix = st.prefix
  -- -v outside each/-H: a remote command and its output carry the session's host.
  if S.verbose and not prefix and sess ~= LOCAL then prefix = sess.host .. ": " end
  if S.verbose then
    local line = (prefix or "") .. "$ " .. cmd .. "\n"
    if st.sink then st.sink[#st.sink + 1] = line else core.write(2, line) end
    show = true
  end
  local sink = show and st.sink
  local streams = show and st.streams         -- -H --output-dir / --jsonl: a copy as it comes
  local kept
  if streams then kept = tee_streams(o, streams) end
  local r = sess:exec(cmd, o, show and not sink and not (streams and streams.quiet), prefix)
  if kept then kept(r) end
  if sink then sink[#sink + 1] = r.stdout; sink[#sink + 1] = r.stderr end
  r.cmd, r.host, r.ok, r.timeout = cmd, sess.host, r.exitcode == 0, o.timeout
  r.timed_out = r.timed_out or false      -- the same (false) locally and remotely
  if r.idle_timed_out then r.idle_timeout = o.idle_timeout end
  setmetatable(r, Result)
  st.last = r
  if r.overflow then overflow(r) end
  if not r.ok and not test and o.check ~= false then fail(r) end
  return r
end

function S.run(parts) return exec(current_session(), concat(parts), true) end
function S.cap(parts) return exec(current_session(), concat(parts), false) end
function S.sub(parts) return (exec(current_session(), concat(parts), false).stdout:gsub("\n+$", "")) end
function S.test(parts) return exec(current_session(), concat(parts), false, nil, true).ok end
function S.last()
  local r = state().last
  if r == nil then user_error("$ has no value yet: no command has run in this thread") end
  return r
end

local run_options = {stdin = "string", pty = "boolean", timeout = "number", idle_timeout = "number", env = "table",
                     check = "boolean", on_stdout = "function", on_stderr = "function", show = "boolean",
                     stoppable = "boolean", max_output = "number", keep_shown = "number"}

local function check_run_args(cmd, opts)
  if type(cmd) ~= "string" then user_error("run: expected a command string, got " .. type(cmd)) end
  if opts ~= nil and type(opts) ~= "table" then user_error("run: options must be a table") end
  for k, v in pairs(opts or {}) do
    local want = run_options[k]
    if not want then user_error("run: unknown option '" .. tostring(k) .. "'") end
    if type(v) ~= want then user_error("run: option " .. k .. " must be a " .. want .. ", got " .. type(v)) end
  end
  if opts and opts.env then check_env(opts.env, "run: option env") end
end

-- run(cmd, opts): the explicit API on the current session; quiet unless opts.show.
function run(cmd, opts)
  check_run_args(cmd, opts)
  return S.run_on(current_session(), cmd, opts)
end

function S.run_on(sess, cmd, opts)
  local extra
  if opts then
    extra = {}
    for k, v in pairs(opts) do extra[k] = v end
    if opts.env then
      local merged = effective(state(), sess).env or {}
      for k, v in pairs(opts.env) do merged[k] = v end
      extra.env = merged
    end
    extra.show = nil
  end
  return exec(sess, cmd, opts and opts.show or false, extra, opts and opts.check == false)
end

---------------------------------------------------------------------------- sessions

local ConnectError = {__name = "sshs.ConnectError"}
ConnectError.__index = ConnectError
ConnectError.__tostring = function(e) return e.message end
S.ConnectError = ConnectError

local Session = {__name = "sshs.session"}
Session.__index = Session
S.Session = Session

-- "user@host:port", "[v6]:port", "host" -> user, host, port (user and port may be nil).
-- A bare IPv6 address: hex groups and colons (with "::" or all eight groups), maybe a zone.
local function is_ipv6(s)
  local addr = s:match("^([%x:.]+)%%?[%w]*$")
  if not addr or not addr:find(":", 1, true) then return false end
  local _, colons = addr:gsub(":", "")
  return addr:find("::", 1, true) ~= nil or colons == 7
end

local function port_number(p, where)
  local n = math.tointeger(tonumber(p))
  if not n or n < 1 or n > 65535 then
    user_error(where .. ": port " .. tostring(p) .. " is out of range (1-65535)")
  end
  return n
end
S.port_number = port_number

local function parse_target(target)
  local user, rest = target:match("^(.*)@(.*)$")
  if user == "" or rest == "" then return nil end
  rest = rest or target
  local host, port
  if rest:sub(1, 1) == "[" then
    host, port = rest:match("^%[([^%]]+)%]:?(%d*)$")
  else
    host, port = rest:match("^([^:]+):(%d+)$")
    if not host and not rest:find(":", 1, true) then host = rest end
    if not host and is_ipv6(rest) then host = rest end
  end
  if not host or host == "" or host:find("[%s/@]") then return nil end
  if port and port ~= "" then port = port_number(port, "connect('" .. target .. "')") else port = nil end
  return user, host, port
end

-- Connection defaults, decided here only: C takes every value from the params table.
local connect_defaults = {port = 22, timeout = 30, keepalive = 0, keepalive_max = 3, max_sessions = 10}

local connect_options = {user = "string", port = "number", password = "string", key = "string",
  passphrase = "string", agent = "boolean", timeout = "number", keepalive = "number",
  known_hosts = "string", host_key_check = "string", via = true, max_sessions = "number",
  ssh_config = "string", ciphers = "string", macs = "string", kex = "string"}

local function check_connect_options(opts, where)
  if opts == nil then return {} end
  if type(opts) ~= "table" then user_error(where .. ": options must be a table") end
  for k, v in pairs(opts) do
    local want = connect_options[k]
    if not want then user_error(where .. ": unknown option '" .. tostring(k) .. "'") end
    if want ~= true and type(v) ~= want then
      user_error(where .. ": option " .. k .. " must be a " .. want .. ", got " .. type(v))
    end
  end
  local hk = opts.host_key_check
  if hk and hk ~= "yes" and hk ~= "accept-new" and hk ~= "no" then
    user_error(where .. ": host_key_check must be \"yes\", \"accept-new\" or \"no\"")
  end
  local ms = opts.max_sessions
  if ms and (ms < 1 or ms % 1 ~= 0) then user_error(where .. ": max_sessions must be a whole number >= 1") end
  return opts
end
S.check_connect_options = check_connect_options

local function expand_home(p)
  if p and (p == "~" or p:sub(1, 2) == "~/") then return (os.getenv("HOME") or "") .. p:sub(2) end
  return p
end

local hostkey_modes = {yes = "yes", ask = "yes", ["accept-new"] = "accept-new", no = "no", off = "no"}

-- `with timeout(s)` and each{host_timeout} also bound connecting inside them.
local function connect_timeout(t)
  local st = state()
  local eff = effective(st, nil)
  for _, bound in ipairs{eff.timeout or false, eff.idle_timeout or false, st.idle_timeout or false} do
    if bound and bound < t then t = bound end
  end
  if st.deadline then
    local left = st.deadline - core.clock()
    if left < t then t = math.max(left, 0.001) end
  end
  return t
end

-- Opens one SSH connection (through `outer`, a session, when given) and returns a session.
function S.open_session(target, opts, outer)
  local tuser, alias, tport = parse_target(target)
  if not alias then user_error("connect: bad target '" .. target .. "' (expected host, user@host, user@host:port or [v6addr]:port)") end
  local home = os.getenv("HOME") or ""
  local cfg_path = expand_home(opts.ssh_config or options.ssh_config) or (home .. "/.ssh/config")
  local ok, cfg = pcall(core.sshconfig, alias, cfg_path, options.ssh_options)
  if not ok then user_error("connect: " .. tostring(cfg)) end
  local user = opts.user or tuser or cfg.user or os.getenv("USER") or os.getenv("LOGNAME") or "root"
  local port = opts.port or tport or cfg.port or connect_defaults.port
  port = port_number(port, "connect('" .. target .. "')")
  local hostname = cfg.hostname or alias
  local keys = {}
  if opts.key then keys[#keys + 1] = {path = expand_home(opts.key), given = true} end
  for _, f in ipairs(cfg.identity_files) do keys[#keys + 1] = {path = f, given = true} end
  if #cfg.identity_files == 0 then
    for _, name in ipairs{"id_ed25519", "id_ecdsa", "id_rsa"} do
      keys[#keys + 1] = {path = home .. "/.ssh/" .. name}
    end
  end
  local shown = alias:find(":", 1, true) and ("[" .. alias .. "]") or alias
  local display = user .. "@" .. shown .. (port ~= connect_defaults.port and tport and (":" .. port) or "")
  local agent = opts.agent
  if agent == nil then agent = os.getenv("SSH_AUTH_SOCK") ~= nil end

  -- Jump hosts: opts.via, else ProxyJump, else the session we are inside of.
  local jumps, via = {}, outer
  local chain = opts.via
  if chain == nil and cfg.proxyjump and cfg.proxyjump ~= "none" then chain = cfg.proxyjump end
  if type(chain) == "string" then
    for hop in chain:gmatch("[^,%s]+") do
      local jopts = {agent = opts.agent, known_hosts = opts.known_hosts, host_key_check = opts.host_key_check,
                     timeout = opts.timeout, ssh_config = opts.ssh_config}
      via = S.open_session(hop, jopts, via)
      jumps[#jumps + 1] = via
    end
  elseif type(chain) == "table" and getmetatable(chain) == Session then
    via = chain
    chain:retain()
    jumps[#jumps + 1] = chain
  elseif chain ~= nil then
    user_error("connect: via must be a target string or a session")
  end

  local params = {
    display = display, hostname = hostname, hostkey_name = hostname, user = user, port = port,
    password = opts.password, passphrase = opts.passphrase, keys = keys, agent = agent,
    known_hosts = expand_home(opts.known_hosts) or cfg.user_known_hosts_file or (home .. "/.ssh/known_hosts"),
    global_known_hosts = cfg.global_known_hosts_files or {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
    host_key_check = opts.host_key_check or hostkey_modes[cfg.strict_host_key_checking or "yes"] or "yes",
    timeout = connect_timeout(opts.timeout or cfg.connect_timeout or connect_defaults.timeout),
    keepalive = opts.keepalive or cfg.server_alive_interval or connect_defaults.keepalive,
    keepalive_max = cfg.server_alive_count_max or connect_defaults.keepalive_max,
    max_channels = opts.max_sessions or connect_defaults.max_sessions,
    ciphers = opts.ciphers or cfg.ciphers, macs = opts.macs or cfg.macs, kex = opts.kex or cfg.kexalgorithms,
    interactive = core.isatty(0) and core.isatty(2),
    via = via and via.conn,
  }
  local fine, conn = pcall(core.connect, params)
  if not fine then
    for i = #jumps, 1, -1 do jumps[i]:release() end
    if type(conn) == "string" and conn == "interrupted" then error(conn, 0) end
    error(setmetatable({message = user_where() .. tostring(conn), host = display, kind = "connect"}, ConnectError), 0)
  end
  return setmetatable({conn = conn, host = display, target = target, refs = 1, jumps = jumps,
                       kind = "remote"}, Session)
end

function Session:retain() self.refs = self.refs + 1 end

-- The last user lets go: close the connection, then the jump hosts it rode on.
function Session:release()
  self.refs = self.refs - 1
  if self.refs > 0 then return end
  self.conn:close()
  for i = #self.jumps, 1, -1 do self.jumps[i]:release() end
end

-- Pops the session from this thread's stack (wherever it is) and lets go of it.
function Session:close()
  local st = state()
  for i = #st.stack, 2, -1 do
    if st.stack[i] == self then
      table.remove(st.stack, i)
      self:release()
      return
    end
  end
end
Session.__close = function(s) s:close() end
Session.__tostring = function(s) return "session " .. s.host end

function Session:alive() return self.conn:alive() end
function Session:run(cmd, opts)
  check_run_args(cmd, opts)
  return S.run_on(self, cmd, opts)
end

-- Runs cmd on the remote host: cd/env/sudo as S.shell_command says.
-- libssh2 sends a request in one packet of at most 35000 bytes: longer command lines fail
-- with a bare "Unable to send channel request", so they are refused here, saying why.
local REMOTE_LINE_MAX = 32768

function Session:exec(cmd, o, show, prefix)
  local line, stdin, feed = S.shell_command(own_parse(cmd), o)
  if #line > REMOTE_LINE_MAX then
    user_error("the command line for " .. self.host .. " is " .. #line .. " bytes; a remote command line " ..
      "is limited to " .. REMOTE_LINE_MAX .. " (one SSH packet in libssh2): pass the data on stdin " ..
      "(run(cmd, {stdin = data})) or upload() it; the command starts: " .. cmd:sub(1, 60))
  end
  -- A lost or closed connection is reported at the user's line, not in here.
  local function lost(err)
    if err == "interrupted" then error(err, 0) end
    err = tostring(err):gsub("^prelude:%d+: ", "", 1)
    error(setmetatable({message = user_where() .. err, host = self.host, cmd = cmd,
                        kind = "connection"}, ConnectError), 0)
  end
  local fine, started = pcall(self.conn.exec, self.conn, line,
                              feed_options({stdin = stdin, pty = o.pty, timeout = o.timeout, echo = show,
                                            idle_timeout = o.idle_timeout,
                                            stoppable = o.stoppable,
                                            max_output = o.max_output, keep_shown = o.keep_shown,
                                            prefix = prefix, color = prefix and S.color,
                                            stream_stdout = o.on_stdout and true,
                                            stream_stderr = o.on_stderr and true}, feed, o.pty))
  if not fine then lost(started) end
  local op <close> = started
  return S.collect(op, o, lost, feed)
end

function connect(target, opts)
  if type(target) ~= "string" then user_error("connect: expected a target string, got " .. type(target)) end
  opts = check_connect_options(opts, "connect")
  local st = state()
  local top = current_session(st)
  local s = S.open_session(target, opts, top ~= LOCAL and top or nil)
  st.stack[#st.stack + 1] = s
  return s
end

-- close(): pops the current session.
function close()
  local s = current_session()
  if s == LOCAL then user_error("close: no remote session is open") end
  s:close()
end

---------------------------------------------------------------------------- threads

function thread(fn, ...)
  if type(fn) ~= "function" then user_error("thread: expected a function, got " .. type(fn)) end
  return core.thread(function(...)
    -- When the thread ends, by any exit, it lets go of the sessions it holds.
    local st = state()
    local _ <close> = setmetatable({}, {__close = function()
      for i = #st.stack, 2, -1 do
        local s = st.stack[i]
        st.stack[i] = nil
        if s.release then s:release() end
      end
    end})
    return fn(...)
  end, ...)
end

sleep = core.sleep

-- print() in a per-host thread is prefixed by the host (or gathered with -b / --json).
function print(...)
  local st = core.state() or {}
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  local text = table.concat(parts, "\t") .. "\n"
  if st.streams then
    st.streams.stdout(text)
    if st.streams.quiet then return end
  end
  if st.sink then st.sink[#st.sink + 1] = text; return end
  if st.prefix then text = st.prefix .. text:gsub("\n(.)", "\n" .. st.prefix:gsub("%%", "%%%%") .. "%1") end
  core.write(1, text)
end

function console(opts) return S.builtin("_console").console(opts) end
function shell() return S.builtin("_console").shell() end

function each(hosts, fn, opts) return S.builtin("_fleet").each(hosts, fn, opts) end

-- vars([host]): the inventory variables of a host (default: the host this each()/-H thread
-- runs for); an empty table for a host no inventory names.
function vars(host)
  if host == nil then host = (core.state() or {}).host end
  if type(host) ~= "string" then
    user_error("vars: expected a host name" .. (host == nil and " (outside each() or -H, name the host)" or ""))
  end
  local ok, v = pcall(S.builtin("inventory").vars, host)
  if not ok then user_error(tostring(v)) end
  return v
end

-- File transfer (stdlib/_files.lua), loaded on first use.
-- forward{listen = "[host:]port", to = "host:port"} (ssh -L) on the current session; the
-- object has .port (the one chosen for port 0) and closes with `with` or :close().
-- forward{remote = "[host:]port", to = "host:port"} (ssh -R): the server listens and its
-- connections come back here to `to` (numeric or localhost); .port is the server's port.
local function split_hostport(s, what, default_host)
  if type(s) == "number" then return default_host, math.tointeger(s) end
  if type(s) ~= "string" then user_error("forward: " .. what .. " must be \"host:port\" or a port number") end
  local h, p = s:match("^%[([^%]]+)%]:(%d+)$")
  if not h then h, p = s:match("^([^:]*):(%d+)$") end
  if not h and s:match("^%d+$") then h, p = default_host, s end
  if not h or p == nil then user_error("forward: bad " .. what .. " \"" .. s .. "\" (want host:port)") end
  if h == "" then h = default_host end
  return h, tonumber(p)
end
function forward(spec)
  if type(spec) ~= "table" then user_error("forward: expected a table {listen = …, to = …}") end
  if (spec.listen == nil) == (spec.remote == nil) or spec.to == nil then
    user_error("forward: needs listen = \"[host:]port\" (ssh -L) or remote = \"[host:]port\" (ssh -R), and to = \"host:port\"")
  end
  local s = S.current_session()
  if not s or not s.conn then user_error("forward: no remote session (use it inside `with connect(…)`)") end
  if spec.remote ~= nil then
    local rh, rp = split_hostport(spec.remote, "remote", "127.0.0.1")
    local th, tp = split_hostport(spec.to, "to", "localhost")
    local ok, f = pcall(core.forward_remote, s.conn, rh, rp, th, tp)
    if not ok then
      if f == "interrupted" then error(f, 0) end
      user_error((tostring(f):gsub("^[^:]*:%d+: ", "")))
    end
    return f
  end
  local lh, lp = split_hostport(spec.listen, "listen", "127.0.0.1")
  local th, tp = split_hostport(spec.to, "to", "localhost")
  local ok, f = pcall(core.forward, s.conn, lh, lp, th, tp)
  if not ok then user_error((tostring(f):gsub("^[^:]*:%d+: ", ""))) end
  return f
end

function upload(src, dst, opts) return S.builtin("_files").upload(src, dst, opts) end
function download(src, dst, opts) return S.builtin("_files").download(src, dst, opts) end
function put_text(path, text, opts) return S.builtin("_files").put_text(path, text, opts) end
function get_text(path) return S.builtin("_files").get_text(path) end
function sync(src, dst, opts) return S.builtin("_sync").sync(src, dst, opts) end

---------------------------------------------------------------------------- loading

local script_dir = options.script and options.script:match("^(.*)/[^/]*$") or "."
do
  local extra = script_dir .. "/?.sshs;" .. script_dir .. "/?.lua;"
  local tail = ""
  for dir in (os.getenv("SSHS_PATH") or ""):gmatch("[^:]+") do
    tail = tail .. ";" .. dir .. "/?.sshs;" .. dir .. "/?.lua"
  end
  -- The installed stdlib folder (make install: PREFIX/share/sshs, compiled in as core.datadir).
  local data = core.datadir .. "/?.sshs;" .. core.datadir .. "/?.lua"
  package.path = extra .. package.path .. tail .. ";" .. data
end

-- Every "?.lua" template on package.path is also tried as "?.sshs".
local function sshs_searcher(name)
  local templates = {}
  for t in package.path:gmatch("[^;]+") do
    templates[#templates + 1] = t
    if t:sub(-4) == ".lua" then templates[#templates + 1] = t:sub(1, -5) .. ".sshs" end
  end
  local file, err = package.searchpath(name, concat(templates, ";"))
  if not file then return "\n\t" .. err:gsub("^\n\t", "") end
  -- A translated chunk starts with `local _S=_SSHS`: it needs the global as we set it.
  if file:sub(-5) == ".sshs" and rawget(_G, "_SSHS") ~= S then
    error("cannot load module '" .. name .. "' from " .. file .. ": the global _SSHS was " ..
          "reassigned (sshs reserves that name)", 0)
  end
  local fn, msg = core.loadfile(file)
  if not fn then error("error loading module '" .. name .. "' from " .. msg, 0) end
  return fn, file
end

-- The stdlib compiled into the binary.
local function embedded_searcher(name)
  local src, filename = core.embedded(name)
  if not src or name == "_prelude" then return "\n\tno built-in sshs module '" .. name .. "'" end
  local fn, msg = core.load(src, "=sshs/" .. filename, filename:sub(-5) == ".sshs" or "bytecode")
  if not fn then error(msg, 0) end
  return fn, "sshs/" .. filename
end

-- A module compiled into the binary is always that one: require finds it before any folder
-- (a _files.lua or json.lua beside a script must not replace the runtime's own), and gets the
-- instance the runtime uses.
local function builtin_searcher(name)
  if name == "_prelude" or not core.embedded(name) then return "\n\tno built-in sshs module '" .. name .. "'" end
  return function() return S.builtin(name) end, "sshs/" .. select(2, core.embedded(name))
end

package.searchers[2] = builtin_searcher
table.insert(package.searchers, 3, sshs_searcher)

-- require() in Lua rather than C, so that a module may run commands (yield) while it loads.
function require(name)
  if type(name) ~= "string" then user_error("require: expected a module name, got " .. type(name)) end
  local loaded = package.loaded[name]
  if loaded ~= nil then return loaded end
  local tried = {}
  for _, searcher in ipairs(package.searchers) do
    local loader, extra = searcher(name)
    if type(loader) == "function" then
      local r = loader(name, extra)
      if r ~= nil then package.loaded[name] = r end
      if package.loaded[name] == nil then package.loaded[name] = true end
      return package.loaded[name], extra
    elseif type(loader) == "string" then
      tried[#tried + 1] = loader:match("^\n\t") and loader or "\n\t" .. loader  -- Lua 5.4's C searchers give bare lines
    end
  end
  error("module '" .. name .. "' not found:" .. concat(tried), 2)
end

-- A module compiled into the binary, whatever package.path holds; one instance, shared
-- with require().
local builtins = {}
function S.builtin(name)
  local m = builtins[name]
  if m == nil then
    local fn, file = embedded_searcher(name)
    if type(fn) ~= "function" then error("built-in module '" .. name .. "' is missing", 0) end
    m = fn(name, file)
    builtins[name] = m
    if package.loaded[name] == nil then package.loaded[name] = m end
  end
  return m
end

-- For --emit-lua: the translation of a file or chunk, or nil, message.
function S.read_source(path, chunk)
  local src, name = chunk, "(command line)"
  if path then
    local f, err = io.open(path, "rb")
    if not f then return nil, nil, "cannot open " .. err end
    src, name = f:read("a"), path
    f:close()
    if path:sub(-4) == ".lua" then return src end
  end
  local lua, line, msg = core.translate(src)
  if not lua then return nil, nil, name .. ":" .. line .. ": " .. msg end
  return lua
end

---------------------------------------------------------------------------- the run itself

null = S.builtin("json").null      -- what r:json() gives for JSON null

S.verbose = options.verbose
S.color = core.isatty(2) and not os.getenv("NO_COLOR")

-- -o / -l / -p / --identity / -F are checked before anything runs.
local function check_connection_flags()
  if #options.ssh_options > 0 then
    local ok, err = pcall(core.sshconfig, "localhost", "/dev/null", options.ssh_options)
    if not ok then error(tostring(err), 0) end
  end
  if options.ssh_config then
    local f, err = io.open(expand_home(options.ssh_config), "r")
    if not f then error("-F: cannot read " .. tostring(err), 0) end
    f:close()
  end
end

-- A mistake on the command line: its one line and a hint (not the whole help), exit status 2,
-- nothing run. Returns the (empty) main thread.
function S.usage_exit(msg)
  core.write(2, "sshs: " .. msg .. "\nTry 'sshs --help' for more information.\n")
  S.exit_status_value = 2
  return thread(function() end)
end

function S.start_main(chunk, ...)
  local fine, err = pcall(check_connection_flags)
  if not fine then return S.usage_exit(tostring(err)) end
  if options.hosts and (options.list_hosts or not options.repl) then return S.builtin("_fleet").start(chunk, ...) end
  if options.repl and options.hosts then return thread(S.builtin("_repl").fleet) end
  if options.repl then
    -- The REPL runs on the main thread's own state, after the script (-i) if there is one,
    -- so the script's globals and session stack stay.
    local args = table.pack(...)
    return thread(function()
      if chunk then
        local fine, err = pcall(chunk, table.unpack(args, 1, args.n))
        if not fine then core.write(2, S.error_text(err, false) .. "\n") end
      end
      S.builtin("_repl").run()
    end)
  end
  return thread(chunk, ...)
end

S.exit_status_value = 0
function S.exit_status() return S.exit_status_value end

-- The text of an uncaught error, with tracebacks when asked for.
function S.error_text(err, verbose)
  local msg
  if type(err) == "table" and err.message then msg = err.message
  elseif type(err) == "string" then msg = err
  else msg = tostring(err) end
  if verbose then
    local tb = core.traceback(err)
    if tb then msg = msg .. "\n" .. tb end
  end
  return msg
end

function S.report_unobserved(verbose)
  for _, err in ipairs(core.unobserved()) do
    core.write(2, "sshs: a thread failed and nobody joined it: " .. S.error_text(err, verbose) .. "\n")
  end
end

return S
