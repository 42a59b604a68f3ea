// Internal to pod_config: byte-exact renderings of a few Go standard-library encoders, for
// values that must match what the upstream kubelet writes (annotations, the container hash,
// downward-API strings).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cubelet::runtime::gojson {

// Appends `s` as Go's encoding/json writes a string: quoted; \" \\ \b \f \n \r \t; other
// control bytes and < > & as \u00XX; U+2028/U+2029 as \u2028/\u2029; every invalid UTF-8
// byte as \ufffd; everything else verbatim.
void appendString(std::string& out, std::string_view s);

// strconv.Quote: a double-quoted Go string literal. Invalid UTF-8 bytes become \xNN; ASCII
// controls use \a \b \f \n \r \t \v or \xNN. Non-ASCII runes stay verbatim unless they are
// not graphic (C1 controls, non-ASCII spaces, format characters, line/paragraph separators,
// private use, noncharacters), which become \uXXXX / \UXXXXXXXX; Go consults the full Unicode
// tables here, so unassigned code points may differ.
std::string quote(std::string_view s);

// One rune of UTF-8 as Go's utf8.DecodeRune reads it: {rune, size}; an invalid or truncated
// sequence gives {0xFFFD, 1}; empty input {0xFFFD, 0}.
struct Rune {
  char32_t value;
  size_t size;
};
Rune decodeRune(std::string_view s);
// Appends the UTF-8 encoding of `r` (U+FFFD for surrogates and values above U+10FFFF).
void appendRune(std::string& out, char32_t r);

// 32-bit FNV-1a (hash/fnv New32a).
uint32_t fnv32a(std::string_view data);

}  // namespace cubelet::runtime::gojson
