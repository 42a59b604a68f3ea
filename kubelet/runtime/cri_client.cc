#include "kubelet/runtime/cri_client.h"

#include <map>

#include <utility>

#include "base/log.h"
#include "cri-api/api.pb.h"
#include "grpcwire/channel.h"
#include "kubelet/metrics/kubelet_metrics.h"

namespace cubelet::runtime {
namespace {

// How long one call may take, counted from its start; zero means no deadline.
using Budget = std::chrono::milliseconds;

std::string context(std::string_view call, std::string_view id) {
  std::string out = "CRI ";
  out += call;
  if (!id.empty()) {
    out += ' ';
    out += id;
  }
  return out;
}

// The runtime's error with the call (and the object) it came from in front.
absl::Status withContext(const absl::Status& st, std::string_view call, std::string_view id) {
  if (st.ok()) return st;
  return absl::Status(st.code(), context(call, id) + ": " + std::string(st.message()));
}

absl::Status malformed(std::string_view call, std::string_view id, std::string_view what) {
  return absl::UnknownError(context(call, id) + ": " + std::string(what));
}

// The operation_type label upstream's instrumented services use for a CRI method
// (kuberuntime/instrumented_services.go): snake case, with "podsandbox" in one word and
// UpdateContainerResources as "update_container".
std::string operationType(std::string_view call) {
  static const std::map<std::string_view, std::string_view> kSpecial = {
      {"RunPodSandbox", "run_podsandbox"},
      {"StopPodSandbox", "stop_podsandbox"},
      {"RemovePodSandbox", "remove_podsandbox"},
      {"PodSandboxStatus", "podsandbox_status"},
      {"ListPodSandbox", "list_podsandbox"},
      {"PodSandboxStats", "podsandbox_stats"},
      {"ListPodSandboxStats", "list_podsandbox_stats"},
      {"UpdateContainerResources", "update_container"},
  };
  if (auto it = kSpecial.find(call); it != kSpecial.end()) return std::string(it->second);
  std::string out;
  for (char c : call) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

constexpr std::string_view kRuntimeService = "/runtime.v1.RuntimeService/";
constexpr std::string_view kImageService = "/runtime.v1.ImageService/";

// Every unary CRI call goes through here, so this is the one place that records the
// kubelet_runtime_operations_* metrics (count, errors, duration). `call` is the CRI method.
template <typename Req, typename Resp>
absl::Status invoke(grpcwire::Channel& channel, std::string_view service, const Req& req, Resp* resp, Budget budget,
                    std::string_view call, std::string_view id) {
  std::string method(service);
  method += call;
  std::optional<grpcwire::Clock::time_point> deadline;
  const auto start = std::chrono::steady_clock::now();
  if (budget.count() > 0) deadline = start + budget;
  std::string bytes;
  absl::Status st;
  if (!req.SerializeToString(&bytes)) {
    st = absl::InternalError("grpc: error while marshaling the request");
  } else {
    auto answer = channel.call(method, bytes, deadline);
    if (!answer.ok()) {
      st = answer.status();
    } else if (!resp->ParseFromString(*answer)) {
      st = absl::InternalError("grpc: failed to unmarshal the received message");
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  metrics::recordRuntimeOperation(operationType(call), std::chrono::duration<double>(elapsed).count(), !st.ok());
  VLOG(5) << "CRI " << call << " " << id << ": "
          << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() << "us";
  return withContext(st, call, id);
}

template <typename T>
std::vector<T> take(google::protobuf::RepeatedPtrField<T>* field) {
  std::vector<T> out;
  out.reserve(field->size());
  for (auto& item : *field) out.push_back(std::move(item));
  return out;
}

// The checks upstream makes on status answers (verifySandboxStatus / verifyContainerStatus),
// so later code can rely on the fields being there.
absl::Status checkSandboxStatus(const v1::PodSandboxStatusResponse& resp, std::string_view id) {
  if (!resp.has_status()) return malformed("PodSandboxStatus", id, "runtime returned no status");
  const auto& s = resp.status();
  if (s.id().empty()) return malformed("PodSandboxStatus", id, "status has no id");
  if (!s.has_metadata()) return malformed("PodSandboxStatus", id, "status has no metadata");
  const auto& m = s.metadata();
  if (m.name().empty() || m.namespace_().empty() || m.uid().empty())
    return malformed("PodSandboxStatus", id, "status metadata lacks name, namespace or uid");
  if (s.created_at() == 0) return malformed("PodSandboxStatus", id, "status has no creation time");
  return absl::OkStatus();
}

absl::Status checkContainerStatus(const v1::ContainerStatusResponse& resp, std::string_view id) {
  if (!resp.has_status()) return malformed("ContainerStatus", id, "runtime returned no status");
  const auto& s = resp.status();
  if (s.id().empty()) return malformed("ContainerStatus", id, "status has no id");
  if (!s.has_metadata() || s.metadata().name().empty())
    return malformed("ContainerStatus", id, "status has no metadata name");
  if (s.created_at() == 0) return malformed("ContainerStatus", id, "status has no creation time");
  if (!s.has_image() || s.image().image().empty()) return malformed("ContainerStatus", id, "status has no image");
  if (s.image_ref().empty()) return malformed("ContainerStatus", id, "status has no image ref");
  return absl::OkStatus();
}

std::string joinCommand(const std::vector<std::string>& cmd) {
  std::string out;
  for (const auto& part : cmd) {
    if (!out.empty()) out += ' ';
    out += part;
  }
  return out;
}

class GrpcCriClient final : public CriClient {
 public:
  GrpcCriClient(std::shared_ptr<grpcwire::Channel> runtimeChannel, std::shared_ptr<grpcwire::Channel> imageChannel,
                const CriClientOptions& options)
      : runtime_(std::move(runtimeChannel)),
        images_(std::move(imageChannel)),
        timeout_(options.requestTimeout),
        pullTimeout_(options.pullImageTimeout) {}

  void cancelInFlight() override {
    runtime_->cancelAll();
    images_->cancelAll();
  }

  // --- runtime ---

  absl::StatusOr<RuntimeVersion> version() override {
    v1::VersionRequest req;
    // The CRI version the kubelet speaks; runtimes ignore it but upstream sends it.
    req.set_version("v1");
    v1::VersionResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "Version", ""); !st.ok()) return st;
    return RuntimeVersion{resp.runtime_name(), resp.runtime_version(), resp.runtime_api_version()};
  }

  absl::StatusOr<RuntimeStatus> status() override {
    auto resp = runtimeStatus(false);
    if (!resp.ok()) return resp.status();
    RuntimeStatus out;
    for (const auto& c : resp->status().conditions()) {
      out.conditions.push_back({c.type(), c.status(), c.reason(), c.message()});
    }
    return out;
  }

  absl::StatusOr<v1::StatusResponse> runtimeStatus(bool verbose) override {
    v1::StatusRequest req;
    req.set_verbose(verbose);
    v1::StatusResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "Status", ""); !st.ok()) return st;
    return resp;
  }

  absl::Status updateRuntimeConfig(const std::string& podCidr) override {
    v1::UpdateRuntimeConfigRequest req;
    req.mutable_runtime_config()->mutable_network_config()->set_pod_cidr(podCidr);
    v1::UpdateRuntimeConfigResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "UpdateRuntimeConfig", podCidr);
  }

  absl::StatusOr<v1::RuntimeConfigResponse> runtimeConfig() override {
    v1::RuntimeConfigRequest req;
    v1::RuntimeConfigResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "RuntimeConfig", ""); !st.ok())
      return st;
    return resp;
  }

  // --- sandboxes ---

  absl::StatusOr<std::string> runPodSandbox(const v1::PodSandboxConfig& config,
                                            const std::string& runtimeHandler) override {
    v1::RunPodSandboxRequest req;
    *req.mutable_config() = config;
    req.set_runtime_handler(runtimeHandler);
    v1::RunPodSandboxResponse resp;
    // Named by the pod: there is no sandbox id yet.
    const std::string name = config.metadata().namespace_() + "/" + config.metadata().name();
    // Upstream also keeps RunPodSandbox's own duration and errors per RuntimeClass handler.
    const auto start = std::chrono::steady_clock::now();
    auto st = invoke(*runtime_, kRuntimeService, req, &resp, Budget(2 * timeout_), "RunPodSandbox", name);
    auto& m = metrics::kubeletMetrics();
    m.runPodsandboxDuration.with({runtimeHandler})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!st.ok()) {
      m.runPodsandboxErrors.with({runtimeHandler}).inc();
      return st;
    }
    if (resp.pod_sandbox_id().empty()) return malformed("RunPodSandbox", name, "runtime returned no sandbox id");
    return std::move(*resp.mutable_pod_sandbox_id());
  }

  absl::Status stopPodSandbox(const std::string& sandboxId) override {
    v1::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(sandboxId);
    v1::StopPodSandboxResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "StopPodSandbox", sandboxId);
  }

  absl::Status removePodSandbox(const std::string& sandboxId) override {
    v1::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(sandboxId);
    v1::RemovePodSandboxResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "RemovePodSandbox", sandboxId);
  }

  absl::StatusOr<v1::PodSandboxStatusResponse> podSandboxStatus(const std::string& sandboxId, bool verbose) override {
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(sandboxId);
    req.set_verbose(verbose);
    v1::PodSandboxStatusResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "PodSandboxStatus", sandboxId);
        !st.ok())
      return st;
    if (auto st = checkSandboxStatus(resp, sandboxId); !st.ok()) return st;
    return resp;
  }

  absl::StatusOr<std::vector<v1::PodSandbox>> listPodSandbox(const v1::PodSandboxFilter& filter) override {
    v1::ListPodSandboxRequest req;
    *req.mutable_filter() = filter;
    v1::ListPodSandboxResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "ListPodSandbox", filter.id());
        !st.ok())
      return st;
    return take(resp.mutable_items());
  }

  // --- containers ---

  absl::StatusOr<std::string> createContainer(const std::string& sandboxId, const v1::ContainerConfig& config,
                                              const v1::PodSandboxConfig& sandboxConfig) override {
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(sandboxId);
    *req.mutable_config() = config;
    *req.mutable_sandbox_config() = sandboxConfig;
    v1::CreateContainerResponse resp;
    // Named by sandbox and container name: there is no container id yet.
    const std::string name = sandboxId + "/" + config.metadata().name();
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "CreateContainer", name); !st.ok())
      return st;
    if (resp.container_id().empty()) return malformed("CreateContainer", name, "runtime returned no container id");
    return std::move(*resp.mutable_container_id());
  }

  absl::Status startContainer(const std::string& containerId) override {
    v1::StartContainerRequest req;
    req.set_container_id(containerId);
    v1::StartContainerResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "StartContainer", containerId);
  }

  absl::Status stopContainer(const std::string& containerId, std::chrono::seconds gracePeriod) override {
    if (gracePeriod.count() < 0) gracePeriod = std::chrono::seconds(0);
    v1::StopContainerRequest req;
    req.set_container_id(containerId);
    req.set_timeout(gracePeriod.count());
    v1::StopContainerResponse resp;
    // The runtime waits up to the grace period before SIGKILL; leave it that long on top.
    return invoke(*runtime_, kRuntimeService, req, &resp, Budget(timeout_ + gracePeriod), "StopContainer",
                  containerId);
  }

  absl::Status removeContainer(const std::string& containerId) override {
    v1::RemoveContainerRequest req;
    req.set_container_id(containerId);
    v1::RemoveContainerResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "RemoveContainer", containerId);
  }

  absl::StatusOr<std::vector<v1::Container>> listContainers(const v1::ContainerFilter& filter) override {
    v1::ListContainersRequest req;
    *req.mutable_filter() = filter;
    v1::ListContainersResponse resp;
    const std::string& id = filter.id().empty() ? filter.pod_sandbox_id() : filter.id();
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "ListContainers", id); !st.ok())
      return st;
    return take(resp.mutable_containers());
  }

  absl::StatusOr<v1::ContainerStatusResponse> containerStatus(const std::string& containerId, bool verbose) override {
    v1::ContainerStatusRequest req;
    req.set_container_id(containerId);
    req.set_verbose(verbose);
    v1::ContainerStatusResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "ContainerStatus", containerId);
        !st.ok())
      return st;
    if (auto st = checkContainerStatus(resp, containerId); !st.ok()) return st;
    return resp;
  }

  absl::Status updateContainerResources(const std::string& containerId,
                                        const v1::ContainerResources& resources) override {
    v1::UpdateContainerResourcesRequest req;
    req.set_container_id(containerId);
    if (resources.has_linux()) *req.mutable_linux() = resources.linux();
    if (resources.has_windows()) *req.mutable_windows() = resources.windows();
    v1::UpdateContainerResourcesResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "UpdateContainerResources",
                  containerId);
  }

  absl::Status reopenContainerLog(const std::string& containerId) override {
    v1::ReopenContainerLogRequest req;
    req.set_container_id(containerId);
    v1::ReopenContainerLogResponse resp;
    return invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "ReopenContainerLog", containerId);
  }

  absl::StatusOr<v1::ExecSyncResponse> execSync(const std::string& containerId, const std::vector<std::string>& cmd,
                                                std::chrono::seconds timeout) override {
    if (timeout.count() < 0) timeout = std::chrono::seconds(0);
    v1::ExecSyncRequest req;
    req.set_container_id(containerId);
    for (const auto& part : cmd) req.add_cmd(part);
    req.set_timeout(timeout.count());
    v1::ExecSyncResponse resp;
    // The runtime enforces the command's own timeout; the request timeout on top leaves it
    // time to kill the process and answer.
    Budget budget = timeout.count() == 0 ? Budget() : Budget(timeout_ + timeout);
    auto st = invoke(*runtime_, kRuntimeService, req, &resp, budget, "ExecSync", containerId);
    if (st.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(context("ExecSync", containerId) + ": command \"" + joinCommand(cmd) +
                                         "\" timed out after " + std::to_string(timeout.count()) + "s");
    }
    if (!st.ok()) return st;
    return resp;
  }

  absl::StatusOr<v1::ExecResponse> exec(const v1::ExecRequest& request) override {
    v1::ExecResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, request, &resp, timeout_, "Exec", request.container_id()); !st.ok())
      return st;
    if (resp.url().empty()) return malformed("Exec", request.container_id(), "runtime returned no url");
    return resp;
  }

  absl::StatusOr<v1::AttachResponse> attach(const v1::AttachRequest& request) override {
    v1::AttachResponse resp;
    if (auto st = invoke(*runtime_, kRuntimeService, request, &resp, timeout_, "Attach", request.container_id());
        !st.ok())
      return st;
    if (resp.url().empty()) return malformed("Attach", request.container_id(), "runtime returned no url");
    return resp;
  }

  absl::StatusOr<v1::PortForwardResponse> portForward(const v1::PortForwardRequest& request) override {
    v1::PortForwardResponse resp;
    if (auto st =
            invoke(*runtime_, kRuntimeService, request, &resp, timeout_, "PortForward", request.pod_sandbox_id());
        !st.ok())
      return st;
    if (resp.url().empty()) return malformed("PortForward", request.pod_sandbox_id(), "runtime returned no url");
    return resp;
  }

  absl::StatusOr<std::vector<v1::PodSandboxStats>> listPodSandboxStats(
      const v1::PodSandboxStatsFilter& filter) override {
    v1::ListPodSandboxStatsRequest req;
    *req.mutable_filter() = filter;
    v1::ListPodSandboxStatsResponse resp;
    if (auto st =
            invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "ListPodSandboxStats", filter.id());
        !st.ok())
      return st;
    return take(resp.mutable_stats());
  }

  absl::StatusOr<std::vector<v1::ContainerStats>> listContainerStats(const v1::ContainerStatsFilter& filter) override {
    v1::ListContainerStatsRequest req;
    *req.mutable_filter() = filter;
    v1::ListContainerStatsResponse resp;
    const std::string& id = filter.id().empty() ? filter.pod_sandbox_id() : filter.id();
    if (auto st = invoke(*runtime_, kRuntimeService, req, &resp, timeout_, "ListContainerStats", id);
        !st.ok())
      return st;
    return take(resp.mutable_stats());
  }

  absl::Status getContainerEvents(std::stop_token stop, const ContainerEventCallback& onEvent,
                                  const std::function<void()>& onStarted) override {
    if (stop.stop_requested()) return absl::OkStatus();
    v1::GetEventsRequest req;
    std::string bytes;
    req.SerializeToString(&bytes);
    std::function<absl::Status(std::string)> deliver = [&](std::string message) {
      v1::ContainerEventResponse event;
      if (!event.ParseFromString(message)) return absl::InternalError("grpc: failed to unmarshal the received message");
      onEvent(std::move(event));
      return absl::OkStatus();
    };
    std::string method(kRuntimeService);
    method += "GetContainerEvents";
    absl::Status st = runtime_->stream(method, bytes, stop, deliver, onStarted);
    if (stop.stop_requested()) return absl::OkStatus();
    if (st.ok()) return absl::UnavailableError(context("GetContainerEvents", "") + ": stream closed by the runtime");
    return withContext(st, "GetContainerEvents", "");
  }

  // --- images ---

  absl::StatusOr<std::string> pullImage(const v1::ImageSpec& image, const v1::AuthConfig* auth,
                                        const v1::PodSandboxConfig* sandboxConfig) override {
    v1::PullImageRequest req;
    *req.mutable_image() = image;
    if (auth) *req.mutable_auth() = *auth;
    if (sandboxConfig) *req.mutable_sandbox_config() = *sandboxConfig;
    v1::PullImageResponse resp;
    Budget budget = pullTimeout_.count() > 0 ? Budget(pullTimeout_) : Budget();
    if (auto st = invoke(*images_, kImageService, req, &resp, budget, "PullImage", image.image()); !st.ok())
      return st;
    if (resp.image_ref().empty()) return malformed("PullImage", image.image(), "runtime returned no image ref");
    return std::move(*resp.mutable_image_ref());
  }

  absl::StatusOr<std::optional<v1::Image>> imageStatus(const v1::ImageSpec& image) override {
    v1::ImageStatusRequest req;
    *req.mutable_image() = image;
    v1::ImageStatusResponse resp;
    if (auto st = invoke(*images_, kImageService, req, &resp, timeout_, "ImageStatus", image.image());
        !st.ok())
      return st;
    // CRI: an absent image is an answer without image, not an error.
    if (!resp.has_image()) return std::optional<v1::Image>();
    if (resp.image().id().empty() || resp.image().size() == 0)
      return malformed("ImageStatus", image.image(), "image has no id or size");
    return std::optional<v1::Image>(std::move(*resp.mutable_image()));
  }

  absl::StatusOr<std::vector<v1::Image>> listImages(const v1::ImageFilter& filter) override {
    v1::ListImagesRequest req;
    *req.mutable_filter() = filter;
    v1::ListImagesResponse resp;
    if (auto st = invoke(*images_, kImageService, req, &resp, timeout_, "ListImages", filter.image().image());
        !st.ok())
      return st;
    return take(resp.mutable_images());
  }

  absl::Status removeImage(const v1::ImageSpec& image) override {
    v1::RemoveImageRequest req;
    *req.mutable_image() = image;
    v1::RemoveImageResponse resp;
    return invoke(*images_, kImageService, req, &resp, timeout_, "RemoveImage", image.image());
  }

  absl::StatusOr<v1::ImageFsInfoResponse> imageFsInfo() override {
    v1::ImageFsInfoRequest req;
    v1::ImageFsInfoResponse resp;
    if (auto st = invoke(*images_, kImageService, req, &resp, timeout_, "ImageFsInfo", ""); !st.ok())
      return st;
    return resp;
  }

 private:
  std::shared_ptr<grpcwire::Channel> runtime_;
  std::shared_ptr<grpcwire::Channel> images_;  // the same channel unless an image endpoint is set
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds pullTimeout_;
};

absl::StatusOr<std::string> grpcTarget(const std::string& endpoint, std::string_view what) {
  if (endpoint.rfind("unix://", 0) == 0) return endpoint;
  if (!endpoint.empty() && endpoint[0] == '/') return "unix://" + endpoint;
  return absl::InvalidArgumentError(std::string(what) + " \"" + endpoint +
                                    "\": only unix sockets (unix:///path) are supported");
}

}  // namespace

bool isNotFound(const absl::Status& st) { return st.code() == absl::StatusCode::kNotFound; }

std::string describeCondition(const RuntimeCondition* c) {
  if (!c) return "<nil>";
  return c->type + "=" + (c->status ? "true" : "false") + " reason:" + c->reason + " message:" + c->message;
}

absl::StatusOr<std::unique_ptr<CriClient>> CriClient::connect(const CriClientOptions& options) {
  auto runtimeTarget = grpcTarget(options.runtimeEndpoint, "container runtime endpoint");
  if (!runtimeTarget.ok()) return runtimeTarget.status();
  std::string imageTarget = *runtimeTarget;
  if (!options.imageEndpoint.empty()) {
    auto t = grpcTarget(options.imageEndpoint, "image service endpoint");
    if (!t.ok()) return t.status();
    imageTarget = *t;
  }
  CriClientOptions effective = options;
  // Zero means "the default", as everywhere in KubeletConfiguration.
  if (effective.requestTimeout.count() <= 0) effective.requestTimeout = CriClientOptions().requestTimeout;
  grpcwire::ChannelOptions channelOptions;
  channelOptions.userAgent = "cubelet-cri";
  auto runtimeChannel = grpcwire::Channel::create(*runtimeTarget, channelOptions);
  if (!runtimeChannel.ok()) return runtimeChannel.status();
  std::shared_ptr<grpcwire::Channel> imageChannel = *runtimeChannel;
  if (imageTarget != *runtimeTarget) {
    auto c = grpcwire::Channel::create(imageTarget, channelOptions);
    if (!c.ok()) return c.status();
    imageChannel = *c;
  }
  return std::unique_ptr<CriClient>(new GrpcCriClient(*std::move(runtimeChannel), std::move(imageChannel), effective));
}

absl::StatusOr<std::unique_ptr<CriClient>> CriClient::connect(const std::string& endpoint,
                                                              std::chrono::milliseconds timeout) {
  CriClientOptions options;
  options.runtimeEndpoint = endpoint;
  options.requestTimeout = timeout;
  return connect(options);
}

}  // namespace cubelet::runtime
