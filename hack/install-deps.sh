#!/usr/bin/env bash
# Installs everything the build, the local cluster and the tests need. Idempotent: packages
# already installed and upstream binaries already built (in $CUBELET_CACHE) are left alone.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

DEBIAN_PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libgrpc++-dev libnghttp2-dev libcpp-httplib-dev nlohmann-json3-dev libnl-3-dev libnl-route-3-dev
  libyaml-cpp-dev libssl-dev libabsl-dev libgtest-dev libgmock-dev ccache
  # local cluster
  containerd runc containernetworking-plugins docker-registry skopeo busybox-static
  iproute2 iptables openssl curl util-linux procps apache2-utils
  # tests; bash, curl and netcat-openbsd also go into the e2e suite's agnhost image, dash and
  # hostname into its glibc-dns-testing image (hack/build-images.sh)
  python3 bash dash hostname netcat-openbsd
  # hack/build-busybox.sh (the e2e images' busybox, from Debian's source package)
  gcc make libc6-dev patch bzip2 xz-utils
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" ||
    { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

command -v go >/dev/null || die "Go is needed to build the upstream test components (not found in PATH)"
gov=$(go env GOVERSION)
gov=${gov#go}
if [ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$gov" | sort -V | head -1)" != "$GO_MIN_VERSION" ]; then
  die "Go $GO_MIN_VERSION or newer is needed, found $gov"
fi

# Kube components, etcd, agnhost and nnp. Here, not in up.sh: build-images.sh runs in the cluster's
# namespace, where the Go module proxy is out of reach, and only packs the binaries. The e2e suite
# and the ginkgo CLI serve the conformance runs (hack/conformance.sh; CI runs its smoke list).
"$HACK_DIR/build-upstream.sh" all
"$HACK_DIR/build-upstream.sh" e2e
"$HACK_DIR/build-upstream.sh" ginkgo
"$HACK_DIR/build-busybox.sh"
log "dependencies ready"
