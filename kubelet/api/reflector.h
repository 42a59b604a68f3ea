// List + watch loop for one collection (a client-go Reflector in miniature): lists, then
// watches from the list's resourceVersion with bookmarks; re-watches from the last seen
// resourceVersion when a watch ends; relists on 410 Gone; backs off on errors.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "kubelet/api/client.h"

namespace cubelet::api {

struct ReflectorHandler {
  // The complete current state after a (re)list.
  std::function<void(const std::vector<json>& items)> onReplace;
  // ADDED / MODIFIED / DELETED; bookmarks are consumed by the reflector.
  std::function<void(const WatchEvent& ev)> onEvent;
};

// Exponential back-off with jitter: 800ms, 1.6s ... capped at 30s.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds initial = std::chrono::milliseconds(800),
                   std::chrono::milliseconds max = std::chrono::seconds(30))
      : initial_(initial), max_(max), next_(initial) {}
  std::chrono::milliseconds next();
  void reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, next_;
};

class Reflector {
 public:
  // `collection` is the list path, e.g. "/api/v1/nodes"; `selector` a query string without
  // the leading '?' (e.g. "fieldSelector=metadata.name%3Dnode1"), possibly empty.
  Reflector(Client& client, std::string collection, std::string selector, ReflectorHandler handler);

  // Runs until `stop` is requested.
  void run(std::stop_token stop);

  // Exposed for tests: the watch URL for a resourceVersion.
  std::string watchPath(const std::string& resourceVersion, int timeoutSeconds) const;

 private:
  absl::StatusOr<std::string> list();

  Client& client_;
  std::string collection_;
  std::string selector_;
  ReflectorHandler handler_;
};

// Sleeps up to `d`, waking early when `stop` is requested. Returns false if stopped.
bool sleepFor(std::stop_token stop, std::chrono::milliseconds d);

}  // namespace cubelet::api
