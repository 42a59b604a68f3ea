// The volume manager: sets up a pod's volumes before its sandbox starts, resolves each
// container's volumeMounts into CRI mounts, and tears the volumes down once the pod's
// containers are all stopped.
//
// Layout under <root-dir>/pods/<uid> (0750 dirs, as upstream):
//   volumes/kubernetes.io~empty-dir/<vol>      emptyDir (0777; a tmpfs for medium Memory)
//   volumes/kubernetes.io~configmap/<vol>      configMap (on disk)
//   volumes/kubernetes.io~secret/<vol>         secret (tmpfs)
//   volumes/kubernetes.io~downward-api/<vol>   downwardAPI (tmpfs)
//   volumes/kubernetes.io~projected/<vol>      projected, e.g. kube-api-access-xxxxx (tmpfs)
//   volume-subpaths/<vol>/<container>/<index>  subPath binds
// hostPath volumes have no directory: the runtime binds the host path itself.
//
// configMap, secret, downwardAPI and projected volumes are published with the atomic writer
// and set up again at every sync of the pod, so changes to the objects (and to the pod's
// labels and annotations) reach running containers; nothing is written when nothing changed.
//
// Failures are per volume: a Warning FailedMount event
// `MountVolume.SetUp failed for volume "<vol>" : <error>` and an exponential back-off for that
// volume (500 ms doubling up to 2 min 2 s), as upstream's operation executor.
//
// Thread-safety: calls for different pods may run concurrently; calls for one pod are
// serialized by the pod workers (housekeeping calls tearDown only for pods no worker has).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kubelet/api/events.h"
#include "kubelet/runtime/pod_config.h"
#include "kubelet/volume/atomic_writer.h"
#include "kubelet/volume/object_source.h"
#include "kubelet/volume/token_manager.h"

namespace cubelet::volume {

using nlohmann::json;

// A set-up volume as containers mount it.
struct MountedVolume {
  std::string hostPath;
  bool readOnly = false;        // always mounted read-only (configMap, secret, downwardAPI, projected)
  bool selinuxRelabel = false;  // a volume the kubelet manages (everything but hostPath)
};

struct VolumeManagerOptions {
  std::string podsDir;  // <root-dir>/pods
  ObjectSource* configMaps = nullptr;  // unset: configMap volumes and projections fail
  ObjectSource* secrets = nullptr;
  // TokenRequests for serviceAccountToken projections (the TokenManager); unset: they fail.
  std::function<absl::StatusOr<Token>(const TokenRequestSpec&)> token;
  // Drops the pod's cached tokens (when it is torn down).
  std::function<void(const std::string& podUid)> forgetTokens;
  // node.status.allocatable as last seen (resourceFieldRef defaults, tmpfs sizes).
  std::function<std::optional<runtime::ResourceList>()> nodeAllocatable;
  runtime::NodeSettings node;
  // tmpfs "noswap" (kernel 6.4 and later).
  bool tmpfsNoswap = true;
  std::chrono::milliseconds backoffInitial{500};
  std::chrono::milliseconds backoffMax{122000};
};

struct SetUpResult {
  std::map<std::string, MountedVolume> volumes;  // by volume name, every volume set up
  // The first failure (FailedMount already recorded); OK when every volume is ready.
  absl::Status error;
  std::optional<std::chrono::milliseconds> retryAfter;  // when a failed volume may be tried again
};

class VolumeManager {
 public:
  VolumeManager(api::EventRecorder& events, VolumeManagerOptions opts);

  // Sets up every volume of the pod (idempotent; atomic-writer volumes are refreshed) and
  // registers the configMaps and secrets it references (volumes and env) with the sources.
  SetUpResult setUp(const json& pod);

  // The CRI mounts of `container` (one of the pod's containers) over the volumes setUp
  // returned: subPath / subPathExpr bound under volume-subpaths, read-only and propagation
  // worked out. `env` expands subPathExpr. Errors carry the upstream messages (the caller
  // reports them as CreateContainerConfigError).
  absl::StatusOr<std::vector<runtime::ContainerMount>> containerMounts(
      const json& pod, const json& container, const std::map<std::string, MountedVolume>& volumes,
      const std::vector<std::pair<std::string, std::string>>& env);

  // Unmounts and removes everything of the pod's volumes (subPath binds first), forgets its
  // objects and tokens. Only for a pod whose containers are all stopped. Works from what is
  // on disk, so it also cleans up after a crash. OK when there was nothing.
  absl::Status tearDown(const std::string& podUid);

  // Pod directories under podsDir whose UID is not in `live()` (pods that are wanted, being
  // worked on, or known to the runtime; asked after the directories were listed): their
  // volumes are torn down and the directory removed. Returns how many it removed.
  int cleanupOrphans(const std::function<std::set<std::string>()>& live);

  std::string podDir(const std::string& uid) const { return opts_.podsDir + "/" + uid; }

 private:
  struct VolumeState {
    std::unique_ptr<AtomicWriter> writer;
    std::chrono::steady_clock::time_point retryAt;
    std::chrono::milliseconds backoff{0};
  };
  struct PodState {
    std::map<std::string, VolumeState> volumes;
  };

  api::EventRecorder& events_;
  VolumeManagerOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<PodState>> pods_;  // guarded by mu_

  std::shared_ptr<PodState> podState(const std::string& uid);
  class SetUpRun;
};

// The data of a configMap (`data`, then `binaryData` decoded) or, with `secret`, of a Secret
// (`data` decoded); a value that is not base64 is InvalidArgument naming `what` and the key.
absl::StatusOr<std::map<std::string, std::string>> objectData(const json& obj, bool secret, const std::string& what);

// Kernel 6.4 and later take tmpfs "noswap".
bool kernelSupportsTmpfsNoswap();

}  // namespace cubelet::volume
