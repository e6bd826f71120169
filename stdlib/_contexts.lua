-- A thread's state (its session stack, context blocks and last result) and the context
-- blocks (cd, env, timeout, idle_timeout, check, output_limits, sudo; `with`), folded into
-- the options of each command by effective().
local builtin, core = ...
-- _results loads when an error is raised: every thread's start loads this module.
local function user_error(msg) return builtin("_results").user_error(msg) end
local type, setmetatable, getmetatable = type, setmetatable, getmetatable
local M = {}

-- Every thread has a state table: stack (sessions, bottom = local), ctx (context frames),
-- last (the last result), prefix (the "host: " of live output).
local LOCAL = {host = "local", kind = "local"}
M.LOCAL = LOCAL

local function new_state()
  return {stack = {LOCAL}, ctx = {}}
end

local function state()
  local st = core.state()
  if st.stack == nil then st.stack = {LOCAL}; st.ctx = st.ctx or {} end
  return st
end
M.state = state

-- A new thread starts with its creator's current session and context blocks.
function M.inherit_state(parent)
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
M.current_session = current_session

---------------------------------------------------------------------------- context blocks

local Context = {__name = "sshs.context"}
Context.__index = Context
M.Context = Context
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

function M.cd(path)
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
M.check_env = check_env
function M.env(t)
  if type(t) ~= "table" then user_error("env: expected a table of NAME = value, got " .. type(t)) end
  check_env(t, "env")
  return context("env", t)
end
function M.timeout(seconds)
  if type(seconds) ~= "number" or seconds <= 0 then user_error("timeout: expected a positive number of seconds") end
  return context("timeout", seconds)
end
-- with idle_timeout(s): a command that prints nothing (stdout or stderr) for s seconds is
-- stopped as a timeout would stop it.
function M.idle_timeout(seconds)
  if type(seconds) ~= "number" or seconds <= 0 then user_error("idle_timeout: expected a positive number of seconds") end
  return context("idle_timeout", seconds)
end
function M.check(flag) return context("check", flag ~= false) end
-- with output_limits{max_output = bytes, keep_shown = bytes} do: the output bounds of the
-- commands in the block (docs/reference/limits.md, "Bounds"); math.huge lifts one.
local limit_names = {max_output = true, keep_shown = true}
function M.output_limits(t)
  if type(t) ~= "table" then user_error("output_limits: expected a table {max_output =, keep_shown =}") end
  for k, v in pairs(t) do
    if not limit_names[k] then user_error("output_limits: unknown limit '" .. tostring(k) .. "'") end
    if type(v) ~= "number" or v < 0 or v ~= v then user_error("output_limits: " .. k .. " must be a number of bytes >= 0") end
  end
  return context("limits", t)
end
function M.sudo(t)
  t = t or {}
  if type(t) ~= "table" then user_error("sudo: expected a table {user =, password =}") end
  return context("sudo", {user = t.user or "root", password = t.password})
end

-- `with EXPR [as NAME] do` becomes `local NAME <close> = _S.with(EXPR)`.
function M.with(obj)
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
M.effective = effective

return M
