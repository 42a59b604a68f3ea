#!/usr/bin/env bash
# Builds a static busybox that behaves like upstream busybox (the e2e suite's busybox image is
# the official one), from the Debian source package of the installed busybox-static, into
# $CUBELET_CACHE/busybox-upstream-VERSION/busybox.
#
# Why not Debian's binary: Debian reverts upstream's ash change that keeps environment variables
# whose names are not shell identifiers (e.g. "data-1" from a ConfigMap through envFrom) and
# passes them on to children; the upstream [Conformance] spec "ConfigMap should be consumable
# via the environment" runs `sh -c env` in busybox and expects them. Here every Debian patch is
# applied except that revert and the patch built on it, with Debian's static configuration minus
# "prefer applets" (in Debian's build `nc` in a shell is busybox's even where the image has
# netcat-openbsd in PATH, as agnhost does for the UDP networking specs).
#
# Usage: hack/build-busybox.sh      (idempotent: nothing happens when the binary is there)
# Needs the Debian package archive once (apt-get source, through the machine's own apt sources
# turned into deb-src entries in a private list directory), gcc, make and libc6-dev.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/upstream.sh"

command -v dpkg-query >/dev/null || die "dpkg-query not found: this needs a Debian system"
SRC_VERSION=$(dpkg-query -W -f='${source:Version}' busybox-static 2>/dev/null) ||
  die "busybox-static is not installed (hack/install-deps.sh installs it)"
OUT=$(upstream_busybox_bin)
OUT_DIR=$(dirname "$OUT")
# The Debian patches left out: the revert of upstream commit 9c143ce5 and the d-i hack on top.
SKIP_PATCHES='^(revert-9c143ce52da11ec3d21a3491c3749841d3dc10f0\.patch|temp-deb-installer-hack\.patch)$'

# upstream_like BINARY: the official image's behaviour, checked: a variable named data-1 reaches
# `sh -c env`, and the shell finds commands through PATH (an image's own /usr/bin/nc comes before
# the nc applet), so with an empty PATH `cat` is not found.
upstream_like() {
  env -i 'data-1=kept' "$1" sh -c env 2>/dev/null | grep -qx 'data-1=kept' &&
    ! env -i PATH=/nonexistent "$1" sh -c 'echo x | cat' >/dev/null 2>&1
}

if [ -x "$OUT" ] && upstream_like "$OUT"; then
  log "busybox (upstream ash) $SRC_VERSION present"
  exit 0
fi
for t in gcc make patch bzip2 xz apt-get; do
  command -v "$t" >/dev/null || die "$t not found (hack/install-deps.sh installs it)"
done
log "building busybox $SRC_VERSION with upstream's ash environment handling"
WORK=$CUBELET_CACHE/.busybox-build
rm -rf "$WORK"
mkdir -p "$WORK/sources.d" "$WORK/lists/partial" "$WORK/src"
# The machine's apt sources, as deb-src entries, in a list directory of our own (the system's
# apt state is left alone).
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  sed 's/^Types:.*$/Types: deb-src/' "$f" >"$WORK/sources.d/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" >>"$WORK/sources.d/from-list.list"
done
shopt -u nullglob
APT_OPTS=(-o "Dir::Etc::sourcelist=$WORK/none.list" -o "Dir::Etc::sourceparts=$WORK/sources.d"
  -o "Dir::State::Lists=$WORK/lists" -o "APT::Sandbox::User=root")
apt-get "${APT_OPTS[@]}" -qq update >/dev/null || die "apt-get update of the deb-src entries failed"
(cd "$WORK/src" && apt-get "${APT_OPTS[@]}" -qq source --download-only "busybox=$SRC_VERSION" >/dev/null) ||
  die "cannot download the busybox $SRC_VERSION source package"

upstream_version=${SRC_VERSION#*:}
upstream_version=${upstream_version%-*}
tree=$WORK/busybox
mkdir -p "$tree"
tar -xjf "$WORK/src/busybox_$upstream_version.orig.tar.bz2" -C "$tree" --strip-components=1
tar -xJf "$WORK/src/busybox_${SRC_VERSION#*:}.debian.tar.xz" -C "$tree"
applied=0
while read -r p; do
  [[ -z $p || $p == \#* ]] && continue
  [[ $p =~ $SKIP_PATCHES ]] && { log "  leaving out $p"; continue; }
  patch -d "$tree" -p1 -s <"$tree/debian/patches/$p" || die "Debian patch $p does not apply"
  applied=$((applied + 1))
done <"$tree/debian/patches/series"
log "  applied $applied Debian patches"
# Debian's static configuration, except that, as in the official image (defconfig), the shell
# does not prefer its applets over programs in PATH.
sed -e 's/^CONFIG_FEATURE_SH_STANDALONE=y$/# CONFIG_FEATURE_SH_STANDALONE is not set/' \
  -e 's/^CONFIG_FEATURE_PREFER_APPLETS=y$/# CONFIG_FEATURE_PREFER_APPLETS is not set/' \
  "$tree/debian/config/pkg/static" >"$tree/.config"
(cd "$tree" && set +o pipefail && yes '' | make oldconfig >/dev/null 2>&1) || die "make oldconfig failed"
grep -qx 'CONFIG_STATIC=y' "$tree/.config" || die "the static configuration is not static"
(cd "$tree" && make -j"$(nproc)" busybox >"$WORK/make.log" 2>&1) ||
  { tail -n 20 "$WORK/make.log" >&2; die "busybox build failed (log $WORK/make.log)"; }
upstream_like "$tree/busybox" ||
  die "the built busybox drops non-identifier environment variables or prefers its applets to PATH"
mkdir -p "$OUT_DIR"
cp "$tree/busybox" "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
rm -rf "$WORK"
log "busybox in $OUT"
