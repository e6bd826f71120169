# with sudo{...} on the local session, checked with a fake sudo first on PATH that records
# its arguments and what it read from stdin, then runs the command after "--".
source "$TESTROOT/lib.sh"
plan 9

mkdir -p "$TMP/bin" "$TMP/dir"
cat > "$TMP/bin/sudo" <<'EOF'
#!/bin/sh
log=${SUDO_LOG:?}
printf 'args=%s\n' "$*" >> "$log"
# Like sudo -S -p PROMPT: the prompt on stderr, then the password from stdin.
if [ "$1" = -S ]; then
  [ "$2" = -p ] && printf '%s' "$3" >&2
  IFS= read -r pw; printf 'pw=%s\n' "$pw" >> "$log"
fi
while [ "$1" != -- ]; do shift; done; shift
exec "$@"
EOF
chmod +x "$TMP/bin/sudo"
export SUDO_LOG=$TMP/sudo.log

script sudo.sshs <<'EOF'
local dir = ...
with sudo{user = "bob", password = "s3cr3t pw"} do
  local r = run("cat", {stdin = "payload"})
  print("stdin:" .. r.stdout)
end
with cd(dir) do
  with env{SSHS_SUDO_V = "v a l"} do
    with sudo() do
      print("pwd:" .. $(pwd))
      print("env:" .. $(printf '%s' "$SSHS_SUDO_V"))
    end
  end
end
local ok, e = pcall(function()
  with sudo() do
    $ exit 3
  end
end)
print("fail:" .. tostring(ok) .. " " .. tostring(type(e) == "table" and e.exitcode))
EOF
PATH=$TMP/bin:$PATH run_sshs "$TMP/sudo.sshs" "$TMP/dir"
log=$(cat "$SUDO_LOG" 2>/dev/null)
expect_rc 0 "sudo: script runs"
expect_out_has "stdin:payload" "sudo: the command's own stdin follows the password"
case "$log" in
  *"args=-S "*"-u bob -- "*) ok "sudo: -S and -u USER given to sudo";;
  *) not_ok "sudo: -S and -u USER given to sudo" "log: $log";;
esac
if grep '^args=' "$SUDO_LOG" 2>/dev/null | grep -q 's3cr3t'; then
  not_ok "sudo: the password is never on the command line" "log: $log"
else ok "sudo: the password is never on the command line"; fi
if grep -qx 'pw=s3cr3t pw' "$SUDO_LOG" 2>/dev/null; then ok "sudo: the password is fed to sudo's stdin"
else not_ok "sudo: the password is fed to sudo's stdin" "log: $log"; fi
case "$log" in
  *"args=-n -u root -- "*) ok "sudo{} without password: -n, user root";;
  *) not_ok "sudo{} without password: -n, user root" "log: $log";;
esac
expect_out_has "pwd:$TMP/dir" "sudo: cd applies to the command under sudo"
expect_out_has "env:v a l" "sudo: env applies to the command under sudo"
expect_out_has "fail:false 3" "sudo: a failing command raises with its exit code"
