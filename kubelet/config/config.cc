#include "kubelet/config/config.h"

#include <charconv>
#include <set>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "kubelet/config/yaml_json.h"
#include "kubelet/objects/duration.h"
#include "kubelet/pod/sysctl_allowlist.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/objects/quantity.h"

namespace cubelet::config {
namespace {

using nlohmann::json;

// How a flag's string value becomes a KubeletConfiguration value.
enum class Type { kString, kInt, kBool, kDuration, kList, kMapEq, kMapLt, kGates, kTaints };

struct ConfigFlag {
  const char* flag;
  const char* field;  // dotted path in the KubeletConfiguration document
  Type type;
};

// Upstream kubelet flags that set a KubeletConfiguration field. All of them are accepted and
// override the file; which fields cubelet acts on is documented in docs/compatibility.md.
constexpr ConfigFlag kConfigFlags[] = {
    {"address", "address", Type::kString},
    {"allowed-unsafe-sysctls", "allowedUnsafeSysctls", Type::kList},
    {"anonymous-auth", "authentication.anonymous.enabled", Type::kBool},
    {"authentication-token-webhook", "authentication.webhook.enabled", Type::kBool},
    {"authentication-token-webhook-cache-ttl", "authentication.webhook.cacheTTL", Type::kDuration},
    {"authorization-mode", "authorization.mode", Type::kString},
    {"authorization-webhook-cache-authorized-ttl", "authorization.webhook.cacheAuthorizedTTL", Type::kDuration},
    {"authorization-webhook-cache-unauthorized-ttl", "authorization.webhook.cacheUnauthorizedTTL", Type::kDuration},
    {"cgroup-driver", "cgroupDriver", Type::kString},
    {"cgroup-root", "cgroupRoot", Type::kString},
    {"cgroups-per-qos", "cgroupsPerQOS", Type::kBool},
    {"client-ca-file", "authentication.x509.clientCAFile", Type::kString},
    {"cluster-dns", "clusterDNS", Type::kList},
    {"cluster-domain", "clusterDomain", Type::kString},
    {"container-log-max-files", "containerLogMaxFiles", Type::kInt},
    {"container-log-max-size", "containerLogMaxSize", Type::kString},
    {"container-log-max-workers", "containerLogMaxWorkers", Type::kInt},
    {"container-log-monitor-interval", "containerLogMonitorInterval", Type::kDuration},
    {"container-runtime-endpoint", "containerRuntimeEndpoint", Type::kString},
    {"contention-profiling", "enableContentionProfiling", Type::kBool},
    {"cpu-cfs-quota", "cpuCFSQuota", Type::kBool},
    {"cpu-cfs-quota-period", "cpuCFSQuotaPeriod", Type::kDuration},
    {"cpu-manager-policy", "cpuManagerPolicy", Type::kString},
    {"cpu-manager-reconcile-period", "cpuManagerReconcilePeriod", Type::kDuration},
    {"enable-controller-attach-detach", "enableControllerAttachDetach", Type::kBool},
    {"enable-debugging-handlers", "enableDebuggingHandlers", Type::kBool},
    {"enable-server", "enableServer", Type::kBool},
    {"enforce-node-allocatable", "enforceNodeAllocatable", Type::kList},
    {"event-burst", "eventBurst", Type::kInt},
    {"event-qps", "eventRecordQPS", Type::kInt},
    {"eviction-hard", "evictionHard", Type::kMapLt},
    {"eviction-max-pod-grace-period", "evictionMaxPodGracePeriod", Type::kInt},
    {"eviction-minimum-reclaim", "evictionMinimumReclaim", Type::kMapEq},
    {"eviction-pressure-transition-period", "evictionPressureTransitionPeriod", Type::kDuration},
    {"eviction-soft", "evictionSoft", Type::kMapLt},
    {"eviction-soft-grace-period", "evictionSoftGracePeriod", Type::kMapEq},
    {"fail-cgroupv1", "failCgroupV1", Type::kBool},
    {"fail-swap-on", "failSwapOn", Type::kBool},
    {"feature-gates", "featureGates", Type::kGates},
    {"file-check-frequency", "fileCheckFrequency", Type::kDuration},
    {"hairpin-mode", "hairpinMode", Type::kString},
    {"healthz-bind-address", "healthzBindAddress", Type::kString},
    {"healthz-port", "healthzPort", Type::kInt},
    {"http-check-frequency", "httpCheckFrequency", Type::kDuration},
    {"image-gc-high-threshold", "imageGCHighThresholdPercent", Type::kInt},
    {"image-gc-low-threshold", "imageGCLowThresholdPercent", Type::kInt},
    {"image-service-endpoint", "imageServiceEndpoint", Type::kString},
    {"kernel-memcg-notification", "kernelMemcgNotification", Type::kBool},
    {"kube-api-burst", "kubeAPIBurst", Type::kInt},
    {"kube-api-content-type", "contentType", Type::kString},
    {"kube-api-qps", "kubeAPIQPS", Type::kInt},
    {"kube-reserved", "kubeReserved", Type::kMapEq},
    {"kube-reserved-cgroup", "kubeReservedCgroup", Type::kString},
    {"kubelet-cgroups", "kubeletCgroups", Type::kString},
    {"local-storage-capacity-isolation", "localStorageCapacityIsolation", Type::kBool},
    {"logging-format", "logging.format", Type::kString},
    {"make-iptables-util-chains", "makeIPTablesUtilChains", Type::kBool},
    {"manifest-url", "staticPodURL", Type::kString},
    {"max-open-files", "maxOpenFiles", Type::kInt},
    {"max-pods", "maxPods", Type::kInt},
    {"memory-manager-policy", "memoryManagerPolicy", Type::kString},
    {"minimum-image-ttl-duration", "imageMinimumGCAge", Type::kDuration},
    {"node-status-max-images", "nodeStatusMaxImages", Type::kInt},
    {"node-status-update-frequency", "nodeStatusUpdateFrequency", Type::kDuration},
    {"oom-score-adj", "oomScoreAdj", Type::kInt},
    {"pod-cidr", "podCIDR", Type::kString},
    {"pod-manifest-path", "staticPodPath", Type::kString},
    {"pod-max-pids", "podPidsLimit", Type::kInt},
    {"pods-per-core", "podsPerCore", Type::kInt},
    {"port", "port", Type::kInt},
    {"protect-kernel-defaults", "protectKernelDefaults", Type::kBool},
    {"provider-id", "providerID", Type::kString},
    {"qos-reserved", "qosReserved", Type::kMapEq},
    {"read-only-port", "readOnlyPort", Type::kInt},
    {"register-node", "registerNode", Type::kBool},
    {"register-with-taints", "registerWithTaints", Type::kTaints},
    {"registry-burst", "registryBurst", Type::kInt},
    {"registry-qps", "registryPullQPS", Type::kInt},
    {"reserved-cpus", "reservedSystemCPUs", Type::kString},
    {"resolv-conf", "resolvConf", Type::kString},
    {"rotate-certificates", "rotateCertificates", Type::kBool},
    {"rotate-server-certificates", "serverTLSBootstrap", Type::kBool},
    {"runonce", "runOnce", Type::kBool},
    {"runtime-request-timeout", "runtimeRequestTimeout", Type::kDuration},
    {"seccomp-default", "seccompDefault", Type::kBool},
    {"serialize-image-pulls", "serializeImagePulls", Type::kBool},
    {"streaming-connection-idle-timeout", "streamingConnectionIdleTimeout", Type::kDuration},
    {"sync-frequency", "syncFrequency", Type::kDuration},
    {"system-cgroups", "systemCgroups", Type::kString},
    {"system-reserved", "systemReserved", Type::kMapEq},
    {"system-reserved-cgroup", "systemReservedCgroup", Type::kString},
    {"tls-cert-file", "tlsCertFile", Type::kString},
    {"tls-cipher-suites", "tlsCipherSuites", Type::kList},
    {"tls-min-version", "tlsMinVersion", Type::kString},
    {"tls-private-key-file", "tlsPrivateKeyFile", Type::kString},
    {"topology-manager-policy", "topologyManagerPolicy", Type::kString},
    {"topology-manager-scope", "topologyManagerScope", Type::kString},
    {"volume-plugin-dir", "volumePluginDir", Type::kString},
    {"volume-stats-agg-period", "volumeStatsAggPeriod", Type::kDuration},
};

// Upstream kubelet flags cubelet accepts but does not act on yet: a warning names them.
// The bool ones take no separate value argument.
struct IgnoredFlag {
  const char* flag;
  bool isBool;
};
constexpr IgnoredFlag kIgnoredFlags[] = {
    {"bootstrap-kubeconfig", false},
    {"cloud-provider", false},
    {"config-dir", false},
    {"cpu-manager-policy-options", false},
    {"exit-on-lock-contention", true},
    {"experimental-allocatable-ignore-eviction", true},
    {"experimental-mounter-path", false},
    {"image-credential-provider-bin-dir", false},
    {"image-credential-provider-config", false},
    {"lock-file", false},
    {"log-flush-frequency", false},
    {"log-json-info-buffer-size", false},
    {"log-json-split-stream", true},
    {"log-text-info-buffer-size", false},
    {"log-text-split-stream", true},
    {"manifest-url-header", false},
    {"maximum-dead-containers", false},
    {"maximum-dead-containers-per-container", false},
    {"minimum-container-ttl-duration", false},
    {"reserved-memory", false},
    {"runtime-cgroups", false},
    {"topology-manager-policy-options", false},
    {"vmodule", false},
    {"windows-priorityclass", false},
    {"windows-service", true},
};

// Flags without a KubeletConfiguration field that cubelet implements.
enum class Own {
  kKubeconfig,
  kConfig,
  kHostnameOverride,
  kNodeIP,
  kRootDir,
  kCertDir,
  kNodeLabels,
  kV,
  kVersion,
  kHelp,
  kPodNetwork,
  kCniBinDir,
  kCniConfDir,
  kCniPlugin,
  kCniDataDir,
};
struct OwnFlag {
  const char* flag;
  Own id;
  bool isBool;
};
constexpr OwnFlag kOwnFlags[] = {
    {"kubeconfig", Own::kKubeconfig, false},   {"config", Own::kConfig, false},
    {"hostname-override", Own::kHostnameOverride, false}, {"node-ip", Own::kNodeIP, false},
    {"root-dir", Own::kRootDir, false},        {"cert-dir", Own::kCertDir, false},
    {"node-labels", Own::kNodeLabels, false},  {"v", Own::kV, false},
    {"version", Own::kVersion, true},          {"help", Own::kHelp, true},
    // Cubelet's own: the pod network it manages (see FlagOptions).
    {"pod-network", Own::kPodNetwork, false},  {"cni-bin-dir", Own::kCniBinDir, false},
    {"cni-conf-dir", Own::kCniConfDir, false}, {"cni-plugin", Own::kCniPlugin, false},
    {"cni-data-dir", Own::kCniDataDir, false},
};

// Every top-level KubeletConfiguration v1beta1 field; anything else is warned about.
const std::set<std::string>& knownFields() {
  static const std::set<std::string> k = {
      "apiVersion", "kind", "enableServer", "staticPodPath", "podLogsDir", "syncFrequency",
      "fileCheckFrequency", "httpCheckFrequency", "staticPodURL", "staticPodURLHeader", "address",
      "port", "readOnlyPort", "tlsCertFile", "tlsPrivateKeyFile", "tlsCipherSuites",
      "tlsCurvePreferences", "tlsMinVersion", "rotateCertificates", "serverTLSBootstrap",
      "authentication", "authorization", "registryPullQPS", "registryBurst",
      "imagePullCredentialsVerificationPolicy", "preloadedImagesVerificationAllowlist",
      "eventRecordQPS", "eventBurst", "enableDebuggingHandlers", "enableContentionProfiling",
      "healthzPort", "healthzBindAddress", "oomScoreAdj", "clusterDomain", "clusterDNS",
      "streamingConnectionIdleTimeout", "nodeStatusUpdateFrequency", "nodeStatusReportFrequency",
      "nodeLeaseDurationSeconds", "imageMinimumGCAge", "imageMaximumGCAge",
      "imageGCHighThresholdPercent", "imageGCLowThresholdPercent", "volumeStatsAggPeriod",
      "kubeletCgroups", "systemCgroups", "cgroupRoot", "cgroupsPerQOS", "cgroupDriver",
      "cpuManagerPolicy", "singleProcessOOMKill", "cpuManagerPolicyOptions",
      "cpuManagerReconcilePeriod", "memoryManagerPolicy", "topologyManagerPolicy",
      "topologyManagerScope", "topologyManagerPolicyOptions", "qosReserved",
      "runtimeRequestTimeout", "hairpinMode", "maxPods", "podCIDR", "podPidsLimit", "resolvConf",
      "runOnce", "cpuCFSQuota", "cpuCFSQuotaPeriod", "nodeStatusMaxImages", "maxOpenFiles",
      "contentType", "kubeAPIQPS", "kubeAPIBurst", "serializeImagePulls", "maxParallelImagePulls",
      "evictionHard", "evictionSoft", "evictionSoftGracePeriod", "evictionPressureTransitionPeriod",
      "evictionMaxPodGracePeriod", "evictionMinimumReclaim", "mergeDefaultEvictionSettings",
      "podsPerCore", "enableControllerAttachDetach", "protectKernelDefaults",
      "makeIPTablesUtilChains", "iptablesMasqueradeBit", "iptablesDropBit", "featureGates",
      "failSwapOn", "memorySwap", "containerLogMaxSize", "containerLogMaxFiles",
      "containerLogMaxWorkers", "containerLogMonitorInterval",
      "configMapAndSecretChangeDetectionStrategy", "systemReserved", "kubeReserved",
      "reservedSystemCPUs", "showHiddenMetricsForVersion", "systemReservedCgroup",
      "kubeReservedCgroup", "enforceNodeAllocatable", "allowedUnsafeSysctls", "defaultPodSysctls",
      "volumePluginDir", "providerID", "kernelMemcgNotification", "logging",
      "enableSystemLogHandler", "enableSystemLogQuery", "shutdownGracePeriod",
      "shutdownGracePeriodCriticalPods", "shutdownGracePeriodByPodPriority", "crashLoopBackOff",
      "reservedMemory", "enableProfilingHandler", "enableDebugFlagsHandler", "seccompDefault",
      "memoryThrottlingFactor", "memoryReservationPolicy", "registerWithTaints", "registerNode",
      "tracing", "localStorageCapacityIsolation", "containerRuntimeEndpoint",
      "imageServiceEndpoint", "failCgroupV1", "userNamespaces"};
  return k;
}

absl::Status flagError(const std::string& flag, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError("invalid argument \"" + value + "\" for \"--" + flag + "\" flag: " + why);
}

absl::StatusOr<bool> parseBool(const std::string& s) {
  if (s == "true" || s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "True") return true;
  if (s == "false" || s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "False") return false;
  return absl::InvalidArgumentError("strconv.ParseBool: parsing \"" + s + "\": invalid syntax");
}

absl::StatusOr<int64_t> parseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    return absl::InvalidArgumentError("strconv.ParseInt: parsing \"" + s + "\": invalid syntax");
  }
  return v;
}

void setPath(json& doc, const std::string& dotted, json value) {
  json* cur = &doc;
  for (auto part : absl::StrSplit(dotted, '.')) {
    std::string key(part);
    if (!cur->is_object()) *cur = json::object();
    cur = &(*cur)[key];
  }
  *cur = std::move(value);
}

absl::StatusOr<json> flagValueToJson(const ConfigFlag& f, const std::string& v) {
  auto bad = [&](const absl::Status& st) { return flagError(f.flag, v, std::string(st.message())); };
  switch (f.type) {
    case Type::kString:
      return json(v);
    case Type::kInt: {
      auto i = parseInt(v);
      if (!i.ok()) return bad(i.status());
      return json(*i);
    }
    case Type::kBool: {
      auto b = parseBool(v);
      if (!b.ok()) return bad(b.status());
      return json(*b);
    }
    case Type::kDuration: {
      auto d = objects::parseDuration(v);
      if (!d.ok()) return bad(d.status());
      return json(v);
    }
    case Type::kList: {
      json arr = json::array();
      for (auto p : absl::StrSplit(v, ',', absl::SkipWhitespace())) arr.push_back(std::string(absl::StripAsciiWhitespace(p)));
      return arr;
    }
    case Type::kMapEq:
    case Type::kMapLt: {
      auto m = parseKeyValues(v, f.type == Type::kMapEq ? '=' : '<');
      if (!m.ok()) return bad(m.status());
      return json(*m);
    }
    case Type::kGates: {
      auto m = parseKeyValues(v, '=');
      if (!m.ok()) return bad(m.status());
      json gates = json::object();
      for (const auto& [k, s] : *m) {
        auto b = parseBool(s);
        if (!b.ok()) return bad(absl::InvalidArgumentError("invalid value of " + k + "=" + s));
        gates[k] = *b;
      }
      return gates;
    }
    case Type::kTaints: {
      auto t = parseTaints(v);
      if (!t.ok()) return bad(t.status());
      json arr = json::array();
      for (const auto& taint : *t) {
        json j = {{"key", taint.key}, {"effect", taint.effect}};
        if (!taint.value.empty()) j["value"] = taint.value;
        arr.push_back(j);
      }
      return arr;
    }
  }
  return json();
}

// ---- typed view of the document ----

struct Reader {
  const json& doc;
  const std::string& source;

  absl::Status err(const std::string& field, const std::string& why) const {
    return absl::InvalidArgumentError("kubelet config file " + source + ": field " + field + ": " + why);
  }
  // `field` may be a dotted path ("authentication.webhook.cacheTTL").
  const json* get(const std::string& field) const {
    const json* cur = &doc;
    size_t start = 0;
    while (true) {
      size_t dot = field.find('.', start);
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(field.substr(start, dot - start));
      if (it == cur->end() || it->is_null()) return nullptr;
      cur = &*it;
      if (dot == std::string::npos) return cur;
      start = dot + 1;
    }
  }
  absl::Status object(const std::string& field) const {
    const json* v = get(field);
    if (v && !v->is_object()) return err(field, "expected a mapping, got " + v->dump());
    return absl::OkStatus();
  }
  absl::Status str(const std::string& field, std::string* out) const {
    const json* v = get(field);
    if (!v) return absl::OkStatus();
    if (!v->is_string()) return err(field, "expected a string, got " + v->dump());
    if (!v->get<std::string>().empty()) *out = v->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status integer(const std::string& field, int* out, int64_t lo, int64_t hi) const {
    const json* v = get(field);
    if (!v) return absl::OkStatus();
    if (!v->is_number_integer()) return err(field, "expected an integer, got " + v->dump());
    int64_t i = v->get<int64_t>();
    if (i == 0) return absl::OkStatus();  // zero means default
    if (i < lo || i > hi) {
      return err(field, std::to_string(i) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    *out = static_cast<int>(i);
    return absl::OkStatus();
  }
  absl::Status boolean(const std::string& field, bool* out) const {
    const json* v = get(field);
    if (!v) return absl::OkStatus();
    if (!v->is_boolean()) return err(field, "expected true or false, got " + v->dump());
    *out = v->get<bool>();
    return absl::OkStatus();
  }
  absl::Status duration(const std::string& field, std::chrono::nanoseconds* out) const {
    const json* v = get(field);
    if (!v) return absl::OkStatus();
    if (!v->is_string()) return err(field, "expected a duration string such as \"10s\", got " + v->dump());
    auto d = objects::parseDuration(v->get<std::string>());
    if (!d.ok()) return err(field, std::string(d.status().message()));
    if (d->count() < 0) return err(field, "must not be negative");
    if (d->count() != 0) *out = *d;
    return absl::OkStatus();
  }
  absl::Status strList(const std::string& field, std::vector<std::string>* out) const {
    const json* v = get(field);
    if (!v) return absl::OkStatus();
    if (!v->is_array()) return err(field, "expected a list of strings, got " + v->dump());
    out->clear();
    for (const auto& e : *v) {
      if (!e.is_string()) return err(field, "expected a list of strings, got element " + e.dump());
      out->push_back(e.get<std::string>());
    }
    return absl::OkStatus();
  }
  absl::Status strMap(const std::string& field, std::map<std::string, std::string>* out) const {
    const json* v = get(field);
    if (!v) return absl::OkStatus();
    if (!v->is_object()) return err(field, "expected a mapping of strings, got " + v->dump());
    out->clear();
    for (const auto& [k, e] : v->items()) {
      if (!e.is_string()) return err(field + "." + k, "expected a string, got " + e.dump());
      (*out)[k] = e.get<std::string>();
    }
    return absl::OkStatus();
  }
};

absl::Status validTaintEffect(const std::string& effect) {
  if (effect == "NoSchedule" || effect == "PreferNoSchedule" || effect == "NoExecute") return absl::OkStatus();
  return absl::InvalidArgumentError("invalid taint effect \"" + effect +
                                    "\": must be NoSchedule, PreferNoSchedule or NoExecute");
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> parseKeyValues(const std::string& s, char sep) {
  std::map<std::string, std::string> out;
  for (auto part : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    absl::string_view p = absl::StripAsciiWhitespace(part);
    auto pos = p.find(sep);
    if (pos == absl::string_view::npos || pos == 0) {
      return absl::InvalidArgumentError("\"" + std::string(p) + "\" is not of the form key" + std::string(1, sep) + "value");
    }
    out[std::string(p.substr(0, pos))] = std::string(p.substr(pos + 1));
  }
  return out;
}

absl::StatusOr<std::vector<Taint>> parseTaints(const std::string& s) {
  std::vector<Taint> out;
  for (auto part : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    std::string spec(absl::StripAsciiWhitespace(part));
    auto colon = spec.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError("invalid taint spec: " + spec + ": expected key=value:effect");
    }
    Taint t;
    t.effect = spec.substr(colon + 1);
    std::string kv = spec.substr(0, colon);
    auto eq = kv.find('=');
    t.key = kv.substr(0, eq);
    if (eq != std::string::npos) t.value = kv.substr(eq + 1);
    if (t.key.empty()) return absl::InvalidArgumentError("invalid taint spec: " + spec + ": empty key");
    RETURN_IF_ERROR(validTaintEffect(t.effect));
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<KubeletConfiguration> parseKubeletConfiguration(json doc, const std::string& source,
                                                               std::vector<std::string>* warnings) {
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("kubelet config file " + source + ": expected a mapping at the top level");
  }
  Reader r{doc, source};
  if (doc.contains("apiVersion") || doc.contains("kind")) {
    std::string apiVersion = objects::str(doc, {"apiVersion"});
    std::string kind = objects::str(doc, {"kind"});
    if (apiVersion != "kubelet.config.k8s.io/v1beta1" && apiVersion != "kubelet.config.k8s.io/v1") {
      return r.err("apiVersion", "expected kubelet.config.k8s.io/v1beta1, got \"" + apiVersion + "\"");
    }
    if (kind != "KubeletConfiguration") {
      return r.err("kind", "expected KubeletConfiguration, got \"" + kind + "\"");
    }
  }
  for (const auto& [k, v] : doc.items()) {
    if (!knownFields().count(k) && warnings) {
      warnings->push_back("kubelet config file " + source + ": unknown field \"" + k + "\" is ignored");
    }
  }

  KubeletConfiguration c;
  RETURN_IF_ERROR(r.str("address", &c.address));
  RETURN_IF_ERROR(r.integer("port", &c.port, 1, 65535));
  RETURN_IF_ERROR(r.integer("healthzPort", &c.healthzPort, 0, 65535));
  RETURN_IF_ERROR(r.boolean("enableServer", &c.enableServer));
  RETURN_IF_ERROR(r.boolean("enableDebuggingHandlers", &c.enableDebuggingHandlers));
  RETURN_IF_ERROR(r.boolean("enableSystemLogHandler", &c.enableSystemLogHandler));
  RETURN_IF_ERROR(r.str("tlsCertFile", &c.tlsCertFile));
  RETURN_IF_ERROR(r.str("tlsPrivateKeyFile", &c.tlsPrivateKeyFile));
  if (c.tlsCertFile.empty() != c.tlsPrivateKeyFile.empty())
    return r.err(c.tlsCertFile.empty() ? "tlsCertFile" : "tlsPrivateKeyFile",
                 "tlsCertFile and tlsPrivateKeyFile must be given together");
  RETURN_IF_ERROR(r.str("tlsMinVersion", &c.tlsMinVersion));
  RETURN_IF_ERROR(r.strList("tlsCipherSuites", &c.tlsCipherSuites));
  for (const char* f : {"authentication", "authentication.anonymous", "authentication.webhook", "authentication.x509",
                        "authorization", "authorization.webhook"})
    RETURN_IF_ERROR(r.object(f));
  RETURN_IF_ERROR(r.boolean("authentication.anonymous.enabled", &c.authentication.anonymous));
  RETURN_IF_ERROR(r.boolean("authentication.webhook.enabled", &c.authentication.webhook));
  RETURN_IF_ERROR(r.duration("authentication.webhook.cacheTTL", &c.authentication.webhookCacheTTL));
  RETURN_IF_ERROR(r.str("authentication.x509.clientCAFile", &c.authentication.clientCAFile));
  RETURN_IF_ERROR(r.str("authorization.mode", &c.authorization.mode));
  if (c.authorization.mode != "Webhook" && c.authorization.mode != "AlwaysAllow")
    return r.err("authorization.mode", "must be Webhook or AlwaysAllow, got \"" + c.authorization.mode + "\"");
  if (c.authorization.mode == "Webhook" && !c.authentication.webhook && c.authentication.clientCAFile.empty() &&
      !c.authentication.anonymous)
    return r.err("authentication", "no way to authenticate: enable anonymous, webhook or x509 authentication");
  RETURN_IF_ERROR(r.duration("authorization.webhook.cacheAuthorizedTTL", &c.authorization.cacheAuthorizedTTL));
  RETURN_IF_ERROR(r.duration("authorization.webhook.cacheUnauthorizedTTL", &c.authorization.cacheUnauthorizedTTL));
  RETURN_IF_ERROR(r.str("healthzBindAddress", &c.healthzBindAddress));
  RETURN_IF_ERROR(r.str("staticPodPath", &c.staticPodPath));
  RETURN_IF_ERROR(r.duration("syncFrequency", &c.syncFrequency));
  // The report frequency follows the update frequency when only the latter is set.
  std::chrono::nanoseconds update{0};
  RETURN_IF_ERROR(r.duration("nodeStatusUpdateFrequency", &update));
  if (update.count() != 0) c.nodeStatusUpdateFrequency = update;
  {
    std::chrono::nanoseconds report{0};
    RETURN_IF_ERROR(r.duration("nodeStatusReportFrequency", &report));
    if (report.count() != 0) {
      c.nodeStatusReportFrequency = report;
    } else if (update.count() != 0) {
      c.nodeStatusReportFrequency = update;
    }
  }
  RETURN_IF_ERROR(r.integer("nodeLeaseDurationSeconds", &c.nodeLeaseDurationSeconds, 1, 1 << 30));
  RETURN_IF_ERROR(r.duration("runtimeRequestTimeout", &c.runtimeRequestTimeout));
  RETURN_IF_ERROR(r.str("containerRuntimeEndpoint", &c.containerRuntimeEndpoint));
  RETURN_IF_ERROR(r.str("imageServiceEndpoint", &c.imageServiceEndpoint));
  RETURN_IF_ERROR(r.str("cgroupDriver", &c.cgroupDriver));
  if (c.cgroupDriver != "cgroupfs" && c.cgroupDriver != "systemd") {
    return r.err("cgroupDriver", "must be cgroupfs or systemd, got \"" + c.cgroupDriver + "\"");
  }
  RETURN_IF_ERROR(r.str("cgroupRoot", &c.cgroupRoot));
  RETURN_IF_ERROR(r.boolean("cgroupsPerQOS", &c.cgroupsPerQOS));
  RETURN_IF_ERROR(r.str("clusterDomain", &c.clusterDomain));
  RETURN_IF_ERROR(r.strList("clusterDNS", &c.clusterDNS));
  RETURN_IF_ERROR(r.str("resolvConf", &c.resolvConf));
  RETURN_IF_ERROR(r.str("configMapAndSecretChangeDetectionStrategy", &c.configMapAndSecretChangeDetectionStrategy));
  if (c.configMapAndSecretChangeDetectionStrategy != "Watch" && c.configMapAndSecretChangeDetectionStrategy != "Cache" &&
      c.configMapAndSecretChangeDetectionStrategy != "Get") {
    return r.err("configMapAndSecretChangeDetectionStrategy",
                 "must be Watch, Cache or Get, got \"" + c.configMapAndSecretChangeDetectionStrategy + "\"");
  }
  RETURN_IF_ERROR(r.integer("maxPods", &c.maxPods, 1, 1 << 20));
  RETURN_IF_ERROR(r.strList("allowedUnsafeSysctls", &c.allowedUnsafeSysctls));
  if (auto allow = pod::SysctlAllowlist::make(c.allowedUnsafeSysctls); !allow.ok()) {
    return r.err("allowedUnsafeSysctls", std::string(allow.status().message()));
  }
  RETURN_IF_ERROR(r.integer("podsPerCore", &c.podsPerCore, 0, 1 << 20));
  RETURN_IF_ERROR(r.str("podCIDR", &c.podCIDR));
  RETURN_IF_ERROR(r.str("providerID", &c.providerID));
  RETURN_IF_ERROR(r.str("podLogsDir", &c.podLogsDir));
  RETURN_IF_ERROR(r.str("containerLogMaxSize", &c.containerLogMaxSize));
  {
    auto q = objects::Quantity::parse(c.containerLogMaxSize);
    if (!q.ok()) return r.err("containerLogMaxSize", std::string(q.status().message()));
    c.containerLogMaxSizeBytes = q->value();
  }
  RETURN_IF_ERROR(r.integer("containerLogMaxFiles", &c.containerLogMaxFiles, INT32_MIN, INT32_MAX));
  if (c.containerLogMaxFiles <= 1) {
    return r.err("containerLogMaxFiles", "must be greater than 1, got " + std::to_string(c.containerLogMaxFiles));
  }
  RETURN_IF_ERROR(r.integer("containerLogMaxWorkers", &c.containerLogMaxWorkers, INT32_MIN, INT32_MAX));
  if (c.containerLogMaxWorkers < 1) {
    return r.err("containerLogMaxWorkers",
                 "must be greater than or equal to 1, got " + std::to_string(c.containerLogMaxWorkers));
  }
  RETURN_IF_ERROR(r.duration("containerLogMonitorInterval", &c.containerLogMonitorInterval));
  if (c.containerLogMonitorInterval < std::chrono::seconds(3)) {
    return r.err("containerLogMonitorInterval", "must be a positive time duration greater than or equal to 3s");
  }
  RETURN_IF_ERROR(r.boolean("registerNode", &c.registerNode));
  RETURN_IF_ERROR(r.strMap("systemReserved", &c.systemReserved));
  RETURN_IF_ERROR(r.strMap("kubeReserved", &c.kubeReserved));
  c.evictionHard = {{"memory.available", "100Mi"}, {"nodefs.available", "10%"}, {"nodefs.inodesFree", "5%"},
                    {"imagefs.available", "15%"}, {"imagefs.inodesFree", "5%"}};
  RETURN_IF_ERROR(r.strMap("evictionHard", &c.evictionHard));
  RETURN_IF_ERROR(r.integer("eventRecordQPS", &c.eventRecordQPS, 0, 1 << 20));
  RETURN_IF_ERROR(r.integer("eventBurst", &c.eventBurst, 0, 1 << 20));
  RETURN_IF_ERROR(r.integer("kubeAPIQPS", &c.kubeAPIQPS, 1, 1 << 20));
  RETURN_IF_ERROR(r.integer("kubeAPIBurst", &c.kubeAPIBurst, 1, 1 << 20));
  RETURN_IF_ERROR(r.boolean("failSwapOn", &c.failSwapOn));
  if (const json* fg = r.get("featureGates")) {
    if (!fg->is_object()) return r.err("featureGates", "expected a mapping of gate names to true/false");
    for (const auto& [k, v] : fg->items()) {
      if (!v.is_boolean()) return r.err("featureGates." + k, "expected true or false, got " + v.dump());
      c.featureGates[k] = v.get<bool>();
    }
  }
  if (const json* taints = r.get("registerWithTaints")) {
    if (!taints->is_array()) return r.err("registerWithTaints", "expected a list of taints");
    for (size_t i = 0; i < taints->size(); ++i) {
      const json& t = (*taints)[i];
      std::string f = "registerWithTaints[" + std::to_string(i) + "]";
      if (!t.is_object() || !t.value("key", json()).is_string() || t["key"].get<std::string>().empty()) {
        return r.err(f + ".key", "required");
      }
      Taint taint{t["key"], objects::str(t, {"value"}), objects::str(t, {"effect"})};
      auto st = validTaintEffect(taint.effect);
      if (!st.ok()) return r.err(f + ".effect", std::string(st.message()));
      c.registerWithTaints.push_back(std::move(taint));
    }
  }
  if (const json* logging = r.get("logging")) {
    if (!logging->is_object()) return r.err("logging", "expected a mapping");
    Reader lr{*logging, source};
    RETURN_IF_ERROR(lr.str("format", &c.loggingFormat));
    if (c.loggingFormat != "text" && c.loggingFormat != "json") {
      return r.err("logging.format", "must be text or json, got \"" + c.loggingFormat + "\"");
    }
    RETURN_IF_ERROR(lr.integer("verbosity", &c.verbosity, 0, 100));
  }
  c.document = std::move(doc);
  return c;
}

absl::StatusOr<Config> loadConfig(const std::vector<std::string>& args) {
  Config cfg;
  json overrides = json::object();
  std::optional<int> verbosity;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      return absl::InvalidArgumentError("unexpected argument \"" + arg + "\": cubelet takes only flags");
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body;
    std::optional<std::string> value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    if (arg[1] != '-' && name != "v" && name != "h") {
      return absl::InvalidArgumentError("unknown shorthand flag: '" + name + "' in " + arg);
    }
    if (name == "h") name = "help";
    auto takeValue = [&](bool isBool) -> absl::StatusOr<std::string> {
      if (value) return *value;
      if (isBool) return std::string("true");
      if (i + 1 >= args.size()) return absl::InvalidArgumentError("flag needs an argument: --" + name);
      return args[++i];
    };

    bool handled = false;
    for (const auto& f : kOwnFlags) {
      if (name != f.flag) continue;
      handled = true;
      ASSIGN_OR_RETURN(std::string v, takeValue(f.isBool));
      auto& o = cfg.flags;
      switch (f.id) {
        case Own::kKubeconfig: o.kubeconfig = v; break;
        case Own::kConfig: o.configFile = v; break;
        case Own::kHostnameOverride: o.hostnameOverride = v; break;
        case Own::kNodeIP: o.nodeIP = v; break;
        case Own::kRootDir: o.rootDir = v; break;
        case Own::kCertDir: o.certDir = v; break;
        case Own::kNodeLabels: {
          auto m = parseKeyValues(v);
          if (!m.ok()) return flagError(name, v, std::string(m.status().message()));
          for (auto& [k, val] : *m) o.nodeLabels[k] = val;
          break;
        }
        case Own::kV: {
          auto n = parseInt(v);
          if (!n.ok() || *n < 0) return flagError(name, v, "must be a non-negative integer");
          verbosity = static_cast<int>(*n);
          break;
        }
        case Own::kVersion: {
          // --version takes an optional value (true, false, raw) in upstream; accept the bool form.
          o.showVersion = v != "false";
          break;
        }
        case Own::kHelp: o.showHelp = v != "false"; break;
        case Own::kPodNetwork:
          if (v != "cubelet-cni" && v != "external") return flagError(name, v, "must be cubelet-cni or external");
          o.podNetwork = v;
          break;
        case Own::kCniBinDir: o.cniBinDir = v; break;
        case Own::kCniConfDir: o.cniConfDir = v; break;
        case Own::kCniPlugin: o.cniPlugin = v; break;
        case Own::kCniDataDir: o.cniDataDir = v; break;
      }
    }
    if (handled) continue;
    for (const auto& f : kConfigFlags) {
      if (name != f.flag) continue;
      handled = true;
      ASSIGN_OR_RETURN(std::string v, takeValue(f.type == Type::kBool));
      ASSIGN_OR_RETURN(json j, flagValueToJson(f, v));
      // Repeated map flags accumulate, like upstream's ConfigurationMap.
      std::string path = f.field;
      if ((f.type == Type::kMapEq || f.type == Type::kMapLt || f.type == Type::kGates) && overrides.contains(path)) {
        overrides[path].update(j);
      } else {
        overrides[path] = j;
      }
    }
    if (handled) continue;
    for (const auto& f : kIgnoredFlags) {
      if (name != f.flag) continue;
      handled = true;
      ASSIGN_OR_RETURN(std::string v, takeValue(f.isBool));
      cfg.warnings.push_back("flag --" + name + " is not implemented by cubelet yet and is ignored");
    }
    if (!handled) return absl::InvalidArgumentError("unknown flag: --" + name);
  }
  if (cfg.flags.showVersion || cfg.flags.showHelp) return cfg;

  json doc = json::object();
  std::string source = "(flags)";
  if (!cfg.flags.configFile.empty()) {
    source = cfg.flags.configFile;
    auto file = readYamlFile(cfg.flags.configFile);
    if (!file.ok()) {
      return absl::InvalidArgumentError("failed to load kubelet config file " + cfg.flags.configFile + ": " +
                                        std::string(file.status().message()));
    }
    if (!file->is_null()) doc = std::move(*file);
    if (!doc.is_object()) {
      return absl::InvalidArgumentError("kubelet config file " + source + ": expected a mapping at the top level");
    }
  }
  for (const auto& [path, v] : overrides.items()) setPath(doc, path, v);
  ASSIGN_OR_RETURN(cfg.kubelet, parseKubeletConfiguration(std::move(doc), source, &cfg.warnings));
  if (verbosity) cfg.kubelet.verbosity = *verbosity;
  if (cfg.flags.certDir.empty()) cfg.flags.certDir = cfg.flags.rootDir + "/pki";
  return cfg;
}

std::string usage() {
  std::string s =
      "Usage: cubelet [flags]\n\n"
      "Cubelet is a node agent that does the kubelet's job; it accepts the upstream kubelet's flags\n"
      "and KubeletConfiguration file. Flags that set a configuration field override the file.\n\n"
      "Flags:\n";
  for (const auto& f : kOwnFlags) s += std::string("  --") + f.flag + "\n";
  for (const auto& f : kConfigFlags) s += std::string("  --") + f.flag + "    (config: " + f.field + ")\n";
  s += "\nAccepted but not implemented yet (a warning is logged):\n";
  for (const auto& f : kIgnoredFlags) s += std::string("  --") + f.flag + "\n";
  return s;
}

}  // namespace cubelet::config
