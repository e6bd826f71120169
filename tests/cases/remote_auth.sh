#!/usr/bin/env bash
# Authentication: explicit key, IdentityFile, default identity files, agent, encrypted keys
# (passphrase given, wrong, missing, prompted on a terminal), password (given, wrong, prompted
# without echo), which user wins, the failure message (tried methods + the server's methods),
# and RSA keys that libssh2 1.10 cannot use with OpenSSH 9.
# Uses a private sshd with PasswordAuthentication yes and a throwaway local user.
source "$TESTROOT/remote_lib.sh"
# RSA keys: 15 checks of the refusal message with libssh2 1.10, 9 of logging in with >= 1.11.
if [ "$LIBSSH2_OLD" = 1 ]; then plan 57; else plan 51; fi

start_sshd "$TMP/asshd" $'PasswordAuthentication yes' || exit 1
export X_PORT X_KNOWN_HOSTS X_KEY
AK=$X_DIR/authorized_keys
KEYS=$TMP/keys
mkdir -p "$KEYS"

# a.sshs KEY PASSPHRASE PASSWORD USER AGENT(yes|no|"") TARGET: connect to the private sshd with
# those options (empty = not given) and print "WHO <remote user>"; errors are uncaught.
script a.sshs <<'EOF'
local function opt(v) if v and v ~= "" then return v end end
local o = {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
           key = opt(arg[1]), passphrase = opt(arg[2]), password = opt(arg[3]), user = opt(arg[4])}
if arg[5] == "no" then o.agent = false elseif arg[5] == "yes" then o.agent = true end
with connect(opt(arg[6]) or "127.0.0.1", o) do
  print("WHO " .. $(whoami))
end
EOF
auth() { run_remote a.sshs "$@"; }
logged_in_as() { # $1 user, $2 name
  if [ "$rc" = 0 ] && [ "$out" = "WHO $1" ]; then ok "$2"; else not_ok "$2" "expected WHO $1" "$(show)"; fi
}
auth_failed() { # $1 name
  if [ "$rc" = 1 ] && [ -z "$out" ]; then ok "$1"; else not_ok "$1" "expected exit 1 and no output" "$(show)"; fi
}

mkdir -p "$TMP/nokeys/.ssh"          # a home without keys or config
export RHOME=$TMP/nokeys

# --- keys ----------------------------------------------------------------------------------------
auth "$X_KEY"
logged_in_as "$SSHS_TEST_USER" "opts.key: an explicit ed25519 key"

auth "$X_WRONG_KEY"
auth_failed "a key the server does not know is refused"
expect_err_has "authentication to $SSHS_TEST_USER@127.0.0.1 failed" "wrong key: message names the host"
expect_err_has "Tried: key $X_WRONG_KEY (refused)" "wrong key: message says which key was tried and refused"
expect_err_has "the server allows: publickey,password" "wrong key: message lists the server's methods"
expect_err_has "a.sshs:5:" "wrong key: message has the script's file:line"

auth "$KEYS/does-not-exist"
auth_failed "a missing key file: authentication fails"
expect_err_has "$KEYS/does-not-exist" "missing key file: message names the file"
expect_err_has "No such file" "missing key file: message says why"

auth
auth_failed "no key, no agent, no password: fails"
expect_err_has "Tried: nothing" "nothing to try: message says nothing was tried"

mkdir -p "$TMP/defhome/.ssh"
cp "$X_KEY" "$TMP/defhome/.ssh/id_ed25519"; cp "$X_KEY.pub" "$TMP/defhome/.ssh/id_ed25519.pub"
RHOME=$TMP/defhome auth
logged_in_as "$SSHS_TEST_USER" "default identity file ~/.ssh/id_ed25519"
RHOME=$TMP/defhome auth "$X_WRONG_KEY"
logged_in_as "$SSHS_TEST_USER" "a refused key, then the default identity: the next key is tried"

mkdir -p "$TMP/cfghome/.ssh" "$TMP/cfghome/keys"
cp "$X_KEY" "$TMP/cfghome/keys/custom"; cp "$X_KEY.pub" "$TMP/cfghome/keys/custom.pub"
printf 'Host *\n  IdentityFile ~/keys/custom\n' > "$TMP/cfghome/.ssh/config"
RHOME=$TMP/cfghome auth
logged_in_as "$SSHS_TEST_USER" "IdentityFile from ~/.ssh/config (with ~ expanded)"
printf 'Host *\n  IdentityFile ~/keys/custom\n  User nobody\n' > "$TMP/cfghome/.ssh/config"
RHOME=$TMP/cfghome auth "" "" "" "$SSHS_TEST_USER"
logged_in_as "$SSHS_TEST_USER" "opts.user wins over User in ssh config"
RHOME=$TMP/cfghome auth "" "" "" "" "" "$SSHS_TEST_USER@127.0.0.1"
logged_in_as "$SSHS_TEST_USER" "user@ in the target wins over User in ssh config"

# Encrypted key.
ssh-keygen -q -t ed25519 -N 'open sesame' -C enc -f "$KEYS/enc"
cat "$KEYS/enc.pub" >> "$AK"
auth "$KEYS/enc" "open sesame"
logged_in_as "$SSHS_TEST_USER" "encrypted key with opts.passphrase"
auth "$KEYS/enc" "not it"
auth_failed "encrypted key, wrong passphrase: fails"
expect_err_has "wrong passphrase" "wrong passphrase: message says so"
auth "$KEYS/enc"
auth_failed "encrypted key, no passphrase, no terminal: fails"
expect_err_has "no passphrase" "missing passphrase: message says so"

# --- agent ---------------------------------------------------------------------------------------
if agent_out=$(ssh-agent -s -a "$TMP/agent.sock" 2>&1); then
  eval "$agent_out" > /dev/null
  CLEANUP+=("kill $SSH_AGENT_PID")
  if ssh-add -q "$X_KEY" 2>/dev/null; then
    auth
    logged_in_as "$SSHS_TEST_USER" "agent key (SSH_AUTH_SOCK set, agent on by default)"
    auth "" "" "" "" no
    auth_failed "agent=false: the agent is not used"
    auth "$X_WRONG_KEY" "" "" "" yes
    logged_in_as "$SSHS_TEST_USER" "agent=true explicitly, agent key tried first"
  else
    not_ok "ssh-add loads the test key into a private agent"
  fi
  unset SSH_AUTH_SOCK
  kill "$SSH_AGENT_PID" 2>/dev/null
else
  skip_checks 3 "ssh-agent did not start: $agent_out"
fi

# --- RSA keys: libssh2 >= 1.11 signs with rsa-sha2-256/512; 1.10 only with ssh-rsa (SHA-1), -------
# which OpenSSH 9.2 refuses. Which path applies is what `sshs --version` says this build links.
ssh-keygen -q -t rsa -b 2048 -N '' -C rsa -f "$KEYS/rsa"
ssh-keygen -q -t rsa -b 2048 -N '' -m PEM -C rsapem -f "$KEYS/rsapem"
cat "$KEYS/rsa.pub" "$KEYS/rsapem.pub" >> "$AK"
cp "$KEYS/rsa" "$KEYS/rsa_nopub"
rsa_case() { # $1 key path, $2 label
  auth "$1"
  case "$LIBSSH2_VER" in
    1.10.*|1.[0-9].*)
      echo "# $2: this build links libssh2 $LIBSSH2_VER, which cannot sign with rsa-sha2: checking the refusal message"
      auth_failed "$2: refused (libssh2 $LIBSSH2_VER)"
      expect_err_has "$1" "$2: message names the key"
      expect_err_has "libssh2 1.10" "$2: message explains libssh2 1.10 cannot use it"
      case "$err" in *rsa-sha2*|*SHA-1*|*sha1*) ok "$2: message names the signature problem (rsa-sha2 / SHA-1)";;
        *) not_ok "$2: message names the signature problem (rsa-sha2 / SHA-1)" "$(show)";; esac
      expect_err_has "ed25519" "$2: message suggests an ed25519 key";;
    "") not_ok "$2: sshs --version names the libssh2 version" "$("$SSHS" --version 2>&1)";;
    *)
      logged_in_as "$SSHS_TEST_USER" "$2: logs in (libssh2 $LIBSSH2_VER signs with rsa-sha2)";;
  esac
}
rsa_case "$KEYS/rsa" "authorized RSA key (OpenSSH format)"
rsa_case "$KEYS/rsa_nopub" "authorized RSA key without its .pub file"
rsa_case "$KEYS/rsapem" "authorized RSA key (PEM format)"
if [ "$LIBSSH2_OLD" = 0 ]; then
  # The server's log says which signature algorithm it accepted.
  if grep -q 'Accepted publickey .*ssh2: RSA SHA256' "$X_DIR/sshd.log" 2>/dev/null; then
    ok "the server accepted the RSA key"
  else
    not_ok "the server accepted the RSA key" "$(grep -i 'rsa' "$X_DIR/sshd.log" | tail -n 5)"
  fi
  # A server that takes no RSA signatures: the error names the key, the algorithms and the host.
  saved=$(declare -p X_PORT X_KNOWN_HOSTS X_DIR X_KEY X_HOME X_WRONG_KEY 2>/dev/null)
  if start_sshd "$TMP/norsa" $'PubkeyAcceptedAlgorithms ssh-ed25519'; then
    cat "$KEYS/rsa.pub" >> "$X_DIR/authorized_keys"
    auth "$KEYS/rsa"
    auth_failed "RSA key on a server that accepts no RSA signatures: refused"
    expect_err_has "127.0.0.1" "RSA refused: message names the host"
    expect_err_has "the RSA key $KEYS/rsa was refused" "RSA refused: message names the key"
    expect_err_has "rsa-sha2-512" "RSA refused: message names the signature algorithms tried"
    expect_err_has "PubkeyAcceptedAlgorithms" "RSA refused: message points at the server's setting"
  fi
  eval "$saved"          # the other cases below use the first private sshd
fi

# --- password ------------------------------------------------------------------------------------
PWUSER=sshs_pw$$          # one per run: parallel runs must not share it
PW='pw with spaces & "quotes"'
if ! id "$PWUSER" > /dev/null 2>&1; then
  if useradd -M -d /tmp -s /bin/sh "$PWUSER" 2>/dev/null; then CLEANUP+=("userdel $PWUSER"); fi
fi
if id "$PWUSER" > /dev/null 2>&1 && printf '%s:%s\n' "$PWUSER" "$PW" | chpasswd 2>/dev/null; then
  auth "" "" "$PW" "$PWUSER"
  logged_in_as "$PWUSER" "password authentication (opts.password)"
  auth "" "" "wrong" "$PWUSER"
  auth_failed "a wrong password is refused"
  expect_err_has "password (refused)" "wrong password: message says the password was refused"
  expect_err_has "the server allows: publickey,password" "wrong password: message lists the server's methods"
  case "$err" in *"$PW"*) not_ok "the password never appears in messages" "$(show)";; *) ok "the password never appears in messages";; esac

  # The main test sshd does not allow passwords: a given password is not tried there.
  X_PORT=$SSHS_TEST_PORT X_KNOWN_HOSTS=$SSHS_TEST_KNOWN_HOSTS auth "" "" "$PW" "$PWUSER"
  auth_failed "password given, server without password auth: fails"
  expect_err_has "the server allows: publickey" "... message lists only publickey"
  case "$err" in *"password (refused)"*) not_ok "... and the password was not sent" "$(show)";; *) ok "... and the password was not sent";; esac

  # keyboard-interactive (through PAM), on a server that offers no plain password method.
  if start_sshd "$TMP/kbdsshd" $'UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no'; then
    auth "" "" "$PW" "$PWUSER"
    logged_in_as "$PWUSER" "keyboard-interactive authentication with opts.password"
    auth "" "" "wrong" "$PWUSER"
    auth_failed "keyboard-interactive with a wrong password is refused"
    expect_err_has "keyboard-interactive (refused)" "... message says keyboard-interactive was refused"
    expect_err_has "the server allows: publickey,keyboard-interactive" "... and lists the server's methods"
    bash "$REPO/scripts/test-sshd.sh" stop "$TMP/kbdsshd" > /dev/null 2>&1
    eval "$(sed 's/^SSHS_TEST_/X_/' "$TMP/asshd.env")"      # back to the password sshd
  fi

  # Prompted on a terminal, without echo.
  cat > "$TMP/ptydrive.py" <<'EOF'
import os, pty, select, sys, time
secret, want = sys.argv[1].encode(), sys.argv[2].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[3], sys.argv[3:])
buf, sent, end = b"", False, time.time() + 60      # a hang guard
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        buf += d
        if not sent and want in buf:
            time.sleep(0.2)
            os.write(fd, secret + b"\n")
            sent = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace").replace("\r", ""))
sys.exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 99)
EOF
  HOME=$TMP/nokeys timeout 90 python3 "$TMP/ptydrive.py" "$PW" "password: " "$SSHS" "$TMP/a.sshs" "" "" "" "$PWUSER" > "$TMP/ptyout" 2>&1; prc=$?
  pout=$(cat "$TMP/ptyout")
  case "$pout" in *"$PWUSER@127.0.0.1's password: "*) ok "on a terminal, the password is prompted for";;
    *) not_ok "on a terminal, the password is prompted for" "rc=$prc" "$pout";; esac
  if [ "$prc" = 0 ] && case "$pout" in *"WHO $PWUSER"*) true;; *) false;; esac; then ok "... and the typed password logs in"
  else not_ok "... and the typed password logs in" "rc=$prc" "$pout"; fi
  case "$pout" in *"$PW"*) not_ok "... without echoing it" "$pout";; *) ok "... without echoing it";; esac

  HOME=$TMP/nokeys timeout 90 python3 "$TMP/ptydrive.py" "open sesame" "passphrase" "$SSHS" "$TMP/a.sshs" "$KEYS/enc" > "$TMP/ptyout" 2>&1; prc=$?
  pout=$(cat "$TMP/ptyout")
  case "$pout" in *"passphrase for key '$KEYS/enc'"*) ok "on a terminal, an encrypted key's passphrase is prompted for";;
    *) not_ok "on a terminal, an encrypted key's passphrase is prompted for" "rc=$prc" "$pout";; esac
  if [ "$prc" = 0 ] && case "$pout" in *"WHO $SSHS_TEST_USER"*) true;; *) false;; esac; then ok "... and the typed passphrase unlocks it"
  else not_ok "... and the typed passphrase unlocks it" "rc=$prc" "$pout"; fi
  case "$pout" in *"open sesame"*) not_ok "... without echoing it" "$pout";; *) ok "... without echoing it";; esac
else
  skip_checks 18 "password authentication: cannot create a local user with a password (not root?)"
fi
