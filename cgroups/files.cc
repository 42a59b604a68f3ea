#include "cgroups/files.h"

#include "base/fd.h"
#include "base/status_macros.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <memory>

namespace cubelet::cgroups::internal {
namespace {

// glibc has two strerror_r signatures (XSI returns int, GNU returns char*); these overloads
// pick whichever the headers declare.
[[maybe_unused]] const char* strerrorResult(int rc, const char* buf) { return rc == 0 ? buf : nullptr; }
[[maybe_unused]] const char* strerrorResult(const char* msg, const char*) { return msg; }

absl::StatusCode codeForErrno(int err) {
  switch (err) {
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
    case ERANGE:
      return absl::StatusCode::kInvalidArgument;
    case EBUSY:
    case ENOTEMPTY:
    case EEXIST:
    case EISDIR:
    case ENOTDIR:
      return absl::StatusCode::kFailedPrecondition;
    case ENOSPC:
    case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

// Calls fn(name, fullPath, st_mode file type) for every entry of `path` but . and ..;
// the type comes from d_type, or lstat when the filesystem does not fill it in.
absl::Status forEachEntry(const std::string& path,
                          const std::function<void(std::string name, std::string full, mode_t type)>& fn) {
  DirPtr dir(::opendir(path.c_str()));
  if (!dir) return errnoStatus(errno, "cannot list ", path);
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(dir.get());
    if (e == nullptr) {
      if (errno != 0) return errnoStatus(errno, "cannot list ", path);
      return absl::OkStatus();
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string full = joinPath(path, name);
    mode_t type = e->d_type == DT_DIR ? S_IFDIR : e->d_type == DT_REG ? S_IFREG : 0;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::lstat(full.c_str(), &st) != 0) return errnoStatus(errno, "cannot stat ", full);
      type = st.st_mode & S_IFMT;
    }
    fn(std::move(name), std::move(full), type);
  }
}

absl::StatusOr<std::string> readImpl(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errnoStatus(errno, "cannot read ", path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "cannot read ", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (::close(fd.release()) != 0) return errnoStatus(errno, "cannot close ", path);
  return out;
}

}  // namespace

std::string errnoText(int err) {
  char buf[256] = {0};
  const char* msg = strerrorResult(::strerror_r(err, buf, sizeof buf), buf);
  if (msg == nullptr || *msg == '\0') return "errno " + std::to_string(err);
  return msg;
}

absl::Status errnoStatus(int err, std::string_view message, std::string_view more) {
  return absl::Status(codeForErrno(err), std::string(message) + std::string(more) + ": " + errnoText(err));
}

std::string joinPath(std::string_view dir, std::string_view rel) {
  std::string out(dir);
  if (rel.empty()) return out;
  if (out.empty() || out.back() != '/') out += '/';
  out += rel;
  return out;
}

absl::Status Files::write(const std::string& path, std::string_view value) const {
  const std::string what = "cannot write " + std::string(value) + " to " + path;
  int flags = O_WRONLY | O_CLOEXEC;
  if (plain_) flags |= O_CREAT | O_TRUNC;
  Fd fd(::open(path.c_str(), flags, 0644));
  if (fd.get() < 0) return errnoStatus(errno, what);
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errnoStatus(errno, what);
  if (static_cast<size_t>(n) != value.size()) {
    return absl::InternalError(what + ": short write of " + std::to_string(n) + " bytes");
  }
  if (::close(fd.release()) != 0) return errnoStatus(errno, what, ": close");
  return absl::OkStatus();
}

absl::StatusOr<std::string> Files::read(const std::string& path) const { return readImpl(path); }

absl::StatusOr<std::string> Files::readKernelFile(const std::string& path) const {
  auto text = readImpl(path);
  if (plain_ && absl::IsNotFound(text.status())) return std::string();
  return text;
}

absl::StatusOr<bool> Files::isDirectory(const std::string& path) const {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return errnoStatus(errno, "cannot stat ", path);
  }
  return S_ISDIR(st.st_mode);
}

absl::StatusOr<bool> Files::makeDirectory(const std::string& path) const {
  if (::mkdir(path.c_str(), 0755) == 0) return true;
  int err = errno;
  if (err == EEXIST) {
    auto dir = isDirectory(path);
    if (!dir.ok()) return dir.status();
    if (*dir) return false;
    return absl::FailedPreconditionError("cannot create directory " + path + ": a non-directory is in the way");
  }
  return errnoStatus(err, "cannot create directory ", path);
}

absl::Status Files::removeDirectory(const std::string& path) const {
  if (plain_) {
    std::vector<std::string> files;
    RETURN_IF_ERROR(forEachEntry(path, [&](std::string, std::string full, mode_t type) {
      if (type == S_IFREG) files.push_back(std::move(full));
    }));
    for (const auto& f : files) {
      if (::unlink(f.c_str()) != 0) return errnoStatus(errno, "cannot remove ", f);
    }
  }
  if (::rmdir(path.c_str()) != 0) return errnoStatus(errno, "cannot remove directory ", path);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Files::subdirectories(const std::string& path) const {
  std::vector<std::string> out;
  RETURN_IF_ERROR(forEachEntry(path, [&](std::string name, std::string, mode_t type) {
    if (type == S_IFDIR) out.push_back(std::move(name));
  }));
  std::sort(out.begin(), out.end());
  return out;
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\n\r";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

absl::StatusOr<uint64_t> parseUint(std::string_view text, std::string_view what) {
  std::string_view t = trim(text);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    return absl::InvalidArgumentError("cannot parse " + std::string(what) + ": \"" + std::string(t) +
                                      "\" is not an unsigned integer");
  }
  return v;
}

absl::StatusOr<std::map<std::string, uint64_t>> parseFlatKeyed(std::string_view text, std::string_view what) {
  std::map<std::string, uint64_t> out;
  size_t lineNo = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineNo;
    if (line.empty()) continue;
    size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) {
      return absl::InvalidArgumentError("cannot parse " + std::string(what) + " line " + std::to_string(lineNo) +
                                        ": \"" + std::string(line) + "\" is not \"key value\"");
    }
    std::string key(line.substr(0, sp));
    auto value = parseUint(line.substr(sp + 1), std::string(what) + " key " + key);
    if (!value.ok()) return value.status();
    out[key] = *value;
  }
  return out;
}

absl::StatusOr<std::vector<pid_t>> parsePids(std::string_view text, std::string_view what) {
  std::vector<pid_t> out;
  for (const auto& word : splitWords(text)) {
    auto v = parseUint(word, what);
    if (!v.ok()) return v.status();
    out.push_back(static_cast<pid_t>(*v));
  }
  return out;
}

std::vector<std::string> splitWords(std::string_view text) {
  auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && isSpace(text[i])) ++i;
    size_t b = i;
    while (i < text.size() && !isSpace(text[i])) ++i;
    if (i > b) out.emplace_back(text.substr(b, i - b));
  }
  return out;
}

absl::StatusOr<std::string> normalizeCgroupPath(std::string_view path, bool allowRoot) {
  std::string_view p = path;
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  if (p.empty()) {
    if (allowRoot) return std::string();
    return absl::InvalidArgumentError("cgroup path \"" + std::string(path) + "\" names the root; a child is needed");
  }
  std::string_view rest = p;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError("invalid cgroup path \"" + std::string(path) +
                                        "\": empty, \".\" and \"..\" components are not allowed");
    }
    if (part.find('\0') != std::string_view::npos) {
      return absl::InvalidArgumentError("invalid cgroup path: it contains a NUL byte");
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return std::string(p);
}

}  // namespace cubelet::cgroups::internal
