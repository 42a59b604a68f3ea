// What one invocation of cubelet-cni is asked to do: the CNI_* environment and the network
// configuration on stdin (CNI spec 1.0.0, sections 2-3), parsed and checked before anything
// is touched. Errors carry the CNI error code the spec assigns and name the variable or the
// config field.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "netlink/cni/ipam.h"
#include "netlink/nlroute.h"
#include "nlohmann/json.hpp"

namespace cubelet::cni {

// Error codes of the CNI spec (section 6) and ours (>= 100).
enum class ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  // Ours: setting up links, addresses or routes failed.
  kNetworkSetup = 100,
  // Ours: the pod's address range is exhausted.
  kNoAddresses = 101,
  // Ours: the host port rules could not be written.
  kHostPorts = 102,
};

// An error carrying its CNI code (as a Status payload), so any layer can return plain
// absl::Status and main() still prints the spec's error object with the right code.
absl::Status cniError(ErrorCode code, std::string_view msg);
// The CNI code attached by cniError, else `fallback`.
ErrorCode cniCodeOf(const absl::Status& st, ErrorCode fallback = ErrorCode::kNetworkSetup);

// The CNI versions whose result format we can write; VERSION lists them.
const std::vector<std::string>& supportedVersions();
bool isSupportedVersion(std::string_view v);
// cniVersion >= 0.4.0 (CHECK exists, prevResult on DEL).
bool versionAtLeast(std::string_view v, int major, int minor, int patch);

enum class Command { kAdd, kDel, kCheck, kVersion };

struct Environment {
  Command command = Command::kVersion;
  std::string containerId;
  std::string netns;   // may be "" for DEL
  std::string ifname;
  std::map<std::string, std::string> args;  // CNI_ARGS, K=V;K=V
  std::string path;    // CNI_PATH
};

// Reads the CNI_* variables through `getenv` (tests pass a map lookup). Checks presence per
// command (DEL does not need CNI_NETNS), the container id's characters and the interface
// name; code 4 names the variable.
using GetEnv = std::function<std::optional<std::string>(const char* name)>;
absl::StatusOr<Environment> parseEnvironment(const GetEnv& getenv);

// A hostPort mapping from runtimeConfig.portMappings.
struct PortMapping {
  int hostPort = 0;
  int containerPort = 0;
  std::string protocol;  // "tcp", "udp" or "sctp"
  std::string hostIP;    // "" for every local address
};

struct RouteConf {
  netlink::IpPrefix dst;
  std::optional<netlink::IpPrefix> gw;
};

// The plugin object on stdin (type "cubelet-cni" or "loopback").
struct NetConf {
  std::string cniVersion;
  std::string name;
  std::string type;
  // cubelet-cni only:
  std::string bridge = "cni0";
  unsigned mtu = 0;          // 0: the kernel's default (1500)
  bool hairpinMode = true;
  std::vector<IpamRange> ranges;   // ipam.ranges: one per address family
  std::vector<RouteConf> routes;   // ipam.routes; default: a default route per family via its gateway
  std::string dataDir = "/var/lib/cni/networks";  // ipam.dataDir
  std::vector<PortMapping> portMappings;          // runtimeConfig.portMappings
  nlohmann::json prevResult;       // null when absent
};

// Parses and checks stdin. Code 6 for text that is not JSON, 7 naming the field for a wrong
// config, 1 for an unsupported cniVersion. `forDelete` skips runtimeConfig, which DEL does not
// use, so that a bad one never blocks a teardown.
absl::StatusOr<NetConf> parseNetConf(std::string_view stdinText, bool forDelete = false);

// The values of CNI_ARGS we use (unknown ones are ignored, as IgnoreUnknown=1 asks).
std::string podUidFrom(const Environment& env);

}  // namespace cubelet::cni
