#!/usr/bin/env bash
# sudo{password = …} with the real sudo, in a console and outside one, remotely (logging in as
# a throw-away user with a password, sshs_inter1) and in a local console (sshs run as that
# user): the command runs as root, and the password appears nowhere: not in ps while it runs,
# not in -v output, not in the output or the error of a refused password.
source "$TESTROOT/remote_lib.sh"
U=sshs_inter$$          # this run's own: another run of this file may be going on
PW="pw-$RANDOM-$RANDOM-inter"
DROPIN=/etc/sudoers.d/$U
if [ "$(id -u)" != 0 ] || ! command -v sudo >/dev/null || ! command -v useradd >/dev/null; then
  echo "1..0 # SKIP need root, sudo and useradd"; exit 0
fi
CLEANUP+=("rm -f $DROPIN" "userdel -f $U")
plan 19
chmod 711 "$TMP"
userdel -f "$U" >/dev/null 2>&1
useradd -m -d "$TMP/uhome" -s /bin/sh "$U" || { not_ok "useradd $U"; exit 1; }
echo "$U:$PW" | chpasswd || { not_ok "chpasswd"; exit 1; }
# sudo asks every time (no cached credentials), so every run goes through the prompt.
printf '%s ALL=(root) ALL\nDefaults:%s !lecture, timestamp_timeout=0\n' "$U" "$U" > "$DROPIN.tmp" &&
  chmod 440 "$DROPIN.tmp" && visudo -cqf "$DROPIN.tmp" && mv "$DROPIN.tmp" "$DROPIN" ||
  { not_ok "sudoers drop-in is valid"; exit 1; }

# A private sshd whose authorized_keys the user may read (sshd reads it as the user).
start_sshd "$TMP/isshd" || exit 1
chmod 711 "$X_DIR"
chmod 644 "$X_DIR/authorized_keys"
RHOME=$X_HOME

# The password comes from the environment: on the command line ps would show it.
export SSHS_SUDO_PW=$PW
script sudo.sshs <<EOF
local where, mode = ...
local pw = os.getenv("SSHS_SUDO_PW")
local function body()
  if mode == "console" then
    with console() do
      with sudo{password = pw} do
        print("whoami:" .. \$(id -un))
        \$ sleep 2
        print("still:" .. \$(id -un))
      end
      print("after:" .. \$(id -un))
    end
  else
    with sudo{password = pw} do
      print("whoami:" .. \$(id -un))
      \$ sleep 2
    end
  end
end
if where == "local" then body() else with connect("$U@" .. where) do body() end end
EOF
chmod 644 "$TMP/sudo.sshs"

# Runs sshs in the background while sampling ps; sets out, err, rc and pslog.
run_sampled() {
  : > "$TMP/ps.log"
  HOME=${RHOME:-$SSHS_TEST_HOME} timeout -k 3 60 "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do ps -eo args >> "$TMP/ps.log"; sleep 0.1; done
  wait "$pid"; rc=$?
  out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
}
no_pw() { # $1 name: the password is in none of out, err, the ps samples
  if grep -qF -- "$PW" "$TMP/out" "$TMP/err" "$TMP/ps.log"; then
    not_ok "$1" "$(grep -F -- "$PW" "$TMP/out" "$TMP/err" "$TMP/ps.log" | head -3)"
  else ok "$1"; fi
}

for mode in plain console; do
  run_sampled "$SSHS" -v "$TMP/sudo.sshs" 127.0.0.1 $mode
  expect_rc 0 "remote $mode: sudo with a password runs"
  expect_out_has "whoami:root" "remote $mode: the command runs as root"
  no_pw "remote $mode: the password is not in ps, -v output or the output"
  grep -q 'sleep 2' "$TMP/ps.log" && ok "remote $mode: ps was sampled while the command ran" \
    || not_ok "remote $mode: ps was sampled while the command ran"
done
expect_out_has "still:root" "remote console: a second sudo command in the console"
expect_out_has "after:$U" "remote console: after the sudo block, commands run as the user again"

# A wrong password: an error that does not contain it, and no hang.
SSHS_SUDO_PW="wrong-$PW" run_sampled "$SSHS" "$TMP/sudo.sshs" 127.0.0.1 console
expect_rc 1 "remote console: a refused password fails the command"
expect_err_has "not accepted" "remote console: the error says the password was not accepted"
if grep -qF -- "wrong-$PW" "$TMP/out" "$TMP/err" "$TMP/ps.log"; then not_ok "remote console: the refused password appears nowhere"
else ok "remote console: the refused password appears nowhere"; fi
SSHS_SUDO_PW="wrong-$PW" run_sampled "$SSHS" "$TMP/sudo.sshs" 127.0.0.1 plain
expect_rc 1 "remote: a refused password fails the command"
if grep -qF -- "wrong-$PW" "$TMP/out" "$TMP/err" "$TMP/ps.log"; then not_ok "remote: the refused password appears nowhere" "$err"
else ok "remote: the refused password appears nowhere"; fi

# A local console, sshs run as the user.
printf '%s' "$PW" > "$TMP/uhome/pw"; chown "$U" "$TMP/uhome/pw"; chmod 600 "$TMP/uhome/pw"
run_sampled runuser -u "$U" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$TMP/uhome" \
  sh -c 'SSHS_SUDO_PW=$(cat "$HOME/pw") exec "$0" -v "$1" local console' "$SSHS" "$TMP/sudo.sshs"
expect_rc 0 "local console: sudo with a password runs"
expect_out_has "whoami:root" "local console: the command runs as root"
expect_out_has "after:$U" "local console: then as the user again"
no_pw "local console: the password is not in ps, -v output or the output"
