#include "kubelet/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace cubelet::config {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& suffix = ".yaml") {
    path_ = std::filesystem::temp_directory_path() /
            ("cubelet-config-test-" + std::to_string(getpid()) + "-" + std::to_string(counter_++) + suffix);
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

bool hasWarning(const Config& c, const std::string& needle) {
  for (const auto& w : c.warnings)
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

TEST(ConfigTest, DefaultsWithoutAFile) {
  auto c = loadConfig({"--kubeconfig=/k"});
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& k = c->kubelet;
  EXPECT_EQ(c->flags.kubeconfig, "/k");
  EXPECT_EQ(c->flags.rootDir, "/var/lib/kubelet");
  EXPECT_EQ(c->flags.certDir, "/var/lib/kubelet/pki");
  EXPECT_EQ(k.healthzPort, 10248);
  EXPECT_EQ(k.healthzBindAddress, "127.0.0.1");
  EXPECT_EQ(k.port, 10250);
  EXPECT_EQ(k.nodeStatusUpdateFrequency, seconds(10));
  EXPECT_EQ(k.nodeStatusReportFrequency, minutes(5));
  EXPECT_EQ(k.nodeLeaseDurationSeconds, 40);
  EXPECT_EQ(k.maxPods, 110);
  EXPECT_EQ(k.cgroupDriver, "cgroupfs");
  EXPECT_EQ(k.containerRuntimeEndpoint, "unix:///run/containerd/containerd.sock");
  EXPECT_EQ(k.runtimeRequestTimeout, minutes(2));
  EXPECT_EQ(k.evictionHard.at("memory.available"), "100Mi");
  EXPECT_EQ(k.evictionHard.at("nodefs.available"), "10%");
  EXPECT_TRUE(c->warnings.empty());
}

TEST(ConfigTest, ServerAuthenticationAndAuthorization) {
  auto d = loadConfig({});
  ASSERT_TRUE(d.ok());
  // The v1beta1 (config file) defaults: closed to anonymous users, webhook modes.
  EXPECT_FALSE(d->kubelet.authentication.anonymous);
  EXPECT_TRUE(d->kubelet.authentication.webhook);
  EXPECT_EQ(d->kubelet.authentication.webhookCacheTTL, minutes(2));
  EXPECT_EQ(d->kubelet.authorization.mode, "Webhook");
  EXPECT_EQ(d->kubelet.authorization.cacheAuthorizedTTL, minutes(5));
  EXPECT_EQ(d->kubelet.authorization.cacheUnauthorizedTTL, seconds(30));
  EXPECT_TRUE(d->kubelet.enableServer);
  EXPECT_TRUE(d->kubelet.enableDebuggingHandlers);

  TempFile f(
      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
      "kind: KubeletConfiguration\n"
      "authentication:\n  anonymous: {enabled: true}\n  webhook: {enabled: false, cacheTTL: 10s}\n"
      "  x509: {clientCAFile: /pki/ca.crt}\n"
      "authorization:\n  mode: AlwaysAllow\n  webhook: {cacheAuthorizedTTL: 1m, cacheUnauthorizedTTL: 5s}\n"
      "tlsCertFile: /pki/k.crt\ntlsPrivateKeyFile: /pki/k.key\ntlsMinVersion: VersionTLS13\n"
      "tlsCipherSuites: [TLS_AES_128_GCM_SHA256]\nenableDebuggingHandlers: false\n");
  auto c = loadConfig({"--config=" + f.path(), "--authorization-mode=Webhook"});
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& k = c->kubelet;
  EXPECT_TRUE(k.authentication.anonymous);
  EXPECT_FALSE(k.authentication.webhook);
  EXPECT_EQ(k.authentication.webhookCacheTTL, seconds(10));
  EXPECT_EQ(k.authentication.clientCAFile, "/pki/ca.crt");
  EXPECT_EQ(k.authorization.mode, "Webhook");  // the flag wins
  EXPECT_EQ(k.authorization.cacheAuthorizedTTL, minutes(1));
  EXPECT_EQ(k.authorization.cacheUnauthorizedTTL, seconds(5));
  EXPECT_EQ(k.tlsCertFile, "/pki/k.crt");
  EXPECT_EQ(k.tlsMinVersion, "VersionTLS13");
  EXPECT_EQ(k.tlsCipherSuites, std::vector<std::string>{"TLS_AES_128_GCM_SHA256"});
  EXPECT_FALSE(k.enableDebuggingHandlers);

  auto bad = loadConfig({"--authorization-mode=RBAC"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("field authorization.mode: must be Webhook or AlwaysAllow"), std::string::npos);
  auto half = loadConfig({"--tls-cert-file=/a.crt"});
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("tlsPrivateKeyFile"), std::string::npos);
  TempFile notMap("authentication: yes\n");
  auto nm = loadConfig({"--config=" + notMap.path()});
  ASSERT_FALSE(nm.ok());
  EXPECT_NE(nm.status().message().find("field authentication: expected a mapping"), std::string::npos);
}

TEST(ConfigTest, ZeroValuesFromKubeadmMeanDefaults) {
  TempFile f(
      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
      "kind: KubeletConfiguration\n"
      "syncFrequency: 0s\n"
      "nodeStatusUpdateFrequency: 0s\n"
      "nodeStatusReportFrequency: 0s\n"
      "healthzPort: 0\n"
      "maxPods: 0\n"
      "cgroupDriver: \"\"\n"
      "runtimeRequestTimeout: 0s\n");
  auto c = loadConfig({"--config", f.path()});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.syncFrequency, minutes(1));
  EXPECT_EQ(c->kubelet.nodeStatusUpdateFrequency, seconds(10));
  EXPECT_EQ(c->kubelet.nodeStatusReportFrequency, minutes(5));
  EXPECT_EQ(c->kubelet.maxPods, 110);
  EXPECT_EQ(c->kubelet.cgroupDriver, "cgroupfs");
  EXPECT_EQ(c->kubelet.runtimeRequestTimeout, minutes(2));
}

TEST(ConfigTest, ReportFrequencyFollowsAnExplicitUpdateFrequency) {
  TempFile f("kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nnodeStatusUpdateFrequency: 4s\n");
  auto c = loadConfig({"--config=" + f.path()});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.nodeStatusUpdateFrequency, seconds(4));
  EXPECT_EQ(c->kubelet.nodeStatusReportFrequency, seconds(4));
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  TempFile f(
      "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
      "maxPods: 50\nhealthzPort: 11111\nclusterDNS: [10.0.0.10]\n"
      "evictionHard: {memory.available: 1Gi}\n"
      "registerWithTaints:\n- {key: a, value: b, effect: NoSchedule}\n");
  auto c = loadConfig({"--config", f.path(), "--max-pods=20", "--cluster-dns", "10.0.0.53,10.0.0.54",
                       "--register-with-taints=x=y:NoExecute,z:PreferNoSchedule", "--v=3"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.maxPods, 20);
  EXPECT_EQ(c->kubelet.healthzPort, 11111);
  EXPECT_EQ(c->kubelet.clusterDNS, (std::vector<std::string>{"10.0.0.53", "10.0.0.54"}));
  EXPECT_EQ(c->kubelet.evictionHard, (std::map<std::string, std::string>{{"memory.available", "1Gi"}}));
  ASSERT_EQ(c->kubelet.registerWithTaints.size(), 2u);
  EXPECT_EQ(c->kubelet.registerWithTaints[0], (Taint{"x", "y", "NoExecute"}));
  EXPECT_EQ(c->kubelet.registerWithTaints[1], (Taint{"z", "", "PreferNoSchedule"}));
  EXPECT_EQ(c->kubelet.verbosity, 3);
}

TEST(ConfigTest, FlagOnlyOptions) {
  auto c = loadConfig({"--hostname-override", "Node-A", "--node-ip=10.1.2.3", "--root-dir=/r",
                       "--node-labels=a=b,node.kubernetes.io/x=y", "-v", "4", "--container-runtime-endpoint",
                       "unix:///x.sock", "--eviction-hard=memory.available<200Mi,nodefs.available<5%"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->flags.hostnameOverride, "Node-A");
  EXPECT_EQ(c->flags.nodeIP, "10.1.2.3");
  EXPECT_EQ(c->flags.certDir, "/r/pki");
  EXPECT_EQ(c->flags.nodeLabels, (std::map<std::string, std::string>{{"a", "b"}, {"node.kubernetes.io/x", "y"}}));
  EXPECT_EQ(c->kubelet.verbosity, 4);
  EXPECT_EQ(c->kubelet.containerRuntimeEndpoint, "unix:///x.sock");
  EXPECT_EQ(c->kubelet.evictionHard.at("memory.available"), "200Mi");
  EXPECT_EQ(c->kubelet.evictionHard.at("nodefs.available"), "5%");
}

TEST(ConfigTest, UnimplementedUpstreamFlagsWarnUnknownFlagsFail) {
  auto c = loadConfig({"--cloud-provider=external", "--exit-on-lock-contention", "--max-pods=3"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(hasWarning(*c, "--cloud-provider"));
  EXPECT_TRUE(hasWarning(*c, "--exit-on-lock-contention"));
  EXPECT_EQ(c->kubelet.maxPods, 3) << "a bool flag must not swallow the next argument";

  auto bad = loadConfig({"--no-such-flag=1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--no-such-flag"), std::string::npos);

  auto missing = loadConfig({"--kubeconfig"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--kubeconfig"), std::string::npos);

  auto positional = loadConfig({"run"});
  EXPECT_FALSE(positional.ok());
}

TEST(ConfigTest, BadFlagValuesNameTheFlag) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--max-pods=many"},
                                                                {"--node-status-update-frequency=10"},
                                                                {"--fail-swap-on=maybe"},
                                                                {"--register-with-taints=k=v:Sometimes"},
                                                                {"--node-labels=novalue"}}) {
    auto c = loadConfig(args);
    ASSERT_FALSE(c.ok()) << args[0];
    std::string flag = args[0].substr(0, args[0].find('='));
    EXPECT_NE(c.status().message().find(flag), std::string::npos) << c.status();
  }
}

TEST(ConfigTest, UnknownFieldsAreWarnedAbout) {
  TempFile f("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 7\nnotAField: 1\n");
  auto c = loadConfig({"--config", f.path()});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(hasWarning(*c, "notAField"));
  EXPECT_TRUE(hasWarning(*c, f.path()));
  EXPECT_EQ(c->kubelet.maxPods, 7);
}

TEST(ConfigTest, ErrorsNameTheFileAndTheField) {
  struct Case {
    std::string body;
    std::string field;
  };
  for (const auto& tc : std::vector<Case>{
           {"nodeStatusUpdateFrequency: 10x\n", "nodeStatusUpdateFrequency"},
           {"maxPods: lots\n", "maxPods"},
           {"healthzPort: 70000\n", "healthzPort"},
           {"cgroupDriver: weird\n", "cgroupDriver"},
           {"clusterDNS: 10.0.0.1\n", "clusterDNS"},
           {"registerWithTaints:\n- {key: k, effect: Bad}\n", "registerWithTaints[0].effect"},
           {"logging: {format: xml}\n", "logging.format"},
           {"featureGates: {A: yes-please}\n", "featureGates.A"},
       }) {
    TempFile f("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + tc.body);
    auto c = loadConfig({"--config", f.path()});
    ASSERT_FALSE(c.ok()) << tc.body;
    EXPECT_NE(c.status().message().find(f.path()), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find(tc.field), std::string::npos) << c.status();
  }
}

TEST(ConfigTest, ContainerLogRotationFields) {
  auto c = loadConfig({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.containerLogMaxSize, "10Mi");
  EXPECT_EQ(c->kubelet.containerLogMaxSizeBytes, 10 * 1024 * 1024);
  EXPECT_EQ(c->kubelet.containerLogMaxFiles, 5);
  EXPECT_EQ(c->kubelet.containerLogMaxWorkers, 1);
  EXPECT_EQ(c->kubelet.containerLogMonitorInterval, seconds(10));

  TempFile f(
      "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
      "containerLogMaxSize: 50Mi\ncontainerLogMaxFiles: 3\ncontainerLogMaxWorkers: 4\n"
      "containerLogMonitorInterval: 30s\n");
  c = loadConfig({"--config", f.path()});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.containerLogMaxSize, "50Mi");
  EXPECT_EQ(c->kubelet.containerLogMaxSizeBytes, 50 * 1024 * 1024);
  EXPECT_EQ(c->kubelet.containerLogMaxFiles, 3);
  EXPECT_EQ(c->kubelet.containerLogMaxWorkers, 4);
  EXPECT_EQ(c->kubelet.containerLogMonitorInterval, seconds(30));

  // Zero values mean the defaults (kubeadm writes them).
  TempFile zeros(
      "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
      "containerLogMaxSize: \"\"\ncontainerLogMaxFiles: 0\ncontainerLogMaxWorkers: 0\n"
      "containerLogMonitorInterval: 0s\n");
  c = loadConfig({"--config", zeros.path()});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.containerLogMaxSizeBytes, 10 * 1024 * 1024);
  EXPECT_EQ(c->kubelet.containerLogMaxFiles, 5);
  EXPECT_EQ(c->kubelet.containerLogMaxWorkers, 1);
  EXPECT_EQ(c->kubelet.containerLogMonitorInterval, seconds(10));

  // Flags override the file.
  c = loadConfig({"--config", f.path(), "--container-log-max-size=1Gi", "--container-log-max-files=7",
                  "--container-log-max-workers=2", "--container-log-monitor-interval=1m"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.containerLogMaxSizeBytes, int64_t{1} << 30);
  EXPECT_EQ(c->kubelet.containerLogMaxFiles, 7);
  EXPECT_EQ(c->kubelet.containerLogMaxWorkers, 2);
  EXPECT_EQ(c->kubelet.containerLogMonitorInterval, minutes(1));

  // A negative size disables rotation; it is not an error.
  c = loadConfig({"--container-log-max-size=-1"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_LT(c->kubelet.containerLogMaxSizeBytes, 0);
}

TEST(ConfigTest, AllowedUnsafeSysctlsFromFileAndFlagAreChecked) {
  TempFile f(
      "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
      "allowedUnsafeSysctls: [\"kernel.msg*\", \"net.core.somaxconn\"]\n");
  auto c = loadConfig({"--config", f.path()});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.allowedUnsafeSysctls, (std::vector<std::string>{"kernel.msg*", "net.core.somaxconn"}));
  c = loadConfig({"--allowed-unsafe-sysctls=kernel.shm*,net.ipv4.route.min_pmtu"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kubelet.allowedUnsafeSysctls, (std::vector<std::string>{"kernel.shm*", "net.ipv4.route.min_pmtu"}));

  TempFile global(
      "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
      "allowedUnsafeSysctls: [vm.swappiness]\n");
  c = loadConfig({"--config", global.path()});
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_NE(msg.find("allowedUnsafeSysctls"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"vm.swappiness\" are not known to be namespaced"), std::string::npos) << msg;
}

TEST(ConfigTest, ContainerLogRotationFieldErrorsNameTheField) {
  struct Case {
    std::string body;
    std::string field;
    std::string why;
  };
  for (const auto& tc : std::vector<Case>{
           {"containerLogMaxSize: 10Zi\n", "containerLogMaxSize", ""},
           {"containerLogMaxSize: 10\n", "containerLogMaxSize", "expected a string"},
           {"containerLogMaxFiles: 1\n", "containerLogMaxFiles", "must be greater than 1"},
           {"containerLogMaxFiles: -3\n", "containerLogMaxFiles", "must be greater than 1"},
           {"containerLogMaxWorkers: -1\n", "containerLogMaxWorkers", "greater than or equal to 1"},
           {"containerLogMonitorInterval: 2s\n", "containerLogMonitorInterval", "greater than or equal to 3s"},
           {"containerLogMonitorInterval: soon\n", "containerLogMonitorInterval", ""},
       }) {
    TempFile f("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + tc.body);
    auto c = loadConfig({"--config", f.path()});
    ASSERT_FALSE(c.ok()) << tc.body;
    std::string msg(c.status().message());
    EXPECT_NE(msg.find(tc.field), std::string::npos) << msg;
    EXPECT_NE(msg.find(tc.why), std::string::npos) << msg;
  }
  auto c = loadConfig({"--container-log-monitor-interval=1s"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("containerLogMonitorInterval"), std::string::npos);
}

TEST(ConfigTest, MalformedOrWrongKindFiles) {
  TempFile yaml("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: [1, 2\n");
  auto c = loadConfig({"--config", yaml.path()});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(yaml.path()), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("line"), std::string::npos) << c.status();

  TempFile kind("apiVersion: v1\nkind: Pod\n");
  c = loadConfig({"--config", kind.path()});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("apiVersion"), std::string::npos) << c.status();

  c = loadConfig({"--config", "/nonexistent/kubelet.yaml"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/nonexistent/kubelet.yaml"), std::string::npos);

  TempFile scalar("just a string\n");
  c = loadConfig({"--config", scalar.path()});
  EXPECT_FALSE(c.ok());
}

TEST(ConfigTest, VersionAndHelpSkipTheFile) {
  auto c = loadConfig({"--version", "--config=/does/not/exist"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->flags.showVersion);
  c = loadConfig({"-h"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->flags.showHelp);
  EXPECT_NE(usage().find("--kubeconfig"), std::string::npos);
}

TEST(ConfigTest, ParseHelpers) {
  auto t = parseTaints("a=b:NoSchedule, c:NoExecute");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[1], (Taint{"c", "", "NoExecute"}));
  EXPECT_FALSE(parseTaints("nocolon").ok());
  EXPECT_FALSE(parseTaints("=v:NoSchedule").ok());
  auto kv = parseKeyValues("a=1,b=2=3");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->at("b"), "2=3");
  EXPECT_FALSE(parseKeyValues("=x").ok());
}

}  // namespace
}  // namespace cubelet::config
