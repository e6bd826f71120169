-- The hosts of the last fleet run (each -H run and each each()), behind "@last:failed",
-- "@last:unreachable", "@last:ok", "@last:skipped" (not started) and "@last:all".
-- Kept in $XDG_STATE_HOME/sshs/last (default ~/.local/state/sshs/last): one "KIND HOST" line
-- per host, in the run's order. A new file replaces the old one by rename, so a reader sees
-- one whole run or the other, never a mix.
local _, core = ...
local M = {}

M.kinds = {ok = true, failed = true, unreachable = true, skipped = true, all = true}

-- The state folder; XDG says a relative XDG_STATE_HOME is ignored.
function M.dir()
  local base = os.getenv("XDG_STATE_HOME")
  if not base or base:sub(1, 1) ~= "/" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.local/state"
  end
  return base .. "/sshs"
end

-- The kind of an outcome of each().
function M.kind_of(o)
  if o.ok then return "ok" end
  if o.not_started then return "skipped" end
  if o.unreachable then return "unreachable" end
  return "failed"
end

local function mkdirs(path)
  local at = ""
  for part in path:gmatch("[^/]+") do
    at = at .. "/" .. part
    if not core.fs_stat(at, true) then
      local ok, err = core.fs_mkdir(at, tonumber("700", 8))
      if not ok and not core.fs_stat(at, true) then return nil, err end
    end
  end
  return true
end

local seq = 0
local pid = core.pid()

-- Records the run: list (the hosts in order) and results ({[host] = outcome}). A failure to
-- write is a warning: the run itself is not undone by it.
function M.record(list, results)
  local dir = M.dir()
  if not dir then return end
  local lines = {}
  for i, host in ipairs(list) do
    local o = results[host]
    lines[i] = (o and M.kind_of(o) or "skipped") .. " " .. host .. "\n"
  end
  seq = seq + 1
  local tmp = string.format("%s/.last.%s.%d.%04x.tmp", dir, pid, seq, math.random(0, 0xffff))
  local ok, err = mkdirs(dir)
  if ok then ok, err = core.fs_write(tmp, table.concat(lines), tonumber("600", 8)) end
  if ok then
    ok, err = core.fs_rename(tmp, dir .. "/last")
    if not ok then core.fs_unlink(tmp) end
  end
  if not ok then
    core.write(2, "sshs: warning: cannot record the run for @last in " .. dir .. ": " .. tostring(err) .. "\n")
  end
end

-- The hosts of kind in the last run; nil and why when there is no record or no such kind.
function M.hosts(kind)
  if not M.kinds[kind] then
    return nil, "unknown '@last:" .. kind .. "' (expected @last:failed, @last:unreachable, @last:ok, @last:skipped or @last:all)"
  end
  local dir = M.dir()
  local f = dir and io.open(dir .. "/last", "r")
  if not f then return nil, "no previous run recorded" .. (dir and (" in " .. dir) or " (HOME is not set)") end
  local out = {}
  for line in f:lines() do
    local k, host = line:match("^(%S+) (.+)$")
    if k and (kind == "all" or k == kind) then out[#out + 1] = host end
  end
  f:close()
  return out
end

return M
