#include "kubelet/runtime/pod_gojson.h"

namespace cubelet::runtime::gojson {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char32_t kRuneError = 0xFFFD;

bool inRange(unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; }

// Not graphic in Go's sense (unicode.IsPrint is false) for a rune >= 0x80: see quote().
bool nonGraphic(char32_t r) {
  return (r >= 0x80 && r <= 0xA0) || r == 0xAD || r == 0x61C || r == 0x1680 || r == 0x180E ||
         (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
         (r >= 0x205F && r <= 0x206F) || r == 0x3000 || (r >= 0xE000 && r <= 0xF8FF) ||
         r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) || (r & 0xFFFE) == 0xFFFE ||
         r >= 0xF0000;
}

}  // namespace

Rune decodeRune(std::string_view s) {
  if (s.empty()) return {kRuneError, 0};
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {b0, 1};
  auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  if (inRange(b0, 0xC2, 0xDF)) {
    if (s.size() >= 2 && inRange(at(1), 0x80, 0xBF)) {
      return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (at(1) & 0x3F)), 2};
    }
    return {kRuneError, 1};
  }
  if (inRange(b0, 0xE0, 0xEF)) {
    unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    if (s.size() >= 3 && inRange(at(1), lo, hi) && inRange(at(2), 0x80, 0xBF)) {
      return {static_cast<char32_t>(((b0 & 0x0F) << 12) | ((at(1) & 0x3F) << 6) | (at(2) & 0x3F)), 3};
    }
    return {kRuneError, 1};
  }
  if (inRange(b0, 0xF0, 0xF4)) {
    unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (s.size() >= 4 && inRange(at(1), lo, hi) && inRange(at(2), 0x80, 0xBF) &&
        inRange(at(3), 0x80, 0xBF)) {
      return {static_cast<char32_t>(((b0 & 0x07) << 18) | ((at(1) & 0x3F) << 12) |
                                    ((at(2) & 0x3F) << 6) | (at(3) & 0x3F)),
              4};
    }
  }
  return {kRuneError, 1};
}

void appendRune(std::string& out, char32_t r) {
  if ((r >= 0xD800 && r <= 0xDFFF) || r > 0x10FFFF) r = kRuneError;
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

void appendString(std::string& out, std::string_view s) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (b < 0x20 || b == '<' || b == '>' || b == '&') {
            out += "\\u00";
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 0xF]);
          } else {
            out.push_back(static_cast<char>(b));
          }
      }
      ++i;
      continue;
    }
    Rune r = decodeRune(s.substr(i));
    if (r.value == kRuneError && r.size == 1) {
      out += "\\ufffd";
    } else if (r.value == 0x2028 || r.value == 0x2029) {
      out += r.value == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, r.size));
    }
    i += r.size;
  }
  out.push_back('"');
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    Rune r = decodeRune(s.substr(i));
    if (r.value == kRuneError && r.size == 1) {
      const auto b = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
      ++i;
      continue;
    }
    const char32_t c = r.value;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x80 && !nonGraphic(c)) {
      out.append(s.substr(i, r.size));
    } else {
      switch (c) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
          } else {
            const bool wide = c >= 0x10000;
            out += wide ? "\\U" : "\\u";
            for (int shift = wide ? 28 : 12; shift >= 0; shift -= 4) out.push_back(kHex[(c >> shift) & 0xF]);
          }
      }
    }
    i += r.size;
  }
  out.push_back('"');
  return out;
}

uint32_t fnv32a(std::string_view data) {
  uint32_t h = 2166136261u;
  for (char ch : data) {
    h ^= static_cast<unsigned char>(ch);
    h *= 16777619u;
  }
  return h;
}

}  // namespace cubelet::runtime::gojson
