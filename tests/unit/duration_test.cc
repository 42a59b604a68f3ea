#include "kubelet/objects/duration.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace cubelet::objects {
namespace {

using std::chrono::nanoseconds;

constexpr int64_t kNs = 1;
constexpr int64_t kUs = 1000 * kNs;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinValue = std::numeric_limits<int64_t>::min();

struct ParseCase {
  const char* input;
  int64_t nanos;
};

// Expected values are what Go's time.ParseDuration returns.
TEST(DurationTest, ParsesLikeGo) {
  const ParseCase cases[] = {
      {"0", 0},
      {"+0", 0},
      {"-0", 0},
      {"0s", 0},
      {"5s", 5 * kSec},
      {"30s", 30 * kSec},
      {"1478s", 1478 * kSec},
      {"-5s", -5 * kSec},
      {"+5s", 5 * kSec},
      {"-1s", -kSec},
      {"10s", 10 * kSec},
      {"5m0s", 5 * kMin},
      {"1h0m0s", kHour},
      {"5.0s", 5 * kSec},
      {"5.6s", 5 * kSec + 600 * kMs},
      {"5.s", 5 * kSec},
      {".5s", 500 * kMs},
      {"1.0s", kSec},
      {"1.00s", kSec},
      {"1.004s", kSec + 4 * kMs},
      {"1.0040s", kSec + 4 * kMs},
      {"100.00100s", 100 * kSec + 1 * kMs},
      {"10ns", 10 * kNs},
      {"11us", 11 * kUs},
      {"12\xC2\xB5s", 12 * kUs},  // U+00B5 micro sign
      {"12\xCE\xBCs", 12 * kUs},  // U+03BC Greek mu
      {"13ms", 13 * kMs},
      {"300ms", 300 * kMs},
      {"14s", 14 * kSec},
      {"15m", 15 * kMin},
      {"16h", 16 * kHour},
      {"1.5h", 90 * kMin},
      {"3h30m", 3 * kHour + 30 * kMin},
      {"1h2m3.5s", kHour + 2 * kMin + 3 * kSec + 500 * kMs},
      {"10.5s4m", 4 * kMin + 10 * kSec + 500 * kMs},
      {"-2m3.4s", -(2 * kMin + 3 * kSec + 400 * kMs)},
      {"1h2m3s4ms5us6ns", kHour + 2 * kMin + 3 * kSec + 4 * kMs + 5 * kUs + 6 * kNs},
      {"39h9m14.425s", 39 * kHour + 9 * kMin + 14 * kSec + 425 * kMs},
      {"52763797000ns", 52763797000 * kNs},
      {"0.3333333333333333333h", 20 * kMin},
      {"9007199254740993ns", (int64_t{1} << 53) + 1},
      {"9223372036854775807ns", kMax},
      {"9223372036854775.807us", kMax},
      {"9223372036s854ms775us807ns", kMax},
      {"-9223372036854775808ns", kMinValue},
      {"-9223372036854775.808us", kMinValue},
      {"-9223372036s854ms775us808ns", kMinValue},
      {"-2562047h47m16.854775808s", kMinValue},
      {"2562047h", 2562047 * kHour},
      {"0.100000000000000000000h", 6 * kMin},
      // Go's float64 step: this long fraction lands on ...827ns, not ...828ns.
      {"0.830103483285477580700h", 49 * kMin + 48 * kSec + 372539827 * kNs},
  };
  for (const ParseCase& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<nanoseconds> d = parseDuration(c.input);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->count(), c.nanos);
  }
}

TEST(DurationTest, RejectsGarbageAndOverflow) {
  const char* invalid[] = {
      "",
      "3",
      "-",
      "s",
      ".",
      "-.",
      ".s",
      "+.s",
      "1d",
      "1 s",
      " 1s",
      "1s ",
      "1S",
      "00",
      "\x85\x85",
      "\xff\xff",
      "hello \xff\xff world",
      "9223372036854775808ns",
      "9223372036854775.808us",
      "9223372036854ms775us808ns",
      "-9223372036854775809ns",
      "2562048h",
      "99999999999999999999h",
      "1h1",
  };
  for (const char* s : invalid) {
    absl::StatusOr<nanoseconds> d = parseDuration(s);
    EXPECT_FALSE(d.ok()) << "\"" << s << "\" parsed as " << d->count();
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
      // The input is quoted in the message.
      EXPECT_NE(d.status().message().find("duration \"" + std::string(s) + "\""), std::string::npos)
          << d.status();
    }
  }
}

TEST(DurationTest, ErrorMessagesSayWhatIsWrong) {
  EXPECT_EQ(parseDuration("1d").status().message(), "duration \"1d\": unknown unit \"d\"");
  EXPECT_EQ(parseDuration("3").status().message(), "duration \"3\": missing unit");
  EXPECT_EQ(parseDuration("").status().message(), "duration \"\": invalid duration");
  EXPECT_EQ(parseDuration("2562048h").status().message(),
            "duration \"2562048h\": invalid duration (overflows int64 nanoseconds)");
}

struct FormatCase {
  int64_t nanos;
  const char* string;
};

// Expected strings are Go's Duration.String().
TEST(DurationTest, FormatsLikeGo) {
  const FormatCase cases[] = {
      {0, "0s"},
      {1 * kNs, "1ns"},
      {999 * kNs, "999ns"},
      {1100 * kNs, "1.1\xC2\xB5s"},
      {kUs, "1\xC2\xB5s"},
      {2200 * kUs, "2.2ms"},
      {300 * kMs, "300ms"},
      {999999999 * kNs, "999.999999ms"},
      {kSec, "1s"},
      {1500 * kMs, "1.5s"},
      {3300 * kMs, "3.3s"},
      {10 * kSec, "10s"},
      {4 * kMin + 5 * kSec, "4m5s"},
      {4 * kMin + 5001 * kMs, "4m5.001s"},
      {5 * kMin, "5m0s"},
      {kHour, "1h0m0s"},
      {90 * kMin, "1h30m0s"},
      {5 * kHour + 6 * kMin + 7001 * kMs, "5h6m7.001s"},
      {8 * kMin + 1 * kNs, "8m0.000000001s"},
      {-kSec, "-1s"},
      {-1 * kNs, "-1ns"},
      {-1500 * kUs, "-1.5ms"},
      {kMax, "2562047h47m16.854775807s"},
      {kMinValue, "-2562047h47m16.854775808s"},
  };
  for (const FormatCase& c : cases) {
    EXPECT_EQ(formatDuration(nanoseconds(c.nanos)), c.string) << c.nanos;
  }
  EXPECT_EQ(formatDuration(std::chrono::minutes(5)), "5m0s");
}

TEST(DurationTest, FormatThenParseRoundTrips) {
  std::mt19937_64 rng(42);
  const int64_t scales[] = {1, kUs, kMs, kSec, kMin, kHour};
  for (int i = 0; i < 5000; ++i) {
    int64_t v = static_cast<int64_t>(rng());
    // Mix full-range values with small ones at every unit.
    if (i % 2 == 0) v = (v % 100000) * scales[i % 6] + (v % 1000);
    std::string s = formatDuration(nanoseconds(v));
    absl::StatusOr<nanoseconds> back = parseDuration(s);
    ASSERT_TRUE(back.ok()) << s << ": " << back.status();
    EXPECT_EQ(back->count(), v) << s;
  }
}

}  // namespace
}  // namespace cubelet::objects

#include "kubelet/objects/timefmt.h"

namespace cubelet::objects {
namespace {

TEST(TimeFormat, ParseRoundTripsAndRejectsJunk) {
  auto t = parseTime("2026-11-26T18:21:55Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(formatTime(*t), "2026-11-26T18:21:55Z");
  auto micro = parseTime("2026-11-26T18:21:55.123456Z");
  ASSERT_TRUE(micro.has_value());
  EXPECT_EQ(*micro, *t) << "fractions below a second are dropped";
  for (const char* bad : {"", "2026-11-26", "2026-11-26T18:21:55", "2026-11-26T18:21:55+01:00", "yesterday",
                          "2026-11-26T18:21:55Zjunk"}) {
    EXPECT_FALSE(parseTime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace cubelet::objects
