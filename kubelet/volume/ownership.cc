#include "kubelet/volume/ownership.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace cubelet::volume {
namespace {

constexpr mode_t kRwMask = 0660;
constexpr mode_t kRoMask = 0440;
constexpr mode_t kExecMask = 0110;

absl::Status errnoStatus(const std::string& what, int err) {
  return absl::InternalError(what + ": " + std::strerror(err));
}

struct Walk {
  gid_t gid;
  mode_t mask;
  dev_t dev;
  absl::Status first;

  void note(absl::Status st) {
    if (st.ok()) return;
    LOG_WARNING << "fsGroup ownership: " << st.message();
    if (first.ok()) first = std::move(st);
  }

  // Applies group and mode to the entry `fd` (an open file or directory, not a symlink).
  void apply(int fd, const struct stat& st, const std::string& path) {
    if (fchown(fd, static_cast<uid_t>(-1), gid) != 0) note(errnoStatus("chown " + path, errno));
    mode_t mode = (st.st_mode & 07777) | mask;
    if (S_ISDIR(st.st_mode)) mode |= kExecMask | S_ISGID;
    if (fchmod(fd, mode) != 0) note(errnoStatus("chmod " + path, errno));
  }

  // Walks the directory open at `dirFd` (post-order): its entries, then itself.
  void walkDir(int dirFd, const struct stat& self, const std::string& path) {
    int listFd = dup(dirFd);
    DIR* d = listFd >= 0 ? fdopendir(listFd) : nullptr;
    if (!d) {
      if (listFd >= 0) close(listFd);
      note(errnoStatus("listing " + path, errno));
    } else {
      std::vector<std::string> names;
      while (struct dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
      }
      closedir(d);
      for (const auto& name : names) entry(dirFd, name, path + "/" + name);
    }
    apply(dirFd, self, path);
  }

  void entry(int parentFd, const std::string& name, const std::string& path) {
    struct stat st {};
    if (fstatat(parentFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) note(errnoStatus("stat " + path, errno));
      return;
    }
    if (st.st_dev != dev) return;  // another mount: not this volume's to change
    if (S_ISLNK(st.st_mode)) {
      if (fchownat(parentFd, name.c_str(), static_cast<uid_t>(-1), gid, AT_SYMLINK_NOFOLLOW) != 0) {
        note(errnoStatus("chown " + path, errno));
      }
      return;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      // Sockets, fifos, devices: group only, as opening them could block or act.
      if (fchownat(parentFd, name.c_str(), static_cast<uid_t>(-1), gid, AT_SYMLINK_NOFOLLOW) != 0) {
        note(errnoStatus("chown " + path, errno));
      }
      return;
    }
    int fd = openat(parentFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                                                (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    if (fd < 0) {
      if (errno != ENOENT) note(errnoStatus("open " + path, errno));
      return;
    }
    struct stat now {};
    if (fstat(fd, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
      if (S_ISDIR(now.st_mode)) {
        walkDir(fd, now, path);
      } else {
        apply(fd, now, path);
      }
    }
    close(fd);
  }
};

}  // namespace

bool rootNeedsChange(const std::string& dir, gid_t fsGroup, bool readOnly) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return true;
  const mode_t want = (readOnly ? kRoMask : kRwMask) | kExecMask;
  return !S_ISDIR(st.st_mode) || st.st_gid != fsGroup || (st.st_mode & want) != want || !(st.st_mode & S_ISGID);
}

absl::Status setVolumeOwnership(const std::string& dir, gid_t fsGroup, bool readOnly, FsGroupChangePolicy policy) {
  if (policy == FsGroupChangePolicy::kOnRootMismatch && !rootNeedsChange(dir, fsGroup, readOnly)) {
    return absl::OkStatus();
  }
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errnoStatus("open " + dir, errno);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return errnoStatus("stat " + dir, err);
  }
  Walk w{fsGroup, readOnly ? kRoMask : kRwMask, st.st_dev, absl::OkStatus()};
  w.walkDir(fd, st, dir);
  close(fd);
  return w.first;
}

}  // namespace cubelet::volume
