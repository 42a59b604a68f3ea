// Tracks whether the container runtime is usable, the way the kubelet's runtime state does:
// a periodic CRI Status call; "container runtime is down" once no successful check happened
// within the threshold; runtime/network not-ready conditions reported with their reasons.
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "kubelet/runtime/cri_client.h"

namespace cubelet::runtime {

class RuntimeHealth {
 public:
  using Clock = std::chrono::steady_clock;
  RuntimeHealth(CriClient& cri, std::chrono::seconds threshold = std::chrono::seconds(30))
      : cri_(cri), threshold_(threshold), lastErrors_(errorsLocked(Clock::now())) {}

  // One check: Version until it is known, then Status. Returns true when the error set changed.
  bool check(Clock::time_point now = Clock::now());

  // Errors that make the node NotReady, in the kubelet's wording; empty when healthy.
  std::vector<std::string> errors(Clock::time_point now = Clock::now()) const;

  // The network part of errors(): "" when the runtime reports NetworkReady, else the
  // kubelet's "container runtime network not ready: ..." (pods that need the pod network
  // wait while it is set).
  std::string networkError() const;

  // "containerd://1.6.20~ds1", or empty until the runtime answered Version once.
  std::string versionString() const;

 private:
  std::vector<std::string> errorsLocked(Clock::time_point now) const;  // requires mu_

  CriClient& cri_;
  const std::chrono::seconds threshold_;
  mutable std::mutex mu_;
  std::string version_;                     // guarded by mu_
  Clock::time_point lastSync_{};            // guarded by mu_; epoch = never
  bool synced_ = false;                     // guarded by mu_
  std::string runtimeError_;                // guarded by mu_
  std::string networkError_ = "network state unknown";  // guarded by mu_
  std::vector<std::string> lastErrors_;     // guarded by mu_
};

}  // namespace cubelet::runtime
