// Unit tests for kubelet/cm/pod_cgroups: the kubepods / QoS / pod cgroup tree written through
// the cgroups/ library onto fake v1, hybrid and v2 trees of plain directories in a temp dir.
// Nothing here touches the real /sys/fs/cgroup.
#include "kubelet/cm/pod_cgroups.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/fake_cgroupfs.h"

namespace cubelet::cm {
namespace {

using cgroups::Mode;
using cgroups::sharesToWeight;
using cgroups::fake::exists;
using cgroups::fake::FakeV1;
using cgroups::fake::FakeV2;
using cgroups::fake::isDir;
using cgroups::fake::readText;
using cgroups::fake::typicalV1Mounts;
using cgroups::fake::writeText;
using runtime::PodCgroupConfig;
using runtime::QosClass;

constexpr int64_t kGi = int64_t{1} << 30;
constexpr int64_t kMi = int64_t{1} << 20;

::testing::AssertionResult contains(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

PodCgroupsOptions nodeOptions(std::string cgroupRoot = "/") {
  PodCgroupsOptions o;
  o.cgroupRoot = std::move(cgroupRoot);
  o.allocatableMilliCpu = 2000;
  o.allocatableMemoryBytes = 3 * kGi;
  return o;
}

PodCgroupConfig guaranteed(int64_t milli, int64_t memory) {
  PodCgroupConfig c;
  c.qos = QosClass::kGuaranteed;
  c.cpuShares = static_cast<uint64_t>(milli * 1024 / 1000);
  c.cpuQuotaUs = milli * 100;
  c.cpuPeriodUs = 100000;
  c.memoryLimitBytes = memory;
  c.cpuRequestMilli = milli;
  return c;
}

// A Burstable pod that declares no limits: shares only.
PodCgroupConfig burstable(int64_t milli) {
  PodCgroupConfig c;
  c.qos = QosClass::kBurstable;
  c.cpuShares = static_cast<uint64_t>(milli * 1024 / 1000);
  c.cpuRequestMilli = milli;
  return c;
}

PodCgroupConfig bestEffort() {
  PodCgroupConfig c;
  c.qos = QosClass::kBestEffort;
  c.cpuShares = 2;
  return c;
}

std::vector<std::string> uids(const PodCgroups& pc) {
  auto u = pc.podUids();
  EXPECT_TRUE(u.ok()) << u.status();
  return u.ok() ? *u : std::vector<std::string>{};
}

// ---------------------------------------------------------------------------------------------
// Names.

TEST(PodCgroupNameTest, QosLevelsAndCgroupRoot) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups root(**m, nodeOptions("/"));
  EXPECT_EQ(root.podCgroupName("u1", QosClass::kGuaranteed), "/kubepods/podu1");
  EXPECT_EQ(root.podCgroupName("u1", QosClass::kBurstable), "/kubepods/burstable/podu1");
  EXPECT_EQ(root.podCgroupName("u1", QosClass::kBestEffort), "/kubepods/besteffort/podu1");

  PodCgroups empty(**m, nodeOptions(""));
  EXPECT_EQ(empty.podCgroupName("u1", QosClass::kBurstable), "/kubepods/burstable/podu1");

  for (const char* custom : {"/custom", "custom", "/custom/", "//custom//"}) {
    PodCgroups pc(**m, nodeOptions(custom));
    EXPECT_EQ(pc.podCgroupName("u1", QosClass::kGuaranteed), "/custom/kubepods/podu1") << custom;
    EXPECT_EQ(pc.podCgroupName("u1", QosClass::kBurstable), "/custom/kubepods/burstable/podu1") << custom;
    EXPECT_EQ(pc.podCgroupName("u1", QosClass::kBestEffort), "/custom/kubepods/besteffort/podu1") << custom;
  }
  PodCgroups nested(**m, nodeOptions("/a/b"));
  EXPECT_EQ(nested.podCgroupName("u1", QosClass::kBurstable), "/a/b/kubepods/burstable/podu1");
}

// ---------------------------------------------------------------------------------------------
// cgroup v1.

class PodCgroupsV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    writeText(fake_.at("cpuset/cpuset.cpus"), "0-1\n");
    writeText(fake_.at("cpuset/cpuset.mems"), "0\n");
    auto m = fake_.manager(Mode::kV1);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = std::move(*m);
  }
  std::string cpu(const std::string& rel) const { return fake_.at("cpu,cpuacct/" + rel); }
  std::string memory(const std::string& rel) const { return fake_.at("memory/" + rel); }

  FakeV1 fake_{typicalV1Mounts(), false};
  cgroups::ManagerPtr manager_;
};

TEST_F(PodCgroupsV1Test, InitCreatesTheQosTreeWithNodeAllocatable) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  for (const char* h : {"cpu,cpuacct", "cpuset", "memory", "pids", "hugetlb", "blkio", "freezer"}) {
    for (const char* rel : {"kubepods", "kubepods/burstable", "kubepods/besteffort"}) {
      EXPECT_TRUE(isDir(fake_.at(std::string(h) + "/" + rel))) << h << "/" << rel;
    }
  }
  EXPECT_FALSE(exists(fake_.at("devices/kubepods"))) << "not a managed hierarchy";
  // 2000m of allocatable cpu -> 2048 shares; allocatable memory as the limit.
  EXPECT_EQ(readText(cpu("kubepods/cpu.shares")), "2048");
  EXPECT_EQ(readText(memory("kubepods/memory.limit_in_bytes")), std::to_string(3 * kGi));
  // A new Burstable cgroup starts at the minimum; BestEffort always has it.
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "2");
  EXPECT_EQ(readText(cpu("kubepods/besteffort/cpu.shares")), "2");
  // QoS cgroups get no limits of their own.
  EXPECT_FALSE(exists(memory("kubepods/burstable/memory.limit_in_bytes")));
  EXPECT_FALSE(exists(cpu("kubepods/cpu.cfs_quota_us")));
  EXPECT_TRUE(uids(pc).empty());
}

TEST_F(PodCgroupsV1Test, InitWithoutAllocatableLeavesKubepodsAlone) {
  PodCgroups pc(*manager_, PodCgroupsOptions{});
  ASSERT_TRUE(pc.init().ok());
  EXPECT_TRUE(isDir(cpu("kubepods")));
  EXPECT_FALSE(exists(cpu("kubepods/cpu.shares")));
  EXPECT_FALSE(exists(memory("kubepods/memory.limit_in_bytes")));
  EXPECT_EQ(readText(cpu("kubepods/besteffort/cpu.shares")), "2");
}

TEST_F(PodCgroupsV1Test, CustomCgroupRoot) {
  PodCgroups pc(*manager_, nodeOptions("/custom"));
  ASSERT_TRUE(pc.init().ok());
  EXPECT_FALSE(exists(cpu("kubepods")));
  EXPECT_EQ(readText(cpu("custom/kubepods/cpu.shares")), "2048");
  EXPECT_EQ(readText(cpu("custom/kubepods/besteffort/cpu.shares")), "2");
  EXPECT_TRUE(isDir(memory("custom/kubepods/burstable")));

  auto parent = pc.ensurePod("u1", burstable(100));
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, "/custom/kubepods/burstable/podu1");
  EXPECT_TRUE(isDir(memory("custom/kubepods/burstable/podu1")));
  EXPECT_EQ(readText(cpu("custom/kubepods/burstable/cpu.shares")), "102");
  EXPECT_EQ(uids(pc), std::vector<std::string>{"u1"});
  ASSERT_TRUE(pc.removePod("u1").ok());
  EXPECT_FALSE(exists(memory("custom/kubepods/burstable/podu1")));
  EXPECT_EQ(readText(cpu("custom/kubepods/burstable/cpu.shares")), "2");
}

TEST_F(PodCgroupsV1Test, EnsurePodWritesTheGuaranteedPodsLimits) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  PodCgroupConfig c = guaranteed(500, 256 * kMi);
  c.hugepageLimits["2MB"] = 4 * kMi;
  auto parent = pc.ensurePod("g1", c);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, "/kubepods/podg1") << "Guaranteed pods sit directly under kubepods";
  EXPECT_EQ(readText(cpu("kubepods/podg1/cpu.shares")), "512");
  EXPECT_EQ(readText(cpu("kubepods/podg1/cpu.cfs_quota_us")), "50000");
  EXPECT_EQ(readText(cpu("kubepods/podg1/cpu.cfs_period_us")), "100000");
  EXPECT_EQ(readText(memory("kubepods/podg1/memory.limit_in_bytes")), std::to_string(256 * kMi));
  EXPECT_EQ(readText(fake_.at("hugetlb/kubepods/podg1/hugetlb.2MB.limit_in_bytes")), std::to_string(4 * kMi));
  EXPECT_TRUE(isDir(fake_.at("freezer/kubepods/podg1")));
  // The pod cgroup's cpuset is usable: inherited from the root.
  EXPECT_EQ(readText(fake_.at("cpuset/kubepods/podg1/cpuset.cpus")), "0-1");
  // Guaranteed pods do not count for the Burstable shares.
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "2");
  EXPECT_EQ(uids(pc), std::vector<std::string>{"g1"});
}

TEST_F(PodCgroupsV1Test, UnboundedLimitsOfABurstablePod) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  // A Burstable pod without limits: shares only, nothing else written.
  ASSERT_TRUE(pc.ensurePod("b1", burstable(250)).ok());
  EXPECT_EQ(readText(cpu("kubepods/burstable/podb1/cpu.shares")), "256");
  EXPECT_FALSE(exists(cpu("kubepods/burstable/podb1/cpu.cfs_quota_us")));
  EXPECT_FALSE(exists(cpu("kubepods/burstable/podb1/cpu.cfs_period_us")));
  EXPECT_FALSE(exists(memory("kubepods/burstable/podb1/memory.limit_in_bytes")));
  // cpuCFSQuota off (quota -1) and a zero memory limit both mean unlimited.
  PodCgroupConfig c = burstable(250);
  c.cpuQuotaUs = cgroups::kUnlimited;
  c.cpuPeriodUs = 100000;
  c.memoryLimitBytes = 0;
  ASSERT_TRUE(pc.ensurePod("b1", c).ok());
  EXPECT_EQ(readText(cpu("kubepods/burstable/podb1/cpu.cfs_quota_us")), "-1");
  EXPECT_EQ(readText(cpu("kubepods/burstable/podb1/cpu.cfs_period_us")), "100000");
  EXPECT_EQ(readText(memory("kubepods/burstable/podb1/memory.limit_in_bytes")), "-1");
}

TEST_F(PodCgroupsV1Test, BurstableSharesFollowTheBurstablePodsRequests) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  const std::string shares = cpu("kubepods/burstable/cpu.shares");

  ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
  EXPECT_EQ(readText(shares), "102");
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_EQ(readText(shares), "409") << "(100m + 300m) * 1024 / 1000";
  // Other QoS classes do not count.
  ASSERT_TRUE(pc.ensurePod("g1", guaranteed(1000, kGi)).ok());
  ASSERT_TRUE(pc.ensurePod("e1", bestEffort()).ok());
  EXPECT_EQ(readText(shares), "409");
  EXPECT_EQ(readText(cpu("kubepods/besteffort/pode1/cpu.shares")), "2");
  EXPECT_EQ(readText(cpu("kubepods/besteffort/cpu.shares")), "2");
  // Ensuring a pod again does not count it twice; a changed request is picked up.
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_EQ(readText(shares), "409");
  ASSERT_TRUE(pc.ensurePod("b2", burstable(500)).ok());
  EXPECT_EQ(readText(shares), "614");
  EXPECT_EQ(readText(cpu("kubepods/burstable/podb2/cpu.shares")), "512");

  ASSERT_TRUE(pc.removePod("b1").ok());
  EXPECT_FALSE(exists(memory("kubepods/burstable/podb1")));
  EXPECT_FALSE(exists(cpu("kubepods/burstable/podb1")));
  EXPECT_EQ(readText(shares), "512");
  ASSERT_TRUE(pc.removePod("g1").ok());
  EXPECT_FALSE(exists(cpu("kubepods/podg1")));
  EXPECT_EQ(readText(shares), "512");
  ASSERT_TRUE(pc.removePod("b2").ok());
  EXPECT_EQ(readText(shares), "2") << "no Burstable pods left: the minimum";
  EXPECT_EQ(uids(pc), std::vector<std::string>{"e1"});
  // Removing what is gone (or never was) is fine.
  EXPECT_TRUE(pc.removePod("b2").ok());
  EXPECT_TRUE(pc.removePod("never").ok());
  EXPECT_TRUE(isDir(cpu("kubepods/burstable")));
}

TEST_F(PodCgroupsV1Test, AFailedBurstableUpdateIsRetried) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
  // A directory in the way of cpu.shares makes the write fail (EISDIR).
  const std::string shares = cpu("kubepods/burstable/cpu.shares");
  ASSERT_TRUE(std::filesystem::remove(shares));
  ASSERT_TRUE(std::filesystem::create_directory(shares));
  auto parent = pc.ensurePod("b2", burstable(300));
  EXPECT_FALSE(parent.ok());
  EXPECT_TRUE(contains(std::string(parent.status().message()), "burstable")) << parent.status();

  // The pod's next sync must not take the failed update as done.
  ASSERT_TRUE(std::filesystem::remove(shares));
  parent = pc.ensurePod("b2", burstable(300));
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(readText(shares), "409");

  // The same after a removal: the cgroup is gone, the shares are not lowered yet; the next
  // ensure of any pod, even an unchanged one, lowers them.
  ASSERT_TRUE(std::filesystem::remove(shares));
  ASSERT_TRUE(std::filesystem::create_directory(shares));
  EXPECT_FALSE(pc.removePod("b1").ok());
  EXPECT_FALSE(exists(memory("kubepods/burstable/podb1")));
  ASSERT_TRUE(std::filesystem::remove(shares));
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_EQ(readText(shares), "307");
  // Once updated, an unchanged pod writes nothing.
  ASSERT_TRUE(std::filesystem::remove(shares));
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_FALSE(exists(shares));
}

TEST_F(PodCgroupsV1Test, RemovePodRefusesWhileAProcessRemains) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  writeText(memory("kubepods/burstable/podb1/cgroup.procs"), "4242\n");

  auto st = pc.removePod("b1");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(contains(std::string(st.message()), "4242"));
  for (const char* h : {"cpu,cpuacct", "memory", "pids", "freezer"}) {
    EXPECT_TRUE(isDir(fake_.at(std::string(h) + "/kubepods/burstable/podb1"))) << h;
  }
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "409") << "its request still counts";
  EXPECT_EQ(uids(pc), (std::vector<std::string>{"b1", "b2"}));

  // Once the process is gone the cgroup goes, and its request with it.
  writeText(memory("kubepods/burstable/podb1/cgroup.procs"), "");
  ASSERT_TRUE(pc.removePod("b1").ok());
  EXPECT_FALSE(exists(memory("kubepods/burstable/podb1")));
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "307");
  EXPECT_EQ(uids(pc), std::vector<std::string>{"b2"});
}

TEST_F(PodCgroupsV1Test, RemovePodRemovesAPartlyPresentCgroup) {
  // A pod cgroup missing from one hierarchy (a create that failed half way, or someone
  // else's cleanup) is still listed by podUids and must still be removable.
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
  std::filesystem::remove_all(fake_.at("freezer/kubepods/burstable/podb1"));
  EXPECT_EQ(uids(pc), std::vector<std::string>{"b1"});

  ASSERT_TRUE(pc.removePod("b1").ok());
  for (const char* h : {"cpu,cpuacct", "cpuset", "memory", "pids", "hugetlb", "blkio", "freezer"}) {
    EXPECT_FALSE(exists(fake_.at(std::string(h) + "/kubepods/burstable/podb1"))) << h;
  }
  EXPECT_TRUE(uids(pc).empty());
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "2");
}

TEST_F(PodCgroupsV1Test, PodUidsListsPodsOfAllQosLevels) {
  PodCgroups pc(*manager_, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  EXPECT_TRUE(uids(pc).empty());
  ASSERT_TRUE(pc.ensurePod("g1", guaranteed(100, 64 * kMi)).ok());
  ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
  ASSERT_TRUE(pc.ensurePod("e1", bestEffort()).ok());
  ASSERT_TRUE(pc.ensurePod("e2", bestEffort()).ok());
  // Not pod cgroups: a directory without the prefix, "pod" alone, a regular file.
  ASSERT_TRUE(manager_->create("kubepods/burstable/other", cgroups::Resources{}).ok());
  ASSERT_TRUE(manager_->create("kubepods/besteffort/pod", cgroups::Resources{}).ok());
  writeText(memory("kubepods/podfile"), "");
  EXPECT_EQ(uids(pc), (std::vector<std::string>{"b1", "e1", "e2", "g1"}));

  // Pod cgroups left from an earlier run (not ensured by this instance) are listed too, and
  // can be removed.
  PodCgroups restarted(*manager_, nodeOptions());
  EXPECT_EQ(uids(restarted), (std::vector<std::string>{"b1", "e1", "e2", "g1"}));
  ASSERT_TRUE(restarted.removePod("g1").ok());
  ASSERT_TRUE(restarted.removePod("e1").ok());
  EXPECT_EQ(uids(pc), (std::vector<std::string>{"b1", "e2"}));
  // Pods under another cgroupRoot are not ours.
  PodCgroups custom(*manager_, nodeOptions("/custom"));
  EXPECT_TRUE(uids(custom).empty());
}

TEST_F(PodCgroupsV1Test, InitAgainKeepsTheBurstableShares) {
  {
    PodCgroups pc(*manager_, nodeOptions());
    ASSERT_TRUE(pc.init().ok());
    ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
    ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  }
  // A restart with less allocatable cpu: kubepods follows, the Burstable shares stay until
  // the pods are ensured again.
  PodCgroupsOptions o = nodeOptions();
  o.allocatableMilliCpu = 1500;
  PodCgroups pc(*manager_, o);
  ASSERT_TRUE(pc.init().ok());
  EXPECT_EQ(readText(cpu("kubepods/cpu.shares")), "1536");
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "409");
  EXPECT_EQ(readText(cpu("kubepods/besteffort/cpu.shares")), "2");
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_EQ(readText(cpu("kubepods/burstable/cpu.shares")), "307");
}

TEST(PodCgroupsV1LayoutTest, WithoutHugetlbHugepageLimitsAreSkipped) {
  // Like this machine: no hugetlb hierarchy, cpu and cpuacct apart.
  FakeV1 fake({{"cpu", "rw,cpu"}, {"cpuacct", "rw,cpuacct"}, {"memory", "rw,memory"}, {"pids", "rw,pids"}}, false);
  auto m = fake.manager(Mode::kV1);
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  PodCgroupConfig c = guaranteed(200, 128 * kMi);
  c.hugepageLimits["2MB"] = 2 * kMi;
  auto parent = pc.ensurePod("g1", c);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(readText(fake.at("cpu/kubepods/podg1/cpu.cfs_quota_us")), "20000");
  EXPECT_TRUE(isDir(fake.at("cpuacct/kubepods/podg1")));
  EXPECT_EQ(uids(pc), std::vector<std::string>{"g1"});
}

TEST(PodCgroupsV1LayoutTest, PodUidsNeedsAPodHierarchy) {
  FakeV1 fake({{"freezer", "rw,freezer"}, {"blkio", "rw,blkio"}}, false);
  auto m = fake.manager(Mode::kV1);
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions());
  auto u = pc.podUids();
  EXPECT_EQ(u.status().code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// Hybrid: the v1 controllers plus the unified tree.

TEST(PodCgroupsHybridTest, KeepsTheUnifiedTreeInStep) {
  FakeV1 fake({{"cpu,cpuacct", "rw,cpu,cpuacct"}, {"memory", "rw,memory"}, {"pids", "rw,pids"},
               {"systemd", "rw,name=systemd"}},
              true);
  auto m = fake.manager(Mode::kHybrid);
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  EXPECT_TRUE(isDir(fake.at("unified/kubepods/burstable")));
  EXPECT_EQ(readText(fake.at("cpu,cpuacct/kubepods/cpu.shares")), "2048");
  ASSERT_TRUE(pc.ensurePod("b1", burstable(100)).ok());
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_TRUE(isDir(fake.at("unified/kubepods/burstable/podb1")));
  EXPECT_EQ(readText(fake.at("cpu,cpuacct/kubepods/burstable/cpu.shares")), "409");

  // A process in the unified tree keeps the pod cgroup.
  writeText(fake.at("unified/kubepods/burstable/podb1/cgroup.procs"), "77\n");
  EXPECT_EQ(pc.removePod("b1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(isDir(fake.at("memory/kubepods/burstable/podb1")));
  writeText(fake.at("unified/kubepods/burstable/podb1/cgroup.procs"), "");
  ASSERT_TRUE(pc.removePod("b1").ok());
  EXPECT_FALSE(exists(fake.at("unified/kubepods/burstable/podb1")));
  EXPECT_FALSE(exists(fake.at("memory/kubepods/burstable/podb1")));
  EXPECT_EQ(readText(fake.at("cpu,cpuacct/kubepods/burstable/cpu.shares")), "307");
  EXPECT_EQ(uids(pc), std::vector<std::string>{"b2"});
}

// ---------------------------------------------------------------------------------------------
// cgroup v2.

TEST(PodCgroupsV2Test, InitWritesWeightsAndMemoryMax) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  for (const char* rel : {"kubepods", "kubepods/burstable", "kubepods/besteffort"}) {
    EXPECT_TRUE(isDir(fake.at(rel))) << rel;
  }
  // 2048 shares as a weight.
  EXPECT_EQ(readText(fake.at("kubepods/cpu.weight")), std::to_string(sharesToWeight(2048)));
  EXPECT_EQ(readText(fake.at("kubepods/cpu.weight")), "79");
  EXPECT_EQ(readText(fake.at("kubepods/memory.max")), std::to_string(3 * kGi));
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cpu.weight")), "1");
  EXPECT_EQ(readText(fake.at("kubepods/besteffort/cpu.weight")), "1");
  // Controllers are enabled down to the QoS level.
  EXPECT_EQ(readText(fake.at("cgroup.subtree_control")), "cpu cpuset hugetlb io memory pids");
  EXPECT_EQ(readText(fake.at("kubepods/cgroup.subtree_control")), "cpu cpuset hugetlb io memory pids");
  EXPECT_TRUE(uids(pc).empty());
}

TEST(PodCgroupsV2Test, CustomCgroupRoot) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions("/custom/"));
  ASSERT_TRUE(pc.init().ok());
  EXPECT_FALSE(exists(fake.at("kubepods")));
  EXPECT_EQ(readText(fake.at("custom/kubepods/cpu.weight")), "79");
  auto parent = pc.ensurePod("e1", bestEffort());
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, "/custom/kubepods/besteffort/pode1");
  EXPECT_EQ(readText(fake.at("custom/kubepods/besteffort/pode1/cpu.weight")), "1");
  EXPECT_EQ(uids(pc), std::vector<std::string>{"e1"});
}

TEST(PodCgroupsV2Test, EnsureAndRemovePods) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions());
  ASSERT_TRUE(pc.init().ok());

  PodCgroupConfig g = guaranteed(500, 256 * kMi);
  g.hugepageLimits["2MB"] = 4 * kMi;
  auto parent = pc.ensurePod("g1", g);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, "/kubepods/podg1");
  EXPECT_EQ(readText(fake.at("kubepods/podg1/cpu.weight")), std::to_string(sharesToWeight(512)));
  EXPECT_EQ(readText(fake.at("kubepods/podg1/cpu.max")), "50000 100000");
  EXPECT_EQ(readText(fake.at("kubepods/podg1/memory.max")), std::to_string(256 * kMi));
  EXPECT_EQ(readText(fake.at("kubepods/podg1/hugetlb.2MB.max")), std::to_string(4 * kMi));

  PodCgroupConfig b = burstable(100);
  b.cpuQuotaUs = cgroups::kUnlimited;
  b.cpuPeriodUs = 100000;
  b.memoryLimitBytes = 0;
  ASSERT_TRUE(pc.ensurePod("b1", b).ok());
  EXPECT_EQ(readText(fake.at("kubepods/burstable/podb1/cpu.max")), "max 100000");
  EXPECT_EQ(readText(fake.at("kubepods/burstable/podb1/memory.max")), "max");
  ASSERT_TRUE(pc.ensurePod("b2", burstable(300)).ok());
  EXPECT_FALSE(exists(fake.at("kubepods/burstable/podb2/cpu.max")));
  EXPECT_FALSE(exists(fake.at("kubepods/burstable/podb2/memory.max")));
  // 409 shares for the QoS level, as a weight.
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cpu.weight")), std::to_string(sharesToWeight(409)));
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cpu.weight")), "16");

  ASSERT_TRUE(pc.ensurePod("e1", bestEffort()).ok());
  EXPECT_EQ(readText(fake.at("kubepods/besteffort/pode1/cpu.weight")), "1");
  EXPECT_EQ(uids(pc), (std::vector<std::string>{"b1", "b2", "e1", "g1"}));
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cgroup.subtree_control")), "cpu cpuset hugetlb io memory pids");

  writeText(fake.at("kubepods/burstable/podb2/cgroup.procs"), "300\n301\n");
  auto st = pc.removePod("b2");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(contains(std::string(st.message()), "300, 301"));
  EXPECT_TRUE(isDir(fake.at("kubepods/burstable/podb2")));
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cpu.weight")), "16");

  ASSERT_TRUE(pc.removePod("b1").ok());
  EXPECT_FALSE(exists(fake.at("kubepods/burstable/podb1")));
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cpu.weight")), std::to_string(sharesToWeight(307)));
  writeText(fake.at("kubepods/burstable/podb2/cgroup.procs"), "");
  ASSERT_TRUE(pc.removePod("b2").ok());
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cpu.weight")), "1");
  ASSERT_TRUE(pc.removePod("g1").ok());
  ASSERT_TRUE(pc.removePod("e1").ok());
  EXPECT_TRUE(uids(pc).empty());
  EXPECT_TRUE(isDir(fake.at("kubepods/besteffort")));
}

TEST(PodCgroupsV2Test, WithoutHugetlbHugepageLimitsAreSkipped) {
  FakeV2 fake("cpu memory pids");
  auto m = fake.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  PodCgroups pc(**m, nodeOptions());
  ASSERT_TRUE(pc.init().ok());
  PodCgroupConfig c = guaranteed(100, 64 * kMi);
  c.hugepageLimits["2MB"] = 2 * kMi;
  ASSERT_TRUE(pc.ensurePod("g1", c).ok());
  EXPECT_FALSE(exists(fake.at("kubepods/podg1/hugetlb.2MB.max")));
  EXPECT_EQ(readText(fake.at("kubepods/podg1/cpu.max")), "10000 100000");
}

}  // namespace
}  // namespace cubelet::cm
