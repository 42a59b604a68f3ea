// Go time.Duration text form, as used by metav1.Duration fields in KubeletConfiguration
// ("10s", "5m0s", "1h2m3.5s") and by duration flags.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cubelet::objects {

// time.ParseDuration: an optional sign, then one or more <number><unit> terms where the
// number may have a fraction ("1.5h", ".5s") and the unit is ns, us, µs, μs, ms, s, m or
// h; "0" alone (optionally signed) is zero. Fractions are converted the way Go does
// (through float64), so results match Go to the nanosecond. Errors (InvalidArgument)
// quote the input: garbage, a missing or unknown unit, or a total outside int64
// nanoseconds (the limit is about 2562047h47m16.854775807s).
absl::StatusOr<std::chrono::nanoseconds> parseDuration(std::string_view text);

// time.Duration.String(): "0s", "300ms", "1.5µs", "10s", "5m0s", "1h0m0s",
// "-2562047h47m16.854775808s". Sub-second values use the largest of ns/µs/ms that
// keeps a non-zero integer part; the micro sign is U+00B5 in UTF-8, as in Go.
std::string formatDuration(std::chrono::nanoseconds d);

}  // namespace cubelet::objects
