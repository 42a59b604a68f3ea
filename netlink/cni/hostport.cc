// hostPort DNAT rules through iptables-restore.
#include "netlink/cni/hostport.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/status_macros.h"
#include "base/subprocess.h"

namespace cubelet::cni {
namespace {

constexpr const char* kTopChain = "CUBELET-HOSTPORTS";

std::string markerPath(const std::string& stateDir, const std::string& containerId) {
  return stateDir + "/hostports." + containerId;
}

// FNV-1a, 64 bits: stable across builds and machines (std::hash is not promised to be).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string tool(int family, const char* suffix) {
  return std::string(family == AF_INET6 ? "ip6tables" : "iptables") + suffix;
}

absl::Status run(const std::vector<std::string>& argv, const std::string& input, const std::string& what) {
  ASSIGN_OR_RETURN(ProcessResult r, runProcess(argv, input));
  if (r.exitCode != 0) {
    std::string err = r.err.empty() ? r.out : r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return cniError(ErrorCode::kHostPorts,
                    what + ": " + argv[0] + " exited with status " + std::to_string(r.exitCode) + ": " + err);
  }
  return absl::OkStatus();
}

// CUBELET-HOSTPORTS exists and PREROUTING and OUTPUT jump to it for local destinations.
// Declaring the chain in an iptables-restore input would flush it (and every other pod's
// jumps), so it is made with plain iptables commands, each checked first.
absl::Status ensureTopChain(int family) {
  std::string ipt = tool(family, "");
  ASSIGN_OR_RETURN(ProcessResult listed, runProcess({ipt, "-w", "-t", "nat", "-S", kTopChain}));
  if (listed.exitCode != 0) {
    ASSIGN_OR_RETURN(ProcessResult created, runProcess({ipt, "-w", "-t", "nat", "-N", kTopChain}));
    if (created.exitCode != 0 && created.err.find("exists") == std::string::npos) {
      return cniError(ErrorCode::kHostPorts, "create chain " + std::string(kTopChain) + ": " + created.err);
    }
  }
  for (const char* hook : {"PREROUTING", "OUTPUT"}) {
    std::vector<std::string> rule = {"-m", "addrtype", "--dst-type", "LOCAL", "-j", kTopChain};
    std::vector<std::string> check = {ipt, "-w", "-t", "nat", "-C", hook};
    check.insert(check.end(), rule.begin(), rule.end());
    ASSIGN_OR_RETURN(ProcessResult checked, runProcess(check));
    if (checked.exitCode == 0) continue;
    std::vector<std::string> add = {ipt, "-w", "-t", "nat", "-A", hook};
    add.insert(add.end(), rule.begin(), rule.end());
    RETURN_IF_ERROR(run(add, "", "jump from " + std::string(hook) + " to " + kTopChain));
  }
  return absl::OkStatus();
}

std::string match(const PortMapping& m) {
  std::string s = "-p " + m.protocol + " -m " + m.protocol + " --dport " + std::to_string(m.hostPort);
  if (!m.hostIP.empty()) s += " -d " + m.hostIP;
  return s;
}

}  // namespace

std::string hostPortChain(const std::string& network, const std::string& containerId) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(network + "/" + containerId)));
  return std::string("CUBELET-HP-") + hex;
}

std::string hostPortRestoreInput(const std::string& chain, const std::string& comment, const netlink::IpPrefix& podIp,
                                 const std::vector<PortMapping>& mappings) {
  std::ostringstream in;
  std::string dest = podIp.family == AF_INET6 ? "[" + podIp.ip() + "]" : podIp.ip();
  in << "*nat\n:" << chain << " - [0:0]\n";
  for (const PortMapping& m : mappings) {
    if (!m.hostIP.empty()) {
      auto host = netlink::parseIp(m.hostIP);
      if (host.ok() && host->family != podIp.family) continue;  // the other family's table
    }
    in << "-A " << chain << " " << match(m) << " -j DNAT --to-destination " << dest << ":" << m.containerPort
       << "\n";
  }
  for (const PortMapping& m : mappings) {
    if (!m.hostIP.empty()) {
      auto host = netlink::parseIp(m.hostIP);
      if (host.ok() && host->family != podIp.family) continue;
    }
    in << "-I " << kTopChain << " 1 " << match(m) << " -m comment --comment \"" << comment << "\" -j " << chain
       << "\n";
  }
  in << "COMMIT\n";
  return in.str();
}

absl::Status addHostPorts(const std::string& stateDir, const std::string& network, const std::string& containerId,
                          const netlink::IpPrefix& podIp, const std::vector<PortMapping>& mappings) {
  if (mappings.empty()) return absl::OkStatus();
  // The marker goes first: a crash after the rules are in leaves a marker, so DEL finds them.
  std::string marker = markerPath(stateDir, containerId);
  {
    std::ofstream f(marker, std::ios::trunc);
    f << (podIp.family == AF_INET6 ? "6" : "4") << "\n";
    if (!f.flush()) {
      return cniError(ErrorCode::kIoFailure, "write " + marker + ": " + std::strerror(errno));
    }
  }
  RETURN_IF_ERROR(ensureTopChain(podIp.family));
  std::string chain = hostPortChain(network, containerId);
  std::string input = hostPortRestoreInput(chain, "cubelet-cni " + network + " " + containerId, podIp, mappings);
  return run({tool(podIp.family, "-restore"), "-w", "--noflush"}, input, "add host port rules for " + containerId);
}

absl::Status removeHostPorts(const std::string& stateDir, const std::string& network, const std::string& containerId) {
  std::string marker = markerPath(stateDir, containerId);
  std::ifstream f(marker);
  if (!f) return absl::OkStatus();
  std::string fam;
  std::getline(f, fam);
  int family = fam == "6" ? AF_INET6 : AF_INET;
  std::string chain = hostPortChain(network, containerId);
  ASSIGN_OR_RETURN(ProcessResult saved, runProcess({tool(family, "-save"), "-t", "nat"}));
  if (saved.exitCode != 0) {
    return cniError(ErrorCode::kHostPorts, "list nat rules: " + tool(family, "-save") + ": " + saved.err);
  }
  std::string input = "*nat\n";
  bool chainExists = false;
  std::istringstream lines(saved.out);
  for (std::string line; std::getline(lines, line);) {
    if (line == ":" + chain || line.rfind(":" + chain + " ", 0) == 0) chainExists = true;
    if (line.starts_with(std::string("-A ") + kTopChain + " ") && line.ends_with(" -j " + chain)) {
      input += "-D" + line.substr(2) + "\n";
    }
  }
  if (chainExists) input += "-F " + chain + "\n-X " + chain + "\n";
  input += "COMMIT\n";
  if (input != "*nat\nCOMMIT\n") {
    RETURN_IF_ERROR(run({tool(family, "-restore"), "-w", "--noflush"}, input, "remove host port rules for " + containerId));
  }
  if (::unlink(marker.c_str()) != 0 && errno != ENOENT) {
    return cniError(ErrorCode::kIoFailure, "remove " + marker + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace cubelet::cni
