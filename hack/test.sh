#!/usr/bin/env bash
# Sets up a machine and runs every test: unit tests (also under ASan + UBSan), then the
# end-to-end tests and the upstream conformance smoke list against a fresh local cluster, once
# with cubelet as the node agent and once with the upstream kubelet (the same tests must pass
# with both), and a quick run of hack/bench.sh.
#
# Usage: hack/test.sh [--unit-only] [--node-agent=cubelet|upstream] [--keep-cluster]
#   --unit-only      skip the cluster and the e2e tests
#   --node-agent=X   run the e2e tests with one agent only (default: cubelet, then upstream)
#   --keep-cluster   leave the local cluster running afterwards (default: hack/down.sh)
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

UNIT_ONLY=0
KEEP=0
AGENTS=(cubelet upstream)
for arg in "$@"; do
  case $arg in
    --unit-only) UNIT_ONLY=1 ;;
    --keep-cluster) KEEP=1 ;;
    --node-agent=cubelet | --node-agent=upstream) AGENTS=("${arg#--node-agent=}") ;;
    -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
START=$(date +%s)
JOBS=$(nproc)

"$HACK_DIR/install-deps.sh"

log "building (RelWithDebInfo) in $BUILD_DIR"
cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD_DIR"
ASAN_DIR=${ASAN_BUILD_DIR:-$REPO_ROOT/build-asan}
log "building with ASan + UBSan in $ASAN_DIR"
cmake -S "$REPO_ROOT" -B "$ASAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCUBELET_SANITIZE=ON >/dev/null
ninja -C "$ASAN_DIR"

failed=()
log "unit tests"
ctest --test-dir "$BUILD_DIR" -L unit -j "$JOBS" --output-on-failure || failed+=("unit")
log "unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$ASAN_DIR" -L unit -j "$JOBS" --output-on-failure || failed+=("unit-asan")

if [ "$UNIT_ONLY" = 0 ]; then
  # Start from a clean cluster so earlier runs cannot leak state into the results.
  "$HACK_DIR/down.sh"
  for agent in "${AGENTS[@]}"; do
    log "e2e tests with node agent: $agent"
    if "$HACK_DIR/up.sh" --node-agent="$agent" --skip-deps; then
      ctest --test-dir "$BUILD_DIR" -L e2e --output-on-failure || failed+=("e2e-$agent")
      # The upstream suite's conformance smoke list (hack/conformance-smoke.txt); the full
      # [NodeConformance] run is hack/conformance.sh on its own.
      log "conformance smoke with node agent: $agent"
      "$HACK_DIR/conformance.sh" --smoke || failed+=("conformance-smoke-$agent")
    else
      failed+=("up-$agent")
    fi
  done
  if [ ${#AGENTS[@]} = 2 ]; then
    # The benchmark works end to end with both agents (a short run; its figures are printed,
    # never judged: hack/bench.sh alone gives the real ones).
    log "benchmark, quick run"
    "$HACK_DIR/bench.sh" --quick || failed+=("bench-quick")
  fi
  [ "$KEEP" = 1 ] || "$HACK_DIR/down.sh"
fi

log "done in $(($(date +%s) - START))s"
if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all tests passed"
