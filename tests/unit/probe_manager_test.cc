// ProbeManager: the worker semantics of the upstream kubelet (initial results, initial delay,
// period, thresholds, startup gating, holding after a liveness failure until the container
// is replaced, no probes for containers that do not run, pod removal) on one scheduler
// thread and a small pool, with a scripted prober whose calls the tests can hold and
// release one at a time; then the real prober through the fake CRI runtime, with the events
// it records.
#include "kubelet/prober/probe_manager.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/fakes/fake_container.h"
#include "tests/fakes/fake_cri.h"
#include "tests/fakes/recording_events.h"

namespace cubelet::prober {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

int64_t nanosAgo(std::chrono::milliseconds ago) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             (std::chrono::system_clock::now() - ago).time_since_epoch())
      .count();
}

// A prober whose answers the test scripts per (container id, probe type). With gate() on,
// each call waits until the test releases it, so the test can look at the manager between
// two runs: once call k+1 has started, the result of call k has been applied.
class ScriptedRunner : public ProbeRunner {
 public:
  using Script = std::function<ProbeRun(int call)>;  // call: 0, 1, 2 ... for that key

  ProbeRun probe(ProbeType type, const json&, const ProbeTarget& target) override {
    std::unique_lock<std::mutex> lock(mu_);
    const Key key{target.containerId, type};
    const int n = counts_[key]++;
    calls_.push_back({target.containerId, type, Clock::now(), target.podIp});
    ++active_;
    maxActive_ = std::max(maxActive_, active_);
    cv_.notify_all();
    cv_.wait(lock, [&] { return !gated_ || permits_ > 0; });
    if (gated_) --permits_;
    Script script = scripts_.count(key) ? scripts_[key] : Script();
    auto delay = delay_;
    lock.unlock();
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    ProbeRun run = script ? script(n) : ProbeRun{true, std::nullopt};
    lock.lock();
    --active_;
    return run;
  }

  void script(const std::string& id, ProbeType type, Script s) {
    std::lock_guard<std::mutex> l(mu_);
    scripts_[{id, type}] = std::move(s);
  }
  void gate() {
    std::lock_guard<std::mutex> l(mu_);
    gated_ = true;
  }
  void open() {
    std::lock_guard<std::mutex> l(mu_);
    gated_ = false;
    cv_.notify_all();
  }
  void release(int n = 1) {
    std::lock_guard<std::mutex> l(mu_);
    permits_ += n;
    cv_.notify_all();
  }
  void setDelay(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    delay_ = d;
  }
  int calls(const std::string& id, ProbeType type) {
    std::lock_guard<std::mutex> l(mu_);
    return counts_[{id, type}];
  }
  bool waitCalls(const std::string& id, ProbeType type, int n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, limit, [&] { return counts_[{id, type}] >= n; });
  }
  struct Call {
    std::string id;
    ProbeType type;
    Clock::time_point at;
    std::string podIp;
  };
  std::vector<Call> allCalls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  int maxActive() {
    std::lock_guard<std::mutex> l(mu_);
    return maxActive_;
  }

 private:
  using Key = std::pair<std::string, ProbeType>;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, int> counts_;
  std::map<Key, Script> scripts_;
  std::vector<Call> calls_;
  bool gated_ = false;
  int permits_ = 0;
  int active_ = 0, maxActive_ = 0;
  std::chrono::milliseconds delay_{0};
};

ProbeRun succeed(int) { return {true, std::nullopt}; }
ProbeRun fail(int) { return {false, ProbeEvent{"Warning", "Unhealthy", "probe failed: nope"}}; }

json podWith(const json& containers, const std::string& uid = "uid-1") {
  return json{{"metadata", {{"name", "web"}, {"namespace", "default"}, {"uid", uid}}},
              {"spec", {{"containers", containers}}}};
}

json execProbe(int period, json extra = json::object()) {
  json p = {{"exec", {{"command", {"check"}}}}, {"periodSeconds", period}};
  p.update(extra);
  return p;
}

class ProbeManagerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    runner_.open();
    if (manager_) manager_->stop();
    manager_.reset();
  }
  // One "second" of probe timing is `second` here.
  void makeManager(std::chrono::milliseconds second = 40ms, int threads = 4) {
    ProbeManagerOptions o;
    o.workerThreads = threads;
    o.startupJitter = false;
    o.second = second;
    o.onChange = [this](const std::string& uid) {
      std::lock_guard<std::mutex> l(changesMu_);
      changes_.push_back(uid);
    };
    manager_ = std::make_unique<ProbeManager>(runner_, events_.recorder(), std::move(o));
  }
  size_t changes() {
    std::lock_guard<std::mutex> l(changesMu_);
    return changes_.size();
  }
  std::vector<std::string> changeList() {
    std::lock_guard<std::mutex> l(changesMu_);
    return changes_;
  }

  testing::RecordingEvents events_;
  ScriptedRunner runner_;
  std::unique_ptr<ProbeManager> manager_;
  std::mutex changesMu_;
  std::vector<std::string> changes_;
};

TEST_F(ProbeManagerTest, InitialResultsBeforeAnyProbe) {
  makeManager();
  json pod = podWith({{{"name", "app"},
                       {"livenessProbe", execProbe(1)},
                       {"readinessProbe", execProbe(1)},
                       {"startupProbe", execProbe(1)}},
                      {{"name", "plain"}}});
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}, {"plain", "c2", nanosAgo(0ms)}});
  EXPECT_EQ(manager_->workerCount(), 3u) << "one worker per probe of a running container";
  EXPECT_EQ(manager_->ready("c1"), false) << "readiness starts as Failure";
  EXPECT_EQ(manager_->started("c1"), false) << "startup starts as Unknown: not started";
  EXPECT_FALSE(manager_->failed("c1")) << "liveness starts as Success";
  EXPECT_FALSE(manager_->ready("c2")) << "no probe, no result";
  EXPECT_FALSE(manager_->started("c2"));
  EXPECT_EQ(runner_.allCalls().size(), 0u) << "nothing runs before start()";
  EXPECT_EQ(changes(), 0u);
}

TEST_F(ProbeManagerTest, ReadinessFollowsTheThresholds) {
  makeManager();
  runner_.gate();
  json pod = podWith({{{"name", "app"},
                       {"readinessProbe", execProbe(1, {{"successThreshold", 2}, {"failureThreshold", 2}})}}});
  runner_.script("c1", ProbeType::kReadiness, [](int n) { return ProbeRun{n < 2 || n >= 4, std::nullopt}; });
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  const auto R = ProbeType::kReadiness;
  // Runs: S S F F S ...
  ASSERT_TRUE(runner_.waitCalls("c1", R, 1));
  runner_.release();
  ASSERT_TRUE(runner_.waitCalls("c1", R, 2));
  EXPECT_EQ(manager_->ready("c1"), false) << "one success is below successThreshold 2";
  runner_.release();
  ASSERT_TRUE(runner_.waitCalls("c1", R, 3));
  EXPECT_EQ(manager_->ready("c1"), true);
  EXPECT_EQ(changeList(), std::vector<std::string>{"uid-1"});
  runner_.release();
  ASSERT_TRUE(runner_.waitCalls("c1", R, 4));
  EXPECT_EQ(manager_->ready("c1"), true) << "one failure is below failureThreshold 2";
  runner_.release();
  ASSERT_TRUE(runner_.waitCalls("c1", R, 5));
  EXPECT_EQ(manager_->ready("c1"), false);
  EXPECT_EQ(changes(), 2u);
  runner_.release();
  ASSERT_TRUE(runner_.waitCalls("c1", R, 6));
  EXPECT_EQ(manager_->ready("c1"), false) << "one success after failures is not enough";
}

TEST_F(ProbeManagerTest, ProbesComeEveryPeriod) {
  makeManager(40ms);
  json pod = podWith({{{"name", "app"}, {"readinessProbe", execProbe(2)}}});
  const auto t0 = Clock::now();
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  ASSERT_TRUE(runner_.waitCalls("c1", ProbeType::kReadiness, 4));
  auto calls = runner_.allCalls();
  for (size_t i = 0; i < calls.size(); ++i) {
    // A fixed rate, as upstream's ticker: run i never before i periods (periodSeconds 2 =
    // 80 ms here) after the first was due; a late run does not push the later ones back.
    EXPECT_GE(calls[i].at - t0 + 2ms, static_cast<int>(i) * 80ms) << "run " << i;
  }
  EXPECT_EQ(calls[0].podIp, "10.0.0.5");
}

TEST_F(ProbeManagerTest, InitialDelayCountsFromTheContainerStart) {
  makeManager(50ms);
  json pod = podWith({{{"name", "old"}, {"livenessProbe", execProbe(100, {{"initialDelaySeconds", 4}})}},
                      {{"name", "new"}, {"livenessProbe", execProbe(100, {{"initialDelaySeconds", 4}})}}});
  manager_->start();
  const auto t0 = Clock::now();
  // "old" started 10 s (500 ms) ago: its delay is over; "new" starts now: 4 s = 200 ms to go.
  manager_->setRunning(pod, "10.0.0.5", {{"old", "c-old", nanosAgo(500ms)}, {"new", "c-new", nanosAgo(0ms)}});
  ASSERT_TRUE(runner_.waitCalls("c-old", ProbeType::kLiveness, 1));
  ASSERT_TRUE(runner_.waitCalls("c-new", ProbeType::kLiveness, 1));
  for (const auto& c : runner_.allCalls()) {
    if (c.id == "c-new") {
      EXPECT_GE(c.at - t0, 190ms) << "probed before initialDelaySeconds";
    }
  }
}

TEST_F(ProbeManagerTest, LivenessFailureHoldsUntilTheContainerIsReplaced) {
  makeManager(20ms);
  json pod = podWith(
      {{{"name", "app"}, {"livenessProbe", execProbe(1, {{"failureThreshold", 3}, {"terminationGracePeriodSeconds", 5}})}}});
  runner_.script("c1", ProbeType::kLiveness, fail);
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  ASSERT_TRUE(eventually([&] { return manager_->failed("c1").has_value(); }));
  auto f = manager_->failed("c1");
  EXPECT_EQ(f->probe, ProbeType::kLiveness);
  EXPECT_EQ(f->terminationGracePeriodSeconds, 5);
  EXPECT_EQ(runner_.calls("c1", ProbeType::kLiveness), 3) << "failureThreshold runs";
  EXPECT_EQ(changeList(), std::vector<std::string>{"uid-1"});
  std::this_thread::sleep_for(200ms);  // ten periods
  EXPECT_EQ(runner_.calls("c1", ProbeType::kLiveness), 3) << "held: no probes of a container that will be killed";

  // The container was replaced (restart): a new instance, fresh results, probing again.
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c2", nanosAgo(0ms)}});
  EXPECT_FALSE(manager_->failed("c1")) << "the old instance's results are gone";
  EXPECT_FALSE(manager_->failed("c2"));
  EXPECT_EQ(manager_->workerCount(), 1u);
  ASSERT_TRUE(runner_.waitCalls("c2", ProbeType::kLiveness, 2));
}

TEST_F(ProbeManagerTest, StartupProbeGatesLivenessAndReadiness) {
  makeManager(20ms);
  runner_.gate();
  json pod = podWith({{{"name", "app"},
                       {"startupProbe", execProbe(1, {{"failureThreshold", 10}})},
                       {"livenessProbe", execProbe(1)},
                       {"readinessProbe", execProbe(1)}}});
  runner_.script("c1", ProbeType::kStartup, [](int n) { return n < 2 ? fail(n) : succeed(n); });
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(runner_.waitCalls("c1", ProbeType::kStartup, i));
    EXPECT_EQ(manager_->started("c1"), false);
    EXPECT_EQ(manager_->ready("c1"), false) << "not ready while not started";
    runner_.release();
  }
  runner_.open();
  ASSERT_TRUE(eventually([&] { return manager_->started("c1") == true; }));
  EXPECT_FALSE(manager_->failed("c1")) << "startup failures below the threshold kill nothing";
  // Liveness and readiness had not run while the startup probe was going; now they do.
  ASSERT_TRUE(eventually([&] { return manager_->ready("c1") == true; }));
  ASSERT_TRUE(runner_.waitCalls("c1", ProbeType::kLiveness, 2));
  EXPECT_EQ(runner_.calls("c1", ProbeType::kStartup), 3) << "the startup probe stops once it succeeded";
  // Every liveness/readiness call came after the third startup call.
  Clock::time_point startupDone;
  for (const auto& c : runner_.allCalls())
    if (c.type == ProbeType::kStartup) startupDone = c.at;
  for (const auto& c : runner_.allCalls()) {
    if (c.type != ProbeType::kStartup) {
      EXPECT_GE(c.at, startupDone);
    }
  }
}

TEST_F(ProbeManagerTest, StartupFailureAtTheThresholdKillsAndHolds) {
  makeManager(20ms);
  json pod = podWith({{{"name", "app"},
                       {"startupProbe", execProbe(1, {{"failureThreshold", 2}})},
                       {"livenessProbe", execProbe(1, {{"terminationGracePeriodSeconds", 9}})}}});
  runner_.script("c1", ProbeType::kStartup, fail);
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  ASSERT_TRUE(eventually([&] { return manager_->failed("c1").has_value(); }));
  EXPECT_EQ(manager_->failed("c1")->probe, ProbeType::kStartup);
  EXPECT_FALSE(manager_->failed("c1")->terminationGracePeriodSeconds) << "the startup probe sets none";
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(runner_.calls("c1", ProbeType::kStartup), 2);
  EXPECT_EQ(runner_.calls("c1", ProbeType::kLiveness), 0) << "never started, never probed for liveness";
}

TEST_F(ProbeManagerTest, OnlyRunningContainersAreProbed) {
  makeManager(20ms);
  json pod = podWith({{{"name", "app"}, {"readinessProbe", execProbe(1)}},
                      {{"name", "waiting"}, {"readinessProbe", execProbe(1)}}});
  manager_->start();
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  EXPECT_EQ(manager_->workerCount(), 1u) << "no worker for a container that does not run";
  ASSERT_TRUE(runner_.waitCalls("c1", ProbeType::kReadiness, 2));
  ASSERT_TRUE(eventually([&] { return manager_->ready("c1") == true; }));
  // The container exited: its probes stop and its results go.
  manager_->setRunning(pod, "10.0.0.5", {});
  EXPECT_EQ(manager_->workerCount(), 0u);
  EXPECT_FALSE(manager_->ready("c1"));
  const int before = runner_.calls("c1", ProbeType::kReadiness);
  std::this_thread::sleep_for(150ms);
  EXPECT_LE(runner_.calls("c1", ProbeType::kReadiness), before + 1) << "at most the run that was in flight";
  for (const auto& c : runner_.allCalls()) EXPECT_EQ(c.id, "c1");
}

TEST_F(ProbeManagerTest, ErroredProbesCountNothingButAreReported) {
  makeManager(20ms);
  json pod = podWith({{{"name", "app"}, {"readinessProbe", execProbe(1)}}});
  runner_.script("c1", ProbeType::kReadiness, [](int) {
    return ProbeRun{std::nullopt, ProbeEvent{"Warning", "Unhealthy",
                                             "Readiness probe errored and resulted in unknown state: boom"}};
  });
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  ASSERT_TRUE(runner_.waitCalls("c1", ProbeType::kReadiness, 3));
  EXPECT_EQ(manager_->ready("c1"), false);
  EXPECT_EQ(changes(), 0u);
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : events_.apiserver().events())
      if (e.reason == "Unhealthy" && e.message.find("errored") != std::string::npos) return true;
    return false;
  }));
}

TEST_F(ProbeManagerTest, EventsNameTheContainer) {
  makeManager(20ms);
  json pod = podWith({{{"name", "app"}, {"livenessProbe", execProbe(1, {{"failureThreshold", 1}})}}});
  runner_.script("c1", ProbeType::kLiveness, [](int) {
    return ProbeRun{false, ProbeEvent{"Warning", "Unhealthy", "Liveness probe failed: it broke"}};
  });
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  ASSERT_TRUE(eventually([&] {
    for (const auto& e : events_.apiserver().events()) {
      if (e.reason == "Unhealthy") {
        EXPECT_EQ(e.type, "Warning");
        EXPECT_EQ(e.message, "Liveness probe failed: it broke");
        EXPECT_EQ(e.fieldPath, "spec.containers{app}");
        return true;
      }
    }
    return false;
  }));
}

TEST_F(ProbeManagerTest, RemovedPodDropsTheRunInFlight) {
  makeManager(20ms);
  runner_.gate();
  json pod = podWith({{{"name", "app"}, {"readinessProbe", execProbe(1)}}});
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  ASSERT_TRUE(runner_.waitCalls("c1", ProbeType::kReadiness, 1));
  manager_->removePod("uid-1");
  EXPECT_EQ(manager_->workerCount(), 0u);
  runner_.open();
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(manager_->ready("c1"));
  EXPECT_EQ(changes(), 0u) << "the success that came back belonged to nobody";
  EXPECT_EQ(runner_.calls("c1", ProbeType::kReadiness), 1);
}

TEST_F(ProbeManagerTest, DeletedPodGetsNoMoreLivenessProbes) {
  makeManager(20ms);
  json pod = podWith({{{"name", "app"}, {"livenessProbe", execProbe(1)}}});
  pod["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z";
  runner_.script("c1", ProbeType::kLiveness, fail);
  manager_->setRunning(pod, "10.0.0.5", {{"app", "c1", nanosAgo(0ms)}});
  manager_->start();
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(runner_.calls("c1", ProbeType::kLiveness), 0);
  EXPECT_FALSE(manager_->failed("c1"));
}

TEST_F(ProbeManagerTest, ManyProbesShareASmallPool) {
  makeManager(40ms, 4);
  runner_.setDelay(15ms);
  constexpr int kPods = 40;
  for (int i = 0; i < kPods; ++i) {
    json pod = podWith({{{"name", "app"}, {"readinessProbe", execProbe(1)}, {"livenessProbe", execProbe(1)}}},
                       "uid-" + std::to_string(i));
    manager_->setRunning(pod, "10.0.0." + std::to_string(i), {{"app", "c" + std::to_string(i), nanosAgo(0ms)}});
  }
  EXPECT_EQ(manager_->workerCount(), 2u * kPods);
  manager_->start();
  for (int i = 0; i < kPods; ++i) {
    ASSERT_TRUE(runner_.waitCalls("c" + std::to_string(i), ProbeType::kReadiness, 2)) << i;
    ASSERT_TRUE(runner_.waitCalls("c" + std::to_string(i), ProbeType::kLiveness, 2)) << i;
  }
  EXPECT_LE(runner_.maxActive(), 4) << "never more probes at once than pool threads";
  EXPECT_GE(runner_.maxActive(), 2) << "the pool runs probes side by side";
  ASSERT_TRUE(eventually([&] {
    for (int i = 0; i < kPods; ++i)
      if (manager_->ready("c" + std::to_string(i)) != true) return false;
    return true;
  }));
  std::set<std::string> changed;
  for (const auto& u : changeList()) changed.insert(u);
  EXPECT_EQ(changed.size(), static_cast<size_t>(kPods)) << "each pod told once its container became ready";
}

// ------------------------------------------------------------------ with the real prober

class RealProberTest : public ProbeManagerTest {
 protected:
  void SetUp() override {
    ProbeManagerTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() / ("probe-mgr-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto cri = runtime::CriClient::connect(server_->endpoint(), 5s);
    ASSERT_TRUE(cri.ok()) << cri.status();
    cri_ = std::move(*cri);
    auto id = testing::startFakeContainer(*cri_, server_->service(), "uid-1");
    ASSERT_TRUE(id.ok()) << id.status();
    id_ = *id;
    prober_ = std::make_unique<Prober>(*cri_);
    ProbeManagerOptions o;
    o.startupJitter = false;
    o.second = 50ms;
    o.onChange = [this](const std::string& uid) {
      std::lock_guard<std::mutex> l(changesMu_);
      changes_.push_back(uid);
    };
    manager_ = std::make_unique<ProbeManager>(*prober_, events_.recorder(), std::move(o));
  }
  void TearDown() override {
    ProbeManagerTest::TearDown();
    cri_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<runtime::CriClient> cri_;
  std::unique_ptr<Prober> prober_;
  std::string id_;
};

TEST_F(RealProberTest, ExecReadinessFlipsAndLivenessFailureIsReported) {
  std::atomic<bool> fileThere{false};
  std::atomic<bool> alive{true};
  server_->service().setExecHandler([&](const testing::FakeContainer&, const std::vector<std::string>& cmd) {
    runtime::v1::ExecSyncResponse r;
    bool ok = cmd.back() == "/tmp/ready" ? fileThere.load() : alive.load();
    r.set_exit_code(ok ? 0 : 1);
    if (!ok) r.set_stderr(cmd.back() + ": No such file or directory\n");
    return r;
  });
  json pod = podWith({{{"name", "app"},
                       {"readinessProbe", {{"exec", {{"command", {"cat", "/tmp/ready"}}}}, {"periodSeconds", 1},
                                           {"failureThreshold", 1}}},
                       {"livenessProbe", {{"exec", {{"command", {"cat", "/tmp/alive"}}}}, {"periodSeconds", 1},
                                          {"failureThreshold", 2}}}}});
  manager_->setRunning(pod, "10.88.0.2", {{"app", id_, nanosAgo(0ms)}});
  manager_->start();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(manager_->ready(id_), false);
  fileThere = true;
  ASSERT_TRUE(eventually([&] { return manager_->ready(id_) == true; }));
  fileThere = false;
  ASSERT_TRUE(eventually([&] { return manager_->ready(id_) == false; }));
  alive = false;
  ASSERT_TRUE(eventually([&] { return manager_->failed(id_).has_value(); }));
  ASSERT_TRUE(eventually([&] {
    bool readiness = false, liveness = false;
    for (const auto& e : events_.apiserver().events()) {
      if (e.reason != "Unhealthy" || e.fieldPath != "spec.containers{app}") continue;
      readiness = readiness || e.message == "Readiness probe failed: /tmp/ready: No such file or directory\n";
      liveness = liveness || e.message == "Liveness probe failed: /tmp/alive: No such file or directory\n";
    }
    return readiness && liveness;
  }));
}

}  // namespace
}  // namespace cubelet::prober
