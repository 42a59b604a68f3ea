// The desired pods of this node, by UID, from two sources: the apiserver and the static pod
// manifests; the mirror pods the apiserver holds for the static pods, by full name; and the
// dispatcher that turns changes into pod-worker updates.
//
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kubelet/api/client.h"
#include "kubelet/pod/pod_workers.h"

namespace cubelet::pod {

class PodManager {
 public:
  // Replaces the apiserver's pods (after a list; mirror pods excluded); returns the UIDs
  // that disappeared. Static pods are left alone.
  std::vector<std::string> replace(const std::vector<PodPtr>& pods);
  void set(PodPtr pod);
  void remove(const std::string& uid);
  // Replaces the static pods; returns those that disappeared.
  std::vector<PodPtr> replaceStatic(const std::vector<PodPtr>& pods);
  PodPtr get(const std::string& uid) const;  // null when unknown
  // Every desired pod, from both sources.
  std::vector<PodPtr> all() const;

  // Mirror pods, by "<namespace>/<name>".
  void replaceMirrors(const std::vector<json>& mirrors);
  void setMirror(const json& mirror);
  void removeMirror(const json& mirror);  // only if it is still the one known (same UID)
  std::optional<json> mirror(const std::string& fullName) const;
  std::vector<json> mirrors() const;
  // The static pod a mirror pod (or any pod of that full name) stands for; null if none.
  PodPtr staticPod(const std::string& fullName) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, PodPtr> pods_;     // guarded by mu_; the same objects the workers hold
  std::set<std::string> static_;           // UIDs in pods_ from the manifests; guarded by mu_
  std::map<std::string, json> mirrors_;    // guarded by mu_
};

// Decides what each pod change means for its worker: a sync, or a kill (deletionTimestamp
// set, or the pod vanished from the apiserver). Called from the pod source's thread.
class PodDispatcher {
 public:
  PodDispatcher(PodManager& manager, PodWorkers& workers) : manager_(manager), workers_(workers) {}

  // The apiserver source: a full list, or one watch event.
  void onReplace(const std::vector<json>& pods);
  void onEvent(const api::WatchEvent& ev);
  // The static pod source: the whole set of static pods. New and changed ones are synced,
  // removed ones killed with their grace period.
  void onStatic(const std::vector<json>& pods);
  // Something about the pod changed in the runtime (PLEG): sync it again.
  void onRuntimeChange(const std::string& uid);

  // The grace period a kill of this pod should use: the deletion's own grace when the pod
  // is being deleted, else the pod's terminationGracePeriodSeconds (default 30).
  static int64_t gracePeriod(const json& pod);

 private:
  void dispatch(const PodPtr& pod);
  void vanished(const std::string& uid);
  // A mirror pod changed: its static pod is synced (which recreates or fixes the mirror).
  void mirrorChanged(const json& mirror);

  PodManager& manager_;
  PodWorkers& workers_;
};

}  // namespace cubelet::pod
