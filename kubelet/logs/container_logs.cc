#include "kubelet/logs/container_logs.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>

#include "base/log.h"
#include "kubelet/logs/cri_log.h"
#include "kubelet/logs/log_options.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::logs {
namespace {

using nlohmann::json;

bool inSpec(const json& pod, const std::string& container) {
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
    for (const auto& c : objects::array(pod, {"spec", list}))
      if (objects::str(c, {"name"}) == container) return true;
  }
  return false;
}

}  // namespace

std::pair<int, std::string> streamContainerLogs(runtime::RuntimeServiceClient& runtime, const json& pod,
                                                const std::string& container,
                                                const std::multimap<std::string, std::string>& query,
                                                const std::function<bool(std::string_view)>& write,
                                                std::stop_token stop) {
  auto opts = parseLogOptions(query, std::chrono::system_clock::now());
  if (!opts.ok()) {
    VLOG(2) << "containerLogs: " << opts.status().message();
    if (absl::IsInvalidArgument(opts.status())) return {400, R"({"message": "Unable to decode query."})"};
    return {422, R"({"message": "Invalid request."})"};
  }
  const std::string name = objects::str(pod, {"metadata", "name"});
  if (!inSpec(pod, container)) {
    return {404, "container " + json(container).dump() + " not found in pod " + json(name).dump()};
  }
  auto id = resolveLogContainerId(pod.contains("status") ? pod["status"] : json::object(), name, container,
                                  opts->previous);
  if (!id.ok()) return {400, std::string(id.status().message())};
  auto status = runtime.containerStatus(*id, false);
  if (!status.ok() || !status->has_status() || status->status().log_path().empty()) {
    if (!status.ok()) {
      VLOG(4) << "containerLogs: " << status.status().message();
    }
    return {400, "unable to retrieve container logs for " + *id};
  }
  const std::string logPath = status->status().log_path();
  const std::string cid = *id;
  auto running = [&runtime, cid] {
    auto s = runtime.containerStatus(cid, false);
    return s.ok() && s->has_status() && s->status().state() == runtime::v1::CONTAINER_RUNNING;
  };
  if (access(logPath.c_str(), R_OK) != 0)
    return {400, "failed to open log file \"" + logPath + "\": " + std::string(strerror(errno))};
  // The response head goes out before a follow may wait on a quiet container, as upstream's
  // zero-byte write does (an empty write sends only the head).
  if (!write("")) return {0, ""};
  auto st = readLogs(logPath, *opts, write, running, std::move(stop));
  if (!st.ok()) return {400, std::string(st.message())};
  return {0, ""};
}

}  // namespace cubelet::logs
