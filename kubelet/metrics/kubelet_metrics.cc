#include "kubelet/metrics/kubelet_metrics.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace cubelet::metrics {
namespace {

// Steps of a start take from a millisecond to minutes (an image pull).
const std::vector<double> kPodStartPhaseBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1,      2.5,   5,    10,    30,   60,  300};

const std::vector<double> kPodStartupBuckets = {0.5, 1,   2,   3,   4,   5,   6,    8,    10,   20,   30,   45,  60,
                                                120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600};

Opts alpha(const std::string& name, const std::string& help) { return Opts{name, help, Stability::kAlpha, ""}; }

// Unix seconds when this process started: /proc/self/stat starttime (clock ticks after
// boot) + /proc/stat btime. Falls back to "now" (the registry is built early in main).
double processStartTime() {
  const double fallback =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::ifstream statFile("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces) start after the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return fallback;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  unsigned long long ticks = 0;
  // After ')' come fields 3..; starttime is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return fallback;
    if (i == 22) ticks = std::stoull(field);
  }
  std::ifstream procStat("/proc/stat");
  std::string line;
  long long btime = -1;
  while (std::getline(procStat, line)) {
    if (line.rfind("btime ", 0) == 0) btime = std::stoll(line.substr(6));
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (btime < 0 || hz <= 0) return fallback;
  return static_cast<double>(btime) + static_cast<double>(ticks) / static_cast<double>(hz);
}

}  // namespace

KubeletMetrics::KubeletMetrics()
    : runningPods(registry.gauge(alpha("kubelet_running_pods", "Number of pods that have a running pod sandbox"))),
      runningContainers(registry.gaugeVec(alpha("kubelet_running_containers", "Number of containers currently running"),
                                          {"container_state"})),
      podStartDuration(registry.histogram(
          alpha("kubelet_pod_start_duration_seconds",
                "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run"),
          kPodStartupBuckets)),
      podStartSliDuration(registry.histogramVec(
          alpha("kubelet_pod_start_sli_duration_seconds",
                "Duration in seconds to start a pod, excluding time to pull images and run init containers, measured "
                "from pod creation timestamp to when all its containers are reported as started and observed via "
                "watch"),
          {"first_with_network"}, kPodStartupBuckets)),
      podStartTotalDuration(registry.histogramVec(
          alpha("kubelet_pod_start_total_duration_seconds",
                "Duration in seconds to start a pod since creation, including time to pull images and run init "
                "containers, measured from pod creation timestamp to when all its containers are reported as started "
                "and observed via watch"),
          {"first_with_network"}, kPodStartupBuckets)),
      podWorkerDuration(registry.histogramVec(
          alpha("kubelet_pod_worker_duration_seconds",
                "Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync"),
          {"operation_type"}, defBuckets())),
      podWorkerStartDuration(registry.histogram(
          alpha("kubelet_pod_worker_start_duration_seconds", "Duration in seconds from kubelet seeing a pod to starting a worker."),
          defBuckets())),
      podStartPhaseDuration(registry.histogramVec(
          alpha("kubelet_pod_start_phase_duration_seconds",
                "Duration in seconds of each phase of a pod's first start on this node (admission, cgroups, volumes, "
                "sandbox, image, create, start, status_write), observed once all its containers are reported running"),
          {"phase"}, kPodStartPhaseBuckets)),
      runtimeOperations(registry.counterVec(
          alpha("kubelet_runtime_operations_total", "Cumulative number of runtime operations by operation type."),
          {"operation_type"})),
      runtimeOperationsErrors(registry.counterVec(
          alpha("kubelet_runtime_operations_errors_total", "Cumulative number of runtime operation errors by operation type."),
          {"operation_type"})),
      runtimeOperationsDuration(registry.histogramVec(
          alpha("kubelet_runtime_operations_duration_seconds",
                "Duration in seconds of runtime operations. Broken down by operation type."),
          {"operation_type"}, exponentialBuckets(0.005, 2.5, 14))),
      runPodsandboxDuration(registry.histogramVec(
          alpha("kubelet_run_podsandbox_duration_seconds",
                "Duration in seconds of the run_podsandbox operations. Broken down by RuntimeClass.Handler."),
          {"runtime_handler"}, defBuckets())),
      runPodsandboxErrors(registry.counterVec(
          alpha("kubelet_run_podsandbox_errors_total",
                "Cumulative number of the run_podsandbox operation errors by RuntimeClass.Handler."),
          {"runtime_handler"})),
      plegRelistDuration(registry.histogram(
          alpha("kubelet_pleg_relist_duration_seconds", "Duration in seconds for relisting pods in PLEG."), defBuckets())),
      plegRelistInterval(registry.histogram(
          alpha("kubelet_pleg_relist_interval_seconds", "Interval in seconds between relisting in PLEG."), defBuckets())),
      plegLastSeen(
          registry.gauge(alpha("kubelet_pleg_last_seen_seconds", "Timestamp in seconds when PLEG was last seen active."))),
      plegDiscardEvents(registry.counter(alpha("kubelet_pleg_discard_events", "The number of discard events in PLEG."))),
      evictions(registry.counterVec(
          alpha("kubelet_evictions", "Cumulative number of pod evictions by eviction signal"), {"eviction_signal"})),
      startedPods(registry.counter(alpha("kubelet_started_pods_total", "Cumulative number of pods started"))),
      startedPodsErrors(
          registry.counter(alpha("kubelet_started_pods_errors_total", "Cumulative number of errors when starting pods"))),
      startedContainers(registry.counterVec(
          alpha("kubelet_started_containers_total", "Cumulative number of containers started"), {"container_type"})),
      startedContainersErrors(registry.counterVec(
          alpha("kubelet_started_containers_errors_total", "Cumulative number of errors when starting containers"),
          {"container_type", "code"})),
      nodeName(registry.gaugeVec(alpha("kubelet_node_name", "The node's name. The count is always 1."), {"node"})),
      desiredPods(registry.gaugeVec(
          alpha("kubelet_desired_pods",
                "The number of pods the kubelet is being instructed to run. static is true if the pod is not from the "
                "apiserver."),
          {"static"})),
      activePods(registry.gaugeVec(
          alpha("kubelet_active_pods",
                "The number of pods the kubelet considers active and which are being considered when admitting new "
                "pods. static is true if the pod is not from the apiserver."),
          {"static"})),
      mirrorPods(registry.gauge(alpha("kubelet_mirror_pods",
                                      "The number of mirror pods the kubelet will try to create (one per admitted "
                                      "static pod)"))),
      httpRequests(registry.counterVec(
          alpha("kubelet_http_requests_total", "Number of the http requests received since the server started"),
          {"method", "path", "server_type", "long_running"})),
      httpRequestsDuration(
          registry.histogramVec(alpha("kubelet_http_requests_duration_seconds", "Duration in seconds to serve http requests"),
                                {"method", "path", "server_type", "long_running"}, defBuckets())),
      httpInflightRequests(
          registry.gaugeVec(alpha("kubelet_http_inflight_requests", "Number of the inflight http requests"),
                            {"method", "path", "server_type", "long_running"})) {
  // client_golang's process collector, registered raw upstream (no stability prefix).
  const double start = processStartTime();
  registry.addCollector([start] {
    Family f;
    f.opts = Opts{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                  Stability::kNone, ""};
    f.type = Type::kGauge;
    f.samples.push_back(Sample{{}, start, std::nullopt});
    return std::vector<Family>{std::move(f)};
  });
}

KubeletMetrics& kubeletMetrics() {
  // Leaked on purpose: CRI calls may still record from detached threads during exit.
  static KubeletMetrics* instance = new KubeletMetrics();
  return *instance;
}

void recordRuntimeOperation(const std::string& operation, double seconds, bool failed) {
  auto& m = kubeletMetrics();
  m.runtimeOperations.with({operation}).inc();
  m.runtimeOperationsDuration.with({operation}).observe(seconds);
  if (failed) m.runtimeOperationsErrors.with({operation}).inc();
}

}  // namespace cubelet::metrics
