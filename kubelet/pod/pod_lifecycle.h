// The pod syncer the workers call: admission, runtime sync, status, termination; plus the
// PLEG relist and housekeeping that keep the runtime and the desired pods in step.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>

#include "kubelet/api/events.h"
#include "kubelet/cm/pod_cgroups.h"
#include "kubelet/pod/admission.h"
#include "kubelet/pod/pod_manager.h"
#include "kubelet/pod/pod_workers.h"
#include "kubelet/pod/status_manager.h"
#include "kubelet/runtime/pod_runtime.h"

namespace cubelet::pod {

struct LifecycleOptions {
  std::string nodeName;
  int maxPods = 110;
  // The Node object as last seen from the apiserver (for admission); may return an empty
  // object while it is unknown.
  std::function<json()> node;
  // The pod cgroup tree, when the kubelet manages one (cgroupsPerQOS): housekeeping removes
  // the cgroups of pods that are gone.
  cm::PodCgroups* podCgroups = nullptr;
  // Mirror pods of static pods in the apiserver: create one (returns the created object),
  // delete one (grace 0, its UID as precondition). Unset without an apiserver (standalone):
  // static pods then have no mirrors.
  std::function<absl::StatusOr<json>(const json& mirror)> createMirror;
  std::function<absl::Status(const json& mirror)> deleteMirror;
  // The runtime's network error ("" when NetworkReady): while set, pods that need the pod
  // network are not started (hostNetwork pods are), as upstream.
  std::function<std::string()> networkError;
  // Whether every pod source delivered its pods (the apiserver's first list): orphaned pod
  // directories are removed only then. Unset: always.
  std::function<bool()> podSourcesReady;
  // The sysctls pods may set (the safe ones and allowedUnsafeSysctls); null: not checked.
  std::shared_ptr<const SysctlAllowlist> sysctls;
};

class PodLifecycle : public PodSyncer {
 public:
  PodLifecycle(LifecycleOptions opts, runtime::PodRuntime& rt, StatusManager& status, PodManager& manager,
               api::EventRecorder& events)
      : opts_(std::move(opts)), rt_(rt), status_(status), manager_(manager), events_(events) {}

  SyncResult syncPod(const json& pod) override;

  // A pod's start-up breakdown (kubelet_pod_start_phase_duration_seconds and, at -v=4, one
  // log line per pod): the runtime reports its steps (PodRuntimeOptions::onPhase), the status
  // manager each write (StatusManager::setOnSent). The first write of a status with all
  // containers running adds "status_write" and reports the pod's phases, once.
  void addPhase(const std::string& uid, const char* phase, std::chrono::steady_clock::duration d);
  void statusSent(const std::string& uid, const json& status, std::chrono::steady_clock::duration waited);
  absl::Status killPod(const json& pod, std::optional<int64_t> gracePeriodSeconds) override;

  // PLEG: relists the runtime every `period` and calls `changed(uid)` for pods whose
  // sandboxes or containers changed state.
  void runPleg(std::stop_token stop, std::chrono::milliseconds period,
               const std::function<void(const std::string&)>& changed);
  // Removes what the runtime holds for pods that are neither desired nor being worked on,
  // and forgets finished lanes.
  void housekeeping(PodWorkers& workers);

 private:
  // Admission of a pod not seen before: nullopt, or the upstream reason and message.
  std::optional<Rejection> admit(const json& pod);
  // Brings the static pod's mirror in line (deletes an outdated or deleted one, creates a
  // missing one; the PodManager then holds it). False when an apiserver call failed or the
  // Node is not known yet: the pod should be synced again soon.
  bool syncMirror(const json& pod);
  // Sends the status to the apiserver object that shows the pod (a static pod's mirror).
  void setStatus(const json& pod, const json& status);
  // Deletes mirror pods whose static pod is gone.
  void deleteOrphanedMirrors();
  // The pod start metrics, once per pod, when all its containers first run.
  void recordStartup(const json& pod, const json& status);

  LifecycleOptions opts_;
  runtime::PodRuntime& rt_;
  StatusManager& status_;
  PodManager& manager_;
  api::EventRecorder& events_;
  std::mutex mu_;
  std::set<std::string> admitted_;            // guarded by mu_
  std::map<std::string, std::string> prints_;  // PLEG thread only: uid -> runtime fingerprint
  int housekeepingRounds_ = 0;                 // housekeeping thread only
  struct Startup {
    std::optional<std::chrono::steady_clock::time_point> firstSeen;
    bool recorded = false;
    std::string name;                      // namespace/name, for the breakdown line
    std::map<std::string, double> phases;  // seconds by phase, until reported
    bool phasesReported = false;
  };
  std::mutex startupMu_;
  std::map<std::string, Startup> startups_;     // guarded by startupMu_
  std::atomic<bool> firstNetworkPodRecorded_{false};
};

}  // namespace cubelet::pod
