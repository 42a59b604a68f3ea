// StatsProvider over a fake runtime, a fake cgroup v1 tree, a fake /proc and temp dirs:
// the summary JSON fields and values, usageNanoCores from two samples, the pod/container
// selection upstream makes, hostNetwork pods, and /metrics/resource text with timestamps.
#include "kubelet/stats/stats_provider.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/fake_cgroupfs.h"

namespace cubelet::stats {
namespace {

namespace v1 = runtime::v1;
using cgroups::fake::writeText;
using Json = nlohmann::json;

// Only the calls StatsProvider makes answer; the rest are Unimplemented.
class FakeRuntime : public runtime::RuntimeServiceClient {
 public:
  std::vector<v1::PodSandbox> sandboxes;
  std::vector<v1::Container> containers;
  std::vector<v1::ContainerStats> stats;
  std::map<std::string, v1::PodSandboxStatusResponse> statuses;
  int statusCalls = 0;
  bool failList = false;

  absl::StatusOr<runtime::RuntimeVersion> version() override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<runtime::RuntimeStatus> status() override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::StatusResponse> runtimeStatus(bool) override { return absl::UnimplementedError("fake"); }
  absl::Status updateRuntimeConfig(const std::string&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::RuntimeConfigResponse> runtimeConfig() override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<std::string> runPodSandbox(const v1::PodSandboxConfig&, const std::string&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status stopPodSandbox(const std::string&) override { return absl::UnimplementedError("fake"); }
  absl::Status removePodSandbox(const std::string&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::PodSandboxStatusResponse> podSandboxStatus(const std::string& id, bool verbose) override {
    ++statusCalls;
    EXPECT_TRUE(verbose);
    auto it = statuses.find(id);
    if (it == statuses.end()) return absl::NotFoundError("no sandbox " + id);
    return it->second;
  }
  absl::StatusOr<std::vector<v1::PodSandbox>> listPodSandbox(const v1::PodSandboxFilter&) override {
    if (failList) return absl::UnavailableError("runtime down");
    return sandboxes;
  }
  absl::StatusOr<std::string> createContainer(const std::string&, const v1::ContainerConfig&,
                                              const v1::PodSandboxConfig&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status startContainer(const std::string&) override { return absl::UnimplementedError("fake"); }
  absl::Status stopContainer(const std::string&, std::chrono::seconds) override { return absl::UnimplementedError("fake"); }
  absl::Status removeContainer(const std::string&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<std::vector<v1::Container>> listContainers(const v1::ContainerFilter&) override { return containers; }
  absl::StatusOr<v1::ContainerStatusResponse> containerStatus(const std::string&, bool) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status updateContainerResources(const std::string&, const v1::ContainerResources&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status reopenContainerLog(const std::string&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::ExecSyncResponse> execSync(const std::string&, const std::vector<std::string>&,
                                                std::chrono::seconds) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<v1::ExecResponse> exec(const v1::ExecRequest&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::AttachResponse> attach(const v1::AttachRequest&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::PortForwardResponse> portForward(const v1::PortForwardRequest&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<v1::PodSandboxStats>> listPodSandboxStats(const v1::PodSandboxStatsFilter&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<v1::ContainerStats>> listContainerStats(const v1::ContainerStatsFilter&) override {
    return stats;
  }
  absl::Status getContainerEvents(std::stop_token, const runtime::ContainerEventCallback&,
                                  const std::function<void()>&) override {
    return absl::UnimplementedError("fake");
  }
};

class FakeImages : public runtime::ImageServiceClient {
 public:
  std::string mountpoint;
  absl::StatusOr<std::string> pullImage(const v1::ImageSpec&, const v1::AuthConfig*, const v1::PodSandboxConfig*) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::optional<v1::Image>> imageStatus(const v1::ImageSpec&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<v1::Image>> listImages(const v1::ImageFilter&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status removeImage(const v1::ImageSpec&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<v1::ImageFsInfoResponse> imageFsInfo() override {
    v1::ImageFsInfoResponse r;
    auto* fs = r.add_image_filesystems();
    fs->set_timestamp(int64_t{1700000000} * 1000000000);
    fs->mutable_fs_id()->set_mountpoint(mountpoint);
    fs->mutable_used_bytes()->set_value(5000);
    fs->mutable_inodes_used()->set_value(50);
    return r;
  }
};

constexpr int64_t kSec = 1000000000;
const TimePoint kT0 = TimePoint(std::chrono::seconds(1800000000));

const char kNetDev[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier "
    "compressed\n"
    "    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0 "
    "         0\n"
    "  eth0:    2000      20    3    0    0     0          0         0     4000      40    5    0    0     0       0 "
    "         0\n"
    "vethabc:     9       9    9    9    9     9          9         9        9       9    9    9    9     9       9 "
    "         9\n";

class StatsProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = tmp_.path();
    proc_ = base_ + "/proc";
    rootDir_ = base_ + "/kubelet";
    logs_ = base_ + "/logs";
    std::filesystem::create_directories(rootDir_);
    std::filesystem::create_directories(logs_);
    writeText(proc_ + "/stat", "cpu  1 2 3\nbtime 1700000000\n");
    writeText(proc_ + "/meminfo", "MemTotal:       1000000 kB\nMemFree:         200000 kB\n");
    writeText(proc_ + "/net/dev", kNetDev);
    writeText(proc_ + "/4242/net/dev", kNetDev);
    writeText(proc_ + "/sys/kernel/pid_max", "4194304\n");

    // Node (root cgroup), one pod cgroup, one container cgroup.
    setCgroup("", 900 * 1024 * 1024ull, 100 * 1024 * 1024ull, 50 * kSec, std::nullopt);
    setCgroup("kubepods/podu1", 30000000, 10000000, 2 * kSec, 64 * 1024 * 1024);
    setCgroup("kubepods/podu1/c1", 20000000, 5000000, 1 * kSec, std::nullopt);

    addSandbox("s1", "web", "default", "u1", v1::SANDBOX_READY, false);
    addContainer("c1", "s1", "app", v1::CONTAINER_RUNNING);
    addContainer("c0", "s1", "old", v1::CONTAINER_EXITED);  // exited: left out
    // A second pod known only through CRI numbers (no pod cgroup).
    addSandbox("s2", "db", "prod", "u2", v1::SANDBOX_READY, true);
    addContainer("c2", "s2", "pg", v1::CONTAINER_RUNNING);
    // A pod whose only container is exited: not listed at all (upstream).
    addSandbox("s3", "done", "default", "u3", v1::SANDBOX_NOTREADY, false);
    addContainer("c3", "s3", "job", v1::CONTAINER_EXITED);

    v1::ContainerStats cs;
    cs.mutable_attributes()->set_id("c2");
    cs.mutable_attributes()->mutable_metadata()->set_name("pg");
    cs.mutable_cpu()->set_timestamp(1800000000 * kSec);
    cs.mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(7 * kSec);
    cs.mutable_memory()->set_timestamp(1800000000 * kSec);
    cs.mutable_memory()->mutable_working_set_bytes()->set_value(4096);
    cs.mutable_writable_layer()->set_timestamp(1800000000 * kSec);
    cs.mutable_writable_layer()->mutable_fs_id()->set_mountpoint(base_);
    cs.mutable_writable_layer()->mutable_used_bytes()->set_value(8192);
    cs.mutable_writable_layer()->mutable_inodes_used()->set_value(3);
    runtime_.stats.push_back(cs);

    images_.mountpoint = base_;
    writeText(logs_ + "/default_web_u1/app/0.log", std::string(10000, 'x'));
    writeText(rootDir_ + "/pods/u1/volumes/kubernetes.io~empty-dir/cache/data", std::string(5000, 'y'));
    writeText(rootDir_ + "/pods/u1/etc-hosts", "127.0.0.1 localhost\n");
  }

  void setCgroup(const std::string& rel, uint64_t usage, uint64_t inactiveFile, uint64_t cpuNs,
                 std::optional<uint64_t> limit) {
    const std::string mem = cg_.at("memory") + (rel.empty() ? "" : "/" + rel);
    const std::string cpu = cg_.at("cpu,cpuacct") + (rel.empty() ? "" : "/" + rel);
    writeText(mem + "/memory.usage_in_bytes", std::to_string(usage) + "\n");
    writeText(mem + "/memory.stat", "cache 1\nrss 2\ntotal_inactive_file " + std::to_string(inactiveFile) +
                                        "\ntotal_rss 777\ntotal_pgfault 11\ntotal_pgmajfault 1\n");
    writeText(mem + "/memory.limit_in_bytes", limit ? std::to_string(*limit) + "\n" : "9223372036854771712\n");
    writeText(cpu + "/cpuacct.usage", std::to_string(cpuNs) + "\n");
  }

  void addSandbox(const std::string& id, const std::string& name, const std::string& ns, const std::string& uid,
                  v1::PodSandboxState state, bool hostNetwork) {
    v1::PodSandbox s;
    s.set_id(id);
    s.mutable_metadata()->set_name(name);
    s.mutable_metadata()->set_namespace_(ns);
    s.mutable_metadata()->set_uid(uid);
    s.set_state(state);
    s.set_created_at(1700000100 * kSec);
    runtime_.sandboxes.push_back(s);
    v1::PodSandboxStatusResponse st;
    st.mutable_status()->set_id(id);
    if (hostNetwork) st.mutable_status()->mutable_linux()->mutable_namespaces()->mutable_options()->set_network(v1::NODE);
    (*st.mutable_info())["info"] = R"({"pid": 4242, "processStatus": "running"})";
    runtime_.statuses[id] = st;
  }

  void addContainer(const std::string& id, const std::string& sandbox, const std::string& name, v1::ContainerState state) {
    v1::Container c;
    c.set_id(id);
    c.set_pod_sandbox_id(sandbox);
    c.mutable_metadata()->set_name(name);
    c.set_state(state);
    c.set_created_at(1700000200 * kSec + 500000000);
    runtime_.containers.push_back(c);
  }

  std::unique_ptr<StatsProvider> provider() {
    Dependencies d;
    d.runtime = &runtime_;
    d.images = &images_;
    manager_ = *cg_.manager(cgroups::Mode::kV1);
    d.cgroups = manager_.get();
    d.podCgroup = [](const std::string& uid) { return uid == "u1" ? "kubepods/podu1" : ""; };
    d.systemContainers = {{"pods", "kubepods"}};
    d.nodeName = "node-1";
    d.rootDir = rootDir_;
    d.podLogsDir = logs_;
    d.procRoot = proc_;
    d.clock = [this] { return now_; };
    return std::make_unique<StatsProvider>(std::move(d));
  }

  cgroups::fake::TempDir tmp_;
  cgroups::fake::FakeV1 cg_{{{"cpu,cpuacct", "rw,cpu,cpuacct"}, {"memory", "rw,memory"}}, false};
  cgroups::ManagerPtr manager_;
  std::string base_, proc_, rootDir_, logs_;
  FakeRuntime runtime_;
  FakeImages images_;
  TimePoint now_ = kT0;
};

TEST(Parsers, NetDevSkipsLoopbackAndVeth) {
  auto ifaces = parseNetDev(kNetDev);
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  ASSERT_EQ(ifaces->size(), 1u);
  EXPECT_EQ((*ifaces)[0].name, "eth0");
  EXPECT_EQ((*ifaces)[0].rxBytes, 2000u);
  EXPECT_EQ((*ifaces)[0].rxErrors, 3u);
  EXPECT_EQ((*ifaces)[0].txBytes, 4000u);
  EXPECT_EQ((*ifaces)[0].txErrors, 5u);
  EXPECT_FALSE(parseNetDev("h1\nh2\n eth0: 1 2 3\n").ok());
}

TEST(Parsers, MeminfoAndSandboxPid) {
  auto m = parseMeminfo("MemTotal:  16 kB\nHugePages_Total:  3\n");
  EXPECT_EQ(m["MemTotal"], 16384u);
  EXPECT_EQ(m["HugePages_Total"], 3u);
  EXPECT_EQ(sandboxPidFromInfo(R"({"pid": 12, "x": 1})"), 12);
  EXPECT_EQ(sandboxPidFromInfo(R"({"pid": 0})"), std::nullopt);
  EXPECT_EQ(sandboxPidFromInfo("not json"), std::nullopt);
}

TEST(Format, TimeIsRfc3339Seconds) {
  EXPECT_EQ(formatTime(TimePoint(std::chrono::milliseconds(1700000000999))), "2023-11-14T22:13:20Z");
}

TEST_F(StatsProviderTest, SummaryJsonFieldsAndValues) {
  auto p = provider();
  auto text = p->summaryJson(false);
  ASSERT_TRUE(text.ok()) << text.status();
  Json j = Json::parse(*text);

  const auto& node = j["node"];
  EXPECT_EQ(node["nodeName"], "node-1");
  EXPECT_EQ(node["startTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(node["cpu"]["time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(node["cpu"]["usageCoreNanoSeconds"], 50 * kSec);
  EXPECT_FALSE(node["cpu"].contains("usageNanoCores"));  // first sample
  EXPECT_EQ(node["memory"]["usageBytes"], 900 * 1024 * 1024ull);
  EXPECT_EQ(node["memory"]["workingSetBytes"], 800 * 1024 * 1024ull);
  EXPECT_EQ(node["memory"]["availableBytes"], 1000000 * 1024ull - 800 * 1024 * 1024ull);
  EXPECT_EQ(node["memory"]["rssBytes"], 777);
  EXPECT_EQ(node["memory"]["pageFaults"], 11);
  EXPECT_EQ(node["memory"]["majorPageFaults"], 1);
  EXPECT_EQ(node["network"]["name"], "eth0");
  EXPECT_EQ(node["network"]["rxBytes"], 2000);
  ASSERT_EQ(node["network"]["interfaces"].size(), 1u);
  EXPECT_GT(node["fs"]["capacityBytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(node["fs"].contains("inodesFree"));
  EXPECT_EQ(node["runtime"]["imageFs"]["usedBytes"], 5000);
  EXPECT_EQ(node["runtime"]["imageFs"]["inodesUsed"], 50);
  EXPECT_EQ(node["runtime"]["imageFs"]["time"], "2023-11-14T22:13:20Z");
  EXPECT_TRUE(node["runtime"]["imageFs"].contains("capacityBytes"));
  EXPECT_TRUE(node["runtime"].contains("containerFs"));
  EXPECT_EQ(node["rlimit"]["maxpid"], 4194304);
  ASSERT_EQ(node["systemContainers"].size(), 1u);
  EXPECT_EQ(node["systemContainers"][0]["name"], "pods");

  // Pods sorted by namespace/name: default/web, prod/db; done (only exited) is absent.
  ASSERT_EQ(j["pods"].size(), 2u);
  const auto& web = j["pods"][0];
  EXPECT_EQ(web["podRef"], (Json{{"name", "web"}, {"namespace", "default"}, {"uid", "u1"}}));
  EXPECT_EQ(web["startTime"], "2023-11-14T22:15:00Z");
  ASSERT_EQ(web["containers"].size(), 1u);
  const auto& app = web["containers"][0];
  EXPECT_EQ(app["name"], "app");
  EXPECT_EQ(app["startTime"], "2023-11-14T22:16:40Z");
  EXPECT_EQ(app["cpu"]["usageCoreNanoSeconds"], 1 * kSec);
  EXPECT_EQ(app["memory"]["workingSetBytes"], 15000000);
  EXPECT_FALSE(app["memory"].contains("availableBytes"));  // no limit
  EXPECT_GE(app["logs"]["usedBytes"].get<uint64_t>(), 10000u);
  EXPECT_EQ(app["logs"]["inodesUsed"], 2);  // the directory and the file
  EXPECT_EQ(web["cpu"]["usageCoreNanoSeconds"], 2 * kSec);
  EXPECT_EQ(web["memory"]["workingSetBytes"], 20000000);
  EXPECT_EQ(web["memory"]["availableBytes"], 64 * 1024 * 1024 - 20000000);
  EXPECT_EQ(web["network"]["name"], "eth0");
  EXPECT_EQ(web["network"]["txBytes"], 4000);
  ASSERT_EQ(web["volume"].size(), 1u);
  EXPECT_EQ(web["volume"][0]["name"], "cache");
  EXPECT_GE(web["volume"][0]["usedBytes"].get<uint64_t>(), 5000u);
  EXPECT_GE(web["ephemeral-storage"]["usedBytes"].get<uint64_t>(), 10000u);

  const auto& db = j["pods"][1];
  EXPECT_EQ(db["podRef"]["name"], "db");
  EXPECT_FALSE(db.contains("network"));  // hostNetwork
  const auto& pg = db["containers"][0];
  EXPECT_EQ(pg["cpu"]["usageCoreNanoSeconds"], 7 * kSec);
  EXPECT_EQ(pg["memory"]["workingSetBytes"], 4096);
  EXPECT_EQ(pg["rootfs"]["usedBytes"], 8192);
  EXPECT_EQ(pg["rootfs"]["inodesUsed"], 3);
  EXPECT_TRUE(pg["rootfs"].contains("capacityBytes"));
  // Pod numbers summed from the containers.
  EXPECT_EQ(db["cpu"]["usageCoreNanoSeconds"], 7 * kSec);
  EXPECT_EQ(db["memory"]["workingSetBytes"], 4096);
}

TEST_F(StatsProviderTest, UsageNanoCoresFromTwoSamples) {
  auto p = provider();
  ASSERT_TRUE(p->summary(true).ok());
  // 10 s later the container used 2.5 s more CPU: 0.25 cores; the node 5 s more: 0.5 cores.
  now_ = kT0 + std::chrono::seconds(10);
  setCgroup("kubepods/podu1/c1", 20000000, 5000000, 1 * kSec + 2500000000, std::nullopt);
  setCgroup("", 900 * 1024 * 1024ull, 100 * 1024 * 1024ull, 55 * kSec, std::nullopt);
  auto s = p->summary(true);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->node.cpu->usageNanoCores, 500000000u);
  ASSERT_EQ(s->pods.size(), 2u);
  EXPECT_EQ(s->pods[0].containers[0].cpu->usageNanoCores, 250000000u);
  // only_cpu_and_memory leaves out fs, network, volumes.
  EXPECT_FALSE(s->node.fs);
  EXPECT_FALSE(s->pods[0].network);
  EXPECT_FALSE(s->pods[0].ephemeralStorage);
  EXPECT_FALSE(s->pods[0].containers[0].logs);

  // A counter that went backwards (restart) gives no rate until the next sample.
  now_ = kT0 + std::chrono::seconds(20);
  setCgroup("kubepods/podu1/c1", 20000000, 5000000, 100, std::nullopt);
  s = p->summary(true);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->pods[0].containers[0].cpu->usageNanoCores);
}

TEST_F(StatsProviderTest, SandboxStatusIsCached) {
  auto p = provider();
  ASSERT_TRUE(p->summary(false).ok());
  ASSERT_TRUE(p->summary(false).ok());
  EXPECT_EQ(runtime_.statusCalls, 2);  // once per sandbox with running containers
}

TEST_F(StatsProviderTest, ResourceMetricsText) {
  auto p = provider();
  const std::string text = p->resourceMetricsText();
  const std::string ts = " 1800000000000\n";
  EXPECT_NE(text.find("# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container "
                      "in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n"
                      "container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web\"} 1" +
                      ts +
                      "container_cpu_usage_seconds_total{container=\"pg\",namespace=\"prod\",pod=\"db\"} 7" + ts),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("container_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=\"web\"} "
                      "1.5e+07" + ts),
            std::string::npos);
  EXPECT_NE(text.find("container_start_time_seconds{container=\"app\",namespace=\"default\",pod=\"web\"} "
                      "1.7000002005e+09\n"),
            std::string::npos);
  EXPECT_NE(text.find("# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in "
                      "core-seconds\n# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total 50" + ts),
            std::string::npos);
  EXPECT_NE(text.find("node_memory_working_set_bytes 8.388608e+08" + ts), std::string::npos);
  EXPECT_NE(text.find("pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 2" + ts), std::string::npos);
  EXPECT_NE(text.find("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 2e+07" + ts), std::string::npos);
  EXPECT_NE(text.find("# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, "
                      "0 otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n"),
            std::string::npos);

  runtime_.failList = true;
  EXPECT_EQ(p->resourceMetricsText(),
            "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 "
            "otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 1\n");
  EXPECT_FALSE(p->summaryJson(false).ok());
}

// cgroup v2: cpu.stat usage_usec, memory.current, anon for rss, "max" = no limit; the root
// has no memory.current, so the node's memory comes from /proc/meminfo.
TEST_F(StatsProviderTest, CgroupV2) {
  cgroups::fake::FakeV2 v2;
  writeText(v2.at("cpu.stat"), "usage_usec 3000000\nuser_usec 1\n");
  writeText(v2.at("memory.stat"), "anon 5\n");
  writeText(v2.at("kubepods/podu1/cpu.stat"), "usage_usec 1500\n");
  writeText(v2.at("kubepods/podu1/memory.current"), "1000\n");
  writeText(v2.at("kubepods/podu1/memory.max"), "max\n");
  writeText(v2.at("kubepods/podu1/memory.stat"), "anon 600\ninactive_file 300\npgfault 9\npgmajfault 2\n");
  writeText(proc_ + "/meminfo", "MemTotal: 1000 kB\nMemFree: 400 kB\nInactive(file): 100 kB\n");
  auto m = v2.manager();
  ASSERT_TRUE(m.ok()) << m.status();
  Dependencies d;
  d.runtime = &runtime_;
  d.cgroups = m->get();
  d.podCgroup = [](const std::string& uid) { return uid == "u1" ? "kubepods/podu1" : ""; };
  d.procRoot = proc_;
  d.rootDir = rootDir_;
  d.podLogsDir = logs_;
  d.clock = [this] { return now_; };
  StatsProvider p(std::move(d));
  auto s = p.summary(true);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->node.cpu->usageCoreNanoSeconds, 3000000000u);
  EXPECT_EQ(s->node.memory->usageBytes, 600 * 1024u);
  EXPECT_EQ(s->node.memory->workingSetBytes, 500 * 1024u);
  EXPECT_EQ(s->node.memory->availableBytes, 500 * 1024u);
  const auto& web = s->pods[0];
  EXPECT_EQ(web.cpu->usageCoreNanoSeconds, 1500000u);
  EXPECT_EQ(web.memory->usageBytes, 1000u);
  EXPECT_EQ(web.memory->workingSetBytes, 700u);
  EXPECT_EQ(web.memory->rssBytes, 600u);
  EXPECT_EQ(web.memory->pageFaults, 9u);
  EXPECT_EQ(web.memory->majorPageFaults, 2u);
  EXPECT_FALSE(web.memory->availableBytes);
}

// A v1 machine with a pids hierarchy: its root has no pids.current, which must not cost the
// node its cpu and memory numbers.
TEST_F(StatsProviderTest, V1RootWithoutPidsCurrent) {
  cgroups::fake::FakeV1 cg({{"cpu,cpuacct", "rw,cpu,cpuacct"}, {"memory", "rw,memory"}, {"pids", "rw,pids"}}, false);
  writeText(cg.at("memory/memory.usage_in_bytes"), "2000\n");
  writeText(cg.at("memory/memory.stat"), "total_inactive_file 500\n");
  writeText(cg.at("cpu,cpuacct/cpuacct.usage"), "42\n");
  auto m = cg.manager(cgroups::Mode::kV1);
  ASSERT_TRUE(m.ok()) << m.status();
  Dependencies d;
  d.runtime = &runtime_;
  d.cgroups = m->get();
  d.procRoot = proc_;
  StatsProvider p(std::move(d));
  auto s = p.summary(true);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->node.cpu);
  EXPECT_EQ(s->node.cpu->usageCoreNanoSeconds, 42u);
  ASSERT_TRUE(s->node.memory);
  EXPECT_EQ(s->node.memory->workingSetBytes, 1500u);
  // No pod cgroup known: the pod's numbers are its containers' (CRI for pg, none for app).
  EXPECT_FALSE(s->pods[0].cpu);
  EXPECT_EQ(s->pods[1].cpu->usageCoreNanoSeconds, 7000000000u);
}

}  // namespace
}  // namespace cubelet::stats
