// Pod -> CRI configuration, the way the upstream kubelet's kuberuntime manager builds it:
// the PodSandboxConfig for RunPodSandbox and the ContainerConfig for CreateContainer.
//
// Everything here is a pure function of its inputs: no I/O, no clocks, no globals. Facts the
// upstream kubelet reads from the host or the apiserver (resolv.conf, hugepage sizes, node
// allocatable, image user, cgroup parent, RuntimeClass handler) are inputs.
//
// Input pods are the apiserver's JSON (nlohmann::json). They are read as the kubelet sees
// them after API defaulting: a field the apiserver would have defaulted is defaulted here
// when absent (dnsPolicy ClusterFirst, terminationGracePeriodSeconds 30, port protocol TCP,
// hostPort = containerPort under hostNetwork, requests = limits where only limits are set,
// terminationMessagePath /dev/termination-log, fieldRef apiVersion v1 ...), so a hand-written
// or static pod gives the same result as the same pod read back from the apiserver.
//
// Errors (absl::Status, message names the pod, the container and the field):
//  - InvalidArgument: malformed JSON (a field of the wrong type or out of range), or values
//    the upstream kubelet rejects at this stage (bad hostname, unsupported fieldPath ...).
//  - FailedPrecondition: the container cannot be configured yet; the message is suitable as
//    the CreateContainerConfigError waiting message (runAsNonRoot violations, env sources
//    whose objects are not available, hostUsers: false without user-namespace mappings).
// Malformed input never throws.
//
// Feature gates are those of Kubernetes v1.37 at their defaults (PodLevelResources on,
// MemoryQoS / DefaultPodSysctls / ContainerStopSignals / CPUCFSQuotaPeriod off, user
// namespaces GA).
//
// All functions are thread-safe (they share no state).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cri-api/api.pb.h"
#include "kubelet/objects/quantity.h"

namespace cubelet::runtime {

// Label and annotation keys the kubelet writes on sandboxes and containers
// (k8s.io/kubelet/pkg/types, kuberuntime labels.go). After a restart the runtime manager
// reads them back to rebuild its view.
inline constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
inline constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
inline constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
inline constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";
inline constexpr char kContainerHashAnnotation[] = "io.kubernetes.container.hash";
inline constexpr char kRestartCountAnnotation[] = "io.kubernetes.container.restartCount";
inline constexpr char kTerminationMessagePathAnnotation[] = "io.kubernetes.container.terminationMessagePath";
inline constexpr char kTerminationMessagePolicyAnnotation[] = "io.kubernetes.container.terminationMessagePolicy";
inline constexpr char kPreStopHandlerAnnotation[] = "io.kubernetes.container.preStopHandler";
inline constexpr char kContainerPortsAnnotation[] = "io.kubernetes.container.ports";
inline constexpr char kDeletionGracePeriodAnnotation[] = "io.kubernetes.pod.deletionGracePeriod";
inline constexpr char kTerminationGracePeriodAnnotation[] = "io.kubernetes.pod.terminationGracePeriod";

// "<name>_<namespace>(<uid>)", the kubelet's format.Pod, read safely from the pod's JSON.
std::string podDescription(const nlohmann::json& pod);

// A resource name ("cpu", "memory", "hugepages-2Mi" ...) to amount, as in a ResourceList.
using ResourceList = std::map<std::string, objects::Quantity, std::less<>>;

// ----------------------------------------------------------------------------------------
// QoS class (k8s.io/kubernetes/pkg/apis/core/v1/helper/qos).

enum class QosClass { kGuaranteed, kBurstable, kBestEffort };

// "Guaranteed", "Burstable", "BestEffort".
std::string_view qosClassName(QosClass qos);

// The pod's QoS class as the kubelet uses it (GetPodQOS): status.qosClass when the apiserver
// set it, computed from the spec otherwise.
absl::StatusOr<QosClass> qosClass(const nlohmann::json& pod);

// The QoS class computed from the spec alone (ComputePodQOS): from pod-level resources when
// spec.resources sets cpu, memory or hugepages; otherwise from every init and regular
// container: BestEffort when none sets cpu/memory requests or limits, Guaranteed when all set
// both with requests == limits, Burstable otherwise.
absl::StatusOr<QosClass> computeQosClass(const nlohmann::json& pod);

// ----------------------------------------------------------------------------------------
// Node-wide settings: the kubelet configuration and host facts every config depends on.

struct NodeSettings {
  // --node-ip values; the first one's family orders pod IPs for status.podIP, and without a
  // resolv.conf each gives the pod a loopback nameserver of its family.
  std::vector<std::string> nodeIps;
  // clusterDomain and clusterDNS of the KubeletConfiguration.
  std::string clusterDomain;
  std::vector<std::string> clusterDns;
  // Content of the file named by resolvConf (default /etc/resolv.conf); nullopt when
  // resolvConf is "" (the pod then gets localhost as nameserver and search ".").
  std::optional<std::string> resolvConf = std::string();
  // podLogsDir of the KubeletConfiguration.
  std::string podLogsDir = "/var/log/pods";
  // cpuCFSQuota of the KubeletConfiguration: whether limits become cpu_quota.
  bool cpuCfsQuota = true;
  // The host runs the unified cgroup v2 hierarchy.
  bool cgroupV2 = false;
  // singleProcessOOMKill of the KubeletConfiguration (defaulted); false on cgroup v2 adds
  // memory.oom.group=1.
  bool singleProcessOomKill = true;
  // The memory controller accounts swap (cgroup v1 memsw / v2 memory.swap.max); then
  // containers get NoSwap limits (the only swap behaviour supported here).
  bool swapControllerAvailable = false;
  // seccompDefault of the KubeletConfiguration and the localhost profile root
  // (<root-dir>/seccomp).
  bool seccompDefault = false;
  std::string seccompProfileRoot = "/var/lib/kubelet/seccomp";
  // Machine memory capacity in bytes, for Burstable oom_score_adj. Must be > 0 when a
  // Burstable container is configured.
  int64_t memoryCapacity = 0;
  // Hugepage sizes the host supports, as runc names them ("2MB", "1GB"), in the order found
  // under /sys/kernel/mm/hugepages. Every container gets a limit for each (0 by default).
  std::vector<std::string> hugePageSizes;
  // Masked paths present on this host besides the fixed defaults (upstream adds
  // /sys/devices/system/cpu/cpu<N>/thermal_throttle for each possible CPU where it exists).
  std::vector<std::string> extraMaskedPaths;
  // SELinux is enabled on the host (the termination-log mount is relabeled).
  bool selinuxEnabled = false;
};

// ----------------------------------------------------------------------------------------
// Sandbox (generatePodSandboxConfig).

struct SandboxOptions {
  // Attempt number: 0 for the first sandbox, previous attempt + 1 after that.
  uint32_t attempt = 0;
  // The pod's cgroup, computed by the container manager (GetPodCgroupParent).
  std::string cgroupParent;
  // The RuntimeClass handler for spec.runtimeClassName ("" for the default runtime).
  std::string runtimeHandler;
  // Supplemental groups from the pod's persistent volumes (pv.beta.kubernetes.io/gid).
  std::vector<int64_t> extraSupplementalGroups;
  // User-namespace mappings allocated for a pod with spec.hostUsers: false. Required then;
  // ignored otherwise (the pod uses the node's user namespace).
  std::optional<::runtime::v1::UserNamespace> userNamespace;
  // The pod has exclusive CPUs (static CPU manager): no CFS quota for the sandbox.
  bool exclusiveCpus = false;
};

// An event the upstream kubelet records while building a config (always type Warning).
struct PodEvent {
  std::string reason;   // "DNSConfigForming", "MissingClusterDNS"
  std::string message;
};

struct SandboxConfig {
  ::runtime::v1::PodSandboxConfig config;
  std::string runtimeHandler;     // for RunPodSandboxRequest.runtime_handler
  std::vector<PodEvent> events;   // to record on the pod
};

// Builds the RunPodSandbox config:
//  - metadata name/namespace/uid/attempt; labels = pod labels + io.kubernetes.pod.{name,
//    namespace,uid}; annotations = the pod's annotations as they are (the upstream pod
//    source adds kubernetes.io/config.source and kubernetes.io/config.seen to the pod
//    before this point; so must ours);
//  - hostname (not for hostNetwork pods): spec.hostnameOverride, else spec.hostname, else
//    the pod name, cut to 63 characters; <hostname>.<subdomain>.<ns>.svc.<domain> with
//    setHostnameAsFQDN (an error above 64 characters);
//  - log_directory <podLogsDir>/<ns>_<name>_<uid>;
//  - dns_config by dnsPolicy and spec.dnsConfig, cut to the resolver limits;
//  - port_mappings: every port of every regular container (hostPort 0 included, as upstream);
//  - linux: cgroup_parent, sysctls, sandbox security context (namespaces, run_as_user/group,
//    supplemental groups, SELinux, seccomp always RuntimeDefault, privileged when any
//    container is), resources from the pod's aggregated requests/limits and the overhead.
absl::StatusOr<SandboxConfig> makeSandboxConfig(const nlohmann::json& pod, const NodeSettings& node,
                                                const SandboxOptions& options = {});

// ----------------------------------------------------------------------------------------
// Container (generateContainerConfig).

// Lookups of the objects env sources refer to, in the pod's namespace. Each returns the
// object's data, NotFound when it does not exist, or another error. Unset functions make
// such references fail with FailedPrecondition.
struct EnvObjectSources {
  std::function<absl::StatusOr<std::map<std::string, std::string>>(const std::string& name)>
      configMap;
  // Secret data, already base64-decoded.
  std::function<absl::StatusOr<std::map<std::string, std::string>>(const std::string& name)>
      secret;
};

// A volume mount of a container, resolved by the volume manager (subPath bound, read-only
// and propagation worked out).
struct ContainerMount {
  std::string containerPath;  // absolute
  std::string hostPath;
  bool readOnly = false;
  bool selinuxRelabel = false;
  ::runtime::v1::MountPropagation propagation = ::runtime::v1::PROPAGATION_PRIVATE;
};

struct ContainerOptions {
  // Restart count: the attempt, the log file name and the restartCount annotation.
  int32_t restartCount = 0;
  // The resolved image reference (ImageStatus / PullImage result) for ImageSpec.image.
  std::string imageRef;
  // The image user from ImageStatus: uid when numeric, username otherwise. With neither,
  // the image runs as root (uid 0), as upstream assumes.
  std::optional<int64_t> imageUid;
  std::string imageUsername;
  // Pod IPs as the sandbox reported them (host IPs for hostNetwork pods).
  std::vector<std::string> podIps;
  // The node's IPs (status.hostIP / status.hostIPs); an env var that needs them fails
  // with FailedPrecondition while empty.
  std::vector<std::string> hostIps;
  // node.status.allocatable; limits default to it for resourceFieldRef env vars, which
  // fail with FailedPrecondition while it is unknown.
  std::optional<ResourceList> nodeAllocatable;
  // Service environment variables (FOO_SERVICE_HOST ...), appended after the container's own
  // and visible to $(VAR) expansion.
  std::map<std::string, std::string> serviceEnv;
  EnvObjectSources envSources;
  // Host path of the termination-message file created for this container instance; when
  // set (and terminationMessagePath is not empty) it is mounted at terminationMessagePath.
  std::string terminationMessageHostPath;
  // The container's volume mounts in its volumeMounts order; they come first in the CRI
  // config, before the hosts file and the termination-message file.
  std::vector<ContainerMount> volumeMounts;
  // Host path of the pod's managed hosts file (<root-dir>/pods/<uid>/etc-hosts), written by
  // the caller when usesManagedHostsFile() said so; when set it is mounted at /etc/hosts,
  // read-write, relabeled when SELinux is on, unless a volumeMount of the container is there.
  std::string etcHostsHostPath;
  // For an ephemeral container targeting another container: that container's ID; the
  // container then joins its PID namespace (mode TARGET) when the pod does not share one.
  std::string targetContainerId;
  // As in SandboxOptions.
  std::vector<int64_t> extraSupplementalGroups;
  std::optional<::runtime::v1::UserNamespace> userNamespace;
  // The container has exclusive CPUs (static CPU manager): cpu_quota -1.
  bool exclusiveCpus = false;
};

// Builds the CreateContainer config for `container`, one of the pod's containers,
// initContainers or ephemeralContainers (the JSON object, ideally a reference into `pod`
// so errors can name its index):
//  - metadata name + attempt, image {imageRef, user_specified_image}, command/args with
//    $(VAR) expansion, working_dir, envs (value with $(VAR) expansion, fieldRef,
//    resourceFieldRef, configMapKeyRef/secretKeyRef/envFrom through `envSources`);
//  - labels io.kubernetes.{container.name,pod.name,pod.namespace,pod.uid}; annotations
//    io.kubernetes.container.{hash,restartCount,terminationMessagePath,
//    terminationMessagePolicy,preStopHandler,ports}, io.kubernetes.pod.{terminationGracePeriod,
//    deletionGracePeriod};
//  - log_path <name>/<restartCount>.log, stdin/stdin_once/tty;
//  - linux.resources: cpu_shares, cpu_period/cpu_quota, memory_limit_in_bytes, oom_score_adj
//    by QoS class, hugepage limits;
//  - linux.security_context: effective pod+container security context (users, groups,
//    capabilities as written in the pod, privileged, readonly rootfs, no_new_privs only
//    when allowPrivilegeEscalation is false, seccomp, AppArmor, masked/readonly paths);
//  - mounts: the volume mounts, the managed hosts file (etcHostsHostPath), then the
//    termination-message file,
//    each with the pod's user-namespace ID mappings when it has its own user namespace.
// Checks runAsNonRoot first (see verifyRunAsNonRoot).
absl::StatusOr<::runtime::v1::ContainerConfig> makeContainerConfig(const nlohmann::json& pod,
                                                                   const nlohmann::json& container,
                                                                   const NodeSettings& node,
                                                                   const ContainerOptions& options);

// The container's environment as makeContainerConfig builds it (for subPathExpr expansion).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> containerEnvironment(
    const nlohmann::json& pod, const nlohmann::json& container, const NodeSettings& node,
    const ContainerOptions& options);

// The runAsNonRoot check of the upstream kubelet, given the image user from ImageStatus
// (uid when numeric, else username; neither means root). OK unless runAsNonRoot is true
// for the container and it would run as uid 0, under a non-numeric image user, or under an
// invalid uid; the error (FailedPrecondition) carries the upstream message, e.g.
// `container has runAsNonRoot and image will run as root (pod: "web_default(uid)",
// container: app)`.
absl::Status verifyRunAsNonRoot(const nlohmann::json& pod, const nlohmann::json& container,
                                std::optional<int64_t> imageUid, std::string_view imageUsername);

// ----------------------------------------------------------------------------------------
// The pod's managed /etc/hosts (makeMounts, makeHostsMount, ensureHostsFile).

// The file's name in the pod's directory: <root-dir>/pods/<uid>/etc-hosts.
inline constexpr char kEtcHostsFileName[] = "etc-hosts";

// Whether the kubelet gives `container` (one of the pod's containers, init containers or
// ephemeral containers) the managed hosts file: when the pod uses the node's network or has
// IPs (`podIps`, as the sandbox reported them), and none of the container's volumeMounts
// has mountPath /etc/hosts (exactly that string). The sandbox itself never gets it.
absl::StatusOr<bool> usesManagedHostsFile(const nlohmann::json& pod, const nlohmann::json& container,
                                          const std::vector<std::string>& podIps);

// The content of the pod's managed hosts file, byte for byte the upstream kubelet's (lines
// end in "\n", fields are separated by one tab):
//  - on the pod network: "# Kubernetes-managed hosts file.", the loopback lines (127.0.0.1
//    localhost, ::1 and the fe00:: ip6 names), then per pod IP in `podIps` order
//    "<ip> <hostname>.<domain> <hostname>" when the pod has a subdomain, else
//    "<ip> <hostname>" (hostname and domain as for the sandbox's hostname);
//  - on the node's network: "# Kubernetes-managed hosts file (host network).", then
//    `nodeHosts` (the node's /etc/hosts, read by the caller) exactly as it is;
//  - then, with spec.hostAliases: an empty line, "# Entries added by HostAliases." and one
//    line per alias, "<ip> <hostname1> <hostname2> ...".
// InvalidArgument for a bad hostname/subdomain or a malformed alias (an ip that is not an
// IP address, a hostname that is not a DNS-1123 subdomain), naming the field.
absl::StatusOr<std::string> managedHostsFile(const nlohmann::json& pod, const NodeSettings& node,
                                             const std::vector<std::string>& podIps, std::string_view nodeHosts);

// ----------------------------------------------------------------------------------------
// The node's resolv.conf (CheckLimitsForResolvConf).

// The warning the upstream kubelet records on its Node (Warning, reason
// CheckLimitsForResolvConf) when it starts, about the resolv.conf at `path` (its content, or
// the error reading it, which is the message then): a parse error, more search domains
// than a ClusterFirst pod has room for beside the cluster's three (32, or 29 with a
// `clusterDomain`), a search path over 253 characters, or a search line over 2048
// characters. nullopt when there is nothing to say.
std::optional<std::string> resolvConfLimitsWarning(std::string_view path, const absl::StatusOr<std::string>& content,
                                                   std::string_view clusterDomain);

// The io.kubernetes.container.hash value (as a number; the annotation is lowercase hex,
// unpadded). It is the upstream kubelet's HashContainer, bit for bit: FNV-32a over Go's
// spew rendering of the JSON {"image":...,"name":...}. Only name and image take part, so the
// hash changes exactly when the container must be replaced, and a node moved from the
// upstream kubelet to Cubelet keeps its running containers.
absl::StatusOr<uint64_t> containerHash(const nlohmann::json& container);
// The hash as the annotation holds it: lowercase hex, unpadded.
std::string formatContainerHash(uint64_t hash);

// The command of an exec probe with $(VAR) references expanded from the container's `env`
// entries alone, each by its `value` (an entry with valueFrom counts as empty; the last of
// a repeated name wins), as upstream's ExpandContainerCommandOnlyStatic: probes do not see
// values from the downward API, ConfigMaps or Secrets. Non-string entries are skipped.
std::vector<std::string> expandProbeCommand(const nlohmann::json& command, const nlohmann::json& container);

// ----------------------------------------------------------------------------------------
// Pod-level resources: admission and the pod cgroup.

// What the pod asks of the node for admission (resource.PodRequests): the sum over regular
// containers and sidecars, at least any init container's peak, pod-level requests where
// set, plus spec.overhead.
absl::StatusOr<ResourceList> podAdmissionRequests(const nlohmann::json& pod);

// The pod cgroup's settings (cm.ResourceConfigForPod with CFS quota enforcement as
// `node.cpuCfsQuota` says). Guaranteed pods get shares, quota and a memory limit;
// Burstable pods shares, plus quota / memory limit only when every container declares a
// cpu / memory limit (or the pod-level limit is set); BestEffort pods only the minimum
// shares (2). Overhead is included.
struct PodCgroupConfig {
  QosClass qos = QosClass::kBestEffort;
  uint64_t cpuShares = 2;
  std::optional<int64_t> cpuQuotaUs;  // -1: unlimited
  std::optional<uint64_t> cpuPeriodUs;
  std::optional<int64_t> memoryLimitBytes;
  // Hugepage size as the kernel names it ("2MB", "1GB") -> bytes, from hugepages-* requests.
  std::map<std::string, int64_t> hugepageLimits;
  // The pod's cpu request in millicores (the Burstable QoS cgroup's shares are their sum).
  int64_t cpuRequestMilli = 0;
};
absl::StatusOr<PodCgroupConfig> podCgroupConfig(const nlohmann::json& pod, const NodeSettings& node);

// <podLogsDir>/<namespace>_<name>_<uid>
std::string podLogDirectory(std::string_view podLogsDir, std::string_view ns, std::string_view name,
                            std::string_view uid);
// <containerName>/<restartCount>.log, relative to the pod's log directory.
std::string containerLogPath(std::string_view containerName, int32_t restartCount);

}  // namespace cubelet::runtime
