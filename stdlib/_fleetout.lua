-- Fleet output an operator can act on (sshs -H): --output-dir DIR (each host's stdout and
-- stderr in DIR/HOST.stdout and DIR/HOST.stderr, as parallel-ssh's -o/-e), --jsonl (one JSON
-- event per line: a host started, a line of its output, a host ended with its outcome) and
-- -b --diff (outputs other than the most common one as unified diffs against it).
local builtin, core = ...
local nodeset = builtin("nodeset")
local M = {}

local LINE_MAX = 64 * 1024     -- a --jsonl line event carries at most this much of a long line

-- A host name as a file name: '/' cannot be in one.
local function file_name(host) return (host:gsub("/", "_")) end

-- Makes DIR and its missing parents; raises with the cause.
local function make_dir(dir)
  local at = dir:sub(1, 1) == "/" and "" or "."
  for part in dir:gmatch("[^/]+") do
    at = at .. "/" .. part
    if not core.fs_stat(at, true) then
      local ok, err = core.fs_mkdir(at, tonumber("755", 8))
      if not ok and not core.fs_stat(at, true) then error("--output-dir: cannot create " .. at .. ": " .. tostring(err), 0) end
    end
  end
  local a = core.fs_stat(dir, true)
  if not a or a.type ~= "dir" then error("--output-dir: " .. dir .. " is not a folder", 0) end
end

-- The per-host output of one -H run. json: the json module (for --jsonl).
-- Returns an object with started(host), streams(host), finished(host, record).
function M.new(options, json)
  local dir, jsonl = options.output_dir, options.jsonl and json
  if not dir and not jsonl then return nil end
  if dir then make_dir(dir) end
  local hosts = {}              -- host -> {files = {stdout =, stderr =}, pending = {stdout =, stderr =}}
  local out = {}

  local function event(t) core.write(1, json.encode(t) .. "\n") end

  -- --jsonl: whole lines become "line" events; the rest waits for its newline (or the end).
  local function lines(host, h, stream, chunk, final)
    local text = (h.pending[stream] or "") .. chunk
    local pos = 1
    while true do
      local nl = text:find("\n", pos, true)
      if not nl then break end
      event({event = "line", host = host, stream = stream, text = text:sub(pos, nl - 1)})
      pos = nl + 1
    end
    text = text:sub(pos)
    while #text > LINE_MAX or (final and #text > 0) do
      event({event = "line", host = host, stream = stream, text = text:sub(1, LINE_MAX)})
      text = text:sub(LINE_MAX + 1)
    end
    h.pending[stream] = text
  end

  function out.started(host)
    local h = {files = {}, pending = {}}
    hosts[host] = h
    if dir then
      for _, stream in ipairs{"stdout", "stderr"} do
        local path = dir .. "/" .. file_name(host) .. "." .. stream
        local f, err = io.open(path, "wb")
        if f then
          f:setvbuf("no")
          h.files[stream] = f
        else
          core.write(2, "sshs: --output-dir: cannot write " .. tostring(err) .. "\n")
        end
      end
    end
    if jsonl then event({event = "start", host = host}) end
  end

  function out.streams(host)
    local h = hosts[host]
    local function tee(stream)
      return function(chunk)
        if h.files[stream] then h.files[stream]:write(chunk) end
        if jsonl then lines(host, h, stream, chunk, false) end
      end
    end
    return {stdout = tee("stdout"), stderr = tee("stderr"), quiet = jsonl and true or false}
  end

  -- record: the outcome as JSON holds it (the "end" event).
  function out.finished(host, record)
    local h = hosts[host]
    if h then
      for stream, f in pairs(h.files) do f:close(); h.files[stream] = nil end
      if jsonl then
        lines(host, h, "stdout", "", true)
        lines(host, h, "stderr", "", true)
      end
      hosts[host] = nil
    end
    if jsonl then
      record.event = "end"
      event(record)
    end
  end
  return out
end

---------------------------------------------------------------------------- -b --diff

local function split_lines(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  local last = s:match("[^\n]+$")
  if last then t[#t + 1] = last end
  return t
end

local MAX_CELLS = 1000000   -- past this the middle is "all removed, all added" (no LCS table)

-- The edit script from a to b (arrays of lines): {op, line} with op " ", "-" or "+". The
-- common head and tail are taken off first, so a few changed lines in long outputs stay cheap.
local function edits(a, b)
  local ops = {}
  local lo, ha, hb = 1, #a, #b
  while lo <= ha and lo <= hb and a[lo] == b[lo] do lo = lo + 1 end
  while ha >= lo and hb >= lo and a[ha] == b[hb] do ha, hb = ha - 1, hb - 1 end
  for i = 1, lo - 1 do ops[#ops + 1] = {" ", a[i]} end
  local n, m = ha - lo + 1, hb - lo + 1
  if n * m > MAX_CELLS then
    for i = lo, ha do ops[#ops + 1] = {"-", a[i]} end
    for j = lo, hb do ops[#ops + 1] = {"+", b[j]} end
  else
    -- lcs[i][j]: the longest common subsequence of a[i..ha] and b[j..hb]
    local lcs = {}
    for i = ha + 1, lo, -1 do
      local row, below = {}, lcs[i + 1]
      for j = hb + 1, lo, -1 do
        if i > ha or j > hb then row[j] = 0
        elseif a[i] == b[j] then row[j] = below[j + 1] + 1
        else
          local x, y = below[j], row[j + 1]
          row[j] = x > y and x or y
        end
      end
      lcs[i] = row
    end
    local i, j = lo, lo
    while i <= ha or j <= hb do
      if i <= ha and j <= hb and a[i] == b[j] then ops[#ops + 1] = {" ", a[i]}; i, j = i + 1, j + 1
      elseif i <= ha and (j > hb or lcs[i + 1][j] >= lcs[i][j + 1]) then ops[#ops + 1] = {"-", a[i]}; i = i + 1
      else ops[#ops + 1] = {"+", b[j]}; j = j + 1 end        -- removals before additions, as diff -u
    end
  end
  for i = ha + 1, #a do ops[#ops + 1] = {" ", a[i]} end
  return ops
end

-- A unified diff (3 lines of context) of text a against text b, labelled la and lb.
function M.unified(a, b, la, lb)
  local ops = edits(split_lines(a), split_lines(b))
  local CONTEXT = 3
  local out = {"--- " .. la, "+++ " .. lb}
  local k = 1
  -- line numbers before each op
  local ai, bi = {}, {}
  local x, y = 1, 1
  for idx, op in ipairs(ops) do
    ai[idx], bi[idx] = x, y
    if op[1] ~= "+" then x = x + 1 end
    if op[1] ~= "-" then y = y + 1 end
  end
  ai[#ops + 1], bi[#ops + 1] = x, y
  while k <= #ops do
    while k <= #ops and ops[k][1] == " " do k = k + 1 end
    if k > #ops then break end
    local first = math.max(1, k - CONTEXT)
    local last, gap = k, 0
    local idx = k
    while idx <= #ops do
      if ops[idx][1] == " " then
        gap = gap + 1
        if gap > 2 * CONTEXT then break end
      else
        gap, last = 0, idx
      end
      idx = idx + 1
    end
    local stop = math.min(#ops, last + CONTEXT)
    local na, nb = 0, 0
    for q = first, stop do
      if ops[q][1] ~= "+" then na = na + 1 end
      if ops[q][1] ~= "-" then nb = nb + 1 end
    end
    local sa = na == 0 and ai[first] - 1 or ai[first]
    local sb = nb == 0 and bi[first] - 1 or bi[first]
    out[#out + 1] = string.format("@@ -%d,%d +%d,%d @@", sa, na, sb, nb)
    for q = first, stop do out[#out + 1] = ops[q][1] .. ops[q][2] end
    k = stop + 1
  end
  return table.concat(out, "\n") .. "\n"
end

-- -b --diff: the most common output in full (ties: the first in host order), then each other
-- output as a diff against it. Hosts with no output are a group like any other.
function M.print_diff(list, results, group_by)
  local groups, order = group_by(list, results, function(_, o) return o.output or "" end)
  if #order == 0 then return end
  local major = order[1]
  for _, k in ipairs(order) do if #groups[k] > #groups[major] then major = k end end
  local function head(hosts, note)
    local text = nodeset.fold(hosts) .. " (" .. #hosts .. ")" .. (note or "")
    local rule = string.rep("-", math.min(#text, 78))
    return rule .. "\n" .. text .. "\n" .. rule .. "\n"
  end
  local major_name = nodeset.fold(groups[major])
  local body = major == "" and "(no output)\n" or major .. (major:sub(-1) == "\n" and "" or "\n")
  core.write(1, head(groups[major]) .. body)
  for _, k in ipairs(order) do
    if k ~= major then
      local hosts = groups[k]
      core.write(1, head(hosts, ": differs from " .. major_name) ..
        M.unified(major, k, major_name, nodeset.fold(hosts)))
    end
  end
end

return M
