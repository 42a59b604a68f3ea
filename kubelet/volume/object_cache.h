// The configMap / secret manager: serves the objects that pods reference (volumes, projected
// sources, env, envFrom, imagePullSecrets) from memory, kept current by one watch per object.
// This is the upstream kubelet's "Watch" change-detection strategy
// (pkg/kubelet/util/manager/watch_based_manager.go; see notes/issue6-research.md §5.4):
//   - registerPod() refcounts each (namespace, name) the pod references; the first reference
//     starts a Reflector on /api/v1/namespaces/<ns>/<resource> with the selector
//     fieldSelector=metadata.name%3D<name>. The Node authorizer allows list and watch only with
//     such an exact name selector (it takes the object's name from it).
//   - when the last pod drops a reference, that object's reflector is stopped and its cached
//     copy forgotten;
//   - an object with "immutable": true cannot change, so its reflector stops once it has been
//     seen; the cached copy is served until the last reference goes;
//   - get() waits up to firstSyncWait for the first list, then answers from memory.
// The "Get" strategy (kGet) skips all of this and GETs the object on every get().
//
// Thread safety: every method may be called from any thread. One mutex guards the entries;
// it is never held during an HTTP call, nor while a reflector thread is joined (the
// reflectors' callbacks take it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kubelet/api/client.h"
#include "kubelet/api/reflector.h"
#include "kubelet/volume/object_source.h"

namespace cubelet::volume {

using api::json;

enum class ChangeDetectionStrategy {
  kWatch,  // one watch per referenced object, reads served from memory (the default)
  kGet,    // a GET on every read, nothing cached
};

struct ObjectCacheOptions {
  ChangeDetectionStrategy strategy = ChangeDetectionStrategy::kWatch;
  // How long get() waits for a registered object's first list (upstream: 1 s).
  std::chrono::milliseconds firstSyncWait{std::chrono::seconds(1)};
};

// The names of the `resource` ("configmaps" or "secrets") objects that `pod` references, as
// upstream's VisitPodConfigmapNames / VisitPodSecretNames: volumes and projected sources, env
// valueFrom and envFrom of containers, initContainers and ephemeralContainers, and for secrets
// spec.imagePullSecrets. Empty names are skipped. (Secret references of other volume types,
// e.g. cephfs or azureFile, are not collected: cubelet does not support those volumes.)
std::set<std::string> referencedNames(const json& pod, std::string_view resource);

class ObjectCache : public ObjectSource {
 public:
  // `client` must outlive the cache. `resource` is "configmaps" or "secrets"; `singular`
  // ("configmap", "secret") names the kind in error messages.
  ObjectCache(api::Client* client, std::string resource, std::string singular, ObjectCacheOptions opts = {});
  // Stops and joins every reflector.
  ~ObjectCache() override;
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  // Sets the objects (in namespace `ns`) that the pod references, replacing what it referenced
  // before (a pod update may change them). Starts watches for newly referenced objects and
  // stops those no pod references any more. No-op under kGet.
  void registerPod(const std::string& podUid, const std::string& ns, const std::set<std::string>& names) override;
  // Drops all of the pod's references. No-op under kGet or for an unknown pod.
  // Both calls return once the watches they stop have ended: an open watch is cut at once,
  // but a list in flight is not interrupted (it ends within the client's request timeout).
  void unregisterPod(const std::string& podUid) override;

  // The object. For a registered object: the cached copy once the first list has arrived
  // (waiting up to firstSyncWait; Unavailable "failed to sync <singular> cache: timed out
  // waiting for the condition" if it has not), NotFound `<singular> "<name>" not found` if the
  // object does not exist. For an object no pod registered, and under kGet: a GET through the
  // client, with a 404 mapped to the same NotFound message and other errors passed through.
  absl::StatusOr<json> get(const std::string& ns, const std::string& name) override;

  // Exposed for tests: how many objects are registered, and how many of them still have a
  // running watch (immutable objects stop theirs).
  size_t registeredCount();
  size_t watchingCount();

 private:
  using Key = std::pair<std::string, std::string>;  // (namespace, name)

  struct Entry {
    Key key;
    int refs = 0;                // guarded by ObjectCache::mu_
    bool synced = false;         // the first list has arrived; guarded by mu_
    std::optional<json> object;  // absent: the object does not exist; guarded by mu_
    bool immutable = false;      // seen with "immutable": true; guarded by mu_
    std::unique_ptr<api::Reflector> reflector;
    std::jthread thread;    // runs reflector; declared after it so it is joined first
    std::stop_source stop;  // thread's stop source, for the reflector's own callbacks
  };
  using EntryPtr = std::shared_ptr<Entry>;

  // Adds one reference to `key`, creating the entry and starting its watch if it is new.
  void addRefLocked(const Key& key);
  // Removes one reference; an entry left with none is taken out of the map and appended to
  // `dropped`, for the caller to stop and join after releasing mu_.
  void dropRefLocked(const Key& key, std::vector<EntryPtr>& dropped);
  static void stopAndJoin(std::vector<EntryPtr>& dropped);
  // Update an entry from a list or an event (on its reflector's thread); stop the watch once
  // the object is immutable.
  void onReplace(Entry* e, const std::vector<json>& items);
  void onEvent(Entry* e, const api::WatchEvent& ev);
  void storeLocked(Entry* e, std::optional<json> obj);

  absl::StatusOr<json> getDirect(const std::string& ns, const std::string& name);
  absl::Status notFound(const std::string& name) const;

  api::Client* client_;
  const std::string resource_;
  const std::string singular_;
  const ObjectCacheOptions opts_;

  std::mutex mu_;
  std::condition_variable synced_;  // an entry's first list arrived, or its last reference went
  std::map<Key, EntryPtr> entries_;               // guarded by mu_
  std::map<std::string, std::set<Key>> podRefs_;  // pod uid -> its references; guarded by mu_
};

}  // namespace cubelet::volume
