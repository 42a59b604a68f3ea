#include "kubelet/node/node_status.h"

#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"
#include "kubelet/objects/quantity.h"
#include "kubelet/objects/timefmt.h"

namespace cubelet::node {
namespace {

using objects::Quantity;

constexpr char kMemoryAvailable[] = "memory.available";
constexpr char kNodefsAvailable[] = "nodefs.available";

// A threshold is either an absolute quantity or a percentage of capacity.
absl::StatusOr<int64_t> thresholdBytes(const std::string& signal, const std::string& v, int64_t capacity) {
  if (absl::EndsWith(v, "%")) {
    double pct = 0;
    char* end = nullptr;
    pct = strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size() - 1 || pct < 0 || pct > 100) {
      return absl::InvalidArgumentError("evictionHard[" + signal + "]: invalid percentage \"" + v + "\"");
    }
    return static_cast<int64_t>(static_cast<double>(capacity) * pct / 100.0);
  }
  auto q = Quantity::parse(v);
  if (!q.ok()) return annotate(q.status(), "evictionHard[" + signal + "]");
  return q->value();
}

std::string hugepageResource(int64_t pageBytes) {
  return "hugepages-" + Quantity::fromInt(pageBytes, Quantity::Format::kBinarySI).toString();
}

json condition(const std::string& type, bool status, const std::string& reason, const std::string& message,
               const json& previous, const std::string& now) {
  std::string st = status ? "True" : "False";
  std::string transition = now;
  if (previous.is_array()) {
    for (const auto& c : previous) {
      std::string t = objects::str(c, {"lastTransitionTime"});
      if (objects::str(c, {"type"}) == type && objects::str(c, {"status"}) == st && !t.empty()) {
        transition = t;
      }
    }
  }
  return json{{"type", type}, {"status", st}, {"reason", reason}, {"message", message},
              {"lastHeartbeatTime", now}, {"lastTransitionTime", transition}};
}

// True when every key of the object `part` is in `whole` with the same value (recursively);
// anything else must be equal.
bool containsSubset(const json& whole, const json& part) {
  if (!part.is_object() || !whole.is_object()) return whole == part;
  for (const auto& [k, v] : part.items()) {
    if (!whole.contains(k) || !containsSubset(whole[k], v)) return false;
  }
  return true;
}

// The conditions of `status` with the given type, heartbeat time dropped.
json conditionWithoutHeartbeat(const json& status, const std::string& type) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) return nullptr;
  for (const auto& c : status["conditions"]) {
    if (objects::str(c, {"type"}) != type || !c.is_object()) continue;
    json copy = c;
    copy.erase("lastHeartbeatTime");
    return copy;
  }
  return nullptr;
}

}  // namespace

absl::Status validateReservations(const Reservations& r) {
  for (const auto* m : {&r.systemReserved, &r.kubeReserved}) {
    for (const auto& [k, v] : *m) {
      auto q = Quantity::parse(v);
      if (!q.ok()) return annotate(q.status(), (m == &r.systemReserved ? "systemReserved[" : "kubeReserved[") + k + "]");
    }
  }
  for (const auto& [k, v] : r.evictionHard) {
    if (k == kMemoryAvailable || k == kNodefsAvailable) RETURN_IF_ERROR(thresholdBytes(k, v, 0).status());
  }
  return absl::OkStatus();
}

std::pair<json, json> computeResources(const NodeFacts& f, const Reservations& r) {
  std::map<std::string, Quantity> cap;
  cap.emplace("cpu", Quantity::fromMilli(f.numCPUs * 1000, Quantity::Format::kDecimalSI));
  cap.emplace("memory", Quantity::fromInt(f.memoryBytes, Quantity::Format::kBinarySI));
  int64_t pods = r.maxPods;
  if (r.podsPerCore > 0) pods = std::min<int64_t>(f.numCPUs * r.podsPerCore, r.maxPods);
  cap.emplace("pods", Quantity::fromInt(pods, Quantity::Format::kDecimalSI));
  cap.emplace("ephemeral-storage", Quantity::fromInt(f.ephemeralStorageBytes, Quantity::Format::kBinarySI));
  for (const auto& [size, total] : f.hugepages) {
    cap.emplace(hugepageResource(size), Quantity::fromInt(total, Quantity::Format::kBinarySI));
  }

  // Reservation per resource: kube + system reserved, plus hard eviction thresholds.
  std::map<std::string, Quantity> reserved;
  auto add = [&](const std::string& res, const Quantity& q) {
    auto it = reserved.find(res);
    if (it == reserved.end()) {
      reserved.emplace(res, q);
    } else {
      it->second = it->second.add(q);
    }
  };
  for (const auto* m : {&r.kubeReserved, &r.systemReserved}) {
    for (const auto& [k, v] : *m) {
      auto q = Quantity::parse(v);
      if (q.ok()) add(k, *q);
    }
  }
  if (auto it = r.evictionHard.find(kMemoryAvailable); it != r.evictionHard.end()) {
    auto b = thresholdBytes(it->first, it->second, f.memoryBytes);
    if (b.ok()) add("memory", Quantity::fromInt(*b, Quantity::Format::kBinarySI));
  }
  if (auto it = r.evictionHard.find(kNodefsAvailable); it != r.evictionHard.end()) {
    auto b = thresholdBytes(it->first, it->second, f.ephemeralStorageBytes);
    if (b.ok()) add("ephemeral-storage", Quantity::fromInt(*b, Quantity::Format::kBinarySI));
  }

  std::map<std::string, Quantity> alloc;
  for (const auto& [k, v] : cap) {
    Quantity a = v;
    if (auto it = reserved.find(k); it != reserved.end()) a = a.sub(it->second);
    if (a.sign() < 0) a = Quantity::fromInt(0, v.format());
    alloc.emplace(k, a);
  }
  // Memory backing huge pages is not available to ordinary allocations.
  for (const auto& [k, v] : cap) {
    if (!absl::StartsWith(k, "hugepages-")) continue;
    Quantity m = alloc.at("memory").sub(v);
    if (m.sign() < 0) m = Quantity::fromInt(0, Quantity::Format::kBinarySI);
    alloc.insert_or_assign("memory", m);
  }
  json capJ = json::object(), allocJ = json::object();
  for (const auto& [k, v] : cap) capJ[k] = v.toString();
  for (const auto& [k, v] : alloc) allocJ[k] = v.toString();
  return {capJ, allocJ};
}

json computeConditions(const NodeFacts& f, const Reservations& r, const json& previous, Clock::time_point now) {
  const std::string ts = formatTime(now);
  bool memoryPressure = false, diskPressure = false;
  if (auto it = r.evictionHard.find(kMemoryAvailable); it != r.evictionHard.end() && f.memoryAvailableBytes >= 0) {
    auto t = thresholdBytes(it->first, it->second, f.memoryBytes);
    memoryPressure = t.ok() && f.memoryAvailableBytes < *t;
  }
  if (auto it = r.evictionHard.find(kNodefsAvailable); it != r.evictionHard.end() && f.ephemeralAvailableBytes >= 0) {
    auto t = thresholdBytes(it->first, it->second, f.ephemeralStorageBytes);
    diskPressure = t.ok() && f.ephemeralAvailableBytes < *t;
  }
  json out = json::array();
  out.push_back(memoryPressure
                    ? condition("MemoryPressure", true, "KubeletHasInsufficientMemory",
                                "kubelet has insufficient memory available", previous, ts)
                    : condition("MemoryPressure", false, "KubeletHasSufficientMemory",
                                "kubelet has sufficient memory available", previous, ts));
  out.push_back(diskPressure ? condition("DiskPressure", true, "KubeletHasDiskPressure", "kubelet has disk pressure",
                                         previous, ts)
                             : condition("DiskPressure", false, "KubeletHasNoDiskPressure",
                                         "kubelet has no disk pressure", previous, ts));
  // No pid.available threshold is set by default, so PID pressure is never reported.
  out.push_back(condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available",
                          previous, ts));
  // Ready is last, as upstream keeps it for old clients.
  if (f.readyErrors.empty()) {
    out.push_back(condition("Ready", true, "KubeletReady", "kubelet is posting ready status", previous, ts));
  } else {
    // Formatted like an aggregate error: one message alone, several in brackets.
    std::string msg = f.readyErrors.size() == 1 ? f.readyErrors[0] : "[" + absl::StrJoin(f.readyErrors, ", ") + "]";
    out.push_back(condition("Ready", false, "KubeletNotReady", msg, previous, ts));
  }
  return out;
}

json computeStatus(const NodeFacts& f, const Reservations& r, const json& previousConditions, Clock::time_point now) {
  auto [cap, alloc] = computeResources(f, r);
  json addresses = json::array();
  for (const auto& [type, addr] : f.addresses) addresses.push_back({{"type", type}, {"address", addr}});
  return json{
      {"capacity", cap},
      {"allocatable", alloc},
      {"conditions", computeConditions(f, r, previousConditions, now)},
      {"addresses", addresses},
      {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", f.kubeletPort}}}}},
      {"nodeInfo",
       {{"machineID", f.machineID},
        {"systemUUID", f.systemUUID},
        {"bootID", f.bootID},
        {"kernelVersion", f.kernelVersion},
        {"osImage", f.osImage},
        {"containerRuntimeVersion", f.containerRuntimeVersion},
        {"kubeletVersion", f.kubeletVersion},
        {"operatingSystem", f.operatingSystem},
        {"architecture", f.architecture}}},
  };
}

std::vector<std::string> conditionEvents(const json& previous, const json& next) {
  auto statusOf = [](const json& conds, const std::string& type) -> std::string {
    if (!conds.is_array()) return "";
    for (const auto& c : conds)
      if (objects::str(c, {"type"}) == type) return objects::str(c, {"status"});
    return "";
  };
  struct Names {
    const char* type;
    const char* whenTrue;
    const char* whenFalse;
  };
  static const Names kPressure[] = {
      {"MemoryPressure", "NodeHasInsufficientMemory", "NodeHasSufficientMemory"},
      {"DiskPressure", "NodeHasDiskPressure", "NodeHasNoDiskPressure"},
      {"PIDPressure", "NodeHasInsufficientPID", "NodeHasSufficientPID"},
  };
  std::vector<std::string> out;
  for (const auto& n : kPressure) {
    std::string before = statusOf(previous, n.type), after = statusOf(next, n.type);
    if (!after.empty() && before != after) out.push_back(after == "True" ? n.whenTrue : n.whenFalse);
  }
  std::string before = statusOf(previous, "Ready"), after = statusOf(next, "Ready");
  if (!before.empty() && !after.empty() && before != after) out.push_back(after == "True" ? "NodeReady" : "NodeNotReady");
  return out;
}

bool statusChanged(const json& before, const json& after) {
  // Compare only what cubelet sets: the apiserver also holds fields other writers own
  // (images, other conditions ...) and drops empty ones.
  for (const auto& [k, v] : after.items()) {
    if (k == "conditions") {
      for (const auto& c : v) {
        const std::string type = objects::str(c, {"type"});
        if (conditionWithoutHeartbeat(before, type) != conditionWithoutHeartbeat(after, type)) return true;
      }
    } else if (!before.contains(k) || !containsSubset(before[k], v)) {
      return true;
    }
  }
  return false;
}

std::map<std::string, std::string> defaultLabels(const NodeFacts& f, const std::string& hostname) {
  return {{"kubernetes.io/hostname", hostname},
          {"kubernetes.io/os", f.operatingSystem},
          {"kubernetes.io/arch", f.architecture},
          {"beta.kubernetes.io/os", f.operatingSystem},
          {"beta.kubernetes.io/arch", f.architecture}};
}

absl::Status validateNodeLabels(const std::map<std::string, std::string>& labels) {
  static const char* kAllowedPrefixes[] = {"kubelet.kubernetes.io/", "node.kubernetes.io/"};
  static const char* kAllowedLabels[] = {
      "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch",
      "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
      "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
      "topology.kubernetes.io/region", "topology.kubernetes.io/zone"};
  std::vector<std::string> bad;
  for (const auto& [k, v] : labels) {
    auto slash = k.find('/');
    if (slash == std::string::npos) continue;
    std::string ns = k.substr(0, slash);
    bool restricted = ns == "kubernetes.io" || ns == "k8s.io" || absl::EndsWith(ns, ".kubernetes.io") ||
                      absl::EndsWith(ns, ".k8s.io");
    if (!restricted) continue;
    bool ok = false;
    for (const char* p : kAllowedPrefixes) ok = ok || absl::StartsWith(k, p);
    for (const char* l : kAllowedLabels) ok = ok || k == l;
    if (!ok) bad.push_back(k);
  }
  if (bad.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: " +
                                    absl::StrJoin(bad, ", ") +
                                    "; --node-labels in the 'kubernetes.io' namespace must begin with an allowed "
                                    "prefix (kubelet.kubernetes.io, node.kubernetes.io) or be in the specifically "
                                    "allowed set");
}

json initialNode(const NodeFacts& f, const Reservations& r, const std::string& hostname,
                 const std::map<std::string, std::string>& extraLabels, const std::vector<config::Taint>& taints,
                 const std::string& providerID, Clock::time_point now) {
  json labels = json::object();
  for (const auto& [k, v] : defaultLabels(f, hostname)) labels[k] = v;
  for (const auto& [k, v] : extraLabels) labels[k] = v;
  json node = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", f.nodeName},
        {"labels", labels},
        {"annotations", {{"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
      {"spec", json::object()},
      {"status", computeStatus(f, r, json::array(), now)},
  };
  if (!taints.empty()) {
    json arr = json::array();
    for (const auto& t : taints) {
      json j = {{"key", t.key}, {"effect", t.effect}};
      if (!t.value.empty()) j["value"] = t.value;
      arr.push_back(j);
    }
    node["spec"]["taints"] = arr;
  }
  if (!providerID.empty()) node["spec"]["providerID"] = providerID;
  return node;
}

std::string formatTime(Clock::time_point t) { return objects::formatTime(t); }

std::string formatMicroTime(Clock::time_point t) { return objects::formatMicroTime(t); }

}  // namespace cubelet::node
