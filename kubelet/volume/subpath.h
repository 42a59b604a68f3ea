// Race-free subPath preparation (volumeMounts[].subPath / subPathExpr) and its cleanup.
//
// Layout: every subPath bind lives at
//   <podDir>/volume-subpaths/<volumeName>/<containerName>/<volumeMountIndex>
// where <volumeMountIndex> is the index of the volumeMount in the container's list. The
// target is a directory (0750) when the subPath names a directory and an empty file (0640)
// otherwise; its parents are created 0750. The CRI mount's host_path is that target.
//
// Why this is safe against CVE-2017-1002101 (a symlink planted in the volume pointing at a
// host path) and CVE-2021-25741 (swapping a path component for a symlink between a check and
// the mount): the subPath is resolved exactly once, by the kernel, with openat2(2)
// RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS relative to an fd of the volume, and the mount is
// made from the resulting O_PATH fd (open_tree + move_mount), never from a path string.
// Symlinks that stay inside the volume are followed on purpose: a configMap key is a
// relative symlink (key -> ..data/key), so RESOLVE_NO_SYMLINKS would break subPath: key.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cubelet::volume {

// Binds `subPath` of the volume at `volumePath` onto `bindTarget` and returns bindTarget.
//   - InvalidArgument: empty or absolute subPath, or a '..' component;
//   - PermissionDenied: the subPath resolves outside the volume (through a symlink) or through
//     a /proc magic link;
//   - NotFound: the subPath does not exist (creating missing subPath dirs is the caller's job).
// Messages name the subPath and the volume path; they are for the log, not for the user
// (upstream shows only `failed to prepare subPath for volumeMount "<m>" of container "<c>"`).
// If bindTarget already has a mount of the same file (a container restart), it is reused; a
// mount of anything else there is unmounted first. Nothing stays mounted on failure.
absl::StatusOr<std::string> prepareSubPath(const std::string& volumePath, const std::string& subPath,
                                           const std::string& bindTarget);

// Creates the missing directories of `subPath` inside the volume (the upstream kubelet does
// this when <volume>/<subPath> does not exist), each with mode `perm` (fchmod, so the umask
// does not apply and setgid/sticky bits are kept; upstream passes the volume root's mode).
// Every prefix is resolved with openat2 beneath the volume, as in prepareSubPath, so a symlink
// planted by a container can never make it create directories outside. Existing
// directories are left as they are. Same error codes as prepareSubPath.
absl::Status makeSubPathDirs(const std::string& volumePath, const std::string& subPath, mode_t perm);

// Unmounts everything below `podVolumeSubpathsDir` (<podDir>/volume-subpaths), deepest first,
// then removes its <volume>/<container>/<index> entries and the directory itself, never
// following symlinks. A missing directory is OK. Errors are collected; the first is returned
// after everything removable was removed.
absl::Status cleanSubPaths(const std::string& podVolumeSubpathsDir);

}  // namespace cubelet::volume
