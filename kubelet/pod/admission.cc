#include "kubelet/pod/admission.h"

#include <charconv>
#include <set>
#include <tuple>

#include "kubelet/objects/json_access.h"
#include "kubelet/objects/quantity.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::pod {
namespace {

using nlohmann::json;
using objects::str;

std::optional<int64_t> parseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// One requirement of a node selector term against a label (or field) map.
bool requirementMatches(const json& req, const json& values) {
  const std::string key = str(req, {"key"});
  const std::string op = str(req, {"operator"});
  const json* have = objects::find(values, {key});
  const bool present = have && have->is_string();
  const std::string value = present ? have->get<std::string>() : "";
  std::vector<std::string> wanted;
  for (const auto& v : objects::array(req, {"values"}))
    if (v.is_string()) wanted.push_back(v.get<std::string>());
  auto in = [&] {
    for (const auto& w : wanted)
      if (w == value) return true;
    return false;
  };
  if (op == "In") return present && in();
  if (op == "NotIn") return !present || !in();
  if (op == "Exists") return present;
  if (op == "DoesNotExist") return !present;
  if (op == "Gt" || op == "Lt") {
    if (!present || wanted.size() != 1) return false;
    auto a = parseInt(value), b = parseInt(wanted[0]);
    if (!a || !b) return false;
    return op == "Gt" ? *a > *b : *a < *b;
  }
  return false;  // unknown operators match nothing, as the API's selector conversion fails
}

bool termMatches(const json& term, const json& labels, const json& fields) {
  const json& exprs = objects::array(term, {"matchExpressions"});
  const json& fieldExprs = objects::array(term, {"matchFields"});
  if (exprs.empty() && fieldExprs.empty()) return false;  // an empty term matches no node
  for (const auto& e : exprs)
    if (!requirementMatches(e, labels)) return false;
  for (const auto& e : fieldExprs)
    if (!requirementMatches(e, fields)) return false;
  return true;
}

struct HostPort {
  std::string protocol, ip;
  int64_t port;
};

std::vector<HostPort> hostPorts(const json& pod) {
  std::vector<HostPort> out;
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& c : objects::array(pod, {"spec", list})) {
      for (const auto& p : objects::array(c, {"ports"})) {
        int64_t port = objects::integer(p, {"hostPort"}, 0);
        if (port <= 0) continue;
        std::string ip = str(p, {"hostIP"}, "0.0.0.0");
        out.push_back({str(p, {"protocol"}, "TCP"), ip.empty() ? "0.0.0.0" : ip, port});
      }
    }
  }
  return out;
}

bool conflicts(const HostPort& a, const HostPort& b) {
  if (a.port != b.port || a.protocol != b.protocol) return false;
  return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0";
}

// Allocatable amount of `name`: millicores for cpu, units otherwise; nullopt if unknown.
std::optional<int64_t> allocatable(const json& node, const std::string& name) {
  const json* v = objects::find(node, {"status", "allocatable", name});
  if (!v || !v->is_string()) return std::nullopt;
  auto q = objects::Quantity::parse(v->get<std::string>());
  if (!q.ok()) return std::nullopt;
  return name == "cpu" ? q->milliValue() : q->value();
}

int64_t amountOf(const runtime::ResourceList& list, const std::string& name) {
  auto it = list.find(name);
  if (it == list.end()) return 0;
  return name == "cpu" ? it->second.milliValue() : it->second.value();
}

Rejection insufficient(const std::string& resource, int64_t requested, int64_t used, int64_t capacity) {
  return {"OutOf" + resource, "Node didn't have enough resource: " + resource + ", requested: " +
                                  std::to_string(requested) + ", used: " + std::to_string(used) +
                                  ", capacity: " + std::to_string(capacity)};
}

}  // namespace

bool matchesNodeSelectorAndAffinity(const json& pod, const json& node) {
  const json& labels = objects::object(node, {"metadata", "labels"});
  for (const auto& [key, value] : objects::object(pod, {"spec", "nodeSelector"}).items()) {
    const json* have = objects::find(labels, {key});
    if (!have || !value.is_string() || *have != value) return false;
  }
  const json* required =
      objects::find(pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"});
  if (!required || !required->is_object()) return true;
  const json fields = {{"metadata.name", str(node, {"metadata", "name"})}};
  for (const auto& term : objects::array(*required, {"nodeSelectorTerms"})) {
    if (termMatches(term, labels, fields)) return true;
  }
  return false;  // terms are ORed; none (or an empty list) matched
}

std::optional<Rejection> admitPod(const json& pod, const AdmissionInput& in) {
  // The sysctl allowlist is the first admit handler upstream, before the predicates.
  if (in.sysctls) {
    if (auto forbidden = in.sysctls->check(pod)) return Rejection{"SysctlForbidden", *forbidden};
  }
  // Checks preemption could not help come first. The OS: a kubernetes.io/os pod label and
  // spec.os must name this node's (the kubelet compares with its own OS, not the label).
  const std::string labelOs = str(pod, {"metadata", "labels", "kubernetes.io/os"});
  if (!labelOs.empty() && labelOs != "linux") {
    return Rejection{"PodOSSelectorNodeLabelDoesNotMatch",
                     "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"};
  }
  const std::string podOs = str(pod, {"spec", "os", "name"});
  if (!podOs.empty() && podOs != "linux") {
    return Rejection{"PodOSNotSupported", "Failed to admit pod as the OS field doesn't match node OS"};
  }
  if (str(pod, {"spec", "securityContext", "supplementalGroupsPolicy"}) == "Strict") {
    const json* f = objects::find(in.node, {"status", "features", "supplementalGroupsPolicy"});
    if (!f || !f->is_boolean() || !f->get<bool>()) {
      return Rejection{"SupplementalGroupsPolicyNotSupported",
                       "SupplementalGroupsPolicy=Strict is not supported in this node"};
    }
  }

  // Resources: the pod count first, then each resource the pod requests.
  const int64_t podCapacity = allocatable(in.node, "pods").value_or(in.maxPods);
  const int64_t used = static_cast<int64_t>(in.activePods.size());
  if (used + 1 > podCapacity) return insufficient("pods", 1, used, podCapacity);
  if (!in.node.is_null() && !in.node.empty()) {
    auto requests = runtime::podAdmissionRequests(pod);
    if (requests.ok()) {
      std::map<std::string, int64_t> usedAmount;
      for (const auto& other : in.activePods) {
        auto r = runtime::podAdmissionRequests(*other);
        if (!r.ok()) continue;
        for (const auto& [name, q] : *r) usedAmount[name] += name == "cpu" ? q.milliValue() : q.value();
      }
      std::vector<std::string> order = {"cpu", "memory", "ephemeral-storage"};
      for (const auto& [name, q] : *requests)
        if (name != "cpu" && name != "memory" && name != "ephemeral-storage") order.push_back(name);
      for (const auto& name : order) {
        const int64_t want = amountOf(*requests, name);
        if (want <= 0) continue;
        auto cap = allocatable(in.node, name);
        if (!cap) {
          // Extended resources the node does not advertise are left to their device plugin;
          // native ones it does not have cannot fit.
          if (name.find('/') != std::string::npos) continue;
          cap = 0;
        }
        if (usedAmount[name] + want > *cap) return insufficient(name, want, usedAmount[name], *cap);
      }
    }
  }

  if (!in.node.is_null() && !in.node.empty() && !matchesNodeSelectorAndAffinity(pod, in.node)) {
    return Rejection{"NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"};
  }
  const std::string node = str(pod, {"spec", "nodeName"});
  if (!node.empty() && node != in.nodeName) return Rejection{"NodeName", "Predicate NodeName failed: node(s) didn't match the requested node name"};

  std::vector<HostPort> taken;
  for (const auto& other : in.activePods)
    for (auto& p : hostPorts(*other)) taken.push_back(std::move(p));
  for (const auto& want : hostPorts(pod)) {
    for (const auto& t : taken)
      if (conflicts(want, t)) return Rejection{"NodePorts", "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"};
  }

  return std::nullopt;
}

}  // namespace cubelet::pod
