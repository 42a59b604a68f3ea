# Shared settings for hack/*.sh. Source it; it defines paths and small helpers only.
# shellcheck shell=bash

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$HACK_DIR/.." && pwd)
# shellcheck source=../versions.env
. "$HACK_DIR/versions.env"

# Builds of upstream components and images, reused across runs and clones.
CUBELET_CACHE=${CUBELET_CACHE:-$HOME/.cache/cubelet}
UPSTREAM_BIN=$CUBELET_CACHE/$KUBE_VERSION/bin
ETCD_BIN=$CUBELET_CACHE/etcd-$ETCD_VERSION/bin
METRICS_SERVER_BIN=$CUBELET_CACHE/metrics-server-$METRICS_SERVER_VERSION/bin
# Everything a running local cluster owns: PKI, configs, data, logs, pid files.
CUBELET_STATE=${CUBELET_STATE:-/var/lib/cubelet-dev}
# Our own build tree.
BUILD_DIR=${BUILD_DIR:-$REPO_ROOT/build}

export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS=${GOFLAGS:--buildvcs=false}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
