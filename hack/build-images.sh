#!/usr/bin/env bash
# Builds the offline test images as OCI image layouts under $CUBELET_CACHE/images/ (no container
# engine needed) and pushes them to the local registry at $REGISTRY (default localhost:5000):
#
#   pause:3.10     rootfs: only /pause (static, from hack/images/pause.c); Entrypoint ["/pause"]
#   busybox:1.36   rootfs: Debian busybox-static's /bin/busybox, every applet linked as
#                  /bin/<applet>, /etc/passwd, /etc/group, /tmp (1777); Cmd ["sh"]
#   e2e-test-images/agnhost:2.66.1 (for KUBE_VERSION v1.37.2)
#                  the e2e suite's agnhost, name and version from the pinned k8s.io/kubernetes
#                  (test/utils/image/manifest.go, registry.k8s.io/e2e-test-images); rootfs: the busybox one plus /agnhost (static,
#                  built by hack/build-upstream.sh agnhost), /agnhost-2 -> agnhost, /uploads,
#                  /localhost.crt, /localhost.key, user-defined-in-image (1000) in
#                  group-defined-in-image (50000); Entrypoint ["/agnhost"], Cmd ["pause"]
#
# Usage: hack/build-images.sh [--no-push]
#   --no-push   only build the layouts; no registry needed.
#
# Idempotent: a layout is rebuilt only when its inputs change (stamp file next to it: sha256 of
# pause.c, the busybox binary or the agnhost binary and files, of this script and of the
# compiler), and an image is pushed only when the registry does not already hold the same
# manifest digest. The layouts are byte-for-byte reproducible (fixed mtimes, numeric owner 0,
# sorted entries, gzip -n).
#
# The registry must already be reachable from the network namespace this runs in; start one with
# registry_start from hack/lib/registry.sh. No network otherwise: the agnhost binary must already
# be built (hack/install-deps.sh does it) and k8s.io/kubernetes be in the Go module cache.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/registry.sh"
. "$HACK_DIR/lib/upstream.sh"

REGISTRY=${REGISTRY:-localhost:5000}
IMAGES_DIR=$CUBELET_CACHE/images
PAUSE_NAME=pause PAUSE_TAG=3.10
BUSYBOX_NAME=busybox BUSYBOX_TAG=1.36
BUSYBOX_BIN=/bin/busybox
BUSYBOX_REQUIRED_APPLETS=(sh sleep httpd wget nc env cat)
IMAGE_PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

push=1
for arg in "$@"; do
  case $arg in
    --no-push) push=0 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (usage: $0 [--no-push])" ;;
  esac
done

need() { command -v "$1" >/dev/null || die "$1 not found${2:+ ($2)}"; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Directory layout of one image: $IMAGES_DIR/NAME-TAG (OCI layout), NAME-TAG.stamp (inputs); a
# "/" in NAME becomes "_" (e2e-test-images/agnhost:2.66.1 -> e2e-test-images_agnhost-2.66.1).
layout_dir() { echo "$IMAGES_DIR/${1//\//_}-$2"; }

# up_to_date DIR STAMP_TEXT: the layout exists, is complete and was built from these inputs.
up_to_date() {
  [ -f "$1/index.json" ] && [ -f "$1/oci-layout" ] && [ -f "$1.stamp" ] &&
    [ "$(cat "$1.stamp")" = "$2" ]
}

# needs_build DIR STAMP_TEXT REF: says whether the layout of REF must be (re)built, and logs it.
needs_build() {
  if up_to_date "$1" "$2"; then
    log "$3 layout up to date"
    return 1
  fi
  log "building $3 layout"
}

# add_blob LAYOUT FILE MEDIATYPE: moves FILE into LAYOUT/blobs/sha256/ and prints its descriptor.
add_blob() {
  local layout=$1 file=$2 mediatype=$3 digest size
  digest=$(sha256_of "$file")
  size=$(stat -c %s "$file")
  mkdir -p "$layout/blobs/sha256"
  mv -f "$file" "$layout/blobs/sha256/$digest"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$mediatype" "$digest" "$size"
}

# write_layout OUT ROOTFS REF CONFIG_OBJECT: writes a one-layer OCI image layout of ROOTFS into OUT
# (replacing it atomically). CONFIG_OBJECT is the JSON of the image config's "config" member.
write_layout() {
  local out=$1 rootfs=$2 ref=$3 config_object=$4
  local tmp=$out.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"

  # Layer: entries without a ./ prefix, sorted, owner 0:0 numeric, mtime 0, no atime/ctime.
  local entries=()
  mapfile -t entries < <(cd "$rootfs" && LC_ALL=C ls -A | LC_ALL=C sort)
  [ ${#entries[@]} -gt 0 ] || die "empty rootfs $rootfs"
  (cd "$rootfs" && LC_ALL=C tar --create --format=gnu --sort=name --mtime=@0 \
    --owner=0 --group=0 --numeric-owner --no-acls --no-xattrs --no-selinux \
    --file=- -- "${entries[@]}") >"$tmp/layer.tar"
  local diff_id
  diff_id=$(sha256_of "$tmp/layer.tar")
  gzip -n -9 "$tmp/layer.tar"
  local layer_desc
  layer_desc=$(add_blob "$tmp" "$tmp/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)

  printf '{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"hack/build-images.sh"}]}' \
    "$config_object" "$diff_id" >"$tmp/config.json"
  local config_desc
  config_desc=$(add_blob "$tmp" "$tmp/config.json" application/vnd.oci.image.config.v1+json)

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
    "$config_desc" "$layer_desc" >"$tmp/manifest.json"
  local manifest_desc
  manifest_desc=$(add_blob "$tmp" "$tmp/manifest.json" application/vnd.oci.image.manifest.v1+json)

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}\n' \
    "${manifest_desc%\}},\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$ref\"}}" \
    >"$tmp/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}\n' >"$tmp/oci-layout"

  rm -rf "$out"
  mv "$tmp" "$out"
}

# manifest_digest LAYOUT: the digest the index points at (sha256:...).
manifest_digest() {
  sed -n 's/.*"manifests":\[{"mediaType":"[^"]*","digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$1/index.json"
}

build_pause() {
  local out src=$HACK_DIR/images/pause.c stamp
  out=$(layout_dir "$PAUSE_NAME" "$PAUSE_TAG")
  need gcc "apt-get install gcc libc6-dev"
  stamp="pause.c=$(sha256_of "$src")
script=$(sha256_of "$0")
cc=$(gcc --version | head -n1)"
  needs_build "$out" "$stamp" "$PAUSE_NAME:$PAUSE_TAG" || return 0
  local work=$IMAGES_DIR/.work-$PAUSE_NAME
  rm -rf "$work"
  mkdir -p "$work/rootfs"
  gcc -static -O2 -Wall -Wextra -s -DCUBELET_PAUSE_VERSION="\"$PAUSE_TAG\"" \
    -o "$work/rootfs/pause" "$src"
  chmod 0755 "$work/rootfs" "$work/rootfs/pause"
  "$work/rootfs/pause" -v >/dev/null || die "built pause binary does not run"
  write_layout "$out" "$work/rootfs" "$PAUSE_TAG" '{"Entrypoint":["/pause"]}'
  rm -rf "$work"
  printf '%s\n' "$stamp" >"$out.stamp"
}

# busybox_rootfs ROOT: fills ROOT with Debian busybox-static's /bin/busybox, every applet linked as
# /bin/<applet>, /etc/passwd and /etc/group (root, nobody), /root (0700) and /tmp (1777).
busybox_rootfs() {
  local root=$1
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
  cp "$BUSYBOX_BIN" "$root/bin/busybox"
  local applets=() a
  local -A have_applet=()
  mapfile -t applets < <("$BUSYBOX_BIN" --list)
  for a in "${applets[@]}"; do have_applet[$a]=1; done
  # (Not `printf | grep -q`: grep quits early, printf gets SIGPIPE and pipefail fails the check.)
  for a in "${BUSYBOX_REQUIRED_APPLETS[@]}"; do
    [ -n "${have_applet[$a]:-}" ] || die "$BUSYBOX_BIN has no applet $a"
  done
  for a in "${applets[@]}"; do
    # Names include "[" and "[["; only path separators and dot names would be trouble.
    [[ -n $a && $a != */* && $a != . && $a != .. ]] || die "odd applet name from busybox --list: $a"
    [ "$a" = busybox ] && continue
    ln -s busybox "$root/bin/$a"
  done
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
  chmod 0755 "$root" "$root/bin" "$root/etc" "$root/bin/busybox"
  chmod 0700 "$root/root"
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  chmod 1777 "$root/tmp"
}

check_busybox() {
  [ -x "$BUSYBOX_BIN" ] || die "$BUSYBOX_BIN missing (apt-get install busybox-static)"
  "$BUSYBOX_BIN" --list >/dev/null 2>&1 || die "$BUSYBOX_BIN --list failed (need busybox-static)"
}

build_busybox() {
  local out stamp
  out=$(layout_dir "$BUSYBOX_NAME" "$BUSYBOX_TAG")
  check_busybox
  stamp="busybox=$(sha256_of "$BUSYBOX_BIN")
script=$(sha256_of "$0")"
  needs_build "$out" "$stamp" "$BUSYBOX_NAME:$BUSYBOX_TAG" || return 0
  local work=$IMAGES_DIR/.work-$BUSYBOX_NAME
  rm -rf "$work"
  busybox_rootfs "$work/rootfs"
  write_layout "$out" "$work/rootfs" "$BUSYBOX_TAG" \
    "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Cmd\":[\"sh\"]}"
  rm -rf "$work"
  printf '%s\n' "$stamp" >"$out.stamp"
}

# agnhost_resolve: sets AGNHOST_NAME and AGNHOST_TAG from the pinned k8s.io/kubernetes module
# (the image the e2e suite's manifest.go names) and checks that $AGNHOST_BIN is the build of it.
AGNHOST_NAME='' AGNHOST_TAG='' AGNHOST_MODDIR=''
agnhost_resolve() {
  need go "Go is needed to find the pinned k8s.io/kubernetes module"
  AGNHOST_MODDIR=$(kube_module_dir)
  local image source_version out
  image=$(agnhost_e2e_image "$AGNHOST_MODDIR")
  AGNHOST_NAME=${image% *} AGNHOST_TAG=${image#* }
  source_version=$(agnhost_source_version "$AGNHOST_MODDIR")
  # Upstream bumps test/images/agnhost/VERSION before the e2e manifest; the tag is what the
  # suite pulls, the binary is what the pinned sources build.
  [ "$source_version" = "$AGNHOST_TAG" ] ||
    log "note: agnhost sources are $source_version, the e2e manifest wants $AGNHOST_TAG; tagging $AGNHOST_TAG"
  out=$("$AGNHOST_BIN" --version 2>/dev/null) || out=
  [ "$out" = "app version $source_version" ] ||
    die "$AGNHOST_BIN is missing or not agnhost $source_version; run hack/build-upstream.sh agnhost (needs the Go module proxy)"
}

# The agnhost image laid out as upstream's test/images/agnhost/Dockerfile does, on our busybox
# instead of alpine: /agnhost, /agnhost-2 -> agnhost (entrypoint-tester), /uploads (netexec),
# /localhost.crt and /localhost.key (porter), user-defined-in-image (uid 1000) in
# group-defined-in-image (gid 50000) (SupplementalGroupsPolicy tests), ENTRYPOINT ["/agnhost"],
# CMD ["pause"]. Not included: alpine's bash, curl, dig, iperf, socat, iproute2, netcat-openbsd
# (busybox applets stand in for some; its nc here has no -u, -z or -v), coredns and
# fakeregistryserver's /var/registry (both need the internet).
build_agnhost() {
  local out stamp porter=$AGNHOST_MODDIR/test/images/agnhost/porter
  out=$(layout_dir "$AGNHOST_NAME" "$AGNHOST_TAG")
  check_busybox
  stamp="agnhost=$(sha256_of "$AGNHOST_BIN")
busybox=$(sha256_of "$BUSYBOX_BIN")
localhost.crt=$(sha256_of "$porter/localhost.crt")
localhost.key=$(sha256_of "$porter/localhost.key")
script=$(sha256_of "$0")"
  needs_build "$out" "$stamp" "$AGNHOST_NAME:$AGNHOST_TAG" || return 0
  local work=$IMAGES_DIR/.work-agnhost
  rm -rf "$work"
  local root=$work/rootfs
  busybox_rootfs "$root"
  # As alpine's `adduser -D user-defined-in-image`, `addgroup -g 50000 group-defined-in-image`,
  # `addgroup user-defined-in-image group-defined-in-image` (no home directory: layers here are
  # owned by root only).
  echo 'user-defined-in-image:x:1000:1000:Linux User,,,:/home/user-defined-in-image:/bin/sh' \
    >>"$root/etc/passwd"
  printf '%s\n' 'user-defined-in-image:x:1000:' \
    'group-defined-in-image:x:50000:user-defined-in-image' >>"$root/etc/group"
  cp "$AGNHOST_BIN" "$root/agnhost"
  ln -s agnhost "$root/agnhost-2"
  mkdir "$root/uploads"
  cp "$porter/localhost.crt" "$porter/localhost.key" "$root/"
  chmod 0755 "$root/agnhost" "$root/uploads"
  chmod 0644 "$root/localhost.crt" "$root/localhost.key"
  "$root/agnhost" --version >/dev/null || die "agnhost binary does not run"
  local ports='"80/tcp":{},"8080/tcp":{},"8081/tcp":{},"9376/tcp":{},"5000/tcp":{}'
  write_layout "$out" "$root" "$AGNHOST_TAG" \
    "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Entrypoint\":[\"/agnhost\"],\"Cmd\":[\"pause\"],\"ExposedPorts\":{$ports}}"
  rm -rf "$work"
  printf '%s\n' "$stamp" >"$out.stamp"
}

# push NAME TAG: copies the layout to $REGISTRY unless the registry already has that digest.
push_image() {
  local name=$1 tag=$2 layout want have
  layout=$(layout_dir "$name" "$tag")
  want=$(manifest_digest "$layout")
  [ -n "$want" ] || die "cannot read the manifest digest from $layout/index.json"
  local dest=docker://$REGISTRY/$name:$tag
  # Fails (empty) when the registry does not have the tag yet.
  have=$(skopeo --policy "$POLICY" inspect --tls-verify=false --format '{{.Digest}}' "$dest" \
    2>/dev/null) || have=
  if [ "$have" = "$want" ]; then
    log "$REGISTRY/$name:$tag up to date ($want)"
    return
  fi
  log "pushing $name:$tag to $REGISTRY ($want)"
  skopeo --policy "$POLICY" copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci:$layout:$tag" "$dest"
  have=$(skopeo --policy "$POLICY" inspect --tls-verify=false --format '{{.Digest}}' "$dest")
  [ "$have" = "$want" ] || die "$dest has digest $have after the push, expected $want"
}

mkdir -p "$IMAGES_DIR"
need tar
need gzip
need sha256sum
agnhost_resolve
build_pause
build_busybox
build_agnhost

if [ "$push" = 0 ]; then
  log "layouts in $IMAGES_DIR (not pushed: --no-push)"
  exit 0
fi

need skopeo "apt-get install skopeo"
registry_ping "$REGISTRY" ||
  die "no registry answers at http://$REGISTRY/v2/ from this network namespace; start one (hack/lib/registry.sh: registry_start DIR PORT), set REGISTRY=host:port, or pass --no-push"
# Our own signature policy: the system one may be missing or stricter; these images are local.
POLICY=$IMAGES_DIR/policy.json
[ -f "$POLICY" ] || printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$POLICY"
push_image "$PAUSE_NAME" "$PAUSE_TAG"
push_image "$BUSYBOX_NAME" "$BUSYBOX_TAG"
push_image "$AGNHOST_NAME" "$AGNHOST_TAG"
