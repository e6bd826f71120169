#!/usr/bin/env bash
# sudo{password = …} over SSH with the real sudo (issue 9 item 2): logged in as a throw-away
# user (sshs_safety2) on a private sshd, sudo to root asks for the password, which is written
# only then; sudo to nobody (NOPASSWD) asks nothing and the password is never sent. The
# user, its sudoers drop-in and the sshd are removed at exit.
source "$TESTROOT/remote_lib.sh"
U=sshs_safety2_$$     # this run's own: another run of this file may be going on
PW="pw-$RANDOM-$RANDOM-remote"
DROPIN=/etc/sudoers.d/$U
if [ "$(id -u)" != 0 ] || ! command -v sudo >/dev/null || ! command -v useradd >/dev/null; then
  echo "1..0 # SKIP need root, sudo and useradd"; exit 0
fi
plan 8
CLEANUP+=("rm -f $DROPIN" "userdel -f $U" "rm -rf /run/sudo/ts/$U")
userdel -f "$U" >/dev/null 2>&1
useradd -M -d / -s /bin/sh "$U" || { not_ok "useradd $U"; exit 1; }
echo "$U:$PW" | chpasswd || { not_ok "chpasswd"; exit 1; }
printf '%s ALL=(root) ALL\n%s ALL=(nobody) NOPASSWD: ALL\nDefaults:%s !lecture\n' "$U" "$U" "$U" > "$DROPIN.tmp" \
  && chmod 440 "$DROPIN.tmp" && visudo -cqf "$DROPIN.tmp" && mv "$DROPIN.tmp" "$DROPIN" \
  || { not_ok "sudoers drop-in is valid"; exit 1; }
chmod 711 "$TMP"
start_sshd "$TMP/sshd" || exit 1
chmod 711 "$X_DIR"; chmod 644 "$X_DIR/authorized_keys"    # read by sshd as $U

script rsudo.sshs <<EOF2
local T = require "t"
local pw = "$PW"
with connect("$U@127.0.0.1", {port = $X_PORT, key = "$X_KEY", known_hosts = "$X_KNOWN_HOSTS", agent = false}) do
  T.eq("logged in as the throw-away user", \$(id -un), "$U")
  with sudo{user = "root", password = pw} do
    local r = run("id -un; cat", {stdin = "payload"})
    T.eq("sudo asks, the password answers it: runs as root with its own stdin", r.stdout, "root\npayload")
    T.lacks("sudo's prompt token is taken out of stderr", r.stderr, "[sshs-")
    -- it runs until ps has been read (it waits for a file, 60 s at most)
    local probe, go = "sshs-probe-" .. T.pid, T.tmp .. "/go"
    local h = thread(function()
      return run(": " .. probe .. "; i=0; until [ -e " .. go .. " ] || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done; echo done").stdout
    end)
    local listed = ""
    T.wait_for(function() listed = T.sh("ps -eo args"); return listed:find(probe .. ";", 1, true) ~= nil end, 60)
    T.write(go, "")
    T.has("the command is seen running in ps on the server", listed, probe .. ";")
    T.lacks("the password is in no command line on the server", listed, pw)
    T.eq("... and the command finishes", h:join(), "done\n")
  end
  with sudo{user = "nobody", password = pw} do
    local r = run("id -un; cat", {stdin = "payload"})
    T.eq("NOPASSWD over SSH: no prompt, and the command's stdin is its own", r.stdout, "nobody\npayload")
    T.eq("NOPASSWD over SSH: run('cat') does not print the password", run("cat").stdout, "")
  end
end
EOF2
lua_checks rsudo.sshs
