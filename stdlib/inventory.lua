-- inventory: Ansible-style INI inventories (and ClusterShell YAML group files, see
-- parse_yaml), the groups behind "@group" node sets and the per-host variables given to
-- scripts by vars(host).
--
--   # comment (also "; comment")
--   web1 ansible_port=2222 role=front     hosts before any section are in "ungrouped"
--   [web]
--   web[01:20].lan                        Ansible ranges: [01:20], [a:f], [1:9:2]
--   [web:vars]
--   ansible_user=deploy
--   [prod:children]
--   web
--
-- Every host is also in "all"; "[all:vars]" applies to every host. Values: quoted text stays
-- text (quotes removed), whole numbers become integers, other numbers floats, true/false
-- booleans, anything else text. Variables of a host: all:vars, then its groups' vars (parent
-- groups before child groups, same depth by name), then the host line's own (last wins).
--
-- Sources: SSHS_INVENTORY (colon-separated FILE or NAME=FILE; sshs --inventory sets it) is read
-- on first use. A source is named by NAME= or by the file's base name without extension, for
-- "@source:group". Without a source, "@group" is the union of that group in every source.
local M = {}

M.sources = {}          -- in load order: {name=, path=, hosts=, groups=, order=, hostvars=}
local autoloaded = false

local function fail(fmt, ...) error("inventory: " .. string.format(fmt, ...), 0) end
local function trim(s) return s:match("^%s*(.-)%s*$") end

-- "a=1 b='x y' c" -> {"a=1", "b='x y'", "c"}; nil, why for an unterminated quote.
local function words(line)
  local out, pos = {}, 1
  while true do
    local s = line:find("%S", pos)
    if not s or line:sub(s, s) == "#" then return out end     -- a "#" word starts a comment
    local i, quote = s, nil
    while i <= #line do
      local c = line:sub(i, i)
      if quote then
        if c == "\\" and quote == '"' then i = i + 1
        elseif c == quote then quote = nil end
      elseif c == '"' or c == "'" then quote = c
      elseif c:match("%s") then break end
      i = i + 1
    end
    if quote then return nil, "unterminated quote" end
    out[#out + 1] = line:sub(s, i - 1)
    pos = i
  end
end

local function value_of(text)
  local q = text:sub(1, 1)
  if (q == '"' or q == "'") and #text >= 2 and text:sub(-1) == q then
    local inner = text:sub(2, -2)
    if q == '"' then inner = inner:gsub("\\(.)", "%1") end
    return inner
  end
  if text:match("^[-+]?%d+$") then return math.tointeger(tonumber(text)) or tonumber(text) end
  if text:match("^[-+]?%d*%.%d+$") or text:match("^[-+]?%d+%.%d*$") then return tonumber(text) end
  local lower = text:lower()
  if lower == "true" then return true elseif lower == "false" then return false end
  return text
end

local function pad(n, w) return string.format("%0" .. w .. "d", n) end

-- Ansible host patterns: every "[a:b]" / "[a:b:step]" (numbers or single letters) expanded.
local function expand_pattern(pat, where)
  local open = pat:find("[", 1, true)
  if not open then
    if pat:find("]", 1, true) then fail("%s: unbalanced ']' in \"%s\"", where, pat) end
    return {pat}
  end
  local close = pat:find("]", open + 1, true)
  if not close then fail("%s: unbalanced '[' in \"%s\"", where, pat) end
  local body = pat:sub(open + 1, close - 1)
  local a, b, step = body:match("^([%w]+):([%w]+):?(%d*)$")
  if not a then
    if body:find(":.*:") and not body:match("^%w+:%w+:%d+$") then
      -- an IPv6 literal such as [::1] is a host, not a range
      local rest = expand_pattern(pat:sub(close + 1), where)
      local out = {}
      for i, r in ipairs(rest) do out[i] = pat:sub(1, close) .. r end
      return out
    end
    fail("%s: bad range '[%s]' in \"%s\" (expected [1:9], [01:20] or [a:f])", where, body, pat)
  end
  step = tonumber(step ~= "" and step or "1")
  if step < 1 then fail("%s: bad step in \"%s\"", where, pat) end
  local values = {}
  if a:match("^%d+$") and b:match("^%d+$") then
    local na, nb = tonumber(a), tonumber(b)
    if na > nb then fail("%s: reversed range '[%s]' in \"%s\"", where, body, pat) end
    if (nb - na) / step > 100000 then fail("%s: range too large in \"%s\"", where, pat) end
    local w = (#a > 1 and a:sub(1, 1) == "0") and #a or 1
    for v = na, nb, step do values[#values + 1] = pad(v, w) end
  elseif a:match("^%a$") and b:match("^%a$") then
    if a > b then fail("%s: reversed range '[%s]' in \"%s\"", where, body, pat) end
    for v = a:byte(), b:byte(), step do values[#values + 1] = string.char(v) end
  else
    fail("%s: bad range '[%s]' in \"%s\" (expected [1:9], [01:20] or [a:f])", where, body, pat)
  end
  -- leftmost range outermost, as in node sets
  local head, tails, out = pat:sub(1, open - 1), expand_pattern(pat:sub(close + 1), where), {}
  for _, v in ipairs(values) do
    for _, tail in ipairs(tails) do out[#out + 1] = head .. v .. tail end
  end
  return out
end

local function new_group(src, name)
  local g = src.groups[name]
  if not g then
    g = {name = name, hosts = {}, seen = {}, children = {}, parents = {}, vars = {}}
    src.groups[name] = g
    src.order[#src.order + 1] = name
  end
  return g
end

local function add_host(src, g, host)
  if not src.hostvars[host] then
    src.hostvars[host] = {}
    src.hosts[#src.hosts + 1] = host
  end
  if not g.seen[host] then g.seen[host] = true; g.hosts[#g.hosts + 1] = host end
end

local function parse_kv(word, where)
  local k, v = word:match("^([%a_][%w_]*)=(.*)$")
  if not k then fail("%s: expected name=value, got '%s'", where, word) end
  return k, value_of(v)
end

-- Parses the text of an inventory; returns a source table.
function M.parse(text, path, name)
  local src = {name = name, path = path, hosts = {}, groups = {}, order = {}, hostvars = {}}
  new_group(src, "all")
  local ungrouped = new_group(src, "ungrouped")
  local group, kind = ungrouped, "hosts"
  local lineno = 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    lineno = lineno + 1
    local where = path .. ":" .. lineno
    line = trim(line)
    if line == "" or line:match("^[#;]") then
      -- blank or comment
    elseif line:sub(1, 1) == "[" then
      local gname, suffix = line:match("^%[([%w_%-%.]+):?(%a*)%]$")
      if not gname then fail("%s: bad section header '%s'", where, line) end
      if suffix ~= "" and suffix ~= "vars" and suffix ~= "children" then
        fail("%s: unknown section kind ':%s' in '%s' (expected :vars or :children)", where, suffix, line)
      end
      group, kind = new_group(src, gname), suffix ~= "" and suffix or "hosts"
    else
      local w, why = words(line)
      if not w then fail("%s: %s", where, why) end
      if kind == "vars" then
        -- "k=v", or "k = v" (spaces around '=' are allowed in :vars sections)
        local joined = table.concat(w, #w == 3 and w[2] == "=" and "" or " ")
        if not joined:match("^[%a_][%w_]*=") then
          fail("%s: expected name=value in [%s:vars], got '%s'", where, group.name, line)
        end
        local k, v = parse_kv(joined, where)
        group.vars[k] = v
      elseif kind == "children" then
        if #w ~= 1 or not w[1]:match("^[%w_%-%.]+$") then
          fail("%s: expected a group name in [%s:children], got '%s'", where, group.name, line)
        end
        local child = new_group(src, w[1])
        if child == group then fail("%s: group '%s' lists itself as a child", where, group.name) end
        group.children[#group.children + 1] = child
        child.parents[#child.parents + 1] = group
      else
        local hvars = {}
        for i = 2, #w do
          local k, v = parse_kv(w[i], where)
          hvars[#hvars + 1] = {k, v}
        end
        for _, host in ipairs(expand_pattern(w[1], where)) do
          add_host(src, group, host)
          for _, kv in ipairs(hvars) do src.hostvars[host][kv[1]] = kv[2] end
        end
      end
    end
  end
  -- A host named in a group is not "ungrouped" (Ansible's rule).
  local keep = {}
  for _, h in ipairs(ungrouped.hosts) do
    local elsewhere = false
    for _, gn in ipairs(src.order) do
      local g = src.groups[gn]
      if g ~= ungrouped and g.seen[h] then elsewhere = true; break end
    end
    if not elsewhere then keep[#keep + 1] = h end
  end
  ungrouped.hosts, ungrouped.seen = keep, {}
  for _, h in ipairs(keep) do ungrouped.seen[h] = true end
  -- Children's hosts, with a cycle check.
  local state = {}
  local function visit(g, trail)
    if state[g] == "done" then return end
    if state[g] == "busy" then fail("%s: groups form a cycle: %s", path, table.concat(trail, " -> ")) end
    state[g] = "busy"
    for _, c in ipairs(g.children) do
      trail[#trail + 1] = c.name
      visit(c, trail)
      trail[#trail] = nil
      for _, h in ipairs(c.all) do
        if not g.allseen[h] then g.allseen[h] = true; g.all[#g.all + 1] = h end
      end
    end
    state[g] = "done"
  end
  for _, gn in ipairs(src.order) do
    local g = src.groups[gn]
    g.all, g.allseen = {}, {}
    for _, h in ipairs(g.hosts) do g.all[#g.all + 1] = h; g.allseen[h] = true end
  end
  for _, gn in ipairs(src.order) do visit(src.groups[gn], {gn}) end
  local all = src.groups.all
  all.all, all.allseen = {}, {}
  for _, h in ipairs(src.hosts) do all.all[#all.all + 1] = h; all.allseen[h] = true end
  -- Depth for the order of group vars: a child is one deeper than its deepest parent.
  local function depth(g, seen)
    if g.depth then return g.depth end
    seen = seen or {}
    if seen[g] then return 1 end
    seen[g] = true
    local d = g.name == "all" and 0 or 1
    for _, p in ipairs(g.parents) do d = math.max(d, depth(p, seen) + 1) end
    g.depth = d
    return d
  end
  for _, gn in ipairs(src.order) do depth(src.groups[gn]) end
  return src
end

-- ClusterShell's YAML group files (groups.d/*.yaml): top-level keys are sources, the keys
-- under them groups, each a node set (which may name other groups):
--   roles:
--     web: 'web[01-20]'
--     all: '@web,db[1-2]'
-- Only this two-level shape of plain or quoted scalars is read; anything else is an error
-- naming file:line. Returns a list of sources.
function M.parse_yaml(text, path)
  local sources, src, indent = {}, nil, nil
  local lineno = 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    lineno = lineno + 1
    local where = path .. ":" .. lineno
    local body = line:gsub("%s+#.*$", ""):gsub("^#.*$", "")
    if body:find("%S") then
      if body:find("\t") then fail("%s: a tab in the indentation (YAML allows spaces only)", where) end
      local lead, key, rest = body:match("^( *)([%w_%-%.]+)%s*:%s*(.-)%s*$")
      if not key then fail("%s: expected 'name: value', got '%s'", where, trim(line)) end
      if lead == "" then
        if rest ~= "" then fail("%s: a source ('%s:') needs groups under it, not a value", where, key) end
        src = {name = key, path = path, hosts = {}, groups = {}, order = {}, hostvars = {}, yaml = true}
        sources[#sources + 1] = src
        indent = nil
      else
        if not src then fail("%s: a group before any source", where) end
        indent = indent or #lead
        if #lead ~= indent then fail("%s: inconsistent indentation", where) end
        local q = rest:sub(1, 1)
        if q == "'" or q == '"' then
          if #rest < 2 or rest:sub(-1) ~= q then fail("%s: unterminated quote", where) end
          rest = rest:sub(2, -2)
        elseif rest:match("^[{|>&*!%-]") then    -- YAML lists, blocks, anchors, tags
          fail("%s: group '%s' must be a node set string (quote it)", where, key)
        end
        if rest == "" then fail("%s: group '%s' has no hosts", where, key) end
        local g = new_group(src, key)
        g.spec, g.line = rest, where
      end
    end
  end
  return sources
end

-- Hosts of a YAML group: its node set expanded on first use (names of other groups inside).
local function resolve(g)
  if g.all then return g.all end
  if g.resolving then fail("%s: group '%s' refers to itself", g.line, g.name) end
  g.resolving = true
  local nodeset = (_SSHS and _SSHS.builtin or require)("nodeset")
  local ok, list = pcall(nodeset.expand, g.spec)
  g.resolving = nil
  if not ok then
    if tostring(list):find("^inventory: ") then error(list, 0) end
    fail("%s: %s", g.line, (tostring(list):gsub("^nodeset: ", "")))
  end
  g.all, g.allseen = list, {}
  for _, h in ipairs(list) do g.allseen[h] = true end
  return list
end

local function hosts_of(src, g)
  if g.all or not src.yaml then return g.all end
  return resolve(g)
end

-- Loads an inventory file as a source (replacing one of the same name). A .yaml / .yml file
-- is a ClusterShell group file: each of its top-level keys is a source.
function M.load(path, name)
  if type(path) ~= "string" or path == "" then fail("load: expected a file name") end
  local home = os.getenv("HOME")
  if home and path:sub(1, 2) == "~/" then path = home .. path:sub(2) end
  name = name or path:match("([^/]+)$"):gsub("%.[^.]*$", "")
  local f, err = io.open(path, "r")
  local text
  if f then text, err = f:read("a"); f:close() end
  if not text then fail("cannot read '%s': %s", path, tostring(err):gsub("^" .. path:gsub("%p", "%%%0") .. ": ", "")) end
  local list = path:match("%.ya?ml$") and M.parse_yaml(text, path) or {M.parse(text, path, name)}
  for _, src in ipairs(list) do
    local replaced = false
    for i, s in ipairs(M.sources) do
      if s.name == src.name then M.sources[i] = src; replaced = true end
    end
    if not replaced then M.sources[#M.sources + 1] = src end
  end
  return list[1]
end

-- Reads SSHS_INVENTORY once.
function M.autoload()
  if autoloaded then return end
  autoloaded = true
  for entry in (os.getenv("SSHS_INVENTORY") or ""):gmatch("[^:]+") do
    local name, path = entry:match("^([%w_%-%.]+)=(.+)$")
    M.load(path or entry, name)
  end
end

local function source_named(name)
  for _, s in ipairs(M.sources) do if s.name == name then return s end end
end

local function source_names()
  local n = {}
  for i, s in ipairs(M.sources) do n[i] = s.name end
  return table.concat(n, ", ")
end

-- Hosts of a group (in file order), or nil and why. source may be nil (every source).
function M.group(name, source)
  M.autoload()
  if name == "*" then name = "all" end
  local list, seen, found = {}, {}, false
  local sources = M.sources
  if source then
    local s = source_named(source)
    if not s then
      if #M.sources == 0 then return nil, "unknown group source '" .. source .. "': no inventory is loaded" end
      return nil, "unknown group source '" .. source .. "' (sources: " .. source_names() .. ")"
    end
    sources = {s}
  end
  for _, s in ipairs(sources) do
    local g = s.groups[name]
    local hosts = g and hosts_of(s, g)
    if not g and name == "all" and s.yaml then      -- no "all:" key: every group of the source
      hosts = {}
      for _, gn in ipairs(s.order) do
        local l = hosts_of(s, s.groups[gn])
        table.move(l, 1, #l, #hosts + 1, hosts)
      end
    end
    if hosts then
      found = true
      for _, h in ipairs(hosts) do if not seen[h] then seen[h] = true; list[#list + 1] = h end end
    end
  end
  if not found then
    if #M.sources == 0 then
      return nil, "unknown group '" .. name .. "': no inventory is loaded (sshs --inventory FILE or SSHS_INVENTORY)"
    end
    local names = {}
    for _, s in ipairs(sources) do
      for _, gn in ipairs(s.order) do
        if gn ~= "all" and gn ~= "ungrouped" then names[#names + 1] = gn end
      end
    end
    return nil, "unknown group '" .. name .. "' (groups: " .. (#names > 0 and table.concat(names, ", ") or "none") .. ")"
  end
  return list
end

-- True when some loaded source defines the group (so "@name" is not a file).
function M.has_group(name)
  M.autoload()
  if name == "*" then return #M.sources > 0 end
  for _, s in ipairs(M.sources) do if s.groups[name] then return true end end
  return false
end

-- Variables of a host: a fresh table (empty for a host no inventory names).
function M.vars(host)
  M.autoload()
  local out = {}
  for _, s in ipairs(M.sources) do
    local hv = s.hostvars[host]
    if hv then
      local gs = {}
      for _, gn in ipairs(s.order) do
        local g = s.groups[gn]
        if g.allseen[host] then gs[#gs + 1] = g end
      end
      table.sort(gs, function(a, b)
        if a.depth ~= b.depth then return a.depth < b.depth end
        return a.name < b.name
      end)
      for _, g in ipairs(gs) do for k, v in pairs(g.vars) do out[k] = v end end
      for k, v in pairs(hv) do out[k] = v end
    end
  end
  return out
end

-- Connection settings from a host's variables (Ansible's names): the target to connect to and
-- the connect options they set.
function M.connection(host)
  local v = M.vars(host)
  local opts = {}
  local target = v.ansible_host or v.ansible_ssh_host
  local user = v.ansible_user or v.ansible_ssh_user
  local port = v.ansible_port or v.ansible_ssh_port
  local key = v.ansible_ssh_private_key_file or v.ansible_private_key_file
  if user ~= nil then opts.user = tostring(user) end
  if port ~= nil then
    opts.port = math.tointeger(tonumber(port))
    if not opts.port then fail("host %s: ansible_port '%s' is not a number", host, tostring(port)) end
  end
  if key ~= nil then opts.key = tostring(key) end
  return target and tostring(target) or nil, opts
end

return M
