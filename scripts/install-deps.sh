#!/bin/sh
# Installs the Debian 12 packages sshs builds, tests and benchmarks with; quiet when all are present.
set -e
PKGS="build-essential pkg-config liblua5.4-dev lua5.4 lua-cjson libssh2-1-dev libssl-dev libuv1-dev
      openssh-server openssh-client time hyperfine procps psmisc python3
      pdsh clustershell pssh python3-paramiko bc iproute2 openssl bsdutils util-linux passwd
      cmake dpkg-dev debian-archive-keyring dropbear-bin
      clang libclang-rt-14-dev valgrind
      libreadline-dev tmux sudo zsh rsync vim neovim
      debhelper fakeroot lintian"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# node and npm for the TextMate grammar's check (tests/cases/editor_syntax.sh): Debian's, unless
# some node is already there (a node from elsewhere often ships its own npm).
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# libssh2 >= 1.11.1 (the Makefile decides: LIBSSH2=bundled when the system's is older); cached in $DEPS.
if [ "${LIBSSH2:-}" = bundled ]; then
  sh "$(dirname "$0")/libssh2-build.sh" "${DEPS:-build/deps}"
fi
