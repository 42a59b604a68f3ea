// Times as the Kubernetes API writes them: metav1.Time (RFC 3339, seconds, UTC) and
// metav1.MicroTime (microseconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>

namespace cubelet::objects {

inline std::string formatTimeNanos(int64_t unixNanos) {
  std::time_t secs = static_cast<std::time_t>(unixNanos / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

inline std::string formatTime(std::chrono::system_clock::time_point t) {
  return formatTimeNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

inline std::string formatMicroTime(std::chrono::system_clock::time_point t) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::string s = formatTimeNanos(micros * 1000);
  char frac[16];
  snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(micros % 1000000));
  return s.substr(0, s.size() - 1) + frac;
}

// Parses "YYYY-MM-DDTHH:MM:SSZ" (optionally with a fraction before the Z), UTC; nullopt
// for anything else.
inline std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text) {
  struct tm tm {};
  int consumed = 0;
  if (sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::string rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') rest.erase(0, rest.find_first_not_of("0123456789", 1));
  if (rest != "Z") return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace cubelet::objects
