#include "kubelet/prober/http_get.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "kubelet/objects/json_access.h"
#include "kubelet/prober/net.h"
#include "kubelet/version.h"

namespace cubelet::prober {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxRedirects = 10;
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr char kAwaitingHeaders[] = " (Client.Timeout exceeded while awaiting headers)";
constexpr char kReadingBody[] = "context deadline exceeded (Client.Timeout or context cancellation while reading body)";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One I/O failure: Go's text, and whether the deadline caused it.
struct IoError {
  std::string text;
  bool timeout = false;
};

// The HTTPS client context: no verification (as upstream's probes), TLS 1.2 at least (Go's
// client default). Made once, then only read.
SSL_CTX* clientContext() {
  static SSL_CTX* ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (c) {
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
      SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
      SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    return c;
  }();
  return ctx;
}

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

// A connection, plain or TLS, every operation bounded by one deadline.
class Conn {
 public:
  Conn(Fd fd, Clock::time_point deadline) : fd_(std::move(fd)), deadline_(deadline) {}

  std::optional<IoError> startTls(const std::string& serverName) {
    SSL_CTX* ctx = clientContext();
    if (!ctx) return IoError{"tls: cannot create a client context"};
    ssl_.reset(SSL_new(ctx));
    if (!ssl_) return IoError{"tls: cannot create a session"};
    SSL_set_fd(ssl_.get(), fd_.get());
    if (!serverName.empty() && !isIpLiteral(serverName)) SSL_set_tlsext_host_name(ssl_.get(), serverName.c_str());
    auto r = sslLoop([&] { return SSL_connect(ssl_.get()); }, true);
    if (r.error) return r.error;
    return std::nullopt;
  }

  std::optional<IoError> writeAll(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      if (ssl_) {
        auto r = sslLoop([&] { return SSL_write(ssl_.get(), data.data() + done, static_cast<int>(data.size() - done)); },
                         false);
        if (r.error) return r.error;
        done += static_cast<size_t>(r.n);
        continue;
      }
      ssize_t n = send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (auto e = wait(POLLOUT)) return e;
      } else {
        return IoError{"write tcp: " + errnoText(errno)};
      }
    }
    return std::nullopt;
  }

  // Bytes read (0 at the end of the stream), or an error.
  std::variant<size_t, IoError> read(char* buf, size_t len) {
    if (ssl_) {
      auto r = sslLoop([&] { return SSL_read(ssl_.get(), buf, static_cast<int>(len)); }, false);
      if (r.eof) return size_t{0};
      if (r.error) return *r.error;
      return static_cast<size_t>(r.n);
    }
    while (true) {
      ssize_t n = recv(fd_.get(), buf, len, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (auto e = wait(POLLIN)) return *e;
        continue;
      }
      return IoError{"read tcp: " + errnoText(errno)};
    }
  }

 private:
  struct SslResult {
    int n = 0;
    bool eof = false;
    std::optional<IoError> error;
  };

  std::optional<IoError> wait(short events) {
    while (true) {
      pollfd p{fd_.get(), events, 0};
      int n = poll(&p, 1, pollTimeout(deadline_));
      if (n > 0) return std::nullopt;
      if (n == 0) return IoError{"context deadline exceeded", true};
      if (errno != EINTR) return IoError{"poll: " + errnoText(errno)};
    }
  }

  template <typename Op>
  SslResult sslLoop(Op op, bool handshake) {
    while (true) {
      ERR_clear_error();
      errno = 0;
      int r = op();
      if (r > 0) return {r, false, std::nullopt};
      int e = SSL_get_error(ssl_.get(), r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (auto w = wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) return {0, false, w};
        continue;
      }
      if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
        if (handshake) return {0, false, IoError{"EOF"}};
        return {0, true, std::nullopt};
      }
      unsigned long code = ERR_peek_error();
      if (handshake && ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER) {
        // What a plain HTTP server's answer to a ClientHello looks like.
        return {0, false, IoError{"http: server gave HTTP response to HTTPS client"}};
      }
      if (code != 0) {
        const char* reason = ERR_reason_error_string(code);
        return {0, false, IoError{std::string("tls: ") + (reason ? reason : "error")}};
      }
      if (e == SSL_ERROR_SYSCALL && errno != 0) return {0, false, IoError{"read tcp: " + errnoText(errno)}};
      return {0, false, IoError{"tls: error " + std::to_string(e)}};
    }
  }

  Fd fd_;
  Clock::time_point deadline_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
};

// Reads from a connection through a buffer: header lines, then the body.
class Reader {
 public:
  explicit Reader(Conn& conn) : conn_(conn) {}

  // One more chunk into the buffer; false at the end of the stream or on error (`error_`).
  bool fill() {
    char buf[16384];
    auto r = conn_.read(buf, sizeof buf);
    if (auto* e = std::get_if<IoError>(&r)) {
      error_ = *e;
      return false;
    }
    size_t n = std::get<size_t>(r);
    if (n == 0) {
      eof_ = true;
      return false;
    }
    buf_.append(buf, n);
    return true;
  }

  // A line without its CR LF; nullopt at the end of the stream or on error.
  std::optional<std::string> line(size_t limit) {
    while (true) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        std::string out = buf_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        if (!out.empty() && out.back() == '\r') out.pop_back();
        compact();
        return out;
      }
      if (buf_.size() - pos_ > limit) {
        error_ = IoError{"net/http: server response headers exceeded " + std::to_string(limit) + " bytes; aborted"};
        return std::nullopt;
      }
      if (!fill()) return std::nullopt;
    }
  }

  // Up to `n` bytes; fewer only at the end of the stream or on error.
  std::string take(size_t n) {
    while (buf_.size() - pos_ < n && fill()) {
    }
    size_t k = std::min(n, buf_.size() - pos_);
    std::string out = buf_.substr(pos_, k);
    pos_ += k;
    compact();
    return out;
  }

  bool eof() const { return eof_; }
  const std::optional<IoError>& error() const { return error_; }

 private:
  void compact() {
    if (pos_ > 65536) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
  }
  Conn& conn_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  std::optional<IoError> error_;
};

struct Url {
  std::string scheme, host;
  int port = 80;
  std::string path;  // as it follows host:port in the URL ("" or starting with / or ?)
};

std::string urlString(const Url& u) {
  std::string path = u.path;
  if (!path.empty() && path[0] != '/' && path[0] != '?' && path[0] != '#') path = "/" + path;
  return u.scheme + "://" + joinHostPort(u.host, u.port) + path;
}

// The request target of a URL path: "/" for none, fragments dropped.
std::string requestTarget(const std::string& path) {
  std::string p = path.substr(0, path.find('#'));
  if (p.empty() || p[0] != '/') p = "/" + p;
  return p;
}

int defaultPort(const std::string& scheme) { return scheme == "https" ? 443 : 80; }

// host[:port] of an authority; nullopt when malformed.
std::optional<std::pair<std::string, int>> parseAuthority(const std::string& authority, const std::string& scheme) {
  std::string host = authority;
  if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  int port = defaultPort(scheme);
  std::string portText;
  if (!host.empty() && host[0] == '[') {
    auto close = host.find(']');
    if (close == std::string::npos) return std::nullopt;
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return std::nullopt;
      portText = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    portText = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (!portText.empty()) {
    if (portText.size() > 5 || !std::all_of(portText.begin(), portText.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    port = std::stoi(portText);
  }
  return std::make_pair(host, port);
}

// A Location header resolved against the URL it answered (RFC 3986 reference resolution,
// enough of it for redirects).
std::optional<Url> resolveLocation(const Url& base, const std::string& location) {
  Url u = base;
  std::string rest = location;
  auto colon = location.find(':');
  auto firstSlash = location.find('/');
  if (colon != std::string::npos && (firstSlash == std::string::npos || colon < firstSlash)) {
    u.scheme = lower(location.substr(0, colon));
    if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
    rest = location.substr(colon + 1);
    if (rest.rfind("//", 0) != 0) return std::nullopt;
  }
  if (rest.rfind("//", 0) == 0) {
    rest = rest.substr(2);
    size_t end = rest.find_first_of("/?#");
    auto hp = parseAuthority(rest.substr(0, end), u.scheme);
    if (!hp) return std::nullopt;
    u.host = hp->first;
    u.port = hp->second;
    u.path = end == std::string::npos ? "" : rest.substr(end);
    return u;
  }
  if (rest.empty()) return u;
  if (rest[0] == '/') {
    u.path = rest;
  } else if (rest[0] == '?') {
    u.path = base.path.substr(0, base.path.find_first_of("?#")) + rest;
  } else {
    std::string dir = base.path.substr(0, base.path.find_first_of("?#"));
    auto slash = dir.rfind('/');
    dir = slash == std::string::npos ? "/" : dir.substr(0, slash + 1);
    u.path = dir + rest;
  }
  return u;
}

struct Exchange {
  int status = 0;
  std::map<std::string, std::vector<std::string>> headers;  // lower-case names
  std::string body;
  bool truncated = false;
  std::string bodyError;
};

bool isTokenChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Reads up to kMaxHttpBodyBytes of the body framed by the answer's headers.
void readBody(Reader& in, Exchange& ex, bool noBody) {
  auto header = [&](const char* name) -> std::string {
    auto it = ex.headers.find(name);
    return it == ex.headers.end() || it->second.empty() ? "" : it->second.front();
  };
  auto fail = [&](const std::string& text, bool premature) {
    if (in.error()) {
      ex.bodyError = in.error()->timeout ? kReadingBody : in.error()->text;
    } else if (premature) {
      ex.bodyError = text;
    }
  };
  if (noBody) return;
  if (lower(header("transfer-encoding")).find("chunked") != std::string::npos) {
    while (ex.body.size() < kMaxHttpBodyBytes) {
      auto sizeLine = in.line(4096);
      if (!sizeLine) return fail("unexpected EOF", true);
      std::string hex = sizeLine->substr(0, sizeLine->find(';'));
      while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t')) hex.pop_back();
      size_t size = 0;
      try {
        size = std::stoul(hex, nullptr, 16);
      } catch (const std::exception&) {
        ex.bodyError = "invalid byte in chunk length";
        return;
      }
      if (size == 0) return;
      size_t want = std::min(size, kMaxHttpBodyBytes - ex.body.size());
      std::string part = in.take(want);
      ex.body += part;
      if (part.size() < want) return fail("unexpected EOF", true);
      if (want < size) {
        ex.truncated = true;
        return;
      }
      if (!in.line(16)) return fail("unexpected EOF", true);
    }
    ex.truncated = true;
    return;
  }
  std::string length = header("content-length");
  if (!length.empty()) {
    size_t n = 0;
    try {
      n = std::stoul(length);
    } catch (const std::exception&) {
      ex.bodyError = "bad Content-Length \"" + length + "\"";
      return;
    }
    size_t want = std::min(n, kMaxHttpBodyBytes);
    ex.body = in.take(want);
    if (ex.body.size() < want) return fail("unexpected EOF", true);
    ex.truncated = n > want;
    return;
  }
  // Until the server closes the connection.
  ex.body = in.take(kMaxHttpBodyBytes);
  if (ex.body.size() == kMaxHttpBodyBytes) {
    ex.truncated = !in.take(1).empty();
  } else {
    fail("", false);
  }
}

// One request and its answer on a new connection.
std::variant<Exchange, IoError> exchange(const Url& url, const std::vector<HttpHeader>& headers,
                                         const std::string& hostHeader, Clock::time_point deadline) {
  auto fd = dialTcp(url.host, url.port, deadline);
  if (!fd.ok()) return IoError{std::string(fd.status().message()), absl::IsDeadlineExceeded(fd.status())};
  Conn conn(std::move(*fd), deadline);
  if (url.scheme == "https") {
    if (auto e = conn.startTls(url.host)) return *e;
  }
  std::string req = "GET " + requestTarget(url.path) + " HTTP/1.1\r\n";
  req += "Host: " + (hostHeader.empty() ? joinHostPort(url.host, url.port) : hostHeader) + "\r\n";
  // Go writes User-Agent first (its first value; an empty one means none), then the other
  // headers sorted by name.
  for (const auto& h : headers) {
    if (h.name == "User-Agent") {
      if (!h.value.empty()) req += "User-Agent: " + h.value + "\r\n";
      break;
    }
  }
  std::vector<HttpHeader> rest;
  for (const auto& h : headers)
    if (h.name != "User-Agent" && h.name != "Host") rest.push_back(h);
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& h : rest) {
    // Go drops headers whose names are not tokens and strips line breaks from values.
    if (h.name.empty() || !std::all_of(h.name.begin(), h.name.end(), [](char c) { return isTokenChar(c); })) continue;
    std::string value = h.value;
    std::replace(value.begin(), value.end(), '\r', ' ');
    std::replace(value.begin(), value.end(), '\n', ' ');
    req += h.name + ": " + value + "\r\n";
  }
  req += "Connection: close\r\n\r\n";
  if (auto e = conn.writeAll(req)) return *e;

  Reader in(conn);
  Exchange ex;
  while (true) {
    auto statusLine = in.line(kMaxHeaderBytes);
    if (!statusLine) return in.error() ? *in.error() : IoError{"EOF"};
    // "HTTP/1.1 200 OK"
    auto sp = statusLine->find(' ');
    if (statusLine->rfind("HTTP/", 0) != 0 || sp == std::string::npos) {
      return IoError{"malformed HTTP response \"" + *statusLine + "\""};
    }
    std::string code = statusLine->substr(sp + 1, 3);
    if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return IoError{"malformed HTTP status code \"" + statusLine->substr(sp + 1) + "\""};
    }
    ex.status = std::stoi(code);
    ex.headers.clear();
    size_t headerBytes = 0;
    while (true) {
      auto h = in.line(kMaxHeaderBytes);
      if (!h) return in.error() ? *in.error() : IoError{"unexpected EOF"};
      if (h->empty()) break;
      headerBytes += h->size();
      if (headerBytes > kMaxHeaderBytes) {
        return IoError{"net/http: server response headers exceeded " + std::to_string(kMaxHeaderBytes) + " bytes; aborted"};
      }
      auto colon = h->find(':');
      if (colon == std::string::npos) return IoError{"malformed MIME header line: " + *h};
      std::string value = h->substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      ex.headers[lower(h->substr(0, colon))].push_back(value);
    }
    // Informational answers (100 Continue ...) precede the real one.
    if (ex.status >= 100 && ex.status < 200 && ex.status != 101) continue;
    break;
  }
  readBody(in, ex, ex.status == 204 || ex.status == 304 || (ex.status >= 100 && ex.status < 200));
  return ex;
}

bool isRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::string HttpGetRequest::url() const { return urlString(Url{scheme, host, port, path}); }

std::string kubeUserAgent(std::string_view purpose) {
  // kKubeVersion is "v1.37.2": the agent reports <major>.<minor>.
  std::string v = kKubeVersion;
  if (!v.empty() && v[0] == 'v') v.erase(0, 1);
  auto dot = v.find('.');
  auto second = dot == std::string::npos ? std::string::npos : v.find('.', dot + 1);
  if (second != std::string::npos) v = v.substr(0, second);
  return "kube-" + std::string(purpose) + "/" + v;
}

std::string canonicalHeaderName(std::string_view name) {
  std::string out(name);
  for (unsigned char c : out) {
    // Go leaves names with spaces or other non-token bytes as they are.
    if (!isTokenChar(c)) return out;
  }
  bool upper = true;
  for (char& c : out) {
    c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
    upper = c == '-';
  }
  return out;
}

absl::StatusOr<HttpGetRequest> requestForHttpGetAction(const nlohmann::json& action, const nlohmann::json& container,
                                                       const std::string& podIp, std::string_view purpose) {
  HttpGetRequest r;
  r.scheme = lower(objects::str(action, {"scheme"}));
  if (r.scheme.empty()) r.scheme = "http";
  r.host = objects::str(action, {"host"});
  if (r.host.empty()) r.host = podIp;
  const nlohmann::json* port = objects::find(action, {"port"});
  auto resolved = resolveContainerPort(port ? *port : nlohmann::json(), container);
  if (!resolved.ok()) return resolved.status();
  r.port = *resolved;
  // The API defaults the path to "/" (static pods are read without that defaulting).
  r.path = objects::str(action, {"path"}, "/");
  bool userAgent = false, accept = false;
  std::vector<HttpHeader> headers;
  for (const auto& h : objects::array(action, {"httpHeaders"})) {
    HttpHeader hh{canonicalHeaderName(objects::str(h, {"name"})), objects::str(h, {"value"})};
    userAgent = userAgent || hh.name == "User-Agent";
    accept = accept || hh.name == "Accept";
    headers.push_back(std::move(hh));
  }
  if (!userAgent) headers.push_back({"User-Agent", kubeUserAgent(purpose)});
  if (!accept) {
    headers.push_back({"Accept", "*/*"});
  } else {
    // An Accept header given empty removes it (its first value decides, as Header.Get).
    auto first = std::find_if(headers.begin(), headers.end(), [](const auto& h) { return h.name == "Accept"; });
    if (first->value.empty()) {
      headers.erase(std::remove_if(headers.begin(), headers.end(), [](const auto& h) { return h.name == "Accept"; }),
                    headers.end());
    }
  }
  r.headers = std::move(headers);
  return r;
}

absl::StatusOr<HttpGetResponse> httpGet(const HttpGetRequest& request, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
  std::string givenHost;
  for (const auto& h : request.headers) {
    if (h.name == "Host") {
      givenHost = h.value;
      break;
    }
  }
  std::string hostHeader = givenHost;
  Url url{request.scheme, request.host, request.port, request.path};
  const std::string firstHost = url.host;
  std::string errorUrl = urlString(url);
  for (int redirects = 0;; ++redirects) {
    auto result = exchange(url, request.headers, hostHeader, deadline);
    if (auto* e = std::get_if<IoError>(&result)) {
      std::string text = "Get \"" + errorUrl + "\": " + e->text;
      if (e->timeout) return absl::DeadlineExceededError(text + kAwaitingHeaders);
      return absl::UnavailableError(text);
    }
    auto& ex = std::get<Exchange>(result);
    auto location = ex.headers.find("location");
    if (isRedirect(ex.status) && location != ex.headers.end() && !location->second.empty()) {
      const std::string& loc = location->second.front();
      auto next = resolveLocation(url, loc);
      if (!next) return absl::UnavailableError("Get \"" + loc + "\": failed to parse Location header \"" + loc + "\"");
      // Upstream's redirect rule: another host name ends the chain with this answer.
      if (next->host == firstHost) {
        // Go's client gives up when the request that answered was its tenth.
        if (redirects + 1 >= kMaxRedirects) {
          return absl::UnavailableError("Get \"" + loc + "\": stopped after " + std::to_string(kMaxRedirects) +
                                        " redirects");
        }
        // A Host header survives only a redirect to a location without a scheme.
        hostHeader = loc.find("://") == std::string::npos ? givenHost : "";
        url = *next;
        errorUrl = urlString(url);
        continue;
      }
    }
    HttpGetResponse out;
    out.status = ex.status;
    out.body = std::move(ex.body);
    out.truncated = ex.truncated;
    out.bodyError = std::move(ex.bodyError);
    return out;
  }
}

}  // namespace cubelet::prober
