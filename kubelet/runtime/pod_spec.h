// Internal to pod_config: a typed, API-defaulted view of the pod fields the CRI configs are
// built from. Parsing checks every type once (InvalidArgument naming the field path), so the
// logic in pod_*.cc works on plain values. Not a general Pod model: only what pod_config
// reads is kept, and the raw JSON remains the source of truth for everything else.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kubelet/objects/quantity.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::runtime::podspec {

struct ResourceRequirements {
  ResourceList requests;
  ResourceList limits;
};

struct SeLinuxOptions {
  std::string user, role, type, level;
};

// seccompProfile / appArmorProfile: {type, localhostProfile}.
struct ProfileRef {
  std::string type;
  std::optional<std::string> localhostProfile;
};

struct Capabilities {
  std::vector<std::string> add, drop;
};

// v1.SecurityContext (container level); also the "effective" merge with the pod's.
struct SecurityContext {
  std::optional<Capabilities> capabilities;
  std::optional<bool> privileged;
  std::optional<SeLinuxOptions> seLinuxOptions;
  std::optional<int64_t> runAsUser, runAsGroup;
  std::optional<bool> runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation;
  std::optional<std::string> procMount;
  std::optional<ProfileRef> seccompProfile, appArmorProfile;
};

struct PodSecurityContext {
  std::optional<SeLinuxOptions> seLinuxOptions;
  std::optional<std::string> fsGroupChangePolicy;
  std::optional<int64_t> runAsUser, runAsGroup, fsGroup;
  std::optional<bool> runAsNonRoot;
  std::vector<int64_t> supplementalGroups;
  std::optional<std::string> supplementalGroupsPolicy;
  std::vector<std::pair<std::string, std::string>> sysctls;
  std::optional<ProfileRef> seccompProfile, appArmorProfile;
};

struct EnvVarSource {
  enum class Kind { kNone, kFieldRef, kResourceFieldRef, kConfigMapKeyRef, kSecretKeyRef, kFileKeyRef };
  Kind kind = Kind::kNone;
  // fieldRef
  std::string apiVersion, fieldPath;
  // resourceFieldRef
  std::string containerName, resource;
  std::optional<objects::Quantity> divisor;
  // configMapKeyRef / secretKeyRef (name, key); fileKeyRef (volumeName in name, path, key)
  std::string name, key, path;
  bool optional = false;
};

struct EnvVar {
  std::string name;
  std::string value;
  std::optional<EnvVarSource> valueFrom;
};

struct EnvFromSource {
  enum class Kind { kNone, kConfigMap, kSecret };
  Kind kind = Kind::kNone;
  std::string prefix, name;
  bool optional = false;
};

struct ContainerPort {
  std::string name;
  int32_t hostPort = 0;
  int32_t containerPort = 0;
  std::string protocol = "TCP";
  std::string hostIp;
};

// volumeMounts[].
struct VolumeMount {
  std::string name, mountPath, subPath, subPathExpr;
  bool readOnly = false;
  std::optional<std::string> mountPropagation, recursiveReadOnly;
};

struct Container {
  std::string path;  // where it was read from, for messages: spec.containers[0]
  std::string name, image, workingDir;
  std::vector<std::string> command, args;
  std::vector<ContainerPort> ports;
  std::vector<EnvFromSource> envFrom;
  std::vector<EnvVar> env;
  ResourceRequirements resources;
  std::optional<std::string> restartPolicy;
  bool stdinOpen = false, stdinOnce = false, tty = false;
  std::string terminationMessagePath = "/dev/termination-log";
  std::string terminationMessagePolicy = "File";
  std::optional<SecurityContext> securityContext;
  // lifecycle.preStop, re-encoded the way Go's json.Marshal writes a v1.LifecycleHandler.
  std::optional<std::string> preStopJson;
  // In order (whether one is at /etc/hosts decides the hosts mount).
  std::vector<VolumeMount> volumeMounts;
};

// configMap / secret items[] and projections.
struct KeyToPath {
  std::string key, path;
  std::optional<int32_t> mode;
};

// The configMap or secret of a volume or projection (secret.secretName is read into name).
struct ObjectVolumeSource {
  std::string name;
  std::vector<KeyToPath> items;
  std::optional<int32_t> defaultMode;  // volumes only (a projection uses the volume's)
  bool optional = false;
};

// downwardAPI items[]: a fieldRef or resourceFieldRef (kind) written at path.
struct DownwardApiFile {
  std::string path;
  std::optional<int32_t> mode;
  EnvVarSource ref;
};

// projected.sources[].
struct VolumeProjection {
  enum class Kind { kConfigMap, kSecret, kDownwardApi, kServiceAccountToken, kOther };
  Kind kind = Kind::kOther;
  ObjectVolumeSource object;          // configMap, secret
  std::vector<DownwardApiFile> files;  // downwardAPI
  // serviceAccountToken
  std::string audience, tokenPath;
  int64_t expirationSeconds = 3600;
  std::string other;  // the source's key when it is none of the above
};

// spec.volumes[]: the types the node agent sets up itself; any other is kOther with its key.
struct Volume {
  enum class Type { kEmptyDir, kHostPath, kConfigMap, kSecret, kDownwardApi, kProjected, kOther };
  std::string path;  // spec.volumes[0], for messages
  std::string name;
  Type type = Type::kOther;
  std::string other;  // the volume source's key for kOther ("" when there is none)
  // emptyDir
  std::string medium;
  std::optional<objects::Quantity> sizeLimit;
  // hostPath
  std::string hostPath, hostPathType;
  // configMap, secret
  ObjectVolumeSource object;
  // downwardAPI, projected
  std::vector<DownwardApiFile> files;
  std::vector<VolumeProjection> sources;
  std::optional<int32_t> defaultMode;  // downwardAPI, projected (configMap/secret: in object)
};

struct DnsConfigOption {
  std::string name;
  std::optional<std::string> value;
};

// spec.hostAliases[]: lines for the pod's managed /etc/hosts.
struct HostAlias {
  std::string ip;
  std::vector<std::string> hostnames;
};

struct PodDnsConfig {
  std::vector<std::string> nameservers, searches;
  std::vector<DnsConfigOption> options;
};

struct Pod {
  std::string name, ns, uid;
  std::map<std::string, std::string> labels, annotations;
  std::optional<int64_t> deletionGracePeriodSeconds;

  std::string nodeName, serviceAccountName, hostname, subdomain, priorityClassName;
  std::string dnsPolicy = "ClusterFirst";
  std::optional<std::string> hostnameOverride;
  std::optional<bool> setHostnameAsFqdn, shareProcessNamespace, hostUsers;
  bool hostNetwork = false, hostPid = false, hostIpc = false;
  std::optional<PodDnsConfig> dnsConfig;
  std::vector<HostAlias> hostAliases;
  int64_t terminationGracePeriodSeconds = 30;
  std::optional<int32_t> priority;
  PodSecurityContext securityContext;
  std::optional<ResourceRequirements> resources;  // spec.resources (pod level)
  std::optional<ResourceList> overhead;
  std::vector<Container> containers, initContainers, ephemeralContainers;
  std::vector<Volume> volumes;

  std::string qosClass;  // status.qosClass
};

// Reads the pod (metadata, spec, status.qosClass) with API defaults applied.
absl::StatusOr<Pod> parsePod(const nlohmann::json& pod);

// Reads one container; `path` prefixes error messages ("spec.containers[0]").
absl::StatusOr<Container> parseContainer(const nlohmann::json& container, std::string path,
                                         bool hostNetwork);

// Where `container` sits in `pod` (spec.containers[i], spec.initContainers[i],
// spec.ephemeralContainers[i]) when it is one of the pod's objects; else
// `container "<name>"`.
std::string containerPath(const nlohmann::json& pod, const nlohmann::json& container);

// "<name>_<namespace>(<uid>)", the kubelet's format.Pod.
std::string podDescription(const Pod& pod);

// Quantity from an apiserver JSON value (a string, or a bare number).
absl::StatusOr<objects::Quantity> parseQuantityJson(const nlohmann::json& value, std::string_view path);

}  // namespace cubelet::runtime::podspec
