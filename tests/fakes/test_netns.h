// Throwaway network namespaces for tests: names /run/netns/<prefix><pid>-<n>-<tag>, and the
// removal of those an earlier, killed run of the same test binary left behind (its pid gone).
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/netns.h"

namespace cubelet::testing {

inline std::string uniqueTestNetnsName(std::string_view prefix, std::string_view tag) {
  static int counter = 0;
  return std::string(prefix) + std::to_string(getpid()) + "-" + std::to_string(++counter) + "-" + std::string(tag);
}

inline void removeStaleTestNetns(std::string_view prefix) {
  DIR* d = opendir(std::string(netlink::kNetnsDir).c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atoi(name.c_str() + prefix.size()));
    if (pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  closedir(d);
  for (const auto& name : stale) (void)netlink::NamedNetns::remove(name);
}

}  // namespace cubelet::testing
