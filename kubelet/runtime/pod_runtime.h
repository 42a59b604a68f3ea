// The kubelet's runtime manager ("kuberuntime") for one pod at a time: reads what the runtime
// holds for a pod (sandboxes and containers, found by the io.kubernetes.pod.uid label),
// brings it in line with the pod spec (sandbox, image pulls by policy, create/start, restart
// policy with crash-loop back-off), stops it with a grace period, and computes the pod status
// the apiserver should see.
//
// Thread-safety: calls for different pods may run concurrently; calls for one pod are
// serialized by the pod workers. Internal back-off state is guarded by a mutex.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubelet/api/events.h"
#include "kubelet/runtime/container_probes.h"
#include "kubelet/runtime/cri_client.h"
#include "kubelet/runtime/pod_config.h"
#include "kubelet/runtime/pull_secrets.h"
#include "kubelet/volume/volume_manager.h"

namespace cubelet::runtime {

using nlohmann::json;

// One container as the runtime reports it.
struct ContainerRecord {
  std::string id;
  std::string name;
  std::string sandboxId;
  v1::ContainerState state = v1::CONTAINER_UNKNOWN;
  int32_t restartCount = 0;  // the attempt number the kubelet gave it
  int64_t createdAt = 0, startedAt = 0, finishedAt = 0;  // unix nanoseconds
  int32_t exitCode = 0;
  std::string reason, message;
  std::string image, imageRef;
  std::string hash;
  // For an exited container: the message it left at its terminationMessagePath, or with
  // FallbackToLogsOnError and a failed exit the tail of its log.
  std::string terminationMessage;
};

struct SandboxRecord {
  std::string id;
  uint32_t attempt = 0;
  bool ready = false;
  int64_t createdAt = 0;
  std::vector<std::string> ips;
};

// Everything the runtime holds for a pod, newest first.
struct PodRuntimeState {
  std::vector<SandboxRecord> sandboxes;
  std::vector<ContainerRecord> containers;
  const ContainerRecord* latest(const std::string& name) const {
    for (const auto& c : containers)
      if (c.name == name) return &c;
    return nullptr;
  }
};

// Why a container is not running, for its waiting state.
struct Waiting {
  std::string reason;
  std::string message;
};

struct SyncOutcome {
  std::map<std::string, Waiting> waiting;  // by container name
  // The earliest moment a back-off ends: the pod should be synced again then.
  std::optional<std::chrono::milliseconds> retryAfter;
  absl::Status error;  // a failure worth a retry with back-off (the status is still written)
  // The sync changed something in the runtime: its state must be read again for the status.
  bool changed = false;

  void retryNoLaterThan(std::chrono::milliseconds d) {
    if (!retryAfter || d < *retryAfter) retryAfter = d;
  }
};

struct PodRuntimeOptions {
  NodeSettings node;
  // Called before a container is removed (the log manager deletes its log and rotated
  // files, as upstream's removeContainerLog does).
  std::function<void(const std::string& containerId)> beforeRemoveContainer;
  // Makes the pod's cgroup and returns it as the sandbox's cgroup parent (the pod cgroup
  // manager); unset: let the runtime decide.
  std::function<absl::StatusOr<std::string>(const json& pod)> cgroupParent;
  // node.status.allocatable as last seen (resourceFieldRef limits default to it); nullopt
  // while unknown.
  std::function<std::optional<ResourceList>()> nodeAllocatable;
  // <root-dir>/pods: per-pod directories (termination message files, the managed hosts file
  // <uid>/etc-hosts); empty: none made, and containers get no managed hosts file.
  std::string podsDir;
  // The node's hosts file: a host-network pod's managed hosts file is built on it.
  std::string nodeHostsPath = "/etc/hosts";
  // The KubeletConfiguration's resolvConf file. When set it is read again for every sandbox
  // config, as upstream reads it for every pod, and replaces node.resolvConf; a file that
  // cannot be read fails the sandbox config (FailedCreatePodSandBox). Empty: node.resolvConf
  // is used as it is.
  std::string resolvConfPath;
  // Reads a ConfigMap (namespace, name), for configMapKeyRef / envFrom; unset: such
  // references are a CreateContainerConfigError.
  std::function<absl::StatusOr<json>(const std::string& ns, const std::string& name)> getConfigMap;
  // The service environment variables for a pod's containers (ServiceStore::envFor with its
  // namespace, spec.enableServiceLinks and whether it is a static pod); an error is a
  // CreateContainerConfigError. Unset: no service variables.
  std::function<absl::StatusOr<std::map<std::string, std::string>>(const json& pod)> serviceEnv;
  // Reads a RuntimeClass (node.k8s.io/v1) by name, for spec.runtimeClassName; unset: pods
  // naming one wait with FailedCreatePodSandBox.
  std::function<absl::StatusOr<json>(const std::string& name)> getRuntimeClass;
  // Reads a Secret (namespace, name) from the apiserver, for imagePullSecrets; unset: pulls
  // go without credentials.
  std::function<absl::StatusOr<json>(const std::string& ns, const std::string& name)> getSecret;
  // Container probes (the ProbeManager); unset: probes are ignored, every running
  // container is started and ready. With it: containerStatuses[].started/ready follow the
  // startup and readiness probes, a failed liveness/startup probe kills the container (then
  // the restart policy applies), and sync/kill keep the prober's workers in step.
  ContainerProbes* probes = nullptr;
  // The volume manager: a pod's volumes are set up before its sandbox and mounted into its
  // containers. Unset: pods with volumes wait (FailedMount), as nothing can set them up.
  volume::VolumeManager* volumes = nullptr;
  std::chrono::seconds backoffInitial{10};
  std::chrono::seconds backoffMax{300};
  // Told how long each start-up step of a pod took, by pod UID: "cgroups" (the pod cgroup),
  // "volumes" (set-up), "sandbox" (RunPodSandbox and its status), "image" (the check or the
  // pull), "create" (the container's config, files and CreateContainer) and "start"
  // (StartContainer), for every attempt and container. Unset: not measured.
  std::function<void(const std::string& uid, const char* phase, std::chrono::steady_clock::duration)> onPhase;
};

class PodRuntime {
 public:
  PodRuntime(CriClient& cri, api::EventRecorder& events, PodRuntimeOptions opts);

  absl::StatusOr<PodRuntimeState> state(const std::string& uid);
  // All pod UIDs the runtime holds sandboxes or containers for.
  absl::StatusOr<std::vector<std::string>> podUids();
  // Per pod UID, a string that changes whenever one of its sandboxes or containers changes
  // state (two list calls in all; the PLEG relist).
  absl::StatusOr<std::map<std::string, std::string>> fingerprints();

  // Follows the runtime's GetContainerEvents stream until `stop`, calling `changed(uid)` for
  // the pod of each event (the evented PLEG). Returns the stream's error: Unimplemented from
  // runtimes without it (containerd before 1.7), then the relist alone notices changes.
  absl::Status watchEvents(std::stop_token stop, const std::function<void(const std::string& uid)>& changed);

  SyncOutcome sync(const json& pod, const PodRuntimeState& state);
  // Tells the prober which of the pod's containers run now (after a sync, with the state read
  // after it), so their probes start or stop. No-op without a prober.
  void trackProbes(const json& pod, const PodRuntimeState& state);
  // Stops the pod's probes, then its containers (grace period) and its sandboxes. OK when all
  // are stopped.
  absl::Status kill(const json& pod, int64_t gracePeriodSeconds);
  // Unmounts and removes a stopped pod's volumes (once all its containers are stopped).
  absl::Status tearDownVolumes(const std::string& uid);
  // The span from the first image pull of the pod's containers starting to the last one
  // ending (zero without pulls); the pod start SLI leaves it out. forgetPulls drops it.
  std::chrono::nanoseconds imagePullSpan(const std::string& uid);
  void forgetPulls(const std::string& uid);
  // Removes a stopped pod's containers and sandboxes (after it left the apiserver), its
  // volumes and its directory.
  absl::Status remove(const std::string& uid);
  // Removes the directories (and volumes) of pods not in `live`: what a crash or a deletion
  // while the agent was down left behind. Returns how many it removed.
  int cleanupOrphanedPodDirs(const std::function<std::set<std::string>()>& live);
  // Dead-container GC (the upstream defaults: MaxPerPodContainer 1, no minimum age): of the
  // exited instances of each pod's container only the newest stays (for lastState and
  // `logs --previous`); of a pod's sandboxes that are not ready, only the newest one stays,
  // and only while no container refers to an older one. Returns how many it removed.
  absl::StatusOr<int> collectGarbage();

  // The pod status for the apiserver. `previous` is the last status (for start time and
  // condition transition times).
  json buildStatus(const json& pod, const PodRuntimeState& state, const SyncOutcome& outcome, const json& previous,
                   std::chrono::system_clock::time_point now) const;

 private:
  // Reports the phase that began at `since` to opts_.onPhase.
  void phaseDone(const json& pod, const char* phase, std::chrono::steady_clock::time_point since) const;
  struct Backoff {
    std::chrono::steady_clock::time_point until;
    std::chrono::seconds period{0};
    std::chrono::steady_clock::time_point lastUpdate;
  };
  // Returns the remaining back-off for `key`, or nullopt when free to go.
  std::optional<std::chrono::milliseconds> backoffRemaining(const std::string& key);
  void backoffNext(const std::string& key);

  // For an exited container that should restart: the remaining crash-loop back-off (and
  // the CrashLoopBackOff waiting reason and BackOff event in `out`), or nullopt when it may
  // restart now (the next back-off period then starts).
  std::optional<std::chrono::milliseconds> crashLoopRemaining(const json& pod, const std::string& name,
                                                              const ContainerRecord& exited, SyncOutcome* out);
  // The image, present or pulled per the container's pull policy (one ImageStatus when present).
  absl::StatusOr<v1::Image> ensureImage(const json& pod, const json& container, const SandboxConfig& sandbox,
                                          Waiting* waiting, std::optional<std::chrono::milliseconds>* retry);
  void forgetExitMessage(const std::string& containerId);
  // A running app container or sidecar is started once its startup probe succeeded (at once
  // without one); a started sidecar lets the next init container start.
  bool containerStarted(const json& container, const ContainerRecord& r) const;
  // Stops the pod's running sidecars, last declared first, each with what is left of
  // `gracePeriodSeconds` counted from `since`. Returns whether it stopped any.
  bool stopSidecars(const json& pod, const PodRuntimeState& state, int64_t gracePeriodSeconds,
                    std::chrono::steady_clock::time_point since, absl::Status* firstError);
  // The credentials of the pod's imagePullSecrets, in order; secrets that cannot be read or
  // parsed are skipped with a FailedToRetrieveImagePullSecret event.
  std::vector<PullCredential> pullCredentials(const json& pod);
  // Writes the pod's managed hosts file when `container` gets it (usesManagedHostsFile) and
  // returns its path; "" when the container gets none.
  absl::StatusOr<std::string> ensureHostsFile(const json& pod, const json& container,
                                              const std::vector<std::string>& podIps);
  // The CRI mounts of the container's volumeMounts (subPath binds made), from the volumes
  // the pod's sync set up.
  absl::StatusOr<std::vector<ContainerMount>> volumeMounts(const json& pod, const json& container,
                                                          const ContainerOptions& co);
  // `targetContainerId`: for an ephemeral container with targetContainerName, the running
  // target whose PID namespace it joins.
  absl::Status startContainer(const json& pod, const json& container, const SandboxRecord& sandbox,
                              const SandboxConfig& sandboxConfig, int32_t restartCount, Waiting* waiting,
                              std::optional<std::chrono::milliseconds>* retry, bool* created,
                              const std::string& targetContainerId = "");
  // startContainer for a sync: on failure the container waits (with its own reason, else
  // `waitingReason`), and the retry time and first error go to `out`. Returns success.
  bool startInto(const json& pod, const json& container, const SandboxRecord& sandbox,
                 const SandboxConfig& sandboxConfig, int32_t restartCount, const char* waitingReason, SyncOutcome& out,
                 const std::string& targetContainerId = "");
  // Starts the ephemeral containers that never ran (they are never restarted), in the sandbox.
  void startEphemeralContainers(const json& pod, const PodRuntimeState& state, const SandboxRecord& sandbox,
                                const SandboxConfig& sandboxConfig, SyncOutcome& out);
  absl::Status killContainer(const json& pod, const ContainerRecord& c, int64_t grace, const std::string& why,
                             const std::string& podIp = "");
  // For a running container the prober failed (liveness or startup): the Killing message and
  // the grace period upstream uses; nullopt when no probe failed.
  struct ProbeKill {
    std::string message;
    int64_t grace = 30;
  };
  std::optional<ProbeKill> probeKill(const json& pod, const json& container, const ContainerRecord& c,
                                     bool restart) const;
  // After `killed` was killed for a probe: the crash-loop back-off left of the instance that
  // exited before it in the same sandbox (it is restarted at once when none or none left).
  std::optional<std::chrono::milliseconds> probeRestartBackoff(const json& pod, const PodRuntimeState& state,
                                                               const ContainerRecord& killed, SyncOutcome* out);
  api::ObjectRef podRef(const json& pod, const std::string& container = "") const;

  CriClient& cri_;
  api::EventRecorder& events_;
  PodRuntimeOptions opts_;
  std::mutex mu_;
  std::map<std::string, Backoff> backoff_;  // guarded by mu_
  // Termination messages of exited containers by container ID: an exited container's file
  // and log no longer change, so each is read once, not at every sync. Guarded by mu_;
  // entries go with the container (remove, garbage collection).
  std::map<std::string, std::string> exitMessages_;
  // The volumes each pod's last sync set up, for its containers' mounts. Guarded by mu_.
  std::map<std::string, std::map<std::string, volume::MountedVolume>> mounted_;
  // Pods whose last volume set-up failed: their next attempt sets the volumes up before
  // making a sandbox, so a volume that keeps failing does not make and remove one each time.
  std::set<std::string> volumesFailed_;  // guarded by mu_
  // Per pod UID: when its first pull started and its last pull ended. Guarded by mu_.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::chrono::steady_clock::time_point>> pulls_;
};

// The pod phase from its containers' statuses (upstream getPhase rules).
std::string podPhase(const json& pod, const json& containerStatuses,
                     const json& initContainerStatuses = json::array());

}  // namespace cubelet::runtime
