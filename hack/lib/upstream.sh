# The pinned k8s.io/kubernetes module and the cached wrapper module that builds programs from it.
# Source after lib/common.sh. Used by build-upstream.sh (to build) and build-images.sh (to read
# the agnhost image's name, version and files from the same module, without network).
# shellcheck shell=bash

# The wrapper module: generated here, never in the repo.
KUBE_SRC=$CUBELET_CACHE/$KUBE_VERSION/src
# agnhost, the e2e suite's test program, built from the module's test/images/agnhost.
# shellcheck disable=SC2034 # used by the scripts that source this
AGNHOST_PKG=k8s.io/kubernetes/test/images/agnhost
# shellcheck disable=SC2034
AGNHOST_BIN=$UPSTREAM_BIN/agnhost
# nnp, the nonewprivs image's program.
# shellcheck disable=SC2034
NNP_PKG=k8s.io/kubernetes/test/images/nonewprivs
# shellcheck disable=SC2034
NNP_BIN=$UPSTREAM_BIN/nnp

# kube_module_dir: prints the directory of k8s.io/kubernetes@$KUBE_VERSION in the Go module
# cache. Downloads it the first time; once cached this needs no network.
kube_module_dir() {
  local json dir
  json=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION") ||
    die "cannot download k8s.io/kubernetes@$KUBE_VERSION (no Go module proxy here? run hack/build-upstream.sh where there is one)"
  dir=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$json")
  [ -n "$dir" ] && [ -f "$dir/go.mod" ] || die "no module directory for k8s.io/kubernetes@$KUBE_VERSION in: $json"
  printf '%s\n' "$dir"
}

# kube_wrapper_get PKG...: writes the wrapper module $KUBE_SRC (require k8s.io/kubernetes, with
# every staging module replaced by its published release) and `go get`s PKG... into it, so that
# `(cd "$KUBE_SRC" && go build PKG...)` works.
kube_wrapper_get() {
  local moddir
  moddir=$(kube_module_dir)
  mkdir -p "$KUBE_SRC"
  # k8s.io/kubernetes points its staging modules at ./staging; point them at their releases.
  # The list comes from the module's own go.mod: it changes between releases.
  {
    echo "module cubelet.local/upstream-kube"
    echo
    echo "go $GO_MIN_VERSION"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    sed -n 's|^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*|\t\1 => \1 '"$KUBE_STAGING_VERSION"'|p' "$moddir/go.mod"
    echo ")"
  } >"$KUBE_SRC/go.mod"
  grep -q ' => k8s.io/' "$KUBE_SRC/go.mod" || die "no staging replace lines generated from $moddir/go.mod"
  (cd "$KUBE_SRC" && go get "$@")
}

# agnhost_source_version MODDIR: the version agnhost's sources declare (test/images/agnhost/VERSION);
# upstream compiles it into the binary (main.Version), `agnhost --version` prints it.
agnhost_source_version() {
  local v
  v=$(tr -d ' \t\r\n' <"$1/test/images/agnhost/VERSION") || die "cannot read $1/test/images/agnhost/VERSION"
  [[ $v =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "odd agnhost VERSION '$v' in $1/test/images/agnhost/VERSION"
  printf '%s\n' "$v"
}

# e2e_image MODDIR ID: prints "PATH VERSION" of the image the pinned e2e suite names ID, from
# test/utils/image/manifest.go: its entry (e.g. configs[Agnhost] = Config{list.PromoterE2eRegistry,
# "agnhost", "2.66.1"}) and that registry's default (registry.k8s.io/e2e-test-images) without its
# host, e.g. "e2e-test-images/agnhost 2.66.1", or "pause 3.10.2" for a registry that is a bare host
# (gcRegistry: registry.k8s.io). A KUBE_TEST_REPO_LIST mapping PromoterE2eRegistry to
# localhost:5000/e2e-test-images and GcRegistry to localhost:5000 then finds our images.
e2e_image() {
  local manifest=$1/test/utils/image/manifest.go id=$2 line field name version default prefix=''
  [ -f "$manifest" ] || die "$manifest missing"
  line=$(sed -n 's/^\s*configs\['"$id"'\]\s*=\s*Config{\(.*\)}\s*$/\1/p' "$manifest")
  [[ $line =~ ^list\.([A-Za-z0-9]+),\ *\"([a-z0-9/-]+)\",\ *\"([0-9A-Za-z.-]+)\"$ ]] ||
    die "cannot parse the $id entry of $manifest: '$line'"
  field=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]} version=${BASH_REMATCH[3]}
  default=$(sed -n 's|^\s*'"$field"':\s*"\([^"]*\)",\s*$|\1|p' "$manifest" | head -n1)
  [ -n "$default" ] || die "cannot find the default of $field in $manifest"
  [[ $default == */* ]] && prefix=${default#*/}/
  printf '%s%s %s\n' "$prefix" "$name" "$version"
}

# upstream_busybox_bin: the path of the busybox hack/build-busybox.sh builds (upstream ash
# behaviour) from the source of the installed busybox-static; empty when that is not installed.
upstream_busybox_bin() {
  local v
  v=$(dpkg-query -W -f='${source:Version}' busybox-static 2>/dev/null) || return 0
  printf '%s\n' "$CUBELET_CACHE/busybox-upstream-${v//[:~]/_}/busybox"
}
