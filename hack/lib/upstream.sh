# The pinned k8s.io/kubernetes module and the cached wrapper module that builds programs from it.
# Source after lib/common.sh.
# shellcheck shell=bash

# The wrapper module: generated here, never in the repo.
KUBE_SRC=$CUBELET_CACHE/$KUBE_VERSION/src

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
