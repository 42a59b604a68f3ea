#include "kubelet/node/machine_info.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace cubelet::node {
namespace {

// Owns a file descriptor for the duration of a read.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status errnoStatus(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Whole-file read; sysfs and procfs files report a size of 4096 or 0, so read to EOF.
absl::StatusOr<std::string> readFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errnoStatus(errno, "reading " + path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "reading " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Go's strings.TrimSpace, for the ASCII whitespace these files can hold.
std::string_view trimSpace(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Non-negative decimal integer made of digits only.
std::optional<int64_t> parseNonNegative(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (!isDigit(c)) return std::nullopt;
    int d = c - '0';
    if (v > (std::numeric_limits<int64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// Joins a root prefix and an absolute path: ("", "/proc/x") -> "/proc/x",
// ("/tmp/r/", "/proc/x") -> "/tmp/r/proc/x".
std::string underRoot(std::string_view rootPrefix, std::string_view path) {
  while (!rootPrefix.empty() && rootPrefix.back() == '/') rootPrefix.remove_suffix(1);
  return std::string(rootPrefix) + std::string(path);
}

// The trimmed contents of the first readable file in `paths`, or "".
std::string firstReadable(std::string_view rootPrefix,
                          std::initializer_list<std::string_view> paths) {
  for (std::string_view p : paths) {
    absl::StatusOr<std::string> text = readFile(underRoot(rootPrefix, p));
    if (text.ok()) return std::string(trimSpace(*text));
  }
  return "";
}

// cAdvisor's system UUID sources, in its order: DMI, then the PowerPC device tree
// (NUL-terminated strings), then /etc/machine-id (its s390x source, consulted on every
// architecture).
std::string readSystemUuid(std::string_view rootPrefix) {
  if (auto dmi = readFile(underRoot(rootPrefix, "/sys/class/dmi/id/product_uuid")); dmi.ok()) {
    return std::string(trimSpace(*dmi));
  }
  for (std::string_view p : {"/proc/device-tree/system-id", "/proc/device-tree/vm,uuid"}) {
    if (auto id = readFile(underRoot(rootPrefix, p)); id.ok()) {
      std::string_view v = *id;
      while (!v.empty() && v.back() == '\0') v.remove_suffix(1);
      return std::string(trimSpace(v));
    }
  }
  return firstReadable(rootPrefix, {"/etc/machine-id"});
}

std::string readOsImage(std::string_view rootPrefix) {
  absl::StatusOr<std::string> text = readFile(underRoot(rootPrefix, "/etc/os-release"));
  // Stateless systems ship only /usr/lib/os-release; any other error is final.
  if (absl::IsNotFound(text.status())) {
    text = readFile(underRoot(rootPrefix, "/usr/lib/os-release"));
  }
  if (!text.ok()) return "Unknown";
  return parseOsImage(*text);
}

absl::StatusOr<int> readCpuCount(std::string_view rootPrefix) {
  const std::string path = underRoot(rootPrefix, "/sys/devices/system/cpu/online");
  absl::StatusOr<std::string> text = readFile(path);
  if (absl::IsNotFound(text.status())) {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return errnoStatus(errno, "sysconf(_SC_NPROCESSORS_ONLN)");
    return static_cast<int>(n);
  }
  if (!text.ok()) return text.status();
  absl::StatusOr<int> count = parseCpuListCount(*text);
  if (!count.ok()) return annotate(count.status(), path);
  return count;
}

std::map<int64_t, int64_t> readHugepages(std::string_view rootPrefix) {
  std::map<int64_t, int64_t> out;
  const std::string dir = underRoot(rootPrefix, "/sys/kernel/mm/hugepages");
  std::error_code ec;
  // A missing directory means no huge page support: nothing to report.
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::optional<int64_t> pageSize = parseHugepageDirName(name);
    if (!pageSize) continue;
    int64_t total = 0;
    if (auto nr = readFile(dir + "/" + name + "/nr_hugepages"); nr.ok()) {
      // nr_hugepages holds a decimal count and a newline.
      std::string_view v = trimSpace(*nr);
      size_t digits = 0;
      while (digits < v.size() && isDigit(v[digits])) ++digits;
      std::optional<int64_t> pages = parseNonNegative(v.substr(0, digits));
      if (pages && __builtin_mul_overflow(*pages, *pageSize, &total)) {
        total = std::numeric_limits<int64_t>::max();
      }
    }
    out[*pageSize] = total;
  }
  return out;
}

}  // namespace

absl::StatusOr<int64_t> parseMemTotalKiB(std::string_view meminfo) {
  // The first "MemTotal:" followed by optional whitespace, digits and " kB".
  constexpr std::string_view kKey = "MemTotal:";
  for (size_t at = meminfo.find(kKey); at != std::string_view::npos;
       at = meminfo.find(kKey, at + 1)) {
    size_t pos = at + kKey.size();
    while (pos < meminfo.size() && isSpace(meminfo[pos]) && meminfo[pos] != '\v') ++pos;
    size_t start = pos;
    while (pos < meminfo.size() && isDigit(meminfo[pos])) ++pos;
    if (pos == start || meminfo.substr(pos, 3) != " kB") continue;
    std::optional<int64_t> kib = parseNonNegative(meminfo.substr(start, pos - start));
    if (!kib) {
      return absl::OutOfRangeError("meminfo: MemTotal value \"" +
                                   std::string(meminfo.substr(start, pos - start)) +
                                   "\" is out of range");
    }
    return *kib;
  }
  return absl::InvalidArgumentError("meminfo: no \"MemTotal: <n> kB\" line");
}

absl::StatusOr<int> parseCpuListCount(std::string_view list) {
  const std::string_view trimmed = trimSpace(list);
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError("cpu list \"" + std::string(trimmed) + "\": " +
                                      std::string(why));
  };
  if (trimmed.empty()) return bad("empty");
  int64_t count = 0;
  std::string_view rest = trimmed;
  for (;;) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    size_t dash = item.find('-');
    std::optional<int64_t> first = parseNonNegative(item.substr(0, dash));
    std::optional<int64_t> last =
        dash == std::string_view::npos ? first : parseNonNegative(item.substr(dash + 1));
    if (!first || !last) return bad("bad element \"" + std::string(item) + "\"");
    if (*last < *first) return bad("descending range \"" + std::string(item) + "\"");
    count += *last - *first + 1;
    if (count > std::numeric_limits<int>::max()) return bad("too many CPUs");
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return static_cast<int>(count);
}

std::string parseOsImage(std::string_view osRelease) {
  constexpr std::string_view kKey = "PRETTY_NAME=";
  size_t at = osRelease.find(kKey);
  if (at == std::string_view::npos) return "Linux";
  std::string_view value = osRelease.substr(at + kKey.size());
  value = value.substr(0, value.find('\n'));
  while (!value.empty() && value.front() == '"') value.remove_prefix(1);
  while (!value.empty() && value.back() == '"') value.remove_suffix(1);
  return std::string(value);
}

std::optional<int64_t> parseHugepageDirName(std::string_view name) {
  constexpr std::string_view kPrefix = "hugepages-";
  constexpr std::string_view kSuffix = "kB";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  std::optional<int64_t> kib = parseNonNegative(
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size()));
  if (!kib || *kib == 0 || *kib > std::numeric_limits<int64_t>::max() / 1024) return std::nullopt;
  return *kib * 1024;
}

std::string goArchFromMachine(std::string_view machine) {
  if (machine == "x86_64" || machine == "amd64") return "amd64";
  if (machine == "aarch64" || machine == "arm64") return "arm64";
  if (machine == "i386" || machine == "i486" || machine == "i586" || machine == "i686") {
    return "386";
  }
  if (machine.substr(0, 3) == "arm") return "arm";  // armv6l, armv7l, armv8l (32-bit), arm
  if (machine == "loongarch64") return "loong64";
  // ppc64le, ppc64, s390x, riscv64, mips64 ... are spelled the same in Go.
  return std::string(machine);
}

absl::StatusOr<MachineInfo> readMachineInfo(std::string_view rootPrefix) {
  MachineInfo info;

  ASSIGN_OR_RETURN(info.numCPUs, readCpuCount(rootPrefix));

  const std::string meminfoPath = underRoot(rootPrefix, "/proc/meminfo");
  ASSIGN_OR_RETURN(std::string meminfo, readFile(meminfoPath));
  absl::StatusOr<int64_t> kib = parseMemTotalKiB(meminfo);
  if (!kib.ok()) return annotate(kib.status(), meminfoPath);
  if (__builtin_mul_overflow(*kib, int64_t{1024}, &info.memoryCapacityBytes)) {
    return absl::OutOfRangeError(meminfoPath + ": MemTotal overflows int64 bytes");
  }

  info.hugepages = readHugepages(rootPrefix);
  // cAdvisor's default machine-id sources, first readable wins.
  info.machineID = firstReadable(rootPrefix, {"/etc/machine-id", "/var/lib/dbus/machine-id"});
  info.systemUUID = readSystemUuid(rootPrefix);
  info.bootID = firstReadable(rootPrefix, {"/proc/sys/kernel/random/boot_id"});
  info.kernelVersion = firstReadable(rootPrefix, {"/proc/sys/kernel/osrelease"});
  if (info.kernelVersion.empty()) info.kernelVersion = "Unknown";
  info.osImage = readOsImage(rootPrefix);
  return info;
}

absl::StatusOr<int64_t> filesystemCapacityBytes(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return errnoStatus(errno, "statvfs " + path);
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(st.f_blocks), static_cast<uint64_t>(st.f_frsize),
                             &bytes) ||
      bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::OutOfRangeError("statvfs " + path + ": capacity overflows int64 bytes");
  }
  return static_cast<int64_t>(bytes);
}

std::string architecture() {
  struct utsname u;
  if (::uname(&u) != 0) return "unknown";
  return goArchFromMachine(u.machine);
}

}  // namespace cubelet::node
