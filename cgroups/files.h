// Internal to cgroups/: file access with errno-carrying errors, and the pure parsers of
// cgroupfs text. Not part of the public API (include cgroups/cgroups.h instead).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cubelet::cgroups::internal {

// strerror text, thread-safe.
std::string errnoText(int err);
// `<message><more>: <strerror>` with a status code chosen from the errno (ENOENT -> NotFound,
// EINVAL -> InvalidArgument, EBUSY -> FailedPrecondition, EACCES -> PermissionDenied ...).
// Two pieces so that call sites pass `errno` next to plain references: building the text
// inside the argument list could allocate, and so change errno, before it is read.
absl::Status errnoStatus(int err, std::string_view message, std::string_view more = {});

// "a" + "/" + "b", where an empty `rel` gives `dir` back.
std::string joinPath(std::string_view dir, std::string_view rel);

// Syscall wrappers for one cgroupfs tree. Every return value is checked; errors name the
// path, the value written and the errno text. Stateless apart from the mode flag, so safe to
// share between threads. See Options::plainDirectories for what `plain` changes.
class Files {
 public:
  explicit Files(bool plain) : plain_(plain) {}
  bool plain() const { return plain_; }

  // One open/write/close of the whole value, as cgroupfs needs: an interface file takes
  // one value per write(2).
  absl::Status write(const std::string& path, std::string_view value) const;
  absl::StatusOr<std::string> read(const std::string& path) const;
  // read(), except that in plain mode a missing file reads as "" (files the kernel would
  // have created empty, such as cgroup.procs, cgroup.subtree_control or a new v1 cpuset's
  // cpuset.cpus).
  absl::StatusOr<std::string> readKernelFile(const std::string& path) const;
  // False when nothing is at `path`; an error for other stat failures.
  absl::StatusOr<bool> isDirectory(const std::string& path) const;
  // mkdir; true when it made the directory, false when it already existed.
  absl::StatusOr<bool> makeDirectory(const std::string& path) const;
  // rmdir; in plain mode unlinks the regular files inside first.
  absl::Status removeDirectory(const std::string& path) const;
  // Names of the subdirectories (child cgroups) of `path`, sorted.
  absl::StatusOr<std::vector<std::string>> subdirectories(const std::string& path) const;

 private:
  bool plain_;
};

// Whitespace-trimmed text.
std::string_view trim(std::string_view s);
// A decimal unsigned integer, surrounding whitespace allowed; `what` names it in errors.
absl::StatusOr<uint64_t> parseUint(std::string_view text, std::string_view what);
// "key value" lines (memory.stat, cpu.stat). `what` names the file in errors.
absl::StatusOr<std::map<std::string, uint64_t>> parseFlatKeyed(std::string_view text, std::string_view what);
// cgroup.procs: one pid per line.
absl::StatusOr<std::vector<pid_t>> parsePids(std::string_view text, std::string_view what);
// Whitespace-separated words (cgroup.controllers, cgroup.subtree_control).
std::vector<std::string> splitWords(std::string_view text);

// Checks and normalizes a cgroup path: strips leading and trailing "/", rejects empty, "."
// and ".." components, and "" (the root) unless `allowRoot`.
absl::StatusOr<std::string> normalizeCgroupPath(std::string_view path, bool allowRoot);

}  // namespace cubelet::cgroups::internal
