#!/usr/bin/env bash
# Builds the pinned upstream Kubernetes components, the e2e suite's test programs (agnhost, nnp), etcd
# and metrics-server from the Go module proxy into $CUBELET_CACHE. Idempotent: a program whose
# binary exists and reports the pinned version is not rebuilt. Nothing here is committed; the wrapper go.mod
# is generated in the cache (hack/lib/upstream.sh).
#
# Usage: hack/build-upstream.sh [all|etcd|kube|agnhost|metrics-server|e2e|ginkgo]
#   (e2e and ginkgo, for hack/conformance.sh, are not in all)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/upstream.sh"

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm)

reports_version() { # binary expected-substring
  [ -x "$1" ] || return 1
  local out
  case "$(basename "$1")" in
    kubectl) out=$("$1" version --client 2>/dev/null) ;;
    kubeadm) out=$("$1" version -o short 2>/dev/null) ;;
    *) out=$("$1" --version 2>/dev/null) ;;
  esac
  [[ "$out" == *"$2"* ]]
}

build_kube() {
  local missing=()
  for c in "${KUBE_CMDS[@]}"; do
    reports_version "$UPSTREAM_BIN/$c" "$KUBE_VERSION" || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] && { log "upstream $KUBE_VERSION binaries present"; return; }
  log "building ${missing[*]} $KUBE_VERSION (first time takes a while)"
  mkdir -p "$UPSTREAM_BIN"
  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  kube_wrapper_get "${pkgs[@]}"
  local pkgver=k8s.io/component-base/version
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  for p in $pkgver k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$UPSTREAM_BIN/" "${pkgs[@]}")
  for c in "${missing[@]}"; do
    reports_version "$UPSTREAM_BIN/$c" "$KUBE_VERSION" || die "$c does not report $KUBE_VERSION"
  done
  log "upstream binaries in $UPSTREAM_BIN"
}

# agnhost from k8s.io/kubernetes/test/images/agnhost as upstream builds it (static, main.Version
# from the VERSION file next to it); build-images.sh puts it into the agnhost image.
build_agnhost() {
  local moddir version out
  moddir=$(kube_module_dir)
  version=$(agnhost_source_version "$moddir")
  out=$("$AGNHOST_BIN" --version 2>/dev/null) || out=
  [ "$out" = "app version $version" ] && { log "agnhost $version present"; return; }
  log "building agnhost $version from k8s.io/kubernetes $KUBE_VERSION"
  mkdir -p "$UPSTREAM_BIN"
  kube_wrapper_get "$AGNHOST_PKG"
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=$version" \
    -o "$AGNHOST_BIN.tmp" "$AGNHOST_PKG")
  out=$("$AGNHOST_BIN.tmp" --version) || die "the built agnhost does not run"
  [ "$out" = "app version $version" ] || die "the built agnhost reports '$out', expected 'app version $version'"
  mv -f "$AGNHOST_BIN.tmp" "$AGNHOST_BIN"
  log "agnhost $version in $AGNHOST_BIN"
}

# nnp, the program of the e2e suite's nonewprivs image (test/images/nonewprivs: prints its effective
# uid); build-images.sh installs it setuid root. It has no version of its own: a stamp next to it
# records the Kubernetes version it came from.
build_nnp() {
  local stamp=$NNP_BIN.version
  if [ -x "$NNP_BIN" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$KUBE_VERSION" ]; then
    log "nnp $KUBE_VERSION present"
    return
  fi
  log "building nnp from k8s.io/kubernetes $KUBE_VERSION"
  mkdir -p "$UPSTREAM_BIN"
  kube_wrapper_get "$NNP_PKG"
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$NNP_BIN.tmp" "$NNP_PKG")
  [[ $("$NNP_BIN.tmp") == "Effective uid: "* ]] || die "the built nnp does not run"
  mv -f "$NNP_BIN.tmp" "$NNP_BIN"
  echo "$KUBE_VERSION" >"$stamp"
}

build_etcd() {
  reports_version "$ETCD_BIN/etcd" "${ETCD_VERSION#v}" && { log "etcd $ETCD_VERSION present"; return; }
  log "building etcd $ETCD_VERSION"
  local src=$CUBELET_CACHE/etcd-$ETCD_VERSION/src
  mkdir -p "$src" "$ETCD_BIN"
  printf 'module cubelet.local/upstream-etcd\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "$GO_MIN_VERSION" "$ETCD_VERSION" >"$src/go.mod"
  (cd "$src" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ETCD_BIN/etcd" go.etcd.io/etcd/server/v3)
  reports_version "$ETCD_BIN/etcd" "${ETCD_VERSION#v}" || die "etcd does not report $ETCD_VERSION"
}

# metrics-server for `kubectl top`: a wrapper module requiring sigs.k8s.io/metrics-server (it has
# no replace directives, so its own go.mod decides the dependencies). Its --version prints
# client-go's gitVersion, set here as the upstream Makefile does.
build_metrics_server() {
  local bin=$METRICS_SERVER_BIN/metrics-server
  reports_version "$bin" "$METRICS_SERVER_VERSION" && { log "metrics-server $METRICS_SERVER_VERSION present"; return; }
  log "building metrics-server $METRICS_SERVER_VERSION"
  local src=$CUBELET_CACHE/metrics-server-$METRICS_SERVER_VERSION/src
  local pkg=sigs.k8s.io/metrics-server/cmd/metrics-server
  local ld="-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
  ld+=" -X k8s.io/client-go/pkg/version.buildDate=1970-01-01T00:00:00Z"
  mkdir -p "$src" "$METRICS_SERVER_BIN"
  printf 'module cubelet.local/upstream-metrics-server\n\ngo %s\n\nrequire sigs.k8s.io/metrics-server %s\n' \
    "$GO_MIN_VERSION" "$METRICS_SERVER_VERSION" >"$src/go.mod"
  (cd "$src" && go get "$pkg@$METRICS_SERVER_VERSION" &&
    CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$bin.tmp" "$pkg")
  reports_version "$bin.tmp" "$METRICS_SERVER_VERSION" || die "metrics-server does not report $METRICS_SERVER_VERSION"
  mv -f "$bin.tmp" "$bin"
  log "metrics-server in $bin"
}

# e2e.test, the upstream end-to-end suite (hack/conformance.sh runs its [NodeConformance] specs),
# compiled from the pinned module's test/e2e with the same version stamps as the binaries. Not
# part of `all`: the link is heavy and only the conformance runs need it. A stamp next to the
# binary records the version it was built from.
build_e2e() {
  local bin=$UPSTREAM_BIN/e2e.test stamp=$UPSTREAM_BIN/e2e.test.version
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$KUBE_VERSION" ]; then
    log "e2e.test $KUBE_VERSION present"
    return
  fi
  log "building e2e.test $KUBE_VERSION (takes a while)"
  mkdir -p "$UPSTREAM_BIN"
  kube_wrapper_get -t k8s.io/kubernetes/test/e2e
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go test -c -trimpath -ldflags "$ld" -o "$bin.tmp" k8s.io/kubernetes/test/e2e)
  "$bin.tmp" --help >/dev/null 2>&1 || die "the built e2e.test does not run"
  mv -f "$bin.tmp" "$bin"
  echo "$KUBE_VERSION" >"$stamp"
  log "e2e.test in $bin"
}

# The ginkgo CLI, for parallel e2e runs (hack/conformance.sh --parallel), at the version the pinned
# k8s.io/kubernetes requires (the suite and the CLI must agree).
build_ginkgo() {
  local bin=$UPSTREAM_BIN/ginkgo version moddir
  moddir=$(kube_module_dir)
  version=$(sed -n 's|^\s*github.com/onsi/ginkgo/v2 \(v[0-9.]*\)$|\1|p' "$moddir/go.mod")
  [ -n "$version" ] || die "cannot find github.com/onsi/ginkgo/v2 in $moddir/go.mod"
  if [[ $("$bin" version 2>/dev/null) == "Ginkgo Version ${version#v}" ]]; then
    log "ginkgo $version present"
    return
  fi
  log "building ginkgo $version"
  mkdir -p "$UPSTREAM_BIN"
  kube_wrapper_get -t k8s.io/kubernetes/test/e2e "github.com/onsi/ginkgo/v2/ginkgo@$version"
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" github.com/onsi/ginkgo/v2/ginkgo)
  [[ $("$bin.tmp" version) == "Ginkgo Version ${version#v}" ]] || die "the built ginkgo does not report ${version#v}"
  mv -f "$bin.tmp" "$bin"
}

case "${1:-all}" in
  etcd) build_etcd ;;
  kube) build_kube ;;
  agnhost) build_agnhost; build_nnp ;;
  metrics-server) build_metrics_server ;;
  e2e) build_e2e ;;
  ginkgo) build_ginkgo ;;
  all) build_etcd; build_kube; build_agnhost; build_nnp; build_metrics_server ;;
  *) die "usage: $0 [all|etcd|kube|agnhost|metrics-server|e2e|ginkgo]" ;;
esac
