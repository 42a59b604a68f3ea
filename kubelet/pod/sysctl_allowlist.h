// The sysctls a pod may set (upstream pkg/kubelet/sysctl): the safe set, which the kernel
// namespaces (some only from a kernel version on), plus the node's allowedUnsafeSysctls
// (names or "prefix*" patterns of namespaced sysctls). A pod naming any other sysctl, or a
// network / IPC / user one while it shares that namespace with the host, is rejected with
// reason SysctlForbidden.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cubelet::pod {

// "kernel/shm_rmid_forced" -> "kernel.shm_rmid_forced": a name whose first separator is '/'
// has its '/' and '.' swapped (a '.' then belongs to a component, as in net/ipv4/conf/eth0.100).
std::string normalizeSysctlName(const std::string& name);

// The namespace a sysctl (or a prefix ending before '*') lives in: "IPC", "Net", "UTS", "User",
// or "" when not known to be namespaced.
std::string sysctlNamespace(const std::string& normalizedName);

// The safe sysctls for a kernel of this version ("6.1.0-13-amd64" and the like; an unreadable
// version keeps only those without a minimum).
std::vector<std::string> safeSysctls(const std::string& kernelRelease);

class SysctlAllowlist {
 public:
  // Fails with the pattern that is malformed or not namespaced.
  static absl::StatusOr<SysctlAllowlist> make(const std::vector<std::string>& patterns);

  // nullopt when the pod's sysctls are all allowed, else the rejection message
  // ("forbidden sysctl: ...").
  std::optional<std::string> check(const nlohmann::json& pod) const;

 private:
  std::optional<std::string> validate(const std::string& name, bool hostNet, bool hostIpc, bool hostUsers) const;
  std::map<std::string, std::string> names_;     // exact name -> namespace
  std::map<std::string, std::string> prefixes_;  // prefix -> namespace
};

}  // namespace cubelet::pod
