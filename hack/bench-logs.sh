#!/usr/bin/env bash
# Prints what the node agent costs while `kubectl logs -f` streams a container's log: a
# busybox pod writes SIZE_MB megabytes of numbered 100-byte lines (paced over a few seconds,
# so the follow really follows and the log rotates under it with the local cluster's 1Mi
# containerLogMaxSize), while `kubectl logs -f` reads them through the apiserver and the
# agent's :10250. Reports the bytes received, the agent's CPU time (user+sys, from
# /proc/<pid>/stat) spent during the stream, and its resident memory before and at its peak
# (VmRSS sampled every 100 ms). Works with whichever agent the cluster runs. A benchmark: it
# prints figures and never fails on them.
#
# Usage: hack/bench-logs.sh [SIZE_MB]   (default 10)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"

SIZE_MB=${1:-10}
[[ $SIZE_MB =~ ^[0-9]+$ ]] || die "usage: $0 [SIZE_MB]"
agent=$(cat "$CUBELET_STATE/node-agent" 2>/dev/null) || die "the local cluster is not up: run hack/up.sh"
pid=$(cat "$PIDS/$agent.pid")
proc_alive "$agent" || die "the $agent process is not running"

name=bench-logs-$RANDOM
lines=$((SIZE_MB * 1024 * 1024 / 100))
# 99 characters + newline per line; written in 20 bursts a quarter second apart.
per=$((lines / 20))
kubectl_admin apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: default}
spec:
  nodeName: $NODE_NAME
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 0
  restartPolicy: Never
  containers:
  - name: main
    image: "localhost:$REGISTRY_PORT/busybox:1.36"
    command: [sh, -c]
    args:
    - |
      sleep 3
      pad=\$(printf '%0*d' 84 0)
      b=0
      while [ \$b -lt 20 ]; do
        i=0
        while [ \$i -lt $per ]; do printf 'line%010d-%s\n' \$((b * $per + i)) "\$pad"; i=\$((i + 1)); done
        b=\$((b + 1)); sleep 0.25
      done
      sleep 5
EOF2
trap 'kubectl_admin delete pod "$name" --wait=false >/dev/null 2>&1 || true' EXIT
kubectl_admin wait --for=jsonpath='{.status.phase}'=Running "pod/$name" --timeout=120s >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)
out=$(mktemp)
rss_before=$(rss_kb)
cpu_before=$(cpu_ticks)
start=$(date +%s.%N)
"$HACK_DIR/kubectl.sh" logs -f "$name" >"$out" &
follower=$!
peak=$rss_before
while kill -0 "$follower" 2>/dev/null; do
  r=$(rss_kb)
  ((r > peak)) && peak=$r
  sleep 0.1
done
wait "$follower" || true
end=$(date +%s.%N)
cpu_after=$(cpu_ticks)
bytes=$(stat -c %s "$out")
got=$(grep -c '^line' "$out" || true)
rm -f "$out"
awk -v a="$agent" -v mb="$SIZE_MB" -v b="$bytes" -v l="$got" -v want="$((per * 20))" -v s="$start" -v e="$end" \
  -v c0="$cpu_before" -v c1="$cpu_after" -v hz="$hz" -v r0="$rss_before" -v rp="$peak" 'BEGIN {
  printf "agent=%s size=%dMB received=%d bytes lines=%d/%d wall=%.1fs agent-cpu=%.2fs rss-before=%.1fMiB rss-peak=%.1fMiB\n",
    a, mb, b, l, want, e - s, (c1 - c0) / hz, r0 / 1024, rp / 1024 }'
