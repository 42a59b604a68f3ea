// Internal to cgroups/: the backends behind createManager() and what they share.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/cgroups.h"
#include "cgroups/files.h"

namespace cubelet::cgroups::internal {

// One controller's share of a Resources value: which fields it owns and how it writes them
// into the cgroup directory `dir` of its hierarchy. Each backend keeps a table of these
// (after youki's per-controller appliers), applied in table order.
struct Applier {
  std::string_view controller;
  bool (*wanted)(const Resources& r);
  absl::Status (*apply)(const Files& files, const std::string& dir, const Resources& r);
};

bool wantsCpu(const Resources& r);
bool wantsCpuset(const Resources& r);
bool wantsHugetlb(const Resources& r);
bool wantsMemory(const Resources& r);
bool wantsPids(const Resources& r);

// The decimal value, or `unlimited` ("-1" on v1, "max" on v2 and for pids.max) for kUnlimited.
std::string limitText(int64_t value, std::string_view unlimited);

// Appliers whose files are the same in v1 and v2.
absl::Status applyCpuset(const Files& files, const std::string& dir, const Resources& r);
absl::Status applyPids(const Files& files, const std::string& dir, const Resources& r);

// validate() plus: every controller the request needs is among `available`
// (FailedPrecondition naming the controller and `where` otherwise).
absl::Status checkRequest(const Resources& r, const std::vector<std::string>& available, std::string_view where);

// mkdir of every missing component of `rel` below `hierarchy`.
absl::Status makeCgroupDirs(const Files& files, const std::string& hierarchy, const std::string& rel);

// The cgroup's directory in each of `hierarchies` that holds it.
absl::StatusOr<std::vector<std::string>> presentDirs(const Files& files, const std::vector<std::string>& hierarchies,
                                                     const std::string& rel);

// Removes `rel` from every hierarchy holding it after checking that none of them still has
// processes or child cgroups (FailedPrecondition, nothing removed).
absl::Status removeCgroup(const Files& files, const std::vector<std::string>& hierarchies, const std::string& rel);

// Union of cgroup.procs over the hierarchies holding `rel` (and their descendants for
// kSubtree); NotFound when none holds it.
absl::StatusOr<std::vector<pid_t>> collectPids(const Files& files, const std::vector<std::string>& hierarchies,
                                               const std::string& rel, Walk walk);

// usage minus the inactive file pages in memory.stat (the first of `inactiveKeys` present),
// floored at 0.
absl::StatusOr<uint64_t> workingSet(uint64_t usage, std::string_view memoryStat, std::string_view statPath,
                                    std::initializer_list<std::string_view> inactiveKeys);

ManagerPtr makeV1Manager(Layout layout, Files files);
ManagerPtr makeV2Manager(Layout layout, Files files, std::vector<std::string> available);

}  // namespace cubelet::cgroups::internal
