#include "kubelet/pod/pod_manager.h"

#include <set>

#include "base/log.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/pod/static_pods.h"

namespace cubelet::pod {
namespace {

std::optional<json> valueAt(const std::map<std::string, json>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

std::vector<json> values(const std::map<std::string, json>& m) {
  std::vector<json> out;
  out.reserve(m.size());
  for (const auto& [key, value] : m) out.push_back(value);
  return out;
}

}  // namespace

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
    if (!keep.count(it->first) && !static_.count(it->first)) {
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

std::vector<json> PodManager::replaceStatic(const std::vector<json>& pods) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> keep;
  for (const auto& p : pods) {
    std::string uid = objects::str(p, {"metadata", "uid"});
    if (uid.empty()) continue;
    keep.insert(uid);
    pods_[uid] = p;
  }
  std::vector<json> gone;
  for (const auto& uid : static_) {
    if (keep.count(uid)) continue;
    auto it = pods_.find(uid);
    if (it == pods_.end()) continue;
    gone.push_back(std::move(it->second));
    pods_.erase(it);
  }
  static_ = std::move(keep);
  return gone;
}

void PodManager::replaceMirrors(const std::vector<json>& mirrors) {
  std::lock_guard<std::mutex> lock(mu_);
  mirrors_.clear();
  for (const auto& m : mirrors) mirrors_[podFullName(m)] = m;
}

void PodManager::setMirror(const json& mirror) {
  std::lock_guard<std::mutex> lock(mu_);
  mirrors_[podFullName(mirror)] = mirror;
}

void PodManager::removeMirror(const json& mirror) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = mirrors_.find(podFullName(mirror));
  if (it != mirrors_.end() &&
      objects::str(it->second, {"metadata", "uid"}) == objects::str(mirror, {"metadata", "uid"})) {
    mirrors_.erase(it);
  }
}

std::optional<json> PodManager::mirror(const std::string& fullName) const {
  std::lock_guard<std::mutex> lock(mu_);
  return valueAt(mirrors_, fullName);
}

std::vector<json> PodManager::mirrors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return values(mirrors_);
}

std::optional<json> PodManager::staticPod(const std::string& fullName) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& uid : static_) {
    auto it = pods_.find(uid);
    if (it != pods_.end() && podFullName(it->second) == fullName) return it->second;
  }
  return std::nullopt;
}

std::optional<json> PodManager::get(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return valueAt(pods_, uid);
}

std::vector<json> PodManager::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  return values(pods_);
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
  std::vector<json> regular, mirrors;
  for (const auto& p : pods) (isMirrorPod(p) ? mirrors : regular).push_back(p);
  manager_.replaceMirrors(mirrors);
  for (const auto& uid : manager_.replace(regular)) vanished(uid);
  for (const auto& p : regular) dispatch(p);
  // Every static pod checks its mirror against the fresh list.
  for (const auto& p : manager_.all()) {
    if (isStaticPod(p)) dispatch(p);
  }
}

void PodDispatcher::onStatic(const std::vector<json>& pods) {
  for (const auto& gone : manager_.replaceStatic(pods)) {
    workers_.update(objects::str(gone, {"metadata", "uid"}), PodWork{WorkType::kKill, gone, gracePeriod(gone)});
  }
  for (const auto& p : pods) dispatch(p);
}

void PodDispatcher::mirrorChanged(const json& mirror) {
  if (auto pod = manager_.staticPod(podFullName(mirror))) dispatch(*pod);
}

void PodDispatcher::onEvent(const api::WatchEvent& ev) {
  if (isMirrorPod(ev.object)) {
    // Mirror pods are never run: they only show the static pods in the apiserver.
    if (ev.type == "DELETED") {
      manager_.removeMirror(ev.object);
    } else {
      manager_.setMirror(ev.object);
    }
    mirrorChanged(ev.object);
    return;
  }
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
