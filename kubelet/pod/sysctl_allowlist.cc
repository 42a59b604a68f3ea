#include "kubelet/pod/sysctl_allowlist.h"

#include <array>
#include <cstdio>
#include <regex>
#include <utility>

#include "kubelet/objects/json_access.h"

namespace cubelet::pod {
namespace {

using nlohmann::json;

constexpr size_t kSysctlMaxLength = 253;

// Namespaced sysctls by name, then by dotted prefix (component-helpers' node/util/sysctl).
const std::map<std::string, std::string>& namespacedNames() {
  static const std::map<std::string, std::string> m = {
      {"kernel.domainname", "UTS"}, {"kernel.sem", "IPC"},   {"kernel.shmall", "IPC"},
      {"kernel.shmmax", "IPC"},     {"kernel.shmmni", "IPC"}, {"kernel.shm_rmid_forced", "IPC"},
      {"kernel.shm", "IPC"},        {"kernel.msgmax", "IPC"}, {"kernel.msgmnb", "IPC"},
      {"kernel.msgmni", "IPC"},     {"kernel.msg", "IPC"},
  };
  return m;
}

// The safe sysctls and the kernel version from which the kernel namespaces each.
struct Safe {
  const char* name;
  std::pair<int, int> since;  // {0, 0}: always
};
constexpr std::array<Safe, 14> kSafe = {{
    {"kernel.shm_rmid_forced", {0, 0}},
    {"net.ipv4.ip_local_port_range", {0, 0}},
    {"net.ipv4.tcp_syncookies", {0, 0}},
    {"net.ipv4.ping_group_range", {0, 0}},
    {"net.ipv4.ip_unprivileged_port_start", {0, 0}},
    {"net.ipv4.ip_local_reserved_ports", {3, 16}},
    {"net.ipv4.tcp_keepalive_time", {4, 5}},
    {"net.ipv4.tcp_fin_timeout", {4, 6}},
    {"net.ipv4.tcp_keepalive_intvl", {4, 5}},
    {"net.ipv4.tcp_keepalive_probes", {4, 5}},
    {"net.ipv4.tcp_rmem", {4, 15}},
    {"net.ipv4.tcp_wmem", {4, 15}},
    {"net.ipv4.tcp_slow_start_after_idle", {4, 15}},
    {"net.ipv4.tcp_notsent_lowat", {4, 6}},
}};

// A sysctl pattern as the API validates it: dot- or slash-separated lowercase components,
// optionally ending in '*'.
bool validPattern(const std::string& s) {
  static const std::regex re(
      R"(^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\*)?$|^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*\*$)");
  return s.size() <= kSysctlMaxLength && std::regex_match(s, re);
}

}  // namespace

std::string normalizeSysctlName(const std::string& name) {
  const size_t sep = name.find_first_of("./");
  if (sep == std::string::npos || name[sep] != '/') return name;
  std::string out = name;
  for (char& c : out) c = c == '/' ? '.' : c == '.' ? '/' : c;
  return out;
}

std::string sysctlNamespace(const std::string& name) {
  const auto& names = namespacedNames();
  if (auto it = names.find(name); it != names.end()) return it->second;
  for (const auto& [prefix, ns] : {std::pair<const char*, const char*>{"net", "Net"}, {"fs.mqueue", "IPC"},
                                   {"user", "User"}}) {
    if (name.starts_with(std::string(prefix) + ".")) return ns;
  }
  return "";
}

std::vector<std::string> safeSysctls(const std::string& kernelRelease) {
  int major = -1, minor = -1;
  if (std::sscanf(kernelRelease.c_str(), "%d.%d", &major, &minor) != 2) major = minor = -1;
  std::vector<std::string> out;
  for (const Safe& s : kSafe) {
    if (s.since == std::pair<int, int>{0, 0} || (major >= 0 && std::pair<int, int>{major, minor} >= s.since)) {
      out.emplace_back(s.name);
    }
  }
  return out;
}

absl::StatusOr<SysctlAllowlist> SysctlAllowlist::make(const std::vector<std::string>& patterns) {
  SysctlAllowlist w;
  for (const std::string& p : patterns) {
    if (!validPattern(p)) {
      return absl::InvalidArgumentError("sysctl \"" + p + "\" must have at most 253 characters and match regex " +
                                        "([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?");
    }
    std::string name = normalizeSysctlName(p);
    const bool prefixed = name.find('*') != std::string::npos;
    if (prefixed) name = name.substr(0, name.find('*'));
    const std::string ns = sysctlNamespace(name);
    if (ns.empty()) return absl::InvalidArgumentError("the sysctls \"" + name + "\" are not known to be namespaced");
    (prefixed ? w.prefixes_ : w.names_)[name] = ns;
  }
  return w;
}

std::optional<std::string> SysctlAllowlist::validate(const std::string& raw, bool hostNet, bool hostIpc,
                                                     bool hostUsers) const {
  const std::string name = normalizeSysctlName(raw);
  auto hostConflict = [&](const std::string& ns) -> std::optional<std::string> {
    if ((ns == "IPC" && hostIpc) || (ns == "Net" && hostNet) || (ns == "User" && hostUsers)) {
      return "\"" + name + "\" not allowed with host " + ns + " enabled";
    }
    return std::nullopt;
  };
  if (auto it = names_.find(name); it != names_.end()) return hostConflict(it->second);
  for (const auto& [prefix, ns] : prefixes_) {
    if (name.starts_with(prefix)) return hostConflict(ns);
  }
  return "\"" + name + "\" not allowlisted";
}

std::optional<std::string> SysctlAllowlist::check(const json& pod) const {
  const json& sysctls = objects::array(pod, {"spec", "securityContext", "sysctls"});
  if (sysctls.empty()) return std::nullopt;
  const bool hostNet = objects::boolean(pod, {"spec", "hostNetwork"}, false);
  const bool hostIpc = objects::boolean(pod, {"spec", "hostIPC"}, false);
  const bool hostUsers = objects::boolean(pod, {"spec", "hostUsers"}, true);
  for (const json& s : sysctls) {
    if (auto err = validate(objects::str(s, {"name"}), hostNet, hostIpc, hostUsers)) return "forbidden sysctl: " + *err;
  }
  return std::nullopt;
}

}  // namespace cubelet::pod
