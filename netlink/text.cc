// Text forms of addresses, prefixes, MACs and link names: pure, no netlink.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <charconv>
#include <cstring>

#include "netlink/nlroute.h"

namespace cubelet::netlink {
namespace {

absl::Status badText(std::string_view what, std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError("invalid " + std::string(what) + " \"" + std::string(text) + "\": " +
                                    std::string(why));
}

// The address part alone; fills family and addr.
bool parseAddr(std::string_view text, IpPrefix& out) {
  std::string s(text);  // inet_pton wants a terminated string
  if (inet_pton(AF_INET, s.c_str(), out.addr.data()) == 1) {
    out.family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.addr.data()) == 1) {
    out.family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

int IpPrefix::addrLen() const { return family == AF_INET6 ? 16 : 4; }

std::string IpPrefix::ip() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (!inet_ntop(family, addr.data(), buf, sizeof buf)) return "";
  return buf;
}

std::string IpPrefix::str() const { return ip() + "/" + std::to_string(prefixLen); }

absl::StatusOr<IpPrefix> parseCidr(std::string_view text) {
  IpPrefix p;
  size_t slash = text.find('/');
  if (!parseAddr(text.substr(0, slash), p)) return badText("CIDR", text, "not an IPv4 or IPv6 address");
  int maxLen = p.addrLen() * 8;
  if (slash == std::string_view::npos) {
    p.prefixLen = maxLen;
    return p;
  }
  std::string_view len = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), p.prefixLen);
  if (len.empty() || ec != std::errc() || end != len.data() + len.size() || p.prefixLen < 0 ||
      p.prefixLen > maxLen) {
    return badText("CIDR", text, "the prefix length must be 0.." + std::to_string(maxLen));
  }
  return p;
}

absl::StatusOr<IpPrefix> parseIp(std::string_view text) {
  IpPrefix p;
  if (!parseAddr(text, p)) return badText("IP address", text, "not an IPv4 or IPv6 address");
  p.prefixLen = p.addrLen() * 8;
  return p;
}

absl::StatusOr<Mac> parseMac(std::string_view text) {
  Mac mac{};
  if (text.size() != 17) return badText("MAC address", text, "want six hex bytes, e.g. 02:42:ac:11:00:02");
  for (size_t i = 0; i < mac.size(); ++i) {
    std::string_view byte = text.substr(i * 3, 2);
    if (i > 0 && text[i * 3 - 1] != ':' && text[i * 3 - 1] != '-') {
      return badText("MAC address", text, "bytes are separated by ':' or '-'");
    }
    auto [end, ec] = std::from_chars(byte.data(), byte.data() + 2, mac[i], 16);
    if (ec != std::errc() || end != byte.data() + 2) return badText("MAC address", text, "not a hex byte");
  }
  return mac;
}

std::string formatMac(const Mac& mac) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : mac) {
    if (!out.empty()) out += ':';
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

absl::Status checkLinkName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return badText("link name", name, "must be 1.." + std::to_string(IFNAMSIZ - 1) + " bytes");
  }
  if (name == "." || name == "..") return badText("link name", name, "reserved");
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c))) {
      return badText("link name", name, "no '/', ':' or whitespace");
    }
  }
  return absl::OkStatus();
}

}  // namespace cubelet::netlink
