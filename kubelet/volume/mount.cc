#include "kubelet/volume/mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "base/status_macros.h"

namespace cubelet::volume {
namespace {

absl::Status sysError(int err, const std::string& what) { return absl::ErrnoToStatus(err, what); }

// mountinfo escapes space, tab, newline and backslash as a backslash and three octal digits.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    bool octal = s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
                 s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7';
    if (octal) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool parseInt(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string stripTrailingSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool atOrBelow(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path.front() == '/';
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

absl::StatusOr<std::string> canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return sysError(errno, "realpath " + path);
  return std::string(buf);
}

size_t depth(const std::string& p) { return static_cast<size_t>(std::count(p.begin(), p.end(), '/')); }

}  // namespace

bool MountInfo::shared() const {
  for (std::string_view f : fields(optionalFields)) {
    if (f.starts_with("shared:")) return true;
  }
  return false;
}

absl::StatusOr<std::vector<MountInfo>> parseMountInfo(std::string_view text) {
  std::vector<MountInfo> out;
  size_t lineNo = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++lineNo;
    std::vector<std::string_view> f = fields(line);
    if (f.empty()) continue;
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    MountInfo m;
    if (f.size() < 6 || dash + 4 != f.size() || !parseInt(f[0], &m.id) || !parseInt(f[1], &m.parentId)) {
      return absl::InvalidArgumentError("cannot parse mountinfo line " + std::to_string(lineNo) + ": \"" +
                                        std::string(line) + "\"");
    }
    m.root = unescape(f[3]);
    m.mountPoint = unescape(f[4]);
    m.options = std::string(f[5]);
    for (size_t i = 6; i < dash; ++i) {
      if (!m.optionalFields.empty()) m.optionalFields += ' ';
      m.optionalFields += f[i];
    }
    m.fsType = unescape(f[dash + 1]);
    m.source = unescape(f[dash + 2]);
    m.superOptions = unescape(f[dash + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

absl::StatusOr<std::vector<MountInfo>> readMountInfo(const std::string& path) {
  std::ifstream in(path);
  if (!in) return sysError(errno, "reading " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parseMountInfo(ss.str());
  if (!parsed.ok()) return annotate(parsed.status(), path);
  return parsed;
}

bool isMountPoint(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return false;
  if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0) {
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  auto real = canonical(path);
  auto mounts = readMountInfo();
  if (!real.ok() || !mounts.ok()) return false;
  for (const MountInfo& m : *mounts) {
    if (m.mountPoint == *real) return true;
  }
  return false;
}

absl::Status mountTmpfs(const std::string& dir, std::optional<uint64_t> sizeBytes, bool noswap) {
  std::string data;
  if (sizeBytes) data = "size=" + std::to_string(*sizeBytes);
  if (noswap) data += std::string(data.empty() ? "" : ",") + "noswap";
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, data.empty() ? nullptr : data.c_str()) != 0) {
    return sysError(errno, "mount tmpfs (" + data + ") on " + dir);
  }
  return absl::OkStatus();
}

absl::Status bindMount(const std::string& src, const std::string& dst, bool readOnly) {
  if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return sysError(errno, "bind mount " + src + " on " + dst);
  }
  if (!readOnly) return absl::OkStatus();
  // A bind remount must keep the locked per-mount flags of the original mount.
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
  struct statvfs sv {};
  if (::statvfs(dst.c_str(), &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  }
  if (::mount(nullptr, dst.c_str(), nullptr, flags, nullptr) != 0) {
    int err = errno;
    ::umount2(dst.c_str(), UMOUNT_NOFOLLOW);
    return sysError(err, "remount read-only bind of " + src + " on " + dst);
  }
  return absl::OkStatus();
}

absl::Status makeRShared(const std::string& dir) {
  ASSIGN_OR_RETURN(std::string real, canonical(dir));
  ASSIGN_OR_RETURN(auto mounts, readMountInfo());
  const MountInfo* containing = nullptr;
  for (const MountInfo& m : mounts) {
    // The deepest mount point containing dir; among stacked mounts, the last (topmost).
    if (atOrBelow(real, m.mountPoint) && (containing == nullptr || m.mountPoint.size() >= containing->mountPoint.size())) {
      containing = &m;
    }
  }
  if (containing != nullptr && containing->shared()) return absl::OkStatus();
  if (containing == nullptr || containing->mountPoint != real) {
    if (::mount(real.c_str(), real.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return sysError(errno, "failed to bind-mount " + real);
    }
  }
  if (::mount(nullptr, real.c_str(), nullptr, MS_REC | MS_SHARED, nullptr) != 0) {
    return sysError(errno, "failed to make " + real + " rshared");
  }
  return absl::OkStatus();
}

absl::Status unmount(const std::string& path) {
  if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EINVAL || err == ENOENT) return absl::OkStatus();
  if (err == EBUSY) {
    LOG_WARNING << "unmount " << path << " is busy; detaching it lazily (MNT_DETACH)";
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) == 0) return absl::OkStatus();
    err = errno;
    if (err == EINVAL || err == ENOENT) return absl::OkStatus();
    return sysError(err, "unmount (detach) " + path);
  }
  return sysError(err, "unmount " + path);
}

absl::StatusOr<std::vector<std::string>> mountsUnder(const std::string& dir) {
  auto real = canonical(dir);
  if (!real.ok()) {
    if (absl::IsNotFound(real.status())) return std::vector<std::string>{};
    return real.status();
  }
  std::string base = stripTrailingSlashes(*real);
  ASSIGN_OR_RETURN(auto mounts, readMountInfo());
  std::vector<std::string> out;
  // mountinfo lists a mount after its parent, so reversed file order puts stacked mounts
  // topmost first; the stable sort by depth then keeps that order within one path.
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    if (atOrBelow(it->mountPoint, base)) out.push_back(it->mountPoint);
  }
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return depth(a) > depth(b); });
  return out;
}

}  // namespace cubelet::volume
