#include "kubelet/api/events.h"

#include <random>

#include "base/log.h"
#include "kubelet/api/reflector.h"
#include "kubelet/objects/timefmt.h"

namespace cubelet::api {
namespace {

constexpr size_t kMaxQueue = 1000;
constexpr auto kFoldWindow = std::chrono::minutes(10);
constexpr size_t kMaxSimilar = 10;

std::string eventNamespace(const ObjectRef& ref) { return ref.ns.empty() ? "default" : ref.ns; }

}  // namespace

json makeEvent(const ObjectRef& ref, const std::string& type, const std::string& reason, const std::string& message,
               const std::string& component, const std::string& host, std::chrono::system_clock::time_point now) {
  // Names follow client-go: "<object>.<hex unix nanoseconds>".
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[32];
  snprintf(suffix, sizeof suffix, "%llx", static_cast<unsigned long long>(nanos));
  json involved = {{"kind", ref.kind}, {"name", ref.name}};
  if (!ref.apiVersion.empty()) involved["apiVersion"] = ref.apiVersion;
  if (!ref.ns.empty()) involved["namespace"] = ref.ns;
  if (!ref.uid.empty()) involved["uid"] = ref.uid;
  if (!ref.fieldPath.empty()) involved["fieldPath"] = ref.fieldPath;
  std::string ts = objects::formatTime(now);
  return json{{"apiVersion", "v1"},
              {"kind", "Event"},
              {"metadata", {{"name", ref.name + "." + suffix}, {"namespace", eventNamespace(ref)}}},
              {"involvedObject", involved},
              {"reason", reason},
              {"message", message},
              {"type", type},
              {"source", {{"component", component}, {"host", host}}},
              {"firstTimestamp", ts},
              {"lastTimestamp", ts},
              {"count", 1},
              {"reportingComponent", component},
              {"reportingInstance", host}};
}

EventRecorder::EventRecorder(Client* client, std::string component, std::string host, int qps, int burst)
    : client_(client),
      component_(std::move(component)),
      host_(std::move(host)),
      qps_(qps > 0 ? qps : 50),
      burst_(burst > 0 ? burst : 100),
      tokens_(burst_),
      refill_(std::chrono::steady_clock::now()) {}

void EventRecorder::record(const ObjectRef& ref, const std::string& type, const std::string& reason,
                           const std::string& message) {
  if (!client_) {
    VLOG(3) << "event " << type << " " << reason << " on " << ref.kind << " " << ref.ns << "/" << ref.name << ": "
            << message;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kMaxQueue) {
      LOG_WARNING << "event queue full, dropping event " << reason << " for " << ref.kind << " " << ref.name;
      return;
    }
    queue_.push_back({ref, type, reason, message, std::chrono::system_clock::now()});
  }
  cv_.notify_one();
}

void EventRecorder::send(const Pending& original) {
  auto now = std::chrono::steady_clock::now();
  // Aggregation (client-go's EventAggregator): events of one object with the same type and
  // reason but different messages are grouped; from the kMaxSimilar-th distinct message in
  // the window on, they fold into one "(combined from similar events)" event.
  const std::string similarKey = original.ref.kind + "/" + original.ref.ns + "/" + original.ref.name + "/" +
                                 original.ref.uid + "/" + original.ref.apiVersion + "/" + original.type + "/" +
                                 original.reason;
  Similar& similar = similar_[similarKey];
  if (now - similar.last > kFoldWindow) similar.messages.clear();
  similar.last = now;
  if (similar.messages.size() < kMaxSimilar) similar.messages.insert(original.message);
  Pending p = original;
  std::string key;
  bool combined = similar.messages.size() >= kMaxSimilar;
  if (combined) {
    p.message = "(combined from similar events): " + original.message;
    key = similarKey + "/combined";
  } else {
    key = similarKey + "/" + p.ref.fieldPath + "/" + p.message;
  }
  auto it = seen_.find(key);
  if (it != seen_.end() && now - it->second.last < kFoldWindow) {
    Seen& s = it->second;
    json patch = {{"count", s.count + 1}, {"lastTimestamp", objects::formatTime(p.at)}};
    if (combined) patch["message"] = p.message;
    auto r = client_->patch("/api/v1/namespaces/" + s.ns + "/events/" + s.name, patch, PatchType::kMerge);
    if (r.ok()) {
      s.count++;
      s.last = now;
      return;
    }
    if (!isNotFound(r.status())) {
      LOG_WARNING << "could not update event " << s.name << ": " << r.status().message();
      return;
    }
    // The old event expired (TTL): create a new one below.
  }
  json ev = makeEvent(p.ref, p.type, p.reason, p.message, component_, host_, p.at);
  const std::string ns = ev["metadata"]["namespace"];
  auto r = client_->create("/api/v1/namespaces/" + ns + "/events", ev);
  if (!r.ok()) {
    LOG_WARNING << "could not record event " << p.reason << " for " << p.ref.kind << " " << p.ref.name << ": "
                << r.status().message();
    return;
  }
  seen_[key] = Seen{ns, ev["metadata"]["name"], 1, now};
  // Forget stale entries now and then so the map stays small.
  if (seen_.size() > 4096) {
    for (auto i = seen_.begin(); i != seen_.end();) i = now - i->second.last > kFoldWindow ? seen_.erase(i) : std::next(i);
  }
  if (similar_.size() > 4096) {
    for (auto i = similar_.begin(); i != similar_.end();) {
      i = now - i->second.last > kFoldWindow ? similar_.erase(i) : std::next(i);
    }
  }
}

void EventRecorder::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    Pending p;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, stop, [this] { return !queue_.empty(); });
      if (stop.stop_requested()) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    // Token bucket: eventRecordQPS with eventBurst.
    auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - refill_).count() * qps_);
    refill_ = now;
    if (tokens_ < 1) {
      auto wait = std::chrono::duration<double>((1 - tokens_) / qps_);
      if (!sleepFor(stop, std::chrono::duration_cast<std::chrono::milliseconds>(wait) + std::chrono::milliseconds(1)))
        return;
      tokens_ = 1;
      refill_ = std::chrono::steady_clock::now();
    }
    tokens_ -= 1;
    send(p);
  }
}

}  // namespace cubelet::api
