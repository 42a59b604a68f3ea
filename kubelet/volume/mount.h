// Mount helpers for volumes: a general /proc/self/mountinfo parser, mount-point checks,
// tmpfs and bind mounts, rshared propagation for the kubelet root dir, and unmounting.
//
// The cgroups library has its own mountinfo parser, but it is internal and keeps only cgroup
// entries; this one keeps every field of every entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cubelet::volume {

// One line of /proc/<pid>/mountinfo (proc(5)). Paths are unescaped (\040 -> ' ').
struct MountInfo {
  int id = 0;
  int parentId = 0;
  std::string root;            // the directory of the filesystem shown at mountPoint
  std::string mountPoint;
  std::string fsType;
  std::string source;
  std::string options;         // per-mount options ("rw,nosuid,relatime")
  std::string optionalFields;  // space-separated ("shared:5 master:1"), may be empty
  std::string superOptions;    // per-superblock options ("rw,size=1024k,noswap")

  // True when the optional fields include a peer group (shared:N).
  bool shared() const;
};

// Parses mountinfo text; lines in file order. A malformed line is InvalidArgument.
absl::StatusOr<std::vector<MountInfo>> parseMountInfo(std::string_view text);
// Reads and parses a mountinfo file.
absl::StatusOr<std::vector<MountInfo>> readMountInfo(const std::string& path = "/proc/self/mountinfo");

// True when `path` (not following a final symlink) is the root of a mount. Uses statx's
// STATX_ATTR_MOUNT_ROOT, falling back to /proc/self/mountinfo when the kernel does not report
// it. False when the path cannot be examined.
bool isMountPoint(const std::string& path);

// Mounts a tmpfs on `dir` with "size=<bytes>" (when given) and "noswap" (when asked; kernel
// 6.4 or later). No other options, as the upstream kubelet does (the root's mode is 1777).
absl::Status mountTmpfs(const std::string& dir, std::optional<uint64_t> sizeBytes, bool noswap);

// Bind-mounts `src` onto `dst` (not recursive). With readOnly the bind is then remounted
// read-only, keeping the nosuid/nodev/noexec flags of the source; if that fails the bind is
// undone.
absl::Status bindMount(const std::string& src, const std::string& dst, bool readOnly);

// Makes `dir` sit on a shared mount with recursive shared propagation, like the upstream
// kubelet does for its root dir: when the mount containing `dir` has no shared:N peer group,
// `dir` is bind-mounted onto itself (unless it is already a mount point) and then made
// MS_REC|MS_SHARED. Idempotent: a second call finds the mount shared and does nothing.
absl::Status makeRShared(const std::string& dir);

// Unmounts `path` without following a final symlink. A path that is not a mount point
// (EINVAL) or does not exist (ENOENT) is OK. On EBUSY, and only then, it falls back to a lazy
// MNT_DETACH unmount and logs a warning: the mount disappears from the namespace at once but
// the filesystem stays alive until its last user goes.
absl::Status unmount(const std::string& path);

// Mount points at or below `dir` (canonicalised with realpath), deepest first; a path with
// stacked mounts appears once per mount, the topmost first, so unmounting the list in order
// empties it. A missing `dir` gives an empty list.
absl::StatusOr<std::vector<std::string>> mountsUnder(const std::string& dir);

}  // namespace cubelet::volume
