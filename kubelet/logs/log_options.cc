#include "kubelet/logs/log_options.h"

#include <charconv>
#include <ctime>

namespace cubelet::logs {
namespace {

using Clock = std::chrono::system_clock;

// The first value of `key`, like url.Values.Get / the query conversion's (*in)[0].
const std::string* first(const std::multimap<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? nullptr : &it->second;
}

bool queryBool(const std::string& v) {
  if (v == "0") return false;
  if (v.size() == 5) {
    std::string lower;
    for (char c : v) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == "false") return false;
  }
  return true;
}

// strconv.ParseInt(s, 10, 64).
std::optional<int64_t> parseInt64(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  uint64_t mag = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), mag);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (neg) {
    if (mag > kMax + 1) return std::nullopt;
    return mag == kMax + 1 ? INT64_MIN : -static_cast<int64_t>(mag);
  }
  if (mag > kMax) return std::nullopt;
  return static_cast<int64_t>(mag);
}

absl::Status undecodable(const std::string& param, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError("query parameter " + param + "=\"" + value + "\": " + why);
}

absl::Status invalid(const std::string& param, const std::string& why) {
  return absl::FailedPreconditionError("query parameter " + param + ": " + why);
}

bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool leapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int daysIn(int month, int year) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && leapYear(year) ? 29 : kDays[month - 1];
}

}  // namespace

std::optional<Clock::time_point> parseRfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, &month) || s[7] != '-' ||
      !digits(s, 8, 2, &day) || s[10] != 'T' || !digits(s, 11, 2, &hour) || s[13] != ':' ||
      !digits(s, 14, 2, &minute) || s[16] != ':' || !digits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    size_t n = pos - start;
    if (n == 0 || n > 9) return std::nullopt;
    for (size_t i = 0; i < 9; ++i) nanos = nanos * 10 + (i < n ? s[start + i] - '0' : 0);
  }
  int offsetSeconds = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, &om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offsetSeconds = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offsetSeconds;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(secs) +
                                                                       std::chrono::nanoseconds(nanos)));
}

std::string formatRfc3339NanoFixed(Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(frac));
  return buf;
}

absl::StatusOr<LogOptions> parseLogOptions(const std::multimap<std::string, std::string>& query,
                                           Clock::time_point now) {
  LogOptions o;
  if (const auto* v = first(query, "follow")) o.follow = queryBool(*v);
  if (const auto* v = first(query, "previous")) o.previous = queryBool(*v);
  if (const auto* v = first(query, "timestamps")) o.timestamps = queryBool(*v);

  // The legacy `tail` wins over tailLines (server.go copies it over the query's tailLines).
  const std::string* tail = first(query, "tail");
  std::string tailParam = "tailLines";
  const std::string* tailLines = first(query, "tailLines");
  if (tail && !tail->empty()) {
    tailParam = "tail";
    tailLines = *tail == "all" ? nullptr : tail;
  }
  if (tailLines) {
    auto n = parseInt64(*tailLines);
    if (!n) return undecodable(tailParam, *tailLines, "not an integer");
    o.tailLines = *n;
  }
  if (const auto* v = first(query, "limitBytes")) {
    auto n = parseInt64(*v);
    if (!n) return undecodable("limitBytes", *v, "not an integer");
    o.limitBytes = *n;
  }
  std::optional<int64_t> sinceSeconds;
  if (const auto* v = first(query, "sinceSeconds")) {
    auto n = parseInt64(*v);
    if (!n) return undecodable("sinceSeconds", *v, "not an integer");
    sinceSeconds = *n;
  }
  // metav1.Time's query decoding: "" and "null" are the zero time, otherwise RFC 3339.
  bool sinceTimeSet = false;
  std::optional<Clock::time_point> sinceTime;
  if (const auto* v = first(query, "sinceTime")) {
    sinceTimeSet = true;
    if (!v->empty() && *v != "null") {
      sinceTime = parseRfc3339(*v);
      if (!sinceTime) return undecodable("sinceTime", *v, "not an RFC 3339 time");
    }
  }
  bool streamSet = false;
  if (const auto* v = first(query, "stream")) {
    streamSet = true;
    o.stream = *v;
  }

  // ValidatePodLogOptions.
  if (o.tailLines && *o.tailLines < 0) return invalid(tailParam, "must be greater than or equal to 0");
  if (o.limitBytes && *o.limitBytes < 1) return invalid("limitBytes", "must be greater than 0");
  if (sinceSeconds && sinceTimeSet) {
    return invalid("sinceSeconds", "at most one of `sinceTime` or `sinceSeconds` may be specified");
  }
  if (sinceSeconds && *sinceSeconds < 1) return invalid("sinceSeconds", "must be greater than 0");
  if (streamSet) {
    if (o.stream != "All" && o.stream != "Stdout" && o.stream != "Stderr") {
      return invalid("stream", "Unsupported value: \"" + o.stream + "\": supported values: \"All\", \"Stderr\", \"Stdout\"");
    }
    if (o.stream != "All" && o.tailLines) {
      return invalid("stream", "`tailLines` and specific `stream` are mutually exclusive for now");
    }
  }

  // kuberuntime NewLogOptions: since = now - sinceSeconds, or sinceTime.
  if (sinceSeconds) {
    // Saturate instead of overflowing for absurd values.
    constexpr int64_t kMaxSeconds = INT64_MAX / 1000000000;
    int64_t s = *sinceSeconds > kMaxSeconds ? kMaxSeconds : *sinceSeconds;
    o.since = now - std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(s));
  } else if (sinceTime) {
    o.since = sinceTime;
  }
  return o;
}

}  // namespace cubelet::logs
