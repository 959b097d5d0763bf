#!/bin/bash
# Build a criu that works on this host's kernel from Debian unstable's source package.
#
#   scripts/build-criu.sh            # prints the path of the criu binary (built once, cached)
#
# Debian bookworm's criu 3.17 cannot run on kernels >= 6.13 ("vdso: Unexpected rt vDSO area
# bounds": the [vvar_vclock] mapping).  criu >= 4.1 can.  The source comes through apt from
# Debian's own archive (a private sources list and state dir: the host's apt configuration
# is not touched); apt checks it against the signed Sources index.  Only the upstream
# (orig) tarball is used: `make criu`, no Debian packaging.  The build needs a few -dev
# packages, installed with apt-get.  Exit status 0 and the path on stdout, or non-zero and
# one line on stderr saying why (no network to the archive, a build failure, ...): the host
# checkpoint tier (tests/checkpoint/test_checkpoint_host.py) then skips, naming it.
set -euo pipefail

CACHE=${RUNCGO_CRIU_CACHE:-/var/cache/runcgo-criu}
MIRROR=${RUNCGO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEPS=(libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler libnl-3-dev
      libcap-dev libnet1-dev libbsd-dev pkg-config gcc make libc6-dev)

die() { echo "build-criu: $*" >&2; exit 1; }

# A criu built before, for the version the archive offered then: reuse it.
if [ -x "$CACHE/current/criu" ] && "$CACHE/current/criu" --version >/dev/null 2>&1; then
	echo "$CACHE/current/criu"
	exit 0
fi

work=$(mktemp -d /var/tmp/runcgo-criu-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc" "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
cat >"$work/etc/unstable-src.sources" <<EOF
Types: deb-src
URIs: $MIRROR
Suites: unstable
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
APT=(apt-get -q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/etc"
     -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
     -o "APT::Sandbox::User=root")
"${APT[@]}" update >"$work/update.log" 2>&1 \
	|| die "apt-get update of $MIRROR unstable (deb-src) failed: $(grep -m1 -E '^(E|W):' "$work/update.log" || tail -1 "$work/update.log")"
# The Debian tarball may be gone from the archive already (a newer revision); the orig one
# is all that `make criu` needs, so a failure to fetch the .debian.tar.xz is not fatal.
(cd "$work/src" && "${APT[@]}" source --download-only criu >"$work/source.log" 2>&1) || true
orig=$(ls "$work/src"/criu_*.orig.tar.* 2>/dev/null | head -1)
[ -n "$orig" ] || die "no criu source from $MIRROR unstable: $(grep -m1 '^E:' "$work/source.log" || tail -1 "$work/source.log")"
version=$(basename "$orig" | sed -E 's/^criu_(.*)\.orig\.tar\..*/\1/')

missing=()
for p in "${DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 install -y \
		--no-install-recommends "${missing[@]}" >"$work/deps.log" 2>&1 \
		|| die "apt-get install ${missing[*]} failed: $(grep -m1 '^E:' "$work/deps.log" || tail -1 "$work/deps.log")"
fi

tar -C "$work/src" -xf "$orig"
dir=$(find "$work/src" -maxdepth 1 -mindepth 1 -type d -name 'criu-*' | head -1)
[ -n "$dir" ] || die "$orig: no criu-* directory inside"
make -C "$dir" -j"$(nproc)" criu >"$work/build.log" 2>&1 \
	|| die "make criu ($version) failed: $(grep -m1 -iE 'error' "$work/build.log" || tail -1 "$work/build.log")"
"$dir/criu/criu" --version >/dev/null 2>&1 || die "the built criu ($version) does not run"

mkdir -p "$CACHE/$version"
install -m 0755 "$dir/criu/criu" "$CACHE/$version/criu.tmp"
mv "$CACHE/$version/criu.tmp" "$CACHE/$version/criu"
ln -sfn "$version" "$CACHE/current.tmp" && mv -T "$CACHE/current.tmp" "$CACHE/current"
echo "$CACHE/current/criu"
