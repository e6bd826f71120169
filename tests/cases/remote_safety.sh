#!/usr/bin/env bash
# Issue 9: ports and targets are checked before anything is sent; a private key others can
# read is refused as OpenSSH does; a password given to a key-only server is reported.
source "$TESTROOT/remote_lib.sh"
plan 21

script conn.sshs <<'EOF2'
local target, opts = arg[1], load("return " .. (arg[2] or "nil"))()
local ok, e = pcall(connect, target, opts)
if ok then print("CONNECTED " .. $(echo $SSH_CONNECTION)) else print("ERR " .. tostring(type(e) == "table" and e.message or e)) end
EOF2
conn() { run_remote conn.sshs "$@"; }

conn "127.0.0.1:67838"
expect_out_has "ERR" "connect('h:67838') is refused, not wrapped to port 2302"
expect_out_has "port 67838 is out of range (1-65535)" "... saying the port is out of range"
conn "127.0.0.1:0"
expect_out_has "port 0 is out of range" "port 0 is refused with a clear error"
conn "127.0.0.1:99999"
expect_out_has "port 99999 is out of range" "port 99999 is refused with a clear error"
conn "127.0.0.1" "{port = 70000}"
expect_out_has "port 70000 is out of range" "opts.port out of range is refused"
conn "127.0.0.1" "{port = 22.5}"
expect_out_has "port 22.5 is out of range" "a fractional port is refused"
conn "root@"
expect_out_has "bad target 'root@'" "connect('root@') is a bad target, not a host named root@"
conn "h:22:5"
expect_out_has "bad target 'h:22:5'" "connect('h:22:5') is a bad target, not a host name"
conn "@h"
expect_out_has "bad target '@h'" "connect('@h') is a bad target"
conn "127.0.0.1:$P"
expect_out_has "CONNECTED" "host:port in range still connects"
conn "::1"
case "$out" in "CONNECTED ::1 "*) ok "a bare IPv6 address still connects";;
  *) if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then not_ok "a bare IPv6 address still connects" "$(show)"
     else ok "a bare IPv6 address still connects # SKIP no ::1 here"; fi;; esac

# A config without identity files, so only the key given counts.
cat > "$TMP/cfg" <<EOF2
Host *
  Port $P
  User $SSHS_TEST_USER
  UserKnownHostsFile $SSHS_TEST_KNOWN_HOSTS
EOF2
mkdir -p "$TMP/emptyhome"
cp "$SSHS_TEST_KEY" "$TMP/open_key"; chmod 644 "$TMP/open_key"
RHOME=$TMP/emptyhome conn 127.0.0.1 "{key = '$TMP/open_key', agent = false, ssh_config = '$TMP/cfg'}"
expect_out_has "ERR" "a private key readable by others is not used"
expect_out_has "permissions 0644 are too open" "... saying its permissions are too open"
expect_err_has "chmod 600 $TMP/open_key" "... with a warning on stderr saying how to fix it"
chmod 600 "$TMP/open_key"
RHOME=$TMP/emptyhome conn 127.0.0.1 "{key = '$TMP/open_key', agent = false, ssh_config = '$TMP/cfg'}"
expect_out_has "CONNECTED" "the same key with mode 0600 is used"

RHOME=$TMP/emptyhome conn 127.0.0.1 "{password = 'sekrit-pw-4711', agent = false, ssh_config = '$TMP/cfg'}"
case "$out" in *"Tried: nothing"*) not_ok "a password given to a key-only server: not 'Tried: nothing'" "$(show)";;
  *) ok "a password given to a key-only server: not 'Tried: nothing'";; esac
expect_out_has "password (not offered: the server allows neither password nor keyboard-interactive)" \
  "... the error says the password was not offered and why"
case "$out$err" in *sekrit-pw-4711*) not_ok "... and the password itself appears nowhere" "$(show)";; *) ok "... and the password itself appears nowhere";; esac

# A command after its connection was lost (or closed) is reported at the script's line.
script lost.sshs <<'EOF2'
local s = connect("127.0.0.1")
pcall(function() $ kill -9 $PPID end)
sleep(0.5)
local ok, e = pcall(function()
  $ echo after
end)
print("LOST " .. tostring(type(e) == "table" and e.message or e))
s:close()
local ok2, e2 = pcall(function() s:run("echo x") end)
print("CLOSED " .. tostring(type(e2) == "table" and e2.message or e2))
EOF2
run_remote lost.sshs
expect_out_has "LOST $TMP/lost.sshs:5: connection to" "a command on a lost connection: the error names the script's line"
expect_out_has "CLOSED $TMP/lost.sshs:9: this connection is closed" "a command on a closed session: the error names the script's line"
case "$out" in *prelude*|*sshs/_*) not_ok "... never the prelude" "$(show)";; *) ok "... never the prelude";; esac
