// The desired pods of this node, by UID, as the apiserver (and later static manifests)
// describe them; and the dispatcher that turns changes into pod-worker updates.
//
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kubelet/api/client.h"
#include "kubelet/pod/pod_workers.h"

namespace cubelet::pod {

class PodManager {
 public:
  // Replaces the whole set (after a list); returns the UIDs that disappeared.
  std::vector<std::string> replace(const std::vector<json>& pods);
  void set(const json& pod);
  void remove(const std::string& uid);
  std::optional<json> get(const std::string& uid) const;
  std::vector<json> all() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, json> pods_;  // guarded by mu_
};

// Decides what each pod change means for its worker: a sync, or a kill (deletionTimestamp
// set, or the pod vanished from the apiserver). Called from the pod source's thread.
class PodDispatcher {
 public:
  PodDispatcher(PodManager& manager, PodWorkers& workers) : manager_(manager), workers_(workers) {}

  void onReplace(const std::vector<json>& pods);
  void onEvent(const api::WatchEvent& ev);
  // Something about the pod changed in the runtime (PLEG): sync it again.
  void onRuntimeChange(const std::string& uid);

  // The grace period a kill of this pod should use: the deletion's own grace when the pod
  // is being deleted, else the pod's terminationGracePeriodSeconds (default 30).
  static int64_t gracePeriod(const json& pod);

 private:
  void dispatch(const json& pod);
  void vanished(const std::string& uid);

  PodManager& manager_;
  PodWorkers& workers_;
};

}  // namespace cubelet::pod
