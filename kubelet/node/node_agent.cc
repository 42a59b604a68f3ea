#include "kubelet/node/node_agent.h"

#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/api/reflector.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::node {
namespace {

constexpr char kLeaseNamespace[] = "kube-node-lease";
constexpr char kAttachDetachAnnotation[] = "volumes.kubernetes.io/controller-managed-attach-detach";

// Status patch: conditions merge by type (other writers' conditions survive); addresses are
// replaced as a whole, since several entries may share a type.
json statusPatch(const json& status) {
  json s = status;
  json addresses = json::array({{{"$patch", "replace"}}});
  for (const auto& a : status["addresses"]) addresses.push_back(a);
  s["addresses"] = addresses;
  return json{{"status", s}};
}

}  // namespace

NodeAgent::NodeAgent(api::Client& client, api::EventRecorder& events, NodeAgentOptions opts,
                     std::function<NodeFacts()> facts)
    : client_(client), events_(events), opts_(std::move(opts)), facts_(std::move(facts)) {}

void NodeAgent::recordConditionEvents(const json& previous, const json& next) {
  for (const auto& reason : conditionEvents(previous, next)) {
    events_.record(nodeRef(), "Normal", reason, "Node " + opts_.nodeName + " status is now: " + reason);
  }
}

absl::Status NodeAgent::tryRegister() {
  NodeFacts f = facts_();
  json node = initialNode(f, opts_.reservations, opts_.hostname, opts_.labels, opts_.taints, opts_.providerID,
                          Clock::now());
  auto created = client_.create("/api/v1/nodes", node);
  if (created.ok()) {
    LOG_INFO << "Successfully registered node " << opts_.nodeName;
    recordConditionEvents(json::array(), node["status"]["conditions"]);
    std::lock_guard<std::mutex> lock(mu_);
    node_ = *created;
    nodeUID_ = objects::str(node_, {"metadata", "uid"});
    lastSent_ = node["status"];
    lastReport_ = std::chrono::steady_clock::now();
    return absl::OkStatus();
  }
  if (!api::isAlreadyExists(created.status())) return created.status();

  // The node exists (a restart, or a re-install): adopt it and put back the labels and
  // annotation the kubelet owns.
  ASSIGN_OR_RETURN(json existing, client_.get(nodePath()));
  json metaPatch = json::object();
  const json& labels = objects::object(existing, {"metadata", "labels"});
  for (const auto& [k, v] : defaultLabels(f, opts_.hostname)) {
    if (!labels.contains(k) || labels[k] != v) metaPatch["labels"][k] = v;
  }
  const json& ann = objects::object(existing, {"metadata", "annotations"});
  if (!ann.contains(kAttachDetachAnnotation) || ann[kAttachDetachAnnotation] != "true") {
    metaPatch["annotations"][kAttachDetachAnnotation] = "true";
  }
  if (!metaPatch.empty()) {
    LOG_INFO << "reconciling labels/annotations of existing node " << opts_.nodeName << ": " << metaPatch.dump();
    ASSIGN_OR_RETURN(existing, client_.patch(nodePath(), json{{"metadata", metaPatch}}, api::PatchType::kStrategicMerge));
  }
  LOG_INFO << "node " << opts_.nodeName << " already exists; adopted it";
  std::lock_guard<std::mutex> lock(mu_);
  node_ = existing;
  nodeUID_ = objects::str(node_, {"metadata", "uid"});
  return absl::OkStatus();
}

bool NodeAgent::registerWithApiserver(std::stop_token stop) {
  api::Backoff backoff(std::chrono::milliseconds(100), std::chrono::seconds(7));
  while (!stop.stop_requested()) {
    auto st = tryRegister();
    if (st.ok()) return true;
    LOG_WARNING << "Unable to register node " << opts_.nodeName << " with API server: " << st.message();
    if (!api::sleepFor(stop, backoff.next())) break;
  }
  return false;
}

absl::Status NodeAgent::syncStatus() {
  NodeFacts f = facts_();
  json current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = objects::object(node_, {"status"});
  }
  auto now = Clock::now();
  json status = computeStatus(f, opts_.reservations, objects::array(current, {"conditions"}), now);
  auto since = std::chrono::steady_clock::now() - lastReport_;
  // Compare with what the apiserver holds, so changes made by others (the node lifecycle
  // controller marking us Unknown) are corrected at once.
  bool changed = statusChanged(current, status) || (lastSent_.is_object() && statusChanged(lastSent_, status));
  if (!changed && since < opts_.reportFrequency) return absl::OkStatus();
  ASSIGN_OR_RETURN(json updated, client_.patch(nodePath() + "/status", statusPatch(status),
                                               api::PatchType::kStrategicMerge));
  VLOG(2) << "patched node status (changed=" << changed << ")";
  recordConditionEvents(objects::array(current, {"conditions"}), status["conditions"]);
  lastSent_ = status;
  lastReport_ = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  node_ = std::move(updated);
  return absl::OkStatus();
}

void NodeAgent::runStatusLoop(std::stop_token stop) {
  auto period = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.updateFrequency);
  while (!stop.stop_requested()) {
    absl::Status st;
    try {
      st = syncStatus();
    } catch (const std::exception& e) {  // a malformed API object must not end the agent
      st = absl::InternalError(std::string("unexpected data: ") + e.what());
    }
    if (!st.ok()) LOG_ERROR << "Error updating node status, will retry: " << st.message();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, stop, st.ok() ? period : std::min(period, std::chrono::milliseconds(1000)),
                 [this] { return poked_; });
    poked_ = false;
  }
}

void NodeAgent::poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

json NodeAgent::node() const {
  std::lock_guard<std::mutex> lock(mu_);
  return node_;
}

std::vector<std::string> podCidrsOf(const json& node) {
  std::vector<std::string> out;
  for (const json& c : objects::array(node, {"spec", "podCIDRs"})) {
    if (c.is_string() && !c.get<std::string>().empty()) out.push_back(c.get<std::string>());
  }
  if (out.empty()) {
    std::string one = objects::str(node, {"spec", "podCIDR"});
    if (!one.empty()) out.push_back(one);
  }
  return out;
}

std::string NodeAgent::podCIDR() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects::str(node_, {"spec", "podCIDR"});
}

absl::Status NodeAgent::renewLease() {
  const std::string base = std::string("/apis/coordination.k8s.io/v1/namespaces/") + kLeaseNamespace + "/leases";
  auto now = Clock::now();
  std::string uid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    uid = nodeUID_;
  }
  json owner = json::array();
  if (!uid.empty()) {
    owner.push_back({{"apiVersion", "v1"}, {"kind", "Node"}, {"name", opts_.nodeName}, {"uid", uid}});
  }
  if (lease_.is_null()) {
    auto got = client_.get(base + "/" + opts_.nodeName);
    if (api::isNotFound(got.status())) {
      json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                    {"kind", "Lease"},
                    {"metadata", {{"name", opts_.nodeName}, {"namespace", kLeaseNamespace}}},
                    {"spec",
                     {{"holderIdentity", opts_.nodeName},
                      {"leaseDurationSeconds", opts_.leaseDurationSeconds},
                      {"renewTime", formatMicroTime(now)}}}};
      if (!owner.empty()) lease["metadata"]["ownerReferences"] = owner;
      ASSIGN_OR_RETURN(lease_, client_.create(base, lease));
      LOG_INFO << "created lease " << kLeaseNamespace << "/" << opts_.nodeName;
      return absl::OkStatus();
    }
    if (!got.ok()) return got.status();
    lease_ = *got;
  }
  json lease = lease_;
  lease["spec"]["holderIdentity"] = opts_.nodeName;
  lease["spec"]["leaseDurationSeconds"] = opts_.leaseDurationSeconds;
  lease["spec"]["renewTime"] = formatMicroTime(now);
  if (!owner.empty()) lease["metadata"]["ownerReferences"] = owner;
  auto updated = client_.update(base + "/" + opts_.nodeName, lease);
  if (!updated.ok()) {
    lease_ = json();  // re-read on the next attempt (conflict, deleted ...)
    return updated.status();
  }
  lease_ = *updated;
  return absl::OkStatus();
}

void NodeAgent::runLease(std::stop_token stop) {
  auto interval = std::chrono::milliseconds(opts_.leaseDurationSeconds * 1000 / 4);
  api::Backoff retry(std::chrono::milliseconds(200), std::chrono::seconds(7));
  while (!stop.stop_requested()) {
    absl::Status st;
    try {
      st = renewLease();
    } catch (const std::exception& e) {
      lease_ = json();
      st = absl::InternalError(std::string("unexpected data: ") + e.what());
    }
    if (st.ok()) {
      retry.reset();
      VLOG(4) << "renewed lease " << opts_.nodeName;
      if (!api::sleepFor(stop, interval)) return;
    } else {
      LOG_ERROR << "Failed to update lease " << kLeaseNamespace << "/" << opts_.nodeName << ": " << st.message();
      if (!api::sleepFor(stop, retry.next())) return;
    }
  }
}

void NodeAgent::runWatch(std::stop_token stop) {
  auto take = [this](const json& obj) {
    std::vector<std::string> before, after;
    {
      std::lock_guard<std::mutex> lock(mu_);
      before = podCidrsOf(node_);
      // Only move forward: a stale list must not replace a newer PATCH response.
      node_ = obj;
      nodeUID_ = objects::str(obj, {"metadata", "uid"}, nodeUID_);
      after = podCidrsOf(obj);
    }
    if (after != before && !after.empty()) {
      LOG_INFO << "node " << opts_.nodeName << " was given podCIDRs " << objects::str(obj, {"spec", "podCIDR"});
    }
    if (!after.empty() && opts_.onPodCidrs) opts_.onPodCidrs(after);
  };
  api::Reflector r(client_, "/api/v1/nodes", "fieldSelector=metadata.name%3D" + opts_.nodeName,
                   api::ReflectorHandler{
                       [&](const std::vector<json>& items) {
                         if (!items.empty()) take(items.front());
                       },
                       [&](const api::WatchEvent& ev) {
                         if (ev.type == "DELETED") {
                           LOG_WARNING << "node " << opts_.nodeName << " was deleted from the apiserver";
                           return;
                         }
                         take(ev.object);
                       }});
  r.run(stop);
}

}  // namespace cubelet::node
