// Internal to pod_config: QoS class, pod resource aggregation and the CRI
// LinuxContainerResources of sandboxes and containers (k8s.io/component-helpers/resource,
// pkg/kubelet/qos, kuberuntime_container_linux.go, kuberuntime_sandbox_linux.go).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kubelet/runtime/pod_config.h"
#include "kubelet/runtime/pod_spec.h"

namespace cubelet::runtime::podres {

// The apiserver's pod-level defaulting (defaultHugePagePodLimits, defaultPodRequests): with
// spec.resources partly set, missing pod-level hugepage limits come from the containers'
// and missing pod-level requests from the containers' (cpu, memory) or the pod's limits.
void applyPodLevelDefaults(podspec::Pod& pod);

QosClass computeQos(const podspec::Pod& pod);
// status.qosClass when it names a class, else computeQos.
QosClass podQos(const podspec::Pod& pod);

// spec.resources sets requests or limits of cpu, memory or hugepages-*.
bool podLevelResourcesSet(const podspec::Pod& pod);
bool podLevelRequestsSet(const podspec::Pod& pod);
bool podLevelLimitsSet(const podspec::Pod& pod);

// Sum over regular containers and restartable init containers, at least the peak of any
// init container (plus the sidecars started before it): the scheduler's formula.
ResourceList aggregateContainerRequests(const podspec::Pod& pod);
ResourceList aggregateContainerLimits(const podspec::Pod& pod);
// The above with pod-level values replacing them where set; overhead excluded.
ResourceList podRequests(const podspec::Pod& pod);
ResourceList podLimits(const podspec::Pod& pod);

// podRequests plus spec.overhead (resource.PodRequests as admission uses it).
ResourceList podRequestsWithOverhead(const podspec::Pod& pod);
// cm.ResourceConfigForPod.
PodCgroupConfig podCgroupConfig(const podspec::Pod& pod, const NodeSettings& node);

// cm.MilliCPUToShares / cm.MilliCPUToQuota.
int64_t milliCpuToShares(int64_t milliCpu);
int64_t milliCpuToQuota(int64_t milliCpu, int64_t period);

// calculateLinuxResources: shares from the request (from the limit when there is no request),
// quota/period from the limit when cpuCfsQuota, memory limit when non-zero.
::runtime::v1::LinuxContainerResources linuxResources(const objects::Quantity* cpuRequest,
                                                      const objects::Quantity& cpuLimit,
                                                      const objects::Quantity& memoryLimit,
                                                      bool disableCpuQuota, const NodeSettings& node);

// The sandbox's resources (pod requests/limits without overhead) and its overhead.
::runtime::v1::LinuxContainerResources sandboxResources(const podspec::Pod& pod, const NodeSettings& node,
                                                        bool exclusiveCpus);
::runtime::v1::LinuxContainerResources sandboxOverhead(const podspec::Pod& pod, const NodeSettings& node);

// qos.GetContainerOOMScoreAdjust. InvalidArgument when a Burstable pod meets an unknown
// (non-positive) memory capacity.
absl::StatusOr<int64_t> oomScoreAdjust(const podspec::Pod& pod, const podspec::Container& container,
                                       int64_t memoryCapacity);

// A limit per host hugepage size: the container's (or the pod's) hugepages-<size> limit, else 0.
std::vector<::runtime::v1::HugepageLimit> hugepageLimits(const podspec::Pod& pod,
                                                         const podspec::Container& container,
                                                         const std::vector<std::string>& hostSizes);

// generateLinuxContainerResources.
absl::StatusOr<::runtime::v1::LinuxContainerResources> containerResources(const podspec::Pod& pod,
                                                                          const podspec::Container& container,
                                                                          const NodeSettings& node,
                                                                          bool exclusiveCpus);

}  // namespace cubelet::runtime::podres
