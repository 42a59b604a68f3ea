#include "kubelet/pod/pod_lifecycle.h"

#include <iomanip>
#include <sstream>

#include "kubelet/metrics/kubelet_metrics.h"

#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/api/reflector.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/objects/timefmt.h"
#include "kubelet/pod/static_pods.h"

namespace cubelet::pod {
namespace {

using objects::str;

// Housekeeping runs every 2 s; dead containers are collected every 30 s.
constexpr int kGarbageCollectEvery = 15;

bool terminalPhase(const std::string& phase) { return phase == "Succeeded" || phase == "Failed"; }

// Phase Running with every container status running: the pod has started.
bool allContainersRunning(const json& status) {
  if (str(status, {"phase"}) != "Running") return false;
  const auto& cs = objects::array(status, {"containerStatuses"});
  if (cs.empty()) return false;
  for (const auto& c : cs)
    if (objects::find(c, {"state", "running"}) == nullptr) return false;
  return true;
}

// The order of a start, for the breakdown line.
constexpr const char* kStartPhases[] = {"admission", "cgroups", "volumes", "sandbox",
                                        "image",     "create",  "start",   "status_write"};

// A failed mirror pod call is retried this soon (the pod is synced again).
constexpr std::chrono::milliseconds kMirrorRetry{5000};

}  // namespace

bool PodLifecycle::syncMirror(const json& pod) {
  if (!opts_.createMirror || !opts_.deleteMirror) return true;
  const std::string fullName = podFullName(pod);
  std::optional<json> mirror = manager_.mirror(fullName);
  if (mirror && (!isMirrorOf(*mirror, pod) || !str(*mirror, {"metadata", "deletionTimestamp"}).empty())) {
    LOG_INFO << "Deleting mirror pod " << fullName << " (" << str(*mirror, {"metadata", "uid"})
             << ") because it is outdated or being deleted";
    auto st = opts_.deleteMirror(*mirror);
    if (!st.ok() && !api::isNotFound(st) && !api::isConflict(st)) {
      LOG_WARNING << "Failed deleting a mirror pod " << fullName << ": " << st.message();
      return false;
    }
    manager_.removeMirror(*mirror);
    mirror.reset();
  }
  if (mirror) return true;
  const json node = opts_.node ? opts_.node() : json::object();
  const std::string nodeUid = str(node, {"metadata", "uid"});
  if (nodeUid.empty()) {
    // The mirror's owner is the Node: it must be registered first.
    return false;
  }
  auto created = opts_.createMirror(mirrorPodFor(pod, opts_.nodeName, nodeUid));
  if (!created.ok()) {
    // AlreadyExists: an old mirror is still going away; the watch tells us when it is gone.
    if (!api::isAlreadyExists(created.status())) {
      LOG_WARNING << "Failed creating a mirror pod for " << fullName << ": " << created.status().message();
    }
    return false;
  }
  LOG_INFO << "Created mirror pod " << fullName << " (" << str(*created, {"metadata", "uid"}) << ")";
  manager_.setMirror(*created);
  return true;
}

void PodLifecycle::setStatus(const json& pod, const json& status) {
  if (!isStaticPod(pod)) {
    status_.setPodStatus(pod, status);
    return;
  }
  // A static pod's status goes to its mirror pod, if it has one of its own version.
  std::optional<json> mirror = manager_.mirror(podFullName(pod));
  if (mirror && !isMirrorOf(*mirror, pod)) mirror.reset();
  status_.setPodStatus(pod, status, mirror ? &*mirror : nullptr);
}

void PodLifecycle::deleteOrphanedMirrors() {
  if (!opts_.deleteMirror) return;
  for (const auto& mirror : manager_.mirrors()) {
    if (manager_.staticPod(podFullName(mirror))) continue;
    auto st = opts_.deleteMirror(mirror);
    if (st.ok() || api::isNotFound(st) || api::isConflict(st)) {
      LOG_INFO << "Deleted mirror pod " << podFullName(mirror) << " whose static pod is gone";
      manager_.removeMirror(mirror);
    } else {
      LOG_WARNING << "Failed deleting mirror pod " << podFullName(mirror) << ": " << st.message();
    }
  }
}

std::optional<Rejection> PodLifecycle::admit(const json& pod) {
  const std::string uid = str(pod, {"metadata", "uid"});
  {
    // Every sync asks; only a pod's first is admission.
    std::lock_guard<std::mutex> lock(mu_);
    if (admitted_.count(uid)) return std::nullopt;
  }
  AdmissionInput in;
  in.nodeName = opts_.nodeName;
  in.maxPods = opts_.maxPods;
  in.sysctls = opts_.sysctls.get();
  if (opts_.node) in.node = opts_.node();
  std::lock_guard<std::mutex> lock(mu_);
  if (admitted_.count(uid)) return std::nullopt;
  for (const auto& p : manager_.all()) {
    std::string puid = str(*p, {"metadata", "uid"});
    if (puid == uid || !admitted_.count(puid)) continue;
    const std::string phase = status_.podPhase(puid).value_or(str(*p, {"status", "phase"}));
    if (!terminalPhase(phase)) in.activePods.push_back(p);
  }
  auto rejection = admitPod(pod, in);
  if (!rejection) admitted_.insert(uid);
  return rejection;
}

SyncResult PodLifecycle::syncPod(const json& pod) {
  {
    std::lock_guard<std::mutex> lock(startupMu_);
    auto& s = startups_[str(pod, {"metadata", "uid"})];
    if (!s.firstSeen) {
      s.firstSeen = std::chrono::steady_clock::now();
      s.name = str(pod, {"metadata", "namespace"}) + "/" + str(pod, {"metadata", "name"});
    }
  }
  const std::string uid = str(pod, {"metadata", "uid"});
  json previous = status_.podStatus(uid).value_or(objects::object(pod, {"status"}));
  if (terminalPhase(str(previous, {"phase"}))) {
    // Finished pods are not run again; make sure nothing of them keeps running, and their
    // volumes go.
    auto st = rt_.kill(pod, 0);
    if (st.ok()) st = rt_.tearDownVolumes(uid);
    return {st, std::nullopt};
  }
  auto state = rt_.state(uid);
  if (!state.ok()) return {state.status(), std::nullopt};
  if (state->containers.empty() && state->sandboxes.empty()) {
    const auto admissionStart = std::chrono::steady_clock::now();
    std::optional<Rejection> rejected = admit(pod);
    addPhase(uid, "admission", std::chrono::steady_clock::now() - admissionStart);
    if (rejected) {
      events_.record({"Pod", "v1", str(pod, {"metadata", "name"}), str(pod, {"metadata", "namespace"}), uid, ""},
                     "Warning", rejected->reason, rejected->message);
      json st = {{"phase", "Failed"}, {"reason", rejected->reason}, {"message", "Pod was rejected: " + rejected->message}};
      if (auto q = runtime::qosClass(pod); q.ok()) st["qosClass"] = std::string(runtime::qosClassName(*q));
      if (int64_t g = objects::integer(pod, {"metadata", "generation"}, 0); g > 0) st["observedGeneration"] = g;
      setStatus(pod, st);
      return {absl::OkStatus(), std::nullopt};
    }
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    admitted_.insert(uid);
  }
  if (opts_.networkError && !objects::boolean(pod, {"spec", "hostNetwork"}, false)) {
    if (std::string err = opts_.networkError(); !err.empty()) {
      // As upstream: the status is written (Pending), a NetworkNotReady event, and another
      // try after a second rather than the error back-off.
      std::string message = "network is not ready: " + err;
      events_.record({"Pod", "v1", str(pod, {"metadata", "name"}), str(pod, {"metadata", "namespace"}), uid, ""},
                     "Warning", "NetworkNotReady", message);
      setStatus(pod, rt_.buildStatus(pod, *state, {}, previous, std::chrono::system_clock::now()));
      return {absl::UnavailableError(message), std::chrono::seconds(1)};
    }
  }
  if (state->containers.empty() && state->sandboxes.empty()) {
    // As upstream, a pod with nothing in the runtime yet has its status set as its sync
    // starts: it shows its containers waiting (ContainerCreating) while its volumes, its
    // sandbox and its images take their time or fail, before any event about them. The
    // sender coalesces it with the status after the sync when that one comes first.
    setStatus(pod, rt_.buildStatus(pod, *state, {}, previous, std::chrono::system_clock::now()));
  }
  auto t0 = std::chrono::steady_clock::now();
  runtime::SyncOutcome outcome = rt_.sync(pod, *state);
  auto t1 = std::chrono::steady_clock::now();
  // Read the runtime again only when the sync changed it.
  auto after = outcome.changed ? rt_.state(uid) : std::move(state);
  if (!after.ok()) return {after.status(), std::nullopt};
  auto now = std::chrono::system_clock::now();
  json status = rt_.buildStatus(pod, *after, outcome, previous, now);
  rt_.trackProbes(pod, *after);  // probes follow the containers that run now
  std::optional<std::chrono::milliseconds> requeue = outcome.retryAfter;
  // activeDeadlineSeconds counts from the pod's start on this node.
  if (int64_t deadline = objects::integer(pod, {"spec", "activeDeadlineSeconds"}, 0); deadline > 0) {
    if (auto started = objects::parseTime(str(status, {"startTime"}))) {
      auto left = *started + std::chrono::seconds(deadline) - now;
      if (left <= std::chrono::seconds(0)) {
        const std::string message = "Pod was active on the node longer than the specified deadline";
        events_.record({"Pod", "v1", str(pod, {"metadata", "name"}), str(pod, {"metadata", "namespace"}), uid, ""},
                       "Normal", "DeadlineExceeded", message);
        auto st = rt_.kill(pod, PodDispatcher::gracePeriod(pod));
        if (!st.ok()) return {st, std::nullopt};
        if (auto killed = rt_.state(uid); killed.ok()) {
          status = rt_.buildStatus(pod, *killed, {}, status, std::chrono::system_clock::now());
        }
        status["phase"] = "Failed";
        status["reason"] = "DeadlineExceeded";
        status["message"] = message;
        setStatus(pod, status);
        return {absl::OkStatus(), std::nullopt};
      }
      auto leftMs = std::chrono::duration_cast<std::chrono::milliseconds>(left) + std::chrono::milliseconds(1);
      if (!requeue || leftMs < *requeue) requeue = leftMs;
    }
  }
  if (isStaticPod(pod)) {
    // The mirror first, so the status can go to it.
    if (!syncMirror(pod) && (!requeue || kMirrorRetry < *requeue)) requeue = kMirrorRetry;
  }
  setStatus(pod, status);
  recordStartup(pod, status);
  VLOG(2) << "synced pod " << str(pod, {"metadata", "namespace"}) << "/" << str(pod, {"metadata", "name"})
          << ": runtime " << std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count() << "ms, status "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count()
          << "ms, phase " << str(status, {"phase"});
  if (terminalPhase(str(status, {"phase"}))) {
    // Terminal pods keep no running sandbox, and no volumes.
    auto st = rt_.kill(pod, 0);
    if (st.ok()) st = rt_.tearDownVolumes(uid);
    if (!st.ok()) return {st, std::nullopt};
  }
  return {outcome.error, requeue};
}

absl::Status PodLifecycle::killPod(const json& pod, std::optional<int64_t> gracePeriodSeconds) {
  const std::string uid = str(pod, {"metadata", "uid"});
  int64_t grace = gracePeriodSeconds.value_or(PodDispatcher::gracePeriod(pod));
  auto st = rt_.kill(pod, grace);
  if (!st.ok()) return st;
  // As upstream, the pod is deleted from the apiserver only once its volumes are gone.
  RETURN_IF_ERROR(rt_.tearDownVolumes(uid));
  if (!str(pod, {"metadata", "name"}).empty()) {
    // Report the final container states before the pod goes away.
    json previous = status_.podStatus(uid).value_or(objects::object(pod, {"status"}));
    if (auto after = rt_.state(uid); after.ok()) {
      json status = rt_.buildStatus(pod, *after, {}, previous, std::chrono::system_clock::now());
      if (!terminalPhase(str(status, {"phase"}))) {
        // Killed while it should have run on: the upstream kubelet reports it failed unless
        // every container exited 0.
        status["phase"] = str(status, {"phase"}) == "Succeeded" ? "Succeeded" : "Failed";
      }
      setStatus(pod, status);
    }
  }
  if (!str(pod, {"metadata", "deletionTimestamp"}).empty()) status_.requestDeletion(pod);
  std::lock_guard<std::mutex> lock(mu_);
  admitted_.erase(uid);
  return absl::OkStatus();
}

void PodLifecycle::recordStartup(const json& pod, const json& status) {
  const std::string uid = str(pod, {"metadata", "uid"});
  {
    std::lock_guard<std::mutex> lock(startupMu_);
    auto& s = startups_[uid];
    if (!s.firstSeen) s.firstSeen = std::chrono::steady_clock::now();
    if (s.recorded) return;
    if (!allContainersRunning(status)) return;
    s.recorded = true;
  }
  // kubelet_pod_start_duration_seconds: from the worker's first sync of the pod;
  // _sli_ and _total_: from the pod's creation, the SLI without its image pulls.
  auto& m = metrics::kubeletMetrics();
  std::chrono::steady_clock::time_point firstSeen;
  {
    std::lock_guard<std::mutex> lock(startupMu_);
    firstSeen = *startups_[uid].firstSeen;
  }
  m.podStartDuration.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - firstSeen).count());
  auto created = objects::parseTime(str(pod, {"metadata", "creationTimestamp"}));
  if (!created || isStaticPod(pod)) return;
  const bool hostNetwork = objects::boolean(pod, {"spec", "hostNetwork"}, false);
  std::string firstWithNetwork = "false";
  if (!hostNetwork && !firstNetworkPodRecorded_.exchange(true)) firstWithNetwork = "true";
  const double total = std::chrono::duration<double>(std::chrono::system_clock::now() - *created).count();
  const double pulls = std::chrono::duration<double>(rt_.imagePullSpan(uid)).count();
  m.podStartTotalDuration.with({firstWithNetwork}).observe(total);
  m.podStartSliDuration.with({firstWithNetwork}).observe(std::max(0.0, total - pulls));
}

void PodLifecycle::addPhase(const std::string& uid, const char* phase, std::chrono::steady_clock::duration d) {
  std::lock_guard<std::mutex> lock(startupMu_);
  auto it = startups_.find(uid);
  if (it == startups_.end() || it->second.phasesReported) return;  // started already: restarts are not start-up
  it->second.phases[phase] += std::chrono::duration<double>(d).count();
}

void PodLifecycle::statusSent(const std::string& uid, const json& status, std::chrono::steady_clock::duration waited) {
  if (!allContainersRunning(status)) return;
  std::map<std::string, double> phases;
  std::string name;
  std::chrono::steady_clock::duration sinceSeen{};
  {
    std::lock_guard<std::mutex> lock(startupMu_);
    auto it = startups_.find(uid);
    if (it == startups_.end() || it->second.phasesReported) return;
    it->second.phasesReported = true;
    // A pod found running (e.g. after a restart of the agent) was not started here.
    if (!it->second.phases.count("start")) return;
    it->second.phases["status_write"] += std::chrono::duration<double>(waited).count();
    phases = std::move(it->second.phases);
    it->second.phases.clear();
    name = it->second.name;
    if (it->second.firstSeen) sinceSeen = std::chrono::steady_clock::now() - *it->second.firstSeen;
  }
  auto& m = metrics::kubeletMetrics();
  std::ostringstream line;
  for (const char* phase : kStartPhases) {
    auto p = phases.find(phase);
    if (p == phases.end()) continue;
    m.podStartPhaseDuration.with({phase}).observe(p->second);
    line << " " << phase << "=" << std::fixed << std::setprecision(1) << p->second * 1000 << "ms";
  }
  VLOG(4) << "pod " << name << " (" << uid << ") started:" << line.str() << "; first seen -> status written "
          << std::chrono::duration_cast<std::chrono::milliseconds>(sinceSeen).count() << "ms";
}

void PodLifecycle::housekeeping(PodWorkers& workers) {
  auto uids = rt_.podUids();
  if (!uids.ok()) {
    VLOG(2) << "housekeeping: " << uids.status().message();
    return;
  }
  std::set<std::string> known;
  for (const auto& u : workers.knownPods()) known.insert(u);
  std::set<std::string> inRuntime(uids->begin(), uids->end());
  for (const auto& uid : *uids) {
    if (manager_.get(uid)) continue;
    if (known.count(uid) && !workers.isKilled(uid)) continue;  // still being stopped
    // Nobody wants this pod any more (deleted while we were down, or finished).
    json orphan = {{"metadata", {{"uid", uid}}}};
    if (rt_.kill(orphan, 0).ok()) {
      auto st = rt_.remove(uid);
      if (st.ok()) {
        inRuntime.erase(uid);
        LOG_INFO << "removed runtime state of pod " << uid << " that is no longer wanted";
      } else {
        LOG_WARNING << "could not remove pod " << uid << ": " << st.message();
      }
    }
  }
  if (opts_.podCgroups) {
    // Pod cgroups outlive their pods only until nothing runs in them any more.
    auto cgroupUids = opts_.podCgroups->podUids();
    for (const auto& uid : cgroupUids.ok() ? *cgroupUids : std::vector<std::string>{}) {
      if (manager_.get(uid) || inRuntime.count(uid) || (known.count(uid) && !workers.isKilled(uid))) continue;
      auto st = opts_.podCgroups->removePod(uid);
      if (!st.ok()) {
        VLOG(2) << "pod cgroup of " << uid << " stays: " << st.message();
      }
    }
  }
  deleteOrphanedMirrors();
  {
    // kubelet_desired_pods / kubelet_active_pods / kubelet_mirror_pods, as upstream's
    // HandlePodCleanups sets them: static "true" for manifest pods, "" for API pods.
    double desired[2] = {0, 0}, active[2] = {0, 0};
    for (const auto& p : manager_.all()) {
      const int stat = isStaticPod(*p) ? 1 : 0;
      desired[stat]++;
      if (!workers.isKilled(str(*p, {"metadata", "uid"}))) active[stat]++;
    }
    auto& m = metrics::kubeletMetrics();
    m.desiredPods.with({""}).set(desired[0]);
    m.desiredPods.with({"true"}).set(desired[1]);
    m.activePods.with({""}).set(active[0]);
    m.activePods.with({"true"}).set(active[1]);
    m.mirrorPods.set(static_cast<double>(manager_.mirrors().size()));
  }
  if (!opts_.podSourcesReady || opts_.podSourcesReady()) {
    // Pod directories of pods nobody wants, has or works on (deleted while the agent was
    // down, or left by a crash). Only once the pod sources delivered their pods: before that
    // every pod would look unwanted.
    // The live set is taken after the directories were listed, so a pod whose directory is
    // being made is always in it.
    int n = rt_.cleanupOrphanedPodDirs([&] {
      std::set<std::string> live = inRuntime;
      for (const auto& p : manager_.all()) live.insert(str(*p, {"metadata", "uid"}));
      for (const auto& uid : workers.knownPods()) {
        if (!workers.isKilled(uid) || manager_.get(uid)) live.insert(uid);
      }
      return live;
    });
    if (n > 0) {
      VLOG(2) << "removed " << n << " orphaned pod directories";
    }
  }
  if (++housekeepingRounds_ % kGarbageCollectEvery == 0) {
    auto removed = rt_.collectGarbage();
    if (!removed.ok()) {
      LOG_WARNING << "container garbage collection: " << removed.status().message();
    } else if (*removed > 0) {
      VLOG(2) << "container garbage collection removed " << *removed << " dead containers and sandboxes";
    }
  }
  for (const auto& uid : known) {
    if (!manager_.get(uid) && workers.isKilled(uid)) {
      workers.forget(uid);
      status_.removePod(uid);
      rt_.forgetPulls(uid);
      std::lock_guard<std::mutex> lock(startupMu_);
      startups_.erase(uid);
    }
  }
}

void PodLifecycle::runPleg(std::stop_token stop, std::chrono::milliseconds period,
                           const std::function<void(const std::string&)>& changed) {
  auto& m = metrics::kubeletMetrics();
  std::optional<std::chrono::steady_clock::time_point> lastStart;
  while (api::sleepFor(stop, period)) {
    // kubelet_pleg_* as upstream's GenericPLEG.Relist records them.
    const auto start = std::chrono::steady_clock::now();
    if (lastStart) m.plegRelistInterval.observe(std::chrono::duration<double>(start - *lastStart).count());
    lastStart = start;
    m.plegLastSeen.setToCurrentTime();
    auto fingerprints = rt_.fingerprints();
    m.plegRelistDuration.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!fingerprints.ok()) continue;
    auto& now = *fingerprints;
    for (const auto& [uid, print] : now) {
      auto it = prints_.find(uid);
      if (it == prints_.end() || it->second != print) changed(uid);
    }
    prints_ = std::move(now);
  }
}

}  // namespace cubelet::pod
