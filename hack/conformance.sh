#!/usr/bin/env bash
# Runs the upstream e2e suite's [NodeConformance] specs (e2e.test from the pinned
# k8s.io/kubernetes module) against the local cluster, offline: the images the specs pull are
# built by hack/build-images.sh and served by the local registry, and the suite is pointed at it
# with a KUBE_TEST_REPO_LIST file. Images the suite must not reach stay unreachable.
#
# Usage: hack/conformance.sh [--node-agent=cubelet|upstream] [--focus REGEX] [--skip REGEX]
#                            [--smoke] [--parallel N] [--report-dir DIR]
#   --node-agent=X   (re)start the local cluster with this node agent first (default: use the
#                    running cluster, or start one with cubelet)
#   --focus REGEX    specs to run (default: \[NodeConformance\])
#   --skip REGEX     specs not to run (default: \[Serial\]|\[Disruptive\]|\[Flaky\]|\[Slow\]|\[Feature:
#                    plus the documented skips in hack/conformance-skips.txt)
#   --smoke          run the fixed smoke list in hack/conformance-smoke.txt instead (what CI runs)
#   --parallel N     Ginkgo processes (default 4; the specs mostly wait on pods)
#   --report-dir DIR where the JUnit report, the suite's log and the per-spec list go
#                    (default $CUBELET_STATE/conformance/AGENT-DATE)
#
# The cluster is left running. The last line printed is "N passed, M failed, K skipped", counted
# from the JUnit report over the selected specs. The exit status is 0 only if none failed.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$HACK_DIR/lib/cluster.sh"
. "$HACK_DIR/lib/upstream.sh"

DEFAULT_FOCUS='\[NodeConformance\]'
DEFAULT_SKIP='\[Serial\]|\[Disruptive\]|\[Flaky\]|\[Slow\]|\[Feature:'
SKIPS_FILE=$HACK_DIR/conformance-skips.txt
SMOKE_FILE=$HACK_DIR/conformance-smoke.txt

agent='' focus='' skip='' smoke=0 parallel=4 report_dir=''
while [ $# -gt 0 ]; do
  case $1 in
    --node-agent=cubelet | --node-agent=upstream) agent=${1#--node-agent=} ;;
    --focus) [ $# -ge 2 ] || die "--focus needs a REGEX"; focus=$2; shift ;;
    --focus=*) focus=${1#--focus=} ;;
    --skip) [ $# -ge 2 ] || die "--skip needs a REGEX"; skip=$2; shift ;;
    --skip=*) skip=${1#--skip=} ;;
    --smoke) smoke=1 ;;
    --parallel) [ $# -ge 2 ] || die "--parallel needs a number"; parallel=$2; shift ;;
    --parallel=*) parallel=${1#--parallel=} ;;
    --report-dir) [ $# -ge 2 ] || die "--report-dir needs a directory"; report_dir=$2; shift ;;
    --report-dir=*) report_dir=${1#--report-dir=} ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see $0 --help)" ;;
  esac
  shift
done
[[ $parallel =~ ^[1-9][0-9]*$ ]] || die "--parallel wants a positive number, not '$parallel'"
[ "$(id -u)" = 0 ] || die "hack/conformance.sh must run as root (it may start the local cluster)"
START=$(date +%s)

# regex_lines FILE: the non-comment lines of FILE as one alternation (a line's " # reason" is
# dropped), or nothing.
regex_lines() {
  sed -e 's/[[:space:]]#.*$//' -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$1" | paste -sd'|'
}

if [ "$smoke" = 1 ]; then
  [ -z "$focus" ] || die "--smoke and --focus exclude each other"
  # Exact names: each line is one spec's full name, escaped and anchored at its end (Ginkgo's
  # match text does not begin with the name, so no ^).
  focus=$(python3 -c '
import re, sys
names = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8")]
names = [n for n in names if n.strip() and not n.startswith("#")]
print("|".join(re.escape(n) + "$" for n in names))' "$SMOKE_FILE")
  [ -n "$focus" ] || die "no spec names in $SMOKE_FILE"
fi
focus=${focus:-$DEFAULT_FOCUS}
if [ -z "$skip" ]; then
  skip=$DEFAULT_SKIP
  extra=$(regex_lines "$SKIPS_FILE")
  [ -z "$extra" ] || skip+="|$extra"
fi

# ---- programs: e2e.test and the ginkgo CLI (parallel runs) from the pinned module ----
"$HACK_DIR/build-upstream.sh" e2e
E2E_BIN=$UPSTREAM_BIN/e2e.test
GINKGO_BIN=$UPSTREAM_BIN/ginkgo
if [ "$parallel" -gt 1 ] && ! "$GINKGO_BIN" version >/dev/null 2>&1; then
  "$HACK_DIR/build-upstream.sh" ginkgo
fi

# ---- the cluster ----
current=$(cat "$CUBELET_STATE/node-agent" 2>/dev/null || true)
if [ -n "$agent" ] || ! proc_alive "${current:-none}" || ! proc_alive kube-apiserver; then
  "$HACK_DIR/up.sh" --node-agent="${agent:-${current:-cubelet}}" --skip-deps
else
  # Same images as up.sh would push (idempotent: nothing happens when they are there).
  in_netns env REGISTRY="localhost:$REGISTRY_PORT" "$HACK_DIR/build-images.sh"
fi
agent=$(cat "$CUBELET_STATE/node-agent")

# A node that pulled an earlier build of a suite image under the same tag would keep using it
# (the specs pull IfNotPresent): drop the suite's images whose digest is not the registry's.
drop_stale_images() {
  local ref digest want
  local ctr=(ctr -a "$CONTAINERD_SOCK" -n k8s.io)
  while read -r ref digest; do
    [[ $ref == "localhost:$REGISTRY_PORT/e2e-test-images/"* || $ref == "localhost:$REGISTRY_PORT/pause:"* ]] || continue
    [[ $ref == *@sha256:* ]] && continue
    want=$(in_netns skopeo --policy "$CUBELET_CACHE/images/policy.json" inspect --tls-verify=false \
      --format '{{.Digest}}' "docker://$ref" 2>/dev/null) || continue
    if [ "$want" != "$digest" ]; then
      log "the node has an older $ref ($digest); removing it so the specs pull $want"
      "${ctr[@]}" images rm "$ref" >/dev/null || log "could not remove $ref from the node"
    fi
  done < <("${ctr[@]}" images ls 2>/dev/null | awk 'NR > 1 {print $1, $3}')
}
if command -v ctr >/dev/null && [ -S "$CONTAINERD_SOCK" ]; then
  drop_stale_images
fi

report_dir=${report_dir:-$CUBELET_STATE/conformance/$agent-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$report_dir"
report_dir=$(cd "$report_dir" && pwd)
# Only the e2e-test-images and plain registry.k8s.io names move to the local registry; the
# invalid and private registries keep their defaults and stay out of reach.
cat >"$report_dir/repo-list.yaml" <<EOF
promoterE2eRegistry: localhost:$REGISTRY_PORT/e2e-test-images
gcRegistry: localhost:$REGISTRY_PORT
EOF
printf '%s\n' "$focus" >"$report_dir/focus.txt"
printf '%s\n' "$skip" >"$report_dir/skip.txt"

E2E_ARGS=(
  --provider=skeleton
  --kubeconfig="$ADMIN_KUBECONFIG"
  --kube-test-repo-list="$report_dir/repo-list.yaml"
  --report-dir="$report_dir"
  --e2e-output-dir="$report_dir"
  --num-nodes=1
  --kubelet-root-dir="$KUBELET_ROOT"
  --container-runtime-endpoint="unix://$CONTAINERD_SOCK"
  --node-schedulable-timeout=5m
  --system-pods-startup-timeout=5m
)
log "running e2e.test against node agent $agent ($parallel processes); log $report_dir/e2e.log"
set +e
if [ "$parallel" -gt 1 ]; then
  in_netns "$GINKGO_BIN" --nodes="$parallel" --timeout=4h --no-color --focus="$focus" \
    --skip="$skip" --output-dir="$report_dir" "$E2E_BIN" -- "${E2E_ARGS[@]}" \
    >"$report_dir/e2e.log" 2>&1
else
  in_netns "$E2E_BIN" "${E2E_ARGS[@]}" --ginkgo.timeout=4h --ginkgo.no-color \
    --ginkgo.focus="$focus" --ginkgo.skip="$skip" >"$report_dir/e2e.log" 2>&1
fi
rc=$?
set -e
junit=$report_dir/junit_01.xml
[ -f "$junit" ] || { tail -n 30 "$report_dir/e2e.log" >&2; die "e2e.test wrote no JUnit report (exit $rc); see $report_dir/e2e.log"; }
grep -E '^(Ran [0-9]+ of|FAIL!|SUCCESS!)' "$report_dir/e2e.log" >&2 || true
line=$(python3 "$HACK_DIR/lib/conformance_report.py" summary "$junit" "$focus" "$skip" "$report_dir/specs.tsv")
if grep -q '^failed' "$report_dir/specs.tsv"; then
  log "failed specs:"
  sed -n 's/^failed\t/  /p' "$report_dir/specs.tsv" >&2
fi
log "node agent $agent, $(($(date +%s) - START))s; JUnit $junit, per-spec results $report_dir/specs.tsv"
echo "$line"
[[ $line != "0 passed, 0 failed, "* ]] || { log "no spec ran: the focus selects nothing"; exit 1; }
[[ $line == *" 0 failed,"* ]] && [ "$rc" = 0 ]
