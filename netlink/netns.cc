#include "netlink/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "base/log.h"
#include "netlink/errors.h"

namespace cubelet::netlink {
namespace {

using internal::errnoStatus;

// Runs `body` on a fresh thread that exits afterwards; `body` returns the status to report.
// Exceptions cross back to the caller.
absl::Status runOnFreshThread(absl::FunctionRef<absl::Status()> body) {
  absl::Status st;
  std::exception_ptr thrown;
  try {
    std::jthread t([&] {
      try {
        st = body();
      } catch (...) {
        thrown = std::current_exception();
      }
    });
  } catch (const std::system_error& e) {  // the thread could not be started
    return absl::ResourceExhaustedError(std::string("starting a thread: ") + e.what());
  }
  if (thrown) std::rethrow_exception(thrown);
  return st;
}

absl::Status validNetnsName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("invalid network namespace name \"" + std::string(name) + "\"");
  }
  return absl::OkStatus();
}

// `ip netns add` makes the directory a shared mount (binding it onto itself first when it
// is not a mount point), so mounts made in it later reach every mount namespace that has a
// copy of it. Doing the same keeps our namespaces visible wherever ip's are. Unlike ip, not
// recursively: that would also touch the namespaces other programs keep there, and new
// mounts propagate from a shared parent without it.
absl::Status prepareNetnsDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errnoStatus(errno, "creating " + dir);
  if (mount("", dir.c_str(), "none", MS_SHARED, nullptr) == 0) return absl::OkStatus();
  if (errno != EINVAL) return errnoStatus(errno, "making " + dir + " a shared mount");
  if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
    return errnoStatus(errno, "bind-mounting " + dir + " onto itself");
  }
  if (mount("", dir.c_str(), "none", MS_SHARED, nullptr) != 0) {
    return errnoStatus(errno, "making " + dir + " a shared mount");
  }
  return absl::OkStatus();
}

absl::Status removePath(const std::string& path) {
  // Not mounted (EINVAL) or already gone (ENOENT) is what we want.
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return errnoStatus(errno, "unmounting network namespace " + path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return errnoStatus(errno, "removing " + path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Netns> Netns::open(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errnoStatus(errno, "opening network namespace " + path);
  // NS_GET_NSTYPE answers only on nsfs files, with the namespace's CLONE_* type.
  int type = ioctl(fd.get(), NS_GET_NSTYPE);
  if (type < 0 && (errno == ENOTTY || errno == EINVAL)) {
    return absl::InvalidArgumentError(path + " is not a network namespace (not an nsfs file)");
  }
  if (type < 0) return errnoStatus(errno, "reading the namespace type of " + path);
  if (type != CLONE_NEWNET) return absl::InvalidArgumentError(path + " is a namespace, but not a network namespace");
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errnoStatus(errno, "stat " + path);
  return Netns(std::move(fd), path, st.st_ino);
}

absl::StatusOr<Netns> Netns::current() { return open("/proc/thread-self/ns/net"); }

absl::StatusOr<NamedNetns> NamedNetns::create(std::string_view name, std::string_view dir) {
  if (absl::Status st = validNetnsName(name); !st.ok()) return st;
  std::string d(dir);
  if (absl::Status st = prepareNetnsDir(d); !st.ok()) return st;
  std::string path = d + "/" + std::string(name);
  // The mount point: an empty file, created exclusively so two creators cannot share it.
  Fd mountPoint(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!mountPoint.valid()) return errnoStatus(errno, "creating network namespace " + path);
  mountPoint.reset();
  NamedNetns out{std::string(name), path};  // from here on, failure removes the file
  absl::Status st = runOnFreshThread([&]() -> absl::Status {
    // A new namespace for this thread alone, pinned by a bind mount of its nsfs file; the
    // thread then exits and nothing else ever ran in the namespace.
    if (unshare(CLONE_NEWNET) != 0) return errnoStatus(errno, "unshare(CLONE_NEWNET)");
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      return errnoStatus(errno, "bind-mounting a new network namespace at " + path);
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::Status NamedNetns::remove(std::string_view name, std::string_view dir) {
  if (absl::Status st = validNetnsName(name); !st.ok()) return st;
  return removePath(std::string(dir) + "/" + std::string(name));
}

NamedNetns& NamedNetns::operator=(NamedNetns&& o) noexcept {
  if (this != &o) {
    if (absl::Status st = remove(); !st.ok()) LOG_WARNING << st.message();
    name_ = std::move(o.name_);
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

NamedNetns::~NamedNetns() {
  if (absl::Status st = remove(); !st.ok()) LOG_WARNING << st.message();
}

absl::Status NamedNetns::remove() {
  if (path_.empty()) return absl::OkStatus();
  absl::Status st = removePath(path_);
  if (st.ok()) path_.clear();
  return st;
}

namespace detail {

absl::Status runOnNetnsThread(int nsFd, std::string_view label, absl::FunctionRef<void()> body) {
  return runOnFreshThread([&]() -> absl::Status {
    if (setns(nsFd, CLONE_NEWNET) != 0) {
      return errnoStatus(errno, "entering network namespace " + std::string(label));
    }
    body();
    return absl::OkStatus();
  });
}

}  // namespace detail
}  // namespace cubelet::netlink
