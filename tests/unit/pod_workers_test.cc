#include "kubelet/pod/pod_workers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace cubelet::pod {
namespace {

using namespace std::chrono_literals;

// Records calls; a sync can be held open until released to observe queuing behaviour.
class RecordingSyncer : public PodSyncer {
 public:
  SyncResult syncPod(const json& pod) override {
    enter();
    std::unique_lock<std::mutex> lock(mu_);
    calls_.push_back("sync:" + pod.value("v", std::string()));
    cv_.wait(lock, [this] { return !hold_; });
    leave();
    return {failSyncs_ > 0 ? (failSyncs_--, absl::UnavailableError("boom")) : absl::OkStatus(), requeue_};
  }
  absl::Status killPod(const json& pod, std::optional<int64_t> grace) override {
    enter();
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("kill:" + pod.value("v", std::string()) + ":" + (grace ? std::to_string(*grace) : "-"));
    leave();
    return absl::OkStatus();
  }
  void hold(bool h) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = h;
    }
    cv_.notify_all();
  }
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int maxConcurrent() const { return maxConcurrent_; }
  int failSyncs_ = 0;
  std::optional<std::chrono::milliseconds> requeue_;

 private:
  void enter() {
    int n = ++inFlight_;
    int m = maxConcurrent_;
    while (n > m && !maxConcurrent_.compare_exchange_weak(m, n)) {
    }
  }
  void leave() { --inFlight_; }
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  std::vector<std::string> calls_;
  std::atomic<int> inFlight_{0};
  std::atomic<int> maxConcurrent_{0};
};

PodPtr pod(const std::string& v) { return sharePod(json{{"v", v}}); }

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 3000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

TEST(PodWorkersTest, NewestPendingUpdateWinsWhileASyncRuns) {
  RecordingSyncer s;
  PodWorkers w(s, 2, 1h);
  w.start();
  s.hold(true);
  w.update("a", {WorkType::kSync, pod("1"), {}});
  ASSERT_TRUE(eventually([&] { return s.calls().size() == 1; }));
  w.update("a", {WorkType::kSync, pod("2"), {}});
  w.update("a", {WorkType::kSync, pod("3"), {}});
  s.hold(false);
  ASSERT_TRUE(eventually([&] { return w.isIdle(); }));
  EXPECT_EQ(s.calls(), (std::vector<std::string>{"sync:1", "sync:3"}));
}

TEST(PodWorkersTest, OneLanePerPodRunsSerially) {
  RecordingSyncer s;
  PodWorkers w(s, 4, 1h);
  w.start();
  for (int i = 0; i < 50; ++i) w.update("same", {WorkType::kSync, pod(std::to_string(i)), {}});
  ASSERT_TRUE(eventually([&] { return w.isIdle(); }));
  EXPECT_EQ(s.maxConcurrent(), 1);
  EXPECT_EQ(s.calls().back(), "sync:49");
}

TEST(PodWorkersTest, DifferentPodsRunInParallel) {
  RecordingSyncer s;
  PodWorkers w(s, 3, 1h);
  w.start();
  s.hold(true);
  w.update("a", {WorkType::kSync, pod("a"), {}});
  w.update("b", {WorkType::kSync, pod("b"), {}});
  w.update("c", {WorkType::kSync, pod("c"), {}});
  EXPECT_TRUE(eventually([&] { return s.calls().size() == 3; }));
  s.hold(false);
  ASSERT_TRUE(eventually([&] { return w.isIdle(); }));
  EXPECT_EQ(s.maxConcurrent(), 3);
}

TEST(PodWorkersTest, PendingKillIsNeverOverwrittenAndKilledPodsStayKilled) {
  RecordingSyncer s;
  PodWorkers w(s, 1, 1h);
  w.start();
  s.hold(true);
  w.update("a", {WorkType::kSync, pod("1"), {}});
  ASSERT_TRUE(eventually([&] { return s.calls().size() == 1; }));
  w.update("a", {WorkType::kKill, pod("2"), 30});
  w.update("a", {WorkType::kSync, pod("3"), {}});   // must not replace the kill
  w.update("a", {WorkType::kKill, pod("4"), 5});    // a shorter grace wins
  w.update("a", {WorkType::kKill, pod("5"), 60});   // a longer one does not
  s.hold(false);
  ASSERT_TRUE(eventually([&] { return w.isIdle(); }));
  EXPECT_EQ(s.calls(), (std::vector<std::string>{"sync:1", "kill:5:5"}));
  EXPECT_TRUE(w.isKilled("a"));
  w.update("a", {WorkType::kSync, pod("6"), {}});
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(s.calls().size(), 2u) << "a killed pod is not started again";
  w.forget("a");
  w.update("a", {WorkType::kSync, pod("7"), {}});
  ASSERT_TRUE(eventually([&] { return s.calls().size() == 3; }));
}

TEST(PodWorkersTest, FailedSyncsAreRetriedAndResyncsHappen) {
  RecordingSyncer s;
  s.failSyncs_ = 1;
  PodWorkers w(s, 1, 100ms);
  w.start();
  w.update("a", {WorkType::kSync, pod("x"), {}});
  // First attempt fails, the retry (after ~1s back-off) succeeds, then resyncs every 100ms.
  ASSERT_TRUE(eventually([&] { return s.calls().size() >= 4; }, 5000ms));
  for (const auto& c : s.calls()) EXPECT_EQ(c, "sync:x");
}

TEST(PodWorkersTest, RequeueAfterIsHonoured) {
  RecordingSyncer s;
  s.requeue_ = 50ms;
  PodWorkers w(s, 1, 1h);
  w.start();
  w.update("a", {WorkType::kSync, pod("x"), {}});
  EXPECT_TRUE(eventually([&] { return s.calls().size() >= 3; }, 2000ms));
}

}  // namespace
}  // namespace cubelet::pod
