// Times as the Kubernetes API writes them: metav1.Time (RFC 3339, seconds, UTC) and
// metav1.MicroTime (microseconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
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

}  // namespace cubelet::objects
