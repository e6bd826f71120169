-- Results and failures: the result object of a command, the errors a script can catch
-- (CommandError, ConnectError) and the messages that name the user's file:line.
local builtin, core = ...
local concat, setmetatable, error = table.concat, setmetatable, error
local M = {}

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
M.user_where = user_where

-- Raises msg at the user's line (for errors in arguments the user wrote).
local function user_error(msg)
  error(user_where() .. msg, 0)
end
M.user_error = user_error

local Result = {__name = "sshs.result"}
Result.__index = Result
M.Result = Result
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
  local fine, v = pcall(builtin("json").decode, self.stdout)
  if not fine then user_error("stdout of '" .. self.cmd .. "' is not JSON: " .. tostring(v)) end
  return v
end

local CommandError = {__name = "sshs.CommandError"}
CommandError.__index = CommandError
CommandError.__tostring = function(e) return e.message end
M.CommandError = CommandError

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
function M.cut(text)
  if #text <= 300 then return text end
  return text:sub(1, 300) .. "… (" .. #text .. " bytes)"
end

-- Raises the failure of result r: a table with r's fields and a message naming where and why.
function M.fail(r)
  local why
  if r.idle_timed_out then
    why = string.format("no output for %gs", tonumber(string.format("%.3g", r.idle_timeout or 0)))
  elseif r.timed_out then why = string.format("timed out after %gs", tonumber(string.format("%.3g", r.timeout or 0)))
  elseif r.signal then why = "killed by signal " .. tostring(r.signal)
  else why = "exit " .. tostring(r.exitcode) end
  local shown = M.cut(r.cmd)
  local msg = user_where() .. "command failed on " .. r.host .. " (" .. why .. "): " .. shown
  local head = stderr_head(r.stderr or "", 5)
  if head ~= "" then msg = msg .. "\n" .. head end
  local e = {message = msg}
  for k, v in pairs(r) do e[k] = v end
  error(setmetatable(e, CommandError), 0)
end

-- A capture went past max_output: the command was stopped and its output is incomplete,
-- so this raises even under check(false).
function M.overflow(r)
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

-- A connection or authentication failure, or a lost connection (always raised).
local ConnectError = {__name = "sshs.ConnectError"}
ConnectError.__index = ConnectError
ConnectError.__tostring = function(e) return e.message end
M.ConnectError = ConnectError

-- An error raised inside the runtime carries the runtime's "file:line: " ("prelude:12: ",
-- "sshs/_sessions.lua:40: "): the text without it, to be put at the user's line instead.
function M.without_runtime_where(msg)
  return (tostring(msg):gsub("^prelude:%d+: ", "", 1):gsub("^sshs/[%w_]+%.lua:%d+: ", "", 1))
end

-- The text of an uncaught error, with tracebacks when asked for.
function M.error_text(err, verbose)
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

return M
