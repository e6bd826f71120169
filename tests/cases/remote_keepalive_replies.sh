#!/usr/bin/env bash
# Keepalive replies. sshs asks for a reply to each keepalive (ServerAliveInterval), and OpenSSH
# answers libssh2's keepalive@libssh2.org with REQUEST_FAILURE. libssh2 queued those replies
# and never took them off, so a later global request (a remote forward's tcpip-forward) took
# an old keepalive's FAILURE for its own answer, and the replies piled up for the
# connection's life.
source "$TESTROOT/remote_lib.sh"
plan 3

if [ "$LIBSSH2_OLD" = 1 ]; then
  skip_checks 3 "libssh2 $LIBSSH2_VER queues keepalive replies (upstream issue #623; docs/reference/limits.md): the bundled libssh2 drops them (patch 0008)"
  exit 0
fi

# A keepalive every second; 30 unanswered before the server counts as gone, so a loaded
# machine is not taken for a dead server.
cat > "$TMP/ka_config" <<EOF2
Host ka
  HostName 127.0.0.1
  ServerAliveInterval 1
  ServerAliveCountMax 30
Host *
$(test_server_defaults)
EOF2

script t.sshs <<'EOF2'
with connect("ka") do
  sleep(3.5)      -- silent: keepalives go out, the server answers each
  local ok, err = pcall(function()
    with forward{remote = "127.0.0.1:0", to = "127.0.0.1:9"} as r do
      print("remote forward port " .. math.type(r.port))
    end
  end)
  print("forward after keepalives: " .. tostring(ok) .. " " .. tostring(err))
  print("still works: " .. $(echo alive))
end
EOF2
HOME=$SSHS_TEST_HOME timeout -k 3 120 "$SSHS" -F "$TMP/ka_config" "$TMP/t.sshs" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?
out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_out_has "forward after keepalives: true" "a remote forward after keepalives were answered succeeds"
expect_out_has "remote forward port integer" "... and has its port"
expect_out_has "still works: alive" "the session still runs commands"
