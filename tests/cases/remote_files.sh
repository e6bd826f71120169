#!/usr/bin/env bash
# File transfer (SPEC §4): upload/download/put_text/get_text over SFTP and on the local
# session: byte-exact round trips, names, folders, modes and times, links, every error, the
# temporary + rename guarantee (errors, timeouts, Ctrl-C, a killed server), fan-out.
# The test server runs on this machine, so "remote" paths are checked directly.
source "$TESTROOT/remote_lib.sh"
plan 150

D=$TMP/data
mkdir -p "$D/src" "$D/remote" "$D/back"
for n in 0 1 29999 30000 30001; do head -c "$n" /dev/urandom > "$D/src/f$n"; done
head -c $((64 * 1024 * 1024)) /dev/urandom > "$D/src/big64"
printf 'space' > "$D/src/with space.txt"
printf 'quote' > "$D/src/it's \"q\".txt"
printf 'utf8' > "$D/src/héllo wörld ✓.txt"
export D

# ---------------------------------------------------------------------------------------------
script roundtrip.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local function same(a, b) return T.sh("cmp " .. S_q(a) .. " " .. S_q(b) .. " && echo same"):find("same") ~= nil end
function S_q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local s = connect("127.0.0.1")
for _, n in ipairs{"f0", "f1", "f29999", "f30000", "f30001", "big64", "with space.txt", "it's \"q\".txt", "héllo wörld ✓.txt"} do
  local up = upload(D .. "/src/" .. n, D .. "/remote/")
  T.eq("upload " .. n .. ": summary counts one file", up.files, 1)
  T.eq("upload " .. n .. ": summary bytes", up.bytes, #T.read(D .. "/src/" .. n))
  T.ok("upload " .. n .. ": into a folder keeps its name, byte-exact", same(D .. "/src/" .. n, D .. "/remote/" .. n))
  local down = download(D .. "/remote/" .. n, D .. "/back/" .. n)
  T.ok("download " .. n .. ": byte-exact", same(D .. "/src/" .. n, D .. "/back/" .. n))
  T.ok("download " .. n .. ": summary has seconds", type(down.seconds) == "number" and down.seconds >= 0)
end
T.eq("no temporary left in the remote folder", T.sh("ls -A " .. D .. "/remote | grep -c sshs- || true"), "0\n")
T.eq("no temporary left in the local folder", T.sh("ls -A " .. D .. "/back | grep -c sshs- || true"), "0\n")

-- put_text / get_text: no local file involved, any bytes.
local blob = "line1\n\0binary\255\r\n" .. string.rep("x", 70000)
put_text(D .. "/remote/text.bin", blob)
T.eq("put_text writes exactly the string", T.read(D .. "/remote/text.bin"), blob)
T.eq("get_text reads it back", get_text(D .. "/remote/text.bin"), blob)
put_text(D .. "/remote/empty", "")
T.eq("put_text of an empty string makes an empty file", T.read(D .. "/remote/empty"), "")
T.eq("get_text of an empty file", get_text(D .. "/remote/empty"), "")
put_text(D .. "/remote/text.bin", "replaced")
T.eq("put_text replaces an existing file", get_text(D .. "/remote/text.bin"), "replaced")
local r = put_text(D .. "/remote/mode.txt", "m", {mode = "0640"})
T.eq("put_text{mode = \"0640\"}", T.sh("stat -c %a " .. D .. "/remote/mode.txt"), "640\n")
T.eq("put_text returns a summary", r.files .. "/" .. r.bytes, "1/1")
put_text("sshs-files-home-test.txt", "in home")
T.eq("relative remote paths are in the remote home", T.read(T.env("SSHS_TEST_HOME") .. "/sshs-files-home-test.txt") or T.read(T.sh("getent passwd " .. T.user .. " | cut -d: -f6"):gsub("\n", "") .. "/sshs-files-home-test.txt"), "in home")
T.eq("~/ paths too", get_text("~/sshs-files-home-test.txt"), "in home")
run("rm -f ~/sshs-files-home-test.txt")
with cd(D .. "/remote") do
  put_text("in-cd.txt", "cd")
  T.eq("cd() applies to relative remote paths", T.read(D .. "/remote/in-cd.txt"), "cd")
end

-- A new name, and a destination ending in / with mkdir.
upload(D .. "/src/f1", D .. "/remote/renamed.bin")
T.ok("upload to a new file name", same(D .. "/src/f1", D .. "/remote/renamed.bin"))
upload(D .. "/src/f1", D .. "/remote/new/deeper/", {mkdir = true})
T.ok("mkdir = true creates the folder a trailing / names", same(D .. "/src/f1", D .. "/remote/new/deeper/f1"))
upload(D .. "/src/f1", D .. "/remote/p1/p2/named.bin", {mkdir = true})
T.ok("mkdir = true creates missing parents", same(D .. "/src/f1", D .. "/remote/p1/p2/named.bin"))
download(D .. "/remote/f1", D .. "/back/made/here/", {mkdir = true})
T.ok("download with mkdir", same(D .. "/src/f1", D .. "/back/made/here/f1"))
close()
EOF
lua_checks roundtrip.sshs

# ---------------------------------------------------------------------------------------------
# Modes, times, what an overwrite keeps.
touch -d '2020-01-02 03:04:05' "$D/src/f30000"; chmod 0751 "$D/src/f30000"
script modes.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local function mode(p) return T.sh("stat -c %a '" .. p .. "'"):gsub("\n", "") end
local function mtime(p) return T.sh("stat -c %Y '" .. p .. "'"):gsub("\n", "") end
with connect("127.0.0.1") do
  upload(D .. "/src/f30000", D .. "/remote/pres", {preserve = true})
  T.eq("preserve keeps the mode", mode(D .. "/remote/pres"), "751")
  T.eq("preserve keeps the mtime", mtime(D .. "/remote/pres"), mtime(D .. "/src/f30000"))
  download(D .. "/remote/pres", D .. "/back/pres", {preserve = true})
  T.eq("download preserve: mode", mode(D .. "/back/pres"), "751")
  T.eq("download preserve: mtime", mtime(D .. "/back/pres"), mtime(D .. "/src/f30000"))
  upload(D .. "/src/f30000", D .. "/remote/plain")
  T.ok("without preserve the mtime is new", mtime(D .. "/remote/plain") ~= mtime(D .. "/src/f30000"))
  upload(D .. "/src/f1", D .. "/remote/m600", {mode = "600"})
  T.eq("mode = \"600\"", mode(D .. "/remote/m600"), "600")
  upload(D .. "/src/f1", D .. "/remote/m600")
  T.eq("overwriting keeps the existing file's mode (as cp does)", mode(D .. "/remote/m600"), "600")
  upload(D .. "/src/f1", D .. "/remote/m420", {mode = 420})
  T.eq("mode as a number (420 = 0644)", mode(D .. "/remote/m420"), "644")
  local ok, msg = pcall(upload, D .. "/src/f1", D .. "/remote/x", {mode = "999"}); local line = debug.getinfo(1, "l").currentline
  T.has("a bad mode is refused at the caller's line", msg, arg[0] .. ":" .. line .. ": upload: mode must be octal")
  T.like("unknown options are named", T.fails(upload, D .. "/src/f1", D .. "/remote/x", {recurse = true}), "unknown option 'recurse'")
end
EOF
lua_checks modes.sshs

# ---------------------------------------------------------------------------------------------
# Trees: 1000 small files, links, special files, names.
mkdir -p "$D/tree/a/b" "$D/tree/empty"
for i in $(seq 1 1000); do printf 'file %d\n' "$i" > "$D/tree/a/b/s$i.txt"; done
printf 'top' > "$D/tree/top file.txt"
ln -s "top file.txt" "$D/tree/link-to-top"
ln -s /nonexistent/target "$D/tree/dangling"
mkfifo "$D/tree/a/fifo"
chmod 0700 "$D/tree/a"
script tree.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
with connect("127.0.0.1") do
  local m = T.fails(upload, D .. "/tree", D .. "/remote/")
  T.like("a folder without recursive is an error", m, "upload failed on .*: " .. D:gsub("%p", "%%%0") .. "/tree: is a folder %(recursive = true copies it%)")
  local up = upload(D .. "/tree", D .. "/remote/", {recursive = true, preserve = true})
  T.eq("recursive upload counts the files", up.files, 1001)
  T.eq("links are counted as links", up.links, 2)
  T.eq("the fifo is skipped", up.skipped, 1)
  T.eq("the tree arrives whole (diff -r, links as links)", T.sh("diff -r --no-dereference " .. D .. "/tree " .. D .. "/remote/tree 2>&1 | grep -v fifo; echo end"), "end\n")
  T.eq("a link stays a link", T.sh("readlink " .. D .. "/remote/tree/link-to-top"), "top file.txt\n")
  T.eq("a dangling link is copied as it is", T.sh("readlink " .. D .. "/remote/tree/dangling"), "/nonexistent/target\n")
  T.eq("preserve keeps a folder's mode", T.sh("stat -c %a " .. D .. "/remote/tree/a"), "700\n")
  T.eq("empty folders are copied", T.sh("test -d " .. D .. "/remote/tree/empty && echo yes"), "yes\n")
  local down = download(D .. "/remote/tree", D .. "/back/", {recursive = true})
  T.eq("recursive download counts the files", down.files, 1001)
  T.eq("the tree comes back whole", T.sh("diff -r --no-dereference " .. D .. "/tree " .. D .. "/back/tree 2>&1 | grep -v fifo; echo end"), "end\n")
  local again = upload(D .. "/tree", D .. "/remote/", {recursive = true})
  T.eq("copying onto an existing tree replaces its files", again.files, 1001)
  T.eq("…and leaves no temporary anywhere", T.sh("find " .. D .. "/remote " .. D .. "/back -name '*.sshs-*' | wc -l"), "0\n")
end
EOF
lua_checks tree.sshs

# ---------------------------------------------------------------------------------------------
# Errors: host, path and cause at the script's line; nothing half-written.
PUSER=sshs_files$$
if useradd -M -d /tmp -s /bin/sh -p '*' "$PUSER" 2>/dev/null; then CLEANUP+=("userdel $PUSER"); fi
export PUSER
mkdir -p "$D/rootonly" && chmod 0755 "$D/rootonly" && chmod 0755 "$D" "$TMP"
mkdir -p "$D/full"
FULL_OK=0
if mount -t tmpfs -o size=1m tmpfs "$D/full" 2>/dev/null; then FULL_OK=1; CLEANUP+=("umount $D/full"); fi
export FULL_OK
script errors.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local host = T.user .. "@127.0.0.1"
-- err(fn, ...) -> message, error, "FILE:LINE: " of the caller's line (the error must name
-- the line of the call: pcall from here, so no Lua frame lies between).
local function err(fn, ...)
  local line = debug.getinfo(2, "l").currentline
  local ok, e = pcall(fn, ...)
  if ok then return nil end
  return T.msg(e):gsub("^[^:]*:%d+: ", arg[0] .. ":" .. line .. ": ", 1), e, arg[0] .. ":" .. line .. ": ", T.msg(e)
end
with connect("127.0.0.1") do
  local ok1, e1 = pcall(upload, D .. "/src/nope", D .. "/remote/"); local line1 = debug.getinfo(1, "l").currentline
  T.eq("the error names the script's file and line", T.msg(e1):match("^[^:]*:%d+"), arg[0] .. ":" .. line1)
  local ok2, e2 = pcall(function() download(D .. "/remote/nope", D .. "/back/") end); local line2 = debug.getinfo(1, "l").currentline
  T.eq("…also from inside a function", T.msg(e2):match("^[^:]*:%d+"), arg[0] .. ":" .. line2)
  local m, e, at = err(upload, D .. "/src/nope", D .. "/remote/")
  T.eq("missing local source", m, at .. "upload failed on " .. host .. ": " .. D .. "/src/nope: no such file or directory")
  T.ok("the error is a table naming host, path, cause", type(e) == "table" and e.host == host and e.path == D .. "/src/nope" and e.cause == "no such file or directory")
  m, e, at = err(download, D .. "/remote/nope", D .. "/back/")
  T.eq("missing remote source", m, at .. "download failed on " .. host .. ": " .. D .. "/remote/nope: no such file or directory")
  m, e, at = err(upload, D .. "/src/f1", D .. "/remote/missing/dir/")
  T.eq("missing remote folder without mkdir", m, at .. "upload failed on " .. host .. ": " .. D .. "/remote/missing/dir: no such folder (mkdir = true creates it)")
  m, e, at = err(upload, D .. "/src/f1", D .. "/remote/missing2/name")
  T.eq("missing parent without mkdir", m, at .. "upload failed on " .. host .. ": " .. D .. "/remote/missing2: no such folder (mkdir = true creates it)")
  m = err(upload, D .. "/src/f1", D .. "/remote/f1/")
  T.has("a file where a folder is needed (trailing /)", m, D .. "/remote/f1: not a folder")
  m = err(upload, D .. "/src/f1", D .. "/remote/f1/x")
  T.has("a file where a parent folder is needed", m, D .. "/remote/f1: not a folder")
  m = err(upload, D .. "/tree", D .. "/remote/f1", {recursive = true})
  T.has("a tree onto a file", m, D .. "/remote/f1: is a file where a folder is needed")
  m = err(download, D .. "/remote/tree", D .. "/back/x")
  T.has("a remote folder without recursive", m, "is a folder (recursive = true copies it)")
  m = err(get_text, D .. "/remote/tree")
  T.has("get_text of a folder", m, "get_text failed on " .. host .. ": " .. D .. "/remote/tree: is a folder")
  m = err(get_text, D .. "/remote/nope")
  T.has("get_text of a missing file", m, D .. "/remote/nope: no such file or directory")
  m = err(put_text, D .. "/remote/nodir/x", "t")
  T.has("put_text into a missing folder", m, "no such folder (mkdir = true creates it)")
  m = err(upload, D .. "/src/f1", "/sys/")
  T.like("a folder the server may not write in: permission denied", m, "upload failed on " .. host .. ": /sys/f1: permission denied")
  m = err(download, "/proc/self/mem", D .. "/back/mem")
  T.ok("a read error names the remote path", m and m:find("/proc/self/mem: ", 1, true), m)
  T.eq("…and leaves no local file", T.read(D .. "/back/mem"), nil)
  T.eq("…nor a temporary", T.sh("ls -A " .. D .. "/back | grep -c sshs- || true"), "0\n")
  if os.getenv("FULL_OK") == "1" then
    local big = D .. "/src/big64"
    m = err(upload, big, D .. "/full/")
    T.like("disk full names the cause", m, "upload failed on " .. host .. ": " .. D:gsub("%p", "%%%0") .. "/full/big64: .*disk full")
    T.eq("disk full leaves nothing behind", T.sh("ls -A " .. D .. "/full | wc -l"), "0\n")
  else
    print("ok - disk full names the cause # SKIP cannot mount a small tmpfs here")
    print("ok - disk full leaves nothing behind # SKIP cannot mount a small tmpfs here")
  end
  -- Local side errors in a download.
  m = err(download, D .. "/remote/f1", "/proc/")
  T.has("a local folder we cannot write", m, "download failed on " .. host .. ": /proc/f1: ")
end
EOF
lua_checks errors.sshs

# As a user without rights on the folder (a private sshd whose authorized_keys the user can read).
if id "$PUSER" > /dev/null 2>&1 && start_sshd "$TMP/usshd"; then
  chmod a+rx "$TMP/usshd" && chmod a+r "$TMP/usshd/authorized_keys"
  export X_PORT X_KEY X_KNOWN_HOSTS
  script perm.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local user = os.getenv("PUSER")
local s = connect(user .. "@127.0.0.1", {port = tonumber(os.getenv("X_PORT")), key = os.getenv("X_KEY"),
                                         known_hosts = os.getenv("X_KNOWN_HOSTS")})
local m = T.fails(upload, D .. "/src/f1", D .. "/rootonly/")
T.eq("permission denied for a user", m and m:gsub("^[^:]*:%d+: ", ""), "upload failed on " .. user .. "@127.0.0.1: " .. D .. "/rootonly/f1: permission denied")
T.eq("…and nothing written", T.sh("ls -A " .. D .. "/rootonly | wc -l"), "0\n")
m = T.fails(download, "/etc/shadow", D .. "/back/shadow")
T.has("reading a file the user may not read", m, "/etc/shadow: permission denied")
m = T.fails(put_text, D .. "/rootonly/x.txt", "no")
T.has("put_text where the user may not write", m, D .. "/rootonly/x.txt: permission denied")
s:close()
EOF
  lua_checks perm.sshs
else
  not_ok "a throwaway user $PUSER and a private sshd for the permission checks"
fi

# ---------------------------------------------------------------------------------------------
# The local session: the same calls make plain copies, same guarantees.
script local.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local up = upload(D .. "/src/big64", D .. "/back/localcopy/", {mkdir = true})
T.eq("local upload copies byte-exact", T.sh("cmp " .. D .. "/src/big64 " .. D .. "/back/localcopy/big64 && echo same"), "same\n")
T.eq("local summary bytes", up.bytes, 64 * 1024 * 1024)
local t = download(D .. "/tree", D .. "/back/localtree", {recursive = true})
T.eq("local recursive copy", t.files, 1001)
T.eq("local tree whole", T.sh("diff -r --no-dereference " .. D .. "/tree " .. D .. "/back/localtree 2>&1 | grep -v fifo; echo end"), "end\n")
put_text(D .. "/back/lt.txt", "local text", {mode = "0600"})
T.eq("local put_text/get_text", get_text(D .. "/back/lt.txt"), "local text")
T.eq("local put_text mode", T.sh("stat -c %a " .. D .. "/back/lt.txt"), "600\n")
local m = T.fails(upload, D .. "/src/nope", D .. "/back/")
T.like("local errors name the host 'local'", m, "upload failed on local: .*/src/nope: no such file or directory")
m = T.fails(upload, D .. "/src/f1", "/proc/")
T.has("local write errors", m, "upload failed on local: /proc/f1")
T.eq("no temporaries", T.sh("find " .. D .. "/back -name '*.sshs-*' | wc -l"), "0\n")
EOF
lua_checks local.sshs

# ---------------------------------------------------------------------------------------------
# Threads share one connection's SFTP channel; transfers overlap with commands.
script threads.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
with connect("127.0.0.1") do
  local hs = {}
  for i = 1, 6 do
    hs[i] = thread(function()
      upload(D .. "/src/f30001", D .. "/remote/t" .. i)
      download(D .. "/remote/t" .. i, D .. "/back/t" .. i)
      local x = get_text(D .. "/remote/t" .. i)
      return #x == 30001 and T.sh("cmp " .. D .. "/src/f30001 " .. D .. "/back/t" .. i .. " && echo same") == "same\n"
    end)
  end
  local cmds = thread(function() local n = 0; for _ = 1, 10 do n = n + #$(echo hi) end; return n end)
  local good, bad = T.join_all(hs, function() return true end)
  T.eq("6 threads transfer on one connection at once", good, 6)
  T.eq("commands run meanwhile", cmds:join(), 20)
  local r = run("ls /proc/$PPID/task | wc -l")
  T.ok("one SFTP channel: the connection still runs commands", r.ok)
end
EOF
lua_checks threads.sshs

# ---------------------------------------------------------------------------------------------
# Timeouts and Ctrl-C stop a transfer and remove its temporary.
script timeout.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
with connect("127.0.0.1") do
  local m
  with timeout(0.05) do
    m = T.fails(upload, D .. "/src/big64", D .. "/remote/timed")
  end
  T.like("a transfer past timeout() fails", m, "upload failed on .*/remote/timed: timed out after 0.05s")
  T.eq("…and leaves no file and no temporary", T.sh("ls -A " .. D .. "/remote | grep -c timed || true"), "0\n")
  with timeout(0.05) do
    m = T.fails(download, D .. "/remote/big64", D .. "/back/timed")
  end
  T.like("a download past timeout() fails", m, "timed out after 0.05s")
  T.eq("…and leaves nothing locally", T.sh("ls -A " .. D .. "/back | grep -c timed || true"), "0\n")
end
EOF
lua_checks timeout.sshs

# Ctrl-C during an upload: the temporary on the server is removed before sshs exits.
script sigint.sshs <<'EOF'
local D = os.getenv("D")
connect("127.0.0.1")
io.stdout:write("started\n"); io.stdout:flush()
for i = 1, 20 do upload(D .. "/src/big64", D .. "/remote/int" .. i) end
EOF
rm -f "$D"/remote/int*
HOME=$SSHS_TEST_HOME "$SSHS" "$TMP/sigint.sshs" > "$TMP/int.out" 2> "$TMP/int.err" &
pid=$!
for _ in $(seq 1 200); do ls -A "$D/remote" | grep -q '^\.int.*sshs-' && break; sleep 0.05; done
if ls -A "$D/remote" | grep -q '^\.int.*sshs-'; then ok "a temporary appears while uploading"; else not_ok "a temporary appears while uploading" "$(ls -A "$D/remote")"; fi
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" != 0 ] && ok "Ctrl-C stops the script (exit $rc)" || not_ok "Ctrl-C stops the script" "rc=$rc"
left=$(ls -A "$D/remote" | grep -c '\.sshs-' || true)
[ "$left" = 0 ] && ok "Ctrl-C removes the temporary on the server" || not_ok "Ctrl-C removes the temporary on the server" "$(ls -A "$D/remote")"
grep -q interrupted "$TMP/int.err" && ok "Ctrl-C is reported as interrupted" || not_ok "Ctrl-C is reported as interrupted" "$(cat "$TMP/int.err")"

# A dead connection (the sshd session process killed mid-copy): the copy fails and no
# partial file appears at the destination; a download's local temporary is removed too.
script killed.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local function kill_my_sshd()
  -- every sshd process at the other end of one of our connections to the test port
  local killed = 0
  for line in T.sh("ss -Htnp state established '( dport = :" .. T.port .. " )'"):gmatch("[^\n]+") do
    if line:find("pid=" .. T.pid .. ",", 1, true) then
      local lport = line:match("^%S+%s+%S+%s+%S+:(%d+)%s")
      if lport then
        for l2 in T.sh("ss -Htnp state established '( sport = :" .. T.port .. " and dport = :" .. lport .. " )'"):gmatch("[^\n]+") do
          local spid = l2:match("pid=(%d+),")
          if spid then T.sh("kill -9 " .. spid); killed = killed + 1 end
        end
      end
    end
  end
  return killed > 0
end
for _, dir in ipairs{"up", "down"} do
  local s = connect("127.0.0.1")
  local watcher = thread(function()
    local seen = T.wait_for(function()
      local where = dir == "up" and D .. "/remote" or D .. "/back"
      return T.sh("ls -A " .. where .. " | grep -c '^\\.killed.*sshs-' || true") ~= "0\n"
    end, 20)
    return seen and kill_my_sshd()
  end)
  local m
  if dir == "up" then m = T.fails(upload, D .. "/src/big64", D .. "/remote/killed" .. dir)
  else m = T.fails(download, D .. "/remote/big64", D .. "/back/killed" .. dir) end
  T.ok(dir .. ": the sshd session was killed mid-copy", watcher:join())
  T.like(dir .. ": the copy fails naming the lost connection", m, "failed on .*connection")
  T.eq(dir .. ": no partial file at the destination", T.read((dir == "up" and D .. "/remote/" or D .. "/back/") .. "killed" .. dir), nil)
  if dir == "down" then
    T.eq("down: the local temporary is removed", T.sh("ls -A " .. D .. "/back | grep -c sshs- || true"), "0\n")
  end
  s:close()
end
EOF
LIMIT=60 lua_checks killed.sshs
rm -f "$D"/remote/.killed*

# ---------------------------------------------------------------------------------------------
# Fan-out: 20 hosts at once; downloads get a per-host name.
script fanout.sshs <<'EOF'
local T = require "t"
local D = os.getenv("D")
local hosts = "127.0.0.[1-20]"
local out = each(hosts, function(h)
  upload(D .. "/src/f30001", D .. "/remote/fan-" .. h)
  put_text(D .. "/remote/fan-" .. h .. ".txt", "I am " .. h)
  return download(D .. "/remote/fan-" .. h .. ".txt", D .. "/back/fan/", {mkdir = true}).files
end)
local ok = 0
for h, o in pairs(out) do if o.ok and o.value == 1 then ok = ok + 1 end end
T.eq("20 hosts upload and download at once", ok, 20)
local same = 0
for i = 1, 20 do
  local h = "127.0.0." .. i
  if T.read(D .. "/back/fan/fan-" .. h .. ".txt." .. h) == "I am " .. h and T.read(D .. "/remote/fan-" .. h) == T.read(D .. "/src/f30001") then same = same + 1 end
end
T.eq("each host's download got the host's name as suffix", same, 20)
local out2 = each("127.0.0.[1-3]", function(h)
  return download(D .. "/remote/fan-127.0.0.1.txt", D .. "/back/one.txt").files
end)
T.eq("the same destination from 3 hosts: 3 files, none overwritten",
  T.sh("ls " .. D .. "/back/ | grep -c '^one.txt.127.0.0.[123]$'"), "3\n")
each("127.0.0.[1-2]", function(h)
  download(D .. "/remote/fan-127.0.0.1.txt", D .. "/back/mine-" .. h .. ".txt", {per_host = false})
end)
T.eq("per_host = false keeps the name as given", T.read(D .. "/back/mine-127.0.0.2.txt"), "I am 127.0.0.1")
-- 20 writers to one name at once (the test hosts are one machine): each lands whole.
local same_name = each(hosts, function(h) return upload(D .. "/src/f30001", D .. "/remote/shared.bin").files end)
local n_ok = 0
for _, o in pairs(same_name) do if o.ok then n_ok = n_ok + 1 end end
T.ok("20 uploads racing for one name all succeed, the file is whole, no temporaries left",
  n_ok == 20 and T.read(D .. "/remote/shared.bin") == T.read(D .. "/src/f30001")
  and T.sh("ls -A " .. D .. "/remote | grep -c 'shared.bin.*sshs-' || true") == "0\n", n_ok)
EOF
lua_checks fanout.sshs

# -H: one file per host, and transfer failures counted in the summary and --json.
mkdir -p "$D/hout"
cd "$D/hout" || exit 1
HOME=$SSHS_TEST_HOME timeout 60 "$SSHS" -H '127.0.0.[1-5]' -e "download('$D/remote/fan-127.0.0.1.txt', 'got/', {mkdir = true})" > "$TMP/h.out" 2> "$TMP/h.err"; rc=$?
n=$(ls got 2>/dev/null | grep -c '^fan-127.0.0.1.txt.127.0.0.[1-5]$')
[ "$rc" = 0 ] && [ "$n" = 5 ] && ok "-H download: one file per host ($n)" || not_ok "-H download: one file per host" "rc=$rc n=$n $(cat "$TMP/h.err")"
HOME=$SSHS_TEST_HOME timeout 60 "$SSHS" -H '127.0.0.[1-4]' -e "if \$(echo \$SSH_CONNECTION | cut -d' ' -f3) ~= '127.0.0.2' then upload('$D/src/f1', '/sys/') end" > "$TMP/h.out" 2> "$TMP/h.err"; rc=$?
grep -q "4 hosts in .*: 1 ok, 3 failed" "$TMP/h.err" && ok "-H: transfer failures counted in the summary" || not_ok "-H: transfer failures counted in the summary" "$(cat "$TMP/h.err")"
grep -q "/sys/f1: permission denied" "$TMP/h.err" && ok "-H: the summary names the cause" || not_ok "-H: the summary names the cause" "$(cat "$TMP/h.err")"
  HOME=$SSHS_TEST_HOME timeout 60 "$SSHS" --json -H '127.0.0.[1-2]' -e "upload('$D/src/f1', '/sys/')" > "$TMP/h.out" 2> "$TMP/h.err"
  c=$(grep -c '"kind":"transfer"' "$TMP/h.out")
  [ "$c" = 2 ] && ok "--json marks transfer failures (kind = transfer)" || not_ok "--json marks transfer failures" "$(cat "$TMP/h.out")"
cd "$TMP" || exit 1

# ---------------------------------------------------------------------------------------------
# Progress: on a terminal only, never on a pipe.
mkdir -p "$D/progtree"
for i in 1 2 3 4 5; do ln "$D/src/big64" "$D/progtree/b$i"; done
script prog.sshs <<'EOF'
local D = os.getenv("D")
with connect("127.0.0.1") do
  upload(D .. "/progtree", D .. "/remote/", {recursive = true})   -- one call of 320 MiB: seconds
end
EOF
HOME=$SSHS_TEST_HOME "$SSHS" "$TMP/prog.sshs" > "$TMP/p.out" 2> "$TMP/p.err"
grep -q "files" "$TMP/p.err" && not_ok "no progress line on a pipe" "$(cat "$TMP/p.err")" || ok "no progress line on a pipe"
if command -v script > /dev/null; then
  # Everything written to the terminal (script(1) keeps it all, also lines redrawn and then
  # removed); the line shown at once, since the upload's speed is not the point here.
  SHELL=/bin/bash SSHS_PROGRESS_DELAY=0 HOME=$SSHS_TEST_HOME D=$D timeout -k 3 120 \
    script -qec "$(printf '%q ' "$SSHS" "$TMP/prog.sshs")" /dev/null < /dev/null > "$TMP/prog.tty" 2>&1
  seen=$(tr '\r' '\n' < "$TMP/prog.tty" | grep -aE "files, .* of .*/s" | head -1)
  [ -n "$seen" ] && ok "a progress line on a terminal: $seen" || not_ok "a progress line on a terminal" "nothing seen:" "$(cat -v "$TMP/prog.tty" | head -c 600)"
else
  ok "a progress line on a terminal # SKIP script(1) is not installed"
fi

# ---------------------------------------------------------------------------------------------
# The example script deploys a tree to three hosts of the test server.
mkdir -p "$D/ex" && cd "$D/ex" || exit 1
HOME=$SSHS_TEST_HOME timeout 120 "$SSHS" "$TESTROOT/../examples/deploy.sshs" "$D/tree/a" "$D/ex/dest/{host}" '127.0.0.[1-3]' > "$TMP/ex.out" 2> "$TMP/ex.err"; rc=$?
[ "$rc" = 0 ] && grep -c "1000 files" "$TMP/ex.out" | grep -qx 3 && ok "examples/deploy.sshs deploys to 3 hosts" || not_ok "examples/deploy.sshs deploys to 3 hosts" "rc=$rc" "$(cat "$TMP/ex.out" "$TMP/ex.err")"
n=0; for i in 1 2 3; do diff -r --no-dereference "$D/tree/a" "$D/ex/dest/127.0.0.$i/current/" 2>&1 | grep -qv fifo || n=$((n+1)); done
[ "$n" = 3 ] && ok "…each host's current release is the whole tree" || not_ok "…each host's current release is the whole tree" "$n of 3"
[ "$(ls "$D/ex/reports" 2>/dev/null | grep -c '^report.txt.127.0.0.[123]$')" = 3 ] && ok "…and each host's report came back under its own name" || not_ok "…and each host's report came back under its own name" "$(ls -R "$D/ex")"
cd "$TMP" || exit 1
