#include "kubelet/runtime/runtime_health.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/fakes/fake_cri.h"

namespace cubelet::runtime {
namespace {

using Clock = RuntimeHealth::Clock;

class RuntimeHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cri-test-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto c = CriClient::connect(server_->endpoint(), std::chrono::seconds(2));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<CriClient> client_;
};

TEST_F(RuntimeHealthTest, NotReadyUntilTheFirstCheck) {
  RuntimeHealth h(*client_);
  auto errs = h.errors();
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], "container runtime status check may not have completed yet");
  EXPECT_EQ(errs[1], "network state unknown");
  EXPECT_EQ(h.versionString(), "");
}

TEST_F(RuntimeHealthTest, HealthyRuntimeHasNoErrorsAndAVersion) {
  RuntimeHealth h(*client_);
  EXPECT_TRUE(h.check());
  EXPECT_TRUE(h.errors().empty());
  EXPECT_EQ(h.versionString(), "fakeruntime://1.2.3");
  EXPECT_FALSE(h.check()) << "no change on a second healthy check";
  auto calls = server_->service().calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "Version"), 1) << "Version is asked once";
}

TEST_F(RuntimeHealthTest, NetworkNotReadyUsesTheKubeletWording) {
  server_->service().setNetworkReady(false);
  RuntimeHealth h(*client_);
  h.check();
  auto errs = h.errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0],
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
            "message:Network plugin returns error: cni plugin not initialized");
}

TEST_F(RuntimeHealthTest, RuntimeNotReadyIsReported) {
  server_->service().setRuntimeReady(false);
  RuntimeHealth h(*client_);
  h.check();
  auto errs = h.errors();
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], "container runtime status check may not have completed yet");
  EXPECT_EQ(errs[1], "container runtime not ready: RuntimeReady=false reason:FakeDown message:fake runtime is not ready");
}

TEST_F(RuntimeHealthTest, StoppedRuntimeIsDownAfterTheThreshold) {
  RuntimeHealth h(*client_, std::chrono::seconds(30));
  auto t0 = Clock::now();
  h.check(t0);
  server_->stop();
  EXPECT_FALSE(h.check(t0 + std::chrono::seconds(5)));
  EXPECT_TRUE(h.errors(t0 + std::chrono::seconds(29)).empty()) << "still inside the threshold";
  auto errs = h.errors(t0 + std::chrono::seconds(31));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "container runtime is down");

  // Back again: the next successful check clears it.
  server_->start();
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {
    h.check(t0 + std::chrono::seconds(40));
    ok = h.errors(t0 + std::chrono::seconds(40)).empty();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(ok) << "runtime did not come back";
}

TEST(CriClientTest, RejectsNonUnixEndpoints) {
  auto c = CriClient::connect("tcp://127.0.0.1:1234", std::chrono::seconds(1));
  EXPECT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("tcp://127.0.0.1:1234"), std::string::npos);
}

}  // namespace
}  // namespace cubelet::runtime
