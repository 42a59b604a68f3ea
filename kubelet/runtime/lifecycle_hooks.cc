#include "kubelet/runtime/lifecycle_hooks.h"

#include <thread>

#include "kubelet/objects/json_access.h"
#include "kubelet/prober/http_get.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::runtime {
namespace {

using nlohmann::json;
using objects::str;

std::string joined(const json& list) {
  std::string out;
  for (const auto& v : list)
    if (v.is_string()) out += (out.empty() ? "" : " ") + v.get<std::string>();
  return out;
}

absl::Status execHook(CriClient& cri, const json& exec, const HookTarget& t, std::chrono::seconds timeout) {
  const json& command = objects::array(exec, {"command"});
  std::vector<std::string> cmd;
  for (const auto& v : command)
    if (v.is_string()) cmd.push_back(v.get<std::string>());
  const std::string prefix = "Exec lifecycle hook ([" + joined(command) + "]) for Container \"" +
                             str(t.container, {"name"}) + "\" in Pod \"" + podDescription(t.pod) + "\" failed - error: ";
  if (cmd.empty()) return absl::InvalidArgumentError(prefix + "no command given, message: \"\"");
  auto resp = cri.execSync(t.containerId, cmd, timeout);
  if (!resp.ok()) return absl::Status(resp.status().code(), prefix + std::string(resp.status().message()) + ", message: \"\"");
  if (resp->exit_code() != 0) {
    std::string output = resp->stdout() + resp->stderr();
    return absl::FailedPreconditionError(prefix + "command '" + joined(command) + "' exited with " +
                                         std::to_string(resp->exit_code()) + ": " + output + ", message: \"" +
                                         output + "\"");
  }
  return absl::OkStatus();
}

absl::Status httpHook(const json& get, const HookTarget& t, std::chrono::seconds timeout) {
  const std::string path = str(get, {"path"}, "/");
  const std::string prefix = "HTTP lifecycle hook (" + path + ") for Container \"" + str(t.container, {"name"}) +
                             "\" in Pod \"" + podDescription(t.pod) + "\" failed - error: ";
  if (str(get, {"host"}).empty() && t.podIp.empty()) {
    return absl::FailedPreconditionError(prefix + "the pod has no IP, message: \"\"");
  }
  // The same request and client as httpGet probes (User-Agent kube-lifecycle/<version>).
  auto request = prober::requestForHttpGetAction(get, t.container, t.podIp, "lifecycle");
  if (!request.ok()) return absl::InvalidArgumentError(prefix + std::string(request.status().message()) + ", message: \"\"");
  auto res = prober::httpGet(*request, timeout.count() > 0 ? timeout : std::chrono::seconds(10));
  if (!res.ok()) return absl::Status(res.status().code(), prefix + std::string(res.status().message()) + ", message: \"\"");
  // As upstream: any answer is a success; only a request that got none fails the hook.
  return absl::OkStatus();
}

}  // namespace

absl::Status runLifecycleHook(CriClient& cri, const json& handler, const HookTarget& target,
                              std::chrono::seconds timeout) {
  if (const json* exec = objects::find(handler, {"exec"}); exec && exec->is_object()) {
    return execHook(cri, *exec, target, timeout);
  }
  if (const json* get = objects::find(handler, {"httpGet"}); get && get->is_object()) {
    return httpHook(*get, target, timeout);
  }
  if (const json* sleep = objects::find(handler, {"sleep"}); sleep && sleep->is_object()) {
    int64_t secs = objects::integer(*sleep, {"seconds"}, 0);
    if (timeout.count() > 0) secs = std::min<int64_t>(secs, timeout.count());
    std::this_thread::sleep_for(std::chrono::seconds(std::max<int64_t>(secs, 0)));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("lifecycle hook for container \"" + str(target.container, {"name"}) +
                                    "\" in pod \"" + podDescription(target.pod) + "\": no exec, httpGet or sleep handler");
}

}  // namespace cubelet::runtime
