// One container probe run, as the upstream kubelet's prober does it (pkg/kubelet/prober
// prober.go and pkg/probe/*): the probe's handler (exec, httpGet, tcpSocket or grpc) with
// the probe's timeoutSeconds, up to three attempts while the handler errors, and what the
// run means for the container: a result for the worker and the event to record.
//
// Events, as upstream (type Warning, on the container's fieldPath):
//   Unhealthy     "Liveness probe failed: <output>"  (also Readiness, Startup)
//   Unhealthy     "Readiness probe errored and resulted in unknown state: <error>"
//   ProbeWarning  "Readiness probe warning: Probe terminated redirects, Response body: ..."
//
// Thread-safe: probes of different containers run concurrently; no shared state besides the
// CRI client (itself thread-safe).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kubelet/runtime/container_probes.h"
#include "kubelet/runtime/cri_client.h"

namespace cubelet::prober {

using ProbeType = runtime::ProbeKind;

// "Liveness", "Readiness", "Startup" (upstream's probeType.String()).
const char* probeTypeName(ProbeType type);

// pkg/probe's Result.
enum class Outcome { kSuccess, kWarning, kFailure, kUnknown };
// "success", "warning", "failure", "unknown".
const char* outcomeName(Outcome outcome);

// What one attempt of a handler gave: the outcome, its output, and an error when the handler
// could not run (a bad port, a CRI failure, a body that could not be read ...).
struct ActionResult {
  Outcome outcome = Outcome::kUnknown;
  std::string output;
  std::optional<std::string> error;
};

// The container a probe is for.
struct ProbeTarget {
  const nlohmann::json& pod;
  const nlohmann::json& container;  // its spec
  std::string containerId;
  std::string podIp;
};

// Output limit of exec probes (upstream's maxReadLength).
inline constexpr size_t kMaxExecOutputBytes = 10 * 1024;

// The handlers, one attempt each.
ActionResult runExecAction(runtime::CriClient& cri, const nlohmann::json& exec, const ProbeTarget& target,
                           std::chrono::seconds timeout);
ActionResult runHttpGetAction(const nlohmann::json& action, const ProbeTarget& target, std::chrono::seconds timeout);
ActionResult runTcpSocketAction(const nlohmann::json& tcpSocket, const ProbeTarget& target,
                                std::chrono::seconds timeout);
ActionResult runGrpcAction(const nlohmann::json& grpc, const ProbeTarget& target, std::chrono::seconds timeout);

struct ProbeEvent {
  std::string type;  // "Warning"
  std::string reason;
  std::string message;
};

struct ProbeRun {
  // nullopt: the probe errored; the worker throws the run away (counts nothing).
  std::optional<bool> success;
  std::optional<ProbeEvent> event;
};

// Runs one probe of `probe` (a v1 Probe object) for `target`. The ProbeManager's view of a
// prober, so that tests of the scheduling can script results.
class ProbeRunner {
 public:
  virtual ~ProbeRunner() = default;
  virtual ProbeRun probe(ProbeType type, const nlohmann::json& probe, const ProbeTarget& target) = 0;
};

// The real one: the handlers above.
class Prober final : public ProbeRunner {
 public:
  explicit Prober(runtime::CriClient& cri) : cri_(cri) {}

  ProbeRun probe(ProbeType type, const nlohmann::json& probe, const ProbeTarget& target) override;

  // One attempt of the probe's handler.
  ActionResult runAction(const nlohmann::json& probe, const ProbeTarget& target);

 private:
  runtime::CriClient& cri_;
};

}  // namespace cubelet::prober
