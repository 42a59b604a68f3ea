// Unit tests for cgroups/: pure parsers and conversions, read-only detection on this machine,
// and the v1 / hybrid / v2 backends against fake cgroupfs trees of plain directories in a
// temp dir (Options::plainDirectories). Nothing here writes to the real /sys/fs/cgroup.
#include "cgroups/cgroups.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/fake_cgroupfs.h"

namespace cubelet::cgroups {
namespace {

// `text` contains `part`; the failure message shows both. (Plain gtest: no gmock here.)
::testing::AssertionResult contains(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// ---------------------------------------------------------------------------------------------
// Helpers (the fake trees are shared with the tests of code built on this library).

using fake::exists;
using fake::FakeV1;
using fake::FakeV2;
using fake::isDir;
using fake::readText;
using fake::TempDir;
using fake::typicalV1Mounts;
using fake::writeText;

Resources podResources() {
  Resources r;
  r.cpuShares = 1024;
  r.cpuQuotaUs = 50000;
  r.cpuPeriodUs = 100000;
  r.memoryLimit = int64_t{1} << 30;
  r.pidsLimit = 100;
  r.hugetlbLimits["2MB"] = 4 << 20;
  r.cpusetCpus = "1-2";
  return r;
}

// ---------------------------------------------------------------------------------------------
// mountinfo parsing.

TEST(MountInfoTest, ParsesV1WithCoMountedAndNamedHierarchies) {
  const std::string text =
      "22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
      "24 22 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
      "25 24 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup "
      "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
      "28 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "29 24 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
      "rw,net_cls,net_prio\n"
      "30 24 0:27 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
      "rw,memory\n"
      "31 24 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup "
      "rw,cpuset,clone_children\n";
  auto mounts = parseMountInfo(text);
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 5u);
  EXPECT_EQ((*mounts)[0].mountPoint, "/sys/fs/cgroup/systemd");
  EXPECT_EQ((*mounts)[0].controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_FALSE((*mounts)[0].v2);
  EXPECT_EQ((*mounts)[1].mountPoint, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ((*mounts)[1].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ((*mounts)[2].controllers, (std::vector<std::string>{"net_cls", "net_prio"}));
  EXPECT_EQ((*mounts)[3].root, "/docker/abc");
  EXPECT_EQ((*mounts)[4].controllers, std::vector<std::string>{"cpuset"}) << "clone_children is an option";

  auto layout = layoutFromMounts(Mode::kV1, "/sys/fs/cgroup/", *mounts);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->root, "/sys/fs/cgroup");
  EXPECT_EQ(layout->v1.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout->v1.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout->v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
  EXPECT_EQ(layout->v1.at("memory"), "/sys/fs/cgroup/memory");
  EXPECT_TRUE(layout->unified.empty());
}

// The layout of the machine this was written on: every controller on its own mount, and a
// cgroup2 "unified" mount.
const char kHybridSample[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TEST(MountInfoTest, ParsesHybridSample) {
  auto mounts = parseMountInfo(kHybridSample);
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 10u) << "the tmpfs is not a cgroup mount";
  EXPECT_TRUE(mounts->back().v2);
  EXPECT_TRUE(mounts->back().controllers.empty());

  auto layout = layoutFromMounts(Mode::kHybrid, "/sys/fs/cgroup", *mounts);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->unified, "/sys/fs/cgroup/unified");
  EXPECT_EQ(layout->v1.at("cpu"), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(layout->v1.at("cpuacct"), "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(layout->v1.count("hugetlb"), 0u);
  EXPECT_EQ(layout->v1.size(), 9u);

  // The same mounts read as plain v1 ignore the unified tree.
  auto v1 = layoutFromMounts(Mode::kV1, "/sys/fs/cgroup", *mounts);
  ASSERT_TRUE(v1.ok());
  EXPECT_TRUE(v1->unified.empty());
  // Mounts elsewhere do not count.
  auto elsewhere = layoutFromMounts(Mode::kHybrid, "/sys/fs/cgroup/cpu2", *mounts);
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(elsewhere.status().message()), "/sys/fs/cgroup/cpu2"));
}

TEST(MountInfoTest, ParsesV2Sample) {
  const std::string text =
      "23 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
      "26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n";
  auto mounts = parseMountInfo(text);
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_TRUE((*mounts)[0].v2);
  EXPECT_TRUE((*mounts)[0].controllers.empty());
  auto layout = layoutFromMounts(Mode::kV2, "/sys/fs/cgroup", *mounts);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->unified, "/sys/fs/cgroup");
  EXPECT_TRUE(layout->v1.empty());
  // A hybrid reading needs v1 controllers.
  EXPECT_EQ(layoutFromMounts(Mode::kHybrid, "/sys/fs/cgroup", *mounts).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MountInfoTest, DecodesEscapesAndRejectsMalformedLines) {
  auto mounts = parseMountInfo("40 31 0:37 / /tmp/my\\040cgroups/cpu rw - cgroup cgroup rw,cpu\n");
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].mountPoint, "/tmp/my cgroups/cpu");

  auto bad = parseMountInfo("25 1 8:1 / / rw - ext4 /dev/root rw\n40 31 0:37 / /sys/fs/cgroup/cpu rw cgroup\n");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(std::string(bad.status().message()), "line 2"));

  auto empty = parseMountInfo("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(MountInfoTest, LaterMountShadowsEarlier) {
  const std::string text =
      "32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "33 31 0:30 / /sys/fs/cgroup/mem2 rw - cgroup cgroup rw,memory\n";
  auto layout = layoutFromMounts(Mode::kV1, "/sys/fs/cgroup", *parseMountInfo(text));
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->v1.at("memory"), "/sys/fs/cgroup/mem2");
}

// ---------------------------------------------------------------------------------------------
// Detection (read-only).

TEST(DetectTest, ThisMachine) {
  // A node agent needs cgroups: every machine this project runs on has them.
  ASSERT_TRUE(isDir(std::string(kDefaultRoot))) << "no " << kDefaultRoot << " here";
  auto mode = detectMode();
  ASSERT_TRUE(mode.ok()) << mode.status();
  RecordProperty("cgroup_mode", std::string(modeName(*mode)));

  // The factory only reads, too.
  auto manager = createManager(Options{});
  ASSERT_TRUE(manager.ok()) << manager.status();
  EXPECT_EQ((*manager)->mode(), *mode);
  EXPECT_FALSE((*manager)->controllers().empty());
  auto rootExists = (*manager)->exists("");
  ASSERT_TRUE(rootExists.ok()) << rootExists.status();
  EXPECT_TRUE(*rootExists);
  std::string controllers;
  for (const auto& c : (*manager)->controllers()) controllers += c + " ";
  RecordProperty("cgroup_controllers", controllers);
}

TEST(DetectTest, PlainDirectoryIsNotACgroupFilesystem) {
  TempDir tmp;
  auto mode = detectMode(tmp.path());
  ASSERT_FALSE(mode.ok()) << "a plain temp directory was taken for a cgroup filesystem";
  EXPECT_EQ(mode.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(mode.status().message()), tmp.path()));
  EXPECT_FALSE(detectMode(tmp.path() + "/missing").ok());
}

// ---------------------------------------------------------------------------------------------
// Conversions and validation.

TEST(ConversionTest, SharesToWeight) {
  EXPECT_EQ(sharesToWeight(2), 1u);
  EXPECT_EQ(sharesToWeight(1024), 39u);
  EXPECT_EQ(sharesToWeight(2048), 79u);
  EXPECT_EQ(sharesToWeight(262144), 10000u);
  // Clamped to [2, 262144] first.
  EXPECT_EQ(sharesToWeight(0), 1u);
  EXPECT_EQ(sharesToWeight(1), 1u);
  EXPECT_EQ(sharesToWeight(1000000), 10000u);
}

TEST(ConversionTest, FormatCpuMax) {
  EXPECT_EQ(formatCpuMax(kUnlimited, 100000), "max 100000");
  EXPECT_EQ(formatCpuMax(50000, 100000), "50000 100000");
  EXPECT_EQ(formatCpuMax(50000, std::nullopt), "50000");
  EXPECT_EQ(formatCpuMax(kUnlimited, std::nullopt), "max");
}

TEST(ConversionTest, DriverAndModeNames) {
  EXPECT_EQ(*parseDriver("cgroupfs"), Driver::kCgroupfs);
  EXPECT_EQ(*parseDriver("systemd"), Driver::kSystemd);
  EXPECT_EQ(parseDriver("cgroupFS").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(driverName(Driver::kSystemd), "systemd");
  EXPECT_EQ(modeName(Mode::kHybrid), "hybrid");
}

TEST(ValidateTest, RejectsBadValuesNamingFieldAndValue) {
  Resources r;
  EXPECT_TRUE(validate(r).ok());
  EXPECT_TRUE(validate(podResources()).ok());

  r.cpuQuotaUs = -5;
  EXPECT_TRUE(contains(std::string(validate(r).message()), "cpu quota -5"));
  r = {};
  r.cpuQuotaUs = 0;
  EXPECT_EQ(validate(r).code(), absl::StatusCode::kInvalidArgument);
  r = {};
  r.cpuPeriodUs = 0;
  EXPECT_TRUE(contains(std::string(validate(r).message()), "cpu period 0"));
  r = {};
  r.memoryLimit = -2;
  EXPECT_TRUE(contains(std::string(validate(r).message()), "memory limit -2"));
  r = {};
  r.pidsLimit = -7;
  EXPECT_TRUE(contains(std::string(validate(r).message()), "pids limit -7"));
  r = {};
  r.hugetlbLimits["2Mi"] = 0;
  EXPECT_TRUE(contains(std::string(validate(r).message()), "\"2Mi\""));
  r = {};
  r.cpusetCpus = "0-3\n";
  EXPECT_TRUE(contains(std::string(validate(r).message()), "cpuset cpus"));

  EXPECT_EQ(requiredControllers(podResources()),
            (std::vector<std::string>{"cpu", "cpuset", "hugetlb", "memory", "pids"}));
  EXPECT_TRUE(requiredControllers(Resources{}).empty());
}

// ---------------------------------------------------------------------------------------------
// Factory.

TEST(FactoryTest, SystemdDriverIsUnimplemented) {
  Options o;
  o.driver = Driver::kSystemd;
  auto m = createManager(o);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(contains(std::string(m.status().message()), "systemd"));
}

TEST(FactoryTest, MissingRootAndNoControllers) {
  TempDir tmp;
  Options o;
  o.root = tmp.path() + "/nope";
  o.mode = Mode::kV2;
  o.plainDirectories = true;
  EXPECT_EQ(createManager(o).status().code(), absl::StatusCode::kNotFound);

  // Only hierarchies this manager does not use.
  FakeV1 fake({{"systemd", "rw,name=systemd"}, {"devices", "rw,devices"}}, false);
  auto m = fake.manager(Mode::kV1);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  // mountinfo listing nothing under the root.
  o.root = tmp.path();
  o.mode = Mode::kV1;
  o.mountinfo = kHybridSample;
  EXPECT_EQ(createManager(o).status().code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// v1 backend on a fake tree.

class V1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    writeText(fake_.at("cpuset/cpuset.cpus"), "0-3\n");
    writeText(fake_.at("cpuset/cpuset.mems"), "0\n");
    auto m = fake_.manager(Mode::kV1);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = std::move(*m);
  }

  FakeV1 fake_{typicalV1Mounts(), false};
  ManagerPtr manager_;
};

TEST_F(V1Test, ReportsLayoutAndControllers) {
  EXPECT_EQ(manager_->mode(), Mode::kV1);
  EXPECT_EQ(manager_->driver(), Driver::kCgroupfs);
  EXPECT_EQ(manager_->controllers(), (std::vector<std::string>{"blkio", "cpu", "cpuacct", "cpuset", "freezer",
                                                               "hugetlb", "memory", "pids"}));
  EXPECT_EQ(manager_->layout().v1.at("cpuacct"), fake_.at("cpu,cpuacct"));
}

TEST_F(V1Test, CreateMakesTheCgroupInEveryManagedHierarchyAndApplies) {
  const std::string pod = "kubepods/burstable/pod1234";
  ASSERT_TRUE(manager_->create(pod, podResources()).ok());
  for (const char* h : {"cpu,cpuacct", "cpuset", "memory", "pids", "hugetlb", "blkio", "freezer"}) {
    EXPECT_TRUE(isDir(fake_.at(std::string(h) + "/" + pod))) << h;
  }
  for (const char* h : {"systemd", "devices", "net_cls,net_prio"}) {
    EXPECT_FALSE(exists(fake_.at(std::string(h) + "/kubepods"))) << h;
  }
  const std::string cpu = fake_.at("cpu,cpuacct/" + pod);
  EXPECT_EQ(readText(cpu + "/cpu.shares"), "1024");
  EXPECT_EQ(readText(cpu + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(readText(cpu + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(readText(fake_.at("memory/" + pod + "/memory.limit_in_bytes")), "1073741824");
  EXPECT_EQ(readText(fake_.at("pids/" + pod + "/pids.max")), "100");
  EXPECT_EQ(readText(fake_.at("hugetlb/" + pod + "/hugetlb.2MB.limit_in_bytes")), "4194304");
  // cpuset: ancestors inherit the root's values, the leaf gets what was asked.
  EXPECT_EQ(readText(fake_.at("cpuset/kubepods/cpuset.cpus")), "0-3");
  EXPECT_EQ(readText(fake_.at("cpuset/kubepods/burstable/cpuset.mems")), "0");
  EXPECT_EQ(readText(fake_.at("cpuset/" + pod + "/cpuset.cpus")), "1-2");
  EXPECT_EQ(readText(fake_.at("cpuset/" + pod + "/cpuset.mems")), "0");
  // Nothing else written: a limit not asked for is left alone.
  EXPECT_FALSE(exists(fake_.at("memory/kubepods/memory.limit_in_bytes")));

  auto there = manager_->exists("/" + pod + "/");
  ASSERT_TRUE(there.ok());
  EXPECT_TRUE(*there);
  // Creating again is fine and re-applies.
  Resources more;
  more.pidsLimit = 200;
  ASSERT_TRUE(manager_->create(pod, more).ok());
  EXPECT_EQ(readText(fake_.at("pids/" + pod + "/pids.max")), "200");
}

TEST_F(V1Test, UnlimitedValues) {
  Resources r;
  r.cpuQuotaUs = kUnlimited;
  r.memoryLimit = kUnlimited;
  r.pidsLimit = kUnlimited;
  r.hugetlbLimits["1GB"] = kUnlimited;
  ASSERT_TRUE(manager_->create("kubepods", r).ok());
  EXPECT_EQ(readText(fake_.at("cpu,cpuacct/kubepods/cpu.cfs_quota_us")), "-1");
  EXPECT_FALSE(exists(fake_.at("cpu,cpuacct/kubepods/cpu.cfs_period_us")));
  EXPECT_EQ(readText(fake_.at("memory/kubepods/memory.limit_in_bytes")), "-1");
  EXPECT_EQ(readText(fake_.at("pids/kubepods/pids.max")), "max");
  EXPECT_EQ(readText(fake_.at("hugetlb/kubepods/hugetlb.1GB.limit_in_bytes")), "-1");
}

TEST_F(V1Test, UpdateNeedsAnExistingCgroup) {
  Resources r;
  r.memoryLimit = 512 << 20;
  auto st = manager_->update("kubepods/besteffort", r);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(contains(std::string(st.message()), fake_.at("memory/kubepods/besteffort")));

  EXPECT_EQ(manager_->update("kubepods/besteffort", Resources{}).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(manager_->create("kubepods/besteffort", Resources{}).ok());
  ASSERT_TRUE(manager_->update("kubepods/besteffort", Resources{}).ok());
  ASSERT_TRUE(manager_->update("kubepods/besteffort", r).ok());
  EXPECT_EQ(readText(fake_.at("memory/kubepods/besteffort/memory.limit_in_bytes")), "536870912");
  r = {};
  r.cpuShares = 2;
  ASSERT_TRUE(manager_->update("kubepods/besteffort", r).ok());
  EXPECT_EQ(readText(fake_.at("cpu,cpuacct/kubepods/besteffort/cpu.shares")), "2");
}

TEST_F(V1Test, ExistsOnlyWhenPresentEverywhere) {
  ASSERT_TRUE(manager_->create("kubepods", Resources{}).ok());
  ASSERT_TRUE(std::filesystem::remove(fake_.at("freezer/kubepods")));
  EXPECT_FALSE(*manager_->exists("kubepods"));
  // create() repairs a partial cgroup.
  ASSERT_TRUE(manager_->create("kubepods", Resources{}).ok());
  EXPECT_TRUE(*manager_->exists("kubepods"));
  EXPECT_FALSE(*manager_->exists("nothing"));
  EXPECT_TRUE(*manager_->exists(""));
}

TEST_F(V1Test, RejectsBadPaths) {
  for (const char* bad : {"", "/", "kubepods/../etc", "kubepods//pod", "./kubepods"}) {
    EXPECT_EQ(manager_->create(bad, Resources{}).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(manager_->destroy("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->exists("..").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(V1Test, DestroyRemovesEverywhereAndRefusesWhileProcessesRemain) {
  const std::string pod = "kubepods/pod1";
  ASSERT_TRUE(manager_->create(pod, podResources()).ok());
  writeText(fake_.at("memory/" + pod + "/cgroup.procs"), "4242\n4243\n");

  auto st = manager_->destroy(pod);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(st.message()), "4242, 4243"));
  EXPECT_TRUE(contains(std::string(st.message()), fake_.at("memory/" + pod + "/cgroup.procs")));
  // Nothing was removed anywhere.
  EXPECT_TRUE(*manager_->exists(pod));

  // A parent with children is refused too.
  st = manager_->destroy("kubepods");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(st.message()), "child cgroups"));

  writeText(fake_.at("memory/" + pod + "/cgroup.procs"), "");
  ASSERT_TRUE(manager_->destroy(pod).ok());
  for (const char* h : {"cpu,cpuacct", "cpuset", "memory", "pids", "hugetlb", "blkio", "freezer"}) {
    EXPECT_FALSE(exists(fake_.at(std::string(h) + "/" + pod))) << h;
    EXPECT_TRUE(isDir(fake_.at(std::string(h) + "/kubepods"))) << h;
  }
  EXPECT_FALSE(*manager_->exists(pod));
  // Destroying what is gone succeeds.
  EXPECT_TRUE(manager_->destroy(pod).ok());
  EXPECT_TRUE(manager_->destroy("kubepods").ok());
  EXPECT_FALSE(exists(fake_.at("memory/kubepods")));
}

TEST_F(V1Test, PidsAreTheUnionOverHierarchies) {
  ASSERT_TRUE(manager_->create("kubepods/pod1/ctr", Resources{}).ok());
  writeText(fake_.at("memory/kubepods/pod1/cgroup.procs"), "10\n12\n");
  writeText(fake_.at("cpu,cpuacct/kubepods/pod1/cgroup.procs"), "12\n11\n");
  writeText(fake_.at("pids/kubepods/pod1/ctr/cgroup.procs"), "20\n");
  auto self = manager_->pids("kubepods/pod1");
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(*self, (std::vector<pid_t>{10, 11, 12}));
  auto all = manager_->pids("kubepods/pod1", Walk::kSubtree);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (std::vector<pid_t>{10, 11, 12, 20}));
  EXPECT_EQ(manager_->pids("kubepods/none").status().code(), absl::StatusCode::kNotFound);

  writeText(fake_.at("pids/kubepods/pod1/cgroup.procs"), "12\nzz\n");
  auto bad = manager_->pids("kubepods/pod1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(std::string(bad.status().message()), "zz"));
}

TEST_F(V1Test, Stats) {
  ASSERT_TRUE(manager_->create("kubepods/pod1", Resources{}).ok());
  writeText(fake_.at("memory/kubepods/pod1/memory.usage_in_bytes"), "1000000\n");
  writeText(fake_.at("memory/kubepods/pod1/memory.stat"),
            "cache 500\ninactive_file 100\ntotal_cache 600\ntotal_inactive_file 300000\n");
  writeText(fake_.at("cpu,cpuacct/kubepods/pod1/cpuacct.usage"), "123456789\n");
  writeText(fake_.at("pids/kubepods/pod1/pids.current"), "7\n");
  auto s = manager_->stats("kubepods/pod1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->memoryUsage, 1000000u);
  EXPECT_EQ(s->memoryWorkingSet, 700000u);
  EXPECT_EQ(s->cpuUsageNs, 123456789u);
  EXPECT_EQ(s->pidsCurrent, 7u);

  // More inactive file pages than usage (racy reads) floors at zero.
  writeText(fake_.at("memory/kubepods/pod1/memory.stat"), "total_inactive_file 2000000\n");
  EXPECT_EQ(manager_->stats("kubepods/pod1")->memoryWorkingSet, 0u);

  EXPECT_EQ(manager_->stats("kubepods/none").status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove(fake_.at("pids/kubepods/pod1/pids.current"));
  auto missing = manager_->stats("kubepods/pod1");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(contains(std::string(missing.status().message()), "pids.current"));

  // The root of the pids hierarchy has no pids.current: the root's stats go without it.
  writeText(fake_.at("memory/memory.usage_in_bytes"), "5000\n");
  writeText(fake_.at("memory/memory.stat"), "total_inactive_file 1000\n");
  writeText(fake_.at("cpu,cpuacct/cpuacct.usage"), "42\n");
  std::filesystem::remove(fake_.at("pids/pids.current"));
  auto root = manager_->stats("");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->memoryWorkingSet, 4000u);
  EXPECT_EQ(root->cpuUsageNs, 42u);
  EXPECT_FALSE(root->pidsCurrent.has_value());
}

TEST_F(V1Test, ErrorsNamePathValueAndErrno) {
  ASSERT_TRUE(manager_->create("kubepods", Resources{}).ok());
  // A directory where the interface file should be makes the write fail with EISDIR.
  const std::string shares = fake_.at("cpu,cpuacct/kubepods/cpu.shares");
  std::filesystem::create_directory(shares);
  Resources r;
  r.cpuShares = 1024;
  auto st = manager_->update("kubepods", r);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(st.message()), "updating cgroup kubepods: cannot write 1024 to " + shares + ": Is a directory");

  const std::string quota = fake_.at("cpu,cpuacct/kubepods/burstable/cpu.cfs_quota_us");
  std::filesystem::create_directories(quota);
  r = {};
  r.cpuQuotaUs = 100000;
  st = manager_->create("kubepods/burstable", r);
  EXPECT_EQ(std::string(st.message()),
            "creating cgroup kubepods/burstable: cannot write 100000 to " + quota + ": Is a directory");

  r = {};
  r.pidsLimit = -3;
  st = manager_->create("kubepods", r);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(std::string(st.message()), "pids limit -3"));
}

TEST(V1LayoutTest, MissingControllerIsAClearError) {
  // Like this machine: no hugetlb mount, cpu and cpuacct apart.
  FakeV1 fake({{"cpu", "rw,cpu"}, {"cpuacct", "rw,cpuacct"}, {"memory", "rw,memory"}, {"pids", "rw,pids"}}, false);
  auto m = fake.manager(Mode::kV1);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->controllers(), (std::vector<std::string>{"cpu", "cpuacct", "memory", "pids"}));
  Resources r;
  r.hugetlbLimits["2MB"] = 0;
  auto st = (*m)->create("kubepods", r);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(st.message()), "hugetlb"));
  EXPECT_FALSE(exists(fake.at("cpu/kubepods"))) << "nothing is created for a request that cannot be met";

  r = {};
  r.cpuShares = 512;
  ASSERT_TRUE((*m)->create("kubepods", r).ok());
  EXPECT_EQ(readText(fake.at("cpu/kubepods/cpu.shares")), "512");
  EXPECT_TRUE(isDir(fake.at("cpuacct/kubepods")));
  writeText(fake.at("cpuacct/kubepods/cpuacct.usage"), "5\n");
  writeText(fake.at("memory/kubepods/memory.usage_in_bytes"), "10\n");
  writeText(fake.at("memory/kubepods/memory.stat"), "total_inactive_file 4\n");
  writeText(fake.at("pids/kubepods/pids.current"), "1\n");
  auto s = (*m)->stats("kubepods");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpuUsageNs, 5u);
  EXPECT_EQ(s->memoryWorkingSet, 6u);
}

TEST(HybridTest, AlsoKeepsTheUnifiedTree) {
  FakeV1 fake({{"cpu", "rw,cpu"}, {"cpuacct", "rw,cpuacct"}, {"memory", "rw,memory"}, {"pids", "rw,pids"},
               {"systemd", "rw,name=systemd"}},
              true);
  auto m = fake.manager(Mode::kHybrid);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->mode(), Mode::kHybrid);
  EXPECT_EQ((*m)->layout().unified, fake.at("unified"));
  ASSERT_TRUE((*m)->create("kubepods/pod9", Resources{}).ok());
  EXPECT_TRUE(isDir(fake.at("unified/kubepods/pod9")));
  EXPECT_FALSE(exists(fake.at("systemd/kubepods")));

  writeText(fake.at("unified/kubepods/pod9/cgroup.procs"), "77\n");
  EXPECT_EQ(*(*m)->pids("kubepods/pod9"), std::vector<pid_t>{77});
  EXPECT_EQ((*m)->destroy("kubepods/pod9").code(), absl::StatusCode::kFailedPrecondition);
  writeText(fake.at("unified/kubepods/pod9/cgroup.procs"), "");
  ASSERT_TRUE((*m)->destroy("kubepods/pod9").ok());
  EXPECT_FALSE(exists(fake.at("unified/kubepods/pod9")));
  EXPECT_FALSE(exists(fake.at("memory/kubepods/pod9")));
}

// ---------------------------------------------------------------------------------------------
// v2 backend on a fake tree.

TEST(V2Test, CreateEnablesControllersInAncestorsAndApplies) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->mode(), Mode::kV2);
  EXPECT_EQ((*m)->controllers(),
            (std::vector<std::string>{"cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"}));

  const std::string pod = "kubepods/burstable/pod1234";
  auto st = (*m)->create(pod, podResources());
  ASSERT_TRUE(st.ok()) << st;
  const std::string enabled = "cpu cpuset hugetlb io memory pids";
  EXPECT_EQ(readText(fake.at("cgroup.subtree_control")), enabled);
  EXPECT_EQ(readText(fake.at("kubepods/cgroup.subtree_control")), enabled);
  EXPECT_EQ(readText(fake.at("kubepods/burstable/cgroup.subtree_control")), enabled);
  EXPECT_FALSE(exists(fake.at(pod + "/cgroup.subtree_control"))) << "the leaf enables nothing";

  const std::string dir = fake.at(pod);
  EXPECT_EQ(readText(dir + "/cpu.weight"), "39");
  EXPECT_EQ(readText(dir + "/cpu.max"), "50000 100000");
  EXPECT_EQ(readText(dir + "/memory.max"), "1073741824");
  EXPECT_EQ(readText(dir + "/pids.max"), "100");
  EXPECT_EQ(readText(dir + "/hugetlb.2MB.max"), "4194304");
  EXPECT_EQ(readText(dir + "/cpuset.cpus"), "1-2");
  EXPECT_FALSE(exists(dir + "/cpuset.mems"));
  EXPECT_TRUE(*(*m)->exists(pod));
}

TEST(V2Test, KeepsAlreadyEnabledControllers) {
  FakeV2 fake("cpu memory pids");
  writeText(fake.at("cgroup.subtree_control"), "memory\n");
  auto m = fake.manager();
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->create("kubepods", Resources{}).ok());
  EXPECT_EQ(readText(fake.at("cgroup.subtree_control")), "cpu memory pids");
  // Already complete: left as it is.
  writeText(fake.at("cgroup.subtree_control"), "pids cpu memory\n");
  ASSERT_TRUE((*m)->create("kubepods2", Resources{}).ok());
  EXPECT_EQ(readText(fake.at("cgroup.subtree_control")), "pids cpu memory\n");
}

TEST(V2Test, UnlimitedValuesAndPeriodAlone) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok());
  Resources r;
  r.cpuQuotaUs = kUnlimited;
  r.cpuPeriodUs = 100000;
  r.memoryLimit = kUnlimited;
  r.pidsLimit = kUnlimited;
  r.hugetlbLimits["1GB"] = kUnlimited;
  ASSERT_TRUE((*m)->create("kubepods", r).ok());
  EXPECT_EQ(readText(fake.at("kubepods/cpu.max")), "max 100000");
  EXPECT_EQ(readText(fake.at("kubepods/memory.max")), "max");
  EXPECT_EQ(readText(fake.at("kubepods/pids.max")), "max");
  EXPECT_EQ(readText(fake.at("kubepods/hugetlb.1GB.max")), "max");

  // A new period keeps the current quota.
  writeText(fake.at("kubepods/cpu.max"), "20000 100000\n");
  r = {};
  r.cpuPeriodUs = 50000;
  ASSERT_TRUE((*m)->update("kubepods", r).ok());
  EXPECT_EQ(readText(fake.at("kubepods/cpu.max")), "20000 50000");
  // Shares become a weight.
  r = {};
  r.cpuShares = 2;
  ASSERT_TRUE((*m)->update("kubepods", r).ok());
  EXPECT_EQ(readText(fake.at("kubepods/cpu.weight")), "1");
}

TEST(V2Test, UpdateDestroyAndPids) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok());
  Resources r;
  r.memoryLimit = 100 << 20;
  auto st = (*m)->update("kubepods/pod1", r);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(contains(std::string(st.message()), fake.at("kubepods/pod1")));

  ASSERT_TRUE((*m)->create("kubepods/pod1/ctr", Resources{}).ok());
  ASSERT_TRUE((*m)->update("kubepods/pod1", r).ok());
  EXPECT_EQ(readText(fake.at("kubepods/pod1/memory.max")), "104857600");

  writeText(fake.at("kubepods/pod1/ctr/cgroup.procs"), "300\n301\n");
  EXPECT_TRUE((*m)->pids("kubepods/pod1")->empty());
  EXPECT_EQ(*(*m)->pids("kubepods/pod1", Walk::kSubtree), (std::vector<pid_t>{300, 301}));

  st = (*m)->destroy("kubepods/pod1");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(st.message()), "ctr"));
  st = (*m)->destroy("kubepods/pod1/ctr");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(st.message()), "300, 301"));
  writeText(fake.at("kubepods/pod1/ctr/cgroup.procs"), "");
  ASSERT_TRUE((*m)->destroy("kubepods/pod1/ctr").ok());
  ASSERT_TRUE((*m)->destroy("kubepods/pod1").ok());
  EXPECT_FALSE(*(*m)->exists("kubepods/pod1"));
  EXPECT_TRUE(*(*m)->exists("kubepods"));
  EXPECT_TRUE((*m)->destroy("kubepods/pod1").ok());
}

TEST(V2Test, Stats) {
  FakeV2 fake;
  auto m = fake.manager();
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->create("kubepods", Resources{}).ok());
  writeText(fake.at("kubepods/memory.current"), "5000\n");
  writeText(fake.at("kubepods/memory.stat"), "anon 1000\nfile 4000\nactive_file 1000\ninactive_file 3000\n");
  writeText(fake.at("kubepods/cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
  writeText(fake.at("kubepods/pids.current"), "3\n");
  auto s = (*m)->stats("kubepods");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->memoryUsage, 5000u);
  EXPECT_EQ(s->memoryWorkingSet, 2000u);
  EXPECT_EQ(s->cpuUsageNs, 1500000u);
  EXPECT_EQ(s->pidsCurrent, 3u);

  // Controllers not enabled for the cgroup leave their fields empty.
  std::filesystem::remove(fake.at("kubepods/memory.current"));
  std::filesystem::remove(fake.at("kubepods/pids.current"));
  s = (*m)->stats("kubepods");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->memoryUsage.has_value());
  EXPECT_FALSE(s->pidsCurrent.has_value());
  EXPECT_EQ(s->cpuUsageNs, 1500000u);

  writeText(fake.at("kubepods/cpu.stat"), "usage_usec lots\n");
  auto bad = (*m)->stats("kubepods");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(std::string(bad.status().message()), fake.at("kubepods/cpu.stat")));
}

TEST(V2Test, UnavailableControllerAndWriteErrors) {
  FakeV2 fake("cpu memory pids");
  auto m = fake.manager();
  ASSERT_TRUE(m.ok());
  Resources r;
  r.cpusetCpus = "0";
  auto st = (*m)->create("kubepods", r);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(std::string(st.message()), "cpuset controller is not available under " + fake.root()));

  ASSERT_TRUE((*m)->create("kubepods", Resources{}).ok());
  const std::string max = fake.at("kubepods/cpu.max");
  std::filesystem::create_directory(max);
  r = {};
  r.cpuQuotaUs = 100000;
  r.cpuPeriodUs = 100000;
  st = (*m)->update("kubepods", r);
  EXPECT_EQ(std::string(st.message()),
            "updating cgroup kubepods: cannot write 100000 100000 to " + max + ": Is a directory");
}

}  // namespace
}  // namespace cubelet::cgroups
