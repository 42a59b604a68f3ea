// The kubelet API server (:10250): HTTP parsing, authentication and authorization decisions,
// the self-signed certificate, and the server itself over real TLS on loopback with a fake
// apiserver (TokenReview / SubjectAccessReview answers), the in-process fake CRI runtime and
// a fake streaming server behind exec.
#include "kubelet/server/kubelet_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "kubelet/metrics/kubelet_metrics.h"
#include "kubelet/runtime/cri_client.h"
#include "kubelet/server/auth.h"
#include "kubelet/server/http.h"
#include "kubelet/server/tls.h"
#include "tests/fakes/fake_cri.h"

namespace cubelet::server {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

// ------------------------------------------------------------------ HTTP parsing

TEST(HttpTest, ParsesRequestLineHeadersAndRepeatedQueryParameters) {
  auto r = parseRequestHead(
      "POST /exec/ns/pod/c?command=sh&command=-c&command=echo+a%20b&input=1 HTTP/1.1\r\n"
      "Host: node:10250\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
      "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: channel.k8s.io");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->rawPath, "/exec/ns/pod/c");
  std::vector<std::string> cmd;
  for (auto [it, end] = r->query.equal_range("command"); it != end; ++it) cmd.push_back(it->second);
  EXPECT_EQ(cmd, (std::vector<std::string>{"sh", "-c", "echo a b"}));
  EXPECT_EQ(r->param("input"), "1");
  EXPECT_TRUE(r->isUpgrade());
  EXPECT_EQ(r->headerValues("x-stream-protocol-version"),
            (std::vector<std::string>{"v4.channel.k8s.io", "channel.k8s.io"}));
  EXPECT_TRUE(r->keepAlive());
}

TEST(HttpTest, RejectsMalformedHeads) {
  EXPECT_FALSE(parseRequestHead("GET /\r\n").ok());
  EXPECT_FALSE(parseRequestHead("GET / HTTP/2.0").ok());
  EXPECT_FALSE(parseRequestHead("GET http://x/ HTTP/1.1").ok());
  EXPECT_FALSE(parseRequestHead("GET / HTTP/1.1\r\nNo-Colon").ok());
  EXPECT_FALSE(parseRequestHead("GET / HTTP/1.1\r\n folded: x").ok());
  EXPECT_FALSE(parseRequestHead("GET /?a=%zz HTTP/1.1").ok());
  EXPECT_FALSE(parseRequestHead("G(T / HTTP/1.1").ok());
}

TEST(HttpTest, PathSegmentsDecodeEachSegmentSoEncodedSlashesStayInside) {
  auto s = pathSegments("/containerLogs/ns/..%2F..%2Fetc/c");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (std::vector<std::string>{"containerLogs", "ns", "../../etc", "c"}));
  EXPECT_EQ(*pathSegments("/runningpods/"), (std::vector<std::string>{"runningpods", ""}));
  EXPECT_FALSE(pathSegments("/a/%2").ok());
}

TEST(HttpTest, KeepAliveFollowsVersionAndConnectionHeader) {
  EXPECT_FALSE(parseRequestHead("GET / HTTP/1.1\r\nConnection: close")->keepAlive());
  EXPECT_FALSE(parseRequestHead("GET / HTTP/1.0")->keepAlive());
  EXPECT_TRUE(parseRequestHead("GET / HTTP/1.0\r\nConnection: Keep-Alive")->keepAlive());
  EXPECT_FALSE(parseRequestHead("GET / HTTP/1.1\r\nUpgrade: SPDY/3.1")->isUpgrade());
}

TEST(HttpTest, ChunksAndGoBooleans) {
  EXPECT_EQ(chunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(chunk(std::string(26, 'x')).substr(0, 4), "1a\r\n");
  EXPECT_EQ(chunk(""), "");
  EXPECT_TRUE(*parseGoBool("True"));
  EXPECT_FALSE(*parseGoBool("0"));
  EXPECT_FALSE(parseGoBool("yes").ok());
}

// ------------------------------------------------------------------ authorization attributes

TEST(AuthTest, PathsMapToTheUpstreamSubresources) {
  using A = std::vector<Attributes>;
  EXPECT_EQ(requestAttributes("GET", "/stats/summary"), (A{{"get", "stats"}}));
  EXPECT_EQ(requestAttributes("GET", "/stats"), (A{{"get", "stats"}}));
  EXPECT_EQ(requestAttributes("GET", "/metrics/resource"), (A{{"get", "metrics"}}));
  EXPECT_EQ(requestAttributes("GET", "/metrics"), (A{{"get", "metrics"}}));
  EXPECT_EQ(requestAttributes("GET", "/logs/syslog"), (A{{"get", "log"}}));
  EXPECT_EQ(requestAttributes("GET", "/pods"), (A{{"get", "pods"}, {"get", "proxy"}}));
  EXPECT_EQ(requestAttributes("GET", "/runningpods/"), (A{{"get", "pods"}, {"get", "proxy"}}));
  EXPECT_EQ(requestAttributes("GET", "/healthz/syncloop"), (A{{"get", "healthz"}, {"get", "proxy"}}));
  EXPECT_EQ(requestAttributes("GET", "/configz"), (A{{"get", "configz"}, {"get", "proxy"}}));
  EXPECT_EQ(requestAttributes("POST", "/exec/ns/p/c"), (A{{"create", "proxy"}}));
  EXPECT_EQ(requestAttributes("GET", "/containerLogs/ns/p/c"), (A{{"get", "proxy"}}));
  // Segment-aware prefixes: /statsX is not /stats.
  EXPECT_EQ(requestAttributes("GET", "/statsX"), (A{{"get", "proxy"}}));
  EXPECT_EQ(requestAttributes("HEAD", "/pods"), (A{{"", "pods"}, {"", "proxy"}}));
}

TEST(AuthTest, ForbiddenMessageHasTheUpstreamFormat) {
  UserInfo u{"system:anonymous", "", {}, {}};
  EXPECT_EQ(forbiddenMessage(u, requestAttributes("GET", "/healthz")),
            "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[healthz proxy])\n");
  EXPECT_EQ(forbiddenMessage(u, requestAttributes("POST", "/exec/a/b/c")),
            "Forbidden (user=system:anonymous, verb=create, resource=nodes, subresource(s)=[proxy])\n");
}

// A fake apiserver for TokenReviews and SubjectAccessReviews.
struct FakeReviews {
  std::mutex mu;
  int tokenReviews = 0;
  int accessReviews = 0;
  bool failing = false;
  std::map<std::string, std::string> tokens = {{"good-token", "alice"}, {"kubelet-client", "kube-apiserver"}};
  // user -> subresources allowed
  std::map<std::string, std::set<std::string>> allowed = {{"kube-apiserver", {"proxy", "stats", "metrics", "log"}}};
  json lastAccessReview;

  ApiCreate api() {
    return [this](const std::string& path, const json& obj) -> absl::StatusOr<json> {
      std::lock_guard<std::mutex> l(mu);
      if (failing) return absl::InternalError("apiserver is down");
      if (path == "/apis/authentication.k8s.io/v1/tokenreviews") {
        ++tokenReviews;
        auto it = tokens.find(obj["spec"]["token"].get<std::string>());
        if (it == tokens.end()) return json{{"status", {{"authenticated", false}}}};
        return json{{"status", {{"authenticated", true}, {"user", {{"username", it->second}, {"uid", "u-1"}, {"groups", {"g1"}}}}}}};
      }
      if (path == "/apis/authorization.k8s.io/v1/subjectaccessreviews") {
        ++accessReviews;
        lastAccessReview = obj;
        const auto& spec = obj["spec"];
        bool ok = allowed[spec["user"].get<std::string>()].count(spec["resourceAttributes"]["subresource"].get<std::string>()) > 0;
        return json{{"status", {{"allowed", ok}}}};
      }
      return absl::NotFoundError(path);
    };
  }
};

TEST(AuthTest, BearerTokensComeFromTheHeaderOrTheWebSocketProtocol) {
  Credentials c;
  c.authorization = "Bearer abc";
  EXPECT_EQ(Authenticator::bearerToken(c), "abc");
  c.authorization = "Basic abc";
  EXPECT_EQ(Authenticator::bearerToken(c), std::nullopt);
  c.webSocketProtocols = {"v4.channel.k8s.io, base64url.bearer.authorization.k8s.io.Z29vZC10b2tlbg"};
  EXPECT_EQ(Authenticator::bearerToken(c), "good-token");
}

TEST(AuthTest, TokenReviewAnswersAreCachedBothWays) {
  FakeReviews fake;
  auto a = Authenticator::create({}, fake.api());
  ASSERT_TRUE(a.ok());
  Credentials c;
  c.authorization = "Bearer good-token";
  for (int i = 0; i < 3; ++i) {
    auto u = (*a)->authenticate(c);
    ASSERT_TRUE(u.ok()) << u.status();
    EXPECT_EQ(u->name, "alice");
    EXPECT_EQ(u->groups, (std::vector<std::string>{"g1", "system:authenticated"}));
  }
  EXPECT_EQ(fake.tokenReviews, 1);
  c.authorization = "Bearer bad";
  EXPECT_EQ((*a)->authenticate(c).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*a)->authenticate(c).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(fake.tokenReviews, 2);
}

TEST(AuthTest, AnonymousOnlyWhenEnabledAndNoCredentialWasPresented) {
  FakeReviews fake;
  auto closed = Authenticator::create({}, fake.api());
  EXPECT_EQ((*closed)->authenticate({}).status().code(), absl::StatusCode::kUnauthenticated);
  AuthenticatorOptions o;
  o.anonymous = true;
  auto open = Authenticator::create(o, fake.api());
  auto u = (*open)->authenticate({});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "system:anonymous");
  EXPECT_EQ(u->groups, (std::vector<std::string>{"system:unauthenticated"}));
  // A rejected token is a 401 even with anonymous on.
  Credentials bad;
  bad.authorization = "Bearer nope";
  EXPECT_FALSE((*open)->authenticate(bad).ok());
  // So is an apiserver that cannot be asked.
  fake.failing = true;
  Credentials good;
  good.authorization = "Bearer good-token";
  EXPECT_FALSE((*open)->authenticate(good).ok());
}

TEST(AuthTest, MissingClientCAFileIsAnErrorNamingTheField) {
  AuthenticatorOptions o;
  o.clientCAFile = "/nonexistent/ca.crt";
  auto a = Authenticator::create(o, nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("authentication.x509.clientCAFile"), std::string::npos);
}

TEST(AuthTest, SubjectAccessReviewsAreCachedAllowedAndDenied) {
  FakeReviews fake;
  AuthorizerOptions o;
  o.nodeName = "node-1";
  auto z = Authorizer::create(o, fake.api());
  ASSERT_TRUE(z.ok());
  UserInfo api{"kube-apiserver", "", {"system:authenticated"}, {}};
  EXPECT_TRUE(*(*z)->authorize(api, {"get", "stats"}));
  EXPECT_TRUE(*(*z)->authorize(api, {"get", "stats"}));
  EXPECT_FALSE(*(*z)->authorize(api, {"get", "configz"}));
  EXPECT_FALSE(*(*z)->authorize(api, {"get", "configz"}));
  EXPECT_EQ(fake.accessReviews, 2);
  const auto& ra = fake.lastAccessReview["spec"]["resourceAttributes"];
  EXPECT_EQ(ra["resource"], "nodes");
  EXPECT_EQ(ra["subresource"], "configz");
  EXPECT_EQ(ra["name"], "node-1");
  EXPECT_EQ(ra["version"], "v1");
  EXPECT_EQ(fake.lastAccessReview["spec"]["groups"], json({"system:authenticated"}));
  fake.failing = true;
  EXPECT_FALSE((*z)->authorize(api, {"get", "log"}).ok());
}

TEST(AuthTest, AuthorizationModes) {
  AuthorizerOptions o;
  o.mode = "AlwaysAllow";
  auto z = Authorizer::create(o, nullptr);
  ASSERT_TRUE(z.ok());
  EXPECT_TRUE(*(*z)->authorize({"anyone", "", {}, {}}, {"get", "configz"}));
  o.mode = "RBAC";
  EXPECT_EQ(Authorizer::create(o, nullptr).status().message(), "authorization.mode: Unknown authorization mode RBAC");
  o.mode = "";
  EXPECT_FALSE(Authorizer::create(o, nullptr).ok());
}

// ------------------------------------------------------------------ TLS settings and certificate

TEST(TlsTest, SettingsAreCheckedByName) {
  EXPECT_TRUE(validateTlsSettings("", {}).ok());
  EXPECT_TRUE(validateTlsSettings("VersionTLS13", {"TLS_AES_128_GCM_SHA256"}).ok());
  EXPECT_TRUE(validateTlsSettings("VersionTLS12", {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}).ok());
  auto old = validateTlsSettings("VersionTLS10", {});
  EXPECT_NE(old.message().find("tlsMinVersion: VersionTLS10"), std::string::npos);
  EXPECT_FALSE(validateTlsSettings("TLS1.2", {}).ok());
  auto bad = validateTlsSettings("", {"TLS_NOPE"});
  EXPECT_EQ(bad.message(), "tlsCipherSuites: Cipher suite TLS_NOPE not supported or doesn't exist");
}

std::filesystem::path tempDir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cubelet-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TlsTest, SelfSignedCertificateIsMadeOnceForTheNodeNamesAndAddresses) {
  auto dir = tempDir("cert");
  auto paths = ensureSelfSignedCert((dir / "pki").string(), "node-1", {"10.0.0.5"});
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(paths->first, (dir / "pki/kubelet.crt").string());
  struct stat st {};
  ASSERT_EQ(stat(paths->second.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string crt = slurp(paths->first);
  // Leaf then CA.
  BIO* b = BIO_new_mem_buf(crt.data(), static_cast<int>(crt.size()));
  X509* leaf = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  X509* ca = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  ASSERT_TRUE(leaf && ca);
  EXPECT_EQ(X509_check_host(leaf, "node-1", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "10.0.0.5", 0), 1);
  EXPECT_EQ(X509_verify(leaf, X509_get0_pubkey(ca)), 1);
  X509_free(leaf);
  X509_free(ca);
  // Reused, not remade.
  auto again = ensureSelfSignedCert((dir / "pki").string(), "node-1", {"10.0.0.5"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(slurp(again->first), crt);
  std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------------ the server over TLS

// A blocking TLS client on loopback speaking raw HTTP/1.1.
class TlsClient {
 public:
  explicit TlsClient(int port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ok_ = ok_ && SSL_connect(ssl_) == 1;
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~TlsClient() {
    SSL_free(ssl_);
    close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool ok() const { return ok_; }
  void send(const std::string& s) { SSL_write(ssl_, s.data(), static_cast<int>(s.size())); }
  // Reads until `n` bytes or the connection ends.
  std::string readAll() {
    std::string out;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  std::string readUntil(const std::string& marker) {
    std::string out;
    char buf[4096];
    while (out.find(marker) == std::string::npos) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // One response with a Content-Length body.
  std::pair<int, std::string> response() {
    std::string head = readUntil("\r\n\r\n");
    size_t end = head.find("\r\n\r\n");
    if (end == std::string::npos) return {0, head};
    std::string body = head.substr(end + 4);
    head.resize(end);
    int code = std::stoi(head.substr(9, 3));
    size_t cl = head.find("Content-Length: ");
    if (cl != std::string::npos) {
      size_t len = std::stoul(head.substr(cl + 16));
      char buf[4096];
      while (body.size() < len) {
        int n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0) break;
        body.append(buf, static_cast<size_t>(n));
      }
    }
    return {code, body};
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool ok_ = false;
};

std::string get(const std::string& path, const std::string& token = "kubelet-client", const std::string& extra = "") {
  std::string r = "GET " + path + " HTTP/1.1\r\nHost: node\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  return r + extra + "\r\n";
}

// Decodes a chunked body.
std::string dechunk(std::string_view s) {
  std::string out;
  while (true) {
    size_t eol = s.find("\r\n");
    if (eol == std::string_view::npos) return out;
    size_t n = std::stoul(std::string(s.substr(0, eol)), nullptr, 16);
    if (n == 0) return out;
    out.append(s.substr(eol + 2, n));
    s.remove_prefix(eol + 2 + n + 2);
  }
}

// A stand-in for the runtime's streaming server: answers an upgrade with 101 and echoes.
class FakeStreamingServer {
 public:
  FakeStreamingServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        request_ = req.substr(0, req.find("\r\n\r\n"));
      }
      std::string resp = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n";
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      std::string early = req.substr(req.find("\r\n\r\n") + 4);
      if (!early.empty()) ::send(c, early.data(), early.size(), MSG_NOSIGNAL);
      ssize_t n;
      while ((n = recv(c, buf, sizeof buf, 0)) > 0) ::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      ::send(c, "bye", 3, MSG_NOSIGNAL);
      close(c);
    });
  }
  ~FakeStreamingServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string request() {
    std::lock_guard<std::mutex> l(mu_);
    return request_;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string request_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tempDir("server");
    cri_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto c = runtime::CriClient::connect(cri_->endpoint(), std::chrono::seconds(5));
    ASSERT_TRUE(c.ok());
    client_ = std::move(*c);
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    client_.reset();
    cri_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(std::function<void(KubeletServerOptions&, KubeletServerDeps&)> tweak = nullptr) {
    auto paths = ensureSelfSignedCert((dir_ / "pki").string(), "node-1", {"127.0.0.1"});
    ASSERT_TRUE(paths.ok());
    KubeletServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.tls.certFile = paths->first;
    o.tls.keyFile = paths->second;
    o.authz.nodeName = "node-1";
    KubeletServerDeps d;
    d.api = reviews_.api();
    d.runtime = client_.get();
    d.pods = [this] { return std::vector<json>{pod_}; };
    d.pod = [this](const std::string& ns, const std::string& name) -> std::optional<json> {
      if (ns == "default" && name == "web") return pod_;
      return std::nullopt;
    };
    d.healthChecks = {{"syncloop", [this] { return syncLoop_; }}};
    d.configz = {{"maxPods", 110}};
    d.containerLogs = [this](const ContainerLogRequest& r, ResponseStream& out) -> std::pair<int, std::string> {
      logCalls_++;
      if (r.container != "app") return {400, "container \"" + r.container + "\" in pod \"web\" is not available"};
      out.write("line 1\n");
      out.write("line 2\n");
      return {0, ""};
    };
    if (tweak) tweak(o, d);
    auto s = KubeletServer::start(std::move(o), std::move(d));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }

  std::pair<int, std::string> request(const std::string& raw) {
    TlsClient c(server_->port());
    EXPECT_TRUE(c.ok());
    c.send(raw);
    return c.response();
  }

  // A running container "app" of pod default/web (uid uid-1) in the fake runtime.
  void runPod() {
    v1::PodSandboxConfig sc;
    sc.mutable_metadata()->set_name("web");
    sc.mutable_metadata()->set_namespace_("default");
    sc.mutable_metadata()->set_uid("uid-1");
    (*sc.mutable_labels())["io.kubernetes.pod.uid"] = "uid-1";
    auto sb = client_->runPodSandbox(sc, "");
    ASSERT_TRUE(sb.ok());
    v1::ContainerConfig cc;
    cc.mutable_metadata()->set_name("app");
    cc.mutable_image()->set_image("registry.k8s.io/pause:3.10");
    (*cc.mutable_labels())["io.kubernetes.pod.uid"] = "uid-1";
    (*cc.mutable_labels())["io.kubernetes.container.name"] = "app";
    auto id = client_->createContainer(*sb, cc, sc);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(client_->startContainer(*id).ok());
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> cri_;
  std::unique_ptr<runtime::CriClient> client_;
  FakeReviews reviews_;
  std::unique_ptr<KubeletServer> server_;
  json pod_ = {{"metadata", {{"name", "web"}, {"namespace", "default"}, {"uid", "uid-1"}}}};
  absl::Status syncLoop_;
  std::atomic<int> logCalls_{0};
};

TEST_F(ServerTest, NoCredentialsIs401AndAnUnknownUserIs403WithTheUpstreamBody) {
  start();
  auto [code, body] = request(get("/healthz", ""));
  EXPECT_EQ(code, 401);
  EXPECT_EQ(body, "Unauthorized");
  std::tie(code, body) = request(get("/healthz", "not-a-token"));
  EXPECT_EQ(code, 401);
  std::tie(code, body) = request(get("/healthz", "good-token"));
  EXPECT_EQ(code, 403);
  EXPECT_EQ(body, "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[healthz proxy])\n");
  std::tie(code, body) = request(get("/stats/summary", "good-token"));
  EXPECT_EQ(code, 403);
  EXPECT_EQ(body, "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[stats])\n");
  // The apiserver's own identity may read.
  EXPECT_EQ(request(get("/healthz")).first, 200);
  // A fine-grained grant alone is enough; a denial is remembered for a while.
  reviews_.allowed["alice"] = {"configz", "healthz"};
  EXPECT_EQ(request(get("/configz", "good-token")).first, 200);
  EXPECT_EQ(request(get("/healthz", "good-token")).first, 403);
}

TEST_F(ServerTest, AuthorizationErrorsAre500) {
  start();
  reviews_.failing = true;
  auto [code, body] = request(get("/pods"));
  // Token reviews fail first: that is a 401, as upstream.
  EXPECT_EQ(code, 401);
  reviews_.failing = false;
  EXPECT_EQ(request(get("/pods")).first, 200);  // token now cached
  reviews_.failing = true;
  std::tie(code, body) = request(get("/healthz"));
  EXPECT_EQ(code, 500);
  EXPECT_EQ(body, "Authorization error (user=kube-apiserver, verb=get, resource=nodes, subresource=healthz)");
}

TEST_F(ServerTest, HealthzChecksAndVerboseOutput) {
  start();
  EXPECT_EQ(request(get("/healthz")), std::make_pair(200, std::string("ok")));
  EXPECT_EQ(request(get("/healthz?verbose")),
            std::make_pair(200, std::string("[+]ping ok\n[+]log ok\n[+]syncloop ok\nhealthz check passed\n")));
  EXPECT_EQ(request(get("/healthz/syncloop")), std::make_pair(200, std::string("ok")));
  syncLoop_ = absl::InternalError("sync loop took longer than expected");
  EXPECT_EQ(request(get("/healthz")),
            std::make_pair(500, std::string("[+]ping ok\n[+]log ok\n[-]syncloop failed: reason withheld\nhealthz check failed\n")));
  EXPECT_EQ(request(get("/healthz?exclude=syncloop")).first, 200);
  EXPECT_EQ(request(get("/healthz/syncloop")).first, 500);
  EXPECT_EQ(request(get("/healthz/nope")).first, 404);
}

TEST_F(ServerTest, PodsConfigzAndRunningPods) {
  runPod();
  start();
  auto [code, body] = request(get("/pods"));
  ASSERT_EQ(code, 200);
  auto list = json::parse(body);
  EXPECT_EQ(list["kind"], "PodList");
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "web");
  std::tie(code, body) = request(get("/configz"));
  EXPECT_EQ(json::parse(body), json({{"kubeletconfig", {{"maxPods", 110}}}}));
  std::tie(code, body) = request(get("/runningpods/"));
  ASSERT_EQ(code, 200);
  auto running = json::parse(body);
  ASSERT_EQ(running["items"].size(), 1u);
  EXPECT_EQ(running["items"][0]["metadata"]["uid"], "uid-1");
  EXPECT_EQ(running["items"][0]["spec"]["containers"][0]["name"], "app");
  EXPECT_EQ(request("POST /pods HTTP/1.1\r\nAuthorization: Bearer kubelet-client\r\nContent-Length: 0\r\n\r\n").first, 405);
  EXPECT_EQ(request(get("/nothing/here")).first, 404);
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  TlsClient c(server_->port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    c.send(get("/healthz"));
    EXPECT_EQ(c.response(), std::make_pair(200, std::string("ok")));
  }
}

TEST_F(ServerTest, ContainerLogsStreamChunkedAndBadPathsReadNothing) {
  start();
  TlsClient c(server_->port());
  c.send(get("/containerLogs/default/web/app", "kubelet-client", "Connection: close\r\n"));
  std::string resp = c.readAll();
  ASSERT_EQ(resp.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_NE(resp.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_EQ(dechunk(resp.substr(resp.find("\r\n\r\n") + 4)), "line 1\nline 2\n");
  EXPECT_EQ(logCalls_, 1);

  auto [code, body] = request(get("/containerLogs/default/web/other"));
  EXPECT_EQ(code, 400);
  EXPECT_EQ(body, "container \"other\" in pod \"web\" is not available");
  std::tie(code, body) = request(get("/containerLogs/default/missing/app"));
  EXPECT_EQ(code, 404);
  EXPECT_EQ(body, "pod \"missing\" does not exist");
  std::tie(code, body) = request(get("/containerLogs/default/web"));
  EXPECT_EQ(code, 404);
  EXPECT_EQ(body, "404: Page Not Found");
  std::tie(code, body) = request(get("/containerLogs/default/web/a%00b"));
  EXPECT_EQ(code, 404);
  EXPECT_EQ(body, "container \"a\\x00b\" not found in pod \"web\"");
  logCalls_ = 0;
  for (const char* bad : {"/containerLogs/default/..%2F..%2Fetc/passwd", "/containerLogs/../../etc/passwd",
                          "/containerLogs/default/web/..", "/containerLogs/default/web/app/extra",
                          "/containerLogs/default/web/a%00b", "/containerLogs/default/WEB/app"}) {
    std::tie(code, body) = request(get(bad));
    EXPECT_TRUE(code == 307 || code == 400 || code == 404) << bad << " -> " << code;
    EXPECT_EQ(body.find("root:"), std::string::npos);
  }
  EXPECT_EQ(logCalls_, 0);
}

TEST_F(ServerTest, SystemLogsServeOnlyWhatIsBeneathTheLogDirectory) {
  auto logs = dir_ / "varlog";
  std::filesystem::create_directories(logs / "pods");
  std::ofstream(logs / "syslog") << "node log line\n";
  std::ofstream(dir_ / "secret") << "root:x:0:0\n";
  std::filesystem::create_symlink(dir_ / "secret", logs / "escape");
  std::filesystem::create_symlink("syslog", logs / "inside");
  start([&](KubeletServerOptions& o, KubeletServerDeps&) { o.systemLogDir = logs.string(); });
  EXPECT_EQ(request(get("/logs/syslog")), std::make_pair(200, std::string("node log line\n")));
  EXPECT_EQ(request(get("/logs/inside")), std::make_pair(200, std::string("node log line\n")));
  EXPECT_EQ(request(get("/logs/")), std::make_pair(200, std::string("<pre>\n<a href=\"escape\">escape</a>\n"
                                                                    "<a href=\"inside\">inside</a>\n"
                                                                    "<a href=\"pods/\">pods/</a>\n"
                                                                    "<a href=\"syslog\">syslog</a>\n</pre>\n")));
  for (const char* bad : {"/logs/escape", "/logs/../secret", "/logs/%2e%2e/secret", "/logs/pods/..%2F..%2Fsecret",
                          "/logs/nothing"}) {
    auto [code, body] = request(get(bad));
    EXPECT_TRUE(code == 404 || code == 307) << bad;
    EXPECT_EQ(body.find("root:"), std::string::npos) << bad;
  }
  // nodes/log is its own subresource.
  reviews_.allowed["alice"] = {"proxy"};
  EXPECT_EQ(request(get("/logs/syslog", "good-token")).first, 403);
}

TEST_F(ServerTest, UncleanPathsAreRedirectedAndUnknownRootsAre404BeforeAuthentication) {
  start();
  TlsClient c(server_->port());
  c.send(get("/containerLogs/../../etc/passwd?x=1", ""));
  std::string resp = c.readUntil("\r\n\r\n");
  EXPECT_EQ(resp.substr(0, 12), "HTTP/1.1 307");
  EXPECT_NE(resp.find("Location: /etc/passwd?x=1\r\n"), std::string::npos);
  EXPECT_EQ(request(get("/stats/./summary/", "")).first, 307);
  EXPECT_EQ(request(get("//pods", "")).first, 307);
  EXPECT_EQ(request(get("/etc/passwd", "")), std::make_pair(404, std::string("404 page not found\n")));
  EXPECT_EQ(request(get("/statsX", "")).first, 404);
  // Encoded dots are not path segments here: authentication comes first, then no route.
  EXPECT_EQ(request(get("/containerLogs/%2e%2e/%2e%2e/..%2Fetc", "")).first, 401);
  EXPECT_EQ(request(get("/containerLogs/%2e%2e/%2e%2e/..%2Fetc")).first, 404);
}

TEST_F(ServerTest, RequestsAreCountedInTheKubeletHttpMetrics) {
  start();
  auto& m = metrics::kubeletMetrics();
  const std::vector<std::string> labels = {"GET", "configz", "readwrite", "false"};
  const double before = m.httpRequests.with(labels).value();
  EXPECT_EQ(request(get("/configz")).first, 200);
  EXPECT_EQ(request(get("/configz")).first, 200);
  EXPECT_EQ(m.httpRequests.with(labels).value(), before + 2);
  // The server leaves the in-flight count just after the response is on the wire.
  for (int i = 0; i < 200 && m.httpInflightRequests.with(labels).value() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(m.httpInflightRequests.with(labels).value(), 0);
  const std::string text = m.registry.render();
  EXPECT_NE(text.find("kubelet_http_requests_total{long_running=\"false\",method=\"GET\",path=\"configz\","
                      "server_type=\"readwrite\"}"),
            std::string::npos);
  EXPECT_NE(text.find("kubelet_http_requests_duration_seconds_bucket{"), std::string::npos);
}

TEST_F(ServerTest, DebuggingHandlersCanBeTurnedOff) {
  start([](KubeletServerOptions& o, KubeletServerDeps&) { o.enableDebuggingHandlers = false; });
  auto [code, body] = request(get("/containerLogs/default/web/app"));
  EXPECT_EQ(code, 405);
  EXPECT_EQ(body, "Debug endpoints are disabled.");
  EXPECT_EQ(request(get("/healthz")).first, 200);
}

TEST_F(ServerTest, ExecIsProxiedToTheRuntimeStreamingServer) {
  runPod();
  FakeStreamingServer backend;
  cri_->service().setStreamingBase("http://127.0.0.1:" + std::to_string(backend.port()));
  start();
  TlsClient c(server_->port());
  ASSERT_TRUE(c.ok());
  c.send("POST /exec/default/web/app?command=sh&command=-c&command=date&input=1&output=1&tty=1 HTTP/1.1\r\n"
         "Host: node-1:10250\r\nAuthorization: Bearer kubelet-client\r\nContent-Length: 0\r\n"
         "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
         "X-Stream-Protocol-Version: channel.k8s.io\r\n\r\n");
  std::string head = c.readUntil("\r\n\r\n");
  EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 101");
  c.send("ping");
  std::string echoed = c.readUntil("ping");
  EXPECT_NE(echoed.find("ping"), std::string::npos);
  // Closing our side ends the backend's echo loop; its last words reach us.
  SSL_CTX* unused = nullptr;
  (void)unused;
  const std::string req = backend.request();
  EXPECT_EQ(req.substr(0, 11), "POST /exec/");
  EXPECT_NE(req.find(" HTTP/1.1\r\nHost: 127.0.0.1:"), std::string::npos);
  EXPECT_NE(req.find("Upgrade: SPDY/3.1"), std::string::npos);
  EXPECT_NE(req.find("X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: channel.k8s.io"),
            std::string::npos);
  EXPECT_EQ(req.find("Authorization"), std::string::npos);
  auto exec = cri_->service().lastRequest<v1::ExecRequest>("Exec");
  ASSERT_TRUE(exec);
  EXPECT_EQ(std::vector<std::string>(exec->cmd().begin(), exec->cmd().end()),
            (std::vector<std::string>{"sh", "-c", "date"}));
  EXPECT_TRUE(exec->stdin());
  EXPECT_TRUE(exec->tty());
  EXPECT_FALSE(exec->stderr());
}

TEST_F(ServerTest, StreamingRequestsNeedAnUpgradeAPodAndARunningContainer) {
  runPod();
  start();
  auto [code, body] = request(get("/exec/default/web/app?command=ls&output=1"));
  EXPECT_EQ(code, 400);
  EXPECT_EQ(body, "Upgrade request required");
  const std::string upgrade = "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n";
  std::tie(code, body) = request(get("/exec/default/nope/app?command=ls&output=1", "kubelet-client", upgrade));
  EXPECT_EQ(code, 404);
  std::tie(code, body) = request(get("/exec/default/web/missing?command=ls&output=1", "kubelet-client", upgrade));
  EXPECT_EQ(code, 404);
  EXPECT_EQ(body, "container not found (\"missing\")");
  std::tie(code, body) = request(get("/exec/default/web/app?command=ls", "kubelet-client", upgrade));
  EXPECT_EQ(code, 400);
  EXPECT_EQ(body, "you must specify at least 1 of stdin, stdout, stderr");
  std::tie(code, body) = request(get("/portForward/default/web/wrong-uid?port=80", "kubelet-client", upgrade));
  EXPECT_EQ(code, 404);
}

TEST_F(ServerTest, RunReturnsTheCommandOutput) {
  runPod();
  start();
  auto [code, body] = request(
      "POST /run/default/web/app?cmd=echo+hello HTTP/1.1\r\nAuthorization: Bearer kubelet-client\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(code, 200);
  EXPECT_NE(body.find("echo hello"), std::string::npos);  // the fake echoes the command line
}

TEST_F(ServerTest, StopEndsOpenConnections) {
  start();
  TlsClient idle(server_->port());
  ASSERT_TRUE(idle.ok());
  server_->stop();
  EXPECT_EQ(idle.readAll(), "");
}

}  // namespace
}  // namespace cubelet::server
