-- Files as root (upload / put_text / sync with sudo = true): each file is first written as the
-- login user into a private temporary folder (mktemp -d: mode 0700), then ONE sudo command
-- installs every file beside its destination and renames it into place (whole or not at
-- all), and the private folder is removed. sudo runs through the prelude's own handling
-- (S.shell_command): a password, when one is given, goes only to sudo's prompt.
local builtin = ...
-- The runtime's parts this module uses (stdlib/_results.lua, _contexts.lua, _quoting.lua,
-- _commands.lua), by the names it had on _SSHS.
local S
do
  local contexts, commands = builtin("_contexts"), builtin("_commands")
  S = {user_error = builtin("_results").user_error, quote = builtin("_quoting").quote,
       state = contexts.state, effective = contexts.effective,
       run_on = commands.run_on, shell_command = commands.shell_command}
end
local M = {}

-- The sudo context for opts.sudo: true (the thread's `with sudo{}` on this session, else root
-- without a password) or a table {user =, password =} as sudo{} takes.
function M.sudo_of(sess, v)
  if type(v) == "table" then
    if v.user ~= nil and type(v.user) ~= "string" then S.user_error("sudo: user must be a string") end
    return {user = v.user or "root", password = v.password}
  end
  local ctx = S.effective(S.state(), sess).sudo
  return ctx or {user = "root"}
end

-- Runs cmd on sess as the login user, quietly, outside the thread's cd/env/sudo blocks.
local function plain(sess, cmd, stdin)
  return S.run_on(sess, cmd, {check = false, sudo = false, cwd = false, env = false, stdin = stdin})
end
M.plain = plain

-- Runs cmd under sudo (the password, if any, only to sudo's prompt).
local function as_root(sess, sudo, cmd, stdin)
  return S.run_on(sess, cmd, {check = false, sudo = sudo, cwd = false, env = false, stdin = stdin})
end
M.as_root = as_root

-- A new private folder on sess; returns its path. fail(cause) raises.
function M.private_dir(sess, fail)
  local r = plain(sess, 'mktemp -d "${TMPDIR:-/tmp}/sshs-root.XXXXXXXXXX"')
  local dir = r.stdout:match("^(/[^\n]+)\n?$")
  if not r.ok or not dir then fail("cannot make a private temporary folder: " .. (r.stderr:match("[^\n]+") or "mktemp failed")) end
  return dir
end

function M.remove_dir(sess, dir)
  pcall(plain, sess, "rm -rf -- " .. S.quote(dir))
end

-- The script run as root (POSIX sh; stat -c, touch -d @ and install as in GNU coreutils): for
-- each record of seven lines "SRC DST MODE OWNER GROUP MTIME DEFMODE" on stdin, install SRC at
-- a temporary beside DST (mode, owner, group; an existing DST's when not given, else DEFMODE /
-- the sudo user), set its mtime, rename it over DST. A failure stops the script and removes
-- that temporary; the files before it are in place, each whole.
local INSTALL = [=[
set -u
status=0
while IFS= read -r src && IFS= read -r dst && IFS= read -r mode && IFS= read -r owner &&
      IFS= read -r group && IFS= read -r mtime && IFS= read -r defmode; do
  [ "$status" = 0 ] || continue
  dir=$(dirname -- "$dst"); base=$(basename -- "$dst")
  tmp="$dir/.$base.sshs-root-$$.tmp"
  if [ -e "$dst" ] || [ -L "$dst" ]; then
    [ -n "$mode" ] || mode=$(stat -c %a -- "$dst")
    [ -n "$owner" ] || owner=$(stat -c %u -- "$dst")
    [ -n "$group" ] || group=$(stat -c %g -- "$dst")
  fi
  set -- -m "${mode:-${defmode:-644}}"
  [ -z "$owner" ] || set -- "$@" -o "$owner"
  [ -z "$group" ] || set -- "$@" -g "$group"
  if install "$@" -- "$src" "$tmp" && { [ -z "$mtime" ] || touch -m -d "@$mtime" -- "$tmp"; } &&
     mv -f -- "$tmp" "$dst"; then
    :
  else
    rm -f -- "$tmp"
    echo "sshs: cannot install $dst" >&2
    status=1
  fi
done
exit "$status"
]=]

local INSTALL_CMD = "sh -c " .. S.quote(INSTALL)

-- Installs items ({src =, dst =, mode =, owner =, group =, mtime =, default_mode =}) as root
-- in one command.
-- Returns true, or nil and the cause (sudo's or install's words).
function M.install(sess, sudo, items)
  local recs = {}
  for _, it in ipairs(items) do
    for _, v in ipairs{it.src, it.dst, it.mode and string.format("%o", it.mode) or "", it.owner or "",
                       it.group or "", it.mtime and tostring(it.mtime) or "",
                       it.default_mode and string.format("%o", it.default_mode) or ""} do
      if v:find("[%z\n]") then return nil, "a newline in a path is not supported with sudo: " .. it.dst end
      recs[#recs + 1] = v .. "\n"
    end
  end
  local r = as_root(sess, sudo, INSTALL_CMD, table.concat(recs))
  if r.ok then return true end
  local why = (r.stderr or ""):gsub("%s+$", "")
  if why == "" then why = "exit " .. tostring(r.exitcode) end
  return nil, "as " .. sudo.user .. " through sudo: " .. why
end

return M
