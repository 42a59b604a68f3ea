#include "kubelet/server/kubelet_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "kubelet/metrics/kubelet_metrics.h"
#include "kubelet/runtime/cri_client.h"

namespace cubelet::server {
namespace {

constexpr size_t kMaxHeadBytes = 1 << 20;  // upstream MaxHeaderBytes
constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr int kIdleTimeoutSeconds = 90;
constexpr int kHandshakeTimeoutSeconds = 10;
constexpr int kBackendTimeoutSeconds = 30;

void setRecvTimeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Kubernetes object names the paths may carry: DNS-1123 subdomains (pods, namespaces) or
// labels (containers); at most 253 characters. Anything else can't name an object, so the
// request is refused before any lookup or file access.
bool validName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return s.front() != '.' && s.front() != '-' && s.back() != '-' && s.back() != '.' && s.find("..") == std::string::npos;
}

// ---- one connection ----

class Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  int fd() const { return fd_; }
  SSL* ssl() const { return ssl_; }

  // Reads one request. nullopt: the client closed (or idled out) between requests.
  absl::StatusOr<std::optional<Request>> readRequest() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (buf_.size() > kMaxHeadBytes) return absl::ResourceExhaustedError("request head too large");
      int n = readSome();
      if (n <= 0) {
        if (buf_.empty()) return std::optional<Request>();
        return absl::InvalidArgumentError("connection closed in the middle of a request");
      }
    }
    auto req = parseRequestHead(std::string_view(buf_).substr(0, end));
    buf_.erase(0, end + 4);
    if (!req.ok()) return req.status();
    if (!req->header("Transfer-Encoding").empty())
      return absl::UnimplementedError("chunked request bodies are not accepted");
    const std::string cl = req->header("Content-Length");
    if (!cl.empty()) {
      size_t len = 0;
      for (char c : cl) {
        if (c < '0' || c > '9') return absl::InvalidArgumentError("malformed Content-Length");
        len = len * 10 + static_cast<size_t>(c - '0');
        if (len > kMaxBodyBytes) return absl::ResourceExhaustedError("request body too large");
      }
      while (buf_.size() < len) {
        if (readSome() <= 0) return absl::InvalidArgumentError("connection closed in the middle of a request body");
      }
      req->body = buf_.substr(0, len);
      buf_.erase(0, len);
    }
    return std::optional<Request>(std::move(*req));
  }

  // Bytes read past the last request (e.g. sent right after an upgrade request).
  std::string takeBuffered() { return std::exchange(buf_, std::string()); }

  bool writeAll(std::string_view data) {
    while (!data.empty()) {
      int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool respond(int code, std::string_view contentType, std::string_view body, std::vector<Header> extra = {},
               bool close = false) {
    std::vector<Header> h;
    if (!contentType.empty()) h.push_back({"Content-Type", std::string(contentType)});
    h.push_back({"X-Content-Type-Options", "nosniff"});
    for (auto& e : extra) h.push_back(std::move(e));
    h.push_back({"Content-Length", std::to_string(body.size())});
    if (close) h.push_back({"Connection", "close"});
    h.push_back({"Date", httpDate()});
    std::string out = responseHead(code, h);
    out.append(body);
    return writeAll(out);
  }

  // Reads what is available into buf_: >0 bytes, 0 closed, <0 error/timeout.
  int readSome() {
    char tmp[16384];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0) {
      ERR_clear_error();
      return n;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return n;
  }

  static std::string httpDate() {
    char buf[64];
    time_t now = time(nullptr);
    tm t;
    gmtime_r(&now, &t);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
    return buf;
  }

 private:
  int fd_;
  SSL* ssl_;
  std::string buf_;
};

// A chunked 200 response, head sent lazily; a watcher thread notices the client leaving.
class ChunkedStream : public ResponseStream {
 public:
  ChunkedStream(Conn& conn, std::string contentType, std::stop_token serverStop)
      : conn_(conn), contentType_(std::move(contentType)) {
    stopCb_.emplace(serverStop, [this] { stop_.request_stop(); });
    watcher_ = std::jthread([this](std::stop_token own) {
      // The client sends nothing while a response streams: a hang-up is the only event.
      while (!own.stop_requested() && !stop_.stop_requested()) {
        pollfd p{conn_.fd(), POLLRDHUP, 0};
        int r = poll(&p, 1, 500);
        if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
          stop_.request_stop();
          return;
        }
      }
    });
  }
  ~ChunkedStream() override {
    watcher_.request_stop();
    watcher_.join();
  }
  bool write(std::string_view data) override {
    if (failed_) return false;
    std::string out;
    if (!started_) {
      started_ = true;
      out = responseHead(200, {{"Content-Type", contentType_},
                               {"Transfer-Encoding", "chunked"},
                               {"Date", Conn::httpDate()}});
    }
    out += chunk(data);
    if (!out.empty() && !conn_.writeAll(out)) {
      failed_ = true;
      stop_.request_stop();
    }
    return !failed_;
  }
  std::stop_token stopToken() const override { return stop_.get_token(); }
  bool started() const { return started_; }
  bool finish() {
    if (!started_) write("");
    return !failed_ && conn_.writeAll(kChunkedEnd);
  }

 private:
  Conn& conn_;
  std::string contentType_;
  bool started_ = false;
  bool failed_ = false;
  std::stop_source stop_;
  std::optional<std::stop_callback<std::function<void()>>> stopCb_;
  std::jthread watcher_;
};

// http://host:port/path?query -> parts (the runtime's streaming URLs).
struct Url {
  std::string host;
  std::string port;
  std::string target;
};

absl::StatusOr<Url> parseStreamingUrl(const std::string& url) {
  constexpr std::string_view kHttp = "http://";
  if (url.compare(0, kHttp.size(), kHttp) != 0)
    return absl::UnimplementedError(absl::StrCat("streaming URL ", url, ": only http:// is supported"));
  std::string rest = url.substr(kHttp.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("streaming URL ", url, ": bad host"));
    u.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') u.port = hostport.substr(close + 2);
  } else {
    size_t colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    if (colon != std::string::npos) u.port = hostport.substr(colon + 1);
  }
  if (u.port.empty()) u.port = "80";
  return u;
}

absl::StatusOr<int> dial(const Url& u) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("resolving ", u.host, ": ", gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  std::string lastErr = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    lastErr = strerror(errno);
    close(fd);
  }
  return absl::UnavailableError(absl::StrCat("dialing ", u.host, ":", u.port, ": ", lastErr));
}

bool writeFd(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Relays bytes both ways between the client (TLS) and the backend (plain TCP) until the
// backend closes, either side fails or the server stops. A client that half-closes gets its
// half-close passed on.
void pump(Conn& conn, int backend, std::stop_token stop) {
  bool clientOpen = true;
  char buf[32768];
  while (!stop.stop_requested()) {
    bool clientReady = clientOpen && SSL_pending(conn.ssl()) > 0;
    pollfd p[2] = {{backend, POLLIN, 0}, {clientOpen ? conn.fd() : -1, POLLIN, 0}};
    int r = poll(p, 2, clientReady ? 0 : 1000);
    if (r < 0 && errno != EINTR) return;
    if (clientReady || (clientOpen && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))) {
      int n = SSL_read(conn.ssl(), buf, sizeof buf);
      if (n > 0) {
        if (!writeFd(backend, std::string_view(buf, static_cast<size_t>(n)))) return;
      } else {
        ERR_clear_error();
        clientOpen = false;
        shutdown(backend, SHUT_WR);
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(backend, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      if (!conn.writeAll(std::string_view(buf, static_cast<size_t>(n)))) return;
    }
  }
}

// Headers that belong to the hop to the kubelet, not to the runtime's streaming server.
bool dropForBackend(const Header& h) {
  for (std::string_view n : {"Host", "Authorization", "Content-Length", "Transfer-Encoding", "Proxy-Authorization",
                             "X-Remote-User", "X-Remote-Group", "Impersonate-User", "Impersonate-Group"}) {
    if (h.name.size() == n.size() && strncasecmp(h.name.c_str(), n.data(), n.size()) == 0) return true;
  }
  return false;
}

std::string withoutBearerProtocol(const std::string& v) {
  std::vector<std::string> keep;
  std::string_view rest = v;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view p = rest.substr(0, comma);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (!p.empty() && p.rfind("base64url.bearer.authorization.k8s.io.", 0) != 0) keep.emplace_back(p);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return absl::StrJoin(keep, ", ");
}

std::string errorText(const absl::Status& st) { return std::string(st.message()); }

// ---- the server ----

class Server : public KubeletServer {
 public:
  Server(KubeletServerOptions opts, KubeletServerDeps deps) : opts_(std::move(opts)), deps_(std::move(deps)) {}
  ~Server() override { stop(); }

  absl::Status init() {
    auto ctx = makeServerContext(opts_.tls);
    if (!ctx.ok()) return ctx.status();
    ctx_ = std::move(*ctx);
    auto authn = Authenticator::create(opts_.authn, deps_.api);
    if (!authn.ok()) return authn.status();
    authn_ = std::move(*authn);
    auto authz = Authorizer::create(opts_.authz, deps_.api);
    if (!authz.ok()) return authz.status();
    authz_ = std::move(*authz);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(opts_.port);
    int rc = getaddrinfo(opts_.address.empty() ? nullptr : opts_.address.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return absl::InvalidArgumentError(absl::StrCat("address ", opts_.address, ": ", gai_strerror(rc)));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
    listenFd_ = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listenFd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
    int one = 1;
    setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listenFd_, res->ai_addr, res->ai_addrlen) != 0)
      return absl::UnavailableError(absl::StrCat("listen tcp ", opts_.address, ":", opts_.port, ": bind: ", strerror(errno)));
    if (listen(listenFd_, 128) != 0) return absl::InternalError(absl::StrCat("listen: ", strerror(errno)));
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(listenFd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    acceptor_ = std::jthread([this](std::stop_token st) { acceptLoop(st); });
    LOG_INFO << "Starting to listen address=" << opts_.address << " port=" << port_;
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void stop() override {
    if (stopped_.exchange(true)) return;
    stopSource_.request_stop();
    if (wake_ >= 0) {
      uint64_t v = 1;
      [[maybe_unused]] ssize_t n = write(wake_, &v, sizeof v);
    }
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard<std::mutex> l(mu_);
      for (int fd : connFds_) shutdown(fd, SHUT_RDWR);
    }
    std::list<std::jthread> threads;
    {
      std::lock_guard<std::mutex> l(mu_);
      threads.swap(threads_);
    }
    threads.clear();  // joins
    if (listenFd_ >= 0) close(listenFd_);
    if (wake_ >= 0) close(wake_);
    listenFd_ = wake_ = -1;
  }

 private:
  void acceptLoop(std::stop_token st) {
    while (!st.stop_requested()) {
      pollfd p[2] = {{listenFd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      if (poll(p, 2, 5000) < 0 && errno != EINTR) return;
      reapFinished();
      if (p[1].revents) return;
      if (!(p[0].revents & POLLIN)) continue;
      int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> l(mu_);
      if (stopSource_.stop_requested()) {
        close(fd);
        return;
      }
      connFds_.insert(fd);
      auto done = std::make_shared<std::atomic<bool>>(false);
      threads_.emplace_back([this, fd, done](std::stop_token) {
        serveConnection(fd);
        {
          std::lock_guard<std::mutex> l2(mu_);
          connFds_.erase(fd);
        }
        close(fd);
        done->store(true);
      });
      done_.push_back(done);
    }
  }

  // Joins the threads of connections that ended (outside the lock: a join may wait for the
  // thread's last statement, which takes the lock).
  void reapFinished() {
    std::list<std::jthread> finished;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto d = done_.begin();
      for (auto t = threads_.begin(); t != threads_.end();) {
        if ((*d)->load()) {
          finished.splice(finished.end(), threads_, t++);
          d = done_.erase(d);
        } else {
          ++t;
          ++d;
        }
      }
    }
  }

  void serveConnection(int fd) {
    // A client that hangs up makes writes fail with EPIPE instead of killing the process,
    // whatever the process does with SIGPIPE (a write's SIGPIPE goes to the writing thread).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    SSL* ssl = SSL_new(ctx_.get());
    if (!ssl) return;
    std::unique_ptr<SSL, decltype(&SSL_free)> guard(ssl, SSL_free);
    SSL_set_fd(ssl, fd);
    setRecvTimeout(fd, kHandshakeTimeoutSeconds);
    if (SSL_accept(ssl) != 1) {
      VLOG(4) << "kubelet API: TLS handshake failed";
      ERR_clear_error();
      return;
    }
    Conn conn(fd, ssl);
    while (!stopSource_.stop_requested()) {
      setRecvTimeout(fd, kIdleTimeoutSeconds);
      auto req = conn.readRequest();
      if (!req.ok()) {
        const int code = req.status().code() == absl::StatusCode::kResourceExhausted ? 431
                         : req.status().code() == absl::StatusCode::kUnimplemented ? 501
                                                                                    : 400;
        conn.respond(code, "text/plain; charset=utf-8", absl::StrCat(statusLine(code), ": ", req.status().message(), "\n"),
                     {}, true);
        break;
      }
      if (!req->has_value()) break;
      setRecvTimeout(fd, 0);
      if (!handle(conn, **req)) break;
      if (!(*req)->keepAlive()) break;
    }
    SSL_shutdown(ssl);
    ERR_clear_error();
  }

  // Serves one request; false when the connection must close afterwards.
  bool handle(Conn& conn, Request& req) {
    // As Go's ServeMux in front of the upstream kubelet, before authentication: a path with
    // "." or ".." segments (as sent, so %2e%2e is not one) is redirected to its clean form,
    // and a path under none of the kubelet's roots is a 404.
    if (std::string clean = cleanPath(req.rawPath); clean != req.rawPath) {
      std::string location = clean;
      if (size_t q = req.target.find('?'); q != std::string::npos) location += req.target.substr(q);
      return conn.respond(307, "text/html; charset=utf-8",
                          absl::StrCat("<a href=\"", htmlEscape(location), "\">Temporary Redirect</a>.\n\n"),
                          {{"Location", location}});
    }
    {
      std::string_view root = std::string_view(req.rawPath).substr(1);
      root = root.substr(0, root.find('/'));
      static const std::set<std::string_view> kRoots = {
          "healthz", "pods", "runningpods", "configz", "stats", "metrics", "logs", "containerLogs",
          "exec", "attach", "portForward", "run", "checkpoint", "debug", "flagz", "statusz"};
      if (!kRoots.contains(root)) return conn.respond(404, "text/plain; charset=utf-8", "404 page not found\n");
    }
    auto decoded = percentDecode(req.rawPath, false);
    if (!decoded.ok()) return conn.respond(400, "text/plain; charset=utf-8", "400 Bad Request: malformed path\n", {}, true) && false;
    const std::string path = *decoded;

    Credentials creds;
    creds.peerCert = SSL_get0_peer_certificate(conn.ssl());
    creds.peerChain = SSL_get_peer_cert_chain(conn.ssl());
    creds.authorization = req.header("Authorization");
    creds.webSocketProtocols = req.headerValues("Sec-WebSocket-Protocol");
    auto user = authn_->authenticate(creds);
    if (!user.ok()) return conn.respond(401, "text/plain; charset=utf-8", "Unauthorized");

    auto attrs = requestAttributes(req.method, path);
    bool allowed = false;
    for (const auto& a : attrs) {
      auto ok = authz_->authorize(*user, a);
      if (!ok.ok()) {
        LOG_WARNING << "kubelet API: authorization error user=" << user->name << " verb=" << a.verb
                    << " subresource=" << a.subresource << ": " << ok.status().message();
        return conn.respond(500, "text/plain; charset=utf-8",
                            absl::StrCat("Authorization error (user=", user->name, ", verb=", a.verb,
                                         ", resource=nodes, subresource=", a.subresource, ")"));
      }
      if (*ok) {
        allowed = true;
        break;
      }
    }
    if (!allowed) {
      VLOG(2) << "kubelet API: forbidden user=" << user->name << " path=" << path;
      return conn.respond(403, "text/plain; charset=utf-8", forbiddenMessage(*user, attrs));
    }
    VLOG(4) << "kubelet API: " << req.method << " " << path << " user=" << user->name;
    // kubelet_http_requests_total / _duration_seconds / kubelet_http_inflight_requests, by
    // the route's root ("metrics/resource" for the metrics subpaths).
    std::string bucket = path.substr(1, path.find('/', 1) == std::string::npos ? std::string::npos : path.find('/', 1) - 1);
    if (bucket == "metrics" && path.size() > 9) bucket = path.substr(1);
    const bool longRunning = bucket == "exec" || bucket == "attach" || bucket == "portForward" || bucket == "debug";
    std::vector<std::string> labels = {req.method, bucket, "readwrite", longRunning ? "true" : "false"};
    auto& m = metrics::kubeletMetrics();
    m.httpRequests.with(labels).inc();
    auto& inflight = m.httpInflightRequests.with(labels);
    inflight.inc();
    const auto start = std::chrono::steady_clock::now();
    const bool keep = route(conn, req, path);
    inflight.dec();
    m.httpRequestsDuration.with(labels).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return keep;
  }

  // go-restful's answer for a path no route matches.
  bool notFound(Conn& conn) { return conn.respond(404, "text/plain; charset=utf-8", "404: Page Not Found"); }
  bool methodNotAllowed(Conn& conn, const char* allow) {
    return conn.respond(405, "text/plain; charset=utf-8", "405: Method Not Allowed", {{"Allow", allow}});
  }
  bool json(Conn& conn, int code, const nlohmann::json& body) {
    return conn.respond(code, "application/json", body.dump());
  }

  bool route(Conn& conn, Request& req, const std::string& path) {
    auto segsOr = pathSegments(req.rawPath);
    if (!segsOr.ok()) return conn.respond(400, "text/plain; charset=utf-8", "400 Bad Request: malformed path\n");
    std::vector<std::string> segs = *segsOr;
    // A trailing "/" (as in /runningpods/) is not a segment of its own.
    if (segs.size() > 1 && segs.back().empty()) segs.pop_back();
    const std::string& root = segs[0];
    const bool get = req.method == "GET" || req.method == "HEAD";

    if (root == "healthz") return healthz(conn, req, segs);
    if (root == "pods" && segs.size() == 1) {
      if (!get) return methodNotAllowed(conn, "GET");
      if (!deps_.pods) return notFound(conn);
      return json(conn, 200, podList(deps_.pods()));
    }
    if (root == "configz" && segs.size() == 1) {
      if (!get) return methodNotAllowed(conn, "GET");
      return json(conn, 200, nlohmann::json{{"kubeletconfig", deps_.configz}});
    }
    if (root == "stats" && (segs.size() == 1 || (segs.size() == 2 && segs[1] == "summary"))) {
      if (!get && req.method != "POST") return methodNotAllowed(conn, "GET");
      if (!deps_.statsSummary || segs.size() == 1) return notFound(conn);
      bool only = false;
      if (auto v = req.param("only_cpu_and_memory"); !v.empty()) only = parseGoBool(v).value_or(false);
      auto s = deps_.statsSummary(only);
      if (!s.ok()) return conn.respond(500, "text/plain; charset=utf-8", absl::StrCat("Internal Error: ", s.status().message()));
      return conn.respond(200, "application/json", *s);
    }
    if (root == "metrics") {
      if (!get) return methodNotAllowed(conn, "GET");
      const char* kProm = "text/plain; version=0.0.4; charset=utf-8";
      if (segs.size() == 1 && deps_.metrics) return conn.respond(200, kProm, deps_.metrics());
      if (segs.size() == 2 && segs[1] == "resource" && deps_.resourceMetrics)
        return conn.respond(200, kProm, deps_.resourceMetrics());
      return notFound(conn);
    }

    const bool debug = root == "exec" || root == "attach" || root == "portForward" || root == "run" ||
                       root == "containerLogs" || root == "runningpods" || root == "logs";
    if (debug && !opts_.enableDebuggingHandlers)
      return conn.respond(405, "text/plain; charset=utf-8", "Debug endpoints are disabled.");
    if (root == "runningpods" && segs.size() == 1) {
      if (!get) return methodNotAllowed(conn, "GET");
      return runningPods(conn);
    }
    if (root == "containerLogs") return containerLogs(conn, req, segs);
    if (root == "logs" && opts_.enableSystemLogHandler) {
      if (!get) return methodNotAllowed(conn, "GET");
      return systemLogs(conn, req, segs);
    }
    if (root == "exec" || root == "attach" || root == "portForward" || root == "run") return stream(conn, req, segs);
    (void)path;
    return notFound(conn);
  }

  static nlohmann::json podList(std::vector<nlohmann::json> pods) {
    return {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()}, {"items", std::move(pods)}};
  }

  bool healthz(Conn& conn, const Request& req, const std::vector<std::string>& segs) {
    std::vector<HealthCheck> checks = {{"ping", [] { return absl::OkStatus(); }},
                                       {"log", [] { return absl::OkStatus(); }}};
    for (const auto& c : deps_.healthChecks) checks.push_back(c);
    if (segs.size() == 2) {
      for (const auto& c : checks) {
        if (c.name != segs[1]) continue;
        absl::Status st = c.check();
        if (st.ok()) return conn.respond(200, "text/plain; charset=utf-8", "ok");
        return conn.respond(500, "text/plain; charset=utf-8", absl::StrCat("internal server error: ", st.message(), "\n"));
      }
      return notFound(conn);
    }
    if (segs.size() > 2) return notFound(conn);
    std::set<std::string> excluded;
    for (auto [it, end] = req.query.equal_range("exclude"); it != end; ++it) excluded.insert(it->second);
    std::string verbose;
    bool failed = false;
    for (const auto& c : checks) {
      if (excluded.erase(c.name)) {
        absl::StrAppend(&verbose, "[+]", c.name, " excluded: ok\n");
        continue;
      }
      absl::Status st = c.check();
      if (st.ok()) {
        absl::StrAppend(&verbose, "[+]", c.name, " ok\n");
      } else {
        failed = true;
        absl::StrAppend(&verbose, "[-]", c.name, " failed: reason withheld\n");
        LOG_WARNING << "healthz check failed check=" << c.name << " err=" << st.message();
      }
    }
    for (const auto& e : excluded) absl::StrAppend(&verbose, "warn: some health checks cannot be excluded: no matches for \"", e, "\"\n");
    if (failed) return conn.respond(500, "text/plain; charset=utf-8", verbose + "healthz check failed\n");
    if (req.hasParam("verbose")) return conn.respond(200, "text/plain; charset=utf-8", verbose + "healthz check passed\n");
    return conn.respond(200, "text/plain; charset=utf-8", "ok");
  }

  bool runningPods(Conn& conn) {
    if (!deps_.runtime) return notFound(conn);
    runtime::v1::PodSandboxFilter sf;
    sf.mutable_state()->set_state(runtime::v1::SANDBOX_READY);
    auto sandboxes = deps_.runtime->listPodSandbox(sf);
    if (!sandboxes.ok()) return conn.respond(500, "text/plain; charset=utf-8", errorText(sandboxes.status()));
    runtime::v1::ContainerFilter cf;
    cf.mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
    auto containers = deps_.runtime->listContainers(cf);
    if (!containers.ok()) return conn.respond(500, "text/plain; charset=utf-8", errorText(containers.status()));
    std::vector<nlohmann::json> items;
    for (const auto& s : *sandboxes) {
      nlohmann::json cs = nlohmann::json::array();
      for (const auto& c : *containers) {
        if (c.pod_sandbox_id() != s.id()) continue;
        cs.push_back({{"name", c.metadata().name()}, {"image", c.image().image()}, {"resources", nlohmann::json::object()}});
      }
      items.push_back({{"metadata",
                        {{"name", s.metadata().name()}, {"namespace", s.metadata().namespace_()}, {"uid", s.metadata().uid()},
                         {"creationTimestamp", nullptr}}},
                       {"spec", {{"containers", cs}}},
                       {"status", nlohmann::json::object()}});
    }
    return json(conn, 200, podList(std::move(items)));
  }

  bool containerLogs(Conn& conn, Request& req, const std::vector<std::string>& segs) {
    if (req.method != "GET" && req.method != "HEAD") return methodNotAllowed(conn, "GET");
    // /containerLogs/{podNamespace}/{podID}/{containerName}: other shapes match no route
    // (the path was cleaned, so no segment is empty).
    if (segs.size() != 4) return notFound(conn);
    const std::string &ns = segs[1], &name = segs[2], &container = segs[3];
    if (!deps_.pod || !deps_.containerLogs) return notFound(conn);
    // Names that can't be Kubernetes names are not looked up at all; they get the answer a
    // failed lookup gets.
    std::optional<nlohmann::json> pod;
    if (validName(ns) && validName(name)) pod = deps_.pod(ns, name);
    if (!pod) return conn.respond(404, "text/plain; charset=utf-8", absl::StrCat("pod ", goQuote(name), " does not exist"));
    if (!validName(container))
      return conn.respond(404, "text/plain; charset=utf-8",
                          absl::StrCat("container ", goQuote(container), " not found in pod ", goQuote(name)));
    ChunkedStream out(conn, "text/plain", stopSource_.get_token());
    auto [code, body] = deps_.containerLogs(ContainerLogRequest{*pod, container, &req.query}, out);
    if (code != 0) {
      if (out.started()) return false;  // the body already began: all we can do is cut it
      return conn.respond(code, code == 400 || code == 422 ? "application/json" : "text/plain; charset=utf-8", body);
    }
    return out.finish() && !out.stopToken().stop_requested();
  }

  // /logs/<path>: a file's bytes or a directory's listing, opened beneath the log directory
  // with openat2(RESOLVE_BENEATH) so that neither ".." nor a symlink leads out of it.
  bool systemLogs(Conn& conn, const Request& req, const std::vector<std::string>& segs) {
    std::string rel;
    for (size_t i = 1; i < segs.size(); ++i) {
      const std::string& s = segs[i];
      if (s.empty() || s == ".") continue;
      if (s == ".." || s.find('/') != std::string::npos || s.find('\0') != std::string::npos) return notFound(conn);
      rel += (rel.empty() ? "" : "/") + s;
    }
    if (segs.size() == 1 && req.rawPath == "/logs")  // as http.FileServer: the directory wants its slash
      return conn.respond(301, "text/html; charset=utf-8", "", {{"Location", "/logs/"}});
    int dirfd = open(opts_.systemLogDir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return notFound(conn);
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, dirfd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
    close(dirfd);
    if (fd < 0) return notFound(conn);
    std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { close(*f); });
    struct stat st {};
    if (fstat(fd, &st) != 0) return notFound(conn);
    if (S_ISDIR(st.st_mode)) {
      DIR* d = fdopendir(dup(fd));
      if (!d) return notFound(conn);
      std::vector<std::string> names;
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        struct stat es {};
        if (fstatat(fd, e->d_name, &es, 0) == 0 && S_ISDIR(es.st_mode)) n += "/";
        names.push_back(n);
      }
      closedir(d);
      std::sort(names.begin(), names.end());
      std::string body = "<pre>\n";
      for (const auto& n : names) absl::StrAppend(&body, "<a href=\"", htmlEscape(n), "\">", htmlEscape(n), "</a>\n");
      body += "</pre>\n";
      return conn.respond(200, "text/html; charset=utf-8", body);
    }
    if (!S_ISREG(st.st_mode)) return notFound(conn);
    std::vector<Header> h = {{"Content-Type", "text/plain; charset=utf-8"},
                             {"X-Content-Type-Options", "nosniff"},
                             {"Content-Length", std::to_string(st.st_size)},
                             {"Date", Conn::httpDate()}};
    if (!conn.writeAll(responseHead(200, h))) return false;
    if (req.method == "HEAD") return true;
    char buf[65536];
    off_t left = st.st_size;
    while (left > 0) {
      ssize_t n = read(fd, buf, static_cast<size_t>(std::min<off_t>(left, sizeof buf)));
      if (n <= 0) return false;  // the file shrank: the declared length can't be kept
      if (!conn.writeAll(std::string_view(buf, static_cast<size_t>(n)))) return false;
      left -= n;
    }
    return true;
  }

  // Go's cleanPath for ServeMux: path.Clean (no empty, "." or ".." segments, ".." not above
  // the root) keeping a trailing slash.
  static std::string cleanPath(const std::string& p) {
    std::vector<std::string_view> out;
    std::string_view rest = p;
    while (!rest.empty()) {
      size_t slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (seg.empty() || seg == ".") continue;
      if (seg == "..") {
        if (!out.empty()) out.pop_back();
        continue;
      }
      out.push_back(seg);
    }
    std::string clean;
    for (auto seg : out) (clean += "/").append(seg);
    if (clean.empty()) clean = "/";
    if (p.size() > 1 && p.back() == '/' && clean != "/") clean += "/";
    return clean;
  }

  // A string quoted as Go's %q does for printable ASCII; other bytes escaped.
  static std::string goQuote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c >= 0x20 && c < 0x7f) {
        out += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      }
    }
    return out + "\"";
  }

  static std::string htmlEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
      switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return out;
  }

  // exec, attach, portForward and run.
  bool stream(Conn& conn, Request& req, const std::vector<std::string>& segs) {
    const std::string& kind = segs[0];
    // {ns}/{pod}[/{uid}]/{container}; portForward has no container.
    const bool hasContainer = kind != "portForward";
    const size_t minSegs = hasContainer ? 4 : 3;
    if (segs.size() < minSegs || segs.size() > minSegs + 1) return notFound(conn);
    const std::string& ns = segs[1];
    const std::string& name = segs[2];
    std::string uid = segs.size() == minSegs + 1 ? segs[3] : "";
    std::string container = hasContainer ? segs.back() : "";
    if (!deps_.pod || !deps_.runtime) return notFound(conn);
    std::optional<nlohmann::json> pod;
    if (validName(ns) && validName(name)) pod = deps_.pod(ns, name);
    if (!pod) return conn.respond(404, "text/plain; charset=utf-8", "pod does not exist");
    if (hasContainer && !validName(container))
      return conn.respond(404, "text/plain; charset=utf-8", absl::StrCat("container not found (", goQuote(container), ")"));
    const std::string podUid = (*pod)["metadata"].value("uid", "");
    if (!uid.empty() && uid != podUid) return conn.respond(404, "text/plain; charset=utf-8", "pod not found");

    if (kind == "run") return run(conn, req, podUid, container);

    if (!req.isUpgrade()) return conn.respond(400, "text/plain; charset=utf-8", "Upgrade request required");
    std::string url;
    if (kind == "portForward") {
      auto sandbox = findSandbox(podUid);
      if (!sandbox.ok()) return conn.respond(404, "text/plain; charset=utf-8", errorText(sandbox.status()));
      runtime::v1::PortForwardRequest pf;
      pf.set_pod_sandbox_id(*sandbox);
      for (auto [it, end] = req.query.equal_range("port"); it != end; ++it) {
        int port = 0;
        if (absl::SimpleAtoi(it->second, &port) && port > 0 && port < 65536) pf.add_port(port);
      }
      auto r = deps_.runtime->portForward(pf);
      if (!r.ok()) return conn.respond(500, "text/plain; charset=utf-8", errorText(r.status()));
      url = r->url();
    } else {
      bool stdin = false, stdout = false, stderr = false, tty = false;
      for (auto [key, dst] : {std::pair<const char*, bool*>{"input", &stdin}, {"output", &stdout}, {"error", &stderr}, {"tty", &tty}}) {
        if (auto v = req.param(key); !v.empty()) *dst = parseGoBool(v).value_or(false);
      }
      if (!stdin && !stdout && !stderr)
        return conn.respond(400, "text/plain; charset=utf-8", "you must specify at least 1 of stdin, stdout, stderr");
      if (tty) stderr = false;  // a terminal has one output stream
      auto id = findContainer(podUid, container);
      if (!id.ok()) return conn.respond(404, "text/plain; charset=utf-8", errorText(id.status()));
      if (kind == "exec") {
        runtime::v1::ExecRequest er;
        er.set_container_id(*id);
        for (auto [it, end] = req.query.equal_range("command"); it != end; ++it) er.add_cmd(it->second);
        if (er.cmd().empty()) return conn.respond(400, "text/plain; charset=utf-8", "you must specify a command\n");
        er.set_tty(tty);
        er.set_stdin(stdin);
        er.set_stdout(stdout);
        er.set_stderr(stderr);
        auto r = deps_.runtime->exec(er);
        if (!r.ok()) return conn.respond(500, "text/plain; charset=utf-8", errorText(r.status()));
        url = r->url();
      } else {
        runtime::v1::AttachRequest ar;
        ar.set_container_id(*id);
        ar.set_tty(tty);
        ar.set_stdin(stdin);
        ar.set_stdout(stdout);
        ar.set_stderr(stderr);
        auto r = deps_.runtime->attach(ar);
        if (!r.ok()) return conn.respond(500, "text/plain; charset=utf-8", errorText(r.status()));
        url = r->url();
      }
    }
    proxyUpgrade(conn, req, url);
    return false;  // the connection was handed over
  }

  absl::StatusOr<std::string> findContainer(const std::string& podUid, const std::string& name) {
    runtime::v1::ContainerFilter f;
    (*f.mutable_label_selector())["io.kubernetes.pod.uid"] = podUid;
    (*f.mutable_label_selector())["io.kubernetes.container.name"] = name;
    f.mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
    auto cs = deps_.runtime->listContainers(f);
    if (!cs.ok()) return cs.status();
    const runtime::v1::Container* best = nullptr;
    for (const auto& c : *cs)
      if (!best || c.created_at() > best->created_at()) best = &c;
    if (!best) return absl::NotFoundError(absl::StrCat("container not found (", goQuote(name), ")"));
    return best->id();
  }

  absl::StatusOr<std::string> findSandbox(const std::string& podUid) {
    runtime::v1::PodSandboxFilter f;
    (*f.mutable_label_selector())["io.kubernetes.pod.uid"] = podUid;
    f.mutable_state()->set_state(runtime::v1::SANDBOX_READY);
    auto ss = deps_.runtime->listPodSandbox(f);
    if (!ss.ok()) return ss.status();
    const runtime::v1::PodSandbox* best = nullptr;
    for (const auto& s : *ss)
      if (!best || s.created_at() > best->created_at()) best = &s;
    if (!best) return absl::NotFoundError("pod sandbox not found");
    return best->id();
  }

  bool run(Conn& conn, const Request& req, const std::string& podUid, const std::string& container) {
    if (req.method != "POST") return methodNotAllowed(conn, "POST");
    std::vector<std::string> cmd;
    const std::string cmdLine = req.param("cmd");
    std::string_view rest = cmdLine;
    while (!rest.empty()) {
      size_t sp = rest.find(' ');
      if (sp != 0) cmd.emplace_back(rest.substr(0, sp));
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp + 1);
    }
    if (cmd.empty()) return conn.respond(400, "text/plain; charset=utf-8", "missing cmd\n");
    auto id = findContainer(podUid, container);
    if (!id.ok()) return conn.respond(404, "text/plain; charset=utf-8", errorText(id.status()));
    auto r = deps_.runtime->execSync(*id, cmd, std::chrono::seconds(0));
    if (!r.ok()) return conn.respond(500, "text/plain; charset=utf-8", errorText(r.status()));
    return conn.respond(200, "text/plain; charset=utf-8", r->stdout() + r->stderr());
  }

  // Dials the runtime's streaming server, replays the request there and relays the answer;
  // after a 101 the bytes flow both ways until one side closes.
  void proxyUpgrade(Conn& conn, const Request& req, const std::string& url) {
    auto u = parseStreamingUrl(url);
    if (!u.ok()) {
      conn.respond(500, "text/plain; charset=utf-8", errorText(u.status()) + "\n", {}, true);
      return;
    }
    auto fd = dial(*u);
    if (!fd.ok()) {
      conn.respond(502, "text/plain; charset=utf-8", errorText(fd.status()) + "\n", {}, true);
      return;
    }
    int backend = *fd;
    std::unique_ptr<int, void (*)(int*)> closer(&backend, [](int* f) { close(*f); });
    std::string head = absl::StrCat(req.method, " ", u->target, " HTTP/1.1\r\nHost: ", u->host, ":", u->port, "\r\n");
    for (const auto& h : req.headers) {
      if (dropForBackend(h)) continue;
      if (strcasecmp(h.name.c_str(), "Sec-WebSocket-Protocol") == 0) {
        std::string v = withoutBearerProtocol(h.value);
        if (!v.empty()) absl::StrAppend(&head, h.name, ": ", v, "\r\n");
        continue;
      }
      absl::StrAppend(&head, h.name, ": ", h.value, "\r\n");
    }
    if (!req.body.empty()) absl::StrAppend(&head, "Content-Length: ", req.body.size(), "\r\n");
    head += "\r\n";
    head += req.body;
    head += conn.takeBuffered();
    if (!writeFd(backend, head)) {
      conn.respond(502, "text/plain; charset=utf-8", "streaming server closed the connection\n", {}, true);
      return;
    }
    // The answer's head: relayed as it is (status, upgrade headers); then the stream.
    setRecvTimeout(backend, kBackendTimeoutSeconds);
    std::string resp;
    char buf[8192];
    size_t end;
    while ((end = resp.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(backend, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || resp.size() > kMaxHeadBytes) {
        conn.respond(502, "text/plain; charset=utf-8", "no answer from the runtime's streaming server\n", {}, true);
        return;
      }
      resp.append(buf, static_cast<size_t>(n));
    }
    setRecvTimeout(backend, 0);
    if (!conn.writeAll(resp)) return;
    const bool upgraded = resp.compare(0, 12, "HTTP/1.1 101") == 0 || resp.compare(0, 12, "HTTP/1.0 101") == 0;
    if (!upgraded) {
      // An error answer: pass its body on until the streaming server closes.
      while (true) {
        ssize_t n = recv(backend, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || !conn.writeAll(std::string_view(buf, static_cast<size_t>(n)))) return;
      }
    }
    pump(conn, backend, stopSource_.get_token());
  }

  KubeletServerOptions opts_;
  KubeletServerDeps deps_;
  SslCtxPtr ctx_;
  std::unique_ptr<Authenticator> authn_;
  std::unique_ptr<Authorizer> authz_;
  int listenFd_ = -1;
  int wake_ = -1;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  std::stop_source stopSource_;
  std::mutex mu_;
  std::set<int> connFds_;
  std::list<std::jthread> threads_;
  std::list<std::shared_ptr<std::atomic<bool>>> done_;
  std::jthread acceptor_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KubeletServer>> KubeletServer::start(KubeletServerOptions opts, KubeletServerDeps deps) {
  auto s = std::make_unique<Server>(std::move(opts), std::move(deps));
  if (auto st = s->init(); !st.ok()) return st;
  return std::unique_ptr<KubeletServer>(std::move(s));
}

}  // namespace cubelet::server
