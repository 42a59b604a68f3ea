// hostPort for cubelet-cni: DNAT rules in the nat table, in our own chains (no chained
// portmap plugin and no SNAT/masquerade: nothing here rewrites traffic leaving the node).
//
//   PREROUTING, OUTPUT  -m addrtype --dst-type LOCAL -j CUBELET-HOSTPORTS
//   CUBELET-HOSTPORTS   -p tcp --dport 8080 [-d hostIP] -j CUBELET-HP-<hash>   (one per mapping,
//                       newest first, so the last pod to claim a port gets it, as with portmap)
//   CUBELET-HP-<hash>   -p tcp --dport 8080 [-d hostIP] -j DNAT --to-destination <podIP>:<port>
//
// <hash> is derived from the network name and the sandbox id. A marker file per sandbox in
// the IPAM dir records that rules exist, so a DEL of a pod without host ports costs no exec.
// Rules are written with iptables-restore --noflush (one atomic transaction per pod).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "netlink/cni/config.h"
#include "netlink/nlroute.h"

namespace cubelet::cni {

// The per-sandbox chain name (at most 28 characters, iptables' limit).
std::string hostPortChain(const std::string& network, const std::string& containerId);

// The iptables-restore input adding one sandbox's rules (pure, for tests).
std::string hostPortRestoreInput(const std::string& chain, const std::string& comment, const netlink::IpPrefix& podIp,
                                 const std::vector<PortMapping>& mappings);

// Adds the rules for `podIp` (its family picks iptables or ip6tables); `stateDir` holds the
// marker. Errors carry the tool's stderr.
absl::Status addHostPorts(const std::string& stateDir, const std::string& network, const std::string& containerId,
                          const netlink::IpPrefix& podIp, const std::vector<PortMapping>& mappings);

// Removes the sandbox's rules if its marker says there are any. Idempotent.
absl::Status removeHostPorts(const std::string& stateDir, const std::string& network, const std::string& containerId);

}  // namespace cubelet::cni
