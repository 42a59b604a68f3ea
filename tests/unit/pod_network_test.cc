// PodNetwork against the fake CRI runtime: the conflist and the plugin land in the runtime's
// CNI dirs once the Node has a podCIDR, UpdateRuntimeConfig carries it, and leaked
// addresses are reclaimed while live ones stay.
#include "kubelet/network/pod_network.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "netlink/cni/install.h"
#include "nlohmann/json.hpp"
#include "netlink/cni/ipam.h"
#include "tests/fakes/fake_cri.h"

namespace cubelet::network {
namespace {

namespace fs = std::filesystem;

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PodNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("podnet-test-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto c = runtime::CriClient::connect(server_->endpoint(), std::chrono::seconds(2));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    std::ofstream(dir_ / "cubelet-cni") << "plugin-binary";
    server_->service().setVerboseConfig(
        nlohmann::json{{"cni", {{"binDir", (dir_ / "bin").string()}, {"confDir", (dir_ / "net.d").string()}}}}.dump());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  PodNetworkOptions options() {
    PodNetworkOptions o;
    o.plugin = (dir_ / "cubelet-cni").string();
    o.dataDir = (dir_ / "ipam").string();
    o.reclaimGrace = std::chrono::seconds(0);
    o.onConfigured = [this] { ++configured_; };
    return o;
  }
  fs::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<runtime::CriClient> client_;
  std::atomic<int> configured_{0};
};

TEST_F(PodNetworkTest, WritesTheConflistIntoTheRuntimesDirsOncePodCidrIsKnown) {
  PodNetwork net(*client_, options());
  std::jthread t([&](std::stop_token st) { net.run(st); });
  fs::path conflist = dir_ / "net.d" / cni::kConflistName;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(fs::exists(conflist)) << "no conflist before the node has a podCIDR";
  net.setPodCidrs({"10.244.3.0/24"});
  for (int i = 0; i < 100 && configured_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(configured_, 1);
  nlohmann::json list = nlohmann::json::parse(readFile(conflist));
  EXPECT_EQ(list["plugins"][0]["type"], "cubelet-cni");
  EXPECT_EQ(list["plugins"][0]["ipam"]["ranges"][0]["subnet"], "10.244.3.0/24");
  EXPECT_EQ(list["plugins"][0]["ipam"]["dataDir"], (dir_ / "ipam").string());
  EXPECT_EQ(readFile(dir_ / "bin" / "cubelet-cni"), "plugin-binary");
  EXPECT_EQ(readFile(dir_ / "bin" / "loopback"), "plugin-binary");
  EXPECT_EQ(server_->service().podCidr(), "10.244.3.0/24");
  // The same CIDRs again change nothing; new ones rewrite the file.
  net.setPodCidrs({"10.244.3.0/24"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(configured_, 1);
  net.setPodCidrs({"10.244.4.0/24", "fd00:4::/64"});
  for (int i = 0; i < 100 && configured_ == 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(configured_, 2);
  EXPECT_EQ(server_->service().podCidr(), "10.244.4.0/24,fd00:4::/64");
  EXPECT_NE(readFile(conflist).find("fd00:4::/64"), std::string::npos);
}

TEST_F(PodNetworkTest, PutsBackWhatWasRemoved) {
  PodNetworkOptions o = options();
  o.reclaimPeriod = std::chrono::seconds(1);
  PodNetwork net(*client_, o);
  std::jthread t([&](std::stop_token st) { net.run(st); });
  net.setPodCidrs({"10.244.3.0/24"});
  fs::path conflist = dir_ / "net.d" / cni::kConflistName;
  for (int i = 0; i < 100 && configured_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(configured_, 1);
  fs::remove(conflist);
  fs::remove(dir_ / "bin" / "loopback");
  for (int i = 0; i < 150 && !(fs::exists(conflist) && fs::exists(dir_ / "bin" / "loopback")); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(fs::exists(conflist));
  EXPECT_TRUE(fs::is_symlink(dir_ / "bin" / "loopback"));
}

TEST_F(PodNetworkTest, ExternalNetworkOnlyTellsTheRuntime) {
  PodNetworkOptions o = options();
  o.manage = false;
  PodNetwork net(*client_, o);
  std::jthread t([&](std::stop_token st) { net.run(st); });
  net.setPodCidrs({"10.244.3.0/24"});
  for (int i = 0; i < 100 && server_->service().podCidr().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->service().podCidr(), "10.244.3.0/24");
  EXPECT_FALSE(fs::exists(dir_ / "net.d"));
  EXPECT_FALSE(fs::exists(dir_ / "bin"));
}

TEST_F(PodNetworkTest, AnotherAddOnsConfigIsLeftInCharge) {
  fs::create_directories(dir_ / "net.d");
  std::ofstream(dir_ / "net.d" / "10-flannel.conflist") << "{}";
  PodNetworkOptions o = options();
  o.reclaimPeriod = std::chrono::seconds(1);
  PodNetwork net(*client_, o);
  std::jthread t([&](std::stop_token st) { net.run(st); });
  net.setPodCidrs({"10.244.3.0/24"});
  for (int i = 0; i < 100 && server_->service().podCidr().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->service().podCidr(), "10.244.3.0/24") << "the runtime is still told the pod CIDR";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(fs::exists(dir_ / "net.d" / cni::kConflistName));
  EXPECT_FALSE(fs::exists(dir_ / "bin" / "cubelet-cni"));
  // Once the add-on's config is gone, cubelet-cni takes over (at the next periodic check).
  fs::remove(dir_ / "net.d" / "10-flannel.conflist");
  for (int i = 0; i < 150 && configured_ == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(configured_, 1);
  EXPECT_TRUE(fs::exists(dir_ / "net.d" / cni::kConflistName));
}

TEST_F(PodNetworkTest, FlagsOverrideTheRuntimesDirs) {
  PodNetworkOptions o = options();
  o.binDir = (dir_ / "mybin").string();
  o.confDir = (dir_ / "myconf").string();
  PodNetwork net(*client_, o);
  ASSERT_TRUE(net.resolveDirs().ok());
  EXPECT_EQ(net.binDir(), o.binDir);
  EXPECT_EQ(net.confDir(), o.confDir);
  server_->service().setVerboseConfig("{}");
  PodNetwork defaults(*client_, options());
  ASSERT_TRUE(defaults.resolveDirs().ok());
  EXPECT_EQ(defaults.binDir(), "/opt/cni/bin");
  EXPECT_EQ(defaults.confDir(), "/etc/cni/net.d");
}

TEST_F(PodNetworkTest, ReclaimFreesLeakedAddressesOnly) {
  auto store = cni::IpamStore::open((dir_ / "ipam" / "cubelet").string());
  ASSERT_TRUE(store.ok()) << store.status();
  cni::IpamRange range;
  range.subnet = *netlink::parseCidr("10.244.0.0/24");
  // A live sandbox the runtime lists, with a netns path that exists.
  runtime::v1::PodSandboxConfig cfg;
  cfg.mutable_metadata()->set_name("p");
  cfg.mutable_metadata()->set_namespace_("default");
  cfg.mutable_metadata()->set_uid("uid-live");
  auto live = client_->runPodSandbox(cfg, "");
  ASSERT_TRUE(live.ok()) << live.status();
  std::ofstream(dir_ / "netns-live") << "";
  ASSERT_TRUE(store->allocate({*live, "eth0", (dir_ / "netns-live").string(), "uid-live"}, {range}).ok());
  // A sandbox whose namespace is gone.
  ASSERT_TRUE(store->allocate({"gone-ns", "eth0", (dir_ / "netns-gone").string(), "uid-a"}, {range}).ok());
  // A sandbox the runtime does not know, namespace still there (say, an ADD whose DEL never came).
  std::ofstream(dir_ / "netns-unknown") << "";
  ASSERT_TRUE(store->allocate({"unknown", "eth0", (dir_ / "netns-unknown").string(), "uid-b"}, {range}).ok());

  PodNetworkOptions o = options();
  o.reclaimGrace = std::chrono::minutes(4);
  PodNetwork net(*client_, o);
  auto freed = net.reclaim(std::chrono::system_clock::now());
  ASSERT_TRUE(freed.ok()) << freed.status();
  EXPECT_EQ(*freed, 1) << "only the netns-gone record goes while the unknown one is younger than the grace period";
  freed = net.reclaim(std::chrono::system_clock::now() + std::chrono::minutes(5));
  ASSERT_TRUE(freed.ok()) << freed.status();
  EXPECT_EQ(*freed, 1);
  auto left = store->list();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().owner.containerId, *live);
}

}  // namespace
}  // namespace cubelet::network
