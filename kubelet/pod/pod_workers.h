// One serialized lane per pod UID on a small thread pool (the kubelet's podWorkers, reduced
// to what matters): at most one sync of a pod runs at a time; while it runs only the newest
// pending update is kept; a pending kill is never overwritten by a sync; a pod that has been
// killed is not synced again until it is forgotten. Work is requeued after a delay on
// failure (back-off) and on success (resync period).
//
// Thread-safety: every public method may be called from any thread. The syncer is called
// from pool threads, never concurrently for the same UID.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace cubelet::pod {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

enum class WorkType { kSync, kKill };

// One pod object, shared read-only by the pod manager, the worker lanes and the syncs, so a
// node with many pods holds each pod once.
using PodPtr = std::shared_ptr<const json>;
inline PodPtr sharePod(json pod) { return std::make_shared<const json>(std::move(pod)); }

struct PodWork {
  WorkType type = WorkType::kSync;
  PodPtr pod;  // never null
  // For kills: overrides the pod's grace period (e.g. a delete with a shorter grace).
  std::optional<int64_t> gracePeriodSeconds;
};

// What a sync returns: when to look at the pod again (nullopt = the resync period).
struct SyncResult {
  absl::Status status;
  std::optional<std::chrono::milliseconds> requeueAfter;
};

class PodSyncer {
 public:
  virtual ~PodSyncer() = default;
  virtual SyncResult syncPod(const json& pod) = 0;
  // Stops everything the pod runs. OK means the pod is fully stopped.
  virtual absl::Status killPod(const json& pod, std::optional<int64_t> gracePeriodSeconds) = 0;
};

class PodWorkers {
 public:
  PodWorkers(PodSyncer& syncer, int threads, std::chrono::milliseconds resyncPeriod);
  ~PodWorkers();  // stops and joins

  void start();
  void stop();

  // Queues work for the pod's lane.
  void update(const std::string& uid, PodWork work);
  // Drops a pod's lane once it is killed and gone from the pod manager.
  void forget(const std::string& uid);

  // Observers (mostly for tests and housekeeping).
  bool isKilled(const std::string& uid) const;
  bool isIdle() const;  // nothing queued or running
  std::vector<std::string> knownPods() const;

 private:
  struct Lane {
    std::optional<PodWork> pending;
    PodPtr lastPod;  // for resyncs
    bool running = false;
    bool killRequested = false;
    bool killed = false;
    std::optional<SteadyClock::time_point> wakeAt;  // a scheduled resync / retry
    std::chrono::milliseconds backoff{0};
    // For kubelet_pod_worker_* metrics: a sync done yet ("create" first), the pending work
    // is a resync ("sync") rather than an update, when the pending update arrived.
    bool synced = false;
    bool resync = false;
    std::optional<SteadyClock::time_point> receivedAt;
  };

  void loop(std::stop_token st);
  void scheduleLocked(const std::string& uid);  // requires mu_

  PodSyncer& syncer_;
  const int threads_;
  const std::chrono::milliseconds resync_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, Lane> lanes_;  // guarded by mu_
  std::deque<std::string> ready_;      // guarded by mu_; UIDs with pending work, not running
  std::set<std::string> queued_;       // guarded by mu_; members of ready_
  std::vector<std::jthread> pool_;
};

}  // namespace cubelet::pod
