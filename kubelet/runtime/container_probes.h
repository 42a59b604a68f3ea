// What PodRuntime needs from the container prober (kubelet/prober's ProbeManager implements
// it): probe results per container instance, and the running containers of each pod after a
// sync so the prober probes exactly those. Kept here, below the prober library, so the
// runtime does not depend on it.
//
// Thread-safety: implementations are called from the pod workers concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cubelet::runtime {

enum class ProbeKind { kLiveness, kReadiness, kStartup };

// A liveness or startup probe that failed failureThreshold times in a row: the container must
// be killed (and restarted per the restart policy).
struct ProbeFailure {
  ProbeKind probe = ProbeKind::kLiveness;
  // The probe's own terminationGracePeriodSeconds, when set.
  std::optional<int64_t> terminationGracePeriodSeconds;
};

// A container instance that runs now.
struct RunningContainer {
  std::string name;
  std::string id;          // CRI container id
  int64_t startedAt = 0;   // unix nanoseconds (the runtime's startedAt)
};

class ContainerProbes {
 public:
  virtual ~ContainerProbes() = default;

  // The readiness result of a container instance: nullopt while none is known (a container
  // with a readinessProbe is then not ready).
  virtual std::optional<bool> ready(const std::string& containerId) const = 0;
  // Whether the startup probe succeeded: nullopt while none is known (not started yet when
  // the container has a startupProbe).
  virtual std::optional<bool> started(const std::string& containerId) const = 0;
  // A liveness or startup probe failed for good.
  virtual std::optional<ProbeFailure> failed(const std::string& containerId) const = 0;

  // After a pod sync: the pod and the containers that run now (in the pod's current sandbox)
  // with the pod IP. Probes start for new instances and stop for instances not listed.
  virtual void setRunning(const nlohmann::json& pod, const std::string& podIp,
                          const std::vector<RunningContainer>& running) = 0;
  // The pod is being stopped or is gone: its probes stop and their results are forgotten.
  virtual void removePod(const std::string& podUid) = 0;
};

}  // namespace cubelet::runtime
