-- json: decoding that keeps Lua 5.4's number types, and a null that survives a round trip.
--   json.decode(text)  numbers written without '.', 'e' or 'E' become integers (floats past
--                      the 64-bit range); JSON null becomes json.null; objects and arrays
--                      become tables.
--   json.null          the sentinel for null (also the global `null`): `v == null`
--   json.encode(value) text: integers exactly, floats as the shortest text that reads back
--                      the same, object keys sorted; json.null is written as null
-- r:json(), sshs --json and --summary use these. Pure Lua, so the exact digits of a large
-- integer (an id, a byte count) are kept both ways, which lua-cjson 2.1 cannot do.
local M = {}

-- Built in, the module runs with (builtin, core) and its null is the runtime's global `null`
-- (made by the prelude, so start-up need not load this module); elsewhere it makes its own.
local _, core = ...
M.null = type(core) == "table" and core.json_null or setmetatable({}, {
  __name = "json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("json.null cannot be changed", 2) end,
})

local find, sub, byte = string.find, string.sub, string.byte
local MAX_DEPTH = 1000

local function fail(pos, what) error(string.format("JSON: %s at character %d", what, pos), 0) end

local escapes = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}

-- The string whose opening quote is at pos; returns it and the position after it.
local function read_string(s, pos)
  local parts, i = {}, pos + 1
  while true do
    local j = find(s, '["\\\0-\31]', i)
    if not j then fail(pos, "unterminated string") end
    if j > i then parts[#parts + 1] = sub(s, i, j - 1) end
    local c = sub(s, j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c ~= "\\" then fail(j, "control character in a string") end
    local e = sub(s, j + 1, j + 1)
    if e == "u" then
      local hex = s:match("^%x%x%x%x", j + 2)
      if not hex then fail(j, "bad \\u escape") end
      local cp, nxt = tonumber(hex, 16), j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = s:match("^\\u(%x%x%x%x)", nxt)
        lo = lo and tonumber(lo, 16)
        if not lo or lo < 0xDC00 or lo > 0xDFFF then fail(j, "lone surrogate in a \\u escape") end
        cp, nxt = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00), nxt + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        fail(j, "lone surrogate in a \\u escape")
      end
      parts[#parts + 1] = utf8.char(cp)
      i = nxt
    else
      local r = escapes[e]
      if not r then fail(j, "bad escape '\\" .. e .. "'") end
      parts[#parts + 1] = r
      i = j + 2
    end
  end
end

local function skip(s, pos) return find(s, "[^ \t\r\n]", pos) or #s + 1 end

local read_value

local function read_number(s, pos)
  local _, e = find(s, "^-?%d+", pos)
  if not e then fail(pos, "unexpected character '" .. sub(s, pos, pos) .. "'") end
  local int = true
  local _, f = find(s, "^%.%d+", e + 1)
  if f then e, int = f, false end
  local _, x = find(s, "^[eE][-+]?%d+", e + 1)
  if x then e, int = x, false end
  local text = sub(s, pos, e)
  local v = tonumber(text)
  if int then v = math.tointeger(v) or v end   -- past 64 bits tonumber gives a float
  return v, e + 1
end

function read_value(s, pos, depth)
  pos = skip(s, pos)
  local c = byte(s, pos)
  if c == 34 then return read_string(s, pos)                             -- "
  elseif c == 123 or c == 91 then                                        -- { [
    if depth >= MAX_DEPTH then fail(pos, "nested too deep") end
    local t, object = {}, c == 123
    local close = object and "}" or "]"
    pos = skip(s, pos + 1)
    if sub(s, pos, pos) == close then return t, pos + 1 end
    local n = 0
    while true do
      if object then
        pos = skip(s, pos)
        if byte(s, pos) ~= 34 then fail(pos, "expected a string key") end
        local k
        k, pos = read_string(s, pos)
        pos = skip(s, pos)
        if sub(s, pos, pos) ~= ":" then fail(pos, "expected ':'") end
        t[k], pos = read_value(s, pos + 1, depth + 1)
      else
        n = n + 1
        t[n], pos = read_value(s, pos, depth + 1)
      end
      pos = skip(s, pos)
      local d = sub(s, pos, pos)
      if d == close then return t, pos + 1 end
      if d ~= "," then fail(pos, "expected ',' or '" .. close .. "'") end
      pos = pos + 1
    end
  elseif sub(s, pos, pos + 3) == "true" then return true, pos + 4
  elseif sub(s, pos, pos + 4) == "false" then return false, pos + 5
  elseif sub(s, pos, pos + 3) == "null" then return M.null, pos + 4
  elseif c == nil then fail(pos, "unexpected end of text")
  end
  return read_number(s, pos)
end

function M.decode(text)
  if type(text) ~= "string" then error("json.decode: expected a string, got " .. type(text), 2) end
  local v, pos = read_value(text, 1, 0)
  pos = skip(text, pos)
  if pos <= #text then fail(pos, "extra text after the value") end
  return v
end

local escaped = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                 ["\r"] = "\\r", ["\t"] = "\\t"}
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escaped[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- Integers as their digits (exact at any size Lua holds); floats with the fewest digits that
-- read back as the same number.
local function number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then error("json.encode: cannot encode " .. tostring(v), 0) end
  local s = string.format("%.14g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

local function encode(v, out, depth)
  local t = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then out[#out + 1] = number(v)
  elseif t == "string" then out[#out + 1] = quote(v)
  elseif t == "table" then
    if depth >= MAX_DEPTH then error("json.encode: nested too deep (a cycle?)", 0) end
    local n, count = #v, 0
    for _ in pairs(v) do count = count + 1 end
    if n > 0 and n == count then                  -- an array: keys 1..n and nothing else
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
      return
    end
    local keys, texts = {}, {}
    for k in pairs(v) do
      if type(k) ~= "string" and type(k) ~= "number" then
        error("json.encode: cannot encode a " .. type(k) .. " key", 0)
      end
      keys[#keys + 1] = k
      texts[k] = type(k) == "number" and number(k) or k
    end
    table.sort(keys, function(a, b) return texts[a] < texts[b] end)   -- same value, same text
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = quote(texts[k])
      out[#out + 1] = ":"
      encode(v[k], out, depth + 1)
    end
    out[#out + 1] = "}"
  else
    error("json.encode: cannot encode a " .. t, 0)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

return M
