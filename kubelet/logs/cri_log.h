// Container logs in the CRI format (k/k pkg/kubelet/kuberuntime/logs/logs.go): parsing one
// line, reading a log file with the /containerLogs options (tail, since, limitBytes,
// timestamps, stream, follow across rotation), and choosing which container's log a request
// means (pkg/kubelet/kubelet_pods.go validateContainerLogStatus).
//
// Parsing is pure; readLogs does the file I/O. Everything here is thread-safe (no shared state).
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kubelet/logs/log_options.h"

namespace cubelet::logs {

enum class LogStream { kStdout, kStderr };

// One line of a CRI log file:
//   <RFC3339Nano timestamp> <stdout|stderr> <tags> <content>\n
// `tags` are ':'-separated; the first is P (partial: the runtime split a long line, and the
// fragment's newline is not part of the output) or F (full).
struct CriLogLine {
  std::chrono::system_clock::time_point time;
  LogStream stream = LogStream::kStdout;
  bool partial = false;
  // The content as written to the client: with its trailing '\n' for a full line, without
  // it for a partial one. A view into the parsed text.
  std::string_view content;
};

// Parses one line (with or without its trailing '\n'). Errors are InvalidArgument saying
// what is wrong: "timestamp is not found", "unexpected timestamp format ...",
// "stream type is not found", "unexpected stream type \"x\"", "log tag is not found".
absl::StatusOr<CriLogLine> parseCriLogLine(std::string_view line);

// Streams the log at `path` to `sink` as the upstream kubelet's ReadLogs does:
//  - tailLines counts raw file lines (partial fragments included) from the end of the file;
//    without follow, reading stops after that many lines were handled;
//  - lines stamped before `since` are skipped;
//  - limitBytes counts the bytes handed to `sink` (timestamp prefixes included); the line
//    that crosses it is cut, then reading stops;
//  - timestamps=true prefixes a logical line (not each continuation fragment) with
//    formatRfc3339NanoFixed(time) and a space;
//  - stream "Stdout"/"Stderr" drops the other stream's lines (they take no bytes);
//  - lines that do not parse are skipped (logged at -v=2);
//  - without follow, a trailing line without '\n' is still handled once.
// follow: at the end of the file asks `containerRunning()`; when it says false, reads to the
// end once more and returns. Otherwise waits for the file to change (inotify on the file and
// its directory, and at least every second). When the file was renamed or removed
// (rotation), the old file is read to its end first, then `path` is reopened (retried until it
// exists). `stop` is honoured within about a second.
// `sink` returning false means the client went away: readLogs returns OK. Errors: the file
// cannot be opened or read (NotFound when it does not exist), naming the path.
// `containerRunning` is only called in follow mode and may be null (treated as running).
absl::Status readLogs(const std::string& path, const LogOptions& opts,
                      const std::function<bool(std::string_view)>& sink,
                      const std::function<bool()>& containerRunning, std::stop_token stop);

// The id (without its "containerd://" style scheme) of the container whose log a request
// means, from a pod's status (the `.status` object, or the whole pod): looked up in
// containerStatuses, initContainerStatuses, then ephemeralContainerStatuses. `previous`
// takes lastState.terminated. Errors are FailedPrecondition with the upstream texts, e.g.
// `container "c" in pod "p" is not available`, `previous terminated container "c" in pod
// "p" not found`, `container "c" in pod "p" is waiting to start: <reason>` (ErrImagePull ->
// "image can't be pulled", ImagePullBackOff -> "trying and failing to pull image"),
// `container "c" in pod "p" is waiting to start - no logs yet`, `container "c" in pod "p" is
// terminated`. The server answers them with 400 and the text.
absl::StatusOr<std::string> resolveLogContainerId(const nlohmann::json& podStatus, const std::string& podName,
                                                  const std::string& container, bool previous);

}  // namespace cubelet::logs
