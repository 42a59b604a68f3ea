// PodRuntime (the kuberuntime manager) against the in-process fake CRI runtime
// (tests/fakes/fake_cri.h) and a fake apiserver that collects the events it records:
// sandbox creation, image pull policies and pull back-off, container start, restart
// policies with crash-loop back-off, sandbox re-creation, kill/remove, the PLEG
// fingerprints, CRI failures, and the pod status built from all that.
#include "kubelet/runtime/pod_runtime.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "tests/fakes/fake_cri.h"
#include "tests/fakes/recording_events.h"

namespace cubelet::runtime {
namespace {

using namespace std::chrono_literals;

constexpr char kUid[] = "6b8f2c1e-0000-4000-8000-000000000001";

using testing::FakeEventsApiserver;

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 500; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

json makePod(const std::string& restartPolicy, const std::string& image = "busybox:1.36",
             const std::string& pullPolicy = "IfNotPresent", const std::string& uid = kUid,
             const std::string& name = "web") {
  json container = {{"name", "app"}, {"image", image}, {"command", {"sleep", "3600"}}};
  if (!pullPolicy.empty()) container["imagePullPolicy"] = pullPolicy;
  return json{{"metadata",
               {{"name", name},
                {"namespace", "default"},
                {"uid", uid},
                {"annotations", {{"kubernetes.io/config.source", "api"}}}}},
              {"spec", {{"restartPolicy", restartPolicy}, {"containers", json::array({container})}}}};
}

const json* conditionOf(const json& status, const std::string& type) {
  for (const auto& c : status["conditions"])
    if (c["type"] == type) return &c;
  return nullptr;
}

class PodRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Short: unix socket paths are limited to 107 bytes.
    dir_ = std::filesystem::temp_directory_path() /
           ("prt-" + std::to_string(getpid()) + "-" + std::string(info->name()).substr(0, 40));
    std::filesystem::create_directories(dir_);
    server_ = std::make_unique<testing::FakeCriServer>((dir_ / "cri.sock").string());
    auto cri = CriClient::connect(server_->endpoint(), 5s);
    ASSERT_TRUE(cri.ok()) << cri.status();
    cri_ = std::move(*cri);
    makeRuntime(60s, 300s);
  }
  void TearDown() override {
    runtime_.reset();
    cri_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void makeRuntime(std::chrono::seconds backoffInitial, std::chrono::seconds backoffMax) {
    PodRuntimeOptions o;
    o.node.nodeIps = {"192.168.1.10"};
    o.node.clusterDomain = "cluster.local";
    o.node.clusterDns = {"10.96.0.10"};
    o.node.memoryCapacity = int64_t{8} << 30;
    o.backoffInitial = backoffInitial;
    o.backoffMax = backoffMax;
    o.probes = probes_;
    if (configure_) configure_(o);
    runtime_ = std::make_unique<PodRuntime>(*cri_, events_.recorder(), std::move(o));
  }

  testing::FakeRuntimeService& fake() { return server_->service(); }

  PodRuntimeState stateOf(const std::string& uid = kUid) {
    auto st = runtime_->state(uid);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? *st : PodRuntimeState{};
  }
  SyncOutcome syncPod(const json& pod) {
    return runtime_->sync(pod, stateOf(pod["metadata"]["uid"].get<std::string>()));
  }
  json statusOf(const json& pod, const SyncOutcome& outcome = {}, const json& previous = json::object()) {
    return runtime_->buildStatus(pod, stateOf(pod["metadata"]["uid"].get<std::string>()), outcome, previous,
                                 std::chrono::system_clock::now());
  }
  // Syncs a new pod to a running container and returns its id.
  std::string runPod(const json& pod) {
    auto out = syncPod(pod);
    EXPECT_TRUE(out.error.ok()) << out.error;
    EXPECT_TRUE(out.waiting.empty());
    auto st = stateOf(pod["metadata"]["uid"].get<std::string>());
    const ContainerRecord* c = st.latest("app");
    EXPECT_NE(c, nullptr);
    if (!c) return "";
    EXPECT_EQ(c->state, v1::CONTAINER_RUNNING);
    return c->id;
  }
  bool hasEvent(const std::string& reason, const std::string& messagePart = "") {
    return eventually([&] {
      for (const auto& e : events_.apiserver().events())
        if (e.reason == reason && e.message.find(messagePart) != std::string::npos) return true;
      return false;
    });
  }

  std::filesystem::path dir_;
  testing::RecordingEvents events_;
  std::unique_ptr<testing::FakeCriServer> server_;
  std::unique_ptr<CriClient> cri_;
  std::unique_ptr<PodRuntime> runtime_;
  ContainerProbes* probes_ = nullptr;  // set before makeRuntime() to give it a prober
  std::function<void(PodRuntimeOptions&)> configure_;  // set before makeRuntime() to change options
};

// ------------------------------------------------------------------ a new pod

TEST_F(PodRuntimeTest, NewPodGetsSandboxImageAndRunningContainer) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  EXPECT_TRUE(stateOf().sandboxes.empty());

  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.waiting.empty());
  EXPECT_TRUE(out.changed);
  EXPECT_FALSE(out.retryAfter);

  auto sbReq = fake().lastRequest<v1::RunPodSandboxRequest>("RunPodSandbox");
  ASSERT_TRUE(sbReq);
  const auto& labels = sbReq->config().labels();
  EXPECT_EQ(labels.at("io.kubernetes.pod.uid"), kUid);
  EXPECT_EQ(labels.at("io.kubernetes.pod.name"), "web");
  EXPECT_EQ(labels.at("io.kubernetes.pod.namespace"), "default");
  EXPECT_EQ(sbReq->config().metadata().attempt(), 0u);
  EXPECT_EQ(sbReq->config().metadata().uid(), kUid);
  EXPECT_EQ(fake().callCount("PullImage"), 0) << "IfNotPresent with the image present";
  EXPECT_EQ(fake().callCount("CreateContainer"), 1);
  EXPECT_EQ(fake().callCount("StartContainer"), 1);
  auto ccReq = fake().lastRequest<v1::CreateContainerRequest>("CreateContainer");
  ASSERT_TRUE(ccReq);
  EXPECT_EQ(ccReq->config().metadata().name(), "app");
  EXPECT_EQ(ccReq->config().labels().at("io.kubernetes.pod.uid"), kUid);
  EXPECT_EQ(ccReq->config().labels().at("io.kubernetes.container.name"), "app");

  auto state = stateOf();
  ASSERT_EQ(state.sandboxes.size(), 1u);
  EXPECT_TRUE(state.sandboxes[0].ready);
  EXPECT_EQ(state.sandboxes[0].attempt, 0u);
  ASSERT_EQ(state.sandboxes[0].ips.size(), 1u);
  ASSERT_EQ(state.containers.size(), 1u);
  const auto& c = state.containers[0];
  EXPECT_EQ(c.name, "app");
  EXPECT_EQ(c.state, v1::CONTAINER_RUNNING);
  EXPECT_EQ(c.sandboxId, state.sandboxes[0].id);
  EXPECT_EQ(c.restartCount, 0);
  EXPECT_FALSE(c.hash.empty());

  auto fc = fake().containers();
  ASSERT_EQ(fc.size(), 1u);
  json status = runtime_->buildStatus(pod, state, out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(status["podIP"], state.sandboxes[0].ips[0]);
  EXPECT_EQ(status["hostIP"], "192.168.1.10");
  EXPECT_EQ(status["qosClass"], "BestEffort");
  ASSERT_EQ(status["containerStatuses"].size(), 1u);
  const json& cs = status["containerStatuses"][0];
  EXPECT_EQ(cs["name"], "app");
  EXPECT_EQ(cs["ready"], true);
  EXPECT_EQ(cs["started"], true);
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_EQ(cs["containerID"], "containerd://" + fc[0].id);
  EXPECT_EQ(cs["imageID"], fc[0].imageRef);
  EXPECT_EQ(cs["imageID"].get<std::string>().rfind("docker.io/library/busybox@sha256:", 0), 0u) << cs["imageID"];
  EXPECT_EQ(cs["image"], "busybox:1.36");
  EXPECT_TRUE(cs["state"].contains("running")) << cs;
  EXPECT_EQ(cs["lastState"], json::object());
  for (const char* type : {"Ready", "ContainersReady", "Initialized", "PodReadyToStartContainers", "PodScheduled"}) {
    const json* cond = conditionOf(status, type);
    ASSERT_NE(cond, nullptr) << type;
    EXPECT_EQ((*cond)["status"], "True") << type;
  }

  EXPECT_TRUE(hasEvent("Pulled", "already present on machine"));
  EXPECT_TRUE(hasEvent("Created"));
  EXPECT_TRUE(hasEvent("Started"));

  // In sync: a second sync changes nothing.
  fake().clearCalls();
  out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
}

TEST_F(PodRuntimeTest, EachStartUpStepIsReportedWithItsDuration) {
  std::vector<std::pair<std::string, std::string>> phases;  // (uid, phase)
  std::mutex mu;
  configure_ = [&](PodRuntimeOptions& o) {
    o.cgroupParent = [](const json&) -> absl::StatusOr<std::string> { return std::string("/kubepods/podx"); };
    o.onPhase = [&](const std::string& uid, const char* phase, std::chrono::steady_clock::duration d) {
      EXPECT_GE(d.count(), 0);
      std::lock_guard lock(mu);
      phases.emplace_back(uid, phase);
    };
  };
  makeRuntime(std::chrono::seconds(10), std::chrono::seconds(300));
  fake().addImage("busybox:1.36");
  fake().setDelay("RunPodSandbox", std::chrono::milliseconds(20));
  auto out = syncPod(makePod("Always"));
  ASSERT_TRUE(out.error.ok()) << out.error;
  std::lock_guard lock(mu);
  std::vector<std::pair<std::string, std::string>> want = {
      {kUid, "cgroups"}, {kUid, "sandbox"}, {kUid, "image"}, {kUid, "create"}, {kUid, "start"}};
  EXPECT_EQ(phases, want);
}

TEST_F(PodRuntimeTest, ConditionTransitionTimesAndStartTimeCarryOver) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  runPod(pod);
  json previous = {{"phase", "Running"},
                   {"startTime", "2024-01-01T00:00:00Z"},
                   {"conditions", json::array({json{{"type", "Ready"}, {"status", "True"},
                                                         {"lastTransitionTime", "2024-01-01T00:00:01Z"}},
                                                    json{{"type", "Initialized"}, {"status", "False"},
                                                         {"lastTransitionTime", "2024-01-01T00:00:02Z"}}})}};
  json status = statusOf(pod, {}, previous);
  EXPECT_EQ(status["startTime"], "2024-01-01T00:00:00Z");
  EXPECT_EQ((*conditionOf(status, "Ready"))["lastTransitionTime"], "2024-01-01T00:00:01Z") << "unchanged condition";
  EXPECT_NE((*conditionOf(status, "Initialized"))["lastTransitionTime"], "2024-01-01T00:00:02Z") << "it changed";
}

// ------------------------------------------------------------------ image pull policies

TEST_F(PodRuntimeTest, PullPolicyAlwaysPullsEvenWhenPresent) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always", "busybox:1.36", "Always");
  runPod(pod);
  ASSERT_EQ(fake().callCount("PullImage"), 1);
  auto req = fake().lastRequest<v1::PullImageRequest>("PullImage");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->image().image(), "busybox:1.36");
  EXPECT_EQ(req->sandbox_config().metadata().uid(), kUid) << "the pull carries the sandbox config";
  EXPECT_TRUE(hasEvent("Pulling", "Pulling image \"busybox:1.36\""));
  EXPECT_TRUE(hasEvent("Pulled", "Successfully pulled image \"busybox:1.36\" in "));
}

TEST_F(PodRuntimeTest, DefaultPullPolicyFollowsTheTag) {
  fake().addImage("busybox:1.36");
  fake().addImage("busybox:latest");
  runPod(makePod("Always", "busybox:1.36", "", "uid-tagged", "tagged"));
  EXPECT_EQ(fake().callCount("PullImage"), 0) << "a tagged image defaults to IfNotPresent";
  runPod(makePod("Always", "busybox:latest", "", "uid-latest", "latest"));
  EXPECT_EQ(fake().callCount("PullImage"), 1) << ":latest defaults to Always";
}

TEST_F(PodRuntimeTest, PullPolicyIfNotPresentPullsAnAbsentImage) {
  std::string id = fake().addRegistryImage("busybox:1.36");
  json pod = makePod("Always", "busybox:1.36", "IfNotPresent");
  runPod(pod);
  EXPECT_EQ(fake().callCount("PullImage"), 1);
  EXPECT_TRUE(fake().hasImage("busybox:1.36"));
  auto cc = fake().lastRequest<v1::CreateContainerRequest>("CreateContainer");
  ASSERT_TRUE(cc);
  EXPECT_EQ(cc->config().image().image(), id) << "the container uses the pulled image's id";
}

TEST_F(PodRuntimeTest, PullPolicyNeverWithAbsentImageWaitsErrImageNeverPull) {
  fake().addRegistryImage("busybox:1.36");  // pullable, but Never must not pull it
  json pod = makePod("Always", "busybox:1.36", "Never");
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  ASSERT_EQ(out.waiting.count("app"), 1u);
  EXPECT_EQ(out.waiting["app"].reason, "ErrImageNeverPull");
  EXPECT_EQ(out.waiting["app"].message, "Container image \"busybox:1.36\" is not present with pull policy of Never");
  EXPECT_EQ(fake().callCount("PullImage"), 0);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 1) << "the sandbox comes first";

  json status = statusOf(pod, out);
  EXPECT_EQ(status["phase"], "Pending");
  const json& cs = status["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["waiting"]["reason"], "ErrImageNeverPull");
  EXPECT_EQ(cs["ready"], false);
  EXPECT_EQ((*conditionOf(status, "Ready"))["status"], "False");
  EXPECT_EQ((*conditionOf(status, "Ready"))["reason"], "ContainersNotReady");
  EXPECT_EQ((*conditionOf(status, "PodReadyToStartContainers"))["status"], "True");
  EXPECT_TRUE(hasEvent("ErrImageNeverPull"));
}

TEST_F(PodRuntimeTest, MissingImageGivesErrImagePullThenImagePullBackOff) {
  json pod = makePod("Always", "example.com/missing:1.0", "IfNotPresent");
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  ASSERT_EQ(out.waiting.count("app"), 1u);
  EXPECT_EQ(out.waiting["app"].reason, "ErrImagePull");
  EXPECT_EQ(out.waiting["app"].message.rfind("Failed to pull image \"example.com/missing:1.0\": ", 0), 0u)
      << out.waiting["app"].message;
  EXPECT_NE(out.waiting["app"].message.find("not found"), std::string::npos) << out.waiting["app"].message;
  ASSERT_TRUE(out.retryAfter);
  EXPECT_GT(out.retryAfter->count(), 0);
  EXPECT_LE(*out.retryAfter, 60s);
  EXPECT_EQ(fake().callCount("PullImage"), 1);
  EXPECT_EQ(statusOf(pod, out)["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull");

  // Within the back-off: no pull, ImagePullBackOff.
  out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "ImagePullBackOff");
  EXPECT_EQ(out.waiting["app"].message, "Back-off pulling image \"example.com/missing:1.0\"");
  ASSERT_TRUE(out.retryAfter);
  EXPECT_LE(*out.retryAfter, 60s);
  EXPECT_EQ(fake().callCount("PullImage"), 1);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 1) << "the sandbox is reused";
  json status = statusOf(pod, out);
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["waiting"]["reason"], "ImagePullBackOff");
  EXPECT_TRUE(hasEvent("Failed", "Error: ErrImagePull"));
  EXPECT_TRUE(hasEvent("BackOff", "Back-off pulling image"));
}

TEST_F(PodRuntimeTest, PullIsRetriedAfterTheBackOff) {
  makeRuntime(1s, 300s);
  json pod = makePod("Always", "example.com/late:1.0", "IfNotPresent");
  auto out = syncPod(pod);
  ASSERT_EQ(out.waiting["app"].reason, "ErrImagePull");
  ASSERT_TRUE(out.retryAfter);
  fake().addRegistryImage("example.com/late:1.0");
  std::this_thread::sleep_for(*out.retryAfter + 50ms);
  out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.waiting.empty());
  EXPECT_EQ(fake().callCount("PullImage"), 2);
  EXPECT_EQ(statusOf(pod, out)["phase"], "Running");
}

TEST_F(PodRuntimeTest, InvalidImageName) {
  json pod = makePod("Always", "bad image", "IfNotPresent");
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "InvalidImageName");
  EXPECT_EQ(fake().callCount("PullImage"), 0);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
}

// ------------------------------------------------------------------ restart policies

struct RestartCase {
  std::string policy;
  int32_t exitCode;
  bool restarts;
  std::string phase;
};

class RestartPolicyTest : public PodRuntimeTest, public ::testing::WithParamInterface<RestartCase> {};

TEST_P(RestartPolicyTest, ExitedContainer) {
  const auto& p = GetParam();
  fake().addImage("busybox:1.36");
  json pod = makePod(p.policy);
  std::string first = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(first, p.exitCode));
  fake().clearCalls();

  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.waiting.empty());
  EXPECT_EQ(out.changed, p.restarts);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0) << "the sandbox is still ready";
  EXPECT_EQ(fake().callCount("CreateContainer"), p.restarts ? 1 : 0);

  auto state = stateOf();
  json status = runtime_->buildStatus(pod, state, out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], p.phase);
  const json& cs = status["containerStatuses"][0];
  if (p.restarts) {
    ASSERT_EQ(state.containers.size(), 2u);
    EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
    EXPECT_EQ(state.containers[0].restartCount, 1);
    EXPECT_EQ(state.containers[0].sandboxId, state.containers[1].sandboxId);
    auto cc = fake().lastRequest<v1::CreateContainerRequest>("CreateContainer");
    ASSERT_TRUE(cc);
    EXPECT_EQ(cc->config().metadata().attempt(), 1u);
    EXPECT_EQ(cc->config().annotations().at("io.kubernetes.container.restartCount"), "1");
    EXPECT_EQ(cs["restartCount"], 1);
    EXPECT_TRUE(cs["state"].contains("running")) << cs;
    EXPECT_EQ(cs["ready"], true);
    EXPECT_EQ(cs["containerID"], "containerd://" + state.containers[0].id);
    EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], p.exitCode);
    EXPECT_EQ(cs["lastState"]["terminated"]["containerID"], "containerd://" + first);
    EXPECT_EQ(cs["lastState"]["terminated"]["reason"], p.exitCode == 0 ? "Completed" : "Error");
  } else {
    ASSERT_EQ(state.containers.size(), 1u);
    EXPECT_EQ(cs["restartCount"], 0);
    EXPECT_EQ(cs["ready"], false);
    ASSERT_TRUE(cs["state"].contains("terminated")) << cs;
    EXPECT_EQ(cs["state"]["terminated"]["exitCode"], p.exitCode);
    EXPECT_EQ(cs["state"]["terminated"]["reason"], p.exitCode == 0 ? "Completed" : "Error");
    EXPECT_EQ(cs["state"]["terminated"]["containerID"], "containerd://" + first);
    EXPECT_TRUE(cs["state"]["terminated"]["startedAt"].is_string());
    EXPECT_TRUE(cs["state"]["terminated"]["finishedAt"].is_string());
    EXPECT_EQ((*conditionOf(status, "Ready"))["status"], "False");
    EXPECT_EQ((*conditionOf(status, "Ready"))["reason"], "PodCompleted");
    EXPECT_EQ((*conditionOf(status, "PodReadyToStartContainers"))["status"], "False");
    // Still done on the next sync.
    out = syncPod(pod);
    EXPECT_FALSE(out.changed);
    EXPECT_EQ(fake().callCount("CreateContainer"), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, RestartPolicyTest,
                         ::testing::Values(RestartCase{"Never", 0, false, "Succeeded"},
                                           RestartCase{"Never", 1, false, "Failed"},
                                           RestartCase{"OnFailure", 0, false, "Succeeded"},
                                           RestartCase{"OnFailure", 3, true, "Running"},
                                           RestartCase{"Always", 0, true, "Running"},
                                           RestartCase{"Always", 1, true, "Running"}),
                         [](const ::testing::TestParamInfo<RestartCase>& info) {
                           return info.param.policy + "Exit" + std::to_string(info.param.exitCode);
                         });

TEST_F(PodRuntimeTest, OomKilledReasonIsKept) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Never");
  std::string id = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(id, 137, "OOMKilled"));
  json status = statusOf(pod, syncPod(pod));
  EXPECT_EQ(status["phase"], "Failed");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["terminated"]["reason"], "OOMKilled");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 137);
}

TEST_F(PodRuntimeTest, SecondExitWithinBackOffIsCrashLoopBackOff) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string first = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(first, 1));
  auto out = syncPod(pod);  // the first restart is immediate
  ASSERT_TRUE(out.error.ok()) << out.error;
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 2u);
  std::string second = state.containers[0].id;
  ASSERT_TRUE(fake().exitContainer(second, 1));
  fake().clearCalls();

  out = syncPod(pod);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0) << "no restart within the back-off";
  EXPECT_FALSE(out.changed);
  ASSERT_EQ(out.waiting.count("app"), 1u);
  EXPECT_EQ(out.waiting["app"].reason, "CrashLoopBackOff");
  EXPECT_EQ(out.waiting["app"].message.rfind("back-off ", 0), 0u) << out.waiting["app"].message;
  EXPECT_EQ(out.waiting["app"].message,
            "back-off 60s restarting failed container=app pod=web_default(" + std::string(kUid) + ")");
  ASSERT_TRUE(out.retryAfter);
  EXPECT_GT(out.retryAfter->count(), 0);
  EXPECT_LE(*out.retryAfter, 60s);

  json status = statusOf(pod, out);
  EXPECT_EQ(status["phase"], "Running");
  const json& cs = status["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(cs["state"]["waiting"]["message"], out.waiting["app"].message);
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(cs["lastState"]["terminated"]["containerID"], "containerd://" + second);
  EXPECT_EQ(cs["restartCount"], 1);
  EXPECT_EQ(cs["ready"], false);
  EXPECT_EQ((*conditionOf(status, "Ready"))["status"], "False");
  EXPECT_EQ((*conditionOf(status, "Ready"))["message"], "containers with unready status: [app]");
  EXPECT_TRUE(hasEvent("BackOff", "Back-off restarting failed container app in pod web_default"));
}

TEST_F(PodRuntimeTest, BackOffDoublesAfterEachRestart) {
  makeRuntime(1s, 300s);
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string id = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(id, 1));
  ASSERT_TRUE(syncPod(pod).error.ok());  // restart 1, back-off 1s starts
  std::this_thread::sleep_for(1100ms);
  id = stateOf().latest("app")->id;
  ASSERT_TRUE(fake().exitContainer(id, 1));
  auto out = syncPod(pod);  // back-off over: restart 2, back-off 2s starts
  ASSERT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.waiting.empty());
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 3u);
  EXPECT_EQ(state.containers[0].restartCount, 2);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
  ASSERT_TRUE(fake().exitContainer(state.containers[0].id, 1));
  out = syncPod(pod);
  EXPECT_EQ(out.waiting["app"].reason, "CrashLoopBackOff");
  EXPECT_EQ(out.waiting["app"].message.rfind("back-off 2s restarting failed container=app", 0), 0u)
      << out.waiting["app"].message;
  EXPECT_EQ(statusOf(pod, out)["containerStatuses"][0]["restartCount"], 2);
}

// ------------------------------------------------------------------ sandbox re-creation

TEST_F(PodRuntimeTest, NotReadySandboxIsReplacedAndContainerRestartedInIt) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string first = runPod(pod);
  auto before = stateOf();
  std::string oldSandbox = before.sandboxes[0].id;
  ASSERT_TRUE(fake().setSandboxNotReady(oldSandbox));
  fake().clearCalls();

  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 1);
  auto sbReq = fake().lastRequest<v1::RunPodSandboxRequest>("RunPodSandbox");
  ASSERT_TRUE(sbReq);
  EXPECT_EQ(sbReq->config().metadata().attempt(), 1u);
  auto stopC = fake().lastRequest<v1::StopContainerRequest>("StopContainer");
  ASSERT_TRUE(stopC) << "the old container is stopped";
  EXPECT_EQ(stopC->container_id(), first);
  auto stopSb = fake().lastRequest<v1::StopPodSandboxRequest>("StopPodSandbox");
  ASSERT_TRUE(stopSb);
  EXPECT_EQ(stopSb->pod_sandbox_id(), oldSandbox);

  auto state = stateOf();
  ASSERT_EQ(state.sandboxes.size(), 2u);
  EXPECT_EQ(state.sandboxes[0].attempt, 1u);
  EXPECT_TRUE(state.sandboxes[0].ready);
  EXPECT_NE(state.sandboxes[0].id, oldSandbox);
  EXPECT_FALSE(state.sandboxes[1].ready);
  ASSERT_EQ(state.containers.size(), 2u);
  EXPECT_EQ(state.containers[0].sandboxId, state.sandboxes[0].id);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
  EXPECT_EQ(state.containers[0].restartCount, 1);
  EXPECT_EQ(state.containers[1].state, v1::CONTAINER_EXITED);

  json status = runtime_->buildStatus(pod, state, out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(status["podIP"], state.sandboxes[0].ips.at(0));
  EXPECT_EQ(status["containerStatuses"][0]["restartCount"], 1);
  EXPECT_EQ(status["containerStatuses"][0]["ready"], true);
  EXPECT_EQ((*conditionOf(status, "PodReadyToStartContainers"))["status"], "True");
  EXPECT_TRUE(hasEvent("SandboxChanged", "Pod sandbox changed, it will be killed and re-created."));
}

TEST_F(PodRuntimeTest, NeverPodGetsNoNewSandboxOnceItsContainersRan) {
  // Upstream computePodActions: a sandbox that must be re-created for a pod with
  // restartPolicy Never whose containers already ran is not re-created; the pod is killed.
  fake().addImage("busybox:1.36");
  json pod = makePod("Never");
  std::string first = runPod(pod);
  ASSERT_TRUE(fake().setSandboxNotReady(stateOf().sandboxes[0].id));
  fake().setStopExitCode(137);
  fake().clearCalls();

  auto out = syncPod(pod);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
  EXPECT_GE(fake().callCount("StopContainer"), 1);
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 1u);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_EXITED);
  json status = runtime_->buildStatus(pod, state, out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Failed");
  EXPECT_EQ(status["containerStatuses"][0]["restartCount"], 0);

  out = syncPod(pod);
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0);
}

// ------------------------------------------------------------------ kill and remove

TEST_F(PodRuntimeTest, KillUsesTheMinimumGracePeriodAndStopsTheSandbox) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string id = runPod(pod);
  std::string sandbox = stateOf().sandboxes[0].id;
  fake().clearCalls();

  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  auto stop = fake().lastRequest<v1::StopContainerRequest>("StopContainer");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->container_id(), id);
  EXPECT_EQ(stop->timeout(), 2) << "grace periods below 2s are raised to 2s, as upstream";
  auto stopSb = fake().lastRequest<v1::StopPodSandboxRequest>("StopPodSandbox");
  ASSERT_TRUE(stopSb);
  EXPECT_EQ(stopSb->pod_sandbox_id(), sandbox);
  auto state = stateOf();
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_EXITED);
  EXPECT_FALSE(state.sandboxes[0].ready);
  EXPECT_TRUE(hasEvent("Killing", "Stopping container app"));

  // Killing a stopped pod is a no-op that succeeds.
  fake().clearCalls();
  EXPECT_TRUE(runtime_->kill(pod, 0).ok());
  EXPECT_EQ(fake().callCount("StopContainer"), 0);
  EXPECT_EQ(fake().callCount("StopPodSandbox"), 0);
}

TEST_F(PodRuntimeTest, KillPassesTheGracePeriod) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  runPod(pod);
  ASSERT_TRUE(runtime_->kill(pod, 30).ok());
  auto stop = fake().lastRequest<v1::StopContainerRequest>("StopContainer");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->timeout(), 30);
  EXPECT_EQ(fake().callCount("StopPodSandbox"), 1);
}

TEST_F(PodRuntimeTest, KillStopsContainersInParallel) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  pod["spec"]["containers"].push_back({{"name", "side"}, {"image", "busybox:1.36"}});
  auto out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  ASSERT_EQ(stateOf().containers.size(), 2u);
  fake().setDelay("StopContainer", 1000ms);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runtime_->kill(pod, 5).ok());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(fake().callCount("StopContainer"), 2);
  // Two sequential stops take 2s at least; parallel ones about 1s.
  EXPECT_LT(took, 1900ms) << "containers stop in parallel";
  for (const auto& c : stateOf().containers) EXPECT_EQ(c.state, v1::CONTAINER_EXITED);
}

TEST_F(PodRuntimeTest, KillReportsStopErrors) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  runPod(pod);
  fake().failNext("StopContainer", grpc::Status(grpc::StatusCode::UNKNOWN, "device busy"));
  auto st = runtime_->kill(pod, 0);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("device busy"), std::string::npos) << st;
  EXPECT_EQ(fake().callCount("StopPodSandbox"), 0) << "the sandbox waits for its containers";
  EXPECT_TRUE(runtime_->kill(pod, 0).ok()) << "a retry succeeds";
}

TEST_F(PodRuntimeTest, RemoveDeletesContainersAndSandboxes) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string first = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(first, 1));
  ASSERT_TRUE(syncPod(pod).error.ok());  // a second container
  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  fake().clearCalls();

  ASSERT_TRUE(runtime_->remove(kUid).ok());
  EXPECT_EQ(fake().callCount("RemoveContainer"), 2);
  EXPECT_EQ(fake().callCount("RemovePodSandbox"), 1);
  EXPECT_TRUE(fake().containers().empty());
  EXPECT_TRUE(fake().sandboxes().empty());
  auto state = stateOf();
  EXPECT_TRUE(state.containers.empty());
  EXPECT_TRUE(state.sandboxes.empty());
  EXPECT_TRUE(runtime_->remove(kUid).ok()) << "removing twice succeeds";
}

TEST_F(PodRuntimeTest, RemoveForgetsTheBackOff) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string id = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(id, 1));
  ASSERT_TRUE(syncPod(pod).error.ok());  // restart 1: back-off (60s) started
  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  ASSERT_TRUE(runtime_->remove(kUid).ok());
  // The same pod again (e.g. a static pod re-created): starts fresh, no CrashLoopBackOff.
  id = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(id, 1));
  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.waiting.empty()) << out.waiting["app"].reason;
}

TEST_F(PodRuntimeTest, HostNetworkPodsSeeTheNodesIpsAsTheirs) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["containers"][0]["env"] = json::parse(R"([
      {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
      {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}])");
  runPod(pod);
  const auto containers = fake().containers();
  ASSERT_EQ(containers.size(), 1u);
  std::map<std::string, std::string> env;
  for (const auto& kv : containers[0].config.envs()) env[kv.key()] = kv.value();
  EXPECT_EQ(env["POD_IP"], "192.168.1.10") << "status.podIP of a host-network pod is the node's";
  EXPECT_EQ(env["POD_IPS"], "192.168.1.10");
  EXPECT_EQ(statusOf(pod)["podIP"], "192.168.1.10");
}

// ------------------------------------------------------------------ /etc/hosts and resolv.conf

class PodFilesTest : public PodRuntimeTest {
 protected:
  void SetUp() override {
    PodRuntimeTest::SetUp();
    podsDir_ = dir_ / "pods";
    std::filesystem::create_directories(podsDir_);
    nodeHosts_ = dir_ / "node-hosts";
    std::ofstream(nodeHosts_) << "127.0.0.1 localhost\n10.99.0.2 node-1\n";
    resolvConf_ = dir_ / "resolv.conf";
    std::ofstream(resolvConf_) << "nameserver 192.168.1.1\n";
    configure_ = [this](PodRuntimeOptions& o) {
      o.podsDir = podsDir_.string();
      o.nodeHostsPath = nodeHosts_.string();
      o.resolvConfPath = resolvConf_.string();
    };
    makeRuntime(60s, 300s);
    fake().addImage("busybox:1.36");
  }
  static std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::filesystem::path hostsFile(const std::string& uid = kUid) const { return podsDir_ / uid / "etc-hosts"; }
  // A runtime with a real volume manager on the pods dir.
  void useVolumeManager() {
    volume::VolumeManagerOptions vo;
    vo.podsDir = podsDir_.string();
    volumes_ = std::make_unique<volume::VolumeManager>(events_.recorder(), std::move(vo));
    auto base = configure_;
    configure_ = [this, base](PodRuntimeOptions& o) {
      base(o);
      o.volumes = volumes_.get();
    };
    makeRuntime(60s, 300s);
  }
  // The /etc/hosts mount of a container the fake runtime created, if any.
  static std::optional<v1::Mount> hostsMount(const testing::FakeContainer& c) {
    for (const auto& m : c.config.mounts())
      if (m.container_path() == "/etc/hosts") return m;
    return std::nullopt;
  }

  std::filesystem::path podsDir_, nodeHosts_, resolvConf_;
  std::unique_ptr<volume::VolumeManager> volumes_;
};

constexpr char kPodHostsPreamble[] =
    "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";

TEST_F(PodFilesTest, EveryContainerGetsThePodsHostsFile) {
  json pod = makePod("Always");
  pod["spec"]["hostname"] = "www";
  pod["spec"]["subdomain"] = "front";
  pod["spec"]["hostAliases"] = json::parse(R"([{"ip": "10.1.2.3", "hostnames": ["db.example", "db"]}])");
  pod["spec"]["initContainers"] = json::parse(R"([{"name": "init", "image": "busybox:1.36", "imagePullPolicy": "Never"},
      {"name": "helper", "image": "busybox:1.36", "imagePullPolicy": "Never", "restartPolicy": "Always"}])");
  auto out = syncPod(pod);  // the init container
  ASSERT_TRUE(out.error.ok()) << out.error;
  const std::string ip = fake().sandboxes().at(0).ip;
  ASSERT_FALSE(ip.empty());
  EXPECT_EQ(slurp(hostsFile()), std::string(kPodHostsPreamble) + ip + "\twww.front.default.svc.cluster.local\twww\n" +
                                    "\n# Entries added by HostAliases.\n10.1.2.3\tdb.example\tdb\n");
  struct stat st {};
  ASSERT_EQ(::stat(hostsFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  ASSERT_TRUE(fake().exitContainer(stateOf().latest("init")->id, 0));
  out = syncPod(pod);  // the sidecar, then the app
  ASSERT_TRUE(out.error.ok()) << out.error;
  ASSERT_EQ(fake().containers().size(), 3u);
  for (const auto& c : fake().containers()) {
    auto m = hostsMount(c);
    ASSERT_TRUE(m) << c.config.metadata().name();
    EXPECT_EQ(m->host_path(), hostsFile().string());
    EXPECT_FALSE(m->readonly());
  }
  // The sandbox is not a container of the pod's spec and gets nothing.
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 1);
}

TEST_F(PodFilesTest, TheFileIsWrittenAgainForEachContainerItCreates) {
  json pod = makePod("Always");
  const std::string first = runPod(pod);
  const std::string good = slurp(hostsFile());
  std::ofstream(hostsFile()) << "127.0.0.1 tampered\n";
  ASSERT_TRUE(fake().exitContainer(first, 1));
  ASSERT_TRUE(syncPod(pod).error.ok());  // the first restart is immediate
  EXPECT_EQ(slurp(hostsFile()), good);
}

TEST_F(PodFilesTest, HostNetworkPodsGetTheNodesFileWithoutAnIp) {
  json pod = makePod("Always");
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["hostAliases"] = json::parse(R"([{"ip": "10.1.2.3", "hostnames": ["db.example"]}])");
  runPod(pod);
  EXPECT_TRUE(fake().sandboxes().at(0).ip.empty()) << "the runtime gives host-network sandboxes no IP";
  EXPECT_EQ(slurp(hostsFile()),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n10.99.0.2 node-1\n"
            "\n# Entries added by HostAliases.\n10.1.2.3\tdb.example\n");
  ASSERT_TRUE(hostsMount(fake().containers().at(0)));

  // The node's file is read when each container is created.
  std::filesystem::remove(nodeHosts_);
  ASSERT_TRUE(fake().exitContainer(stateOf().latest("app")->id, 1));
  auto out = syncPod(pod);
  ASSERT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "CreateContainerConfigError");
  EXPECT_EQ(out.waiting["app"].message, "reading the node's hosts file for pod web_default(" + std::string(kUid) +
                                            "): open " + nodeHosts_.string() + ": no such file or directory");
  EXPECT_TRUE(hasEvent("Failed", "Error: reading the node's hosts file for pod web_default("));
}

TEST_F(PodFilesTest, AFailedWriteIsACreateContainerConfigErrorNamingPodAndPath) {
  json pod = makePod("Always");
  std::filesystem::create_directories(hostsFile() / "in-the-way");
  auto out = syncPod(pod);
  ASSERT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "CreateContainerConfigError");
  const std::string& msg = out.waiting["app"].message;
  EXPECT_EQ(msg.rfind("writing the hosts file of pod web_default(" + std::string(kUid) + "): rename ", 0), 0u) << msg;
  EXPECT_NE(msg.find(" to " + hostsFile().string() + ": is a directory"), std::string::npos) << msg;
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
  EXPECT_TRUE(hasEvent("Failed", "Error: writing the hosts file of pod web_default("));

  // A bad alias (a static pod skips the apiserver's checks) names the field.
  std::filesystem::remove_all(hostsFile());
  pod["spec"]["hostAliases"] = json::parse(R"([{"ip": "10.1.2.3", "hostnames": ["ok"]}, {"ip": "not-an-ip"}])");
  out = syncPod(pod);
  EXPECT_EQ(out.waiting["app"].reason, "CreateContainerConfigError");
  EXPECT_NE(out.waiting["app"].message.find("spec.hostAliases[1].ip: Invalid value: \"not-an-ip\""), std::string::npos)
      << out.waiting["app"].message;
  EXPECT_FALSE(std::filesystem::exists(hostsFile()));
}

TEST_F(PodFilesTest, VolumesAreSetUpBeforeTheContainersAndMountedBeforeTheHostsFile) {
  useVolumeManager();
  const std::string hostDir = (dir_ / "host-data").string();
  json pod = makePod("Always");
  pod["spec"]["volumes"] = json::parse(R"([{"name": "scratch", "emptyDir": {}},
      {"name": "host", "hostPath": {"path": ")" + hostDir + R"(", "type": "Directory"}}])");
  pod["spec"]["containers"][0]["volumeMounts"] = json::parse(R"([
      {"name": "host", "mountPath": "/host", "readOnly": true},
      {"name": "scratch", "mountPath": "work"}])");
  // The hostPath does not exist yet: no container, a FailedMount event, a short retry, and no
  // sandbox left (the one made while the volumes were being set up is removed again, after
  // the volumes' second try at the end of their first back-off step).
  auto out = syncPod(pod);
  EXPECT_EQ(out.waiting["app"].reason, "ContainerCreating");
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
  EXPECT_TRUE(fake().sandboxes().empty());
  EXPECT_TRUE(hasEvent("FailedMount", "MountVolume.SetUp failed for volume \"host\" : hostPath type check failed, " +
                                          hostDir + " is not a directory, unable to determine its type: path \"" +
                                          hostDir + "\" does not exist"));
  ASSERT_TRUE(out.retryAfter.has_value());
  EXPECT_LE(*out.retryAfter, 1000ms) << "the second back-off step";
  const int sandboxesMade = fake().callCount("RunPodSandbox");
  EXPECT_EQ(sandboxesMade, 1);
  // Still failing after the back-off: the volumes are tried first now, so no sandbox is made
  // and removed again.
  std::this_thread::sleep_for(1100ms);
  out = syncPod(pod);
  EXPECT_EQ(out.waiting["app"].reason, "ContainerCreating");
  EXPECT_EQ(fake().callCount("RunPodSandbox"), sandboxesMade);
  EXPECT_TRUE(fake().sandboxes().empty());
  std::filesystem::create_directories(hostDir);
  std::this_thread::sleep_for(2100ms);  // the third back-off step
  runPod(pod);
  const auto containers = fake().containers();
  ASSERT_EQ(containers.size(), 1u);
  const auto& mounts = containers[0].config.mounts();
  ASSERT_GE(mounts.size(), 3);
  EXPECT_EQ(mounts[0].container_path(), "/host");
  EXPECT_EQ(mounts[0].host_path(), hostDir);
  EXPECT_TRUE(mounts[0].readonly());
  EXPECT_EQ(mounts[1].container_path(), "/work");
  EXPECT_EQ(mounts[1].host_path(), podsDir_.string() + "/" + kUid + "/volumes/kubernetes.io~empty-dir/scratch");
  EXPECT_FALSE(mounts[1].readonly());
  EXPECT_EQ(mounts[2].container_path(), "/etc/hosts");
  // The pod goes: its volumes with it.
  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  ASSERT_TRUE(runtime_->remove(kUid).ok());
  EXPECT_FALSE(std::filesystem::exists(podsDir_ / kUid));
  EXPECT_TRUE(std::filesystem::exists(hostDir)) << "a hostPath is never removed";
}

TEST_F(PodFilesTest, AVolumeThatFailsOnlyAtFirstCostsNoSecondSandbox) {
  useVolumeManager();
  const std::string hostDir = (dir_ / "late-data").string();
  json pod = makePod("Always");
  pod["spec"]["volumes"] = json::parse(R"([{"name": "host", "hostPath": {"path": ")" + hostDir +
                                       R"(", "type": "Directory"}}])");
  pod["spec"]["containers"][0]["volumeMounts"] = json::parse(R"([{"name": "host", "mountPath": "/host"}])");
  // The directory appears while the sandbox is made (as a token request a moment too early
  // succeeds on its second try): the volumes' second try finds it, and the sandbox is kept.
  std::thread later([&] {
    std::this_thread::sleep_for(150ms);
    std::filesystem::create_directories(hostDir);
  });
  runPod(pod);
  later.join();
  EXPECT_TRUE(hasEvent("FailedMount", "MountVolume.SetUp failed for volume \"host\""));
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 1);
  EXPECT_EQ(fake().callCount("RemovePodSandbox"), 0);
  EXPECT_EQ(fake().callCount("CreateContainer"), 1);
}
TEST_F(PodFilesTest, RemoveTakesTheFileAndThePodDirectory) {
  json pod = makePod("Always");
  runPod(pod);
  ASSERT_TRUE(std::filesystem::exists(hostsFile()));
  std::ofstream(hostsFile().string() + ".tmp-abc123") << "left by a crash";
  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  ASSERT_TRUE(runtime_->remove(kUid).ok());
  EXPECT_FALSE(std::filesystem::exists(podsDir_ / kUid));
}

TEST_F(PodFilesTest, ResolvConfIsReadForEachPod) {
  std::ofstream(resolvConf_) << "nameserver 192.168.1.1\nsearch corp.example\n";
  json pod = makePod("Always");
  pod["spec"]["dnsPolicy"] = "Default";
  runPod(pod);
  auto dns = fake().sandboxes().at(0).config.dns_config();
  ASSERT_EQ(dns.servers_size(), 1);
  EXPECT_EQ(dns.servers(0), "192.168.1.1");
  EXPECT_EQ(dns.searches(0), "corp.example");

  // A change reaches the next pod without a restart of the agent.
  std::ofstream(resolvConf_) << "nameserver 192.168.1.53\n";
  json other = makePod("Always", "busybox:1.36", "IfNotPresent", "6b8f2c1e-0000-4000-8000-000000000002", "other");
  other["spec"]["dnsPolicy"] = "Default";
  runPod(other);
  bool found = false;
  for (const auto& sb : fake().sandboxes()) {
    if (sb.config.metadata().name() != "other") continue;
    found = true;
    ASSERT_EQ(sb.config.dns_config().servers_size(), 1);
    EXPECT_EQ(sb.config.dns_config().servers(0), "192.168.1.53");
    EXPECT_EQ(sb.config.dns_config().searches_size(), 0);
  }
  EXPECT_TRUE(found);

  // Without the file no sandbox is made, with the upstream message.
  std::filesystem::remove(resolvConf_);
  json third = makePod("Always", "busybox:1.36", "IfNotPresent", "6b8f2c1e-0000-4000-8000-000000000003", "third");
  fake().clearCalls();
  auto out = syncPod(third);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0);
  EXPECT_EQ(out.waiting["app"].reason, "ContainerCreating");
  EXPECT_TRUE(hasEvent("FailedCreatePodSandBox",
                       "Failed to create pod sandbox: open " + resolvConf_.string() + ": no such file or directory"));
}

// ------------------------------------------------------------------ PLEG relist

TEST_F(PodRuntimeTest, FingerprintsAndPodUidsFollowTheRuntime) {
  fake().addImage("busybox:1.36");
  auto fp = runtime_->fingerprints();
  ASSERT_TRUE(fp.ok()) << fp.status();
  EXPECT_TRUE(fp->empty());
  auto uids = runtime_->podUids();
  ASSERT_TRUE(uids.ok());
  EXPECT_TRUE(uids->empty());

  json a = makePod("Always", "busybox:1.36", "IfNotPresent", "uid-a", "a");
  json b = makePod("Always", "busybox:1.36", "IfNotPresent", "uid-b", "b");
  std::string ida = runPod(a);
  runPod(b);
  uids = runtime_->podUids();
  ASSERT_TRUE(uids.ok());
  EXPECT_EQ(*uids, (std::vector<std::string>{"uid-a", "uid-b"}));

  auto fp1 = runtime_->fingerprints();
  ASSERT_TRUE(fp1.ok());
  ASSERT_EQ(fp1->size(), 2u);
  auto fp2 = runtime_->fingerprints();
  ASSERT_TRUE(fp2.ok());
  EXPECT_EQ(*fp1, *fp2) << "stable while nothing changes";

  ASSERT_TRUE(fake().exitContainer(ida, 1));
  auto fp3 = runtime_->fingerprints();
  ASSERT_TRUE(fp3.ok());
  EXPECT_NE(fp3->at("uid-a"), fp1->at("uid-a")) << "a container exited";
  EXPECT_EQ(fp3->at("uid-b"), fp1->at("uid-b"));

  ASSERT_TRUE(syncPod(a).error.ok());  // restart: a new container
  auto fp4 = runtime_->fingerprints();
  ASSERT_TRUE(fp4.ok());
  EXPECT_NE(fp4->at("uid-a"), fp3->at("uid-a"));

  ASSERT_TRUE(fake().setSandboxNotReady(stateOf("uid-b").sandboxes[0].id));
  auto fp5 = runtime_->fingerprints();
  ASSERT_TRUE(fp5.ok());
  EXPECT_NE(fp5->at("uid-b"), fp4->at("uid-b")) << "a sandbox changed state";

  ASSERT_TRUE(runtime_->kill(a, 0).ok());
  ASSERT_TRUE(runtime_->remove("uid-a").ok());
  uids = runtime_->podUids();
  ASSERT_TRUE(uids.ok());
  EXPECT_EQ(*uids, std::vector<std::string>{"uid-b"});
  auto fp6 = runtime_->fingerprints();
  ASSERT_TRUE(fp6.ok());
  EXPECT_EQ(fp6->count("uid-a"), 0u);
  EXPECT_EQ(fp6->count("uid-b"), 1u);
}

TEST_F(PodRuntimeTest, ListErrorsAreReturned) {
  fake().failAlways("ListPodSandbox", grpc::Status(grpc::StatusCode::UNAVAILABLE, "runtime down"));
  EXPECT_FALSE(runtime_->fingerprints().ok());
  EXPECT_FALSE(runtime_->podUids().ok());
  EXPECT_FALSE(runtime_->state(kUid).ok());
}

// ------------------------------------------------------------------ CRI failures

TEST_F(PodRuntimeTest, CreateContainerErrorIsAWaitingReasonNotACrash) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  fake().failNext("CreateContainer", grpc::Status(grpc::StatusCode::UNKNOWN, "no space left on device"));
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_NE(std::string(out.error.message()).find("no space left on device"), std::string::npos) << out.error;
  ASSERT_EQ(out.waiting.count("app"), 1u);
  EXPECT_EQ(out.waiting["app"].reason, "CreateContainerError");
  EXPECT_NE(out.waiting["app"].message.find("no space left on device"), std::string::npos);
  EXPECT_TRUE(out.changed) << "the sandbox was created";
  EXPECT_EQ(fake().callCount("StartContainer"), 0);

  json status = statusOf(pod, out);
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["waiting"]["reason"], "CreateContainerError");
  EXPECT_TRUE(hasEvent("Failed", "Error: "));

  // The next sync retries and succeeds in the same sandbox.
  out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 1);
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 1u);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
  EXPECT_EQ(state.containers[0].restartCount, 0);
}

TEST_F(PodRuntimeTest, StartContainerErrorIsRunContainerErrorAndTheContainerIsStartedLater) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  fake().failNext("StartContainer", grpc::Status(grpc::StatusCode::UNKNOWN, "exec: \"sleep\": not found"));
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "RunContainerError");
  EXPECT_TRUE(out.changed) << "a container was created";
  json status = statusOf(pod, out);
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["waiting"]["reason"], "RunContainerError");
  EXPECT_NE(status["containerStatuses"][0]["state"]["waiting"].value("message", "").find("not found"),
            std::string::npos);

  // Starting it fails again: still RunContainerError, and no second container with the same
  // name (attempt 0) is created.
  fake().failNext("StartContainer", grpc::Status(grpc::StatusCode::UNKNOWN, "exec: \"sleep\": not found"));
  out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "RunContainerError");
  EXPECT_EQ(fake().callCount("CreateContainer"), 1);
  EXPECT_EQ(statusOf(pod, out)["containerStatuses"][0]["state"]["waiting"]["reason"], "RunContainerError");

  out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_EQ(fake().callCount("CreateContainer"), 1) << "the created container is started, not re-created";
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 1u);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
}

TEST_F(PodRuntimeTest, RunPodSandboxErrorLeavesContainersCreating) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  fake().failNext("RunPodSandbox", grpc::Status(grpc::StatusCode::UNKNOWN, "cni plugin not initialized"));
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "ContainerCreating");
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
  json status = statusOf(pod, out);
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ((*conditionOf(status, "PodReadyToStartContainers"))["status"], "False");
  EXPECT_TRUE(hasEvent("FailedCreatePodSandBox", "cni plugin not initialized"));
  out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_EQ(statusOf(pod, out)["phase"], "Running");
}

TEST_F(PodRuntimeTest, VolumesWithoutAVolumeManagerWaitWithoutTouchingTheRuntime) {
  json pod = makePod("Always");
  pod["spec"]["volumes"] = json::array({{{"name", "data"}, {"emptyDir", json::object()}}});
  auto out = syncPod(pod);
  EXPECT_EQ(out.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(out.waiting["app"].reason, "ContainerCreating");
  EXPECT_EQ(fake().callCount("RunPodSandbox"), 0);
  EXPECT_TRUE(hasEvent("FailedMount", "unmounted volumes=[data]"));
}

TEST_F(PodRuntimeTest, PodPhaseRules) {
  json pod = makePod("OnFailure");
  json running = {{"name", "app"}, {"state", {{"running", json::object()}}}};
  json failed = {{"name", "app"}, {"state", {{"terminated", {{"exitCode", 1}}}}}};
  json ok = {{"name", "app"}, {"state", {{"terminated", {{"exitCode", 0}}}}}};
  json waiting = {{"name", "app"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}};
  EXPECT_EQ(podPhase(pod, json::array({running})), "Running");
  EXPECT_EQ(podPhase(pod, json::array({failed})), "Running") << "OnFailure will restart it";
  EXPECT_EQ(podPhase(pod, json::array({ok})), "Succeeded");
  EXPECT_EQ(podPhase(pod, json::array({waiting})), "Pending");
  EXPECT_EQ(podPhase(pod, json::array()), "Pending");
  pod["spec"]["restartPolicy"] = "Never";
  EXPECT_EQ(podPhase(pod, json::array({failed})), "Failed");
}

}  // namespace
}  // namespace cubelet::runtime

namespace cubelet::runtime {
namespace {

TEST_F(PodRuntimeTest, GarbageCollectionKeepsTheNewestDeadInstance) {
  makeRuntime(0s, 0s);  // no crash-loop back-off: every sync restarts at once
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  std::string id = runPod(pod);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(fake().exitContainer(id, 1));
    id = runPod(pod);
  }
  ASSERT_EQ(stateOf().containers.size(), 4u) << "one running, three dead";
  auto removed = runtime_->collectGarbage();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 2u);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
  EXPECT_EQ(state.containers[0].restartCount, 3);
  EXPECT_EQ(state.containers[1].state, v1::CONTAINER_EXITED);
  EXPECT_EQ(state.containers[1].restartCount, 2) << "the newest dead one stays, for lastState";
  EXPECT_EQ(runtime_->buildStatus(pod, state, {}, json::object(), std::chrono::system_clock::now())
                ["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1);
  removed = runtime_->collectGarbage();
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0) << "nothing more to collect";
}

TEST_F(PodRuntimeTest, GarbageCollectionRemovesOldDeadSandboxes) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  runPod(pod);
  auto first = stateOf().sandboxes.front().id;
  ASSERT_TRUE(fake().setSandboxNotReady(first));
  runPod(pod);  // a new sandbox; the old one's container was stopped
  ASSERT_EQ(stateOf().sandboxes.size(), 2u);
  // The old sandbox still holds the dead container: kept this round.
  auto removed = runtime_->collectGarbage();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(stateOf().sandboxes.size(), 2u);
  // Once the container is gone, the sandbox goes too; the ready one stays.
  for (const auto& c : stateOf().containers) {
    if (c.sandboxId == first) {
      ASSERT_TRUE(cri_->removeContainer(c.id).ok());
    }
  }
  removed = runtime_->collectGarbage();
  ASSERT_TRUE(removed.ok());
  auto state = stateOf();
  ASSERT_EQ(state.sandboxes.size(), 1u);
  EXPECT_NE(state.sandboxes[0].id, first);
  EXPECT_TRUE(state.sandboxes[0].ready);
}

TEST_F(PodRuntimeTest, ChangedImageReplacesTheRunningContainer) {
  fake().addImage("busybox:1.36");
  fake().addImage("busybox:1.37");
  json pod = makePod("Always");
  std::string first = runPod(pod);
  pod["spec"]["containers"][0]["image"] = "busybox:1.37";
  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.changed);
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 2u);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
  EXPECT_EQ(state.containers[0].restartCount, 1);
  EXPECT_EQ(state.containers[1].id, first);
  EXPECT_EQ(state.containers[1].state, v1::CONTAINER_EXITED);
  EXPECT_TRUE(hasEvent("Killing", "Container app definition changed, will be restarted"));
  // Unchanged now: the next sync leaves it alone.
  fake().clearCalls();
  out = syncPod(pod);
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
}

TEST_F(PodRuntimeTest, WatchEventsNamesThePodOfEachEvent) {
  fake().addImage("busybox:1.36");
  std::mutex mu;
  std::vector<std::string> uids;
  std::jthread watcher([&](std::stop_token st) {
    auto s = runtime_->watchEvents(st, [&](const std::string& uid) {
      std::lock_guard<std::mutex> lock(mu);
      uids.push_back(uid);
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  auto seen = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return std::count(uids.begin(), uids.end(), kUid);
  };
  // The stream must be open before the change; retry the first sync's events until seen.
  ASSERT_TRUE(eventually([&] {
    if (seen() > 0) return true;
    json pod = makePod("Always", "busybox:1.36", "IfNotPresent", kUid + std::string("-probe"), "probe");
    (void)syncPod(pod);
    std::lock_guard<std::mutex> lock(mu);
    return !uids.empty();
  }));
  runPod(makePod("Always"));
  EXPECT_TRUE(eventually([&] { return seen() > 0; }));
  watcher.request_stop();
}

}  // namespace
}  // namespace cubelet::runtime

namespace cubelet::runtime {
namespace {

TEST_F(PodRuntimeTest, RuntimeClassHandlerReachesTheSandbox) {
  PodRuntimeOptions o;
  o.node.nodeIps = {"192.168.1.10"};
  o.getRuntimeClass = [](const std::string& name) -> absl::StatusOr<json> {
    if (name == "fast") return json{{"metadata", {{"name", "fast"}}}, {"handler", "runc"}};
    if (name == "empty") return json{{"metadata", {{"name", "empty"}}}};
    return absl::NotFoundError("runtimeclasses.node.k8s.io \"" + name + "\" not found");
  };
  runtime_ = std::make_unique<PodRuntime>(*cri_, events_.recorder(), std::move(o));
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  pod["spec"]["runtimeClassName"] = "fast";
  runPod(pod);
  auto req = fake().lastRequest<v1::RunPodSandboxRequest>("RunPodSandbox");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->runtime_handler(), "runc");

  for (const char* rc : {"missing", "empty"}) {
    json other = makePod("Always", "busybox:1.36", "IfNotPresent", std::string("uid-") + rc, rc);
    other["spec"]["runtimeClassName"] = rc;
    fake().clearCalls();
    auto out = syncPod(other);
    EXPECT_FALSE(out.error.ok());
    EXPECT_EQ(out.waiting.at("app").reason, "ContainerCreating");
    EXPECT_EQ(fake().callCount("RunPodSandbox"), 0) << rc;
  }
  EXPECT_TRUE(hasEvent("FailedCreatePodSandBox", "runtimeclasses.node.k8s.io \"missing\" not found"));
}

}  // namespace
}  // namespace cubelet::runtime

namespace cubelet::runtime {
namespace {

json withInits(json pod, int n) {
  json inits = json::array();
  for (int i = 1; i <= n; ++i) {
    inits.push_back({{"name", "init" + std::to_string(i)}, {"image", "busybox:1.36"},
                     {"imagePullPolicy", "IfNotPresent"}, {"command", {"true"}}});
  }
  pod["spec"]["initContainers"] = inits;
  return pod;
}

const ContainerRecord* runningOne(const PodRuntimeState& st) {
  for (const auto& c : st.containers)
    if (c.state == v1::CONTAINER_RUNNING) return &c;
  return nullptr;
}

TEST_F(PodRuntimeTest, InitContainersRunOneAtATimeInOrderBeforeTheApp) {
  fake().addImage("busybox:1.36");
  json pod = withInits(makePod("Always"), 3);
  for (int i = 1; i <= 3; ++i) {
    auto out = syncPod(pod);
    ASSERT_TRUE(out.error.ok()) << out.error;
    EXPECT_EQ(out.waiting.at("app").reason, "PodInitializing");
    auto st = stateOf();
    const ContainerRecord* r = runningOne(st);
    ASSERT_NE(r, nullptr) << "init" << i;
    EXPECT_EQ(r->name, "init" + std::to_string(i));
    EXPECT_EQ(st.latest("app"), nullptr) << "the app waits for the init containers";
    json status = runtime_->buildStatus(pod, st, out, json::object(), std::chrono::system_clock::now());
    EXPECT_EQ(status["phase"], "Pending");
    EXPECT_EQ(conditionOf(status, "Initialized")->at("status"), "False");
    EXPECT_EQ(conditionOf(status, "Initialized")->at("reason"), "ContainersNotInitialized");
    EXPECT_EQ(status["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
    EXPECT_TRUE(status["initContainerStatuses"][i - 1]["state"].contains("running"));
    // Still running: another sync starts nothing.
    fake().clearCalls();
    (void)syncPod(pod);
    EXPECT_EQ(fake().callCount("CreateContainer"), 0);
    ASSERT_TRUE(fake().exitContainer(r->id, 0));
  }
  runPod(pod);  // the app starts after the third
  auto st = stateOf();
  json status = runtime_->buildStatus(pod, st, {}, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(conditionOf(status, "Initialized")->at("status"), "True");
  ASSERT_EQ(status["initContainerStatuses"].size(), 3u);
  for (const auto& s : status["initContainerStatuses"]) {
    EXPECT_EQ(s["state"]["terminated"]["reason"], "Completed") << s;
    EXPECT_EQ(s["ready"], true);
  }
  // Done init containers are not run again.
  fake().clearCalls();
  (void)syncPod(pod);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0);
}

TEST_F(PodRuntimeTest, FailedInitContainerFailsANeverPod) {
  fake().addImage("busybox:1.36");
  json pod = withInits(makePod("Never"), 2);
  ASSERT_TRUE(syncPod(pod).error.ok());
  auto before = stateOf();
  const ContainerRecord* r = runningOne(before);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(fake().exitContainer(r->id, 7));
  fake().clearCalls();
  auto out = syncPod(pod);
  EXPECT_EQ(fake().callCount("CreateContainer"), 0) << "neither a retry nor the next container";
  json status = runtime_->buildStatus(pod, stateOf(), out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Failed");
  EXPECT_EQ(status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 7);
  EXPECT_EQ(status["initContainerStatuses"][1]["state"]["waiting"]["reason"], "PodInitializing");
}

TEST_F(PodRuntimeTest, FailedInitContainerIsRetriedWithBackOff) {
  fake().addImage("busybox:1.36");
  json pod = withInits(makePod("Always"), 1);
  ASSERT_TRUE(syncPod(pod).error.ok());
  ASSERT_TRUE(fake().exitContainer(runningOne(stateOf())->id, 1));
  ASSERT_TRUE(syncPod(pod).error.ok());  // first retry at once, starting the back-off
  auto st = stateOf();
  ASSERT_NE(runningOne(st), nullptr);
  EXPECT_EQ(runningOne(st)->restartCount, 1);
  ASSERT_TRUE(fake().exitContainer(runningOne(st)->id, 1));
  auto out = syncPod(pod);
  EXPECT_EQ(out.waiting.at("init1").reason, "CrashLoopBackOff");
  EXPECT_TRUE(out.retryAfter.has_value());
  json status = runtime_->buildStatus(pod, stateOf(), out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(status["initContainerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(status["initContainerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1);
}

}  // namespace
}  // namespace cubelet::runtime

namespace cubelet::runtime {
namespace {

// Sidecars (init containers with restartPolicy Always) around one regular init container.
json withSidecars(json pod) {
  auto c = [](const std::string& name, bool sidecar) {
    json j = {{"name", name}, {"image", "busybox:1.36"}, {"imagePullPolicy", "IfNotPresent"}, {"command", {"sh"}}};
    if (sidecar) j["restartPolicy"] = "Always";
    return j;
  };
  pod["spec"]["initContainers"] = json::array({c("side1", true), c("init", false), c("side2", true)});
  return pod;
}

const ContainerRecord* runningNamed(const PodRuntimeState& st, const std::string& name) {
  const ContainerRecord* r = st.latest(name);
  return r && r->state == v1::CONTAINER_RUNNING ? r : nullptr;
}

TEST_F(PodRuntimeTest, SidecarsStartInOrderKeepRunningAndGateTheNextInitContainer) {
  fake().addImage("busybox:1.36");
  json pod = withSidecars(makePod("Always"));
  // First sync: side1 starts (no startup probe: started at once), then the regular init
  // container, which must finish before anything else.
  auto out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  auto st = stateOf();
  ASSERT_NE(runningNamed(st, "side1"), nullptr);
  const ContainerRecord* init = runningNamed(st, "init");
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(st.latest("side2"), nullptr);
  EXPECT_EQ(st.latest("app"), nullptr);
  json status = runtime_->buildStatus(pod, st, out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(conditionOf(status, "Initialized")->at("message"), "containers with incomplete status: [init side2]");
  EXPECT_EQ(status["initContainerStatuses"][0]["started"], true);
  EXPECT_EQ(status["initContainerStatuses"][0]["ready"], true);
  ASSERT_TRUE(fake().exitContainer(init->id, 0));
  // Then side2 and the app in the same sync.
  out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  st = stateOf();
  ASSERT_NE(runningNamed(st, "side2"), nullptr);
  ASSERT_NE(runningNamed(st, "app"), nullptr);
  status = runtime_->buildStatus(pod, st, out, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(conditionOf(status, "Initialized")->at("status"), "True");
  EXPECT_EQ(conditionOf(status, "Ready")->at("status"), "True");
  // A sidecar that exits is restarted, even with the app running and whatever its code.
  const std::string side1 = runningNamed(st, "side1")->id;
  ASSERT_TRUE(fake().exitContainer(side1, 0));
  st = stateOf();
  status = runtime_->buildStatus(pod, st, {}, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Running") << "a restarting sidecar does not make the pod Pending again";
  EXPECT_EQ(conditionOf(status, "Initialized")->at("status"), "True");
  EXPECT_EQ(conditionOf(status, "ContainersReady")->at("message"), "containers with unready status: [side1]");
  out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  st = stateOf();
  ASSERT_NE(runningNamed(st, "side1"), nullptr);
  EXPECT_NE(runningNamed(st, "side1")->id, side1);
  EXPECT_EQ(runningNamed(st, "side1")->restartCount, 1);
  EXPECT_EQ(st.latest("init")->restartCount, 0) << "the regular init container is not run again";
}

TEST_F(PodRuntimeTest, SidecarsStopAfterTheAppsInReverseOrder) {
  fake().addImage("busybox:1.36");
  json pod = withSidecars(makePod("Always"));
  (void)syncPod(pod);
  ASSERT_TRUE(fake().exitContainer(runningNamed(stateOf(), "init")->id, 0));
  (void)syncPod(pod);
  auto st = stateOf();
  std::map<std::string, std::string> names;
  for (const auto& c : st.containers) names[c.id] = c.name;
  fake().clearCalls();
  ASSERT_TRUE(runtime_->kill(pod, 5).ok());
  std::vector<std::string> order;
  for (const auto& c : fake().recordedCalls()) {
    if (c.name != "StopContainer") continue;
    order.push_back(names[dynamic_cast<const v1::StopContainerRequest&>(*c.request).container_id()]);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"app", "side2", "side1"}));
}

TEST_F(PodRuntimeTest, NeverPodWithSidecarsEndsWhenTheAppsAreDone) {
  fake().addImage("busybox:1.36");
  json pod = withSidecars(makePod("Never"));
  (void)syncPod(pod);
  ASSERT_TRUE(fake().exitContainer(runningNamed(stateOf(), "init")->id, 0));
  (void)syncPod(pod);
  ASSERT_TRUE(fake().exitContainer(runningNamed(stateOf(), "app")->id, 0));
  auto out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.changed);
  auto st = stateOf();
  EXPECT_EQ(runningNamed(st, "side1"), nullptr) << "the sidecars are stopped";
  EXPECT_EQ(runningNamed(st, "side2"), nullptr);
  json status = runtime_->buildStatus(pod, st, {}, json::object(), std::chrono::system_clock::now());
  EXPECT_EQ(status["phase"], "Succeeded") << "stopped sidecars do not count";
}

TEST_F(PodRuntimeTest, SidecarPhaseRules) {
  json pod = withSidecars(makePod("Always"));
  auto running = [](bool started) {
    return json{{"state", {{"running", json::object()}}}, {"started", started}};
  };
  json done = {{"state", {{"terminated", {{"exitCode", 0}}}}}};
  json app = json::array({{{"name", "app"}, {"state", {{"running", json::object()}}}}});
  json inits = json::array({running(true), done, running(false)});
  inits[0]["name"] = "side1";
  inits[1]["name"] = "init";
  inits[2]["name"] = "side2";
  EXPECT_EQ(podPhase(pod, json::array(), inits), "Pending") << "side2 not started, no app ran";
  EXPECT_EQ(podPhase(pod, app, inits), "Running") << "an app ran: a sidecar restarting keeps the pod Running";
  inits[2] = running(true);
  inits[2]["name"] = "side2";
  EXPECT_EQ(podPhase(pod, app, inits), "Running");
}

TEST_F(PodRuntimeTest, FailingPostStartHookKillsTheContainer) {
  fake().addImage("busybox:1.36");
  fake().setExecHandler([](const testing::FakeContainer&, const std::vector<std::string>& cmd) {
    v1::ExecSyncResponse r;
    r.set_exit_code(cmd.back() == "fail" ? 3 : 0);
    r.set_stdout("hook output");
    return r;
  });
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["lifecycle"] = {{"postStart", {{"exec", {{"command", {"sh", "-c", "fail"}}}}}}};
  auto out = syncPod(pod);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting.at("app").reason, "PostStartHookError");
  EXPECT_EQ(fake().callCount("ExecSync"), 1);
  EXPECT_EQ(fake().callCount("StopContainer"), 1);
  EXPECT_EQ(stateOf().latest("app")->state, v1::CONTAINER_EXITED);
  EXPECT_TRUE(hasEvent("FailedPostStartHook", "PostStartHook failed"));
  EXPECT_TRUE(hasEvent("Killing", "FailedPostStartHook"));
  EXPECT_NE(out.waiting.at("app").message.find("Exec lifecycle hook ([sh -c fail]) for Container \"app\""),
            std::string::npos)
      << out.waiting.at("app").message;

  // A succeeding hook leaves the container running.
  json ok = makePod("Always", "busybox:1.36", "IfNotPresent", "uid-ok", "ok");
  ok["spec"]["containers"][0]["lifecycle"] = {{"postStart", {{"exec", {{"command", {"true"}}}}}}};
  runPod(ok);
}

TEST_F(PodRuntimeTest, PreStopHookRunsBeforeTheStopWithinTheGrace) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["lifecycle"] = {{"preStop", {{"exec", {{"command", {"echo", "bye"}}}}}}};
  runPod(pod);
  fake().clearCalls();
  ASSERT_TRUE(runtime_->kill(pod, 30).ok());
  auto calls = fake().calls();
  auto exec = std::find(calls.begin(), calls.end(), "ExecSync");
  auto stop = std::find(calls.begin(), calls.end(), "StopContainer");
  ASSERT_NE(exec, calls.end());
  ASSERT_NE(stop, calls.end());
  EXPECT_LT(exec - calls.begin(), stop - calls.begin()) << "preStop before the stop";
  auto req = fake().lastRequest<v1::ExecSyncRequest>("ExecSync");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->timeout(), 30) << "the hook gets the grace period";
  // With no grace (a forced kill) the hook is skipped.
  runPod(pod);
  fake().clearCalls();
  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  EXPECT_EQ(fake().callCount("ExecSync"), 0);
}

// ------------------------------------------------------------------ probes

// Probe results the test sets by container id, and what PodRuntime told the prober.
class FakeProbes : public ContainerProbes {
 public:
  std::optional<bool> ready(const std::string& id) const override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = readiness.find(id);
    return it == readiness.end() ? std::nullopt : std::optional<bool>(it->second);
  }
  std::optional<bool> started(const std::string& id) const override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = startup.find(id);
    return it == startup.end() ? std::nullopt : std::optional<bool>(it->second);
  }
  std::optional<ProbeFailure> failed(const std::string& id) const override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = failures.find(id);
    return it == failures.end() ? std::nullopt : std::optional<ProbeFailure>(it->second);
  }
  void setRunning(const json& pod, const std::string& podIp, const std::vector<RunningContainer>& running) override {
    std::lock_guard<std::mutex> l(mu_);
    lastPodUid = pod["metadata"]["uid"].get<std::string>();
    lastPodIp = podIp;
    lastRunning = running;
  }
  void removePod(const std::string& uid) override {
    std::lock_guard<std::mutex> l(mu_);
    removed.push_back(uid);
  }
  std::map<std::string, bool> readiness, startup;
  std::map<std::string, ProbeFailure> failures;
  std::string lastPodUid, lastPodIp;
  std::vector<RunningContainer> lastRunning;
  std::vector<std::string> removed;

 private:
  mutable std::mutex mu_;
};

class PodRuntimeProbeTest : public PodRuntimeTest {
 protected:
  void SetUp() override {
    PodRuntimeTest::SetUp();
    probes_ = &probes;
    makeRuntime(60s, 300s);
    fake().addImage("busybox:1.36");
  }
  const json& statusOfApp(const json& status) {
    for (const auto& cs : status["containerStatuses"])
      if (cs["name"] == "app") return cs;
    static const json kNone;
    ADD_FAILURE() << "no status for app";
    return kNone;
  }
  FakeProbes probes;
};

TEST_F(PodRuntimeProbeTest, StartedAndReadyFollowTheProbes) {
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["startupProbe"] = {{"exec", {{"command", {"true"}}}}};
  pod["spec"]["containers"][0]["readinessProbe"] = {{"exec", {{"command", {"true"}}}}};
  std::string id = runPod(pod);

  json status = statusOf(pod);
  EXPECT_EQ(statusOfApp(status)["started"], false) << "no startup result yet";
  EXPECT_EQ(statusOfApp(status)["ready"], false);
  EXPECT_EQ((*conditionOf(status, "ContainersReady"))["status"], "False");
  EXPECT_EQ((*conditionOf(status, "ContainersReady"))["message"], "containers with unready status: [app]");
  EXPECT_EQ((*conditionOf(status, "Ready"))["reason"], "ContainersNotReady");
  EXPECT_EQ(status["phase"], "Running");

  probes.readiness[id] = true;
  status = statusOf(pod);
  EXPECT_EQ(statusOfApp(status)["ready"], false) << "not ready before it started";

  probes.startup[id] = true;
  probes.readiness[id] = false;
  status = statusOf(pod);
  EXPECT_EQ(statusOfApp(status)["started"], true);
  EXPECT_EQ(statusOfApp(status)["ready"], false);

  probes.readiness[id] = true;
  status = statusOf(pod);
  EXPECT_EQ(statusOfApp(status)["ready"], true);
  EXPECT_EQ((*conditionOf(status, "Ready"))["status"], "True");
  EXPECT_EQ((*conditionOf(status, "ContainersReady"))["status"], "True");
}

TEST_F(PodRuntimeProbeTest, ContainersWithoutProbesAreReadyAtOnce) {
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["livenessProbe"] = {{"exec", {{"command", {"true"}}}}};
  runPod(pod);
  json status = statusOf(pod);
  EXPECT_EQ(statusOfApp(status)["started"], true);
  EXPECT_EQ(statusOfApp(status)["ready"], true) << "a liveness probe does not hold readiness";
}

TEST_F(PodRuntimeProbeTest, ReadinessGatesHoldReadyWithUpstreamMessages) {
  json pod = makePod("Always");
  pod["spec"]["readinessGates"] = {{{"conditionType", "example.com/gate-a"}}, {{"conditionType", "example.com/gate-b"}}};
  runPod(pod);

  json status = statusOf(pod);
  EXPECT_EQ((*conditionOf(status, "ContainersReady"))["status"], "True");
  const json* ready = conditionOf(status, "Ready");
  EXPECT_EQ((*ready)["status"], "False");
  EXPECT_EQ((*ready)["reason"], "ReadinessGatesNotReady");
  EXPECT_EQ((*ready)["message"],
            "corresponding condition of pod readiness gate \"example.com/gate-a\" does not exist., "
            "corresponding condition of pod readiness gate \"example.com/gate-b\" does not exist.");

  // Someone else set the conditions (they come back with the pod from the apiserver).
  pod["status"]["conditions"] = {{{"type", "example.com/gate-a"}, {"status", "True"}},
                                 {{"type", "example.com/gate-b"}, {"status", "False"}}};
  status = statusOf(pod);
  ready = conditionOf(status, "Ready");
  EXPECT_EQ((*ready)["status"], "False");
  EXPECT_EQ((*ready)["message"], "the status of pod readiness gate \"example.com/gate-b\" is not \"True\", but False");
  EXPECT_EQ(conditionOf(status, "example.com/gate-a"), nullptr) << "the kubelet never writes gate conditions";

  pod["status"]["conditions"][1]["status"] = "True";
  status = statusOf(pod);
  EXPECT_EQ((*conditionOf(status, "Ready"))["status"], "True");
  EXPECT_FALSE(conditionOf(status, "Ready")->contains("reason"));

  // Unready containers come first: Ready then says so, whatever the gates.
  pod["spec"]["containers"][0]["readinessProbe"] = {{"exec", {{"command", {"true"}}}}};
  status = statusOf(pod);
  EXPECT_EQ((*conditionOf(status, "Ready"))["reason"], "ContainersNotReady");
}

TEST_F(PodRuntimeProbeTest, LivenessFailureKillsAndRestartsTheContainer) {
  json pod = makePod("Always");
  pod["spec"]["terminationGracePeriodSeconds"] = 7;
  pod["spec"]["containers"][0]["livenessProbe"] = {{"exec", {{"command", {"true"}}}}};
  std::string first = runPod(pod);
  probes.failures[first] = ProbeFailure{ProbeKind::kLiveness, std::nullopt};
  fake().clearCalls();

  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  EXPECT_TRUE(out.changed);
  auto stop = fake().lastRequest<v1::StopContainerRequest>("StopContainer");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->container_id(), first);
  EXPECT_EQ(stop->timeout(), 7) << "the pod's grace period";
  EXPECT_TRUE(hasEvent("Killing", "Container app failed liveness probe, will be restarted"));

  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 2u);
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING);
  EXPECT_NE(state.containers[0].id, first);
  EXPECT_EQ(state.containers[0].restartCount, 1);
  EXPECT_EQ(state.containers[1].state, v1::CONTAINER_EXITED);
  json status = statusOf(pod);
  EXPECT_EQ(statusOfApp(status)["restartCount"], 1);
  EXPECT_TRUE(statusOfApp(status)["state"].contains("running"));
  EXPECT_TRUE(statusOfApp(status)["lastState"].contains("terminated"));

  // The prober learns of the new instance after the sync.
  runtime_->trackProbes(pod, state);
  ASSERT_EQ(probes.lastRunning.size(), 1u);
  EXPECT_EQ(probes.lastRunning[0].name, "app");
  EXPECT_EQ(probes.lastRunning[0].id, state.containers[0].id);
  EXPECT_GT(probes.lastRunning[0].startedAt, 0);
  EXPECT_EQ(probes.lastPodIp, state.sandboxes[0].ips[0]);
  EXPECT_EQ(probes.lastPodUid, kUid);
}

TEST_F(PodRuntimeProbeTest, StartupFailureUsesTheProbesGracePeriod) {
  json pod = makePod("OnFailure");
  pod["spec"]["containers"][0]["startupProbe"] = {{"exec", {{"command", {"true"}}}},
                                                  {"terminationGracePeriodSeconds", 3}};
  std::string first = runPod(pod);
  probes.failures[first] = ProbeFailure{ProbeKind::kStartup, 3};
  fake().clearCalls();
  syncPod(pod);
  auto stop = fake().lastRequest<v1::StopContainerRequest>("StopContainer");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->timeout(), 3) << "the probe's terminationGracePeriodSeconds";
  EXPECT_TRUE(hasEvent("Killing", "Container app failed startup probe, will be restarted"));
  EXPECT_EQ(stateOf().containers[0].restartCount, 1) << "OnFailure restarts a probe kill too";
}

TEST_F(PodRuntimeProbeTest, NeverPolicyKillsWithoutRestart) {
  json pod = makePod("Never");
  pod["spec"]["containers"][0]["livenessProbe"] = {{"exec", {{"command", {"true"}}}}};
  std::string first = runPod(pod);
  probes.failures[first] = ProbeFailure{ProbeKind::kLiveness, std::nullopt};
  syncPod(pod);
  EXPECT_TRUE(hasEvent("Killing", "Container app failed liveness probe"));
  for (const auto& e : events_.apiserver().events()) EXPECT_EQ(e.message.find("will be restarted"), std::string::npos);
  auto state = stateOf();
  ASSERT_EQ(state.containers.size(), 1u) << "no new container";
  EXPECT_EQ(state.containers[0].state, v1::CONTAINER_EXITED);
}

TEST_F(PodRuntimeProbeTest, RepeatedLivenessKillsBackOff) {
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["livenessProbe"] = {{"exec", {{"command", {"true"}}}}};
  std::string id = runPod(pod);
  // Two kills restart at once (the first has no earlier instance, the second starts the
  // back-off); the third falls in the 60 s back-off window.
  for (int round = 1; round <= 3; ++round) {
    probes.failures[id] = ProbeFailure{ProbeKind::kLiveness, std::nullopt};
    auto out = syncPod(pod);
    auto state = stateOf();
    if (round < 3) {
      ASSERT_EQ(state.containers[0].state, v1::CONTAINER_RUNNING) << "round " << round;
      EXPECT_EQ(state.containers[0].restartCount, round);
      id = state.containers[0].id;
    } else {
      EXPECT_EQ(state.containers[0].state, v1::CONTAINER_EXITED);
      ASSERT_TRUE(out.waiting.count("app"));
      EXPECT_EQ(out.waiting.at("app").reason, "CrashLoopBackOff");
      EXPECT_TRUE(out.retryAfter);
    }
  }
  EXPECT_TRUE(hasEvent("BackOff", "Back-off restarting failed container app"));
}

TEST_F(PodRuntimeProbeTest, KillStopsThePodsProbes) {
  json pod = makePod("Always");
  runPod(pod);
  ASSERT_TRUE(runtime_->kill(pod, 0).ok());
  EXPECT_EQ(probes.removed, std::vector<std::string>{kUid});
  // A stopped pod runs nothing: the prober hears of no running container.
  runtime_->trackProbes(pod, stateOf());
  EXPECT_TRUE(probes.lastRunning.empty());
}

TEST_F(PodRuntimeTest, HttpGetHookUsesTheSharedProbeClient) {
  fake().addImage("busybox:1.36");
  httplib::Server hookServer;
  std::mutex mu;
  std::string userAgent, custom;
  hookServer.Get("/started", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu);
    userAgent = req.get_header_value("User-Agent");
    custom = req.get_header_value("X-Hook");
    res.set_content("ok", "text/plain");
  });
  int port = hookServer.bind_to_any_port("127.0.0.1");
  std::thread t([&] { hookServer.listen_after_bind(); });
  while (!hookServer.is_running()) std::this_thread::sleep_for(5ms);
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["ports"] = {{{"name", "hook"}, {"containerPort", port}}};
  pod["spec"]["containers"][0]["lifecycle"] = {
      {"postStart",
       {{"httpGet",
         {{"host", "127.0.0.1"}, {"path", "/started"}, {"port", "hook"}, {"httpHeaders", {{{"name", "x-hook"}, {"value", "1"}}}}}}}}};
  runPod(pod);
  hookServer.stop();
  t.join();
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(userAgent.rfind("kube-lifecycle/", 0), 0u) << userAgent;
  EXPECT_EQ(custom, "1");
}

TEST_F(PodRuntimeTest, HttpGetHookSucceedsOnAnyAnswerAndFailsWithoutOne) {
  fake().addImage("busybox:1.36");
  httplib::Server hookServer;
  hookServer.Get("/broken", [&](const httplib::Request&, httplib::Response& res) { res.status = 500; });
  int port = hookServer.bind_to_any_port("127.0.0.1");
  std::thread t([&] { hookServer.listen_after_bind(); });
  while (!hookServer.is_running()) std::this_thread::sleep_for(5ms);
  json pod = makePod("Always");
  pod["spec"]["containers"][0]["lifecycle"] = {
      {"postStart", {{"httpGet", {{"host", "127.0.0.1"}, {"path", "/broken"}, {"port", port}}}}}};
  runPod(pod);  // a 500 is an answer: upstream runs the container on
  hookServer.stop();
  t.join();
  // Nothing listens any more: no answer fails the hook and kills the container.
  json other = makePod("Always", "busybox:1.36", "IfNotPresent", "uid-hook-2", "web2");
  other["spec"]["containers"][0]["lifecycle"] = pod["spec"]["containers"][0]["lifecycle"];
  auto out = syncPod(other);
  EXPECT_FALSE(out.error.ok());
  EXPECT_EQ(out.waiting["app"].reason, "PostStartHookError");
}

TEST_F(PodRuntimeProbeTest, SidecarStartupProbeGatesTheSequenceAndReadinessCounts) {
  json pod = withSidecars(makePod("Always"));
  pod["spec"]["initContainers"][0]["startupProbe"] = {{"exec", {{"command", {"true"}}}}};
  pod["spec"]["initContainers"][0]["readinessProbe"] = {{"exec", {{"command", {"true"}}}}};
  (void)syncPod(pod);
  auto st = stateOf();
  ASSERT_NE(runningNamed(st, "side1"), nullptr);
  const std::string side1 = runningNamed(st, "side1")->id;
  EXPECT_EQ(st.latest("init"), nullptr) << "side1 has not started: its startup probe has not passed";
  json status = statusOf(pod);
  EXPECT_EQ(status["initContainerStatuses"][0]["started"], false);
  EXPECT_EQ(status["initContainerStatuses"][0]["ready"], false);

  // The startup probe passed: the sequence goes on.
  probes.startup[side1] = true;
  (void)syncPod(pod);
  st = stateOf();
  const ContainerRecord* init = runningNamed(st, "init");
  ASSERT_NE(init, nullptr);
  ASSERT_TRUE(fake().exitContainer(init->id, 0));
  (void)syncPod(pod);
  st = stateOf();
  ASSERT_NE(runningNamed(st, "app"), nullptr);
  // The sidecar's readiness counts for the pod's.
  status = statusOf(pod);
  EXPECT_EQ(status["initContainerStatuses"][0]["started"], true);
  EXPECT_EQ(status["initContainerStatuses"][0]["ready"], false);
  EXPECT_EQ((*conditionOf(status, "ContainersReady"))["message"], "containers with unready status: [side1]");
  probes.readiness[side1] = true;
  status = statusOf(pod);
  EXPECT_EQ((*conditionOf(status, "Ready"))["status"], "True");
}

TEST_F(PodRuntimeProbeTest, SidecarLivenessFailureRestartsIt) {
  json pod = withSidecars(makePod("Always"));
  pod["spec"]["initContainers"][2]["livenessProbe"] = {{"exec", {{"command", {"true"}}}},
                                                       {"terminationGracePeriodSeconds", 4}};
  (void)syncPod(pod);
  ASSERT_TRUE(fake().exitContainer(runningNamed(stateOf(), "init")->id, 0));
  (void)syncPod(pod);
  auto st = stateOf();
  const ContainerRecord* side2 = runningNamed(st, "side2");
  ASSERT_NE(side2, nullptr);
  ASSERT_NE(runningNamed(st, "app"), nullptr);
  const std::string first = side2->id;
  probes.failures[first] = ProbeFailure{ProbeKind::kLiveness, 4};
  fake().clearCalls();
  auto out = syncPod(pod);
  EXPECT_TRUE(out.error.ok()) << out.error;
  auto stop = fake().lastRequest<v1::StopContainerRequest>("StopContainer");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->container_id(), first);
  EXPECT_EQ(stop->timeout(), 4);
  EXPECT_TRUE(hasEvent("Killing", "Init container side2 failed liveness probe"));
  st = stateOf();
  ASSERT_NE(runningNamed(st, "side2"), nullptr);
  EXPECT_NE(runningNamed(st, "side2")->id, first);
  EXPECT_EQ(runningNamed(st, "side2")->restartCount, 1);
  EXPECT_EQ(fake().callCount("StopContainer"), 1) << "the app and the other sidecar keep running";
}

// ------------------------------------------------------------------ container restart rules

TEST_F(PodRuntimeTest, ContainerLevelRestartPolicyOverridesThePods) {
  makeRuntime(0s, 0s);
  fake().addImage("busybox:1.36");
  json pod = makePod("Never");
  pod["spec"]["containers"][0]["restartPolicy"] = "Always";
  const std::string first = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(first, 1));
  // Exited but restartable: the pod is Running, not Failed.
  EXPECT_EQ(statusOf(pod)["phase"], "Running");
  auto out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  const PodRuntimeState st = stateOf();
  const ContainerRecord* r = st.latest("app");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->id, first);
  EXPECT_EQ(r->restartCount, 1);
  EXPECT_EQ(r->state, v1::CONTAINER_RUNNING);
}

TEST_F(PodRuntimeTest, RestartPolicyRulesDecideByExitCode) {
  makeRuntime(0s, 0s);
  fake().addImage("busybox:1.36");
  json pod = makePod("Never");
  pod["spec"]["containers"][0]["restartPolicy"] = "Never";
  pod["spec"]["containers"][0]["restartPolicyRules"] =
      json::array({{{"action", "Restart"}, {"exitCodes", {{"operator", "In"}, {"values", {42}}}}}});
  const std::string first = runPod(pod);
  ASSERT_TRUE(fake().exitContainer(first, 42));
  EXPECT_EQ(statusOf(pod)["phase"], "Running");
  ASSERT_TRUE(syncPod(pod).error.ok());
  const PodRuntimeState st = stateOf();
  const ContainerRecord* r = st.latest("app");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->restartCount, 1);
  // Exit 1 matches no rule: the container's own Never applies and the pod fails.
  ASSERT_TRUE(fake().exitContainer(r->id, 1));
  const int creates = fake().callCount("CreateContainer");
  (void)syncPod(pod);
  EXPECT_EQ(fake().callCount("CreateContainer"), creates);
  EXPECT_EQ(statusOf(pod)["phase"], "Failed");
}

// ------------------------------------------------------------------ ephemeral containers

TEST_F(PodRuntimeTest, EphemeralContainerStartsOnceInTheTargetsPidNamespaceAndIsNeverRestarted) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  const std::string appId = runPod(pod);
  pod["spec"]["ephemeralContainers"] = json::array(
      {{{"name", "debugger"}, {"image", "busybox:1.36"}, {"command", {"sh"}}, {"stdin", true}, {"tty", true},
        {"targetContainerName", "app"}, {"imagePullPolicy", "IfNotPresent"}}});
  auto out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  auto req = fake().lastRequest<v1::CreateContainerRequest>("CreateContainer");
  ASSERT_TRUE(req.has_value());
  EXPECT_EQ(req->config().metadata().name(), "debugger");
  EXPECT_TRUE(req->config().tty());
  const auto& ns = req->config().linux().security_context().namespace_options();
  EXPECT_EQ(ns.pid(), v1::TARGET);
  EXPECT_EQ(ns.target_id(), appId);
  EXPECT_TRUE(hasEvent("Started"));

  auto st = stateOf();
  const ContainerRecord* dbg = st.latest("debugger");
  ASSERT_NE(dbg, nullptr);
  EXPECT_EQ(dbg->state, v1::CONTAINER_RUNNING);
  json status = statusOf(pod, out);
  ASSERT_EQ(status["ephemeralContainerStatuses"].size(), 1u);
  EXPECT_EQ(status["ephemeralContainerStatuses"][0]["name"], "debugger");
  EXPECT_TRUE(status["ephemeralContainerStatuses"][0]["state"].contains("running"));
  EXPECT_EQ(status["ephemeralContainerStatuses"][0]["ready"], false);
  EXPECT_EQ(status["containerStatuses"].size(), 1u);
  EXPECT_EQ(status["phase"], "Running");

  // It exits: it stays terminated, although the pod's policy is Always.
  ASSERT_TRUE(fake().exitContainer(dbg->id, 0));
  const int creates = fake().callCount("CreateContainer");
  out = syncPod(pod);
  ASSERT_TRUE(out.error.ok()) << out.error;
  EXPECT_EQ(fake().callCount("CreateContainer"), creates);
  status = statusOf(pod, out);
  EXPECT_TRUE(status["ephemeralContainerStatuses"][0]["state"].contains("terminated"));
}

TEST_F(PodRuntimeTest, EphemeralContainerWaitsWhileItsTargetIsNotRunning) {
  fake().addImage("busybox:1.36");
  json pod = makePod("Always");
  runPod(pod);
  pod["spec"]["ephemeralContainers"] = json::array(
      {{{"name", "debugger"}, {"image", "busybox:1.36"}, {"targetContainerName", "not-started"}}});
  const int creates = fake().callCount("CreateContainer");
  auto out = syncPod(pod);
  EXPECT_EQ(fake().callCount("CreateContainer"), creates);
  ASSERT_TRUE(out.waiting.count("debugger"));
  EXPECT_EQ(out.waiting["debugger"].reason, "CreateContainerConfigError");
  json status = statusOf(pod, out);
  EXPECT_EQ(status["ephemeralContainerStatuses"][0]["state"]["waiting"]["reason"], "CreateContainerConfigError");
}

}  // namespace
}  // namespace cubelet::runtime
