#include "kubelet/logs/log_options.h"

#include <gtest/gtest.h>

namespace cubelet::logs {
namespace {

using Clock = std::chrono::system_clock;
using Query = std::multimap<std::string, std::string>;

const Clock::time_point kNow = Clock::from_time_t(1700000000);

absl::StatusOr<LogOptions> parse(const Query& q) { return parseLogOptions(q, kNow); }

TEST(LogOptionsTest, EmptyQueryGivesDefaults) {
  auto o = parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->follow);
  EXPECT_FALSE(o->previous);
  EXPECT_FALSE(o->timestamps);
  EXPECT_FALSE(o->tailLines);
  EXPECT_FALSE(o->limitBytes);
  EXPECT_FALSE(o->since);
  EXPECT_EQ(o->stream, "All");
}

TEST(LogOptionsTest, BooleansDecodeLikeTheQueryConversion) {
  // Only "0" and "false" in any case are false; anything else, even empty, is true.
  for (const char* v : {"true", "1", "", "yes", "TRUE", "t"}) {
    auto o = parse({{"follow", v}, {"previous", v}, {"timestamps", v}});
    ASSERT_TRUE(o.ok()) << v;
    EXPECT_TRUE(o->follow) << v;
    EXPECT_TRUE(o->previous) << v;
    EXPECT_TRUE(o->timestamps) << v;
  }
  for (const char* v : {"false", "0", "FALSE", "False"}) {
    auto o = parse({{"follow", v}});
    ASSERT_TRUE(o.ok()) << v;
    EXPECT_FALSE(o->follow) << v;
  }
  // The first of repeated values counts.
  auto o = parse({{"follow", "false"}, {"follow", "true"}});
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->follow);
}

TEST(LogOptionsTest, IntegersAndLegacyTail) {
  auto o = parse({{"tailLines", "10"}, {"limitBytes", "+500"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->tailLines, 10);
  EXPECT_EQ(o->limitBytes, 500);

  o = parse({{"tailLines", "10"}, {"tail", "3"}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->tailLines, 3);

  o = parse({{"tailLines", "10"}, {"tail", "all"}});
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->tailLines);

  o = parse({{"tailLines", "10"}, {"tail", ""}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->tailLines, 10);
}

TEST(LogOptionsTest, UndecodableValuesAreInvalidArgumentNamingTheParameter) {
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"tailLines", "ten"},
           {"tailLines", " 1"},
           {"limitBytes", "1.5"},
           {"sinceSeconds", "99999999999999999999"},
           {"sinceTime", "yesterday"},
           {"sinceTime", "2024-02-30T00:00:00Z"},
           {"tail", "x"}}) {
    auto o = parse({{k, v}});
    ASSERT_FALSE(o.ok()) << k << "=" << v;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << k;
    EXPECT_NE(std::string(o.status().message()).find(k), std::string::npos) << o.status();
  }
}

TEST(LogOptionsTest, InvalidCombinationsAreFailedPrecondition) {
  struct Case {
    Query q;
    std::string param;
  };
  std::vector<Case> cases = {
      {{{"tailLines", "-1"}}, "tailLines"},
      {{{"limitBytes", "0"}}, "limitBytes"},
      {{{"sinceSeconds", "0"}}, "sinceSeconds"},
      {{{"sinceSeconds", "5"}, {"sinceTime", "2024-01-01T00:00:00Z"}}, "sinceTime"},
      {{{"stream", "Both"}}, "stream"},
      {{{"stream", "Stdout"}, {"tailLines", "1"}}, "tailLines"},
  };
  for (const auto& c : cases) {
    auto o = parse(c.q);
    ASSERT_FALSE(o.ok()) << c.param;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition) << o.status();
    EXPECT_NE(std::string(o.status().message()).find(c.param), std::string::npos) << o.status();
  }
}

TEST(LogOptionsTest, SinceResolvesAgainstNow) {
  auto o = parse({{"sinceSeconds", "60"}});
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(o->since);
  EXPECT_EQ(*o->since, kNow - std::chrono::seconds(60));

  o = parse({{"sinceTime", "2023-11-14T22:13:20+01:00"}});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_TRUE(o->since);
  EXPECT_EQ(*o->since, kNow - std::chrono::hours(1));

  // metav1.Time decodes "" as the zero time: set, but filtering nothing.
  o = parse({{"sinceTime", ""}});
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->since);
}

TEST(LogOptionsTest, StreamValues) {
  for (const char* s : {"All", "Stdout", "Stderr"}) {
    auto o = parse({{"stream", s}});
    ASSERT_TRUE(o.ok()) << s;
    EXPECT_EQ(o->stream, s);
  }
  auto o = parse({{"stream", "All"}, {"tailLines", "4"}});
  ASSERT_TRUE(o.ok());
}

TEST(LogOptionsTest, Rfc3339) {
  auto t = parseRfc3339("2024-03-01T12:34:56.123456789Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(formatRfc3339NanoFixed(*t), "2024-03-01T12:34:56.123456789Z");
  t = parseRfc3339("2024-03-01T12:34:56.5-02:30");
  ASSERT_TRUE(t);
  EXPECT_EQ(formatRfc3339NanoFixed(*t), "2024-03-01T15:04:56.500000000Z");
  t = parseRfc3339("2024-02-29T00:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(formatRfc3339NanoFixed(*t), "2024-02-29T00:00:00.000000000Z");
  for (const char* bad : {"", "2024-03-01", "2024-03-01T12:34:56", "2024-03-01T12:34:56.Z",
                          "2024-03-01T12:34:56.1234567890Z", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2024-03-01T24:00:00Z", "2024-03-01T12:34:56+0100", "2024-03-01T12:34:56Zx",
                          "2024-03-01 12:34:56Z"}) {
    EXPECT_FALSE(parseRfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace cubelet::logs
