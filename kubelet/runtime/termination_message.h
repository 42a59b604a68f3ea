// Termination messages (the upstream kubelet's getTerminationMessage and
// readLastStringFromContainerLogs): the file a container wrote at its terminationMessagePath,
// or with FallbackToLogsOnError and a failed exit, the tail of its CRI log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cubelet::runtime {

// Limits of the upstream kubelet.
inline constexpr size_t kMaxTerminationMessageBytes = 4096;
inline constexpr size_t kMaxTerminationLogBytes = 2048;
inline constexpr size_t kMaxTerminationLogLines = 80;

// The first kMaxTerminationMessageBytes of a file; NotFound if it is missing.
absl::StatusOr<std::string> readTerminationMessageFile(const std::string& path);

// The content of the last `maxLines` lines of a CRI log ("<RFC3339Nano> <stream> <P|F>
// <content>", partial "P" lines continued by the next), both streams, cut to the last
// `maxBytes` bytes. Malformed lines are skipped.
std::string lastLogContent(std::string_view criLog, size_t maxLines = kMaxTerminationLogLines,
                           size_t maxBytes = kMaxTerminationLogBytes);

// lastLogContent of the end of the file at `path` ("" when unreadable).
std::string readLastLogContent(const std::string& path);

// Creates <dir>/<random hex> (and dir) as an empty, world-writable file for a container to
// write its termination message into; returns its path.
absl::StatusOr<std::string> createTerminationMessageFile(const std::string& dir);

}  // namespace cubelet::runtime
