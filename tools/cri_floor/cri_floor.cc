#include "tools/cri_floor/cri_floor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "kubelet/objects/json_access.h"

namespace cubelet::crifloor {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string newUid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(b >> 52), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// What every pod shares: the image references, looked up once before the first pod (an
// agent's image check is part of its own overhead, not of the floor).
struct Shared {
  const FloorOptions& opts;
  std::map<std::string, runtime::v1::Image> images;  // by spec.containers[].image
};

absl::Status describe(const absl::Status& st, const std::string& pod, const std::string& what) {
  return absl::Status(st.code(), "pod " + pod + ": " + what + ": " + std::string(st.message()));
}

// One pod: sandbox, then each container created and started in order.
absl::Status startOne(runtime::CriClient& cri, const Shared& shared, int index, std::string* sandboxId) {
  json pod = shared.opts.pod;
  const std::string name = pod["metadata"].value("name", std::string("cri-floor")) + "-" + std::to_string(index);
  pod["metadata"]["name"] = name;
  pod["metadata"]["uid"] = newUid();
  const std::string uid = pod["metadata"]["uid"];
  runtime::SandboxOptions so;
  if (!shared.opts.cgroupRoot.empty()) so.cgroupParent = shared.opts.cgroupRoot + "/pod" + uid;
  auto sandbox = runtime::makeSandboxConfig(pod, shared.opts.node, so);
  if (!sandbox.ok()) return describe(sandbox.status(), name, "sandbox config");
  auto id = cri.runPodSandbox(sandbox->config, sandbox->runtimeHandler);
  if (!id.ok()) return describe(id.status(), name, "RunPodSandbox");
  *sandboxId = *id;
  for (const auto& container : pod["spec"]["containers"]) {
    const std::string cname = container.value("name", std::string());
    runtime::ContainerOptions co;
    const runtime::v1::Image& image = shared.images.at(container.value("image", std::string()));
    co.imageRef = image.id();
    if (image.has_uid()) co.imageUid = image.uid().value();
    co.imageUsername = image.username();
    co.podIps = {};
    co.hostIps = shared.opts.node.nodeIps;
    for (const auto& [host, path] : shared.opts.mounts) {
      runtime::ContainerMount m;
      m.hostPath = host;
      m.containerPath = path;
      m.readOnly = true;
      co.volumeMounts.push_back(m);
    }
    auto config = runtime::makeContainerConfig(pod, container, shared.opts.node, co);
    if (!config.ok()) return describe(config.status(), name, "container " + cname + " config");
    auto cid = cri.createContainer(*id, *config, sandbox->config);
    if (!cid.ok()) return describe(cid.status(), name, "CreateContainer " + cname);
    if (auto st = cri.startContainer(*cid); !st.ok()) return describe(st, name, "StartContainer " + cname);
  }
  return absl::OkStatus();
}

}  // namespace

json FloorResult::toJson() const { return {{"pods_ms", podMs}, {"batches_ms", batchMs}}; }

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

absl::StatusOr<FloorResult> startPods(runtime::CriClient& cri, const FloorOptions& options,
                                      std::vector<std::string>* made) {
  if (options.count < 1 || options.burst < 1) return absl::InvalidArgumentError("count and burst must be at least 1");
  const json& containers = objects::array(options.pod, {"spec", "containers"});
  if (!objects::find(options.pod, {"metadata"}) || containers.empty()) {
    return absl::InvalidArgumentError("the pod needs metadata and at least one entry in spec.containers");
  }
  Shared shared{options, {}};
  for (const auto& c : containers) {
    const std::string ref = c.is_object() ? c.value("image", std::string()) : std::string();
    if (ref.empty()) return absl::InvalidArgumentError("spec.containers[].image is required");
    runtime::v1::ImageSpec spec;
    spec.set_image(ref);
    auto img = cri.imageStatus(spec);
    if (!img.ok()) return describe(img.status(), "-", "ImageStatus " + ref);
    if (!img->has_value()) return absl::NotFoundError("image " + ref + " is not present on the node: pull it first");
    shared.images[ref] = **img;
  }
  FloorResult result;
  std::mutex mu;
  absl::Status firstError;
  for (int base = 0; base < options.count && firstError.ok(); base += options.burst) {
    const int n = std::min(options.burst, options.count - base);
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    std::vector<std::string> ids(n);
    auto run = [&](int i) {
      absl::Status st = startOne(cri, shared, base + i, &ids[i]);
      const double ms = msSince(t0);
      std::lock_guard lock(mu);
      if (st.ok()) result.podMs.push_back(ms);
      else if (firstError.ok()) firstError = st;
    };
    if (n == 1) {
      run(0);
    } else {
      threads.reserve(n);
      for (int i = 0; i < n; ++i) threads.emplace_back(run, i);
      for (auto& t : threads) t.join();
    }
    result.batchMs.push_back(msSince(t0));
    for (auto& id : ids)
      if (!id.empty()) result.sandboxIds.push_back(id);
  }
  if (made) *made = result.sandboxIds;
  if (!firstError.ok()) return firstError;
  return result;
}

absl::Status removePods(runtime::RuntimeServiceClient& cri, const std::vector<std::string>& sandboxIds, int parallel) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status firstError;
  auto worker = [&] {
    for (size_t i = next++; i < sandboxIds.size(); i = next++) {
      absl::Status st = cri.stopPodSandbox(sandboxIds[i]);
      if (st.ok() || runtime::isNotFound(st)) st = cri.removePodSandbox(sandboxIds[i]);
      if (!st.ok() && !runtime::isNotFound(st)) {
        std::lock_guard lock(mu);
        if (firstError.ok()) firstError = absl::Status(st.code(), "removing sandbox " + sandboxIds[i] + ": " + std::string(st.message()));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, parallel); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return firstError;
}

}  // namespace cubelet::crifloor
