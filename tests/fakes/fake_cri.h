// An in-process CRI server on a unix socket for unit tests: records the calls it gets and
// answers from settable state, so tests can inject runtime and network conditions or stop
// the server to play a dead runtime.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cri-api/api.grpc.pb.h"

namespace cubelet::testing {

class FakeRuntimeService final : public ::runtime::v1::RuntimeService::Service {
 public:
  grpc::Status Version(grpc::ServerContext*, const ::runtime::v1::VersionRequest*,
                       ::runtime::v1::VersionResponse* resp) override {
    record("Version");
    resp->set_version("0.1.0");
    resp->set_runtime_name("fakeruntime");
    resp->set_runtime_version("1.2.3");
    resp->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const ::runtime::v1::StatusRequest*,
                      ::runtime::v1::StatusResponse* resp) override {
    record("Status");
    std::lock_guard<std::mutex> lock(mu_);
    auto* rt = resp->mutable_status()->add_conditions();
    rt->set_type("RuntimeReady");
    rt->set_status(runtimeReady_);
    if (!runtimeReady_) {
      rt->set_reason("FakeDown");
      rt->set_message("fake runtime is not ready");
    }
    auto* net = resp->mutable_status()->add_conditions();
    net->set_type("NetworkReady");
    net->set_status(networkReady_);
    if (!networkReady_) {
      net->set_reason("NetworkPluginNotReady");
      net->set_message("Network plugin returns error: cni plugin not initialized");
    }
    return grpc::Status::OK;
  }

  void setRuntimeReady(bool v) {
    std::lock_guard<std::mutex> lock(mu_);
    runtimeReady_ = v;
  }
  void setNetworkReady(bool v) {
    std::lock_guard<std::mutex> lock(mu_);
    networkReady_ = v;
  }
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  void record(const std::string& c) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(c);
  }
  std::mutex mu_;
  bool runtimeReady_ = true;
  bool networkReady_ = true;
  std::vector<std::string> calls_;
};

// Owns a gRPC server serving FakeRuntimeService on `socketPath`.
class FakeCriServer {
 public:
  explicit FakeCriServer(std::string socketPath) : path_(std::move(socketPath)) { start(); }
  ~FakeCriServer() { stop(); }

  void start() {
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + path_, grpc::InsecureServerCredentials());
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
  }
  void stop() {
    if (server_) {
      server_->Shutdown();
      server_.reset();
    }
  }
  FakeRuntimeService& service() { return service_; }
  std::string endpoint() const { return "unix://" + path_; }

 private:
  std::string path_;
  FakeRuntimeService service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace cubelet::testing
