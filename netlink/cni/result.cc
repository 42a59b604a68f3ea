// Result, error and version JSON of cubelet-cni.
#include "netlink/cni/result.h"

#include "base/status_macros.h"

namespace cubelet::cni {

using nlohmann::json;

json resultJson(const Result& result, const std::string& cniVersion) {
  bool perIpVersion = !versionAtLeast(cniVersion, 1, 0, 0);
  json out = {{"cniVersion", cniVersion}};
  json ifs = json::array();
  for (const InterfaceResult& i : result.interfaces) {
    json e = {{"name", i.name}};
    if (!i.mac.empty()) e["mac"] = i.mac;
    if (!i.sandbox.empty()) e["sandbox"] = i.sandbox;
    ifs.push_back(std::move(e));
  }
  if (!ifs.empty()) out["interfaces"] = std::move(ifs);
  json ips = json::array();
  for (const IpResult& ip : result.ips) {
    json e = {{"address", ip.address.str()}};
    if (perIpVersion) e["version"] = ip.address.family == AF_INET6 ? "6" : "4";
    if (ip.gateway) e["gateway"] = ip.gateway->ip();
    if (ip.interface >= 0) e["interface"] = ip.interface;
    ips.push_back(std::move(e));
  }
  if (!ips.empty()) out["ips"] = std::move(ips);
  json routes = json::array();
  for (const RouteResult& r : result.routes) {
    json e = {{"dst", r.dst.str()}};
    if (r.gw) e["gw"] = r.gw->ip();
    routes.push_back(std::move(e));
  }
  if (!routes.empty()) out["routes"] = std::move(routes);
  out["dns"] = json::object();
  return out;
}

absl::StatusOr<Result> parseResult(const json& j) {
  auto bad = [](const std::string& field, const std::string& why) {
    return cniError(ErrorCode::kInvalidConfig, "invalid prevResult: " + field + ": " + why);
  };
  if (!j.is_object()) return bad("prevResult", "not an object");
  Result r;
  if (auto it = j.find("interfaces"); it != j.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) {
        return bad("interfaces[" + std::to_string(i) + "].name", "a string is required");
      }
      InterfaceResult ir;
      ir.name = e["name"].get<std::string>();
      if (e.contains("mac") && e["mac"].is_string()) ir.mac = e["mac"].get<std::string>();
      if (e.contains("sandbox") && e["sandbox"].is_string()) ir.sandbox = e["sandbox"].get<std::string>();
      r.interfaces.push_back(std::move(ir));
    }
  }
  if (auto it = j.find("ips"); it != j.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      std::string field = "ips[" + std::to_string(i) + "]";
      const json& e = (*it)[i];
      if (!e.is_object() || !e.contains("address") || !e["address"].is_string()) {
        return bad(field + ".address", "a CIDR string is required");
      }
      IpResult ip;
      auto a = netlink::parseCidr(e["address"].get<std::string>());
      if (!a.ok()) return bad(field + ".address", std::string(a.status().message()));
      ip.address = *a;
      if (e.contains("gateway") && e["gateway"].is_string()) {
        auto g = netlink::parseIp(e["gateway"].get<std::string>());
        if (!g.ok()) return bad(field + ".gateway", std::string(g.status().message()));
        ip.gateway = *g;
      }
      if (e.contains("interface") && e["interface"].is_number_integer()) ip.interface = e["interface"].get<int>();
      r.ips.push_back(ip);
    }
  }
  if (auto it = j.find("routes"); it != j.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      std::string field = "routes[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("dst") || !e["dst"].is_string()) return bad(field + ".dst", "required");
      RouteResult rr;
      auto d = netlink::parseCidr(e["dst"].get<std::string>());
      if (!d.ok()) return bad(field + ".dst", std::string(d.status().message()));
      rr.dst = *d;
      if (e.contains("gw") && e["gw"].is_string()) {
        auto g = netlink::parseIp(e["gw"].get<std::string>());
        if (!g.ok()) return bad(field + ".gw", std::string(g.status().message()));
        rr.gw = *g;
      }
      r.routes.push_back(rr);
    }
  }
  return r;
}

json errorJson(const std::string& cniVersion, ErrorCode code, const std::string& msg, const std::string& details) {
  json out = {{"cniVersion", cniVersion.empty() ? "1.0.0" : cniVersion}, {"code", static_cast<int>(code)}, {"msg", msg}};
  if (!details.empty()) out["details"] = details;
  return out;
}

json versionJson(const std::string& cniVersion) {
  return {{"cniVersion", cniVersion.empty() ? "1.0.0" : cniVersion}, {"supportedVersions", supportedVersions()}};
}

}  // namespace cubelet::cni
