// TokenManager: the refresh rule as a table, and get() against an in-process fake apiserver
// that serves TokenRequests (request path and body, caching, refresh, failures).
#include "kubelet/volume/token_manager.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "kubelet/objects/timefmt.h"

namespace cubelet::volume {
namespace {

using namespace std::chrono_literals;
using api::json;
using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point kT0 = *objects::parseTime("2026-03-01T10:00:00Z");

Token tokenIssuedAt(system_clock::time_point iat, int64_t expirationSeconds) {
  Token t;
  t.token = "t";
  t.issued = iat;
  t.expiration = iat + seconds(expirationSeconds);
  return t;
}

// ---- requiresRefresh ----

struct RefreshCase {
  const char* name;
  int64_t expirationSeconds;
  seconds age;  // now - iat
  int jitter;
  bool want;
};

TEST(RequiresRefreshTest, Table) {
  const RefreshCase cases[] = {
      // 3607 s: 80% is 2886 s (3607 - 721, 20% rounded down).
      {"79% jitter 0", 3607, seconds(2849), 0, false},
      {"81% jitter 0", 3607, seconds(2922), 0, true},
      {"79% jitter 9", 3607, seconds(2849), 9, false},
      {"81% jitter 9", 3607, seconds(2922), 9, true},
      {"at 80% exactly, jitter 0", 3607, seconds(2886), 0, false},
      {"one second past 80%, jitter 0", 3607, seconds(2887), 0, true},
      {"jitter 9 moves the boundary 9 s earlier: at it", 3607, seconds(2877), 9, false},
      {"jitter 9 moves the boundary 9 s earlier: past it", 3607, seconds(2878), 9, true},
      {"fresh", 3607, seconds(0), 0, false},
      {"expired", 3607, seconds(4000), 0, true},
      // 600 s, the minimum: refresh after 480 s.
      {"600 s at 480", 600, seconds(480), 0, false},
      {"600 s at 481", 600, seconds(481), 0, true},
      // A one-year token refreshes after 24 h.
      {"1 year, 23 h old", 365 * 86400, 23h, 0, false},
      {"1 year, 25 h old", 365 * 86400, 25h, 0, true},
      {"1 year, exactly 24 h old", 365 * 86400, 24h, 0, false},
      {"1 year, 24 h + 1 s old", 365 * 86400, 24h + 1s, 0, true},
      {"1 year, 24 h - 9 s old, jitter 9", 365 * 86400, 24h - 9s, 9, false},
      {"1 year, 24 h - 8 s old, jitter 9", 365 * 86400, 24h - 8s, 9, true},
      // 48 h: the 24 h rule comes before 80% (38.4 h).
      {"48 h at 24 h + 1 s", 48 * 3600, 24h + 1s, 0, true},
      // The clock moved back before iat.
      {"now before iat", 3607, seconds(-1), 0, true},
  };
  for (const auto& c : cases) {
    Token t = tokenIssuedAt(kT0, c.expirationSeconds);
    EXPECT_EQ(TokenManager::requiresRefresh(t, c.expirationSeconds, kT0 + c.age, c.jitter), c.want) << c.name;
  }
}

TEST(RequiresRefreshTest, IatComesFromRequestedDurationNotTokenIssued) {
  // The apiserver may issue a longer token than requested; iat is exp - requested seconds.
  Token t;
  t.token = "t";
  t.expiration = kT0 + seconds(3607);
  t.issued = kT0 - 1000h;  // ignored
  EXPECT_FALSE(TokenManager::requiresRefresh(t, 3607, kT0 + 10s, 0));
}

// ---- a fake apiserver for TokenRequests ----

struct Received {
  std::string path;
  json body;
};

class FakeTokenApiserver {
 public:
  explicit FakeTokenApiserver(std::function<system_clock::time_point()> now) : now_(std::move(now)) {
    srv_.Post(R"(/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token)",
              [this](const httplib::Request& req, httplib::Response& res) {
                std::lock_guard<std::mutex> l(mu_);
                json body = json::parse(req.body, nullptr, false);
                received_.push_back({req.path, body});
                if (failStatus_ != 0 && failTimes_ != 0) {
                  if (failTimes_ > 0) --failTimes_;
                  res.status = failStatus_;
                  res.set_content(json{{"kind", "Status"}, {"status", "Failure"}, {"message", failMessage_},
                                       {"reason", failStatus_ == 403   ? "Forbidden"
                                                  : failStatus_ == 404 ? "NotFound"
                                                                       : "ServiceUnavailable"},
                                       {"code", failStatus_}}
                                      .dump(),
                                  "application/json");
                  return;
                }
                if (!override_.is_null()) {
                  res.status = 201;
                  res.set_content(override_.dump(), "application/json");
                  return;
                }
                int64_t exp = body["spec"].value("expirationSeconds", int64_t{3600});
                std::string tok = "jwt-" + std::to_string(++issued_);
                body["status"] = {{"token", tok},
                                  {"expirationTimestamp", objects::formatTime(now_() + seconds(exp))}};
                res.status = 201;
                res.set_content(body.dump(), "application/json");
              });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~FakeTokenApiserver() {
    srv_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }
  // Answers the next `times` requests (every one: -1) with `status`.
  void fail(int status, std::string message, int times = -1) {
    std::lock_guard<std::mutex> l(mu_);
    failStatus_ = status;
    failMessage_ = std::move(message);
    failTimes_ = times;
  }
  // Answers every request with `resp` (201) instead of a token; null restores the default.
  void respondWith(json resp) {
    std::lock_guard<std::mutex> l(mu_);
    override_ = std::move(resp);
  }

 private:
  std::function<system_clock::time_point()> now_;
  json override_;
  std::mutex mu_;
  std::vector<Received> received_;
  int failStatus_ = 0;
  int failTimes_ = -1;
  std::string failMessage_;
  int issued_ = 0;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

class TokenManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::RestConfig rc;
    rc.server = fake_.url();
    client_ = std::move(*api::Client::create(rc));
    mgr_ = std::make_unique<TokenManager>(
        client_.get(), [this] { return now(); }, [this] { return jitter_.load(); });
  }
  system_clock::time_point now() {
    std::lock_guard<std::mutex> l(clockMu_);
    return now_;
  }
  void advance(system_clock::duration d) {
    std::lock_guard<std::mutex> l(clockMu_);
    now_ += d;
  }
  static TokenRequestSpec spec() {
    TokenRequestSpec s;
    s.ns = "team-a";
    s.serviceAccount = "builder";
    s.podName = "web-0";
    s.podUid = "uid-1";
    return s;
  }

  std::mutex clockMu_;
  system_clock::time_point now_ = kT0;
  std::atomic<int> jitter_{0};
  FakeTokenApiserver fake_{[this] { return now(); }};
  std::unique_ptr<api::Client> client_;
  std::unique_ptr<TokenManager> mgr_;
};

TEST_F(TokenManagerTest, RequestPathBodyAndResult) {
  auto tok = mgr_->get(spec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->token, "jwt-1");
  EXPECT_EQ(tok->expiration, kT0 + seconds(3607));
  EXPECT_EQ(tok->issued, kT0);

  auto got = fake_.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/api/v1/namespaces/team-a/serviceaccounts/builder/token");
  const json& b = got[0].body;
  EXPECT_EQ(b["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(b["kind"], "TokenRequest");
  EXPECT_EQ(b["spec"]["expirationSeconds"], 3607);
  EXPECT_EQ(b["spec"]["boundObjectRef"],
            (json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "web-0"}, {"uid", "uid-1"}}));
  // No audience in the projection: none in the request, the apiserver uses its own.
  EXPECT_TRUE(!b["spec"].contains("audiences") || b["spec"]["audiences"].empty()) << b.dump();
}

TEST_F(TokenManagerTest, AudienceAndExpirationAreSent) {
  auto s = spec();
  s.audience = "vault";
  s.expirationSeconds = 7200;
  auto tok = mgr_->get(s);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->expiration, kT0 + 2h);
  auto got = fake_.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body["spec"]["audiences"], json::array({"vault"}));
  EXPECT_EQ(got[0].body["spec"]["expirationSeconds"], 7200);
}

TEST_F(TokenManagerTest, CachedWithinLifetimeRefreshedPast80Percent) {
  ASSERT_TRUE(mgr_->get(spec()).ok());
  advance(seconds(2849));  // 79%
  auto again = mgr_->get(spec());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->token, "jwt-1");
  EXPECT_EQ(fake_.received().size(), 1u);

  advance(seconds(73));  // 81%
  auto fresh = mgr_->get(spec());
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->token, "jwt-2");
  EXPECT_EQ(fresh->expiration, kT0 + seconds(2922 + 3607));
  EXPECT_EQ(fake_.received().size(), 2u);

  // And the new one is cached again.
  EXPECT_EQ(mgr_->get(spec())->token, "jwt-2");
  EXPECT_EQ(fake_.received().size(), 2u);
}

TEST_F(TokenManagerTest, JitterRefreshesEarlier) {
  ASSERT_TRUE(mgr_->get(spec()).ok());
  advance(seconds(2880));  // 6 s before the 80% mark
  EXPECT_EQ(mgr_->get(spec())->token, "jwt-1");
  jitter_ = 9;
  EXPECT_EQ(mgr_->get(spec())->token, "jwt-2");
}

TEST_F(TokenManagerTest, RefreshFailureServesStillValidToken) {
  ASSERT_TRUE(mgr_->get(spec()).ok());
  advance(seconds(3000));  // past 80%, before expiry
  fake_.fail(503, "etcd is sad");
  auto tok = mgr_->get(spec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->token, "jwt-1");
  EXPECT_EQ(fake_.received().size(), 2u);

  // Each get() tries again; once the apiserver recovers, the new token replaces it.
  fake_.fail(0, "");
  auto fresh = mgr_->get(spec());
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->token, "jwt-2");
  EXPECT_EQ(fake_.received().size(), 3u);
}

TEST_F(TokenManagerTest, RefreshFailureAfterExpiryIsAnError) {
  ASSERT_TRUE(mgr_->get(spec()).ok());
  advance(seconds(3607));  // exactly at expiry: no longer valid
  fake_.fail(403, "node 'n1' cannot create tokens for this pod");
  auto tok = mgr_->get(spec());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(tok.status().message().find("expired and refresh failed"), std::string_view::npos) << tok.status();
  EXPECT_NE(tok.status().message().find("team-a/builder"), std::string_view::npos) << tok.status();
  EXPECT_NE(tok.status().message().find("web-0"), std::string_view::npos) << tok.status();
  EXPECT_NE(tok.status().message().find("cannot create tokens for this pod"), std::string_view::npos)
      << tok.status();
}

TEST_F(TokenManagerTest, FailureWithoutCachedTokenNamesServiceAccountAndPod) {
  fake_.fail(403, "node requested token not bound to a pod");
  auto tok = mgr_->get(spec());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kPermissionDenied);
  const std::string msg(tok.status().message());
  EXPECT_NE(msg.find("failed to fetch token"), std::string::npos) << msg;
  EXPECT_NE(msg.find("service account \"team-a/builder\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("pod \"team-a/web-0\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("node requested token not bound to a pod"), std::string::npos) << msg;
}

constexpr char kNotLinked[] =
    "serviceaccounts \"builder\" is forbidden: User \"system:node:n1\" cannot create resource "
    "\"serviceaccounts/token\" in API group \"\" in the namespace \"team-a\": node: no relationship found "
    "between node 'n1' and this object";

TEST_F(TokenManagerTest, APodNotLinkedToTheNodeYetIsAskedForAgainShortly) {
  mgr_->setLinkRetries({1ms, 2ms, 4ms});
  fake_.fail(403, kNotLinked, 2);
  auto tok = mgr_->get(spec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->token, "jwt-1");
  EXPECT_EQ(fake_.received().size(), 3u);
  // NodeRestriction's pod cache not having the pod yet: the same.
  fake_.fail(404, "pod \"web-0\" not found", 1);
  mgr_->forgetPod("uid-1");
  ASSERT_TRUE(mgr_->get(spec()).ok());
  EXPECT_EQ(fake_.received().size(), 5u);
}

TEST_F(TokenManagerTest, ARefusalThatOutlastsTheShortRetriesIsReturned) {
  mgr_->setLinkRetries({1ms, 2ms, 4ms});
  fake_.fail(403, kNotLinked);
  auto tok = mgr_->get(spec());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(tok.status().message().find("no relationship found"), std::string_view::npos) << tok.status();
  EXPECT_EQ(fake_.received().size(), 4u) << "the first request and three more";
}

TEST_F(TokenManagerTest, OtherRefusalsAreNotAskedAgain) {
  mgr_->setLinkRetries({1ms, 2ms, 4ms});
  fake_.fail(403, "node requested token not bound to a pod");
  EXPECT_FALSE(mgr_->get(spec()).ok());
  EXPECT_EQ(fake_.received().size(), 1u);
  fake_.fail(404, "pods \"web-0\" not found");  // the pod itself is gone
  EXPECT_FALSE(mgr_->get(spec()).ok());
  EXPECT_EQ(fake_.received().size(), 2u);
  fake_.fail(503, "down");
  EXPECT_FALSE(mgr_->get(spec()).ok());
  EXPECT_EQ(fake_.received().size(), 3u);
}

TEST_F(TokenManagerTest, FailedFirstFetchCachesNothing) {
  fake_.fail(503, "down");
  EXPECT_FALSE(mgr_->get(spec()).ok());
  EXPECT_EQ(mgr_->cachedCount(), 0u);
  fake_.fail(0, "");
  EXPECT_EQ(mgr_->get(spec())->token, "jwt-1");
  EXPECT_EQ(mgr_->cachedCount(), 1u);
}

TEST_F(TokenManagerTest, MalformedResponsesAreErrors) {
  fake_.respondWith(json{{"kind", "TokenRequest"}, {"status", {{"expirationTimestamp", "2026-03-01T11:00:07Z"}}}});
  auto noToken = mgr_->get(spec());
  ASSERT_FALSE(noToken.ok());
  EXPECT_NE(noToken.status().message().find("status.token"), std::string_view::npos) << noToken.status();

  fake_.respondWith(json{{"kind", "TokenRequest"}, {"status", {{"token", "jwt-x"}}}});
  auto noExp = mgr_->get(spec());
  ASSERT_FALSE(noExp.ok());
  EXPECT_NE(noExp.status().message().find("expirationTimestamp"), std::string_view::npos) << noExp.status();

  fake_.respondWith(json{{"kind", "TokenRequest"}, {"status", {{"token", "jwt-x"}, {"expirationTimestamp", "soon"}}}});
  EXPECT_FALSE(mgr_->get(spec()).ok());
  EXPECT_EQ(mgr_->cachedCount(), 0u);
}

TEST_F(TokenManagerTest, ShortExpirationRejectedWithoutRequest) {
  auto s = spec();
  s.expirationSeconds = 599;
  auto tok = mgr_->get(s);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("expirationSeconds"), std::string_view::npos) << tok.status();
  EXPECT_NE(tok.status().message().find("may not specify a duration less than 10 minutes"), std::string_view::npos)
      << tok.status();
  s.expirationSeconds = (int64_t{1} << 32) + 1;
  EXPECT_EQ(mgr_->get(s).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fake_.received().empty());
  EXPECT_EQ(mgr_->cachedCount(), 0u);

  s.expirationSeconds = 600;  // the minimum is allowed
  EXPECT_TRUE(mgr_->get(s).ok());
}

TEST_F(TokenManagerTest, KeysSeparateAudiencesPodsAndDurations) {
  auto a = spec();
  auto b = spec();
  b.audience = "vault";
  auto c = spec();
  c.podName = "web-1";
  c.podUid = "uid-2";
  auto d = spec();
  d.expirationSeconds = 7200;
  auto e = spec();
  e.podUid = "uid-1b";  // same name, recreated pod
  EXPECT_EQ(mgr_->get(a)->token, "jwt-1");
  EXPECT_EQ(mgr_->get(b)->token, "jwt-2");
  EXPECT_EQ(mgr_->get(c)->token, "jwt-3");
  EXPECT_EQ(mgr_->get(d)->token, "jwt-4");
  EXPECT_EQ(mgr_->get(e)->token, "jwt-5");
  EXPECT_EQ(mgr_->get(a)->token, "jwt-1");
  EXPECT_EQ(mgr_->get(b)->token, "jwt-2");
  EXPECT_EQ(mgr_->get(c)->token, "jwt-3");
  EXPECT_EQ(fake_.received().size(), 5u);
  EXPECT_EQ(mgr_->cachedCount(), 5u);
}

TEST_F(TokenManagerTest, ForgetPodDropsItsEntries) {
  auto a = spec();
  auto b = spec();
  b.audience = "vault";
  auto other = spec();
  other.podName = "web-1";
  other.podUid = "uid-2";
  ASSERT_TRUE(mgr_->get(a).ok());
  ASSERT_TRUE(mgr_->get(b).ok());
  ASSERT_TRUE(mgr_->get(other).ok());
  EXPECT_EQ(mgr_->cachedCount(), 3u);

  mgr_->forgetPod("uid-1");
  EXPECT_EQ(mgr_->cachedCount(), 1u);
  EXPECT_EQ(mgr_->get(other)->token, "jwt-3");  // still cached
  EXPECT_EQ(mgr_->get(a)->token, "jwt-4");      // requested again
  EXPECT_EQ(fake_.received().size(), 4u);
}

TEST_F(TokenManagerTest, CleanupDropsExpiredEntries) {
  auto shortLived = spec();
  shortLived.expirationSeconds = 600;
  auto longLived = spec();
  longLived.expirationSeconds = 7200;
  ASSERT_TRUE(mgr_->get(shortLived).ok());
  ASSERT_TRUE(mgr_->get(longLived).ok());
  advance(599s);
  EXPECT_EQ(mgr_->cleanupExpired(), 0u);
  advance(1s);
  EXPECT_EQ(mgr_->cleanupExpired(), 1u);
  EXPECT_EQ(mgr_->cachedCount(), 1u);
}

TEST_F(TokenManagerTest, RunCleanupDropsExpiredEntriesPeriodically) {
  auto s = spec();
  s.expirationSeconds = 600;
  ASSERT_TRUE(mgr_->get(s).ok());
  advance(601s);
  std::jthread loop([this](std::stop_token st) { mgr_->runCleanup(st, 10ms); });
  bool dropped = false;
  for (int i = 0; i < 300 && !dropped; ++i) {
    dropped = mgr_->cachedCount() == 0;
    if (!dropped) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(dropped);
  loop.request_stop();
}

TEST_F(TokenManagerTest, ConcurrentGetsOfOneKeyMakeOneRequest) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto t = mgr_->get(spec());
      if (t.ok() && t->token == "jwt-1") ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(fake_.received().size(), 1u);
}

}  // namespace
}  // namespace cubelet::volume
