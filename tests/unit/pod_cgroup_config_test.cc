// Unit tests for the pod-level resource functions of kubelet/runtime/pod_config.h:
// podCgroupConfig (the kubelet's ResourceConfigForPod: the pod cgroup's shares, CFS quota,
// memory and hugetlb limits) and podAdmissionRequests (resource.PodRequests with overhead).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kubelet/runtime/pod_config.h"

namespace cubelet::runtime {
namespace {

using nlohmann::json;

constexpr int64_t kGi = int64_t{1} << 30;
constexpr int64_t kMi = int64_t{1} << 20;

// A container with the given requests and limits (either may be empty: then not written).
json container(const std::string& name, const json& requests = json::object(), const json& limits = json::object()) {
  json c = {{"name", name}, {"image", "busybox"}};
  json r = json::object();
  if (!requests.empty()) r["requests"] = requests;
  if (!limits.empty()) r["limits"] = limits;
  if (!r.empty()) c["resources"] = r;
  return c;
}

// Requests equal to limits.
json exact(const std::string& name, const json& resources) { return container(name, resources, resources); }

// (Vectors, not json: a braced list of one json object would copy the object, not make an
// array of it.)
json pod(const std::vector<json>& containers, const std::vector<json>& initContainers = {}) {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", "p"}, {"namespace", "default"}, {"uid", "p-uid"}}},
            {"spec", {{"nodeName", "n1"}, {"containers", json(containers)}}}};
  if (!initContainers.empty()) p["spec"]["initContainers"] = json(initContainers);
  return p;
}

PodCgroupConfig config(const json& p, bool cpuCfsQuota = true) {
  NodeSettings node;
  node.cpuCfsQuota = cpuCfsQuota;
  auto c = podCgroupConfig(p, node);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : PodCgroupConfig{};
}

ResourceList admission(const json& p) {
  auto r = podAdmissionRequests(p);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ResourceList{};
}

int64_t milli(const ResourceList& list, const std::string& name) {
  auto it = list.find(name);
  return it == list.end() ? -1 : it->second.milliValue();
}

int64_t value(const ResourceList& list, const std::string& name) {
  auto it = list.find(name);
  return it == list.end() ? -1 : it->second.value();
}

// ---------------------------------------------------------------------------------------------
// QoS classes.

TEST(PodCgroupConfigTest, GuaranteedGetsSharesQuotaAndMemoryFromTheSums) {
  const json p = pod({exact("a", {{"cpu", "500m"}, {"memory", "256Mi"}}), exact("b", {{"cpu", "1"}, {"memory", "512Mi"}})});
  const PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuRequestMilli, 1500);
  EXPECT_EQ(c.cpuShares, 1536u) << "1500m * 1024 / 1000";
  EXPECT_EQ(c.cpuQuotaUs, 150000) << "1500m * 100000 / 1000";
  EXPECT_EQ(c.cpuPeriodUs, 100000u);
  EXPECT_EQ(c.memoryLimitBytes, 768 * kMi);
  EXPECT_TRUE(c.hugepageLimits.empty());

  const ResourceList r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 1500);
  EXPECT_EQ(value(r, "memory"), 768 * kMi);
}

TEST(PodCgroupConfigTest, LimitsAloneMakeRequestsAndAGuaranteedPod) {
  // The apiserver defaults requests to limits; so does the parser.
  const PodCgroupConfig c = config(pod({container("a", json::object(), {{"cpu", "2"}, {"memory", "1Gi"}})}));
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuRequestMilli, 2000);
  EXPECT_EQ(c.cpuShares, 2048u);
  EXPECT_EQ(c.cpuQuotaUs, 200000);
  EXPECT_EQ(c.memoryLimitBytes, kGi);
}

TEST(PodCgroupConfigTest, SharesAndQuotaAreClamped) {
  // 1m: shares 1 -> the minimum 2; quota 100us -> the minimum 1ms.
  PodCgroupConfig c = config(pod({exact("a", {{"cpu", "1m"}, {"memory", "1Mi"}})}));
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuShares, 2u);
  EXPECT_EQ(c.cpuQuotaUs, 1000);
  // 300 cpus: shares at the kernel's maximum, quota as it comes.
  c = config(pod({exact("a", {{"cpu", "300"}, {"memory", "1Gi"}})}));
  EXPECT_EQ(c.cpuShares, 262144u);
  EXPECT_EQ(c.cpuQuotaUs, 30000000);
}

TEST(PodCgroupConfigTest, BurstableWithEveryContainerLimited) {
  const json p = pod({container("a", {{"cpu", "100m"}, {"memory", "100Mi"}}, {{"cpu", "200m"}, {"memory", "200Mi"}}),
                      container("b", {{"cpu", "300m"}}, {{"cpu", "1"}, {"memory", "1Gi"}})});
  const PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuRequestMilli, 400);
  EXPECT_EQ(c.cpuShares, 409u) << "400m * 1024 / 1000";
  EXPECT_EQ(c.cpuQuotaUs, 120000) << "the sum of the limits: 1200m";
  EXPECT_EQ(c.cpuPeriodUs, 100000u);
  EXPECT_EQ(c.memoryLimitBytes, 200 * kMi + kGi);

  // b's memory request defaults to its limit.
  const ResourceList r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 400);
  EXPECT_EQ(value(r, "memory"), 100 * kMi + kGi);
}

TEST(PodCgroupConfigTest, BurstableWithAnUnlimitedContainerHasNoQuotaOrMemoryLimit) {
  const PodCgroupConfig c = config(pod({container("a", {{"cpu", "100m"}, {"memory", "100Mi"}}, {{"cpu", "200m"}, {"memory", "200Mi"}}),
                                        container("b", {{"cpu", "300m"}, {"memory", "64Mi"}})}));
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuShares, 409u);
  EXPECT_EQ(c.cpuRequestMilli, 400);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
  EXPECT_FALSE(c.cpuPeriodUs.has_value());
  EXPECT_FALSE(c.memoryLimitBytes.has_value());
}

TEST(PodCgroupConfigTest, BurstableLimitsAreJudgedPerResource) {
  // Every container limits cpu, one does not limit memory: quota yes, memory limit no.
  PodCgroupConfig c = config(pod({container("a", {{"cpu", "100m"}}, {{"cpu", "500m"}, {"memory", "128Mi"}}),
                                  container("b", {{"cpu", "100m"}}, {{"cpu", "500m"}})}));
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuQuotaUs, 100000);
  EXPECT_EQ(c.cpuPeriodUs, 100000u);
  EXPECT_FALSE(c.memoryLimitBytes.has_value());
  // The other way round.
  c = config(pod({container("a", {{"memory", "64Mi"}}, {{"memory", "128Mi"}}),
                  container("b", {{"cpu", "250m"}}, {{"memory", "256Mi"}})}));
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuShares, 256u);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
  EXPECT_FALSE(c.cpuPeriodUs.has_value());
  EXPECT_EQ(c.memoryLimitBytes, 384 * kMi);
}

TEST(PodCgroupConfigTest, BestEffortGetsTheMinimumSharesOnly) {
  const json p = pod({container("a"), container("b")});
  const PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBestEffort);
  EXPECT_EQ(c.cpuShares, 2u);
  EXPECT_EQ(c.cpuRequestMilli, 0);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
  EXPECT_FALSE(c.cpuPeriodUs.has_value());
  EXPECT_FALSE(c.memoryLimitBytes.has_value());
  EXPECT_TRUE(c.hugepageLimits.empty());
  EXPECT_TRUE(admission(p).empty());
}

TEST(PodCgroupConfigTest, StatusQosClassIsUsedWhenSet) {
  // GetPodQOS: the class the apiserver recorded wins over the one computed from the spec.
  json p = pod({container("a", {{"cpu", "100m"}})});
  EXPECT_EQ(config(p).qos, QosClass::kBurstable);
  p["status"] = {{"qosClass", "BestEffort"}};
  const PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBestEffort);
  EXPECT_EQ(c.cpuShares, 2u);
  EXPECT_EQ(c.cpuRequestMilli, 100) << "still the pod's request, for the Burstable sum";
}

// ---------------------------------------------------------------------------------------------
// Node settings, overhead, init containers, hugepages, pod-level resources.

TEST(PodCgroupConfigTest, WithoutCfsQuotaTheQuotaIsUnlimited) {
  PodCgroupConfig c = config(pod({exact("a", {{"cpu", "500m"}, {"memory", "256Mi"}})}), false);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuShares, 512u);
  EXPECT_EQ(c.cpuQuotaUs, -1);
  EXPECT_EQ(c.cpuPeriodUs, 100000u);
  EXPECT_EQ(c.memoryLimitBytes, 256 * kMi);

  c = config(pod({container("a", {{"cpu", "100m"}}, {{"cpu", "200m"}, {"memory", "64Mi"}})}), false);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuQuotaUs, -1);
  EXPECT_EQ(c.memoryLimitBytes, 64 * kMi);
  // Without declared cpu limits there is still no quota at all.
  c = config(pod({container("a", {{"cpu", "100m"}})}), false);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
}

TEST(PodCgroupConfigTest, OverheadIsAddedToRequestsAndLimits) {
  json p = pod({exact("a", {{"cpu", "1"}, {"memory", "1Gi"}})});
  p["spec"]["overhead"] = {{"cpu", "250m"}, {"memory", "120Mi"}};
  PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuRequestMilli, 1250);
  EXPECT_EQ(c.cpuShares, 1280u);
  EXPECT_EQ(c.cpuQuotaUs, 125000);
  EXPECT_EQ(c.memoryLimitBytes, kGi + 120 * kMi);
  ResourceList r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 1250);
  EXPECT_EQ(value(r, "memory"), kGi + 120 * kMi);

  // Burstable without limits: only the request grows.
  p = pod({container("a", {{"cpu", "100m"}})});
  p["spec"]["overhead"] = {{"cpu", "250m"}, {"memory", "120Mi"}};
  c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuRequestMilli, 350);
  EXPECT_EQ(c.cpuShares, 358u);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
  EXPECT_FALSE(c.memoryLimitBytes.has_value());
  r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 350);
  EXPECT_EQ(value(r, "memory"), 120 * kMi);
}

TEST(PodCgroupConfigTest, InitContainersCountWithTheirPeak) {
  // The init container's 1 cpu is more than the regular containers' 300m; its 50Mi less than
  // their 300Mi.
  json p = pod({container("a", {{"cpu", "100m"}, {"memory", "100Mi"}}, {{"cpu", "200m"}, {"memory", "200Mi"}}),
                container("b", {{"cpu", "200m"}, {"memory", "200Mi"}}, {{"cpu", "400m"}, {"memory", "400Mi"}})},
               {container("init", {{"cpu", "1"}, {"memory", "50Mi"}}, {{"cpu", "2"}, {"memory", "100Mi"}})});
  PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuRequestMilli, 1000);
  EXPECT_EQ(c.cpuShares, 1024u);
  EXPECT_EQ(c.cpuQuotaUs, 200000) << "max(2000m, 200m + 400m)";
  EXPECT_EQ(c.memoryLimitBytes, 600 * kMi) << "max(100Mi, 200Mi + 400Mi)";
  ResourceList r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 1000);
  EXPECT_EQ(value(r, "memory"), 300 * kMi);

  // Guaranteed with a bigger init container.
  p = pod({exact("a", {{"cpu", "500m"}, {"memory", "256Mi"}}), exact("b", {{"cpu", "500m"}, {"memory", "256Mi"}})},
          {exact("init", {{"cpu", "2"}, {"memory", "64Mi"}})});
  c = config(p);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuShares, 2048u);
  EXPECT_EQ(c.cpuQuotaUs, 200000);
  EXPECT_EQ(c.memoryLimitBytes, 512 * kMi);

  // An init container without limits leaves the pod unbounded.
  p = pod({container("a", {{"cpu", "100m"}}, {{"cpu", "200m"}, {"memory", "200Mi"}})},
          {container("init", {{"cpu", "100m"}})});
  c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
  EXPECT_FALSE(c.memoryLimitBytes.has_value());
}

TEST(PodCgroupConfigTest, SidecarsAddUpInAdmissionRequests) {
  // A restartable init container runs alongside everything after it: 200m + 100m for the
  // regular phase, 100m + 500m while the later init container runs.
  json sidecar = container("sidecar", {{"cpu", "100m"}, {"memory", "10Mi"}});
  sidecar["restartPolicy"] = "Always";
  const json p = pod({container("a", {{"cpu", "200m"}, {"memory", "100Mi"}})},
                     {sidecar, container("init", {{"cpu", "500m"}, {"memory", "20Mi"}})});
  const ResourceList r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 600);
  EXPECT_EQ(value(r, "memory"), 110 * kMi);
  const PodCgroupConfig c = config(p);
  EXPECT_EQ(c.cpuRequestMilli, 600);
  EXPECT_EQ(c.cpuShares, 614u);
}

TEST(PodCgroupConfigTest, HugepageRequestsBecomeHugetlbLimits) {
  const json p = pod({exact("a", {{"cpu", "100m"}, {"memory", "64Mi"}, {"hugepages-2Mi", "4Mi"}}),
                      exact("b", {{"cpu", "100m"}, {"memory", "64Mi"}, {"hugepages-2Mi", "6Mi"}, {"hugepages-1Gi", "2Gi"}})});
  const PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed) << "hugepages do not change the class";
  ASSERT_EQ(c.hugepageLimits.size(), 2u);
  EXPECT_EQ(c.hugepageLimits.at("2MB"), 10 * kMi);
  EXPECT_EQ(c.hugepageLimits.at("1GB"), 2 * kGi);
  EXPECT_EQ(c.memoryLimitBytes, 128 * kMi);
  const ResourceList r = admission(p);
  EXPECT_EQ(value(r, "hugepages-2Mi"), 10 * kMi);
  EXPECT_EQ(value(r, "hugepages-1Gi"), 2 * kGi);
}

TEST(PodCgroupConfigTest, PodLevelResources) {
  // Pod-level requests and limits replace the containers' sums; the pod-level limits count
  // as declared although no container has any.
  json p = pod({container("a"), container("b")});
  p["spec"]["resources"] = {{"requests", {{"cpu", "500m"}, {"memory", "512Mi"}}},
                            {"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}};
  PodCgroupConfig c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuRequestMilli, 500);
  EXPECT_EQ(c.cpuShares, 512u);
  EXPECT_EQ(c.cpuQuotaUs, 100000);
  EXPECT_EQ(c.cpuPeriodUs, 100000u);
  EXPECT_EQ(c.memoryLimitBytes, kGi);
  ResourceList r = admission(p);
  EXPECT_EQ(milli(r, "cpu"), 500);
  EXPECT_EQ(value(r, "memory"), 512 * kMi);

  // Pod-level limits alone: requests default to them, and the pod is Guaranteed.
  p["spec"]["resources"] = {{"limits", {{"cpu", "2"}, {"memory", "2Gi"}}}};
  c = config(p);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.cpuRequestMilli, 2000);
  EXPECT_EQ(c.cpuShares, 2048u);
  EXPECT_EQ(c.cpuQuotaUs, 200000);
  EXPECT_EQ(c.memoryLimitBytes, 2 * kGi);

  // Only a pod-level memory limit, containers without cpu limits: no quota.
  p = pod({container("a", {{"cpu", "100m"}}), container("b", {{"cpu", "200m"}})});
  p["spec"]["resources"] = {{"limits", {{"memory", "1Gi"}}}};
  c = config(p);
  EXPECT_EQ(c.qos, QosClass::kBurstable);
  EXPECT_EQ(c.cpuRequestMilli, 300);
  EXPECT_EQ(c.cpuShares, 307u);
  EXPECT_FALSE(c.cpuQuotaUs.has_value());
  EXPECT_EQ(c.memoryLimitBytes, kGi);

  // Pod-level hugepages.
  p = pod({container("a")});
  p["spec"]["resources"] = {{"requests", {{"cpu", "1"}, {"memory", "1Gi"}, {"hugepages-2Mi", "8Mi"}}},
                            {"limits", {{"cpu", "1"}, {"memory", "1Gi"}, {"hugepages-2Mi", "8Mi"}}}};
  c = config(p);
  EXPECT_EQ(c.qos, QosClass::kGuaranteed);
  EXPECT_EQ(c.hugepageLimits.at("2MB"), 8 * kMi);
}

TEST(PodCgroupConfigTest, MalformedPodsAreInvalidArgument) {
  json p = pod({container("a")});
  p["spec"]["containers"] = "nope";
  NodeSettings node;
  EXPECT_EQ(podCgroupConfig(p, node).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(podAdmissionRequests(p).status().code(), absl::StatusCode::kInvalidArgument);
  p = pod({container("a", {{"cpu", "lots"}})});
  EXPECT_EQ(podCgroupConfig(p, node).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(podAdmissionRequests(p).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cubelet::runtime
