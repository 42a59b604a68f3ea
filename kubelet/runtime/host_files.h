// Host files the runtime manager reads and writes for pods: the node's resolv.conf and
// /etc/hosts it reads, and the managed hosts file it keeps in each pod's directory.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cubelet::runtime {

// The whole file. Errors read as Go's os.Open / os.ReadFile word them, since the upstream
// kubelet passes those on: "open /etc/resolv.conf: no such file or directory".
absl::StatusOr<std::string> readHostFile(const std::string& path);

// Makes `path` hold exactly `content` with permissions exactly `mode` (whatever the umask),
// without a moment where a reader could see it empty or half written: the content goes to
// a new file in the same directory, which is then renamed over `path`. A file that already
// holds `content` is kept (only its mode is set), so containers that bind-mounted it keep
// sharing it. The directory must exist. Errors name the path.
absl::Status replaceFileAtomically(const std::string& path, std::string_view content, mode_t mode);

}  // namespace cubelet::runtime
