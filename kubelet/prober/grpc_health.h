// The grpc probe: grpc.health.v1.Health/Check over an insecure channel, as upstream's
// pkg/probe/grpc does it. The two tiny messages are encoded by hand (no .proto file):
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }  UNKNOWN 0, SERVING 1, NOT_SERVING 2,
//                                                      SERVICE_UNKNOWN 3
//
// Thread-safe: every call makes its own channel (as upstream dials per probe), so one
// container's broken connection cannot hold another's probe back.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace cubelet::prober {

struct GrpcHealthResult {
  bool serving = false;
  // Upstream's output: "service healthy", `service unhealthy (responded with "NOT_SERVING")`,
  // `timeout: failed to connect service "10.0.0.5:9090" within 1s: context deadline exceeded`,
  // "timeout: health rpc did not complete within 1s", "error: this server does not implement
  // the grpc health protocol (grpc.health.v1.Health): ...", "error: health rpc probe failed:
  // rpc error: code = NotFound desc = ...".
  std::string output;
};

GrpcHealthResult grpcHealthCheck(const std::string& host, int port, const std::string& service,
                                 std::chrono::milliseconds timeout);

// Wire helpers, exposed for tests.
std::string encodeHealthCheckRequest(const std::string& service);
// The status field of a HealthCheckResponse (0 when absent); nullopt when malformed.
std::optional<int> decodeHealthCheckResponse(const std::string& bytes);

}  // namespace cubelet::prober
