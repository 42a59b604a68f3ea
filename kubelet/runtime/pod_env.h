// Internal to pod_config: container environment (makeEnvironmentVariables), $(VAR) expansion
// (third_party/forked/golang/expansion) and the downward API values env vars can carry.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kubelet/runtime/pod_config.h"
#include "kubelet/runtime/pod_spec.h"

namespace cubelet::runtime::podenv {

// Resolves a variable name; nullopt leaves the reference as written.
using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Kubernetes $(VAR) expansion: $(NAME) is replaced by its value when known and kept as is
// otherwise; $$ is an escaped $; any other $ is literal; an unterminated $( is kept. Nothing
// is expanded recursively.
std::string expand(std::string_view input, const Lookup& lookup);

using EnvList = std::vector<std::pair<std::string, std::string>>;

// The container's environment, in a stable order: envFrom variables, then env variables in
// declaration order (a redeclared name keeps its first position and takes the last value),
// then service variables the container does not define. The upstream kubelet builds the
// same set but in Go map order.
absl::StatusOr<EnvList> makeEnvironment(const podspec::Pod& pod, const podspec::Container& container,
                                        const ContainerOptions& options, const NodeSettings& node);

// The value of a fieldRef (apiVersion, fieldPath) for the pod.
absl::StatusOr<std::string> podFieldValue(const podspec::Pod& pod, const podspec::EnvVarSource& ref,
                                          const ContainerOptions& options, const NodeSettings& node);

// The value of a resourceFieldRef from `container`, limits defaulted to allocatable.
absl::StatusOr<std::string> resourceFieldValue(const podspec::Pod& pod, const podspec::Container& container,
                                               const podspec::EnvVarSource& ref, const ResourceList& allocatable);

// Go's net.ParseIP (with leading zeros accepted in IPv4) and IP.String(): the canonical
// form, IPv4-mapped IPv6 as dotted IPv4; nullopt when it does not parse.
struct Ip {
  bool v4 = false;
  std::string text;
};
std::optional<Ip> parseIp(std::string_view s);

// sortPodIPs: the first IP of the node's primary family (the family of nodeIps[0], IPv4
// when there is none), then the first of the other family.
std::vector<std::string> sortPodIps(const std::vector<std::string>& podIps, const std::vector<std::string>& nodeIps);

// fieldpath.FormatMap: sorted k="v" lines, values quoted the Go way.
std::string formatMap(const std::map<std::string, std::string>& m);

// validation.IsQualifiedName: an optional DNS-subdomain prefix and "/", then a name of at
// most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric.
bool isQualifiedName(std::string_view value);

}  // namespace cubelet::runtime::podenv
