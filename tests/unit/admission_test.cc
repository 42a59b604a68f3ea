#include "kubelet/pod/admission.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace cubelet::pod {
namespace {

using nlohmann::json;

json node() {
  return json::parse(R"({"metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux", "zone": "a", "gen": "5"}},
                         "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "3",
                                                    "ephemeral-storage": "10Gi"}}})");
}

json pod(const std::string& name, const json& requests = json::object()) {
  json c = {{"name", "c"}, {"image", "busybox"}};
  if (!requests.empty()) c["resources"] = {{"requests", requests}};
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"uid", name + "-uid"}}},
          {"spec", {{"nodeName", "n1"}, {"containers", json::array({c})}}}};
}

AdmissionInput input(std::vector<json> active = {}) {
  AdmissionInput in;
  in.nodeName = "n1";
  in.node = node();
  for (auto& p : active) in.activePods.push_back(std::make_shared<const json>(std::move(p)));
  return in;
}

TEST(Admission, AdmitsAPodThatFits) { EXPECT_FALSE(admitPod(pod("a", {{"cpu", "500m"}}), input())); }

TEST(Admission, PodCountUsesAllocatablePods) {
  auto r = admitPod(pod("d"), input({pod("a"), pod("b"), pod("c")}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "OutOfpods");
  EXPECT_EQ(r->message, "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3");
}

TEST(Admission, PodCountFallsBackToMaxPodsWithoutNode) {
  AdmissionInput in;
  in.nodeName = "n1";
  in.maxPods = 1;
  in.activePods = {std::make_shared<const json>(pod("a"))};
  auto r = admitPod(pod("b"), in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "OutOfpods");
}

TEST(Admission, CpuInMillicoresCountsOtherPods) {
  auto r = admitPod(pod("b", {{"cpu", "1500m"}}), input({pod("a", {{"cpu", "1"}})}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "OutOfcpu");
  EXPECT_EQ(r->message, "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000");
}

TEST(Admission, MemoryInBytes) {
  auto r = admitPod(pod("b", {{"memory", "5Gi"}}), input());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "OutOfmemory");
  EXPECT_EQ(r->message, "Node didn't have enough resource: memory, requested: 5368709120, used: 0, capacity: 4294967296");
}

TEST(Admission, OverheadCounts) {
  json p = pod("b", {{"cpu", "1900m"}});
  p["spec"]["overhead"] = {{"cpu", "200m"}};
  auto r = admitPod(p, input());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "OutOfcpu");
}

TEST(Admission, UnadvertisedExtendedResourceIsLeftAlone) {
  EXPECT_FALSE(admitPod(pod("b", {{"example.com/gpu", "1"}}), input()));
}

TEST(Admission, NodeSelectorAndAffinity) {
  json p = pod("b");
  p["spec"]["nodeSelector"] = {{"zone", "a"}};
  EXPECT_FALSE(admitPod(p, input()));
  p["spec"]["nodeSelector"] = {{"zone", "b"}};
  auto r = admitPod(p, input());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "NodeAffinity");
  EXPECT_EQ(r->message, "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector");

  json q = pod("c");
  q["spec"]["affinity"] = json::parse(R"({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
      "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
                            {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]},
                                                  {"key": "missing", "operator": "DoesNotExist"}]}]}}})");
  EXPECT_FALSE(admitPod(q, input()));
  q["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] =
      json::parse(R"([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}])");
  ASSERT_TRUE(admitPod(q, input()));
  // An empty term list, a malformed term or an unknown operator matches no node.
  q["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] =
      json::parse(R"([{}, "junk", {"matchExpressions": [{"key": "zone", "operator": "Like"}]}])");
  ASSERT_TRUE(admitPod(q, input()));
}

TEST(Admission, NodeNameMismatch) {
  json p = pod("b");
  p["spec"]["nodeName"] = "other";
  auto r = admitPod(p, input());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "NodeName");
}

TEST(Admission, HostPortConflicts) {
  json a = pod("a");
  a["spec"]["containers"][0]["ports"] = json::parse(R"([{"containerPort": 80, "hostPort": 8080}])");
  json b = pod("b");
  b["spec"]["containers"][0]["ports"] = json::parse(R"([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}])");
  auto r = admitPod(b, input({a}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "NodePorts");
  b["spec"]["containers"][0]["ports"][0]["protocol"] = "UDP";
  EXPECT_FALSE(admitPod(b, input({a})));
}

TEST(Admission, OperatingSystem) {
  json p = pod("b");
  p["spec"]["os"] = {{"name", "windows"}};
  auto r = admitPod(p, input());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "PodOSNotSupported");
  json q = pod("c");
  q["metadata"]["labels"] = {{"kubernetes.io/os", "windows"}};
  r = admitPod(q, input());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "PodOSSelectorNodeLabelDoesNotMatch");
}

TEST(Admission, MalformedPodsNeverThrow) {
  for (const char* text : {R"({})", R"({"spec": 3})", R"({"spec": {"containers": "x", "nodeSelector": [1]}})",
                           R"({"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}})",
                           R"({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": 5}}}})"}) {
    EXPECT_NO_THROW(admitPod(json::parse(text), input({json::parse(text)}))) << text;
  }
}

// ------------------------------------------------------------------ sysctls

json withSysctls(json p, const std::vector<std::string>& names) {
  json list = json::array();
  for (const auto& n : names) list.push_back({{"name", n}, {"value", "1"}});
  p["spec"]["securityContext"]["sysctls"] = list;
  return p;
}

TEST(SysctlAllowlist, NormalizesSlashesAndKnowsNamespaces) {
  EXPECT_EQ(normalizeSysctlName("kernel/shm_rmid_forced"), "kernel.shm_rmid_forced");
  EXPECT_EQ(normalizeSysctlName("net/ipv4/conf/eno2.100/rp_filter"), "net.ipv4.conf.eno2/100.rp_filter");
  EXPECT_EQ(normalizeSysctlName("net.ipv4.conf.eno2/100.rp_filter"), "net.ipv4.conf.eno2/100.rp_filter");
  EXPECT_EQ(sysctlNamespace("kernel.msgmax"), "IPC");
  EXPECT_EQ(sysctlNamespace("net.core.somaxconn"), "Net");
  EXPECT_EQ(sysctlNamespace("fs.mqueue.msg_max"), "IPC");
  EXPECT_EQ(sysctlNamespace("kernel.domainname"), "UTS");
  EXPECT_EQ(sysctlNamespace("vm.swappiness"), "");
}

TEST(SysctlAllowlist, SafeSetDependsOnTheKernel) {
  auto old = safeSysctls("4.4.0-1-amd64");
  EXPECT_NE(std::find(old.begin(), old.end(), "net.ipv4.ip_local_reserved_ports"), old.end());
  EXPECT_EQ(std::find(old.begin(), old.end(), "net.ipv4.tcp_keepalive_time"), old.end());
  EXPECT_EQ(safeSysctls("6.18.44").size(), 14u);
  EXPECT_EQ(safeSysctls("garbage").size(), 5u);
}

TEST(SysctlAllowlist, RejectsMalformedAndNotNamespacedPatterns) {
  auto bad = SysctlAllowlist::make({"Kernel.Shm"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("must have at most 253 characters"), std::string::npos);
  auto global = SysctlAllowlist::make({"vm.swappiness"});
  ASSERT_FALSE(global.ok());
  EXPECT_EQ(global.status().message(), "the sysctls \"vm.swappiness\" are not known to be namespaced");
  EXPECT_TRUE(SysctlAllowlist::make({"kernel.msg*", "net.core.somaxconn"}).ok());
}

TEST(Admission, UnsafeSysctlIsSysctlForbiddenFirst) {
  auto allow = SysctlAllowlist::make(safeSysctls("6.1.0"));
  ASSERT_TRUE(allow.ok());
  AdmissionInput in = input();
  in.sysctls = &*allow;
  EXPECT_FALSE(admitPod(withSysctls(pod("ok"), {"kernel.shm_rmid_forced", "net/ipv4/tcp_syncookies"}), in));
  // Checked before the resources: a pod that would also not fit gets SysctlForbidden.
  auto r = admitPod(withSysctls(pod("big", {{"cpu", "64"}}), {"kernel.msgmax"}), in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "SysctlForbidden");
  EXPECT_EQ(r->message, "forbidden sysctl: \"kernel.msgmax\" not allowlisted");
}

TEST(Admission, AllowedUnsafeSysctlsAndHostNamespaces) {
  auto allow = SysctlAllowlist::make({"kernel.msg*", "net.core.somaxconn"});
  ASSERT_TRUE(allow.ok());
  AdmissionInput in = input();
  in.sysctls = &*allow;
  EXPECT_FALSE(admitPod(withSysctls(pod("a"), {"kernel.msgmax", "net.core.somaxconn"}), in));
  json hostNet = withSysctls(pod("b"), {"net.core.somaxconn"});
  hostNet["spec"]["hostNetwork"] = true;
  auto r = admitPod(hostNet, in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "forbidden sysctl: \"net.core.somaxconn\" not allowed with host Net enabled");
  json hostIpc = withSysctls(pod("c"), {"kernel.msgmnb"});
  hostIpc["spec"]["hostIPC"] = true;
  r = admitPod(hostIpc, in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "forbidden sysctl: \"kernel.msgmnb\" not allowed with host IPC enabled");
}

}  // namespace
}  // namespace cubelet::pod
