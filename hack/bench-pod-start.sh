#!/usr/bin/env bash
# Prints the create-to-Running time of single pods on the running local cluster (whichever
# node agent it has): `kubectl apply` of a busybox pod, then `kubectl wait` (a watch) for
# phase Running, N times in a row, one pod at a time. A benchmark: it prints figures and
# never fails on them.
#
# Usage: hack/bench-pod-start.sh [N] [--token]   (default 5)
#   --token: the pods keep their kube-api-access volume (a TokenRequest, a tmpfs and the
#            projected files before the sandbox), as every real pod has; by default they
#            set automountServiceAccountToken: false.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"

N=5
AUTOMOUNT=false
for arg in "$@"; do
  case $arg in
    --token) AUTOMOUNT=true ;;
    [0-9]*) N=$arg ;;
    *) die "unknown argument: $arg (usage: $0 [N] [--token])" ;;
  esac
done
agent=$(cat "$CUBELET_STATE/node-agent" 2>/dev/null) || die "the local cluster is not up: run hack/up.sh"
times=()
for ((i = 0; i < N; i++)); do
  name=bench-start-$i-$RANDOM
  start=$(date +%s.%N)
  kubectl_admin apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: default}
spec:
  nodeName: $NODE_NAME
  automountServiceAccountToken: $AUTOMOUNT
  terminationGracePeriodSeconds: 0
  containers:
  - {name: main, image: "localhost:$REGISTRY_PORT/busybox:1.36", command: [sleep, "3600"]}
EOF2
  kubectl_admin wait --for=jsonpath='{.status.phase}'=Running "pod/$name" --timeout=120s >/dev/null
  end=$(date +%s.%N)
  times+=("$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%d", (e - s) * 1000}')")
  kubectl_admin delete pod "$name" --wait=true --timeout=60s >/dev/null
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "agent=$agent pods=$N token=$AUTOMOUNT create-to-Running ms: $sorted(median $median)"
