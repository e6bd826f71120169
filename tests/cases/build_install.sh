# make install PREFIX=… DESTDIR=…: the binary, the public stdlib in PREFIX/share/sshs where
# `require` looks (compiled in), the man page when the tree has one; make uninstall.
# Builds into its own folder (the suite's build/ is left alone), once: the DESTDIR install
# uses the same PREFIX (a different one is compiled in, so it would rebuild everything).
source "$TESTROOT/lib.sh"
plan 11

REPO=$(cd "$TESTROOT/.." && pwd)
B=$TMP/build P=$TMP/prefix
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -j"$(nproc)" -C "$REPO" BUILD="$B" CFLAGS=-O0 "$@" > "$TMP/make.log" 2>&1; }
show_log() { tail -n 15 "$TMP/make.log"; }

if mk install PREFIX="$P"; then ok "make install PREFIX=… succeeds"; else not_ok "make install PREFIX=… succeeds" "$(show_log)"; fi
if [ -x "$P/bin/sshs" ] && "$P/bin/sshs" -e 'print("ran")' | grep -qx ran; then ok "the binary is PREFIX/bin/sshs and runs"
else not_ok "the binary is PREFIX/bin/sshs and runs" "$(ls -lR "$P" 2>&1 | head)"; fi
# The SSH module, loaded on the first connect from ../lib/sshs/ (--version loads it for libssh2's version).
# The REPL module beside it, loaded by the REPL's first core call.
if [ -f "$P/lib/sshs/sshs-ssh.so" ] && "$P/bin/sshs" --version | grep -q 'libssh2 ' && \
   "$P/bin/sshs" -e '_SSHS.core.repl_running(false)' && [ -f "$P/lib/sshs/sshs-readline.so" ]; then
  ok "the SSH and REPL modules are in PREFIX/lib/sshs/ and the binary loads them"
else not_ok "the SSH and REPL modules are in PREFIX/lib/sshs/ and the binary loads them" "$("$P/bin/sshs" --version 2>&1)" "$(ls -lR "$P/lib" 2>&1 | head)"; fi
if [ -f "$P/share/sshs/nodeset.lua" ] && [ ! -e "$P/share/sshs/_prelude.lua" ]; then
  ok "the public stdlib goes to PREFIX/share/sshs (the runtime's own _ files do not)"
else not_ok "the public stdlib goes to PREFIX/share/sshs (the runtime's own _ files do not)" "$(ls -l "$P/share/sshs" 2>&1)"; fi

# require looks in PREFIX/share/sshs: a .lua and a .sshs module put there are found from anywhere.
echo 'return {hi = function() return "lua from datadir" end}' > "$P/share/sshs/inst_mod.lua"
echo 'local M = {} function M.f() return $(echo sshs from datadir) end return M' > "$P/share/sshs/inst_mod2.sshs"
out=$(cd / && "$P/bin/sshs" -e 'print(require("inst_mod").hi()) print(require("inst_mod2").f())
print(select(2, require("nodeset")))' 2>&1)
if [ "$out" = "lua from datadir
sshs from datadir
sshs/nodeset.lua" ]; then ok "require finds .lua and .sshs modules in PREFIX/share/sshs; a built-in module is the built-in one"
else not_ok "require finds .lua and .sshs modules in PREFIX/share/sshs; a built-in module is the built-in one" "$out"; fi
out=$("$P/bin/sshs" -e 'require "no_such_module_x"' 2>&1)
case "$out" in *"$P/share/sshs/no_such_module_x.sshs"*"no file"*) ok "a missing module's message lists PREFIX/share/sshs";;
  *) not_ok "a missing module's message lists PREFIX/share/sshs" "$out";; esac
rm -f "$P/share/sshs/inst_mod.lua" "$P/share/sshs/inst_mod2.sshs"

# A man page, when the tree has one (sshs.1 at the top), goes to PREFIX/share/man/man1.
if [ -f "$REPO/sshs.1" ]; then
  if [ -f "$P/share/man/man1/sshs.1" ]; then ok "the man page is installed"; else not_ok "the man page is installed" "$(ls -R "$P/share" 2>&1)"; fi
else
  skip_checks 1 "no sshs.1 in the tree yet"
fi

mk uninstall PREFIX="$P"
left=$(find "$P" -type f 2>/dev/null)
if [ -z "$left" ]; then ok "make uninstall removes what install put there"; else not_ok "make uninstall removes what install put there" "$left"; fi

# DESTDIR stages the same layout under another root; the binary still looks in PREFIX.
D=$TMP/stage
if mk install PREFIX="$P" DESTDIR="$D"; then ok "make install DESTDIR=… succeeds"; else not_ok "make install DESTDIR=… succeeds" "$(show_log)"; fi
left=$(find "$P" -type f 2>/dev/null)
if [ -x "$D$P/bin/sshs" ] && [ -f "$D$P/share/sshs/nodeset.lua" ] && [ -f "$D$P/lib/sshs/sshs-ssh.so" ] && [ -z "$left" ]; then
  ok "DESTDIR: everything lands under DESTDIR/PREFIX, nothing outside"
else not_ok "DESTDIR: everything lands under DESTDIR/PREFIX, nothing outside" "$(find "$D" | head)" "outside: $left"; fi
out=$("$D$P/bin/sshs" -e 'require "no_such_module_x"' 2>&1)
case "$out" in *"$D$P/share/sshs/"*) not_ok "DESTDIR: the staged binary looks in PREFIX/share/sshs" "it looks under DESTDIR:" "$out";;
  *"$P/share/sshs/no_such_module_x"*) ok "DESTDIR: the staged binary looks in PREFIX/share/sshs";;
  *) not_ok "DESTDIR: the staged binary looks in PREFIX/share/sshs" "$out";; esac
