#!/usr/bin/env bash
# Transport: which algorithms are negotiated (as the server's debug log tells), strict key
# exchange (the Terrapin fix) with libssh2 >= 1.11, the user's cipher/MAC/kex lists (connect
# options and ssh config), and the errors when nothing matches: each names the host and both
# sides' algorithms.
source "$TESTROOT/remote_lib.sh"

OLD=$LIBSSH2_OLD
plan 15

start_sshd "$TMP/dsshd" $'LogLevel DEBUG3' || exit 1
export X_PORT X_KNOWN_HOSTS X_KEY
LOG=$X_DIR/sshd.log

# c.sshs [CIPHERS] [MACS] [KEX]: connects to the private sshd with those options, runs one command.
script c.sshs <<'EOF'
local function opt(v) if v and v ~= "" then return v end end
local o = {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
           key = os.getenv("X_KEY"), ciphers = opt(arg[1]), macs = opt(arg[2]), kex = opt(arg[3])}
with connect("127.0.0.1", o) do
  print("GOT " .. $(echo fine))
end
EOF
# The log lines of the newest connection only.
mark() { LOGLINES=$(wc -l < "$LOG"); }
newlog() { tail -n +"$((LOGLINES + 1))" "$LOG"; }

# --- defaults ------------------------------------------------------------------------------------
mark; run_remote c.sshs
if [ "$rc" = 0 ] && [ "$out" = "GOT fine" ]; then ok "default algorithms: connects"; else not_ok "default algorithms: connects" "$(show)"; fi
if newlog | grep -q 'kex: algorithm: curve25519-sha256'; then ok "curve25519 key exchange is negotiated"
else not_ok "curve25519 key exchange is negotiated" "$(newlog | grep 'kex:')"; fi
if [ $OLD = 1 ]; then
  if newlog | grep -q 'client->server cipher: aes128-ctr MAC: hmac-sha2-256'; then
    ok "libssh2 $LIBSSH2_VER: aes128-ctr + hmac-sha2-256 (no GCM, no EtM before 1.11)"
  else not_ok "libssh2 $LIBSSH2_VER: aes128-ctr + hmac-sha2-256" "$(newlog | grep 'kex:')"; fi
  if newlog | grep -q 'will use strict KEX ordering'; then
    not_ok "libssh2 $LIBSSH2_VER: no strict kex (it has none)" "the server says it is on"
  else ok "libssh2 $LIBSSH2_VER has no strict kex: the server does not use it # (a 1.10 limit, docs/reference/limits.md)"; fi
else
  if newlog | grep -q 'client->server cipher: aes128-gcm@openssh.com MAC: <implicit>'; then
    ok "libssh2 $LIBSSH2_VER: aes128-gcm is negotiated by default"
  else not_ok "libssh2 $LIBSSH2_VER: aes128-gcm is negotiated by default" "$(newlog | grep 'kex:')"; fi
  if newlog | grep -q 'will use strict KEX ordering'; then ok "strict key exchange (kex-strict) is negotiated"
  else not_ok "strict key exchange (kex-strict) is negotiated" "$(newlog | grep -i 'strict\|KEX algorithms')"; fi
fi

# --- the user's lists ----------------------------------------------------------------------------
if [ $OLD = 1 ]; then
  skip_checks 4 "libssh2 $LIBSSH2_VER has no chacha20-poly1305 and no EtM MACs"
else
  mark; run_remote c.sshs chacha20-poly1305@openssh.com
  if [ "$rc" = 0 ] && [ "$out" = "GOT fine" ]; then ok "ciphers = chacha20-poly1305: connects"; else not_ok "ciphers = chacha20-poly1305: connects" "$(show)"; fi
  if newlog | grep -q 'client->server cipher: chacha20-poly1305@openssh.com'; then ok "... and chacha20-poly1305 is what runs"
  else not_ok "... and chacha20-poly1305 is what runs" "$(newlog | grep 'kex:')"; fi
  mark; run_remote c.sshs aes128-ctr hmac-sha2-512-etm@openssh.com
  if [ "$rc" = 0 ] && [ "$out" = "GOT fine" ]; then ok "ciphers = aes128-ctr, macs = hmac-sha2-512-etm: connects"; else not_ok "ciphers = aes128-ctr, macs = hmac-sha2-512-etm: connects" "$(show)"; fi
  if newlog | grep -q 'client->server cipher: aes128-ctr MAC: hmac-sha2-512-etm@openssh.com'; then ok "... and the EtM MAC is what runs"
  else not_ok "... and the EtM MAC is what runs" "$(newlog | grep 'kex:')"; fi
fi

# Ciphers from ~/.ssh/config
mkdir -p "$TMP/cfghome/.ssh"
printf 'Host *\n  Ciphers aes256-ctr\n' > "$TMP/cfghome/.ssh/config"
mark; RHOME=$TMP/cfghome run_remote c.sshs
if [ "$rc" = 0 ] && newlog | grep -q 'client->server cipher: aes256-ctr'; then ok "Ciphers in ssh config is used"
else not_ok "Ciphers in ssh config is used" "$(show)" "$(newlog | grep 'kex:')"; fi

# --- bad input -----------------------------------------------------------------------------------
run_remote c.sshs no-such-cipher
expect_rc 1 "a cipher list this libssh2 lacks entirely: fails"
expect_err_has "none of the cipher algorithms asked for (no-such-cipher) is available in libssh2 $LIBSSH2_VER" \
  "... naming the list and the libssh2 version"
expect_err_has "127.0.0.1" "... and the host"

# A server that offers only a cipher we do not offer (the client's list is narrowed to aes256-ctr).
start_sshd "$TMP/nsshd" $'Ciphers aes128-ctr' || exit 1
run_remote c.sshs aes256-ctr
expect_rc 1 "no common cipher: fails"
expect_err_has "no common cipher algorithm: we offer aes256-ctr; the server offers aes128-ctr" \
  "... the error names both sides' ciphers"
expect_err_has "127.0.0.1" "... and the host"
