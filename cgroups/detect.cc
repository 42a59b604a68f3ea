// Mode detection (statfs magic) and mount discovery (mountinfo parsing).
#include <linux/magic.h>
#include <sys/vfs.h>

#include <set>

#include "base/status_macros.h"
#include "cgroups/cgroups.h"
#include "cgroups/files.h"

namespace cubelet::cgroups {
namespace {

using internal::errnoStatus;
using internal::joinPath;

// v1 subsystems the kernel knows (see /proc/cgroups); anything else in a cgroup mount's
// super options is a generic option such as rw, clone_children or release_agent=...
const std::set<std::string_view>& knownV1Controllers() {
  static const std::set<std::string_view> kKnown = {
      "blkio",   "cpu",     "cpuacct",    "cpuset", "debug", "devices", "freezer", "hugetlb",
      "memory",  "misc",    "net_cls",    "net_prio", "perf_event", "pids", "rdma",
  };
  return kKnown;
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescapeMountPath(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string_view> splitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

enum class FsType { kOther, kTmpfs, kCgroup1, kCgroup2 };

absl::StatusOr<FsType> fsTypeOf(const std::string& path) {
  struct statfs st;
  if (::statfs(path.c_str(), &st) != 0) return errnoStatus(errno, "cannot statfs ", path);
  // f_type is a signed word whose width differs between architectures.
  auto magic = static_cast<unsigned long>(st.f_type);
  if (magic == CGROUP2_SUPER_MAGIC) return FsType::kCgroup2;
  if (magic == CGROUP_SUPER_MAGIC) return FsType::kCgroup1;
  if (magic == TMPFS_MAGIC) return FsType::kTmpfs;
  return FsType::kOther;
}

std::string trimTrailingSlashes(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

bool atOrBelow(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path.front() == '/';
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

}  // namespace

std::string_view modeName(Mode mode) {
  switch (mode) {
    case Mode::kV1:
      return "v1";
    case Mode::kHybrid:
      return "hybrid";
    case Mode::kV2:
      return "v2";
  }
  return "unknown";
}

std::string_view driverName(Driver driver) {
  switch (driver) {
    case Driver::kCgroupfs:
      return "cgroupfs";
    case Driver::kSystemd:
      return "systemd";
  }
  return "unknown";
}

absl::StatusOr<Driver> parseDriver(std::string_view name) {
  if (name == "cgroupfs") return Driver::kCgroupfs;
  if (name == "systemd") return Driver::kSystemd;
  return absl::InvalidArgumentError("unknown cgroup driver \"" + std::string(name) +
                                    "\": want \"cgroupfs\" or \"systemd\"");
}

absl::StatusOr<std::vector<CgroupMount>> parseMountInfo(std::string_view text) {
  std::vector<CgroupMount> out;
  size_t lineNo = 0;
  for (std::string_view line : splitOn(text, '\n')) {
    ++lineNo;
    if (internal::trim(line).empty()) continue;
    // id parent major:minor root mount-point mount-options [optional...] - fstype source super-options
    std::vector<std::string_view> f = splitOn(internal::trim(line), ' ');
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 3 >= f.size()) {
      return absl::InvalidArgumentError("cannot parse mountinfo line " + std::to_string(lineNo) + ": \"" +
                                        std::string(line) + "\"");
    }
    std::string_view fstype = f[dash + 1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMount m;
    m.root = unescapeMountPath(f[3]);
    m.mountPoint = unescapeMountPath(f[4]);
    m.v2 = fstype == "cgroup2";
    if (!m.v2) {
      for (std::string_view opt : splitOn(f[dash + 3], ',')) {
        if (knownV1Controllers().count(opt) != 0 || opt.starts_with("name=")) m.controllers.emplace_back(opt);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

absl::StatusOr<Mode> detectMode(const std::string& rootIn) {
  const std::string root = trimTrailingSlashes(rootIn);
  ASSIGN_OR_RETURN(FsType rootType, fsTypeOf(root));
  switch (rootType) {
    case FsType::kCgroup2:
      return Mode::kV2;
    case FsType::kCgroup1:
      return absl::FailedPreconditionError(root + " is a single cgroup v1 hierarchy; want a tmpfs holding one mount "
                                                  "per controller, or cgroup2");
    case FsType::kOther:
      return absl::FailedPreconditionError(root + " is neither cgroup2 nor a tmpfs holding cgroup mounts");
    case FsType::kTmpfs:
      break;
  }
  // systemd's hybrid layout puts the (controller-less) cgroup2 tree at <root>/unified; other
  // cgroup2 mounts directly below the root count too.
  bool sawV1 = false;
  bool sawV2 = false;
  internal::Files files(false);
  ASSIGN_OR_RETURN(auto entries, files.subdirectories(root));
  for (const auto& name : entries) {
    auto type = fsTypeOf(joinPath(root, name));
    if (!type.ok()) continue;  // a dangling entry tells nothing about the mode
    sawV1 = sawV1 || *type == FsType::kCgroup1;
    sawV2 = sawV2 || *type == FsType::kCgroup2;
  }
  if (sawV1) return sawV2 ? Mode::kHybrid : Mode::kV1;
  return absl::FailedPreconditionError("no cgroup v1 hierarchy is mounted below the tmpfs at " + root);
}

absl::StatusOr<Layout> layoutFromMounts(Mode mode, const std::string& rootIn, const std::vector<CgroupMount>& mounts) {
  Layout layout;
  layout.mode = mode;
  layout.root = trimTrailingSlashes(rootIn);
  if (mode == Mode::kV2) {
    layout.unified = layout.root;
    return layout;
  }
  for (const auto& m : mounts) {
    if (!atOrBelow(m.mountPoint, layout.root)) continue;
    if (m.v2) {
      if (m.mountPoint != layout.root) layout.unified = m.mountPoint;
      continue;
    }
    for (const auto& c : m.controllers) layout.v1[c] = m.mountPoint;
  }
  if (layout.v1.empty()) {
    return absl::FailedPreconditionError("no cgroup v1 hierarchy is mounted under " + layout.root +
                                         " according to mountinfo");
  }
  if (mode == Mode::kV1) {
    layout.unified.clear();
  } else if (layout.unified.empty()) {
    return absl::FailedPreconditionError("hybrid cgroups: no cgroup2 mount below " + layout.root +
                                         " according to mountinfo");
  }
  return layout;
}

}  // namespace cubelet::cgroups
