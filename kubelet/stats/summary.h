// The /stats/summary data model (k8s.io/kubelet/pkg/apis/stats/v1alpha1), its JSON with the
// upstream field names, the /metrics/resource families built from it
// (pkg/kubelet/metrics/collectors/resource_metrics.go), and the pure parsers of the kernel
// text the provider reads (/proc/<pid>/net/dev, memory.stat, /proc/meminfo).
//
// Every optional number is omitted from the JSON when unknown (upstream pointers); consumers
// like metrics-server treat 0 as "incomplete", so 0 is never a stand-in for "unknown".
// Times are system_clock points; the JSON prints them as RFC 3339 seconds
// ("2026-01-02T03:04:05Z", metav1.Time), /metrics/resource as millisecond timestamps.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kubelet/metrics/registry.h"

namespace cubelet::stats {

using TimePoint = std::chrono::system_clock::time_point;

struct CpuStats {
  TimePoint time;
  std::optional<uint64_t> usageNanoCores;
  std::optional<uint64_t> usageCoreNanoSeconds;
};

struct MemoryStats {
  TimePoint time;
  std::optional<uint64_t> availableBytes;
  std::optional<uint64_t> usageBytes;
  std::optional<uint64_t> workingSetBytes;
  std::optional<uint64_t> rssBytes;
  std::optional<uint64_t> pageFaults;
  std::optional<uint64_t> majorPageFaults;
};

struct InterfaceStats {
  std::string name;
  std::optional<uint64_t> rxBytes;
  std::optional<uint64_t> rxErrors;
  std::optional<uint64_t> txBytes;
  std::optional<uint64_t> txErrors;
};

struct NetworkStats {
  TimePoint time;
  // The default interface (eth0) inlined at the top level, when present.
  std::optional<InterfaceStats> defaultInterface;
  std::vector<InterfaceStats> interfaces;
};

struct FsStats {
  TimePoint time;
  std::optional<uint64_t> availableBytes;
  std::optional<uint64_t> capacityBytes;
  std::optional<uint64_t> usedBytes;
  std::optional<uint64_t> inodesFree;
  std::optional<uint64_t> inodes;
  std::optional<uint64_t> inodesUsed;
};

struct VolumeStats {
  FsStats fs;  // inlined in the JSON
  std::string name;
};

struct ContainerStats {
  std::string name;
  TimePoint startTime;
  std::optional<CpuStats> cpu;
  std::optional<MemoryStats> memory;
  std::optional<FsStats> rootfs;
  std::optional<FsStats> logs;
};

struct PodReference {
  std::string name;
  std::string namespace_;
  std::string uid;
};

struct PodStats {
  PodReference podRef;
  TimePoint startTime;
  std::vector<ContainerStats> containers;
  std::optional<CpuStats> cpu;
  std::optional<MemoryStats> memory;
  std::optional<NetworkStats> network;
  std::vector<VolumeStats> volume;
  std::optional<FsStats> ephemeralStorage;
};

struct RuntimeStats {
  std::optional<FsStats> imageFs;
  std::optional<FsStats> containerFs;
};

struct RlimitStats {
  TimePoint time;
  std::optional<int64_t> maxpid;
  std::optional<int64_t> curproc;
};

struct NodeStats {
  std::string nodeName;
  std::vector<ContainerStats> systemContainers;
  TimePoint startTime;
  std::optional<CpuStats> cpu;
  std::optional<MemoryStats> memory;
  std::optional<NetworkStats> network;
  std::optional<FsStats> fs;
  std::optional<RuntimeStats> runtime;
  std::optional<RlimitStats> rlimit;
};

struct Summary {
  NodeStats node;
  std::vector<PodStats> pods;
};

// RFC 3339 in UTC with second precision, as metav1.Time marshals.
std::string formatTime(TimePoint t);

// The Summary as compact /stats/summary JSON, fields in the order of the Go structs.
std::string toJson(const Summary& summary);

// The /metrics/resource families (node_*, container_*, pod_*, resource_scrape_error) from a
// Summary; `scrapeError` true gives only resource_scrape_error 1. Render with
// metrics::render().
std::vector<metrics::Family> resourceMetricFamilies(const Summary* summary, bool scrapeError);

// --- parsers ---------------------------------------------------------------------------------

// /proc/<pid>/net/dev: one entry per interface in file order, except the devices cadvisor
// ignores ("lo", "veth*", "docker*", "nerdctl*").
absl::StatusOr<std::vector<InterfaceStats>> parseNetDev(std::string_view text);

// "key value" lines (memory.stat, cpu.stat); lines that do not parse are skipped.
std::map<std::string, uint64_t> parseFlatKeyed(std::string_view text);

// /proc/meminfo in bytes ("MemTotal: 16 kB" -> {"MemTotal", 16384}).
std::map<std::string, uint64_t> parseMeminfo(std::string_view text);

// The sandbox's pid from containerd's verbose PodSandboxStatus info["info"] JSON
// ({"pid": 1234, ...}); nullopt when absent or not positive.
std::optional<int> sandboxPidFromInfo(std::string_view infoJson);

}  // namespace cubelet::stats
