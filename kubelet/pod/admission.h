// Pod admission on the node, as the upstream kubelet's predicate admit handler decides it: a
// pod bound here is rejected (and goes Failed with the reason) when it names another node,
// wants another OS, does not fit the node's allocatable resources or pod count next to the
// pods already admitted, does not match the node's labels (nodeSelector, required node
// affinity), or asks for a host port another pod holds. Pure: the caller supplies the Node
// object as the apiserver has it and the active pods.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubelet/pod/sysctl_allowlist.h"

namespace cubelet::pod {

struct Rejection {
  std::string reason;   // the event reason and status.reason: "OutOfcpu", "NodeAffinity" ...
  std::string message;  // the event message; the pod's status.message is "Pod was rejected: " + message
};

struct AdmissionInput {
  std::string nodeName;
  // The Node object (labels, status.allocatable); empty while unknown, then only the node
  // name, the OS and the pod count are checked.
  nlohmann::json node;
  int maxPods = 110;  // used when the node has no allocatable "pods"
  // Pods admitted before and still active (not Succeeded/Failed), without the new one.
  std::vector<std::shared_ptr<const nlohmann::json>> activePods;
  // The sysctls pods may set; null: not checked.
  const SysctlAllowlist* sysctls = nullptr;
};

// nullopt when the pod is admitted; else the first failed check, in upstream order.
std::optional<Rejection> admitPod(const nlohmann::json& pod, const AdmissionInput& in);

// Whether `node` satisfies the pod's nodeSelector and required node affinity terms.
bool matchesNodeSelectorAndAffinity(const nlohmann::json& pod, const nlohmann::json& node);

}  // namespace cubelet::pod
