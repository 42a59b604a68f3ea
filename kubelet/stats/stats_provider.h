// StatsProvider: the numbers behind /stats/summary and /metrics/resource, gathered the way
// the upstream kubelet's CRI stats provider does with cadvisor underneath
// (pkg/kubelet/stats/cri_stats_provider.go), but read directly:
//
//   pods and containers  CRI ListPodSandbox + ListContainers: containers in RUNNING state,
//                        sandboxes deduplicated per pod like upstream removeTerminatedPods
//                        (one sandbox of a pod is kept as is; of several, the READY ones, or
//                        the newest when none is ready). Pod startTime = sandbox created_at,
//                        container startTime = container created_at (upstream).
//   container cpu/memory the container's cgroup <podCgroup>/<containerId> when it exists
//                        (cgroupfs driver layout), else CRI ListContainerStats.
//   pod cpu/memory       the pod cgroup (podCgroup(uid)); else the sum of its containers.
//   node cpu/memory      the root cgroup; node memory capacity = MemTotal of /proc/meminfo.
//   usageNanoCores       from the previous sample of the same container id / pod / node
//                        (>= 1 s apart; omitted on the first sample and after a counter
//                        reset); entries unseen for 10 minutes are dropped.
//   network              /proc/<sandbox pid>/net/dev (pid from the verbose
//                        PodSandboxStatus info), none for hostNetwork pods; node: /proc/net/dev.
//   fs                   node: statvfs(rootDir); imageFs/containerFs: CRI ImageFsInfo +
//                        statvfs of its mountpoint; container rootfs: CRI writable layer;
//                        container logs: du of <podLogsDir>/<ns>_<name>_<uid>/<container>;
//                        volumes: du of <rootDir>/pods/<uid>/volumes/*/*; ephemeral-storage:
//                        container rootfs + the pod's log dir + etc-hosts + emptyDir (not
//                        tmpfs) / configMap / gitRepo volumes. du results are cached for
//                        Dependencies::duCachePeriod.
//
// Thread-safety: all methods may be called concurrently (one mutex guards the caches; the
// CRI and filesystem reads run outside it).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "cgroups/cgroups.h"
#include "kubelet/runtime/cri_client.h"
#include "kubelet/stats/summary.h"

namespace cubelet::stats {

struct Dependencies {
  runtime::RuntimeServiceClient* runtime = nullptr;  // required
  runtime::ImageServiceClient* images = nullptr;     // null: no runtime.imageFs
  // Only its layout is used: where the memory and cpuacct hierarchies (v1) or the unified
  // tree (v2) are; the interface files are read directly. null: no cgroup numbers.
  const cgroups::Manager* cgroups = nullptr;
  // Pod uid -> pod cgroup path relative to the hierarchy root ("kubepods/burstable/pod<uid>");
  // "" when unknown. Unset: every pod is unknown.
  std::function<std::string(const std::string& podUid)> podCgroup;
  // Summary node.systemContainers: name ("pods", "kubelet", "runtime", "misc") -> cgroup path.
  std::map<std::string, std::string> systemContainers;
  std::string nodeName;
  std::string rootDir = "/var/lib/kubelet";
  std::string podLogsDir = "/var/log/pods";
  std::string procRoot = "/proc";
  std::chrono::seconds duCachePeriod{60};
  // Wall clock for sample times (tests); unset = system_clock::now.
  std::function<TimePoint()> clock;
};

class StatsProvider {
 public:
  explicit StatsProvider(Dependencies deps);
  ~StatsProvider();
  StatsProvider(const StatsProvider&) = delete;
  StatsProvider& operator=(const StatsProvider&) = delete;

  // The summary; onlyCpuAndMemory gives what ?only_cpu_and_memory=true returns (node and
  // system containers, pods and containers with only startTime, cpu and memory).
  // Fails only when the CRI listing fails; other missing parts are left out.
  absl::StatusOr<Summary> summary(bool onlyCpuAndMemory);
  // summary() as the /stats/summary response body.
  absl::StatusOr<std::string> summaryJson(bool onlyCpuAndMemory);
  // The /metrics/resource body (text format 0.0.4). Never fails: a failed summary gives
  // resource_scrape_error 1 and nothing else.
  std::string resourceMetricsText();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cubelet::stats
