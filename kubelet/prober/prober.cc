#include "kubelet/prober/prober.h"

#include "base/log.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/prober/grpc_health.h"
#include "kubelet/prober/http_get.h"
#include "kubelet/prober/net.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::prober {
namespace {

using nlohmann::json;
using objects::str;

// Upstream retries a probe whose handler errored (not one that failed) this many times.
constexpr int kMaxProbeAttempts = 3;

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

bool isObject(const json* j) { return j && j->is_object(); }

}  // namespace

const char* probeTypeName(ProbeType type) {
  switch (type) {
    case ProbeType::kLiveness: return "Liveness";
    case ProbeType::kReadiness: return "Readiness";
    case ProbeType::kStartup: return "Startup";
  }
  return "UNKNOWN";
}

const char* outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return "success";
    case Outcome::kWarning: return "warning";
    case Outcome::kFailure: return "failure";
    case Outcome::kUnknown: return "unknown";
  }
  return "unknown";
}

ActionResult runExecAction(runtime::CriClient& cri, const json& exec, const ProbeTarget& target,
                           std::chrono::seconds timeout) {
  // Probes see the container's literal env values only (no downward API, no secrets).
  std::vector<std::string> cmd = runtime::expandProbeCommand(objects::array(exec, {"command"}), target.container);
  auto resp = cri.execSync(target.containerId, cmd, timeout);
  if (!resp.ok()) {
    // The runtime ends a command that outlives its timeout with DeadlineExceeded; upstream
    // makes that a failure whose output says so (ExecProbeTimeout).
    if (absl::IsDeadlineExceeded(resp.status())) {
      return {Outcome::kFailure, "command \"" + joined(cmd) + "\" timed out", std::nullopt};
    }
    return {Outcome::kUnknown, "", std::string(resp.status().message())};
  }
  std::string output = resp->stdout() + resp->stderr();
  if (output.size() > kMaxExecOutputBytes) output.resize(kMaxExecOutputBytes);
  return {resp->exit_code() == 0 ? Outcome::kSuccess : Outcome::kFailure, std::move(output), std::nullopt};
}

ActionResult runHttpGetAction(const json& action, const ProbeTarget& target, std::chrono::seconds timeout) {
  auto request = requestForHttpGetAction(action, target.container, target.podIp, "probe");
  if (!request.ok()) return {Outcome::kUnknown, "", std::string(request.status().message())};
  auto response = httpGet(*request, timeout);
  // Transport errors (refused, timed out ...) are failures whose output is the error.
  if (!response.ok()) return {Outcome::kFailure, std::string(response.status().message()), std::nullopt};
  if (!response->bodyError.empty()) return {Outcome::kFailure, "", response->bodyError};
  const int code = response->status;
  if (code >= 200 && code < 300) return {Outcome::kSuccess, std::move(response->body), std::nullopt};
  if (code >= 300 && code < 400) {
    // A redirect the client did not follow (to another host): a success with a warning.
    return {Outcome::kWarning, "Probe terminated redirects, Response body: " + response->body, std::nullopt};
  }
  // Upstream keeps the body out of this message (kubernetes/kubernetes#99425).
  return {Outcome::kFailure, "HTTP probe failed with statuscode: " + std::to_string(code), std::nullopt};
}

ActionResult runTcpSocketAction(const json& tcpSocket, const ProbeTarget& target, std::chrono::seconds timeout) {
  const json* portValue = objects::find(tcpSocket, {"port"});
  auto port = resolveContainerPort(portValue ? *portValue : json(), target.container);
  if (!port.ok()) return {Outcome::kUnknown, "", std::string(port.status().message())};
  std::string host = str(tcpSocket, {"host"});
  if (host.empty()) host = target.podIp;
  auto fd = dialTcp(host, *port, std::chrono::steady_clock::now() + timeout);
  if (!fd.ok()) return {Outcome::kFailure, std::string(fd.status().message()), std::nullopt};
  return {Outcome::kSuccess, "", std::nullopt};
}

ActionResult runGrpcAction(const json& grpc, const ProbeTarget& target, std::chrono::seconds timeout) {
  const int port = static_cast<int>(objects::integer(grpc, {"port"}, 0));
  auto result = grpcHealthCheck(target.podIp, port, str(grpc, {"service"}), timeout);
  return {result.serving ? Outcome::kSuccess : Outcome::kFailure, std::move(result.output), std::nullopt};
}

ActionResult Prober::runAction(const json& probe, const ProbeTarget& target) {
  int64_t secs = objects::integer(probe, {"timeoutSeconds"}, 1);
  const std::chrono::seconds timeout(secs > 0 ? secs : 1);
  if (const json* exec = objects::find(probe, {"exec"}); isObject(exec)) {
    return runExecAction(cri_, *exec, target, timeout);
  }
  if (const json* get = objects::find(probe, {"httpGet"}); isObject(get)) return runHttpGetAction(*get, target, timeout);
  if (const json* tcp = objects::find(probe, {"tcpSocket"}); isObject(tcp)) {
    return runTcpSocketAction(*tcp, target, timeout);
  }
  if (const json* grpc = objects::find(probe, {"grpc"}); isObject(grpc)) return runGrpcAction(*grpc, target, timeout);
  return {Outcome::kUnknown, "",
          "missing probe handler for " + runtime::podDescription(target.pod) + ":" + str(target.container, {"name"})};
}

ProbeRun Prober::probe(ProbeType type, const json& probe, const ProbeTarget& target) {
  ActionResult r;
  for (int attempt = 0; attempt < kMaxProbeAttempts; ++attempt) {
    r = runAction(probe, target);
    if (!r.error) break;
  }
  const std::string kind = probeTypeName(type);
  const std::string where = runtime::podDescription(target.pod) + ":" + str(target.container, {"name"});
  if (r.error) {
    VLOG(1) << kind << " probe for " << where << " errored: " << *r.error;
    return {std::nullopt, ProbeEvent{"Warning", "Unhealthy",
                                     kind + " probe errored and resulted in " + outcomeName(r.outcome) +
                                         " state: " + *r.error}};
  }
  switch (r.outcome) {
    case Outcome::kSuccess:
      VLOG(3) << kind << " probe for " << where << " succeeded";
      return {true, std::nullopt};
    case Outcome::kWarning:
      return {true, ProbeEvent{"Warning", "ProbeWarning", kind + " probe warning: " + r.output}};
    case Outcome::kFailure:
      VLOG(1) << kind << " probe for " << where << " failed: " << r.output;
      return {false, ProbeEvent{"Warning", "Unhealthy", kind + " probe failed: " + r.output}};
    case Outcome::kUnknown:
      return {false, std::nullopt};
  }
  return {false, std::nullopt};
}

}  // namespace cubelet::prober
