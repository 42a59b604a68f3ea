#include "kubelet/node/node_status.h"

#include <gtest/gtest.h>

namespace cubelet::node {
namespace {

NodeFacts facts() {
  NodeFacts f;
  f.nodeName = "n1";
  f.numCPUs = 4;
  f.memoryBytes = 8LL << 30;
  f.hugepages = {{2LL << 20, 4LL << 20}, {1LL << 30, 0}};
  f.ephemeralStorageBytes = 100LL << 30;
  f.ephemeralAvailableBytes = 50LL << 30;
  f.memoryAvailableBytes = 4LL << 30;
  f.architecture = "amd64";
  f.addresses = {{"InternalIP", "10.0.0.5"}, {"Hostname", "n1"}};
  f.containerRuntimeVersion = "containerd://1.6.20";
  f.kubeletVersion = "v1.37.2";
  f.bootID = "b";
  return f;
}

Reservations defaults() {
  Reservations r;
  r.evictionHard = {{"memory.available", "100Mi"}, {"nodefs.available", "10%"}};
  return r;
}

TEST(NodeResourcesTest, CapacityAndAllocatable) {
  auto [cap, alloc] = computeResources(facts(), defaults());
  EXPECT_EQ(cap["cpu"], "4");
  EXPECT_EQ(cap["memory"], "8Gi");
  EXPECT_EQ(cap["pods"], "110");
  EXPECT_EQ(cap["ephemeral-storage"], "100Gi");
  EXPECT_EQ(cap["hugepages-2Mi"], "4Mi");
  EXPECT_EQ(cap["hugepages-1Gi"], "0");
  EXPECT_EQ(alloc["cpu"], "4");
  // 8Gi - 100Mi eviction - 4Mi of huge pages, in the largest exact binary suffix.
  EXPECT_EQ(alloc["memory"], "8088Mi");
  EXPECT_EQ(alloc["ephemeral-storage"], "90Gi");
  // A remainder that is not a whole number of Ki prints as a plain integer, as Kubernetes does.
  NodeFacts odd = facts();
  odd.ephemeralStorageBytes = 1000000;
  EXPECT_EQ(computeResources(odd, defaults()).second["ephemeral-storage"], "900000");
  EXPECT_EQ(alloc["hugepages-2Mi"], "4Mi");
}

TEST(NodeResourcesTest, ReservationsAndPodsPerCore) {
  Reservations r = defaults();
  r.kubeReserved = {{"cpu", "500m"}, {"memory", "1Gi"}};
  r.systemReserved = {{"cpu", "250m"}, {"ephemeral-storage", "1Gi"}};
  r.podsPerCore = 10;
  r.maxPods = 30;
  auto [cap, alloc] = computeResources(facts(), r);
  EXPECT_EQ(alloc["cpu"], "3250m");
  EXPECT_EQ(cap["pods"], "30") << "min(cores*podsPerCore, maxPods)";
  r.maxPods = 110;
  EXPECT_EQ(computeResources(facts(), r).first["pods"], "40");
  // Reservations larger than capacity clamp at zero.
  r.kubeReserved = {{"cpu", "10"}};
  EXPECT_EQ(computeResources(facts(), r).second["cpu"], "0");
}

TEST(NodeResourcesTest, InvalidReservationsAreRejected) {
  Reservations r = defaults();
  r.kubeReserved = {{"memory", "lots"}};
  auto st = validateReservations(r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("kubeReserved[memory]"), std::string::npos) << st;
  r = defaults();
  r.evictionHard["nodefs.available"] = "150%";
  EXPECT_FALSE(validateReservations(r).ok());
  EXPECT_TRUE(validateReservations(defaults()).ok());
}

const json* find(const json& conds, const std::string& type) {
  for (const auto& c : conds)
    if (c["type"] == type) return &c;
  return nullptr;
}

TEST(NodeConditionsTest, HealthyNodeInUpstreamOrder) {
  auto now = Clock::now();
  json conds = computeConditions(facts(), defaults(), json::array(), now);
  ASSERT_EQ(conds.size(), 4u);
  EXPECT_EQ(conds[0]["type"], "MemoryPressure");
  EXPECT_EQ(conds[1]["type"], "DiskPressure");
  EXPECT_EQ(conds[2]["type"], "PIDPressure");
  EXPECT_EQ(conds[3]["type"], "Ready");
  EXPECT_EQ(conds[3]["status"], "True");
  EXPECT_EQ(conds[3]["reason"], "KubeletReady");
  EXPECT_EQ(conds[3]["message"], "kubelet is posting ready status");
  EXPECT_EQ(conds[0]["reason"], "KubeletHasSufficientMemory");
  EXPECT_EQ(conds[1]["reason"], "KubeletHasNoDiskPressure");
  EXPECT_EQ(conds[2]["reason"], "KubeletHasSufficientPID");
  EXPECT_EQ(conds[3]["lastTransitionTime"], formatTime(now));
}

TEST(NodeConditionsTest, TransitionTimesOnlyMoveOnChange) {
  auto t0 = Clock::now() - std::chrono::hours(1);
  auto t1 = Clock::now();
  json before = computeConditions(facts(), defaults(), json::array(), t0);
  json same = computeConditions(facts(), defaults(), before, t1);
  EXPECT_EQ((*find(same, "Ready"))["lastTransitionTime"], formatTime(t0));
  EXPECT_EQ((*find(same, "Ready"))["lastHeartbeatTime"], formatTime(t1));

  NodeFacts down = facts();
  down.readyErrors = {"container runtime is down"};
  json changed = computeConditions(down, defaults(), before, t1);
  const json& ready = *find(changed, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "KubeletNotReady");
  EXPECT_EQ(ready["message"], "container runtime is down");
  EXPECT_EQ(ready["lastTransitionTime"], formatTime(t1));
  EXPECT_EQ((*find(changed, "MemoryPressure"))["lastTransitionTime"], formatTime(t0));

  down.readyErrors.push_back("container runtime network not ready: x");
  EXPECT_EQ((*find(computeConditions(down, defaults(), before, t1), "Ready"))["message"],
            "[container runtime is down, container runtime network not ready: x]");
}

TEST(NodeConditionsTest, PressureFromThresholds) {
  NodeFacts f = facts();
  f.memoryAvailableBytes = 50LL << 20;       // below 100Mi
  f.ephemeralAvailableBytes = 5LL << 30;     // below 10% of 100Gi
  json conds = computeConditions(f, defaults(), json::array(), Clock::now());
  EXPECT_EQ((*find(conds, "MemoryPressure"))["status"], "True");
  EXPECT_EQ((*find(conds, "MemoryPressure"))["reason"], "KubeletHasInsufficientMemory");
  EXPECT_EQ((*find(conds, "DiskPressure"))["status"], "True");
  EXPECT_EQ((*find(conds, "DiskPressure"))["reason"], "KubeletHasDiskPressure");
  // Pressure does not by itself make the node NotReady.
  EXPECT_EQ((*find(conds, "Ready"))["status"], "True");
}

TEST(NodeStatusTest, ChangeDetectionIgnoresHeartbeats) {
  auto t0 = Clock::now() - std::chrono::minutes(1);
  json a = computeStatus(facts(), defaults(), json::array(), t0);
  json b = computeStatus(facts(), defaults(), a["conditions"], Clock::now());
  EXPECT_FALSE(statusChanged(a, b));
  NodeFacts f = facts();
  f.containerRuntimeVersion = "containerd://1.7.0";
  EXPECT_TRUE(statusChanged(a, computeStatus(f, defaults(), a["conditions"], Clock::now())));
  // Fields other writers own (images ...) do not count.
  json withImages = a;
  withImages["images"] = json::array({{{"names", {"x"}}}});
  EXPECT_FALSE(statusChanged(withImages, b));
  EXPECT_TRUE(statusChanged(json::object(), b));
}

TEST(NodeStatusTest, StatusFields) {
  json s = computeStatus(facts(), defaults(), json::array(), Clock::now());
  EXPECT_EQ(s["addresses"][0]["type"], "InternalIP");
  EXPECT_EQ(s["addresses"][0]["address"], "10.0.0.5");
  EXPECT_EQ(s["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  EXPECT_EQ(s["nodeInfo"]["kubeletVersion"], "v1.37.2");
  EXPECT_EQ(s["nodeInfo"]["containerRuntimeVersion"], "containerd://1.6.20");
  EXPECT_EQ(s["nodeInfo"]["architecture"], "amd64");
  EXPECT_EQ(s["nodeInfo"]["operatingSystem"], "linux");
}

TEST(NodeRegistrationTest, InitialNode) {
  json n = initialNode(facts(), defaults(), "host-a", {{"tier", "x"}}, {{"dedicated", "gpu", "NoSchedule"}}, "",
                       Clock::now());
  EXPECT_EQ(n["metadata"]["name"], "n1");
  const json& l = n["metadata"]["labels"];
  EXPECT_EQ(l["kubernetes.io/hostname"], "host-a");
  EXPECT_EQ(l["kubernetes.io/os"], "linux");
  EXPECT_EQ(l["kubernetes.io/arch"], "amd64");
  EXPECT_EQ(l["beta.kubernetes.io/os"], "linux");
  EXPECT_EQ(l["beta.kubernetes.io/arch"], "amd64");
  EXPECT_EQ(l["tier"], "x");
  EXPECT_EQ(n["metadata"]["annotations"]["volumes.kubernetes.io/controller-managed-attach-detach"], "true");
  EXPECT_EQ(n["spec"]["taints"][0], (json{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}}));
  EXPECT_EQ(n["status"]["conditions"].size(), 4u);
}

TEST(NodeRegistrationTest, NodeLabelRestrictions) {
  EXPECT_TRUE(validateNodeLabels({{"node.kubernetes.io/role", "x"}, {"example.com/a", "b"}, {"plain", "c"},
                                  {"kubelet.kubernetes.io/x", "y"}, {"topology.kubernetes.io/zone", "z"}})
                  .ok());
  auto st = validateNodeLabels({{"node-role.kubernetes.io/worker", ""}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("node-role.kubernetes.io/worker"), std::string::npos);
  EXPECT_FALSE(validateNodeLabels({{"k8s.io/x", "y"}}).ok());
}

TEST(TimeFormatTest, Rfc3339) {
  auto t = Clock::from_time_t(1700000000) + std::chrono::microseconds(42);
  EXPECT_EQ(formatTime(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(formatMicroTime(t), "2023-11-14T22:13:20.000042Z");
}

}  // namespace
}  // namespace cubelet::node

namespace cubelet::node {
namespace {

TEST(NodeStatusTest, ApiserverCopyWithForeignFieldsIsUnchanged) {
  // What the apiserver returns: our status plus conditions and fields others own.
  auto t0 = Clock::now() - std::chrono::minutes(1);
  json ours = computeStatus(facts(), defaults(), json::array(), t0);
  json server = ours;
  server["conditions"].insert(server["conditions"].begin(),
                              json{{"type", "NetworkUnavailable"}, {"status", "False"}, {"reason", "RouteCreated"}});
  server["nodeInfo"]["runningInUserNamespace"] = false;  // set by other kubelet versions
  server["declaredFeatures"] = json::array({"X"});
  json next = computeStatus(facts(), defaults(), server["conditions"], Clock::now());
  EXPECT_FALSE(statusChanged(server, next));
  server["conditions"][4]["status"] = "Unknown";  // the node controller marked us Unknown
  EXPECT_TRUE(statusChanged(server, next));
}

}  // namespace
}  // namespace cubelet::node

namespace cubelet::node {
namespace {

TEST(NodeEventsTest, ConditionEventsFollowTheKubeletRules) {
  auto t = Clock::now();
  json healthy = computeConditions(facts(), defaults(), json::array(), t);
  // At registration the pressure conditions are new; Ready is not announced.
  EXPECT_EQ(conditionEvents(json::array(), healthy),
            (std::vector<std::string>{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"}));
  EXPECT_TRUE(conditionEvents(healthy, healthy).empty());
  NodeFacts down = facts();
  down.readyErrors = {"container runtime is down"};
  json notReady = computeConditions(down, defaults(), healthy, t);
  EXPECT_EQ(conditionEvents(healthy, notReady), (std::vector<std::string>{"NodeNotReady"}));
  EXPECT_EQ(conditionEvents(notReady, healthy), (std::vector<std::string>{"NodeReady"}));
  json unknown = healthy;
  unknown[3]["status"] = "Unknown";
  EXPECT_EQ(conditionEvents(unknown, healthy), (std::vector<std::string>{"NodeReady"}));
}

}  // namespace
}  // namespace cubelet::node

namespace cubelet::node {
namespace {

TEST(NodeStatusTest, MalformedServerConditionsAreTolerated) {
  json junk = json::array({1, "x", json{{"type", 3}}, json{{"type", "Ready"}, {"status", true}}, nullptr});
  json conds;
  EXPECT_NO_THROW(conds = computeConditions(facts(), defaults(), junk, Clock::now()));
  EXPECT_EQ(conds.size(), 4u);
  EXPECT_NO_THROW(conditionEvents(junk, conds));
  json status = computeStatus(facts(), defaults(), json::array(), Clock::now());
  json server = {{"conditions", junk}, {"nodeInfo", "not an object"}};
  EXPECT_TRUE(statusChanged(server, status));
}

}  // namespace
}  // namespace cubelet::node
