#include "kubelet/runtime/service_env.h"

#include <algorithm>
#include <cctype>

namespace cubelet::runtime {
namespace {

using nlohmann::json;

constexpr const char* kMasterNamespace = "default";
constexpr const char* kMasterService = "kubernetes";

std::string stringAt(const json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "my-svc" -> "MY_SVC"
std::string envName(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool hasClusterIp(const ServiceInfo& s) { return !s.clusterIp.empty() && s.clusterIp != "None"; }

// "10.0.0.1:80", "[fd00::1]:80"
std::string hostPort(const std::string& ip, int32_t port) {
  const std::string p = std::to_string(port);
  return ip.find(':') != std::string::npos ? "[" + ip + "]:" + p : ip + ":" + p;
}

std::string key(const ServiceInfo& s) { return s.ns + "/" + s.name; }

}  // namespace

ServiceInfo serviceInfoFromJson(const json& service) {
  ServiceInfo s;
  const json empty = json::object();
  const json& meta = service.is_object() && service.contains("metadata") ? service["metadata"] : empty;
  const json& spec = service.is_object() && service.contains("spec") ? service["spec"] : empty;
  s.ns = stringAt(meta, "namespace");
  s.name = stringAt(meta, "name");
  s.clusterIp = stringAt(spec, "clusterIP");
  if (spec.is_object()) {
    if (auto it = spec.find("ports"); it != spec.end() && it->is_array()) {
      for (const json& p : *it) {
        ServiceInfo::Port port;
        port.name = stringAt(p, "name");
        port.protocol = stringAt(p, "protocol");
        if (p.is_object()) {
          if (auto n = p.find("port"); n != p.end() && n->is_number_integer()) port.port = n->get<int32_t>();
        }
        s.ports.push_back(std::move(port));
      }
    }
  }
  return s;
}

std::map<std::string, std::string> serviceEnvVars(const std::vector<ServiceInfo>& services) {
  std::map<std::string, std::string> env;
  for (const ServiceInfo& s : services) {
    if (!hasClusterIp(s) || s.ports.empty()) continue;
    const std::string prefix = envName(s.name);
    env[prefix + "_SERVICE_HOST"] = s.clusterIp;
    env[prefix + "_SERVICE_PORT"] = std::to_string(s.ports.front().port);
    for (const auto& p : s.ports) {
      if (!p.name.empty()) env[prefix + "_SERVICE_PORT_" + envName(p.name)] = std::to_string(p.port);
    }
    // The Docker link variables; the first port also as FOO_PORT.
    for (size_t i = 0; i < s.ports.size(); ++i) {
      const auto& p = s.ports[i];
      const std::string protocol = p.protocol.empty() ? "TCP" : p.protocol;
      const std::string url = lower(protocol) + "://" + hostPort(s.clusterIp, p.port);
      if (i == 0) env[prefix + "_PORT"] = url;
      std::string upper = protocol;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const std::string portPrefix = prefix + "_PORT_" + std::to_string(p.port) + "_" + upper;
      env[portPrefix] = url;
      env[portPrefix + "_PROTO"] = lower(protocol);
      env[portPrefix + "_PORT"] = std::to_string(p.port);
      env[portPrefix + "_ADDR"] = s.clusterIp;
    }
  }
  return env;
}

std::vector<ServiceInfo> servicesForPod(const std::vector<ServiceInfo>& all, const std::string& ns,
                                        bool enableServiceLinks) {
  // By service name: the pod's own namespace wins over the master service of the same name.
  std::map<std::string, const ServiceInfo*> chosen;
  for (const ServiceInfo& s : all) {
    if (!hasClusterIp(s)) continue;
    if (enableServiceLinks && s.ns == ns) {
      chosen[s.name] = &s;
    } else if (s.ns == kMasterNamespace && s.name == kMasterService) {
      chosen.try_emplace(s.name, &s);
    }
  }
  std::vector<ServiceInfo> out;
  out.reserve(chosen.size());
  for (const auto& [name, s] : chosen) out.push_back(*s);
  return out;
}

void ServiceStore::replace(const std::vector<json>& items) {
  std::map<std::string, ServiceInfo> next;
  for (const json& item : items) {
    ServiceInfo s = serviceInfoFromJson(item);
    if (s.name.empty()) continue;
    next[key(s)] = std::move(s);
  }
  std::lock_guard lock(mu_);
  services_ = std::move(next);
  synced_ = true;
}

void ServiceStore::apply(const std::string& type, const json& service) {
  ServiceInfo s = serviceInfoFromJson(service);
  if (s.name.empty()) return;
  std::lock_guard lock(mu_);
  if (type == "DELETED") {
    services_.erase(key(s));
  } else if (type == "ADDED" || type == "MODIFIED") {
    services_[key(s)] = std::move(s);
  }
}

bool ServiceStore::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

absl::StatusOr<std::map<std::string, std::string>> ServiceStore::envFor(const std::string& ns, bool enableServiceLinks,
                                                                         bool staticPod) const {
  std::vector<ServiceInfo> all;
  {
    std::lock_guard lock(mu_);
    if (!synced_ && !staticPod) {
      return absl::FailedPreconditionError("services have not yet been read at least once, cannot construct envvars");
    }
    all.reserve(services_.size());
    for (const auto& [k, s] : services_) all.push_back(s);
  }
  return serviceEnvVars(servicesForPod(all, ns, enableServiceLinks));
}

}  // namespace cubelet::runtime
