// CRI v1 client over gRPC (unix sockets): the RuntimeService and ImageService calls the
// kubelet makes, with the upstream kubelet's per-call deadlines (k8s.io/cri-client
// remote_runtime.go / remote_image.go). Requests and answers are the CRI proto messages
// themselves; no parallel structs except the small Version/Status views RuntimeHealth uses.
//
// Errors: a failed call keeps its gRPC code as the absl code and reads
// "CRI <Call> <object id>: <runtime's message>" (the id is left out for calls without one).
// isNotFound() tells "the runtime does not know this object" apart from other failures.
// A malformed answer (e.g. no sandbox id) is an Unknown error with the same prefix.
//
// Deadlines (`requestTimeout` is the kubelet's runtimeRequestTimeout, 2m by default):
//   every call                   requestTimeout
//   RunPodSandbox                2 x requestTimeout (upstream: sandbox setup includes CNI)
//   StopContainer                requestTimeout + the grace period (time to SIGKILL and reap)
//   ExecSync                     requestTimeout + the command timeout; none for timeout 0
//   PullImage                    none by default, like upstream (a pull takes as long as the
//                                image needs; the caller cancels by dropping the pod), or
//                                CriClientOptions::pullImageTimeout when set
//   GetContainerEvents           none: a stream that lives until cancelled
//
// Thread-safety: every method may be called from any thread concurrently (gRPC stubs are
// thread-safe, the client keeps no other state).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cri-api/api.pb.h"

namespace cubelet::runtime {

namespace v1 = ::runtime::v1;

struct RuntimeVersion {
  std::string runtimeName;         // "containerd"
  std::string runtimeVersion;      // "1.6.20~ds1"
  std::string runtimeApiVersion;   // "v1"
};

struct RuntimeCondition {
  std::string type;  // RuntimeReady, NetworkReady
  bool status = false;
  std::string reason;
  std::string message;
};

struct RuntimeStatus {
  std::vector<RuntimeCondition> conditions;
  const RuntimeCondition* find(const std::string& type) const {
    for (const auto& c : conditions)
      if (c.type == type) return &c;
    return nullptr;
  }
};

// True when the runtime answered NotFound: the sandbox, container or image does not exist
// (any more). Callers treat that as "already gone" for stop/remove.
bool isNotFound(const absl::Status& st);

// Delivered one at a time, in the runtime's order, on the thread that called
// getContainerEvents().
using ContainerEventCallback = std::function<void(v1::ContainerEventResponse&& event)>;

// The RuntimeService half: sandboxes, containers, exec, stats, runtime status.
class RuntimeServiceClient {
 public:
  virtual ~RuntimeServiceClient() = default;

  virtual absl::StatusOr<RuntimeVersion> version() = 0;
  // Conditions only; runtimeStatus() has the whole answer (handlers, features).
  virtual absl::StatusOr<RuntimeStatus> status() = 0;
  virtual absl::StatusOr<v1::StatusResponse> runtimeStatus(bool verbose) = 0;
  // Tells the runtime (and through it the CNI plugin) the node's pod CIDR.
  virtual absl::Status updateRuntimeConfig(const std::string& podCidr) = 0;
  // The runtime's cgroup driver (KubeletCgroupDriverFromCRI).
  virtual absl::StatusOr<v1::RuntimeConfigResponse> runtimeConfig() = 0;

  // Sandboxes. runPodSandbox returns the new sandbox id; `runtimeHandler` "" is the default.
  virtual absl::StatusOr<std::string> runPodSandbox(const v1::PodSandboxConfig& config,
                                                    const std::string& runtimeHandler) = 0;
  // Stops every container of the sandbox and tears its network down. Idempotent.
  virtual absl::Status stopPodSandbox(const std::string& sandboxId) = 0;
  // Removes the sandbox and all its containers (stopping them first).
  virtual absl::Status removePodSandbox(const std::string& sandboxId) = 0;
  virtual absl::StatusOr<v1::PodSandboxStatusResponse> podSandboxStatus(const std::string& sandboxId,
                                                                         bool verbose) = 0;
  // An empty filter lists all sandboxes.
  virtual absl::StatusOr<std::vector<v1::PodSandbox>> listPodSandbox(const v1::PodSandboxFilter& filter) = 0;

  // Containers. createContainer returns the new container id.
  virtual absl::StatusOr<std::string> createContainer(const std::string& sandboxId,
                                                      const v1::ContainerConfig& config,
                                                      const v1::PodSandboxConfig& sandboxConfig) = 0;
  virtual absl::Status startContainer(const std::string& containerId) = 0;
  // Stop signal, then SIGKILL after `gracePeriod`. Stopping a stopped container succeeds.
  virtual absl::Status stopContainer(const std::string& containerId, std::chrono::seconds gracePeriod) = 0;
  virtual absl::Status removeContainer(const std::string& containerId) = 0;
  virtual absl::StatusOr<std::vector<v1::Container>> listContainers(const v1::ContainerFilter& filter) = 0;
  virtual absl::StatusOr<v1::ContainerStatusResponse> containerStatus(const std::string& containerId,
                                                                      bool verbose) = 0;
  virtual absl::Status updateContainerResources(const std::string& containerId,
                                                const v1::ContainerResources& resources) = 0;
  virtual absl::Status reopenContainerLog(const std::string& containerId) = 0;

  // Runs `cmd` in the container and waits for it. A non-zero exit code is not an error:
  // it is in the answer. `timeout` 0 means the command may run forever.
  virtual absl::StatusOr<v1::ExecSyncResponse> execSync(const std::string& containerId,
                                                        const std::vector<std::string>& cmd,
                                                        std::chrono::seconds timeout) = 0;
  // Streaming endpoints for the :10250 exec/attach/port-forward proxy; the answer's url is
  // checked to be set.
  virtual absl::StatusOr<v1::ExecResponse> exec(const v1::ExecRequest& request) = 0;
  virtual absl::StatusOr<v1::AttachResponse> attach(const v1::AttachRequest& request) = 0;
  virtual absl::StatusOr<v1::PortForwardResponse> portForward(const v1::PortForwardRequest& request) = 0;

  // Stats (for the summary API); empty filters list everything.
  virtual absl::StatusOr<std::vector<v1::PodSandboxStats>> listPodSandboxStats(
      const v1::PodSandboxStatsFilter& filter) = 0;
  virtual absl::StatusOr<std::vector<v1::ContainerStats>> listContainerStats(
      const v1::ContainerStatsFilter& filter) = 0;

  // Subscribes to the runtime's container events (Evented PLEG) and blocks the calling
  // thread, handing each event to `onEvent`, until `stop` is requested (returns OK) or the
  // stream ends or fails (returns the error; a stream the runtime closes cleanly is
  // Unavailable). `onStarted`, when set, runs once the request is on the wire: a caller
  // relists after it so no change falls between the relist and the first event.
  // Runtimes without the call answer Unimplemented.
  virtual absl::Status getContainerEvents(std::stop_token stop, const ContainerEventCallback& onEvent,
                                          const std::function<void()>& onStarted) = 0;
};

// The ImageService half; may live on its own endpoint.
class ImageServiceClient {
 public:
  virtual ~ImageServiceClient() = default;

  // Pulls `image` and returns the runtime's reference for it (an image id or digest).
  // `auth` and `sandboxConfig` may be null (anonymous pull, no pod).
  virtual absl::StatusOr<std::string> pullImage(const v1::ImageSpec& image, const v1::AuthConfig* auth,
                                                const v1::PodSandboxConfig* sandboxConfig) = 0;
  // The image if present, an empty optional when the runtime does not have it.
  virtual absl::StatusOr<std::optional<v1::Image>> imageStatus(const v1::ImageSpec& image) = 0;
  virtual absl::StatusOr<std::vector<v1::Image>> listImages(const v1::ImageFilter& filter) = 0;
  // Removing an absent image succeeds (CRI: the call is idempotent).
  virtual absl::Status removeImage(const v1::ImageSpec& image) = 0;
  virtual absl::StatusOr<v1::ImageFsInfoResponse> imageFsInfo() = 0;
};

struct CriClientOptions {
  // As the kubelet takes them: unix:///path or a bare /path.
  std::string runtimeEndpoint;
  // Empty: the runtime endpoint serves images too.
  std::string imageEndpoint;
  std::chrono::milliseconds requestTimeout = std::chrono::minutes(2);
  // Zero: no deadline for PullImage (upstream behaviour).
  std::chrono::milliseconds pullImageTimeout{0};
};

// Both services behind one object. Connecting is lazy: nothing is dialled until the first
// call, so a runtime that starts after the kubelet is picked up (RuntimeHealth reports it
// down until then).
class CriClient : public RuntimeServiceClient, public ImageServiceClient {
 public:
  // Cancels every call in flight (they return Cancelled) and fails later ones the same way:
  // for shutdown, so that no worker waits out a StopContainer grace period or a pull.
  virtual void cancelInFlight() = 0;
  static absl::StatusOr<std::unique_ptr<CriClient>> connect(const CriClientOptions& options);
  // `endpoint` serves both services; `timeout` is the request timeout.
  static absl::StatusOr<std::unique_ptr<CriClient>> connect(const std::string& endpoint,
                                                            std::chrono::milliseconds timeout);
};

// The kubelet's formatting of a condition in NotReady messages:
// "NetworkReady=false reason:NetworkPluginNotReady message:..."
std::string describeCondition(const RuntimeCondition* c);

}  // namespace cubelet::runtime
