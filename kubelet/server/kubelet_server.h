// The kubelet API on address:port (default 0.0.0.0:10250), HTTPS only: what `kubectl logs`,
// `exec`, `attach`, `port-forward`, `cp`, `top` (through metrics-server), Prometheus and the
// conformance tests reach a node through.
//
// Every request is authenticated and then authorized (auth.h) before any handler runs,
// /healthz and /metrics included, as on the upstream kubelet's secure port. Endpoints:
//   /healthz[/<check>]         ping, log and the agent's own checks (syncloop)
//   /pods                      the pods this node should run (PodList)
//   /runningpods/              the pods the runtime runs (PodList, names and containers only)
//   /configz                   {"kubeletconfig": <the defaulted KubeletConfiguration>}
//   /containerLogs/{ns}/{pod}/{container}   a container's log (follow, tail, since...)
//   /exec, /attach /{ns}/{pod}[/{uid}]/{container}; /portForward/{ns}/{pod}[/{uid}]
//                              the runtime's streaming URL (CRI Exec/Attach/PortForward)
//                              proxied: the upgraded (SPDY or WebSocket) connection is relayed
//                              byte for byte, as upstream's UpgradeAwareHandler does
//   /run/{ns}/{pod}[/{uid}]/{container}?cmd=   a command's output (CRI ExecSync)
//   /logs/{path}               files and listings beneath /var/log (nodes/log); nothing
//                              outside it, symlinks included, can be reached
//   /stats/summary, /metrics, /metrics/resource
//
// Connections: one thread each (the apiserver keeps a few alive and opens one per stream);
// keep-alive with a 90 s idle limit, like upstream's IdleTimeout.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kubelet/server/auth.h"
#include "kubelet/server/http.h"
#include "kubelet/server/tls.h"

namespace cubelet::runtime {
class RuntimeServiceClient;
}

namespace cubelet::server {

struct HealthCheck {
  std::string name;
  std::function<absl::Status()> check;
};

// The options of a log request as the container-log reader takes them.
class ResponseStream;

struct KubeletServerOptions {
  std::string address = "0.0.0.0";
  int port = 10250;
  TlsOptions tls;
  AuthenticatorOptions authn;
  AuthorizerOptions authz;
  // false: exec, attach, portForward, run, containerLogs, runningpods and logs answer 405.
  bool enableDebuggingHandlers = true;
  // /logs/: files and directories beneath this directory (enableSystemLogHandler).
  bool enableSystemLogHandler = true;
  std::string systemLogDir = "/var/log";
};

// A container log request after the path and pod were checked: the handler writes the
// body with `write` (false once the client is gone) and returns an error to be answered
// with 400 when nothing was written yet. `stop` is requested when the client disconnects.
struct ContainerLogRequest {
  nlohmann::json pod;
  std::string container;
  const QueryParams* query = nullptr;
};

// What the handlers read from the rest of the agent. Members left empty make their endpoint
// answer 404 (not served).
struct KubeletServerDeps {
  ApiCreate api;  // TokenReviews and SubjectAccessReviews
  runtime::RuntimeServiceClient* runtime = nullptr;
  std::function<std::vector<nlohmann::json>()> pods;
  std::function<std::optional<nlohmann::json>(const std::string& ns, const std::string& name)> pod;
  std::vector<HealthCheck> healthChecks;  // after ping and log
  nlohmann::json configz;
  // The Summary as JSON text (served as it is).
  std::function<absl::StatusOr<std::string>(bool onlyCpuAndMemory)> statsSummary;
  std::function<std::string()> resourceMetrics;
  std::function<std::string()> metrics;
  // Streams a container's log. Returns {http code, body} for an error before streaming
  // (code 0 = streamed).
  std::function<std::pair<int, std::string>(const ContainerLogRequest& req, ResponseStream& out)> containerLogs;
};

// The body of a streamed (chunked) response.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Sends the response head (200, chunked) on first use, then `data` as one chunk.
  // False when the client is gone.
  virtual bool write(std::string_view data) = 0;
  // Requested when the client disconnects or the server stops.
  virtual std::stop_token stopToken() const = 0;
};

class KubeletServer {
 public:
  // Binds now (errors name the address) and serves on its own threads.
  static absl::StatusOr<std::unique_ptr<KubeletServer>> start(KubeletServerOptions opts, KubeletServerDeps deps);
  virtual ~KubeletServer() = default;
  virtual int port() const = 0;
  // Closes the listener and every connection, and joins their threads.
  virtual void stop() = 0;
};

}  // namespace cubelet::server
