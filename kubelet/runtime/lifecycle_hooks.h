// Container lifecycle hooks (postStart, preStop) as the upstream kubelet runs them
// (pkg/kubelet/lifecycle/handlers.go): exec through CRI ExecSync, httpGet against the pod
// with the request and client httpGet probes use (kubelet/prober/http_get.h: host defaulting
// to the pod IP, named ports, User-Agent kube-lifecycle/<version>, same-host redirects;
// any HTTP answer is success, only a failed request fails), and sleep.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "kubelet/runtime/cri_client.h"

namespace cubelet::runtime {

struct HookTarget {
  const nlohmann::json& pod;
  const nlohmann::json& container;  // the spec of the container the hook belongs to
  std::string containerId;
  std::string podIp;
};

// Runs `handler` (a LifecycleHandler object) for `target`, giving up after `timeout` (0: no
// limit, as for postStart).
// The error message is the upstream event text, e.g. `Exec lifecycle hook ([sh -c exit 1])
// for Container "main" in Pod "web_default(uid)" failed - error: command 'sh -c exit 1'
// exited with 1: , message: ""`.
absl::Status runLifecycleHook(CriClient& cri, const nlohmann::json& handler, const HookTarget& target,
                              std::chrono::seconds timeout);

}  // namespace cubelet::runtime
