# The connection side (libssh2, libcrypto) and the REPL's line editor (readline, libtinfo) are
# modules the binary loads on first use (interp/modload.c): a script that never connects does
# not load libcrypto, one that never starts the REPL not readline; the modules are found beside
# the binary or in ../lib/sshs/; a missing one is a clear error, and local scripts still run.
source "$TESTROOT/lib.sh"
plan 13

maps_ssh='for l in io.lines("/proc/self/maps") do
  if l:find("libcrypto") or l:find("libssh2") or l:find("sshs%-ssh") then print(l:match("(%S+)%s*$")) end end'
maps_rl='for l in io.lines("/proc/self/maps") do
  if l:find("libreadline") or l:find("sshs%-readline") then print(l:match("(%S+)%s*$")) end end'

needed=$(readelf -d "$SSHS" 2>&1 | grep NEEDED)
case "$needed" in
  *NEEDED*) case "$needed" in *libcrypto*|*libssh2*|*libreadline*) not_ok "the binary does not link libcrypto, libssh2 or readline" "$needed";;
            *) ok "the binary does not link libcrypto, libssh2 or readline";; esac;;
  *) not_ok "the binary does not link libcrypto, libssh2 or readline" "readelf: $needed";;
esac

run_sshs -e "$maps_rl"
if [ "$rc" = 0 ] && [ -z "$out" ]; then ok "a script has neither readline nor the REPL module mapped"
else not_ok "a script has neither readline nor the REPL module mapped" "$(show)"; fi
# The REPL's core functions load the module on their first call.
run_sshs -e "_SSHS.core.repl_running(false) $maps_rl"
case "$out" in *libreadline*sshs-readline.so*|*sshs-readline.so*libreadline*) ok "the REPL's first core call loads the REPL module and readline";;
  *) not_ok "the REPL's first core call loads the REPL module and readline" "$(show)";; esac

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
if command -v script > /dev/null; then
  out=$(HOME=$TMP timeout 60 script -qec "'$TMP/alone/sshs'; echo RC=\$?" /dev/null < /dev/null 2>&1)
  case "$out" in *"cannot load the REPL module"*"$TMP/alone/sshs-readline.so"*RC=1*) ok "without the REPL module, the REPL fails naming it (exit 1)";;
    *) not_ok "without the REPL module, the REPL fails naming it (exit 1)" "$out";; esac
else skip_checks 1 "no script(1)"; fi
out=$("$TMP/alone/sshs" --version 2>&1); rc=$?
case "$rc:$out" in 0:"sshs "*"cannot load the SSH module"*) ok "without the module, --version says so";;
  *) not_ok "without the module, --version says so" "rc=$rc" "$out";; esac

# The installed layout: PREFIX/bin/sshs finds PREFIX/lib/sshs/sshs-ssh.so.
cp "$SSHS" "$TMP/inst/bin/sshs"
cp "$(dirname "$SSHS")/sshs-ssh.so" "$(dirname "$SSHS")/sshs-readline.so" "$TMP/inst/lib/sshs/"
out=$(HOME=$TMP "$TMP/inst/bin/sshs" -e 'print(pcall(connect, "127.0.0.1:1", {timeout = 10}))' 2>&1)
case "$out" in *"Connection refused"*) ok "an installed binary finds the module in ../lib/sshs/";;
  *) not_ok "an installed binary finds the module in ../lib/sshs/" "$out";; esac
out=$("$TMP/inst/bin/sshs" --version 2>&1)
case "$out" in "sshs "*"libssh2 "*) ok "--version names the module's libssh2";;
  *) not_ok "--version names the module's libssh2" "$out";; esac
out=$("$TMP/inst/bin/sshs" -e "_SSHS.core.repl_running(false) $maps_rl" 2>&1)
case "$out" in *"$TMP/inst/lib/sshs/sshs-readline.so"*) ok "an installed binary finds the REPL module in ../lib/sshs/";;
  *) not_ok "an installed binary finds the REPL module in ../lib/sshs/" "$out";; esac
