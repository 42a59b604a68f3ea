// Internal to pod_config: the pod's resolver configuration (pkg/kubelet/network/dns), its
// hostname (GeneratePodHostNameAndDomain, GetNodenameForKernel) and the DNS-name checks
// they rely on.
#pragma once

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

// validation.IsDNS1123Label / IsDNS1123Subdomain; the message names what is wrong, empty
// when valid.
std::string dns1123LabelError(std::string_view value);
std::string dns1123SubdomainError(std::string_view value);

}  // namespace cubelet::runtime::poddns
