// PodLifecycle's gate on the pod network, against the fake CRI runtime: while the runtime
// reports NetworkReady=false, a pod that needs the pod network is not started (its status is
// written, a NetworkNotReady event recorded, and it is tried again after a second), while a
// hostNetwork pod runs, as the upstream kubelet does.
#include "kubelet/pod/pod_lifecycle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>

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

}  // namespace
}  // namespace cubelet::pod
