#!/usr/bin/env bash
# The key matrix against OpenSSH: ed25519, ecdsa 256/384/521, rsa 2048/4096, each in OpenSSH
# format and in PEM where ssh-keygen makes it (not ed25519), with and without a passphrase,
# from a file (opts.key), from an agent (ssh-agent + ssh-add), and as the default key
# (~/.ssh/id_*), also under -H; RSA keys are signed with rsa-sha2-512 against OpenSSH (its log
# says so; rsa-sha2-256 is what Dropbear takes: remote_dropbear.sh). Issue 19 defect 1: any ECDSA key aborted the process (libssh2 freed
# with free() memory from an allocator of ours).
# libssh2 1.10 cannot sign with rsa-sha2 (OpenSSH 9 refuses its ssh-rsa): those cases report a
# SKIP naming that reason with 1.10 only (remote_auth checks the message it gives).
source "$TESTROOT/remote_lib.sh"

TYPES="ed25519 ecdsa256 ecdsa384 ecdsa521 rsa2048 rsa4096"
# file cases: ed25519 x {openssh} + 5 others x {openssh, pem}, each x {plain, passphrase}
plan $(( (1 + 5 * 2) * 2 + 6 + 6 + 2 + 1 ))

start_sshd "$TMP/ksshd" "LogLevel DEBUG1" || exit 1
export X_PORT X_KNOWN_HOSTS
AK=$X_DIR/authorized_keys
KEYS=$TMP/keys
mkdir -p "$KEYS" "$TMP/nokeys/.ssh"
export RHOME=$TMP/nokeys
PASS='key pass phrase'

# One key per type (an RSA 4096 key costs a busy machine seconds of CPU); its other formats and
# passphrases are the same key rewritten by ssh-keygen -p, as a user converting a key has it.
keygen() { # NAME TYPE FORMAT PASSPHRASE
  local name=$1 type=$2 fmt=$3 pp=$4 args
  case $type in
    ed25519) args=(-t ed25519);;
    ecdsa*) args=(-t ecdsa -b "${type#ecdsa}");;
    rsa*) args=(-t rsa -b "${type#rsa}");;
  esac
  if [ ! -f "$KEYS/base-$type" ]; then
    ssh-keygen -q "${args[@]}" -N "" -C "$type" -f "$KEYS/base-$type" || return 1
    cat "$KEYS/base-$type.pub" >> "$AK"
  fi
  cp "$KEYS/base-$type" "$KEYS/$name" && cp "$KEYS/base-$type.pub" "$KEYS/$name.pub" || return 1
  args=(); [ "$fmt" = pem ] && args=(-m PEM)
  [ -z "$pp" ] && [ "$fmt" = openssh ] && return 0
  ssh-keygen -q -p "${args[@]}" -P "" -N "$pp" -f "$KEYS/$name" > /dev/null || return 1
  case "$fmt:$(head -n 1 "$KEYS/$name")" in
    openssh:*"BEGIN OPENSSH PRIVATE KEY"*|pem:*"BEGIN EC PRIVATE KEY"*|pem:*"BEGIN RSA PRIVATE KEY"*) ;;
    *) echo "$name is not in $fmt format: $(head -n 1 "$KEYS/$name")" >&2; return 1;;
  esac
}
old_reason() { # TYPE: why libssh2 1.10 cannot use it, or nothing
  if [ "$LIBSSH2_OLD" = 1 ]; then
    case $1 in rsa*) echo "libssh2 $LIBSSH2_VER signs RSA only with ssh-rsa (SHA-1), which OpenSSH 9 refuses";; esac
  fi
}

# k.sshs KEY PASSPHRASE AGENT(yes|no) [TARGET]: connect and print "WHO <user>".
script k.sshs <<'EOF'
local function opt(v) if v and v ~= "" then return v end end
with connect(opt(arg[4]) or "127.0.0.1", {port = tonumber(os.getenv("X_PORT")),
    known_hosts = os.getenv("X_KNOWN_HOSTS"), key = opt(arg[1]), passphrase = opt(arg[2]),
    agent = arg[3] == "yes"}) do
  print("WHO " .. $(whoami))
end
EOF
logs_in() { # NAME [run_remote args…]
  local name=$1; shift
  run_remote k.sshs "$@"
  if [ "$rc" = 0 ] && [ "$out" = "WHO $SSHS_TEST_USER" ]; then ok "$name"; else not_ok "$name" "$(show)"; fi
}

# --- from a file --------------------------------------------------------------------------------
for type in $TYPES; do
  fmts="openssh pem"; [ $type = ed25519 ] && fmts=openssh
  for fmt in $fmts; do
    for pp in "" "$PASS"; do
      name=$type-$fmt${pp:+-enc}
      if [ -n "$pp" ]; then what="with a passphrase"; else what="no passphrase"; fi
      label="key file: $type, $fmt format, $what"
      keygen "$name" $type $fmt "$pp" || { not_ok "$label (ssh-keygen failed)"; continue; }
      why=$(old_reason $type)
      if [ -n "$why" ]; then ok "$label # SKIP $why"; continue; fi
      logs_in "$label" "$KEYS/$name" "$pp" no
    done
  done
done

# --- from an agent ------------------------------------------------------------------------------
if agent_out=$(ssh-agent -s -a "$TMP/agent.sock" 2>&1); then
  eval "$agent_out" > /dev/null
  CLEANUP+=("kill $SSH_AGENT_PID")
  for type in $TYPES; do
    label="agent: a $type key"
    why=$(old_reason $type)
    if [ -n "$why" ]; then ok "$label # SKIP $why"; continue; fi
    ssh-add -q -D 2>/dev/null
    if ssh-add -q "$KEYS/$type-openssh" 2>/dev/null; then
      logs_in "$label (the only way in: no key file, no default key)" "" "" yes
    else
      not_ok "$label: ssh-add loads it"
    fi
  done
  unset SSH_AUTH_SOCK
  kill "$SSH_AGENT_PID" 2>/dev/null
else
  skip_checks 6 "ssh-agent did not start: $agent_out"
fi

# --- as the default key (~/.ssh/id_ed25519, id_ecdsa, id_rsa) -----------------------------------
for type in $TYPES; do
  h=$TMP/def-$type
  mkdir -p "$h/.ssh"
  case $type in ed25519) f=id_ed25519;; ecdsa*) f=id_ecdsa;; rsa*) f=id_rsa;; esac
  src=$KEYS/$type-pem; [ -f "$src" ] || src=$KEYS/$type-openssh     # PEM where there is one
  cp "$src" "$h/.ssh/$f"; cp "$src.pub" "$h/.ssh/$f.pub"
  label="default key ~/.ssh/$f ($type)"
  why=$(old_reason $type)
  if [ -n "$why" ]; then ok "$label # SKIP $why"; continue; fi
  RHOME=$h logs_in "$label" "" "" no
done

# -H: two hosts, the default key an ECDSA one (the crash ended the whole fleet).
h=$TMP/def-ecdsa256
printf 'Host *\n  Port %s\n  User %s\n  UserKnownHostsFile %s\n' "$X_PORT" "$SSHS_TEST_USER" "$X_KNOWN_HOSTS" > "$h/.ssh/config"
HOME=$h timeout 60 "$SSHS" -H 127.0.0.1,127.0.0.2 -e 'print("WHO " .. $(whoami))' > "$TMP/out" 2> "$TMP/err" < /dev/null
rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err")
expect_rc 0 "-H with an ECDSA default key: the fleet run succeeds"
if [ "$(grep -c "WHO $SSHS_TEST_USER" "$TMP/out")" = 2 ]; then ok "-H with an ECDSA default key: both hosts answer"
else not_ok "-H with an ECDSA default key: both hosts answer" "$(show)"; fi

# --- which RSA signature went out --------------------------------------------------------------
label="RSA keys are signed with rsa-sha2-512 (the server's log)"
if [ "$LIBSSH2_OLD" = 1 ]; then ok "$label # SKIP $(old_reason rsa)"
elif grep -q 'pkalg rsa-sha2-512 ' "$X_DIR/sshd.log"; then ok "$label"
else not_ok "$label" "$(grep 'pkalg' "$X_DIR/sshd.log" | sort | uniq -c)"; fi
