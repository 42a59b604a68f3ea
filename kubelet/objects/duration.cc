#include "kubelet/objects/duration.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cubelet::objects {
namespace {

constexpr uint64_t kNanosecond = 1;
constexpr uint64_t kMicrosecond = 1000 * kNanosecond;
constexpr uint64_t kMillisecond = 1000 * kMicrosecond;
constexpr uint64_t kSecond = 1000 * kMillisecond;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
// Magnitudes up to 2^63 are accepted while summing; only a negative total may use it.
constexpr uint64_t kMagnitudeLimit = uint64_t{1} << 63;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status durationError(std::string_view text, std::string_view why) {
  std::string msg = "duration \"";
  msg.append(text);
  msg += "\": ";
  msg.append(why);
  return absl::InvalidArgumentError(msg);
}

// The length of a duration unit in nanoseconds; 0 for an unknown unit.
uint64_t unitNanos(std::string_view unit) {
  if (unit == "ns") return kNanosecond;
  // "us", U+00B5 MICRO SIGN + s, and U+03BC GREEK SMALL LETTER MU + s.
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return kMicrosecond;
  if (unit == "ms") return kMillisecond;
  if (unit == "s") return kSecond;
  if (unit == "m") return kMinute;
  if (unit == "h") return kHour;
  return 0;
}

// Puts the fractional digits of v / 10^precision (".25": no trailing zeros, and no point
// at all when the fraction is zero) at the front of `buf`; returns v / 10^precision.
uint64_t prependFraction(std::string& buf, uint64_t v, int precision) {
  bool any = false;
  std::string digits;
  for (int i = 0; i < precision; ++i) {
    uint64_t digit = v % 10;
    any = any || digit != 0;
    if (any) digits.insert(digits.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  if (any) buf.insert(0, "." + digits);
  return v;
}

void prependInt(std::string& buf, uint64_t v) { buf.insert(0, std::to_string(v)); }

}  // namespace

absl::StatusOr<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return durationError(text, "invalid duration");

  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || isDigit(s[0]))) return durationError(text, "invalid duration");

    // Integer part; anything reaching 2^63 cannot contribute to a valid total.
    uint64_t whole = 0;
    size_t i = 0;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      if (whole > kMagnitudeLimit / 10) {
        return durationError(text, "invalid duration (overflows int64 nanoseconds)");
      }
      whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
      if (whole > kMagnitudeLimit) {
        return durationError(text, "invalid duration (overflows int64 nanoseconds)");
      }
    }
    bool sawWhole = i > 0;
    s.remove_prefix(i);

    // Fraction part; digits past what 63 bits hold only add precision Go ignores too.
    uint64_t fraction = 0;
    double scale = 1;
    bool sawFraction = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      bool saturated = false;
      for (i = 0; i < s.size() && isDigit(s[i]); ++i) {
        if (saturated) continue;
        if (fraction > (kMagnitudeLimit - 1) / 10) {
          saturated = true;
          continue;
        }
        uint64_t next = fraction * 10 + static_cast<uint64_t>(s[i] - '0');
        if (next > kMagnitudeLimit) {
          saturated = true;
          continue;
        }
        fraction = next;
        scale *= 10;
      }
      sawFraction = i > 0;
      s.remove_prefix(i);
    }
    if (!sawWhole && !sawFraction) return durationError(text, "invalid duration");

    // The unit runs up to the next digit or '.'.
    for (i = 0; i < s.size() && !(s[i] == '.' || isDigit(s[i])); ++i) {
    }
    if (i == 0) return durationError(text, "missing unit");
    std::string_view unitName = s.substr(0, i);
    s.remove_prefix(i);
    uint64_t unit = unitNanos(unitName);
    if (unit == 0) {
      return durationError(text, "unknown unit \"" + std::string(unitName) + "\"");
    }

    if (whole > kMagnitudeLimit / unit) {
      return durationError(text, "invalid duration (overflows int64 nanoseconds)");
    }
    uint64_t term = whole * unit;
    if (fraction > 0) {
      // Go does this step in float64 (exact to the nanosecond even for hours); doing it
      // the same way keeps results identical.
      term += static_cast<uint64_t>(static_cast<double>(fraction) *
                                    (static_cast<double>(unit) / scale));
      if (term > kMagnitudeLimit) {
        return durationError(text, "invalid duration (overflows int64 nanoseconds)");
      }
    }
    total += term;
    if (total > kMagnitudeLimit) {
      return durationError(text, "invalid duration (overflows int64 nanoseconds)");
    }
  }

  if (negative) {
    // 2^63 negated is exactly the int64 minimum.
    return std::chrono::nanoseconds(static_cast<int64_t>(0 - total));
  }
  if (total > kMagnitudeLimit - 1) {
    return durationError(text, "invalid duration (overflows int64 nanoseconds)");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string formatDuration(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  // The magnitude as unsigned so that the int64 minimum negates cleanly.
  uint64_t u = static_cast<uint64_t>(ns);
  const bool negative = ns < 0;
  if (negative) u = 0 - u;

  std::string out;
  if (u < kSecond) {
    if (u == 0) return "0s";
    int precision;
    if (u < kMicrosecond) {
      precision = 0;
      out = "ns";
    } else if (u < kMillisecond) {
      precision = 3;
      out = "\xC2\xB5s";  // U+00B5 MICRO SIGN, as Go prints it
    } else {
      precision = 6;
      out = "ms";
    }
    u = prependFraction(out, u, precision);
    prependInt(out, u);
  } else {
    out = "s";
    u = prependFraction(out, u, 9);
    prependInt(out, u % 60);
    u /= 60;
    if (u > 0) {
      out.insert(0, "m");
      prependInt(out, u % 60);
      u /= 60;
      // Hours are the largest unit: days are not all the same length.
      if (u > 0) {
        out.insert(0, "h");
        prependInt(out, u);
      }
    }
  }
  if (negative) out.insert(0, "-");
  return out;
}

}  // namespace cubelet::objects
