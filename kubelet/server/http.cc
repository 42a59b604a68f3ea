#include "kubelet/server/http.h"

#include <strings.h>

#include <cctype>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace cubelet::server {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 7230 token characters (method and header names).
bool isTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::string Request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return h.value;
  return "";
}

std::vector<std::string> Request::headerValues(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& h : headers)
    if (iequals(h.name, name)) out.push_back(h.value);
  return out;
}

bool Request::hasHeaderToken(std::string_view name, std::string_view token) const {
  for (const auto& v : headerValues(name)) {
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

bool Request::isUpgrade() const { return hasHeaderToken("Connection", "upgrade") && !header("Upgrade").empty(); }

bool Request::keepAlive() const {
  if (hasHeaderToken("Connection", "close")) return false;
  if (version == "HTTP/1.0") return hasHeaderToken("Connection", "keep-alive");
  return true;
}

std::string Request::param(const std::string& name, const std::string& def) const {
  auto it = query.find(name);
  return it == query.end() ? def : it->second;
}

absl::StatusOr<std::string> percentDecode(std::string_view s, bool plusIsSpace) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return absl::InvalidArgumentError(absl::StrCat("invalid URL escape in \"", std::string(s), "\""));
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError(absl::StrCat("invalid URL escape in \"", std::string(s), "\""));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<QueryParams> parseQuery(std::string_view raw) {
  QueryParams out;
  while (!raw.empty()) {
    size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = percentDecode(pair.substr(0, eq), true);
    if (!key.ok()) return key.status();
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = percentDecode(pair.substr(eq + 1), true);
      if (!v.ok()) return v.status();
      value = std::move(*v);
    }
    out.emplace(std::move(*key), std::move(value));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> pathSegments(std::string_view rawPath) {
  if (rawPath.empty() || rawPath.front() != '/') return absl::InvalidArgumentError("path must start with /");
  std::vector<std::string> out;
  std::string_view rest = rawPath.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    auto seg = percentDecode(rest.substr(0, slash), false);
    if (!seg.ok()) return seg.status();
    out.push_back(std::move(*seg));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

absl::StatusOr<Request> parseRequestHead(std::string_view head) {
  Request r;
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return absl::InvalidArgumentError("malformed request line");
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  r.version = std::string(line.substr(sp2 + 1));
  if (r.method.empty()) return absl::InvalidArgumentError("empty method");
  for (char c : r.method)
    if (!isTokenChar(c)) return absl::InvalidArgumentError("malformed method");
  if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0")
    return absl::InvalidArgumentError(absl::StrCat("unsupported protocol version \"", r.version, "\""));
  if (r.target.empty() || r.target.front() != '/') return absl::InvalidArgumentError("request target must be a path");
  for (char c : r.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return absl::InvalidArgumentError("control character in request target");
  size_t q = r.target.find('?');
  r.rawPath = r.target.substr(0, q);
  if (q != std::string::npos) {
    auto query = parseQuery(std::string_view(r.target).substr(q + 1));
    if (!query.ok()) return query.status();
    r.query = std::move(*query);
  }
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    if (h.empty()) continue;
    if (h.front() == ' ' || h.front() == '\t') return absl::InvalidArgumentError("obsolete header line folding");
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return absl::InvalidArgumentError("malformed header line");
    for (char c : h.substr(0, colon))
      if (!isTokenChar(c)) return absl::InvalidArgumentError("malformed header name");
    std::string_view value = trim(h.substr(colon + 1));
    for (char c : value)
      if (c == '\0' || c == '\n' || c == '\r') return absl::InvalidArgumentError("control character in header value");
    r.headers.push_back({std::string(h.substr(0, colon)), std::string(value)});
  }
  return r;
}

std::string statusLine(int code) {
  const char* text = "Unknown";
  switch (code) {
    case 101: text = "Switching Protocols"; break;
    case 200: text = "OK"; break;
    case 201: text = "Created"; break;
    case 204: text = "No Content"; break;
    case 301: text = "Moved Permanently"; break;
    case 400: text = "Bad Request"; break;
    case 401: text = "Unauthorized"; break;
    case 403: text = "Forbidden"; break;
    case 404: text = "Not Found"; break;
    case 405: text = "Method Not Allowed"; break;
    case 408: text = "Request Timeout"; break;
    case 411: text = "Length Required"; break;
    case 413: text = "Request Entity Too Large"; break;
    case 422: text = "Unprocessable Entity"; break;
    case 431: text = "Request Header Fields Too Large"; break;
    case 500: text = "Internal Server Error"; break;
    case 501: text = "Not Implemented"; break;
    case 502: text = "Bad Gateway"; break;
    case 503: text = "Service Unavailable"; break;
  }
  return absl::StrCat(code, " ", text);
}

std::string responseHead(int code, const std::vector<Header>& headers) {
  std::string out = absl::StrCat("HTTP/1.1 ", statusLine(code), "\r\n");
  for (const auto& h : headers) absl::StrAppend(&out, h.name, ": ", h.value, "\r\n");
  out += "\r\n";
  return out;
}

std::string chunk(std::string_view data) {
  if (data.empty()) return "";
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out(size);
  out.append(data);
  out += "\r\n";
  return out;
}

absl::StatusOr<bool> parseGoBool(std::string_view s) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (s == t) return true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (s == f) return false;
  return absl::InvalidArgumentError(absl::StrCat("invalid boolean \"", std::string(s), "\""));
}

}  // namespace cubelet::server
