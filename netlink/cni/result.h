// The JSON cubelet-cni prints: results (CNI spec section 5.1, in the format of the requested
// cniVersion), error objects (5.2) and the VERSION answer (5.3); and the reading of a
// prevResult for CHECK.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netlink/cni/config.h"
#include "netlink/nlroute.h"
#include "nlohmann/json.hpp"

namespace cubelet::cni {

struct InterfaceResult {
  std::string name;
  std::string mac;
  std::string sandbox;  // the netns path for an interface inside the container, else ""
};

struct IpResult {
  netlink::IpPrefix address;  // with the subnet's prefix length
  std::optional<netlink::IpPrefix> gateway;
  int interface = -1;         // index into interfaces; -1 for none
};

struct RouteResult {
  netlink::IpPrefix dst;
  std::optional<netlink::IpPrefix> gw;
};

struct Result {
  std::vector<InterfaceResult> interfaces;
  std::vector<IpResult> ips;
  std::vector<RouteResult> routes;
};

// The result in the format of `cniVersion` (0.3.x and 0.4.0 carry "version" on each ip).
nlohmann::json resultJson(const Result& result, const std::string& cniVersion);
// Reads a prevResult (any supported version). InvalidConfig (7) names the field.
absl::StatusOr<Result> parseResult(const nlohmann::json& j);

// {"cniVersion", "code", "msg", "details"?}
nlohmann::json errorJson(const std::string& cniVersion, ErrorCode code, const std::string& msg,
                         const std::string& details = "");
// {"cniVersion", "supportedVersions"}
nlohmann::json versionJson(const std::string& cniVersion);

}  // namespace cubelet::cni
