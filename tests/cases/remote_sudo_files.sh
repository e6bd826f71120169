#!/usr/bin/env bash
# Files as root with the real sudo: upload / put_text / sync with sudo = true, logged in as a
# throw-away user (sshs_files1) whose sudo to root asks for a password. The file goes first
# to a private temporary of that user, then one sudo command installs it (owner, group,
# mode, whole or not at all); the password goes only to sudo's prompt. The user, its sudoers
# drop-in and the sshd are removed at exit.
source "$TESTROOT/remote_lib.sh"
U=sshs_files1_$$      # this run's own: another run of this file may be going on
PW="pw-$RANDOM-$RANDOM-files"
DROPIN=/etc/sudoers.d/$U
if [ "$(id -u)" != 0 ] || ! command -v sudo >/dev/null || ! command -v useradd >/dev/null; then
  echo "1..0 # SKIP need root, sudo and useradd"; exit 0
fi
plan 20
CLEANUP+=("rm -f $DROPIN" "userdel -f $U" "rm -rf /run/sudo/ts/$U")
userdel -f "$U" >/dev/null 2>&1
useradd -M -d / -s /bin/sh "$U" || { not_ok "useradd $U"; exit 1; }
echo "$U:$PW" | chpasswd || { not_ok "chpasswd"; exit 1; }
# timestamp_timeout=0: every sudo asks again, so a check never rides on an earlier one's password.
printf '%s ALL=(root) ALL\nDefaults:%s !lecture, timestamp_timeout=0\n' "$U" "$U" > "$DROPIN.tmp" \
  && chmod 440 "$DROPIN.tmp" && visudo -cqf "$DROPIN.tmp" && mv "$DROPIN.tmp" "$DROPIN" \
  || { not_ok "sudoers drop-in is valid"; exit 1; }
chmod 711 "$TMP"
start_sshd "$TMP/sshd" || exit 1
chmod 711 "$X_DIR"; chmod 644 "$X_DIR/authorized_keys"    # read by sshd as $U

R=$TMP/rootdir                 # root's, 0755: the login user cannot write here
mkdir -p "$R" "$TMP/src/tree/sub"; chmod 755 "$R"
printf 'config v1\n' > "$TMP/src/app.conf"
printf 'a\n' > "$TMP/src/tree/a.txt"; printf 'b\n' > "$TMP/src/tree/sub/b.sh"; chmod 755 "$TMP/src/tree/sub/b.sh"
chmod -R go+rX "$TMP/src"
printf 'old\n' > "$R/existing.conf"; chmod 600 "$R/existing.conf"
export R SRC=$TMP/src

script rfiles.sshs <<EOF2
local T = require "t"
local pw, R, SRC = "$PW", os.getenv("R"), os.getenv("SRC")
local function stat(p) return T.sh("stat -c '%U %G %a' '" .. p .. "' 2>&1"):gsub("\n$", "") end
local function leftovers()
  return T.sh("ls -A '" .. R .. "' | grep -c sshs- ; ls -d /tmp/sshs-root.* 2>/dev/null | wc -l"):gsub("%s+", " ")
end
with connect("$U@127.0.0.1", {port = $X_PORT, key = "$X_KEY", known_hosts = "$X_KNOWN_HOSTS", agent = false}) do
  T.eq("logged in as the throw-away user", \$(id -un), "$U")
  local msg = T.fails(upload, SRC .. "/app.conf", R .. "/app.conf")
  T.has("without sudo the root folder refuses the file", msg, "ermission denied")
  msg = T.fails(upload, SRC .. "/app.conf", R .. "/app.conf", {sudo = true})
  T.has("sudo = true with no password where sudo needs one: an error from sudo", msg, "through sudo")
  msg = T.fails(upload, SRC .. "/app.conf", R .. "/app.conf", {sudo = {password = "wrong-" .. pw}})
  T.has("a wrong password: an error from sudo", msg, "through sudo")
  T.eq("... nothing was written, no temporary left (here or in the private folder)",
    (T.read(R .. "/app.conf") or "none") .. " " .. leftovers(), "none 0 0 ")
  T.lacks("the password is not in the error", msg, pw)

  with sudo{user = "root", password = pw} do
    local r = upload(SRC .. "/app.conf", R .. "/app.conf", {sudo = true, mode = "0640", group = "$U"})
    T.eq("upload{sudo = true} inside sudo{password}: the file is there, whole", T.read(R .. "/app.conf"), "config v1\n")
    T.eq("... owned by root, the group and mode given", stat(R .. "/app.conf"), "root $U 640")
    T.eq("... the summary counts one file", r.files .. " " .. r.bytes, "1 10")
    T.eq("... no temporary left, the private folder removed", leftovers(), "0 0 ")
    upload(SRC .. "/app.conf", R .. "/existing.conf", {sudo = true})
    T.eq("over an existing root file: its owner and mode (0600) are kept", stat(R .. "/existing.conf"), "root root 600")
  end
  put_text(R .. "/it's a \"name\" \$x.txt", "odd\n", {sudo = {password = pw}})
  T.eq("put_text{sudo}: a name with quotes, spaces and \$ arrives as written", T.read(R .. "/it's a \"name\" \$x.txt"), "odd\n")
  msg = T.fails(put_text, R .. "/two\nlines", "x", {sudo = {password = pw}})
  T.has("a newline in the name with sudo: a clear error, nothing written", msg, "a newline in a path is not supported")
  put_text(R .. "/motd", "hello from sshs\n", {sudo = {user = "root", password = pw}, mode = "0644", owner = "nobody"})
  T.eq("put_text{sudo = {password =}}: the text, whole", T.read(R .. "/motd"), "hello from sshs\n")
  T.eq("... owner and mode as given", stat(R .. "/motd"), "nobody root 644")

  local s = sync(SRC .. "/tree", R .. "/tree", {sudo = {password = pw}})
  T.eq("sync{sudo}: every file sent", s.sent, 2)
  T.eq("... root's, modes kept", stat(R .. "/tree/a.txt") .. " / " .. stat(R .. "/tree/sub/b.sh"), "root root 644 / root root 755")
  T.eq("... content", T.read(R .. "/tree/sub/b.sh"), "b\n")
  T.eq("a second sync{sudo} sends nothing", sync(SRC .. "/tree", R .. "/tree", {sudo = {password = pw}}).sent, 0)
  T.eq("no temporary left after the syncs", leftovers(), "0 0 ")
end
EOF2
lua_checks rfiles.sshs
