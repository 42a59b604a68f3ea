// hostPath volumes: the path checks the upstream kubelet makes before handing the host path
// to the runtime (no mount of its own; the runtime binds the path).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cubelet::volume {

// Whether a "/"-separated path has a ".." element (ValidatePathNoBacksteps).
bool hasBacksteps(std::string_view path);

// Checks (and for the *OrCreate types creates) `path` for hostPath.type `type`, with the
// upstream messages:
//   - a ".." element: `invalid HostPath `<path>`: must not contain '..'`;
//   - "" (unset): nothing else (containerd creates a missing path as a directory);
//   - DirectoryOrCreate: a missing path is created as a directory (0755, with parents);
//     FileOrCreate: a missing file is created empty (0644, the parent must exist);
//   - Directory, File, Socket, CharDevice, BlockDevice (and the *OrCreate types after the
//     creation): `hostPath type check failed, <path> is not a <what>, unable to determine its
//     type: path "<path>" does not exist` when missing, else
//     `hostPath type check failed: <path> is not a <what>, it's a <Type>`;
//   - anything else: `<type> is an invalid volume type`.
// The type is followed through symlinks (stat), as upstream.
absl::Status checkHostPath(const std::string& path, const std::string& type);

}  // namespace cubelet::volume
