// fsGroup ownership of a volume (the upstream SetVolumeOwnership): every file and directory
// below the volume gets the pod's fsGroup as its group and group access, directories get the
// setgid bit, so files created later inherit the group.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace cubelet::volume {

// fsGroupChangePolicy.
enum class FsGroupChangePolicy { kAlways, kOnRootMismatch };

// What the walk does to each entry, below and including `dir` (post-order, never following a
// symlink and never crossing into another mount):
//   - lchown(entry, -1, fsGroup) (group only);
//   - symlinks stop there (chmod would follow them);
//   - otherwise chmod(mode | mask), mask = 0440 for a read-only volume (configMap, secret,
//     downwardAPI, projected), else 0660; directories also get |0110 and setgid.
// Every entry is opened relative to its parent's fd with O_NOFOLLOW, so a container that
// swaps a directory for a symlink during the walk cannot redirect it outside the volume.
// Errors on single entries are logged and the walk goes on (as upstream); the first one is
// returned. With kOnRootMismatch the walk is skipped when the root already looks done
// (rootNeedsChange false).
absl::Status setVolumeOwnership(const std::string& dir, gid_t fsGroup, bool readOnly,
                                FsGroupChangePolicy policy = FsGroupChangePolicy::kAlways);

// The OnRootMismatch test: the root needs a change unless it is a directory whose group is
// fsGroup, whose permission bits include the volume's mask and 0110, and which has setgid.
bool rootNeedsChange(const std::string& dir, gid_t fsGroup, bool readOnly);

}  // namespace cubelet::volume
