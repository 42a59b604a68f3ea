#!/usr/bin/env bash
# The pinned kubectl against the local cluster, as cluster admin, from inside its network
# namespace. Usage: hack/kubectl.sh ARGS...
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"
[ -e "$NETNS_PATH" ] && [ -s "$ADMIN_KUBECONFIG" ] || die "the local cluster is not set up; run hack/up.sh"
exec nsenter --net="$NETNS_PATH" -- "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"
