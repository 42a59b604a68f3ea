#include "kubelet/runtime/pull_secrets.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::runtime {
namespace {

using nlohmann::json;

constexpr std::string_view kDockerConfigJsonType = "kubernetes.io/dockerconfigjson";
constexpr std::string_view kDockerConfigJsonKey = ".dockerconfigjson";
constexpr std::string_view kDockercfgType = "kubernetes.io/dockercfg";
constexpr std::string_view kDockercfgKey = ".dockercfg";
// The key whose credentials serve Docker Hub images when no key matched them.
constexpr std::string_view kDefaultRegistryKey = "index.docker.io";

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAlnum(char c) { return isAlpha(c) || isDigit(c); }
bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || isDigit(c); }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

int hexValue(char c) {
  if (isDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// ----------------------------------------------------------------------------------------
// Base64 (standard alphabet) as Go's encoding/base64 decodes it: CR and LF anywhere are
// ignored, trailing bits are not checked. kRequired is StdEncoding (the input is whole
// quanta, ending in "=" / "==" as needed); kNone is RawStdEncoding (no "=" at all).

enum class Padding { kRequired, kNone };

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (isDigit(c)) return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> base64Decode(std::string_view in, Padding padding) {
  std::string chars;
  chars.reserve(in.size());
  for (char c : in) {
    if (c != '\r' && c != '\n') chars.push_back(c);
  }
  if (padding == Padding::kRequired) {
    if (chars.size() % 4 != 0) return std::nullopt;
    size_t pad = 0;
    while (pad < chars.size() && chars[chars.size() - 1 - pad] == '=') ++pad;
    if (pad > 2) return std::nullopt;
    chars.resize(chars.size() - pad);
  }
  if (chars.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(chars.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : chars) {
    int v = base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------------
// URLs the way the upstream keyring sees registries and images: Go's url.Parse of
// "https://" + s (ParseSchemelessURL), reduced to the parts it uses.

struct SchemelessUrl {
  std::string host;  // with the port, without userinfo; percent-escapes decoded
  std::string path;  // percent-escapes decoded
};

// Characters Go accepts unescaped in a URL's host (":port" and "[v6]" included).
bool validHostChar(char c) {
  if (static_cast<unsigned char>(c) >= 0x80) return true;
  if (isAlnum(c)) return true;
  return std::string_view("-_.~!$&'()*+,;=:[]<>\"").find(c) != std::string_view::npos;
}

bool validUserinfoChar(char c) {
  return isAlnum(c) || std::string_view("-._:~!$&'()*+,;=%@").find(c) != std::string_view::npos;
}

// "" or ":" followed by digits only.
bool validOptionalPort(std::string_view colonPort) {
  if (colonPort.empty()) return true;
  if (colonPort[0] != ':') return false;
  return std::all_of(colonPort.begin() + 1, colonPort.end(), isDigit);
}

std::optional<std::string> parseHost(std::string_view host) {
  if (startsWith(host, "[")) {
    size_t close = host.rfind(']');
    if (close == std::string_view::npos || !validOptionalPort(host.substr(close + 1))) return std::nullopt;
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    if (!validOptionalPort(host.substr(colon))) return std::nullopt;
  }
  std::string out;
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '%') {
      // Only non-ASCII bytes (and "%25") may be escaped in a host.
      if (i + 2 >= host.size() || !isHex(host[i + 1]) || !isHex(host[i + 2])) return std::nullopt;
      int v = hexValue(host[i + 1]) * 16 + hexValue(host[i + 2]);
      if (v < 0x80 && host.substr(i, 3) != "%25") return std::nullopt;
      out.push_back(static_cast<char>(v));
      i += 2;
    } else if (!validHostChar(c)) {
      return std::nullopt;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> unescapePath(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      out.push_back(path[i]);
      continue;
    }
    if (i + 2 >= path.size() || !isHex(path[i + 1]) || !isHex(path[i + 2])) return std::nullopt;
    out.push_back(static_cast<char>(hexValue(path[i + 1]) * 16 + hexValue(path[i + 2])));
    i += 2;
  }
  return out;
}

std::optional<SchemelessUrl> parseSchemelessUrl(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  }
  s = s.substr(0, s.find('#'));
  s = s.substr(0, s.find('?'));
  size_t slash = s.find('/');
  std::string_view authority = s.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
  std::string_view host = authority;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (!std::all_of(userinfo.begin(), userinfo.end(), validUserinfoChar)) return std::nullopt;
    host = authority.substr(at + 1);
  }
  SchemelessUrl url;
  auto parsedHost = parseHost(host);
  if (!parsedHost) return std::nullopt;
  url.host = std::move(*parsedHost);
  auto parsedPath = unescapePath(path);
  if (!parsedPath) return std::nullopt;
  url.path = std::move(*parsedPath);
  return url;
}

// Go's net.SplitHostPort; nullopt where it fails (no port, too many colons ...).
std::optional<std::pair<std::string_view, std::string_view>> splitHostPort(std::string_view hostport) {
  size_t lastColon = hostport.rfind(':');
  if (lastColon == std::string_view::npos) return std::nullopt;
  std::string_view host;
  size_t noOpenFrom = 0, noCloseFrom = 0;
  if (startsWith(hostport, "[")) {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos || close + 1 != lastColon) return std::nullopt;
    host = hostport.substr(1, close - 1);
    noOpenFrom = 1;
    noCloseFrom = close + 1;
  } else {
    host = hostport.substr(0, lastColon);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  if (hostport.find('[', noOpenFrom) != std::string_view::npos) return std::nullopt;
  if (hostport.find(']', noCloseFrom) != std::string_view::npos) return std::nullopt;
  return std::pair{host, hostport.substr(lastColon + 1)};
}

// The host's dot-separated labels and its port ("" when none or unparseable).
std::pair<std::vector<std::string_view>, std::string_view> splitUrl(const SchemelessUrl& url) {
  std::string_view host = url.host;
  std::string_view port;
  if (auto hp = splitHostPort(host)) std::tie(host, port) = *hp;
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    labels.push_back(host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return {std::move(labels), port};
}

// ----------------------------------------------------------------------------------------
// Glob match of one host label, with the syntax of Go's path/filepath.Match: "*" (any run),
// "?" (one character), "[...]" / "[^...]" classes with ranges, "\" escapes. A malformed
// pattern matches nothing (upstream gets ErrBadPattern and treats it as no match).
// Characters are bytes here, runes upstream: only non-ASCII labels could tell.

// One class member character at p[i] (escaped or not); advances i.
std::optional<char> classChar(std::string_view p, size_t& i) {
  if (i >= p.size() || p[i] == '-' || p[i] == ']') return std::nullopt;
  if (p[i] == '\\' && ++i >= p.size()) return std::nullopt;
  char c = p[i++];
  if (i >= p.size()) return std::nullopt;  // the class must still be closed
  return c;
}

// Parses the class starting at p[i] == '['; sets `matched` for c and returns the index after
// the closing ']', or nullopt when malformed.
std::optional<size_t> matchClass(std::string_view p, size_t i, char c, bool& matched) {
  ++i;
  bool negated = i < p.size() && p[i] == '^';
  if (negated) ++i;
  bool inClass = false;
  bool first = true;
  while (true) {
    if (i >= p.size()) return std::nullopt;
    if (p[i] == ']' && !first) break;
    auto lo = classChar(p, i);
    if (!lo) return std::nullopt;
    char hi = *lo;
    if (p[i] == '-') {
      ++i;
      auto h = classChar(p, i);
      if (!h) return std::nullopt;
      hi = *h;
    }
    auto u = static_cast<unsigned char>(c);
    if (static_cast<unsigned char>(*lo) <= u && u <= static_cast<unsigned char>(hi)) inClass = true;
    first = false;
  }
  matched = inClass != negated;
  return i + 1;
}

bool validGlob(std::string_view p) {
  for (size_t i = 0; i < p.size();) {
    if (p[i] == '\\') {
      if (i + 1 >= p.size()) return false;
      i += 2;
    } else if (p[i] == '[') {
      bool ignored = false;
      auto next = matchClass(p, i, 'a', ignored);
      if (!next) return false;
      i = *next;
    } else {
      ++i;
    }
  }
  return true;
}

// Whether the pattern element at p[i] (not "*") matches c; `next` is the index after it.
bool matchElement(std::string_view p, size_t i, char c, size_t& next) {
  switch (p[i]) {
    case '?':
      next = i + 1;
      return c != '/';
    case '\\':
      next = i + 2;
      return p[i + 1] == c;
    case '[': {
      bool matched = false;
      next = *matchClass(p, i, c, matched);  // validGlob checked the pattern
      return matched;
    }
    default:
      next = i + 1;
      return p[i] == c;
  }
}

bool globMatch(std::string_view pattern, std::string_view name) {
  if (!validGlob(pattern)) return false;
  size_t pi = 0, ni = 0;
  size_t starPattern = std::string_view::npos, starName = 0;
  while (ni < name.size()) {
    if (pi < pattern.size() && pattern[pi] == '*') {
      starPattern = ++pi;
      starName = ni;
      continue;
    }
    size_t next = 0;
    if (pi < pattern.size() && matchElement(pattern, pi, name[ni], next)) {
      pi = next;
      ++ni;
      continue;
    }
    // Let the last star take one more character (it never takes a path separator).
    if (starPattern == std::string_view::npos || name[starName] == '/') return false;
    pi = starPattern;
    ni = ++starName;
  }
  while (pi < pattern.size() && pattern[pi] == '*') ++pi;
  return pi == pattern.size();
}

// URLsMatch: same port, same number of host labels each matching as a glob, and the glob's
// path a prefix of the target's.
bool urlsMatch(const SchemelessUrl& glob, const SchemelessUrl& target) {
  auto [globLabels, globPort] = splitUrl(glob);
  auto [targetLabels, targetPort] = splitUrl(target);
  if (globPort != targetPort || globLabels.size() != targetLabels.size()) return false;
  if (!startsWith(target.path, glob.path)) return false;
  for (size_t i = 0; i < globLabels.size(); ++i) {
    if (!globMatch(globLabels[i], targetLabels[i])) return false;
  }
  return true;
}

// The keyring key of a config entry's registry (BasicDockerKeyring.Add); nullopt when the
// upstream keyring ignores the entry (its URL does not parse).
std::optional<std::string> keyringKey(std::string_view registry) {
  std::string_view rest = registry;
  if (startsWith(rest, "https://")) {
    rest.remove_prefix(8);
  } else if (startsWith(rest, "http://")) {
    rest.remove_prefix(7);
  }
  auto url = parseSchemelessUrl(rest);
  if (!url) return std::nullopt;
  std::string_view path = url->path;
  if (startsWith(path, "/v1/") || startsWith(path, "/v2/")) path.remove_prefix(3);
  if (path.empty() || path == "/") return url->host;
  return url->host + std::string(path);
}

// isDefaultRegistryMatch: whether a repository is pulled from Docker Hub.
bool isDefaultRegistry(std::string_view repository) {
  size_t slash = repository.find('/');
  std::string_view first = repository.substr(0, slash);
  if (first.empty()) return false;
  if (slash == std::string_view::npos) return true;
  if (first == "docker.io" || first == "index.docker.io") return true;
  return first.find_first_of(".:") == std::string_view::npos;
}

// ----------------------------------------------------------------------------------------
// Image references (the docker reference grammar, github.com/distribution/reference).

// path-component: [a-z0-9]+ ( ([._] | __ | -+) [a-z0-9]+ )*
bool validPathComponent(std::string_view s) {
  size_t i = 0;
  auto alnumRun = [&] {
    size_t start = i;
    while (i < s.size() && isLowerAlnum(s[i])) ++i;
    return i > start;
  };
  if (!alnumRun()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnumRun()) return false;
  }
  return true;
}

// domain-name [":" port] or "[" ipv6 "]" [":" port]; domain-name is dot-separated
// [a-zA-Z0-9] ([a-zA-Z0-9-]* [a-zA-Z0-9])?.
bool validDomain(std::string_view d) {
  std::string_view rest;
  if (startsWith(d, "[")) {
    size_t close = d.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view v6 = d.substr(1, close - 1);
    if (!std::all_of(v6.begin(), v6.end(), [](char c) { return isHex(c) || c == ':'; })) return false;
    rest = d.substr(close + 1);
  } else {
    size_t colon = d.find(':');
    std::string_view host = d.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : d.substr(colon);
    size_t start = 0;
    while (true) {
      size_t dot = host.find('.', start);
      std::string_view label =
          host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
      if (label.empty() || !isAlnum(label.front()) || !isAlnum(label.back())) return false;
      if (!std::all_of(label.begin(), label.end(), [](char c) { return isAlnum(c) || c == '-'; })) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (rest.empty()) return true;
  return rest.size() > 1 && rest[0] == ':' && std::all_of(rest.begin() + 1, rest.end(), isDigit);
}

// [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
bool validTag(std::string_view t) {
  auto word = [](char c) { return isAlnum(c) || c == '_'; };
  if (t.empty() || t.size() > 128 || !word(t[0])) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

// algorithm ":" hex{32,}; algorithm is [A-Za-z][A-Za-z0-9]* joined by [-_+.].
bool validDigest(std::string_view d) {
  size_t colon = d.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view algorithm = d.substr(0, colon);
  std::string_view hex = d.substr(colon + 1);
  if (hex.size() < 32 || !std::all_of(hex.begin(), hex.end(), isHex)) return false;
  bool expectAlpha = true;
  for (char c : algorithm) {
    if (expectAlpha) {
      if (!isAlpha(c)) return false;
      expectAlpha = false;
    } else if (std::string_view("-_+.").find(c) != std::string_view::npos) {
      expectAlpha = true;
    } else if (!isAlnum(c)) {
      return false;
    }
  }
  return !expectAlpha;
}

absl::Status invalidImage(std::string_view image, std::string_view why) {
  return absl::InvalidArgumentError(cat({"invalid image reference \"", image, "\": ", why}));
}

// ----------------------------------------------------------------------------------------
// Secrets.

absl::Status secretError(std::string_view where, std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(cat({where, ": ", field, ": ", what}));
}

// The member `name` of an object, matched as Go's encoding/json matches struct fields: the
// exact key first, else any key equal ignoring case.
const json* member(const json& obj, std::string_view name) {
  if (auto it = obj.find(name); it != obj.end()) return &*it;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (equalsIgnoreCase(it.key(), name)) return &*it;
  }
  return nullptr;
}

// A string member; "" when absent or null.
absl::StatusOr<std::string> stringMember(const json& obj, std::string_view name, std::string_view where,
                                         std::string_view at) {
  const json* v = member(obj, name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return secretError(where, cat({at, ".", name}), "not a string");
  return v->get<std::string>();
}

// One registry entry of a docker config (DockerConfigEntry.UnmarshalJSON).
absl::StatusOr<PullCredential> parseEntry(const json& entry, std::string_view where, std::string_view at) {
  PullCredential c;
  if (entry.is_null()) return c;
  if (!entry.is_object()) return secretError(where, at, "not an object");
  ASSIGN_OR_RETURN(c.username, stringMember(entry, "username", where, at));
  ASSIGN_OR_RETURN(c.password, stringMember(entry, "password", where, at));
  ASSIGN_OR_RETURN(std::string email, stringMember(entry, "email", where, at));
  (void)email;  // validated like upstream, but CRI has no use for it
  ASSIGN_OR_RETURN(c.auth, stringMember(entry, "auth", where, at));
  ASSIGN_OR_RETURN(c.identityToken, stringMember(entry, "identitytoken", where, at));
  ASSIGN_OR_RETURN(c.registryToken, stringMember(entry, "registrytoken", where, at));
  if (!c.auth.empty()) {
    // Padded or not, decided by a trailing "=" (ignoring surrounding whitespace).
    std::string_view trimmed = c.auth;
    while (!trimmed.empty() && std::string_view(" \t\r\n\v\f").find(trimmed.back()) != std::string_view::npos) {
      trimmed.remove_suffix(1);
    }
    Padding padding = !trimmed.empty() && trimmed.back() == '=' ? Padding::kRequired : Padding::kNone;
    auto decoded = base64Decode(c.auth, padding);
    if (!decoded) return secretError(where, cat({at, ".auth"}), "invalid base64");
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) return secretError(where, cat({at, ".auth"}), "not base64(username:password)");
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  return c;
}

}  // namespace

std::vector<std::string> pullSecretNames(const nlohmann::json& pod) {
  std::vector<std::string> names;
  for (const json& ref : objects::array(pod, {"spec", "imagePullSecrets"})) {
    std::string name = objects::str(ref, {"name"});
    if (!name.empty()) names.push_back(std::move(name));
  }
  return names;
}

absl::StatusOr<std::vector<PullCredential>> parsePullSecret(const nlohmann::json& secret) {
  if (!secret.is_object()) return absl::InvalidArgumentError("secret: not a JSON object");
  std::string ns = objects::str(secret, {"metadata", "namespace"});
  std::string name = objects::str(secret, {"metadata", "name"});
  std::string where = cat({"secret ", ns, "/", name});
  std::string type = objects::str(secret, {"type"});

  bool configJson = type == kDockerConfigJsonType;
  if (!configJson && type != kDockercfgType) return std::vector<PullCredential>();
  std::string_view key = configJson ? kDockerConfigJsonKey : kDockercfgKey;
  std::string field = cat({"data[", key, "]"});

  const json* data = objects::find(secret, {"data"});
  if (data != nullptr && !data->is_null() && !data->is_object()) return secretError(where, "data", "not an object");
  const json* value = objects::find(secret, {"data", key});
  if (value == nullptr || value->is_null()) return secretError(where, field, "missing");
  if (!value->is_string()) return secretError(where, field, "not a string");
  if (value->get_ref<const std::string&>().empty()) return secretError(where, field, "empty");
  auto decoded = base64Decode(value->get_ref<const std::string&>(), Padding::kRequired);
  if (!decoded) return secretError(where, field, "invalid base64");
  json doc = json::parse(*decoded, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return secretError(where, field, "invalid JSON");

  // DockerConfigJSON {"auths": DockerConfig} or a bare DockerConfig {registry: entry}.
  const json* entries = &doc;
  std::string prefix;
  if (configJson) {
    if (doc.is_null()) return std::vector<PullCredential>();
    if (!doc.is_object()) return secretError(where, field, "not a JSON object");
    entries = member(doc, "auths");
    if (entries == nullptr) return std::vector<PullCredential>();
    prefix = "auths";
  }
  if (entries->is_null()) return std::vector<PullCredential>();
  if (!entries->is_object()) {
    return secretError(where, field, prefix.empty() ? "not a JSON object" : cat({prefix, ": not an object"}));
  }

  std::vector<PullCredential> creds;
  for (auto it = entries->begin(); it != entries->end(); ++it) {
    std::string at = cat({prefix, "[", it.key(), "]"});
    auto cred = parseEntry(*it, where, cat({field, ": ", at}));
    if (!cred.ok()) return cred.status();
    auto registryKey = keyringKey(it.key());
    if (!registryKey) continue;
    cred->registry = std::move(*registryKey);
    cred->secretNamespace = ns;
    cred->secretName = name;
    creds.push_back(std::move(*cred));
  }
  return creds;
}

absl::StatusOr<std::string> imageRepository(std::string_view image) {
  auto lowerHex = [](char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); };
  if (image.size() == 64 && std::all_of(image.begin(), image.end(), lowerHex)) {
    return invalidImage(image, "a 64-character hexadecimal string is an image ID, not a reference");
  }
  // Domain: the first component when it looks like a host (has "." or ":", is "localhost",
  // or has uppercase letters); Docker Hub otherwise.
  std::string domain = "docker.io";
  std::string_view remainder = image;
  if (size_t slash = image.find('/'); slash != std::string_view::npos) {
    std::string_view first = image.substr(0, slash);
    bool upper = std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (first == "localhost" || first.find_first_of(".:") != std::string_view::npos || upper) {
      domain = first == "index.docker.io" ? "docker.io" : std::string(first);
      remainder = image.substr(slash + 1);
    }
  }
  std::string_view digest;
  if (size_t at = remainder.find('@'); at != std::string_view::npos) {
    digest = remainder.substr(at + 1);
    remainder = remainder.substr(0, at);
    if (!validDigest(digest)) return invalidImage(image, "invalid digest");
  }
  std::string_view path = remainder;
  if (size_t colon = remainder.find(':'); colon != std::string_view::npos) {
    path = remainder.substr(0, colon);
    if (!validTag(remainder.substr(colon + 1))) return invalidImage(image, "invalid tag");
  }
  if (!validDomain(domain)) return invalidImage(image, "invalid registry host");
  std::string repository = domain + "/";
  if (domain == "docker.io" && path.find('/') == std::string_view::npos) repository += "library/";
  repository.append(path);
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view component =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!validPathComponent(component)) {
      return invalidImage(image, "invalid repository name (lowercase letters, digits and separators)");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (repository.size() > 255) return invalidImage(image, "repository name longer than 255 characters");
  return repository;
}

std::vector<PullCredential> matchCredentials(const std::string& image, const std::vector<PullCredential>& creds) {
  std::vector<PullCredential> matched;
  auto repository = imageRepository(image);
  if (!repository.ok()) return matched;

  // The keyring index: distinct keys, most specific (reverse lexicographic) first.
  std::vector<std::string_view> keys;
  for (const PullCredential& c : creds) keys.push_back(c.registry);
  std::sort(keys.begin(), keys.end(), std::greater<>());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  auto addKey = [&](std::string_view key) {
    for (const PullCredential& c : creds) {
      if (c.registry == key) matched.push_back(c);
    }
  };
  auto target = parseSchemelessUrl(*repository);
  for (std::string_view key : keys) {
    auto glob = parseSchemelessUrl(key);
    if (target && glob && urlsMatch(*glob, *target)) addKey(key);
  }
  if (matched.empty() && isDefaultRegistry(*repository)) addKey(kDefaultRegistryKey);
  return matched;
}

::runtime::v1::AuthConfig toAuthConfig(const PullCredential& c) {
  ::runtime::v1::AuthConfig auth;
  auth.set_username(c.username);
  auth.set_password(c.password);
  auth.set_auth(c.auth);
  auth.set_identity_token(c.identityToken);
  auth.set_registry_token(c.registryToken);
  return auth;
}

}  // namespace cubelet::runtime
