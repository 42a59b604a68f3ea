#include "kubelet/runtime/pod_dns.h"

#include <algorithm>
#include <set>

#include "kubelet/runtime/pod_env.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pod_strings.h"

namespace cubelet::runtime::poddns {
namespace {

using podspec::Pod;

// Resolver limits the apiserver validates dnsConfig against (core validation).
constexpr size_t kMaxNameservers = 3;
constexpr size_t kMaxSearchPaths = 32;
constexpr size_t kMaxSearchListChars = 2048;
constexpr size_t kMaxSubdomainLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxResolvConfLength = 10 << 20;
constexpr std::string_view kAsciiSpace = " \t\n\v\f\r";

constexpr std::string_view kLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character";
constexpr std::string_view kSubdomainFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character";

bool lowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Matches [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool labelSyntax(std::string_view s) {
  if (s.empty() || !lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lowerAlnum(c) || c == '-'; });
}

bool subdomainSyntax(std::string_view s) {
  for (std::string_view label : podstr::split(s, '.')) {
    if (!labelSyntax(label)) return false;
  }
  return true;
}

std::string trimSpace(std::string_view s) {
  const size_t first = s.find_first_not_of(kAsciiSpace);
  if (first == std::string_view::npos) return "";
  return std::string(s.substr(first, s.find_last_not_of(kAsciiSpace) - first + 1));
}

std::vector<std::string> omitDuplicates(const std::vector<std::string>& in) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const std::string& s : in) {
    if (seen.insert(s).second) out.push_back(s);
  }
  return out;
}

// An option list keyed by the text before the first ':', a later entry replacing an earlier
// one in place. (Upstream keys a Go map, so its order varies from call to call.)
class OptionList {
 public:
  void set(std::string name, std::string option) {
    for (auto& [n, o] : entries_) {
      if (n == name) {
        o = std::move(option);
        return;
      }
    }
    entries_.emplace_back(std::move(name), std::move(option));
  }
  std::vector<std::string> options() const {
    std::vector<std::string> out;
    for (const auto& [n, o] : entries_) out.push_back(o);
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

std::string optionName(std::string_view option) { return std::string(option.substr(0, option.find(':'))); }

// mergeDNSOptions: the pod's dnsConfig options override the base ones by name.
std::vector<std::string> mergeOptions(const std::vector<std::string>& base,
                                      const std::vector<podspec::DnsConfigOption>& pod) {
  OptionList merged;
  auto render = [](std::string_view name, std::string_view value) {
    return value.empty() ? std::string(name) : podstr::cat(name, ":", value);
  };
  for (const std::string& op : base) {
    const size_t colon = op.find(':');
    const std::string name = op.substr(0, colon);
    merged.set(name, render(name, colon == std::string::npos ? "" : std::string_view(op).substr(colon + 1)));
  }
  for (const podspec::DnsConfigOption& op : pod) merged.set(op.name, render(op.name, op.value.value_or("")));
  return merged.options();
}

std::vector<std::string> fitSearches(std::vector<std::string> searches, std::vector<PodEvent>& events) {
  bool exceeded = false;
  if (searches.size() > kMaxSearchPaths) {
    searches.resize(kMaxSearchPaths);
    exceeded = true;
  }
  // Some resolvers (glibc 2.28) abort on a search path above 255 characters.
  const size_t before = searches.size();
  std::erase_if(searches, [](const std::string& s) { return s.size() > kMaxSubdomainLength; });
  exceeded = exceeded || searches.size() != before;
  size_t lineLength = 0;
  for (const std::string& s : searches) lineLength += s.size() + 1;
  if (lineLength > 0) --lineLength;
  if (lineLength > kMaxSearchListChars) {
    while (!searches.empty() && lineLength > kMaxSearchListChars) {
      lineLength -= std::min(lineLength, searches.back().size() + 1);
      searches.pop_back();
    }
    exceeded = true;
  }
  if (exceeded) {
    events.push_back({"DNSConfigForming",
                      podstr::cat("Search Line limits were exceeded, some search paths have been omitted, the "
                                   "applied search line is: ",
                                   podstr::join(searches, " "))});
  }
  return searches;
}

std::vector<std::string> fitNameservers(std::vector<std::string> servers, std::vector<PodEvent>& events) {
  if (servers.size() > kMaxNameservers) {
    servers.resize(kMaxNameservers);
    events.push_back({"DNSConfigForming",
                      podstr::cat("Nameserver limits were exceeded, some nameservers have been omitted, the "
                                   "applied nameserver line is: ",
                                   podstr::join(servers, " "))});
  }
  return servers;
}

// hostsEntriesFromHostAliases: nothing without aliases; else an empty line, a comment, and
// one line per alias with its names separated by tabs.
std::string hostAliasesBlock(const std::vector<podspec::HostAlias>& aliases) {
  if (aliases.empty()) return "";
  std::string out = "\n# Entries added by HostAliases.\n";
  for (const podspec::HostAlias& a : aliases) podstr::append(out, a.ip, "\t", podstr::join(a.hostnames, "\t"), "\n");
  return out;
}

std::string truncateHostname(const Pod& pod, const std::string& hostname, absl::Status& error) {
  if (hostname.size() <= kMaxLabelLength) return hostname;
  // The kernel's nodename holds 64 bytes with the NUL; a name must not end in '-' or '.'.
  std::string truncated = hostname.substr(0, kMaxLabelLength);
  while (!truncated.empty() && (truncated.back() == '-' || truncated.back() == '.')) truncated.pop_back();
  if (truncated.empty()) {
    error = absl::InvalidArgumentError(
        podstr::cat("hostname for pod ", gojson::quote(pod.name), " was invalid: ", gojson::quote(hostname)));
  }
  return truncated;
}

}  // namespace

std::string dns1123LabelError(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kMaxLabelLength) errs.push_back(podstr::cat("must be no more than ", kMaxLabelLength, " characters"));
  if (!labelSyntax(value)) {
    if (subdomainSyntax(value)) {
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(podstr::cat(kLabelMsg, " (e.g. 'my-name', or '123-abc', regex used for validation is '",
                                  kLabelFmt, "')"));
    }
  }
  return podstr::join(errs, ";");
}

std::string dns1123SubdomainError(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kMaxSubdomainLength) {
    errs.push_back(podstr::cat("must be no more than ", kMaxSubdomainLength, " characters"));
  }
  if (!subdomainSyntax(value)) {
    errs.push_back(podstr::cat(kSubdomainMsg, " (e.g. 'example.com', regex used for validation is '",
                                kSubdomainFmt, "')"));
  }
  return podstr::join(errs, ";");
}

absl::StatusOr<ResolvConf> parseResolvConf(std::string_view content) {
  if (content.size() > kMaxResolvConfLength) {
    return absl::InvalidArgumentError("resolv.conf is larger than 10MiB");
  }
  ResolvConf rc;
  OptionList options;
  bool emptyNameserver = false;
  for (std::string_view raw : podstr::split(content, '\n')) {
    const std::string line = trimSpace(raw);
    if (line.starts_with("#")) continue;
    std::vector<std::string_view> fields = podstr::fields(line, kAsciiSpace);
    if (fields.empty()) continue;
    if (fields[0] == "nameserver") {
      if (fields.size() >= 2) {
        rc.nameservers.emplace_back(fields[1]);
      } else {
        emptyNameserver = true;
      }
    } else if (fields[0] == "search") {
      // The last search line wins; "example.com." and "example.com" count once.
      rc.searches.clear();
      for (size_t i = 1; i < fields.size(); ++i) {
        std::string_view search = fields[i];
        if (search == ".") continue;
        if (search.ends_with('.')) search.remove_suffix(1);
        rc.searches.emplace_back(search);
      }
    } else if (fields[0] == "options") {
      for (size_t i = 1; i < fields.size(); ++i) options.set(optionName(fields[i]), std::string(fields[i]));
    }
  }
  if (emptyNameserver) return absl::InvalidArgumentError("nameserver list is empty ");
  rc.options = options.options();
  return rc;
}

absl::StatusOr<::runtime::v1::DNSConfig> podDnsConfig(const Pod& pod, const NodeSettings& node,
                                                      std::vector<PodEvent>& events) {
  std::vector<std::string> servers, searches, options;
  if (node.resolvConf) {
    auto rc = parseResolvConf(*node.resolvConf);
    if (!rc.ok()) {
      return absl::InvalidArgumentError(
          podstr::cat("Encountered error while parsing resolv conf file. Error: ", rc.status().message()));
    }
    servers = std::move(rc->nameservers);
    searches = std::move(rc->searches);
    options = std::move(rc->options);
  }

  enum class Kind { kCluster, kHost, kNone };
  Kind kind = Kind::kCluster;  // also for an unknown policy, as upstream falls back
  if (pod.dnsPolicy == "None") {
    kind = Kind::kNone;
  } else if (pod.dnsPolicy == "Default" || (pod.dnsPolicy == "ClusterFirst" && pod.hostNetwork)) {
    kind = Kind::kHost;
  }

  if (kind == Kind::kNone) {
    servers.clear();
    searches.clear();
    options.clear();
  }
  if (kind == Kind::kCluster) {
    if (!node.clusterDns.empty()) {
      // The cluster DNS server is the only one; it forwards what it cannot answer.
      servers.clear();
      for (const std::string& s : node.clusterDns) {
        auto ip = podenv::parseIp(s);
        servers.push_back(ip ? ip->text : s);
      }
      if (!node.clusterDomain.empty()) {
        std::vector<std::string> cluster = {podstr::cat(pod.ns, ".svc.", node.clusterDomain),
                                            podstr::cat("svc.", node.clusterDomain), node.clusterDomain};
        cluster.insert(cluster.end(), searches.begin(), searches.end());
        searches = omitDuplicates(cluster);
      }
      options = {"ndots:5"};
    } else {
      events.push_back(
          {"MissingClusterDNS",
           podstr::cat("pod: ", gojson::quote(podspec::podDescription(pod)),
                        ". kubelet does not have ClusterDNS IP configured and cannot create Pod using "
                        "\"ClusterFirst\" policy. Falling back to \"Default\" policy.")});
      kind = Kind::kHost;
    }
  }
  if (kind == Kind::kHost && !node.resolvConf) {
    // No resolv.conf: "use the nameserver on the local machine", and no search domains.
    for (const std::string& s : node.nodeIps) {
      auto ip = podenv::parseIp(s);
      servers.push_back(ip && !ip->v4 ? "::1" : "127.0.0.1");
    }
    if (servers.empty()) servers.push_back("127.0.0.1");
    searches = {"."};
  }

  if (pod.dnsConfig) {
    servers.insert(servers.end(), pod.dnsConfig->nameservers.begin(), pod.dnsConfig->nameservers.end());
    servers = omitDuplicates(servers);
    searches.insert(searches.end(), pod.dnsConfig->searches.begin(), pod.dnsConfig->searches.end());
    searches = omitDuplicates(searches);
    options = mergeOptions(options, pod.dnsConfig->options);
  }

  ::runtime::v1::DNSConfig cfg;
  for (std::string& s : fitNameservers(std::move(servers), events)) cfg.add_servers(std::move(s));
  for (std::string& s : fitSearches(std::move(searches), events)) cfg.add_searches(std::move(s));
  for (std::string& s : options) cfg.add_options(std::move(s));
  return cfg;
}

std::optional<std::string> resolvConfWarning(std::string_view path, const absl::StatusOr<std::string>& content,
                                             std::string_view clusterDomain) {
  if (!content.ok()) return std::string(content.status().message());
  auto rc = parseResolvConf(*content);
  if (!rc.ok()) return std::string(rc.status().message());
  // The cluster's three search domains come first in a ClusterFirst pod.
  const size_t maxDomains = clusterDomain.empty() ? kMaxSearchPaths : kMaxSearchPaths - 3;
  if (rc->searches.size() > maxDomains) {
    return podstr::cat("Resolv.conf file '", path, "' contains search line consisting of more than ", maxDomains,
                        " domains!");
  }
  for (const std::string& s : rc->searches) {
    if (s.size() > kMaxSubdomainLength) {
      return podstr::cat("Resolv.conf file ", gojson::quote(path),
                          " contains a search path which length is more than allowed ", kMaxSubdomainLength,
                          " chars!");
    }
  }
  if (podstr::join(rc->searches, " ").size() > kMaxSearchListChars) {
    return podstr::cat("Resolv.conf file '", path, "' contains search line which length is more than allowed ",
                        kMaxSearchListChars, " chars!");
  }
  return std::nullopt;
}

absl::Status validateHostAliases(const std::vector<podspec::HostAlias>& aliases) {
  for (size_t i = 0; i < aliases.size(); ++i) {
    const podspec::HostAlias& a = aliases[i];
    if (!podenv::parseIp(a.ip)) {
      return absl::InvalidArgumentError(
          podstr::cat("spec.hostAliases[", i, "].ip: Invalid value: ", gojson::quote(a.ip),
                       ": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
    }
    for (size_t j = 0; j < a.hostnames.size(); ++j) {
      if (std::string msg = dns1123SubdomainError(a.hostnames[j]); !msg.empty()) {
        return absl::InvalidArgumentError(podstr::cat("spec.hostAliases[", i, "].hostnames[", j,
                                                       "]: Invalid value: ", gojson::quote(a.hostnames[j]), ": ",
                                                       msg));
      }
    }
  }
  return absl::OkStatus();
}

std::string podNetworkHostsFile(const std::vector<std::string>& podIps, std::string_view hostname,
                                std::string_view domain, const std::vector<podspec::HostAlias>& aliases) {
  std::string out =
      "# Kubernetes-managed hosts file.\n"
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\n"
      "fe00::0\tip6-mcastprefix\n"
      "fe00::1\tip6-allnodes\n"
      "fe00::2\tip6-allrouters\n";
  for (const std::string& ip : podIps) {
    if (domain.empty()) {
      podstr::append(out, ip, "\t", hostname, "\n");
    } else {
      podstr::append(out, ip, "\t", hostname, ".", domain, "\t", hostname, "\n");
    }
  }
  return out + hostAliasesBlock(aliases);
}

std::string hostNetworkHostsFile(std::string_view nodeHosts, const std::vector<podspec::HostAlias>& aliases) {
  return podstr::cat("# Kubernetes-managed hosts file (host network).\n", nodeHosts, hostAliasesBlock(aliases));
}

absl::StatusOr<std::pair<std::string, std::string>> podHostnameAndDomain(const Pod& pod,
                                                                          std::string_view clusterDomain) {
  absl::Status error;
  if (pod.hostnameOverride) {
    const std::string& h = *pod.hostnameOverride;
    if (std::string msg = dns1123SubdomainError(h); !msg.empty()) {
      return absl::InvalidArgumentError(
          podstr::cat("pod HostnameOverride ", gojson::quote(h), " is not a valid DNS subdomain: ", msg));
    }
    std::string truncated = truncateHostname(pod, h, error);
    if (!error.ok()) return error;
    return std::make_pair(std::move(truncated), std::string());
  }
  std::string hostname = pod.name;
  if (!pod.hostname.empty()) {
    if (std::string msg = dns1123LabelError(pod.hostname); !msg.empty()) {
      return absl::InvalidArgumentError(
          podstr::cat("pod Hostname ", gojson::quote(pod.hostname), " is not a valid DNS label: ", msg));
    }
    hostname = pod.hostname;
  }
  hostname = truncateHostname(pod, hostname, error);
  if (!error.ok()) return error;
  std::string domain;
  if (!pod.subdomain.empty()) {
    if (std::string msg = dns1123LabelError(pod.subdomain); !msg.empty()) {
      return absl::InvalidArgumentError(
          podstr::cat("pod Subdomain ", gojson::quote(pod.subdomain), " is not a valid DNS label: ", msg));
    }
    domain = podstr::cat(pod.subdomain, ".", pod.ns, ".svc.", clusterDomain);
  }
  return std::make_pair(std::move(hostname), std::move(domain));
}

absl::StatusOr<std::string> nodenameForKernel(const std::string& hostname, const std::string& domain,
                                              bool setHostnameAsFqdn) {
  // The kernel's nodename field holds 64 characters.
  constexpr size_t kFqdnMaxLength = 64;
  if (domain.empty() || !setHostnameAsFqdn) return hostname;
  std::string fqdn = podstr::cat(hostname, ".", domain);
  if (fqdn.size() > kFqdnMaxLength) {
    return absl::InvalidArgumentError(podstr::cat(
        "failed to construct FQDN from pod hostname and cluster domain, FQDN ", fqdn, " is too long (",
        kFqdnMaxLength, " characters is the max, ", fqdn.size(), " characters requested)"));
  }
  return fqdn;
}

}  // namespace cubelet::runtime::poddns
