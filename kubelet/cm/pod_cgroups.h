// The kubelet's cgroup tree for pods (pkg/kubelet/cm: node allocatable, QoS and pod cgroups),
// on top of the Kubernetes-agnostic cgroups/ library:
//
//   <cgroupRoot>/kubepods                 cpu shares and memory limit of node allocatable
//   <cgroupRoot>/kubepods/burstable       cpu shares = the Burstable pods' cpu requests
//   <cgroupRoot>/kubepods/besteffort      cpu shares = 2
//   .../pod<uid>                          the pod's limits (ResourceConfigForPod); Guaranteed
//                                         pods sit directly under kubepods
//
// The runtime gets the pod cgroup as the sandbox's cgroup parent and puts the sandbox and the
// containers below it. Names follow the cgroupfs driver; a systemd driver would map the same
// tree to slices (kubepods-burstable-pod<uid>.slice) behind the same interface.
//
// Thread-safety: all methods may be called from several threads (the Burstable shares are
// guarded by a mutex); calls for one pod are serialized by its pod worker.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cgroups/cgroups.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::cm {

struct PodCgroupsOptions {
  // cgroupRoot of the KubeletConfiguration ("" and "/" are the hierarchy root).
  std::string cgroupRoot = "/";
  // Node allocatable enforced on kubepods (capacity minus system and kube reservations;
  // eviction thresholds are not taken off). nullopt leaves the value alone.
  std::optional<int64_t> allocatableMilliCpu;
  std::optional<int64_t> allocatableMemoryBytes;
};

class PodCgroups {
 public:
  PodCgroups(cgroups::Manager& manager, PodCgroupsOptions opts);

  // Creates kubepods and its QoS children with their settings.
  absl::Status init();
  // The pod cgroup's path relative to the hierarchy root, with a leading "/", as the CRI
  // cgroup_parent: "/kubepods/burstable/pod<uid>".
  std::string podCgroupName(const std::string& uid, runtime::QosClass qos) const;
  // Creates (or updates) the pod cgroup with `config` and refreshes the Burstable shares;
  // returns the cgroup parent for the sandbox.
  absl::StatusOr<std::string> ensurePod(const std::string& uid, const runtime::PodCgroupConfig& config);
  // Removes the pod's cgroup once nothing runs in it (FailedPrecondition while something
  // does); forgets its cpu request.
  absl::Status removePod(const std::string& uid);
  // UIDs of the pod cgroups present under the QoS tree.
  absl::StatusOr<std::vector<std::string>> podUids() const;
  // `rel` under the cgroup root: the root-relative path without a leading "/".
  std::string join(const std::string& rel) const;

 private:
  absl::Status updateBurstableShares();

  cgroups::Manager& manager_;
  PodCgroupsOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::pair<runtime::QosClass, int64_t>> pods_;  // guarded by mu_: uid -> qos, cpu request
  bool burstableStale_ = false;  // guarded by mu_: the last update of the Burstable shares failed
};

}  // namespace cubelet::cm
