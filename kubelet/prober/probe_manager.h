// Container probing for the whole node, with the semantics of the upstream kubelet's probe
// workers (pkg/kubelet/prober worker.go) but without a thread per probe: one scheduler
// thread keeps the probes in time order and hands the due ones to a small fixed pool.
//
// A worker is one probe (liveness, readiness or startup) of one running container instance:
//  - workers follow setRunning(): a new container ID (a restart) gets fresh workers and
//    results, a container no longer listed loses its workers; nothing probes a container
//    that does not run;
//  - results start at readiness Failure, liveness Success, startup Unknown;
//  - the first probe comes initialDelaySeconds after the container started, then one every
//    periodSeconds; a result is published after successThreshold / failureThreshold equal
//    results in a row; an errored probe (the handler could not run) counts nothing;
//  - until the startup probe succeeded, liveness and readiness do not run (the container is
//    not started, hence not ready); the startup worker then stops;
//  - a liveness failure, or a startup probe reaching either threshold, holds the worker
//    until the container is replaced;
//  - a pod being deleted gets no more liveness/startup probes (they read Success);
//  - probes of containers adopted right after the manager started wait a random part of
//    their period first, as upstream does after a kubelet restart (startupJitter).
// Every change of a published result calls onChange(podUid) (cubelet syncs the pod then);
// Unhealthy / ProbeWarning events go to the EventRecorder on the container's fieldPath.
//
// Thread-safety: all public methods may be called from any thread. onChange is called from
// the pool threads without the manager's lock held. start()/stop() once each.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubelet/api/events.h"
#include "kubelet/prober/prober.h"
#include "kubelet/runtime/container_probes.h"

namespace cubelet::prober {

struct ProbeManagerOptions {
  // Threads that run probes. A probe holds one for up to its timeoutSeconds (an exec probe
  // for as long as the runtime takes), so few suffice for many containers.
  int workerThreads = 4;
  // Called when a published result changes, with the pod's UID.
  std::function<void(const std::string& podUid)> onChange;
  // Spread the first probes of containers found running within one period of start().
  bool startupJitter = true;
  // The length of one second of probe timing (initialDelaySeconds, periodSeconds); tests
  // shorten it. Handler timeouts (timeoutSeconds) are always real seconds.
  std::chrono::milliseconds second{1000};
};

class ProbeManager final : public runtime::ContainerProbes {
 public:
  ProbeManager(ProbeRunner& prober, api::EventRecorder& events, ProbeManagerOptions options);
  ~ProbeManager() override;
  ProbeManager(const ProbeManager&) = delete;
  ProbeManager& operator=(const ProbeManager&) = delete;

  // Starts the scheduler and the pool. Workers registered before run from then on.
  void start();
  // From now on nothing is probed and the results of probes in flight are dropped (no
  // events either); does not wait. For shutdown before in-flight CRI calls are cancelled.
  void requestStop();
  // requestStop(), then waits for the threads (the probes in flight to return).
  void stop();

  // runtime::ContainerProbes
  std::optional<bool> ready(const std::string& containerId) const override;
  std::optional<bool> started(const std::string& containerId) const override;
  std::optional<runtime::ProbeFailure> failed(const std::string& containerId) const override;
  void setRunning(const nlohmann::json& pod, const std::string& podIp,
                  const std::vector<runtime::RunningContainer>& running) override;
  void removePod(const std::string& podUid) override;

  // Probes registered (one per container instance and probe type).
  size_t workerCount() const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Result { kUnknown, kSuccess, kFailure };
  struct Worker;
  using WorkerPtr = std::shared_ptr<Worker>;
  using Key = std::tuple<std::string, std::string, ProbeType>;  // pod UID, container name, type
  // Published results of one container instance.
  struct Results {
    std::map<ProbeType, Result> byType;
    std::optional<int64_t> livenessGrace, startupGrace;
  };
  struct Due {
    Clock::time_point at;
    uint64_t seq;
    WorkerPtr worker;
    bool operator>(const Due& o) const { return at > o.at; }
  };

  void schedulerLoop(std::stop_token stop);
  void poolLoop(std::stop_token stop);
  // Requires mu_.
  void scheduleLocked(const WorkerPtr& w, Clock::time_point at);
  void dropWorkerLocked(const Key& key);
  void setResultLocked(const WorkerPtr& w, Result r, std::vector<std::string>* changed);
  std::optional<Result> resultLocked(const std::string& containerId, ProbeType type) const;
  // Runs one due worker (pool thread, without mu_), then records what came of it.
  void runWorker(const WorkerPtr& w);

  ProbeRunner& prober_;
  api::EventRecorder& events_;
  const ProbeManagerOptions opts_;
  Clock::time_point startedAt_;

  mutable std::mutex mu_;
  std::condition_variable_any schedulerCv_;
  std::condition_variable_any poolCv_;
  std::map<Key, WorkerPtr> workers_;                                          // guarded by mu_
  std::map<std::string, Results> results_;                                    // by container ID; guarded by mu_
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;         // guarded by mu_
  std::deque<WorkerPtr> ready_;                                               // guarded by mu_
  uint64_t seq_ = 0;                                                          // guarded by mu_
  bool stopping_ = false;                                                     // guarded by mu_
  std::mt19937_64 rng_;                                                       // guarded by mu_

  std::jthread scheduler_;
  std::vector<std::jthread> pool_;
};

}  // namespace cubelet::prober
