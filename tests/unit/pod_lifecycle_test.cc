// PodLifecycle's gate on the pod network, against the fake CRI runtime: while the runtime
// reports NetworkReady=false, a pod that needs the pod network is not started (its status is
// written, a NetworkNotReady event recorded, and it is tried again after a second), while a
// hostNetwork pod runs, as the upstream kubelet does. And the start-up breakdown: the phases
// of a pod's first start reported once, when its running status is written. And a new pod's
// status set as its sync starts, before its sandbox is there.
#include "kubelet/pod/pod_lifecycle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "base/log.h"
#include "kubelet/metrics/kubelet_metrics.h"
#include "kubelet/pod/pod_manager.h"
#include "kubelet/pod/status_manager.h"
#include "kubelet/runtime/pod_runtime.h"
#include "tests/fakes/fake_cri.h"
#include "tests/fakes/recording_events.h"

namespace cubelet::pod {
namespace {

using namespace std::chrono_literals;

json makePod(const std::string& uid, bool hostNetwork) {
  json spec = {{"restartPolicy", "Always"},
               {"containers", json::array({{{"name", "app"}, {"image", "busybox:1.36"}, {"command", {"sleep", "1"}}}})}};
  if (hostNetwork) spec["hostNetwork"] = true;
  return json{{"metadata", {{"name", "p-" + uid}, {"namespace", "default"}, {"uid", uid}}}, {"spec", spec}};
}

class PodLifecycleNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("plt-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto cri = runtime::CriClient::connect(server_->endpoint(), 5s);
    ASSERT_TRUE(cri.ok()) << cri.status();
    cri_ = std::move(*cri);
    server_->service().addImage("busybox:1.36");
    runtime::PodRuntimeOptions o;
    o.node.nodeIps = {"192.168.1.10"};
    o.onPhase = [this](const std::string& uid, const char* phase, std::chrono::steady_clock::duration d) {
      if (lifecycle_) lifecycle_->addPhase(uid, phase, d);
    };
    runtime_ = std::make_unique<runtime::PodRuntime>(*cri_, events_.recorder(), std::move(o));
    LifecycleOptions lo;
    lo.nodeName = "node1";
    lo.node = [] { return json::object(); };
    lo.networkError = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return networkError_;
    };
    lifecycle_ = std::make_unique<PodLifecycle>(std::move(lo), *runtime_, status_, manager_, events_.recorder());
  }
  static uint64_t phaseCount(const char* phase) {
    return metrics::kubeletMetrics().podStartPhaseDuration.with({phase}).count();
  }
  void TearDown() override {
    lifecycle_.reset();
    runtime_.reset();
    cri_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void setNetworkError(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    networkError_ = std::move(e);
  }
  int sandboxesStarted() {
    auto calls = server_->service().calls();
    return static_cast<int>(std::count(calls.begin(), calls.end(), "RunPodSandbox"));
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<runtime::CriClient> cri_;
  testing::RecordingEvents events_;
  std::unique_ptr<runtime::PodRuntime> runtime_;
  StatusManager status_{nullptr};
  PodManager manager_;
  std::unique_ptr<PodLifecycle> lifecycle_;
  std::mutex mu_;
  std::string networkError_;
};

constexpr char kNotReady[] =
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
    "returns error: cni plugin not initialized";

TEST_F(PodLifecycleNetworkTest, PodsWaitForTheNetworkWithAnEvent) {
  setNetworkError(kNotReady);
  SyncResult r = lifecycle_->syncPod(makePod("u1", false));
  EXPECT_TRUE(absl::IsUnavailable(r.status)) << r.status;
  EXPECT_EQ(std::string(r.status.message()), std::string("network is not ready: ") + kNotReady);
  ASSERT_TRUE(r.requeueAfter.has_value());
  EXPECT_EQ(*r.requeueAfter, 1000ms);
  EXPECT_EQ(sandboxesStarted(), 0);
  auto status = status_.podStatus("u1");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*status)["phase"], "Pending");
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    for (const auto& e : events_.apiserver().events()) {
      seen = seen || (e.reason == "NetworkNotReady" && e.type == "Warning" &&
                      e.message == std::string("network is not ready: ") + kNotReady);
    }
    if (!seen) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(seen) << "a Warning NetworkNotReady event";

  // Once the runtime's network is ready the same pod starts.
  setNetworkError("");
  r = lifecycle_->syncPod(makePod("u1", false));
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(sandboxesStarted(), 1);
}

TEST_F(PodLifecycleNetworkTest, HostNetworkPodsRunRegardless) {
  setNetworkError(kNotReady);
  SyncResult r = lifecycle_->syncPod(makePod("u2", true));
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(sandboxesStarted(), 1);
}

TEST_F(PodLifecycleNetworkTest, ANewPodShowsItsContainersWaitingWhileItsSandboxIsMade) {
  server_->service().setDelay("RunPodSandbox", 1500ms);
  std::thread sync([this] { EXPECT_TRUE(lifecycle_->syncPod(makePod("u5", false)).status.ok()); });
  // While the runtime makes the sandbox, the pod already has a status of its own.
  for (int i = 0; i < 100 && sandboxesStarted() == 0; ++i) std::this_thread::sleep_for(10ms);
  const int started = sandboxesStarted();
  std::optional<json> early = status_.podStatus("u5");
  sync.join();
  ASSERT_EQ(started, 1);
  ASSERT_TRUE(early.has_value()) << "no status while the sandbox was made";
  EXPECT_EQ((*early)["phase"], "Pending");
  EXPECT_FALSE((*early)["startTime"].get<std::string>().empty());
  ASSERT_EQ((*early)["containerStatuses"].size(), 1u);
  EXPECT_EQ((*early)["containerStatuses"][0]["name"], "app");
  EXPECT_EQ((*early)["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
  EXPECT_EQ((*status_.podStatus("u5"))["phase"], "Running") << "then the status after the sync";
}

TEST_F(PodLifecycleNetworkTest, StartUpPhasesAreReportedOnceWhenTheRunningStatusIsWritten) {
  const std::vector<const char*> measured = {"admission", "sandbox", "image", "create", "start", "status_write"};
  std::map<std::string, uint64_t> before;
  for (const char* p : measured) before[p] = phaseCount(p);
  const uint64_t cgroupsBefore = phaseCount("cgroups");

  SyncResult r = lifecycle_->syncPod(makePod("u3", false));
  ASSERT_TRUE(r.status.ok()) << r.status;
  auto status = status_.podStatus("u3");
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ((*status)["phase"], "Running");
  // Nothing is reported until that status is written.
  for (const char* p : measured) EXPECT_EQ(phaseCount(p), before[p]) << p;

  lifecycle_->statusSent("u3", json{{"phase", "Pending"}}, 1ms);  // not the running one
  for (const char* p : measured) EXPECT_EQ(phaseCount(p), before[p]) << p;
  const double writeSumBefore = metrics::kubeletMetrics().podStartPhaseDuration.with({"status_write"}).sum();
  log::setVerbosity(4);
  ::testing::internal::CaptureStderr();
  lifecycle_->statusSent("u3", *status, 7ms);
  const std::string logged = ::testing::internal::GetCapturedStderr();
  log::setVerbosity(0);
  // At -v=4 one line with the breakdown, in the order of a start.
  EXPECT_NE(logged.find("pod default/p-u3 (u3) started: admission="), std::string::npos) << logged;
  EXPECT_NE(logged.find(" sandbox="), std::string::npos) << logged;
  EXPECT_NE(logged.find(" start="), std::string::npos) << logged;
  EXPECT_NE(logged.find(" status_write=7.0ms; first seen -> status written "), std::string::npos) << logged;
  EXPECT_LT(logged.find("admission="), logged.find("sandbox="));
  for (const char* p : measured) EXPECT_EQ(phaseCount(p), before[p] + 1) << p;
  EXPECT_NEAR(metrics::kubeletMetrics().podStartPhaseDuration.with({"status_write"}).sum() - writeSumBefore, 0.007, 1e-9);
  EXPECT_EQ(phaseCount("cgroups"), cgroupsBefore) << "no pod cgroups in this test";

  // Once only: a later write, or a later sync of the running pod, reports nothing more.
  lifecycle_->statusSent("u3", *status, 7ms);
  lifecycle_->addPhase("u3", "start", 5ms);
  for (const char* p : measured) EXPECT_EQ(phaseCount(p), before[p] + 1) << p;
}

TEST_F(PodLifecycleNetworkTest, APodFoundRunningReportsNoStartUp) {
  ASSERT_TRUE(lifecycle_->syncPod(makePod("u4", false)).status.ok());
  // The agent restarts: a new lifecycle finds the pod running and starts nothing.
  LifecycleOptions lo;
  lo.nodeName = "node1";
  lo.node = [] { return json::object(); };
  lifecycle_ = std::make_unique<PodLifecycle>(std::move(lo), *runtime_, status_, manager_, events_.recorder());
  ASSERT_TRUE(lifecycle_->syncPod(makePod("u4", false)).status.ok());
  const uint64_t before = phaseCount("status_write");
  auto status = status_.podStatus("u4");
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ((*status)["phase"], "Running");
  lifecycle_->statusSent("u4", *status, 3ms);
  EXPECT_EQ(phaseCount("status_write"), before);
}

}  // namespace
}  // namespace cubelet::pod
