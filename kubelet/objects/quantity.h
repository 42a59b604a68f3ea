// resource.Quantity: the fixed-point amounts used for CPU, memory, storage, pods and
// extended resources in the Kubernetes API (k8s.io/apimachinery/pkg/api/resource).
//
// Behaviour follows apimachinery's Quantity:
//  - parse() accepts everything ParseQuantity accepts:
//      <sign>? <digits>? (. <digits>?)? <suffix>
//    with suffix one of "" n u m k M G T P E (DecimalSI), Ki Mi Gi Ti Pi Ei (BinarySI) or
//    e<int>/E<int> (DecimalExponent). Values are rounded away from zero to a whole number
//    of nano units (1e-10 -> 1n); BinarySI values are capped at 2^63-1 in magnitude.
//    Its quirks are kept on purpose, since the apiserver accepts the same strings:
//    "-", "+", "." and a bare suffix such as "Ki" all parse as zero. Like ParseQuantity it
//    rejects surrounding whitespace; JSON decoding (UnmarshalJSON) trims it first and also
//    accepts a bare JSON number, which is the caller's job here.
//  - toString() is Quantity.String(): the canonical form ("1.5" -> "1500m",
//    "1.5Gi" -> "1536Mi", "1024Mi" -> "1Gi"), except that a string Kubernetes keeps
//    verbatim on parse is echoed back unchanged (e.g. "+1" stays "+1"); canonical()
//    always computes the canonical form.
//  - value() / milliValue() round away from zero (Value() / MilliValue()) and saturate
//    at the int64 limits instead of overflowing.
//
// Differences from apimachinery, all outside the range any real node or pod uses:
//  - The amount is an exact 128-bit count of nano units, so magnitudes above about
//    1.7e29 are rejected with OutOfRange (apimachinery falls back to arbitrary
//    precision), and add()/sub() saturate at that limit.
//  - DecimalSI amounts of 1000E and above print with an "E" suffix ("1000E"); upstream
//    drops the suffix there.
//
// Quantity is a small value type: copyable, immutable through its public API, and safe to
// share between threads for reading.
#pragma once

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cubelet::objects {

class Quantity {
 public:
  // The suffix family a quantity is written in; kept through arithmetic so that a
  // memory amount stays in Ki/Mi/Gi and a CPU amount in m.
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  // Zero, DecimalSI.
  Quantity() = default;

  // Parses a quantity string. Errors are InvalidArgument (bad syntax or suffix) or
  // OutOfRange, with the input quoted in the message.
  static absl::StatusOr<Quantity> parse(std::string_view text);

  // `value` units (resource.NewQuantity).
  static Quantity fromInt(int64_t value, Format format = Format::kDecimalSI);
  // `milli` thousandths of a unit (resource.NewMilliQuantity), e.g. CPU millicores.
  static Quantity fromMilli(int64_t milli, Format format = Format::kDecimalSI);
  // A byte count in BinarySI, the way the kubelet reports memory and storage.
  static Quantity fromBytesBinary(int64_t bytes);

  Format format() const { return format_; }
  bool isZero() const { return nanos_ == 0; }
  // -1, 0 or 1.
  int sign() const { return nanos_ < 0 ? -1 : (nanos_ > 0 ? 1 : 0); }

  // The amount as a whole number of units, rounded away from zero (0.1 -> 1,
  // -0.1 -> -1), saturated to the int64 range.
  int64_t value() const;
  // The amount in thousandths, rounded away from zero, saturated to the int64 range.
  int64_t milliValue() const;

  // Quantity.String(): see the file comment.
  std::string toString() const;
  // The canonical form, ignoring any verbatim-kept input string.
  std::string canonical() const;

  // Arithmetic as Quantity.Add/Sub/Neg: the result keeps this quantity's format, or
  // takes `other`'s when this one is zero. Saturates at the representable range.
  Quantity add(const Quantity& other) const;
  Quantity sub(const Quantity& other) const;
  Quantity neg() const;

  friend Quantity operator+(const Quantity& a, const Quantity& b) { return a.add(b); }
  friend Quantity operator-(const Quantity& a, const Quantity& b) { return a.sub(b); }
  friend Quantity operator-(const Quantity& a) { return a.neg(); }

  // Numeric comparison (Quantity.Cmp); the format takes no part: 1 == 1000m.
  friend bool operator==(const Quantity& a, const Quantity& b) { return a.nanos_ == b.nanos_; }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    if (a.nanos_ < b.nanos_) return std::strong_ordering::less;
    if (a.nanos_ > b.nanos_) return std::strong_ordering::greater;
    return std::strong_ordering::equal;
  }

 private:
  __extension__ typedef __int128 Nanos;

  Quantity(Nanos nanos, Format format) : nanos_(nanos), format_(format) {}

  Nanos nanos_ = 0;
  Format format_ = Format::kDecimalSI;
  // The parsed text when apimachinery would keep it verbatim; empty otherwise.
  std::string text_;
};

// "DecimalSI", "BinarySI" or "DecimalExponent", as the Go constants are spelled.
std::string_view formatName(Quantity::Format format);

// Prints toString(); lets tests and logs stream quantities.
std::ostream& operator<<(std::ostream& os, const Quantity& q);

}  // namespace cubelet::objects
