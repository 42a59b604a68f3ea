// Resources helpers and the filesystem steps shared by the v1 and v2 backends.
#include <algorithm>
#include <set>

#include "base/status_macros.h"
#include "cgroups/backends.h"

namespace cubelet::cgroups {

namespace {

constexpr uint64_t kMinShares = 2;
constexpr uint64_t kMaxShares = 262144;
constexpr uint64_t kMaxWeight = 10000;

// "2MB", "64KB", "1GB": how the kernel names huge page sizes in hugetlb file names.
bool validPageSize(std::string_view s) {
  if (s.size() < 3) return false;
  std::string_view unit = s.substr(s.size() - 2);
  if (unit != "KB" && unit != "MB" && unit != "GB") return false;
  std::string_view digits = s.substr(0, s.size() - 2);
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool validCpuList(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == ',' || c == '-'; });
}

absl::Status invalid(std::string_view field, std::string_view value, std::string_view want) {
  return absl::InvalidArgumentError("invalid " + std::string(field) + " " + std::string(value) + ": want " +
                                    std::string(want));
}

}  // namespace

uint64_t sharesToWeight(uint64_t shares) {
  shares = std::clamp(shares, kMinShares, kMaxShares);
  return 1 + ((shares - kMinShares) * (kMaxWeight - 1)) / (kMaxShares - kMinShares);
}

std::string formatCpuMax(int64_t quotaUs, std::optional<uint64_t> periodUs) {
  std::string out = quotaUs == kUnlimited ? "max" : std::to_string(quotaUs);
  if (periodUs) out += " " + std::to_string(*periodUs);
  return out;
}

std::vector<std::string> requiredControllers(const Resources& r) {
  std::vector<std::string> out;
  if (internal::wantsCpu(r)) out.push_back("cpu");
  if (internal::wantsCpuset(r)) out.push_back("cpuset");
  if (internal::wantsHugetlb(r)) out.push_back("hugetlb");
  if (internal::wantsMemory(r)) out.push_back("memory");
  if (internal::wantsPids(r)) out.push_back("pids");
  return out;
}

absl::Status validate(const Resources& r) {
  if (r.cpuQuotaUs && *r.cpuQuotaUs != kUnlimited && *r.cpuQuotaUs <= 0) {
    return invalid("cpu quota", std::to_string(*r.cpuQuotaUs), "-1 (unlimited) or a positive number of microseconds");
  }
  if (r.cpuPeriodUs && *r.cpuPeriodUs == 0) {
    return invalid("cpu period", "0", "a positive number of microseconds");
  }
  if (r.memoryLimit && *r.memoryLimit < kUnlimited) {
    return invalid("memory limit", std::to_string(*r.memoryLimit), "-1 (unlimited) or a number of bytes");
  }
  if (r.pidsLimit && *r.pidsLimit < kUnlimited) {
    return invalid("pids limit", std::to_string(*r.pidsLimit), "-1 (unlimited) or a number of processes");
  }
  for (const auto& [size, limit] : r.hugetlbLimits) {
    if (!validPageSize(size)) return invalid("huge page size", "\"" + size + "\"", "a size such as 2MB or 1GB");
    if (limit < kUnlimited) {
      return invalid("hugetlb " + size + " limit", std::to_string(limit), "-1 (unlimited) or a number of bytes");
    }
  }
  if (r.cpusetCpus && !validCpuList(*r.cpusetCpus)) {
    return invalid("cpuset cpus", "\"" + *r.cpusetCpus + "\"", "a list such as 0-3,6");
  }
  if (r.cpusetMems && !validCpuList(*r.cpusetMems)) {
    return invalid("cpuset mems", "\"" + *r.cpusetMems + "\"", "a list such as 0-1");
  }
  return absl::OkStatus();
}

namespace internal {

bool wantsCpu(const Resources& r) { return r.cpuShares || r.cpuQuotaUs || r.cpuPeriodUs; }
bool wantsCpuset(const Resources& r) { return r.cpusetCpus || r.cpusetMems; }
bool wantsHugetlb(const Resources& r) { return !r.hugetlbLimits.empty(); }
bool wantsMemory(const Resources& r) { return r.memoryLimit.has_value(); }
bool wantsPids(const Resources& r) { return r.pidsLimit.has_value(); }

absl::Status applyCpuset(const Files& files, const std::string& dir, const Resources& r) {
  if (r.cpusetCpus) RETURN_IF_ERROR(files.write(joinPath(dir, "cpuset.cpus"), *r.cpusetCpus));
  if (r.cpusetMems) RETURN_IF_ERROR(files.write(joinPath(dir, "cpuset.mems"), *r.cpusetMems));
  return absl::OkStatus();
}

absl::Status applyPids(const Files& files, const std::string& dir, const Resources& r) {
  return files.write(joinPath(dir, "pids.max"), limitText(*r.pidsLimit, "max"));
}

std::string limitText(int64_t value, std::string_view unlimited) {
  return value == kUnlimited ? std::string(unlimited) : std::to_string(value);
}

absl::Status checkRequest(const Resources& r, const std::vector<std::string>& available, std::string_view where) {
  RETURN_IF_ERROR(validate(r));
  for (const auto& c : requiredControllers(r)) {
    if (std::find(available.begin(), available.end(), c) == available.end()) {
      return absl::FailedPreconditionError("the " + c + " controller is not available under " + std::string(where) +
                                           ", but the requested resources need it");
    }
  }
  return absl::OkStatus();
}

absl::Status makeCgroupDirs(const Files& files, const std::string& hierarchy, const std::string& rel) {
  std::string dir = hierarchy;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    size_t end = slash == std::string::npos ? rel.size() : slash;
    dir = joinPath(dir, std::string_view(rel).substr(start, end - start));
    auto made = files.makeDirectory(dir);
    if (!made.ok()) return made.status();
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> presentDirs(const Files& files, const std::vector<std::string>& hierarchies,
                                                     const std::string& rel) {
  std::vector<std::string> out;
  for (const auto& h : hierarchies) {
    std::string dir = joinPath(h, rel);
    ASSIGN_OR_RETURN(bool isDir, files.isDirectory(dir));
    if (isDir) out.push_back(std::move(dir));
  }
  return out;
}

absl::Status removeCgroup(const Files& files, const std::vector<std::string>& hierarchies, const std::string& rel) {
  ASSIGN_OR_RETURN(auto dirs, presentDirs(files, hierarchies, rel));
  // Check everything first so that a refusal leaves the cgroup whole in every hierarchy.
  for (const auto& dir : dirs) {
    const std::string procsPath = joinPath(dir, "cgroup.procs");
    ASSIGN_OR_RETURN(std::string procsText, files.readKernelFile(procsPath));
    ASSIGN_OR_RETURN(auto procs, parsePids(procsText, procsPath));
    if (!procs.empty()) {
      std::string list;
      for (size_t i = 0; i < procs.size() && i < 10; ++i) list += (i ? ", " : "") + std::to_string(procs[i]);
      if (procs.size() > 10) list += ", ...";
      return absl::FailedPreconditionError("cannot remove cgroup " + rel + ": " + std::to_string(procs.size()) +
                                           " process(es) remain in " + procsPath + " (" + list + ")");
    }
    ASSIGN_OR_RETURN(auto children, files.subdirectories(dir));
    if (!children.empty()) {
      std::string list;
      for (const auto& c : children) list += (list.empty() ? "" : ", ") + c;
      return absl::FailedPreconditionError("cannot remove cgroup " + rel + ": child cgroups remain in " + dir + " (" +
                                           list + ")");
    }
  }
  for (const auto& dir : dirs) RETURN_IF_ERROR(files.removeDirectory(dir));
  return absl::OkStatus();
}

namespace {

absl::Status collectPidsIn(const Files& files, const std::string& dir, Walk walk, std::set<pid_t>& out) {
  const std::string procsPath = joinPath(dir, "cgroup.procs");
  ASSIGN_OR_RETURN(std::string text, files.readKernelFile(procsPath));
  ASSIGN_OR_RETURN(auto pids, parsePids(text, procsPath));
  out.insert(pids.begin(), pids.end());
  if (walk == Walk::kSelf) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto children, files.subdirectories(dir));
  for (const auto& c : children) {
    absl::Status st = collectPidsIn(files, joinPath(dir, c), walk, out);
    // A child cgroup removed while we walk is not an error.
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<pid_t>> collectPids(const Files& files, const std::vector<std::string>& hierarchies,
                                               const std::string& rel, Walk walk) {
  ASSIGN_OR_RETURN(auto dirs, presentDirs(files, hierarchies, rel));
  if (dirs.empty()) return absl::NotFoundError("cgroup " + rel + " does not exist");
  std::set<pid_t> all;
  for (const auto& dir : dirs) RETURN_IF_ERROR(collectPidsIn(files, dir, walk, all));
  return std::vector<pid_t>(all.begin(), all.end());
}

absl::StatusOr<uint64_t> workingSet(uint64_t usage, std::string_view memoryStat, std::string_view statPath,
                                    std::initializer_list<std::string_view> inactiveKeys) {
  ASSIGN_OR_RETURN(auto stat, parseFlatKeyed(memoryStat, statPath));
  uint64_t inactive = 0;
  for (std::string_view key : inactiveKeys) {
    if (auto it = stat.find(std::string(key)); it != stat.end()) {
      inactive = it->second;
      break;
    }
  }
  return usage > inactive ? usage - inactive : 0;
}

}  // namespace internal
}  // namespace cubelet::cgroups
