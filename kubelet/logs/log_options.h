// The options of a /containerLogs request, decoded from its query the way the upstream kubelet
// decodes v1.PodLogOptions (k/k pkg/kubelet/server/server.go getContainerLogs, apimachinery's
// url.Values conversion, pkg/apis/core/v1/validation ValidatePodLogOptions).
//
// Pure functions; no I/O. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cubelet::logs {

struct LogOptions {
  bool follow = false;
  bool previous = false;
  bool timestamps = false;
  std::optional<int64_t> tailLines;
  std::optional<int64_t> limitBytes;
  // Lines stamped before this are skipped (sinceSeconds resolved against "now", or sinceTime).
  std::optional<std::chrono::system_clock::time_point> since;
  // "All" | "Stdout" | "Stderr" (PodLogsQuerySplitStreams).
  std::string stream = "All";
};

// Decodes the query of a /containerLogs request.
//  - Legacy `tail=N` replaces tailLines; `tail=all` drops it (an empty `tail` is ignored).
//  - Repeated parameters: the first value counts, like Go's url.Values conversion.
//  - Booleans as apimachinery's query conversion: "0" or "false" (any case) is false, any
//    other value, the empty one included, is true.
//  - Integers as strconv.ParseInt (optional sign, decimal, 64 bit); sinceTime as RFC 3339.
//  - Unknown parameters are ignored.
// Errors:
//  - InvalidArgument when a value does not decode (server: 400 `{"message": "Unable to
//    decode query."}`);
//  - FailedPrecondition when decoded options are invalid: tailLines < 0, limitBytes < 1,
//    sinceSeconds < 1, both sinceSeconds and sinceTime, an unknown stream, or a stream other
//    than All together with tailLines (server: 422 `{"message": "Invalid request."}`).
// Messages name the parameter.
absl::StatusOr<LogOptions> parseLogOptions(const std::multimap<std::string, std::string>& query,
                                           std::chrono::system_clock::time_point now);

// RFC 3339 with an optional fraction of up to 9 digits ("2006-01-02T15:04:05.999999999Z07:00"
// as Go's time.Parse reads it with RFC3339 or RFC3339Nano): "Z" or a "+hh:mm"/"-hh:mm"
// offset, fields range-checked. nullopt when the text is not such a time.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text);

// "2006-01-02T15:04:05.000000000Z" (types.RFC3339NanoFixed), always in UTC.
std::string formatRfc3339NanoFixed(std::chrono::system_clock::time_point t);

}  // namespace cubelet::logs
