# The connection side (libssh2, libcrypto) is a module the binary loads on the first connect
# (interp/sshmod.c): a script that never connects does not load libcrypto; the module is found
# beside the binary or in ../lib/sshs/; a missing one is a clear error, and local scripts still run.
source "$TESTROOT/lib.sh"
plan 9

maps_ssh='for l in io.lines("/proc/self/maps") do
  if l:find("libcrypto") or l:find("libssh2") or l:find("sshs%-ssh") then print(l:match("(%S+)%s*$")) end end'

needed=$(readelf -d "$SSHS" 2>&1 | grep NEEDED)
case "$needed" in
  *NEEDED*) case "$needed" in *libcrypto*|*libssh2*) not_ok "the binary does not link libcrypto or libssh2" "$needed";;
            *) ok "the binary does not link libcrypto or libssh2";; esac;;
  *) not_ok "the binary does not link libcrypto or libssh2" "readelf: $needed";;
esac

run_sshs -e "$maps_ssh"
if [ "$rc" = 0 ] && [ -z "$out" ]; then ok "a script that does not connect has neither libcrypto nor the module mapped"
else not_ok "a script that does not connect has neither libcrypto nor the module mapped" "$(show)"; fi

# A refused connection needs the module (the error is the connection's, not a load failure).
HOME=$TMP run_sshs -e 'print(pcall(connect, "127.0.0.1:1", {timeout = 10}))'" $maps_ssh"
case "$out" in *"Connection refused"*sshs-ssh.so*) ok "connect loads the module beside the binary";;
  *) not_ok "connect loads the module beside the binary" "$(show)";; esac
case "$out" in *libcrypto*) ok "with the module comes libcrypto";; *) not_ok "with the module comes libcrypto" "$(show)";; esac

# A copy of the binary without its module: local work runs, connect says what is missing.
mkdir -p "$TMP/alone" "$TMP/inst/bin" "$TMP/inst/lib/sshs"
cp "$SSHS" "$TMP/alone/sshs"
out=$("$TMP/alone/sshs" -e 'print($(echo local ok))' 2>&1); rc=$?
if [ "$rc" = 0 ] && [ "$out" = "local ok" ]; then ok "without the module, a local script runs"
else not_ok "without the module, a local script runs" "rc=$rc" "$out"; fi
out=$(HOME=$TMP "$TMP/alone/sshs" -e 'connect("127.0.0.1:1")' 2>&1); rc=$?
case "$rc:$out" in 1:*"cannot load the SSH module"*"$TMP/alone/sshs-ssh.so"*) ok "without the module, connect fails naming the module it looked for";;
  *) not_ok "without the module, connect fails naming the module it looked for" "rc=$rc" "$out";; esac
out=$("$TMP/alone/sshs" --version 2>&1); rc=$?
case "$rc:$out" in 0:"sshs "*"cannot load the SSH module"*) ok "without the module, --version says so";;
  *) not_ok "without the module, --version says so" "rc=$rc" "$out";; esac

# The installed layout: PREFIX/bin/sshs finds PREFIX/lib/sshs/sshs-ssh.so.
cp "$SSHS" "$TMP/inst/bin/sshs"
cp "$(dirname "$SSHS")/sshs-ssh.so" "$TMP/inst/lib/sshs/"
out=$(HOME=$TMP "$TMP/inst/bin/sshs" -e 'print(pcall(connect, "127.0.0.1:1", {timeout = 10}))' 2>&1)
case "$out" in *"Connection refused"*) ok "an installed binary finds the module in ../lib/sshs/";;
  *) not_ok "an installed binary finds the module in ../lib/sshs/" "$out";; esac
out=$("$TMP/inst/bin/sshs" --version 2>&1)
case "$out" in "sshs "*"libssh2 "*) ok "--version names the module's libssh2";;
  *) not_ok "--version names the module's libssh2" "$out";; esac
