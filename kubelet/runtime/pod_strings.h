// Internal to pod_config: small string helpers over std::string_view. (Debian's abseil has
// its own absl::string_view, which std::string_view does not convert to, so absl::StrCat and
// friends do not take std::string_view arguments.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace cubelet::runtime::podstr {

template <typename T>
void appendOne(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, absl::string_view>) {
    out.append(v.data(), v.size());
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out.append(std::string_view(v));
  } else if constexpr (std::is_same_v<T, char>) {
    out.push_back(v);
  } else {
    static_assert(std::is_integral_v<T>, "cat() takes strings, chars and integers");
    out += std::to_string(v);
  }
}

// Concatenation of strings, chars and integers (decimal).
template <typename... Args>
std::string cat(const Args&... args) {
  std::string out;
  (appendOne(out, args), ...);
  return out;
}

template <typename... Args>
void append(std::string& out, const Args&... args) {
  (appendOne(out, args), ...);
}

// Every piece between separators, empty ones included ("a..b" -> "a", "", "b").
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

// The non-empty runs between any of `seps`.
inline std::vector<std::string_view> fields(std::string_view s, std::string_view seps) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t begin = s.find_first_not_of(seps, pos);
    if (begin == std::string_view::npos) break;
    size_t end = s.find_first_of(seps, begin);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(begin, end - begin));
    pos = end;
  }
  return out;
}

template <typename Container>
std::string join(const Container& parts, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out.append(sep);
    first = false;
    appendOne(out, p);
  }
  return out;
}

// Lowercase hex, no padding.
inline std::string hex(uint64_t v) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[v & 0xF]);
    v >>= 4;
  } while (v);
  return out;
}

}  // namespace cubelet::runtime::podstr
