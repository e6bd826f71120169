-- File transfer (SPEC §4): upload, download, put_text, get_text on the current session.
-- Remote sessions go over SFTP (core.sftp, interp/ssh_sftp.c); the local session makes plain
-- copies with the same rules. Every file lands whole or not at all: it is written to a
-- temporary name beside the destination and renamed into place; a failure removes it.
local builtin, core = ...
-- The runtime's parts this module uses (stdlib/_results.lua, _contexts.lua, _commands.lua,
-- _quoting.lua), by the names it had on _SSHS.
local S
do
  local results, contexts = builtin("_results"), builtin("_contexts")
  S = {user_error = results.user_error, user_where = results.user_where, builtin = builtin,
       state = contexts.state, current_session = contexts.current_session, LOCAL = contexts.LOCAL,
       effective = contexts.effective, home_path = builtin("_commands").home_path,
       quote = builtin("_quoting").quote}
end
local M = {}

---------------------------------------------------------------------------- errors

local TransferError = {__name = "sshs.TransferError"}
TransferError.__index = TransferError
TransferError.__tostring = function(e) return e.message end
M.TransferError = TransferError

-- Raises "FILE:LINE: upload failed on HOST: PATH: CAUSE" (at the user's line, captured when
-- the call began, so threads inside a copy still name it).
local function fail(ctx, path, cause)
  local msg = ctx.where .. ctx.verb .. " failed on " .. ctx.host .. ": " .. path .. ": " .. cause
  error(setmetatable({message = msg, host = ctx.host, path = path, cause = cause, kind = "transfer"},
                     TransferError), 0)
end

local function warn(ctx, text)
  local st = S.state()
  local line = (st.prefix or "") .. "sshs: " .. ctx.verb .. " on " .. ctx.host .. ": " .. text .. "\n"
  if st.sink then st.sink[#st.sink + 1] = line else core.write(2, line) end
end

-- "No such file or directory" -> "no such file or directory", as SFTP's words read.
local function cause_of(err, status)
  local c = err or status or "failed"
  if c:find("^SFTP") then return c end
  return (c:gsub("^%u", string.lower))
end

---------------------------------------------------------------------------- paths

local function strip_slashes(p)
  local s = p:gsub("/+$", "")
  if s == "" then return p:sub(1, 1) == "/" and "/" or "." end
  return s
end

local function basename(p)
  p = strip_slashes(p)
  return p:match("([^/]*)$")
end

local function dirname(p)
  p = strip_slashes(p)
  local d = p:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

local function join(a, b)
  if a == "." then return b end
  if a:sub(-1) == "/" then return a .. b end
  return a .. "/" .. b
end

-- SFTP paths are relative to the remote home already: "~/x" is "x", "~" is ".".
local function remote_path(p)
  if p == "~" or p == "~/" then return "." end
  if p:sub(1, 2) == "~/" then return p:sub(3) end
  return p
end

local local_path = S.home_path

-- Applies the thread's cd() block on that session to a relative path.
local function with_cwd(sess, p, expand)
  local o = S.effective(S.state(), sess)
  if o.cwd and p:sub(1, 1) ~= "/" and p:sub(1, 1) ~= "~" then p = o.cwd:gsub("/+$", "") .. "/" .. p end
  return expand(p)
end

-- ".NAME.sshs-PID-N-RAND.tmp" beside the destination: hidden, recognisable, never reused.
local pid = core.pid()
local seq = 0
local function temp_name(path)
  seq = seq + 1
  return join(dirname(path), string.format(".%s.sshs-%s-%d-%04x.tmp", basename(path):sub(1, 100),
    pid, seq, math.random(0, 0xffff)))
end

---------------------------------------------------------------------------- endpoints

-- The local file system and an SFTP connection, behind the same calls. Each returns its
-- value, or nil and the cause in words.
local Local = {remote = false}

function Local.stat(path) local a, err = core.fs_stat(path, true); if a then return a end; return nil, cause_of(err) end
function Local.lstat(path) local a, err = core.fs_stat(path, false); if a then return a end; return nil, cause_of(err) end
function Local.list(path) local l, err = core.fs_list(path); if l then return l end; return nil, cause_of(err) end
function Local.mkdir(path, mode) local ok, err = core.fs_mkdir(path, mode); if ok then return true end; return nil, cause_of(err) end
function Local.readlink(path) local t, err = core.fs_readlink(path); if t then return t end; return nil, cause_of(err) end
function Local.symlink(target, path) local ok, err = core.fs_symlink(target, path); if ok then return true end; return nil, cause_of(err) end
function Local.unlink(path) local ok, err = core.fs_unlink(path); if ok then return true end; return nil, cause_of(err) end
function Local.rename(a, b) local ok, err = core.fs_rename(a, b); if ok then return true end; return nil, cause_of(err) end
function Local.setstat(path, t)
  if t.mode then
    local ok, err = core.fs_chmod(path, t.mode)
    if not ok then return nil, cause_of(err) end
  end
  if t.mtime then
    local ok, err = core.fs_utime(path, t.atime or t.mtime, t.mtime)
    if not ok then return nil, cause_of(err) end
  end
  return true
end

-- The request's waiting and releasing, in one place; progress() of the live one is read by
-- the progress line.
local function sftp_call(conn, what, args, on_start)
  local req, err = core.sftp(conn, what, args)
  if not req then return nil, cause_of(err) end
  local _ <close> = req
  if on_start then on_start(req) end
  local v, e, status = req:wait()
  if v == false then return nil, cause_of(e, status) end
  return v
end

local function remote_ep(sess)
  local conn = sess.conn
  local ep = {remote = true, conn = conn}
  function ep.stat(path) return sftp_call(conn, "stat", {path = path}) end
  function ep.lstat(path) return sftp_call(conn, "lstat", {path = path}) end
  function ep.list(path) return sftp_call(conn, "list", {path = path}) end
  function ep.mkdir(path, mode) return sftp_call(conn, "mkdir", {path = path, mode = mode}) end
  function ep.readlink(path) return sftp_call(conn, "readlink", {path = path}) end
  function ep.symlink(target, path) return sftp_call(conn, "symlink", {path = path, path2 = target}) end
  function ep.unlink(path) return sftp_call(conn, "unlink", {path = path}) end
  function ep.rename(a, b) return sftp_call(conn, "rename", {path = a, path2 = b}) end
  function ep.setstat(path, t)
    return sftp_call(conn, "setstat", {path = path, mode = t.mode, set_mode = t.mode ~= nil,
                                       mtime = t.mtime, atime = t.atime})
  end
  return ep
end

---------------------------------------------------------------------------- progress

-- One progress line for every transfer in flight (all hosts of a fan-out together), on a
-- terminal only, after the first second.
local P = {files = 0, files_done = 0, bytes = 0, bytes_done = 0, calls = 0, live = {}, hosts = {}}
M.P = P

local function human(n)
  if n >= 1024 * 1024 * 1024 then return string.format("%.1f GiB", n / 1073741824) end
  if n >= 1024 * 1024 then return string.format("%.1f MiB", n / 1048576) end
  if n >= 1024 then return string.format("%.1f KiB", n / 1024) end
  return string.format("%d B", n)
end

local function moved_now()
  local n = P.bytes_done
  for req in pairs(P.live) do
    local ok, b = pcall(req.progress, req)
    if ok then n = n + b end
  end
  return n
end

-- The text of the line, or nil when nothing moves.
function M.status_text()
  if P.calls == 0 then return nil end
  local moved = moved_now()
  local secs = core.clock() - P.t0
  local rate = secs > 0 and moved / secs or 0
  local nhosts = 0
  for _ in pairs(P.hosts) do nhosts = nhosts + 1 end
  local eta = ""
  if rate > 0 and P.bytes > moved then eta = string.format(", ETA %ds", math.ceil((P.bytes - moved) / rate)) end
  return string.format("%s%d/%d files, %s of %s, %s/s%s", nhosts > 1 and (nhosts .. " hosts: ") or "",
    P.files_done, P.files, human(moved), human(P.bytes), human(math.floor(rate)), eta)
end

local function progress_begin(ctx)
  if P.calls == 0 then
    P.files, P.files_done, P.bytes, P.bytes_done, P.hosts = 0, 0, 0, 0, {}
    P.t0 = core.clock()
  end
  P.calls = P.calls + 1
  P.hosts[ctx.host] = (P.hosts[ctx.host] or 0) + 1
  -- The -H driver draws the fleet's line itself and includes ours.
  if ctx.progress and not P.ticker and not builtin("_outcome").fleet_progress then
    local ev = core.event()
    P.ticker = ev
    core.thread(function()
      -- SSHS_PROGRESS_DELAY: seconds before the line appears (default 1; 0: at once).
      local delay = tonumber(os.getenv("SSHS_PROGRESS_DELAY") or "")
      if ev:wait(delay and delay >= 0 and delay or 1) then return end
      repeat
        local text = M.status_text()
        if text then core.status(text) end
      until ev:wait(0.25)
      core.status("")
    end)
  end
end

local function progress_end(ctx)
  P.calls = P.calls - 1
  P.hosts[ctx.host] = P.hosts[ctx.host] - 1
  if P.hosts[ctx.host] == 0 then P.hosts[ctx.host] = nil end
  if P.calls == 0 and P.ticker then
    P.ticker:set()
    P.ticker = nil
  end
end

local function new_ctx(verb, sess, opts)
  local st = S.state()
  local ctx = {verb = verb, where = S.user_where(), host = sess.host, opts = opts,
               summary = {files = 0, bytes = 0, dirs = 0, links = 0, skipped = 0}, t0 = core.clock()}
  ctx.progress = opts.progress ~= false and core.isatty(2) and not st.sink
  -- with timeout(s): the whole call gets s seconds; past them the file in flight is
  -- stopped (its temporary removed) and the call fails.
  local t = S.effective(st, sess).timeout
  if t then ctx.deadline, ctx.timeout = ctx.t0 + t, t end
  return ctx
end

-- Seconds left for the next request (nil: no limit); fails when none are left.
local function time_left(ctx, path)
  if not ctx.deadline then return nil end
  local left = ctx.deadline - core.clock()
  if left <= 0 then fail(ctx, path, string.format("timed out after %gs", ctx.timeout)) end
  return left
end

---------------------------------------------------------------------------- one file

-- What mode a new copy gets: opts.mode; the source's with preserve; an existing
-- destination's (as cp keeps it); else the source's under the umask (as scp does).
local function target_mode(opts, sa, existing)
  if opts.mode then return opts.mode, true end
  if opts.preserve then return sa.mode, true end
  if existing and existing.type == "file" then return existing.mode, true end
  return sa.mode or 0644, false
end

-- Removes a temporary when the copy did not commit (errors and Ctrl-C included).
local function temp_guard(ep, path)
  return setmetatable({}, {__close = function(g)
    if not g.committed then pcall(ep.unlink, path) end
  end})
end

-- The cause of a failed request; a timeout is reported with the limit the user set.
local function xfer_cause(ctx, e, status)
  if not status and e and e:find("^timed out") and ctx.timeout then
    return string.format("timed out after %gs", ctx.timeout)
  end
  return cause_of(e, status)
end

local function count_file(ctx, bytes)
  ctx.summary.files = ctx.summary.files + 1
  ctx.summary.bytes = ctx.summary.bytes + bytes
  P.files_done = P.files_done + 1
  P.bytes_done = P.bytes_done + bytes
end

local function track(req) P.live[req] = true end

-- Copies the regular file sp (attributes sa) to dp; existing: what dp is now (or nil).
local function copy_file(ctx, sp, sa, dp, existing)
  if existing and existing.type == "dir" then fail(ctx, dp, "is a folder (a file cannot replace it)") end
  local src, dst, opts = ctx.src, ctx.dst, ctx.opts
  local mode, force = target_mode(opts, sa, existing)
  local times = opts.preserve and sa.mtime and {mtime = sa.mtime, atime = sa.atime} or nil
  local tmp = temp_name(dp)
  P.files = P.files + 1
  P.bytes = P.bytes + (sa.size or 0)
  if dst.remote then
    -- upload: the SFTP request writes the temporary, sets mode and times, renames it into
    -- place, and removes it itself when anything fails (also on Ctrl-C).
    local req, err = core.sftp(dst.conn, "put", {path = tmp, path2 = dp, source = sp, mode = mode,
      set_mode = force, mtime = times and times.mtime, atime = times and times.atime,
      timeout = time_left(ctx, dp)})
    if not req then fail(ctx, sp, cause_of((err:gsub("^.-: ", "")))) end
    local _ <close> = req
    track(req)
    local v, e, status = req:wait()
    P.live[req] = nil
    if v == false then
      fail(ctx, dp, xfer_cause(ctx, e, status))
    end
    count_file(ctx, v.bytes)
    return
  end
  local guard <close> = temp_guard(Local, tmp)
  local bytes
  if src.remote then
    local req, err = core.sftp(src.conn, "get", {path = sp, sink = tmp, timeout = time_left(ctx, sp)})
    if not req then fail(ctx, dp, cause_of((err:gsub("^.-: ", "")))) end
    local _ <close> = req
    track(req)
    local v, e, status = req:wait()
    P.live[req] = nil
    if v == false then
      local where = e and e:find("local file", 1, true) and dp or sp
      fail(ctx, where, xfer_cause(ctx, e, status))
    end
    bytes = v.bytes
  else
    local cp, err, _, which = core.fs_copy(sp, tmp, 384)
    if not cp then fail(ctx, which == "source" and sp or dp, cause_of(err)) end
    local _ <close> = cp
    bytes = 0
    while true do
      local n, e = cp:step()
      if not n then fail(ctx, dp, cause_of(e)) end
      if n == 0 then break end
      bytes = bytes + n
      P.bytes_done = P.bytes_done + n
      time_left(ctx, dp)
      sleep(0)                                      -- let other threads run between slices
    end
    P.bytes_done = P.bytes_done - bytes
    local ok, e = cp:close()
    if not ok then fail(ctx, dp, cause_of(e)) end
  end
  local m = force and mode or (mode & ~core.fs_umask())
  local ok, e = Local.setstat(tmp, {mode = m, mtime = times and times.mtime, atime = times and times.atime})
  if not ok then fail(ctx, dp, e) end
  ok, e = Local.rename(tmp, dp)
  if not ok then fail(ctx, dp, e) end
  guard.committed = true
  count_file(ctx, bytes)
end

-- A symlink in a tree: made at a temporary name and renamed over what is there (locally);
-- over SFTP the old entry is removed first (SFTP v3 rename does not replace).
local function copy_link(ctx, sp, dp, existing)
  local target, err = ctx.src.readlink(sp)
  if not target then fail(ctx, sp, err) end
  local dst = ctx.dst
  if existing and existing.type == "dir" then fail(ctx, dp, "is a folder (a link cannot replace it)") end
  if dst.remote then
    if existing then
      local ok, e = dst.unlink(dp)
      if not ok then fail(ctx, dp, e) end
    end
    local ok, e = dst.symlink(target, dp)
    -- libssh2 1.10 misreads OpenSSH's status reply to SYMLINK (it reports the request id
    -- as the status): believe the link itself.
    if not ok and dst.readlink(dp) ~= target then fail(ctx, dp, e) end
  else
    local tmp = temp_name(dp)
    local guard <close> = temp_guard(Local, tmp)
    local ok, e = Local.symlink(target, tmp)
    if not ok then fail(ctx, dp, e) end
    ok, e = Local.rename(tmp, dp)
    if not ok then fail(ctx, dp, e) end
    guard.committed = true
  end
  ctx.summary.links = ctx.summary.links + 1
end

-- The attributes of p on ep, or nil when nothing is there. Any other error (the SFTP channel
-- failed, permission denied) ends the transfer with that error: it is not "no such folder".
local function stat_if_any(ctx, ep, p)
  local a, err = ep.stat(p)
  if a or not err or err:find("no such file", 1, true) or err:find("no such path", 1, true)
     or err:find("not a directory", 1, true) then
    return a
  end
  fail(ctx, p, err)
end

-- Creates folder p and its missing parents on ep (mkdir = true).
local function mkdir_p(ctx, ep, p)
  local a = stat_if_any(ctx, ep, p)
  if a then
    if a.type ~= "dir" then fail(ctx, p, "not a folder") end
    return
  end
  local parent = dirname(p)
  if parent ~= p then mkdir_p(ctx, ep, parent) end
  local ok, err = ep.mkdir(p, 511)
  if not ok then
    local a2 = ep.stat(p)                 -- another thread may have made it meanwhile
    if not (a2 and a2.type == "dir") then fail(ctx, p, err) end
  end
end

-- The folder a file goes into: there, or made (mkdir = true), or an error naming it.
local function ensure_folder(ctx, ep, p, opts)
  local a = stat_if_any(ctx, ep, p)
  if not a then
    if not opts.mkdir then fail(ctx, p, "no such folder (mkdir = true creates it)") end
    mkdir_p(ctx, ep, p)
  elseif a.type ~= "dir" then
    fail(ctx, p, "not a folder")
  end
end

-- The files of a tree move FILES_AT_ONCE at a time: each file costs a few round trips (open,
-- write, close, rename), and several files' requests overlap on the one SFTP channel.
local FILES_AT_ONCE = 8

-- Runs fn() in a worker thread, at most FILES_AT_ONCE at once; the first failure stops new
-- work and is raised by finish_workers().
local function spawn(ctx, fn)
  local w = ctx.workers
  if not w then
    w = {free = FILES_AT_ONCE, waiting = {}, threads = {}}
    ctx.workers = w
  end
  if w.failed then return end
  if w.free == 0 then
    local ev = core.event()
    w.waiting[#w.waiting + 1] = ev
    ev:wait()
    if w.failed then return end
  end
  w.free = w.free - 1
  w.threads[#w.threads + 1] = thread(function()
    local ok, e = pcall(fn)
    if not ok and not w.failed then w.failed = e end
    w.free = w.free + 1
    local ev = table.remove(w.waiting, 1)
    if ev then ev:set() end
  end)
end

local function finish_workers(ctx)
  local w = ctx.workers
  if not w then return end
  for _, t in ipairs(w.threads) do pcall(t.join, t) end
  w.threads = {}
  for _, ev in ipairs(w.waiting) do ev:set() end
  if w.failed then error(w.failed, 0) end
end

local function copy_tree(ctx, sp, sa, dp, existing)
  local src, dst, opts = ctx.src, ctx.dst, ctx.opts
  local present = {}
  if existing then
    if existing.type ~= "dir" then fail(ctx, dp, "is a file where a folder is needed") end
    local list, err = dst.list(dp)
    if not list then fail(ctx, dp, err) end
    for _, e in ipairs(list) do present[e.name] = e end
  else
    local ok, err = dst.mkdir(dp, opts.preserve and sa.mode or 511)
    if not ok then fail(ctx, dp, err) end
    ctx.summary.dirs = ctx.summary.dirs + 1
  end
  local entries, err = src.list(sp)
  if not entries then fail(ctx, sp, err) end
  table.sort(entries, function(a, b) return a.name < b.name end)
  for _, e in ipairs(entries) do
    if ctx.workers and ctx.workers.failed then break end
    local s2, d2 = join(sp, e.name), join(dp, e.name)
    if e.type == "dir" then copy_tree(ctx, s2, e, d2, present[e.name])
    elseif e.type == "file" then
      local there = present[e.name]
      spawn(ctx, function() copy_file(ctx, s2, e, d2, there) end)
    elseif e.type == "link" then copy_link(ctx, s2, d2, present[e.name])
    else
      warn(ctx, s2 .. ": skipped (not a regular file, folder or symbolic link)")
      ctx.summary.skipped = ctx.summary.skipped + 1
    end
  end
  -- A folder's own mode and mtime are set once everything inside it is written.
  if opts.preserve then
    ctx.dir_attrs = ctx.dir_attrs or {}
    table.insert(ctx.dir_attrs, {dp, sa})
  end
end

-- The top of a tree copy: the walk, then waiting for the files, then the folders' attributes
-- (deepest first: they were recorded after their children).
local function copy_top_tree(ctx, sp, sa, dp, existing)
  local ok, e = pcall(copy_tree, ctx, sp, sa, dp, existing)
  finish_workers(ctx)
  if not ok then error(e, 0) end
  for _, d in ipairs(ctx.dir_attrs or {}) do
    local fine, err = ctx.dst.setstat(d[1], {mode = d[2].mode, mtime = d[2].mtime, atime = d[2].atime})
    if not fine then fail(ctx, d[1], err) end
  end
end

---------------------------------------------------------------------------- the calls

local copy_options = {recursive = "boolean", mode = "mode", mkdir = "boolean", preserve = "boolean",
                      progress = "boolean", per_host = "boolean", sudo = "sudo", owner = "name", group = "name"}

-- mode = "0640" (octal digits, as chmod takes them) or a number (Lua has no octal literals:
-- 0640 in Lua is decimal 640, so a number must be the value, e.g. tonumber("640", 8)).
local function parse_mode(verb, v)
  local m
  if type(v) == "string" and v:match("^0?[0-7]+$") and #v <= 5 then m = tonumber(v, 8)
  elseif math.type(v) == "integer" then m = v end
  if not m or m < 0 or m > 4095 then
    S.user_error(verb .. ": mode must be octal digits in a string (\"0640\") or a number up to 4095, got " .. tostring(v))
  end
  return m
end

local function check_options(verb, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then S.user_error(verb .. ": options must be a table") end
  local out = {}
  for k, v in pairs(opts) do
    local want = (allowed or copy_options)[k]
    if not want then S.user_error(verb .. ": unknown option '" .. tostring(k) .. "'") end
    if want == "mode" then v = parse_mode(verb, v)
    elseif want == "sudo" then
      if type(v) ~= "boolean" and type(v) ~= "table" then
        S.user_error(verb .. ": option sudo must be true or a table {user =, password =}, got " .. type(v))
      end
    elseif want == "name" then
      if type(v) ~= "string" and math.type(v) ~= "integer" then
        S.user_error(verb .. ": option " .. k .. " must be a name or a numeric id, got " .. type(v))
      end
    elseif type(v) ~= want then S.user_error(verb .. ": option " .. k .. " must be a " .. want .. ", got " .. type(v)) end
    out[k] = v
  end
  return out
end

local function done(ctx)
  local s = ctx.summary
  s.seconds = core.clock() - ctx.t0
  return s
end

-- Copies src (on ctx.src) to dst (on ctx.dst) by the rules of SPEC §4.
local function transfer(ctx, src_path, dst_path, suffix)
  local src, dst, opts = ctx.src, ctx.dst, ctx.opts
  local sa, err = src.stat(src_path)
  if not sa then fail(ctx, src_path, err) end
  if sa.type == "dir" and not opts.recursive then
    fail(ctx, src_path, "is a folder (recursive = true copies it)")
  end
  if sa.type ~= "dir" and sa.type ~= "file" then fail(ctx, src_path, "not a regular file") end
  local name = basename(src_path) .. suffix
  -- A destination that is a folder, or ends in "/", receives the copy under its own name.
  local folder = dst_path:sub(-1) == "/"
  local d = strip_slashes(dst_path)
  local da = stat_if_any(ctx, dst, d)
  local target, existing
  if da and da.type == "dir" then
    target = join(d, name)
    existing = dst.lstat(target)
  elseif folder then
    if da then fail(ctx, d, "not a folder") end
    if not opts.mkdir then fail(ctx, d, "no such folder (mkdir = true creates it)") end
    mkdir_p(ctx, dst, d)
    target = join(d, name)
  else
    target = d .. suffix
    existing = suffix == "" and da or dst.lstat(target)
    ensure_folder(ctx, dst, dirname(d), opts)
  end
  progress_begin(ctx)
  local _ <close> = setmetatable({}, {__close = function() progress_end(ctx) end})
  if sa.type == "dir" then copy_top_tree(ctx, src_path, sa, target, existing)
  else copy_file(ctx, src_path, sa, target, existing) end
  return done(ctx)
end

local function per_host_suffix(opts)
  local st = S.state()
  if st.host and opts.per_host ~= false then return "." .. st.host end
  return ""
end

---------------------------------------------------------------------------- as root

-- upload / put_text with sudo = true: the file is written as the login user into a private
-- folder (stdlib/_asroot.lua), then one sudo command installs it over the destination.
-- write(tmp) writes it; sa: its attributes (mode, mtime) when it comes from a local file.
local function place_as_root(ctx, sess, d, opts, sa, write)
  local asroot = S.builtin("_asroot")
  local sudo = asroot.sudo_of(sess, opts.sudo)
  local ep = sess == S.LOCAL and Local or remote_ep(sess)
  if d:sub(-1) == "/" then fail(ctx, d, "is a folder name (a file name is needed)") end
  if opts.mkdir then
    local r = asroot.as_root(sess, sudo, "mkdir -p -- " .. S.quote(dirname(d)))
    if not r.ok then fail(ctx, dirname(d), "as " .. sudo.user .. " through sudo: " .. (r.stderr:match("[^\n]+") or "mkdir failed")) end
  end
  local dir = asroot.private_dir(sess, function(cause) fail(ctx, d, cause) end)
  local _ <close> = setmetatable({}, {__close = function() asroot.remove_dir(sess, dir) end})
  local tmp = join(dir, "file")
  ctx.dst = ep
  write(tmp, ep)
  local ok, why = asroot.install(sess, sudo, {{src = tmp, dst = d, mode = opts.mode or (opts.preserve and sa and sa.mode),
    owner = opts.owner and tostring(opts.owner), group = opts.group and tostring(opts.group),
    mtime = opts.preserve and sa and sa.mtime, default_mode = sa and sa.mode and (sa.mode & ~18) or 420}})
  if not ok then fail(ctx, d, why) end
end

-- upload{sudo = true}: one local file to the current session as root.
local function upload_as_root(ctx, sess, src_path, dst_path, opts)
  if opts.recursive then fail(ctx, src_path, "sudo = true copies one file (sync{sudo = true} copies a folder)") end
  local sp = local_path(src_path)
  local sa, err = Local.stat(sp)
  if not sa then fail(ctx, sp, err) end
  if sa.type ~= "file" then fail(ctx, sp, "not a regular file (sudo = true copies one file)") end
  local d = with_cwd(sess, dst_path, sess == S.LOCAL and local_path or remote_path)
  local ep = sess == S.LOCAL and Local or remote_ep(sess)
  if d:sub(-1) == "/" then d = join(strip_slashes(d), basename(sp))
  else
    local da = ep.stat(d)
    if da and da.type == "dir" then d = join(d, basename(sp)) end
  end
  ctx.src = Local
  progress_begin(ctx)
  local _ <close> = setmetatable({}, {__close = function() progress_end(ctx) end})
  place_as_root(ctx, sess, d, opts, sa, function(tmp)
    ctx.opts = {preserve = opts.preserve}
    copy_file(ctx, sp, sa, tmp, nil)
  end)
  return done(ctx)
end

-- upload and download: the same steps with the remote end on one side or the other (on the
-- local session both ends are local). A download in a fan-out gets the host suffix.
local function move(what, usage, src_path, dst_path, opts, remote_src)
  if type(src_path) ~= "string" or type(dst_path) ~= "string" then
    S.user_error(what .. ": expected " .. usage)
  end
  opts = check_options(what, opts)
  local sess = S.current_session()
  local ctx = new_ctx(what, sess, opts)
  if (opts.owner or opts.group) and not opts.sudo then S.user_error(what .. ": owner and group need sudo = true") end
  if opts.sudo then
    if remote_src then S.user_error("download: sudo is for writing files (upload, put_text, sync)") end
    return upload_as_root(ctx, sess, src_path, dst_path, opts)
  end
  local suffix = remote_src and per_host_suffix(opts) or ""
  if sess == S.LOCAL then
    ctx.src, ctx.dst = Local, Local
    return transfer(ctx, with_cwd(sess, src_path, local_path), with_cwd(sess, dst_path, local_path), suffix)
  end
  local ep = remote_ep(sess)
  if remote_src then
    ctx.src, ctx.dst = ep, Local
    return transfer(ctx, with_cwd(sess, src_path, remote_path), local_path(dst_path), suffix)
  end
  ctx.src, ctx.dst = Local, ep
  return transfer(ctx, local_path(src_path), with_cwd(sess, dst_path, remote_path), suffix)
end

function M.upload(src_path, dst_path, opts)
  return move("upload", "(local path, remote path [, options])", src_path, dst_path, opts, false)
end

function M.download(src_path, dst_path, opts)
  return move("download", "(remote path, local path [, options])", src_path, dst_path, opts, true)
end

local text_options = {mode = "mode", mkdir = "boolean", sudo = "sudo", owner = "name", group = "name"}

-- put_text(path, text [, {mode =, mkdir =}]): the file holds exactly text, whole or not at all.
function M.put_text(path, text, opts)
  if type(path) ~= "string" then S.user_error("put_text: expected a path string, got " .. type(path)) end
  if type(text) ~= "string" then S.user_error("put_text: expected the text as a string, got " .. type(text)) end
  opts = check_options("put_text", opts, text_options)
  local sess = S.current_session()
  local ctx = new_ctx("put_text", sess, opts)
  local remote = sess ~= S.LOCAL
  local ep = remote and remote_ep(sess) or Local
  local p = with_cwd(sess, path, remote and remote_path or local_path)
  if (opts.owner or opts.group) and not opts.sudo then S.user_error("put_text: owner and group need sudo = true") end
  if opts.sudo then
    place_as_root(ctx, sess, p, opts, nil, function(tmp)
      if remote then
        local v, err = sftp_call(ep.conn, "put", {path = tmp .. ".part", path2 = tmp, data = text, mode = 384,
                                                  set_mode = true, timeout = time_left(ctx, p)})
        if not v then fail(ctx, p, err) end
      else
        local ok, err = core.fs_write(tmp, text, 384)
        if not ok then fail(ctx, p, cause_of(err)) end
      end
    end)
    ctx.summary.files, ctx.summary.bytes = 1, #text
    return done(ctx)
  end
  if p:sub(-1) == "/" then fail(ctx, p, "is a folder name (put_text needs a file name)") end
  local existing = ep.stat(p)
  if existing and existing.type == "dir" then fail(ctx, p, "is a folder") end
  ensure_folder(ctx, ep, dirname(p), opts)
  local mode, force = target_mode(opts, {mode = 420}, existing)
  local tmp = temp_name(p)
  if remote then
    local v, err = sftp_call(ep.conn, "put", {path = tmp, path2 = p, data = text, mode = mode, set_mode = force,
                                              timeout = time_left(ctx, p)})
    if not v then fail(ctx, p, err) end
  else
    local guard <close> = temp_guard(Local, tmp)
    local ok, err = core.fs_write(tmp, text, 384)
    if not ok then fail(ctx, p, cause_of(err)) end
    ok, err = Local.setstat(tmp, {mode = force and mode or (mode & ~core.fs_umask())})
    if not ok then fail(ctx, p, err) end
    ok, err = Local.rename(tmp, p)
    if not ok then fail(ctx, p, err) end
    guard.committed = true
  end
  ctx.summary.files, ctx.summary.bytes = 1, #text
  return done(ctx)
end

-- The pieces sync (stdlib/_sync.lua) builds on.
M.parts = {Local = Local, remote_ep = remote_ep, new_ctx = new_ctx, fail = fail, cause_of = cause_of,
           copy_file = copy_file, copy_link = copy_link, spawn = spawn, finish_workers = finish_workers,
           mkdir_p = mkdir_p, with_cwd = with_cwd, remote_path = remote_path, local_path = local_path,
           join = join, dirname = dirname, basename = basename, strip_slashes = strip_slashes,
           check_options = check_options, progress_begin = progress_begin, progress_end = progress_end,
           temp_name = temp_name, done = done}

-- get_text(path) -> the file's content as a string.
function M.get_text(path)
  if type(path) ~= "string" then S.user_error("get_text: expected a path string, got " .. type(path)) end
  local sess = S.current_session()
  local ctx = new_ctx("get_text", sess, {})
  if sess == S.LOCAL then
    local p = with_cwd(sess, path, local_path)
    local a, err = Local.stat(p)
    if not a then fail(ctx, p, err) end
    if a.type == "dir" then fail(ctx, p, "is a folder") end
    local f, e = io.open(p, "rb")
    if not f then fail(ctx, p, cause_of(((e or ""):gsub("^.-: ", "")))) end
    local s = f:read("a")
    f:close()
    return s
  end
  local p = with_cwd(sess, path, remote_path)
  local a, e = sftp_call(sess.conn, "stat", {path = p})
  if not a then fail(ctx, p, e) end
  if a.type == "dir" then fail(ctx, p, "is a folder") end
  local v, err = sftp_call(sess.conn, "get", {path = p, timeout = time_left(ctx, p)})
  if not v then fail(ctx, p, err) end
  return v.data
end

return M
