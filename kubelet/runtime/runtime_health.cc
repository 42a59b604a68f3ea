#include "kubelet/runtime/runtime_health.h"

#include "base/log.h"

namespace cubelet::runtime {

std::string RuntimeHealth::networkError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return networkError_;
}

bool RuntimeHealth::check(Clock::time_point now) {
  std::string version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    version = version_;
  }
  if (version.empty()) {
    auto v = cri_.version();
    if (v.ok()) {
      version = v->runtimeName + "://" + v->runtimeVersion;
      LOG_INFO << "container runtime " << version << " (CRI " << v->runtimeApiVersion << ")";
    } else {
      VLOG(2) << "runtime version: " << v.status().message();
    }
  }
  auto st = version.empty() ? absl::StatusOr<RuntimeStatus>(absl::UnavailableError("no version yet")) : cri_.status();
  std::lock_guard<std::mutex> lock(mu_);
  version_ = version;
  if (!st.ok()) {
    LOG_ERROR << "Container runtime sanity check failed: " << st.status().message();
  } else {
    const RuntimeCondition* net = st->find("NetworkReady");
    networkError_ = (net && net->status) ? "" : "container runtime network not ready: " + describeCondition(net);
    const RuntimeCondition* rt = st->find("RuntimeReady");
    if (rt && rt->status) {
      runtimeError_.clear();
      lastSync_ = now;
      synced_ = true;
    } else {
      runtimeError_ = "container runtime not ready: " + describeCondition(rt);
    }
  }
  auto errs = errorsLocked(now);
  bool changed = errs != lastErrors_;
  lastErrors_ = std::move(errs);
  return changed;
}

std::vector<std::string> RuntimeHealth::errors(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return errorsLocked(now);
}

std::vector<std::string> RuntimeHealth::errorsLocked(Clock::time_point now) const {
  std::vector<std::string> out;
  if (!synced_) {
    out.push_back("container runtime status check may not have completed yet");
  } else if (now - lastSync_ >= threshold_) {
    out.push_back("container runtime is down");
  }
  if (!runtimeError_.empty()) out.push_back(runtimeError_);
  if (!networkError_.empty()) out.push_back(networkError_);
  return out;
}

std::string RuntimeHealth::versionString() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

}  // namespace cubelet::runtime
