// An in-process fake container runtime for unit tests: a CRI v1 gRPC server (RuntimeService
// and ImageService) on a unix socket, with in-memory sandboxes, containers and images that
// behave like containerd's CRI plugin, plus what tests need to steer it:
//  - every call is recorded with a copy of its request and the deadline it arrived with;
//  - failure injection per call name (failNext / failAlways) and delays (setDelay) to play
//    a slow runtime;
//  - test-side state changes: exitContainer (with code and reason, e.g. OOMKilled),
//    setContainerUnknown, setSandboxNotReady, runtime/network readiness;
//  - a GetContainerEvents stream fed by every state change, like containerd 1.7+;
//  - images: a local store (addImage) and a "registry" (addImage, addRegistryImage) that
//    PullImage fetches from, optionally behind credentials (requireAuth).
//
// containerd behaviours mirrored (pkg/cri/server in containerd 1.6/1.7):
//  - ids are 64 hex digits; every by-id call and the id filters also take a unique prefix;
//  - sandbox names (name_namespace_uid_attempt) and container names
//    (name_sandbox_namespace_uid_attempt) are reserved until removal: AlreadyExists;
//  - RunPodSandbox emits CREATED then STARTED events with container_id = sandbox id;
//    sandboxes in the node's network namespace get no IP, others 10.88.0.N;
//  - CreateContainer needs the image present locally (NotFound otherwise) and a ready
//    sandbox; the log path is the sandbox config's log_directory joined with the
//    container's log_path;
//  - StopContainer: created or exited containers are left as they are; a running one
//    exits with the stop exit code (setStopExitCode, default 0 "Completed": it handled
//    the stop signal), or 137 "Error" when the grace period is 0 (SIGKILL);
//  - StopPodSandbox kills (137) its running containers and makes the sandbox NOTREADY;
//    unknown id: NotFound;
//  - RemovePodSandbox stops a ready sandbox first and removes its containers;
//    RemoveContainer kills a running container first; both succeed for unknown ids;
//  - PullImage of an image the registry does not have: NotFound; RemoveImage of an absent
//    image succeeds; ImageStatus of an absent image is an answer without image.
// Errors for calls in a wrong state use FailedPrecondition (containerd answers Unknown for
// most of them; callers must not depend on that code either way).
//
// Thread-safety: all methods may be called from any thread; one mutex guards the state.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cri-api/api.grpc.pb.h"

namespace cubelet::testing {

namespace v1 = ::runtime::v1;

// What the fake holds for a sandbox; tests read copies through sandbox()/sandboxes().
struct FakeSandbox {
  std::string id;
  v1::PodSandboxConfig config;
  std::string runtimeHandler;
  v1::PodSandboxState state = v1::SANDBOX_READY;
  int64_t createdAt = 0;  // ns since the epoch, like the CRI
  std::string ip;         // empty for host-network sandboxes
  uint64_t seq = 0;       // creation order
};

struct FakeContainer {
  std::string id;
  std::string sandboxId;
  v1::ContainerConfig config;
  v1::ContainerState state = v1::CONTAINER_CREATED;
  int64_t createdAt = 0;
  int64_t startedAt = 0;
  int64_t finishedAt = 0;
  int32_t exitCode = 0;
  std::string reason;
  std::string message;
  std::string imageId;    // "sha256:..."
  std::string imageName;  // the image's first tag, as containerd reports it in statuses
  std::string imageRef;   // repo digest (or id)
  std::string logPath;
  v1::ContainerResources resources;
  int logReopens = 0;
  uint64_t seq = 0;
};

struct RecordedCall {
  std::string name;  // "RunPodSandbox", "PullImage" ...
  std::shared_ptr<const google::protobuf::MessageLite> request;
  // Time left until the call's deadline when it arrived; nullopt when it had none.
  std::optional<std::chrono::milliseconds> deadline;
};

namespace fakecri {

inline uint64_t fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// 64 hex digits derived from `s`: stable ids and digests for images.
inline std::string hex64(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    uint64_t h = fnv1a(s, seed * 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < 16; ++i) out += digits[(h >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

inline bool isHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// containerd's (docker's) normalisation: "busybox" -> "docker.io/library/busybox:latest".
inline std::string normalizeImageRef(const std::string& ref) {
  std::string name = ref;
  std::string digest;
  if (auto at = name.find('@'); at != std::string::npos) {
    digest = name.substr(at);
    name = name.substr(0, at);
  }
  std::string tag;
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    tag = name.substr(colon);
    name = name.substr(0, colon);
  }
  std::string domain = "docker.io";
  std::string path = name;
  if (auto first = name.find('/'); first != std::string::npos) {
    std::string head = name.substr(0, first);
    if (head.find('.') != std::string::npos || head.find(':') != std::string::npos || head == "localhost") {
      domain = head;
      path = name.substr(first + 1);
    }
  }
  if (domain == "docker.io" && path.find('/') == std::string::npos) path = "library/" + path;
  if (tag.empty() && digest.empty()) tag = ":latest";
  return domain + "/" + path + tag + digest;
}

// "docker.io/library/busybox:1.36" -> "docker.io/library/busybox".
inline std::string repositoryOf(const std::string& normalized) {
  std::string name = normalized.substr(0, normalized.find('@'));
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) name = name.substr(0, colon);
  return name;
}

inline bool labelsMatch(const google::protobuf::Map<std::string, std::string>& labels,
                        const google::protobuf::Map<std::string, std::string>& selector) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

inline std::string join(const google::protobuf::RepeatedPtrField<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

inline const char* containerStateName(v1::ContainerState s) {
  switch (s) {
    case v1::CONTAINER_CREATED: return "CONTAINER_CREATED";
    case v1::CONTAINER_RUNNING: return "CONTAINER_RUNNING";
    case v1::CONTAINER_EXITED: return "CONTAINER_EXITED";
    default: return "CONTAINER_UNKNOWN";
  }
}

}  // namespace fakecri

class FakeImageService;

// The whole fake runtime; also serves RuntimeService. FakeImageService serves its images.
class FakeRuntimeService final : public v1::RuntimeService::Service {
 public:
  using ExecHandler = std::function<v1::ExecSyncResponse(const FakeContainer&, const std::vector<std::string>& cmd)>;

  FakeRuntimeService() { addImage("registry.k8s.io/pause:3.10", 320000, /*pinned=*/true); }

  // ---------------------------------------------------------------- test controls

  void setRuntimeReady(bool v) {
    std::lock_guard<std::mutex> lock(mu_);
    runtimeReady_ = v;
  }
  void setNetworkReady(bool v) {
    std::lock_guard<std::mutex> lock(mu_);
    networkReady_ = v;
  }
  // What a verbose Status reports as info["config"] (containerd: its CRI config as JSON).
  void setVerboseConfig(std::string json) {
    std::lock_guard<std::mutex> lock(mu_);
    verboseConfig_ = std::move(json);
  }

  // Names of the calls received, in order.
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) out.push_back(c.name);
    return out;
  }
  std::vector<RecordedCall> recordedCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int callCount(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count_if(calls_.begin(), calls_.end(), [&](const auto& c) { return c.name == name; }));
  }
  std::optional<RecordedCall> lastCall(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = calls_.rbegin(); it != calls_.rend(); ++it)
      if (it->name == name) return *it;
    return std::nullopt;
  }
  // The request of the last `name` call, e.g. lastRequest<v1::PullImageRequest>("PullImage").
  template <typename T>
  std::optional<T> lastRequest(const std::string& name) {
    auto c = lastCall(name);
    if (!c) return std::nullopt;
    const auto* req = dynamic_cast<const T*>(c->request.get());
    if (!req) return std::nullopt;
    return *req;
  }
  void clearCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.clear();
  }

  // The next `times` calls named `call` fail with `st` (after being recorded).
  void failNext(const std::string& call, grpc::Status st, int times = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < times; ++i) failNext_[call].push_back(st);
  }
  // Every call named `call` fails with `st` until clearFailures().
  void failAlways(const std::string& call, grpc::Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    failAlways_.insert_or_assign(call, std::move(st));
  }
  void clearFailures() {
    std::lock_guard<std::mutex> lock(mu_);
    failNext_.clear();
    failAlways_.clear();
  }
  // Calls named `call` wait this long before answering (or until cancelled); 0 clears it.
  void setDelay(const std::string& call, std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    delays_[call] = d;
  }

  // Exit code of a container stopped with a grace period (see the file comment).
  void setStopExitCode(int32_t code) {
    std::lock_guard<std::mutex> lock(mu_);
    stopExitCode_ = code;
  }
  // Answers ExecSync; the default echoes the command line to stdout with exit code 0. A
  // handler that takes longer than the request's timeout makes the call fail with
  // DeadlineExceeded, as containerd does.
  void setExecHandler(ExecHandler h) {
    std::lock_guard<std::mutex> lock(mu_);
    execHandler_ = std::move(h);
  }
  // Where Exec/Attach/PortForward URLs point ("http://host:port"), for a test's own server.
  void setStreamingBase(std::string base) {
    std::lock_guard<std::mutex> lock(mu_);
    streamingBase_ = std::move(base);
  }
  void addRuntimeHandler(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    runtimeHandlers_.insert(name);
  }
  void setCgroupDriver(v1::CgroupDriver d) {
    std::lock_guard<std::mutex> lock(mu_);
    cgroupDriver_ = d;
  }
  std::string podCidr() {
    std::lock_guard<std::mutex> lock(mu_);
    return podCidr_;
  }

  // The container's process ended: EXITED with `exitCode`; reason defaults to containerd's
  // "Completed" / "Error" (pass "OOMKilled" for an OOM kill). False for an unknown id or a
  // container that is not running.
  bool exitContainer(const std::string& id, int32_t exitCode, const std::string& reason = "",
                     const std::string& message = "") {
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(id);
    if (!c || c->state != v1::CONTAINER_RUNNING) return false;
    exitLocked(*c, exitCode, reason, message);
    return true;
  }
  bool setContainerUnknown(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(id);
    if (!c) return false;
    c->state = v1::CONTAINER_UNKNOWN;
    return true;
  }
  // The sandbox's infra process died: NOTREADY, containers untouched (as runc leaves them).
  bool setSandboxNotReady(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(id);
    if (!sb) return false;
    sb->state = v1::SANDBOX_NOTREADY;
    emitLocked(sb->id, sb->id, v1::CONTAINER_STOPPED_EVENT);
    return true;
  }

  std::optional<FakeSandbox> sandbox(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(id);
    return sb ? std::optional<FakeSandbox>(*sb) : std::nullopt;
  }
  std::vector<FakeSandbox> sandboxes() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<FakeSandbox> out;
    for (const auto* sb : sandboxesInOrderLocked()) out.push_back(*sb);
    return out;
  }
  std::optional<FakeContainer> container(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(id);
    return c ? std::optional<FakeContainer>(*c) : std::nullopt;
  }
  std::vector<FakeContainer> containers() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<FakeContainer> out;
    for (const auto* c : containersInOrderLocked()) out.push_back(*c);
    return out;
  }

  // An image present locally and in the registry (so it can be pulled again after removal).
  // Returns its id. The pause image is pre-seeded (pinned, like containerd's sandbox image).
  std::string addImage(const std::string& ref, uint64_t size = 1 << 20, bool pinned = false) {
    std::lock_guard<std::mutex> lock(mu_);
    v1::Image img = makeImage(ref, size, pinned);
    registry_[fakecri::normalizeImageRef(ref)] = img;
    storeImageLocked(img);
    return img.id();
  }
  // An image only the registry has: PullImage fetches it. Returns the id it will have.
  std::string addRegistryImage(const std::string& ref, uint64_t size = 1 << 20) {
    std::lock_guard<std::mutex> lock(mu_);
    v1::Image img = makeImage(ref, size, false);
    registry_[fakecri::normalizeImageRef(ref)] = img;
    return img.id();
  }
  // Pulling `ref` needs these credentials (AuthConfig username/password).
  void requireAuth(const std::string& ref, const std::string& username, const std::string& password) {
    std::lock_guard<std::mutex> lock(mu_);
    registryAuth_[fakecri::normalizeImageRef(ref)] = {username, password};
  }
  bool hasImage(const std::string& ref) {
    std::lock_guard<std::mutex> lock(mu_);
    return findImageLocked(ref) != nullptr;
  }
  std::vector<v1::Image> images() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<v1::Image> out;
    for (const auto& [id, img] : images_) out.push_back(img);
    return out;
  }

  // Open GetContainerEvents streams.
  int eventSubscribers() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(subscribers_.size());
  }
  bool waitForEventSubscribers(int n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return eventsCv_.wait_for(lock, timeout, [&] { return static_cast<int>(subscribers_.size()) == n; });
  }
  // Ends every open event stream with `st` (a runtime restart, a broken stream).
  void endEventStreams(grpc::Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : subscribers_) s->end = st;
    eventsCv_.notify_all();
  }

  // ---------------------------------------------------------------- RuntimeService

  grpc::Status Version(grpc::ServerContext* ctx, const v1::VersionRequest* req, v1::VersionResponse* resp) override {
    if (auto st = enter(ctx, "Version", *req); !st.ok()) return st;
    resp->set_version("0.1.0");
    resp->set_runtime_name("fakeruntime");
    resp->set_runtime_version("1.2.3");
    resp->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req, v1::StatusResponse* resp) override {
    if (auto st = enter(ctx, "Status", *req); !st.ok()) return st;
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
    for (const auto& h : runtimeHandlers_) resp->add_runtime_handlers()->set_name(h);
    if (req->verbose()) (*resp->mutable_info())["config"] = verboseConfig_;
    return grpc::Status::OK;
  }

  grpc::Status UpdateRuntimeConfig(grpc::ServerContext* ctx, const v1::UpdateRuntimeConfigRequest* req,
                                   v1::UpdateRuntimeConfigResponse*) override {
    if (auto st = enter(ctx, "UpdateRuntimeConfig", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    podCidr_ = req->runtime_config().network_config().pod_cidr();
    return grpc::Status::OK;
  }

  grpc::Status RuntimeConfig(grpc::ServerContext* ctx, const v1::RuntimeConfigRequest* req,
                             v1::RuntimeConfigResponse* resp) override {
    if (auto st = enter(ctx, "RuntimeConfig", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    resp->mutable_linux()->set_cgroup_driver(cgroupDriver_);
    return grpc::Status::OK;
  }

  grpc::Status RunPodSandbox(grpc::ServerContext* ctx, const v1::RunPodSandboxRequest* req,
                             v1::RunPodSandboxResponse* resp) override {
    if (auto st = enter(ctx, "RunPodSandbox", *req); !st.ok()) return st;
    const auto& md = req->config().metadata();
    if (md.name().empty() || md.namespace_().empty() || md.uid().empty())
      return invalid("sandbox config must include metadata with name, namespace and uid");
    std::lock_guard<std::mutex> lock(mu_);
    if (!runtimeHandlers_.count(req->runtime_handler()))
      return grpc::Status(grpc::StatusCode::UNKNOWN, "failed to get sandbox runtime: no runtime for \"" +
                                                         req->runtime_handler() + "\" is configured");
    std::string name = sandboxName(md);
    for (const auto& [id, sb] : sandboxes_) {
      if (sandboxName(sb.config.metadata()) == name)
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "failed to reserve sandbox name \"" + name +
                                                                  "\": name \"" + name + "\" is reserved for \"" +
                                                                  id + "\"");
    }
    FakeSandbox sb;
    sb.id = newIdLocked();
    sb.config = req->config();
    sb.runtimeHandler = req->runtime_handler();
    sb.createdAt = nowLocked();
    sb.seq = ++seq_;
    bool hostNetwork = req->config().linux().security_context().namespace_options().network() == v1::NODE;
    if (!hostNetwork) sb.ip = "10.88.0." + std::to_string(nextIp_++);
    std::string id = sb.id;
    sandboxes_.emplace(id, std::move(sb));
    emitLocked(id, id, v1::CONTAINER_CREATED_EVENT);
    emitLocked(id, id, v1::CONTAINER_STARTED_EVENT);
    resp->set_pod_sandbox_id(id);
    return grpc::Status::OK;
  }

  grpc::Status StopPodSandbox(grpc::ServerContext* ctx, const v1::StopPodSandboxRequest* req,
                              v1::StopPodSandboxResponse*) override {
    if (auto st = enter(ctx, "StopPodSandbox", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(req->pod_sandbox_id());
    if (!sb) return sandboxNotFound(req->pod_sandbox_id());
    stopSandboxLocked(*sb);
    return grpc::Status::OK;
  }

  grpc::Status RemovePodSandbox(grpc::ServerContext* ctx, const v1::RemovePodSandboxRequest* req,
                                v1::RemovePodSandboxResponse*) override {
    if (auto st = enter(ctx, "RemovePodSandbox", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(req->pod_sandbox_id());
    if (!sb) return grpc::Status::OK;  // already gone: CRI removal is idempotent
    stopSandboxLocked(*sb);
    std::string id = sb->id;
    std::vector<std::string> members;
    for (const auto* c : containersInOrderLocked())
      if (c->sandboxId == id) members.push_back(c->id);
    for (const auto& cid : members) removeContainerLocked(cid);
    sandboxes_.erase(id);
    emitLocked(id, id, v1::CONTAINER_DELETED_EVENT);
    return grpc::Status::OK;
  }

  grpc::Status PodSandboxStatus(grpc::ServerContext* ctx, const v1::PodSandboxStatusRequest* req,
                                v1::PodSandboxStatusResponse* resp) override {
    if (auto st = enter(ctx, "PodSandboxStatus", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(req->pod_sandbox_id());
    if (!sb) return sandboxNotFound(req->pod_sandbox_id());
    *resp->mutable_status() = sandboxStatusLocked(*sb);
    if (req->verbose())
      (*resp->mutable_info())["info"] = "{\"pid\":4242,\"runtimeHandler\":\"" + sb->runtimeHandler + "\"}";
    return grpc::Status::OK;
  }

  grpc::Status ListPodSandbox(grpc::ServerContext* ctx, const v1::ListPodSandboxRequest* req,
                              v1::ListPodSandboxResponse* resp) override {
    if (auto st = enter(ctx, "ListPodSandbox", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const auto& f = req->filter();
    std::string id = resolveSandboxIdLocked(f.id());
    for (const auto* sb : sandboxesInOrderLocked()) {
      if (!id.empty() && sb->id != id) continue;
      if (f.has_state() && f.state().state() != sb->state) continue;
      if (!fakecri::labelsMatch(sb->config.labels(), f.label_selector())) continue;
      auto* item = resp->add_items();
      item->set_id(sb->id);
      *item->mutable_metadata() = sb->config.metadata();
      item->set_state(sb->state);
      item->set_created_at(sb->createdAt);
      *item->mutable_labels() = sb->config.labels();
      *item->mutable_annotations() = sb->config.annotations();
      item->set_runtime_handler(sb->runtimeHandler);
    }
    return grpc::Status::OK;
  }

  grpc::Status CreateContainer(grpc::ServerContext* ctx, const v1::CreateContainerRequest* req,
                               v1::CreateContainerResponse* resp) override {
    if (auto st = enter(ctx, "CreateContainer", *req); !st.ok()) return st;
    if (req->config().metadata().name().empty()) return invalid("container config must include metadata with a name");
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(req->pod_sandbox_id());
    if (!sb) return sandboxNotFound(req->pod_sandbox_id());
    if (sb->state != v1::SANDBOX_READY)
      return precondition("sandbox \"" + sb->id + "\" is not ready");
    const v1::Image* img = findImageLocked(req->config().image().image());
    if (!img)
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "failed to get image \"" + req->config().image().image() + "\": not found");
    std::string name = containerName(req->config().metadata(), sb->config.metadata());
    for (const auto& [cid, c] : containers_) {
      if (containerName(c) == name)
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "failed to reserve container name \"" + name +
                                                                  "\": name \"" + name + "\" is reserved for \"" +
                                                                  cid + "\"");
    }
    FakeContainer c;
    c.id = newIdLocked();
    c.sandboxId = sb->id;
    c.config = req->config();
    c.createdAt = nowLocked();
    c.seq = ++seq_;
    c.imageId = img->id();
    c.imageName = img->repo_tags().empty() ? req->config().image().image() : img->repo_tags(0);
    c.imageRef = img->repo_digests().empty() ? img->id() : img->repo_digests(0);
    const std::string& dir = req->sandbox_config().log_directory();
    if (!dir.empty() && !req->config().log_path().empty()) c.logPath = dir + "/" + req->config().log_path();
    if (req->config().linux().has_resources()) *c.resources.mutable_linux() = req->config().linux().resources();
    std::string id = c.id;
    std::string sandboxId = c.sandboxId;
    containers_.emplace(id, std::move(c));
    emitLocked(id, sandboxId, v1::CONTAINER_CREATED_EVENT);
    resp->set_container_id(id);
    return grpc::Status::OK;
  }

  grpc::Status StartContainer(grpc::ServerContext* ctx, const v1::StartContainerRequest* req,
                              v1::StartContainerResponse*) override {
    if (auto st = enter(ctx, "StartContainer", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    if (c->state != v1::CONTAINER_CREATED)
      return precondition("container is in " + std::string(fakecri::containerStateName(c->state)) + " state");
    auto* sb = findSandboxLocked(c->sandboxId);
    if (!sb || sb->state != v1::SANDBOX_READY)
      return precondition("sandbox container \"" + c->sandboxId + "\" is not running");
    c->state = v1::CONTAINER_RUNNING;
    c->startedAt = nowLocked();
    emitLocked(c->id, c->sandboxId, v1::CONTAINER_STARTED_EVENT);
    return grpc::Status::OK;
  }

  grpc::Status StopContainer(grpc::ServerContext* ctx, const v1::StopContainerRequest* req,
                             v1::StopContainerResponse*) override {
    if (auto st = enter(ctx, "StopContainer", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    if (c->state == v1::CONTAINER_RUNNING || c->state == v1::CONTAINER_UNKNOWN)
      exitLocked(*c, req->timeout() > 0 ? stopExitCode_ : 137, "", "");
    return grpc::Status::OK;
  }

  grpc::Status RemoveContainer(grpc::ServerContext* ctx, const v1::RemoveContainerRequest* req,
                               v1::RemoveContainerResponse*) override {
    if (auto st = enter(ctx, "RemoveContainer", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return grpc::Status::OK;  // already gone: CRI removal is idempotent
    removeContainerLocked(c->id);
    return grpc::Status::OK;
  }

  grpc::Status ListContainers(grpc::ServerContext* ctx, const v1::ListContainersRequest* req,
                              v1::ListContainersResponse* resp) override {
    if (auto st = enter(ctx, "ListContainers", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const auto& f = req->filter();
    std::string id = resolveContainerIdLocked(f.id());
    std::string sandboxId = resolveSandboxIdLocked(f.pod_sandbox_id());
    for (const auto* c : containersInOrderLocked()) {
      if (!id.empty() && c->id != id) continue;
      if (!sandboxId.empty() && c->sandboxId != sandboxId) continue;
      if (f.has_state() && f.state().state() != c->state) continue;
      if (!fakecri::labelsMatch(c->config.labels(), f.label_selector())) continue;
      auto* item = resp->add_containers();
      item->set_id(c->id);
      item->set_pod_sandbox_id(c->sandboxId);
      *item->mutable_metadata() = c->config.metadata();
      *item->mutable_image() = c->config.image();
      item->set_image_ref(c->imageRef);
      item->set_image_id(c->imageId);
      item->set_state(c->state);
      item->set_created_at(c->createdAt);
      *item->mutable_labels() = c->config.labels();
      *item->mutable_annotations() = c->config.annotations();
    }
    return grpc::Status::OK;
  }

  grpc::Status ContainerStatus(grpc::ServerContext* ctx, const v1::ContainerStatusRequest* req,
                               v1::ContainerStatusResponse* resp) override {
    if (auto st = enter(ctx, "ContainerStatus", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    *resp->mutable_status() = containerStatusLocked(*c);
    if (req->verbose()) (*resp->mutable_info())["info"] = "{\"sandboxID\":\"" + c->sandboxId + "\",\"pid\":4243}";
    return grpc::Status::OK;
  }

  grpc::Status UpdateContainerResources(grpc::ServerContext* ctx, const v1::UpdateContainerResourcesRequest* req,
                                        v1::UpdateContainerResourcesResponse*) override {
    if (auto st = enter(ctx, "UpdateContainerResources", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    if (c->state != v1::CONTAINER_CREATED && c->state != v1::CONTAINER_RUNNING)
      return precondition("container \"" + c->id + "\" is in " + fakecri::containerStateName(c->state) + " state");
    if (req->has_linux()) *c->resources.mutable_linux() = req->linux();
    if (req->has_windows()) *c->resources.mutable_windows() = req->windows();
    return grpc::Status::OK;
  }

  grpc::Status ReopenContainerLog(grpc::ServerContext* ctx, const v1::ReopenContainerLogRequest* req,
                                  v1::ReopenContainerLogResponse*) override {
    if (auto st = enter(ctx, "ReopenContainerLog", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    if (c->state != v1::CONTAINER_RUNNING) return precondition("container is not running");
    ++c->logReopens;
    return grpc::Status::OK;
  }

  grpc::Status ExecSync(grpc::ServerContext* ctx, const v1::ExecSyncRequest* req, v1::ExecSyncResponse* resp) override {
    if (auto st = enter(ctx, "ExecSync", *req); !st.ok()) return st;
    FakeContainer snapshot;
    ExecHandler handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto* c = findContainerLocked(req->container_id());
      if (!c) return containerNotFound(req->container_id());
      if (c->state != v1::CONTAINER_RUNNING)
        return precondition("container is in " + std::string(fakecri::containerStateName(c->state)) + " state");
      snapshot = *c;
      handler = execHandler_;
    }
    std::vector<std::string> cmd(req->cmd().begin(), req->cmd().end());
    if (handler) {
      const auto start = std::chrono::steady_clock::now();
      *resp = handler(snapshot, cmd);
      // containerd kills a command that outlives the request's timeout and answers
      // DeadlineExceeded ("timeout 1s exceeded: context deadline exceeded").
      if (req->timeout() > 0 && std::chrono::steady_clock::now() - start > std::chrono::seconds(req->timeout())) {
        resp->Clear();
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "failed to exec in container: timeout " + std::to_string(req->timeout()) +
                                "s exceeded: context deadline exceeded");
      }
    } else {
      resp->set_stdout(fakecri::join(req->cmd()) + "\n");
      resp->set_exit_code(0);
    }
    return grpc::Status::OK;
  }

  grpc::Status Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req, v1::ExecResponse* resp) override {
    if (auto st = enter(ctx, "Exec", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    if (c->state != v1::CONTAINER_RUNNING) return precondition("container is not running");
    resp->set_url(streamingBase_ + "/exec/" + std::to_string(++seq_));
    return grpc::Status::OK;
  }

  grpc::Status Attach(grpc::ServerContext* ctx, const v1::AttachRequest* req, v1::AttachResponse* resp) override {
    if (auto st = enter(ctx, "Attach", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* c = findContainerLocked(req->container_id());
    if (!c) return containerNotFound(req->container_id());
    if (c->state != v1::CONTAINER_RUNNING) return precondition("container is not running");
    resp->set_url(streamingBase_ + "/attach/" + std::to_string(++seq_));
    return grpc::Status::OK;
  }

  grpc::Status PortForward(grpc::ServerContext* ctx, const v1::PortForwardRequest* req,
                           v1::PortForwardResponse* resp) override {
    if (auto st = enter(ctx, "PortForward", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    auto* sb = findSandboxLocked(req->pod_sandbox_id());
    if (!sb) return sandboxNotFound(req->pod_sandbox_id());
    resp->set_url(streamingBase_ + "/portforward/" + std::to_string(++seq_));
    return grpc::Status::OK;
  }

  grpc::Status ListContainerStats(grpc::ServerContext* ctx, const v1::ListContainerStatsRequest* req,
                                  v1::ListContainerStatsResponse* resp) override {
    if (auto st = enter(ctx, "ListContainerStats", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const auto& f = req->filter();
    std::string id = resolveContainerIdLocked(f.id());
    std::string sandboxId = resolveSandboxIdLocked(f.pod_sandbox_id());
    for (const auto* c : containersInOrderLocked()) {
      if (!id.empty() && c->id != id) continue;
      if (!sandboxId.empty() && c->sandboxId != sandboxId) continue;
      if (!fakecri::labelsMatch(c->config.labels(), f.label_selector())) continue;
      *resp->add_stats() = containerStatsLocked(*c);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListPodSandboxStats(grpc::ServerContext* ctx, const v1::ListPodSandboxStatsRequest* req,
                                   v1::ListPodSandboxStatsResponse* resp) override {
    if (auto st = enter(ctx, "ListPodSandboxStats", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const auto& f = req->filter();
    std::string id = resolveSandboxIdLocked(f.id());
    int64_t now = nowLocked();
    for (const auto* sb : sandboxesInOrderLocked()) {
      if (sb->state != v1::SANDBOX_READY) continue;  // containerd reports running sandboxes only
      if (!id.empty() && sb->id != id) continue;
      if (!fakecri::labelsMatch(sb->config.labels(), f.label_selector())) continue;
      auto* s = resp->add_stats();
      auto* attrs = s->mutable_attributes();
      attrs->set_id(sb->id);
      *attrs->mutable_metadata() = sb->config.metadata();
      *attrs->mutable_labels() = sb->config.labels();
      *attrs->mutable_annotations() = sb->config.annotations();
      auto* lx = s->mutable_linux();
      lx->mutable_cpu()->set_timestamp(now);
      lx->mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(0);
      lx->mutable_memory()->set_timestamp(now);
      lx->mutable_memory()->mutable_working_set_bytes()->set_value(0);
      for (const auto* c : containersInOrderLocked())
        if (c->sandboxId == sb->id) *lx->add_containers() = containerStatsLocked(*c);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetContainerEvents(grpc::ServerContext* ctx, const v1::GetEventsRequest* req,
                                  grpc::ServerWriter<v1::ContainerEventResponse>* writer) override {
    if (auto st = enter(ctx, "GetContainerEvents", *req); !st.ok()) return st;
    auto sub = std::make_shared<Subscriber>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      subscribers_.push_back(sub);
    }
    eventsCv_.notify_all();
    grpc::Status result = grpc::Status::OK;
    for (;;) {
      std::deque<v1::ContainerEventResponse> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        // Polls for cancellation: a sync handler gets no wake-up when the client goes away.
        eventsCv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return !sub->queue.empty() || sub->end; });
        if (ctx->IsCancelled()) break;
        if (sub->end && sub->queue.empty()) {
          result = *sub->end;
          break;
        }
        batch.swap(sub->queue);
      }
      bool ok = true;
      for (const auto& ev : batch) {
        if (!writer->Write(ev)) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), sub), subscribers_.end());
    }
    eventsCv_.notify_all();
    return result;
  }

 private:
  friend class FakeImageService;

  struct Subscriber {
    std::deque<v1::ContainerEventResponse> queue;  // guarded by mu_
    std::optional<grpc::Status> end;               // guarded by mu_
  };

  static grpc::Status invalid(const std::string& msg) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
  }
  static grpc::Status precondition(const std::string& msg) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
  }
  static grpc::Status sandboxNotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "an error occurred when try to find sandbox \"" + id + "\": not found");
  }
  static grpc::Status containerNotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "an error occurred when try to find container \"" + id + "\": not found");
  }
  static std::string sandboxName(const v1::PodSandboxMetadata& md) {
    return md.name() + "_" + md.namespace_() + "_" + md.uid() + "_" + std::to_string(md.attempt());
  }
  static std::string containerName(const v1::ContainerMetadata& c, const v1::PodSandboxMetadata& sb) {
    return c.name() + "_" + sb.name() + "_" + sb.namespace_() + "_" + sb.uid() + "_" + std::to_string(c.attempt());
  }
  std::string containerName(const FakeContainer& c) {  // requires mu_
    auto it = sandboxes_.find(c.sandboxId);
    if (it == sandboxes_.end()) return c.id;
    return containerName(c.config.metadata(), it->second.config.metadata());
  }

  // Records the call, applies the configured delay and injected failure.
  grpc::Status enter(grpc::ServerContext* ctx, const std::string& call, const google::protobuf::MessageLite& req) {
    RecordedCall rec;
    rec.name = call;
    std::shared_ptr<google::protobuf::MessageLite> copy(req.New());
    copy->CheckTypeAndMergeFrom(req);
    rec.request = std::move(copy);
    auto deadline = ctx->deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      rec.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::system_clock::now());
    }
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(std::move(rec));
      if (auto it = delays_.find(call); it != delays_.end()) delay = it->second;
    }
    if (delay.count() > 0) {
      auto until = std::chrono::steady_clock::now() + delay;
      while (std::chrono::steady_clock::now() < until) {
        if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while delayed");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = failNext_.find(call); it != failNext_.end() && !it->second.empty()) {
      grpc::Status st = it->second.front();
      it->second.pop_front();
      return st;
    }
    if (auto it = failAlways_.find(call); it != failAlways_.end()) return it->second;
    return grpc::Status::OK;
  }

  std::string newIdLocked() {
    static const char* digits = "0123456789abcdef";
    std::string id;
    while (id.empty() || sandboxes_.count(id) || containers_.count(id)) {
      id.clear();
      for (int i = 0; i < 4; ++i) {
        uint64_t r = rng_();
        for (int j = 0; j < 16; ++j) id += digits[(r >> (60 - 4 * j)) & 0xf];
      }
    }
    return id;
  }

  // Wall-clock ns, strictly increasing so orderings by timestamp are stable.
  int64_t nowLocked() {
    int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    if (t <= lastTime_) t = lastTime_ + 1;
    lastTime_ = t;
    return t;
  }

  // containerd's id index: the full id, or a prefix that matches exactly one object.
  template <typename Map>
  static std::string resolveId(const Map& m, const std::string& idOrPrefix) {
    if (idOrPrefix.empty()) return "";
    if (m.count(idOrPrefix)) return idOrPrefix;
    std::string found;
    for (const auto& [id, obj] : m) {
      if (id.rfind(idOrPrefix, 0) == 0) {
        if (!found.empty()) return idOrPrefix;  // ambiguous: matches nothing exactly
        found = id;
      }
    }
    return found.empty() ? idOrPrefix : found;
  }
  std::string resolveSandboxIdLocked(const std::string& id) { return resolveId(sandboxes_, id); }
  std::string resolveContainerIdLocked(const std::string& id) { return resolveId(containers_, id); }
  FakeSandbox* findSandboxLocked(const std::string& id) {
    auto it = sandboxes_.find(resolveSandboxIdLocked(id));
    return it == sandboxes_.end() ? nullptr : &it->second;
  }
  FakeContainer* findContainerLocked(const std::string& id) {
    auto it = containers_.find(resolveContainerIdLocked(id));
    return it == containers_.end() ? nullptr : &it->second;
  }
  std::vector<FakeSandbox*> sandboxesInOrderLocked() {
    std::vector<FakeSandbox*> out;
    for (auto& [id, sb] : sandboxes_) out.push_back(&sb);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
    return out;
  }
  std::vector<FakeContainer*> containersInOrderLocked() {
    std::vector<FakeContainer*> out;
    for (auto& [id, c] : containers_) out.push_back(&c);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
    return out;
  }

  void exitLocked(FakeContainer& c, int32_t exitCode, const std::string& reason, const std::string& message) {
    c.state = v1::CONTAINER_EXITED;
    c.exitCode = exitCode;
    c.finishedAt = nowLocked();
    c.reason = !reason.empty() ? reason : (exitCode == 0 ? "Completed" : "Error");
    c.message = message;
    emitLocked(c.id, c.sandboxId, v1::CONTAINER_STOPPED_EVENT);
  }

  void stopSandboxLocked(FakeSandbox& sb) {
    for (auto* c : containersInOrderLocked()) {
      if (c->sandboxId == sb.id && (c->state == v1::CONTAINER_RUNNING || c->state == v1::CONTAINER_UNKNOWN))
        exitLocked(*c, 137, "", "");
    }
    if (sb.state == v1::SANDBOX_READY) {
      sb.state = v1::SANDBOX_NOTREADY;
      emitLocked(sb.id, sb.id, v1::CONTAINER_STOPPED_EVENT);
    }
  }

  void removeContainerLocked(std::string id) {  // by value: the caller's string may live in the map
    auto it = containers_.find(id);
    if (it == containers_.end()) return;
    if (it->second.state == v1::CONTAINER_RUNNING || it->second.state == v1::CONTAINER_UNKNOWN)
      exitLocked(it->second, 137, "", "");
    std::string sandboxId = it->second.sandboxId;
    containers_.erase(it);
    emitLocked(id, sandboxId, v1::CONTAINER_DELETED_EVENT);
  }

  v1::PodSandboxStatus sandboxStatusLocked(const FakeSandbox& sb) {
    v1::PodSandboxStatus s;
    s.set_id(sb.id);
    *s.mutable_metadata() = sb.config.metadata();
    s.set_state(sb.state);
    s.set_created_at(sb.createdAt);
    if (!sb.ip.empty()) s.mutable_network()->set_ip(sb.ip);
    *s.mutable_linux()->mutable_namespaces()->mutable_options() =
        sb.config.linux().security_context().namespace_options();
    *s.mutable_labels() = sb.config.labels();
    *s.mutable_annotations() = sb.config.annotations();
    s.set_runtime_handler(sb.runtimeHandler);
    return s;
  }

  v1::ContainerStatus containerStatusLocked(const FakeContainer& c) {
    v1::ContainerStatus s;
    s.set_id(c.id);
    *s.mutable_metadata() = c.config.metadata();
    s.set_state(c.state);
    s.set_created_at(c.createdAt);
    s.set_started_at(c.startedAt);
    s.set_finished_at(c.finishedAt);
    s.set_exit_code(c.exitCode);
    *s.mutable_image() = c.config.image();
    s.mutable_image()->set_image(c.imageName);
    s.set_image_ref(c.imageRef);
    s.set_image_id(c.imageId);
    s.set_reason(c.reason);
    s.set_message(c.message);
    *s.mutable_labels() = c.config.labels();
    *s.mutable_annotations() = c.config.annotations();
    *s.mutable_mounts() = c.config.mounts();
    s.set_log_path(c.logPath);
    *s.mutable_resources() = c.resources;
    s.set_stop_signal(c.config.stop_signal());
    return s;
  }

  v1::ContainerStats containerStatsLocked(const FakeContainer& c) {
    v1::ContainerStats s;
    auto* attrs = s.mutable_attributes();
    attrs->set_id(c.id);
    *attrs->mutable_metadata() = c.config.metadata();
    *attrs->mutable_labels() = c.config.labels();
    *attrs->mutable_annotations() = c.config.annotations();
    int64_t now = nowLocked();
    s.mutable_cpu()->set_timestamp(now);
    s.mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(0);
    s.mutable_memory()->set_timestamp(now);
    s.mutable_memory()->mutable_working_set_bytes()->set_value(0);
    s.mutable_writable_layer()->set_timestamp(now);
    s.mutable_writable_layer()->mutable_fs_id()->set_mountpoint(kSnapshotterRoot);
    s.mutable_writable_layer()->mutable_used_bytes()->set_value(0);
    return s;
  }

  // An event as containerd 1.7 sends it: the sandbox's status and its containers' statuses.
  void emitLocked(const std::string& containerId, const std::string& sandboxId, v1::ContainerEventType type) {
    v1::ContainerEventResponse ev;
    ev.set_container_id(containerId);
    ev.set_container_event_type(type);
    ev.set_created_at(nowLocked());
    if (auto it = sandboxes_.find(sandboxId); it != sandboxes_.end()) {
      *ev.mutable_pod_sandbox_status() = sandboxStatusLocked(it->second);
      for (const auto* c : containersInOrderLocked())
        if (c->sandboxId == sandboxId) *ev.add_containers_statuses() = containerStatusLocked(*c);
    }
    for (auto& s : subscribers_) s->queue.push_back(ev);
    eventsCv_.notify_all();
  }

  // ---------------------------------------------------------------- images (FakeImageService)

  static v1::Image makeImage(const std::string& ref, uint64_t size, bool pinned) {
    std::string normalized = fakecri::normalizeImageRef(ref);
    std::string repo = fakecri::repositoryOf(normalized);
    v1::Image img;
    img.set_id("sha256:" + fakecri::hex64("id:" + normalized));
    if (normalized.find('@') == std::string::npos) {
      img.add_repo_tags(normalized);
      img.add_repo_digests(repo + "@sha256:" + fakecri::hex64("digest:" + normalized));
    } else {
      img.add_repo_digests(normalized);
    }
    img.set_size(size);
    img.mutable_spec()->set_image(img.id());
    img.set_pinned(pinned);
    return img;
  }

  // Adds `img` to the local store, merging tags into an image with the same id.
  void storeImageLocked(const v1::Image& img) {
    auto [it, inserted] = images_.emplace(img.id(), img);
    if (inserted) return;
    for (const auto& t : img.repo_tags())
      if (std::find(it->second.repo_tags().begin(), it->second.repo_tags().end(), t) == it->second.repo_tags().end())
        it->second.add_repo_tags(t);
  }

  // containerd's localResolve: an image id (with or without "sha256:"), a tag or a digest.
  const v1::Image* findImageLocked(const std::string& ref) {
    if (ref.empty()) return nullptr;
    std::string id = fakecri::isHex64(ref) ? "sha256:" + ref : ref;
    if (auto it = images_.find(id); it != images_.end()) return &it->second;
    std::string normalized = fakecri::normalizeImageRef(ref);
    for (const auto& [iid, img] : images_) {
      for (const auto& t : img.repo_tags())
        if (t == normalized) return &img;
      for (const auto& d : img.repo_digests())
        if (d == normalized) return &img;
    }
    return nullptr;
  }

  const v1::Image* findRegistryImageLocked(const std::string& normalized) {
    if (auto it = registry_.find(normalized); it != registry_.end()) return &it->second;
    for (const auto& [ref, img] : registry_)
      for (const auto& d : img.repo_digests())
        if (d == normalized) return &img;
    return nullptr;
  }

  grpc::Status listImages(grpc::ServerContext* ctx, const v1::ListImagesRequest* req, v1::ListImagesResponse* resp) {
    if (auto st = enter(ctx, "ListImages", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const std::string& want = req->filter().image().image();
    const v1::Image* only = want.empty() ? nullptr : findImageLocked(want);
    if (!want.empty() && !only) return grpc::Status::OK;
    for (const auto& [id, img] : images_)
      if (!only || only == &img) *resp->add_images() = img;
    return grpc::Status::OK;
  }

  grpc::Status imageStatus(grpc::ServerContext* ctx, const v1::ImageStatusRequest* req,
                           v1::ImageStatusResponse* resp) {
    if (auto st = enter(ctx, "ImageStatus", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const v1::Image* img = findImageLocked(req->image().image());
    if (!img) return grpc::Status::OK;  // CRI: not found is an empty answer
    *resp->mutable_image() = *img;
    if (req->verbose()) (*resp->mutable_info())["info"] = "{\"chainID\":\"" + img->id() + "\"}";
    return grpc::Status::OK;
  }

  grpc::Status pullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* req, v1::PullImageResponse* resp) {
    if (auto st = enter(ctx, "PullImage", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const std::string& ref = req->image().image();
    std::string normalized = fakecri::normalizeImageRef(ref);
    const v1::Image* img = findRegistryImageLocked(normalized);
    std::string prefix = "failed to pull and unpack image \"" + normalized + "\": failed to resolve reference \"" +
                         normalized + "\": ";
    if (!img) return grpc::Status(grpc::StatusCode::NOT_FOUND, prefix + normalized + ": not found");
    auto auth = registryAuth_.find(fakecri::normalizeImageRef(img->repo_tags().empty() ? normalized
                                                                                        : img->repo_tags(0)));
    if (auth != registryAuth_.end() &&
        (req->auth().username() != auth->second.first || req->auth().password() != auth->second.second)) {
      return grpc::Status(grpc::StatusCode::UNKNOWN,
                          prefix + "pull access denied, repository does not exist or may require authorization: "
                                   "server message: insufficient_scope: authorization failed");
    }
    v1::Image copy = *img;
    storeImageLocked(copy);
    resp->set_image_ref(copy.id());
    return grpc::Status::OK;
  }

  grpc::Status removeImage(grpc::ServerContext* ctx, const v1::RemoveImageRequest* req, v1::RemoveImageResponse*) {
    if (auto st = enter(ctx, "RemoveImage", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    const v1::Image* img = findImageLocked(req->image().image());
    if (!img) return grpc::Status::OK;  // idempotent
    std::string id = img->id();  // not a reference into the node being erased
    images_.erase(id);
    return grpc::Status::OK;
  }

  grpc::Status imageFsInfo(grpc::ServerContext* ctx, const v1::ImageFsInfoRequest* req, v1::ImageFsInfoResponse* resp) {
    if (auto st = enter(ctx, "ImageFsInfo", *req); !st.ok()) return st;
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t used = 0;
    for (const auto& [id, img] : images_) used += img.size();
    auto* fs = resp->add_image_filesystems();
    fs->set_timestamp(nowLocked());
    fs->mutable_fs_id()->set_mountpoint(kSnapshotterRoot);
    fs->mutable_used_bytes()->set_value(used);
    fs->mutable_inodes_used()->set_value(images_.size());
    return grpc::Status::OK;
  }

  static constexpr const char* kSnapshotterRoot = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs";

  std::mutex mu_;
  std::condition_variable eventsCv_;  // with mu_: event queued, subscriber added or removed
  bool runtimeReady_ = true;
  bool networkReady_ = true;
  std::string verboseConfig_ = "{\"fake\":true}";
  std::vector<RecordedCall> calls_;
  std::map<std::string, std::deque<grpc::Status>> failNext_;
  std::map<std::string, grpc::Status> failAlways_;
  std::map<std::string, std::chrono::milliseconds> delays_;
  std::set<std::string> runtimeHandlers_{"", "runc"};
  v1::CgroupDriver cgroupDriver_ = v1::CGROUPFS;
  std::string podCidr_;
  int32_t stopExitCode_ = 0;
  ExecHandler execHandler_;
  std::string streamingBase_ = "http://127.0.0.1:10010";
  std::map<std::string, FakeSandbox> sandboxes_;
  std::map<std::string, FakeContainer> containers_;
  std::map<std::string, v1::Image> images_;    // local store by id
  std::map<std::string, v1::Image> registry_;  // pullable, by normalized tag or digest ref
  std::map<std::string, std::pair<std::string, std::string>> registryAuth_;  // ref -> user, password
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  std::mt19937_64 rng_{20240601};
  uint64_t seq_ = 0;
  int nextIp_ = 2;
  int64_t lastTime_ = 0;
};

// Serves the fake runtime's images over ImageService.
class FakeImageService final : public v1::ImageService::Service {
 public:
  explicit FakeImageService(FakeRuntimeService& rt) : rt_(rt) {}
  grpc::Status ListImages(grpc::ServerContext* ctx, const v1::ListImagesRequest* req,
                          v1::ListImagesResponse* resp) override {
    return rt_.listImages(ctx, req, resp);
  }
  grpc::Status ImageStatus(grpc::ServerContext* ctx, const v1::ImageStatusRequest* req,
                           v1::ImageStatusResponse* resp) override {
    return rt_.imageStatus(ctx, req, resp);
  }
  grpc::Status PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* req,
                         v1::PullImageResponse* resp) override {
    return rt_.pullImage(ctx, req, resp);
  }
  grpc::Status RemoveImage(grpc::ServerContext* ctx, const v1::RemoveImageRequest* req,
                           v1::RemoveImageResponse* resp) override {
    return rt_.removeImage(ctx, req, resp);
  }
  grpc::Status ImageFsInfo(grpc::ServerContext* ctx, const v1::ImageFsInfoRequest* req,
                           v1::ImageFsInfoResponse* resp) override {
    return rt_.imageFsInfo(ctx, req, resp);
  }

 private:
  FakeRuntimeService& rt_;
};

// Owns the gRPC server(s): both services on `socketPath`, or images on their own socket when
// `imageSocketPath` is given. stop() and start() play a runtime restart; state survives.
class FakeCriServer {
 public:
  explicit FakeCriServer(std::string socketPath, std::string imageSocketPath = "")
      : path_(std::move(socketPath)), imagePath_(std::move(imageSocketPath)) {
    start();
  }
  ~FakeCriServer() { stop(); }
  FakeCriServer(const FakeCriServer&) = delete;
  FakeCriServer& operator=(const FakeCriServer&) = delete;

  void start() {
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + path_, grpc::InsecureServerCredentials());
    b.RegisterService(&service_);
    if (imagePath_.empty()) {
      b.RegisterService(&images_);
    } else {
      grpc::ServerBuilder ib;
      ib.AddListeningPort("unix://" + imagePath_, grpc::InsecureServerCredentials());
      ib.RegisterService(&images_);
      imageServer_ = ib.BuildAndStart();
    }
    server_ = b.BuildAndStart();
  }
  void stop() {
    // Open event streams end with Unavailable, as when the runtime goes away; calls still
    // running (delayed ones) are cancelled by the shutdown deadline.
    service_.endEventStreams(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake runtime stopped"));
    auto now = std::chrono::system_clock::now();
    if (server_) {
      server_->Shutdown(now);
      server_.reset();
    }
    if (imageServer_) {
      imageServer_->Shutdown(now);
      imageServer_.reset();
    }
  }
  FakeRuntimeService& service() { return service_; }
  std::string endpoint() const { return "unix://" + path_; }
  std::string imageEndpoint() const { return "unix://" + (imagePath_.empty() ? path_ : imagePath_); }

 private:
  std::string path_;
  std::string imagePath_;
  FakeRuntimeService service_;
  FakeImageService images_{service_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> imageServer_;
};

}  // namespace cubelet::testing
