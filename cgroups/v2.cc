// The cgroup v2 backend: one tree, controllers enabled per level through
// cgroup.subtree_control. See https://docs.kernel.org/admin-guide/cgroup-v2.html
#include <algorithm>
#include <set>

#include "base/log.h"
#include "base/status_macros.h"
#include "cgroups/backends.h"

namespace cubelet::cgroups::internal {
namespace {

// Controllers enabled for the cgroups we create, when the root offers them: those the
// appliers write, io for the runtime's use, as runc and the kubelet do.
constexpr std::string_view kManaged[] = {"cpu", "cpuset", "hugetlb", "io", "memory", "pids"};

absl::Status applyCpu(const Files& files, const std::string& dir, const Resources& r) {
  if (r.cpuShares) {
    RETURN_IF_ERROR(files.write(joinPath(dir, "cpu.weight"), std::to_string(sharesToWeight(*r.cpuShares))));
  }
  const std::string maxPath = joinPath(dir, "cpu.max");
  if (r.cpuQuotaUs) return files.write(maxPath, formatCpuMax(*r.cpuQuotaUs, r.cpuPeriodUs));
  if (r.cpuPeriodUs) {
    // A period alone must not reset the quota: keep the first word of the current value.
    ASSIGN_OR_RETURN(std::string current, files.read(maxPath));
    auto words = splitWords(current);
    std::string quota = words.empty() ? "max" : words[0];
    return files.write(maxPath, quota + " " + std::to_string(*r.cpuPeriodUs));
  }
  return absl::OkStatus();
}

absl::Status applyMemory(const Files& files, const std::string& dir, const Resources& r) {
  return files.write(joinPath(dir, "memory.max"), limitText(*r.memoryLimit, "max"));
}

absl::Status applyHugetlb(const Files& files, const std::string& dir, const Resources& r) {
  for (const auto& [size, limit] : r.hugetlbLimits) {
    RETURN_IF_ERROR(files.write(joinPath(dir, "hugetlb." + size + ".max"), limitText(limit, "max")));
  }
  return absl::OkStatus();
}

constexpr Applier kAppliers[] = {
    {"cpuset", wantsCpuset, applyCpuset}, {"cpu", wantsCpu, applyCpu},          {"memory", wantsMemory, applyMemory},
    {"pids", wantsPids, applyPids},       {"hugetlb", wantsHugetlb, applyHugetlb},
};

// The value of an optional interface file: empty when the file is not there (its controller
// is not enabled for this cgroup).
absl::StatusOr<std::optional<std::string>> readIfPresent(const Files& files, const std::string& path) {
  auto text = files.read(path);
  if (absl::IsNotFound(text.status())) return std::optional<std::string>();
  if (!text.ok()) return text.status();
  return std::optional<std::string>(std::move(*text));
}

class V2Manager final : public Manager {
 public:
  V2Manager(Layout layout, Files files, std::vector<std::string> available)
      : layout_(std::move(layout)), files_(files), available_(std::move(available)) {
    std::sort(available_.begin(), available_.end());
    for (std::string_view c : kManaged) {
      if (std::binary_search(available_.begin(), available_.end(), std::string(c))) toEnable_.emplace_back(c);
    }
  }

  Mode mode() const override { return Mode::kV2; }
  Driver driver() const override { return Driver::kCgroupfs; }
  const Layout& layout() const override { return layout_; }
  std::vector<std::string> controllers() const override { return available_; }

  absl::Status create(std::string_view path, const Resources& resources) override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, false));
    return annotate(createImpl(rel, resources), "creating cgroup " + rel);
  }

  absl::Status update(std::string_view path, const Resources& resources) override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, false));
    return annotate(updateImpl(rel, resources), "updating cgroup " + rel);
  }

  absl::StatusOr<bool> exists(std::string_view path) const override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, true));
    return files_.isDirectory(joinPath(layout_.unified, rel));
  }

  absl::Status destroy(std::string_view path) override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, false));
    return removeCgroup(files_, {layout_.unified}, rel);
  }

  absl::StatusOr<std::vector<pid_t>> pids(std::string_view path, Walk walk) const override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, true));
    return collectPids(files_, {layout_.unified}, rel, walk);
  }

  absl::StatusOr<Stats> stats(std::string_view path) const override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, true));
    ASSIGN_OR_RETURN(std::string dir, existing(rel));
    Stats s;
    ASSIGN_OR_RETURN(auto current, readIfPresent(files_, joinPath(dir, "memory.current")));
    if (current) {
      ASSIGN_OR_RETURN(uint64_t usage, parseUint(*current, joinPath(dir, "memory.current")));
      const std::string statPath = joinPath(dir, "memory.stat");
      ASSIGN_OR_RETURN(std::string statText, files_.read(statPath));
      ASSIGN_OR_RETURN(uint64_t ws, workingSet(usage, statText, statPath, {"inactive_file"}));
      s.memoryUsage = usage;
      s.memoryWorkingSet = ws;
    }
    const std::string cpuStatPath = joinPath(dir, "cpu.stat");
    ASSIGN_OR_RETURN(auto cpuStat, readIfPresent(files_, cpuStatPath));
    if (cpuStat) {
      ASSIGN_OR_RETURN(auto kv, parseFlatKeyed(*cpuStat, cpuStatPath));
      if (auto it = kv.find("usage_usec"); it != kv.end()) s.cpuUsageNs = it->second * 1000;
    }
    const std::string pidsPath = joinPath(dir, "pids.current");
    ASSIGN_OR_RETURN(auto pidsText, readIfPresent(files_, pidsPath));
    if (pidsText) {
      ASSIGN_OR_RETURN(s.pidsCurrent, parseUint(*pidsText, pidsPath));
    }
    return s;
  }

 private:
  absl::StatusOr<std::string> existing(const std::string& rel) const {
    std::string dir = joinPath(layout_.unified, rel);
    ASSIGN_OR_RETURN(bool isDir, files_.isDirectory(dir));
    if (!isDir) return absl::NotFoundError("cgroup " + rel + " does not exist: no directory " + dir);
    return dir;
  }

  absl::Status createImpl(const std::string& rel, const Resources& r) {
    RETURN_IF_ERROR(checkRequest(r, available_, layout_.root));
    RETURN_IF_ERROR(makeCgroupDirs(files_, layout_.unified, rel));
    // Every ancestor, from the root down to the parent, must enable a controller in its
    // cgroup.subtree_control for the cgroup to get that controller's files.
    const std::vector<std::string> required = requiredControllers(r);
    std::string dir = layout_.unified;
    for (size_t slash = rel.find('/');; slash = rel.find('/', slash + 1)) {
      RETURN_IF_ERROR(enableControllers(dir, required));
      if (slash == std::string::npos) break;
      dir = joinPath(layout_.unified, std::string_view(rel).substr(0, slash));
    }
    return applyAll(joinPath(layout_.unified, rel), r);
  }

  absl::Status updateImpl(const std::string& rel, const Resources& r) {
    RETURN_IF_ERROR(checkRequest(r, available_, layout_.root));
    ASSIGN_OR_RETURN(std::string dir, existing(rel));
    return applyAll(dir, r);
  }

  absl::Status applyAll(const std::string& dir, const Resources& r) const {
    for (const auto& a : kAppliers) {
      if (a.wanted(r)) RETURN_IF_ERROR(a.apply(files_, dir, r));
    }
    return absl::OkStatus();
  }

  // Enables the managed controllers in `dir`/cgroup.subtree_control. All missing ones go in
  // one write; when the kernel refuses it, one at a time, so that a controller it will not
  // enable (cpu while a real-time task runs in the subtree, say) is an error only when the
  // request needs it.
  absl::Status enableControllers(const std::string& dir, const std::vector<std::string>& required) const {
    const std::string path = joinPath(dir, "cgroup.subtree_control");
    ASSIGN_OR_RETURN(std::string text, files_.readKernelFile(path));
    std::set<std::string> enabled;
    for (auto& w : splitWords(text)) enabled.insert(std::move(w));
    std::vector<std::string> missing;
    for (const auto& c : toEnable_) {
      if (enabled.count(c) == 0) missing.push_back(c);
    }
    if (missing.empty()) return absl::OkStatus();
    if (files_.plain()) {
      // No kernel to turn "+x" into the enabled set: write the set itself.
      enabled.insert(missing.begin(), missing.end());
      std::string all;
      for (const auto& c : enabled) all += (all.empty() ? "" : " ") + c;
      return files_.write(path, all);
    }
    std::string plus;
    for (const auto& c : missing) plus += (plus.empty() ? "+" : " +") + c;
    if (files_.write(path, plus).ok()) return absl::OkStatus();
    for (const auto& c : missing) {
      absl::Status st = files_.write(path, "+" + c);
      if (st.ok()) continue;
      if (std::find(required.begin(), required.end(), c) != required.end()) return st;
      LOG_WARNING << "cgroups: not enabling an optional controller: " << st.message();
    }
    return absl::OkStatus();
  }

  const Layout layout_;
  const Files files_;
  std::vector<std::string> available_;  // the root's cgroup.controllers, sorted
  std::vector<std::string> toEnable_;   // kManaged that are available
};

}  // namespace

ManagerPtr makeV2Manager(Layout layout, Files files, std::vector<std::string> available) {
  return std::make_unique<V2Manager>(std::move(layout), files, std::move(available));
}

}  // namespace cubelet::cgroups::internal
