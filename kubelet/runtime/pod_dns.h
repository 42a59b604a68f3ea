// Internal to pod_config: the pod's resolver configuration (pkg/kubelet/network/dns), its
// hostname (GeneratePodHostNameAndDomain, GetNodenameForKernel), its managed /etc/hosts
// (kubelet_pods.go) and the DNS-name checks they rely on.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kubelet/runtime/pod_config.h"
#include "kubelet/runtime/pod_spec.h"

namespace cubelet::runtime::poddns {

struct ResolvConf {
  std::vector<std::string> nameservers;  // every nameserver line, in order
  std::vector<std::string> searches;     // the last search line, "." dropped, trailing dots cut
  std::vector<std::string> options;      // every options word, the last per name kept
};

// Parses resolv.conf content the way the kubelet does; a "nameserver" line without an
// address is an error.
absl::StatusOr<ResolvConf> parseResolvConf(std::string_view content);

// GetPodDNS: the DNSConfig for the pod's dnsPolicy and dnsConfig. Events the kubelet would
// record (limits exceeded, no cluster DNS) are appended to `events`.
absl::StatusOr<::runtime::v1::DNSConfig> podDnsConfig(const podspec::Pod& pod, const NodeSettings& node,
                                                      std::vector<PodEvent>& events);

// GeneratePodHostNameAndDomain: {hostname, domain}.
absl::StatusOr<std::pair<std::string, std::string>> podHostnameAndDomain(const podspec::Pod& pod,
                                                                          std::string_view clusterDomain);

// GetNodenameForKernel: hostname, or hostname.domain with setHostnameAsFQDN.
absl::StatusOr<std::string> nodenameForKernel(const std::string& hostname, const std::string& domain,
                                              bool setHostnameAsFqdn);

// The container path of the managed hosts file.
inline constexpr std::string_view kEtcHostsPath = "/etc/hosts";

// The limits check of the node's resolv.conf (CheckLimitsForResolvConf); see
// resolvConfLimitsWarning in pod_config.h.
std::optional<std::string> resolvConfWarning(std::string_view path, const absl::StatusOr<std::string>& content,
                                             std::string_view clusterDomain);

// The apiserver's checks of spec.hostAliases (each ip an IP address, each hostname a DNS-1123
// subdomain), for pods that never passed them (static pods): no alias may put anything but
// one well-formed line into the hosts file. The message names the field
// (spec.hostAliases[1].ip).
absl::Status validateHostAliases(const std::vector<podspec::HostAlias>& aliases);

// managedHostsFileContent: the hosts file of a pod on the pod network. The header, the
// loopback names, one line per pod IP ("<ip>\t<hostname>.<domain>\t<hostname>", or
// "<ip>\t<hostname>" without a domain), then the hostAliases block.
std::string podNetworkHostsFile(const std::vector<std::string>& podIps, std::string_view hostname,
                                std::string_view domain, const std::vector<podspec::HostAlias>& aliases);

// nodeHostsFileContent: the hosts file of a pod on the node's network: its own header, the
// node's hosts file as it is, then the hostAliases block.
std::string hostNetworkHostsFile(std::string_view nodeHosts, const std::vector<podspec::HostAlias>& aliases);

// validation.IsDNS1123Label / IsDNS1123Subdomain; the message names what is wrong, empty
// when valid.
std::string dns1123LabelError(std::string_view value);
std::string dns1123SubdomainError(std::string_view value);

}  // namespace cubelet::runtime::poddns
