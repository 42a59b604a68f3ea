// VolumeManager: every volume type set up from a pod spec on a temp pods dir (tmpfs mounts
// included), container mounts with subPath, teardown and orphan cleanup. The whole binary
// runs in its own private mount namespace (made before main), so nothing it mounts can leak
// to the host even when a test fails half way.
#include "kubelet/volume/volume_manager.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kubelet/volume/host_path.h"
#include "kubelet/volume/mount.h"
#include "kubelet/volume/ownership.h"
#include "tests/fakes/recording_events.h"

namespace cubelet::volume {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Before main (still single-threaded): a private mount namespace for the whole process.
const bool kPrivateMountNs = [] {
  if (::geteuid() != 0) return false;
  if (::unshare(CLONE_NEWNS) != 0) return false;
  return ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}();

class FakeObjects : public ObjectSource {
 public:
  explicit FakeObjects(std::string singular) : singular_(std::move(singular)) {}
  void registerPod(const std::string& uid, const std::string& ns, const std::set<std::string>& names) override {
    registered[uid] = {ns, names};
  }
  void unregisterPod(const std::string& uid) override { registered.erase(uid); }
  absl::StatusOr<json> get(const std::string& ns, const std::string& name) override {
    auto it = objects.find(ns + "/" + name);
    if (it == objects.end()) return absl::NotFoundError(singular_ + " \"" + name + "\" not found");
    return it->second;
  }
  std::map<std::string, json> objects;  // "ns/name"
  std::map<std::string, std::pair<std::string, std::set<std::string>>> registered;

 private:
  std::string singular_;
};

std::string readFile(const std::string& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

mode_t modeOf(const std::string& p, bool follow = true) {
  struct stat st {};
  if ((follow ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0) return 07777 + 1;
  return st.st_mode & 07777;
}

std::string mountOptions(const std::string& p) {
  auto mi = readMountInfo();
  if (!mi.ok()) return "";
  std::string out;
  for (const auto& m : *mi)
    if (m.mountPoint == p) out = m.fsType + " " + m.superOptions;
  return out;
}

class VolumeManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "volume_manager_test needs root (it mounts tmpfs and binds)";
    ASSERT_TRUE(kPrivateMountNs) << "could not make a private mount namespace";
    std::string tmpl = (fs::temp_directory_path() / "volume_manager_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = fs::canonical(tmpl).string();
    fs::create_directories(root_ + "/pods");
    VolumeManagerOptions o;
    o.podsDir = root_ + "/pods";
    o.configMaps = &configMaps_;
    o.secrets = &secrets_;
    o.token = [this](const TokenRequestSpec& spec) -> absl::StatusOr<Token> {
      tokenRequests_.push_back(spec);
      if (!tokenError_.ok()) return tokenError_;
      Token t;
      t.token = "header.payload-" + std::to_string(tokenRequests_.size()) + ".sig";
      return t;
    };
    o.forgetTokens = [this](const std::string& uid) { forgotten_.push_back(uid); };
    o.nodeAllocatable = [] {
      return std::optional<runtime::ResourceList>(runtime::ResourceList{
          {"memory", *objects::Quantity::parse("1Gi")}, {"cpu", *objects::Quantity::parse("2")}});
    };
    o.tmpfsNoswap = kernelSupportsTmpfsNoswap();
    manager_ = std::make_unique<VolumeManager>(events_.recorder(), std::move(o));
  }
  void TearDown() override {
    if (root_.empty()) return;
    if (auto mounts = mountsUnder(root_); mounts.ok()) {
      for (const auto& m : *mounts) (void)unmount(m);
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static json pod(json volumes, json mounts = json::array(), json extraSpec = json::object()) {
    json p = {{"metadata", {{"name", "web"}, {"namespace", "ns"}, {"uid", "uid-1"},
                            {"labels", {{"b", "two"}, {"a", "one"}}}, {"annotations", {{"note", "x\"y"}}}}},
              {"spec",
               {{"serviceAccountName", "sa"},
                {"containers", json::array({{{"name", "c"}, {"image", "busybox"}, {"volumeMounts", mounts},
                                             {"resources", {{"limits", {{"memory", "64Mi"}, {"cpu", "500m"}}}}}}})},
                {"volumes", volumes}}}};
    for (auto& [k, v] : extraSpec.items()) p["spec"][k] = v;
    return p;
  }
  std::string volDir(const std::string& plugin, const std::string& name) const {
    return root_ + "/pods/uid-1/volumes/kubernetes.io~" + plugin + "/" + name;
  }
  std::vector<testing::RecordedEvent> eventsWithReason(const std::string& reason, size_t atLeast) {
    std::vector<testing::RecordedEvent> out;
    for (int i = 0; i < 100; ++i) {
      out.clear();
      for (const auto& e : events_.apiserver().events())
        if (e.reason == reason) out.push_back(e);
      if (out.size() >= atLeast) break;
      std::this_thread::sleep_for(50ms);
    }
    return out;
  }

  std::string root_;
  testing::RecordingEvents events_;
  FakeObjects configMaps_{"configmap"}, secrets_{"secret"};
  std::vector<TokenRequestSpec> tokenRequests_;
  absl::Status tokenError_;
  std::vector<std::string> forgotten_;
  std::unique_ptr<VolumeManager> manager_;
};

TEST_F(VolumeManagerTest, EmptyDirOnDiskIsWorldWritableAndNotMounted) {
  auto r = manager_->setUp(pod({{{"name", "scratch"}, {"emptyDir", json::object()}}}));
  ASSERT_TRUE(r.error.ok()) << r.error;
  const std::string dir = volDir("empty-dir", "scratch");
  ASSERT_EQ(r.volumes.at("scratch").hostPath, dir);
  EXPECT_FALSE(r.volumes.at("scratch").readOnly);
  EXPECT_EQ(modeOf(dir), 0777u);
  EXPECT_EQ(modeOf(root_ + "/pods/uid-1"), 0750u);
  EXPECT_EQ(modeOf(root_ + "/pods/uid-1/volumes"), 0750u);
  EXPECT_FALSE(isMountPoint(dir));
  // Idempotent: the second setUp keeps what is there.
  std::ofstream(dir + "/f") << "data";
  ASSERT_TRUE(manager_->setUp(pod({{{"name", "scratch"}, {"emptyDir", json::object()}}})).error.ok());
  EXPECT_EQ(readFile(dir + "/f"), "data");
}

TEST_F(VolumeManagerTest, EmptyDirMemoryIsTmpfsSizedBySizeLimitThenPodLimit) {
  auto r = manager_->setUp(pod({{{"name", "small"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "8Mi"}}}},
                                {{"name", "big"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "10Gi"}}}}}));
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_NE(mountOptions(volDir("empty-dir", "small")).find("tmpfs rw,size=8192k"), std::string::npos)
      << mountOptions(volDir("empty-dir", "small"));
  // 10Gi is more than the pod's 64Mi limit: the limit wins.
  EXPECT_NE(mountOptions(volDir("empty-dir", "big")).find("size=65536k"), std::string::npos)
      << mountOptions(volDir("empty-dir", "big"));
  // A second setUp finds the tmpfs and mounts nothing more.
  ASSERT_TRUE(manager_->setUp(pod({{{"name", "small"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "8Mi"}}}},
                                   {{"name", "big"}, {"emptyDir", {{"medium", "Memory"}}}}}))
                  .error.ok());
  auto mounts = mountsUnder(root_);
  ASSERT_TRUE(mounts.ok());
  EXPECT_EQ(mounts->size(), 2u);
}

TEST_F(VolumeManagerTest, ConfigMapItemsModesAndUpdates) {
  configMaps_.objects["ns/cfg"] = {{"data", {{"a", "alpha"}, {"b", "beta"}}}, {"binaryData", {{"bin", "AAEC"}}}};
  json vol = {{"name", "cfg"},
              {"configMap",
               {{"name", "cfg"}, {"defaultMode", 0640}, {"items", {{{"key", "a"}, {"path", "dir/a.txt"}, {"mode", 0400}},
                                                                  {{"key", "bin"}, {"path", "bin"}}}}}}};
  auto r = manager_->setUp(pod({vol}));
  ASSERT_TRUE(r.error.ok()) << r.error;
  const std::string dir = volDir("configmap", "cfg");
  EXPECT_TRUE(r.volumes.at("cfg").readOnly);
  EXPECT_FALSE(isMountPoint(dir)) << "configMap volumes are on disk";
  EXPECT_EQ(readFile(dir + "/dir/a.txt"), "alpha");
  EXPECT_EQ(modeOf(dir + "/dir/a.txt"), 0400u);
  EXPECT_EQ(readFile(dir + "/bin"), std::string("\0\1\2", 3));
  EXPECT_EQ(modeOf(dir + "/bin"), 0640u);
  EXPECT_FALSE(fs::exists(dir + "/b"));
  EXPECT_TRUE(fs::is_symlink(dir + "/..data"));
  EXPECT_EQ(configMaps_.registered.at("uid-1").second, std::set<std::string>{"cfg"});

  configMaps_.objects["ns/cfg"]["data"]["a"] = "changed";
  ASSERT_TRUE(manager_->setUp(pod({vol})).error.ok());
  EXPECT_EQ(readFile(dir + "/dir/a.txt"), "changed");
}

TEST_F(VolumeManagerTest, MissingConfigMapFailsTheVolumeWithBackoffAndOptionalIsEmpty) {
  json vol = {{"name", "cfg"}, {"configMap", {{"name", "missing"}}}};
  auto r = manager_->setUp(pod({vol}));
  EXPECT_EQ(r.error.message(), "MountVolume.SetUp failed for volume \"cfg\" : configmap \"missing\" not found");
  ASSERT_TRUE(r.retryAfter.has_value());
  EXPECT_EQ(*r.retryAfter, 500ms);
  auto events = eventsWithReason("FailedMount", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "Warning");
  EXPECT_EQ(events[0].message, r.error.message());
  EXPECT_FALSE(fs::exists(volDir("configmap", "cfg"))) << "nothing is made for a volume without data";
  // Within the back-off it is not tried again.
  auto again = manager_->setUp(pod({vol}));
  EXPECT_FALSE(again.error.ok());
  EXPECT_LE(*again.retryAfter, 500ms);
  // Once it exists (and the back-off is over) it is set up.
  configMaps_.objects["ns/missing"] = {{"data", {{"k", "v"}}}};
  std::this_thread::sleep_for(600ms);
  auto ok = manager_->setUp(pod({vol}));
  ASSERT_TRUE(ok.error.ok()) << ok.error;
  EXPECT_EQ(readFile(volDir("configmap", "cfg") + "/k"), "v");

  json optional = {{"name", "opt"}, {"configMap", {{"name", "nope"}, {"optional", true}, {"items", {{{"key", "x"}, {"path", "x"}}}}}}};
  auto o = manager_->setUp(pod({optional}));
  ASSERT_TRUE(o.error.ok()) << o.error;
  EXPECT_TRUE(fs::is_empty(volDir("configmap", "opt") + "/..data"));

  configMaps_.objects["ns/partial"] = {{"data", {{"k", "v"}}}};
  json missingKey = {{"name", "mk"}, {"configMap", {{"name", "partial"}, {"items", {{{"key", "x"}, {"path", "x"}}}}}}};
  EXPECT_EQ(manager_->setUp(pod({missingKey})).error.message(),
            "MountVolume.SetUp failed for volume \"mk\" : configmap references non-existent config key: x");
}

TEST_F(VolumeManagerTest, SecretIsOnTmpfsAndDecoded) {
  secrets_.objects["ns/creds"] = {{"data", {{"user", "YWRtaW4="}, {"pass", "czNjcjN0"}}}};
  auto r = manager_->setUp(pod({{{"name", "creds"}, {"secret", {{"secretName", "creds"}}}}}));
  ASSERT_TRUE(r.error.ok()) << r.error;
  const std::string dir = volDir("secret", "creds");
  EXPECT_EQ(mountOptions(dir).substr(0, 5), "tmpfs");
  EXPECT_EQ(readFile(dir + "/user"), "admin");
  EXPECT_EQ(readFile(dir + "/pass"), "s3cr3t");
  EXPECT_EQ(modeOf(dir + "/user"), 0644u);
  EXPECT_EQ(secrets_.registered.at("uid-1").second, std::set<std::string>{"creds"});

  json badKey = {{"name", "k"}, {"secret", {{"secretName", "creds"}, {"items", {{{"key", "nope"}, {"path", "p"}}}}}}};
  EXPECT_EQ(manager_->setUp(pod({badKey})).error.message(),
            "MountVolume.SetUp failed for volume \"k\" : references non-existent secret key: nope");
}

TEST_F(VolumeManagerTest, DownwardApiFilesAndLabelUpdates) {
  json vol = {{"name", "info"},
              {"downwardAPI",
               {{"items",
                 {{{"path", "name"}, {"fieldRef", {{"fieldPath", "metadata.name"}}}},
                  {{"path", "labels"}, {"fieldRef", {{"fieldPath", "metadata.labels"}}}},
                  {{"path", "annotations"}, {"fieldRef", {{"fieldPath", "metadata.annotations"}}}},
                  {{"path", "uid"}, {"fieldRef", {{"fieldPath", "metadata.uid"}}}, {"mode", 0600}},
                  {{"path", "mem"}, {"resourceFieldRef", {{"containerName", "c"}, {"resource", "limits.memory"}, {"divisor", "1Mi"}}}},
                  {{"path", "cpu"}, {"resourceFieldRef", {{"containerName", "c"}, {"resource", "limits.cpu"}, {"divisor", "1m"}}}}}}}}};
  json p = pod({vol});
  auto r = manager_->setUp(p);
  ASSERT_TRUE(r.error.ok()) << r.error;
  const std::string dir = volDir("downward-api", "info");
  EXPECT_EQ(mountOptions(dir).substr(0, 5), "tmpfs");
  EXPECT_EQ(readFile(dir + "/name"), "web");
  EXPECT_EQ(readFile(dir + "/labels"), "a=\"one\"\nb=\"two\"");
  EXPECT_EQ(readFile(dir + "/annotations"), "note=\"x\\\"y\"");
  EXPECT_EQ(readFile(dir + "/uid"), "uid-1");
  EXPECT_EQ(modeOf(dir + "/uid"), 0600u);
  EXPECT_EQ(readFile(dir + "/mem"), "64");
  EXPECT_EQ(readFile(dir + "/cpu"), "500");
  p["metadata"]["labels"]["c"] = "three";
  ASSERT_TRUE(manager_->setUp(p).error.ok());
  EXPECT_EQ(readFile(dir + "/labels"), "a=\"one\"\nb=\"two\"\nc=\"three\"");
}

TEST_F(VolumeManagerTest, ProjectedKubeApiAccessVolume) {
  configMaps_.objects["ns/kube-root-ca.crt"] = {{"data", {{"ca.crt", "PEM"}}}};
  json vol = {{"name", "kube-api-access-abcde"},
              {"projected",
               {{"defaultMode", 420},
                {"sources",
                 {{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
                  {{"configMap", {{"name", "kube-root-ca.crt"}, {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
                  {{"downwardAPI",
                    {{"items", {{{"path", "namespace"}, {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}}}}}}}}}}}}};
  auto r = manager_->setUp(pod({vol}));
  ASSERT_TRUE(r.error.ok()) << r.error;
  const std::string dir = volDir("projected", "kube-api-access-abcde");
  EXPECT_EQ(mountOptions(dir).substr(0, 5), "tmpfs");
  EXPECT_EQ(readFile(dir + "/token"), "header.payload-1.sig");
  EXPECT_EQ(modeOf(dir + "/token"), 0644u);
  EXPECT_EQ(readFile(dir + "/ca.crt"), "PEM");
  EXPECT_EQ(readFile(dir + "/namespace"), "ns");
  ASSERT_EQ(tokenRequests_.size(), 1u);
  EXPECT_EQ(tokenRequests_[0].ns, "ns");
  EXPECT_EQ(tokenRequests_[0].serviceAccount, "sa");
  EXPECT_EQ(tokenRequests_[0].podName, "web");
  EXPECT_EQ(tokenRequests_[0].podUid, "uid-1");
  EXPECT_EQ(tokenRequests_[0].audience, "");
  EXPECT_EQ(tokenRequests_[0].expirationSeconds, 3607);
  // A new token (the manager refreshed it) reaches the file at the next setUp.
  ASSERT_TRUE(manager_->setUp(pod({vol})).error.ok());
  EXPECT_EQ(readFile(dir + "/token"), "header.payload-2.sig");
  // Errors of several sources are reported together.
  tokenError_ = absl::PermissionDeniedError("forbidden");
  configMaps_.objects.erase("ns/kube-root-ca.crt");
  json other = vol;
  other["name"] = "other";
  EXPECT_EQ(manager_->setUp(pod({other})).error.message(),
            "MountVolume.SetUp failed for volume \"other\" : [forbidden, configmap \"kube-root-ca.crt\" not found]");
}

TEST_F(VolumeManagerTest, FsGroupOwnershipAndTokenMode) {
  json vols = {{{"name", "scratch"}, {"emptyDir", json::object()}},
               {{"name", "tok"},
                {"projected", {{"sources", {{{"serviceAccountToken", {{"path", "token"}, {"audience", "vault"}}}}}}}}}};
  json p = pod(vols, json::array(), {{"securityContext", {{"fsGroup", 1234}, {"runAsUser", 1000}}}});
  auto r = manager_->setUp(p);
  ASSERT_TRUE(r.error.ok()) << r.error;
  struct stat st {};
  ASSERT_EQ(::stat(volDir("empty-dir", "scratch").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 1234u);
  EXPECT_EQ(st.st_mode & 07777, 02777u);
  const std::string token = volDir("projected", "tok") + "/token";
  ASSERT_EQ(::stat(token.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u) << "the token belongs to the pod's one runAsUser";
  EXPECT_EQ(st.st_gid, 1234u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(tokenRequests_.at(0).audience, "vault");
  EXPECT_EQ(tokenRequests_.at(0).expirationSeconds, 3600);
}

TEST_F(VolumeManagerTest, HostPathChecksAndUnsupportedTypes) {
  const std::string base = root_ + "/host";
  fs::create_directories(base);
  std::ofstream(base + "/file") << "x";
  auto r = manager_->setUp(pod({{{"name", "made"}, {"hostPath", {{"path", base + "/new/dir"}, {"type", "DirectoryOrCreate"}}}},
                                {{"name", "file"}, {"hostPath", {{"path", base + "/file"}, {"type", "File"}}}}}));
  ASSERT_TRUE(r.error.ok()) << r.error;
  EXPECT_TRUE(fs::is_directory(base + "/new/dir"));
  EXPECT_EQ(r.volumes.at("file").hostPath, base + "/file");
  EXPECT_FALSE(r.volumes.at("file").readOnly);
  EXPECT_EQ(manager_->setUp(pod({{{"name", "d"}, {"hostPath", {{"path", base + "/file"}, {"type", "Directory"}}}}}))
                .error.message(),
            "MountVolume.SetUp failed for volume \"d\" : hostPath type check failed: " + base +
                "/file is not a directory, it's a File");
  EXPECT_EQ(manager_->setUp(pod({{{"name", "pvc"}, {"persistentVolumeClaim", {{"claimName", "c"}}}}})).error.message(),
            "MountVolume.SetUp failed for volume \"pvc\" : volume type persistentVolumeClaim is not supported by this "
            "node agent");
}

TEST_F(VolumeManagerTest, ContainerMountsWithSubPathsPropagationAndErrors) {
  json vols = {{{"name", "data"}, {"emptyDir", json::object()}}};
  json mounts = {{{"name", "data"}, {"mountPath", "/data"}},
                 {{"name", "data"}, {"mountPath", "/sub"}, {"subPath", "a/b"}, {"readOnly", true}},
                 {{"name", "data"}, {"mountPath", "/expr"}, {"subPathExpr", "$(POD)/x"}, {"mountPropagation", "HostToContainer"}}};
  json p = pod(vols, mounts);
  auto r = manager_->setUp(p);
  ASSERT_TRUE(r.error.ok()) << r.error;
  const json& c = p["spec"]["containers"][0];
  auto m = manager_->containerMounts(p, c, r.volumes, {{"POD", "web"}});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  const std::string dir = volDir("empty-dir", "data");
  EXPECT_EQ((*m)[0].containerPath, "/data");
  EXPECT_EQ((*m)[0].hostPath, dir);
  EXPECT_FALSE((*m)[0].readOnly);
  EXPECT_EQ((*m)[1].hostPath, root_ + "/pods/uid-1/volume-subpaths/data/c/1");
  EXPECT_TRUE((*m)[1].readOnly);
  EXPECT_TRUE(fs::is_directory(dir + "/a/b")) << "a missing subPath is made in the volume";
  EXPECT_TRUE(isMountPoint((*m)[1].hostPath));
  EXPECT_EQ((*m)[2].hostPath, root_ + "/pods/uid-1/volume-subpaths/data/c/2");
  EXPECT_TRUE(fs::is_directory(dir + "/web/x"));
  EXPECT_EQ((*m)[2].propagation, ::runtime::v1::PROPAGATION_HOST_TO_CONTAINER);

  auto missing = manager_->containerMounts(p, c, r.volumes, {});
  EXPECT_EQ(missing.status().message(), "missing value for POD");
  EXPECT_EQ(manager_->containerMounts(p, c, {}, {}).status().message(),
            "cannot find volume \"data\" to mount into container \"c\"");

  json bidi = pod(vols, {{{"name", "data"}, {"mountPath", "/d"}, {"mountPropagation", "Bidirectional"}}});
  EXPECT_EQ(manager_->containerMounts(bidi, bidi["spec"]["containers"][0], r.volumes, {}).status().message(),
            "Bidirectional mount propagation is available only to privileged containers");
  bidi["spec"]["containers"][0]["securityContext"] = {{"privileged", true}};
  auto ok = manager_->containerMounts(bidi, bidi["spec"]["containers"][0], r.volumes, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at(0).propagation, ::runtime::v1::PROPAGATION_BIDIRECTIONAL);
}

TEST_F(VolumeManagerTest, SubPathThroughAPlantedSymlinkNeverReachesTheHost) {
  json vols = {{{"name", "data"}, {"emptyDir", json::object()}}};
  const std::string dir = volDir("empty-dir", "data");
  json p = pod(vols, {{{"name", "data"}, {"mountPath", "/x"}, {"subPath", "escape"}}});
  auto r = manager_->setUp(p);
  ASSERT_TRUE(r.error.ok()) << r.error;
  for (const char* target : {"/", "/etc", "../../../../../../../../etc"}) {
    fs::remove(dir + "/escape");
    fs::create_symlink(target, dir + "/escape");
    auto m = manager_->containerMounts(p, p["spec"]["containers"][0], r.volumes, {});
    EXPECT_EQ(m.status().message(), "failed to prepare subPath for volumeMount \"data\" of container \"c\"") << target;
    auto under = mountsUnder(root_ + "/pods/uid-1/volume-subpaths");
    ASSERT_TRUE(under.ok());
    EXPECT_TRUE(under->empty()) << target;
  }
}

TEST_F(VolumeManagerTest, TearDownUnmountsAndRemovesEverything) {
  secrets_.objects["ns/s"] = {{"data", {{"k", "dg=="}}}};
  json vols = {{{"name", "mem"}, {"emptyDir", {{"medium", "Memory"}}}},
               {{"name", "disk"}, {"emptyDir", json::object()}},
               {{"name", "s"}, {"secret", {{"secretName", "s"}}}}};
  json p = pod(vols, {{{"name", "disk"}, {"mountPath", "/sub"}, {"subPath", "x"}}});
  auto r = manager_->setUp(p);
  ASSERT_TRUE(r.error.ok()) << r.error;
  ASSERT_TRUE(manager_->containerMounts(p, p["spec"]["containers"][0], r.volumes, {}).ok());
  ASSERT_EQ(mountsUnder(root_)->size(), 3u);
  ASSERT_TRUE(manager_->tearDown("uid-1").ok());
  EXPECT_TRUE(mountsUnder(root_)->empty());
  EXPECT_FALSE(fs::exists(root_ + "/pods/uid-1/volumes"));
  EXPECT_FALSE(fs::exists(root_ + "/pods/uid-1/volume-subpaths"));
  EXPECT_EQ(secrets_.registered.count("uid-1"), 0u);
  EXPECT_EQ(forgotten_, std::vector<std::string>{"uid-1"});
  // Nothing there: still OK.
  EXPECT_TRUE(manager_->tearDown("uid-1").ok());
  EXPECT_FALSE(manager_->tearDown("../x").ok());
}

TEST_F(VolumeManagerTest, OrphanCleanupLeavesLivePodsAlone) {
  json live = pod({{{"name", "mem"}, {"emptyDir", {{"medium", "Memory"}}}}});
  json orphan = live;
  orphan["metadata"]["uid"] = "uid-2";
  ASSERT_TRUE(manager_->setUp(live).error.ok());
  ASSERT_TRUE(manager_->setUp(orphan).error.ok());
  std::ofstream(root_ + "/pods/uid-2/etc-hosts") << "hosts";
  EXPECT_EQ(manager_->cleanupOrphans([] { return std::set<std::string>{"uid-1"}; }), 1);
  EXPECT_FALSE(fs::exists(root_ + "/pods/uid-2"));
  EXPECT_TRUE(isMountPoint(volDir("empty-dir", "mem")));
  EXPECT_EQ(mountsUnder(root_)->size(), 1u);
}

// ---- ownership and hostPath on their own ----

TEST_F(VolumeManagerTest, OwnershipReadOnlyMaskAndSymlinksNotFollowed) {
  const std::string vol = root_ + "/vol";
  fs::create_directories(vol + "/d");
  std::ofstream(vol + "/d/f") << "x";
  ::chmod((vol + "/d/f").c_str(), 0600);
  std::ofstream(root_ + "/outside") << "x";
  ::chmod((root_ + "/outside").c_str(), 0600);
  fs::create_symlink(root_ + "/outside", vol + "/link");
  EXPECT_TRUE(rootNeedsChange(vol, 4321, true));
  ASSERT_TRUE(setVolumeOwnership(vol, 4321, true).ok());
  struct stat st {};
  ASSERT_EQ(::stat((vol + "/d/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::stat((vol + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02755u);
  ASSERT_EQ(::stat((root_ + "/outside").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "a symlink's target is never changed";
  EXPECT_NE(st.st_gid, 4321u);
  EXPECT_FALSE(rootNeedsChange(vol, 4321, true));
  EXPECT_TRUE(rootNeedsChange(vol, 4321, false)) << "0660 is not covered by 0755|0440";
}

TEST_F(VolumeManagerTest, HostPathTypeMessages) {
  const std::string base = root_ + "/hp";
  fs::create_directories(base);
  std::ofstream(base + "/f") << "x";
  EXPECT_EQ(checkHostPath(base + "/../x", "").message(), "invalid HostPath `" + base + "/../x`: must not contain '..'");
  EXPECT_TRUE(checkHostPath(base + "/missing", "").ok());
  EXPECT_EQ(checkHostPath(base + "/missing", "Directory").message(),
            "hostPath type check failed, " + base + "/missing is not a directory, unable to determine its type: path \"" +
                base + "/missing\" does not exist");
  EXPECT_EQ(checkHostPath(base, "File").message(),
            "hostPath type check failed: " + base + " is not a file, it's a Directory");
  EXPECT_EQ(checkHostPath("/dev/null", "BlockDevice").message(),
            "hostPath type check failed: /dev/null is not a block device, it's a CharDevice");
  EXPECT_TRUE(checkHostPath("/dev/null", "CharDevice").ok());
  EXPECT_EQ(checkHostPath(base + "/f", "Socket").message(),
            "hostPath type check failed: " + base + "/f is not a socket file, it's a File");
  EXPECT_TRUE(checkHostPath(base + "/new", "FileOrCreate").ok());
  EXPECT_EQ(modeOf(base + "/new"), 0644u);
  EXPECT_FALSE(checkHostPath(base + "/nodir/new", "FileOrCreate").ok());
  EXPECT_EQ(checkHostPath(base, "Weird").message(), "Weird is an invalid volume type");
}

}  // namespace
}  // namespace cubelet::volume
