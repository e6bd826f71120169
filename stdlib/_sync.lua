-- sync(src, dst [, opts]): makes dst on the current session a copy of the local file or
-- folder src, sending only what differs (size or mtime; SHA-256 with checksum = true, hashed on
-- the far side in one command). Modes and mtimes are kept; delete = true removes what src does
-- not have; dry_run = true reports the same changes and touches nothing; sudo = true writes as
-- root (stdlib/_asroot.lua). Each file lands whole or not at all (a temporary renamed into
-- place), so an interrupted sync leaves no partial file and the next one completes it.
-- Inside each() / -H the local tree is read (and hashed) once for all hosts.
local builtin, core = ...
-- The runtime's parts this module uses (stdlib/_results.lua, _contexts.lua, _quoting.lua), by
-- the names it had on _SSHS.
local S
do
  local contexts = builtin("_contexts")
  S = {user_error = builtin("_results").user_error, quote = builtin("_quoting").quote, builtin = builtin,
       state = contexts.state, current_session = contexts.current_session, LOCAL = contexts.LOCAL}
end
local F = S.builtin("_files").parts
local asroot = S.builtin("_asroot")
local M = {}
M.stats = {scans = 0, hash_runs = 0}   -- readings of local trees and hash commands (for tests)

local sync_options = {delete = "boolean", checksum = "boolean", dry_run = "boolean", sudo = "sudo",
                      owner = "name", group = "name", mode = "mode", progress = "boolean"}

-- Our own temporaries (".NAME.sshs-PID-N-RAND.tmp", ".NAME.sshs-root-PID.tmp"): never counted
-- as files of the destination, removed only by delete = true.
local function is_temp(name) return name:match("^%..*%.sshs%-[%w%-]+%.tmp$") ~= nil end

---------------------------------------------------------------------------- the local side

-- Reads the local tree under root: {type =, size =, mode =, mtime =} of root and entries
-- {rel =, type =, size =, mode =, mtime =, target =} (parents before their contents).
local function scan(root, fail)
  M.stats.scans = M.stats.scans + 1
  local ra, err = core.fs_stat(root, true)
  if not ra then fail(root, F.cause_of(err)) end
  local tree = {root = ra, entries = {}}
  if ra.type ~= "dir" then
    if ra.type ~= "file" then fail(root, "not a regular file or folder") end
    return tree
  end
  local function walk(dir, rel)
    local list, e = core.fs_list(dir)
    if not list then fail(dir, F.cause_of(e)) end
    table.sort(list, function(a, b) return a.name < b.name end)
    for _, it in ipairs(list) do
      local r = rel and (rel .. "/" .. it.name) or it.name
      local path = dir .. "/" .. it.name
      if it.type == "link" then
        it.target = core.fs_readlink(path)
        if not it.target then fail(path, "cannot read the link") end
      end
      if it.type == "file" or it.type == "dir" or it.type == "link" then
        it.rel = r
        tree.entries[#tree.entries + 1] = it
      end
      if it.type == "dir" then walk(path, r) end
    end
    sleep(0)                              -- other threads run between folders
  end
  walk(root, nil)
  return tree
end

-- SHA-256 of files (paths relative to dir) with sha256sum on sess, in one command;
-- runner(cmd, stdin) runs it. Returns {[rel] = hex}.
local function hashes(runner, dir, rels, fail)
  if #rels == 0 then return {} end
  M.stats.hash_runs = M.stats.hash_runs + 1
  local r = runner("cd -- " .. S.quote(dir) .. " && xargs -0 -r sha256sum -z --", table.concat(rels, "\0") .. "\0")
  if r.exitcode == 127 then fail(dir, "checksum = true needs sha256sum there (GNU coreutils)") end
  if not r.ok then fail(dir, "sha256sum failed: " .. (r.stderr:match("[^\n]+") or ("exit " .. tostring(r.exitcode)))) end
  local out = {}
  for rec in r.stdout:gmatch("([^%z]+)%z") do
    local hex, name = rec:match("^\\?(%x+) [ *](.*)$")
    if hex then out[name] = hex end
  end
  return out
end

-- A latch many threads can wait on (a core.event has one waiter).
local function latch()
  local l = {done = false, waiting = {}}
  function l.wait()
    if l.done then return end
    local ev = core.event()
    l.waiting[#l.waiting + 1] = ev
    ev:wait()
  end
  function l.set()
    l.done = true
    for _, ev in ipairs(l.waiting) do ev:set() end
    l.waiting = {}
  end
  return l
end

-- The local tree (and its hashes when asked), once per fleet run: every host thread of one
-- each() / -H shares st.fleet_shared, so hosts after the first reuse the first's reading.
local function local_tree(root, want_hashes, fail)
  local shared = S.state().fleet_shared
  local cache = shared and shared.sync
  if shared and not cache then cache = {}; shared.sync = cache end
  local entry = cache and cache[root]
  if not entry then
    entry = {ready = latch()}
    if cache then cache[root] = entry end
    local ok, tree = pcall(scan, root, fail)
    if ok then entry.tree = tree else entry.err = tree end
    entry.ready.set()
  else
    entry.ready.wait()
  end
  if entry.err then error(entry.err, 0) end
  if want_hashes and not entry.hashes then
    if entry.hashing then entry.hashing.wait()
    else
      entry.hashing = latch()
      local rels = {}
      if entry.tree.root.type == "dir" then
        for _, e in ipairs(entry.tree.entries) do if e.type == "file" then rels[#rels + 1] = e.rel end end
      end
      local ok, h = pcall(function()
        local function runner(cmd, stdin) return asroot.plain(S.LOCAL, cmd, stdin) end
        if entry.tree.root.type == "dir" then return hashes(runner, root, rels, fail) end
        local one = hashes(runner, F.dirname(root), {F.basename(root)}, fail)
        return {[""] = one[F.basename(root)]}
      end)
      if ok then entry.hashes = h else entry.hash_err = h end
      entry.hashing.set()
    end
    if entry.hash_err then error(entry.hash_err, 0) end
  end
  return entry.tree, entry.hashes
end

---------------------------------------------------------------------------- the plan

-- The destination as it is: {[rel] = attrs} for everything under the folders src also has
-- (rel "" is dst itself). One SFTP listing per folder.
local function remote_state(ep, dst, tree)
  local there = {}
  local top = ep.lstat(dst)
  there[""] = top
  if not top or top.type ~= "dir" or tree.root.type ~= "dir" then return there end
  local dirs = {""}
  local i = 1
  while i <= #dirs do
    local rel = dirs[i]
    local list = ep.list(rel == "" and dst or F.join(dst, rel))
    for _, e in ipairs(list or {}) do
      local r = rel == "" and e.name or (rel .. "/" .. e.name)
      there[r] = e
    end
    i = i + 1
    if i > #dirs then
      for _, e in ipairs(tree.entries) do
        if e.type == "dir" and there[e.rel] and there[e.rel].type == "dir" and not there[e.rel].listed then
          there[e.rel].listed = true
          dirs[#dirs + 1] = e.rel
        end
      end
    end
  end
  return there
end

local function perm(m) return m and (m & 4095) end

-- The changes that make dst like src: {op =, path =, why =, entry =} with op mkdir, send,
-- link, mode or delete.
local function plan(tree, there, opts, lhash, rhash)
  local changes, wanted = {}, {[""] = true}
  local function add(op, rel, why, e) changes[#changes + 1] = {op = op, path = rel, why = why, entry = e} end
  local function file_change(rel, e, t)
    if not t then return "new" end
    if t.type ~= "file" then return "type" end
    if t.size ~= e.size then return "size" end
    if opts.checksum then
      if lhash[rel] ~= rhash[rel] then return "checksum" end
    elseif t.mtime ~= e.mtime then
      return "mtime"
    end
    return nil
  end
  local function want_mode(e) return opts.mode or perm(e.mode) end
  if tree.root.type ~= "dir" then
    local t = there[""]
    local why = file_change("", tree.root, t)
    if why then add("send", "", why, tree.root)
    elseif not opts.sudo and perm(t.mode) ~= want_mode(tree.root) then add("mode", "", "mode", tree.root) end
    return changes
  end
  local top = there[""]
  if top and top.type ~= "dir" then add("delete", "", "type"); top = nil end
  if not top then add("mkdir", "", "new", tree.root) end
  for _, e in ipairs(tree.entries) do
    wanted[e.rel] = true
    local t = there[e.rel]
    if e.type == "dir" then
      if t and t.type ~= "dir" then add("delete", e.rel, "type"); t = nil end
      if not t then add("mkdir", e.rel, "new", e) end
    elseif e.type == "file" then
      if t and t.type == "dir" then add("delete", e.rel, "type"); t = nil end
      local why = file_change(e.rel, e, t)
      if why then add("send", e.rel, why, e)
      elseif not opts.sudo and perm(t.mode) ~= want_mode(e) then add("mode", e.rel, "mode", e) end
    else
      if t and t.type == "dir" then add("delete", e.rel, "type"); t = nil end
      if not t or t.type ~= "link" or t.target ~= e.target then add("link", e.rel, t and "changed" or "new", e) end
    end
  end
  -- What dst has and src does not (a removed folder goes whole, so nothing under it is listed).
  local extra = {}
  for rel in pairs(there) do
    if not wanted[rel] then
      local parent = rel:match("^(.*)/[^/]*$") or ""
      if wanted[parent] and (opts.delete or not is_temp(rel:match("[^/]*$"))) then extra[#extra + 1] = rel end
    end
  end
  table.sort(extra)
  if opts.delete then
    for _, rel in ipairs(extra) do table.insert(changes, 1, {op = "delete", path = rel, why = "extra"}) end
  end
  return changes
end

---------------------------------------------------------------------------- sync()

local function src_of(root, rel) return rel == "" and root or (root .. "/" .. rel) end
local function dst_of(d, rel) return rel == "" and d or F.join(d, rel) end

function M.sync(src, dst, opts)
  if type(src) ~= "string" or type(dst) ~= "string" then
    S.user_error("sync: expected (local path, destination path [, options])")
  end
  opts = F.check_options("sync", opts, sync_options)
  if (opts.owner or opts.group) and not opts.sudo then S.user_error("sync: owner and group need sudo = true") end
  local sess = S.current_session()
  local ctx = F.new_ctx("sync", sess, opts)
  local remote = sess ~= S.LOCAL
  local ep = remote and F.remote_ep(sess) or F.Local
  local root = F.strip_slashes(F.local_path(src))
  local d = F.strip_slashes(F.with_cwd(sess, dst, remote and F.remote_path or F.local_path))
  local function fail(path, cause) F.fail(ctx, path, cause) end
  local sudo = opts.sudo and asroot.sudo_of(sess, opts.sudo)

  local tree, lhash = local_tree(root, opts.checksum, fail)
  -- A file onto an existing folder lands inside it, as upload does.
  if tree.root.type ~= "dir" then
    local da = ep.stat(d)
    if da and da.type == "dir" then d = F.join(d, F.basename(root)) end
  end
  local there = remote_state(ep, d, tree)
  local rhash = {}
  if opts.checksum then
    local same = {}
    if tree.root.type == "dir" then
      for _, e in ipairs(tree.entries) do
        local t = there[e.rel]
        if e.type == "file" and t and t.type == "file" and t.size == e.size then same[#same + 1] = e.rel end
      end
      local function runner(cmd, stdin)
        if sudo then return asroot.as_root(sess, sudo, cmd, stdin) end
        return asroot.plain(sess, cmd, stdin)
      end
      rhash = hashes(runner, d, same, fail)
    elseif there[""] and there[""].type == "file" and there[""].size == tree.root.size then
      local function runner(cmd, stdin)
        if sudo then return asroot.as_root(sess, sudo, cmd, stdin) end
        return asroot.plain(sess, cmd, stdin)
      end
      rhash = {[""] = hashes(runner, F.dirname(d), {F.basename(d)}, fail)[F.basename(d)]}
    end
  end
  for _, e in ipairs(tree.entries) do       -- a listing gives a link's type, not its target
    local t = there[e.rel]
    if e.type == "link" and t and t.type == "link" then t.target = ep.readlink(dst_of(d, e.rel)) end
  end
  local changes = plan(tree, there, opts, lhash or {}, rhash)

  local summary = {sent = 0, skipped = 0, deleted = 0, bytes = 0, changes = {}, dry_run = opts.dry_run or false}
  local nfiles = tree.root.type == "dir" and 0 or 1
  for _, e in ipairs(tree.entries) do if e.type == "file" then nfiles = nfiles + 1 end end
  for _, c in ipairs(changes) do
    summary.changes[#summary.changes + 1] = {op = c.op, path = c.path == "" and d or F.join(d, c.path), why = c.why}
    if c.op == "send" then summary.sent = summary.sent + 1; summary.bytes = summary.bytes + (c.entry.size or 0)
    elseif c.op == "delete" then summary.deleted = summary.deleted + 1 end
  end
  summary.skipped = nfiles - summary.sent
  if not opts.dry_run and #changes > 0 then
    local apply = sudo and M.apply_as_root or M.apply
    apply(ctx, sess, ep, root, d, tree, changes, opts, sudo)
  end
  summary.seconds = core.clock() - ctx.t0
  return summary
end


-- Removes paths (relative to d) in one command: `rm -rf` of each, given on stdin.
local function remove_all(ctx, sess, d, rels, sudo)
  if #rels == 0 then return end
  local list = {}
  for _, rel in ipairs(rels) do list[#list + 1] = dst_of(d, rel) end
  local cmd = "xargs -0 -r rm -rf --"
  local r = sudo and asroot.as_root(sess, sudo, cmd, table.concat(list, "\0") .. "\0")
                  or asroot.plain(sess, cmd, table.concat(list, "\0") .. "\0")
  if not r.ok then F.fail(ctx, d, "cannot remove: " .. (r.stderr:match("[^\n]+") or ("exit " .. tostring(r.exitcode)))) end
end

-- As the login user: deletions, folders, links, modes, then the files (several at once, each
-- to a temporary renamed into place, mode and mtime kept), then the folders' modes.
function M.apply(ctx, sess, ep, root, d, tree, changes, opts)
  ctx.src, ctx.dst = F.Local, ep
  ctx.opts = {preserve = true, mode = opts.mode}
  local deletes, dirs = {}, {}
  for _, c in ipairs(changes) do if c.op == "delete" then deletes[#deletes + 1] = c.path end end
  remove_all(ctx, sess, d, deletes)
  F.progress_begin(ctx)
  local _ <close> = setmetatable({}, {__close = function() F.progress_end(ctx) end})
  local ok, err = pcall(function()
    for _, c in ipairs(changes) do
      local dp = dst_of(d, c.path)
      if c.op == "mkdir" then
        local fine, e = ep.mkdir(dp, 448)          -- 0700 until its contents are in
        if not fine then F.fail(ctx, dp, e) end
        dirs[#dirs + 1] = c
      elseif c.op == "link" then
        F.copy_link(ctx, src_of(root, c.path), dp, ep.lstat(dp))
      elseif c.op == "mode" then
        local fine, e = ep.setstat(dp, {mode = opts.mode or perm(c.entry.mode)})
        if not fine then F.fail(ctx, dp, e) end
      elseif c.op == "send" then
        local sp, e = src_of(root, c.path), c.entry
        F.spawn(ctx, function() F.copy_file(ctx, sp, e, dp, nil) end)
      end
    end
  end)
  F.finish_workers(ctx)
  if not ok then error(err, 0) end
  for i = #dirs, 1, -1 do
    local c = dirs[i]
    local fine, e = ep.setstat(dst_of(d, c.path), {mode = perm(c.entry.mode)})
    if not fine then F.fail(ctx, dst_of(d, c.path), e) end
  end
end

-- As root: the files go as the login user into a private folder, then one sudo command makes
-- the folders, removes what goes, installs every file (mode, owner, group, mtime) and makes
-- the links.
function M.apply_as_root(ctx, sess, ep, root, d, tree, changes, opts, sudo)
  local deletes, items, mkdirs, links = {}, {}, {}, {}
  for _, c in ipairs(changes) do
    if c.op == "delete" then deletes[#deletes + 1] = c.path
    elseif c.op == "mkdir" then mkdirs[#mkdirs + 1] = c
    elseif c.op == "link" then links[#links + 1] = c end
  end
  remove_all(ctx, sess, d, deletes, sudo)
  if #mkdirs > 0 or #links > 0 then
    local parts = {"set -e"}
    for _, c in ipairs(mkdirs) do
      parts[#parts + 1] = "install -d -m " .. string.format("%o", perm(c.entry.mode) or 493) ..
        (opts.owner and (" -o " .. S.quote(tostring(opts.owner))) or "") ..
        (opts.group and (" -g " .. S.quote(tostring(opts.group))) or "") .. " -- " .. S.quote(dst_of(d, c.path))
    end
    for _, c in ipairs(links) do
      parts[#parts + 1] = "ln -sfn -- " .. S.quote(c.entry.target) .. " " .. S.quote(dst_of(d, c.path))
    end
    local r = asroot.as_root(sess, sudo, table.concat(parts, "\n"))
    if not r.ok then F.fail(ctx, d, "as " .. sudo.user .. " through sudo: " .. (r.stderr:match("[^\n]+") or ("exit " .. tostring(r.exitcode)))) end
  end
  local sends = {}
  for _, c in ipairs(changes) do if c.op == "send" then sends[#sends + 1] = c end end
  if #sends == 0 then return end
  local dir = asroot.private_dir(sess, function(cause) F.fail(ctx, d, cause) end)
  local _ <close> = setmetatable({}, {__close = function() asroot.remove_dir(sess, dir) end})
  ctx.src, ctx.dst = F.Local, ep
  ctx.opts = {preserve = true}
  F.progress_begin(ctx)
  local _p <close> = setmetatable({}, {__close = function() F.progress_end(ctx) end})
  local ok, err = pcall(function()
    for i, c in ipairs(sends) do
      local tmp = dir .. "/" .. i
      items[i] = {src = tmp, dst = dst_of(d, c.path), mode = opts.mode or perm(c.entry.mode),
                  owner = opts.owner and tostring(opts.owner), group = opts.group and tostring(opts.group),
                  mtime = c.entry.mtime}
      F.spawn(ctx, function() F.copy_file(ctx, src_of(root, c.path), c.entry, tmp, nil) end)
    end
  end)
  F.finish_workers(ctx)
  if not ok then error(err, 0) end
  local fine, why = asroot.install(sess, sudo, items)
  if not fine then F.fail(ctx, d, why) end
end

return M
