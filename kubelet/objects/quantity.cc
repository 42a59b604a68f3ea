#include "kubelet/objects/quantity.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace cubelet::objects {
namespace {

__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

constexpr Int128 kInt128Max = static_cast<Int128>(~static_cast<UInt128>(0) >> 1);
constexpr Int128 kInt128Min = -kInt128Max - 1;
constexpr Int128 kNanosPerUnit = 1'000'000'000;
constexpr Int128 kNanosPerMilli = 1'000'000;
// BinarySI amounts are capped at 2^63-1 units, as apimachinery does on parse.
constexpr Int128 kBinaryCapNanos =
    static_cast<Int128>(std::numeric_limits<int64_t>::max()) * kNanosPerUnit;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += '"';
  return out;
}

absl::Status invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError("quantity " + quoted(text) + ": " + std::string(why));
}

std::string toDecimal(Int128 v) {
  if (v == 0) return "0";
  bool negative = v < 0;
  // Work on the unsigned magnitude so that the minimum value has no overflow.
  UInt128 mag = negative ? static_cast<UInt128>(0) - static_cast<UInt128>(v)
                         : static_cast<UInt128>(v);
  std::string digits;
  while (mag != 0) {
    digits += static_cast<char>('0' + static_cast<int>(mag % 10));
    mag /= 10;
  }
  if (negative) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

Int128 saturatingAdd(Int128 a, Int128 b) {
  Int128 r;
  if (__builtin_add_overflow(a, b, &r)) return a < 0 ? kInt128Min : kInt128Max;
  return r;
}

Int128 saturatingSub(Int128 a, Int128 b) {
  Int128 r;
  if (__builtin_sub_overflow(a, b, &r)) return a < 0 ? kInt128Min : kInt128Max;
  return r;
}

// n / d rounded away from zero, clamped to int64.
int64_t divideAwayFromZero(Int128 n, Int128 d) {
  Int128 q = n / d;
  if (n % d != 0) q += n > 0 ? 1 : -1;
  if (q > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (q < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(q);
}

// Just enough arbitrary-precision arithmetic to turn "<digits> x 2^a x 10^b" into a
// rounded nano count without losing digits, however long the input is.
class BigUnsigned {
 public:
  void mulAdd(uint32_t mul, uint32_t add) {
    uint64_t carry = add;
    for (uint32_t& limb : limbs_) {
      uint64_t v = static_cast<uint64_t>(limb) * mul + carry;
      limb = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry != 0) limbs_.push_back(static_cast<uint32_t>(carry));
  }

  // Divides in place and returns the remainder.
  uint32_t divide(uint32_t d) {
    uint64_t rem = 0;
    for (size_t i = limbs_.size(); i-- > 0;) {
      uint64_t cur = (rem << 32) | limbs_[i];
      limbs_[i] = static_cast<uint32_t>(cur / d);
      rem = cur % d;
    }
    while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
    return static_cast<uint32_t>(rem);
  }

  // Appends decimal digits: value = value x 10^len + digits.
  void appendDigits(std::string_view digits) {
    for (size_t i = 0; i < digits.size(); i += 9) {
      size_t n = std::min<size_t>(9, digits.size() - i);
      uint32_t chunk = 0;
      uint32_t scale = 1;
      for (size_t j = 0; j < n; ++j) {
        chunk = chunk * 10 + static_cast<uint32_t>(digits[i + j] - '0');
        scale *= 10;
      }
      mulAdd(scale, chunk);
    }
  }

  // Multiplies by 10^power; false once the value needs more than `maxLimbs` limbs.
  bool multiplyByPowerOfTen(int power, size_t maxLimbs) {
    for (int i = 0; i < power; ++i) {
      mulAdd(10, 0);
      if (limbs_.size() > maxLimbs) return false;
    }
    return true;
  }

  // Divides by 10^shift, truncating; returns whether a non-zero remainder was dropped.
  bool divideByPowerOfTen(uint64_t shift) {
    if (isZero()) return false;
    // 2^(32 x limbs) < 10^(10 x limbs): a shift that large leaves nothing.
    if (shift >= 10 * limbs_.size()) {
      limbs_.clear();
      return true;
    }
    bool inexact = false;
    for (; shift >= 9; shift -= 9) inexact |= divide(1'000'000'000) != 0;
    uint32_t rest = 1;
    for (; shift > 0; --shift) rest *= 10;
    if (rest > 1) inexact |= divide(rest) != 0;
    return inexact;
  }

  bool isZero() const { return limbs_.empty(); }

  // The value when it fits a signed 128-bit integer.
  std::optional<Int128> toInt128() const {
    if (limbs_.size() > 4) return std::nullopt;
    UInt128 v = 0;
    for (size_t i = limbs_.size(); i-- > 0;) v = (v << 32) | limbs_[i];
    if (v > static_cast<UInt128>(kInt128Max)) return std::nullopt;
    return static_cast<Int128>(v);
  }

 private:
  std::vector<uint32_t> limbs_;  // little-endian, no leading zero limbs
};

// The pieces of a quantity string, as apimachinery's scanner splits it.
struct Scanned {
  bool positive = true;
  std::string_view num;    // integer digits without leading zeros; may be empty
  std::string_view denom;  // digits after the '.'; may be empty
  std::string_view suffix;
  bool hasDigits = false;  // any digit at all before the suffix, zeros included
};

absl::StatusOr<Scanned> scan(std::string_view text) {
  Scanned out;
  size_t pos = 0;
  const size_t end = text.size();
  if (text[0] == '-' || text[0] == '+') {
    out.positive = text[0] == '+';
    ++pos;
  }
  out.hasDigits = pos < end && isDigit(text[pos]);
  while (pos < end && text[pos] == '0') ++pos;
  size_t start = pos;
  while (pos < end && isDigit(text[pos])) ++pos;
  out.num = text.substr(start, pos - start);
  if (pos < end && text[pos] == '.') {
    start = ++pos;
    while (pos < end && isDigit(text[pos])) ++pos;
    out.denom = text.substr(start, pos - start);
    out.hasDigits = out.hasDigits || !out.denom.empty();
  }
  const size_t suffixStart = pos;
  while (pos < end && std::string_view("eEinumkKMGTP").find(text[pos]) != std::string_view::npos) {
    ++pos;
  }
  if (pos < end && (text[pos] == '-' || text[pos] == '+')) ++pos;
  while (pos < end && isDigit(text[pos])) ++pos;
  if (pos < end) {
    // A word after the number reads better as a bad suffix ("12Zi") than as a bad
    // character; both are the same error to apimachinery.
    std::string_view rest = text.substr(suffixStart);
    bool word = !rest.empty() && std::isalpha(static_cast<unsigned char>(rest[0]));
    for (char c : rest) {
      word = word && (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-');
    }
    if (word) return invalid(text, "unknown suffix " + quoted(rest));
    return invalid(text, "unexpected character '" + std::string(1, text[pos]) + "' at offset " +
                             std::to_string(pos) +
                             " (want <sign><digits>[.<digits>]<suffix>)");
  }
  out.suffix = text.substr(suffixStart);
  return out;
}

struct Suffix {
  Quantity::Format format;
  int exponent;  // power of 2 for BinarySI, of 10 otherwise
};

std::optional<Suffix> suffixFromTable(std::string_view s) {
  using F = Quantity::Format;
  struct Entry {
    std::string_view name;
    Suffix suffix;
  };
  static constexpr Entry kTable[] = {
      {"", {F::kDecimalSI, 0}},   {"n", {F::kDecimalSI, -9}},
      {"u", {F::kDecimalSI, -6}}, {"m", {F::kDecimalSI, -3}},
      {"k", {F::kDecimalSI, 3}},  {"M", {F::kDecimalSI, 6}},
      {"G", {F::kDecimalSI, 9}},  {"T", {F::kDecimalSI, 12}},
      {"P", {F::kDecimalSI, 15}}, {"E", {F::kDecimalSI, 18}},
      {"Ki", {F::kBinarySI, 10}},  {"Mi", {F::kBinarySI, 20}},
      {"Gi", {F::kBinarySI, 30}},  {"Ti", {F::kBinarySI, 40}},
      {"Pi", {F::kBinarySI, 50}},  {"Ei", {F::kBinarySI, 60}},
  };
  for (const Entry& e : kTable) {
    if (e.name == s) return e.suffix;
  }
  return std::nullopt;
}

// Interprets a suffix; "e<int>" exponents are read as Go's strconv.ParseInt(s, 10, 64)
// and then narrowed to 32 bits exactly as apimachinery does.
absl::StatusOr<Suffix> interpretSuffix(std::string_view text, std::string_view s) {
  if (auto fixed = suffixFromTable(s)) return *fixed;
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    std::string_view digits = s.substr(1);
    bool negative = false;
    if (digits[0] == '+' || digits[0] == '-') {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (digits.empty()) return invalid(text, "invalid exponent " + quoted(s));
    // Accumulate as a negative number so that the int64 minimum fits.
    int64_t acc = 0;
    for (char c : digits) {
      if (!isDigit(c)) return invalid(text, "invalid exponent " + quoted(s));
      int digit = c - '0';
      if (acc < (std::numeric_limits<int64_t>::min() + digit) / 10) {
        return invalid(text, "invalid exponent " + quoted(s));
      }
      acc = acc * 10 - digit;
    }
    if (!negative) {
      if (acc == std::numeric_limits<int64_t>::min()) {
        return invalid(text, "invalid exponent " + quoted(s));
      }
      acc = -acc;
    }
    return Suffix{Quantity::Format::kDecimalExponent, static_cast<int32_t>(acc)};
  }
  return invalid(text, "unknown suffix " + quoted(s));
}

// Whether apimachinery parses the input on its int64 fast path; the rest goes through
// arbitrary-precision decimals, which behave differently in two details (verbatim
// text, and rejecting a number without digits). `num` has its leading zeros stripped and
// is "0" when nothing is left.
bool takesFastPath(std::string_view num, std::string_view denom, const Suffix& suffix) {
  if (suffix.format == Quantity::Format::kBinarySI) {
    // Integers only, within a digit budget that shrinks as the suffix grows.
    return denom.empty() && 14 - static_cast<int>(num.size()) - suffix.exponent * 3 / 10 >= 0;
  }
  int64_t scale = static_cast<int64_t>(suffix.exponent) - static_cast<int64_t>(denom.size());
  return num.size() + denom.size() <= 18 && scale >= -9;
}

// Whether apimachinery keeps `text` as the quantity's string (String() then returns it
// unchanged): only on the fast path, and only when the digits look canonical.
bool keepsVerbatim(std::string_view num, std::string_view denom, const Suffix& suffix) {
  if (!takesFastPath(num, denom, suffix)) return false;
  if (suffix.format == Quantity::Format::kBinarySI) {
    // The parsed integer's low three bits must not all be zero.
    int lowBits = 0;
    for (char c : num) lowBits = (lowBits * 10 + (c - '0')) & 7;
    return lowBits != 0;
  }
  int64_t scale = static_cast<int64_t>(suffix.exponent) - static_cast<int64_t>(denom.size());
  std::string shifted = std::string(num) + std::string(denom);
  bool trailingThousand =
      shifted.size() >= 3 && shifted.compare(shifted.size() - 3, 3, "000") == 0;
  return scale % 3 == 0 && !trailingThousand && shifted[0] != '0';
}

constexpr std::string_view kDecimalSuffixes[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
constexpr std::string_view kBinarySuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

}  // namespace

absl::StatusOr<Quantity> Quantity::parse(std::string_view text) {
  if (text.empty()) return invalid(text, "empty string");
  if (text == "0") {
    Quantity q;
    q.text_ = "0";
    return q;
  }

  absl::StatusOr<Scanned> scanned = scan(text);
  if (!scanned.ok()) return scanned.status();
  absl::StatusOr<Suffix> suffix = interpretSuffix(text, scanned->suffix);
  if (!suffix.ok()) return suffix.status();

  std::string_view num = scanned->num;
  std::string_view denom = scanned->denom;
  const bool binary = suffix->format == Format::kBinarySI;
  // Off the fast path apimachinery hands the number to inf.Dec, which wants a digit:
  // "Ki" and "." are zero, but "Ei" and ".e-20" are errors.
  if (!scanned->hasDigits && !takesFastPath("0", denom, *suffix)) {
    return invalid(text, "no digits before the suffix");
  }

  // magnitude = <num><denom> x 2^binaryExp x 10^(decimalExp - len(denom)); counted in
  // nanos the decimal power grows by 9.
  int64_t power = (binary ? 0 : static_cast<int64_t>(suffix->exponent)) -
                  static_cast<int64_t>(denom.size()) + 9;
  // With a non-empty integer part the nano count is at least 10^floorExp; when that is
  // already past the limit (2^127 for decimal, the 2^63-1 unit cap for binary) skip the
  // big-number work on absurdly long inputs.
  int64_t floorExp = static_cast<int64_t>(num.size()) - 1 +
                     (binary ? 0 : static_cast<int64_t>(suffix->exponent)) + 9;
  bool overflow = !num.empty() && floorExp >= (binary ? 28 : 39);
  Int128 nanos = 0;
  BigUnsigned mag;
  if (!overflow) {
    mag.appendDigits(num);
    mag.appendDigits(denom);
  }
  if (overflow || !mag.isZero()) {
    if (!overflow && binary) {
      for (int i = 0; i < suffix->exponent / 10; ++i) mag.mulAdd(1024, 0);
    }
    if (!overflow && power > 0) {
      // 10^39 nanos is beyond what 128 bits hold, whatever the digits.
      overflow = power > 39 || !mag.multiplyByPowerOfTen(static_cast<int>(power), 4);
    } else if (!overflow && power < 0) {
      // Round away from zero to whole nanos: any discarded non-zero digit adds one.
      if (mag.divideByPowerOfTen(static_cast<uint64_t>(-power))) mag.mulAdd(1, 1);
    }
    std::optional<Int128> exact = overflow ? std::nullopt : mag.toInt128();
    if (binary && (!exact || *exact > kBinaryCapNanos)) {
      exact = kBinaryCapNanos;
    }
    if (!exact) {
      return absl::OutOfRangeError("quantity " + quoted(text) +
                                   ": magnitude exceeds the supported range (about 1.7e29)");
    }
    nanos = scanned->positive ? *exact : -*exact;
  }

  Format format = suffix->format;
  // A BinarySI amount below one unit is shown in decimal (0.5Ki is 512, 1e-12Ki is 2n).
  if (binary && nanos != 0 && nanos > -kNanosPerUnit && nanos < kNanosPerUnit) {
    format = Format::kDecimalSI;
  }
  Quantity q(nanos, format);
  if (keepsVerbatim(num.empty() ? "0" : num, denom, *suffix)) q.text_ = std::string(text);
  return q;
}

Quantity Quantity::fromInt(int64_t value, Format format) {
  return Quantity(static_cast<Nanos>(value) * kNanosPerUnit, format);
}

Quantity Quantity::fromMilli(int64_t milli, Format format) {
  return Quantity(static_cast<Nanos>(milli) * kNanosPerMilli, format);
}

Quantity Quantity::fromBytesBinary(int64_t bytes) { return fromInt(bytes, Format::kBinarySI); }

int64_t Quantity::value() const { return divideAwayFromZero(nanos_, kNanosPerUnit); }

int64_t Quantity::milliValue() const { return divideAwayFromZero(nanos_, kNanosPerMilli); }

std::string Quantity::toString() const { return text_.empty() ? canonical() : text_; }

std::string Quantity::canonical() const {
  if (nanos_ == 0) return "0";

  Format format = format_;
  if (format == Format::kBinarySI) {
    // Small amounts and fractions are clearer (and exact) in decimal.
    bool small = nanos_ > -1024 * kNanosPerUnit && nanos_ < 1024 * kNanosPerUnit;
    if (small || nanos_ % kNanosPerUnit != 0) format = Format::kDecimalSI;
  }

  if (format == Format::kBinarySI) {
    Nanos units = nanos_ / kNanosPerUnit;
    size_t power = 0;
    while (power + 1 < std::size(kBinarySuffixes) && units % 1024 == 0) {
      units /= 1024;
      ++power;
    }
    return toDecimal(units) + std::string(kBinarySuffixes[power]);
  }

  // mantissa x 10^exponent, with the largest exponent that is a multiple of three and
  // keeps the mantissa whole.
  Nanos mantissa = nanos_;
  int exponent = -9;
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exponent;
  }
  while (exponent % 3 != 0) {
    mantissa *= 10;
    --exponent;
  }

  if (format == Format::kDecimalExponent) {
    if (exponent == 0) return toDecimal(mantissa);
    return toDecimal(mantissa) + "e" + std::to_string(exponent);
  }
  // Beyond "E" there is no suffix; stay at E and grow the mantissa (it fits: it is
  // smaller than the nano count it came from).
  while (exponent > 18) {
    mantissa *= 10;
    --exponent;
  }
  return toDecimal(mantissa) + std::string(kDecimalSuffixes[(exponent + 9) / 3]);
}

Quantity Quantity::add(const Quantity& other) const {
  return Quantity(saturatingAdd(nanos_, other.nanos_), isZero() ? other.format_ : format_);
}

Quantity Quantity::sub(const Quantity& other) const {
  return Quantity(saturatingSub(nanos_, other.nanos_), isZero() ? other.format_ : format_);
}

Quantity Quantity::neg() const { return Quantity(saturatingSub(0, nanos_), format_); }

std::string_view formatName(Quantity::Format format) {
  switch (format) {
    case Quantity::Format::kDecimalSI:
      return "DecimalSI";
    case Quantity::Format::kBinarySI:
      return "BinarySI";
    case Quantity::Format::kDecimalExponent:
      return "DecimalExponent";
  }
  return "DecimalSI";
}

std::ostream& operator<<(std::ostream& os, const Quantity& q) { return os << q.toString(); }

}  // namespace cubelet::objects
