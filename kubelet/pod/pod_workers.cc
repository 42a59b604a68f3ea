#include "kubelet/pod/pod_workers.h"

#include <algorithm>

#include "base/log.h"
#include "kubelet/metrics/kubelet_metrics.h"

namespace cubelet::pod {
namespace {

constexpr std::chrono::milliseconds kInitialBackoff{1000};
constexpr std::chrono::milliseconds kMaxBackoff{60000};

}  // namespace

namespace {
double secondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}
}  // namespace

PodWorkers::PodWorkers(PodSyncer& syncer, int threads, std::chrono::milliseconds resyncPeriod)
    : syncer_(syncer), threads_(std::max(1, threads)), resync_(resyncPeriod) {}

PodWorkers::~PodWorkers() { stop(); }

void PodWorkers::start() {
  for (int i = 0; i < threads_; ++i) pool_.emplace_back([this](std::stop_token st) { loop(st); });
}

void PodWorkers::stop() {
  for (auto& t : pool_) t.request_stop();
  cv_.notify_all();
  pool_.clear();  // joins
}

void PodWorkers::scheduleLocked(const std::string& uid) {
  Lane& l = lanes_[uid];
  if (l.running || !l.pending || queued_.count(uid)) return;
  ready_.push_back(uid);
  queued_.insert(uid);
  cv_.notify_one();
}

void PodWorkers::update(const std::string& uid, PodWork work) {
  std::lock_guard<std::mutex> lock(mu_);
  Lane& l = lanes_[uid];
  if (work.type == WorkType::kSync) {
    // A pod being (or already) killed is not started again.
    if (l.killRequested) {
      if (l.pending) l.pending->pod = std::move(work.pod);  // keep the newest object for the kill
      return;
    }
    if (l.pending && l.pending->type == WorkType::kKill) return;
  } else {
    if (l.killed) return;
    // A second kill may only shorten the grace period.
    if (l.pending && l.pending->type == WorkType::kKill && l.pending->gracePeriodSeconds && work.gracePeriodSeconds &&
        *l.pending->gracePeriodSeconds < *work.gracePeriodSeconds) {
      work.gracePeriodSeconds = l.pending->gracePeriodSeconds;
    }
    l.killRequested = true;
  }
  l.lastPod = work.pod;
  l.pending = std::move(work);
  l.resync = false;
  if (!l.receivedAt) l.receivedAt = SteadyClock::now();
  l.wakeAt.reset();
  scheduleLocked(uid);
}

void PodWorkers::forget(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lanes_.find(uid);
  if (it == lanes_.end() || it->second.running) return;
  lanes_.erase(it);
  queued_.erase(uid);
  ready_.erase(std::remove(ready_.begin(), ready_.end(), uid), ready_.end());
}

bool PodWorkers::isKilled(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lanes_.find(uid);
  return it != lanes_.end() && it->second.killed;
}

bool PodWorkers::isIdle() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_.empty()) return false;
  for (const auto& [uid, l] : lanes_) {
    if (l.running || l.pending) return false;
  }
  return true;
}

std::vector<std::string> PodWorkers::knownPods() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [uid, l] : lanes_) out.push_back(uid);
  return out;
}

void PodWorkers::loop(std::stop_token st) {
  while (!st.stop_requested()) {
    std::string uid;
    PodWork work;
    const char* operation = "sync";
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Wait for ready work or the earliest scheduled wake-up.
      while (!st.stop_requested() && ready_.empty()) {
        std::optional<SteadyClock::time_point> next;
        auto now = SteadyClock::now();
        for (auto& [u, l] : lanes_) {
          if (!l.wakeAt || l.running) continue;
          if (*l.wakeAt <= now) {
            l.wakeAt.reset();
            if (!l.pending && !l.killed && l.lastPod) {
              l.pending = PodWork{l.killRequested ? WorkType::kKill : WorkType::kSync, l.lastPod, std::nullopt};
              l.resync = true;
            }
            scheduleLocked(u);
          } else if (!next || *l.wakeAt < *next) {
            next = l.wakeAt;
          }
        }
        if (!ready_.empty()) break;
        if (next) {
          cv_.wait_until(lock, st, *next, [this] { return !ready_.empty(); });
        } else {
          cv_.wait(lock, st, [this] { return !ready_.empty(); });
        }
      }
      if (st.stop_requested()) return;
      uid = ready_.front();
      ready_.pop_front();
      queued_.erase(uid);
      Lane& l = lanes_[uid];
      if (!l.pending) continue;
      work = std::move(*l.pending);
      l.pending.reset();
      l.running = true;
      operation = !l.synced ? "create" : l.resync ? "sync" : "update";
      if (l.receivedAt) {
        metrics::kubeletMetrics().podWorkerStartDuration.observe(secondsSince(*l.receivedAt));
        l.receivedAt.reset();
      }
    }
    const auto started = SteadyClock::now();

    std::optional<std::chrono::milliseconds> after;
    bool ok = true;
    try {
      if (work.type == WorkType::kSync) {
        SyncResult r = syncer_.syncPod(*work.pod);
        ok = r.status.ok();
        if (!ok) LOG_ERROR << "Error syncing pod " << uid << ": " << r.status.message();
        after = r.requeueAfter;
      } else {
        absl::Status s = syncer_.killPod(*work.pod, work.gracePeriodSeconds);
        ok = s.ok();
        if (!ok) LOG_ERROR << "Error killing pod " << uid << ": " << s.message();
      }
    } catch (const std::exception& e) {  // a malformed pod must not take a worker thread down
      ok = false;
      LOG_ERROR << "Unexpected error handling pod " << uid << ": " << e.what();
    }

    if (work.type == WorkType::kSync) {
      metrics::kubeletMetrics().podWorkerDuration.with({operation}).observe(secondsSince(started));
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lanes_.find(uid);
    if (it == lanes_.end()) continue;
    Lane& l = it->second;
    l.running = false;
    if (work.type == WorkType::kSync) l.synced = true;
    if (work.type == WorkType::kKill && ok) {
      l.killed = true;
      l.pending.reset();
      l.wakeAt.reset();
      continue;
    }
    if (!ok) {
      l.backoff = l.backoff.count() == 0 ? kInitialBackoff : std::min(kMaxBackoff, l.backoff * 2);
      // A failed sync that knows when it can make progress (a volume's or a pull's own
      // back-off ends, the network is checked again) is retried then, if that is sooner.
      if (!l.pending) l.wakeAt = SteadyClock::now() + (after ? std::min(*after, l.backoff) : l.backoff);
    } else {
      l.backoff = std::chrono::milliseconds(0);
      if (!l.pending) l.wakeAt = SteadyClock::now() + after.value_or(resync_);
    }
    scheduleLocked(uid);
    cv_.notify_all();  // a waiter may need to recompute its wake-up time
  }
}

}  // namespace cubelet::pod
