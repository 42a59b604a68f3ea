#!/usr/bin/env bash
# Builds the offline test images as OCI image layouts under $CUBELET_CACHE/images/ (no container
# engine needed) and pushes them to the local registry at $REGISTRY (default localhost:5000):
#
#   pause:3.10     rootfs: only /pause (static, from hack/images/pause.c); Entrypoint ["/pause"]
#   busybox:1.36   rootfs: Debian busybox-static's /bin/busybox, every applet linked as
#                  /bin/<applet>, /etc/passwd, /etc/group, /tmp (1777); Cmd ["sh"]
#
# and the images of the pinned upstream e2e suite (hack/conformance.sh), under the names and tags
# its test/utils/image/manifest.go gives them (for KUBE_VERSION v1.37.2):
# Their busybox is built by hack/build-busybox.sh from the same Debian source with upstream's ash
# (variables with names like data-1 reach children), as in the official busybox image:
#   e2e-test-images/agnhost:2.66.1
#                  rootfs: a busybox one plus /agnhost (static, built by hack/build-upstream.sh
#                  agnhost), /agnhost-2 -> agnhost, /uploads, /localhost.crt, /localhost.key,
#                  user-defined-in-image (1000) in group-defined-in-image (50000), and the tools
#                  the specs run inside it: bash, curl and netcat-openbsd's nc from Debian with
#                  their libraries; Entrypoint ["/agnhost"], Cmd ["pause"]
#   e2e-test-images/busybox:1.37.0-2   the busybox rootfs; Cmd ["sh"]
#   pause:3.10.2                       the pause image above, under the suite's name
#   e2e-test-images/nonroot:1.5        the busybox rootfs with User 1234
#   e2e-test-images/nonewprivs:1.4     the busybox rootfs plus /usr/local/bin/nnp (setuid root,
#                                      built by hack/build-upstream.sh agnhost); Cmd ["nnp"]
#   e2e-test-images/glibc-dns-testing:2.1.1
#                  Debian's dash as /bin/sh, hostname and cat with glibc, /etc/nsswitch.conf
#                  (what the suite's hostname specs run; no dnsutils or coredns)
# Images the suite must not reach (invalidRegistry, privateRegistry) are not built.
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
# The e2e suite's images get a busybox with upstream's ash (hack/build-busybox.sh).
E2E_BUSYBOX_BIN=$(upstream_busybox_bin)
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

# busybox_rootfs ROOT [BINARY]: fills ROOT with BINARY (default Debian busybox-static's
# /bin/busybox) as /bin/busybox, every applet linked as /bin/<applet>, /etc/passwd and /etc/group
# (root, nobody), /root (0700) and /tmp (1777).
busybox_rootfs() {
  local root=$1 bin=${2:-$BUSYBOX_BIN}
  check_busybox "$bin"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
  cp "$bin" "$root/bin/busybox"
  local applets=() a
  local -A have_applet=()
  mapfile -t applets < <("$bin" --list)
  for a in "${applets[@]}"; do have_applet[$a]=1; done
  # (Not `printf | grep -q`: grep quits early, printf gets SIGPIPE and pipefail fails the check.)
  for a in "${BUSYBOX_REQUIRED_APPLETS[@]}"; do
    [ -n "${have_applet[$a]:-}" ] || die "$bin has no applet $a"
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

# check_busybox [BINARY]
check_busybox() {
  local bin=${1:-$BUSYBOX_BIN}
  [ -x "$bin" ] || die "$bin missing (hack/install-deps.sh: busybox-static, hack/build-busybox.sh)"
  "$bin" --list >/dev/null 2>&1 || die "$bin --list failed"
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

# e2e_resolve: reads the names and tags of the e2e suite's images from the pinned k8s.io/kubernetes
# module (E2E_NAME[ID], E2E_TAG[ID]) and checks that $AGNHOST_BIN is the build of its agnhost.
AGNHOST_NAME='' AGNHOST_TAG='' AGNHOST_MODDIR=''
declare -A E2E_NAME=() E2E_TAG=()
E2E_IDS=(Agnhost BusyBox Pause NonRoot Nonewprivs GlibcDnsTesting)
e2e_resolve() {
  need go "Go is needed to find the pinned k8s.io/kubernetes module"
  AGNHOST_MODDIR=$(kube_module_dir)
  local image source_version out id
  for id in "${E2E_IDS[@]}"; do
    image=$(e2e_image "$AGNHOST_MODDIR" "$id")
    E2E_NAME[$id]=${image% *} E2E_TAG[$id]=${image#* }
  done
  AGNHOST_NAME=${E2E_NAME[Agnhost]} AGNHOST_TAG=${E2E_TAG[Agnhost]}
  source_version=$(agnhost_source_version "$AGNHOST_MODDIR")
  # Upstream bumps test/images/agnhost/VERSION before the e2e manifest; the tag is what the
  # suite pulls, the binary is what the pinned sources build.
  [ "$source_version" = "$AGNHOST_TAG" ] ||
    log "note: agnhost sources are $source_version, the e2e manifest wants $AGNHOST_TAG; tagging $AGNHOST_TAG"
  out=$("$AGNHOST_BIN" --version 2>/dev/null) || out=
  [ "$out" = "app version $source_version" ] ||
    die "$AGNHOST_BIN is missing or not agnhost $source_version; run hack/build-upstream.sh agnhost (needs the Go module proxy)"
}

# host_closure FILE...: FILE and every shared library ldd resolves for it (absolute paths, with the
# dynamic loader), one per line, sorted and unique. Statically linked files have no libraries.
host_closure() {
  local f
  for f in "$@"; do
    [ -x "$f" ] || die "$f missing (see hack/install-deps.sh)"
    printf '%s\n' "$f"
    # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
    ldd "$f" 2>/dev/null | sed -n 's|.*=> \(/[^ ]*\) .*|\1|p; s|^\s*\(/[^ ]*\) (0x.*|\1|p' || true
  done | LC_ALL=C sort -u
}

# closure_stamp FILE...: one line naming the hash of every file of host_closure FILE...
closure_stamp() {
  host_closure "$@" | xargs sha256sum | sha256sum | cut -d' ' -f1
}

# install_host ROOT DEST SRC: copies the host program SRC to ROOT/DEST and its libraries (and the
# loader) to the same paths under ROOT, dereferenced, so it runs there as it does on the host.
install_host() {
  local root=$1 dest=$2 src=$3 lib
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$src" "$root$dest"
  chmod 0755 "$root$dest"
  while read -r lib; do
    [ "$lib" = "$src" ] && continue
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
    chmod 0755 "$root$lib"
  done < <(host_closure "$src")
}

# Host programs the e2e specs run inside agnhost: lifecycle exec hooks and the networking checks
# call curl, the node-pod UDP check `nc -w 1 -u`, the terminating-readiness probes /bin/bash.
AGNHOST_HOST_TOOLS=(/bin/bash /usr/bin/curl /bin/nc.openbsd)

# The agnhost image laid out as upstream's test/images/agnhost/Dockerfile does, on our busybox
# instead of alpine: /agnhost, /agnhost-2 -> agnhost (entrypoint-tester), /uploads (netexec),
# /localhost.crt and /localhost.key (porter), user-defined-in-image (uid 1000) in
# group-defined-in-image (gid 50000) (SupplementalGroupsPolicy tests), ENTRYPOINT ["/agnhost"],
# CMD ["pause"], plus Debian's bash, curl and netcat-openbsd (as /usr/bin/nc, ahead of busybox's
# in PATH). Not included: alpine's dig, iperf, socat, iproute2, coredns and fakeregistryserver's
# /var/registry (both need the internet).
build_agnhost() {
  local out stamp porter=$AGNHOST_MODDIR/test/images/agnhost/porter
  out=$(layout_dir "$AGNHOST_NAME" "$AGNHOST_TAG")
  check_busybox "$E2E_BUSYBOX_BIN"
  stamp="agnhost=$(sha256_of "$AGNHOST_BIN")
busybox=$(sha256_of "$E2E_BUSYBOX_BIN")
tools=$(closure_stamp "${AGNHOST_HOST_TOOLS[@]}")
localhost.crt=$(sha256_of "$porter/localhost.crt")
localhost.key=$(sha256_of "$porter/localhost.key")
script=$(sha256_of "$0")"
  needs_build "$out" "$stamp" "$AGNHOST_NAME:$AGNHOST_TAG" || return 0
  local work=$IMAGES_DIR/.work-agnhost
  rm -rf "$work"
  local root=$work/rootfs
  busybox_rootfs "$root" "$E2E_BUSYBOX_BIN"
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
  rm -f "$root/bin/bash"
  install_host "$root" /bin/bash /bin/bash
  install_host "$root" /usr/bin/curl /usr/bin/curl
  install_host "$root" /usr/bin/nc /bin/nc.openbsd
  local t
  for t in "bash -c true" "curl --version" "nc -h"; do
    chroot "$root" /bin/sh -c "PATH=/usr/bin:/bin; $t" >/dev/null 2>&1 || die "'$t' does not run in the agnhost rootfs"
  done
  chmod 0755 "$root/agnhost" "$root/uploads"
  chmod 0644 "$root/localhost.crt" "$root/localhost.key"
  "$root/agnhost" --version >/dev/null || die "agnhost binary does not run"
  local ports='"80/tcp":{},"8080/tcp":{},"8081/tcp":{},"9376/tcp":{},"5000/tcp":{}'
  write_layout "$out" "$root" "$AGNHOST_TAG" \
    "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Entrypoint\":[\"/agnhost\"],\"Cmd\":[\"pause\"],\"ExposedPorts\":{$ports}}"
  rm -rf "$work"
  printf '%s\n' "$stamp" >"$out.stamp"
}

# busybox_variant ID CONFIG_OBJECT [SETUP]: the e2e image ID as a busybox rootfs (upstream ash)
# with the given image config, after running the shell function SETUP ROOT on the rootfs (if named).
busybox_variant() {
  local id=$1 config=$2 setup=${3:-} name=${E2E_NAME[$1]} tag=${E2E_TAG[$1]} out stamp
  out=$(layout_dir "$name" "$tag")
  check_busybox "$E2E_BUSYBOX_BIN"
  stamp="busybox=$(sha256_of "$E2E_BUSYBOX_BIN")
config=$config
extra=${setup:+$($setup --stamp)}
script=$(sha256_of "$0")"
  needs_build "$out" "$stamp" "$name:$tag" || return 0
  local work=$IMAGES_DIR/.work-$id
  rm -rf "$work"
  busybox_rootfs "$work/rootfs" "$E2E_BUSYBOX_BIN"
  [ -z "$setup" ] || $setup "$work/rootfs"
  write_layout "$out" "$work/rootfs" "$tag" "$config"
  rm -rf "$work"
  printf '%s\n' "$stamp" >"$out.stamp"
}

# nonewprivs (test/images/nonewprivs/Dockerfile): nnp at /usr/local/bin, setuid root.
nnp_setup() {
  if [ "$1" = --stamp ]; then sha256_of "$NNP_BIN"; return; fi
  [ -x "$NNP_BIN" ] || die "$NNP_BIN missing; run hack/build-upstream.sh agnhost"
  mkdir -p "$1/usr/local/bin"
  cp "$NNP_BIN" "$1/usr/local/bin/nnp"
  chmod 4755 "$1/usr/local/bin/nnp"
}

# glibc-dns-testing: upstream's is debian-base with dnsutils; the suite's specs that use it
# (pod_hostnameoverride.go) run `sh -c "echo $(hostname)';'$(hostname -f)';'"`, which needs a
# shell, hostname and glibc's resolver reading the kubelet-managed /etc/hosts.
GLIBC_HOST_TOOLS=(/bin/dash /bin/hostname /bin/cat /bin/sleep)
build_glibc_dns() {
  local name=${E2E_NAME[GlibcDnsTesting]} tag=${E2E_TAG[GlibcDnsTesting]} out stamp
  out=$(layout_dir "$name" "$tag")
  stamp="tools=$(closure_stamp "${GLIBC_HOST_TOOLS[@]}")
script=$(sha256_of "$0")"
  needs_build "$out" "$stamp" "$name:$tag" || return 0
  local work=$IMAGES_DIR/.work-glibc root t
  rm -rf "$work"
  root=$work/rootfs
  mkdir -p "$root/etc" "$root/tmp"
  for t in "${GLIBC_HOST_TOOLS[@]}"; do install_host "$root" "$t" "$t"; done
  ln -s dash "$root/bin/sh"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  chmod 0644 "$root/etc/nsswitch.conf" "$root/etc/passwd" "$root/etc/group"
  chmod 1777 "$root/tmp"
  chroot "$root" /bin/sh -c 'hostname' >/dev/null || die "hostname does not run in the glibc-dns-testing rootfs"
  write_layout "$out" "$root" "$tag" "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Cmd\":[\"/bin/sh\"]}"
  rm -rf "$work"
  printf '%s\n' "$stamp" >"$out.stamp"
}

# push NAME TAG [DEST_NAME DEST_TAG]: copies the layout of NAME:TAG to $REGISTRY (as DEST_NAME:DEST_TAG
# if given) unless the registry already has that digest there.
push_image() {
  local name=$1 tag=$2 layout want have
  layout=$(layout_dir "$name" "$tag")
  want=$(manifest_digest "$layout")
  [ -n "$want" ] || die "cannot read the manifest digest from $layout/index.json"
  local dname=${3:-$name} dtag=${4:-$tag}
  local dest=docker://$REGISTRY/$dname:$dtag
  # Fails (empty) when the registry does not have the tag yet.
  have=$(skopeo --policy "$POLICY" inspect --tls-verify=false --format '{{.Digest}}' "$dest" \
    2>/dev/null) || have=
  if [ "$have" = "$want" ]; then
    log "$REGISTRY/$dname:$dtag up to date ($want)"
    return
  fi
  log "pushing $dname:$dtag to $REGISTRY ($want)"
  skopeo --policy "$POLICY" copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci:$layout:$tag" "$dest"
  have=$(skopeo --policy "$POLICY" inspect --tls-verify=false --format '{{.Digest}}' "$dest")
  [ "$have" = "$want" ] || die "$dest has digest $have after the push, expected $want"
}

mkdir -p "$IMAGES_DIR"
need tar
need gzip
need sha256sum
e2e_resolve
build_pause
build_busybox
build_agnhost
busybox_variant BusyBox "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Cmd\":[\"sh\"]}"
busybox_variant NonRoot "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Cmd\":[\"sh\"],\"User\":\"1234\"}"
busybox_variant Nonewprivs "{\"Env\":[\"$IMAGE_PATH_ENV\"],\"Cmd\":[\"nnp\"]}" nnp_setup
build_glibc_dns

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
push_image "$PAUSE_NAME" "$PAUSE_TAG" "${E2E_NAME[Pause]}" "${E2E_TAG[Pause]}"
for id in BusyBox NonRoot Nonewprivs GlibcDnsTesting; do
  push_image "${E2E_NAME[$id]}" "${E2E_TAG[$id]}"
done
