// cgroup v1 / hybrid / v2 management over cgroupfs. Knows nothing about Kubernetes: callers
// name cgroups by a path relative to the hierarchy root ("kubepods/burstable/pod1234") and
// say which limits to set; this library finds where the hierarchies are mounted, creates the
// directories in each of them and writes the interface files.
//
// Shape (after youki's libcgroups and crun): one Manager interface, one backend per cgroup
// version chosen by createManager() from the root it is given, and inside each backend a
// table of per-controller appliers. Everything that parses kernel text (mountinfo, flat-keyed
// files, cgroup.procs) is a pure function tested without root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cubelet::cgroups {

inline constexpr std::string_view kDefaultRoot = "/sys/fs/cgroup";

// How cgroups are mounted under a root.
enum class Mode {
  kV1,      // tmpfs root with one cgroup (v1) mount per controller or co-mounted group
  kHybrid,  // v1 controllers plus a cgroup2 mount (usually <root>/unified) holding no controllers
  kV2,      // cgroup2 mounted at the root itself
};
std::string_view modeName(Mode mode);  // "v1", "hybrid", "v2"

// Who owns the cgroup tree. Only kCgroupfs is implemented; kSystemd (cgroups as transient
// systemd units over D-Bus) is accepted by the API so configuration can name it, and
// createManager() answers Unimplemented for it.
enum class Driver { kCgroupfs, kSystemd };
std::string_view driverName(Driver driver);  // "cgroupfs", "systemd"
// Parses the KubeletConfiguration spelling ("cgroupfs" / "systemd").
absl::StatusOr<Driver> parseDriver(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Detection.

// One cgroup or cgroup2 entry of /proc/<pid>/mountinfo.
struct CgroupMount {
  std::string mountPoint;                // unescaped, e.g. "/sys/fs/cgroup/cpu,cpuacct"
  std::string root;                      // the hierarchy directory shown there, usually "/"
  bool v2 = false;                       // fstype cgroup2
  std::vector<std::string> controllers;  // v1 only: {"cpu", "cpuacct"}, {"name=systemd"}
};

// Parses mountinfo text (proc(5) format) and returns its cgroup and cgroup2 mounts in file
// order; other filesystems are skipped. Octal escapes (\040) in paths are decoded. Generic
// super options (rw, clone_children, xattr, release_agent=...) are not controllers.
absl::StatusOr<std::vector<CgroupMount>> parseMountInfo(std::string_view text);

// The mode of the cgroup filesystem at `root`, from statfs(2) magic numbers: cgroup2 at the
// root is kV2; a tmpfs root whose "unified" entry is cgroup2 is kHybrid; a tmpfs root with at
// least one cgroup (v1) mount directly below it is kV1. Anything else is FailedPrecondition.
// Read-only.
absl::StatusOr<Mode> detectMode(const std::string& root = std::string(kDefaultRoot));

// Where each hierarchy of a mode lives.
struct Layout {
  Mode mode = Mode::kV2;
  std::string root;  // as given, without a trailing slash
  // v1 and hybrid: controller name -> mount point. Co-mounted controllers share a mount
  // point ("cpu" and "cpuacct" -> ".../cpu,cpuacct"); named hierarchies appear under their
  // option ("name=systemd").
  std::map<std::string, std::string> v1;
  // kV2: the root. kHybrid: the cgroup2 mount below the root. kV1: empty.
  std::string unified;
};

// Builds the layout of `mode` at `root` from parsed mounts, considering only mounts at or
// below `root` (a later mount on the same point shadows an earlier one). Pure.
absl::StatusOr<Layout> layoutFromMounts(Mode mode, const std::string& root, const std::vector<CgroupMount>& mounts);

// ---------------------------------------------------------------------------------------------
// Resources and statistics.

inline constexpr int64_t kUnlimited = -1;

// What to set on a cgroup. An unset field leaves the current value alone. Every limit takes
// kUnlimited (-1) for "no limit", written as -1 on v1 and "max" on v2 (pids.max is "max" on
// both).
struct Resources {
  // CPU: v1 cpu.shares; on v2 converted with sharesToWeight() and written to cpu.weight.
  std::optional<uint64_t> cpuShares;
  // CFS bandwidth in microseconds: v1 cpu.cfs_quota_us / cpu.cfs_period_us, v2 cpu.max.
  std::optional<int64_t> cpuQuotaUs;   // kUnlimited or > 0
  std::optional<uint64_t> cpuPeriodUs;  // > 0
  // Bytes: v1 memory.limit_in_bytes, v2 memory.max.
  std::optional<int64_t> memoryLimit;
  // pids.max.
  std::optional<int64_t> pidsLimit;
  // Page size as the kernel names it ("2MB", "1GB") -> bytes: v1
  // hugetlb.<size>.limit_in_bytes, v2 hugetlb.<size>.max.
  std::map<std::string, int64_t> hugetlbLimits;
  // Kernel list syntax ("0-3,6"): cpuset.cpus / cpuset.mems.
  std::optional<std::string> cpusetCpus;
  std::optional<std::string> cpusetMems;

  bool operator==(const Resources&) const = default;
};

// Controllers a Resources value needs ("cpu", "cpuset", "hugetlb", "memory", "pids").
std::vector<std::string> requiredControllers(const Resources& r);

// Rejects values no kernel would take (quota below -1 or 0, period 0, malformed page sizes,
// cpuset lists with other characters than digits, ',' and '-'), naming the field and value.
absl::Status validate(const Resources& r);

// The cgroup v2 cpu.weight for v1 cpu.shares, as the kubelet and crun compute it:
// shares clamped to [2, 262144], weight = 1 + ((shares - 2) * 9999) / 262142, so 2 -> 1,
// 1024 -> 39, 262144 -> 10000.
uint64_t sharesToWeight(uint64_t shares);

// cgroup v2 cpu.max text: "max" for kUnlimited, else the quota; then " <period>" when a
// period is given. formatCpuMax(kUnlimited, 100000) == "max 100000".
std::string formatCpuMax(int64_t quotaUs, std::optional<uint64_t> periodUs);

// Usage of one cgroup. A field is empty when its controller is not available for the cgroup.
struct Stats {
  std::optional<uint64_t> memoryUsage;       // v1 memory.usage_in_bytes, v2 memory.current
  std::optional<uint64_t> memoryWorkingSet;  // usage minus inactive file pages, floored at 0
  std::optional<uint64_t> cpuUsageNs;        // v1 cpuacct.usage, v2 cpu.stat usage_usec * 1000
  std::optional<uint64_t> pidsCurrent;       // pids.current
};

// ---------------------------------------------------------------------------------------------
// The manager.

enum class Walk {
  kSelf,     // only the cgroup itself
  kSubtree,  // the cgroup and all its descendants
};

// Operates on cgroups named by a path relative to the hierarchy root, "a/b/c" (a leading "/"
// is ignored; "", "." and ".." components are rejected; "" names the root itself and is only
// accepted by the read-only operations).
//
// Thread-safety: a Manager holds only immutable state (the layout), so every method may be
// called from several threads at once. Operations are not atomic, though: the caller
// serializes operations on the same cgroup (and on a parent against its children), as the
// pod workers do with one lane per pod.
class Manager {
 public:
  virtual ~Manager() = default;

  virtual Mode mode() const = 0;
  virtual Driver driver() const = 0;
  virtual const Layout& layout() const = 0;
  // Controllers this manager can set or read, sorted: v1 the mounted ones it manages, v2 the
  // root's cgroup.controllers. Resources naming any other controller fail with
  // FailedPrecondition, so callers with optional limits (hugetlb) check here first.
  virtual std::vector<std::string> controllers() const = 0;

  // Creates the cgroup and its missing ancestors in every managed hierarchy (v1: cpu,
  // cpuacct, cpuset, memory, pids, hugetlb, blkio, freezer as mounted; hybrid: also the
  // unified mount; v2: the single tree, enabling the controllers it has in every ancestor's
  // cgroup.subtree_control), then applies `resources`. Creating an existing cgroup only
  // applies the resources. On error, directories already made stay; call create() again or
  // destroy().
  virtual absl::Status create(std::string_view path, const Resources& resources) = 0;
  // Writes `resources` to an existing cgroup (NotFound if it is missing).
  virtual absl::Status update(std::string_view path, const Resources& resources) = 0;
  // True when the cgroup is present in every managed hierarchy.
  virtual absl::StatusOr<bool> exists(std::string_view path) const = 0;
  // Removes the (leaf) cgroup from every hierarchy holding it; missing is success. Fails
  // with FailedPrecondition, removing nothing, while processes or child cgroups remain.
  virtual absl::Status destroy(std::string_view path) = 0;
  // Process IDs in the cgroup (v1: the union over all managed hierarchies), sorted, unique.
  virtual absl::StatusOr<std::vector<pid_t>> pids(std::string_view path, Walk walk = Walk::kSelf) const = 0;
  virtual absl::StatusOr<Stats> stats(std::string_view path) const = 0;
};
using ManagerPtr = std::unique_ptr<Manager>;

struct Options {
  std::string root = std::string(kDefaultRoot);
  Driver driver = Driver::kCgroupfs;
  // Overrides for tests and for callers that already know: the mode (else detectMode(root))
  // and the mountinfo text (else /proc/self/mountinfo), used to locate v1 and unified mounts.
  std::optional<Mode> mode;
  std::optional<std::string> mountinfo;
  // Plain-directory mode, for a fake cgroupfs tree made of ordinary directories and files
  // (tests). The kernel makes interface files appear on mkdir, lets rmdir remove a directory
  // that "contains" them, and turns "+cpu" written to cgroup.subtree_control into the
  // enabled set. In this mode instead: writes create missing files (O_CREAT|O_TRUNC);
  // destroy() unlinks the regular files of a cgroup before rmdir; a missing cpuset.cpus or
  // cpuset.mems reads as empty (the value of a new v1 cpuset cgroup); enabling controllers
  // writes the resulting set ("cpu memory pids") rather than "+cpu +memory +pids". The fake
  // pre-creates only the root's files it wants read (v2 cgroup.controllers, cpuset values,
  // stat files). Never set it on a real cgroupfs.
  bool plainDirectories = false;
};

// Picks the backend for `options.driver` and the mode of `options.root` (v1 and hybrid share
// the v1 backend). Reads the filesystem; creates nothing.
absl::StatusOr<ManagerPtr> createManager(const Options& options);

}  // namespace cubelet::cgroups
