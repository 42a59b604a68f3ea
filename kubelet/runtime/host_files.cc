#include "kubelet/runtime/host_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "base/fd.h"

namespace cubelet::runtime {
namespace {

// Go's syscall.Errno texts are strerror's with a lowercase first letter.
std::string errnoText(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

absl::Status errnoStatus(int err, std::string_view op, std::string_view path) {
  std::string msg = std::string(op) + " " + std::string(path) + ": " + errnoText(err);
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::string> readAll(int fd, std::string_view path) {
  std::string out;
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "read", path);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

absl::Status writeAll(int fd, std::string_view content, std::string_view path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "write", path);
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> readHostFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errnoStatus(errno, "open", path);
  return readAll(fd.get(), path);
}

absl::Status replaceFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
  if (Fd current(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)); current.valid()) {
    struct stat st {};
    auto existing = readAll(current.get(), path);
    if (existing.ok() && *existing == content && ::fstat(current.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      if ((st.st_mode & 07777) != mode && ::fchmod(current.get(), mode) != 0) {
        return errnoStatus(errno, "chmod", path);
      }
      return absl::OkStatus();
    }
  }
  // mkstemp names the file in the same directory, so the rename stays within one file system.
  std::string tmp = path + ".tmp-XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return errnoStatus(errno, "create", tmp);
  absl::Status st = writeAll(fd.get(), content, tmp);
  // mkstemp makes the file 0600; the mode is set explicitly so the umask cannot narrow it.
  if (st.ok() && ::fchmod(fd.get(), mode) != 0) st = errnoStatus(errno, "chmod", tmp);
  // No fsync: the file is compared, and written again if need be, before each container
  // that mounts it is created, so a copy a crash damaged is replaced before anything reads it.
  if (st.ok() && ::close(fd.release()) != 0) st = errnoStatus(errno, "close", tmp);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = errnoStatus(errno, "rename", tmp + " to " + path);
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace cubelet::runtime
