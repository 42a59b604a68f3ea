// Installing the plugin binary and the conflist.
#include "netlink/cni/install.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "base/fd.h"
#include "base/status_macros.h"
#include "netlink/nlroute.h"
#include "nlohmann/json.hpp"

namespace cubelet::cni {
namespace {

absl::Status errnoError(const std::string& what, int err) {
  return absl::InternalError(what + ": " + std::strerror(err));
}

absl::Status mkdirs(const std::string& dir, mode_t mode) {
  std::string path;
  std::stringstream ss(dir);
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty()) continue;
    path += "/" + part;
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return errnoError("create directory " + path, errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes dir/.<name>.tmp-<pid> with `fill` (given the open descriptor), fsyncs it and renames
// it to dir/name.
absl::Status replaceFileWith(const std::string& dir, const std::string& name, mode_t mode,
                             const std::function<absl::Status(int fd, const std::string& tmp)>& fill) {
  std::string tmp = dir + "/." + name + ".tmp-" + std::to_string(::getpid());
  std::string target = dir + "/" + name;
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return errnoError("create " + tmp, errno);
  if (absl::Status st = fill(fd.get(), tmp); !st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errnoError("sync " + tmp, e);
  }
  fd.reset();
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errnoError("rename " + tmp + " to " + target, e);
  }
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.valid()) ::fsync(dfd.get());
  return absl::OkStatus();
}

absl::Status writeAll(int fd, const char* data, size_t size, const std::string& what) {
  for (size_t done = 0; done < size;) {
    ssize_t w = ::write(fd, data + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errnoError("write " + what, errno);
    done += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status replaceFile(const std::string& dir, const std::string& name, const std::string& content, mode_t mode) {
  return replaceFileWith(dir, name, mode, [&](int fd, const std::string& tmp) {
    return writeAll(fd, content.data(), content.size(), tmp);
  });
}

// The plugin binary is tens of megabytes: it is compared and copied in blocks, never held
// in memory whole (a one-off allocation that size would stay in the agent's heap).
constexpr size_t kBlock = 1 << 16;

// True when both files can be read and hold the same bytes.
bool sameContent(const std::string& a, const std::string& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  std::vector<char> ba(kBlock), bb(kBlock);
  while (true) {
    fa.read(ba.data(), kBlock);
    fb.read(bb.data(), kBlock);
    if (fa.gcount() != fb.gcount()) return false;
    if (fa.gcount() == 0) return fa.eof() && fb.eof();
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0) return false;
  }
}

absl::Status copyInto(const std::string& dir, const std::string& name, const std::string& src, mode_t mode) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return absl::NotFoundError("read " + src + ": " + std::strerror(errno));
  return replaceFileWith(dir, name, mode, [&](int fd, const std::string& tmp) -> absl::Status {
    std::vector<char> buf(kBlock);
    while (true) {
      ssize_t r = ::read(in.get(), buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return errnoError("read " + src, errno);
      if (r == 0) return absl::OkStatus();
      RETURN_IF_ERROR(writeAll(fd, buf.data(), static_cast<size_t>(r), tmp));
    }
  });
}

bool isNetworkConfigName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  for (const char* ext : {".conf", ".conflist", ".json"}) {
    std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> conflistText(const NetworkSettings& s) {
  if (s.podCidrs.empty()) return absl::InvalidArgumentError("no podCIDR: the node has no pod address range yet");
  nlohmann::json ranges = nlohmann::json::array();
  for (const std::string& cidr : s.podCidrs) {
    absl::StatusOr<netlink::IpPrefix> p = netlink::parseCidr(cidr);
    if (!p.ok()) return absl::InvalidArgumentError("podCIDR " + cidr + ": " + std::string(p.status().message()));
    ranges.push_back({{"subnet", cidr}});
  }
  nlohmann::ordered_json plugin = {{"type", "cubelet-cni"}, {"bridge", s.bridge}};
  if (s.mtu != 0) plugin["mtu"] = s.mtu;
  plugin["hairpinMode"] = true;
  plugin["ipam"] = {{"ranges", ranges}, {"dataDir", s.dataDir}};
  plugin["capabilities"] = {{"portMappings", true}};
  nlohmann::ordered_json list = {{"cniVersion", "1.0.0"}, {"name", s.name}, {"plugins", {plugin}}};
  return list.dump(2) + "\n";
}

std::vector<std::string> otherNetworkConfigs(const std::string& confDir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(confDir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (isNetworkConfigName(n) && n != kConflistName) out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<bool> writeConflist(const std::string& confDir, const NetworkSettings& settings) {
  ASSIGN_OR_RETURN(std::string text, conflistText(settings));
  RETURN_IF_ERROR(mkdirs(confDir, 0755));
  absl::StatusOr<std::string> current = readAll(confDir + "/" + kConflistName);
  if (current.ok() && *current == text) return false;
  RETURN_IF_ERROR(replaceFile(confDir, kConflistName, text, 0644));
  return true;
}

absl::StatusOr<std::vector<std::string>> installPlugin(const std::string& plugin, const std::string& binDir) {
  if (::access(plugin.c_str(), R_OK) != 0) {
    return absl::NotFoundError("the cubelet-cni plugin binary: read " + plugin + ": " + std::strerror(errno));
  }
  RETURN_IF_ERROR(mkdirs(binDir, 0755));
  std::vector<std::string> installed;
  if (!sameContent(plugin, binDir + "/cubelet-cni")) {
    RETURN_IF_ERROR(copyInto(binDir, "cubelet-cni", plugin, 0755));
    installed.push_back("cubelet-cni");
  }
  // loopback: a symlink to cubelet-cni (which serves both types), so it follows every
  // update. Any other loopback plugin does the job too: one another package put there stays.
  std::string loopback = binDir + "/loopback";
  char link[256] = {0};
  ssize_t n = ::readlink(loopback.c_str(), link, sizeof link - 1);
  bool ours = n > 0 && std::string(link, static_cast<size_t>(n)) == "cubelet-cni";
  if (!ours && ::access(loopback.c_str(), X_OK) != 0) {
    std::string tmp = binDir + "/.loopback.tmp-" + std::to_string(::getpid());
    ::unlink(tmp.c_str());
    if (::symlink("cubelet-cni", tmp.c_str()) != 0) return errnoError("create symlink " + tmp, errno);
    if (::rename(tmp.c_str(), loopback.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return errnoError("rename " + tmp + " to " + loopback, e);
    }
    installed.push_back("loopback");
  }
  return installed;
}

}  // namespace cubelet::cni
