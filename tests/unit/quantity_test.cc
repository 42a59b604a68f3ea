#include "kubelet/objects/quantity.h"

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace cubelet::objects {
namespace {

using Format = Quantity::Format;

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinInt64 = std::numeric_limits<int64_t>::min();

Quantity mustParse(std::string_view s) {
  absl::StatusOr<Quantity> q = Quantity::parse(s);
  EXPECT_TRUE(q.ok()) << s << ": " << q.status();
  return q.ok() ? *q : Quantity();
}

struct ParseCase {
  const char* input;
  int64_t milli;  // expected milliValue()
  Format format;
  const char* string;  // expected toString()
};

// Amounts, formats and String() results are those of apimachinery's Quantity.
TEST(QuantityTest, ParsesAndFormatsLikeKubernetes) {
  const ParseCase cases[] = {
      // Zero in every spelling prints as "0" and keeps its family.
      {"0", 0, Format::kDecimalSI, "0"},
      {"0n", 0, Format::kDecimalSI, "0"},
      {"0m", 0, Format::kDecimalSI, "0"},
      {"0Ki", 0, Format::kBinarySI, "0"},
      {"0Gi", 0, Format::kBinarySI, "0"},
      {"0T", 0, Format::kDecimalSI, "0"},
      {"-0", 0, Format::kDecimalSI, "0"},
      {"000", 0, Format::kDecimalSI, "0"},
      {"0.0e-100", 0, Format::kDecimalExponent, "0"},
      // Plain integers and decimal suffixes.
      {"1", 1000, Format::kDecimalSI, "1"},
      {"2", 2000, Format::kDecimalSI, "2"},
      {"110", 110000, Format::kDecimalSI, "110"},
      {"100m", 100, Format::kDecimalSI, "100m"},
      {"1000m", 1000, Format::kDecimalSI, "1"},
      {"1500m", 1500, Format::kDecimalSI, "1500m"},
      {"8k", 8000000, Format::kDecimalSI, "8k"},
      {"50k", 50000000, Format::kDecimalSI, "50k"},
      {"1000M", 1000000000000, Format::kDecimalSI, "1G"},
      {"7M", 7000000000, Format::kDecimalSI, "7M"},
      {"6G", 6000000000000, Format::kDecimalSI, "6G"},
      {"1000000000", 1000000000000, Format::kDecimalSI, "1G"},
      // Binary suffixes.
      {"1Ki", 1024000, Format::kBinarySI, "1Ki"},
      {"8Ki", 8192000, Format::kBinarySI, "8Ki"},
      {"1Gi", 1073741824000, Format::kBinarySI, "1Gi"},
      {"1024Mi", 1073741824000, Format::kBinarySI, "1Gi"},
      {"300Mi", 314572800000, Format::kBinarySI, "300Mi"},
      {"307200Ki", 314572800000, Format::kBinarySI, "300Mi"},
      {"16392880Ki", 16786309120000, Format::kBinarySI, "16392880Ki"},
      {"1001Gi", 1074815565824000, Format::kBinarySI, "1001Gi"},
      {"3Pi", 3377699720527872000, Format::kBinarySI, "3Pi"},
      {"6Ti", 6597069766656000, Format::kBinarySI, "6Ti"},
      // Decimal exponents.
      {"1e3", 1000000, Format::kDecimalExponent, "1e3"},
      {"1e9", 1000000000000, Format::kDecimalExponent, "1e9"},
      {"1e14", 100000000000000000, Format::kDecimalExponent, "100e12"},
      {"1.5e3", 1500000, Format::kDecimalExponent, "1500"},
      {"1.3E+6", 1300000000, Format::kDecimalExponent, "1300e3"},
      {"80e-3", 80, Format::kDecimalExponent, "80e-3"},
      {"0.5e-1", 50, Format::kDecimalExponent, "50e-3"},
      // Fractions become canonical in the same family.
      {"1.5", 1500, Format::kDecimalSI, "1500m"},
      {"0.5", 500, Format::kDecimalSI, "500m"},
      {"0.001", 1, Format::kDecimalSI, "1m"},
      {".001", 1, Format::kDecimalSI, "1m"},
      {"1.08", 1080, Format::kDecimalSI, "1080m"},
      {"100.035k", 100035000, Format::kDecimalSI, "100.035k"},  // kept verbatim
      {"10.035M", 10035000000, Format::kDecimalSI, "10.035M"},  // kept verbatim
      {"10.03M", 10030000000, Format::kDecimalSI, "10030k"},
      {"1.01P", 1010000000000000000, Format::kDecimalSI, "1010T"},
      {".0001k", 100, Format::kDecimalSI, "100m"},
      {"1.5Gi", 1610612736000, Format::kBinarySI, "1536Mi"},
      {"0.5Mi", 524288000, Format::kBinarySI, "512Ki"},
      {"0.5Ki", 512000, Format::kBinarySI, "512"},
      {".001Ki", 1024, Format::kBinarySI, "1024m"},
      {"100.035Ki", 102435840, Format::kBinarySI, "102435840m"},
      // Sub-nano amounts round away from zero to whole nanos.
      {"5n", 1, Format::kDecimalSI, "5n"},
      {"4u", 1, Format::kDecimalSI, "4u"},
      {"3.001n", 1, Format::kDecimalSI, "4n"},
      {"0.0000000001", 1, Format::kDecimalSI, "1n"},
      {"0.00000012345", 1, Format::kDecimalSI, "124n"},
      {"-0.0000000001", -1, Format::kDecimalSI, "-1n"},
      {"1.1E-9", 1, Format::kDecimalExponent, "2e-9"},
      {"1e-100", 1, Format::kDecimalExponent, "1e-9"},
      {"1000000000000000000001e-30", 1, Format::kDecimalExponent, "2e-9"},
      {".000000000001Ki", 1, Format::kDecimalSI, "2n"},
      {"0.00000000000000000000001Ki", 1, Format::kDecimalSI, "1n"},
      // Signs.
      {"-1", -1000, Format::kDecimalSI, "-1"},
      {"-1.5Gi", -1610612736000, Format::kBinarySI, "-1536Mi"},
      {"-100m", -100, Format::kDecimalSI, "-100m"},
      // Oddities the apiserver also accepts.
      {"1.", 1000, Format::kDecimalSI, "1."},  // kept verbatim
      {"1.G", 1000000000000, Format::kDecimalSI, "1.G"},
      {".", 0, Format::kDecimalSI, "0"},
      {"-", 0, Format::kDecimalSI, "0"},
      {"+", 0, Format::kDecimalSI, "0"},
      {"Ki", 0, Format::kBinarySI, "0"},
      {"m", 0, Format::kDecimalSI, "0"},
  };
  for (const ParseCase& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<Quantity> q = Quantity::parse(c.input);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->milliValue(), c.milli);
    EXPECT_EQ(formatName(q->format()), formatName(c.format));
    EXPECT_EQ(q->toString(), c.string);
    // The canonical form parses back to the same amount.
    absl::StatusOr<Quantity> again = Quantity::parse(q->canonical());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *q);
  }
}

TEST(QuantityTest, EchoesInputKubernetesKeepsVerbatim) {
  // apimachinery keeps the parsed string when its fast path deems it canonical, and
  // String() then returns it as written.
  EXPECT_EQ(mustParse("+1").toString(), "+1");
  EXPECT_EQ(mustParse("+1").canonical(), "1");
  EXPECT_EQ(mustParse("01").toString(), "01");
  EXPECT_EQ(mustParse("1E3").toString(), "1E3");
  EXPECT_EQ(mustParse("1E3").canonical(), "1e3");
  EXPECT_EQ(mustParse("1.500k").toString(), "1.500k");
  EXPECT_EQ(mustParse("1.500k").canonical(), "1500");
  EXPECT_EQ(mustParse("+1Ki").toString(), "+1Ki");
  EXPECT_EQ(mustParse("1025Ki").toString(), "1025Ki");
  // Not kept: trailing "000", leading zero after stripping, non-multiple-of-3 scale,
  // binary multiples of 8.
  EXPECT_EQ(mustParse("+1000").toString(), "1k");
  EXPECT_EQ(mustParse("+0.5").toString(), "500m");
  EXPECT_EQ(mustParse("+1.5").toString(), "1500m");
  EXPECT_EQ(mustParse("+8Ki").toString(), "8Ki");
  EXPECT_EQ(mustParse("+1024Ki").toString(), "1Mi");
  // Arithmetic drops the kept text.
  EXPECT_EQ(mustParse("+1").add(Quantity()).toString(), "1");
}

TEST(QuantityTest, RejectsMalformedInput) {
  const char* invalid[] = {
      "",       "1.1.M",  "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i",  "-3.01i",
      "-3.01e-", " 1",    "1 ",     "1K",    "12Zi",  "1e",   "1ee3", "--1", "1Ki3",
      "1e3Ki",  "1m3",    "1x",     "1e99999999999999999999",
  };
  for (const char* s : invalid) {
    absl::StatusOr<Quantity> q = Quantity::parse(s);
    EXPECT_FALSE(q.ok()) << "\"" << s << "\" parsed as " << *q;
    if (!q.ok()) {
      EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << s;
    }
  }
}

TEST(QuantityTest, ErrorMessagesNameInputAndProblem) {
  EXPECT_EQ(Quantity::parse("12Zi").status().message(), "quantity \"12Zi\": unknown suffix \"Zi\"");
  EXPECT_EQ(Quantity::parse("").status().message(), "quantity \"\": empty string");
  EXPECT_EQ(Quantity::parse("0.1am").status().message(),
            "quantity \"0.1am\": unknown suffix \"am\"");
  EXPECT_EQ(Quantity::parse("1K").status().message(), "quantity \"1K\": unknown suffix \"K\"");
  EXPECT_EQ(Quantity::parse("1e99999999999999999999").status().message(),
            "quantity \"1e99999999999999999999\": invalid exponent \"e99999999999999999999\"");
  EXPECT_EQ(Quantity::parse("1e40").status().message(),
            "quantity \"1e40\": magnitude exceeds the supported range (about 1.7e29)");
  std::string msg(Quantity::parse("1 ").status().message());
  EXPECT_NE(msg.find("quantity \"1 \""), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset 1"), std::string::npos) << msg;
}

TEST(QuantityTest, BinaryAmountsAreCappedAtInt64Max) {
  for (const char* s : {"9Ei", "8Ei", "9223372036854775807Ki", "99999999999999999999999999Ki"}) {
    SCOPED_TRACE(s);
    Quantity q = mustParse(s);
    EXPECT_EQ(q.value(), kMaxInt64);
    EXPECT_EQ(q.toString(), "9223372036854775807");
    EXPECT_EQ(q.format(), Format::kBinarySI);
  }
  Quantity negative = mustParse("-9Ei");
  EXPECT_EQ(negative.value(), -kMaxInt64);
  EXPECT_EQ(negative.toString(), "-9223372036854775807");
  EXPECT_EQ(mustParse("7Ei").toString(), "7Ei");
}

TEST(QuantityTest, LargeDecimalAmounts) {
  // Beyond int64 but representable: exact, value() saturates.
  Quantity q = mustParse("12E");
  EXPECT_EQ(q.toString(), "12E");
  EXPECT_EQ(q.value(), kMaxInt64);
  EXPECT_EQ(q.milliValue(), kMaxInt64);
  EXPECT_EQ(mustParse("-12E").value(), kMinInt64);
  EXPECT_EQ(mustParse("100000E").toString(), "100000E");
  EXPECT_EQ(mustParse("1e28").toString(), "10e27");
  // Zero whatever the exponent.
  EXPECT_TRUE(mustParse("0e999999").isZero());
  // Past the 128-bit nano range.
  for (const char* s : {"1e40", "1000000000000000000000000000000", "1e2147483647"}) {
    absl::StatusOr<Quantity> big = Quantity::parse(s);
    ASSERT_FALSE(big.ok()) << s;
    EXPECT_EQ(big.status().code(), absl::StatusCode::kOutOfRange) << s;
  }
}

TEST(QuantityTest, ExponentIsNarrowedTo32BitsLikeKubernetes) {
  // apimachinery parses the exponent as int64 and truncates it to int32.
  EXPECT_EQ(mustParse("1e4294967296").value(), 1);
  EXPECT_EQ(mustParse("1e4294967299").value(), 1000);
  EXPECT_EQ(mustParse("1e-2147483647").toString(), "1e-9");
}

TEST(QuantityTest, ValueRoundsAwayFromZero) {
  EXPECT_EQ(mustParse("100m").value(), 1);
  EXPECT_EQ(mustParse("1001m").value(), 2);
  EXPECT_EQ(mustParse("-100m").value(), -1);
  EXPECT_EQ(mustParse("-1.5").value(), -2);
  EXPECT_EQ(mustParse("9.01").value(), 10);
  EXPECT_EQ(mustParse("1n").milliValue(), 1);
  EXPECT_EQ(mustParse("-1n").milliValue(), -1);
  EXPECT_EQ(mustParse("1.5Gi").value(), 1610612736);
  EXPECT_EQ(mustParse("16392880Ki").value(), 16786309120);
}

TEST(QuantityTest, Constructors) {
  EXPECT_EQ(Quantity::fromMilli(2000).toString(), "2");
  EXPECT_EQ(Quantity::fromMilli(100).toString(), "100m");
  EXPECT_EQ(Quantity::fromMilli(1).toString(), "1m");
  EXPECT_EQ(Quantity::fromMilli(1234000).toString(), "1234");
  EXPECT_EQ(Quantity::fromMilli(1000000, Format::kDecimalExponent).toString(), "1e3");
  // BinarySI below 1024 or with a fraction is shown in decimal.
  EXPECT_EQ(Quantity::fromMilli(1024, Format::kBinarySI).toString(), "1024m");
  EXPECT_EQ(Quantity::fromMilli(1024 * 1024, Format::kBinarySI).toString(), "1048576m");
  EXPECT_EQ(Quantity::fromInt(2).toString(), "2");
  EXPECT_EQ(Quantity::fromInt(110).toString(), "110");
  EXPECT_EQ(Quantity::fromInt(0).toString(), "0");
  EXPECT_EQ(Quantity::fromInt(0, Format::kBinarySI).toString(), "0");
  EXPECT_EQ(Quantity::fromInt(1000).toString(), "1k");
  EXPECT_EQ(Quantity::fromInt(1234000).toString(), "1234k");
  EXPECT_EQ(Quantity::fromInt(1000000, Format::kDecimalExponent).toString(), "1e6");
  EXPECT_EQ(Quantity::fromInt(5, Format::kBinarySI).toString(), "5");
  EXPECT_EQ(Quantity::fromInt(1025, Format::kBinarySI).toString(), "1025");
  EXPECT_EQ(Quantity::fromInt(-1024, Format::kBinarySI).toString(), "-1Ki");
  EXPECT_EQ(Quantity::fromBytesBinary(1073741824).toString(), "1Gi");
  EXPECT_EQ(Quantity::fromBytesBinary(int64_t{16392880} * 1024).toString(), "16392880Ki");
  EXPECT_EQ(Quantity::fromBytesBinary(int64_t{1} << 40).toString(), "1Ti");
  EXPECT_EQ(Quantity::fromBytesBinary(int64_t{1} << 62).toString(), "4Ei");
  EXPECT_EQ(Quantity::fromBytesBinary(2097152).toString(), "2Mi");
  // Below 1Ki a BinarySI amount is written in decimal, suffix included.
  EXPECT_EQ(Quantity::fromBytesBinary(1000).toString(), "1k");
  EXPECT_EQ(Quantity::fromBytesBinary(1500).toString(), "1500");
  // From 1Ki up, not divisible by 1024: plain integer.
  EXPECT_EQ(Quantity::fromBytesBinary(2000).toString(), "2000");
  EXPECT_EQ(Quantity::fromBytesBinary(1049601).toString(), "1049601");
  EXPECT_EQ(Quantity::fromBytesBinary(kMaxInt64).toString(), "9223372036854775807");
  EXPECT_EQ(Quantity::fromBytesBinary(kMinInt64).toString(), "-8Ei");
  EXPECT_EQ(Quantity::fromBytesBinary(kMaxInt64).value(), kMaxInt64);
  EXPECT_EQ(Quantity::fromInt(kMinInt64).value(), kMinInt64);
  EXPECT_EQ(Quantity::fromMilli(kMaxInt64).milliValue(), kMaxInt64);
  EXPECT_EQ(Quantity::fromBytesBinary(4096).format(), Format::kBinarySI);
  EXPECT_EQ(Quantity().toString(), "0");
  EXPECT_EQ(Quantity().format(), Format::kDecimalSI);
}

TEST(QuantityTest, AllocatableArithmetic) {
  // memory: capacity - (kubeReserved + systemReserved + hard eviction threshold)
  Quantity capacity = Quantity::fromBytesBinary(int64_t{16392880} * 1024);
  Quantity reserved = mustParse("100Mi") + mustParse("100Mi") + mustParse("100Mi");
  Quantity allocatable = capacity - reserved;
  EXPECT_EQ(allocatable.toString(), "16085680Ki");
  EXPECT_EQ(allocatable.format(), Format::kBinarySI);
  // cpu: 2 cores - 100m
  Quantity cpu = Quantity::fromMilli(2000) - mustParse("100m");
  EXPECT_EQ(cpu.toString(), "1900m");
  EXPECT_EQ(cpu.milliValue(), 1900);
  // A zero left-hand side takes the other side's format.
  EXPECT_EQ((Quantity() + mustParse("1Gi")).toString(), "1Gi");
  EXPECT_EQ((mustParse("0") - mustParse("1Gi")).toString(), "-1Gi");
  EXPECT_EQ((mustParse("100m") + mustParse("0")).toString(), "100m");
  EXPECT_EQ((mustParse("1Gi") - mustParse("0")).toString(), "1Gi");
  // Otherwise the left-hand side's format wins.
  EXPECT_EQ((mustParse("1Gi") + mustParse("1G")).toString(), "2073741824");
  EXPECT_EQ((mustParse("1G") + mustParse("1Gi")).toString(), "2073741824");
  EXPECT_EQ((mustParse("8Gi") - mustParse("1Gi")).toString(), "7Gi");
  EXPECT_EQ((mustParse("1") - mustParse("1500m")).toString(), "-500m");
  EXPECT_EQ((-mustParse("9.01")).toString(), "-9010m");
  EXPECT_EQ(mustParse("1Gi").neg().format(), Format::kBinarySI);
  EXPECT_EQ((mustParse("1Gi") - mustParse("1Gi")).toString(), "0");
}

TEST(QuantityTest, ArithmeticSaturates) {
  Quantity huge = mustParse("100000000000E");  // 1e29, near the top of the range
  Quantity sum = huge + huge;
  EXPECT_GT(sum, huge);
  Quantity more = sum + huge;
  EXPECT_EQ(more, sum);  // stuck at the limit
  EXPECT_EQ(more.value(), kMaxInt64);
  Quantity low = (-sum) - huge - huge;
  EXPECT_LT(low, -huge);
  EXPECT_EQ(low.value(), kMinInt64);
  EXPECT_FALSE(low.toString().empty());
  EXPECT_FALSE((-low).toString().empty());
}

TEST(QuantityTest, ComparesNumerically) {
  EXPECT_EQ(mustParse("1"), mustParse("1000m"));
  EXPECT_EQ(mustParse("1Ki"), mustParse("1024"));
  EXPECT_EQ(mustParse("1e3"), mustParse("1k"));
  EXPECT_GT(mustParse("100m"), mustParse("50m"));
  EXPECT_LT(mustParse("50m"), mustParse("100m"));
  EXPECT_GT(mustParse("10000T"), mustParse("100Gi"));
  EXPECT_LT(mustParse("-1"), mustParse("0"));
  EXPECT_NE(mustParse("1n"), mustParse("0"));
  EXPECT_EQ(mustParse("0"), Quantity());
  EXPECT_EQ(mustParse("1Gi").sign(), 1);
  EXPECT_EQ(mustParse("-1m").sign(), -1);
  EXPECT_EQ(mustParse("0Ki").sign(), 0);
}

TEST(QuantityTest, StreamsToString) {
  std::ostringstream os;
  os << mustParse("1.5Gi") << " " << Quantity::fromMilli(250);
  EXPECT_EQ(os.str(), "1536Mi 250m");
  EXPECT_EQ(formatName(Format::kBinarySI), "BinarySI");
  EXPECT_EQ(formatName(Format::kDecimalExponent), "DecimalExponent");
}

TEST(QuantityTest, LongInputsStayExact) {
  // 60 fractional digits: the last one still forces a round-up to the next nano.
  std::string s = "1." + std::string(58, '0') + "1";
  EXPECT_EQ(mustParse(s).toString(), "1000000001n");
  EXPECT_EQ(mustParse(s + "Ki").toString(), "1024000000001n");
  // Long but exact: trailing zeros only.
  EXPECT_EQ(mustParse("2." + std::string(5000, '0')).toString(), "2");
  EXPECT_EQ(mustParse("0." + std::string(5000, '0') + "1").toString(), "1n");
  // A very long integer part is out of range without big-number work.
  absl::StatusOr<Quantity> huge = Quantity::parse(std::string(100000, '9'));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(mustParse(std::string(100000, '9') + "Ki").value(), kMaxInt64);
}

}  // namespace
}  // namespace cubelet::objects
