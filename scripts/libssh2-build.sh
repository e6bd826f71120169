#!/bin/sh
# Builds libssh2 1.11.1 as a static library (OpenSSL backend) into DEST, once.
#
#   sh scripts/libssh2-build.sh DEST       # e.g. build/deps; a no-op when DEST/lib/libssh2.a exists
#
# Why: Debian 12 ships libssh2 1.10, which cannot sign with rsa-sha2 (RSA user keys fail against
# OpenSSH >= 8.8), has no aes-gcm, chacha20, encrypt-then-MAC, strict kex or channel signals.
# The source is Debian's own trixie package (1.11.1 + Debian's patches), fetched with apt-get source
# through a throw-away apt configuration under DEST/apt: its own sources list, state and cache.
# Nothing in /etc/apt is touched. The archive URI is the one the machine's own sources already name,
# and apt verifies the trixie Release signature with the machine's debian-archive-keyring as usual.
set -eu
DEST=${1:?usage: libssh2-build.sh DEST}
VERSION=1.11.1
SUITE=trixie
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
# The build is redone when this script or a patch changes (the stamp is their checksum).
STAMP=$(cat "$HERE/libssh2-build.sh" "$HERE"/libssh2-patches/*.patch 2>/dev/null | sha256sum | cut -c1-16)
if [ -f "$DEST/lib/libssh2.a" ] && [ -f "$DEST/include/libssh2.h" ] && [ "$(cat "$DEST/libssh2.stamp" 2>/dev/null)" = "$STAMP" ]; then
  touch "$DEST/lib/libssh2.a"
  exit 0
fi
rm -rf "$DEST/lib" "$DEST/include" "$DEST/share" "$DEST/libssh2.stamp"

die() { echo "libssh2-build: $*" >&2; exit 1; }
for tool in apt-get dpkg-source patch cmake cc; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool (scripts/install-deps.sh installs it)"
done

# The Debian archive URI this machine already uses (deb822 .sources first, then one-line sources.list).
# A "-security" or "-updates"-only entry is not the main archive, so the first plain one wins.
archive_uri() {
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk ' 
         /^[ \t]*$/ { if (u != "" && s ~ /(^| )(bullseye|bookworm|trixie|forky|sid|stable|testing|unstable)( |$)/) { print u; exit } u=""; s=""; next }
         /^URIs:/   { u=$2 }
         /^Suites:/ { $1=""; s=$0 }
         END        { if (u != "" && s ~ /(^| )(bullseye|bookworm|trixie|forky|sid|stable|testing|unstable)( |$)/) print u }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI suite components...
    sed -n 's/^[ \t]*deb\(-src\)\{0,1\}[ \t]\{1,\}\(\[[^]]*\][ \t]\{1,\}\)\{0,1\}\([^ \t]*\)[ \t]\{1,\}\(bullseye\|bookworm\|trixie\|forky\|sid\|stable\|testing\|unstable\)[ \t].*/\3/p' "$f"
  done
}
URI=$(archive_uri | grep -v -- '-security' | head -n 1)
[ -n "$URI" ] || die "no Debian archive URI found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING is missing (package debian-archive-keyring)"

APT="$DEST/apt"
rm -rf "$APT" "$DEST/src"
mkdir -p "$APT/etc/apt.conf.d" "$APT/etc/preferences.d" "$APT/etc/sources.list.d" "$APT/etc/trusted.gpg.d" \
         "$APT/state/lists/partial" "$APT/cache/archives/partial" "$DEST/src"
echo "deb-src [signed-by=$KEYRING] $URI $SUITE main" > "$APT/etc/sources.list"
# _apt (apt's download user) must be able to write the lists and the download folder.
if id _apt >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  chown -R _apt "$APT/state/lists" "$APT/cache" "$DEST/src" 2>/dev/null || true
fi
set -- -o "Dir::Etc=$APT/etc" -o "Dir::Etc::sourcelist=$APT/etc/sources.list" \
       -o "Dir::Etc::sourceparts=$APT/etc/sources.list.d" -o "Dir::Etc::parts=$APT/etc/apt.conf.d" \
       -o "Dir::Etc::preferencesparts=$APT/etc/preferences.d" -o "Dir::Etc::trustedparts=$APT/etc/trusted.gpg.d" \
       -o "Dir::State=$APT/state" -o "Dir::State::status=/var/lib/dpkg/status" -o "Dir::Cache=$APT/cache" \
       -o "APT::Get::List-Cleanup=0"
echo "libssh2-build: fetching Debian's libssh2 $VERSION source ($SUITE, $URI)"
apt-get "$@" -qq update || die "apt-get update of the throw-away $SUITE deb-src list failed"
# Verified: the Sources index comes from a Release file whose signature apt checks against $KEYRING,
# and apt checks each downloaded file's hash against that index.
cd "$DEST/src"
apt-get "$@" -qq source --download-only "libssh2/$SUITE" >/dev/null || die "apt-get source libssh2/$SUITE failed"
DSC=$(ls libssh2_*.dsc | head -n 1)
UPSTREAM=${DSC#libssh2_}; UPSTREAM=${UPSTREAM%%-*}
# trixie carries 1.11.1 plus Debian's security fixes (-1+deb13uN); accept a later 1.11.x too.
dpkg --compare-versions "$UPSTREAM" ge "$VERSION" || die "$SUITE has libssh2 $UPSTREAM, older than $VERSION"
# The .dsc's own uploader signature cannot be checked without debian-keyring; the hashes above
# already tie every file to the signed Release.
dpkg-source --no-check -x "$DSC" libssh2-src >/dev/null || die "dpkg-source -x failed"
# Small changes of our own on top of Debian's, each patch file says why: fixes (0001, 0004, 0005:
# upstream's or sent there; 0008: keepalive replies no longer queued; 0010: an SFTP channel that
# ended is not waited on for ever; 0011: a disconnect during auth is not taken for a bad key), speed-ups of the packet layer (0002, 0003), and two additions sshs
# uses when present: reading an idle connection for forwarded agent channels (0006), publickey
# auth signed at once for key files (0007), and the first channel opened ahead of the auth reply
# (0009).
for p in "$HERE"/libssh2-patches/*.patch; do
  [ -f "$p" ] || continue
  patch -s -p1 -d libssh2-src < "$p" || die "patch $(basename "$p") does not apply"
done

echo "libssh2-build: building static libssh2 ${DSC%.dsc} (OpenSSL) into $DEST"
cmake -S libssh2-src -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$DEST" \
  -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_C_FLAGS="-g -fno-omit-frame-pointer" \
  -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DCRYPTO_BACKEND=OpenSSL \
  -DENABLE_ZLIB_COMPRESSION=OFF -DBUILD_EXAMPLES=OFF -DBUILD_TESTING=OFF >build.log 2>&1 \
  || { tail -n 30 build.log >&2; die "cmake configure failed"; }
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >>build.log 2>&1 || { tail -n 30 build.log >&2; die "build failed"; }
cmake --install build >>build.log 2>&1 || { tail -n 30 build.log >&2; die "install failed"; }
[ -f "$DEST/lib/libssh2.a" ] || die "no $DEST/lib/libssh2.a after install"
# Keep the build log; the sources and apt state are not needed any more. (Debug info and frame
# pointers stay in the library: sanitizer reports and perf profiles see libssh2's own frames.)
mv build.log "$DEST/libssh2-build.log"
echo "$STAMP" > "$DEST/libssh2.stamp"
cd "$DEST" && rm -rf "$APT" "$DEST/src"
echo "libssh2-build: done"
