-- Quoting: how #{expr} puts a Lua value into a command (S.q), heredoc bodies (S.hd), raw()
-- and maybe_empty(), and quote() for one shell word.
local builtin = ...
local user_error = builtin("_results").user_error
local concat, type, setmetatable, getmetatable = table.concat, type, setmetatable, getmetatable
local M = {}

local Raw = {__name = "sshs.raw"}
function M.raw(v) return setmetatable({value = v}, Raw) end
-- maybe_empty(t): an array that may be empty (then it gives no word at all).
local MaybeEmpty = {__name = "sshs.maybe_empty"}
function M.maybe_empty(t)
  if type(t) ~= "table" or getmetatable(t) ~= nil then user_error("maybe_empty: expected an array, got " .. type(t)) end
  return setmetatable({value = t}, MaybeEmpty)
end

local function quote_string(s, src)
  if s:find("\0", 1, true) then user_error("#{" .. src .. "} contains a NUL byte, which no command can take") end
  if s ~= "" and not s:find("[^%w%-_./,:+@%%]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.quote = function(s) return quote_string(s, "?") end

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
function M.q(v, src, ctx)
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
      words[i] = M.q(e, esrc, ctx)
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

function M.hd(parts, delim, dash, terminated)
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

return M
