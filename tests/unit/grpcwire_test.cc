// grpcwire against a real gRPC server (grpc++), on a unix socket: big messages both ways
// (HTTP/2 flow control), status codes and percent-encoded messages, deadlines sent and
// enforced, streams, cancellation, connection reuse across a server restart, and bad targets.
#include "grpcwire/channel.h"

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "cri-api/api.grpc.pb.h"

namespace cubelet::grpcwire {
namespace {

using namespace std::chrono_literals;
namespace v1 = ::runtime::v1;

constexpr char kVersion[] = "/runtime.v1.RuntimeService/Version";
constexpr char kEvents[] = "/runtime.v1.RuntimeService/GetContainerEvents";

// Version echoes its request (or sleeps, or fails, as the request asks); GetContainerEvents
// sends `events` events and then waits until the client goes away.
class Service final : public v1::RuntimeService::Service {
 public:
  grpc::Status Version(grpc::ServerContext* ctx, const v1::VersionRequest* req, v1::VersionResponse* resp) override {
    calls++;
    lastDeadlineLeft = ctx->deadline() - std::chrono::system_clock::now();
    const std::string& v = req->version();
    if (v == "slow") {
      for (int i = 0; i < 300 && !ctx->IsCancelled(); ++i) std::this_thread::sleep_for(10ms);
      return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
    }
    if (v == "fail") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such thing: 100% sure, ünïcode\nsecond line");
    resp->set_runtime_version(v);
    resp->set_runtime_name("echo");
    return grpc::Status::OK;
  }

  grpc::Status GetContainerEvents(grpc::ServerContext* ctx, const v1::GetEventsRequest*,
                                  grpc::ServerWriter<v1::ContainerEventResponse>* writer) override {
    for (int i = 0; i < events; ++i) {
      v1::ContainerEventResponse ev;
      ev.set_container_id("c" + std::to_string(i));
      if (!writer->Write(ev)) return grpc::Status::CANCELLED;
    }
    if (endAfterEvents) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "runtime stopping");
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(5ms);
    return grpc::Status::CANCELLED;
  }

  std::atomic<int> calls{0};
  std::chrono::system_clock::duration lastDeadlineLeft{};
  int events = 0;
  bool endAfterEvents = false;
};

class GrpcWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("grpcwire-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    socket_ = (dir_ / "s.sock").string();
    startServer();
  }
  void TearDown() override {
    stopServer();
    std::filesystem::remove_all(dir_);
  }
  void startServer() {
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    b.RegisterService(&service_);
    b.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    b.SetMaxSendMessageSize(64 * 1024 * 1024);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_);
  }
  void stopServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 1s);
    server_.reset();
  }
  std::shared_ptr<Channel> channel() {
    auto c = Channel::create("unix://" + socket_);
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  }
  static std::string versionRequest(const std::string& v) {
    v1::VersionRequest req;
    req.set_version(v);
    return req.SerializeAsString();
  }
  static absl::StatusOr<std::string> echoed(Channel& c, const std::string& v,
                                            std::optional<Clock::time_point> deadline = std::nullopt) {
    auto answer = c.call(kVersion, versionRequest(v), deadline);
    if (!answer.ok()) return answer.status();
    v1::VersionResponse resp;
    if (!resp.ParseFromString(*answer)) return absl::InternalError("unparsable answer");
    return resp.runtime_version();
  }

  std::filesystem::path dir_;
  std::string socket_;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(GrpcWireTest, UnaryCallRoundTrip) {
  auto c = channel();
  auto v = echoed(*c, "hello");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "hello");
}

TEST_F(GrpcWireTest, MessagesLargerThanTheFlowControlWindowsGoBothWays) {
  auto c = channel();
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto v = echoed(*c, big);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, big);
}

TEST_F(GrpcWireTest, AnswersAboveTheReceiveLimitAreRefused) {
  ChannelOptions o;
  o.maxReceiveMessageSize = 1024;
  auto c = Channel::create("unix://" + socket_, o);
  ASSERT_TRUE(c.ok());
  auto v = echoed(**c, std::string(4096, 'y'));
  EXPECT_EQ(v.status().code(), absl::StatusCode::kResourceExhausted) << v.status();
  auto small = echoed(**c, "fits");
  ASSERT_TRUE(small.ok()) << "the channel still works: " << small.status();
}

TEST_F(GrpcWireTest, ServerErrorsKeepTheirCodeAndDecodedMessage) {
  auto c = channel();
  auto v = echoed(*c, "fail");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(), "no such thing: 100% sure, ünïcode\nsecond line");
}

TEST_F(GrpcWireTest, UnknownMethodIsUnimplemented) {
  auto c = channel();
  auto r = c->call("/runtime.v1.RuntimeService/NoSuchMethod", "", std::nullopt);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
}

TEST_F(GrpcWireTest, TheDeadlineReachesTheServerAndEndsTheCall) {
  auto c = channel();
  ASSERT_TRUE(echoed(*c, "x", Clock::now() + 30s).ok());
  EXPECT_GT(service_.lastDeadlineLeft, 25s) << "grpc-timeout tells the server the time left";
  EXPECT_LE(service_.lastDeadlineLeft, 31s);
  auto start = Clock::now();
  auto v = echoed(*c, "slow", Clock::now() + 200ms);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded) << v.status();
  EXPECT_LT(Clock::now() - start, 2500ms) << "the call ends at its deadline, not when the server gives up";
  auto after = echoed(*c, "after");
  ASSERT_TRUE(after.ok()) << after.status();
}

TEST_F(GrpcWireTest, ManyThreadsCallAtOnce) {
  auto c = channel();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string v = std::to_string(t) + "/" + std::to_string(i);
        auto got = echoed(*c, v);
        if (got.ok() && *got == v) ok++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 8 * 40);
}

TEST_F(GrpcWireTest, AServerRestartCostsNoFailedCall) {
  auto c = channel();
  ASSERT_TRUE(echoed(*c, "before").ok());
  stopServer();
  auto down = echoed(*c, "down");
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_NE(std::string(down.status().message()).find(socket_), std::string::npos)
      << "the error names the socket: " << down.status();
  startServer();
  auto v = echoed(*c, "after");
  ASSERT_TRUE(v.ok()) << "a connection the old server closed is not reused: " << v.status();
  EXPECT_EQ(*v, "after");
}

int openSockets() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().rfind("socket:", 0) == 0) n++;
  }
  return n;
}

TEST_F(GrpcWireTest, IdleConnectionsAreReused) {
  auto c = channel();
  ASSERT_TRUE(echoed(*c, "first").ok());
  std::this_thread::sleep_for(50ms);  // the server has accepted it
  const int after1 = openSockets();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(echoed(*c, "x").ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(openSockets(), after1) << "ten more calls on the idle connection open no socket";
}

TEST_F(GrpcWireTest, StreamDeliversEveryMessageInOrderAndStopsOnRequest) {
  service_.events = 200;
  auto c = channel();
  std::stop_source stop;
  std::vector<std::string> got;
  bool started = false;
  std::thread stopper;
  absl::Status st = c->stream(
      kEvents, "", stop.get_token(),
      [&](std::string m) {
        v1::ContainerEventResponse ev;
        if (!ev.ParseFromString(m)) return absl::InternalError("bad event");
        got.push_back(ev.container_id());
        if (got.size() == 200) stopper = std::thread([&] { stop.request_stop(); });
        return absl::OkStatus();
      },
      [&] { started = true; });
  if (stopper.joinable()) stopper.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(started);
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], "c" + std::to_string(i));
}

TEST_F(GrpcWireTest, StreamEndedByTheServerReturnsItsStatus) {
  service_.events = 3;
  service_.endAfterEvents = true;
  auto c = channel();
  int n = 0;
  absl::Status st = c->stream(
      kEvents, "", std::stop_token(), [&](std::string) { n++; return absl::OkStatus(); }, nullptr);
  EXPECT_EQ(n, 3);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(st.message(), "runtime stopping");
}

TEST_F(GrpcWireTest, CancelAllEndsACallInFlightAndRefusesNewOnes) {
  auto c = channel();
  std::thread canceller([&] {
    std::this_thread::sleep_for(150ms);
    c->cancelAll();
  });
  auto v = echoed(*c, "slow");
  canceller.join();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kCancelled) << v.status();
  EXPECT_EQ(echoed(*c, "later").status().code(), absl::StatusCode::kCancelled);
}

TEST_F(GrpcWireTest, ConnectWaitsForAServerUntilTheDeadline) {
  stopServer();
  auto c = channel();
  auto st = c->connect(Clock::now() + 300ms);
  EXPECT_FALSE(st.ok());
  std::thread later([&] {
    std::this_thread::sleep_for(300ms);
    startServer();
  });
  st = c->connect(Clock::now() + 10s);
  later.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(echoed(*c, "up").ok());
}

TEST(GrpcWireTargetTest, TargetsAreCheckedUpFront) {
  EXPECT_TRUE(Channel::create("unix:///run/x.sock").ok());
  EXPECT_TRUE(Channel::create("unix:/run/x.sock").ok());
  EXPECT_TRUE(Channel::create("10.0.0.1:9090").ok());
  EXPECT_TRUE(Channel::create("[fd00::1]:9090").ok());
  EXPECT_EQ(Channel::create("unix://relative").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Channel::create("no-port").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Channel::create(":80").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Channel::create("unix:///" + std::string(200, 'a')).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GrpcWireTargetTest, NothingListeningIsUnavailable) {
  auto c = Channel::create("unix:///nonexistent/dir/runtime.sock");
  ASSERT_TRUE(c.ok());
  auto r = (*c)->call(kVersion, "", std::nullopt);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(r.status().message()).find("/nonexistent/dir/runtime.sock"), std::string::npos) << r.status();
}

TEST(GrpcWireFormatTest, PercentDecoding) {
  EXPECT_EQ(percentDecode("a%20b%25c%0A"), "a b%c\n");
  EXPECT_EQ(percentDecode("100%"), "100%");
  EXPECT_EQ(percentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(percentDecode("%C3%BC"), "ü");
}

TEST(GrpcWireFormatTest, TimeoutHeaderUsesTheFinestUnitThatFits) {
  EXPECT_EQ(timeoutHeader(std::chrono::nanoseconds(500)), "500n");
  EXPECT_EQ(timeoutHeader(2s), "2000000u");
  EXPECT_EQ(timeoutHeader(std::chrono::seconds(200)), "200000m");
  EXPECT_EQ(timeoutHeader(std::chrono::hours(48)), "172800S");
  EXPECT_EQ(timeoutHeader(std::chrono::nanoseconds(0)), "1n");
  EXPECT_EQ(timeoutHeader(std::chrono::nanoseconds(1500)), "1500n");
}

}  // namespace
}  // namespace cubelet::grpcwire
