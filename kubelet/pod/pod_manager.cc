#include "kubelet/pod/pod_manager.h"

#include <set>

#include "base/log.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/pod/static_pods.h"

namespace cubelet::pod {
namespace {

std::string uidOf(const json& pod) { return objects::str(pod, {"metadata", "uid"}); }

}  // namespace

std::vector<std::string> PodManager::replace(const std::vector<PodPtr>& pods) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> keep;
  for (const auto& p : pods) {
    std::string uid = uidOf(*p);
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

void PodManager::set(PodPtr pod) {
  std::string uid = uidOf(*pod);
  if (uid.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  pods_[uid] = std::move(pod);
}

void PodManager::remove(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(uid);
}

std::vector<PodPtr> PodManager::replaceStatic(const std::vector<PodPtr>& pods) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> keep;
  for (const auto& p : pods) {
    std::string uid = uidOf(*p);
    if (uid.empty()) continue;
    keep.insert(uid);
    pods_[uid] = p;
  }
  std::vector<PodPtr> gone;
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
  auto it = mirrors_.find(fullName);
  if (it == mirrors_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> PodManager::mirrors() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  out.reserve(mirrors_.size());
  for (const auto& [name, m] : mirrors_) out.push_back(m);
  return out;
}

PodPtr PodManager::staticPod(const std::string& fullName) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& uid : static_) {
    auto it = pods_.find(uid);
    if (it != pods_.end() && podFullName(*it->second) == fullName) return it->second;
  }
  return nullptr;
}

PodPtr PodManager::get(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : it->second;
}

std::vector<PodPtr> PodManager::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PodPtr> out;
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

void PodDispatcher::dispatch(const PodPtr& ptr) {
  const json& pod = *ptr;
  std::string uid = uidOf(pod);
  if (uid.empty()) {
    LOG_WARNING << "ignoring a pod without metadata.uid: " << objects::str(pod, {"metadata", "name"});
    return;
  }
  if (!objects::str(pod, {"metadata", "deletionTimestamp"}).empty()) {
    workers_.update(uid, PodWork{WorkType::kKill, ptr, gracePeriod(pod)});
  } else {
    VLOG(3) << "pod update " << objects::str(pod, {"metadata", "name"}) << " rv "
            << objects::str(pod, {"metadata", "resourceVersion"});
    workers_.update(uid, PodWork{WorkType::kSync, ptr, std::nullopt});
  }
}

void PodDispatcher::vanished(const std::string& uid) {
  // Force-deleted (or deleted while we were away): stop it at once.
  PodPtr pod = manager_.get(uid);
  if (!pod) pod = sharePod(json{{"metadata", {{"uid", uid}}}});
  workers_.update(uid, PodWork{WorkType::kKill, std::move(pod), 0});
}

void PodDispatcher::onReplace(const std::vector<json>& pods) {
  std::vector<json> mirrors;
  std::vector<PodPtr> regular;
  for (const auto& p : pods) {
    if (isMirrorPod(p)) {
      mirrors.push_back(p);
    } else {
      regular.push_back(sharePod(p));
    }
  }
  manager_.replaceMirrors(mirrors);
  for (const auto& uid : manager_.replace(regular)) vanished(uid);
  for (const auto& p : regular) dispatch(p);
  // Every static pod checks its mirror against the fresh list.
  for (const auto& p : manager_.all()) {
    if (isStaticPod(*p)) dispatch(p);
  }
}

void PodDispatcher::onStatic(const std::vector<json>& pods) {
  std::vector<PodPtr> shared;
  shared.reserve(pods.size());
  for (const auto& p : pods) shared.push_back(sharePod(p));
  for (auto& gone : manager_.replaceStatic(shared)) {
    const int64_t grace = gracePeriod(*gone);
    const std::string uid = uidOf(*gone);
    workers_.update(uid, PodWork{WorkType::kKill, std::move(gone), grace});
  }
  for (const auto& p : shared) dispatch(p);
}

void PodDispatcher::mirrorChanged(const json& mirror) {
  if (auto pod = manager_.staticPod(podFullName(mirror))) dispatch(pod);
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
  std::string uid = uidOf(ev.object);
  if (ev.type == "DELETED") {
    PodPtr last = manager_.get(uid);
    manager_.remove(uid);
    workers_.update(uid, PodWork{WorkType::kKill, last ? std::move(last) : sharePod(ev.object), 0});
    return;
  }
  PodPtr pod = sharePod(ev.object);
  manager_.set(pod);
  dispatch(pod);
}

void PodDispatcher::onRuntimeChange(const std::string& uid) {
  if (PodPtr pod = manager_.get(uid)) dispatch(pod);
}

}  // namespace cubelet::pod
