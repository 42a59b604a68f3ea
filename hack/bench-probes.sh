#!/usr/bin/env bash
# Prints the CPU the node agent uses to probe: on the running local cluster (whichever
# agent it has), N busybox pods each serving HTTP with three probes at periodSeconds 1
# (liveness exec, readiness httpGet, startup tcpSocket), then the agent's CPU time
# (utime + stime from /proc/<pid>/stat) over a window once they all run, and the same window
# with no pods for the baseline. A benchmark: it prints figures and never fails on them.
#
# Usage: hack/bench-probes.sh [N] [SECONDS]   (default 20 pods, 60 s)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"

N=${1:-20}
WINDOW=${2:-60}
agent=$(cat "$CUBELET_STATE/node-agent" 2>/dev/null) || die "the local cluster is not up: run hack/up.sh"
proc_alive "$agent" || die "the node agent ($agent) is not running"
pid=$(<"$PIDS/$agent.pid")
ticks=$(getconf CLK_TCK)
label=bench-probes

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

# cpu_percent SECONDS: the agent's CPU use over the window, in percent of one core.
cpu_percent() {
  local t0 t1
  t0=$(cpu_ticks)
  sleep "$1"
  t1=$(cpu_ticks)
  awk -v a="$t0" -v b="$t1" -v hz="$ticks" -v s="$1" 'BEGIN {printf "%.2f", (b - a) / hz / s * 100}'
}

cleanup() { kubectl_admin delete pod -n default -l "app=$label" --wait=true --timeout=120s >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

idle=$(cpu_percent "$WINDOW")
for ((i = 0; i < N; i++)); do
  cat <<EOF2
---
apiVersion: v1
kind: Pod
metadata: {name: $label-$i, namespace: default, labels: {app: $label}}
spec:
  nodeName: $NODE_NAME
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: localhost:$REGISTRY_PORT/busybox:1.36
    command: [sh, -c, "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
    livenessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
    startupProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
EOF2
done | kubectl_admin apply -f - >/dev/null
kubectl_admin wait --for=condition=Ready pod -l "app=$label" -n default --timeout=300s >/dev/null
rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
busy=$(cpu_percent "$WINDOW")
echo "agent=$agent pods=$N probes/pod=3 period=1s window=${WINDOW}s cpu(idle)=${idle}% cpu(probing)=${busy}% of one core, rss=$((rss_kib / 1024))MiB"
