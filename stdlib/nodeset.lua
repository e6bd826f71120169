-- nodeset: ClusterShell-style host sets, used by `sshs -H` and each().
--   expand("root@web[01-03]:22,db1") -> {"root@web01:22", "root@web02:22", "root@web03:22", "db1"}
--   fold({"web01", "web02", "db1"})  -> "db1,web[01-02]"
-- Grammar of a spec: items joined by operators outside brackets, applied left to right as
-- ClusterShell does: "," union, "!" difference, "&" intersection, "^" symmetric difference
--   web[1-10]!web[3-4]&web[2-6]  ->  web2, web5, web6
-- In an item,
--   [1-5,8]   a range list (zero padding follows the written width of each start: [01-10])
--   [fe80::1] a bracket containing ':' is an IPv6 literal, kept as written
--   @group    (whole item) a group of an inventory (stdlib/inventory.lua); @source:group names
--             the inventory; @* or @all is every host of every inventory
--   @path     (whole item) otherwise a file of specs, one per line, '#' comments; each line
--             is a spec of its own and the lines are unioned
--   @last:failed (also :unreachable, :ok, :skipped, :all) the hosts of the previous fleet
--             run (stdlib/_last.lua)
-- Everything else (user@, :port, dots, dashes) is literal text copied onto every name.
local M = {}

M.limit = 1000000      -- most names one expand() may produce, so "[1-999999999]" fails fast
local MAX_DEPTH = 8    -- @file nesting, so a file that includes itself stops
local MAX_DIGITS = 15  -- longer numbers would lose precision as Lua floats

local function fail(fmt, ...) error("nodeset: " .. string.format(fmt, ...), 0) end

local function trim(s) return s:match("^%s*(.-)%s*$") end

local function pad(n, w) return string.format(w > 0 and ("%0" .. w .. "d") or "%d", n) end

-- Width to keep when formatting: "007" pins 3 digits, "7" and "10" pin none.
local function width(digits) return (#digits > 1 and digits:sub(1, 1) == "0") and #digits or 0 end

-- Splits at operators that are not inside brackets: "web[1,3]!web3,db" ->
-- {{op=",", text="web[1,3]"}, {op="!", text="web3"}, {op=",", text="db"}}.
local function split_terms(spec)
  local terms, depth, start, op = {}, 0, 1, ","
  for i = 1, #spec do
    local c = spec:sub(i, i)
    if c == "[" then depth = depth + 1
    elseif c == "]" then depth = math.max(depth - 1, 0)  -- a stray ']' is reported per item
    elseif depth == 0 and (c == "," or c == "!" or c == "&" or c == "^") then
      terms[#terms + 1] = {op = op, text = spec:sub(start, i - 1)}
      op, start = c, i + 1
    end
  end
  terms[#terms + 1] = {op = op, text = spec:sub(start)}
  return terms
end

-- "1-5, 8" -> {{a=1,b=5,w=0}, {a=8,b=8,w=0}}, plus how many numbers that is.
local function parse_ranges(body, item)
  local list, count = {}, 0
  for elem in (body .. ","):gmatch("([^,]*),") do
    elem = trim(elem)
    if elem == "" then fail('empty range in "%s"', item) end
    local a, b = elem:match("^(%d+)%s*%-%s*(%d+)$")
    if not a then a = elem:match("^%d+$"); b = a end
    if not a then fail("bad range '%s' in \"%s\"", elem, item) end
    if #a > MAX_DIGITS or #b > MAX_DIGITS then fail("number too long in range '%s' in \"%s\"", elem, item) end
    local na, nb = math.tointeger(tonumber(a)), math.tointeger(tonumber(b))
    if na > nb then fail('reversed range %s in "%s"', elem, item) end
    list[#list + 1] = {a = na, b = nb, w = width(a)}
    count = count + (nb - na + 1)
  end
  return list, count
end

-- An item becomes a list of segments: literal strings and range lists; also its size.
local function parse_item(item)
  local segs, size, pos = {}, 1, 1
  while pos <= #item do
    local open = item:find("[%[%]]", pos)
    local lit = item:sub(pos, (open or #item + 1) - 1)
    if lit:find("%s") then fail('space in host name "%s"', item) end
    if lit ~= "" then segs[#segs + 1] = lit end
    if not open then break end
    if item:sub(open, open) == "]" then fail("unbalanced ']' in \"%s\"", item) end
    local close = item:find("[%[%]]", open + 1)
    if not close then fail("unbalanced '[' in \"%s\"", item) end
    if item:sub(close, close) == "[" then fail("nested '[' in \"%s\"", item) end
    local body = item:sub(open + 1, close - 1)
    if body:find(":", 1, true) then
      -- [::1]:22, user@[fe80::1]: ssh's own IPv6 syntax, a host and not a range
      if body:find("%s") then fail('space in host name "%s"', item) end
      segs[#segs + 1] = item:sub(open, close)
    else
      local list, n = parse_ranges(body, item)
      segs[#segs + 1] = list
      size = size * n
      if size > M.limit then fail('too many hosts (more than %d) in "%s"', M.limit, item) end
    end
    pos = close + 1
  end
  return segs, size
end

-- Cartesian product, leftmost range outermost: rack[1-2]-n[1-2] -> rack1-n1, rack1-n2, rack2-n1 ...
local function generate(segs, st)
  local names = {""}
  for _, seg in ipairs(segs) do
    local nxt = {}
    if type(seg) == "string" then
      for i, n in ipairs(names) do nxt[i] = n .. seg end
    else
      for _, n in ipairs(names) do
        for _, r in ipairs(seg) do
          for v = r.a, r.b do nxt[#nxt + 1] = n .. pad(v, r.w) end
        end
      end
    end
    names = nxt
  end
  for _, n in ipairs(names) do
    if not st.seen[n] then st.seen[n] = true; st.out[#st.out + 1] = n end
  end
end

local function new_state(count) return {out = {}, seen = {}, count = count or {n = 0}} end

local function add_names(st, names)
  for _, n in ipairs(names) do
    if not st.seen[n] then st.seen[n] = true; st.out[#st.out + 1] = n end
  end
end

-- st (the left side so far) op= t, keeping the left side's order.
local function combine(st, t, op)
  local out, seen = {}, {}
  for _, n in ipairs(st.out) do
    local keep
    if op == "!" then keep = not t.seen[n]
    elseif op == "&" then keep = t.seen[n]
    else keep = not t.seen[n] end                     -- "^": what only one side has
    if keep then out[#out + 1] = n; seen[n] = true end
  end
  if op == "^" then
    for _, n in ipairs(t.out) do
      if not st.seen[n] then out[#out + 1] = n; seen[n] = true end
    end
  end
  st.out, st.seen = out, seen
end

local expand_into

local function expand_file(path, st, depth, item)
  if path == "" then fail('empty host file name in "%s"', item) end
  if depth >= MAX_DEPTH then fail("host files nested too deep at '%s'", path) end
  local home = os.getenv("HOME")
  if home and path:sub(1, 2) == "~/" then path = home .. path:sub(2) end
  local f, err = io.open(path, "r")
  local text
  if f then text, err = f:read("a"); f:close() end  -- read fails on a directory
  if not text then
    err = tostring(err)
    if err:sub(1, #path + 2) == path .. ": " then err = err:sub(#path + 3) end
    fail("cannot read host file '%s': %s", path, err)
  end
  local lineno = 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    lineno = lineno + 1
    line = trim((line:gsub("#.*", "")))
    if line ~= "" then
      local sub = new_state(st.count)         -- each line is a spec of its own
      local ok, e = pcall(expand_into, line, sub, depth + 1)
      -- say where in the file; nested files add one "(file:line)" per level
      if not ok then error(string.format("%s (%s:%d)", tostring(e), path, lineno), 0) end
      add_names(st, sub.out)
    end
  end
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- "@name": a group when an inventory defines it (or "@source:group"), else a file.
local function expand_at(item, st, depth)
  local body = item:sub(2)
  if body == "" then fail('empty host file name in "%s"', item) end
  local last = body:match("^last:(.*)$")
  if last and _SSHS then                  -- @last:failed ...: the hosts of the previous run
    local list, why = _SSHS.builtin("_last").hosts(last)
    if not list then fail('%s in "%s"', why, item) end
    add_names(st, list)
    return
  end
  local inventory = (_SSHS and _SSHS.builtin or require)("inventory")
  local looks_like_path = body:find("/", 1, true) or body:sub(1, 1) == "~"
  if not looks_like_path then
    local ok, err = pcall(inventory.autoload)
    if not ok then fail("%s", tostring(err)) end
    local source, group = body:match("^([%w_%-%.]+):([%w_%-%.%*]+)$")
    if not source and (inventory.has_group(body) or not (body:find(".", 1, true) or file_exists(body))) then
      group = body
    end
    if group then
      local list, why = inventory.group(group, source)
      if not list then
        fail('%s in "%s"%s', why, item, source and "" or (" (and no host file '" .. body .. "')"))
      end
      st.count.n = st.count.n + #list
      if st.count.n > M.limit then fail('too many hosts (more than %d) in "%s"', M.limit, item) end
      add_names(st, list)
      return
    end
  end
  expand_file(body, st, depth, item)
end

function expand_into(spec, st, depth)
  for _, term in ipairs(split_terms(spec)) do
    local item = trim(term.text)
    local target = st
    if term.op ~= "," then
      if item == "" then fail("nothing after '%s' in \"%s\"", term.op, trim(spec)) end
      target = new_state(st.count)
    end
    if item:sub(1, 1) == "@" then
      expand_at(item, target, depth)
    elseif item ~= "" then  -- "a,,b" and a trailing comma are harmless
      local segs, size = parse_item(item)
      st.count.n = st.count.n + size  -- counted before dedupe: a cheap, safe bound
      if st.count.n > M.limit then fail('too many hosts (more than %d) in "%s"', M.limit, item) end
      generate(segs, target)
    end
    if target ~= st then combine(st, target, term.op) end
  end
end

-- expand(spec) -> array of names in order, first occurrence kept.
-- spec: a string, or an array of strings (each expanded in turn).
function M.expand(spec)
  local st = new_state()
  if type(spec) == "string" then
    expand_into(spec, st, 0)
  elseif type(spec) == "table" then
    for i, s in ipairs(spec) do
      if type(s) ~= "string" then fail("expand: element %d is a %s, not a string", i, type(s)) end
      expand_into(s, st, 0)
    end
  else
    fail("expand: expected a string or an array of strings, got %s", type(spec))
  end
  return st.out
end

function M.count(spec) return #M.expand(spec) end

-- name -> prefix, digits, suffix around the last number; nil when it must stay as written.
-- A trailing ":port" is kept in the suffix so root@web[1-3]:22 folds on 1-3, not on 22.
local function split_name(name)
  if name:find("[%[%],%s]") or name:sub(1, 1) == "@" then return nil end
  local head, port = name:match("^(.-)(:%d+)$")
  if not head or head:find(":", 1, true) then head, port = name, "" end  -- bare IPv6: no port
  local pre, digits, post = head:match("^(.-)(%d+)(%D*)$")
  if not pre or #digits > MAX_DIGITS then return nil end
  return pre, digits, post .. port
end

-- Numbers of one prefix/suffix group -> sorted runs {a=, b=, w=}.
local function fold_numbers(items)
  table.sort(items, function(x, y)
    if x.n ~= y.n then return x.n < y.n end
    return #x.digits < #y.digits
  end)
  local runs, open = {}, {}  -- open[w]: latest run of width w, the only one that can still grow
  for _, it in ipairs(items) do
    local w, run = width(it.digits), nil
    if w > 0 then
      run = open[w]
      if run and run.b ~= it.n - 1 then run = nil end
    else
      -- an unpadded number can continue a padded run when padding adds no zero: 09 -> 10
      for pw = 0, #it.digits do
        local r = open[pw]
        if r and r.b == it.n - 1 then run = r; break end
      end
    end
    if run then
      run.b = it.n
    else
      run = {a = it.n, b = it.n, w = w}
      runs[#runs + 1] = run
      open[w] = run
    end
  end
  table.sort(runs, function(x, y)
    if x.a ~= y.a then return x.a < y.a end
    return x.w < y.w
  end)
  return runs
end

-- fold(hosts) -> shortest node-set string; hosts: an array of names (or a spec string).
function M.fold(hosts)
  if type(hosts) == "string" then hosts = M.expand(hosts) end
  if type(hosts) ~= "table" then fail("fold: expected an array of strings, got %s", type(hosts)) end
  local groups, entries, seen = {}, {}, {}
  for i, name in ipairs(hosts) do
    if type(name) ~= "string" then fail("fold: element %d is a %s, not a string", i, type(name)) end
    if not seen[name] then
      seen[name] = true
      local pre, digits, post = split_name(name)
      if not pre then
        entries[#entries + 1] = {pre = name, post = "", text = name}
      else
        local key = #pre .. ":" .. pre .. post   -- length-prefixed: no two (pre, post) pairs meet
        local g = groups[key]
        if not g then
          g = {pre = pre, post = post, items = {}}
          groups[key] = g
          entries[#entries + 1] = g
        end
        g.items[#g.items + 1] = {n = math.tointeger(tonumber(digits)), digits = digits}
      end
    end
  end
  for _, e in ipairs(entries) do
    if e.items then
      local runs, parts = fold_numbers(e.items), {}
      for i, r in ipairs(runs) do
        parts[i] = r.a == r.b and pad(r.a, r.w) or (pad(r.a, r.w) .. "-" .. pad(r.b, r.w))
      end
      local single = #runs == 1 and runs[1].a == runs[1].b
      e.text = e.pre .. (single and parts[1] or ("[" .. table.concat(parts, ",") .. "]")) .. e.post
    end
  end
  table.sort(entries, function(x, y)
    if x.pre ~= y.pre then return x.pre < y.pre end
    if x.post ~= y.post then return x.post < y.post end
    return x.text < y.text
  end)
  local out = {}
  for i, e in ipairs(entries) do out[i] = e.text end
  return table.concat(out, ",")
end

return M
