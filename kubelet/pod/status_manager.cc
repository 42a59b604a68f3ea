#include "kubelet/pod/status_manager.h"

#include "base/log.h"
#include "kubelet/api/reflector.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/pod/static_pods.h"

namespace cubelet::pod {

json statusPatch(const std::string& uid, const json& status) {
  return json{{"metadata", {{"uid", uid}}}, {"status", status}};
}

namespace {
bool sameStatus(const std::shared_ptr<const json>& a, const std::shared_ptr<const json>& b) {
  return a == b || (a && b && *a == *b);
}
}  // namespace

void StatusManager::setPodStatus(const json& pod, const json& status, const json* apiPod) {
  std::string uid = objects::str(pod, {"metadata", "uid"});
  if (uid.empty()) return;
  std::string apiUid = apiPod ? objects::str(*apiPod, {"metadata", "uid"}) : isStaticPod(pod) ? "" : uid;
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = pods_[uid];
  e.ns = objects::str(pod, {"metadata", "namespace"});
  e.name = objects::str(pod, {"metadata", "name"});
  if (e.apiUid != apiUid) {
    // A new mirror pod knows nothing of what was sent to the old one.
    e.apiUid = apiUid;
    e.sent.reset();
  }
  e.desired = std::make_shared<const json>(status);
  if (apiUid.empty()) return;
  if (sameStatus(e.desired, e.sent)) {
    e.desired = e.sent;
  } else {
    if (!e.dirtySince) e.dirtySince = std::chrono::steady_clock::now();
    markDirtyLocked(uid);
  }
}

void StatusManager::setOnSent(SentCallback cb) {
  std::lock_guard<std::mutex> lock(mu_);
  onSent_ = std::move(cb);
}

void StatusManager::markDirtyLocked(const std::string& uid) {
  if (!client_ || queued_.count(uid)) return;
  dirty_.push_back(uid);
  queued_.insert(uid);
  cv_.notify_one();
}

std::optional<json> StatusManager::podStatus(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end() || !it->second.desired) return std::nullopt;
  return *it->second.desired;
}

std::optional<std::string> StatusManager::podPhase(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end() || !it->second.desired) return std::nullopt;
  return objects::str(*it->second.desired, {"phase"});
}

void StatusManager::requestDeletion(const json& pod) {
  std::string uid = objects::str(pod, {"metadata", "uid"});
  if (uid.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = pods_[uid];
  e.ns = objects::str(pod, {"metadata", "namespace"});
  e.name = objects::str(pod, {"metadata", "name"});
  if (e.apiUid.empty()) e.apiUid = uid;
  if (e.deleteRequested) return;
  e.deleteRequested = true;
  markDirtyLocked(uid);
}

void StatusManager::removePod(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(uid);
}

bool StatusManager::flushed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dirty_.empty() && inFlight_ == 0;
}

bool StatusManager::sendOne(const std::string& uid) {
  Entry e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(uid);
    if (it == pods_.end() || it->second.apiUid.empty()) return true;
    e = it->second;
  }
  const std::string apiUid = e.apiUid;
  const std::string path = "/api/v1/namespaces/" + e.ns + "/pods/" + e.name;
  bool ok = true;
  if (e.desired && !sameStatus(e.desired, e.sent)) {
    auto r = client_->patch(path + "/status", statusPatch(apiUid, *e.desired), api::PatchType::kStrategicMerge);
    if (r.ok()) {
      VLOG(3) << "patched status of pod " << e.ns << "/" << e.name;
      SentCallback onSent;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = pods_.find(uid); it != pods_.end() && it->second.apiUid == apiUid) {
          it->second.sent = e.desired;
          // A newer status set meanwhile is dirty from now on.
          it->second.dirtySince.reset();
          if (sameStatus(it->second.desired, it->second.sent)) {
            it->second.desired = it->second.sent;
          } else {
            it->second.dirtySince = std::chrono::steady_clock::now();
          }
        }
        onSent = onSent_;
      }
      if (onSent && e.dirtySince) onSent(uid, *e.desired, std::chrono::steady_clock::now() - *e.dirtySince);
    } else if (api::isNotFound(r.status()) || api::isConflict(r.status())) {
      // Gone, or replaced by a new pod with the same name (the UID precondition failed).
      VLOG(2) << "pod " << e.ns << "/" << e.name << " is gone; dropping its status: " << r.status().message();
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = pods_.find(uid); it != pods_.end() && it->second.apiUid == apiUid) it->second.sent = e.desired;
      e.deleteRequested = false;
    } else {
      ok = false;
      LOG_WARNING << "Failed to update status for pod " << e.ns << "/" << e.name << ": " << r.status().message();
    }
  }
  if (ok && e.deleteRequested && !e.deleted) {
    json opts = {{"kind", "DeleteOptions"},
                 {"apiVersion", "v1"},
                 {"gracePeriodSeconds", 0},
                 {"preconditions", {{"uid", apiUid}}}};
    auto r = client_->removeWithBody(path, opts);
    if (r.ok() || api::isNotFound(r) || api::isConflict(r)) {
      VLOG(2) << "pod " << e.ns << "/" << e.name << " deleted from the apiserver";
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = pods_.find(uid); it != pods_.end()) it->second.deleted = true;
    } else {
      ok = false;
      LOG_WARNING << "Failed to delete pod " << e.ns << "/" << e.name << ": " << r.message();
    }
  }
  if (!ok) {
    // Retry later: re-queue behind the others.
    std::lock_guard<std::mutex> lock(mu_);
    markDirtyLocked(uid);
  }
  return ok;
}

void StatusManager::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::string uid;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, stop, [this] { return !dirty_.empty(); });
      if (stop.stop_requested()) return;
      uid = dirty_.front();
      dirty_.pop_front();
      queued_.erase(uid);
      if (sending_.count(uid)) {
        // Another sender has this pod's previous status on the wire: this one goes after it,
        // so the apiserver never sees a pod's statuses out of order.
        resend_.insert(uid);
        continue;
      }
      sending_.insert(uid);
      ++inFlight_;
    }
    bool ok = sendOne(uid);
    bool alone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --inFlight_;
      sending_.erase(uid);
      if (resend_.erase(uid)) markDirtyLocked(uid);
      alone = dirty_.size() == 1;
    }
    // A failed send is retried after a pause when nothing else waits, not in a tight loop.
    if (!ok && alone && !api::sleepFor(stop, std::chrono::seconds(1))) return;
  }
}

}  // namespace cubelet::pod
