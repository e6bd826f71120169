#!/usr/bin/env bash
# sudo{password = …} with the real sudo (issue 9 item 2): the password reaches sudo only
# through sudo's own prompt and never becomes the command's stdin, also when sudo does not
# ask (root, NOPASSWD, cached credentials); it is never on a command line (ps) or in -v output.
# Uses a throw-away user sshs_safety1_PID and a sudoers drop-in, both removed at exit.
source "$TESTROOT/lib.sh"
U=sshs_safety1_$$     # this run's own: another run of this file may be going on
PW="pw-$RANDOM-$RANDOM-secret"
DROPIN=/etc/sudoers.d/$U
if [ "$(id -u)" != 0 ] || ! command -v sudo >/dev/null || ! command -v useradd >/dev/null; then
  echo "1..0 # SKIP need root, sudo and useradd"; exit 0
fi
cleanup() { rm -f "$DROPIN"; userdel -f "$U" >/dev/null 2>&1; rm -rf "$TMP" "/run/sudo/ts/$U"; }
trap cleanup EXIT
plan 22
userdel -f "$U" >/dev/null 2>&1
useradd -M -s /bin/sh "$U" || { not_ok "useradd $U"; exit 1; }
echo "$U:$PW" | chpasswd || { not_ok "chpasswd"; exit 1; }
# root needs the password of $U; nobody needs none; a timestamp shared by all of $U's sudos.
printf '%s ALL=(root) ALL\n%s ALL=(nobody) NOPASSWD: ALL\nDefaults:%s timestamp_type=global, !lecture\n' \
  "$U" "$U" "$U" > "$DROPIN.tmp" && chmod 440 "$DROPIN.tmp" && visudo -cqf "$DROPIN.tmp" && mv "$DROPIN.tmp" "$DROPIN" \
  || { not_ok "sudoers drop-in is valid"; exit 1; }
chmod 711 "$TMP"
SSHS_BIN=$SSHS

script pw.sshs <<EOF2
local pw, who = "$PW", ...
with sudo{user = who, password = pw} do
  local r = run("cat", {stdin = "payload"})
  print("cat:[" .. r.stdout .. "]")
  print("id:" .. \$(id -un))
  local e = run("cat")
  print("empty:[" .. e.stdout .. "]")
  with env{SSHS_V = "v a l"} do print("env:" .. \$(printf '%s' "\$SSHS_V")) end
  local t = run("id -un", {pty = true})
  print("pty:[" .. t.stdout:gsub("\r", "") .. "]")
end
EOF2
chmod 644 "$TMP/pw.sshs"

# 1. root -> nobody: sudo does not ask (the issue's case: the password used to come out of cat)
run_sshs "$TMP/pw.sshs" nobody
expect_rc 0 "root under sudo{user = nobody, password}: runs"
expect_out_has "cat:[payload]" "root: the command's stdin is its own"
expect_out_has "empty:[]" "root: run('cat') does not print the password"
case "$out$err" in *"$PW"*) not_ok "root: the password appears nowhere in the output" "$(show)";; *) ok "root: the password appears nowhere in the output";; esac
expect_out_has "id:nobody" "root: runs as the sudo user"
expect_out_has "env:v a l" "root: env reaches the command under sudo"
expect_out_has "pty:[nobody
]" "root: with pty = true, the output is the command's only (tokens taken out)"

as_user() { # runs sshs as $U
  timeout -k 5 60 runuser -u "$U" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ "$SSHS_BIN" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null
  rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}
sudo -K -u root >/dev/null 2>&1; rm -rf /run/sudo/ts/"$U"
# 2. $U -> nobody: NOPASSWD, sudo does not ask
as_user "$TMP/pw.sshs" nobody
expect_rc 0 "NOPASSWD: runs"
expect_out_has "cat:[payload]" "NOPASSWD: the command's stdin is its own"
expect_out_has "empty:[]" "NOPASSWD: run('cat') does not print the password"
# 3. $U -> root: sudo asks; the password answers it
rm -rf /run/sudo/ts/"$U"
as_user -v "$TMP/pw.sshs" root
expect_rc 0 "password asked: runs"
expect_out_has "id:root" "password asked: the command runs as root"
expect_out_has "cat:[payload]" "password asked: the command's stdin follows the password"
expect_out_has "empty:[]" "password asked, then cached (global timestamp): run('cat') does not print it"
case "$out$err" in *"$PW"*) not_ok "-v output never shows the password" "$(show)";; *) ok "-v output never shows the password";; esac
case "$out" in *"[sshs-"*) not_ok "sudo's prompt token is taken out of the output" "$(show)";; *) ok "sudo's prompt token is taken out of the output";; esac
script ptyonly.sshs <<EOF2
with sudo{user = "root", password = "$PW"} do
  local t = run("id -un", {pty = true})
  print("pty:[" .. t.stdout:gsub("\r", "") .. "]")
end
EOF2
chmod 644 "$TMP/ptyonly.sshs"
rm -rf /run/sudo/ts/"$U"
as_user "$TMP/ptyonly.sshs"
# (sudo itself ends its prompt line with a newline on a terminal, hence the pattern)
if printf '%s' "$out" | grep -q '^root$' && ! printf '%s' "$out" | grep -q -e '\[sshs-' -e "$PW"; then
  ok "password asked on a pty: answered, no token or password in the output"
else not_ok "password asked on a pty: answered, no token or password in the output" "$(show)"; fi

# 3b. a wrong password: sudo fails (it is answered once, then its stdin ends), no hang
script wrong.sshs <<EOF2
with sudo{user = "root", password = "not-the-password"} do
  local r = run("id -u", {check = false, stdin = "x"})
  print("rc:" .. tostring(r.exitcode))
  io.stdout:write("err:", r.stderr, "\n")
end
EOF2
chmod 644 "$TMP/wrong.sshs"
rm -rf /run/sudo/ts/"$U"
as_user "$TMP/wrong.sshs"
expect_out_has "rc:1" "a wrong password: sudo fails with exit 1"
expect_out_has "incorrect password" "... saying so (sudo's own message)"
case "$out" in *"[sshs-"*) not_ok "... without our prompt token" "$(show)";; *) ok "... without our prompt token";; esac
if [ "$rc" != 124 ]; then ok "... no hang waiting for more input"; else not_ok "... no hang waiting for more input" "still running after 60 s"; fi

# 4. the password is never on a command line while a command runs (it runs until ps has been
# read: it waits for a file, 60 s at most)
GO=/tmp/sshs-sudo-go-$$
script slow.sshs <<EOF2
with sudo{user = "nobody", password = "$PW"} do \$ : sshs-probe-$$; i=0; until [ -e $GO ] || [ \$i -gt 600 ]; do sleep 0.1; i=\$((i+1)); done
end
EOF2
"$SSHS" "$TMP/slow.sshs" > /dev/null 2>&1 &
pid=$!
seen=""; for _ in $(seq 1 600); do
  l=$(ps -eo args); case "$l" in *"sshs-probe-$$;"*) seen=1; break;; esac; sleep 0.1; done
touch "$GO"
if [ -n "$seen" ]; then
  case "$l" in *"$PW"*) not_ok "the password is not in ps while the command runs" "$l";; *) ok "the password is not in ps while the command runs";; esac
else not_ok "the password is not in ps while the command runs" "the command was never seen in ps"; fi
wait "$pid"; rm -f "$GO"
