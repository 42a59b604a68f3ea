#include "kubelet/runtime/pod_runtime.h"

#include <future>

#include "kubelet/metrics/kubelet_metrics.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <set>
#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/objects/timefmt.h"
#include "kubelet/runtime/host_files.h"
#include "kubelet/runtime/lifecycle_hooks.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pull_secrets.h"
#include "kubelet/runtime/termination_message.h"

namespace cubelet::runtime {
namespace {

using objects::str;
constexpr int64_t kMinimumGracePeriod = 2;
constexpr auto kBackoffResetAfterRunning = std::chrono::minutes(10);

// Image pull policy with the API's defaulting: Always for :latest or no tag, else IfNotPresent.
std::string pullPolicy(const json& container) {
  std::string p = str(container, {"imagePullPolicy"});
  if (!p.empty()) return p;
  std::string image = str(container, {"image"});
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (!tagged || image.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

// A sidecar: an init container with restartPolicy Always. It starts in the init sequence,
// keeps running beside the app containers and is restarted whenever it exits.
bool isSidecar(const json& container) { return str(container, {"restartPolicy"}) == "Always"; }

bool isHostNetwork(const json& pod) {
  const json* v = objects::find(pod, {"spec", "hostNetwork"});
  return v && v->is_boolean() && v->get<bool>();
}

bool hasStartupProbe(const json& container) {
  const json* p = objects::find(container, {"startupProbe"});
  return p && p->is_object();
}

bool restartFor(const std::string& policy, int64_t exitCode) {
  if (policy == "Never") return false;
  if (policy == "OnFailure") return exitCode != 0;
  return true;  // Always (the default)
}

// Whether a container that exited with `exitCode` is started again (ContainerRestartRules, on by
// default since 1.35): with a container-level restartPolicy, the first of its
// restartPolicyRules whose exit codes match decides (Restart: yes; any other action: no), else
// that policy; without one, the pod's policy.
bool containerShouldRestart(const json& container, const std::string& podPolicy, int64_t exitCode) {
  const std::string own = str(container, {"restartPolicy"});
  if (own.empty()) return restartFor(podPolicy, exitCode);
  for (const auto& rule : objects::array(container, {"restartPolicyRules"})) {
    const json* codes = objects::find(rule, {"exitCodes"});
    if (!codes || !codes->is_object()) continue;
    bool listed = false;
    for (const auto& v : objects::array(*codes, {"values"}))
      if (v.is_number_integer() && v.get<int64_t>() == exitCode) listed = true;
    const std::string op = str(*codes, {"operator"});
    if ((op == "In" && listed) || (op == "NotIn" && !listed)) return str(rule, {"action"}) == "Restart";
  }
  return restartFor(own, exitCode);
}

int64_t nowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json terminatedState(const ContainerRecord& c) {
  json t = {{"exitCode", c.exitCode},
            {"reason", c.reason.empty() ? (c.exitCode == 0 ? "Completed" : "Error") : c.reason},
            {"startedAt", c.startedAt ? json(objects::formatTimeNanos(c.startedAt)) : json(nullptr)},
            {"finishedAt", c.finishedAt ? json(objects::formatTimeNanos(c.finishedAt)) : json(nullptr)},
            {"containerID", "containerd://" + c.id}};
  std::string message = c.message;
  if (!c.terminationMessage.empty()) message += (message.empty() ? "" : ": ") + c.terminationMessage;
  if (!message.empty()) t["message"] = message;
  return t;
}

// The condition with lastTransitionTime carried over from `previous` when unchanged.
json condition(const std::string& type, bool status, const std::string& reason, const std::string& message,
               const json& previous, const std::string& now) {
  std::string st = status ? "True" : "False";
  std::string transition = now;
  for (const auto& c : objects::array(previous, {"conditions"})) {
    if (str(c, {"type"}) == type && str(c, {"status"}) == st && !str(c, {"lastTransitionTime"}).empty()) {
      transition = str(c, {"lastTransitionTime"});
    }
  }
  json out = {{"type", type}, {"status", st}, {"lastProbeTime", nullptr}, {"lastTransitionTime", transition}};
  if (!reason.empty()) out["reason"] = reason;
  if (!message.empty()) out["message"] = message;
  return out;
}

template <typename Annotations>
std::string annotation(const Annotations& a, const char* key) {
  auto it = a.find(key);
  return it == a.end() ? "" : it->second;
}

// The upstream kubelet's termination message of an exited container: the file mounted at
// its terminationMessagePath, else (FallbackToLogsOnError, failed, and it ran) its log tail.
template <typename Annotations>
std::string terminationMessage(const Annotations& annotations, const v1::ContainerStatus& s) {
  const std::string path = annotation(annotations, kTerminationMessagePathAnnotation);
  const bool fallback = annotation(annotations, kTerminationMessagePolicyAnnotation) == "FallbackToLogsOnError" &&
                        s.exit_code() != 0 && s.reason() != "ContainerCannotRun";
  if (!path.empty()) {
    for (const auto& m : s.mounts()) {
      if (m.container_path() != path) continue;
      auto text = readTerminationMessageFile(m.host_path());
      if (text.ok() && !text->empty()) return *text;
      break;
    }
  }
  return fallback ? readLastLogContent(s.log_path()) : "";
}

}  // namespace

std::string podPhase(const json& pod, const json& statuses, const json& initStatuses) {
  auto statusFor = [](const json& list, const std::string& name) -> const json* {
    for (const auto& s : list)
      if (str(s, {"name"}) == name) return &s;
    return nullptr;
  };
  // Regular init containers: pending until each terminated; a failure that will not be retried
  // fails the pod.
  const std::string podPolicy = str(pod, {"spec", "restartPolicy"}, "Always");
  int pendingInit = 0, failedInit = 0;
  for (const auto& c : objects::array(pod, {"spec", "initContainers"})) {
    if (isSidecar(c)) continue;
    const json* st = statusFor(initStatuses, str(c, {"name"}));
    if (!st || objects::find(*st, {"state", "running"})) {
      ++pendingInit;
    } else if (const json* t = objects::find(*st, {"state", "terminated"})) {
      const int64_t code = objects::integer(*t, {"exitCode"}, -1);
      if (code != 0 && !containerShouldRestart(c, podPolicy, code)) ++failedInit;
    } else if (objects::find(*st, {"state", "waiting"})) {
      if (const json* last = objects::find(*st, {"lastState", "terminated"})) {
        const int64_t code = objects::integer(*last, {"exitCode"}, -1);
        if (code != 0 && !containerShouldRestart(c, podPolicy, code)) ++failedInit;
      } else {
        ++pendingInit;
      }
    } else {
      ++pendingInit;
    }
  }
  int running = 0, waiting = 0, stopped = 0, stoppedForGood = 0, succeeded = 0, unknown = 0;
  // Sidecars: running ones count as running (and hold initialization until started); a
  // terminated one does not count at all.
  for (const auto& c : objects::array(pod, {"spec", "initContainers"})) {
    if (!isSidecar(c)) continue;
    const json* st = statusFor(initStatuses, str(c, {"name"}));
    if (!st) {
      ++unknown;
    } else if (objects::find(*st, {"state", "running"})) {
      const json* started = objects::find(*st, {"started"});
      if (!started || !started->is_boolean() || !started->get<bool>()) ++pendingInit;
      ++running;
    } else if (objects::find(*st, {"state", "terminated"})) {
      // not counted
    } else if (objects::find(*st, {"state", "waiting"})) {
      if (!objects::find(*st, {"lastState", "terminated"})) {
        ++pendingInit;
        ++waiting;
      }
    } else {
      ++pendingInit;
      ++unknown;
    }
  }
  if (failedInit > 0) return "Failed";
  // Once an app container ran, a restarting sidecar does not take the pod back to Pending.
  bool anyAppStarted = false;
  for (const auto& c : objects::array(pod, {"spec", "containers"})) {
    const json* st = statusFor(statuses, str(c, {"name"}));
    if (st && (objects::find(*st, {"state", "running"}) || objects::find(*st, {"state", "terminated"}) ||
               objects::find(*st, {"lastState", "terminated"}))) {
      anyAppStarted = true;
    }
  }
  if (pendingInit > 0 && !anyAppStarted) return "Pending";
  for (const auto& c : objects::array(pod, {"spec", "containers"})) {
    const json* st = nullptr;
    for (const auto& s : statuses)
      if (str(s, {"name"}) == str(c, {"name"})) st = &s;
    if (!st) {
      ++unknown;
      continue;
    }
    if (objects::find(*st, {"state", "running"})) {
      ++running;
    } else if (const json* t = objects::find(*st, {"state", "terminated"})) {
      ++stopped;
      const int64_t code = objects::integer(*t, {"exitCode"}, -1);
      if (code == 0) ++succeeded;
      if (!containerShouldRestart(c, podPolicy, code)) ++stoppedForGood;
    } else if (objects::find(*st, {"state", "waiting"})) {
      if (const json* last = objects::find(*st, {"lastState", "terminated"})) {
        ++stopped;
        if (!containerShouldRestart(c, podPolicy, objects::integer(*last, {"exitCode"}, -1))) ++stoppedForGood;
      } else {
        ++waiting;
      }
    } else {
      ++unknown;
    }
  }
  if (waiting > 0) return "Pending";
  if (running > 0 && unknown == 0) return "Running";
  if (running == 0 && stopped > 0 && unknown == 0) {
    // Some container will run again: Running; all are done for good: by their exit codes.
    if (stopped != stoppedForGood) return "Running";
    return stopped == succeeded ? "Succeeded" : "Failed";
  }
  return "Pending";
}

PodRuntime::PodRuntime(CriClient& cri, api::EventRecorder& events, PodRuntimeOptions opts)
    : cri_(cri), events_(events), opts_(std::move(opts)) {}

api::ObjectRef PodRuntime::podRef(const json& pod, const std::string& container) const {
  api::ObjectRef r{"Pod", "v1", str(pod, {"metadata", "name"}), str(pod, {"metadata", "namespace"}),
                   str(pod, {"metadata", "uid"}), ""};
  if (!container.empty()) {
    r.fieldPath = "spec.containers{" + container + "}";
    for (const auto& c : objects::array(pod, {"spec", "initContainers"}))
      if (str(c, {"name"}) == container) r.fieldPath = "spec.initContainers{" + container + "}";
    for (const auto& c : objects::array(pod, {"spec", "ephemeralContainers"}))
      if (str(c, {"name"}) == container) r.fieldPath = "spec.ephemeralContainers{" + container + "}";
  }
  return r;
}

absl::StatusOr<PodRuntimeState> PodRuntime::state(const std::string& uid) {
  PodRuntimeState out;
  v1::PodSandboxFilter sf;
  (*sf.mutable_label_selector())[kPodUidLabel] = uid;
  ASSIGN_OR_RETURN(auto sandboxes, cri_.listPodSandbox(sf));
  for (const auto& s : sandboxes) {
    SandboxRecord r;
    r.id = s.id();
    r.attempt = s.metadata().attempt();
    r.ready = s.state() == v1::SANDBOX_READY;
    r.createdAt = s.created_at();
    out.sandboxes.push_back(std::move(r));
  }
  std::sort(out.sandboxes.begin(), out.sandboxes.end(),
            [](const auto& a, const auto& b) { return a.createdAt > b.createdAt; });
  if (!out.sandboxes.empty() && out.sandboxes.front().ready) {
    auto st = cri_.podSandboxStatus(out.sandboxes.front().id, false);
    if (st.ok()) {
      const auto& net = st->status().network();
      if (!net.ip().empty()) out.sandboxes.front().ips.push_back(net.ip());
      for (const auto& ip : net.additional_ips()) out.sandboxes.front().ips.push_back(ip.ip());
    }
  }
  v1::ContainerFilter cf;
  (*cf.mutable_label_selector())[kPodUidLabel] = uid;
  ASSIGN_OR_RETURN(auto containers, cri_.listContainers(cf));
  for (const auto& c : containers) {
    ContainerRecord r;
    r.id = c.id();
    r.sandboxId = c.pod_sandbox_id();
    r.name = c.metadata().name();
    if (auto it = c.labels().find(kContainerNameLabel); it != c.labels().end()) r.name = it->second;
    r.state = c.state();
    r.createdAt = c.created_at();
    r.image = c.image().image();
    r.imageRef = c.image_ref();
    if (auto it = c.annotations().find(kRestartCountAnnotation); it != c.annotations().end()) {
      r.restartCount = std::atoi(it->second.c_str());
    } else {
      r.restartCount = static_cast<int32_t>(c.metadata().attempt());
    }
    if (auto it = c.annotations().find(kContainerHashAnnotation); it != c.annotations().end()) r.hash = it->second;
    auto st = cri_.containerStatus(c.id(), false);
    if (st.ok()) {
      const auto& s = st->status();
      r.state = s.state();
      r.startedAt = s.started_at();
      r.finishedAt = s.finished_at();
      r.exitCode = s.exit_code();
      r.reason = s.reason();
      r.message = s.message();
      if (!s.image_ref().empty()) r.imageRef = s.image_ref();
      if (r.state == v1::CONTAINER_EXITED) {
        std::unique_lock<std::mutex> lock(mu_);
        if (auto it = exitMessages_.find(r.id); it != exitMessages_.end()) {
          r.terminationMessage = it->second;
        } else {
          lock.unlock();
          r.terminationMessage = terminationMessage(c.annotations(), s);
          lock.lock();
          exitMessages_[r.id] = r.terminationMessage;
        }
      }
    } else if (!isNotFound(st.status())) {
      return st.status();
    } else {
      continue;  // removed between the list and the status call
    }
    out.containers.push_back(std::move(r));
  }
  std::sort(out.containers.begin(), out.containers.end(),
            [](const auto& a, const auto& b) { return a.createdAt > b.createdAt; });
  return out;
}

absl::StatusOr<std::vector<std::string>> PodRuntime::podUids() {
  std::set<std::string> uids;
  ASSIGN_OR_RETURN(auto sandboxes, cri_.listPodSandbox({}));
  for (const auto& s : sandboxes) {
    if (auto it = s.labels().find(kPodUidLabel); it != s.labels().end()) uids.insert(it->second);
  }
  ASSIGN_OR_RETURN(auto containers, cri_.listContainers({}));
  for (const auto& c : containers) {
    if (auto it = c.labels().find(kPodUidLabel); it != c.labels().end()) uids.insert(it->second);
  }
  return std::vector<std::string>(uids.begin(), uids.end());
}

absl::StatusOr<std::map<std::string, std::string>> PodRuntime::fingerprints() {
  std::map<std::string, std::string> out;
  ASSIGN_OR_RETURN(auto sandboxes, cri_.listPodSandbox({}));
  std::set<std::string> running;
  for (const auto& s : sandboxes) {
    if (auto it = s.labels().find(kPodUidLabel); it != s.labels().end()) {
      out[it->second] += s.id() + ":" + std::to_string(static_cast<int>(s.state())) + ";";
      if (s.state() == v1::SANDBOX_READY) running.insert(it->second);
    }
  }
  ASSIGN_OR_RETURN(auto containers, cri_.listContainers({}));
  std::map<std::string, int> byState = {{"created", 0}, {"running", 0}, {"exited", 0}, {"unknown", 0}};
  for (const auto& c : containers) {
    if (auto it = c.labels().find(kPodUidLabel); it != c.labels().end()) {
      out[it->second] += c.id() + ":" + std::to_string(static_cast<int>(c.state())) + ";";
      switch (c.state()) {
        case v1::CONTAINER_CREATED: ++byState["created"]; break;
        case v1::CONTAINER_RUNNING: ++byState["running"]; break;
        case v1::CONTAINER_EXITED: ++byState["exited"]; break;
        default: ++byState["unknown"]; break;
      }
    }
  }
  // kubelet_running_pods / kubelet_running_containers, set at each relist as upstream's PLEG
  // does: pods with a ready sandbox, the pods' containers by state.
  auto& m = metrics::kubeletMetrics();
  m.runningPods.set(static_cast<double>(running.size()));
  for (const auto& [state, n] : byState) m.runningContainers.with({state}).set(n);
  return out;
}

std::optional<std::chrono::milliseconds> PodRuntime::crashLoopRemaining(const json& pod, const std::string& name,
                                                                        const ContainerRecord& exited,
                                                                        SyncOutcome* out) {
  const std::string key = "container/" + str(pod, {"metadata", "uid"}) + "/" + name;
  if (exited.finishedAt - exited.startedAt >= std::chrono::nanoseconds(kBackoffResetAfterRunning).count()) {
    std::lock_guard<std::mutex> lock(mu_);
    backoff_.erase(key);
  }
  if (auto remaining = backoffRemaining(key)) {
    int64_t period;
    {
      std::lock_guard<std::mutex> lock(mu_);
      period = std::chrono::duration_cast<std::chrono::seconds>(backoff_[key].period).count();
    }
    out->waiting[name] = {"CrashLoopBackOff", "back-off " + std::to_string(period) +
                                                  "s restarting failed container=" + name + " pod=" + podDescription(pod)};
    events_.record(podRef(pod, name), "Warning", "BackOff",
                   "Back-off restarting failed container " + name + " in pod " + podDescription(pod));
    return remaining;
  }
  backoffNext(key);
  return std::nullopt;
}

std::chrono::nanoseconds PodRuntime::imagePullSpan(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pulls_.find(uid);
  return it == pulls_.end() ? std::chrono::nanoseconds(0) : it->second.second - it->second.first;
}

void PodRuntime::forgetPulls(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  pulls_.erase(uid);
}

void PodRuntime::forgetExitMessage(const std::string& containerId) {
  std::lock_guard<std::mutex> lock(mu_);
  exitMessages_.erase(containerId);
}

absl::Status PodRuntime::watchEvents(std::stop_token stop,
                                     const std::function<void(const std::string& uid)>& changed) {
  return cri_.getContainerEvents(
      stop,
      [&](v1::ContainerEventResponse&& event) {
        const auto& labels = event.pod_sandbox_status().labels();
        if (auto it = labels.find(kPodUidLabel); it != labels.end() && !it->second.empty()) changed(it->second);
      },
      nullptr);
}

std::optional<std::chrono::milliseconds> PodRuntime::backoffRemaining(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = backoff_.find(key);
  if (it == backoff_.end()) return std::nullopt;
  auto now = std::chrono::steady_clock::now();
  if (now >= it->second.until) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.until - now);
}

void PodRuntime::backoffNext(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  Backoff& b = backoff_[key];
  b.period = b.period.count() == 0 ? opts_.backoffInitial : std::min(opts_.backoffMax, b.period * 2);
  b.until = now + b.period;
  b.lastUpdate = now;
  // Entries untouched for twice the maximum are forgotten.
  for (auto it = backoff_.begin(); it != backoff_.end();) {
    it = now - it->second.lastUpdate > 2 * opts_.backoffMax ? backoff_.erase(it) : std::next(it);
  }
}

absl::StatusOr<v1::Image> PodRuntime::ensureImage(const json& pod, const json& container,
                                                    const SandboxConfig& sandbox, Waiting* waiting,
                                                    std::optional<std::chrono::milliseconds>* retry) {
  const std::string image = str(container, {"image"});
  const std::string name = str(container, {"name"});
  if (image.empty() || image.find_first_of(" \t\n") != std::string::npos) {
    *waiting = {"InvalidImageName", "Failed to apply default image tag \"" + image + "\": invalid reference format"};
    events_.record(podRef(pod, name), "Warning", "InspectFailed", waiting->message);
    return absl::InvalidArgumentError(waiting->message);
  }
  v1::ImageSpec spec;
  spec.set_image(image);
  const std::string policy = pullPolicy(container);
  if (policy != "Always") {
    ASSIGN_OR_RETURN(auto present, cri_.imageStatus(spec));
    if (present) {
      events_.record(podRef(pod, name), "Normal", "Pulled",
                     "Container image \"" + image + "\" already present on machine and can be accessed by the pod");
      return *present;
    }
    if (policy == "Never") {
      *waiting = {"ErrImageNeverPull",
                  "Container image \"" + image + "\" is not present with pull policy of Never"};
      events_.record(podRef(pod, name), "Warning", "ErrImageNeverPull", waiting->message);
      return absl::FailedPreconditionError(waiting->message);
    }
  }
  const std::string key = "image/" + str(pod, {"metadata", "uid"}) + "/" + image;
  if (auto remaining = backoffRemaining(key)) {
    *waiting = {"ImagePullBackOff", "Back-off pulling image \"" + image + "\""};
    events_.record(podRef(pod, name), "Normal", "BackOff", waiting->message);
    *retry = *remaining;
    return absl::UnavailableError(waiting->message);
  }
  std::vector<PullCredential> creds = pullCredentials(pod);
  events_.record(podRef(pod, name), "Normal", "Pulling", "Pulling image \"" + image + "\"");
  auto start = std::chrono::steady_clock::now();
  // Each credential that applies to the image, most specific first, until one works; with
  // none, an anonymous pull.
  absl::StatusOr<std::string> ref = absl::UnknownError("no pull attempted");
  std::vector<PullCredential> matching = matchCredentials(image, creds);
  if (matching.empty()) {
    ref = cri_.pullImage(spec, nullptr, &sandbox.config);
  } else {
    for (const auto& c : matching) {
      v1::AuthConfig auth = toAuthConfig(c);
      ref = cri_.pullImage(spec, &auth, &sandbox.config);
      if (ref.ok()) break;
    }
  }
  if (!ref.ok()) {
    backoffNext(key);
    std::string msg = "Failed to pull image \"" + image + "\": " + std::string(ref.status().message());
    *waiting = {"ErrImagePull", msg};
    events_.record(podRef(pod, name), "Warning", "Failed", msg);
    events_.record(podRef(pod, name), "Warning", "Failed", "Error: ErrImagePull");
    if (auto remaining = backoffRemaining(key)) *retry = *remaining;
    return absl::UnavailableError(msg);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto end = std::chrono::steady_clock::now();
    auto [it, inserted] = pulls_.try_emplace(str(pod, {"metadata", "uid"}), start, end);
    if (!inserted) it->second.second = end;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char took[32];
  snprintf(took, sizeof took, "%.3fs", secs);
  events_.record(podRef(pod, name), "Normal", "Pulled", "Successfully pulled image \"" + image + "\" in " + took);
  v1::ImageSpec pulled;
  pulled.set_image(*ref);
  ASSIGN_OR_RETURN(auto img, cri_.imageStatus(pulled));
  if (!img) return absl::NotFoundError("image \"" + image + "\" (" + *ref + ") vanished right after its pull");
  return *img;
}

std::vector<PullCredential> PodRuntime::pullCredentials(const json& pod) {
  std::vector<PullCredential> out;
  if (!opts_.getSecret) return out;
  const std::string ns = str(pod, {"metadata", "namespace"});
  std::vector<std::string> failed;
  for (const auto& name : pullSecretNames(pod)) {
    auto secret = opts_.getSecret(ns, name);
    absl::StatusOr<std::vector<PullCredential>> creds =
        secret.ok() ? parsePullSecret(*secret) : absl::StatusOr<std::vector<PullCredential>>(secret.status());
    if (!creds.ok()) {
      LOG_WARNING << "Unable to retrieve pull secret " << ns << "/" << name << " for pod " << podDescription(pod)
                  << ", the image pull may not succeed: " << creds.status().message();
      failed.push_back(ns + "/" + name);
      continue;
    }
    out.insert(out.end(), creds->begin(), creds->end());
  }
  if (!failed.empty()) {
    std::string list;
    for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
    events_.record(podRef(pod), "Warning", "FailedToRetrieveImagePullSecret",
                   "Unable to retrieve some image pull secrets (" + list +
                       "); attempting to pull the image may not succeed.");
  }
  return out;
}

absl::StatusOr<std::string> PodRuntime::ensureHostsFile(const json& pod, const json& container,
                                                        const std::vector<std::string>& podIps) {
  ASSIGN_OR_RETURN(const bool wanted, usesManagedHostsFile(pod, container, podIps));
  if (!wanted) return std::string();
  const std::string uid = str(pod, {"metadata", "uid"});
  if (uid.empty()) return absl::InvalidArgumentError("pod " + podDescription(pod) + " has no UID for its directory");
  std::string nodeHosts;
  if (isHostNetwork(pod)) {
    auto read = readHostFile(opts_.nodeHostsPath);
    if (!read.ok()) {
      return annotate(read.status(), "reading the node's hosts file for pod " + podDescription(pod));
    }
    nodeHosts = *std::move(read);
  }
  ASSIGN_OR_RETURN(const std::string content, managedHostsFile(pod, opts_.node, podIps, nodeHosts));
  const std::string dir = opts_.podsDir + "/" + uid;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError("creating the directory " + dir + " of pod " + podDescription(pod) + ": " +
                               ec.message());
  }
  const std::string path = dir + "/" + kEtcHostsFileName;
  RETURN_IF_ERROR(
      annotate(replaceFileAtomically(path, content, 0644), "writing the hosts file of pod " + podDescription(pod)));
  return path;
}

absl::Status PodRuntime::startContainer(const json& pod, const json& container, const SandboxRecord& sandbox,
                                        const SandboxConfig& sandboxConfig, int32_t restartCount, Waiting* waiting,
                                        std::optional<std::chrono::milliseconds>* retry, bool* created,
                                        const std::string& targetContainerId) {
  const std::string name = str(container, {"name"});
  // The container waits with `reason`; the error is also a Failed event ("Error: ...").
  auto fail = [&](const char* reason, const absl::Status& st) {
    *waiting = {reason, std::string(st.message())};
    events_.record(podRef(pod, name), "Warning", "Failed", "Error: " + waiting->message);
    return st;
  };
  const auto imageStart = std::chrono::steady_clock::now();
  absl::StatusOr<v1::Image> ensured = ensureImage(pod, container, sandboxConfig, waiting, retry);
  phaseDone(pod, "image", imageStart);
  if (!ensured.ok()) return ensured.status();
  const v1::Image& image = *ensured;
  const auto createStart = std::chrono::steady_clock::now();
  ContainerOptions co;
  co.restartCount = restartCount;
  co.targetContainerId = targetContainerId;
  co.imageRef = image.id();
  // The pod's IPs as upstream hands them to a container: for a pod on the node's network
  // the node's (the runtime reports none for such a sandbox), else the sandbox's.
  const std::vector<std::string>& podIps = isHostNetwork(pod) ? opts_.node.nodeIps : sandbox.ips;
  co.podIps = podIps;
  co.hostIps = opts_.node.nodeIps;
  if (image.has_uid()) co.imageUid = image.uid().value();
  co.imageUsername = image.username();
  if (opts_.nodeAllocatable) co.nodeAllocatable = opts_.nodeAllocatable();
  const std::string ns = str(pod, {"metadata", "namespace"});
  if (opts_.getConfigMap) {
    co.envSources.configMap = [this, ns](const std::string& cmName) -> absl::StatusOr<std::map<std::string, std::string>> {
      ASSIGN_OR_RETURN(json cm, opts_.getConfigMap(ns, cmName));
      std::map<std::string, std::string> data;
      for (const auto& [k, v] : objects::object(cm, {"data"}).items())
        if (v.is_string()) data[k] = v.get<std::string>();
      return data;
    };
  }
  if (opts_.getSecret) {
    co.envSources.secret = [this, ns](const std::string& secretName) -> absl::StatusOr<std::map<std::string, std::string>> {
      ASSIGN_OR_RETURN(json secret, opts_.getSecret(ns, secretName));
      return volume::objectData(secret, true, "secret " + ns + "/" + secretName);
    };
  }
  if (opts_.serviceEnv) {
    auto env = opts_.serviceEnv(pod);
    if (!env.ok()) return fail("CreateContainerConfigError", env.status());
    co.serviceEnv = *std::move(env);
  }
  if (!opts_.podsDir.empty()) {
    auto hosts = ensureHostsFile(pod, container, podIps);
    if (!hosts.ok()) return fail("CreateContainerConfigError", hosts.status());
    co.etcHostsHostPath = *hosts;
    auto mounts = volumeMounts(pod, container, co);
    if (!mounts.ok()) return fail("CreateContainerConfigError", mounts.status());
    co.volumeMounts = *std::move(mounts);
    auto file = createTerminationMessageFile(opts_.podsDir + "/" + str(pod, {"metadata", "uid"}) + "/containers/" + name);
    if (!file.ok()) return fail("CreateContainerConfigError", file.status());
    co.terminationMessageHostPath = *file;
  }
  auto config = makeContainerConfig(pod, container, opts_.node, co);
  if (!config.ok()) return fail("CreateContainerConfigError", config.status());
  auto id = cri_.createContainer(sandbox.id, *config, sandboxConfig.config);
  phaseDone(pod, "create", createStart);
  *created = id.ok();
  if (!id.ok()) return fail("CreateContainerError", id.status());
  events_.record(podRef(pod, name), "Normal", "Created", "Container created");
  const auto startStart = std::chrono::steady_clock::now();
  auto st = cri_.startContainer(*id);
  phaseDone(pod, "start", startStart);
  if (!st.ok()) return fail("RunContainerError", st);
  events_.record(podRef(pod, name), "Normal", "Started", "Container started");
  if (const json* postStart = objects::find(container, {"lifecycle", "postStart"}); postStart && postStart->is_object()) {
    // As upstream: the hook runs to its end before the next container starts; a failure
    // kills the container, which then restarts per the pod's policy.
    HookTarget target{pod, container, *id, sandbox.ips.empty() ? "" : sandbox.ips.front()};
    if (auto hook = runLifecycleHook(cri_, *postStart, target, std::chrono::seconds(0)); !hook.ok()) {
      // The event leaves the hook's output out, as upstream (it may hold secrets).
      LOG_WARNING << hook.message();
      events_.record(podRef(pod, name), "Warning", "FailedPostStartHook", "PostStartHook failed");
      events_.record(podRef(pod, name), "Normal", "Killing", "FailedPostStartHook");
      (void)cri_.stopContainer(*id, std::chrono::seconds(std::max(
                                        objects::integer(pod, {"spec", "terminationGracePeriodSeconds"}, 30),
                                        kMinimumGracePeriod)));
      *waiting = {"PostStartHookError", std::string(hook.message())};
      return absl::Status(hook.code(), "PostStartHookError: " + std::string(hook.message()));
    }
  }
  return absl::OkStatus();
}

bool PodRuntime::startInto(const json& pod, const json& container, const SandboxRecord& sandbox,
                           const SandboxConfig& sandboxConfig, int32_t restartCount, const char* waitingReason,
                           SyncOutcome& out, const std::string& targetContainerId) {
  Waiting w;
  std::optional<std::chrono::milliseconds> retry;
  bool created = false;
  // kubelet_started_containers_total / _errors_total, as upstream's SyncPod counts each
  // start attempt (the image pull included) by container type.
  const std::string name = str(container, {"name"});
  const char* type = metrics::kContainerTypeContainer;
  for (const auto& init : objects::array(pod, {"spec", "initContainers"}))
    if (str(init, {"name"}) == name) type = metrics::kContainerTypeInit;
  for (const auto& ec : objects::array(pod, {"spec", "ephemeralContainers"}))
    if (str(ec, {"name"}) == name) type = metrics::kContainerTypeEphemeral;
  auto& m = metrics::kubeletMetrics();
  m.startedContainers.with({type}).inc();
  auto st =
      startContainer(pod, container, sandbox, sandboxConfig, restartCount, &w, &retry, &created, targetContainerId);
  out.changed = out.changed || created;
  if (st.ok()) return true;
  m.startedContainersErrors.with({type, w.reason.empty() ? waitingReason : w.reason}).inc();
  out.waiting[name] = w.reason.empty() ? Waiting{waitingReason, ""} : w;
  if (retry) out.retryNoLaterThan(*retry);
  if (out.error.ok()) out.error = st;
  return false;
}

absl::Status PodRuntime::killContainer(const json& pod, const ContainerRecord& c, int64_t grace,
                                       const std::string& why, const std::string& podIp) {
  events_.record(podRef(pod, c.name), "Normal", "Killing", why.empty() ? "Stopping container " + c.name : why);
  // preStop runs first, inside the grace period; the stop gets what is left of it.
  const json* spec = nullptr;
  for (const char* list : {"containers", "initContainers"}) {
    for (const auto& candidate : objects::array(pod, {"spec", list}))
      if (str(candidate, {"name"}) == c.name) spec = &candidate;
  }
  const json* preStop = spec ? objects::find(*spec, {"lifecycle", "preStop"}) : nullptr;
  if (preStop && preStop->is_object() && grace > 0 && c.state == v1::CONTAINER_RUNNING) {
    auto start = std::chrono::steady_clock::now();
    HookTarget target{pod, *spec, c.id, podIp};
    if (auto hook = runLifecycleHook(cri_, *preStop, target, std::chrono::seconds(grace)); !hook.ok()) {
      events_.record(podRef(pod, c.name), "Warning", "FailedPreStopHook", std::string(hook.message()));
    }
    grace -= std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
  }
  return cri_.stopContainer(c.id, std::chrono::seconds(std::max(grace, kMinimumGracePeriod)));
}

void PodRuntime::phaseDone(const json& pod, const char* phase, std::chrono::steady_clock::time_point since) const {
  if (opts_.onPhase) opts_.onPhase(str(pod, {"metadata", "uid"}), phase, std::chrono::steady_clock::now() - since);
}

namespace {

// The volumes set up while a new sandbox was made failed: one more try when their first
// back-off step ends, before that sandbox is given up. A new pod's first token or configMap
// request can race the apiserver's node authorizer, which learns of a pod a moment after the
// pod's watchers do (403 / 404 for a few hundred ms in a burst); giving the sandbox up for
// that would cost a second one. A volume that keeps failing (its back-off now longer) is
// left to the pod worker's retries, and the sandbox is removed.
template <typename SetUp>
volume::SetUpResult volumesAfterSandbox(volume::SetUpResult first, const SetUp& setUp) {
  constexpr std::chrono::milliseconds kFirstBackoffStep{500};
  if (first.error.ok() || !first.retryAfter || *first.retryAfter > kFirstBackoffStep) return first;
  std::this_thread::sleep_for(*first.retryAfter);
  return setUp();
}

}  // namespace

SyncOutcome PodRuntime::sync(const json& pod, const PodRuntimeState& state) {
  SyncOutcome out;
  const std::string uid = str(pod, {"metadata", "uid"});
  const std::string policy = str(pod, {"spec", "restartPolicy"}, "Always");
  const json& containers = objects::array(pod, {"spec", "containers"});
  auto waitAll = [&](const std::string& reason, const std::string& message) {
    for (const auto& c : containers) out.waiting[str(c, {"name"})] = {reason, message};
  };
  const json& initContainers = objects::array(pod, {"spec", "initContainers"});
  // Volumes. A pod that needs a new sandbox has them set up while the runtime makes it: the
  // containers need them, the sandbox does not, and the token request and the files take tens
  // of milliseconds (hundreds in a burst). A sandbox made while its volumes failed is removed
  // again, so the pod looks as upstream's does: no sandbox until its volumes are there; after
  // such a failure the pod's volumes come first again until they are set up. Until then the
  // containers wait (each failed volume has its FailedMount event and its back-off).
  bool overlap = state.sandboxes.empty() || !state.sandboxes.front().ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (volumesFailed_.count(uid)) overlap = false;
  }
  auto setUpVolumes = [this, &pod] {
    const auto start = std::chrono::steady_clock::now();
    volume::SetUpResult vols = opts_.volumes->setUp(pod);
    phaseDone(pod, "volumes", start);
    return vols;
  };
  auto volumesReady = [&](volume::SetUpResult vols) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!vols.error.ok()) {
      volumesFailed_.insert(uid);
      waitAll("ContainerCreating", "");
      out.error = vols.error;
      if (vols.retryAfter) out.retryNoLaterThan(*vols.retryAfter);
      return false;
    }
    volumesFailed_.erase(uid);
    mounted_[uid] = std::move(vols.volumes);
    return true;
  };
  // Waited for on every way out of this function (a std::async future joins when destroyed).
  std::future<volume::SetUpResult> volumesAhead;
  if (opts_.volumes) {
    if (overlap) {
      volumesAhead = std::async(std::launch::async, setUpVolumes);
    } else if (!volumesReady(setUpVolumes())) {
      return out;
    }
  } else if (const json& volumes = objects::array(pod, {"spec", "volumes"}); !volumes.empty()) {
    std::string names;
    for (const auto& v : volumes) names += (names.empty() ? "" : " ") + str(v, {"name"});
    std::string msg = "Unable to attach or mount volumes: unmounted volumes=[" + names +
                      "]: this node agent runs without a volume manager";
    waitAll("ContainerCreating", "");
    events_.record(podRef(pod), "Warning", "FailedMount", msg);
    out.error = absl::UnavailableError(msg);
    return out;
  }
  std::string runtimeHandler;
  if (const std::string rc = str(pod, {"spec", "runtimeClassName"}); !rc.empty()) {
    // The RuntimeClass names the CRI handler; until it can be read the pod waits.
    absl::StatusOr<json> obj = opts_.getRuntimeClass
                                   ? opts_.getRuntimeClass(rc)
                                   : absl::StatusOr<json>(absl::UnimplementedError("RuntimeClass lookup is off"));
    if (obj.ok() && str(*obj, {"handler"}).empty()) {
      obj = absl::InvalidArgumentError("RuntimeClass \"" + rc + "\" has no handler");
    }
    if (!obj.ok()) {
      waitAll("ContainerCreating", "");
      std::string msg = "Failed to create pod sandbox: " +
                        (absl::IsNotFound(obj.status()) ? std::string(obj.status().message())
                                                        : "failed to lookup RuntimeClass " + rc + ": " +
                                                              std::string(obj.status().message()));
      events_.record(podRef(pod), "Warning", "FailedCreatePodSandBox", msg);
      out.error = absl::Status(obj.status().code(), msg);
      return out;
    }
    runtimeHandler = str(*obj, {"handler"});
  }

  // A pod whose containers all finished for good gets no new sandbox.
  bool done = !state.containers.empty();
  for (const auto& c : containers) {
    const ContainerRecord* r = state.latest(str(c, {"name"}));
    if (!r || r->state != v1::CONTAINER_EXITED || containerShouldRestart(c, policy, r->exitCode)) done = false;
  }
  if (done) {
    // The app containers are done for good: the sidecars go too, in reverse order.
    absl::Status err;
    out.changed = stopSidecars(pod, state, objects::integer(pod, {"spec", "terminationGracePeriodSeconds"}, 30),
                               std::chrono::steady_clock::now(), &err);
    out.error = err;
    return out;
  }

  // The sandbox: the newest, if ready; else a new one after stopping what is left.
  const SandboxRecord* current = nullptr;
  SandboxRecord created;
  uint32_t attempt = state.sandboxes.empty() ? 0 : state.sandboxes.front().attempt + 1;
  if (!state.sandboxes.empty() && state.sandboxes.front().ready) {
    current = &state.sandboxes.front();
    attempt = current->attempt;
  }
  SandboxOptions so;
  so.attempt = attempt;
  so.runtimeHandler = runtimeHandler;
  if (opts_.cgroupParent) {
    const auto cgroupsStart = std::chrono::steady_clock::now();
    auto parent = opts_.cgroupParent(pod);
    phaseDone(pod, "cgroups", cgroupsStart);
    if (!parent.ok()) {
      waitAll("ContainerCreating", "");
      out.error = absl::Status(parent.status().code(), "failed to ensure that the pod " + podDescription(pod) +
                                                           " cgroups exist and are correctly applied: " +
                                                           std::string(parent.status().message()));
      return out;
    }
    so.cgroupParent = *parent;
  }
  absl::StatusOr<SandboxConfig> sandboxConfig = absl::UnknownError("unset");
  if (opts_.resolvConfPath.empty()) {
    sandboxConfig = makeSandboxConfig(pod, opts_.node, so);
  } else if (auto resolvConf = readHostFile(opts_.resolvConfPath); !resolvConf.ok()) {
    sandboxConfig = resolvConf.status();
  } else {
    NodeSettings node = opts_.node;
    node.resolvConf = *std::move(resolvConf);
    sandboxConfig = makeSandboxConfig(pod, node, so);
  }
  if (!sandboxConfig.ok()) {
    std::string msg = "Failed to create pod sandbox: " + std::string(sandboxConfig.status().message());
    waitAll("ContainerCreating", "");
    events_.record(podRef(pod), "Warning", "FailedCreatePodSandBox", msg);
    out.error = sandboxConfig.status();
    return out;
  }
  if (!current) {
    out.changed = true;
    if (!state.sandboxes.empty() && policy == "Never" && !state.containers.empty()) {
      // As upstream: a pod that must not restart gets no new sandbox once its containers
      // ran; what is left of it is stopped and its containers stay terminated.
      for (const auto& c : state.containers) {
        if (c.state == v1::CONTAINER_RUNNING) (void)killContainer(pod, c, 2, "");
      }
      for (const auto& s : state.sandboxes) {
        if (s.ready) (void)cri_.stopPodSandbox(s.id);
      }
      return out;
    }
    if (!state.sandboxes.empty()) {
      events_.record(podRef(pod), "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.");
      for (const auto& c : state.containers) {
        if (c.state == v1::CONTAINER_RUNNING) (void)killContainer(pod, c, 2, "");
      }
      for (const auto& s : state.sandboxes) (void)cri_.stopPodSandbox(s.id);
    }
    for (const auto& e : sandboxConfig->events) events_.record(podRef(pod), "Warning", e.reason, e.message);
    metrics::kubeletMetrics().startedPods.inc();
    const auto sandboxStart = std::chrono::steady_clock::now();
    auto id = cri_.runPodSandbox(sandboxConfig->config, sandboxConfig->runtimeHandler);
    if (!id.ok()) {
      metrics::kubeletMetrics().startedPodsErrors.inc();
      std::string msg = "Failed to create pod sandbox: " + std::string(id.status().message());
      waitAll("ContainerCreating", "");
      events_.record(podRef(pod), "Warning", "FailedCreatePodSandBox", msg);
      out.error = id.status();
      return out;
    }
    created.id = *id;
    created.attempt = attempt;
    created.ready = true;
    if (auto st = cri_.podSandboxStatus(*id, false); st.ok()) {
      const auto& net = st->status().network();
      if (!net.ip().empty()) created.ips.push_back(net.ip());
      for (const auto& ip : net.additional_ips()) created.ips.push_back(ip.ip());
    }
    phaseDone(pod, "sandbox", sandboxStart);
    current = &created;
    if (volumesAhead.valid() && !volumesReady(volumesAfterSandbox(volumesAhead.get(), setUpVolumes))) {
      (void)cri_.stopPodSandbox(created.id);
      (void)cri_.removePodSandbox(created.id);
      return out;
    }
  }

  startEphemeralContainers(pod, state, *current, *sandboxConfig, out);

  // Init containers, in order, in this sandbox (a new sandbox runs them all again): each
  // regular one to success, one at a time; each sidecar started (its startup probe passed)
  // before the next one, and restarted whenever it exits, also once the app containers run.
  // The app containers wait until the sequence is through.
  bool initialized = false;  // an app container already exists in this sandbox
  for (const auto& c : state.containers) {
    if (c.sandboxId != current->id) continue;
    for (const auto& spec : containers)
      if (str(spec, {"name"}) == c.name) initialized = true;
  }
  auto holdApps = [&] {
    for (const auto& c : containers) out.waiting.try_emplace(str(c, {"name"}), Waiting{"PodInitializing", ""});
  };
  for (const auto& ic : initContainers) {
    const std::string name = str(ic, {"name"});
    const bool sidecar = isSidecar(ic);
    if (!sidecar && initialized) continue;  // regular init containers ran before the apps
    const ContainerRecord* r = state.latest(name);
    const bool inSandbox = r && r->sandboxId == current->id;
    if (!sidecar && inSandbox && r->state == v1::CONTAINER_EXITED && r->exitCode == 0) continue;
    bool probeKilled = false;
    if (sidecar && inSandbox && r->state == v1::CONTAINER_RUNNING) {
      // A failed liveness or startup probe restarts a sidecar at once (below).
      if (auto probed = probeKill(pod, ic, *r, true)) {
        out.changed = true;
        auto st = killContainer(pod, *r, probed->grace, probed->message);
        if (!st.ok() && !isNotFound(st)) {
          if (out.error.ok()) out.error = st;
          if (initialized) continue;
          holdApps();
          return out;
        }
        probeKilled = true;
      } else {
        if (initialized || containerStarted(ic, *r)) continue;
        holdApps();
        return out;  // its startup probe will trigger the next sync
      }
    }
    if (!probeKilled && inSandbox && r->state == v1::CONTAINER_RUNNING) {
      holdApps();
      return out;
    }
    if (!probeKilled && inSandbox && r->state == v1::CONTAINER_CREATED) {
      out.changed = true;
      if (auto st = cri_.startContainer(r->id); !st.ok()) {
        out.waiting[name] = {"RunContainerError", std::string(st.message())};
        out.error = st;
      }
      if (initialized) continue;
      holdApps();
      return out;
    }
    int32_t restartCount = r ? r->restartCount + 1 : 0;
    if (inSandbox && r->state == v1::CONTAINER_EXITED) {
      // A failed regular one fails the pod with restartPolicy Never; anything else is
      // retried with the crash-loop back-off (a sidecar whatever its exit code).
      if (!sidecar && !containerShouldRestart(ic, policy, r->exitCode)) {
        holdApps();
        return out;
      }
      if (auto remaining = crashLoopRemaining(pod, name, *r, &out)) {
        out.retryNoLaterThan(*remaining);
        if (initialized) continue;
        holdApps();
        return out;
      }
    }
    if (probeKilled) {
      if (auto remaining = probeRestartBackoff(pod, state, *r, &out)) {
        out.retryNoLaterThan(*remaining);
        if (initialized) continue;
        holdApps();
        return out;
      }
    }
    if (!startInto(pod, ic, *current, *sandboxConfig, restartCount, "PodInitializing", out)) {
      if (initialized) continue;
      holdApps();
      return out;
    }
    if (initialized) continue;
    if (sidecar && !hasStartupProbe(ic)) continue;  // started: the next one may start now
    holdApps();
    return out;
  }

  for (const auto& c : containers) {
    const std::string name = str(c, {"name"});
    const ContainerRecord* r = state.latest(name);
    int32_t restartCount = 0;
    if (r) {
      bool inSandbox = r->sandboxId == current->id;
      if (r->state == v1::CONTAINER_RUNNING && inSandbox) {
        // A changed definition (the image, for a pod) replaces the container; else a failed
        // liveness or startup probe kills it (upstream computePodActions, in that order).
        auto hash = containerHash(c);
        const bool redefined = hash.ok() && !r->hash.empty() && r->hash != formatContainerHash(*hash);
        const std::optional<ProbeKill> probed =
            redefined ? std::nullopt : probeKill(pod, c, *r, policy != "Never");
        if (!redefined && !probed) continue;
        out.changed = true;
        auto st = redefined ? killContainer(pod, *r, objects::integer(pod, {"spec", "terminationGracePeriodSeconds"}, 30),
                                            "Container " + name + " definition changed, will be restarted")
                            : killContainer(pod, *r, probed->grace, probed->message);
        if (!st.ok() && !isNotFound(st)) {
          if (out.error.ok()) out.error = st;
          continue;
        }
        if (probed) {
          if (policy == "Never") continue;
          if (auto remaining = probeRestartBackoff(pod, state, *r, &out)) {
            out.retryNoLaterThan(*remaining);
            continue;
          }
        }
        restartCount = r->restartCount + 1;
      } else if (r->state == v1::CONTAINER_CREATED && inSandbox) {
        // Created but never started (e.g. we crashed in between): start it now.
        out.changed = true;
        auto st = cri_.startContainer(r->id);
        if (st.ok()) continue;
        // Not re-created: a new container with the same attempt would clash with this one's name.
        out.waiting[name] = {"RunContainerError", std::string(st.message())};
        events_.record(podRef(pod, name), "Warning", "Failed", "Error: " + out.waiting[name].message);
        if (out.error.ok()) out.error = st;
        continue;
      }
      if (r->state == v1::CONTAINER_EXITED || !inSandbox) {
        if (inSandbox && !containerShouldRestart(c, policy, r->exitCode)) continue;
        restartCount = r->restartCount + 1;
        if (inSandbox) {
          if (auto remaining = crashLoopRemaining(pod, name, *r, &out)) {
            out.retryNoLaterThan(*remaining);
            continue;
          }
        }
      }
    }
    (void)startInto(pod, c, *current, *sandboxConfig, restartCount, "ContainerCreating", out);
  }
  return out;
}

void PodRuntime::startEphemeralContainers(const json& pod, const PodRuntimeState& state, const SandboxRecord& sandbox,
                                          const SandboxConfig& sandboxConfig, SyncOutcome& out) {
  // As upstream: before the init containers, so a debugger runs even while one is stuck; each
  // once (a container of that name in any sandbox means it ran), never restarted.
  for (const auto& ec : objects::array(pod, {"spec", "ephemeralContainers"})) {
    const std::string name = str(ec, {"name"});
    if (name.empty() || state.latest(name)) continue;
    std::string targetId;
    if (const std::string target = str(ec, {"targetContainerName"}); !target.empty()) {
      const ContainerRecord* t = state.latest(target);
      if (!t || t->sandboxId != sandbox.id || t->state != v1::CONTAINER_RUNNING) {
        // Upstream fails the start when the target is not running; it is tried again with the
        // next sync.
        out.waiting[name] = {"CreateContainerConfigError",
                             "target container \"" + target + "\" of ephemeral container \"" + name +
                                 "\" is not running"};
        continue;
      }
      targetId = t->id;
    }
    (void)startInto(pod, ec, sandbox, sandboxConfig, 0, "ContainerCreating", out, targetId);
  }
}

std::optional<PodRuntime::ProbeKill> PodRuntime::probeKill(const json& pod, const json& container,
                                                           const ContainerRecord& c, bool restart) const {
  if (!opts_.probes) return std::nullopt;
  auto failure = opts_.probes->failed(c.id);
  if (!failure) return std::nullopt;
  const bool liveness = failure->probe == ProbeKind::kLiveness;
  // Sidecars read "Init container <name> failed ... probe" (computeInitContainerActions),
  // app containers "Container <name> failed ... probe[, will be restarted]".
  const bool sidecar = isSidecar(container);
  ProbeKill k;
  k.message = (sidecar ? "Init container " : "Container ") + str(container, {"name"}) +
              (liveness ? " failed liveness probe" : " failed startup probe");
  if (restart && !sidecar) k.message += ", will be restarted";
  // setTerminationGracePeriod: a deletion's grace first, then the probe's own, then the pod's.
  if (int64_t deletion = objects::integer(pod, {"metadata", "deletionGracePeriodSeconds"}, -1); deletion >= 0) {
    k.grace = deletion;
  } else if (failure->terminationGracePeriodSeconds) {
    k.grace = *failure->terminationGracePeriodSeconds;
  } else {
    k.grace = objects::integer(pod, {"spec", "terminationGracePeriodSeconds"}, 30);
  }
  return k;
}

void PodRuntime::trackProbes(const json& pod, const PodRuntimeState& state) {
  if (!opts_.probes) return;
  std::vector<RunningContainer> running;
  std::string podIp;
  const SandboxRecord* sandbox = state.sandboxes.empty() ? nullptr : &state.sandboxes.front();
  if (sandbox && sandbox->ready) {
    if (objects::boolean(pod, {"spec", "hostNetwork"}, false)) {
      if (!opts_.node.nodeIps.empty()) podIp = opts_.node.nodeIps.front();
    } else if (!sandbox->ips.empty()) {
      podIp = sandbox->ips.front();
    }
    std::set<std::string> seen;
    for (const auto& c : state.containers) {  // newest first: the current instance of each
      if (!seen.insert(c.name).second) continue;
      if (c.state == v1::CONTAINER_RUNNING && c.sandboxId == sandbox->id) {
        running.push_back({c.name, c.id, c.startedAt});
      }
    }
  }
  opts_.probes->setRunning(pod, podIp, running);
}

std::optional<std::chrono::milliseconds> PodRuntime::probeRestartBackoff(const json& pod, const PodRuntimeState& state,
                                                                          const ContainerRecord& killed,
                                                                          SyncOutcome* out) {
  // Restarted in the same sync, as upstream, unless the crash-loop back-off of an earlier
  // instance that exited in this sandbox still runs (upstream's doBackOff looks at that one).
  for (const auto& other : state.containers) {
    if (&other != &killed && other.name == killed.name && other.sandboxId == killed.sandboxId &&
        other.state == v1::CONTAINER_EXITED) {
      return crashLoopRemaining(pod, killed.name, other, out);
    }
  }
  return std::nullopt;
}

bool PodRuntime::containerStarted(const json& container, const ContainerRecord& r) const {
  if (r.state != v1::CONTAINER_RUNNING) return false;
  if (!opts_.probes || !hasStartupProbe(container)) return true;
  return opts_.probes->started(r.id).value_or(false);
}

bool PodRuntime::stopSidecars(const json& pod, const PodRuntimeState& state, int64_t gracePeriodSeconds,
                              std::chrono::steady_clock::time_point since, absl::Status* firstError) {
  const std::string podIp =
      !state.sandboxes.empty() && !state.sandboxes.front().ips.empty() ? state.sandboxes.front().ips.front() : "";
  const json& init = objects::array(pod, {"spec", "initContainers"});
  bool stopped = false;
  for (auto it = init.rbegin(); it != init.rend(); ++it) {
    if (!isSidecar(*it)) continue;
    for (const auto& c : state.containers) {
      if (c.name != str(*it, {"name"}) || (c.state != v1::CONTAINER_RUNNING && c.state != v1::CONTAINER_CREATED)) continue;
      // Each gets what is left of the pod's grace period.
      int64_t left = gracePeriodSeconds -
                     std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since).count();
      auto st = killContainer(pod, c, std::max<int64_t>(left, 0), "", podIp);
      stopped = true;
      if (!st.ok() && !isNotFound(st) && firstError && firstError->ok()) *firstError = st;
    }
  }
  return stopped;
}

absl::Status PodRuntime::kill(const json& pod, int64_t gracePeriodSeconds) {
  const std::string uid = str(pod, {"metadata", "uid"});
  // A pod being stopped is not probed any more (upstream stops liveness and startup probes
  // at once; readiness no longer matters once it stops).
  if (opts_.probes) opts_.probes->removePod(uid);
  ASSIGN_OR_RETURN(auto state, this->state(uid));
  const auto since = std::chrono::steady_clock::now();
  const std::string podIp =
      !state.sandboxes.empty() && !state.sandboxes.front().ips.empty() ? state.sandboxes.front().ips.front() : "";
  std::set<std::string> sidecars;
  for (const auto& ic : objects::array(pod, {"spec", "initContainers"}))
    if (isSidecar(ic)) sidecars.insert(str(ic, {"name"}));
  std::vector<std::thread> stops;
  std::mutex errMu;
  absl::Status firstError;
  for (const auto& c : state.containers) {
    if (c.state != v1::CONTAINER_RUNNING && c.state != v1::CONTAINER_CREATED) continue;
    if (sidecars.count(c.name)) continue;
    // The app (and init) containers stop in parallel, each with the full grace period.
    stops.emplace_back([&, c] {
      auto st = killContainer(pod, c, gracePeriodSeconds, "", podIp);
      if (!st.ok() && !isNotFound(st)) {
        std::lock_guard<std::mutex> lock(errMu);
        if (firstError.ok()) firstError = st;
      }
    });
  }
  for (auto& t : stops) t.join();
  RETURN_IF_ERROR(firstError);
  // Then the sidecars, last declared first, so the apps keep their helpers to the end.
  stopSidecars(pod, state, gracePeriodSeconds, since, &firstError);
  RETURN_IF_ERROR(firstError);
  for (const auto& s : state.sandboxes) {
    if (!s.ready) continue;
    auto st = cri_.stopPodSandbox(s.id);
    if (!st.ok() && !isNotFound(st)) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ContainerMount>> PodRuntime::volumeMounts(const json& pod, const json& container,
                                                                     const ContainerOptions& co) {
  if (!opts_.volumes || objects::array(container, {"volumeMounts"}).empty()) return std::vector<ContainerMount>();
  std::map<std::string, volume::MountedVolume> mounted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = mounted_.find(str(pod, {"metadata", "uid"})); it != mounted_.end()) mounted = it->second;
  }
  std::vector<std::pair<std::string, std::string>> env;
  for (const auto& m : objects::array(container, {"volumeMounts"})) {
    if (str(m, {"subPathExpr"}).empty()) continue;
    // subPathExpr expands the container's own environment.
    ASSIGN_OR_RETURN(env, containerEnvironment(pod, container, opts_.node, co));
    break;
  }
  return opts_.volumes->containerMounts(pod, container, mounted, env);
}

absl::Status PodRuntime::tearDownVolumes(const std::string& uid) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    mounted_.erase(uid);
    volumesFailed_.erase(uid);
  }
  if (!opts_.volumes || uid.empty()) return absl::OkStatus();
  return opts_.volumes->tearDown(uid);
}

int PodRuntime::cleanupOrphanedPodDirs(const std::function<std::set<std::string>()>& live) {
  return opts_.volumes ? opts_.volumes->cleanupOrphans(live) : 0;
}

absl::Status PodRuntime::remove(const std::string& uid) {
  ASSIGN_OR_RETURN(auto state, this->state(uid));
  for (const auto& c : state.containers) {
    if (opts_.beforeRemoveContainer) opts_.beforeRemoveContainer(c.id);
    auto st = cri_.removeContainer(c.id);
    if (!st.ok() && !isNotFound(st)) return st;
    forgetExitMessage(c.id);
  }
  for (const auto& s : state.sandboxes) {
    auto st = cri_.removePodSandbox(s.id);
    if (!st.ok() && !isNotFound(st)) return st;
  }
  // The volumes go first: nothing of the pod's directory is removed while one is mounted.
  RETURN_IF_ERROR(tearDownVolumes(uid));
  if (!opts_.podsDir.empty() && !uid.empty()) {
    // The rest of the pod directory holds only what cubelet made for the pod: the
    // containers' files and the hosts file (with any copy a crash left half made). Remove
    // those, then the directory itself if it is empty.
    const std::string dir = opts_.podsDir + "/" + uid;
    std::error_code ec;
    std::filesystem::remove_all(dir + "/containers", ec);
    std::vector<std::filesystem::path> hostsFiles;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().starts_with(kEtcHostsFileName)) hostsFiles.push_back(it->path());
    }
    for (const auto& p : hostsFiles) std::filesystem::remove(p, ec);
    std::filesystem::remove(dir, ec);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = backoff_.begin(); it != backoff_.end();) {
    it = it->first.find("/" + uid + "/") != std::string::npos ? backoff_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PodRuntime::collectGarbage() {
  ASSIGN_OR_RETURN(auto containers, cri_.listContainers({}));
  ASSIGN_OR_RETURN(auto sandboxes, cri_.listPodSandbox({}));
  auto label = [](const auto& labels, const char* key) {
    auto it = labels.find(key);
    return it == labels.end() ? std::string() : it->second;
  };
  // Exited instances per (pod, container name), newest first.
  std::map<std::pair<std::string, std::string>, std::vector<const v1::Container*>> exited;
  std::set<std::string> sandboxesInUse;
  for (const auto& c : containers) {
    sandboxesInUse.insert(c.pod_sandbox_id());
    const std::string uid = label(c.labels(), kPodUidLabel);
    if (uid.empty() || c.state() != v1::CONTAINER_EXITED) continue;
    std::string name = label(c.labels(), kContainerNameLabel);
    if (name.empty()) name = c.metadata().name();
    exited[{uid, name}].push_back(&c);
  }
  int removed = 0;
  for (auto& [key, list] : exited) {
    std::sort(list.begin(), list.end(), [](const auto* a, const auto* b) { return a->created_at() > b->created_at(); });
    for (size_t i = 1; i < list.size(); ++i) {
      if (opts_.beforeRemoveContainer) opts_.beforeRemoveContainer(list[i]->id());
      auto st = cri_.removeContainer(list[i]->id());
      if (!st.ok() && !isNotFound(st)) return st;
      forgetExitMessage(list[i]->id());
      ++removed;
    }
  }
  // Sandboxes: the newest of each pod stays whatever its state; older ones that are not
  // ready and hold no container go.
  std::map<std::string, std::vector<const v1::PodSandbox*>> byPod;
  for (const auto& s : sandboxes) {
    const std::string uid = label(s.labels(), kPodUidLabel);
    if (!uid.empty()) byPod[uid].push_back(&s);
  }
  for (auto& [uid, list] : byPod) {
    std::sort(list.begin(), list.end(), [](const auto* a, const auto* b) { return a->created_at() > b->created_at(); });
    for (size_t i = 1; i < list.size(); ++i) {
      if (list[i]->state() == v1::SANDBOX_READY) continue;
      // A container removed above may still be listed as using it; the next round takes it.
      if (sandboxesInUse.count(list[i]->id())) continue;
      auto st = cri_.removePodSandbox(list[i]->id());
      if (!st.ok() && !isNotFound(st)) return st;
      ++removed;
    }
  }
  return removed;
}

json PodRuntime::buildStatus(const json& pod, const PodRuntimeState& state, const SyncOutcome& outcome,
                             const json& previous, std::chrono::system_clock::time_point now) const {
  const std::string ts = objects::formatTime(now);
  const SandboxRecord* sandbox = !state.sandboxes.empty() ? &state.sandboxes.front() : nullptr;
  // Init containers not all done: the app containers wait with PodInitializing.
  bool initialized = true;
  std::vector<std::string> incomplete;
  auto statusOf = [&](const json& c, bool init) {
    const std::string name = str(c, {"name"});
    json s = {{"name", name}, {"image", str(c, {"image"})}, {"imageID", ""}, {"restartCount", 0},
              {"ready", false}, {"started", false}, {"lastState", json::object()}};
    const ContainerRecord* r = state.latest(name);
    auto waitingIt = outcome.waiting.find(name);
    const std::string defaultWaiting = init || !initialized ? "PodInitializing" : "ContainerCreating";
    if (r) {
      s["restartCount"] = r->restartCount;
      s["imageID"] = r->imageRef;
      s["containerID"] = "containerd://" + r->id;
      // The previous instance, if any, is the last termination.
      for (const auto& older : state.containers) {
        if (&older != r && older.name == name && older.state == v1::CONTAINER_EXITED) {
          s["lastState"] = {{"terminated", terminatedState(older)}};
          break;
        }
      }
      if (r->state == v1::CONTAINER_RUNNING) {
        s["state"] = {{"running", {{"startedAt", objects::formatTimeNanos(r->startedAt ? r->startedAt : nowNanos())}}}};
        // Regular init containers are ready once they completed (below). App containers and
        // sidecars are started once their startup probe succeeded and ready once started and
        // their readiness probe succeeded (each at once without that probe).
        const bool probed = !init || isSidecar(c);
        const bool started = !probed || containerStarted(c, *r);
        bool ready = probed && started;
        if (ready && opts_.probes) {
          if (const json* p = objects::find(c, {"readinessProbe"}); p && p->is_object()) {
            ready = opts_.probes->ready(r->id).value_or(false);
          }
        }
        s["ready"] = ready;
        s["started"] = started;
      } else if (r->state == v1::CONTAINER_EXITED && waitingIt != outcome.waiting.end()) {
        s["state"] = {{"waiting", {{"reason", waitingIt->second.reason}, {"message", waitingIt->second.message}}}};
        s["lastState"] = {{"terminated", terminatedState(*r)}};
      } else if (r->state == v1::CONTAINER_EXITED) {
        s["state"] = {{"terminated", terminatedState(*r)}};
        if (init && !isSidecar(c) && r->exitCode == 0) s["ready"] = true;
      } else if (waitingIt != outcome.waiting.end()) {
        // Created but not started: why the start failed (RunContainerError).
        json wj = {{"reason", waitingIt->second.reason}};
        if (!waitingIt->second.message.empty()) wj["message"] = waitingIt->second.message;
        s["state"] = {{"waiting", wj}};
      } else {
        s["state"] = {{"waiting", {{"reason", defaultWaiting}}}};
      }
    } else {
      Waiting w = waitingIt != outcome.waiting.end() ? waitingIt->second : Waiting{defaultWaiting, ""};
      json wj = {{"reason", w.reason}};
      if (!w.message.empty()) wj["message"] = w.message;
      s["state"] = {{"waiting", wj}};
    }
    return s;
  };
  json initStatuses = json::array();
  std::vector<std::string> notReady;  // sidecars first, then the app containers
  for (const auto& c : objects::array(pod, {"spec", "initContainers"})) {
    json s = statusOf(c, true);
    // Initialized: each regular init container succeeded, each sidecar started.
    if (!s[isSidecar(c) ? "started" : "ready"].get<bool>()) {
      initialized = false;
      incomplete.push_back(str(c, {"name"}));
    }
    if (isSidecar(c) && !s["ready"].get<bool>()) notReady.push_back(str(c, {"name"}));
    initStatuses.push_back(std::move(s));
  }
  json statuses = json::array();
  for (const auto& c : objects::array(pod, {"spec", "containers"})) {
    json s = statusOf(c, false);
    if (!s["ready"].get<bool>()) notReady.push_back(str(c, {"name"}));
    // Once an app container ran, the pod stays initialized (a sidecar may be restarting).
    if (objects::find(s, {"state", "running"}) || objects::find(s, {"state", "terminated"}) ||
        objects::find(s, {"lastState", "terminated"})) {
      initialized = true;
      incomplete.clear();
    }
    statuses.push_back(std::move(s));
  }

  std::string phase = podPhase(pod, statuses, initStatuses);
  // Once a pod reached a terminal phase it stays there.
  std::string prevPhase = str(previous, {"phase"});
  if (prevPhase == "Succeeded" || prevPhase == "Failed") phase = prevPhase;

  bool terminal = phase == "Succeeded" || phase == "Failed";
  bool sandboxReady = sandbox && sandbox->ready && !terminal;
  std::string notReadyMsg;
  if (!notReady.empty()) {
    notReadyMsg = "containers with unready status: [";
    for (size_t i = 0; i < notReady.size(); ++i) notReadyMsg += (i ? " " : "") + notReady[i];
    notReadyMsg += "]";
  }
  bool ready = notReady.empty() && !terminal;
  std::string readyReason = terminal ? "PodCompleted" : (ready ? "" : "ContainersNotReady");
  json conds = json::array();
  conds.push_back(condition("PodReadyToStartContainers", sandboxReady, "", "", previous, ts));
  std::string incompleteMsg;
  if (!incomplete.empty()) {
    incompleteMsg = "containers with incomplete status: [";
    for (size_t i = 0; i < incomplete.size(); ++i) incompleteMsg += (i ? " " : "") + incomplete[i];
    incompleteMsg += "]";
  }
  conds.push_back(initialized ? condition("Initialized", true, terminal ? "PodCompleted" : "", "", previous, ts)
                              : condition("Initialized", false, "ContainersNotInitialized", incompleteMsg, previous, ts));
  // Readiness gates: with its containers ready, the pod is Ready only when every gate's
  // condition (set by someone else, read from the pod as the apiserver has it) is True.
  std::string gatesMsg;
  if (ready) {
    for (const auto& gate : objects::array(pod, {"spec", "readinessGates"})) {
      const std::string type = str(gate, {"conditionType"});
      const json* found = nullptr;
      for (const auto& c : objects::array(pod, {"status", "conditions"})) {
        if (str(c, {"type"}) == type) {
          found = &c;
          break;
        }
      }
      std::string unready;
      if (!found) {
        unready = "corresponding condition of pod readiness gate " + gojson::quote(type) + " does not exist.";
      } else if (str(*found, {"status"}) != "True") {
        unready = "the status of pod readiness gate " + gojson::quote(type) + " is not \"True\", but " +
                  str(*found, {"status"});
      }
      if (!unready.empty()) gatesMsg += (gatesMsg.empty() ? "" : ", ") + unready;
    }
  }
  if (!gatesMsg.empty()) {
    conds.push_back(condition("Ready", false, "ReadinessGatesNotReady", gatesMsg, previous, ts));
  } else {
    conds.push_back(condition("Ready", ready, readyReason, ready || terminal ? "" : notReadyMsg, previous, ts));
  }
  conds.push_back(condition("ContainersReady", ready, readyReason, ready || terminal ? "" : notReadyMsg, previous, ts));
  // The pod is on this node, so it was scheduled (pods bound by nodeName lack the condition).
  conds.push_back(condition("PodScheduled", true, "", "", previous, ts));

  json st = {{"phase", phase}, {"conditions", conds}, {"containerStatuses", statuses}};
  if (!initStatuses.empty()) st["initContainerStatuses"] = initStatuses;
  // Ephemeral containers: never ready, no probes, no effect on the phase or the conditions.
  json ephemeralStatuses = json::array();
  for (const auto& c : objects::array(pod, {"spec", "ephemeralContainers"})) {
    json s = statusOf(c, false);
    s["ready"] = false;
    s.erase("started");
    ephemeralStatuses.push_back(std::move(s));
  }
  if (!ephemeralStatuses.empty()) st["ephemeralContainerStatuses"] = std::move(ephemeralStatuses);
  auto q = qosClass(pod);
  if (q.ok()) st["qosClass"] = std::string(qosClassName(*q));
  std::string startTime = str(previous, {"startTime"});
  st["startTime"] = startTime.empty() ? ts : startTime;
  if (!opts_.node.nodeIps.empty()) {
    st["hostIP"] = opts_.node.nodeIps.front();
    json hostIPs = json::array();
    for (const auto& ip : opts_.node.nodeIps) hostIPs.push_back({{"ip", ip}});
    st["hostIPs"] = hostIPs;
  }
  std::vector<std::string> podIps;
  if (objects::boolean(pod, {"spec", "hostNetwork"}, false)) {
    podIps = opts_.node.nodeIps;
  } else if (sandbox && !sandbox->ips.empty()) {
    podIps = sandbox->ips;
  } else {
    // Keep the IP a finished pod had.
    std::string prev = str(previous, {"podIP"});
    if (!prev.empty()) podIps.push_back(prev);
  }
  if (!podIps.empty()) {
    st["podIP"] = podIps.front();
    json arr = json::array();
    for (const auto& ip : podIps) arr.push_back({{"ip", ip}});
    st["podIPs"] = arr;
  }
  int64_t generation = objects::integer(pod, {"metadata", "generation"}, 0);
  if (generation > 0) st["observedGeneration"] = generation;
  return st;
}

}  // namespace cubelet::runtime
