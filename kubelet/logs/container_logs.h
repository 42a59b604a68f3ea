// The /containerLogs/{ns}/{pod}/{container} request after the server found the pod: what the
// upstream kubelet does in getContainerLogs (k/k pkg/kubelet/server/server.go),
// GetKubeletContainerLogs (kubelet_pods.go) and kuberuntime GetContainerLogs, without HTTP:
// the server hands in the query and a writer and answers the returned code.
#pragma once

#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "kubelet/runtime/cri_client.h"

namespace cubelet::logs {

// Streams `container`'s log of `pod` (the pod object, with its status) to `write`.
// Returns {0, ""} when the log was streamed (to its end, the byte/line limit, the container's
// exit in follow mode, `stop`, or `write` returning false), else {code, body}:
//   400 `{"message": "Unable to decode query."}`   a query value that does not decode
//   422 `{"message": "Invalid request."}`          decoded options that are not valid
//   404 `container "c" not found in pod "p"`       not in spec.containers/initContainers/
//                                                   ephemeralContainers
//   400 <text>                                     validateContainerLogStatus errors
//                                                   (`... is waiting to start: ...`), the
//                                                   runtime not knowing the container
//                                                   (`unable to retrieve container logs for
//                                                   <id>`), or the log file failing
// When `write` was already called the body can no longer be sent: the server just ends the
// response. Follow mode asks the runtime (ContainerStatus) whether the container still runs
// at every end of file. Thread-safe; blocks the calling thread while streaming.
std::pair<int, std::string> streamContainerLogs(runtime::RuntimeServiceClient& runtime, const nlohmann::json& pod,
                                                const std::string& container,
                                                const std::multimap<std::string, std::string>& query,
                                                const std::function<bool(std::string_view)>& write,
                                                std::stop_token stop);

}  // namespace cubelet::logs
