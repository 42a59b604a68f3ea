// Cubelet's configuration: upstream kubelet flags + a KubeletConfiguration
// (kubelet.config.k8s.io/v1beta1) file -> one immutable Config.
//
// Precedence as upstream: defaults < config file < flags. Zero values in the file mean
// "use the default" (kubeadm writes many). Unknown file fields and upstream flags that
// cubelet does not implement yet are warnings; anything else is an error naming the flag,
// file or field.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cubelet::config {

struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
  bool operator==(const Taint&) const = default;
};

// The KubeletConfiguration fields cubelet reads, after defaulting. `document` keeps the
// whole defaulted file (known fields cubelet does not use yet included).
struct KubeletConfiguration {
  nlohmann::json document = nlohmann::json::object();

  std::string address = "0.0.0.0";
  int port = 10250;
  int healthzPort = 10248;
  // The kubelet API (address:port): off only with enableServer false.
  bool enableServer = true;
  bool enableDebuggingHandlers = true;
  bool enableSystemLogHandler = true;  // /logs/ serves /var/log
  std::string tlsCertFile;  // both empty: self-signed kubelet.crt/.key in --cert-dir
  std::string tlsPrivateKeyFile;
  std::string tlsMinVersion;
  std::vector<std::string> tlsCipherSuites;
  struct Authentication {
    bool anonymous = false;
    bool webhook = true;
    std::chrono::nanoseconds webhookCacheTTL = std::chrono::minutes(2);
    std::string clientCAFile;
  } authentication;
  struct Authorization {
    std::string mode = "Webhook";  // Webhook | AlwaysAllow
    std::chrono::nanoseconds cacheAuthorizedTTL = std::chrono::minutes(5);
    std::chrono::nanoseconds cacheUnauthorizedTTL = std::chrono::seconds(30);
  } authorization;
  std::string healthzBindAddress = "127.0.0.1";
  std::string staticPodPath;
  std::chrono::nanoseconds syncFrequency = std::chrono::minutes(1);
  std::chrono::nanoseconds nodeStatusUpdateFrequency = std::chrono::seconds(10);
  std::chrono::nanoseconds nodeStatusReportFrequency = std::chrono::minutes(5);
  int nodeLeaseDurationSeconds = 40;
  std::chrono::nanoseconds runtimeRequestTimeout = std::chrono::minutes(2);
  std::string containerRuntimeEndpoint = "unix:///run/containerd/containerd.sock";
  std::string imageServiceEndpoint;
  std::string cgroupDriver = "cgroupfs";
  std::string cgroupRoot;
  bool cgroupsPerQOS = true;
  std::string clusterDomain;
  std::vector<std::string> clusterDNS;
  std::string resolvConf = "/etc/resolv.conf";
  // How configMaps and secrets are read: Watch (one watch per referenced object), Cache
  // (served as Watch) or Get.
  std::string configMapAndSecretChangeDetectionStrategy = "Watch";
  int maxPods = 110;
  // Unsafe sysctls (names or "prefix*") pods may set beside the safe ones.
  std::vector<std::string> allowedUnsafeSysctls;
  int podsPerCore = 0;
  std::string podCIDR;
  std::string providerID;
  std::string podLogsDir = "/var/log/pods";
  // Container log rotation (ContainerLogManager). containerLogMaxSize is the quantity as
  // written; containerLogMaxSizeBytes its value (negative or zero: rotation disabled).
  std::string containerLogMaxSize = "10Mi";
  int64_t containerLogMaxSizeBytes = 10 * 1024 * 1024;
  int containerLogMaxFiles = 5;     // > 1
  int containerLogMaxWorkers = 1;   // >= 1
  std::chrono::nanoseconds containerLogMonitorInterval = std::chrono::seconds(10);  // >= 3s
  bool registerNode = true;
  std::vector<Taint> registerWithTaints;
  std::map<std::string, std::string> systemReserved;
  std::map<std::string, std::string> kubeReserved;
  std::map<std::string, std::string> evictionHard;
  std::map<std::string, bool> featureGates;
  int eventRecordQPS = 50;
  int eventBurst = 100;
  int kubeAPIQPS = 50;
  int kubeAPIBurst = 100;
  bool failSwapOn = true;
  std::string loggingFormat = "text";
  int verbosity = 0;
};

// Flags that have no KubeletConfiguration field.
struct FlagOptions {
  std::string kubeconfig;
  std::string bootstrapKubeconfig;
  std::string configFile;
  std::string hostnameOverride;
  std::string nodeIP;
  std::string rootDir = "/var/lib/kubelet";
  std::string certDir;  // default <rootDir>/pki
  std::map<std::string, std::string> nodeLabels;
  bool showVersion = false;
  bool showHelp = false;
  // Cubelet's own flags (no upstream equivalent since dockershim): the pod network.
  // --pod-network: "cubelet-cni" installs cubelet-cni and writes its conflist once the Node
  // has a podCIDR; "external" leaves the CNI dirs to another network add-on.
  std::string podNetwork = "cubelet-cni";
  std::string cniBinDir;   // --cni-bin-dir; default: the runtime's (CRI verbose Status), else /opt/cni/bin
  std::string cniConfDir;  // --cni-conf-dir; default: the runtime's, else /etc/cni/net.d
  std::string cniPlugin;   // --cni-plugin: the cubelet-cni binary; default: next to cubelet
  std::string cniDataDir = "/var/lib/cni/networks";  // --cni-data-dir: IPAM records
};

struct Config {
  FlagOptions flags;
  KubeletConfiguration kubelet;
  // Non-fatal findings (unknown fields, unimplemented flags) for the caller to log.
  std::vector<std::string> warnings;
};

// Parses argv (without argv[0]) and, when --config is given, the file.
absl::StatusOr<Config> loadConfig(const std::vector<std::string>& args);

// Builds the typed view from a KubeletConfiguration document (file contents with flag
// overrides applied); `source` names it in errors. Exposed for tests.
absl::StatusOr<KubeletConfiguration> parseKubeletConfiguration(nlohmann::json doc, const std::string& source,
                                                               std::vector<std::string>* warnings);

// "key=value:Effect,key2:Effect" as --register-with-taints takes it.
absl::StatusOr<std::vector<Taint>> parseTaints(const std::string& s);
// "a=b,c=d" as --node-labels takes it.
absl::StatusOr<std::map<std::string, std::string>> parseKeyValues(const std::string& s, char sep = '=');

// Help text listing the flags cubelet implements.
std::string usage();

}  // namespace cubelet::config
