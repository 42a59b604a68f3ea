// Test helpers: fake cgroupfs trees of plain directories in a temp dir, for the cgroups/
// library in plain-directory mode (Options::plainDirectories) and for code built on it.
// FakeV1 lays out v1 (or hybrid) mounts and the mountinfo text describing them; FakeV2 a
// cgroup2 root with cgroup.controllers. Nothing here touches the real /sys/fs/cgroup.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cgroups/cgroups.h"

namespace cubelet::cgroups::fake {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cgroups_test.XXXXXX";
    char* dir = ::mkdtemp(tmpl.data());
    if (dir == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes `text` to `path`, creating missing parent directories.
inline void writeText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// The file's content, or "<missing PATH>".
inline std::string readText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "<missing " + path + ">";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool isDir(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

inline bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// A v1 (or hybrid) fake: one directory per "mount", and the mountinfo text that describes
// them, as the kernel would print it for a real tmpfs + cgroup layout at the same place.
class FakeV1 {
 public:
  // `mounts`: directory name -> super options of the cgroup mount ("rw,cpu,cpuacct").
  FakeV1(const std::vector<std::pair<std::string, std::string>>& mounts, bool hybrid) : root_(tmp_.path() + "/cgroup") {
    std::ostringstream mi;
    mi << "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw\n";
    mi << "30 25 0:26 / " << root_ << " ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n";
    int id = 31;
    for (const auto& [dir, opts] : mounts) {
      std::filesystem::create_directories(root_ + "/" + dir);
      mi << id << " 30 0:" << id << " / " << root_ << "/" << dir << " rw,nosuid,nodev,noexec,relatime shared:" << id
         << " - cgroup cgroup " << opts << "\n";
      ++id;
    }
    if (hybrid) {
      std::filesystem::create_directories(root_ + "/unified");
      mi << id << " 30 0:" << id << " / " << root_ << "/unified rw,nosuid,nodev,noexec,relatime shared:" << id
         << " - cgroup2 cgroup2 rw,nsdelegate\n";
    }
    mountinfo_ = mi.str();
  }

  const std::string& root() const { return root_; }
  const std::string& mountinfo() const { return mountinfo_; }
  std::string at(const std::string& rel) const { return root_ + "/" + rel; }

  absl::StatusOr<ManagerPtr> manager(Mode mode) const {
    Options o;
    o.root = root_;
    o.mode = mode;
    o.mountinfo = mountinfo_;
    o.plainDirectories = true;
    return createManager(o);
  }

 private:
  TempDir tmp_;
  std::string root_;
  std::string mountinfo_;
};

// The layout of a typical systemd v1 machine: cpu and cpuacct co-mounted.
inline std::vector<std::pair<std::string, std::string>> typicalV1Mounts() {
  return {
      {"systemd", "rw,xattr,name=systemd"},
      {"cpu,cpuacct", "rw,cpu,cpuacct"},
      {"cpuset", "rw,cpuset,clone_children"},
      {"memory", "rw,memory"},
      {"pids", "rw,pids"},
      {"hugetlb", "rw,hugetlb"},
      {"blkio", "rw,blkio"},
      {"freezer", "rw,freezer"},
      {"devices", "rw,devices"},
      {"net_cls,net_prio", "rw,net_cls,net_prio"},
  };
}

// A v2 fake: the root with cgroup.controllers (as given) and an empty cgroup.subtree_control.
class FakeV2 {
 public:
  explicit FakeV2(const std::string& controllers = "cpuset cpu io memory hugetlb pids rdma misc")
      : root_(tmp_.path() + "/cgroup") {
    writeText(root_ + "/cgroup.controllers", controllers + "\n");
    writeText(root_ + "/cgroup.subtree_control", "\n");
  }
  const std::string& root() const { return root_; }
  std::string at(const std::string& rel) const { return root_ + "/" + rel; }

  absl::StatusOr<ManagerPtr> manager() const {
    Options o;
    o.root = root_;
    o.mode = Mode::kV2;
    o.plainDirectories = true;
    return createManager(o);
  }

 private:
  TempDir tmp_;
  std::string root_;
};

}  // namespace cubelet::cgroups::fake
