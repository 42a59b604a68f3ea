// Static pods: manifest parsing and defaults, UIDs, error messages naming file and field,
// mirror pods, the directory source (inotify), and how the pod manager and dispatcher keep
// static pods, mirror pods and apiserver pods apart.
#include "kubelet/pod/static_pods.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "kubelet/objects/json_access.h"
#include "kubelet/pod/pod_manager.h"

namespace cubelet::pod {
namespace {

using namespace std::chrono_literals;

const char kManifest[] = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: [sleep, "3600"]
)";

TEST(StaticPodManifestTest, AppliesTheUpstreamDefaults) {
  auto pod = staticPodFromManifest("/etc/manifests/web.yaml", kManifest, "node-a");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ((*pod)["metadata"]["name"], "web-node-a");
  EXPECT_EQ((*pod)["metadata"]["namespace"], "default");
  EXPECT_EQ((*pod)["spec"]["nodeName"], "node-a");
  EXPECT_EQ((*pod)["spec"]["restartPolicy"], "Always");
  EXPECT_EQ((*pod)["spec"]["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ((*pod)["spec"]["containers"][0]["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ((*pod)["metadata"]["labels"]["app"], "web");
  const std::string uid = (*pod)["metadata"]["uid"];
  EXPECT_EQ(uid.size(), 32u);
  EXPECT_EQ((*pod)["metadata"]["annotations"][kConfigHashAnnotation], uid);
  EXPECT_EQ((*pod)["metadata"]["annotations"][kConfigSourceAnnotation], "file");
  EXPECT_EQ((*pod)["status"]["phase"], "Pending");
  EXPECT_TRUE(isStaticPod(*pod));
  EXPECT_FALSE(isMirrorPod(*pod));
}

TEST(StaticPodManifestTest, UidIsStableAndChangesWithContentNodeAndPath) {
  auto uid = [](const std::string& path, const std::string& text, const std::string& node) {
    auto pod = staticPodFromManifest(path, text, node);
    EXPECT_TRUE(pod.ok()) << pod.status();
    return pod.ok() ? (*pod)["metadata"]["uid"].get<std::string>() : "";
  };
  const std::string a = uid("/m/web.yaml", kManifest, "node-a");
  EXPECT_EQ(a, uid("/m/web.yaml", kManifest, "node-a"));
  EXPECT_NE(a, uid("/m/web.yaml", kManifest, "node-b"));
  EXPECT_NE(a, uid("/m/other.yaml", kManifest, "node-a"));
  std::string edited = kManifest;
  edited.replace(edited.find("3600"), 4, "3601");
  EXPECT_NE(a, uid("/m/web.yaml", edited, "node-a"));
  // Formatting alone does not matter: the same object as JSON has the same UID.
  const char json[] = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},
    "spec":{"containers":[{"name":"main","image":"busybox:1.36","command":["sleep","3600"]}]}})";
  EXPECT_EQ(a, uid("/m/web.yaml", json, "node-a"));
  // An explicit UID is kept.
  std::string withUid = kManifest;
  withUid.replace(withUid.find("  name: web"), 11, "  name: web\n  uid: fixed-uid");
  EXPECT_EQ(uid("/m/web.yaml", withUid, "node-a"), "fixed-uid");
}

TEST(StaticPodManifestTest, ErrorsNameTheFileAndTheField) {
  struct Case {
    std::string text, want;
  };
  std::vector<Case> cases = {
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: main\n",
       "/m/f.yaml: spec.containers[0].image: Required value"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n", "/m/f.yaml: spec.containers: Required value"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: a, image: b}]}\n",
       "/m/f.yaml: metadata.name: Required value"},
      {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "/m/f.yaml: kind: Unsupported value: \"Deployment\""},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: b}, {name: a, image: c}]}\n",
       "/m/f.yaml: spec.containers[1].name: Duplicate value: \"a\""},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: [{name: a, image: b}]}\n",
       "/m/f.yaml: metadata.name: Invalid value: \"Bad_Name-node-a\""},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: b, command: sleep}]}\n",
       "/m/f.yaml: spec.containers[0].command: Invalid value"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec: [\n", "/m/f.yaml"},
      {"- just\n- a list\n", "/m/f.yaml: <root>: Invalid value: a manifest must be a Pod object"},
  };
  for (const auto& c : cases) {
    auto pod = staticPodFromManifest("/m/f.yaml", c.text, "node-a");
    ASSERT_FALSE(pod.ok()) << c.text;
    EXPECT_EQ(std::string(pod.status().message()).rfind(c.want, 0), 0u) << pod.status().message();
  }
}

TEST(MirrorPodTest, CarriesTheHashAndTheNodeAsOwner) {
  auto pod = staticPodFromManifest("/m/web.yaml", kManifest, "node-a");
  ASSERT_TRUE(pod.ok());
  json mirror = mirrorPodFor(*pod, "node-a", "node-uid-1");
  EXPECT_FALSE(mirror["metadata"].contains("uid")) << "the apiserver gives the mirror its own UID";
  EXPECT_FALSE(mirror.contains("status"));
  EXPECT_EQ(mirror["metadata"]["annotations"][kConfigMirrorAnnotation], (*pod)["metadata"]["uid"]);
  EXPECT_EQ(mirror["metadata"]["ownerReferences"],
            json::parse(R"([{"apiVersion":"v1","kind":"Node","name":"node-a","uid":"node-uid-1","controller":true}])"));
  EXPECT_TRUE(isMirrorPod(mirror));
  EXPECT_TRUE(isMirrorOf(mirror, *pod));
  EXPECT_EQ(podFullName(mirror), "default/web-node-a");
  mirror["metadata"]["annotations"][kConfigMirrorAnnotation] = "other";
  EXPECT_FALSE(isMirrorOf(mirror, *pod));
}

class StaticPodDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("static-pods-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    // As editors and `kubectl` users do: write elsewhere, then rename into place.
    auto tmp = dir_ / ("." + name + ".tmp");
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, dir_ / name);
  }
  static std::string manifest(const std::string& name, const std::string& command = "3600") {
    return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
           "}\nspec: {containers: [{name: main, image: busybox, command: [sleep, \"" + command + "\"]}]}\n";
  }
  std::filesystem::path dir_;
};

TEST_F(StaticPodDirTest, ReadsValidManifestsAndSkipsBrokenAndHiddenFiles) {
  write("a.yaml", manifest("a"));
  write("b.json", R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"},"spec":{"containers":[{"name":"c","image":"i"}]}})");
  write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: broken}\nspec: {containers: [{name: c}]}\n");
  write(".hidden.yaml", manifest("hidden"));
  std::filesystem::create_directories(dir_ / "subdir");
  StaticPodSource source(dir_.string(), "n");
  auto pods = source.read();
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(pods[0]["metadata"]["name"], "a-n");
  EXPECT_EQ(pods[1]["metadata"]["name"], "b-n");
  const std::string seen = pods[0]["metadata"]["annotations"][kConfigSeenAnnotation];
  EXPECT_FALSE(seen.empty());
  EXPECT_EQ(source.read()[0]["metadata"]["annotations"][kConfigSeenAnnotation], seen) << "first seen stays";
}

TEST_F(StaticPodDirTest, TwoManifestsForOnePodKeepTheFirst) {
  write("1.yaml", manifest("same"));
  write("2.yaml", manifest("same", "10"));
  StaticPodSource source(dir_.string(), "n");
  auto pods = source.read();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0]["spec"]["containers"][0]["command"][1], "3600");
}

TEST_F(StaticPodDirTest, MissingDirectoryIsEmptyNotAnError) {
  StaticPodSource source((dir_ / "nope").string(), "n");
  EXPECT_TRUE(source.read().empty());
}

TEST_F(StaticPodDirTest, WatchDeliversCreateEditAndRemove) {
  StaticPodSource source(dir_.string(), "n");
  ASSERT_TRUE(source.read().empty());
  std::mutex mu;
  std::vector<std::vector<json>> sets;
  // A resync far in the future: only inotify can make these deliveries.
  std::jthread t([&](std::stop_token st) {
    source.run(st, std::chrono::hours(1), [&](const std::vector<json>& pods) {
      std::lock_guard<std::mutex> l(mu);
      sets.push_back(pods);
    });
  });
  auto waitFor = [&](size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (sets.size() >= n) return sets[n - 1];
      }
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "no delivery " << n;
    return std::vector<json>{};
  };
  std::this_thread::sleep_for(100ms);  // the watch is in place
  write("web.yaml", manifest("web"));
  auto first = waitFor(1);
  ASSERT_EQ(first.size(), 1u);
  write("web.yaml", manifest("web", "10"));
  auto second = waitFor(2);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0]["metadata"]["uid"], first[0]["metadata"]["uid"]) << "an edit is a new pod";
  // A broken edit of another file changes nothing for this one.
  write("other.yaml", "kind: Pod\n");
  std::this_thread::sleep_for(400ms);
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(sets.size(), 2u);
  }
  std::filesystem::remove(dir_ / "web.yaml");
  EXPECT_TRUE(waitFor(3).empty());
}

json apiPod(const std::string& name, const std::string& uid) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"uid", uid}}}};
}

TEST(PodManagerSourcesTest, StaticAndApiserverPodsAreReplacedSeparately) {
  PodManager m;
  auto s = staticPodFromManifest("/m/web.yaml", kManifest, "n");
  ASSERT_TRUE(s.ok());
  const std::string suid = (*s)["metadata"]["uid"];
  EXPECT_TRUE(m.replaceStatic({sharePod(*s)}).empty());
  m.replace({sharePod(apiPod("a", "a1"))});
  EXPECT_TRUE(m.get(suid)) << "an apiserver relist keeps the static pods";
  EXPECT_EQ(m.all().size(), 2u);
  auto gone = m.replaceStatic({});
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ((*gone[0])["metadata"]["uid"], suid) << "the removed pod comes back whole, for its kill";
  EXPECT_TRUE(m.get("a1")) << "and a static change keeps the apiserver pods";
}

TEST(PodManagerSourcesTest, MirrorsAreFoundByFullNameAndRemovedOnlyByUid) {
  PodManager m;
  auto s = staticPodFromManifest("/m/web.yaml", kManifest, "n");
  ASSERT_TRUE(s.ok());
  m.replaceStatic({sharePod(*s)});
  json mirror = mirrorPodFor(*s, "n", "node-uid");
  mirror["metadata"]["uid"] = "m1";
  m.setMirror(mirror);
  ASSERT_TRUE(m.mirror("default/web-n"));
  ASSERT_TRUE(m.staticPod(podFullName(mirror)));
  EXPECT_EQ((*m.staticPod(podFullName(mirror)))["metadata"]["uid"], (*s)["metadata"]["uid"]);
  json older = mirror;
  older["metadata"]["uid"] = "m0";
  m.removeMirror(older);
  EXPECT_TRUE(m.mirror("default/web-n")) << "a late DELETED of an older mirror leaves the new one";
  m.removeMirror(mirror);
  EXPECT_FALSE(m.mirror("default/web-n"));
}

// Records what the dispatcher asks of the workers.
class RecordingSyncer : public PodSyncer {
 public:
  SyncResult syncPod(const json& pod) override {
    std::lock_guard<std::mutex> l(mu);
    synced.push_back(objects::str(pod, {"metadata", "name"}));
    seen.push_back(&pod);
    return {absl::OkStatus(), std::nullopt};
  }
  absl::Status killPod(const json& pod, std::optional<int64_t> grace) override {
    std::lock_guard<std::mutex> l(mu);
    killed.push_back(objects::str(pod, {"metadata", "name"}) + "/" + std::to_string(grace.value_or(-1)));
    return absl::OkStatus();
  }
  std::mutex mu;
  std::vector<std::string> synced, killed;
  std::vector<const json*> seen;  // the object each sync got
};

TEST(PodDispatcherStaticTest, MirrorPodsAreNeverRunAndRemovedStaticPodsAreKilledWithGrace) {
  RecordingSyncer syncer;
  PodWorkers workers(syncer, 2, std::chrono::hours(1));
  workers.start();
  PodManager m;
  PodDispatcher d(m, workers);
  auto s = staticPodFromManifest("/m/web.yaml", kManifest, "n");
  ASSERT_TRUE(s.ok());
  d.onStatic({*s});
  json mirror = mirrorPodFor(*s, "n", "node-uid");
  mirror["metadata"]["uid"] = "m1";
  d.onReplace({apiPod("a", "a1"), mirror});
  EXPECT_FALSE(m.get("m1")) << "a mirror pod is not a pod to run";
  EXPECT_TRUE(m.mirror("default/web-n"));
  d.onEvent({"DELETED", mirror});
  EXPECT_FALSE(m.mirror("default/web-n"));
  d.onStatic({});
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard<std::mutex> l(syncer.mu);
      if (!syncer.killed.empty()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  workers.stop();
  std::lock_guard<std::mutex> l(syncer.mu);
  ASSERT_EQ(syncer.killed.size(), 1u);
  EXPECT_EQ(syncer.killed[0], "web-n/30");
  for (const auto& name : syncer.synced) EXPECT_NE(name, "") << "only named pods are synced";
}

TEST(PodDispatcherSharingTest, TheManagerAndTheWorkersHoldOneCopyOfAPod) {
  RecordingSyncer syncer;
  PodWorkers workers(syncer, 2, std::chrono::hours(1));
  workers.start();
  PodManager m;
  PodDispatcher d(m, workers);
  d.onEvent({"ADDED", apiPod("a", "a1")});
  d.onRuntimeChange("a1");  // a resync from the runtime side uses the same object
  for (int i = 0; i < 300 && !workers.isIdle(); ++i) std::this_thread::sleep_for(10ms);
  workers.stop();
  PodPtr held = m.get("a1");
  ASSERT_TRUE(held);
  std::lock_guard<std::mutex> l(syncer.mu);
  ASSERT_FALSE(syncer.seen.empty());
  for (const json* p : syncer.seen) EXPECT_EQ(p, held.get()) << "each sync got the pod manager's own object";
}

}  // namespace
}  // namespace cubelet::pod
