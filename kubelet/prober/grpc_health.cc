#include "kubelet/prober/grpc_health.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <vector>

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
const char* codeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "Canceled";
    case grpc::StatusCode::UNKNOWN: return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT: return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED: return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    case grpc::StatusCode::ABORTED: return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE: return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED: return "Unimplemented";
    case grpc::StatusCode::INTERNAL: return "Internal";
    case grpc::StatusCode::UNAVAILABLE: return "Unavailable";
    case grpc::StatusCode::DATA_LOSS: return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthenticated";
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
  const auto deadline = std::chrono::system_clock::now() + timeout;

  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(kubeUserAgent("probe"));
  // A channel of its own: no subchannel (and its reconnect back-off) shared with earlier
  // probes, no proxy from the environment.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel = grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  // Upstream dials with WithBlock: until the connection is up or the time is gone.
  if (!channel->WaitForConnected(deadline)) {
    return {false, "timeout: failed to connect service \"" + addr + "\" within " + within +
                       ": context deadline exceeded"};
  }

  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  const std::string request = encodeHealthCheckRequest(service);
  grpc::Slice slice(request);
  grpc::ByteBuffer requestBuffer(&slice, 1);
  grpc::ByteBuffer responseBuffer;
  grpc::Status status;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, kCheckMethod, requestBuffer, &cq);
  call->StartCall();
  int tag = 1;
  call->Finish(&responseBuffer, &status, &tag);
  void* got = nullptr;
  bool ok = false;
  cq.Next(&got, &ok);
  cq.Shutdown();
  while (cq.Next(&got, &ok)) {
  }

  if (!status.ok()) {
    switch (status.error_code()) {
      case grpc::StatusCode::UNIMPLEMENTED:
        return {false, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " +
                           status.error_message()};
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return {false, "timeout: health rpc did not complete within " + within};
      default:
        return {false, std::string("error: health rpc probe failed: rpc error: code = ") +
                           codeName(status.error_code()) + " desc = " + status.error_message()};
    }
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (responseBuffer.Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  auto serving = decodeHealthCheckResponse(bytes);
  if (!serving) {
    return {false, "error: health rpc probe failed: rpc error: code = Internal desc = grpc: failed to unmarshal "
                   "the received message: malformed grpc.health.v1.HealthCheckResponse"};
  }
  if (*serving != 1) return {false, "service unhealthy (responded with \"" + servingStatusName(*serving) + "\")"};
  return {true, "service healthy"};
}

}  // namespace cubelet::prober
