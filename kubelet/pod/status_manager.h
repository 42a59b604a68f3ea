// Sends pod statuses to the apiserver: one pending status per pod, coalesced (only the
// newest is sent), sent only when it differs from what was last sent, as a strategic merge
// patch with the pod's UID as precondition (conditions merge by type, so conditions owned by
// others such as PodScheduled survive). Also performs the final DELETE (grace 0, UID
// precondition) of pods whose termination the agent finished.
//
// Thread-safe; run() is a sender thread, and several may run: each pod's statuses still go
// out one at a time, in order.
#pragma once

#include <condition_variable>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>

#include "kubelet/api/client.h"

namespace cubelet::pod {

using nlohmann::json;

// The patch for a new status; exposed for tests.
json statusPatch(const std::string& uid, const json& status);

class StatusManager {
 public:
  // Without a client (standalone mode) statuses are kept here and never sent.
  explicit StatusManager(api::Client* client) : client_(client) {}

  // `apiPod` is the object in the apiserver the status goes to when it is not `pod` itself:
  // the mirror pod of a static pod. A static pod without a mirror (nullptr) keeps its status
  // here, unsent, until it has one.
  void setPodStatus(const json& pod, const json& status, const json* apiPod = nullptr);
  std::optional<json> podStatus(const std::string& uid) const;
  // Just the phase of podStatus(uid), without copying the status.
  std::optional<std::string> podPhase(const std::string& uid) const;
  // Sends the final deletion once the pod's containers are all stopped.
  void requestDeletion(const json& pod);
  // Forgets a pod that left the apiserver.
  void removePod(const std::string& uid);

  void run(std::stop_token stop);

  // Called on the sender thread after each status the apiserver took, with the time from
  // that status being set (the first set since the previous write) to its acknowledgement.
  using SentCallback = std::function<void(const std::string& uid, const json& status, std::chrono::steady_clock::duration)>;
  void setOnSent(SentCallback cb);

  // Waits until nothing is queued (tests and shutdown).
  bool flushed() const;

 private:
  struct Entry {
    std::string ns, name;
    std::string apiUid;  // the UID of the apiserver object; empty: none yet (static pod)
    // Shared and immutable: a status equal to the one sent is the same object, so a settled
    // pod holds its status once, and a send copies no JSON.
    std::shared_ptr<const json> desired;
    std::shared_ptr<const json> sent;
    std::optional<std::chrono::steady_clock::time_point> dirtySince;  // desired != sent since
    bool deleteRequested = false;
    bool deleted = false;
  };
  bool sendOne(const std::string& uid);  // false: failed, re-queued
  void markDirtyLocked(const std::string& uid);  // requires mu_

  api::Client* client_;  // null: standalone
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, Entry> pods_;  // guarded by mu_
  std::deque<std::string> dirty_;      // guarded by mu_
  std::set<std::string> queued_;       // guarded by mu_
  std::set<std::string> sending_;      // guarded by mu_: on the wire now
  std::set<std::string> resend_;       // guarded by mu_: dirtied again while on the wire
  int inFlight_ = 0;                   // guarded by mu_
  SentCallback onSent_;                // guarded by mu_
};

}  // namespace cubelet::pod
