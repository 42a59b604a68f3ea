// The probe handlers against real local servers on 127.0.0.1: httpGet against an httplib
// server (headers, named ports, redirects to the same and to another host, body limit,
// timeouts, refused connections) and an HTTPS one with a certificate made here; tcpSocket
// against a listener, a closed port and a full backlog; grpc against a grpc++ server with
// the standard health service; exec through the fake CRI runtime. Also the output and event
// texts of one probe run (Prober::probe), which are upstream's.
#include "kubelet/prober/prober.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "kubelet/prober/grpc_health.h"
#include "kubelet/prober/http_get.h"
#include "kubelet/prober/net.h"
#include "kubelet/version.h"
#include "tests/fakes/fake_container.h"
#include "tests/fakes/self_signed_cert.h"
#include "tests/fakes/fake_cri.h"

namespace cubelet::prober {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const json kPod = json::parse(R"({"metadata": {"name": "web", "namespace": "default", "uid": "uid-1"}})");

// "kube-probe/<major>.<minor>" of the pinned Kubernetes version.
std::string expectedUserAgent(const std::string& purpose) {
  int major = 0, minor = 0;
  EXPECT_EQ(std::sscanf(kKubeVersion, "v%d.%d", &major, &minor), 2);
  return "kube-" + purpose + "/" + std::to_string(major) + "." + std::to_string(minor);
}

// A TCP socket bound to an ephemeral port of 127.0.0.1 (listening with `backlog` unless
// negative), and that port.
Fd loopbackSocket(int backlog, int* port) {
  Fd fd(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  if (backlog >= 0) {
    EXPECT_EQ(listen(fd.get(), backlog), 0);
  }
  socklen_t len = sizeof a;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// A port nothing listens on (bound, then closed).
int closedPort() {
  int port = 0;
  loopbackSocket(-1, &port);
  return port;
}

// An httplib server on 127.0.0.1 that remembers the requests it answered.
class HttpServer {
 public:
  explicit HttpServer(bool tls = false) {
    if (tls) {
      cert_ = std::make_unique<testing::SelfSignedCert>("probe-test");
      srv_ = std::make_unique<httplib::SSLServer>(cert_->cert, cert_->key);
    } else {
      srv_ = std::make_unique<httplib::Server>();
    }
    srv_->set_logger([this](const httplib::Request& req, const httplib::Response&) {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(req);
    });
  }
  ~HttpServer() { stop(); }
  httplib::Server& server() { return *srv_; }
  void start() {
    port_ = srv_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_->listen_after_bind(); });
    while (!srv_->is_running()) std::this_thread::sleep_for(5ms);
  }
  void stop() {
    if (thread_.joinable()) {
      srv_->stop();
      thread_.join();
    }
  }
  int port() const { return port_; }
  std::vector<httplib::Request> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  std::optional<httplib::Request> last(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = requests_.rbegin(); it != requests_.rend(); ++it)
      if (it->path == path) return *it;
    return std::nullopt;
  }

 private:
  std::unique_ptr<testing::SelfSignedCert> cert_;
  std::unique_ptr<httplib::Server> srv_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<httplib::Request> requests_;
};

class HttpProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& s = server_.server();
    s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    s.Get("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("secret details", "text/plain");
    });
    s.Get("/missing", [](const httplib::Request&, httplib::Response& res) { res.status = 404; });
    s.Get("/same-host", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/healthz"); });
    s.Get("/other-host", [this](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://localhost:" + std::to_string(server_.port()) + "/healthz");
      res.set_content("moved away", "text/plain");
    });
    s.Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(20000, 'x'), "text/plain");
    });
    s.Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 30000) {
          sink.done();
          return true;
        }
        std::string part(1000, 'y');
        sink.write(part.data(), part.size());
        return true;
      });
    });
    s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(1500ms);
      res.set_content("late", "text/plain");
    });
    server_.start();
  }

  ActionResult probe(const json& action, const json& container = json::object()) {
    return runHttpGetAction(action, ProbeTarget{kPod, container, "cid", "127.0.0.1"}, 1s);
  }
  json action(const std::string& path) { return json{{"path", path}, {"port", server_.port()}}; }

  HttpServer server_;
};

// ------------------------------------------------------------------ shared pieces

TEST(ContainerPort, ByNumberByNameAndUpstreamErrors) {
  json container = json::parse(R"({"ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9090}]})");
  EXPECT_EQ(*resolveContainerPort(json(80), container), 80);
  EXPECT_EQ(*resolveContainerPort(json("http"), container), 8080);
  EXPECT_EQ(*resolveContainerPort(json("8081"), container), 8081) << "a number written as a string";
  auto unknown = resolveContainerPort(json("web"), container);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "strconv.Atoi: parsing \"web\": invalid syntax");
  EXPECT_EQ(resolveContainerPort(json(0), container).status().message(), "invalid port number: 0");
  EXPECT_EQ(resolveContainerPort(json(70000), container).status().message(), "invalid port number: 70000");
  EXPECT_EQ(resolveContainerPort(json("99999999999999999999"), container).status().message(),
            "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
}

TEST(HttpRequest, UpstreamDefaultsAndHeaderRules) {
  EXPECT_EQ(kubeUserAgent("probe"), expectedUserAgent("probe"));
  EXPECT_EQ(canonicalHeaderName("x-custom-header"), "X-Custom-Header");
  EXPECT_EQ(canonicalHeaderName("ACCEPT"), "Accept");
  EXPECT_EQ(canonicalHeaderName("bad header"), "bad header");

  auto r = requestForHttpGetAction(json{{"port", 80}}, json::object(), "10.244.0.5", "probe");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->url(), "http://10.244.0.5:80/");
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].name, "User-Agent");
  EXPECT_EQ(r->headers[0].value, expectedUserAgent("probe"));
  EXPECT_EQ(r->headers[1].name, "Accept");
  EXPECT_EQ(r->headers[1].value, "*/*");

  r = requestForHttpGetAction(json::parse(R"({"scheme": "HTTPS", "host": "fd00::5", "port": 8443, "path": "/x?y=1",
      "httpHeaders": [{"name": "accept", "value": ""}, {"name": "user-agent", "value": "mine"}]})"),
                              json::object(), "10.244.0.5", "lifecycle");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->url(), "https://[fd00::5]:8443/x?y=1");
  ASSERT_EQ(r->headers.size(), 1u) << "an empty Accept removes it";
  EXPECT_EQ(r->headers[0].name, "User-Agent");
  EXPECT_EQ(r->headers[0].value, "mine");
}

// ------------------------------------------------------------------ httpGet

TEST_F(HttpProbeTest, SuccessSendsUpstreamHeaders) {
  json a = action("/healthz?verbose=1");
  a["httpHeaders"] = json::parse(R"([{"name": "x-custom", "value": "yes"}, {"name": "Host", "value": "example.com"}])");
  auto r = probe(a);
  EXPECT_EQ(r.outcome, Outcome::kSuccess);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.output, "ok");
  auto req = server_.last("/healthz");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->get_header_value("User-Agent"), expectedUserAgent("probe"));
  EXPECT_EQ(req->get_header_value("Accept"), "*/*");
  EXPECT_EQ(req->get_header_value("X-Custom"), "yes");
  EXPECT_EQ(req->get_header_value("Host"), "example.com");
  EXPECT_EQ(req->get_param_value("verbose"), "1");
  EXPECT_FALSE(req->has_header("Accept-Encoding")) << "no compression, as upstream";
}

TEST_F(HttpProbeTest, DefaultHostHeaderIsTheTarget) {
  probe(action("/healthz"));
  auto req = server_.last("/healthz");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->get_header_value("Host"), "127.0.0.1:" + std::to_string(server_.port()));
}

TEST_F(HttpProbeTest, NamedPort) {
  json container = {{"ports", {{{"name", "http"}, {"containerPort", server_.port()}}}}};
  auto r = probe(json{{"path", "/healthz"}, {"port", "http"}}, container);
  EXPECT_EQ(r.outcome, Outcome::kSuccess);
  auto bad = probe(json{{"path", "/healthz"}, {"port", "web"}}, container);
  EXPECT_EQ(bad.outcome, Outcome::kUnknown);
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(*bad.error, "strconv.Atoi: parsing \"web\": invalid syntax");
}

TEST_F(HttpProbeTest, ErrorStatusIsAFailureWithoutTheBody) {
  auto r = probe(action("/fail"));
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.output, "HTTP probe failed with statuscode: 500");
  EXPECT_EQ(probe(action("/missing")).output, "HTTP probe failed with statuscode: 404");
}

TEST_F(HttpProbeTest, RedirectToTheSameHostIsFollowed) {
  auto r = probe(action("/same-host"));
  EXPECT_EQ(r.outcome, Outcome::kSuccess);
  EXPECT_EQ(r.output, "ok");
  auto followed = server_.last("/healthz");
  ASSERT_TRUE(followed);
  EXPECT_EQ(followed->get_header_value("User-Agent"), expectedUserAgent("probe")) << "headers go along";
}

TEST_F(HttpProbeTest, RedirectToAnotherHostIsAWarningWithTheBody) {
  auto r = probe(action("/other-host"));
  EXPECT_EQ(r.outcome, Outcome::kWarning);
  EXPECT_EQ(r.output, "Probe terminated redirects, Response body: moved away");
  EXPECT_FALSE(server_.last("/healthz")) << "localhost is another host name than 127.0.0.1";
}

TEST_F(HttpProbeTest, RedirectLoopStopsAfterTenRequests) {
  auto r = probe(action("/loop"));
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_EQ(r.output, "Get \"/loop\": stopped after 10 redirects");
  EXPECT_EQ(server_.requests().size(), 10u);
}

TEST_F(HttpProbeTest, BodyIsReadUpToTenKiB) {
  auto req = requestForHttpGetAction(action("/big"), json::object(), "127.0.0.1", "probe");
  ASSERT_TRUE(req.ok());
  auto res = httpGet(*req, 1s);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.size(), kMaxHttpBodyBytes);
  EXPECT_TRUE(res->truncated);
  EXPECT_TRUE(res->bodyError.empty());

  req = requestForHttpGetAction(action("/chunked"), json::object(), "127.0.0.1", "probe");
  res = httpGet(*req, 1s);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, std::string(kMaxHttpBodyBytes, 'y'));
  EXPECT_TRUE(res->truncated);
  EXPECT_EQ(probe(action("/chunked")).outcome, Outcome::kSuccess);
}

TEST_F(HttpProbeTest, TimeoutIsAFailureInTheGoClientsWords) {
  auto r = probe(action("/slow"));
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.output, "Get \"http://127.0.0.1:" + std::to_string(server_.port()) +
                          "/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
}

TEST_F(HttpProbeTest, RefusedConnectionIsAFailure) {
  const int port = closedPort();
  auto r = probe(json{{"path", "/"}, {"port", port}});
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(r.output, "Get \"http://" + addr + "/\": dial tcp " + addr + ": connect: connection refused");
}

TEST(HttpsProbe, SelfSignedCertificateIsAccepted) {
  HttpServer tls(true);
  tls.server().Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  tls.start();
  json action = {{"scheme", "HTTPS"}, {"path", "/healthz"}, {"port", tls.port()}};
  auto r = runHttpGetAction(action, ProbeTarget{kPod, json::object(), "cid", "127.0.0.1"}, 2s);
  EXPECT_EQ(r.outcome, Outcome::kSuccess) << r.output;
  auto req = tls.last("/healthz");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->get_header_value("User-Agent"), expectedUserAgent("probe"));
}

TEST_F(HttpProbeTest, HttpsAgainstAPlainServerFails) {
  json a = action("/healthz");
  a["scheme"] = "HTTPS";
  auto r = probe(a);
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_EQ(r.output, "Get \"https://127.0.0.1:" + std::to_string(server_.port()) +
                          "/healthz\": http: server gave HTTP response to HTTPS client");
}

// ------------------------------------------------------------------ tcpSocket

TEST(TcpProbe, ListenerClosedPortAndTimeout) {
  int port = 0;
  Fd listener = loopbackSocket(0, &port);

  json container = {{"ports", {{{"name", "db"}, {"containerPort", port}}}}};
  auto ok = runTcpSocketAction(json{{"port", "db"}}, ProbeTarget{kPod, container, "cid", "127.0.0.1"}, 1s);
  EXPECT_EQ(ok.outcome, Outcome::kSuccess);
  EXPECT_EQ(ok.output, "");

  const int closed = closedPort();
  auto refused = runTcpSocketAction(json{{"port", closed}}, ProbeTarget{kPod, container, "cid", "127.0.0.1"}, 1s);
  EXPECT_EQ(refused.outcome, Outcome::kFailure);
  EXPECT_EQ(refused.output, "dial tcp 127.0.0.1:" + std::to_string(closed) + ": connect: connection refused");

  // With the accept queue full (backlog 0, nothing accepted) the kernel drops new SYNs: the
  // connect hangs until the deadline.
  std::vector<Fd> fill;
  for (int i = 0; i < 4; ++i) {
    auto fd = dialTcp("127.0.0.1", port, std::chrono::steady_clock::now() + 200ms);
    if (!fd.ok()) break;
    fill.push_back(std::move(*fd));
  }
  auto start = std::chrono::steady_clock::now();
  auto timedOut = dialTcp("127.0.0.1", port, start + 300ms);
  ASSERT_FALSE(timedOut.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(timedOut.status())) << timedOut.status();
  EXPECT_EQ(timedOut.status().message(), "dial tcp 127.0.0.1:" + std::to_string(port) + ": i/o timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
}

TEST(TcpProbe, HostOverridesThePodIp) {
  int port = 0;
  Fd listener = loopbackSocket(4, &port);
  auto r = runTcpSocketAction(json{{"host", "127.0.0.1"}, {"port", port}},
                              ProbeTarget{kPod, json::object(), "cid", "10.255.255.254"}, 1s);
  EXPECT_EQ(r.outcome, Outcome::kSuccess) << r.output;
}

// ------------------------------------------------------------------ grpc

class GrpcProbeTest : public ::testing::Test {
 protected:
  void start(bool health) {
    grpc::EnableDefaultHealthCheckService(health);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    // Some service of its own, whatever it is (every method unimplemented).
    b.RegisterService(&other_);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    grpc::EnableDefaultHealthCheckService(false);
  }
  ActionResult probe(const json& grpc) {
    return runGrpcAction(grpc, ProbeTarget{kPod, json::object(), "cid", "127.0.0.1"}, 1s);
  }
  runtime::v1::ImageService::Service other_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(GrpcProbeTest, ServingNotServingAndNamedServices) {
  start(true);
  auto* health = server_->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  auto r = probe(json{{"port", port_}});
  EXPECT_EQ(r.outcome, Outcome::kSuccess);
  EXPECT_EQ(r.output, "service healthy");

  health->SetServingStatus(false);
  r = probe(json{{"port", port_}});
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_EQ(r.output, "service unhealthy (responded with \"NOT_SERVING\")");

  health->SetServingStatus("payments", true);
  r = probe(json{{"port", port_}, {"service", "payments"}});
  EXPECT_EQ(r.outcome, Outcome::kSuccess) << r.output;

  r = probe(json{{"port", port_}, {"service", "nosuch"}});
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_EQ(r.output.rfind("error: health rpc probe failed: rpc error: code = NotFound desc = ", 0), 0u) << r.output;
}

TEST_F(GrpcProbeTest, ServerWithoutTheHealthProtocol) {
  start(false);
  auto r = probe(json{{"port", port_}});
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_EQ(r.output.rfind("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ", 0),
            0u)
      << r.output;
}

TEST_F(GrpcProbeTest, NothingListeningTimesOut) {
  const int port = closedPort();
  auto r = probe(json{{"port", port}});
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_EQ(r.output, "timeout: failed to connect service \"127.0.0.1:" + std::to_string(port) +
                          "\" within 1s: context deadline exceeded");
}

TEST(GrpcHealthWire, RequestAndResponseEncoding) {
  EXPECT_EQ(encodeHealthCheckRequest(""), "");
  EXPECT_EQ(encodeHealthCheckRequest("svc"), std::string("\x0a\x03svc", 5));
  EXPECT_EQ(decodeHealthCheckResponse(""), 0) << "absent means UNKNOWN";
  EXPECT_EQ(decodeHealthCheckResponse(std::string("\x08\x01", 2)), 1);
  EXPECT_EQ(decodeHealthCheckResponse(std::string("\x08\x02", 2)), 2);
  // Unknown fields are skipped.
  EXPECT_EQ(decodeHealthCheckResponse(std::string("\x12\x02hi\x08\x01", 6)), 1);
  EXPECT_EQ(decodeHealthCheckResponse(std::string("\x08", 1)), std::nullopt);
  EXPECT_EQ(decodeHealthCheckResponse(std::string("\x12\x05hi", 4)), std::nullopt);
}

// ------------------------------------------------------------------ exec (fake CRI)

class ExecProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("exec-probe-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto cri = runtime::CriClient::connect(server_->endpoint(), 5s);
    ASSERT_TRUE(cri.ok()) << cri.status();
    cri_ = std::move(*cri);
    auto id = testing::startFakeContainer(*cri_, fake(), "uid-1");
    ASSERT_TRUE(id.ok()) << id.status();
    id_ = *id;
  }
  void TearDown() override {
    cri_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  testing::FakeRuntimeService& fake() { return server_->service(); }
  ActionResult exec(const json& command, const json& container = json{{"name", "app"}},
                    std::chrono::seconds timeout = 1s) {
    return runExecAction(*cri_, json{{"command", command}}, ProbeTarget{kPod, container, id_, "127.0.0.1"}, timeout);
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<runtime::CriClient> cri_;
  std::string id_;
};

TEST_F(ExecProbeTest, ExitCodeDecidesAndOutputIsStdoutThenStderr) {
  fake().setExecHandler([](const testing::FakeContainer&, const std::vector<std::string>& cmd) {
    runtime::v1::ExecSyncResponse r;
    r.set_stdout("out:" + cmd.back() + "\n");
    r.set_stderr("err\n");
    r.set_exit_code(cmd.back() == "ok" ? 0 : 1);
    return r;
  });
  auto ok = exec(json{"check", "ok"});
  EXPECT_EQ(ok.outcome, Outcome::kSuccess);
  EXPECT_EQ(ok.output, "out:ok\nerr\n");
  auto bad = exec(json{"check", "bad"});
  EXPECT_EQ(bad.outcome, Outcome::kFailure);
  EXPECT_FALSE(bad.error);
  EXPECT_EQ(bad.output, "out:bad\nerr\n");
  auto req = fake().lastRequest<runtime::v1::ExecSyncRequest>("ExecSync");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->timeout(), 1) << "the probe's timeoutSeconds goes to the runtime";
  EXPECT_EQ(req->container_id(), id_);
}

TEST_F(ExecProbeTest, OutputIsCutAtTenKiB) {
  fake().setExecHandler([](const testing::FakeContainer&, const std::vector<std::string>&) {
    runtime::v1::ExecSyncResponse r;
    r.set_stdout(std::string(20000, 'o'));
    r.set_exit_code(1);
    return r;
  });
  EXPECT_EQ(exec(json{"x"}).output.size(), kMaxExecOutputBytes);
}

TEST_F(ExecProbeTest, TimeoutIsAFailureSayingSo) {
  fake().setExecHandler([](const testing::FakeContainer&, const std::vector<std::string>&) {
    std::this_thread::sleep_for(1200ms);
    return runtime::v1::ExecSyncResponse();
  });
  auto r = exec(json{"sh", "-c", "sleep 5"});
  EXPECT_EQ(r.outcome, Outcome::kFailure);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.output, "command \"sh -c sleep 5\" timed out");
}

TEST_F(ExecProbeTest, CommandSeesOnlyLiteralEnvValues) {
  json container = json::parse(R"({"name": "app", "env": [
      {"name": "FILE", "value": "/tmp/ready"},
      {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})");
  exec(json{"cat", "$(FILE)", "$(SECRET)", "$(UNSET)", "$$(FILE)"}, container);
  auto req = fake().lastRequest<runtime::v1::ExecSyncRequest>("ExecSync");
  ASSERT_TRUE(req);
  std::vector<std::string> cmd(req->cmd().begin(), req->cmd().end());
  EXPECT_EQ(cmd, (std::vector<std::string>{"cat", "/tmp/ready", "", "$(UNSET)", "$(FILE)"}));
}

TEST_F(ExecProbeTest, RuntimeErrorsAreRetriedAndReportedAsErrored) {
  Prober prober(*cri_);
  json container = {{"name", "app"}};
  fake().clearCalls();
  // A container the runtime does not know: every attempt errors.
  auto run = prober.probe(ProbeType::kLiveness, json{{"exec", {{"command", {"true"}}}}},
                          ProbeTarget{kPod, container, "0000nosuch", "127.0.0.1"});
  EXPECT_FALSE(run.success) << "an errored probe counts nothing";
  EXPECT_EQ(fake().callCount("ExecSync"), 3) << "upstream tries an erroring probe three times";
  ASSERT_TRUE(run.event);
  EXPECT_EQ(run.event->type, "Warning");
  EXPECT_EQ(run.event->reason, "Unhealthy");
  EXPECT_EQ(run.event->message.rfind("Liveness probe errored and resulted in unknown state: ", 0), 0u)
      << run.event->message;
}

TEST_F(ExecProbeTest, ProbeRunsAndTheirEvents) {
  Prober prober(*cri_);
  json container = {{"name", "app"}};
  fake().setExecHandler([](const testing::FakeContainer&, const std::vector<std::string>& cmd) {
    runtime::v1::ExecSyncResponse r;
    r.set_stdout(cmd.back() == "ok" ? "" : "not yet\n");
    r.set_exit_code(cmd.back() == "ok" ? 0 : 3);
    return r;
  });
  ProbeTarget target{kPod, container, id_, "127.0.0.1"};
  auto ok = prober.probe(ProbeType::kReadiness, json{{"exec", {{"command", {"check", "ok"}}}}}, target);
  EXPECT_EQ(ok.success, true);
  EXPECT_FALSE(ok.event);
  auto bad = prober.probe(ProbeType::kStartup, json{{"exec", {{"command", {"check", "bad"}}}}}, target);
  EXPECT_EQ(bad.success, false);
  ASSERT_TRUE(bad.event);
  EXPECT_EQ(bad.event->reason, "Unhealthy");
  EXPECT_EQ(bad.event->message, "Startup probe failed: not yet\n");

  auto none = prober.probe(ProbeType::kReadiness, json{{"periodSeconds", 1}}, target);
  EXPECT_FALSE(none.success);
  ASSERT_TRUE(none.event);
  EXPECT_EQ(none.event->message,
            "Readiness probe errored and resulted in unknown state: missing probe handler for web_default(uid-1):app");
}

TEST_F(HttpProbeTest, ProbeRunEventsForHttp) {
  // The handlers above need no runtime; a Prober still wants a CRI client.
  auto cri = runtime::CriClient::connect("unix:///nonexistent/cri.sock", 1s);
  ASSERT_TRUE(cri.ok());
  Prober prober(**cri);
  json container = {{"name", "app"}};
  ProbeTarget target{kPod, container, "cid", "127.0.0.1"};
  auto failed = prober.probe(ProbeType::kLiveness, json{{"httpGet", action("/fail")}}, target);
  EXPECT_EQ(failed.success, false);
  ASSERT_TRUE(failed.event);
  EXPECT_EQ(failed.event->message, "Liveness probe failed: HTTP probe failed with statuscode: 500");
  auto warned = prober.probe(ProbeType::kReadiness, json{{"httpGet", action("/other-host")}}, target);
  EXPECT_EQ(warned.success, true) << "a redirect elsewhere counts as a success";
  ASSERT_TRUE(warned.event);
  EXPECT_EQ(warned.event->reason, "ProbeWarning");
  EXPECT_EQ(warned.event->message, "Readiness probe warning: Probe terminated redirects, Response body: moved away");
}

}  // namespace
}  // namespace cubelet::prober
