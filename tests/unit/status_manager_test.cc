// StatusManager against a fake apiserver: coalescing, change detection, UID preconditions,
// and the final delete.
#include "kubelet/pod/status_manager.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace cubelet::pod {
namespace {

using namespace std::chrono_literals;

class FakePods {
 public:
  FakePods() {
    srv_.Patch(R"(/api/v1/namespaces/([^/]+)/pods/([^/]+)/status)", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> l(mu_);
        patches_.push_back(json::parse(req.body));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delayMs_.load()));
      std::lock_guard<std::mutex> l(mu_);
      EXPECT_EQ(req.get_header_value("Content-Type"), "application/strategic-merge-patch+json");
      if (gone_) {
        res.status = 404;
        res.set_content(R"({"kind":"Status","reason":"NotFound","message":"pods \"p\" not found"})", "application/json");
        return;
      }
      res.set_content(R"({"kind":"Pod"})", "application/json");
    });
    srv_.Delete(R"(/api/v1/namespaces/([^/]+)/pods/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      deletes_.push_back(json::parse(req.body));
      res.set_content(R"({"kind":"Pod"})", "application/json");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~FakePods() {
    srv_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> patches() {
    std::lock_guard<std::mutex> l(mu_);
    return patches_;
  }
  std::vector<json> deletes() {
    std::lock_guard<std::mutex> l(mu_);
    return deletes_;
  }
  bool gone_ = false;
  std::atomic<int> delayMs_{0};  // each PATCH answers this late

 private:
  std::mutex mu_;
  std::vector<json> patches_, deletes_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

json pod(const std::string& uid) {
  return json{{"metadata", {{"name", "p"}, {"namespace", "ns"}, {"uid", uid}}}};
}

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 300; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class StatusManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::RestConfig rc;
    rc.server = fake_.url();
    client_ = std::move(*api::Client::create(rc));
    sm_ = std::make_unique<StatusManager>(client_.get());
  }
  void startSender() {
    thread_ = std::jthread([this](std::stop_token st) { sm_->run(st); });
  }
  FakePods fake_;
  std::unique_ptr<api::Client> client_;
  std::unique_ptr<StatusManager> sm_;
  std::jthread thread_;
};

TEST_F(StatusManagerTest, CoalescesAndSendsOnlyChanges) {
  sm_->setPodStatus(pod("u1"), {{"phase", "Pending"}});
  sm_->setPodStatus(pod("u1"), {{"phase", "Running"}});  // replaces the unsent one
  startSender();
  ASSERT_TRUE(eventually([&] { return sm_->flushed() && fake_.patches().size() == 1; }));
  auto p = fake_.patches()[0];
  EXPECT_EQ(p, statusPatch("u1", {{"phase", "Running"}}));
  EXPECT_EQ(p["metadata"]["uid"], "u1") << "the UID guards against a new pod with the same name";
  sm_->setPodStatus(pod("u1"), {{"phase", "Running"}});  // unchanged: nothing sent
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fake_.patches().size(), 1u);
  sm_->setPodStatus(pod("u1"), {{"phase", "Succeeded"}});
  ASSERT_TRUE(eventually([&] { return fake_.patches().size() == 2; }));
  EXPECT_EQ(sm_->podStatus("u1").value()["phase"], "Succeeded");
  EXPECT_EQ(sm_->podPhase("u1"), "Succeeded");
  EXPECT_FALSE(sm_->podPhase("unknown"));
}

TEST_F(StatusManagerTest, TellsEachAcknowledgedStatusWithTheTimeSinceItWasSet) {
  std::mutex mu;
  std::vector<std::pair<std::string, json>> sent;
  std::vector<std::chrono::steady_clock::duration> waits;
  sm_->setOnSent([&](const std::string& uid, const json& status, std::chrono::steady_clock::duration waited) {
    std::lock_guard lock(mu);
    sent.emplace_back(uid, status);
    waits.push_back(waited);
  });
  const auto before = std::chrono::steady_clock::now();
  sm_->setPodStatus(pod("u1"), {{"phase", "Pending"}});
  std::this_thread::sleep_for(30ms);  // queued before the sender runs
  sm_->setPodStatus(pod("u1"), {{"phase", "Running"}});
  startSender();
  ASSERT_TRUE(eventually([&] { return sm_->flushed() && fake_.patches().size() == 1; }));
  const auto bound = std::chrono::steady_clock::now() - before;
  std::lock_guard lock(mu);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first, "u1");
  EXPECT_EQ(sent[0].second, json({{"phase", "Running"}}));
  // Counted from the first status set since the last write, not from the newest one.
  EXPECT_GE(waits[0], 30ms);
  EXPECT_LE(waits[0], bound);
}

TEST_F(StatusManagerTest, SeveralSendersShareTheQueueButSendEachPodsStatusesInOrder) {
  fake_.delayMs_ = 300;  // long enough that a free sender always takes u2 first
  std::vector<std::jthread> senders;
  for (int i = 0; i < 3; ++i) senders.emplace_back([this](std::stop_token st) { sm_->run(st); });
  sm_->setPodStatus(pod("u1"), {{"phase", "Pending"}});
  ASSERT_TRUE(eventually([&] { return fake_.patches().size() == 1; }));  // u1's first is on the wire
  sm_->setPodStatus(pod("u1"), {{"phase", "Running"}});
  sm_->setPodStatus(pod("u2"), {{"phase", "Running"}});
  ASSERT_TRUE(eventually([&] { return sm_->flushed() && fake_.patches().size() == 3; }));
  auto p = fake_.patches();
  // u2 went out on another sender while u1's first status was still on the wire; u1's second
  // waited for its first.
  EXPECT_EQ(p[0], statusPatch("u1", {{"phase", "Pending"}}));
  EXPECT_EQ(p[1], statusPatch("u2", {{"phase", "Running"}}));
  EXPECT_EQ(p[2], statusPatch("u1", {{"phase", "Running"}}));
  for (auto& t : senders) t.request_stop();
}

TEST_F(StatusManagerTest, FinalDeleteWithGraceZeroAndUidPrecondition) {
  startSender();
  sm_->setPodStatus(pod("u2"), {{"phase", "Failed"}});
  sm_->requestDeletion(pod("u2"));
  ASSERT_TRUE(eventually([&] { return fake_.deletes().size() == 1; }));
  auto d = fake_.deletes()[0];
  EXPECT_EQ(d["gracePeriodSeconds"], 0);
  EXPECT_EQ(d["preconditions"]["uid"], "u2");
  ASSERT_EQ(fake_.patches().size(), 1u) << "the final status goes out before the delete";
  sm_->requestDeletion(pod("u2"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fake_.deletes().size(), 1u) << "deleted once";
}

TEST_F(StatusManagerTest, GonePodsAreDroppedNotRetried) {
  fake_.gone_ = true;
  startSender();
  sm_->setPodStatus(pod("u3"), {{"phase", "Running"}});
  ASSERT_TRUE(eventually([&] { return sm_->flushed() && fake_.patches().size() == 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(fake_.patches().size(), 1u);
}

TEST_F(StatusManagerTest, StaticPodStatusGoesToItsMirrorAndWaitsForOne) {
  json staticPod = pod("static-uid");
  staticPod["metadata"]["annotations"] = {{"kubernetes.io/config.source", "file"}};
  startSender();
  sm_->setPodStatus(staticPod, {{"phase", "Running"}});
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(fake_.patches().empty()) << "no mirror pod yet: nothing to patch";
  EXPECT_EQ(sm_->podStatus("static-uid").value()["phase"], "Running") << "kept for the next sync";
  json mirror = pod("mirror-1");
  sm_->setPodStatus(staticPod, {{"phase", "Running"}}, &mirror);
  ASSERT_TRUE(eventually([&] { return fake_.patches().size() == 1; }));
  EXPECT_EQ(fake_.patches()[0]["metadata"]["uid"], "mirror-1") << "the precondition is the mirror's UID";
  // A recreated mirror gets the same status again, under its own UID.
  json mirror2 = pod("mirror-2");
  sm_->setPodStatus(staticPod, {{"phase", "Running"}}, &mirror2);
  ASSERT_TRUE(eventually([&] { return fake_.patches().size() == 2; }));
  EXPECT_EQ(fake_.patches()[1]["metadata"]["uid"], "mirror-2");
}

TEST(StatusManagerStandaloneTest, KeepsStatusesWithoutAnApiserver) {
  StatusManager sm(nullptr);
  sm.setPodStatus(pod("u"), {{"phase", "Running"}});
  sm.requestDeletion(pod("u"));
  EXPECT_TRUE(sm.flushed()) << "nothing is queued for sending";
  EXPECT_EQ(sm.podStatus("u").value()["phase"], "Running");
}

}  // namespace
}  // namespace cubelet::pod
