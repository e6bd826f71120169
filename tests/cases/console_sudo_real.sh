#!/usr/bin/env bash
# sudo{password =} in a console with the real sudo (issue 17 items 3 and 5), over SSH (logged
# in as a throw-away user, sshs_csudo1, on a private sshd) and in a local console (sshs run as
# that user). The commands run as a second throw-away user (sshs_csudo2).
# - The password reaches sudo only: once sudo's credentials are cached, a command that prints
#   sudo's prompt (its -p argument, read from its argv) and then reads the terminal gets
#   nothing; it cannot read the password's private folder either, and that folder is gone
#   after the command.
# - env{} values under sudo are on no command line (ps and /proc/*/cmdline sampled while the
#   command runs), yet the command gets them, and its stdin is the terminal; also with sudo -n
#   (no password: root to that user).
source "$TESTROOT/remote_lib.sh"
U=sshs_csudo1_$$     # this run's own users: another run of this file may be going on
T=sshs_csudo2_$$
PW="pw-$RANDOM-$RANDOM-csudo"
SECRET="csecret-$RANDOM-$RANDOM"
NAP=3.$((RANDOM % 900 + 100))            # a sleep no other process on the machine runs
DROPIN=/etc/sudoers.d/$U
if [ "$(id -u)" != 0 ] || ! command -v sudo >/dev/null || ! command -v useradd >/dev/null; then
  echo "1..0 # SKIP need root, sudo and useradd"; exit 0
fi
CLEANUP+=("rm -f $DROPIN" "userdel -f $U" "userdel -f $T" "rm -rf /run/sudo/ts/$U")
plan 26
chmod 711 "$TMP"
for u in "$U" "$T"; do userdel -f "$u" >/dev/null 2>&1; done
useradd -m -d "$TMP/uhome" -s /bin/sh "$U" && useradd -M -d / -s /bin/sh "$T" || { not_ok "useradd"; exit 1; }
echo "$U:$PW" | chpasswd || { not_ok "chpasswd"; exit 1; }
# Credentials are cached per terminal (sudo's default): the console's second command does not ask.
printf '%s ALL=(%s) ALL\nDefaults:%s !lecture\n' "$U" "$T" "$U" > "$DROPIN.tmp" &&
  chmod 440 "$DROPIN.tmp" && visudo -cqf "$DROPIN.tmp" && mv "$DROPIN.tmp" "$DROPIN" ||
  { not_ok "sudoers drop-in is valid"; exit 1; }

start_sshd "$TMP/csshd" || exit 1
chmod 711 "$X_DIR"
chmod 644 "$X_DIR/authorized_keys"        # read by sshd as $U

# The attack, run as $T under sudo once credentials are cached: print the prompt sudo was
# given (the -p argument of the nearest ancestor), then read a line from the terminal
# (timeout --foreground: a background process group could not read it at all).
cat > "$TMP/attack.sh" <<'EOS'
pid=$$ p=
while [ -z "$p" ] && [ "$pid" -gt 1 ]; do      # the nearest ancestor with a -p argument: sudo
  pid=$(awk '{print $4}' "/proc/$pid/stat")
  p=$(tr '\0' '\n' < "/proc/$pid/cmdline" | sed -n '/^-p$/{n;p;q;}')
done
printf 'prompt[%s]\n' "$(printf '%s' "$p" | tr -d '\036')"     # (as text, not a prompt)
printf '%s' "$p"                                            # the prompt itself, once
x=$(timeout --foreground 4 head -n 1)
printf 'got[%s]\n' "$x"
cat "${p%/*}/pw" 2>/dev/null && echo "read the password file"
ls "${p%/*}" 2>/dev/null && echo "listed the folder"
exit 0
EOS
chmod 755 "$TMP/attack.sh"

script csudo.sshs <<EOF
local where = ...
local pw, secret = os.getenv("SSHS_SUDO_PW"), os.getenv("SSHS_CSECRET")
local function body()
  with console() as c do
    \$ cd /
    with sudo{user = "$T", password = pw} do
      print("who:" .. \$(id -un))
      with env{SSHS_CSECRET = secret} do
        print("env:" .. tostring(\$(printf '%s' "\$SSHS_CSECRET") == secret))
        \$ sleep $NAP
      end
      local value = secret .. " 'q' \\"\\n\\3end"
      with env{SSHS_CSECRET = value} do
        print("exact:" .. tostring(\$(printf '%s' "\$SSHS_CSECRET") == value))
        print("stdin:" .. \$([ -t 0 ] && echo terminal))
      end
      local r = \$ sh $TMP/attack.sh
      print(r.stdout)
      local d = r.stdout:match("prompt%[(.-)/a%]")
      print("folder gone:" .. tostring(d ~= nil and not (\$?(test -e #{d}))))
    end
    print("after:" .. \$(id -un))
  end
end
if where == "local" then body() else with connect("$U@" .. where) do body() end end
EOF
chmod 644 "$TMP/csudo.sshs"

# Runs sshs in the background while sampling every command line; sets out, err, rc.
run_sampled() {
  : > "$TMP/ps.log"
  timeout -k 3 90 "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    ps -eo args >> "$TMP/ps.log"
    cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' >> "$TMP/ps.log"; echo >> "$TMP/ps.log"
    sleep 0.1
  done
  wait "$pid"; rc=$?
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}
nowhere() { # $1 text, $2 name: the text is in none of out, err, the ps samples
  if grep -qF -- "$1" "$TMP/out" "$TMP/err" "$TMP/ps.log"; then
    not_ok "$2" "$(grep -F -- "$1" "$TMP/out" "$TMP/err" "$TMP/ps.log" | cut -c1-300 | head -3)"
  else ok "$2"; fi
}
checks() { # $1 where
  expect_rc 0 "$1: the console under sudo runs"
  expect_out_has "who:$T" "$1: the first command runs as the sudo user (the password answered sudo)"
  if printf '%s' "$out" | grep -q 'prompt\[.' && ! printf '%s' "$out" | grep -q 'prompt\[\]'; then
    ok "$1: the attacking command found sudo's prompt argument"
  else not_ok "$1: the attacking command found sudo's prompt argument" "$(show)"; fi
  expect_out_has "got[]" "$1: credentials cached, a command printing the prompt and reading the terminal gets nothing"
  case "$out" in *"read the password file"*|*"listed the folder"*)
    not_ok "$1: ... nor can it open the password's folder" "$(show)";;
    *) ok "$1: ... nor can it open the password's folder";; esac
  expect_out_has "folder gone:true" "$1: the password's folder is removed after the command"
  nowhere "$PW" "$1: the password is in no output, error or command line"
  expect_out_has "env:true" "$1: env{} reaches the command under sudo"
  expect_out_has "exact:true" "$1: ... byte for byte"
  expect_out_has "stdin:terminal" "$1: ... and the command's stdin is the terminal"
  grep -q "sleep $NAP" "$TMP/ps.log" && ok "$1: command lines were sampled while the command ran" \
    || not_ok "$1: command lines were sampled while the command ran"
  nowhere "$SECRET" "$1: the env{} value is on no command line (ps, /proc/*/cmdline)"
}

export SSHS_SUDO_PW=$PW SSHS_CSECRET=$SECRET
RHOME=$X_HOME
HOME=$X_HOME run_sampled "$SSHS" "$TMP/csudo.sshs" 127.0.0.1
checks remote

# The secrets reach sshs run as $U through files: on a command line, ps would show them.
printf '%s' "$PW" > "$TMP/uhome/pw"; printf '%s' "$SECRET" > "$TMP/uhome/secret"
chown "$U" "$TMP/uhome/pw" "$TMP/uhome/secret"; chmod 600 "$TMP/uhome/pw" "$TMP/uhome/secret"
rm -rf "/run/sudo/ts/$U"
run_sampled runuser -u "$U" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$TMP/uhome" \
  sh -c 'SSHS_SUDO_PW=$(cat "$HOME/pw") SSHS_CSECRET=$(cat "$HOME/secret") exec "$0" "$1" local' \
  "$SSHS" "$TMP/csudo.sshs"
checks local

# sudo without a password (root to $T: sudo -n): env{} values go the same way.
script nopw.sshs <<EOF2
with console() do
  \$ cd /
  with sudo{user = "$T"} do with env{SSHS_CSECRET = os.getenv("SSHS_CSECRET")} do
    print("nopw:" .. \$(id -un) .. ":" .. tostring(\$(printf '%s' "\$SSHS_CSECRET") == os.getenv("SSHS_CSECRET")))
    \$ sleep $NAP
  end end
end
EOF2
run_sampled "$SSHS" "$TMP/nopw.sshs"
expect_out_has "nopw:$T:true" "sudo -n in a console (root): env{} reaches the command as the sudo user"
grep -q "sleep $NAP" "$TMP/ps.log" && nowhere "$SECRET" "sudo -n in a console: the env{} value is on no command line" \
  || not_ok "sudo -n in a console: the env{} value is on no command line" "the command was never seen in ps"
