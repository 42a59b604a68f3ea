#include "kubelet/runtime/pod_config.h"

#include <algorithm>
#include <unordered_map>

#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/runtime/pod_dns.h"
#include "kubelet/runtime/pod_env.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pod_resources.h"
#include "kubelet/runtime/pod_security.h"
#include "kubelet/runtime/pod_spec.h"
#include "kubelet/runtime/pod_strings.h"

namespace cubelet::runtime {
namespace {

using podspec::Container;
using podspec::Pod;


// "pod "ns/name"" for error context, read safely from JSON that may not parse.
std::string podRef(const nlohmann::json& pod) {
  return podstr::cat("pod \"", objects::str(pod, {"metadata", "namespace"}), "/",
                      objects::str(pod, {"metadata", "name"}), "\"");
}

absl::Status inPod(const nlohmann::json& pod, const absl::Status& st) { return annotate(st, podRef(pod)); }

absl::StatusOr<Pod> loadPod(const nlohmann::json& json) {
  auto pod = podspec::parsePod(json);
  if (!pod.ok()) return inPod(json, pod.status());
  podres::applyPodLevelDefaults(*pod);
  return pod;
}

absl::StatusOr<Container> loadContainer(const nlohmann::json& podJson, const Pod& pod,
                                        const nlohmann::json& containerJson) {
  std::string path = podspec::containerPath(podJson, containerJson);
  // hostNetwork defaults hostPort only for regular and init containers.
  const bool hostNetwork = pod.hostNetwork && !path.starts_with("spec.ephemeralContainers");
  auto c = podspec::parseContainer(containerJson, std::move(path), hostNetwork);
  if (!c.ok()) return inPod(podJson, c.status());
  return c;
}

std::string encodePorts(const std::vector<podspec::ContainerPort>& ports) {
  // json.Marshal([]v1.ContainerPort): Go field order, omitempty on all but containerPort.
  std::string out = "[";
  for (size_t i = 0; i < ports.size(); ++i) {
    const podspec::ContainerPort& p = ports[i];
    if (i) out.push_back(',');
    out.push_back('{');
    if (!p.name.empty()) {
      out += "\"name\":";
      gojson::appendString(out, p.name);
      out.push_back(',');
    }
    if (p.hostPort != 0) podstr::append(out, "\"hostPort\":", p.hostPort, ",");
    podstr::append(out, "\"containerPort\":", p.containerPort);
    if (!p.protocol.empty()) {
      out += ",\"protocol\":";
      gojson::appendString(out, p.protocol);
    }
    if (!p.hostIp.empty()) {
      out += ",\"hostIP\":";
      gojson::appendString(out, p.hostIp);
    }
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

uint64_t hashOf(std::string_view name, std::string_view image) {
  // HashContainer: FNV-32a over dump.ForHash(json.Marshal({"image":..., "name":...})); a
  // []byte renders there as "([]uint8)[b0 b1 ...]" in decimal.
  std::string json = "{\"image\":";
  gojson::appendString(json, image);
  json += ",\"name\":";
  gojson::appendString(json, name);
  json += "}";
  std::string spew = "([]uint8)[";
  for (size_t i = 0; i < json.size(); ++i) {
    if (i) spew.push_back(' ');
    podstr::append(spew, static_cast<unsigned>(static_cast<unsigned char>(json[i])));
  }
  spew.push_back(']');
  return gojson::fnv32a(spew);
}

::runtime::v1::Protocol toRuntimeProtocol(std::string_view protocol) {
  if (protocol == "UDP") return ::runtime::v1::UDP;
  if (protocol == "SCTP") return ::runtime::v1::SCTP;
  return ::runtime::v1::TCP;  // TCP, and anything unknown
}

// MakePortMappings for one container: a port whose name (or, unnamed, family, protocol,
// host IP and ports) repeats an earlier one is dropped.
void addPortMappings(const Container& c, ::runtime::v1::PodSandboxConfig& config) {
  std::unordered_map<std::string, bool> seen;
  for (const podspec::ContainerPort& p : c.ports) {
    std::string key = p.name;
    if (key.empty()) {
      std::string family = "any";
      if (!p.hostIp.empty()) {
        auto ip = podenv::parseIp(p.hostIp);
        family = ip && !ip->v4 ? "v6" : "v4";
      }
      key = podstr::cat(family, "-", p.protocol, "-", p.hostIp, ":", p.containerPort, ":", p.hostPort);
    }
    if (!seen.emplace(key, true).second) continue;
    ::runtime::v1::PortMapping* m = config.add_port_mappings();
    m->set_protocol(toRuntimeProtocol(p.protocol));
    m->set_container_port(p.containerPort);
    m->set_host_port(p.hostPort);
    m->set_host_ip(p.hostIp);
  }
}

// A volumeMount of the container is at /etc/hosts: the kubelet leaves the path to it.
bool mountsAtEtcHosts(const Container& c) {
  return std::any_of(c.volumeMounts.begin(), c.volumeMounts.end(),
                     [](const podspec::VolumeMount& m) { return m.mountPath == poddns::kEtcHostsPath; });
}

}  // namespace

std::string_view qosClassName(QosClass qos) {
  switch (qos) {
    case QosClass::kGuaranteed: return "Guaranteed";
    case QosClass::kBurstable: return "Burstable";
    case QosClass::kBestEffort: return "BestEffort";
  }
  return "BestEffort";
}

absl::StatusOr<QosClass> qosClass(const nlohmann::json& pod) {
  ASSIGN_OR_RETURN(Pod p, loadPod(pod));
  return podres::podQos(p);
}

absl::StatusOr<QosClass> computeQosClass(const nlohmann::json& pod) {
  ASSIGN_OR_RETURN(Pod p, loadPod(pod));
  return podres::computeQos(p);
}

absl::StatusOr<ResourceList> podAdmissionRequests(const nlohmann::json& pod) {
  ASSIGN_OR_RETURN(Pod p, loadPod(pod));
  return podres::podRequestsWithOverhead(p);
}

absl::StatusOr<PodCgroupConfig> podCgroupConfig(const nlohmann::json& pod, const NodeSettings& node) {
  ASSIGN_OR_RETURN(Pod p, loadPod(pod));
  return podres::podCgroupConfig(p, node);
}

std::string formatContainerHash(uint64_t hash) { return podstr::cat(podstr::hex(hash)); }

std::string podDescription(const nlohmann::json& pod) {
  return objects::str(pod, {"metadata", "name"}) + "_" + objects::str(pod, {"metadata", "namespace"}) + "(" +
         objects::str(pod, {"metadata", "uid"}) + ")";
}

std::string podLogDirectory(std::string_view podLogsDir, std::string_view ns, std::string_view name,
                            std::string_view uid) {
  return podsec::joinPath(podLogsDir, podstr::cat(ns, "_", name, "_", uid));
}

std::string containerLogPath(std::string_view containerName, int32_t restartCount) {
  return podsec::joinPath(containerName, podstr::cat(restartCount, ".log"));
}

absl::StatusOr<SandboxConfig> makeSandboxConfig(const nlohmann::json& podJson, const NodeSettings& node,
                                                const SandboxOptions& options) {
  ASSIGN_OR_RETURN(Pod pod, loadPod(podJson));
  SandboxConfig out;
  out.runtimeHandler = options.runtimeHandler;
  ::runtime::v1::PodSandboxConfig& config = out.config;

  auto* meta = config.mutable_metadata();
  meta->set_name(pod.name);
  meta->set_namespace_(pod.ns);
  meta->set_uid(pod.uid);
  meta->set_attempt(options.attempt);

  auto& labels = *config.mutable_labels();
  for (const auto& [k, v] : pod.labels) labels[k] = v;
  labels[kPodNameLabel] = pod.name;
  labels[kPodNamespaceLabel] = pod.ns;
  labels[kPodUidLabel] = pod.uid;
  for (const auto& [k, v] : pod.annotations) (*config.mutable_annotations())[k] = v;

  auto dns = poddns::podDnsConfig(pod, node, out.events);
  if (!dns.ok()) return inPod(podJson, dns.status());
  *config.mutable_dns_config() = *std::move(dns);

  if (!pod.hostNetwork) {
    auto hostname = poddns::podHostnameAndDomain(pod, node.clusterDomain);
    if (!hostname.ok()) return inPod(podJson, hostname.status());
    auto kernelName = poddns::nodenameForKernel(hostname->first, hostname->second, pod.setHostnameAsFqdn.value_or(false));
    if (!kernelName.ok()) return inPod(podJson, kernelName.status());
    config.set_hostname(*kernelName);
  }

  config.set_log_directory(podLogDirectory(node.podLogsDir, pod.ns, pod.name, pod.uid));

  for (const Container& c : pod.containers) addPortMappings(c, config);

  auto* lx = config.mutable_linux();
  lx->set_cgroup_parent(options.cgroupParent);
  auto sc = podsec::sandboxSecurityContext(pod, options);
  if (!sc.ok()) return inPod(podJson, sc.status());
  *lx->mutable_security_context() = *std::move(sc);
  for (const auto& [name, value] : pod.securityContext.sysctls) (*lx->mutable_sysctls())[name] = value;
  *lx->mutable_resources() = podres::sandboxResources(pod, node, options.exclusiveCpus);
  *lx->mutable_overhead() = podres::sandboxOverhead(pod, node);
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> containerEnvironment(
    const nlohmann::json& podJson, const nlohmann::json& containerJson, const NodeSettings& node,
    const ContainerOptions& options) {
  ASSIGN_OR_RETURN(Pod pod, loadPod(podJson));
  ASSIGN_OR_RETURN(Container c, loadContainer(podJson, pod, containerJson));
  auto env = podenv::makeEnvironment(pod, c, options, node);
  if (!env.ok()) return inPod(podJson, env.status());
  return env;
}

absl::StatusOr<::runtime::v1::ContainerConfig> makeContainerConfig(const nlohmann::json& podJson,
                                                                   const nlohmann::json& containerJson,
                                                                   const NodeSettings& node,
                                                                   const ContainerOptions& options) {
  ASSIGN_OR_RETURN(Pod pod, loadPod(podJson));
  ASSIGN_OR_RETURN(Container c, loadContainer(podJson, pod, containerJson));

  auto env = podenv::makeEnvironment(pod, c, options, node);
  if (!env.ok()) return inPod(podJson, env.status());

  const podsec::ImageUser user = podsec::imageUser(options.imageUid, options.imageUsername);
  RETURN_IF_ERROR(podsec::verifyRunAsNonRoot(pod, c, user));

  ::runtime::v1::ContainerConfig config;
  config.mutable_metadata()->set_name(c.name);
  config.mutable_metadata()->set_attempt(static_cast<uint32_t>(options.restartCount));
  config.mutable_image()->set_image(options.imageRef);
  config.mutable_image()->set_user_specified_image(c.image);

  // Command and args see the final environment, service variables included.
  std::unordered_map<std::string, std::string> vars(env->begin(), env->end());
  const podenv::Lookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  for (const std::string& s : c.command) config.add_command(podenv::expand(s, lookup));
  for (const std::string& s : c.args) config.add_args(podenv::expand(s, lookup));
  config.set_working_dir(c.workingDir);

  auto& labels = *config.mutable_labels();
  labels[kPodNameLabel] = pod.name;
  labels[kPodNamespaceLabel] = pod.ns;
  labels[kPodUidLabel] = pod.uid;
  labels[kContainerNameLabel] = c.name;

  auto& annotations = *config.mutable_annotations();
  annotations[kContainerHashAnnotation] = formatContainerHash(hashOf(c.name, c.image));
  annotations[kRestartCountAnnotation] = podstr::cat(options.restartCount);
  annotations[kTerminationMessagePathAnnotation] = c.terminationMessagePath;
  annotations[kTerminationMessagePolicyAnnotation] = c.terminationMessagePolicy;
  if (pod.deletionGracePeriodSeconds) {
    annotations[kDeletionGracePeriodAnnotation] = podstr::cat(*pod.deletionGracePeriodSeconds);
  }
  annotations[kTerminationGracePeriodAnnotation] = podstr::cat(pod.terminationGracePeriodSeconds);
  if (c.preStopJson) annotations[kPreStopHandlerAnnotation] = *c.preStopJson;
  if (!c.ports.empty()) annotations[kContainerPortsAnnotation] = encodePorts(c.ports);

  config.set_log_path(containerLogPath(c.name, options.restartCount));
  config.set_stdin(c.stdinOpen);
  config.set_stdin_once(c.stdinOnce);
  config.set_tty(c.tty);

  auto resources = podres::containerResources(pod, c, node, options.exclusiveCpus);
  if (!resources.ok()) return inPod(podJson, resources.status());
  auto sc = podsec::containerSecurityContext(pod, c, node, options);
  if (!sc.ok()) {
    return inPod(podJson, annotate(sc.status(), podstr::cat("container ", gojson::quote(c.name))));
  }
  *config.mutable_linux()->mutable_resources() = *std::move(resources);
  *config.mutable_linux()->mutable_security_context() = *std::move(sc);

  // The volumes, the pod's hosts file, then the termination-message file created by the
  // caller for this instance (the upstream order).
  for (const ContainerMount& vm : options.volumeMounts) {
    ::runtime::v1::Mount* m = config.add_mounts();
    m->set_container_path(vm.containerPath);
    m->set_host_path(vm.hostPath);
    m->set_readonly(vm.readOnly);
    m->set_selinux_relabel(vm.selinuxRelabel && node.selinuxEnabled);
    m->set_propagation(vm.propagation);
  }
  if (!options.etcHostsHostPath.empty() && !mountsAtEtcHosts(c)) {
    ::runtime::v1::Mount* m = config.add_mounts();
    m->set_host_path(podsec::joinPath("/", options.etcHostsHostPath));
    m->set_container_path(std::string(poddns::kEtcHostsPath));
    m->set_selinux_relabel(node.selinuxEnabled);
  }
  if (!options.terminationMessageHostPath.empty() && !c.terminationMessagePath.empty()) {
    ::runtime::v1::Mount* m = config.add_mounts();
    m->set_host_path(podsec::joinPath("/", options.terminationMessageHostPath));
    m->set_container_path(podsec::joinPath("/", c.terminationMessagePath));
    m->set_selinux_relabel(node.selinuxEnabled);
  }
  // In a pod with its own user namespace every mount is ID-mapped into it.
  const auto& userns = config.linux().security_context().namespace_options().userns_options();
  for (::runtime::v1::Mount& m : *config.mutable_mounts()) {
    *m.mutable_uidmappings() = userns.uids();
    *m.mutable_gidmappings() = userns.gids();
  }

  for (const auto& [k, v] : *env) {
    ::runtime::v1::KeyValue* kv = config.add_envs();
    kv->set_key(k);
    kv->set_value(v);
  }
  return config;
}

absl::StatusOr<bool> usesManagedHostsFile(const nlohmann::json& podJson, const nlohmann::json& containerJson,
                                          const std::vector<std::string>& podIps) {
  ASSIGN_OR_RETURN(Pod pod, loadPod(podJson));
  ASSIGN_OR_RETURN(Container c, loadContainer(podJson, pod, containerJson));
  // A pod on the node's network needs no IP of its own for it (upstream since v1.32).
  return (pod.hostNetwork || !podIps.empty()) && !mountsAtEtcHosts(c);
}

absl::StatusOr<std::string> managedHostsFile(const nlohmann::json& podJson, const NodeSettings& node,
                                             const std::vector<std::string>& podIps, std::string_view nodeHosts) {
  ASSIGN_OR_RETURN(Pod pod, loadPod(podJson));
  if (auto st = poddns::validateHostAliases(pod.hostAliases); !st.ok()) return inPod(podJson, st);
  // The hostname is worked out (and must be valid) for host-network pods too, though unused.
  auto hostname = poddns::podHostnameAndDomain(pod, node.clusterDomain);
  if (!hostname.ok()) return inPod(podJson, hostname.status());
  if (pod.hostNetwork) return poddns::hostNetworkHostsFile(nodeHosts, pod.hostAliases);
  return poddns::podNetworkHostsFile(podIps, hostname->first, hostname->second, pod.hostAliases);
}

std::optional<std::string> resolvConfLimitsWarning(std::string_view path, const absl::StatusOr<std::string>& content,
                                                   std::string_view clusterDomain) {
  return poddns::resolvConfWarning(path, content, clusterDomain);
}

absl::Status verifyRunAsNonRoot(const nlohmann::json& podJson, const nlohmann::json& containerJson,
                                std::optional<int64_t> imageUid, std::string_view imageUsername) {
  ASSIGN_OR_RETURN(Pod pod, loadPod(podJson));
  ASSIGN_OR_RETURN(Container c, loadContainer(podJson, pod, containerJson));
  return podsec::verifyRunAsNonRoot(pod, c, podsec::imageUser(imageUid, imageUsername));
}

absl::StatusOr<uint64_t> containerHash(const nlohmann::json& container) {
  if (!container.is_object()) {
    return absl::InvalidArgumentError(podstr::cat("container: expected an object, got ", container.type_name()));
  }
  std::string fields[2];
  const char* keys[2] = {"name", "image"};
  for (int i = 0; i < 2; ++i) {
    const nlohmann::json* v = objects::find(container, {keys[i]});
    if (!v || v->is_null()) continue;
    if (!v->is_string()) {
      return absl::InvalidArgumentError(podstr::cat("container ", keys[i], ": expected a string, got ", v->type_name()));
    }
    fields[i] = v->get<std::string>();
  }
  return hashOf(fields[0], fields[1]);
}

std::vector<std::string> expandProbeCommand(const nlohmann::json& command, const nlohmann::json& container) {
  std::unordered_map<std::string, std::string> values;
  for (const auto& e : objects::array(container, {"env"})) {
    values[objects::str(e, {"name"})] = objects::str(e, {"value"});
  }
  std::vector<std::string> out;
  if (!command.is_array()) return out;
  for (const auto& part : command) {
    if (!part.is_string()) continue;
    out.push_back(podenv::expand(part.get<std::string>(), [&](std::string_view name) -> std::optional<std::string> {
      auto it = values.find(std::string(name));
      if (it == values.end()) return std::nullopt;
      return it->second;
    }));
  }
  return out;
}

}  // namespace cubelet::runtime
