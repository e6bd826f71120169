#!/usr/bin/env bash
# make deb (issue 22 item 1): dpkg-buildpackage with debhelper builds the package, lintian
# finds no error, the files are where Debian's tools look for them and the shared libraries
# are declared. Installed into a fresh dpkg root (dpkg --root; touches nothing else), run and
# purged. `make package-check` (SSHS_PACKAGE_CHECK=1; CI runs it) also installs it on this
# machine with dpkg -i — only when no sshs is installed here (never replaced), serialized by
# a machine-wide lock — where the installed sshs runs --version, an example and
# `require "ensure"`, and its bash completion loads; then dpkg --purge. That part waits for
# other runs' installs and dpkg's triggers, which a busy shared machine made minutes: it is
# not in make test.
# The build is the slow part (a minute or two): the bundled libssh2 is reused from $DEPS
# (default build/deps); without one there, the package links the system's libssh2.
source "$TESTROOT/lib.sh"
REPO=$(cd "$TESTROOT/.." && pwd)
for t in dpkg-buildpackage dh lintian fakeroot; do
  command -v "$t" >/dev/null || { echo "1..0 # SKIP $t missing (make deps installs dpkg-dev, debhelper, lintian)"; exit 0; }
done
HOST=${SSHS_PACKAGE_CHECK:+1}
plan $(( 11 + ${HOST:-0} * 5 ))
DEPS=${DEPS:-$REPO/build/deps}
libssh2=()
[ -f "$DEPS/lib/libssh2.a" ] || libssh2=(LIBSSH2=system)
B=$TMP/build
# noopt: -O0 builds twice as fast; the package's layout and metadata are the same.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS="noopt nocheck" timeout 480 make -C "$REPO" deb BUILD="$B" DEBDIR="$TMP/pkg" \
     DEPS="$DEPS" "${libssh2[@]}" > "$TMP/make.log" 2>&1; then
  ok "make deb builds the package with dpkg-buildpackage (and lintian --fail-on error passes)"
else
  not_ok "make deb builds the package with dpkg-buildpackage (and lintian --fail-on error passes)" "$(tail -n 25 "$TMP/make.log")"
  skip_checks $(( 10 + ${HOST:-0} * 5 )) "no package was built"; exit 0
fi
DEB=$(ls "$B"/sshs_*.deb | head -n 1)

# make deb ran lintian on it (a second run would cost a busy machine seconds): its report is
# in the log, and make deb fails on an error, so this is the line that says which.
if grep -q '^lintian ' "$TMP/make.log" && ! grep -q '^E:' "$TMP/make.log"; then ok "lintian reports no error"
else not_ok "lintian reports no error" "$(grep -E '^(lintian|E:)' "$TMP/make.log")"; fi

dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' > "$TMP/files"
has_all() { local f; for f in "$@"; do grep -qx -- "$f" "$TMP/files" || { echo "missing $f"; return 1; }; done; }
check_files() { # name files...
  local name=$1 why; shift
  if why=$(has_all "$@"); then ok "$name"; else not_ok "$name" "$why" "$(cat "$TMP/files")"; fi
}
check_files "the binary, its SSH and REPL modules and the man page" /usr/bin/sshs /usr/lib/sshs/sshs-ssh.so \
  /usr/lib/sshs/sshs-readline.so /usr/share/man/man1/sshs.1.gz
check_files "the public stdlib in /usr/share/sshs" /usr/share/sshs/ensure.sshs /usr/share/sshs/nodeset.lua \
  /usr/share/sshs/inventory.lua /usr/share/sshs/json.lua
if grep '/_' "$TMP/files" | grep -qv '/_sshs$'; then not_ok "the runtime's own _modules are not installed" "$(grep '/_' "$TMP/files")"
else ok "the runtime's own _modules are not installed"; fi
check_files "completions for bash-completion and zsh" /usr/share/bash-completion/completions/sshs \
  /usr/share/zsh/vendor-completions/_sshs
check_files "Vim files and the TextMate grammar" /usr/share/vim/vimfiles/syntax/sshs.vim \
  /usr/share/vim/vimfiles/ftdetect/sshs.vim /usr/share/sshs/editors/sshs.tmLanguage.json
v_pkg=$(dpkg-deb -f "$DEB" Version); v_bin=$("$SSHS" --version | awk '{print $2}')
if [ "$v_pkg" = "$v_bin" ]; then ok "the package's version is sshs --version's ($v_pkg)"
else not_ok "the package's version is sshs --version's" "debian/changelog: $v_pkg, sshs --version: $v_bin"; fi
deps=$(dpkg-deb -f "$DEB" Depends)
# libssl3 (libcrypto) for the SSH module and libreadline8 for the REPL's, which the binary
# loads with dlopen.
case "$deps" in *liblua5.4-0*libreadline8*libssl3*libuv1*) ok "shared libraries declared (shlibs), the modules' too: $deps";;
  *) not_ok "shared libraries declared (shlibs)" "Depends: $deps";; esac

# A fresh dpkg root: install, run, purge.
R=$TMP/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
rootdpkg() { dpkg --root="$R" --force-depends --force-script-chrootless --force-not-root "$@"; }
# --version loads the SSH module from ../lib/sshs/ (it names the module's libssh2).
if rootdpkg -i "$DEB" > "$TMP/dpkg.log" 2>&1 && "$R/usr/bin/sshs" --version | grep -q '^sshs .*libssh2 '; then
  ok "dpkg --root installs it into a fresh root, and that sshs runs and loads its SSH module"
else not_ok "dpkg --root installs it into a fresh root, and that sshs runs and loads its SSH module" \
  "$(tail "$TMP/dpkg.log")" "$("$R/usr/bin/sshs" --version 2>&1)"; fi
rootdpkg --purge sshs > "$TMP/dpkg.log" 2>&1
left=$(find "$R" -path "$R/var" -prune -o -type f -print)
if [ -z "$left" ]; then ok "dpkg --purge leaves no file behind"; else not_ok "dpkg --purge leaves no file behind" "$left"; fi

# This machine (make package-check only), only when no sshs is installed here.
[ -n "$HOST" ] || exit 0
exec 9> /tmp/sshs-build-deb-host.lock
if [ "$(id -u)" != 0 ]; then skip_checks 5 "installing on this machine needs root"; exit 0; fi
if ! flock -w 600 9; then not_ok "the host-install lock is free within 10 minutes"; skip_checks 4 "lock"; exit 0; fi
if dpkg-query -W -f='${Status}' sshs 2>/dev/null | grep -q installed || [ -e /usr/bin/sshs ] || [ -e /usr/share/sshs ]; then
  skip_checks 5 "an sshs is already installed on this machine: not replacing it"; exit 0
fi
# dpkg -i; another engineer's apt-get may hold dpkg's lock for a while: wait for it.
installed=0
for _ in $(seq 1 60); do
  if dpkg -i "$DEB" > "$TMP/dpkg.log" 2>&1; then installed=1; break; fi
  grep -qi 'lock' "$TMP/dpkg.log" || break
  sleep 5
done
CLEANUP_PURGE() { dpkg --purge sshs >/dev/null 2>&1; rm -rf "$TMP"; }
trap CLEANUP_PURGE EXIT
if [ $installed = 1 ] && /usr/bin/sshs --version | grep -q '^sshs '; then ok "dpkg -i installs it on this machine; sshs --version runs"
else not_ok "dpkg -i installs it on this machine; sshs --version runs" "$(tail "$TMP/dpkg.log")"; fi
out=$(cd "$REPO/examples" && /usr/bin/sshs demo.sshs 2>&1); rc=$?
if [ $rc = 0 ] && [[ $out == *"== context blocks"* ]]; then ok "the installed sshs runs examples/demo.sshs"
else not_ok "the installed sshs runs examples/demo.sshs" "rc=$rc" "$(tail -n 5 <<< "$out")"; fi
# ensure is built in (require finds built-ins first); the installed copy is the same text.
out=$(cd / && /usr/bin/sshs -e 'local e = require "ensure"; print(type(e.file), e.render("#{1 + 1}"))' 2>&1)
if [ "$out" = "function	2" ] && cmp -s /usr/share/sshs/ensure.sshs "$REPO/stdlib/ensure.sshs"; then
  ok "require \"ensure\" works in the installed sshs; /usr/share/sshs/ensure.sshs is the module"
else not_ok "require \"ensure\" works in the installed sshs; /usr/share/sshs/ensure.sshs is the module" "$out"; fi
if [ -f /usr/share/bash-completion/bash_completion ] && \
   bash -c 'source /usr/share/bash-completion/bash_completion; _completion_loader sshs; complete -p sshs' 2>&1 | grep -q '_sshs'; then
  ok "bash-completion loads the installed completion"
elif [ ! -f /usr/share/bash-completion/bash_completion ]; then
  if bash -c 'source /usr/share/bash-completion/completions/sshs; complete -p sshs' 2>&1 | grep -q '_sshs'; then
    ok "the installed completion loads (bash-completion itself is not installed)"
  else not_ok "the installed completion loads"; fi
else not_ok "bash-completion loads the installed completion" "$(bash -c 'source /usr/share/bash-completion/bash_completion; _completion_loader sshs; complete -p sshs' 2>&1)"; fi
dpkg --purge sshs > "$TMP/dpkg.log" 2>&1
if [ ! -e /usr/bin/sshs ] && [ ! -e /usr/share/sshs ] && [ ! -e /usr/lib/sshs ] && ! dpkg-query -W sshs > /dev/null 2>&1; then
  ok "dpkg --purge removes it from this machine"
else not_ok "dpkg --purge removes it from this machine" "$(cat "$TMP/dpkg.log")"; fi
