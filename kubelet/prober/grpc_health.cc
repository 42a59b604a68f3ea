#include "kubelet/prober/grpc_health.h"

#include <vector>

#include "grpcwire/channel.h"
#include "kubelet/objects/duration.h"
#include "kubelet/prober/http_get.h"
#include "kubelet/prober/net.h"

namespace cubelet::prober {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";

void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool getVarint(const std::string& in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return false;
    auto b = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Go's codes.Code.String().
const char* codeName(absl::StatusCode c) {
  switch (c) {
    case absl::StatusCode::kOk: return "OK";
    case absl::StatusCode::kCancelled: return "Canceled";
    case absl::StatusCode::kUnknown: return "Unknown";
    case absl::StatusCode::kInvalidArgument: return "InvalidArgument";
    case absl::StatusCode::kDeadlineExceeded: return "DeadlineExceeded";
    case absl::StatusCode::kNotFound: return "NotFound";
    case absl::StatusCode::kAlreadyExists: return "AlreadyExists";
    case absl::StatusCode::kPermissionDenied: return "PermissionDenied";
    case absl::StatusCode::kResourceExhausted: return "ResourceExhausted";
    case absl::StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case absl::StatusCode::kAborted: return "Aborted";
    case absl::StatusCode::kOutOfRange: return "OutOfRange";
    case absl::StatusCode::kUnimplemented: return "Unimplemented";
    case absl::StatusCode::kInternal: return "Internal";
    case absl::StatusCode::kUnavailable: return "Unavailable";
    case absl::StatusCode::kDataLoss: return "DataLoss";
    case absl::StatusCode::kUnauthenticated: return "Unauthenticated";
    default: return "Unknown";
  }
}

// The enum's name as Go's generated String() gives it (the number for unknown values).
std::string servingStatusName(int v) {
  switch (v) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
    default: return std::to_string(v);
  }
}

}  // namespace

std::string encodeHealthCheckRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;  // proto3: the default value is not written
  out.push_back(static_cast<char>((1 << 3) | 2));  // field 1, length-delimited
  putVarint(out, service.size());
  out += service;
  return out;
}

std::optional<int> decodeHealthCheckResponse(const std::string& bytes) {
  int status = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    uint64_t key;
    if (!getVarint(bytes, pos, key)) return std::nullopt;
    const uint64_t field = key >> 3;
    const int wire = static_cast<int>(key & 7);
    uint64_t v = 0;
    switch (wire) {
      case 0:
        if (!getVarint(bytes, pos, v)) return std::nullopt;
        if (field == 1) status = static_cast<int>(static_cast<int32_t>(v));
        break;
      case 1:
        if (bytes.size() - pos < 8) return std::nullopt;
        pos += 8;
        break;
      case 2:
        if (!getVarint(bytes, pos, v) || v > bytes.size() - pos) return std::nullopt;
        pos += v;
        break;
      case 5:
        if (bytes.size() - pos < 4) return std::nullopt;
        pos += 4;
        break;
      default:
        return std::nullopt;
    }
  }
  return status;
}

GrpcHealthResult grpcHealthCheck(const std::string& host, int port, const std::string& service,
                                 std::chrono::milliseconds timeout) {
  const std::string addr = joinHostPort(host, port);
  const std::string within = objects::formatDuration(timeout);
  const auto deadline = grpcwire::Clock::now() + timeout;

  grpcwire::ChannelOptions options;
  options.userAgent = kubeUserAgent("probe");
  options.maxIdleConnections = 1;  // the connection connect() opens, for the call
  // A channel of its own per probe, as upstream dials per probe: no connection shared with
  // earlier probes, no proxy.
  auto channel = grpcwire::Channel::create(addr, options);
  if (!channel.ok()) return {false, "error: health rpc probe failed: " + std::string(channel.status().message())};
  // Upstream dials with WithBlock: until the connection is up or the time is gone.
  if (!(*channel)->connect(deadline).ok()) {
    return {false, "timeout: failed to connect service \"" + addr + "\" within " + within +
                       ": context deadline exceeded"};
  }
  auto answer = (*channel)->call(kCheckMethod, encodeHealthCheckRequest(service), deadline);
  if (!answer.ok()) {
    const absl::Status& status = answer.status();
    switch (status.code()) {
      case absl::StatusCode::kUnimplemented:
        return {false, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " +
                           std::string(status.message())};
      case absl::StatusCode::kDeadlineExceeded:
        return {false, "timeout: health rpc did not complete within " + within};
      default:
        return {false, std::string("error: health rpc probe failed: rpc error: code = ") + codeName(status.code()) +
                           " desc = " + std::string(status.message())};
    }
  }
  const std::string& bytes = *answer;
  auto serving = decodeHealthCheckResponse(bytes);
  if (!serving) {
    return {false, "error: health rpc probe failed: rpc error: code = Internal desc = grpc: failed to unmarshal "
                   "the received message: malformed grpc.health.v1.HealthCheckResponse"};
  }
  if (*serving != 1) return {false, "service unhealthy (responded with \"" + servingStatusName(*serving) + "\")"};
  return {true, "service healthy"};
}

}  // namespace cubelet::prober
