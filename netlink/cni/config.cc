// Parsing of the CNI environment and of the plugin's network configuration.
#include "netlink/cni/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <cstdio>

#include "absl/strings/cord.h"
#include "base/status_macros.h"

namespace cubelet::cni {
namespace {

constexpr std::string_view kCodePayload = "cubelet.dev/cni-error-code";

using nlohmann::json;

absl::Status badConfig(std::string_view field, std::string_view why) {
  return cniError(ErrorCode::kInvalidConfig, "invalid network config: " + std::string(field) + ": " + std::string(why));
}

absl::Status badEnv(std::string_view var, std::string_view why) {
  return cniError(ErrorCode::kInvalidEnvironment, std::string(var) + ": " + std::string(why));
}

bool validContainerId(std::string_view id) {
  if (id.empty() || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// The first address of `p`'s prefix.
netlink::IpPrefix networkOf(const netlink::IpPrefix& p) {
  netlink::IpPrefix n = p;
  for (int i = 0; i < n.addrLen(); ++i) {
    int bits = std::clamp(p.prefixLen - i * 8, 0, 8);
    n.addr[i] &= static_cast<uint8_t>(0xff00 >> bits);
  }
  return n;
}

bool contains(const netlink::IpPrefix& net, const netlink::IpPrefix& ip) {
  if (net.family != ip.family) return false;
  netlink::IpPrefix masked = ip;
  masked.prefixLen = net.prefixLen;
  return networkOf(masked).addr == networkOf(net).addr;
}

std::string describe(const json& v) { return v.dump(); }

// Reads an optional string member; a wrong type is an error naming the field.
absl::StatusOr<std::optional<std::string>> optString(const json& obj, const char* key, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return badConfig(field + "." + key, "must be a string, not " + describe(*it));
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<netlink::IpPrefix> ipField(const json& obj, const char* key, const std::string& field, bool cidr) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, optString(obj, key, field));
  if (!text) return badConfig(field + "." + key, "required");
  auto parsed = cidr ? netlink::parseCidr(*text) : netlink::parseIp(*text);
  if (!parsed.ok()) return badConfig(field + "." + key, std::string(parsed.status().message()));
  return *parsed;
}

absl::StatusOr<IpamRange> parseRange(const json& r, const std::string& field) {
  if (!r.is_object()) return badConfig(field, "must be an object with a subnet, not " + describe(r));
  IpamRange range;
  ASSIGN_OR_RETURN(range.subnet, ipField(r, "subnet", field, true));
  range.subnet = networkOf(range.subnet);
  int maxLen = range.subnet.addrLen() * 8;
  if (range.subnet.prefixLen > maxLen - 2) {
    return badConfig(field + ".subnet", range.subnet.str() + " has no room for a gateway and a pod");
  }
  auto member = [&](const char* key, std::optional<netlink::IpPrefix>& out) -> absl::Status {
    if (!r.contains(key) || r[key].is_null()) return absl::OkStatus();
    ASSIGN_OR_RETURN(netlink::IpPrefix ip, ipField(r, key, field, false));
    if (!contains(range.subnet, ip)) {
      return badConfig(field + "." + key, ip.ip() + " is not in subnet " + range.subnet.str());
    }
    out = ip;
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(member("gateway", range.gateway));
  RETURN_IF_ERROR(member("rangeStart", range.rangeStart));
  RETURN_IF_ERROR(member("rangeEnd", range.rangeEnd));
  return range;
}

absl::Status parseIpam(const json& ipam, NetConf& conf) {
  if (!ipam.is_object()) return badConfig("ipam", "must be an object");
  auto ranges = ipam.find("ranges");
  if (ranges == ipam.end() || !ranges->is_array() || ranges->empty()) {
    return badConfig("ipam.ranges", "at least one range is required, e.g. [{\"subnet\": \"10.244.0.0/24\"}]");
  }
  for (size_t i = 0; i < ranges->size(); ++i) {
    std::string field = "ipam.ranges[" + std::to_string(i) + "]";
    const json* r = &(*ranges)[i];
    // host-local's form is a list of range sets; a set of one range is accepted too.
    if (r->is_array()) {
      if (r->size() != 1) return badConfig(field, "a range set must hold exactly one range");
      r = &(*r)[0];
      field += "[0]";
    }
    ASSIGN_OR_RETURN(IpamRange range, parseRange(*r, field));
    for (const IpamRange& other : conf.ranges) {
      if (other.subnet.family == range.subnet.family) {
        return badConfig(field, "a second " + std::string(range.subnet.family == AF_INET ? "IPv4" : "IPv6") +
                                    " range; one per address family");
      }
    }
    conf.ranges.push_back(range);
  }
  if (auto routes = ipam.find("routes"); routes != ipam.end() && !routes->is_null()) {
    if (!routes->is_array()) return badConfig("ipam.routes", "must be a list");
    for (size_t i = 0; i < routes->size(); ++i) {
      std::string field = "ipam.routes[" + std::to_string(i) + "]";
      const json& r = (*routes)[i];
      if (!r.is_object()) return badConfig(field, "must be an object with dst");
      RouteConf rc;
      ASSIGN_OR_RETURN(rc.dst, ipField(r, "dst", field, true));
      if (r.contains("gw") && !r["gw"].is_null()) {
        ASSIGN_OR_RETURN(netlink::IpPrefix gw, ipField(r, "gw", field, false));
        if (gw.family != rc.dst.family) return badConfig(field + ".gw", "not of the family of dst");
        rc.gw = gw;
      }
      conf.routes.push_back(rc);
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> dataDir, optString(ipam, "dataDir", "ipam"));
  if (dataDir) {
    if (dataDir->empty() || (*dataDir)[0] != '/') return badConfig("ipam.dataDir", "must be an absolute path");
    conf.dataDir = *dataDir;
  }
  return absl::OkStatus();
}

absl::Status parsePortMappings(const json& runtimeConfig, NetConf& conf) {
  auto pm = runtimeConfig.find("portMappings");
  if (pm == runtimeConfig.end() || pm->is_null()) return absl::OkStatus();
  if (!pm->is_array()) return badConfig("runtimeConfig.portMappings", "must be a list");
  for (size_t i = 0; i < pm->size(); ++i) {
    std::string field = "runtimeConfig.portMappings[" + std::to_string(i) + "]";
    const json& m = (*pm)[i];
    if (!m.is_object()) return badConfig(field, "must be an object");
    PortMapping p;
    // Keys as the spec spells them; containerd 1.6 sends Go's field names (HostPort ...),
    // which Go plugins accept because encoding/json matches keys case-insensitively.
    auto member = [&](const char* key) -> const json* {
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (it.key().size() == std::strlen(key) &&
            std::equal(it.key().begin(), it.key().end(), key, [](char a, char b) {
              return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            })) {
          return &it.value();
        }
      }
      return nullptr;
    };
    auto port = [&](const char* key, int& out) -> absl::Status {
      const json* v = member(key);
      if (!v || !v->is_number_integer()) {
        return badConfig(field + "." + key, "an integer is required, not " + (v ? describe(*v) : "nothing"));
      }
      out = static_cast<int>(std::clamp<int64_t>(v->get<int64_t>(), -1, 70000));
      if (out < 1 || out > 65535) return badConfig(field + "." + key, std::to_string(out) + " is not in 1..65535");
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(port("hostPort", p.hostPort));
    RETURN_IF_ERROR(port("containerPort", p.containerPort));
    const json* proto = member("protocol");
    if (proto && !proto->is_null() && !proto->is_string()) return badConfig(field + ".protocol", "must be a string");
    p.protocol = proto && proto->is_string() && !proto->get<std::string>().empty() ? proto->get<std::string>() : "tcp";
    for (char& c : p.protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p.protocol != "tcp" && p.protocol != "udp" && p.protocol != "sctp") {
      return badConfig(field + ".protocol", "\"" + p.protocol + "\" is not tcp, udp or sctp");
    }
    const json* hostIPValue = member("hostIP");
    if (hostIPValue && !hostIPValue->is_null() && !hostIPValue->is_string()) {
      return badConfig(field + ".hostIP", "must be a string");
    }
    std::optional<std::string> hostIP;
    if (hostIPValue && hostIPValue->is_string()) hostIP = hostIPValue->get<std::string>();
    if (hostIP && !hostIP->empty() && *hostIP != "0.0.0.0" && *hostIP != "::") {
      auto ip = netlink::parseIp(*hostIP);
      if (!ip.ok()) return badConfig(field + ".hostIP", std::string(ip.status().message()));
      p.hostIP = ip->ip();
    }
    conf.portMappings.push_back(p);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status cniError(ErrorCode code, std::string_view msg) {
  absl::Status st = absl::UnknownError(std::string(msg));
  st.SetPayload(kCodePayload.data(), absl::Cord(std::to_string(static_cast<int>(code))));
  return st;
}

ErrorCode cniCodeOf(const absl::Status& st, ErrorCode fallback) {
  auto p = st.GetPayload(kCodePayload.data());
  if (!p) return fallback;
  std::string text(*p);
  int code = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
  if (ec != std::errc() || end != text.data() + text.size()) return fallback;
  return static_cast<ErrorCode>(code);
}

const std::vector<std::string>& supportedVersions() {
  static const std::vector<std::string> v = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  return v;
}

bool isSupportedVersion(std::string_view v) {
  for (const std::string& s : supportedVersions()) {
    if (s == v) return true;
  }
  return false;
}

bool versionAtLeast(std::string_view v, int major, int minor, int patch) {
  int parts[3] = {0, 0, 0};
  const char* p = v.data();
  const char* end = v.data() + v.size();
  for (int i = 0; i < 3 && p < end; ++i) {
    auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc()) return false;
    p = next;
    if (p < end && *p == '.') ++p;
  }
  int want[3] = {major, minor, patch};
  for (int i = 0; i < 3; ++i) {
    if (parts[i] != want[i]) return parts[i] > want[i];
  }
  return true;
}

absl::StatusOr<Environment> parseEnvironment(const GetEnv& getenv) {
  Environment env;
  std::optional<std::string> cmd = getenv("CNI_COMMAND");
  if (!cmd || cmd->empty()) return badEnv("CNI_COMMAND", "required (ADD, DEL, CHECK or VERSION)");
  if (*cmd == "ADD") {
    env.command = Command::kAdd;
  } else if (*cmd == "DEL") {
    env.command = Command::kDel;
  } else if (*cmd == "CHECK") {
    env.command = Command::kCheck;
  } else if (*cmd == "VERSION") {
    env.command = Command::kVersion;
    return env;
  } else {
    return badEnv("CNI_COMMAND", "unknown command \"" + *cmd + "\"; want ADD, DEL, CHECK or VERSION");
  }
  env.containerId = getenv("CNI_CONTAINERID").value_or("");
  if (env.containerId.empty()) return badEnv("CNI_CONTAINERID", "required");
  if (!validContainerId(env.containerId)) {
    return badEnv("CNI_CONTAINERID", "\"" + env.containerId +
                                         "\" must start with a letter or digit and hold only letters, digits, "
                                         "'_', '.' and '-'");
  }
  env.netns = getenv("CNI_NETNS").value_or("");
  if (env.netns.empty() && env.command != Command::kDel) return badEnv("CNI_NETNS", "required");
  env.ifname = getenv("CNI_IFNAME").value_or("");
  if (env.ifname.empty()) return badEnv("CNI_IFNAME", "required");
  if (absl::Status st = netlink::checkLinkName(env.ifname); !st.ok()) return badEnv("CNI_IFNAME", std::string(st.message()));
  env.path = getenv("CNI_PATH").value_or("");
  std::string args = getenv("CNI_ARGS").value_or("");
  size_t pos = 0;
  while (pos < args.size()) {
    size_t semi = args.find(';', pos);
    std::string_view pair = std::string_view(args).substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    pos = semi == std::string::npos ? args.size() : semi + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return badEnv("CNI_ARGS", "\"" + std::string(pair) + "\" is not KEY=VALUE");
    }
    env.args[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  return env;
}

std::string podUidFrom(const Environment& env) {
  auto it = env.args.find("K8S_POD_UID");
  return it == env.args.end() ? "" : it->second;
}

absl::StatusOr<NetConf> parseNetConf(std::string_view stdinText, bool forDelete) {
  json in = json::parse(stdinText, nullptr, false);
  if (in.is_discarded()) return cniError(ErrorCode::kDecodeFailure, "network config on stdin is not valid JSON");
  if (!in.is_object()) return cniError(ErrorCode::kDecodeFailure, "network config on stdin is not a JSON object");
  NetConf conf;
  ASSIGN_OR_RETURN(std::optional<std::string> version, optString(in, "cniVersion", "config"));
  if (!version || version->empty()) return badConfig("cniVersion", "required");
  conf.cniVersion = *version;
  if (!isSupportedVersion(conf.cniVersion)) {
    std::string list;
    for (const std::string& v : supportedVersions()) list += (list.empty() ? "" : ", ") + v;
    return cniError(ErrorCode::kIncompatibleVersion,
                    "incompatible CNI version: config has \"" + conf.cniVersion + "\", this plugin supports " + list);
  }
  ASSIGN_OR_RETURN(std::optional<std::string> name, optString(in, "name", "config"));
  if (!name || name->empty()) return badConfig("name", "required");
  if (!validContainerId(*name)) {
    return badConfig("name", "\"" + *name + "\" must start with a letter or digit and hold only letters, digits, "
                                            "'_', '.' and '-'");
  }
  conf.name = *name;
  ASSIGN_OR_RETURN(std::optional<std::string> type, optString(in, "type", "config"));
  if (!type || type->empty()) return badConfig("type", "required");
  conf.type = *type;
  if (auto it = in.find("prevResult"); it != in.end() && !it->is_null()) {
    if (!it->is_object()) return badConfig("prevResult", "must be an object");
    conf.prevResult = *it;
  }
  if (conf.type == "loopback") return conf;
  if (conf.type != "cubelet-cni") {
    return badConfig("type", "\"" + conf.type + "\": this plugin implements cubelet-cni and loopback");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> bridge, optString(in, "bridge", "config"));
  if (bridge) {
    if (absl::Status st = netlink::checkLinkName(*bridge); !st.ok()) return badConfig("bridge", std::string(st.message()));
    conf.bridge = *bridge;
  }
  if (auto it = in.find("mtu"); it != in.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > 65535) {
      return badConfig("mtu", describe(*it) + " is not an MTU (0..65535)");
    }
    conf.mtu = it->get<unsigned>();
    if (conf.mtu != 0 && conf.mtu < 68) return badConfig("mtu", std::to_string(conf.mtu) + " is below 68");
  }
  if (auto it = in.find("hairpinMode"); it != in.end() && !it->is_null()) {
    if (!it->is_boolean()) return badConfig("hairpinMode", "must be true or false");
    conf.hairpinMode = it->get<bool>();
  }
  auto ipam = in.find("ipam");
  if (ipam == in.end()) return badConfig("ipam", "required: the pod address ranges");
  RETURN_IF_ERROR(parseIpam(*ipam, conf));
  // DEL needs no runtime config (the host port rules are found by their marker): a bad one
  // must not keep a sandbox from being torn down.
  if (auto rc = in.find("runtimeConfig"); !forDelete && rc != in.end() && !rc->is_null()) {
    if (!rc->is_object()) return badConfig("runtimeConfig", "must be an object");
    RETURN_IF_ERROR(parsePortMappings(*rc, conf));
  }
  if (conf.routes.empty()) {
    for (const IpamRange& r : conf.ranges) {
      RouteConf def;
      def.dst = r.subnet;
      def.dst.addr = {};
      def.dst.prefixLen = 0;
      conf.routes.push_back(def);
    }
  }
  return conf;
}

}  // namespace cubelet::cni
