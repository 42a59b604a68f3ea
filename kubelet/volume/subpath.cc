#include "kubelet/volume/subpath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/fd.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/volume/mount.h"

namespace cubelet::volume {
namespace {

absl::Status sysError(int err, const std::string& what) { return absl::ErrnoToStatus(err, what); }

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool isMountRootAt(int dirfd, const std::string& name) {
  struct statx stx {};
  if (::statx(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

// Opens the directory `path` (absolute), creating missing components 0750. Existing
// components may be symlinks (the kubelet root dir may be one); created ones never are.
absl::StatusOr<Fd> openOrCreateDirs(const std::string& path) {
  Fd cur(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur.valid()) return sysError(errno, "open /");
  std::string sofar;
  for (const std::string& c : components(path)) {
    sofar += "/" + c;
    if (c == "." || c == "..") return absl::InvalidArgumentError("path " + path + " must not contain '.' or '..'");
    Fd next(::openat(cur.get(), c.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!next.valid() && errno == ENOENT) {
      if (::mkdirat(cur.get(), c.c_str(), 0750) != 0 && errno != EEXIST) return sysError(errno, "mkdir " + sofar);
      next.reset(::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (next.valid() && ::fchmod(next.get(), 0750) != 0) return sysError(errno, "chmod " + sofar);
    }
    if (!next.valid()) return sysError(errno, "open " + sofar);
    cur = std::move(next);
  }
  return cur;
}

absl::Status removeEntry(int dirfd, const std::string& name, const std::string& path, bool isDir) {
  if (::unlinkat(dirfd, name.c_str(), isDir ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    return sysError(errno, "remove " + path);
  }
  return absl::OkStatus();
}

// Removes the entries of a volume-subpaths level: level 0 holds volumes, 1 containers, 2 the
// per-mount-index targets. Directories are descended below level 2 only; nothing is followed.
void removeLevel(int dirfd, const std::string& path, int level, absl::Status* first) {
  auto note = [first](absl::Status st) {
    if (!st.ok() && first->ok()) *first = st;
  };
  int dupfd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dupfd >= 0 ? ::fdopendir(dupfd) : nullptr;
  if (d == nullptr) {
    note(sysError(errno, "list " + path));
    if (dupfd >= 0) ::close(dupfd);
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    std::string child = path + "/" + n;
    struct stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) note(sysError(errno, "stat " + child));
      continue;
    }
    bool isDir = S_ISDIR(st.st_mode);
    if (isMountRootAt(dirfd, n)) {
      note(absl::FailedPreconditionError("subPath " + child + " is still mounted"));
      continue;
    }
    if (isDir && level < 2) {
      Fd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) {
        note(sysError(errno, "open " + child));
        continue;
      }
      removeLevel(sub.get(), child, level + 1, first);
    }
    note(removeEntry(dirfd, n, child, isDir));
  }
}

absl::Status validateSubPath(const std::string& volumePath, const std::string& subPath) {
  if (subPath.empty()) return absl::InvalidArgumentError("empty subPath for volume path \"" + volumePath + "\"");
  if (subPath.front() == '/') {
    return absl::InvalidArgumentError("subPath \"" + subPath + "\" must not be an absolute path");
  }
  for (const std::string& c : components(subPath)) {
    if (c == "..") return absl::InvalidArgumentError("subPath \"" + subPath + "\" must not contain '..'");
  }
  return absl::OkStatus();
}

absl::StatusOr<Fd> openVolume(const std::string& volumePath) {
  Fd vfd(::open(volumePath.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!vfd.valid()) return sysError(errno, "open volume path " + volumePath);
  return vfd;
}

// openat2 beneath the volume; errors name `subPath` (the whole one asked for) and the volume.
absl::StatusOr<Fd> openBeneath(int vfd, const std::string& rel, uint64_t flags, const std::string& volumePath,
                               const std::string& subPath) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  Fd fd(static_cast<int>(::syscall(SYS_openat2, vfd, rel.c_str(), &how, sizeof(how))));
  if (fd.valid()) return fd;
  int err = errno;
  std::string what = "subPath \"" + subPath + "\" of volume path \"" + volumePath + "\"";
  if (err == EXDEV) return absl::PermissionDeniedError(what + " resolves outside the volume");
  if (err == ELOOP) return absl::PermissionDeniedError(what + " goes through a magic link or too many symlinks");
  return sysError(err, "open " + rel + " of " + what);
}

}  // namespace

absl::Status makeSubPathDirs(const std::string& volumePath, const std::string& subPath, mode_t perm) {
  RETURN_IF_ERROR(validateSubPath(volumePath, subPath));
  ASSIGN_OR_RETURN(Fd vfd, openVolume(volumePath));
  Fd parent(::fcntl(vfd.get(), F_DUPFD_CLOEXEC, 0));
  if (!parent.valid()) return sysError(errno, "dup volume fd");
  std::string prefix;
  for (const std::string& c : components(subPath)) {
    if (c == ".") continue;
    prefix += (prefix.empty() ? "" : "/") + c;
    auto cur = openBeneath(vfd.get(), prefix, O_PATH | O_DIRECTORY, volumePath, subPath);
    if (!cur.ok() && absl::IsNotFound(cur.status())) {
      if (::mkdirat(parent.get(), c.c_str(), 0700) != 0 && errno != EEXIST) {
        return sysError(errno, "mkdir " + prefix + " in volume path " + volumePath);
      }
      // One component, not followed, below a dir already known to be inside the volume.
      Fd made(::openat(parent.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!made.valid()) return sysError(errno, "open " + prefix + " in volume path " + volumePath);
      if (::fchmod(made.get(), perm) != 0) return sysError(errno, "chmod " + prefix + " in volume path " + volumePath);
      cur = std::move(made);
    }
    if (!cur.ok()) return cur.status();
    parent = std::move(cur).value();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> prepareSubPath(const std::string& volumePath, const std::string& subPath,
                                           const std::string& bindTarget) {
  RETURN_IF_ERROR(validateSubPath(volumePath, subPath));
  if (bindTarget.empty() || bindTarget.front() != '/') {
    return absl::InvalidArgumentError("subPath bind target \"" + bindTarget + "\" is not absolute");
  }
  std::vector<std::string> targetParts = components(bindTarget);
  if (targetParts.empty()) return absl::InvalidArgumentError("subPath bind target must not be /");
  const std::string name = targetParts.back();
  std::string parentPath;
  for (size_t i = 0; i + 1 < targetParts.size(); ++i) parentPath += "/" + targetParts[i];
  if (name == "." || name == "..") return absl::InvalidArgumentError("bad subPath bind target " + bindTarget);

  // 1. Resolve the subPath once, in the kernel, beneath the volume.
  ASSIGN_OR_RETURN(Fd vfd, openVolume(volumePath));
  ASSIGN_OR_RETURN(Fd src, openBeneath(vfd.get(), subPath, O_PATH, volumePath, subPath));
  struct stat srcSt {};
  if (::fstat(src.get(), &srcSt) != 0) return sysError(errno, "stat subPath " + subPath);
  const bool srcDir = S_ISDIR(srcSt.st_mode);

  // 2. The target: reuse a bind of the same file, replace anything else.
  ASSIGN_OR_RETURN(Fd parent, openOrCreateDirs(parentPath));
  struct stat tSt {};
  bool exists = ::fstatat(parent.get(), name.c_str(), &tSt, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && isMountRootAt(parent.get(), name)) {
    if (tSt.st_dev == srcSt.st_dev && tSt.st_ino == srcSt.st_ino) return bindTarget;
    for (int i = 0; i < 16 && isMountRootAt(parent.get(), name); ++i) RETURN_IF_ERROR(unmount(bindTarget));
    exists = ::fstatat(parent.get(), name.c_str(), &tSt, AT_SYMLINK_NOFOLLOW) == 0;
  }
  if (exists && (srcDir ? !S_ISDIR(tSt.st_mode) : !S_ISREG(tSt.st_mode))) {
    RETURN_IF_ERROR(removeEntry(parent.get(), name, bindTarget, S_ISDIR(tSt.st_mode)));
    exists = false;
  }
  bool created = false;
  if (!exists) {
    if (srcDir) {
      if (::mkdirat(parent.get(), name.c_str(), 0750) != 0) return sysError(errno, "mkdir " + bindTarget);
      created = true;
      Fd t(::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!t.valid() || ::fchmod(t.get(), 0750) != 0) {
        int err = errno;
        removeEntry(parent.get(), name, bindTarget, true).IgnoreError();
        return sysError(err, "chmod " + bindTarget);
      }
    } else {
      Fd t(::openat(parent.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0640));
      if (!t.valid()) return sysError(errno, "create " + bindTarget);
      created = true;
      if (::fchmod(t.get(), 0640) != 0) {
        int err = errno;
        removeEntry(parent.get(), name, bindTarget, false).IgnoreError();
        return sysError(err, "chmod " + bindTarget);
      }
    }
  }

  // 3. Clone the resolved file's mount (a bind of just that file or dir) and attach it.
  absl::Status mounted = absl::OkStatus();
  Fd tree(::open_tree(src.get(), "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (tree.valid()) {
    if (::move_mount(tree.get(), "", parent.get(), name.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      mounted = sysError(errno, "move_mount subPath \"" + subPath + "\" of " + volumePath + " onto " + bindTarget);
    }
  } else if (errno == ENOSYS) {
    // Kernels before 5.2: bind the fd's magic link. The fd pins the resolved file, so this
    // is still not a path lookup an attacker can redirect.
    std::string proc = "/proc/self/fd/" + std::to_string(src.get());
    if (::mount(proc.c_str(), bindTarget.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      mounted = sysError(errno, "bind mount subPath \"" + subPath + "\" of " + volumePath + " on " + bindTarget);
    }
  } else {
    mounted = sysError(errno, "open_tree subPath \"" + subPath + "\" of " + volumePath);
  }
  if (!mounted.ok() && created) removeEntry(parent.get(), name, bindTarget, srcDir).IgnoreError();
  RETURN_IF_ERROR(mounted);
  return bindTarget;
}

absl::Status cleanSubPaths(const std::string& podVolumeSubpathsDir) {
  absl::Status first = absl::OkStatus();
  ASSIGN_OR_RETURN(auto mounts, mountsUnder(podVolumeSubpathsDir));
  for (const std::string& m : mounts) {
    absl::Status st = unmount(m);
    if (!st.ok() && first.ok()) first = st;
  }
  Fd top(::open(podVolumeSubpathsDir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!top.valid()) {
    if (errno == ENOENT) return first;
    return sysError(errno, "open " + podVolumeSubpathsDir);
  }
  removeLevel(top.get(), podVolumeSubpathsDir, 0, &first);
  top.reset();
  if (::rmdir(podVolumeSubpathsDir.c_str()) != 0 && errno != ENOENT && first.ok()) {
    first = sysError(errno, "remove " + podVolumeSubpathsDir);
  }
  return annotate(first, "error cleaning subPath mounts");
}

}  // namespace cubelet::volume
