// The atomic writer: publishes a set of files (a configMap, secret, downwardAPI or projected
// volume's contents) into a directory so that a reader never sees a half-updated set.
//
// Layout of the target directory after a write:
//   ..2026_05_10_12_34_56.1234567890/   the current version (0755), holding the payload files
//   ..2026_05_10_12_30_01.987654321/    a retired version, kept for a grace period (below)
//   ..data -> ..2026_05_10_12_34_56.1234567890
//   key -> ..data/key                     one symlink per top-level payload name
// An update writes a new timestamped dir, points `..data_tmp` at it and renames that over
// `..data` (the one atomic step), then fixes the visible links. The old dir is removed
// after a grace period (see write()).
// Names starting with ".." are reserved for the writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cubelet::volume {

// One file of the payload.
struct FileProjection {
  std::string data;
  // Permission bits, applied exactly (the umask does not matter).
  uint32_t mode = 0644;
  // When set, the file is chowned to this uid; the gid is left alone.
  std::optional<uint32_t> fsUser;
};

// Relative path (may be nested, "a/b/c") -> file.
using Payload = std::map<std::string, FileProjection>;

// Checks one payload path with the upstream kubelet's rules and messages (InvalidArgument):
// not empty, relative, at most 4096 characters, no ".." element, no element over 255
// characters, and a first element that does not start with "..". Additionally a path that
// names nothing once "." and empty elements are dropped (".", "./") is refused.
absl::Status validatePayloadPath(std::string_view path);

// Removes `path` and, when it is a directory, everything below it. Symlinks are removed, never
// followed (every level is opened with O_NOFOLLOW relative to its parent's fd), so the removal
// cannot leave the tree. The parent directories of `path` are resolved normally. A missing
// `path` is not an error.
absl::Status removeAll(const std::string& path);

// Writes payloads into one target directory. Not thread-safe: one writer per target dir, and
// the caller serialises calls to write() (the volume manager runs one SetUp per volume at a
// time). Readers need no locking.
//
// Safety: the target dir is opened once per write with O_DIRECTORY|O_NOFOLLOW and everything
// below it is done with *at calls, so a symlink planted inside the volume cannot redirect a
// write. A target dir that is itself a symlink is refused (ELOOP/ENOTDIR error), not followed.
// The target dir must already exist.
class AtomicWriter {
 public:
  // `logContext` names the volume in logs and errors (e.g. `pod ns/name volume "cfg"`).
  AtomicWriter(std::string targetDir, std::string logContext);

  // Publishes `payload` (upstream Write):
  //  1. every path is validated first; an invalid one changes nothing on disk;
  //  2. crash leftovers are removed: a stale `..data_tmp`, and timestamped `..` dirs that
  //     `..data` does not point to;
  //  3. if every file already has the same bytes and no path disappeared, nothing is written
  //     (the visible top-level links are still re-created when missing);
  //  4. otherwise a new timestamped dir is written (files with their exact mode, chowned to
  //     fsUser when set), `setPerms(tsDirName)` runs when given (its error aborts, leaving
  //     `..data` as it was), `..data` is swapped atomically, top-level links are created,
  //     vanished top-level names are removed.
  //  5. The replaced timestamped dir is removed at the end of the write when the grace is
  //     zero (upstream). Otherwise this writer remembers it as retired and a later write()
  //     on the same object removes it once the grace has passed; a new AtomicWriter object
  //     (e.g. the next SetUp) treats it as a leftover and removes it right away.
  // Deviations from upstream:
  //  - the replaced version outlives the swap by the grace (default 1 s): upstream's
  //    immediate RemoveAll lets a reader that resolved `..data` just before the swap get
  //    ENOENT (the unit test saw ~20 in 500 back-to-back updates);
  //  - the first write of an empty payload still creates `..data` (pointing at an empty dir),
  //    so the layout is the same for every volume;
  //  - parent dirs of nested files get 0755 whatever the umask (upstream: 0777 &~umask).
  //  - crash leftovers (`..data_tmp`, unpublished versions) are cleaned up.
  absl::Status write(const Payload& payload,
                     const std::function<absl::Status(const std::string& tsDirName)>& setPerms = nullptr);

  const std::string& targetDir() const { return targetDir_; }

  // How long a replaced version is kept for readers still inside it. 0: removed at the end
  // of the write that replaced it, exactly as upstream.
  void setRetireGrace(std::chrono::milliseconds grace) { retireGrace_ = grace; }

 private:
  std::string targetDir_;
  std::string logContext_;
  std::chrono::milliseconds retireGrace_{1000};
  // Versions this writer replaced, and when.
  std::map<std::string, std::chrono::steady_clock::time_point> retired_;
};

}  // namespace cubelet::volume
