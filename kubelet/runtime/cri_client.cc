#include "kubelet/runtime/cri_client.h"

#include <grpcpp/grpcpp.h>

#include "cri-api/api.grpc.pb.h"

namespace cubelet::runtime {
namespace {

namespace v1 = ::runtime::v1;

absl::Status fromGrpc(const grpc::Status& st, const std::string& call) {
  if (st.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                      "CRI " + call + ": " + st.error_message());
}

class GrpcCriClient : public CriClient {
 public:
  GrpcCriClient(std::shared_ptr<grpc::Channel> ch, std::chrono::milliseconds timeout)
      : channel_(std::move(ch)), runtime_(v1::RuntimeService::NewStub(channel_)), timeout_(timeout) {}

  absl::StatusOr<RuntimeVersion> version() override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    v1::VersionRequest req;
    v1::VersionResponse resp;
    auto st = runtime_->Version(&ctx, req, &resp);
    if (!st.ok()) return fromGrpc(st, "Version");
    return RuntimeVersion{resp.runtime_name(), resp.runtime_version(), resp.runtime_api_version()};
  }

  absl::StatusOr<RuntimeStatus> status() override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    v1::StatusRequest req;
    v1::StatusResponse resp;
    auto st = runtime_->Status(&ctx, req, &resp);
    if (!st.ok()) return fromGrpc(st, "Status");
    RuntimeStatus out;
    for (const auto& c : resp.status().conditions()) {
      out.conditions.push_back({c.type(), c.status(), c.reason(), c.message()});
    }
    return out;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::string describeCondition(const RuntimeCondition* c) {
  if (!c) return "<nil>";
  return c->type + "=" + (c->status ? "true" : "false") + " reason:" + c->reason + " message:" + c->message;
}

absl::StatusOr<std::unique_ptr<CriClient>> CriClient::connect(const std::string& endpoint,
                                                              std::chrono::milliseconds timeout) {
  std::string target = endpoint;
  if (target.rfind("unix://", 0) != 0) {
    if (!target.empty() && target[0] == '/') {
      target = "unix://" + target;
    } else {
      return absl::InvalidArgumentError("container runtime endpoint \"" + endpoint +
                                        "\": only unix sockets (unix:///path) are supported");
    }
  }
  grpc::ChannelArguments args;
  // Reconnect quickly after a runtime restart instead of gRPC's default back-off of up to 2 minutes.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 3000);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  return std::unique_ptr<CriClient>(new GrpcCriClient(std::move(channel), timeout));
}

}  // namespace cubelet::runtime
