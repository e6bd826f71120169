#!/usr/bin/env bash
# User certificates against an sshd that trusts a user CA (TrustedUserCAKeys) and has none of
# the keys in authorized_keys: KEY-cert.pub beside a key is used automatically (given and
# default keys), CertificateFile pairs with the key it certifies, a certificate for another
# principal is refused and named, and certificates held by the agent keep working.
source "$TESTROOT/remote_lib.sh"
plan 10

K=$TMP/k; mkdir -p "$K"
ssh-keygen -q -t ed25519 -N '' -C ca -f "$K/ca"
start_sshd "$TMP/csshd" "TrustedUserCAKeys $K/ca.pub" || exit 1
: > "$X_DIR/authorized_keys"               # only certificates get in
export X_PORT X_KNOWN_HOSTS
for name in beside elsewhere other plain agentkey; do ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$K/$name"; done
ssh-keygen -q -t rsa -b 2048 -N '' -C rsa -f "$K/rsa"
sign() { ssh-keygen -q -s "$K/ca" -I "$1" -n "$2" -V -5m:+1h "$K/$1.pub"; }
sign beside "$SSHS_TEST_USER"
sign elsewhere "$SSHS_TEST_USER"; mkdir -p "$K/certs"; mv "$K/elsewhere-cert.pub" "$K/certs/mine-cert.pub"
sign other someone-else
sign agentkey "$SSHS_TEST_USER"
sign rsa "$SSHS_TEST_USER"

mkdir -p "$TMP/home/.ssh" "$TMP/dhome/.ssh"
cat > "$TMP/home/.ssh/config" <<EOF
Host certcfg
  HostName 127.0.0.1
  IdentityFile $K/plain
  IdentityFile $K/elsewhere
  CertificateFile $K/certs/mine-cert.pub
Host *
  Port $X_PORT
  User $SSHS_TEST_USER
  UserKnownHostsFile $X_KNOWN_HOSTS
EOF
cp "$K/beside" "$TMP/dhome/.ssh/id_ed25519"; cp "$K/beside.pub" "$TMP/dhome/.ssh/id_ed25519.pub"
cp "$K/beside-cert.pub" "$TMP/dhome/.ssh/id_ed25519-cert.pub"
cp "$TMP/home/.ssh/config" "$TMP/dhome/.ssh/config"; sed -i '/IdentityFile\|CertificateFile/d' "$TMP/dhome/.ssh/config"

script c.sshs <<'EOF'
local o = {agent = arg[3] == "agent"}
if arg[2] ~= "" then o.key = arg[2] end
with connect(arg[1], o) do print("WHO " .. $(whoami)) end
EOF
who() { if [ "$rc" = 0 ] && [ "$out" = "WHO $SSHS_TEST_USER" ]; then ok "$1"; else not_ok "$1" "$(show)"; fi; }

if [ "$LIBSSH2_OLD" = 1 ]; then
  # libssh2 1.10 signs a certificate login with the certificate's type: sshd refuses it.
  RHOME=$TMP/home run_remote c.sshs 127.0.0.1 "$K/beside"
  expect_rc 1 "libssh2 1.10: a certificate cannot be used"
  expect_err_has "certificate $K/beside-cert.pub (not used: libssh2 1.10 cannot sign with a certificate" "libssh2 1.10: the message says so"
  skip_checks 8 "libssh2 $LIBSSH2_VER cannot sign with certificates (>= 1.11 can)"
  exit 0
fi
RHOME=$TMP/home run_remote c.sshs 127.0.0.1 "$K/beside"
who "opts.key with KEY-cert.pub beside it: the certificate is used"
RHOME=$TMP/home run_remote c.sshs 127.0.0.1 "$K/plain"
expect_rc 1 "a key without a certificate is refused (the server knows no keys)"
RHOME=$TMP/home run_remote c.sshs 127.0.0.1 "$K/rsa"
who "an RSA key's certificate (rsa-sha2 signature)"
RHOME=$TMP/dhome run_remote c.sshs 127.0.0.1 ""
who "the default ~/.ssh/id_ed25519 with id_ed25519-cert.pub"
RHOME=$TMP/home run_remote c.sshs certcfg ""
who "CertificateFile elsewhere: paired with the IdentityFile it certifies"
RHOME=$TMP/home run_remote c.sshs 127.0.0.1 "$K/other"
expect_rc 1 "a certificate for another principal: refused"
expect_err_has "certificate $K/other-cert.pub with key $K/other (refused)" "... and the message names the certificate"

eval "$(ssh-agent -s)" > /dev/null
CLEANUP+=("kill $SSH_AGENT_PID")
ssh-add -q "$K/agentkey" 2>/dev/null           # adds agentkey-cert.pub too
n=$(ssh-add -l | grep -c CERT)
[ "$n" = 1 ] && ok "the agent holds the certificate" || not_ok "the agent holds the certificate" "$(ssh-add -l)"
RHOME=$TMP/home SSH_AUTH_SOCK=$SSH_AUTH_SOCK run_remote c.sshs 127.0.0.1 "" agent
who "a certificate from the agent keeps working"
RHOME=$TMP/home SSH_AUTH_SOCK=$SSH_AUTH_SOCK run_remote c.sshs certcfg "" agent
who "agent first, then CertificateFile: still logs in"
