// tools/cri_floor: pods started straight through the CRI (against the in-process fake
// runtime), with the configs cubelet builds, one after the other or in bursts; errors name
// the pod and the call, and what was made can always be removed.
#include "tools/cri_floor/cri_floor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "tests/fakes/fake_cri.h"

namespace cubelet::crifloor {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

json benchPod() {
  return json::parse(R"({
    "metadata": {"name": "floor", "namespace": "bench"},
    "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}
  })");
}

class CriFloorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("floor-" + std::to_string(::getpid()) + "-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()).substr(0, 40));
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto c = runtime::CriClient::connect(server_->endpoint(), std::chrono::seconds(5));
    ASSERT_TRUE(c.ok()) << c.status();
    cri_ = std::move(*c);
    fake().addImage("busybox:1.36");
    opts_.pod = benchPod();
    opts_.node.nodeIps = {"10.0.0.2"};
    opts_.node.resolvConf = std::nullopt;
    opts_.node.podLogsDir = (dir_ / "logs").string();
  }
  void TearDown() override {
    cri_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  testing::FakeRuntimeService& fake() { return server_->service(); }

  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<runtime::CriClient> cri_;
  FloorOptions opts_;
};

TEST_F(CriFloorTest, StartsPodsOneAfterTheOtherWithTheConfigsCubeletBuilds) {
  opts_.count = 3;
  opts_.cgroupRoot = "/cri-floor";
  opts_.mounts = {{"/tmp/token", "/var/run/secrets/kubernetes.io/serviceaccount"}};
  auto r = startPods(*cri_, opts_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->podMs.size(), 3u);
  EXPECT_EQ(r->batchMs.size(), 3u);  // a batch per pod
  EXPECT_EQ(r->sandboxIds.size(), 3u);
  EXPECT_EQ(fake().callCount("ImageStatus"), 1);  // once, before the first pod
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 3);
  EXPECT_EQ(fake().callCount("CreateContainer"), 3);
  EXPECT_EQ(fake().callCount("StartContainer"), 3);
  std::set<std::string> names, uids;
  for (const auto& sb : fake().sandboxes()) {
    names.insert(sb.config.metadata().name());
    uids.insert(sb.config.metadata().uid());
    EXPECT_EQ(sb.config.metadata().namespace_(), "bench");
    EXPECT_EQ(sb.config.linux().cgroup_parent(), "/cri-floor/pod" + sb.config.metadata().uid());
    EXPECT_EQ(sb.config.labels().at("io.kubernetes.pod.name"), sb.config.metadata().name());
  }
  EXPECT_EQ(names, (std::set<std::string>{"floor-0", "floor-1", "floor-2"}));
  EXPECT_EQ(uids.size(), 3u);
  for (const auto& c : fake().containers()) {
    EXPECT_EQ(c.state, v1::CONTAINER_RUNNING);
    EXPECT_EQ(c.config.command(0), "sleep");
    bool tokenMounted = false;
    for (const auto& m : c.config.mounts())
      if (m.container_path() == "/var/run/secrets/kubernetes.io/serviceaccount" && m.readonly()) tokenMounted = true;
    EXPECT_TRUE(tokenMounted);
  }
  json out = r->toJson();
  EXPECT_EQ(out["pods_ms"].size(), 3u);
  EXPECT_EQ(out["batches_ms"].size(), 3u);

  ASSERT_TRUE(removePods(*cri_, r->sandboxIds).ok());
  EXPECT_TRUE(fake().sandboxes().empty());
  EXPECT_TRUE(fake().containers().empty());
}

TEST_F(CriFloorTest, ABurstStartsItsPodsAtOnceAndMeasuresEachFromTheBatchStart) {
  opts_.count = 5;
  opts_.burst = 4;  // a batch of 4, then one of 1
  fake().setDelay("RunPodSandbox", std::chrono::milliseconds(100));
  auto r = startPods(*cri_, opts_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->batchMs.size(), 2u);
  ASSERT_EQ(r->podMs.size(), 5u);
  // Each pod is measured from its batch's start, so none took less than its sandbox.
  EXPECT_GE(r->batchMs[0], 100.0);
  for (double ms : r->podMs) EXPECT_GE(ms, 100.0);
  EXPECT_EQ(fake().containers().size(), 5u);
  ASSERT_TRUE(removePods(*cri_, r->sandboxIds, 2).ok());
  EXPECT_TRUE(fake().sandboxes().empty());
}

TEST_F(CriFloorTest, AFailedCallNamesThePodAndTheCallAndLeavesWhatWasMadeRemovable) {
  opts_.count = 3;
  fake().failNext("StartContainer", grpc::Status(grpc::StatusCode::UNKNOWN, "runc exploded"));
  std::vector<std::string> made;
  auto r = startPods(*cri_, opts_, &made);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pod floor-0: StartContainer main: "), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("runc exploded"), std::string::npos);
  EXPECT_EQ(made.size(), 1u);  // the run stopped after the failed pod
  ASSERT_TRUE(removePods(*cri_, made).ok());
  EXPECT_TRUE(fake().sandboxes().empty());
}

TEST_F(CriFloorTest, AMissingImageOrABadPodIsAClearErrorBeforeAnyPod) {
  json pod = benchPod();
  pod["spec"]["containers"][0]["image"] = "absent:1";
  opts_.pod = pod;
  auto r = startPods(*cri_, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("image absent:1 is not present"), std::string::npos);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0);

  opts_.pod = json::parse(R"({"metadata": {"name": "x"}, "spec": {"containers": []}})");
  EXPECT_EQ(startPods(*cri_, opts_).status().code(), absl::StatusCode::kInvalidArgument);
  opts_.pod = json::parse(R"({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c"}]}})");
  EXPECT_EQ(startPods(*cri_, opts_).status().code(), absl::StatusCode::kInvalidArgument);
  opts_.pod = json::parse("[1, 2]");
  EXPECT_EQ(startPods(*cri_, opts_).status().code(), absl::StatusCode::kInvalidArgument);
  opts_.pod = benchPod();
  opts_.count = 0;
  EXPECT_EQ(startPods(*cri_, opts_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CriFloorPercentile, NearestRank) {
  EXPECT_EQ(percentile({}, 50), 0);
  EXPECT_EQ(percentile({5}, 99), 5);
  EXPECT_EQ(percentile({4, 1, 3, 2}, 50), 2);
  EXPECT_EQ(percentile({4, 1, 3, 2}, 99), 4);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(percentile(hundred, 99), 99);
  EXPECT_EQ(percentile(hundred, 90), 90);
}

}  // namespace
}  // namespace cubelet::crifloor
