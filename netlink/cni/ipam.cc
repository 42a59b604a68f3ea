// Host-local IPAM store: see ipam.h for the layout and the crash-safety argument.
#include "netlink/cni/ipam.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <utility>

#include "base/fd.h"
#include "base/status_macros.h"

namespace cubelet::cni {
namespace {

using netlink::IpPrefix;
// Addresses as numbers: IPv4 in the low 32 bits, IPv6 in all 128.
using U128 = unsigned __int128;

constexpr std::string_view kLockName = "lock";
constexpr std::string_view kCursorPrefix = "last_reserved.";
constexpr std::string_view kTempPrefix = ".tmp-";
constexpr int64_t kTempMaxAgeSeconds = 60;
// Candidates tried beyond the addresses on record before a range counts as full (ipam.h).
constexpr U128 kExtraCandidates = 4096;
// Ours are ~150 bytes; anything much larger was not written by this store.
constexpr size_t kMaxRecordBytes = 4096;

absl::StatusCode codeForErrno(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EIO:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

U128 toNumber(const IpPrefix& p) {
  U128 v = 0;
  for (int i = 0; i < p.addrLen(); ++i) v = (v << 8) | p.addr[i];
  return v;
}

IpPrefix fromNumber(int family, U128 v, int prefixLen) {
  IpPrefix p;
  p.family = family;
  p.prefixLen = prefixLen;
  for (int i = p.addrLen() - 1; i >= 0; --i) {
    p.addr[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return p;
}

int hostBitsOf(int family) { return family == AF_INET6 ? 128 : 32; }

std::string familyDigit(int family) { return family == AF_INET6 ? "6" : "4"; }

// ---------------------------------------------------------------------------------------------
// Records.

struct Record {
  IpamOwner owner;
  int64_t created = 0;
};

std::string formatRecord(const IpamOwner& o, int64_t created) {
  return "id=" + o.containerId + "\nifname=" + o.ifname + "\nnetns=" + o.netns + "\npod_uid=" + o.podUid +
         "\ncreated=" + std::to_string(created) + "\n";
}

// nullopt when `text` is not a record: a line without "key=", a bad created, no id.
std::optional<Record> parseRecord(std::string_view text) {
  Record r;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string_view key = line.substr(0, eq);
    std::string_view value = line.substr(eq + 1);
    if (key == "id") {
      r.owner.containerId = value;
    } else if (key == "ifname") {
      r.owner.ifname = value;
    } else if (key == "netns") {
      r.owner.netns = value;
    } else if (key == "pod_uid") {
      r.owner.podUid = value;
    } else if (key == "created") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), r.created);
      if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    }
  }
  if (r.owner.containerId.empty()) return std::nullopt;
  return r;
}

// The one ownership rule for reuse, find and release: same id, and the same ifname when the
// record has one.
bool owns(const IpamOwner& o, std::string_view containerId, std::string_view ifname) {
  return o.containerId == containerId && (o.ifname.empty() || o.ifname == ifname);
}

absl::Status checkField(std::string_view what, std::string_view value) {
  if (value.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos) {
    return absl::InvalidArgumentError("IPAM owner: " + std::string(what) + " contains a newline or NUL");
  }
  return absl::OkStatus();
}

absl::Status checkOwner(const IpamOwner& o) {
  if (o.containerId.empty()) return absl::InvalidArgumentError("IPAM owner: the container id is empty");
  if (o.ifname.empty()) return absl::InvalidArgumentError("IPAM owner: the interface name is empty");
  RETURN_IF_ERROR(checkField("the container id", o.containerId));
  RETURN_IF_ERROR(checkField("the interface name", o.ifname));
  RETURN_IF_ERROR(checkField("the netns path", o.netns));
  return checkField("the pod UID", o.podUid);
}

// ---------------------------------------------------------------------------------------------
// Ranges.

// An IpamRange checked and turned into numbers.
struct Span {
  int family = 0;
  int prefixLen = 0;
  U128 network = 0;
  U128 lastOfSubnet = 0;  // the IPv4 broadcast
  U128 first = 0;
  U128 last = 0;
  U128 gateway = 0;
  std::string label;  // "10.244.0.0/24", "10.244.0.0/24 (10.244.0.10-10.244.0.20)"

  bool contains(int fam, U128 v) const { return fam == family && v >= first && v <= last; }
  bool skipped(U128 v) const {
    return v == network || v == gateway || (family == AF_INET && v == lastOfSubnet);
  }
  IpPrefix address(U128 v) const { return fromNumber(family, v, prefixLen); }
  IpPrefix host(U128 v) const { return fromNumber(family, v, hostBitsOf(family)); }
};

absl::StatusOr<Span> makeSpan(const IpamRange& r) {
  Span s;
  s.family = r.subnet.family;
  s.prefixLen = r.subnet.prefixLen;
  if (s.family != AF_INET && s.family != AF_INET6) {
    return absl::InvalidArgumentError("IPAM range: the subnet is neither IPv4 nor IPv6");
  }
  const int bits = hostBitsOf(s.family);
  if (s.prefixLen < 0 || s.prefixLen > bits) {
    return absl::InvalidArgumentError("IPAM range: bad prefix length " + std::to_string(s.prefixLen));
  }
  const int hostBits = bits - s.prefixLen;
  const U128 hostMask = hostBits == 0 ? 0 : hostBits == 128 ? ~U128(0) : (U128(1) << hostBits) - 1;
  s.network = toNumber(r.subnet) & ~hostMask;
  s.lastOfSubnet = s.network | hostMask;
  s.label = s.address(s.network).str();
  auto bad = [&](const std::string& why) { return absl::InvalidArgumentError("IPAM range " + s.label + ": " + why); };
  if (hostBits < (s.family == AF_INET ? 2 : 1)) return bad("the prefix leaves no host addresses");

  // An address of the subnet, or an error naming `what`.
  auto inside = [&](const IpPrefix& p, std::string_view what) -> absl::StatusOr<U128> {
    if (p.family != s.family) return bad(std::string(what) + " " + p.ip() + " is not of the subnet's family");
    U128 v = toNumber(p);
    if ((v & ~hostMask) != s.network) return bad(std::string(what) + " " + p.ip() + " is outside the subnet");
    return v;
  };
  s.gateway = s.network + 1;
  if (r.gateway) {
    ASSIGN_OR_RETURN(s.gateway, inside(*r.gateway, "gateway"));
  }
  s.first = s.network + 1;
  s.last = s.family == AF_INET ? s.lastOfSubnet - 1 : s.lastOfSubnet;
  if (r.rangeStart) {
    ASSIGN_OR_RETURN(s.first, inside(*r.rangeStart, "rangeStart"));
  }
  if (r.rangeEnd) {
    ASSIGN_OR_RETURN(s.last, inside(*r.rangeEnd, "rangeEnd"));
  }
  if (s.first > s.last) return bad("rangeStart " + s.host(s.first).ip() + " is after rangeEnd " + s.host(s.last).ip());
  if (r.rangeStart || r.rangeEnd) s.label += " (" + s.host(s.first).ip() + "-" + s.host(s.last).ip() + ")";
  // The network address and the IPv4 broadcast are never handed out; leaving them out of
  // first..last also keeps last - first + 1 from overflowing for a whole ::/0.
  if (s.first == s.network) ++s.first;
  if (s.family == AF_INET && s.last == s.lastOfSubnet) --s.last;
  if (s.first > s.last) return bad("the range holds no usable address");
  return s;
}

// ---------------------------------------------------------------------------------------------
// A locked store: the dir fd and the flock held for one public operation.

// A file named like an address.
struct Entry {
  std::string name;
  int family = 0;
  U128 value = 0;
  unsigned char type = DT_UNKNOWN;
};

struct Listing {
  std::vector<Entry> records;
  std::vector<std::string> temps;
};

// Addresses known to be taken, for the candidate walk.
class Taken {
 public:
  explicit Taken(const std::vector<Entry>& records) {
    for (const Entry& e : records) all_.emplace_back(e.family, e.value);
    std::sort(all_.begin(), all_.end());
  }
  bool has(int family, U128 v) const { return std::binary_search(all_.begin(), all_.end(), std::pair(family, v)); }
  void add(int family, U128 v) {
    auto key = std::pair(family, v);
    all_.insert(std::lower_bound(all_.begin(), all_.end(), key), key);
  }
  void remove(int family, U128 v) {
    auto key = std::pair(family, v);
    auto it = std::lower_bound(all_.begin(), all_.end(), key);
    if (it != all_.end() && *it == key) all_.erase(it);
  }
  size_t size() const { return all_.size(); }

 private:
  std::vector<std::pair<int, U128>> all_;
};

class Session {
 public:
  // Opens `dir` and takes the lock (waiting for it).
  static absl::StatusOr<Session> lock(const std::string& dir) {
    Session s(dir);
    s.dirFd_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!s.dirFd_.valid()) {
      int err = errno;
      return s.error(err, "open");
    }
    std::string lockName(kLockName);
    s.lockFd_.reset(::openat(s.dirFd_.get(), lockName.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!s.lockFd_.valid()) {
      int err = errno;
      return s.error(err, "open " + lockName);
    }
    while (::flock(s.lockFd_.get(), LOCK_EX) != 0) {
      int err = errno;
      if (err != EINTR) return s.error(err, "flock " + lockName);
    }
    return s;
  }

  // "IPAM store <dir>: <what>: <errno text>". Callers save errno before building `what`.
  absl::Status error(int err, const std::string& what) const {
    return absl::Status(codeForErrno(err), "IPAM store " + dir_ + ": " + what + ": " + std::strerror(err));
  }


  // The names in the dir that matter: addresses and temp files.
  absl::StatusOr<Listing> scan() const {
    int fd = ::openat(dirFd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      return error(err, "open");
    }
    DIR* d = ::fdopendir(fd);
    if (!d) {
      int err = errno;
      ::close(fd);
      return error(err, "opendir");
    }
    Listing out;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
      std::string_view name = de->d_name;
      if (name.starts_with(kTempPrefix)) {
        out.temps.emplace_back(name);
      } else if (!name.empty() && name[0] != '.' && name != kLockName && !name.starts_with(kCursorPrefix)) {
        auto ip = netlink::parseIp(name);
        if (ip.ok()) out.records.push_back(Entry{std::string(name), ip->family, toNumber(*ip), de->d_type});
      }
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return error(err, "readdir");
    return out;
  }

  // The record in `e`: nullopt when it is not one (taken all the same); NotFound when the
  // file is gone (removed by hand).
  absl::StatusOr<std::optional<Record>> read(const Entry& e) const {
    if (e.type != DT_REG && e.type != DT_UNKNOWN) return std::optional<Record>();
    // O_NONBLOCK: a FIFO made by hand must not hang the plugin.
    Fd fd(::openat(dirFd_.get(), e.name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) {
      int err = errno;
      if (err == ELOOP || err == ENXIO || err == EISDIR) return std::optional<Record>();
      return error(err, "open " + e.name);
    }
    char buf[kMaxRecordBytes + 1];
    size_t len = 0;
    while (len < sizeof buf) {
      ssize_t n = ::read(fd.get(), buf + len, sizeof buf - len);
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EISDIR || err == EAGAIN) return std::optional<Record>();
        return error(err, "read " + e.name);
      }
      if (n == 0) break;
      len += static_cast<size_t>(n);
    }
    if (len > kMaxRecordBytes) return std::optional<Record>();
    return parseRecord(std::string_view(buf, len));
  }

  // A new temp file holding `content`, synced; returns its name.
  absl::StatusOr<std::string> writeTemp(std::string_view content, bool sync) const {
    for (int attempt = 0;; ++attempt) {
      std::string name = tempName();
      Fd fd(::openat(dirFd_.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!fd.valid()) {
        int err = errno;
        if (err == EEXIST && attempt < 8) continue;
        return error(err, "create " + name);
      }
      absl::Status st = writeAll(fd.get(), content, name);
      if (st.ok() && sync && ::fsync(fd.get()) != 0) {
        int err = errno;
        st = error(err, "fsync " + name);
      }
      if (st.ok() && ::close(fd.release()) != 0) {
        int err = errno;
        st = error(err, "close " + name);
      }
      if (!st.ok()) {
        ::unlinkat(dirFd_.get(), name.c_str(), 0);
        return st;
      }
      return name;
    }
  }

  // Publishes `temp` as `name`: false when `name` exists.
  absl::StatusOr<bool> link(const std::string& temp, const std::string& name) const {
    if (::linkat(dirFd_.get(), temp.c_str(), dirFd_.get(), name.c_str(), 0) == 0) return true;
    int err = errno;
    if (err == EEXIST) return false;
    return error(err, "link " + temp + " to " + name);
  }

  // Removes `name`; gone already is fine.
  absl::Status remove(const std::string& name) const {
    if (::unlinkat(dirFd_.get(), name.c_str(), 0) == 0) return absl::OkStatus();
    int err = errno;
    if (err == ENOENT) return absl::OkStatus();
    return error(err, "remove " + name);
  }

  absl::Status syncDir() const {
    if (::fsync(dirFd_.get()) != 0) {
      int err = errno;
      return error(err, "fsync");
    }
    return absl::OkStatus();
  }

  // The last address handed out in `family`; nullopt when unknown.
  std::optional<U128> readCursor(int family) const {
    std::string name = std::string(kCursorPrefix) + familyDigit(family);
    Fd fd(::openat(dirFd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) return std::nullopt;
    char buf[64];
    ssize_t n;
    do {
      n = ::read(fd.get(), buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return std::nullopt;
    std::string_view text(buf, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
    auto ip = netlink::parseIp(text);
    if (!ip.ok() || ip->family != family) return std::nullopt;
    return toNumber(*ip);
  }

  // Temp file + rename: a crash leaves the old cursor or the new one. Not synced: the
  // caller's syncDir covers the rename, and a lost cursor only loses the position.
  absl::Status writeCursor(int family, const IpPrefix& ip) const {
    std::string name = std::string(kCursorPrefix) + familyDigit(family);
    ASSIGN_OR_RETURN(std::string temp, writeTemp(ip.ip() + "\n", /*sync=*/false));
    if (::renameat(dirFd_.get(), temp.c_str(), dirFd_.get(), name.c_str()) != 0) {
      int err = errno;
      absl::Status st = error(err, "rename " + temp + " to " + name);
      ::unlinkat(dirFd_.get(), temp.c_str(), 0);
      return st;
    }
    return absl::OkStatus();
  }

  // Temp files last modified more than kTempMaxAgeSeconds ago are removed.
  absl::Status removeOldTemps(const std::vector<std::string>& temps, bool& changed) const {
    const time_t now = ::time(nullptr);
    for (const std::string& name : temps) {
      struct stat st;
      if (::fstatat(dirFd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int err = errno;
        if (err == ENOENT) continue;
        return error(err, "stat " + name);
      }
      if (now - st.st_mtime <= kTempMaxAgeSeconds) continue;
      RETURN_IF_ERROR(remove(name));
      changed = true;
    }
    return absl::OkStatus();
  }

 private:
  explicit Session(std::string dir) : dir_(std::move(dir)) {}

  absl::Status writeAll(int fd, std::string_view data, const std::string& name) const {
    while (!data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        return error(err, "write " + name);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  static std::string tempName() {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof r, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof r)) {
      // No entropy yet (early boot): pid and clock are unique enough with O_EXCL behind them.
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      r = (static_cast<uint64_t>(::getpid()) << 40) ^ static_cast<uint64_t>(ts.tv_nsec) ^
          (static_cast<uint64_t>(ts.tv_sec) << 20);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string name(kTempPrefix);
    for (int i = 0; i < 16; ++i) name += kHex[(r >> (i * 4)) & 0xf];
    return name;
  }

  std::string dir_;
  Fd dirFd_;
  Fd lockFd_;  // closing it drops the flock
};

// A record as find, list and the release calls report it.
IpamAllocation hostAllocation(const Entry& e, const std::optional<Record>& rec) {
  IpamAllocation a;
  a.address = fromNumber(e.family, e.value, hostBitsOf(e.family));
  if (rec) {
    a.owner = rec->owner;
    a.created = rec->created;
  }
  return a;
}

// Removes, under `s`'s lock, the parseable records for which `pick` says so, without syncing
// the dir. Returns the removed ones (host form) and their entries.
absl::StatusOr<std::vector<std::pair<Entry, IpamAllocation>>> releaseWhere(
    const Session& s, const Listing& listing, const std::function<bool(const IpamAllocation&)>& pick) {
  std::vector<std::pair<Entry, IpamAllocation>> out;
  for (const Entry& e : listing.records) {
    auto rec = s.read(e);
    if (absl::IsNotFound(rec.status())) continue;
    if (!rec.ok()) return rec.status();
    if (!*rec) continue;
    IpamAllocation a = hostAllocation(e, *rec);
    if (!pick(a)) continue;
    RETURN_IF_ERROR(s.remove(e.name));
    out.emplace_back(e, std::move(a));
  }
  return out;
}

// A netns path that is certainly gone.
bool netnsGone(const std::string& path) {
  if (path.empty()) return false;
  struct stat st;
  return ::lstat(path.c_str(), &st) != 0 && errno == ENOENT;
}

// The stale sweep (ipam.h, releaseStale): records whose netns is gone, except those of
// `keep` (the owner an allocate is working for), and old temp files.
absl::StatusOr<std::vector<std::pair<Entry, IpamAllocation>>> sweep(const Session& s, const Listing& listing,
                                                                     const IpamOwner* keep) {
  ASSIGN_OR_RETURN(auto released, releaseWhere(s, listing, [&](const IpamAllocation& a) {
                     if (keep && owns(a.owner, keep->containerId, keep->ifname)) return false;
                     return netnsGone(a.owner.netns);
                   }));
  bool changed = !released.empty();
  RETURN_IF_ERROR(s.removeOldTemps(listing.temps, changed));
  if (changed) RETURN_IF_ERROR(s.syncDir());
  return released;
}

std::vector<IpamAllocation> allocationsOf(std::vector<std::pair<Entry, IpamAllocation>> released) {
  std::vector<IpamAllocation> out;
  out.reserve(released.size());
  for (auto& [e, a] : released) out.push_back(std::move(a));
  return out;
}

// Undoes an allocate that did not finish: unlinks what it reserved and its temp file.
// Best effort: a record left behind names its owner, so the DEL that follows frees it.
class Rollback {
 public:
  explicit Rollback(const Session& s) : s_(s) {}
  ~Rollback() {
    if (committed_) return;
    for (const std::string& name : names_) (void)s_.remove(name);
    if (temp_) (void)s_.remove(*temp_);
    if (!names_.empty()) (void)s_.syncDir();
  }
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;

  void reserved(std::string name) { names_.push_back(std::move(name)); }
  void temp(std::string name) { temp_ = std::move(name); }
  void commit() { committed_ = true; }

 private:
  const Session& s_;
  std::vector<std::string> names_;
  std::optional<std::string> temp_;
  bool committed_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

absl::StatusOr<IpamStore> IpamStore::open(std::string dir) {
  if (dir.empty()) return absl::InvalidArgumentError("IPAM store: empty directory path");
  // mkdir -p, each missing component 0700.
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) == 0) continue;
    int err = errno;
    struct stat st;
    // EEXIST, or another error on a dir that exists (EROFS, EACCES on a parent we only need to pass).
    if (err == EEXIST || (::stat(part.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) continue;
    return absl::Status(codeForErrno(err), "IPAM store " + dir + ": mkdir " + part + ": " + std::strerror(err));
  }
  // Fails here rather than at the first allocate when the dir is unusable; creates `lock`.
  ASSIGN_OR_RETURN(Session s, Session::lock(dir));
  return IpamStore(std::move(dir));
}

absl::StatusOr<std::vector<IpamAllocation>> IpamStore::allocate(const IpamOwner& owner,
                                                                const std::vector<IpamRange>& ranges) {
  RETURN_IF_ERROR(checkOwner(owner));
  if (ranges.empty()) return absl::InvalidArgumentError("IPAM: no ranges to allocate from");
  std::vector<Span> spans;
  for (const IpamRange& r : ranges) {
    ASSIGN_OR_RETURN(Span s, makeSpan(r));
    for (const Span& o : spans) {
      if (o.family == s.family && o.first <= s.last && s.first <= o.last) {
        return absl::InvalidArgumentError("IPAM ranges " + o.label + " and " + s.label + " overlap");
      }
    }
    spans.push_back(std::move(s));
  }

  ASSIGN_OR_RETURN(Session s, Session::lock(dir_));
  ASSIGN_OR_RETURN(Listing listing, s.scan());

  // Reuse: what the owner already holds, range by range. This reads every record in the
  // ranges, as nothing but the records says who holds what.
  struct Pick {
    std::optional<U128> value;
    std::optional<Record> existing;  // set when reused
    std::string name;
  };
  std::vector<Pick> picks(spans.size());
  for (const Entry& e : listing.records) {
    auto span = std::find_if(spans.begin(), spans.end(),
                             [&](const Span& sp) { return sp.contains(e.family, e.value); });
    if (span == spans.end()) continue;
    Pick& p = picks[static_cast<size_t>(span - spans.begin())];
    if (p.value) continue;
    auto rec = s.read(e);
    if (absl::IsNotFound(rec.status())) continue;
    if (!rec.ok()) return rec.status();
    if (*rec && owns((*rec)->owner, owner.containerId, owner.ifname)) p = Pick{e.value, **rec, e.name};
  }

  Rollback rollback(s);
  for (const Pick& p : picks) {
    if (p.existing) rollback.reserved(p.name);
  }
  Taken taken(listing.records);
  const int64_t now = ::time(nullptr);
  const std::string content = formatRecord(owner, now);
  std::optional<std::string> temp;  // one synced temp file, linked once per range
  bool swept = false;
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& sp = spans[i];
    Pick& p = picks[i];
    while (!p.value) {
      const U128 size = sp.last - sp.first + 1;  // >= 1, and no overflow: first > network >= 0
      U128 startOff = 0;
      if (auto cursor = s.readCursor(sp.family); cursor && *cursor >= sp.first && *cursor < sp.last) {
        startOff = *cursor - sp.first + 1;
      }
      const U128 budget = std::min<U128>(size, U128(taken.size()) + 3 + kExtraCandidates);
      for (U128 step = 0; step < budget && !p.value; ++step) {
        // (startOff + step) mod size, without overflowing for a /0.
        const U128 off = step < size - startOff ? startOff + step : step - (size - startOff);
        const U128 v = sp.first + off;
        if (sp.skipped(v) || taken.has(sp.family, v)) continue;
        if (!temp) {
          ASSIGN_OR_RETURN(temp, s.writeTemp(content, /*sync=*/true));
          rollback.temp(*temp);
        }
        std::string name = sp.host(v).ip();
        ASSIGN_OR_RETURN(bool linked, s.link(*temp, name));
        taken.add(sp.family, v);
        if (!linked) continue;  // a file that appeared without the lock
        rollback.reserved(name);
        p.value = v;
        p.name = std::move(name);
      }
      if (p.value) break;
      if (swept) return absl::ResourceExhaustedError("no IP addresses available in range " + sp.label);
      swept = true;
      ASSIGN_OR_RETURN(auto released, sweep(s, listing, &owner));
      for (const auto& [e, a] : released) taken.remove(e.family, e.value);
    }
  }

  if (temp) RETURN_IF_ERROR(s.remove(*temp));
  // The cursor of each family moves to its last new address (reused ones leave it alone).
  for (size_t i = 0; i < spans.size(); ++i) {
    if (picks[i].existing) continue;
    // A cursor that cannot be written only loses the round-robin position (ipam.h).
    (void)s.writeCursor(spans[i].family, spans[i].host(*picks[i].value));
  }
  RETURN_IF_ERROR(s.syncDir());
  rollback.commit();

  std::vector<IpamAllocation> out;
  for (size_t i = 0; i < spans.size(); ++i) {
    IpamAllocation a;
    a.address = spans[i].address(*picks[i].value);
    a.gateway = spans[i].host(spans[i].gateway);
    if (picks[i].existing) {
      a.owner = picks[i].existing->owner;
      a.created = picks[i].existing->created;
    } else {
      a.owner = owner;
      a.created = now;
    }
    out.push_back(std::move(a));
  }
  return out;
}

absl::Status IpamStore::release(std::string_view containerId, std::string_view ifname) {
  if (containerId.empty()) return absl::InvalidArgumentError("IPAM release: the container id is empty");
  ASSIGN_OR_RETURN(Session s, Session::lock(dir_));
  ASSIGN_OR_RETURN(Listing listing, s.scan());
  ASSIGN_OR_RETURN(auto released, releaseWhere(s, listing, [&](const IpamAllocation& a) {
                     return owns(a.owner, containerId, ifname);
                   }));
  return released.empty() ? absl::OkStatus() : s.syncDir();
}

absl::StatusOr<std::vector<IpamAllocation>> IpamStore::find(std::string_view containerId, std::string_view ifname) {
  ASSIGN_OR_RETURN(std::vector<IpamAllocation> all, list());
  std::erase_if(all, [&](const IpamAllocation& a) { return !owns(a.owner, containerId, ifname); });
  return all;
}

absl::StatusOr<std::vector<IpamAllocation>> IpamStore::list() {
  ASSIGN_OR_RETURN(Session s, Session::lock(dir_));
  ASSIGN_OR_RETURN(Listing listing, s.scan());
  std::vector<IpamAllocation> out;
  for (const Entry& e : listing.records) {
    auto rec = s.read(e);
    if (absl::IsNotFound(rec.status())) continue;
    if (!rec.ok()) return rec.status();
    out.push_back(hostAllocation(e, *rec));
  }
  return out;
}

absl::StatusOr<std::vector<IpamAllocation>> IpamStore::releaseIf(
    const std::function<bool(const IpamAllocation&)>& stale) {
  ASSIGN_OR_RETURN(Session s, Session::lock(dir_));
  ASSIGN_OR_RETURN(Listing listing, s.scan());
  ASSIGN_OR_RETURN(auto released, releaseWhere(s, listing, stale));
  if (!released.empty()) RETURN_IF_ERROR(s.syncDir());
  return allocationsOf(std::move(released));
}

absl::StatusOr<std::vector<IpamAllocation>> IpamStore::releaseStale() {
  ASSIGN_OR_RETURN(Session s, Session::lock(dir_));
  ASSIGN_OR_RETURN(Listing listing, s.scan());
  ASSIGN_OR_RETURN(auto released, sweep(s, listing, nullptr));
  return allocationsOf(std::move(released));
}

}  // namespace cubelet::cni
