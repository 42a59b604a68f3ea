#include "kubelet/volume/object_cache.h"

#include "base/log.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::volume {

namespace {

void addName(std::set<std::string>& out, const json& j, objects::Path path) {
  std::string name = objects::str(j, path);
  if (!name.empty()) out.insert(std::move(name));
}

}  // namespace

std::set<std::string> referencedNames(const json& pod, std::string_view resource) {
  const bool secrets = resource == "secrets";
  std::set<std::string> out;
  const json& spec = objects::object(pod, {"spec"});
  for (const json& vol : objects::array(spec, {"volumes"})) {
    if (secrets) {
      addName(out, vol, {"secret", "secretName"});
    } else {
      addName(out, vol, {"configMap", "name"});
    }
    for (const json& src : objects::array(vol, {"projected", "sources"})) {
      addName(out, src, {secrets ? "secret" : "configMap", "name"});
    }
  }
  const std::string_view keyRef = secrets ? "secretKeyRef" : "configMapKeyRef";
  const std::string_view fromRef = secrets ? "secretRef" : "configMapRef";
  for (std::string_view kind : {"containers", "initContainers", "ephemeralContainers"}) {
    for (const json& c : objects::array(spec, {kind})) {
      for (const json& env : objects::array(c, {"env"})) addName(out, env, {"valueFrom", keyRef, "name"});
      for (const json& from : objects::array(c, {"envFrom"})) addName(out, from, {fromRef, "name"});
    }
  }
  if (secrets) {
    for (const json& ref : objects::array(spec, {"imagePullSecrets"})) addName(out, ref, {"name"});
  }
  return out;
}

ObjectCache::ObjectCache(api::Client* client, std::string resource, std::string singular, ObjectCacheOptions opts)
    : client_(client), resource_(std::move(resource)), singular_(std::move(singular)), opts_(opts) {}

ObjectCache::~ObjectCache() {
  std::vector<EntryPtr> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [key, e] : entries_) all.push_back(std::move(e));
    entries_.clear();
    podRefs_.clear();
  }
  stopAndJoin(all);
}

void ObjectCache::registerPod(const std::string& podUid, const std::string& ns, const std::set<std::string>& names) {
  if (opts_.strategy == ChangeDetectionStrategy::kGet) return;
  std::set<Key> wanted;
  for (const auto& n : names) wanted.emplace(ns, n);
  std::vector<EntryPtr> dropped;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::set<Key>& refs = podRefs_[podUid];
    // New references first, so an object the pod keeps never drops to zero in between.
    for (const Key& k : wanted) {
      if (!refs.contains(k)) addRefLocked(k);
    }
    for (const Key& k : refs) {
      if (!wanted.contains(k)) dropRefLocked(k, dropped);
    }
    if (wanted.empty()) {
      podRefs_.erase(podUid);
    } else {
      refs = std::move(wanted);
    }
  }
  stopAndJoin(dropped);
}

void ObjectCache::unregisterPod(const std::string& podUid) {
  std::vector<EntryPtr> dropped;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = podRefs_.find(podUid);
    if (it == podRefs_.end()) return;
    for (const Key& k : it->second) dropRefLocked(k, dropped);
    podRefs_.erase(it);
  }
  stopAndJoin(dropped);
}

void ObjectCache::addRefLocked(const Key& key) {
  EntryPtr& e = entries_[key];
  if (e) {
    ++e->refs;
    return;
  }
  e = std::make_shared<Entry>();
  e->key = key;
  e->refs = 1;
  Entry* raw = e.get();
  // The callbacks use a raw pointer: the entry outlives its thread, which is joined before the
  // last reference to the entry goes (stopAndJoin, or ~Entry's jthread as a safety net).
  e->reflector = std::make_unique<api::Reflector>(
      *client_, "/api/v1/namespaces/" + key.first + "/" + resource_, "fieldSelector=metadata.name%3D" + key.second,
      api::ReflectorHandler{[this, raw](const std::vector<json>& items) { onReplace(raw, items); },
                            [this, raw](const api::WatchEvent& ev) { onEvent(raw, ev); }});
  api::Reflector* r = e->reflector.get();
  e->thread = std::jthread([r](std::stop_token stop) { r->run(stop); });
  e->stop = e->thread.get_stop_source();
  VLOG(1) << "watching " << singular_ << " " << key.first << "/" << key.second;
}

void ObjectCache::dropRefLocked(const Key& key, std::vector<EntryPtr>& dropped) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (--it->second->refs > 0) return;
  VLOG(1) << "no pod references " << singular_ << " " << key.first << "/" << key.second << " any more";
  dropped.push_back(std::move(it->second));
  entries_.erase(it);
  synced_.notify_all();  // a get() waiting for this entry's first list gives up on it
}

void ObjectCache::stopAndJoin(std::vector<EntryPtr>& dropped) {
  // Stop all first, then join: the joins then overlap instead of adding up.
  for (auto& e : dropped) e->thread.request_stop();
  for (auto& e : dropped) {
    if (e->thread.joinable()) e->thread.join();
  }
  dropped.clear();
}

void ObjectCache::storeLocked(Entry* e, std::optional<json> obj) {
  if (obj && objects::boolean(*obj, {"immutable"}, false)) e->immutable = true;
  e->object = std::move(obj);
}

void ObjectCache::onReplace(Entry* e, const std::vector<json>& items) {
  bool stop = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::optional<json> found;
    for (const json& it : items) {
      if (objects::str(it, {"metadata", "name"}) == e->key.second) found = it;
    }
    storeLocked(e, std::move(found));
    e->synced = true;
    stop = e->immutable;
  }
  synced_.notify_all();
  if (stop) {
    VLOG(1) << singular_ << " " << e->key.first << "/" << e->key.second << " is immutable, no longer watching it";
    e->stop.request_stop();
  }
}

void ObjectCache::onEvent(Entry* e, const api::WatchEvent& ev) {
  bool stop = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (objects::str(ev.object, {"metadata", "name"}) != e->key.second) return;
    if (ev.type == "DELETED") {
      storeLocked(e, std::nullopt);
    } else {
      storeLocked(e, ev.object);
    }
    stop = e->immutable;
  }
  if (stop) {
    VLOG(1) << singular_ << " " << e->key.first << "/" << e->key.second << " is immutable, no longer watching it";
    e->stop.request_stop();
  }
}

absl::Status ObjectCache::notFound(const std::string& name) const {
  // The message of upstream's apierrors.NewNotFound for the group-resource "<singular>",
  // which is what the kubelet's events and container statuses show.
  return absl::NotFoundError(singular_ + " \"" + name + "\" not found");
}

absl::StatusOr<json> ObjectCache::getDirect(const std::string& ns, const std::string& name) {
  auto res = client_->get("/api/v1/namespaces/" + ns + "/" + resource_ + "/" + name);
  if (!res.ok() && api::isNotFound(res.status())) return notFound(name);
  return res;
}

absl::StatusOr<json> ObjectCache::get(const std::string& ns, const std::string& name) {
  if (opts_.strategy == ChangeDetectionStrategy::kGet) return getDirect(ns, name);
  {
    std::unique_lock<std::mutex> l(mu_);
    auto it = entries_.find(Key{ns, name});
    if (it != entries_.end()) {
      // Keep the entry alive while waiting: the last pod may unregister meanwhile, and then
      // the wait ends early and the object is fetched directly.
      EntryPtr e = it->second;
      synced_.wait_for(l, opts_.firstSyncWait, [&] { return e->synced || e->refs == 0; });
      if (e->synced) {
        if (!e->object) return notFound(name);
        return *e->object;
      }
      if (e->refs > 0) {
        return absl::UnavailableError("failed to sync " + singular_ + " cache: timed out waiting for the condition");
      }
    }
  }
  return getDirect(ns, name);
}

size_t ObjectCache::registeredCount() {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

size_t ObjectCache::watchingCount() {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto& [key, e] : entries_) {
    if (!e->immutable) ++n;
  }
  return n;
}

}  // namespace cubelet::volume
