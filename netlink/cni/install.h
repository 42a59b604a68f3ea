// Putting cubelet-cni on a node: the plugin binary into the runtime's CNI bin dir and the
// conflist into its conf dir, both so that a runtime reading them at any moment sees either
// the old file or the complete new one. Used by cubelet (once the Node has a podCIDR) and by
// `cubelet-cni install` (for nodes whose agent does not do it, e.g. the upstream kubelet).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cubelet::cni {

// The conflist cubelet-cni's network uses.
struct NetworkSettings {
  std::string name = "cubelet";
  std::string bridge = "cni0";
  unsigned mtu = 0;                    // 0: the kernel's default
  std::vector<std::string> podCidrs;   // Node spec.podCIDRs: one per family, primary first
  std::string dataDir = "/var/lib/cni/networks";
};

// Its file name in the runtime's conf dir.
inline constexpr const char* kConflistName = "10-cubelet.conflist";

// The conflist text (pure). InvalidArgument names a podCIDR that is not a CIDR.
absl::StatusOr<std::string> conflistText(const NetworkSettings& settings);

// Writes <confDir>/10-cubelet.conflist unless it already has exactly this content (a rewrite
// makes the runtime reload). The temporary file lives inside confDir under a name the
// runtime ignores and is renamed over the target: containerd reloads on the rename, never
// sees a half-written file, and ignores files that are created in place. Returns true when
// the file changed.
absl::StatusOr<bool> writeConflist(const std::string& confDir, const NetworkSettings& settings);

// The network configs in confDir (*.conf, *.conflist, *.json, as runtimes load them) that are
// not ours, sorted: another network add-on's. A missing dir has none.
std::vector<std::string> otherNetworkConfigs(const std::string& confDir);

// Copies `plugin` into binDir as cubelet-cni unless an identical file is there: copy to a
// temp file in binDir, chmod 0755, fsync, rename (a runtime executing the old binary keeps
// it; overwriting in place would fail with ETXTBSY). Adds loopback as a symlink to it where
// binDir has no working loopback plugin. Returns the names installed or replaced.
absl::StatusOr<std::vector<std::string>> installPlugin(const std::string& plugin, const std::string& binDir);

}  // namespace cubelet::cni
