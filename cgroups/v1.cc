// The cgroup v1 backend (also used in hybrid mode): one directory per hierarchy.
#include <algorithm>
#include <set>

#include "base/status_macros.h"
#include "cgroups/backends.h"

namespace cubelet::cgroups::internal {
namespace {

// Controllers whose hierarchies get the cgroup. devices is left out as the kubelet leaves it
// out of pod cgroups (the runtime makes the container's devices cgroup); net_cls, net_prio,
// perf_event and name=systemd are not ours to manage.
constexpr std::string_view kManaged[] = {"blkio", "cpu", "cpuacct", "cpuset", "freezer", "hugetlb", "memory", "pids"};

absl::Status applyCpu(const Files& files, const std::string& dir, const Resources& r) {
  if (r.cpuShares) RETURN_IF_ERROR(files.write(joinPath(dir, "cpu.shares"), std::to_string(*r.cpuShares)));
  const std::string periodPath = joinPath(dir, "cpu.cfs_period_us");
  bool retryPeriod = false;
  if (r.cpuPeriodUs) {
    absl::Status st = files.write(periodPath, std::to_string(*r.cpuPeriodUs));
    // The kernel refuses (EINVAL) a period that makes the *current* quota exceed the parent's
    // bandwidth. When a new quota comes with it, write the quota first and then the period.
    if (!st.ok()) {
      if (!absl::IsInvalidArgument(st) || !r.cpuQuotaUs) return st;
      retryPeriod = true;
    }
  }
  if (r.cpuQuotaUs) {
    RETURN_IF_ERROR(files.write(joinPath(dir, "cpu.cfs_quota_us"), limitText(*r.cpuQuotaUs, "-1")));
    if (retryPeriod) RETURN_IF_ERROR(files.write(periodPath, std::to_string(*r.cpuPeriodUs)));
  }
  return absl::OkStatus();
}

absl::Status applyMemory(const Files& files, const std::string& dir, const Resources& r) {
  return files.write(joinPath(dir, "memory.limit_in_bytes"), limitText(*r.memoryLimit, "-1"));
}

absl::Status applyHugetlb(const Files& files, const std::string& dir, const Resources& r) {
  for (const auto& [size, limit] : r.hugetlbLimits) {
    RETURN_IF_ERROR(files.write(joinPath(dir, "hugetlb." + size + ".limit_in_bytes"), limitText(limit, "-1")));
  }
  return absl::OkStatus();
}

// cpuset first: the others do not depend on it, but a v1 cpuset must be usable before
// anything could run in the cgroup.
constexpr Applier kAppliers[] = {
    {"cpuset", wantsCpuset, applyCpuset}, {"cpu", wantsCpu, applyCpu},          {"memory", wantsMemory, applyMemory},
    {"pids", wantsPids, applyPids},       {"hugetlb", wantsHugetlb, applyHugetlb},
};

absl::StatusOr<uint64_t> readUint(const Files& files, const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, files.read(path));
  return parseUint(text, path);
}

class V1Manager final : public Manager {
 public:
  V1Manager(Layout layout, Files files) : layout_(std::move(layout)), files_(files) {
    std::set<std::string> mounts;
    for (std::string_view c : kManaged) {
      auto it = layout_.v1.find(std::string(c));
      if (it == layout_.v1.end()) continue;
      controllers_.push_back(std::string(c));
      if (mounts.insert(it->second).second) hierarchies_.push_back(it->second);
    }
    // runc puts containers into the unified tree as well in hybrid mode; keep the tree whole
    // there too.
    if (!layout_.unified.empty()) hierarchies_.push_back(layout_.unified);
    // runc also joins the hierarchies it does not configure (devices, name=systemd ...), so a
    // cgroup it used exists there too: removal covers every mounted hierarchy.
    removeFrom_ = hierarchies_;
    for (const auto& [controller, mount] : layout_.v1) {
      if (std::find(removeFrom_.begin(), removeFrom_.end(), mount) == removeFrom_.end()) removeFrom_.push_back(mount);
    }
  }

  Mode mode() const override { return layout_.mode; }
  Driver driver() const override { return Driver::kCgroupfs; }
  const Layout& layout() const override { return layout_; }
  std::vector<std::string> controllers() const override { return controllers_; }

  absl::Status create(std::string_view path, const Resources& resources) override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, false));
    absl::Status st = createImpl(rel, resources);
    return annotate(st, "creating cgroup " + rel);
  }

  absl::Status update(std::string_view path, const Resources& resources) override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, false));
    absl::Status st = updateImpl(rel, resources);
    return annotate(st, "updating cgroup " + rel);
  }

  absl::StatusOr<bool> exists(std::string_view path) const override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, true));
    ASSIGN_OR_RETURN(auto dirs, presentDirs(files_, hierarchies_, rel));
    return dirs.size() == hierarchies_.size();
  }

  absl::Status destroy(std::string_view path) override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, false));
    return removeCgroup(files_, removeFrom_, rel);
  }

  absl::StatusOr<std::vector<pid_t>> pids(std::string_view path, Walk walk) const override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, true));
    return collectPids(files_, hierarchies_, rel, walk);
  }

  absl::StatusOr<Stats> stats(std::string_view path) const override {
    ASSIGN_OR_RETURN(std::string rel, normalizeCgroupPath(path, true));
    Stats s;
    if (auto dir = dirFor("memory", rel)) {
      ASSIGN_OR_RETURN(*dir, existing(std::move(*dir), rel));
      ASSIGN_OR_RETURN(uint64_t usage, readUint(files_, joinPath(*dir, "memory.usage_in_bytes")));
      const std::string statPath = joinPath(*dir, "memory.stat");
      ASSIGN_OR_RETURN(std::string statText, files_.read(statPath));
      // Hierarchical total first, as cadvisor does on v1.
      ASSIGN_OR_RETURN(uint64_t ws, workingSet(usage, statText, statPath, {"total_inactive_file", "inactive_file"}));
      s.memoryUsage = usage;
      s.memoryWorkingSet = ws;
    }
    if (auto dir = dirFor("cpuacct", rel)) {
      ASSIGN_OR_RETURN(*dir, existing(std::move(*dir), rel));
      ASSIGN_OR_RETURN(s.cpuUsageNs, readUint(files_, joinPath(*dir, "cpuacct.usage")));
    }
    // The root of the v1 pids hierarchy has no pids.current (the kernel counts no limit
    // there): the root's stats leave it out; anywhere else a missing file is an error.
    if (auto dir = dirFor("pids", rel)) {
      ASSIGN_OR_RETURN(*dir, existing(std::move(*dir), rel));
      auto pids = readUint(files_, joinPath(*dir, "pids.current"));
      if (pids.ok()) {
        s.pidsCurrent = *pids;
      } else if (!rel.empty() || !absl::IsNotFound(pids.status())) {
        return pids.status();
      }
    }
    return s;
  }

 private:
  std::optional<std::string> dirFor(std::string_view controller, const std::string& rel) const {
    auto it = layout_.v1.find(std::string(controller));
    if (it == layout_.v1.end()) return std::nullopt;
    return joinPath(it->second, rel);
  }

  // `dir` back, or NotFound naming the cgroup when it is not there.
  absl::StatusOr<std::string> existing(std::string dir, const std::string& rel) const {
    ASSIGN_OR_RETURN(bool isDir, files_.isDirectory(dir));
    if (!isDir) return absl::NotFoundError("cgroup " + rel + " does not exist: no directory " + dir);
    return dir;
  }

  absl::Status createImpl(const std::string& rel, const Resources& r) {
    RETURN_IF_ERROR(checkRequest(r, controllers_, layout_.root));
    for (const auto& h : hierarchies_) RETURN_IF_ERROR(makeCgroupDirs(files_, h, rel));
    if (auto it = layout_.v1.find("cpuset"); it != layout_.v1.end()) RETURN_IF_ERROR(initCpuset(it->second, rel));
    return applyAll(rel, r);
  }

  absl::Status updateImpl(const std::string& rel, const Resources& r) {
    RETURN_IF_ERROR(checkRequest(r, controllers_, layout_.root));
    bool checked = false;
    for (const auto& a : kAppliers) {
      if (!a.wanted(r)) continue;
      RETURN_IF_ERROR(existing(*dirFor(a.controller, rel), rel).status());
      checked = true;
    }
    if (!checked) {
      // Nothing to write: still tell the caller when the cgroup is not there at all.
      ASSIGN_OR_RETURN(auto dirs, presentDirs(files_, hierarchies_, rel));
      if (dirs.empty()) return absl::NotFoundError("cgroup " + rel + " does not exist under " + layout_.root);
    }
    return applyAll(rel, r);
  }

  absl::Status applyAll(const std::string& rel, const Resources& r) const {
    for (const auto& a : kAppliers) {
      if (a.wanted(r)) RETURN_IF_ERROR(a.apply(files_, *dirFor(a.controller, rel), r));
    }
    return absl::OkStatus();
  }

  // A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and no task can
  // join it until both are set (unless the parent has cgroup.clone_children). Fill each
  // level of `rel` that is still empty from its parent, top down.
  absl::Status initCpuset(const std::string& mount, const std::string& rel) const {
    std::string parent = mount;
    size_t start = 0;
    while (start <= rel.size()) {
      size_t slash = rel.find('/', start);
      size_t end = slash == std::string::npos ? rel.size() : slash;
      std::string dir = joinPath(parent, std::string_view(rel).substr(start, end - start));
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        ASSIGN_OR_RETURN(std::string mine, files_.readKernelFile(joinPath(dir, file)));
        if (!trim(mine).empty()) continue;
        ASSIGN_OR_RETURN(std::string inherited, files_.readKernelFile(joinPath(parent, file)));
        if (trim(inherited).empty()) continue;
        RETURN_IF_ERROR(files_.write(joinPath(dir, file), trim(inherited)));
      }
      parent = std::move(dir);
      start = end + 1;
    }
    return absl::OkStatus();
  }

  const Layout layout_;
  const Files files_;
  std::vector<std::string> controllers_;  // managed controllers that are mounted, sorted
  std::vector<std::string> removeFrom_;   // every mounted hierarchy
  std::vector<std::string> hierarchies_;  // their distinct mount points, then the unified one
};

}  // namespace

ManagerPtr makeV1Manager(Layout layout, Files files) {
  return std::make_unique<V1Manager>(std::move(layout), files);
}

}  // namespace cubelet::cgroups::internal
