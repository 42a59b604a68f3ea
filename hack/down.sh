#!/usr/bin/env bash
# Stops everything hack/up.sh started (by the PIDs it recorded), the containers containerd ran
# for the cluster, unmounts what lives under the state directory, removes the network namespace
# and the state. Safe to run twice. The image registry's storage in $CUBELET_CACHE is kept.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"
. "$HACK_DIR/lib/registry.sh"

[ "$(id -u)" = 0 ] || die "hack/down.sh must run as root"

for c in metrics-server cubelet upstream kube-scheduler kube-controller-manager kube-apiserver; do
  proc_stop "$c" 30
done

# descendants PID: every process whose parent chain leads to PID.
descendants() {
  local parent=$1 child
  for child in $(ps -o pid= --ppid "$parent" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

# containerd's shims (and the containers under them) outlive containerd: find the ones that
# belong to this cluster by the containerd address on their command line.
shims=()
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
  [[ $cmd == *containerd-shim* && $cmd == *"$CONTAINERD_SOCK"* ]] && shims+=("${p#/proc/}")
done
proc_stop containerd 15
for s in "${shims[@]}"; do
  # Containers first, then the shim itself.
  for d in $(descendants "$s" | tac); do kill -KILL "$d" 2>/dev/null || true; done
  kill -KILL "$s" 2>/dev/null || true
done
[ ${#shims[@]} -gt 0 ] && log "killed ${#shims[@]} containerd shim(s) and their containers"

proc_stop etcd 15
if [ -e "$NETNS_PATH" ]; then
  in_netns bash -c ". '$HACK_DIR/lib/common.sh'; . '$HACK_DIR/lib/registry.sh'; registry_stop '$REGISTRY_DIR'; registry_stop '$AUTH_REGISTRY_DIR'" || true
fi

# Mounts under the state dir (container rootfs, shm, pod volumes), deepest first.
if [ -d "$CUBELET_STATE" ]; then
  awk -v s="$CUBELET_STATE" '$5 == s || index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
fi
# Pod cgroups left by killed containers (only the kubepods tree this cluster creates).
for hier in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  for top in "$hier"kubepods "$hier"kubepods.slice; do
    [ -d "$top" ] && find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
done

if [ -e "$NETNS_PATH" ]; then
  # Container network namespaces made by CNI are separate; deleting ours removes its links.
  ip netns del "$NETNS" 2>/dev/null || true
  log "removed network namespace $NETNS"
fi
# CNI-created pod network namespaces that containerd did not get to remove.
for ns in /var/run/netns/cni-*; do
  [ -e "$ns" ] || continue
  umount "$ns" 2>/dev/null || true
  rm -f "$ns"
done
if [ -d "$CUBELET_STATE" ]; then
  rm -rf "$CUBELET_STATE"
  log "removed $CUBELET_STATE"
fi
log "local cluster is down"
