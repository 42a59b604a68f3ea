#include "kubelet/api/reflector.h"

#include <condition_variable>
#include <mutex>
#include <random>

#include "base/log.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::api {

std::chrono::milliseconds Backoff::next() {
  thread_local std::mt19937 rng{std::random_device{}()};
  auto cur = next_;
  next_ = std::min(max_, next_ * 2);
  std::uniform_real_distribution<double> jitter(1.0, 1.2);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(cur.count()) * jitter(rng)));
}

bool sleepFor(std::stop_token stop, std::chrono::milliseconds d) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

Reflector::Reflector(Client& client, std::string collection, std::string selector, ReflectorHandler handler)
    : client_(client), collection_(std::move(collection)), selector_(std::move(selector)), handler_(std::move(handler)) {}

std::string Reflector::watchPath(const std::string& rv, int timeoutSeconds) const {
  std::string p = collection_ + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + rv +
                  "&timeoutSeconds=" + std::to_string(timeoutSeconds);
  if (!selector_.empty()) p += "&" + selector_;
  return p;
}

absl::StatusOr<std::string> Reflector::list() {
  std::string path = collection_;
  if (!selector_.empty()) path += "?" + selector_;
  auto res = client_.get(path);
  if (!res.ok()) return res.status();
  std::vector<json> items;
  if (auto list = res->find("items"); list != res->end() && list->is_array()) {
    for (auto& it : *list) {
      if (!it.is_object()) continue;
      dropManagedFields(it);
      items.push_back(std::move(it));
    }
  }
  std::string rv = objects::str(*res, {"metadata", "resourceVersion"});
  if (handler_.onReplace) handler_.onReplace(items);
  return rv;
}

void Reflector::run(std::stop_token stop) {
  thread_local std::mt19937 rng{std::random_device{}()};
  Backoff backoff;
  std::string rv;
  while (!stop.stop_requested()) {
    if (rv.empty()) {
      auto listed = list();
      if (!listed.ok()) {
        LOG_WARNING << "list " << collection_ << " failed, retrying: " << listed.status().message();
        if (!sleepFor(stop, backoff.next())) return;
        continue;
      }
      rv = *listed;
      VLOG(2) << "listed " << collection_ << " at resourceVersion " << rv;
      // The handler may have asked to stop (e.g. the object is immutable): do not open a watch.
      if (stop.stop_requested()) return;
    }
    // Server-side timeouts spread between 5 and 10 minutes, as client-go does.
    int timeout = std::uniform_int_distribution<int>(300, 600)(rng);
    bool gotEvent = false;
    auto st = client_.watch(
        watchPath(rv, timeout),
        [&](const WatchEvent& ev) {
          gotEvent = true;
          rv = objects::str(ev.object, {"metadata", "resourceVersion"}, rv);
          if (ev.type != "BOOKMARK" && handler_.onEvent) handler_.onEvent(ev);
          return true;
        },
        stop, std::chrono::seconds(timeout + 30));
    if (stop.stop_requested()) return;
    if (st.ok()) {
      backoff.reset();
      continue;  // the server closed the watch; resume from the last resourceVersion
    }
    if (isGone(st)) {
      VLOG(1) << "watch " << collection_ << ": resourceVersion " << rv << " is too old, relisting";
      rv.clear();
      continue;
    }
    if (gotEvent) backoff.reset();
    LOG_WARNING << "watch " << collection_ << " ended: " << st.message() << "; retrying";
    if (!sleepFor(stop, backoff.next())) return;
  }
}

}  // namespace cubelet::api
