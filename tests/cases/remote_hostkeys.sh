#!/usr/bin/env bash
# Host keys: unknown / accept-new / changed / no; appending without rewriting; hashed entries;
# another key type is not a "changed" key; [host]:port form; wildcards, negation, @revoked;
# lines the reader cannot parse; StrictHostKeyChecking and UserKnownHostsFile from ssh config.
source "$TESTROOT/remote_lib.sh"
plan 88

SRV_KEY=$(cut -d' ' -f1,2 "$SSHS_TEST_DIR/ssh_host_ed25519_key.pub")
FP=$SSHS_TEST_HOSTKEY_FP
KH=$TMP/kh
mkdir -p "$KH"
ssh-keygen -q -t ed25519 -N '' -C other -f "$KH/other_ed25519"
ssh-keygen -q -t ecdsa -N '' -C other -f "$KH/other_ecdsa"
OTHER_KEY=$(cut -d' ' -f1,2 "$KH/other_ed25519.pub")
ECDSA_KEY=$(cut -d' ' -f1,2 "$KH/other_ecdsa.pub")
UNRELATED="other.example.org $OTHER_KEY"

# hk TARGET KNOWN_HOSTS MODE: connect with those options (empty = not given), print the remote
# SSH_CONNECTION; an error is uncaught (exit 1, message on stderr).
script hk.sshs <<'EOF'
local target, kh, mode = arg[1], arg[2], arg[3]
local opts = {}
if kh and kh ~= "" then opts.known_hosts = kh end
if mode and mode ~= "" then opts.host_key_check = mode end
if arg[4] then opts.ssh_config = arg[4] end
with connect(target, opts) do
  print("CONNECTED " .. $(echo $SSH_CONNECTION))
end
EOF
hk() { run_remote hk.sshs "$@"; }
connected_to() { # $1 = address, $2 = name
  case "$out" in "CONNECTED "*" $1 $P") ok "$2";; *) not_ok "$2" "expected a connection to $1" "$(show)";; esac
}
refused() { # $1 = name: the connection was refused (exit 1, nothing ran)
  if [ "$rc" = 1 ] && [ -z "$out" ]; then ok "$1"; else not_ok "$1" "expected exit 1 and no output" "$(show)"; fi
}
same_file() { # $1 file, $2 copy, $3 name
  if cmp -s "$1" "$2"; then ok "$3"; else not_ok "$3" "$(diff "$2" "$1" | head -5)"; fi
}

# --- unknown key, default mode "yes" -----------------------------------------------------------
printf '# a comment\n%s\n' "$UNRELATED" > "$KH/one"
cp "$KH/one" "$KH/one.orig"
hk 127.0.0.11 "$KH/one" ""
refused "unknown host key is refused by default"
expect_err_has "unknown host key" "unknown key: message says 'unknown host key'"
expect_err_has "$FP" "unknown key: message shows the SHA256 fingerprint"
expect_err_has "accept-new" "unknown key: message says how to accept it"
expect_err_has "$KH/one" "unknown key: message names the known_hosts file"
expect_err_has "127.0.0.11" "unknown key: message names the host"
expect_err_has "hk.sshs:6:" "unknown key: message has the script's file:line"
same_file "$KH/one" "$KH/one.orig" "unknown key under 'yes' leaves known_hosts untouched"

hk 127.0.0.11 "$KH/one" yes
refused "host_key_check='yes' explicitly: unknown key refused"

# --- accept-new appends one line, never rewrites ---------------------------------------------
ino=$(stat -c %i "$KH/one")
hk 127.0.0.11 "$KH/one" accept-new
connected_to 127.0.0.11 "accept-new connects to an unknown host"
expect_err_has "added" "accept-new says it added the key"
expect_err_has "[127.0.0.11]:$P" "accept-new message names the host entry"
expect_err_has "$KH/one" "accept-new message names the file"
expect_err_has "$FP" "accept-new message shows the fingerprint"
n=$(wc -c < "$KH/one.orig")
if [ "$(head -c "$n" "$KH/one")" = "$(cat "$KH/one.orig")" ] && [ "$(wc -l < "$KH/one")" = 3 ]; then
  ok "accept-new keeps the earlier lines byte for byte and adds one line"
else not_ok "accept-new keeps the earlier lines byte for byte and adds one line" "$(cat "$KH/one")"; fi
[ "$(stat -c %i "$KH/one")" = "$ino" ] && ok "accept-new appends in place (same inode)" \
  || not_ok "accept-new appends in place (same inode)" "inode $ino -> $(stat -c %i "$KH/one")"
last=$(tail -n 1 "$KH/one" | cut -d' ' -f1-3)
[ "$last" = "[127.0.0.11]:$P $SRV_KEY" ] && ok "the added line is '[host]:port type key'" \
  || not_ok "the added line is '[host]:port type key'" "got: $last" "want: [127.0.0.11]:$P $SRV_KEY"
ssh-keygen -F "[127.0.0.11]:$P" -f "$KH/one" > /dev/null && ok "OpenSSH finds the added entry" \
  || not_ok "OpenSSH finds the added entry" "$(cat "$KH/one")"
cp "$KH/one" "$KH/one.after"
hk 127.0.0.11 "$KH/one" yes
connected_to 127.0.0.11 "the added entry is used by the next connection"
hk 127.0.0.11 "$KH/one" accept-new
connected_to 127.0.0.11 "accept-new with a known key connects"
case "$err" in *added*) not_ok "accept-new with a known key adds nothing" "$(show)";; *) ok "accept-new with a known key adds nothing";; esac
same_file "$KH/one" "$KH/one.after" "no duplicate line for a known key"

# Last line without a newline: the new entry must go on a line of its own.
printf '%s' "$UNRELATED" > "$KH/nonl"
hk 127.0.0.12 "$KH/nonl" accept-new
connected_to 127.0.0.12 "accept-new on a file whose last line has no newline"
if [ "$(head -n 1 "$KH/nonl")" = "$UNRELATED" ] && ssh-keygen -F "[127.0.0.12]:$P" -f "$KH/nonl" > /dev/null \
   && ssh-keygen -F other.example.org -f "$KH/nonl" > /dev/null; then
  ok "... the old last line is intact and the new entry is on its own line"
else not_ok "... the old last line is intact and the new entry is on its own line" "$(cat -A "$KH/nonl")"; fi

# A known_hosts file that does not exist yet.
hk 127.0.0.12 "$KH/missing" yes
refused "a missing known_hosts file means an unknown key under 'yes'"
expect_err_has "unknown host key" "... with the unknown-key message (not a read error)"
hk 127.0.0.12 "$KH/missing" accept-new
connected_to 127.0.0.12 "accept-new creates a missing known_hosts file"
ssh-keygen -F "[127.0.0.12]:$P" -f "$KH/missing" > /dev/null && ok "... holding the new entry" \
  || not_ok "... holding the new entry" "$(cat "$KH/missing" 2>&1)"

# --- a changed key is always refused -----------------------------------------------------------
printf '%s\n[127.0.0.13]:%s %s\n' "$UNRELATED" "$P" "$OTHER_KEY" > "$KH/changed"
cp "$KH/changed" "$KH/changed.orig"
hk 127.0.0.13 "$KH/changed" ""
refused "a changed host key is refused"
expect_err_has "HOST KEY CHANGED" "changed key: message says HOST KEY CHANGED"
expect_err_has "$FP" "changed key: message shows the new fingerprint"
expect_err_has "$KH/changed:2" "changed key: message names file:line of the old entry"
hk 127.0.0.13 "$KH/changed" accept-new
refused "a changed host key is refused under accept-new too"
expect_err_has "HOST KEY CHANGED" "accept-new + changed key: HOST KEY CHANGED"
same_file "$KH/changed" "$KH/changed.orig" "a changed key never touches known_hosts"
hk 127.0.0.13 "$KH/changed" no
refused "host_key_check='no' still refuses a changed key (it skips only the unknown-key check)"
expect_err_has "HOST KEY CHANGED" "'no' + changed key: HOST KEY CHANGED"
same_file "$KH/changed" "$KH/changed.orig" "'no' does not write known_hosts"
hk 127.0.0.14 "$KH/changed" no
connected_to 127.0.0.14 "host_key_check='no' skips the check (unknown key)"
same_file "$KH/changed" "$KH/changed.orig" "'no' adds nothing for an unknown key"

# --- hashed entries ----------------------------------------------------------------------------
printf '[127.0.0.13]:%s %s\n[127.0.0.14]:%s %s\n' "$P" "$SRV_KEY" "$P" "$OTHER_KEY" > "$KH/hashed"
ssh-keygen -q -H -f "$KH/hashed" > /dev/null 2>&1; rm -f "$KH/hashed.old"
if grep -q '^|1|' "$KH/hashed" && ! grep -q 127.0.0 "$KH/hashed"; then ok "ssh-keygen -H hashed the test file"
else not_ok "ssh-keygen -H hashed the test file" "$(cat "$KH/hashed")"; fi
hk 127.0.0.13 "$KH/hashed" ""
connected_to 127.0.0.13 "a hashed known_hosts entry matches"
hk 127.0.0.14 "$KH/hashed" ""
refused "a hashed entry with another key is a changed key"
expect_err_has "HOST KEY CHANGED" "hashed changed entry: HOST KEY CHANGED"

# --- another key type is not "changed" ---------------------------------------------------------
printf '[127.0.0.15]:%s %s\n' "$P" "$ECDSA_KEY" > "$KH/types"
cp "$KH/types" "$KH/types.orig"
hk 127.0.0.15 "$KH/types" ""
refused "only a key of another type known: refused under 'yes'"
expect_err_has "unknown host key" "... as an unknown key"
case "$err" in *CHANGED*) not_ok "... not as a changed key" "$(show)";; *) ok "... not as a changed key";; esac
hk 127.0.0.15 "$KH/types" accept-new
connected_to 127.0.0.15 "accept-new adds the ed25519 key next to an ecdsa one"
if [ "$(head -n 1 "$KH/types")" = "$(cat "$KH/types.orig")" ] && [ "$(wc -l < "$KH/types")" = 2 ]; then
  ok "... keeping the ecdsa line"
else not_ok "... keeping the ecdsa line" "$(cat "$KH/types")"; fi

# --- [host]:port form, wildcards, negation, @revoked, unparsable lines --------------------------
printf '127.0.0.16 %s\n' "$SRV_KEY" > "$KH/noport"
hk 127.0.0.16 "$KH/noport" ""
refused "an entry without [host]:port does not match a non-22 port"
expect_err_has "unknown host key" "... it is an unknown key"

printf '![127.0.0.13]:%s,[127.0.0.1?]:%s %s\n' "$P" "$P" "$SRV_KEY" > "$KH/wild"
hk 127.0.0.10 "$KH/wild" ""
connected_to 127.0.0.10 "a wildcard entry [127.0.0.1?]:port matches"
hk 127.0.0.13 "$KH/wild" ""
refused "a negated pattern (!host) excludes that host"

printf '@revoked [127.0.0.9]:%s %s\n[127.0.0.9]:%s %s\n' "$P" "$SRV_KEY" "$P" "$SRV_KEY" > "$KH/revoked"
hk 127.0.0.9 "$KH/revoked" ""
refused "a key marked @revoked is refused"
expect_err_has "revoked" "... and the message says revoked"

{
  echo "this line is not a known_hosts entry"
  echo "|1|bm90IGEgaGFzaA==|bm9wZQ== ssh-ed25519 AAAA"
  echo "@cert-authority *.example.org $OTHER_KEY"
  echo "[127.0.0.8]:$P $SRV_KEY"
} > "$KH/garbage"
hk 127.0.0.8 "$KH/garbage" ""
connected_to 127.0.0.8 "unparsable lines before an entry do not hide it"

# --- ssh config: StrictHostKeyChecking / UserKnownHostsFile ----------------------------------
write_cfg() { # $1 file, $2 StrictHostKeyChecking, $3 UserKnownHostsFile
  cat > "$1" <<EOF
Host *
  Port $P
  User $SSHS_TEST_USER
  IdentityFile $SSHS_TEST_KEY
  StrictHostKeyChecking $2
  UserKnownHostsFile $3
EOF
}
: > "$KH/cfg_kh"
write_cfg "$TMP/cfg_acceptnew" accept-new "$KH/cfg_kh"
hk 127.0.0.7 "" "" "$TMP/cfg_acceptnew"
connected_to 127.0.0.7 "StrictHostKeyChecking accept-new in ssh config"
ssh-keygen -F "[127.0.0.7]:$P" -f "$KH/cfg_kh" > /dev/null && ok "... appended to the config's UserKnownHostsFile" \
  || not_ok "... appended to the config's UserKnownHostsFile" "$(cat "$KH/cfg_kh")"
: > "$KH/cfg_kh2"
write_cfg "$TMP/cfg_no" no "$KH/cfg_kh2"
hk 127.0.0.6 "" "" "$TMP/cfg_no"
connected_to 127.0.0.6 "StrictHostKeyChecking no in ssh config"
printf '[127.0.0.6]:%s %s\n' "$P" "$OTHER_KEY" > "$KH/cfg_kh3"
write_cfg "$TMP/cfg_no_changed" no "$KH/cfg_kh3"
hk 127.0.0.6 "" "" "$TMP/cfg_no_changed"
refused "StrictHostKeyChecking no in ssh config still refuses a changed key"
expect_err_has "HOST KEY CHANGED" "... saying HOST KEY CHANGED"
printf '@revoked [127.0.0.6]:%s %s\n' "$P" "$SRV_KEY" > "$KH/cfg_kh4"
write_cfg "$TMP/cfg_no_revoked" no "$KH/cfg_kh4"
hk 127.0.0.6 "" "" "$TMP/cfg_no_revoked"
refused "StrictHostKeyChecking no still refuses a @revoked key"
expect_err_has "revoked" "... saying revoked"
hk 127.0.0.6 "$KH/cfg_kh4" no
refused "host_key_check='no' still refuses a @revoked key"
hk 127.0.0.6 "" yes "$TMP/cfg_no"
refused "host_key_check in opts wins over the ssh config"
expect_err_has "$KH/cfg_kh2" "... and the config's UserKnownHostsFile is the file named"

# Default file: ~/.ssh/known_hosts of $HOME when nothing else is said.
mkdir -p "$TMP/home/.ssh"
cat > "$TMP/home/.ssh/config" <<EOF
Host *
  Port $P
  User $SSHS_TEST_USER
  IdentityFile $SSHS_TEST_KEY
EOF
RHOME=$TMP/home hk 127.0.0.5 "" ""
refused "with no known_hosts setting, an empty ~/.ssh means unknown"
expect_err_has "$TMP/home/.ssh/known_hosts" "... and the message names ~/.ssh/known_hosts"
RHOME=$TMP/home hk 127.0.0.5 "" accept-new
connected_to 127.0.0.5 "accept-new with the default file"
ssh-keygen -F "[127.0.0.5]:$P" -f "$TMP/home/.ssh/known_hosts" > /dev/null && ok "... writes ~/.ssh/known_hosts" \
  || not_ok "... writes ~/.ssh/known_hosts" "$(ls -la "$TMP/home/.ssh")"

# --- GlobalKnownHostsFile (default /etc/ssh/ssh_known_hosts and ssh_known_hosts2): read with the
# same rules, never written; here temp files named by the config keyword (tests never touch /etc).
write_gcfg() { # $1 file, $2 UserKnownHostsFile, rest: GlobalKnownHostsFile files
  local f=$1 u=$2; shift 2
  write_cfg "$f" yes "$u"
  echo "  GlobalKnownHostsFile $*" >> "$f"
}
printf '[127.0.0.4]:%s %s\n' "$P" "$SRV_KEY" > "$KH/g_user"
printf '%s\n@revoked [127.0.0.4]:%s %s\n' "$UNRELATED" "$P" "$SRV_KEY" > "$KH/g_revoked"
write_gcfg "$TMP/cfg_g_revoked" "$KH/g_user" "$KH/g_revoked"
hk 127.0.0.4 "" "" "$TMP/cfg_g_revoked"
refused "a key @revoked in the global known_hosts is refused (though the user's file has it)"
expect_err_has "$KH/g_revoked:2" "... the message names the global file:line"
hk 127.0.0.4 "" no "$TMP/cfg_g_revoked"
refused "... under host_key_check='no' too"
: > "$KH/g_empty"
write_gcfg "$TMP/cfg_g_second" "$KH/g_user" "$KH/g_missing" "$KH/g_empty" "$KH/g_revoked"
hk 127.0.0.4 "" "" "$TMP/cfg_g_second"
refused "every file of GlobalKnownHostsFile is read (@revoked in the third; the first is missing)"
printf '[127.0.0.3]:%s %s\n' "$P" "$SRV_KEY" > "$KH/g_known"
cp "$KH/g_known" "$KH/g_known.orig"
: > "$KH/g_user2"
write_gcfg "$TMP/cfg_g_known" "$KH/g_user2" "$KH/g_known"
hk 127.0.0.3 "" "" "$TMP/cfg_g_known"
connected_to 127.0.0.3 "a key listed only in the global known_hosts is known"
hk 127.0.0.3 "" accept-new "$TMP/cfg_g_known"
connected_to 127.0.0.3 "... under accept-new too"
if [ ! -s "$KH/g_user2" ]; then ok "... and nothing is added to the user's file"
else not_ok "... and nothing is added to the user's file" "$(cat "$KH/g_user2")"; fi
same_file "$KH/g_known" "$KH/g_known.orig" "the global file is never written"
printf '[127.0.0.3]:%s %s\n' "$P" "$OTHER_KEY" > "$KH/g_changed"
write_gcfg "$TMP/cfg_g_changed" "$KH/g_user2" "$KH/g_changed"
hk 127.0.0.3 "" accept-new "$TMP/cfg_g_changed"
refused "another key of the same type in the global file is a changed key"
expect_err_has "HOST KEY CHANGED" "... saying HOST KEY CHANGED"
expect_err_has "$KH/g_changed:1" "... naming the global file:line"
write_gcfg "$TMP/cfg_g_none" "$KH/g_user" none
hk 127.0.0.4 "" "" "$TMP/cfg_g_none"
connected_to 127.0.0.4 "GlobalKnownHostsFile none reads no global file"

# --- UserKnownHostsFile none (as OpenSSH): no user file at all, not a file named "none" (run
# from a folder of its own, where such a file would appear)
mkdir -p "$TMP/cwd"
hk_in_cwd() { (cd "$TMP/cwd" && hk "$@"; exit "$rc"); rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err"); }
write_gcfg "$TMP/cfg_u_none" none "$KH/g_known"
hk_in_cwd 127.0.0.3 "" "" "$TMP/cfg_u_none"
connected_to 127.0.0.3 "UserKnownHostsFile none: the global file still knows the key"
write_gcfg "$TMP/cfg_u_g_none" none none
hk_in_cwd 127.0.0.3 "" "" "$TMP/cfg_u_g_none"
refused "UserKnownHostsFile none and GlobalKnownHostsFile none: an unknown key is refused"
expect_err_has "UserKnownHostsFile none" "... the message says there is no known_hosts file to check"
hk_in_cwd 127.0.0.3 "" accept-new "$TMP/cfg_u_g_none"
connected_to 127.0.0.3 "... accept-new connects"
expect_err_has "not recorded" "... saying the key is not recorded anywhere"
if [ -z "$(ls -A "$TMP/cwd")" ]; then ok "... and no file named 'none' (or any other) is written"
else not_ok "... and no file named 'none' (or any other) is written" "$(ls -la "$TMP/cwd")"; fi
