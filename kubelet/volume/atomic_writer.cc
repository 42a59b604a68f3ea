#include "kubelet/volume/atomic_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace cubelet::volume {
namespace {

constexpr std::string_view kDataDirName = "..data";
constexpr std::string_view kDataTmpName = "..data_tmp";
constexpr size_t kMaxPathLength = 4096;
constexpr size_t kMaxFileNameLength = 255;
constexpr uint32_t kTsDirMode = 0755;
constexpr uint32_t kSubDirMode = 0755;

// "<what>: <strerror>", with the code that matches the errno.
absl::Status errnoError(int err, std::string_view what) {
  return absl::ErrnoToStatus(err, absl::string_view(what.data(), what.size()));
}

// annotate() for a StatusOr.
template <typename T>
absl::StatusOr<T> withContext(absl::StatusOr<T> v, std::string_view context) {
  if (v.ok()) return v;
  return annotate(v.status(), context);
}

// "a//b/./c/" -> {"a", "b", "c"}. Validation has already refused ".." elements.
std::vector<std::string> splitClean(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view item = path.substr(start, end - start);
    if (!item.empty() && item != ".") out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

// True for the names this writer gives its versions: "..YYYY_MM_DD_hh_mm_ss." plus a
// non-empty suffix. Only such names are removed as crash leftovers.
bool isTimestampDirName(std::string_view name) {
  constexpr std::string_view kPattern = "..dddd_dd_dd_dd_dd_dd.";
  if (name.size() <= kPattern.size()) return false;
  for (size_t i = 0; i < kPattern.size(); ++i) {
    char p = kPattern[i];
    char c = name[i];
    if (p == 'd' ? (c < '0' || c > '9') : c != p) return false;
  }
  return name.find('/') == std::string_view::npos;
}

// What `..data` may point to: one reserved name that is not one of the fixed ones.
bool isPlausibleVersionName(std::string_view name) {
  return name.size() > 2 && name.substr(0, 2) == ".." && name.find('/') == std::string_view::npos &&
         name != kDataDirName && name != kDataTmpName;
}

absl::StatusOr<Fd> openDirAt(int dirfd, const std::string& name) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return errnoError(errno, "opening directory " + name);
  return fd;
}

// Names in a directory (without "." and ".."), read through a duplicate of `dirfd`.
absl::StatusOr<std::vector<std::string>> listDir(int dirfd) {
  int dupfd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return errnoError(errno, "dup");
  DIR* d = ::fdopendir(dupfd);
  if (d == nullptr) {
    int err = errno;
    ::close(dupfd);
    return errnoError(err, "fdopendir");
  }
  // The duplicate shares the file offset with `dirfd`: start from the beginning.
  ::rewinddir(d);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (e == nullptr) break;
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return errnoError(err, "readdir");
  return names;
}

// Removes `name` in `dirfd`, recursively when it is a directory; never follows symlinks.
absl::Status removeAllAt(int dirfd, const std::string& name) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return absl::OkStatus();
  int unlinkErr = errno;
  if (unlinkErr != EISDIR && unlinkErr != EPERM) return errnoError(unlinkErr, "unlinkat " + name);
  Fd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub.valid()) {
    if (errno == ENOENT) return absl::OkStatus();
    if (errno == ENOTDIR || errno == ELOOP) return errnoError(unlinkErr, "unlinkat " + name);
    return errnoError(errno, "opening directory " + name);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, listDir(sub.get()));
  for (const std::string& n : names) {
    RETURN_IF_ERROR(annotate(removeAllAt(sub.get(), n), name));
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return errnoError(errno, "rmdir " + name);
  }
  return absl::OkStatus();
}

// Every path below `dirfd`, relative to it, directories included; symlinks are not followed.
absl::Status walkTree(int dirfd, const std::string& prefix, std::set<std::string>& out) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, listDir(dirfd));
  for (const std::string& n : names) {
    std::string rel = prefix.empty() ? n : prefix + "/" + n;
    out.insert(rel);
    struct stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return errnoError(errno, "stat " + rel);
    }
    if (S_ISDIR(st.st_mode)) {
      ASSIGN_OR_RETURN(Fd sub, openDirAt(dirfd, n));
      RETURN_IF_ERROR(walkTree(sub.get(), rel, out));
    }
  }
  return absl::OkStatus();
}

// Whether the regular file at `parts` below `rootfd` holds exactly `want`. False when there is
// no such regular file (missing, a symlink on the way, a directory, a FIFO...).
absl::StatusOr<bool> sameFileBeneath(int rootfd, const std::vector<std::string>& parts, std::string_view want) {
  Fd cur;
  int at = rootfd;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Fd next(::openat(at, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return false;
      return errnoError(errno, "opening directory " + join(parts, i + 1));
    }
    cur = std::move(next);
    at = cur.get();
  }
  Fd f(::openat(at, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!f.valid()) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return false;
    return errnoError(errno, "opening " + join(parts, parts.size()));
  }
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return errnoError(errno, "stat " + join(parts, parts.size()));
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != want.size()) return false;
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError(errno, "reading " + join(parts, parts.size()));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > want.size()) return false;
  }
  return data == want;
}

absl::Status writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

uint32_t randomSuffix() {
  uint32_t v = 0;
  if (::getrandom(&v, sizeof v, 0) == static_cast<ssize_t>(sizeof v)) return v;
  std::random_device rd;
  return static_cast<uint32_t>(rd());
}

// Creates "..YYYY_MM_DD_hh_mm_ss.<random>" (UTC) in `dirfd`, mode 0755 whatever the umask.
absl::StatusOr<std::pair<std::string, Fd>> createTimestampDir(int dirfd) {
  std::time_t now = std::time(nullptr);
  std::tm tm {};
  ::gmtime_r(&now, &tm);
  char prefix[64];
  size_t len = std::strftime(prefix, sizeof prefix, "..%Y_%m_%d_%H_%M_%S.", &tm);
  if (len == 0) return absl::InternalError("formatting the timestamp dir name");
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = std::string(prefix, len) + std::to_string(randomSuffix());
    if (::mkdirat(dirfd, name.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;
      return errnoError(errno, "mkdirat " + name);
    }
    absl::StatusOr<Fd> fd = openDirAt(dirfd, name);
    if (!fd.ok()) {
      (void)removeAllAt(dirfd, name);
      return fd.status();
    }
    if (::fchmod(fd->get(), kTsDirMode) != 0) {
      int err = errno;
      (void)removeAllAt(dirfd, name);
      return errnoError(err, "chmod " + name);
    }
    return std::make_pair(std::move(name), std::move(*fd));
  }
  return absl::AlreadyExistsError("no free timestamp dir name after 100 attempts");
}

// Writes one payload file below the new version dir, creating its parent dirs (0755).
absl::Status writeProjection(int tsfd, const std::vector<std::string>& parts, const FileProjection& proj) {
  Fd cur;
  int at = tsfd;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& c = parts[i];
    bool created = ::mkdirat(at, c.c_str(), 0700) == 0;
    if (!created && errno != EEXIST) return errnoError(errno, "mkdirat " + join(parts, i + 1));
    ASSIGN_OR_RETURN(Fd next, openDirAt(at, c));
    if (created && ::fchmod(next.get(), kSubDirMode) != 0) {
      return errnoError(errno, "chmod " + join(parts, i + 1));
    }
    cur = std::move(next);
    at = cur.get();
  }
  const std::string rel = join(parts, parts.size());
  const mode_t mode = static_cast<mode_t>(proj.mode & 07777);
  Fd f(::openat(at, parts.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f.valid()) return errnoError(errno, "creating " + rel);
  RETURN_IF_ERROR(annotate(writeAll(f.get(), proj.data), "writing " + rel));
  // chown before chmod: a chown clears set-id bits, even for root.
  if (proj.fsUser && ::fchown(f.get(), static_cast<uid_t>(*proj.fsUser), static_cast<gid_t>(-1)) != 0) {
    return errnoError(errno, "chown " + rel + " to uid " + std::to_string(*proj.fsUser));
  }
  if (::fchmod(f.get(), mode) != 0) return errnoError(errno, "chmod " + rel);
  if (::close(f.release()) != 0) return errnoError(errno, "closing " + rel);
  return absl::OkStatus();
}

// Step 10: `top -> ..data/top` for every top-level payload name that has no entry yet. An
// existing entry is left alone, as upstream does.
absl::Status ensureVisibleLinks(int dirfd, const std::set<std::string>& tops) {
  for (const std::string& top : tops) {
    struct stat st {};
    if (::fstatat(dirfd, top.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
    if (errno != ENOENT) return errnoError(errno, "stat " + top);
    std::string target = std::string(kDataDirName) + "/" + top;
    if (::symlinkat(target.c_str(), dirfd, top.c_str()) != 0 && errno != EEXIST) {
      return errnoError(errno, "symlink " + top + " -> " + target);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status validatePayloadPath(std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("invalid path: must not be empty: \"\"");
  if (path.front() == '/') {
    return absl::InvalidArgumentError("invalid path: must be relative path: " + std::string(path));
  }
  if (path.size() > kMaxPathLength) {
    return absl::InvalidArgumentError("invalid path: must be less than or equal to " +
                                      std::to_string(kMaxPathLength) + " characters");
  }
  std::vector<std::string_view> items;
  size_t start = 0;
  for (;;) {
    size_t end = path.find('/', start);
    items.push_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  for (std::string_view item : items) {
    if (item == "..") {
      return absl::InvalidArgumentError("invalid path: must not contain '..': " + std::string(path));
    }
    if (item.size() > kMaxFileNameLength) {
      return absl::InvalidArgumentError("invalid path: filenames must be less than or equal to " +
                                        std::to_string(kMaxFileNameLength) + " characters");
    }
  }
  if (items.front().size() > 2 && items.front().substr(0, 2) == "..") {
    return absl::InvalidArgumentError("invalid path: must not start with '..': " + std::string(path));
  }
  // Not an upstream check: "." or "./" would name the volume dir itself.
  if (splitClean(path).empty()) {
    return absl::InvalidArgumentError("invalid path: must name a file: " + std::string(path));
  }
  return absl::OkStatus();
}

absl::Status removeAll(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p == "/") return absl::InvalidArgumentError("removeAll: refusing to remove \"" + path + "\"");
  size_t slash = p.rfind('/');
  std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError("removeAll: refusing to remove \"" + path + "\"");
  }
  Fd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    if (errno == ENOENT) return absl::OkStatus();
    return errnoError(errno, "removeAll " + path + ": opening " + parent);
  }
  return annotate(removeAllAt(dir.get(), name), "removeAll " + parent);
}

AtomicWriter::AtomicWriter(std::string targetDir, std::string logContext)
    : targetDir_(std::move(targetDir)), logContext_(std::move(logContext)) {}

absl::Status AtomicWriter::write(const Payload& payload,
                                 const std::function<absl::Status(const std::string& tsDirName)>& setPerms) {
  const std::string ctx = "atomic writer for " + logContext_ + " in " + targetDir_;

  // 1. Validate everything before touching the disk.
  std::map<std::string, std::pair<std::vector<std::string>, const FileProjection*>> files;
  for (const auto& [path, proj] : payload) {
    RETURN_IF_ERROR(annotate(validatePayloadPath(path), ctx));
    std::vector<std::string> parts = splitClean(path);
    std::string clean = join(parts, parts.size());
    if (!files.emplace(clean, std::make_pair(parts, &proj)).second) {
      return absl::InvalidArgumentError(ctx + ": invalid payload: two paths name " + clean);
    }
  }
  for (const auto& [clean, entry] : files) {
    const std::vector<std::string>& parts = entry.first;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string parent = join(parts, i);
      if (files.count(parent) != 0) {
        return absl::InvalidArgumentError(ctx + ": invalid payload: " + parent + " is both a file and the parent of " +
                                          clean);
      }
    }
  }

  Fd dir(::open(targetDir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return errnoError(errno, ctx + ": opening the target dir (a symlink is refused)");

  // 2. The current version, if any.
  std::string oldTs;
  {
    char buf[PATH_MAX];
    ssize_t n = ::readlinkat(dir.get(), std::string(kDataDirName).c_str(), buf, sizeof buf);
    if (n >= 0) {
      oldTs.assign(buf, static_cast<size_t>(n));
      if (!isPlausibleVersionName(oldTs)) {
        return absl::FailedPreconditionError(ctx + ": ..data points to an unexpected target \"" + oldTs + "\"");
      }
    } else if (errno != ENOENT) {
      return errnoError(errno, ctx + ": readlink ..data");
    }
  }

  // Crash leftovers and retired versions: a staging link from an interrupted swap, versions
  // ..data does not point to that this writer did not retire (never published, or from an
  // earlier writer or process), and versions this writer retired more than the grace ago.
  RETURN_IF_ERROR(annotate(removeAllAt(dir.get(), std::string(kDataTmpName)), ctx));
  {
    ASSIGN_OR_RETURN(std::vector<std::string> names, withContext(listDir(dir.get()), ctx + ": listing"));
    const auto now = std::chrono::steady_clock::now();
    std::map<std::string, std::chrono::steady_clock::time_point> keep;
    for (const std::string& n : names) {
      if (n == oldTs || !isTimestampDirName(n)) continue;
      auto it = retired_.find(n);
      if (it != retired_.end()) {
        // Retired by this writer: kept for readers still inside it until the grace passes.
        if (now - it->second < retireGrace_) {
          keep.insert(*it);
          continue;
        }
        VLOG(4) << ctx << ": removing retired version " << n;
      } else {
        LOG_INFO << ctx << ": removing leftover version " << n;
      }
      // Not fatal: an unremovable old version must not block new content. Tried again next time.
      absl::Status st = removeAllAt(dir.get(), n);
      if (!st.ok()) LOG_WARNING << ctx << ": removing version " << n << ": " << st.message();
    }
    retired_ = std::move(keep);
  }

  // 3. What the old version has that the new one does not.
  std::set<std::string> oldPaths;
  bool oldDirPresent = false;
  if (!oldTs.empty()) {
    Fd oldFd(::openat(dir.get(), oldTs.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (oldFd.valid()) {
      oldDirPresent = true;
      RETURN_IF_ERROR(annotate(walkTree(oldFd.get(), "", oldPaths), ctx + ": listing " + oldTs));
    } else if (errno != ENOENT) {
      return errnoError(errno, ctx + ": opening " + oldTs);
    }
  }
  std::set<std::string> removed = oldPaths;
  std::set<std::string> tops;
  for (const auto& [clean, entry] : files) {
    const std::vector<std::string>& parts = entry.first;
    tops.insert(parts.front());
    for (size_t i = 1; i <= parts.size(); ++i) removed.erase(join(parts, i));
  }

  // 4. Is there anything to write?
  bool needWrite = !oldDirPresent;
  if (!needWrite) {
    Fd oldFd(::openat(dir.get(), oldTs.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!oldFd.valid()) return errnoError(errno, ctx + ": opening " + oldTs);
    for (const auto& [clean, entry] : files) {
      ASSIGN_OR_RETURN(bool same,
                       withContext(sameFileBeneath(oldFd.get(), entry.first, entry.second->data), ctx + ": " + oldTs));
      if (!same) {
        needWrite = true;
        break;
      }
    }
  }
  if (!needWrite && removed.empty()) {
    VLOG(4) << ctx << ": no update needed";
    return annotate(ensureVisibleLinks(dir.get(), tops), ctx);
  }

  // 5.-6. The new version.
  ASSIGN_OR_RETURN(auto created, withContext(createTimestampDir(dir.get()), ctx));
  const std::string tsName = std::move(created.first);
  Fd tsFd = std::move(created.second);
  auto abandon = [&](const absl::Status& st) {
    absl::Status rm = removeAllAt(dir.get(), tsName);
    if (!rm.ok()) LOG_WARNING << ctx << ": removing unpublished version " << tsName << ": " << rm.message();
    return st;
  };
  for (const auto& [clean, entry] : files) {
    absl::Status st = writeProjection(tsFd.get(), entry.first, *entry.second);
    if (!st.ok()) return abandon(annotate(st, ctx + ": " + tsName));
  }
  tsFd.reset();

  // 7. The caller's ownership change.
  if (setPerms) {
    absl::Status st = setPerms(tsName);
    if (!st.ok()) return abandon(annotate(st, ctx + ": setPerms " + tsName));
  }

  // 8.-9. Publish.
  const std::string tmp(kDataTmpName);
  const std::string data(kDataDirName);
  if (::symlinkat(tsName.c_str(), dir.get(), tmp.c_str()) != 0) {
    return abandon(errnoError(errno, ctx + ": symlink " + tmp + " -> " + tsName));
  }
  if (::renameat(dir.get(), tmp.c_str(), dir.get(), data.c_str()) != 0) {
    absl::Status st = errnoError(errno, ctx + ": rename " + tmp + " -> " + data);
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return abandon(st);
  }
  VLOG(4) << ctx << ": published " << tsName;

  // 10. Visible names; 11. names that vanished; 12. the old version.
  absl::Status last = annotate(ensureVisibleLinks(dir.get(), tops), ctx);
  for (const std::string& p : removed) {
    if (p.find('/') != std::string::npos) continue;
    if (::unlinkat(dir.get(), p.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno == EISDIR && (::unlinkat(dir.get(), p.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT)) continue;
    last = errnoError(errno, ctx + ": removing " + p);
    LOG_WARNING << last.message();
  }
  // 12. The old version. Removing it right away (upstream) races with readers: one that has
  // already resolved ..data to the old dir then finds its file gone (ENOENT); the unit test
  // saw that ~20 times in 500 back-to-back updates. With a grace period it is only
  // recorded here and removed by a later write once the grace has passed.
  if (!last.ok()) return last;
  if (oldDirPresent) {
    if (retireGrace_.count() <= 0) {
      RETURN_IF_ERROR(annotate(removeAllAt(dir.get(), oldTs), ctx + ": removing old version"));
    } else {
      retired_[oldTs] = std::chrono::steady_clock::now();
    }
  }
  return absl::OkStatus();
}

}  // namespace cubelet::volume
