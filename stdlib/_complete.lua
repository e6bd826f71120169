-- Words for the shells' completion of -H / -x (completions/sshs.bash, completions/_sshs):
--   sshs -e 'require("_complete").hosts(...)' [SSH_CONFIG]
-- prints one per line: the Host names of the ssh config (~/.ssh/config or -F's file, and the
-- files it Includes), the names in ~/.ssh/known_hosts (not hashed ones), and "@group" and
-- "@source:group" for every group of the inventories (SSHS_INVENTORY / --inventory), and
-- "@last:KIND" for the kinds of hosts the last fleet run recorded (stdlib/_last.lua).
-- Unreadable files are skipped: completion never fails loudly.
local M = {}

local home = os.getenv("HOME") or ""
local function expand(p) return (p:gsub("^~/", home .. "/")) end

local function lines(path)
  local f = io.open(path, "r")
  if not f then return function() return nil end end
  local s = f:read("a") or ""
  f:close()
  return s:gmatch("[^\n]*")
end

local function add(out, seen, w)
  if w ~= "" and not seen[w] then seen[w] = true; out[#out + 1] = w end
end

-- Host names of an ssh config; patterns (*, ?, negations) are not names.
local function config_hosts(path, out, seen, depth)
  if depth > 8 then return end
  for line in lines(path) do
    local kw, rest = line:match("^%s*(%a+)%s*=?%s*(.-)%s*$")
    kw = kw and kw:lower()
    if kw == "host" then
      for w in rest:gmatch("%S+") do
        if not w:find("[*?!]") then add(out, seen, (w:gsub('^"(.*)"$', "%1"))) end
      end
    elseif kw == "include" then
      for w in rest:gmatch("%S+") do
        local p = expand(w)
        if p:sub(1, 1) ~= "/" then p = home .. "/.ssh/" .. p end
        local dir, pat = p:match("^(.*)/([^/]*)$")
        if pat and pat:find("[*?]") then
          local ls = io.popen("ls -1 " .. "'" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
          if ls then
            local luapat = "^" .. pat:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
            for name in ls:lines() do
              if name:find(luapat) then config_hosts(dir .. "/" .. name, out, seen, depth + 1) end
            end
            ls:close()
          end
        else
          config_hosts(p, out, seen, depth + 1)
        end
      end
    end
  end
end

-- "web1,10.0.0.5 ssh-ed25519 …" and "[web2]:2222 …"; "|1|…" hashed names are skipped.
local function known_hosts(path, out, seen)
  for line in lines(path) do
    local names = line:match("^%s*([^#@%s]%S*)%s")
    if names and names:sub(1, 1) ~= "|" then
      for n in names:gmatch("[^,]+") do
        n = n:match("^%[(.-)%]:%d+$") or n
        if not n:find("[*?!]") then add(out, seen, n) end
      end
    end
  end
end

local function groups(out, seen)
  local ok, inv = pcall(require, "inventory")
  if not ok or not pcall(inv.autoload) then return end
  for _, s in ipairs(inv.sources) do
    for _, g in ipairs(s.order) do
      add(out, seen, "@" .. g)
      add(out, seen, "@" .. s.name .. ":" .. g)
    end
  end
end

local function last_run(out, seen)
  local ok, last = pcall(require, "_last")
  local dir = ok and last.dir()
  if not dir then return end
  local kinds = {}
  for line in lines(dir .. "/last") do
    local k = line:match("^(%a+) ")
    if k then kinds[k] = true end
  end
  if not next(kinds) then return end
  add(out, seen, "@last:all")
  for _, k in ipairs({"failed", "unreachable", "ok", "skipped"}) do
    if kinds[k] then add(out, seen, "@last:" .. k) end
  end
end

function M.hosts(config)
  local out, seen = {}, {}
  config_hosts(config and config ~= "" and expand(config) or home .. "/.ssh/config", out, seen, 0)
  known_hosts(home .. "/.ssh/known_hosts", out, seen)
  groups(out, seen)
  last_run(out, seen)
  io.stdout:write(table.concat(out, "\n"), #out > 0 and "\n" or "")
end

return M
