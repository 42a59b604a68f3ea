// cubelet-cni's commands: one invocation (environment + stdin) in, exit code and stdout out.
// main.cc only gathers the process's environment and stdin and prints; tests call run()
// directly.
//
// type "cubelet-cni" (the pod network):
//   ADD    addresses from the IPAM store, a node bridge holding each range's gateway, a veth
//          pair with CNI_IFNAME created directly inside the pod's namespace, the host end
//          a hairpin port of the bridge, the pod's addresses and routes (default: a default
//          route per family via its gateway), hostPort rules. Never touches ip_forward, and
//          adds no NAT toward the outside. On failure everything allocated is released.
//   DEL    host port rules, the pod's interface (when its namespace still exists), the
//          addresses. Succeeds when things are already gone; repeated DELs are fine.
//   CHECK  the addresses recorded for the sandbox match prevResult and sit on the pod's
//          interface; the bridge exists.
// type "loopback" (the runtime adds it before every pod network; containerd 1.6 needs it):
//   ADD sets `lo` up in the pod's namespace; DEL does nothing.
#pragma once

#include <string>
#include <string_view>

#include "netlink/cni/config.h"

namespace cubelet::cni {

struct Output {
  int exitCode = 0;
  std::string stdoutText;  // result, error object or version answer
};

Output run(std::string_view stdinText, const GetEnv& getenv);

// Test hook: when <dataDir>/<network>/fault-injection exists and holds
// "pause-after-reserve=SECONDS", ADD sleeps that long after reserving its addresses and
// before creating any link, so a test can kill the plugin mid-ADD. Root-only directory.
inline constexpr std::string_view kFaultInjectionFile = "fault-injection";

}  // namespace cubelet::cni
