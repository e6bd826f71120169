#!/usr/bin/env bash
# Round trips of a connect (issue 21): with a key to offer, sshs offers it at once instead of
# first asking the server for its methods with an auth "none" request (a round trip of its
# own, 1 of 9 on a new connection). The server's debug log shows which requests came.
source "$TESTROOT/remote_lib.sh"
plan 3

start_sshd "$TMP/rsshd" $'LogLevel DEBUG1' || exit 1
script one.sshs <<'EOF'
with connect("127.0.0.1") do
  print($(echo connected))
end
EOF
RHOME=$X_HOME run_remote one.sshs
if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "a connect with a key runs its command"; else not_ok "a connect with a key runs its command" "rc=$rc" "$err"; fi
if grep -q "method publickey" "$X_DIR/sshd.log"; then ok "the server saw a publickey request"; else not_ok "the server saw a publickey request" "$(grep -i userauth "$X_DIR/sshd.log" | tail -n 5)"; fi
if grep -q "method none" "$X_DIR/sshd.log"; then
  not_ok "no auth \"none\" request (method query) before the key" "$(grep 'userauth-request' "$X_DIR/sshd.log")"
else
  ok "no auth \"none\" request (method query) before the key"
fi
