#!/usr/bin/env bash
# Node benchmarks: cubelet and the upstream kubelet side by side, in one invocation, on the
# same local cluster, containerd and images, the two agents alternating round by round; then
# the CRI floor (the same pods started straight through the CRI by cri-floor, no agent
# running). Prints a table with the ratio cubelet/upstream for each figure:
#   1. single pods, create -> Running (seen by a watch), one after the other: p50, p99;
#   2. bursts of pods created at once: create -> Running p50/p90/p99, whole batch running;
#   3. deletion of each burst at once: delete -> gone p50/p99, whole batch gone;
#   4. the agent's RSS (/proc/PID/status) and CPU (/proc/PID/stat over --cpu-window s) with
#      0 pods and with each burst running;
#   5. the agent's API requests per pod (apiserver audit log, user system:node:<node>), from
#      creation to Running and for the deletion;
#   6. the CRI floor for 1 and 2, and each agent's p50 overhead above it.
#   Also cubelet's start-up phases (mean per phase, from its /metrics); every pod it started
#   must have reported them.
# Benchmark pods: the local busybox image, the default service-account token volume, bound
# to the node (no scheduler in the figures), a shell that exits on SIGTERM.
# Figures only: the run fails when something does not work, never on a number.
#
# Usage: hack/bench.sh [--rounds N] [--single N] [--bursts 30,100] [--cpu-window S]
#                      [--settle S] [--report-dir DIR] [--quick]
#   --quick: one round, 3 single pods, a burst of 5, 5 s windows (checks that it all works).
#   --agents cubelet --no-floor: one agent, no floor (for trying a change; no ratios then).
# Leaves the cluster running with cubelet. Raw figures: DIR/results.json, table: DIR/table.md
# (default DIR $CUBELET_STATE/bench/<date>).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"

REPORT_DIR=$CUBELET_STATE/bench/$(date +%Y%m%d-%H%M%S)
PASS=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds | --single | --bursts | --cpu-window | --settle | --agents) PASS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --no-floor) PASS+=("$1"); shift ;;
    --report-dir) REPORT_DIR=${2:?--report-dir needs a value}; shift 2 ;;
    --quick) PASS+=(--rounds 1 --single 3 --bursts 5 --api-burst 5 --cpu-window 5 --settle 2); shift ;;
    -h | --help) sed -n '2,26s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see $0 --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "hack/bench.sh must run as root"

log "building cubelet, cubelet-cni and cri-floor"
cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD_DIR" cubelet cubelet-cni cri-floor >/dev/null
# A cubelet older than this build is replaced (up.sh leaves a running one alone).
if proc_alive cubelet && [ "$BUILD_DIR/bin/cubelet" -nt "$PIDS/cubelet.pid" ]; then
  proc_stop cubelet 30
fi
mkdir -p "$REPORT_DIR"
"$HACK_DIR/up.sh" --node-agent=cubelet --skip-deps >>"$REPORT_DIR/up.log" 2>&1 || die "hack/up.sh failed: see $REPORT_DIR/up.log"
[ -x "$UPSTREAM_BIN/kubelet" ] || die "no upstream kubelet in $UPSTREAM_BIN (run hack/install-deps.sh)"

log "report: $REPORT_DIR"
in_netns python3 "$HACK_DIR/lib/bench.py" \
  --hack "$HACK_DIR" --state "$CUBELET_STATE" --pki "$PKI" \
  --apiserver-host "$NODE_IP" --apiserver-port "$APISERVER_PORT" \
  --node-name "$NODE_NAME" --node-ip "$NODE_IP" --cluster-dns "$CLUSTER_DNS_IP" \
  --image "localhost:$REGISTRY_PORT/busybox:1.36" --containerd-sock "$CONTAINERD_SOCK" \
  --cri-floor "$BUILD_DIR/bin/cri-floor" --audit-log "$LOGS/audit.log" \
  --report-dir "$REPORT_DIR" "${PASS[@]}"
