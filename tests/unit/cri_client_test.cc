// CriClient against the in-process fake runtime (tests/fakes/fake_cri.h): every call's round
// trip, filters, error mapping, deadlines, the events stream and failure injection.
#include <future>
#include "kubelet/runtime/cri_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "kubelet/metrics/kubelet_metrics.h"
#include "tests/fakes/fake_cri.h"

namespace cubelet::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::filesystem::path testDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Short: unix socket paths are limited to 107 bytes.
  return std::filesystem::temp_directory_path() /
         ("cri-" + std::to_string(getpid()) + "-" + std::string(info->name()).substr(0, 40));
}

v1::PodSandboxConfig sandboxConfig(const std::string& name, const std::string& ns = "default") {
  v1::PodSandboxConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_metadata()->set_namespace_(ns);
  c.mutable_metadata()->set_uid(name + "-uid");
  c.set_hostname(name);
  c.set_log_directory("/var/log/pods/" + ns + "_" + name + "_" + name + "-uid");
  (*c.mutable_labels())["io.kubernetes.pod.name"] = name;
  (*c.mutable_labels())["io.kubernetes.pod.namespace"] = ns;
  (*c.mutable_annotations())["kubernetes.io/config.source"] = "api";
  return c;
}

v1::ContainerConfig containerConfig(const std::string& name, const std::string& image = "registry.k8s.io/pause:3.10") {
  v1::ContainerConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_image()->set_image(image);
  c.add_command("/bin/sh");
  c.set_log_path(name + "/0.log");
  (*c.mutable_labels())["io.kubernetes.container.name"] = name;
  (*c.mutable_annotations())["io.kubernetes.container.restartCount"] = "0";
  auto* m = c.add_mounts();
  m->set_container_path("/data");
  m->set_host_path("/var/lib/kubelet/pods/x/volumes/data");
  return c;
}

class CriFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testDir();
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    client_ = connect(seconds(2));
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<CriClient> connect(milliseconds timeout, std::string imageEndpoint = "",
                                     milliseconds pullTimeout = milliseconds(0)) {
    CriClientOptions o;
    o.runtimeEndpoint = server_->endpoint();
    o.imageEndpoint = std::move(imageEndpoint);
    o.requestTimeout = timeout;
    o.pullImageTimeout = pullTimeout;
    auto c = CriClient::connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  testing::FakeRuntimeService& fake() { return server_->service(); }

  std::string runSandbox(const std::string& name, const std::string& ns = "default") {
    auto id = client_->runPodSandbox(sandboxConfig(name, ns), "");
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : "";
  }
  std::string createContainer(const std::string& sandboxId, const std::string& sandboxName,
                              const std::string& name) {
    auto id = client_->createContainer(sandboxId, containerConfig(name), sandboxConfig(sandboxName));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : "";
  }
  std::string runningContainer(const std::string& sandboxId, const std::string& sandboxName,
                               const std::string& name) {
    std::string id = createContainer(sandboxId, sandboxName, name);
    auto st = client_->startContainer(id);
    EXPECT_TRUE(st.ok()) << st;
    return id;
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<CriClient> client_;
};

// ------------------------------------------------------------------ connect, runtime status

class CriConnectTest : public CriFixture {};

TEST_F(CriConnectTest, RejectsNonUnixEndpoints) {
  CriClientOptions o;
  o.runtimeEndpoint = "tcp://127.0.0.1:1234";
  auto c = CriClient::connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("container runtime endpoint \"tcp://127.0.0.1:1234\""), std::string::npos);

  o.runtimeEndpoint = server_->endpoint();
  o.imageEndpoint = "npipe:////./pipe/containerd";
  c = CriClient::connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("image service endpoint"), std::string::npos);
}

TEST_F(CriConnectTest, BarePathAndZeroTimeoutWork) {
  CriClientOptions o;
  o.runtimeEndpoint = (dir_ / "cri.sock").string();
  o.requestTimeout = milliseconds(0);  // "use the default", not "expire at once"
  auto c = CriClient::connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto v = (*c)->version();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->runtimeName, "fakeruntime");
  auto call = fake().lastCall("Version");
  ASSERT_TRUE(call && call->deadline);
  EXPECT_GT(*call->deadline, seconds(100)) << "the 2m default applies";
}

TEST_F(CriConnectTest, VersionStatusAndRuntimeConfig) {
  auto v = client_->version();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->runtimeVersion, "1.2.3");
  EXPECT_EQ(v->runtimeApiVersion, "v1");
  EXPECT_EQ(fake().lastRequest<v1::VersionRequest>("Version")->version(), "v1");

  fake().setNetworkReady(false);
  auto st = client_->status();
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_NE(st->find("NetworkReady"), nullptr);
  EXPECT_FALSE(st->find("NetworkReady")->status);
  EXPECT_EQ(st->find("NetworkReady")->reason, "NetworkPluginNotReady");
  EXPECT_TRUE(st->find("RuntimeReady")->status);

  auto full = client_->runtimeStatus(true);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->status().conditions_size(), 2);
  EXPECT_EQ(full->runtime_handlers_size(), 2) << "default and runc";
  EXPECT_TRUE(full->info().contains("config")) << "verbose answers carry info";

  ASSERT_TRUE(client_->updateRuntimeConfig("10.244.1.0/24").ok());
  EXPECT_EQ(fake().podCidr(), "10.244.1.0/24");

  fake().setCgroupDriver(v1::SYSTEMD);
  auto rc = client_->runtimeConfig();
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->linux().cgroup_driver(), v1::SYSTEMD);
}

// ------------------------------------------------------------------ sandboxes

class CriSandboxTest : public CriFixture {};

TEST_F(CriSandboxTest, RunAndStatusRoundTrip) {
  std::string id = runSandbox("nginx");
  EXPECT_EQ(id.size(), 64u);
  auto resp = client_->podSandboxStatus(id, false);
  ASSERT_TRUE(resp.ok()) << resp.status();
  const auto& s = resp->status();
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(s.metadata().name(), "nginx");
  EXPECT_EQ(s.metadata().namespace_(), "default");
  EXPECT_EQ(s.metadata().uid(), "nginx-uid");
  EXPECT_EQ(s.state(), v1::SANDBOX_READY);
  EXPECT_GT(s.created_at(), 0);
  EXPECT_EQ(s.network().ip(), "10.88.0.2");
  EXPECT_EQ(s.labels().at("io.kubernetes.pod.name"), "nginx");
  EXPECT_EQ(s.annotations().at("kubernetes.io/config.source"), "api");
  EXPECT_TRUE(resp->info().empty());

  auto verbose = client_->podSandboxStatus(id.substr(0, 12), true);
  ASSERT_TRUE(verbose.ok()) << verbose.status() << ": a unique id prefix resolves, as in containerd";
  EXPECT_EQ(verbose->status().id(), id);
  EXPECT_TRUE(verbose->info().contains("info"));
}

TEST_F(CriSandboxTest, HostNetworkSandboxHasNoIpAndHandlersAreChecked) {
  auto cfg = sandboxConfig("hostnet");
  cfg.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  auto id = client_->runPodSandbox(cfg, "runc");
  ASSERT_TRUE(id.ok()) << id.status();
  auto s = client_->podSandboxStatus(*id, false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().network().ip(), "");
  EXPECT_EQ(s->status().linux().namespaces().options().network(), v1::NODE);
  EXPECT_EQ(s->status().runtime_handler(), "runc");
  EXPECT_EQ(fake().lastRequest<v1::RunPodSandboxRequest>("RunPodSandbox")->runtime_handler(), "runc");

  auto bad = client_->runPodSandbox(sandboxConfig("kata"), "kata");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("CRI RunPodSandbox default/kata: "), std::string::npos) << bad.status();
  fake().addRuntimeHandler("kata");
  EXPECT_TRUE(client_->runPodSandbox(sandboxConfig("kata"), "kata").ok());
}

TEST_F(CriSandboxTest, NameIsReservedUntilRemoved) {
  std::string id = runSandbox("web");
  auto again = client_->runPodSandbox(sandboxConfig("web"), "");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  auto next = sandboxConfig("web");
  next.mutable_metadata()->set_attempt(1);
  EXPECT_TRUE(client_->runPodSandbox(next, "").ok()) << "a new attempt is a new name";
  ASSERT_TRUE(client_->removePodSandbox(id).ok());
  EXPECT_TRUE(client_->runPodSandbox(sandboxConfig("web"), "").ok());
}

TEST_F(CriSandboxTest, MetadataIsRequired) {
  v1::PodSandboxConfig cfg;
  cfg.mutable_metadata()->set_name("nameonly");
  auto id = client_->runPodSandbox(cfg, "");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CriSandboxTest, UnknownSandboxIsNotFound) {
  auto s = client_->podSandboxStatus("deadbeef", false);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(isNotFound(s.status()));
  EXPECT_EQ(s.status().message().rfind("CRI PodSandboxStatus deadbeef: ", 0), 0u) << s.status();
  auto stop = client_->stopPodSandbox("deadbeef");
  EXPECT_TRUE(isNotFound(stop)) << stop;
  EXPECT_EQ(stop.message().rfind("CRI StopPodSandbox deadbeef: ", 0), 0u) << stop;
  EXPECT_TRUE(client_->removePodSandbox("deadbeef").ok()) << "removal is idempotent";
}

// Every call is counted on kubelet_runtime_operations_* under upstream's operation names.
TEST_F(CriSandboxTest, CallsAreRecordedAsRuntimeOperations) {
  auto& m = metrics::kubeletMetrics();
  const double calls = m.runtimeOperations.with({"podsandbox_status"}).value();
  const double errors = m.runtimeOperationsErrors.with({"podsandbox_status"}).value();
  const uint64_t observed = m.runtimeOperationsDuration.with({"podsandbox_status"}).count();
  const double runs = m.runtimeOperations.with({"run_podsandbox"}).value();
  EXPECT_FALSE(client_->podSandboxStatus("deadbeef", false).ok());
  ASSERT_TRUE(client_->runPodSandbox(sandboxConfig("counted"), "").ok());
  EXPECT_EQ(m.runtimeOperations.with({"podsandbox_status"}).value(), calls + 1);
  EXPECT_EQ(m.runtimeOperationsErrors.with({"podsandbox_status"}).value(), errors + 1);
  EXPECT_EQ(m.runtimeOperationsDuration.with({"podsandbox_status"}).count(), observed + 1);
  EXPECT_EQ(m.runtimeOperations.with({"run_podsandbox"}).value(), runs + 1);
  EXPECT_GE(m.runPodsandboxDuration.with({""}).count(), 1u);
  ASSERT_TRUE(client_->listContainers(v1::ContainerFilter()).ok());
  EXPECT_GE(m.runtimeOperations.with({"list_containers"}).value(), 1);
  EXPECT_NE(m.registry.render().find("kubelet_runtime_operations_total{operation_type=\"list_containers\"}"),
            std::string::npos);
}

TEST_F(CriSandboxTest, ListFilters) {
  std::string a = runSandbox("a", "ns1");
  std::string b = runSandbox("b", "ns1");
  std::string c = runSandbox("c", "ns2");
  ASSERT_TRUE(client_->stopPodSandbox(b).ok());

  auto ids = [](const absl::StatusOr<std::vector<v1::PodSandbox>>& r) {
    std::vector<std::string> out;
    if (r.ok())
      for (const auto& s : *r) out.push_back(s.id());
    return out;
  };
  EXPECT_EQ(ids(client_->listPodSandbox({})), (std::vector<std::string>{a, b, c})) << "creation order";

  v1::PodSandboxFilter f;
  f.set_id(c);
  EXPECT_EQ(ids(client_->listPodSandbox(f)), std::vector<std::string>{c});
  f.set_id(a.substr(0, 10));
  EXPECT_EQ(ids(client_->listPodSandbox(f)), std::vector<std::string>{a}) << "prefix";
  f.set_id("nope");
  EXPECT_TRUE(ids(client_->listPodSandbox(f)).empty());

  v1::PodSandboxFilter byState;
  byState.mutable_state()->set_state(v1::SANDBOX_READY);
  EXPECT_EQ(ids(client_->listPodSandbox(byState)), (std::vector<std::string>{a, c}));
  byState.mutable_state()->set_state(v1::SANDBOX_NOTREADY);
  EXPECT_EQ(ids(client_->listPodSandbox(byState)), std::vector<std::string>{b});

  v1::PodSandboxFilter byLabel;
  (*byLabel.mutable_label_selector())["io.kubernetes.pod.namespace"] = "ns1";
  EXPECT_EQ(ids(client_->listPodSandbox(byLabel)), (std::vector<std::string>{a, b}));
  *byLabel.mutable_state() = byState.state();
  EXPECT_EQ(ids(client_->listPodSandbox(byLabel)), std::vector<std::string>{b}) << "filters combine";
  (*byLabel.mutable_label_selector())["io.kubernetes.pod.name"] = "a";
  EXPECT_TRUE(ids(client_->listPodSandbox(byLabel)).empty());

  auto list = client_->listPodSandbox({});
  ASSERT_TRUE(list.ok());
  const auto& first = (*list)[0];
  EXPECT_EQ(first.metadata().name(), "a");
  EXPECT_EQ(first.labels().at("io.kubernetes.pod.namespace"), "ns1");
  EXPECT_EQ(first.annotations().at("kubernetes.io/config.source"), "api");
  EXPECT_GT(first.created_at(), 0);
}

TEST_F(CriSandboxTest, StopKillsContainersAndIsIdempotent) {
  std::string sb = runSandbox("pod");
  std::string running = runningContainer(sb, "pod", "app");
  std::string created = createContainer(sb, "pod", "sidecar");
  ASSERT_TRUE(client_->stopPodSandbox(sb).ok());
  auto s = client_->podSandboxStatus(sb, false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().state(), v1::SANDBOX_NOTREADY);
  auto app = client_->containerStatus(running, false);
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->status().state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(app->status().exit_code(), 137);
  EXPECT_EQ(app->status().reason(), "Error");
  auto side = client_->containerStatus(created, false);
  ASSERT_TRUE(side.ok());
  EXPECT_EQ(side->status().state(), v1::CONTAINER_CREATED) << "never started, nothing to stop";
  EXPECT_TRUE(client_->stopPodSandbox(sb).ok());

  auto start = client_->startContainer(created);
  EXPECT_EQ(start.code(), absl::StatusCode::kFailedPrecondition) << "the sandbox is gone";
  auto create = client_->createContainer(sb, containerConfig("late"), sandboxConfig("pod"));
  EXPECT_EQ(create.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CriSandboxTest, RemoveTakesItsContainers) {
  std::string sb = runSandbox("pod");
  std::string other = runSandbox("other");
  std::string app = runningContainer(sb, "pod", "app");
  std::string keep = runningContainer(other, "other", "app");
  ASSERT_TRUE(client_->removePodSandbox(sb).ok()) << "a ready sandbox is stopped first";
  EXPECT_TRUE(isNotFound(client_->podSandboxStatus(sb, false).status()));
  EXPECT_TRUE(isNotFound(client_->containerStatus(app, false).status()));
  auto all = client_->listContainers({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].id(), keep);
  EXPECT_TRUE(client_->removePodSandbox(sb).ok());
}

// ------------------------------------------------------------------ containers

class CriContainerTest : public CriFixture {};

TEST_F(CriContainerTest, LifecycleRoundTrip) {
  std::string sb = runSandbox("pod");
  std::string id = createContainer(sb, "pod", "app");
  ASSERT_EQ(id.size(), 64u);
  auto created = client_->containerStatus(id, false);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status().state(), v1::CONTAINER_CREATED);
  EXPECT_GT(created->status().created_at(), 0);
  EXPECT_EQ(created->status().started_at(), 0);

  ASSERT_TRUE(client_->startContainer(id).ok());
  auto running = client_->containerStatus(id, false);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->status().state(), v1::CONTAINER_RUNNING);
  EXPECT_GT(running->status().started_at(), running->status().created_at());

  ASSERT_TRUE(client_->stopContainer(id, seconds(30)).ok());
  auto exited = client_->containerStatus(id, false);
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(exited->status().state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(exited->status().exit_code(), 0);
  EXPECT_EQ(exited->status().reason(), "Completed");
  EXPECT_GT(exited->status().finished_at(), exited->status().started_at());
  EXPECT_EQ(fake().lastRequest<v1::StopContainerRequest>("StopContainer")->timeout(), 30);
  EXPECT_TRUE(client_->stopContainer(id, seconds(30)).ok()) << "stopping an exited container succeeds";

  ASSERT_TRUE(client_->removeContainer(id).ok());
  auto gone = client_->containerStatus(id, false);
  EXPECT_TRUE(isNotFound(gone.status()));
  EXPECT_EQ(gone.status().message().rfind("CRI ContainerStatus " + id + ": ", 0), 0u) << gone.status();
  EXPECT_TRUE(client_->removeContainer(id).ok()) << "removal is idempotent";
}

TEST_F(CriContainerTest, StatusCarriesConfigImageAndLogPath) {
  std::string sb = runSandbox("pod");
  auto cfg = containerConfig("app");
  cfg.mutable_linux()->mutable_resources()->set_cpu_shares(512);
  cfg.set_stop_signal(v1::SIGNAL_SIGINT);
  auto id = client_->createContainer(sb, cfg, sandboxConfig("pod"));
  ASSERT_TRUE(id.ok()) << id.status();
  auto resp = client_->containerStatus(*id, true);
  ASSERT_TRUE(resp.ok()) << resp.status();
  const auto& s = resp->status();
  EXPECT_EQ(s.metadata().name(), "app");
  EXPECT_EQ(s.image().image(), "registry.k8s.io/pause:3.10");
  EXPECT_EQ(s.image_ref().rfind("registry.k8s.io/pause@sha256:", 0), 0u) << s.image_ref();
  EXPECT_EQ(s.image_id().rfind("sha256:", 0), 0u);
  EXPECT_EQ(s.log_path(), "/var/log/pods/default_pod_pod-uid/app/0.log");
  EXPECT_EQ(s.labels().at("io.kubernetes.container.name"), "app");
  EXPECT_EQ(s.annotations().at("io.kubernetes.container.restartCount"), "0");
  ASSERT_EQ(s.mounts_size(), 1);
  EXPECT_EQ(s.mounts(0).container_path(), "/data");
  EXPECT_EQ(s.resources().linux().cpu_shares(), 512);
  EXPECT_EQ(s.stop_signal(), v1::SIGNAL_SIGINT);
  EXPECT_TRUE(resp->info().contains("info"));
}

TEST_F(CriContainerTest, CreateErrors) {
  std::string sb = runSandbox("pod");
  auto noImage = client_->createContainer(sb, containerConfig("app", "nginx:1.25"), sandboxConfig("pod"));
  ASSERT_FALSE(noImage.ok());
  EXPECT_TRUE(isNotFound(noImage.status())) << noImage.status();
  EXPECT_EQ(noImage.status().message().rfind("CRI CreateContainer " + sb + "/app: ", 0), 0u) << noImage.status();

  auto noSandbox = client_->createContainer("0123", containerConfig("app"), sandboxConfig("pod"));
  EXPECT_TRUE(isNotFound(noSandbox.status()));

  createContainer(sb, "pod", "app");
  auto dup = client_->createContainer(sb, containerConfig("app"), sandboxConfig("pod"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  auto cfg = containerConfig("app");
  cfg.mutable_metadata()->set_attempt(1);
  EXPECT_TRUE(client_->createContainer(sb, cfg, sandboxConfig("pod")).ok());

  auto unnamed = client_->createContainer(sb, v1::ContainerConfig(), sandboxConfig("pod"));
  EXPECT_EQ(unnamed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CriContainerTest, StartTwiceAndStopStates) {
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  EXPECT_EQ(client_->startContainer(id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(isNotFound(client_->startContainer("ffff")));

  ASSERT_TRUE(client_->stopContainer(id, seconds(0)).ok());
  auto s = client_->containerStatus(id, false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().exit_code(), 137) << "no grace period: SIGKILL";
  EXPECT_EQ(s->status().reason(), "Error");

  std::string created = createContainer(sb, "pod", "idle");
  ASSERT_TRUE(client_->stopContainer(created, seconds(10)).ok());
  EXPECT_EQ(client_->containerStatus(created, false)->status().state(), v1::CONTAINER_CREATED);
  EXPECT_TRUE(isNotFound(client_->stopContainer("ffff", seconds(1))));

  fake().setStopExitCode(143);
  std::string other = runningContainer(sb, "pod", "other");
  ASSERT_TRUE(client_->stopContainer(other, seconds(5)).ok());
  EXPECT_EQ(client_->containerStatus(other, false)->status().exit_code(), 143);
}

TEST_F(CriContainerTest, TestsCanExitContainers) {
  std::string sb = runSandbox("pod");
  std::string a = runningContainer(sb, "pod", "a");
  std::string b = runningContainer(sb, "pod", "b");
  ASSERT_TRUE(fake().exitContainer(a, 0));
  ASSERT_TRUE(fake().exitContainer(b, 137, "OOMKilled", "memory limit"));
  EXPECT_FALSE(fake().exitContainer(b, 1)) << "already exited";
  auto sa = client_->containerStatus(a, false);
  auto sbs = client_->containerStatus(b, false);
  ASSERT_TRUE(sa.ok() && sbs.ok());
  EXPECT_EQ(sa->status().reason(), "Completed");
  EXPECT_EQ(sbs->status().exit_code(), 137);
  EXPECT_EQ(sbs->status().reason(), "OOMKilled");
  EXPECT_EQ(sbs->status().message(), "memory limit");

  ASSERT_TRUE(fake().setContainerUnknown(a));
  EXPECT_EQ(client_->containerStatus(a, false)->status().state(), v1::CONTAINER_UNKNOWN);
  ASSERT_TRUE(fake().setSandboxNotReady(sb));
  EXPECT_EQ(client_->podSandboxStatus(sb, false)->status().state(), v1::SANDBOX_NOTREADY);
}

TEST_F(CriContainerTest, ListFilters) {
  std::string sb1 = runSandbox("one");
  std::string sb2 = runSandbox("two");
  std::string a = runningContainer(sb1, "one", "a");
  std::string b = createContainer(sb1, "one", "b");
  std::string c = runningContainer(sb2, "two", "c");
  ASSERT_TRUE(fake().exitContainer(c, 2));

  auto ids = [&](const v1::ContainerFilter& f) {
    std::vector<std::string> out;
    auto r = client_->listContainers(f);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok())
      for (const auto& x : *r) out.push_back(x.id());
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<std::string>{a, b, c}));

  v1::ContainerFilter f;
  f.set_id(b);
  EXPECT_EQ(ids(f), std::vector<std::string>{b});
  f.set_id(c.substr(0, 8));
  EXPECT_EQ(ids(f), std::vector<std::string>{c});

  v1::ContainerFilter bySandbox;
  bySandbox.set_pod_sandbox_id(sb1);
  EXPECT_EQ(ids(bySandbox), (std::vector<std::string>{a, b}));
  bySandbox.set_pod_sandbox_id(sb2.substr(0, 6));
  EXPECT_EQ(ids(bySandbox), std::vector<std::string>{c});

  v1::ContainerFilter byState;
  byState.mutable_state()->set_state(v1::CONTAINER_RUNNING);
  EXPECT_EQ(ids(byState), std::vector<std::string>{a});
  byState.mutable_state()->set_state(v1::CONTAINER_CREATED);
  EXPECT_EQ(ids(byState), std::vector<std::string>{b}) << "CREATED is the enum's 0 and still filters";
  byState.mutable_state()->set_state(v1::CONTAINER_EXITED);
  EXPECT_EQ(ids(byState), std::vector<std::string>{c});

  v1::ContainerFilter byLabel;
  (*byLabel.mutable_label_selector())["io.kubernetes.container.name"] = "b";
  EXPECT_EQ(ids(byLabel), std::vector<std::string>{b});
  byLabel.set_pod_sandbox_id(sb2);
  EXPECT_TRUE(ids(byLabel).empty());

  auto list = client_->listContainers(bySandbox);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const auto& x = (*list)[0];
  EXPECT_EQ(x.pod_sandbox_id(), sb2);
  EXPECT_EQ(x.metadata().name(), "c");
  EXPECT_EQ(x.image().image(), "registry.k8s.io/pause:3.10");
  EXPECT_FALSE(x.image_ref().empty());
  EXPECT_EQ(x.state(), v1::CONTAINER_EXITED);
}

TEST_F(CriContainerTest, UpdateResourcesAndReopenLog) {
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  v1::ContainerResources r;
  r.mutable_linux()->set_memory_limit_in_bytes(256 << 20);
  r.mutable_linux()->set_cpu_quota(50000);
  ASSERT_TRUE(client_->updateContainerResources(id, r).ok());
  auto s = client_->containerStatus(id, false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().resources().linux().memory_limit_in_bytes(), 256 << 20);
  EXPECT_EQ(s->status().resources().linux().cpu_quota(), 50000);

  ASSERT_TRUE(client_->reopenContainerLog(id).ok());
  EXPECT_EQ(fake().container(id)->logReopens, 1);

  ASSERT_TRUE(fake().exitContainer(id, 0));
  EXPECT_EQ(client_->updateContainerResources(id, r).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->reopenContainerLog(id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(isNotFound(client_->reopenContainerLog("abc")));
}

TEST_F(CriContainerTest, ExecSyncReturnsOutputAndExitCode) {
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  auto out = client_->execSync(id, {"echo", "hi"}, seconds(5));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->stdout(), "echo hi\n");
  EXPECT_EQ(out->exit_code(), 0);
  EXPECT_EQ(fake().lastRequest<v1::ExecSyncRequest>("ExecSync")->timeout(), 5);

  fake().setExecHandler([](const testing::FakeContainer& c, const std::vector<std::string>& cmd) {
    v1::ExecSyncResponse r;
    r.set_stderr(c.config.metadata().name() + ": " + cmd[0] + ": not found\n");
    r.set_exit_code(127);
    return r;
  });
  auto failed = client_->execSync(id, {"curl"}, seconds(1));
  ASSERT_TRUE(failed.ok()) << "a failing command is an answer, not a call error: " << failed.status();
  EXPECT_EQ(failed->exit_code(), 127);
  EXPECT_EQ(failed->stderr(), "app: curl: not found\n");

  ASSERT_TRUE(fake().exitContainer(id, 0));
  EXPECT_EQ(client_->execSync(id, {"true"}, seconds(1)).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CriContainerTest, StreamingEndpoints) {
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  v1::ExecRequest exec;
  exec.set_container_id(id);
  exec.add_cmd("sh");
  exec.set_stdout(true);
  auto e = client_->exec(exec);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->url().rfind("http://127.0.0.1:10010/exec/", 0), 0u);
  v1::AttachRequest attach;
  attach.set_container_id(id);
  auto a = client_->attach(attach);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_NE(a->url().find("/attach/"), std::string::npos);
  v1::PortForwardRequest pf;
  pf.set_pod_sandbox_id(sb);
  pf.add_port(8080);
  auto p = client_->portForward(pf);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_NE(p->url().find("/portforward/"), std::string::npos);
  pf.set_pod_sandbox_id("nope");
  EXPECT_TRUE(isNotFound(client_->portForward(pf).status()));
}

TEST_F(CriContainerTest, Stats) {
  std::string sb1 = runSandbox("one");
  std::string sb2 = runSandbox("two");
  std::string a = runningContainer(sb1, "one", "a");
  std::string b = runningContainer(sb2, "two", "b");
  auto all = client_->listContainerStats({});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].attributes().id(), a);
  EXPECT_EQ((*all)[0].attributes().metadata().name(), "a");
  EXPECT_GT((*all)[0].cpu().timestamp(), 0);
  v1::ContainerStatsFilter f;
  f.set_pod_sandbox_id(sb2);
  auto some = client_->listContainerStats(f);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ((*some)[0].attributes().id(), b);

  ASSERT_TRUE(client_->stopPodSandbox(sb2).ok());
  auto pods = client_->listPodSandboxStats({});
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 1u) << "only ready sandboxes";
  EXPECT_EQ((*pods)[0].attributes().id(), sb1);
  ASSERT_EQ((*pods)[0].linux().containers_size(), 1);
  EXPECT_EQ((*pods)[0].linux().containers(0).attributes().id(), a);
  v1::PodSandboxStatsFilter pf;
  (*pf.mutable_label_selector())["io.kubernetes.pod.name"] = "two";
  EXPECT_TRUE(client_->listPodSandboxStats(pf)->empty());
}

TEST_F(CriContainerTest, ConcurrentCallsFromManyThreads) {
  std::mutex mu;
  std::set<std::string> ids;
  std::vector<std::jthread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        std::string name = "p" + std::to_string(t) + "-" + std::to_string(i);
        auto sb = client_->runPodSandbox(sandboxConfig(name), "");
        ASSERT_TRUE(sb.ok()) << sb.status();
        auto c = client_->createContainer(*sb, containerConfig("c"), sandboxConfig(name));
        ASSERT_TRUE(c.ok()) << c.status();
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(*sb);
        ids.insert(*c);
      }
    });
  }
  threads.clear();
  EXPECT_EQ(ids.size(), 96u);
  EXPECT_EQ(client_->listContainers({})->size(), 48u);
}

// ------------------------------------------------------------------ images

class CriImageTest : public CriFixture {};

TEST_F(CriImageTest, StatusOfPresentAndAbsentImages) {
  auto pause = client_->imageStatus([] {
    v1::ImageSpec s;
    s.set_image("registry.k8s.io/pause:3.10");
    return s;
  }());
  ASSERT_TRUE(pause.ok()) << pause.status();
  ASSERT_TRUE(pause->has_value());
  EXPECT_EQ((*pause)->repo_tags(0), "registry.k8s.io/pause:3.10");
  EXPECT_TRUE((*pause)->pinned());
  EXPECT_GT((*pause)->size(), 0u);

  v1::ImageSpec absent;
  absent.set_image("nginx:1.25");
  auto none = client_->imageStatus(absent);
  ASSERT_TRUE(none.ok()) << "absent is an answer, not an error: " << none.status();
  EXPECT_FALSE(none->has_value());
}

TEST_F(CriImageTest, PullListRemove) {
  std::string id = fake().addRegistryImage("nginx:1.25", 5000);
  v1::ImageSpec spec;
  spec.set_image("nginx:1.25");
  auto sandbox = sandboxConfig("web");
  auto ref = client_->pullImage(spec, nullptr, &sandbox);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(*ref, id);
  auto req = fake().lastRequest<v1::PullImageRequest>("PullImage");
  ASSERT_TRUE(req);
  EXPECT_FALSE(req->has_auth()) << "anonymous pull sends no auth";
  EXPECT_EQ(req->sandbox_config().metadata().name(), "web");

  auto st = client_->imageStatus(spec);
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ((*st)->id(), id);
  EXPECT_EQ((*st)->repo_tags(0), "docker.io/library/nginx:1.25") << "normalized like containerd";
  v1::ImageSpec byId;
  byId.set_image(id);
  EXPECT_TRUE(client_->imageStatus(byId)->has_value());
  v1::ImageSpec byDigest;
  byDigest.set_image((*st)->repo_digests(0));
  EXPECT_TRUE(client_->imageStatus(byDigest)->has_value());

  auto list = client_->listImages({});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u) << "pause + nginx";
  v1::ImageFilter filter;
  filter.mutable_image()->set_image("docker.io/library/nginx:1.25");
  ASSERT_EQ(client_->listImages(filter)->size(), 1u);

  auto fs = client_->imageFsInfo();
  ASSERT_TRUE(fs.ok()) << fs.status();
  ASSERT_EQ(fs->image_filesystems_size(), 1);
  EXPECT_EQ(fs->image_filesystems(0).used_bytes().value(), 320000u + 5000u);
  EXPECT_EQ(fs->image_filesystems(0).inodes_used().value(), 2u);

  ASSERT_TRUE(client_->removeImage(spec).ok());
  EXPECT_FALSE(client_->imageStatus(spec)->has_value());
  EXPECT_TRUE(client_->removeImage(spec).ok()) << "idempotent";
  EXPECT_TRUE(client_->pullImage(spec, nullptr, nullptr).ok()) << "the registry still has it";
}

TEST_F(CriImageTest, PullOfUnknownImageIsNotFound) {
  v1::ImageSpec spec;
  spec.set_image("example.com/missing:v1");
  auto ref = client_->pullImage(spec, nullptr, nullptr);
  ASSERT_FALSE(ref.ok());
  EXPECT_TRUE(isNotFound(ref.status()));
  EXPECT_EQ(ref.status().message().rfind("CRI PullImage example.com/missing:v1: failed to pull and unpack image", 0),
            0u)
      << ref.status();
}

TEST_F(CriImageTest, PrivateImageNeedsItsCredentials) {
  fake().addRegistryImage("registry.example.com/team/app:2");
  fake().requireAuth("registry.example.com/team/app:2", "robot", "s3cret");
  v1::ImageSpec spec;
  spec.set_image("registry.example.com/team/app:2");
  auto anon = client_->pullImage(spec, nullptr, nullptr);
  ASSERT_FALSE(anon.ok());
  EXPECT_NE(anon.status().message().find("authorization failed"), std::string::npos) << anon.status();

  v1::AuthConfig wrong;
  wrong.set_username("robot");
  wrong.set_password("guess");
  EXPECT_FALSE(client_->pullImage(spec, &wrong, nullptr).ok());

  v1::AuthConfig auth;
  auth.set_username("robot");
  auth.set_password("s3cret");
  auth.set_server_address("registry.example.com");
  ASSERT_TRUE(client_->pullImage(spec, &auth, nullptr).ok());
  auto seen = fake().lastRequest<v1::PullImageRequest>("PullImage");
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->auth().username(), "robot");
  EXPECT_EQ(seen->auth().server_address(), "registry.example.com");
  EXPECT_EQ(fake().callCount("PullImage"), 3);
}

TEST_F(CriImageTest, SeparateImageEndpoint) {
  server_.reset();
  server_ = std::make_unique<testing::FakeCriServer>((dir_ / "rt.sock").string(), (dir_ / "img.sock").string());
  auto split = connect(seconds(2), server_->imageEndpoint());
  ASSERT_TRUE(split);
  auto list = split->listImages({});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 1u);
  EXPECT_TRUE(split->version().ok());

  auto sameSocket = connect(seconds(2));
  auto wrong = sameSocket->listImages({});
  ASSERT_FALSE(wrong.ok()) << "the runtime socket does not serve images here";
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(wrong.status().message().rfind("CRI ListImages: ", 0), 0u) << wrong.status();
}

// ------------------------------------------------------------------ deadlines

class CriDeadlineTest : public CriFixture {};

TEST_F(CriDeadlineTest, SlowRuntimeGivesDeadlineExceeded) {
  auto fast = connect(milliseconds(200));
  fake().setDelay("ListContainers", milliseconds(1500));
  auto start = std::chrono::steady_clock::now();
  auto r = fast->listContainers({});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message().rfind("CRI ListContainers: ", 0), 0u) << r.status();
  EXPECT_LT(took, milliseconds(1200)) << "the client gave up at its deadline";
  fake().setDelay("ListContainers", milliseconds(0));
  EXPECT_TRUE(fast->listContainers({}).ok());
}

TEST_F(CriDeadlineTest, StopContainerGetsTheGracePeriodOnTop) {
  auto fast = connect(milliseconds(300));
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  fake().setDelay("StopContainer", milliseconds(700));
  EXPECT_TRUE(fast->stopContainer(id, seconds(1)).ok()) << "300ms + 1s grace outlasts a 700ms stop";
  std::string other = runningContainer(sb, "pod", "other");
  auto st = fast->stopContainer(other, seconds(0));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
}

TEST_F(CriDeadlineTest, ExecSyncTimeout) {
  auto fast = connect(milliseconds(200));
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  fake().setDelay("ExecSync", milliseconds(1800));
  auto r = fast->execSync(id, {"sleep", "10"}, seconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "CRI ExecSync " + id + ": command \"sleep 10\" timed out after 1s");
}

TEST_F(CriDeadlineTest, EachCallGetsItsBudget) {
  // Observed server-side: the time left to the deadline when the call arrived.
  auto budget = [&](const std::string& call) { return fake().lastCall(call)->deadline; };
  auto within = [](std::optional<milliseconds> d, milliseconds want) {
    // grpc-timeout travels with a few significant digits, rounded up: allow a little over.
    return d && *d <= want + want / 100 + milliseconds(20) && *d > want - milliseconds(1000);
  };
  std::string sb = runSandbox("pod");
  EXPECT_TRUE(within(budget("RunPodSandbox"), seconds(4))) << "2 x the request timeout";
  std::string id = runningContainer(sb, "pod", "app");
  EXPECT_TRUE(within(budget("CreateContainer"), seconds(2)));
  EXPECT_TRUE(within(budget("StartContainer"), seconds(2)));
  ASSERT_TRUE(client_->execSync(id, {"true"}, seconds(5)).ok());
  EXPECT_TRUE(within(budget("ExecSync"), seconds(7))) << "command timeout + request timeout";
  ASSERT_TRUE(client_->execSync(id, {"true"}, seconds(0)).ok());
  EXPECT_FALSE(budget("ExecSync").has_value()) << "timeout 0: no deadline";
  ASSERT_TRUE(client_->stopContainer(id, seconds(30)).ok());
  EXPECT_TRUE(within(budget("StopContainer"), seconds(32))) << "grace + request timeout";
  ASSERT_TRUE(client_->listContainers({}).ok());
  EXPECT_TRUE(within(budget("ListContainers"), seconds(2)));

  fake().addRegistryImage("busybox");
  v1::ImageSpec spec;
  spec.set_image("busybox");
  ASSERT_TRUE(client_->pullImage(spec, nullptr, nullptr).ok());
  EXPECT_FALSE(budget("PullImage").has_value()) << "pulls have no deadline by default";
  EXPECT_TRUE(client_->imageStatus(spec).ok());
  EXPECT_TRUE(within(budget("ImageStatus"), seconds(2)));
  auto bounded = connect(seconds(2), "", seconds(60));
  ASSERT_TRUE(bounded->pullImage(spec, nullptr, nullptr).ok());
  EXPECT_TRUE(within(budget("PullImage"), seconds(60)));
}

TEST_F(CriDeadlineTest, DeadRuntimeIsUnavailable) {
  server_->stop();
  auto r = client_->listPodSandbox({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_FALSE(isNotFound(r.status()));
}

// ------------------------------------------------------------------ events

// Collects events from the stream's thread.
class EventLog {
 public:
  void add(v1::ContainerEventResponse&& ev) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(ev));
    cv_.notify_all();
  }
  bool waitFor(size_t n, milliseconds timeout = seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  std::vector<v1::ContainerEventResponse> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::ContainerEventResponse> events_;
};

class CriEventsTest : public CriFixture {
 protected:
  // Runs getContainerEvents on its own thread; the result lands in result_.
  void startStream() {
    stream_ = std::jthread([this](std::stop_token stop) {
      result_ = client_->getContainerEvents(
          stop, [this](v1::ContainerEventResponse&& ev) { log_.add(std::move(ev)); }, [this] { started_ = true; });
      done_ = true;
    });
  }
  void TearDown() override {
    stream_ = std::jthread();  // request stop + join before the client goes
    CriFixture::TearDown();
  }
  EventLog log_;
  std::jthread stream_;
  absl::Status result_;
  std::atomic<bool> started_{false};
  std::atomic<bool> done_{false};
};

TEST_F(CriEventsTest, DeliversLifecycleEventsInOrder) {
  startStream();
  ASSERT_TRUE(fake().waitForEventSubscribers(1));
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  ASSERT_TRUE(fake().exitContainer(id, 3));
  ASSERT_TRUE(client_->removeContainer(id).ok());
  ASSERT_TRUE(log_.waitFor(6)) << log_.events().size();
  auto ev = log_.events();
  ASSERT_EQ(ev.size(), 6u);
  std::vector<std::pair<std::string, v1::ContainerEventType>> want = {
      {sb, v1::CONTAINER_CREATED_EVENT}, {sb, v1::CONTAINER_STARTED_EVENT}, {id, v1::CONTAINER_CREATED_EVENT},
      {id, v1::CONTAINER_STARTED_EVENT}, {id, v1::CONTAINER_STOPPED_EVENT}, {id, v1::CONTAINER_DELETED_EVENT},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(ev[i].container_id(), want[i].first) << i;
    EXPECT_EQ(ev[i].container_event_type(), want[i].second) << i;
    EXPECT_GT(ev[i].created_at(), 0);
    EXPECT_EQ(ev[i].pod_sandbox_status().id(), sb) << "events carry the sandbox status";
  }
  ASSERT_EQ(ev[4].containers_statuses_size(), 1);
  EXPECT_EQ(ev[4].containers_statuses(0).state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(ev[4].containers_statuses(0).exit_code(), 3);
  EXPECT_EQ(ev[5].containers_statuses_size(), 0) << "the removed container is gone";

  stream_.request_stop();
  stream_.join();
  EXPECT_TRUE(result_.ok()) << result_;
  EXPECT_TRUE(fake().waitForEventSubscribers(0)) << "cancelling ends the server side too";
}

TEST_F(CriEventsTest, SandboxStopAndRemoveEmitEvents) {
  std::string sb = runSandbox("pod");
  std::string id = runningContainer(sb, "pod", "app");
  startStream();
  ASSERT_TRUE(fake().waitForEventSubscribers(1));
  ASSERT_TRUE(client_->removePodSandbox(sb).ok());
  ASSERT_TRUE(log_.waitFor(4));
  auto ev = log_.events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].container_id(), id);
  EXPECT_EQ(ev[0].container_event_type(), v1::CONTAINER_STOPPED_EVENT);
  EXPECT_EQ(ev[1].container_id(), sb);
  EXPECT_EQ(ev[1].container_event_type(), v1::CONTAINER_STOPPED_EVENT);
  EXPECT_EQ(ev[1].pod_sandbox_status().state(), v1::SANDBOX_NOTREADY);
  EXPECT_EQ(ev[2].container_id(), id);
  EXPECT_EQ(ev[2].container_event_type(), v1::CONTAINER_DELETED_EVENT);
  EXPECT_EQ(ev[3].container_id(), sb);
  EXPECT_EQ(ev[3].container_event_type(), v1::CONTAINER_DELETED_EVENT);
  EXPECT_FALSE(ev[3].has_pod_sandbox_status());
}

TEST_F(CriEventsTest, BrokenStreamReturnsTheError) {
  startStream();
  ASSERT_TRUE(fake().waitForEventSubscribers(1));
  fake().endEventStreams(grpc::Status(grpc::StatusCode::INTERNAL, "event queue overflow"));
  stream_.join();
  EXPECT_EQ(result_.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(result_.message(), "CRI GetContainerEvents: event queue overflow");

  stream_ = std::jthread();
  done_ = false;
  startStream();
  ASSERT_TRUE(fake().waitForEventSubscribers(1));
  fake().endEventStreams(grpc::Status::OK);
  stream_.join();
  EXPECT_EQ(result_.code(), absl::StatusCode::kUnavailable) << "a clean close is still the end of the stream";
}

TEST_F(CriEventsTest, RuntimeStopEndsTheStream) {
  startStream();
  ASSERT_TRUE(fake().waitForEventSubscribers(1));
  server_->stop();
  stream_.join();
  EXPECT_FALSE(result_.ok());
  EXPECT_EQ(result_.message().rfind("CRI GetContainerEvents", 0), 0u) << result_;
}

TEST_F(CriEventsTest, UnimplementedAndEarlyStop) {
  fake().failNext("GetContainerEvents", grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method"));
  startStream();
  stream_.join();
  EXPECT_EQ(result_.code(), absl::StatusCode::kUnimplemented) << "containerd 1.6 has no events";

  std::stop_source stopped;
  stopped.request_stop();
  int calls = fake().callCount("GetContainerEvents");
  auto st = client_->getContainerEvents(stopped.get_token(), [](v1::ContainerEventResponse&&) {}, nullptr);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(fake().callCount("GetContainerEvents"), calls) << "a stopped token never calls";
}

TEST_F(CriEventsTest, CancelWhileIdleReturnsPromptly) {
  startStream();
  ASSERT_TRUE(fake().waitForEventSubscribers(1));
  auto t0 = std::chrono::steady_clock::now();
  stream_.request_stop();
  stream_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(1));
  EXPECT_TRUE(result_.ok()) << result_;
  EXPECT_TRUE(done_);
  EXPECT_TRUE(started_) << "onStarted ran";
  auto call = fake().lastCall("GetContainerEvents");
  ASSERT_TRUE(call);
  EXPECT_FALSE(call->deadline.has_value()) << "the stream has no deadline";
}

// ------------------------------------------------------------------ errors and injection

class CriErrorTest : public CriFixture {};

TEST_F(CriErrorTest, InjectedFailuresKeepCodeAndGainContext) {
  fake().failNext("RunPodSandbox", grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no space left on device"));
  auto r = client_->runPodSandbox(sandboxConfig("nginx", "web"), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(), "CRI RunPodSandbox web/nginx: no space left on device");
  EXPECT_TRUE(fake().sandboxes().empty()) << "a failed call changes nothing";
  EXPECT_TRUE(client_->runPodSandbox(sandboxConfig("nginx", "web"), "").ok()) << "only the next call fails";

  fake().failNext("ContainerStatus", grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"), 2);
  EXPECT_EQ(client_->containerStatus("c1", false).status().message(), "CRI ContainerStatus c1: restarting");
  EXPECT_EQ(client_->containerStatus("c1", false).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(isNotFound(client_->containerStatus("c1", false).status())) << "third call reaches the state";

  fake().failAlways("RemoveImage", grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "image in use"));
  v1::ImageSpec spec;
  spec.set_image("registry.k8s.io/pause:3.10");
  for (int i = 0; i < 3; ++i) {
    auto st = client_->removeImage(spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(st.message(), "CRI RemoveImage registry.k8s.io/pause:3.10: image in use");
  }
  fake().clearFailures();
  EXPECT_TRUE(client_->removeImage(spec).ok());
  EXPECT_EQ(fake().callCount("RemoveImage"), 4) << "failed calls are recorded too";
}

TEST_F(CriErrorTest, EveryGrpcCodeMapsToTheSameAbslCode) {
  for (int code = 1; code <= 16; ++code) {
    fake().failNext("StartContainer", grpc::Status(static_cast<grpc::StatusCode>(code), "boom"));
    auto st = client_->startContainer("abc");
    EXPECT_EQ(static_cast<int>(st.code()), code);
    EXPECT_EQ(st.message(), "CRI StartContainer abc: boom");
    EXPECT_EQ(isNotFound(st), code == static_cast<int>(grpc::StatusCode::NOT_FOUND));
  }
  EXPECT_FALSE(isNotFound(absl::OkStatus()));
}

TEST_F(CriErrorTest, FakeRecordsRequests) {
  std::string sb = runSandbox("pod");
  auto calls = fake().calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), "RunPodSandbox");
  auto req = fake().lastRequest<v1::RunPodSandboxRequest>("RunPodSandbox");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->config().hostname(), "pod");
  EXPECT_FALSE(fake().lastRequest<v1::StopPodSandboxRequest>("RunPodSandbox")) << "wrong type: empty";
  EXPECT_FALSE(fake().lastRequest<v1::StopPodSandboxRequest>("StopPodSandbox")) << "no such call yet";
  fake().clearCalls();
  EXPECT_TRUE(fake().calls().empty());
}

// A runtime that answers OK with half-empty messages: the client refuses them like upstream.
class MalformedRuntime final : public v1::RuntimeService::Service {
 public:
  grpc::Status RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest*,
                             v1::RunPodSandboxResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest*,
                               v1::CreateContainerResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest* req,
                                v1::PodSandboxStatusResponse* resp) override {
    resp->mutable_status()->set_id(req->pod_sandbox_id());  // no metadata
    return grpc::Status::OK;
  }
  grpc::Status ContainerStatus(grpc::ServerContext*, const v1::ContainerStatusRequest*,
                               v1::ContainerStatusResponse*) override {
    return grpc::Status::OK;  // no status at all
  }
  grpc::Status Exec(grpc::ServerContext*, const v1::ExecRequest*, v1::ExecResponse*) override {
    return grpc::Status::OK;
  }
};

class MalformedImages final : public v1::ImageService::Service {
 public:
  grpc::Status ImageStatus(grpc::ServerContext*, const v1::ImageStatusRequest*,
                           v1::ImageStatusResponse* resp) override {
    resp->mutable_image()->set_id("sha256:abc");  // size 0
    return grpc::Status::OK;
  }
  grpc::Status PullImage(grpc::ServerContext*, const v1::PullImageRequest*, v1::PullImageResponse*) override {
    return grpc::Status::OK;
  }
};

TEST_F(CriErrorTest, MalformedAnswersAreErrors) {
  MalformedRuntime rt;
  MalformedImages img;
  grpc::ServerBuilder b;
  std::string sock = (dir_ / "bad.sock").string();
  b.AddListeningPort("unix://" + sock, grpc::InsecureServerCredentials());
  b.RegisterService(&rt);
  b.RegisterService(&img);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server);
  auto c = CriClient::connect("unix://" + sock, seconds(2));
  ASSERT_TRUE(c.ok());
  auto& client = **c;

  auto sb = client.runPodSandbox(sandboxConfig("p"), "");
  EXPECT_EQ(sb.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sb.status().message(), "CRI RunPodSandbox default/p: runtime returned no sandbox id");
  EXPECT_EQ(client.createContainer("s", containerConfig("c"), sandboxConfig("p")).status().message(),
            "CRI CreateContainer s/c: runtime returned no container id");
  EXPECT_EQ(client.podSandboxStatus("s1", false).status().message(),
            "CRI PodSandboxStatus s1: status has no metadata");
  EXPECT_EQ(client.containerStatus("c1", false).status().message(),
            "CRI ContainerStatus c1: runtime returned no status");
  v1::ExecRequest exec;
  exec.set_container_id("c1");
  EXPECT_EQ(client.exec(exec).status().message(), "CRI Exec c1: runtime returned no url");
  v1::ImageSpec spec;
  spec.set_image("busybox");
  EXPECT_EQ(client.imageStatus(spec).status().message(), "CRI ImageStatus busybox: image has no id or size");
  EXPECT_EQ(client.pullImage(spec, nullptr, nullptr).status().message(),
            "CRI PullImage busybox: runtime returned no image ref");
  server->Shutdown();
}

}  // namespace
}  // namespace cubelet::runtime

namespace cubelet::runtime {
namespace {

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 300; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

class CriCancelTest : public CriFixture {};

TEST_F(CriCancelTest, CancelInFlightEndsASlowCallAndRefusesNewOnes) {
  std::string sandbox = runSandbox("slow");
  std::string id = runningContainer(sandbox, "slow", "app");
  fake().setDelay("StopContainer", std::chrono::seconds(20));
  std::promise<absl::Status> done;
  auto started = std::chrono::steady_clock::now();
  std::thread stopper([&] { done.set_value(client_->stopContainer(id, std::chrono::seconds(30))); });
  // Give the call time to be on the wire, then cancel it.
  ASSERT_TRUE(eventually([&] { return fake().callCount("StopContainer") == 1; }));
  client_->cancelInFlight();
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "the call was not cancelled";
  EXPECT_EQ(future.get().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  stopper.join();
  EXPECT_EQ(client_->version().status().code(), absl::StatusCode::kCancelled) << "no new call after the cancel";
  fake().setDelay("StopContainer", std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace cubelet::runtime
