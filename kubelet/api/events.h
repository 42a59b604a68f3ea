// Kubernetes Events (core/v1) as the kubelet records them: queued without blocking the
// caller, sent by one worker thread under a QPS/burst limit, and repeats of the same event
// (object, type, reason, message) within 10 minutes folded into one Event whose count and
// lastTimestamp are patched, as client-go's event correlator does.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <mutex>
#include <stop_token>
#include <string>

#include "kubelet/api/client.h"

namespace cubelet::api {

struct ObjectRef {
  std::string kind;
  std::string apiVersion;
  std::string name;
  std::string ns;  // empty for cluster-scoped objects (the Event then goes to "default")
  std::string uid;
  std::string fieldPath;
};

// Builds the Event object for one occurrence. Exposed for tests.
json makeEvent(const ObjectRef& ref, const std::string& type, const std::string& reason,
               const std::string& message, const std::string& component, const std::string& host,
               std::chrono::system_clock::time_point now);

class EventRecorder {
 public:
  // Without a client (standalone mode, no apiserver) events are only logged at -v=3.
  EventRecorder(Client* client, std::string component, std::string host, int qps = 50, int burst = 100);

  // Thread-safe, never blocks on I/O. Drops (with a log line) when the queue is full.
  void record(const ObjectRef& ref, const std::string& type, const std::string& reason, const std::string& message);

  // Sends queued events until `stop` is requested.
  void run(std::stop_token stop);

 private:
  struct Pending {
    ObjectRef ref;
    std::string type, reason, message;
    std::chrono::system_clock::time_point at;
  };
  struct Seen {
    std::string ns, name;
    int count = 0;
    std::chrono::steady_clock::time_point last;
  };
  struct Similar {
    std::set<std::string> messages;  // distinct messages in the window, at most kMaxSimilar
    std::chrono::steady_clock::time_point last;
  };
  void send(const Pending& p);

  Client* client_;  // null: standalone
  const std::string component_, host_;
  const double qps_;
  const double burst_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Pending> queue_;            // guarded by mu_
  std::map<std::string, Seen> seen_;     // worker thread only
  std::map<std::string, Similar> similar_;  // worker thread only
  double tokens_;                        // worker thread only
  std::chrono::steady_clock::time_point refill_;  // worker thread only
};

}  // namespace cubelet::api
