#include "kubelet/runtime/pod_resources.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <optional>

#include "kubelet/runtime/pod_strings.h"

namespace cubelet::runtime::podres {
namespace {

using objects::Quantity;
using podspec::Container;
using podspec::Pod;

constexpr std::string_view kHugePagesPrefix = "hugepages-";
constexpr int64_t kMinShares = 2;
constexpr int64_t kMaxShares = 262144;
constexpr int64_t kSharesPerCpu = 1024;
constexpr int64_t kMinQuotaPeriod = 1000;
constexpr int64_t kQuotaPeriod = 100000;
constexpr int64_t kGuaranteedOomScoreAdj = -997;
constexpr int64_t kBestEffortOomScoreAdj = 1000;
// scheduling.SystemCriticalPriority = 2 * HighestUserDefinablePriority.
constexpr int64_t kSystemCriticalPriority = 2000000000;

__extension__ typedef __int128 Wide;

int64_t clampToInt64(Wide v) {
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

bool isHugePages(std::string_view name) { return name.starts_with(kHugePagesPrefix); }

bool supportedPodLevel(std::string_view name) { return name == "cpu" || name == "memory" || isHugePages(name); }

// The amount of `name` in `list`, zero when absent (ResourceList.Cpu() and friends).
Quantity amount(const ResourceList& list, std::string_view name) {
  auto it = list.find(name);
  return it == list.end() ? Quantity() : it->second;
}

void addInto(ResourceList& list, const ResourceList& other) {
  for (const auto& [name, q] : other) {
    auto [it, inserted] = list.try_emplace(name, q);
    if (!inserted) it->second = it->second + q;
  }
}

void maxInto(ResourceList& list, const ResourceList& other) {
  for (const auto& [name, q] : other) {
    auto [it, inserted] = list.try_emplace(name, q);
    if (!inserted && q > it->second) it->second = q;
  }
}

bool restartable(const Container& c) { return c.restartPolicy && *c.restartPolicy == "Always"; }

template <typename Get>
ResourceList aggregate(const Pod& pod, Get get) {
  ResourceList result;
  for (const Container& c : pod.containers) addInto(result, get(c));
  ResourceList sidecars;  // restartable init containers started so far
  ResourceList initPeak;
  for (const Container& c : pod.initContainers) {
    ResourceList use;
    if (restartable(c)) {
      addInto(result, get(c));
      addInto(sidecars, get(c));
      use = sidecars;
    } else {
      use = get(c);
      addInto(use, sidecars);
    }
    maxInto(initPeak, use);
  }
  maxInto(result, initPeak);
  return result;
}

QosClass resourceQos(const podspec::ResourceRequirements& r, std::string_view name) {
  const Quantity req = amount(r.requests, name);
  const Quantity lim = amount(r.limits, name);
  if (req != lim) return QosClass::kBurstable;
  return req.isZero() ? QosClass::kBestEffort : QosClass::kGuaranteed;
}

QosClass requirementsQos(const podspec::ResourceRequirements& r) {
  if (r.requests.empty() && r.limits.empty()) return QosClass::kBestEffort;
  const QosClass cpu = resourceQos(r, "cpu");
  const QosClass memory = resourceQos(r, "memory");
  if (cpu == QosClass::kBurstable || memory == QosClass::kBurstable || cpu != memory) return QosClass::kBurstable;
  return cpu;
}

bool anySupported(const ResourceList& list) {
  return std::any_of(list.begin(), list.end(), [](const auto& e) { return supportedPodLevel(e.first); });
}

bool isCriticalPod(const Pod& pod) {
  auto source = pod.annotations.find("kubernetes.io/config.source");
  if (source != pod.annotations.end() && source->second != "api") return true;  // static pod
  if (pod.annotations.count("kubernetes.io/config.mirror")) return true;
  return pod.priority && *pod.priority >= kSystemCriticalPriority;
}

bool isNodeCriticalPod(const Pod& pod) {
  return isCriticalPod(pod) && pod.priorityClassName == "system-node-critical";
}

bool isSidecar(const Pod& pod, const Container& c) {
  if (!restartable(c)) return false;
  return std::any_of(pod.initContainers.begin(), pod.initContainers.end(),
                     [&](const Container& i) { return i.name == c.name; });
}

int64_t memoryRequest(const Container& c) { return amount(c.resources.requests, "memory").value(); }

// Pod-level memory request not claimed by any container, shared equally among them.
int64_t remainingPodMemoryPerContainer(const Pod& pod) {
  const Quantity podMemory = amount(pod.resources->requests, "memory");
  if (podMemory.isZero()) return 0;
  const size_t n = pod.containers.size() + pod.initContainers.size();
  if (n == 0) return 0;
  const int64_t containersMemory = amount(aggregateContainerRequests(pod), "memory").value();
  const int64_t remaining = std::max<int64_t>(clampToInt64(Wide(podMemory.value()) - containersMemory), 0);
  return remaining / static_cast<int64_t>(n);
}

int64_t scoreFor(int64_t memoryRequest, int64_t memoryCapacity) {
  return clampToInt64(1000 - (Wide(1000) * memoryRequest) / memoryCapacity);
}

Quantity containerCpuLimit(const Pod& pod, const Container& c) {
  Quantity limit = amount(c.resources.limits, "cpu");
  if (podLevelResourcesSet(pod) && limit.isZero()) return amount(pod.resources->limits, "cpu");
  return limit;
}

Quantity containerMemoryLimit(const Pod& pod, const Container& c) {
  Quantity limit = amount(c.resources.limits, "memory");
  if (podLevelResourcesSet(pod) && limit.isZero()) return amount(pod.resources->limits, "memory");
  return limit;
}

// v1helper.HugePageUnitSizeFromByteSize: 2097152 -> "2MB".
std::optional<std::string> hugePageUnitSize(int64_t size) {
  static constexpr std::string_view kUnits[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  constexpr size_t kLast = std::size(kUnits) - 1;
  size_t idx = 0;
  while (size % 1024 == 0 && idx < kLast) {
    size /= 1024;
    ++idx;
  }
  if (size > 1024 && idx < kLast) return std::nullopt;
  return podstr::cat(size, kUnits[idx]);
}

void readHugePageLimits(std::map<std::string, uint64_t>& out, const ResourceList& limits) {
  for (const auto& [name, q] : limits) {
    if (!isHugePages(name)) continue;
    auto pageSize = Quantity::parse(std::string_view(name).substr(kHugePagesPrefix.size()));
    if (!pageSize.ok()) continue;
    auto unit = hugePageUnitSize(pageSize->value());
    if (!unit) continue;
    out[*unit] = static_cast<uint64_t>(q.value());
  }
}

}  // namespace

void applyPodLevelDefaults(Pod& pod) {
  if (!pod.resources) return;
  podspec::ResourceRequirements& r = *pod.resources;
  if (!r.limits.empty() || !r.requests.empty()) {
    for (const auto& [name, q] : aggregateContainerLimits(pod)) {
      if (isHugePages(name) && !r.requests.count(name)) r.limits.try_emplace(name, q);
    }
  }
  if (r.limits.empty()) return;
  for (const auto& [name, q] : aggregateContainerRequests(pod)) {
    if (name == "cpu" || name == "memory") r.requests.try_emplace(name, q);
  }
  for (const auto& [name, q] : r.limits) {
    if (supportedPodLevel(name)) r.requests.try_emplace(name, q);
  }
}

QosClass computeQos(const Pod& pod) {
  if (podLevelResourcesSet(pod)) return requirementsQos(*pod.resources);
  std::optional<QosClass> qos;
  for (const auto* list : {&pod.initContainers, &pod.containers}) {
    for (const Container& c : *list) {
      const QosClass q = requirementsQos(c.resources);
      if (q == QosClass::kBurstable) return q;
      if (!qos) {
        qos = q;
      } else if (*qos != q) {
        return QosClass::kBurstable;
      }
    }
  }
  return qos.value_or(QosClass::kBestEffort);
}

QosClass podQos(const Pod& pod) {
  if (pod.qosClass == "Guaranteed") return QosClass::kGuaranteed;
  if (pod.qosClass == "Burstable") return QosClass::kBurstable;
  if (pod.qosClass == "BestEffort") return QosClass::kBestEffort;
  return computeQos(pod);
}

bool podLevelResourcesSet(const Pod& pod) {
  return pod.resources && (anySupported(pod.resources->requests) || anySupported(pod.resources->limits));
}
bool podLevelRequestsSet(const Pod& pod) { return pod.resources && anySupported(pod.resources->requests); }
bool podLevelLimitsSet(const Pod& pod) { return pod.resources && anySupported(pod.resources->limits); }

ResourceList aggregateContainerRequests(const Pod& pod) {
  return aggregate(pod, [](const Container& c) -> const ResourceList& { return c.resources.requests; });
}

ResourceList aggregateContainerLimits(const Pod& pod) {
  return aggregate(pod, [](const Container& c) -> const ResourceList& { return c.resources.limits; });
}

ResourceList podRequests(const Pod& pod) {
  ResourceList r = aggregateContainerRequests(pod);
  if (podLevelRequestsSet(pod)) {
    for (const auto& [name, q] : pod.resources->requests) {
      if (supportedPodLevel(name)) r.insert_or_assign(name, q);
    }
  }
  return r;
}

ResourceList podLimits(const Pod& pod) {
  ResourceList r = aggregateContainerLimits(pod);
  if (podLevelResourcesSet(pod)) {
    for (const auto& [name, q] : pod.resources->limits) {
      if (supportedPodLevel(name)) r.insert_or_assign(name, q);
    }
  }
  return r;
}

int64_t milliCpuToShares(int64_t milliCpu) {
  if (milliCpu == 0) return kMinShares;
  const Wide shares = Wide(milliCpu) * kSharesPerCpu / 1000;
  if (shares < kMinShares) return kMinShares;
  if (shares > kMaxShares) return kMaxShares;
  return static_cast<int64_t>(shares);
}

int64_t milliCpuToQuota(int64_t milliCpu, int64_t period) {
  if (milliCpu == 0) return 0;
  const int64_t quota = clampToInt64(Wide(milliCpu) * period / 1000);
  return quota < kMinQuotaPeriod ? kMinQuotaPeriod : quota;
}

::runtime::v1::LinuxContainerResources linuxResources(const Quantity* cpuRequest, const Quantity& cpuLimit,
                                                      const Quantity& memoryLimit, bool disableCpuQuota,
                                                      const NodeSettings& node) {
  ::runtime::v1::LinuxContainerResources r;
  // A request defaults to the limit (the apiserver does so for new pods; the kubelet
  // repeats it for old ones).
  r.set_cpu_shares(milliCpuToShares((cpuRequest ? *cpuRequest : cpuLimit).milliValue()));
  if (const int64_t memory = memoryLimit.value(); memory != 0) r.set_memory_limit_in_bytes(memory);
  if (node.cpuCfsQuota) {
    r.set_cpu_quota(disableCpuQuota ? -1 : milliCpuToQuota(cpuLimit.milliValue(), kQuotaPeriod));
    r.set_cpu_period(kQuotaPeriod);
  }
  if (node.cgroupV2 && !node.singleProcessOomKill) (*r.mutable_unified())["memory.oom.group"] = "1";
  return r;
}

::runtime::v1::LinuxContainerResources sandboxResources(const Pod& pod, const NodeSettings& node,
                                                        bool exclusiveCpus) {
  const ResourceList requests = podRequests(pod);
  const ResourceList limits = podLimits(pod);
  auto cpu = requests.find("cpu");
  return linuxResources(cpu == requests.end() ? nullptr : &cpu->second, amount(limits, "cpu"),
                        amount(limits, "memory"), exclusiveCpus, node);
}

::runtime::v1::LinuxContainerResources sandboxOverhead(const Pod& pod, const NodeSettings& node) {
  if (!pod.overhead) return {};
  // Overhead is treated as Guaranteed: request == limit.
  const Quantity cpu = amount(*pod.overhead, "cpu");
  return linuxResources(&cpu, cpu, amount(*pod.overhead, "memory"), false, node);
}

absl::StatusOr<int64_t> oomScoreAdjust(const Pod& pod, const Container& container, int64_t memoryCapacity) {
  if (isNodeCriticalPod(pod)) return kGuaranteedOomScoreAdj;
  switch (podQos(pod)) {
    case QosClass::kGuaranteed: return kGuaranteedOomScoreAdj;
    case QosClass::kBestEffort: return kBestEffortOomScoreAdj;
    case QosClass::kBurstable: break;
  }
  if (memoryCapacity <= 0) {
    return absl::InvalidArgumentError("node memory capacity is unknown; cannot compute oom_score_adj");
  }
  const bool podLevel = podLevelRequestsSet(pod);
  const int64_t remaining = podLevel ? remainingPodMemoryPerContainer(pod) : 0;
  int64_t adjust = scoreFor(clampToInt64(Wide(memoryRequest(container)) + remaining), memoryCapacity);
  // A sidecar is killed no later than the regular container with the smallest request.
  if (isSidecar(pod, container) && !pod.containers.empty()) {
    int64_t minMemory = memoryRequest(pod.containers.front());
    for (const Container& c : pod.containers) minMemory = std::min(minMemory, memoryRequest(c));
    const int64_t minAdjust = scoreFor(clampToInt64(Wide(minMemory) + remaining), memoryCapacity);
    adjust = std::min(adjust, minAdjust);
  }
  // Above any Guaranteed container, below any BestEffort one.
  if (adjust < 1000 + kGuaranteedOomScoreAdj) return 1000 + kGuaranteedOomScoreAdj;
  if (adjust == kBestEffortOomScoreAdj) return adjust - 1;
  return adjust;
}

std::vector<::runtime::v1::HugepageLimit> hugepageLimits(const Pod& pod, const Container& container,
                                                         const std::vector<std::string>& hostSizes) {
  std::map<std::string, uint64_t> required;
  // Pod-level hugepage limits first; a container's own limit for the same size wins.
  if (podLevelResourcesSet(pod)) readHugePageLimits(required, pod.resources->limits);
  readHugePageLimits(required, container.resources.limits);
  std::vector<::runtime::v1::HugepageLimit> out;
  for (const std::string& size : hostSizes) {
    ::runtime::v1::HugepageLimit l;
    l.set_page_size(size);
    auto it = required.find(size);
    l.set_limit(it == required.end() ? 0 : it->second);
    out.push_back(std::move(l));
  }
  return out;
}

absl::StatusOr<::runtime::v1::LinuxContainerResources> containerResources(const Pod& pod,
                                                                          const Container& container,
                                                                          const NodeSettings& node,
                                                                          bool exclusiveCpus) {
  const Quantity cpuLimit = containerCpuLimit(pod, container);
  const Quantity memoryLimit = containerMemoryLimit(pod, container);
  auto cpuRequest = container.resources.requests.find("cpu");
  // Without a request the shares follow the (possibly pod-level) limit.
  const Quantity* request = cpuRequest == container.resources.requests.end() ? &cpuLimit : &cpuRequest->second;
  ::runtime::v1::LinuxContainerResources r = linuxResources(request, cpuLimit, memoryLimit, exclusiveCpus, node);

  auto oom = oomScoreAdjust(pod, container, node.memoryCapacity);
  if (!oom.ok()) {
    return absl::InvalidArgumentError(podstr::cat(container.path, ": ", oom.status().message()));
  }
  r.set_oom_score_adj(*oom);

  for (auto& l : hugepageLimits(pod, container, node.hugePageSizes)) *r.add_hugepage_limits() = std::move(l);

  // NoSwap: no swap beyond the memory limit.
  if (node.swapControllerAvailable) {
    if (node.cgroupV2) {
      (*r.mutable_unified())["memory.swap.max"] = "0";
    } else {
      r.set_memory_swap_limit_in_bytes(r.memory_limit_in_bytes());
    }
  }
  // Without MemoryQoS the kubelet resets memory.high, clearing a stale throttle.
  if (node.cgroupV2) (*r.mutable_unified())["memory.high"] = "max";
  return r;
}

ResourceList podRequestsWithOverhead(const Pod& pod) {
  ResourceList r = podRequests(pod);
  if (pod.overhead) addInto(r, *pod.overhead);
  return r;
}

PodCgroupConfig podCgroupConfig(const Pod& pod, const NodeSettings& node) {
  PodCgroupConfig out;
  out.qos = podQos(pod);
  const ResourceList requests = podRequestsWithOverhead(pod);
  ResourceList limits = podLimits(pod);
  if (pod.overhead) addInto(limits, *pod.overhead);
  // Quota and a memory limit only bind when every container declares them (an undeclared
  // limit is unbounded), unless the pod-level limit covers them all.
  bool cpuLimited = true, memoryLimited = true;
  for (const auto* list : {&pod.initContainers, &pod.containers}) {
    for (const Container& c : *list) {
      if (amount(c.resources.limits, "cpu").isZero()) cpuLimited = false;
      if (amount(c.resources.limits, "memory").isZero()) memoryLimited = false;
    }
  }
  if (podLevelResourcesSet(pod)) {
    if (!amount(pod.resources->limits, "cpu").isZero()) cpuLimited = true;
    if (!amount(pod.resources->limits, "memory").isZero()) memoryLimited = true;
  }
  out.cpuRequestMilli = amount(requests, "cpu").milliValue();
  const int64_t quota = node.cpuCfsQuota ? milliCpuToQuota(amount(limits, "cpu").milliValue(), kQuotaPeriod) : -1;
  const int64_t memory = amount(limits, "memory").value();
  std::map<std::string, uint64_t> hugepages;
  readHugePageLimits(hugepages, requests);
  for (const auto& [size, bytes] : hugepages) out.hugepageLimits[size] = static_cast<int64_t>(bytes);
  switch (out.qos) {
    case QosClass::kGuaranteed:
      cpuLimited = memoryLimited = true;
      [[fallthrough]];
    case QosClass::kBurstable:
      out.cpuShares = static_cast<uint64_t>(milliCpuToShares(out.cpuRequestMilli));
      if (cpuLimited) {
        out.cpuQuotaUs = quota;
        out.cpuPeriodUs = kQuotaPeriod;
      }
      if (memoryLimited) out.memoryLimitBytes = memory;
      break;
    case QosClass::kBestEffort:
      out.cpuShares = kMinShares;
      break;
  }
  return out;
}

}  // namespace cubelet::runtime::podres
