#include "kubelet/prober/probe_manager.h"

#include <algorithm>
#include <set>

#include "base/log.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::prober {
namespace {

using nlohmann::json;
using objects::str;

constexpr ProbeType kTypes[] = {ProbeType::kLiveness, ProbeType::kReadiness, ProbeType::kStartup};

const char* specField(ProbeType type) {
  switch (type) {
    case ProbeType::kLiveness: return "livenessProbe";
    case ProbeType::kReadiness: return "readinessProbe";
    case ProbeType::kStartup: return "startupProbe";
  }
  return "";
}

// A probe field with the API's default when absent or not positive.
int64_t positive(const json& probe, std::string_view field, int64_t fallback) {
  int64_t v = objects::integer(probe, {field}, fallback);
  return v > 0 ? v : fallback;
}

}  // namespace

struct ProbeManager::Worker {
  Key key;
  ProbeType type = ProbeType::kLiveness;
  std::string containerId;
  std::string podIp;
  std::shared_ptr<const json> pod;  // shared by the pod's workers, replaced at each setRunning
  json container;                   // the container's spec
  json probe;
  bool initContainer = false;
  Clock::time_point containerStart;
  Clock::duration period{};
  Clock::duration initialDelay{};
  int successThreshold = 1;
  int failureThreshold = 3;
  // How many runs in a row gave lastResult.
  Result lastResult = Result::kUnknown;
  int resultRun = 0;
  // Nothing more to probe until the container is replaced (or forever, for the startup
  // probe once it decided).
  bool onHold = false;
  bool busy = false;  // a pool thread runs it
  bool gone = false;  // unregistered: whatever it is doing is thrown away
  uint64_t seq = 0;   // its current entry in due_ (0: none)
  Clock::time_point lastDue;
};

ProbeManager::ProbeManager(ProbeRunner& prober, api::EventRecorder& events, ProbeManagerOptions options)
    : prober_(prober), events_(events), opts_(std::move(options)), startedAt_(Clock::now()), rng_(std::random_device{}()) {}

ProbeManager::~ProbeManager() { stop(); }

void ProbeManager::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    startedAt_ = Clock::now();
  }
  scheduler_ = std::jthread([this](std::stop_token st) { schedulerLoop(st); });
  for (int i = 0; i < std::max(1, opts_.workerThreads); ++i) {
    pool_.emplace_back([this](std::stop_token st) { poolLoop(st); });
  }
}

void ProbeManager::requestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ready_.clear();
  }
  scheduler_.request_stop();
  for (auto& t : pool_) t.request_stop();
}

void ProbeManager::stop() {
  requestStop();
  if (scheduler_.joinable()) {
    scheduler_.request_stop();
    scheduler_.join();
  }
  for (auto& t : pool_) t.request_stop();
  for (auto& t : pool_) {
    if (t.joinable()) t.join();
  }
  pool_.clear();
}

size_t ProbeManager::workerCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size();
}

std::optional<ProbeManager::Result> ProbeManager::resultLocked(const std::string& containerId, ProbeType type) const {
  auto it = results_.find(containerId);
  if (it == results_.end()) return std::nullopt;
  auto r = it->second.byType.find(type);
  if (r == it->second.byType.end()) return std::nullopt;
  return r->second;
}

std::optional<bool> ProbeManager::ready(const std::string& containerId) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = resultLocked(containerId, ProbeType::kReadiness);
  if (!r) return std::nullopt;
  return *r == Result::kSuccess;
}

std::optional<bool> ProbeManager::started(const std::string& containerId) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = resultLocked(containerId, ProbeType::kStartup);
  if (!r) return std::nullopt;
  return *r == Result::kSuccess;
}

std::optional<runtime::ProbeFailure> ProbeManager::failed(const std::string& containerId) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = results_.find(containerId);
  if (it == results_.end()) return std::nullopt;
  const auto& by = it->second.byType;
  // Liveness first, as upstream's computePodActions checks it first.
  if (auto l = by.find(ProbeType::kLiveness); l != by.end() && l->second == Result::kFailure) {
    return runtime::ProbeFailure{ProbeType::kLiveness, it->second.livenessGrace};
  }
  if (auto s = by.find(ProbeType::kStartup); s != by.end() && s->second == Result::kFailure) {
    return runtime::ProbeFailure{ProbeType::kStartup, it->second.startupGrace};
  }
  return std::nullopt;
}

void ProbeManager::scheduleLocked(const WorkerPtr& w, Clock::time_point at) {
  w->seq = ++seq_;
  w->lastDue = at;
  due_.push(Due{at, w->seq, w});
  schedulerCv_.notify_one();
}

void ProbeManager::dropWorkerLocked(const Key& key) {
  auto it = workers_.find(key);
  if (it == workers_.end()) return;
  WorkerPtr w = it->second;
  workers_.erase(it);
  w->gone = true;
  auto r = results_.find(w->containerId);
  if (r != results_.end()) {
    r->second.byType.erase(w->type);
    if (r->second.byType.empty()) results_.erase(r);
  }
}

void ProbeManager::setResultLocked(const WorkerPtr& w, Result r, std::vector<std::string>* changed) {
  Result& slot = results_[w->containerId].byType[w->type];
  if (slot == r) return;
  slot = r;
  changed->push_back(std::get<0>(w->key));
}

void ProbeManager::setRunning(const json& pod, const std::string& podIp,
                              const std::vector<runtime::RunningContainer>& running) {
  const std::string uid = str(pod, {"metadata", "uid"});
  if (uid.empty()) return;
  struct Wanted {
    const runtime::RunningContainer* instance;
    const json* spec;
    bool init;
  };
  std::map<Key, Wanted> wanted;
  for (const auto& rc : running) {
    const json* spec = nullptr;
    bool init = false;
    for (const char* list : {"containers", "initContainers"}) {
      for (const auto& c : objects::array(pod, {"spec", list})) {
        if (!spec && str(c, {"name"}) == rc.name) {
          spec = &c;
          init = std::string_view(list) == "initContainers";
        }
      }
    }
    if (!spec) continue;
    for (ProbeType type : kTypes) {
      const json* probe = objects::find(*spec, {specField(type)});
      if (probe && probe->is_object()) wanted[Key{uid, rc.name, type}] = Wanted{&rc, spec, init};
    }
  }

  auto shared = std::make_shared<const json>(pod);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  // Workers of instances that stopped or were replaced go, with their results.
  std::vector<Key> drop;
  for (const auto& [key, w] : workers_) {
    if (std::get<0>(key) != uid) continue;
    auto it = wanted.find(key);
    if (it == wanted.end() || it->second.instance->id != w->containerId) drop.push_back(key);
  }
  for (const auto& key : drop) dropWorkerLocked(key);

  const auto now = Clock::now();
  const auto sysNow = std::chrono::system_clock::now();
  for (const auto& [key, want] : wanted) {
    if (auto it = workers_.find(key); it != workers_.end()) {
      it->second->pod = shared;
      it->second->podIp = podIp;
      continue;
    }
    const ProbeType type = std::get<2>(key);
    auto w = std::make_shared<Worker>();
    w->key = key;
    w->type = type;
    w->containerId = want.instance->id;
    w->podIp = podIp;
    w->pod = shared;
    w->container = *want.spec;
    w->probe = (*want.spec)[specField(type)];
    w->initContainer = want.init;
    w->period = opts_.second * positive(w->probe, "periodSeconds", 10);
    w->initialDelay = opts_.second * std::max<int64_t>(objects::integer(w->probe, {"initialDelaySeconds"}, 0), 0);
    w->successThreshold = static_cast<int>(positive(w->probe, "successThreshold", 1));
    w->failureThreshold = static_cast<int>(positive(w->probe, "failureThreshold", 3));
    // The runtime's start time, moved onto the steady clock.
    w->containerStart = now;
    if (want.instance->startedAt > 0) {
      auto sinceStart = sysNow - std::chrono::system_clock::time_point(std::chrono::nanoseconds(want.instance->startedAt));
      if (sinceStart > Clock::duration::zero()) {
        w->containerStart = now - std::chrono::duration_cast<Clock::duration>(sinceStart);
      }
    }
    Results& res = results_[w->containerId];
    const json* grace = objects::find(w->probe, {"terminationGracePeriodSeconds"});
    std::optional<int64_t> probeGrace;
    if (grace && grace->is_number_integer()) probeGrace = grace->get<int64_t>();
    switch (type) {
      case ProbeType::kLiveness:
        res.byType[type] = Result::kSuccess;
        res.livenessGrace = probeGrace;
        break;
      case ProbeType::kReadiness:
        res.byType[type] = Result::kFailure;
        break;
      case ProbeType::kStartup:
        res.byType[type] = Result::kUnknown;
        res.startupGrace = probeGrace;
        break;
    }
    auto first = std::max(now, w->containerStart + w->initialDelay);
    if (opts_.startupJitter && now - startedAt_ < w->period) {
      // Right after a (re)start every adopted container would be probed at once.
      std::uniform_real_distribution<double> part(0.0, 1.0);
      auto jitter = std::chrono::duration_cast<Clock::duration>(w->period * part(rng_));
      first = std::max(first, now + jitter);
    }
    workers_[key] = w;
    scheduleLocked(w, first);
  }
}

void ProbeManager::removePod(const std::string& podUid) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Key> drop;
  for (const auto& [key, w] : workers_)
    if (std::get<0>(key) == podUid) drop.push_back(key);
  for (const auto& key : drop) dropWorkerLocked(key);
}

void ProbeManager::schedulerLoop(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop.stop_requested()) {
    const auto now = Clock::now();
    while (!due_.empty() && due_.top().at <= now) {
      Due d = due_.top();
      due_.pop();
      const WorkerPtr& w = d.worker;
      // Entries of workers that were rescheduled, held or removed since are stale.
      if (w->gone || w->onHold || w->busy || d.seq != w->seq) continue;
      w->seq = 0;
      ready_.push_back(w);
      poolCv_.notify_one();
    }
    if (due_.empty()) {
      schedulerCv_.wait(lock, stop, [this] { return !due_.empty(); });
    } else {
      const auto next = due_.top().at;
      schedulerCv_.wait_until(lock, stop, next, [this, next] { return !due_.empty() && due_.top().at < next; });
    }
  }
}

void ProbeManager::poolLoop(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    poolCv_.wait(lock, stop, [this] { return !ready_.empty(); });
    if (stop.stop_requested()) return;
    WorkerPtr w = std::move(ready_.front());
    ready_.pop_front();
    if (w->gone) continue;
    lock.unlock();
    runWorker(w);
    lock.lock();
  }
}

void ProbeManager::runWorker(const WorkerPtr& w) {
  std::vector<std::string> changed;
  std::unique_lock<std::mutex> lock(mu_);
  if (w->gone || w->onHold || stopping_) return;
  auto now = Clock::now();
  const std::string uid = std::get<0>(w->key);
  const std::string name = std::get<1>(w->key);
  if (w->type != ProbeType::kReadiness && !str(*w->pod, {"metadata", "deletionTimestamp"}).empty()) {
    // A pod on its way out is not restarted for its probes: a quiet last result.
    setResultLocked(w, Result::kSuccess, &changed);
    w->onHold = true;
  } else if (now < w->containerStart + w->initialDelay) {
    scheduleLocked(w, w->containerStart + w->initialDelay);
    return;
  } else if (w->type != ProbeType::kStartup) {
    // Liveness and readiness wait until the startup probe (if any) succeeded.
    auto startup = resultLocked(w->containerId, ProbeType::kStartup);
    if (startup && *startup != Result::kSuccess) {
      scheduleLocked(w, std::max(now, w->lastDue + w->period));
      return;
    }
  }
  if (!w->onHold) {
    w->busy = true;
    const std::shared_ptr<const json> pod = w->pod;
    const json container = w->container;
    const json probe = w->probe;
    const std::string containerId = w->containerId;
    const std::string podIp = w->podIp;
    lock.unlock();
    ProbeRun run = prober_.probe(w->type, probe, ProbeTarget{*pod, container, containerId, podIp});
    lock.lock();
    w->busy = false;
    if (w->gone || stopping_) return;  // replaced or removed meanwhile: the run means nothing
    if (run.event) {
      api::ObjectRef ref{"Pod", "v1", str(*pod, {"metadata", "name"}), str(*pod, {"metadata", "namespace"}), uid,
                         std::string(w->initContainer ? "spec.initContainers{" : "spec.containers{") + name + "}"};
      events_.record(ref, run.event->type, run.event->reason, run.event->message);
    }
    if (run.success) {
      const Result r = *run.success ? Result::kSuccess : Result::kFailure;
      if (r == w->lastResult) {
        ++w->resultRun;
      } else {
        w->lastResult = r;
        w->resultRun = 1;
      }
      const bool belowThreshold = (r == Result::kFailure && w->resultRun < w->failureThreshold) ||
                                  (r == Result::kSuccess && w->resultRun < w->successThreshold);
      if (!belowThreshold) {
        setResultLocked(w, r, &changed);
        if ((w->type == ProbeType::kLiveness && r == Result::kFailure) || w->type == ProbeType::kStartup) {
          // The container will be restarted (or, for startup success, it has started): no
          // more probes of this kind for this instance.
          w->onHold = true;
          w->resultRun = 0;
        }
        if (w->type == ProbeType::kStartup && r == Result::kSuccess) {
          // Readiness was waiting for this: probe it now rather than a period later.
          auto rw = workers_.find(Key{uid, name, ProbeType::kReadiness});
          if (rw != workers_.end() && rw->second->containerId == w->containerId && !rw->second->busy &&
              !rw->second->onHold) {
            now = Clock::now();
            scheduleLocked(rw->second, std::max(now, rw->second->containerStart + rw->second->initialDelay));
          }
        }
      }
    }
    if (!w->onHold) scheduleLocked(w, std::max(Clock::now(), w->lastDue + w->period));
  }
  lock.unlock();
  if (opts_.onChange) {
    std::set<std::string> once(changed.begin(), changed.end());
    for (const auto& u : once) opts_.onChange(u);
  }
}

}  // namespace cubelet::prober
