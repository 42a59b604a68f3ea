#include "kubelet/cm/pod_cgroups.h"

#include <dirent.h>

#include <algorithm>

#include "base/status_macros.h"

namespace cubelet::cm {
namespace {

constexpr char kPods[] = "kubepods";
constexpr char kBurstable[] = "burstable";
constexpr char kBestEffort[] = "besteffort";
constexpr char kPodPrefix[] = "pod";
constexpr uint64_t kMinShares = 2;
constexpr uint64_t kMaxShares = 262144;

uint64_t milliCpuToShares(int64_t milli) {
  if (milli <= 0) return kMinShares;
  uint64_t shares = static_cast<uint64_t>(milli) * 1024 / 1000;
  return std::clamp(shares, kMinShares, kMaxShares);
}

std::string qosDir(runtime::QosClass qos) {
  switch (qos) {
    case runtime::QosClass::kGuaranteed: return kPods;
    case runtime::QosClass::kBurstable: return std::string(kPods) + "/" + kBurstable;
    case runtime::QosClass::kBestEffort: return std::string(kPods) + "/" + kBestEffort;
  }
  return kPods;
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) out.push_back(name);
  }
  closedir(d);
  return out;
}

}  // namespace

PodCgroups::PodCgroups(cgroups::Manager& manager, PodCgroupsOptions opts) : manager_(manager), opts_(std::move(opts)) {
  while (opts_.cgroupRoot.size() > 0 && opts_.cgroupRoot.front() == '/') opts_.cgroupRoot.erase(0, 1);
  while (opts_.cgroupRoot.size() > 0 && opts_.cgroupRoot.back() == '/') opts_.cgroupRoot.pop_back();
}

std::string PodCgroups::join(const std::string& rel) const {
  return opts_.cgroupRoot.empty() ? rel : opts_.cgroupRoot + "/" + rel;
}

absl::Status PodCgroups::init() {
  cgroups::Resources node;
  if (opts_.allocatableMilliCpu) node.cpuShares = milliCpuToShares(*opts_.allocatableMilliCpu);
  if (opts_.allocatableMemoryBytes) node.memoryLimit = *opts_.allocatableMemoryBytes;
  RETURN_IF_ERROR(annotate(manager_.create(join(kPods), node), "creating the kubepods cgroup"));
  cgroups::Resources burstable;
  burstable.cpuShares = kMinShares;
  cgroups::Resources bestEffort;
  bestEffort.cpuShares = kMinShares;
  // An existing Burstable cgroup keeps its shares until the pods are synced again.
  auto exists = manager_.exists(join(qosDir(runtime::QosClass::kBurstable)));
  if (exists.ok() && *exists) burstable.cpuShares.reset();
  RETURN_IF_ERROR(annotate(manager_.create(join(qosDir(runtime::QosClass::kBurstable)), burstable),
                           "creating the burstable QoS cgroup"));
  return annotate(manager_.create(join(qosDir(runtime::QosClass::kBestEffort)), bestEffort),
                  "creating the besteffort QoS cgroup");
}

std::string PodCgroups::podCgroupName(const std::string& uid, runtime::QosClass qos) const {
  return "/" + join(qosDir(qos) + "/" + kPodPrefix + uid);
}

absl::StatusOr<std::string> PodCgroups::ensurePod(const std::string& uid, const runtime::PodCgroupConfig& config) {
  cgroups::Resources r;
  r.cpuShares = config.cpuShares;
  if (config.cpuQuotaUs) r.cpuQuotaUs = *config.cpuQuotaUs;
  if (config.cpuPeriodUs) r.cpuPeriodUs = *config.cpuPeriodUs;
  if (config.memoryLimitBytes) r.memoryLimit = *config.memoryLimitBytes == 0 ? cgroups::kUnlimited : *config.memoryLimitBytes;
  auto available = manager_.controllers();
  if (std::find(available.begin(), available.end(), "hugetlb") != available.end()) r.hugetlbLimits = config.hugepageLimits;
  const std::string name = podCgroupName(uid, config.qos);
  RETURN_IF_ERROR(annotate(manager_.create(name, r), "pod cgroup " + name));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(uid);
    // Unchanged, unless an earlier update of the Burstable shares failed: then retry it.
    if (!burstableStale_ && it != pods_.end() && it->second == std::make_pair(config.qos, config.cpuRequestMilli)) {
      return name;
    }
    pods_[uid] = {config.qos, config.cpuRequestMilli};
  }
  RETURN_IF_ERROR(updateBurstableShares());
  return name;
}

absl::Status PodCgroups::updateBurstableShares() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t milli = 0;
  for (const auto& [uid, entry] : pods_)
    if (entry.first == runtime::QosClass::kBurstable) milli += entry.second;
  cgroups::Resources r;
  r.cpuShares = milliCpuToShares(milli);
  absl::Status st = manager_.update(join(qosDir(runtime::QosClass::kBurstable)), r);
  burstableStale_ = !st.ok();
  return st;
}

absl::Status PodCgroups::removePod(const std::string& uid) {
  // destroy() removes the cgroup from whichever hierarchies hold it and takes a missing one
  // as success. No exists() check first: that is true only when the cgroup is present in
  // every hierarchy, so a partly present pod cgroup (a create that failed half way), which
  // podUids() still lists, would never be removed.
  for (auto qos : {runtime::QosClass::kGuaranteed, runtime::QosClass::kBurstable, runtime::QosClass::kBestEffort}) {
    RETURN_IF_ERROR(manager_.destroy(podCgroupName(uid, qos)));
  }
  bool burstable = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(uid);
    if (it == pods_.end()) return absl::OkStatus();
    burstable = it->second.first == runtime::QosClass::kBurstable;
    pods_.erase(it);
  }
  return burstable ? updateBurstableShares() : absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PodCgroups::podUids() const {
  const auto& layout = manager_.layout();
  std::string base;
  if (layout.mode == cgroups::Mode::kV2) {
    base = layout.root;
  } else {
    for (const char* c : {"memory", "cpu", "pids"}) {
      if (auto it = layout.v1.find(c); it != layout.v1.end()) {
        base = it->second;
        break;
      }
    }
    if (base.empty()) return absl::FailedPreconditionError("no memory, cpu or pids cgroup hierarchy is mounted");
  }
  std::vector<std::string> out;
  for (auto qos : {runtime::QosClass::kGuaranteed, runtime::QosClass::kBurstable, runtime::QosClass::kBestEffort}) {
    for (const auto& name : subdirectories(base + "/" + join(qosDir(qos)))) {
      if (name.rfind(kPodPrefix, 0) == 0 && name.size() > 3) out.push_back(name.substr(3));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace cubelet::cm
