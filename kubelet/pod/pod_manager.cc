#include "kubelet/pod/pod_manager.h"

#include <set>

#include "base/log.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::pod {

std::vector<std::string> PodManager::replace(const std::vector<json>& pods) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> keep;
  for (const auto& p : pods) {
    std::string uid = objects::str(p, {"metadata", "uid"});
    if (uid.empty()) continue;
    keep.insert(uid);
    pods_[uid] = p;
  }
  std::vector<std::string> gone;
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (!keep.count(it->first)) {
      gone.push_back(it->first);
      it = pods_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

void PodManager::set(const json& pod) {
  std::string uid = objects::str(pod, {"metadata", "uid"});
  if (uid.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  pods_[uid] = pod;
}

void PodManager::remove(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(uid);
}

std::optional<json> PodManager::get(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> PodManager::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  out.reserve(pods_.size());
  for (const auto& [uid, p] : pods_) out.push_back(p);
  return out;
}

int64_t PodDispatcher::gracePeriod(const json& pod) {
  int64_t deletion = objects::integer(pod, {"metadata", "deletionGracePeriodSeconds"}, -1);
  if (deletion >= 0) return deletion;
  int64_t spec = objects::integer(pod, {"spec", "terminationGracePeriodSeconds"}, 30);
  return spec >= 0 ? spec : 30;
}

void PodDispatcher::dispatch(const json& pod) {
  std::string uid = objects::str(pod, {"metadata", "uid"});
  if (uid.empty()) {
    LOG_WARNING << "ignoring a pod without metadata.uid: " << objects::str(pod, {"metadata", "name"});
    return;
  }
  if (!objects::str(pod, {"metadata", "deletionTimestamp"}).empty()) {
    workers_.update(uid, PodWork{WorkType::kKill, pod, gracePeriod(pod)});
  } else {
    VLOG(3) << "pod update " << objects::str(pod, {"metadata", "name"}) << " rv "
            << objects::str(pod, {"metadata", "resourceVersion"});
    workers_.update(uid, PodWork{WorkType::kSync, pod, std::nullopt});
  }
}

void PodDispatcher::vanished(const std::string& uid) {
  // Force-deleted (or deleted while we were away): stop it at once.
  json pod = manager_.get(uid).value_or(json{{"metadata", {{"uid", uid}}}});
  workers_.update(uid, PodWork{WorkType::kKill, pod, 0});
}

void PodDispatcher::onReplace(const std::vector<json>& pods) {
  for (const auto& uid : manager_.replace(pods)) vanished(uid);
  for (const auto& p : pods) dispatch(p);
}

void PodDispatcher::onEvent(const api::WatchEvent& ev) {
  std::string uid = objects::str(ev.object, {"metadata", "uid"});
  if (ev.type == "DELETED") {
    auto last = manager_.get(uid);
    manager_.remove(uid);
    workers_.update(uid, PodWork{WorkType::kKill, last.value_or(ev.object), 0});
    return;
  }
  manager_.set(ev.object);
  dispatch(ev.object);
}

void PodDispatcher::onRuntimeChange(const std::string& uid) {
  auto pod = manager_.get(uid);
  if (pod) dispatch(*pod);
}

}  // namespace cubelet::pod
