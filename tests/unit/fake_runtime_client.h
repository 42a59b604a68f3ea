// A small in-memory RuntimeServiceClient for unit tests of code that only lists containers,
// reads their status and reopens their logs: every other call answers Unimplemented.
// ReopenContainerLog creates the log file anew, as containerd does. Thread-safe.
#pragma once

#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kubelet/runtime/cri_client.h"

namespace cubelet::logs::fakes {

namespace v1 = runtime::v1;

inline absl::Status unimpl() { return absl::UnimplementedError("fake"); }

class FakeRuntimeClient : public runtime::RuntimeServiceClient {
 public:
  struct Container {
    std::string logPath;
    v1::ContainerState state = v1::CONTAINER_RUNNING;
  };
  std::mutex mu;
  std::map<std::string, Container> containers;
  std::vector<std::string> reopened;
  int listCalls = 0;
  std::map<std::string, int> statusCalls;  // by container ID
  absl::Status reopenError;

  absl::StatusOr<std::vector<v1::Container>> listContainers(const v1::ContainerFilter&) override {
    std::lock_guard lock(mu);
    ++listCalls;
    std::vector<v1::Container> out;
    for (const auto& [id, c] : containers) {
      v1::Container pb;
      pb.set_id(id);
      pb.set_state(c.state);
      out.push_back(pb);
    }
    return out;
  }
  absl::StatusOr<v1::ContainerStatusResponse> containerStatus(const std::string& id, bool) override {
    std::lock_guard lock(mu);
    ++statusCalls[id];
    auto it = containers.find(id);
    if (it == containers.end()) return absl::NotFoundError("no container " + id);
    v1::ContainerStatusResponse r;
    r.mutable_status()->set_id(id);
    r.mutable_status()->set_log_path(it->second.logPath);
    r.mutable_status()->set_state(it->second.state);
    return r;
  }
  absl::Status reopenContainerLog(const std::string& id) override {
    std::lock_guard lock(mu);
    reopened.push_back(id);
    if (!reopenError.ok()) return reopenError;
    std::ofstream(containers.at(id).logPath, std::ios::app);
    return absl::OkStatus();
  }

  absl::StatusOr<runtime::RuntimeVersion> version() override { return unimpl(); }
  absl::StatusOr<runtime::RuntimeStatus> status() override { return unimpl(); }
  absl::StatusOr<v1::StatusResponse> runtimeStatus(bool) override { return unimpl(); }
  absl::Status updateRuntimeConfig(const std::string&) override { return unimpl(); }
  absl::StatusOr<v1::RuntimeConfigResponse> runtimeConfig() override { return unimpl(); }
  absl::StatusOr<std::string> runPodSandbox(const v1::PodSandboxConfig&, const std::string&) override {
    return unimpl();
  }
  absl::Status stopPodSandbox(const std::string&) override { return unimpl(); }
  absl::Status removePodSandbox(const std::string&) override { return unimpl(); }
  absl::StatusOr<v1::PodSandboxStatusResponse> podSandboxStatus(const std::string&, bool) override {
    return unimpl();
  }
  absl::StatusOr<std::vector<v1::PodSandbox>> listPodSandbox(const v1::PodSandboxFilter&) override {
    return unimpl();
  }
  absl::StatusOr<std::string> createContainer(const std::string&, const v1::ContainerConfig&,
                                              const v1::PodSandboxConfig&) override {
    return unimpl();
  }
  absl::Status startContainer(const std::string&) override { return unimpl(); }
  absl::Status stopContainer(const std::string&, std::chrono::seconds) override { return unimpl(); }
  absl::Status removeContainer(const std::string&) override { return unimpl(); }
  absl::Status updateContainerResources(const std::string&, const v1::ContainerResources&) override {
    return unimpl();
  }
  absl::StatusOr<v1::ExecSyncResponse> execSync(const std::string&, const std::vector<std::string>&,
                                                std::chrono::seconds) override {
    return unimpl();
  }
  absl::StatusOr<v1::ExecResponse> exec(const v1::ExecRequest&) override { return unimpl(); }
  absl::StatusOr<v1::AttachResponse> attach(const v1::AttachRequest&) override { return unimpl(); }
  absl::StatusOr<v1::PortForwardResponse> portForward(const v1::PortForwardRequest&) override { return unimpl(); }
  absl::StatusOr<std::vector<v1::PodSandboxStats>> listPodSandboxStats(const v1::PodSandboxStatsFilter&) override {
    return unimpl();
  }
  absl::StatusOr<std::vector<v1::ContainerStats>> listContainerStats(const v1::ContainerStatsFilter&) override {
    return unimpl();
  }
  absl::Status getContainerEvents(std::stop_token, const runtime::ContainerEventCallback&,
                                  const std::function<void()>&) override {
    return unimpl();
  }
};

}  // namespace cubelet::logs::fakes
