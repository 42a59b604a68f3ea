// Service environment variables (upstream pkg/kubelet/envvars and getServiceEnvVarMap): every
// container gets FOO_SERVICE_HOST, FOO_SERVICE_PORT and the Docker-link FOO_PORT_* variables of
// the master service (default/kubernetes) and, when the pod's enableServiceLinks is true, of each
// service in its namespace that has a cluster IP. ServiceStore is the node's view of all
// Services, fed by a list+watch of /api/v1/services.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cubelet::runtime {

// What the variables need of one Service.
struct ServiceInfo {
  struct Port {
    std::string name;
    int32_t port = 0;
    std::string protocol;  // TCP when empty
  };
  std::string ns;
  std::string name;
  std::string clusterIp;  // spec.clusterIP; "None" or empty: no variables
  std::vector<Port> ports;
};

// Reads the fields above from a Service object; anything missing stays empty.
ServiceInfo serviceInfoFromJson(const nlohmann::json& service);

// The variables of these services, in order (later services overwrite earlier ones of the same
// variable name). Services without a cluster IP or without ports give none.
std::map<std::string, std::string> serviceEnvVars(const std::vector<ServiceInfo>& services);

// The services whose variables a pod in `ns` gets: default/kubernetes always (unless `ns` has a
// service of that name and enableServiceLinks), and with enableServiceLinks every service of
// `ns` with a cluster IP.
std::vector<ServiceInfo> servicesForPod(const std::vector<ServiceInfo>& all, const std::string& ns,
                                        bool enableServiceLinks);

class ServiceStore {
 public:
  // A (re)list: the complete set of services.
  void replace(const std::vector<nlohmann::json>& items);
  // A watch event: ADDED, MODIFIED or DELETED.
  void apply(const std::string& type, const nlohmann::json& service);
  bool synced() const;

  // The variables for a pod in `ns`. Fails with FailedPrecondition until the first list
  // arrived, unless `staticPod` (a static pod does not wait for the apiserver).
  absl::StatusOr<std::map<std::string, std::string>> envFor(const std::string& ns, bool enableServiceLinks,
                                                            bool staticPod) const;

 private:
  mutable std::mutex mu_;
  bool synced_ = false;
  std::map<std::string, ServiceInfo> services_;  // by "ns/name"
};

}  // namespace cubelet::runtime
