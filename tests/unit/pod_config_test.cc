#include "kubelet/runtime/pod_config.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "kubelet/objects/json_access.h"
#include "kubelet/runtime/pod_dns.h"
#include "kubelet/runtime/pod_env.h"
#include "kubelet/runtime/pod_gojson.h"
#include "kubelet/runtime/pod_security.h"

namespace cubelet::runtime {
namespace {

using nlohmann::json;

constexpr int64_t kGi = int64_t{1} << 30;
constexpr int64_t kMi = int64_t{1} << 20;

template <typename R>
std::vector<std::string> strings(const R& r) {
  return {r.begin(), r.end()};
}

template <typename R>
std::vector<int64_t> ints(const R& r) {
  return {r.begin(), r.end()};
}

std::vector<std::pair<std::string, std::string>> envs(const ::runtime::v1::ContainerConfig& c) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : c.envs()) out.emplace_back(kv.key(), kv.value());
  return out;
}

std::string envValue(const ::runtime::v1::ContainerConfig& c, const std::string& key) {
  for (const auto& kv : c.envs()) {
    if (kv.key() == key) return kv.value();
  }
  return "<unset>";
}

NodeSettings testNode() {
  NodeSettings n;
  n.nodeIps = {"192.168.1.10"};
  n.clusterDomain = "cluster.local";
  n.clusterDns = {"10.96.0.10"};
  n.resolvConf = "# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example.com lab.example.com.\n"
                 "options timeout:2 attempts:3\n";
  n.memoryCapacity = 8 * kGi;
  return n;
}

// A pod as the apiserver returns it, trimmed to what matters here.
json webPod() {
  return json::parse(R"json({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "name": "web", "namespace": "default", "uid": "4f1b7c2e-1111-2222-3333-444455556666",
      "labels": {"app": "web", "tier": "frontend"},
      "annotations": {"kubernetes.io/config.source": "api", "kubernetes.io/config.seen": "2025-11-26T13:53:46.123456789Z", "team": "blue"}
    },
    "spec": {
      "nodeName": "node-1", "serviceAccountName": "web-sa", "dnsPolicy": "ClusterFirst",
      "restartPolicy": "Always", "terminationGracePeriodSeconds": 45, "enableServiceLinks": true,
      "securityContext": {},
      "containers": [{
        "name": "app", "image": "nginx:1.25",
        "command": ["/bin/sh", "-c"], "args": ["echo $(GREETING) to $(POD_NAME) at $$(date) $(MISSING)"],
        "workingDir": "/srv",
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"},
                  {"containerPort": 9090, "hostPort": 19090, "hostIP": "10.0.0.1", "protocol": "UDP"}],
        "env": [{"name": "GREETING", "value": "hello"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "MESSAGE", "value": "$(GREETING), $(POD_NAME)!"}],
        "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "2Gi"}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent", "stdin": true, "tty": true
      }, {
        "name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "infinity"],
        "resources": {}
      }]
    },
    "status": {"phase": "Pending", "qosClass": "Burstable"}
  })json");
}

const json& containerOf(const json& pod, size_t i = 0) { return pod.at("spec").at("containers").at(i); }

::runtime::v1::PodSandboxConfig sandboxOf(const json& pod, const NodeSettings& node = testNode(),
                                         const SandboxOptions& opts = {}) {
  auto s = makeSandboxConfig(pod, node, opts);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? s->config : ::runtime::v1::PodSandboxConfig();
}

ContainerOptions basicOptions() {
  ContainerOptions o;
  o.restartCount = 2;
  o.imageRef = "docker.io/library/nginx@sha256:abcd";
  o.podIps = {"10.244.1.7", "fd00::7"};
  o.hostIps = {"192.168.1.10"};
  o.nodeAllocatable = ResourceList{{"cpu", *objects::Quantity::parse("4")},
                                   {"memory", *objects::Quantity::parse("8Gi")},
                                   {"ephemeral-storage", *objects::Quantity::parse("100Gi")}};
  return o;
}

::runtime::v1::ContainerConfig containerConfigOf(const json& pod, size_t index = 0,
                                                const ContainerOptions& opts = basicOptions(),
                                                const NodeSettings& node = testNode()) {
  auto c = makeContainerConfig(pod, containerOf(pod, index), node, opts);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ::runtime::v1::ContainerConfig();
}

// A single-container pod with the given container fields merged in.
json podWith(const json& containerFields, const json& specFields = json::object()) {
  json pod = json::parse(R"json({
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
    "spec": {"containers": [{"name": "c", "image": "img:1"}]}
  })json");
  // `{}` arrives as null.
  if (containerFields.is_object()) pod["spec"]["containers"][0].update(containerFields);
  if (specFields.is_object()) pod["spec"].update(specFields);
  return pod;
}

// ---------------------------------------------------------------------------------------
// QoS

QosClass qosOf(const json& pod) {
  auto q = computeQosClass(pod);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.value_or(QosClass::kBestEffort);
}

TEST(QosClass, NoResourcesIsBestEffort) {
  EXPECT_EQ(qosOf(podWith({})), QosClass::kBestEffort);
  EXPECT_EQ(qosOf(podWith({{"resources", {{"requests", json::object()}}}})), QosClass::kBestEffort);
}

TEST(QosClass, EqualRequestsAndLimitsForCpuAndMemoryIsGuaranteed) {
  EXPECT_EQ(qosOf(podWith({{"resources", {{"requests", {{"cpu", "1"}, {"memory", "1Gi"}}},
                                          {"limits", {{"cpu", "1000m"}, {"memory", "1024Mi"}}}}}})),
            QosClass::kGuaranteed);
}

TEST(QosClass, LimitsOnlyDefaultRequestsAndAreGuaranteed) {
  EXPECT_EQ(qosOf(podWith({{"resources", {{"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}}}})),
            QosClass::kGuaranteed);
}

TEST(QosClass, BurstableCases) {
  // requests below limits
  EXPECT_EQ(qosOf(podWith({{"resources", {{"requests", {{"cpu", "100m"}, {"memory", "1Gi"}}},
                                          {"limits", {{"cpu", "200m"}, {"memory", "1Gi"}}}}}})),
            QosClass::kBurstable);
  // requests only
  EXPECT_EQ(qosOf(podWith({{"resources", {{"requests", {{"cpu", "100m"}}}}}})), QosClass::kBurstable);
  // cpu guaranteed, memory unset
  EXPECT_EQ(qosOf(podWith({{"resources", {{"limits", {{"cpu", "1"}}}}}})), QosClass::kBurstable);
}

TEST(QosClass, MixedContainersAreBurstable) {
  json pod = podWith({{"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}});
  pod["spec"]["containers"].push_back({{"name", "b"}, {"image", "b"}});
  EXPECT_EQ(qosOf(pod), QosClass::kBurstable);
}

TEST(QosClass, InitContainersCount) {
  json pod = podWith({{"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}});
  pod["spec"]["initContainers"] = json::parse(R"([{"name": "init", "image": "i", "resources": {"requests": {"memory": "10Mi"}}}])");
  EXPECT_EQ(qosOf(pod), QosClass::kBurstable);
  pod["spec"]["initContainers"][0]["resources"] = {{"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}};
  EXPECT_EQ(qosOf(pod), QosClass::kGuaranteed);
}

TEST(QosClass, OnlyCpuAndMemoryMatter) {
  EXPECT_EQ(qosOf(podWith({{"resources", {{"requests", {{"ephemeral-storage", "1Gi"}}},
                                          {"limits", {{"ephemeral-storage", "2Gi"}}}}}})),
            QosClass::kBestEffort);
  EXPECT_EQ(qosOf(podWith({{"resources", {{"requests", {{"cpu", "0"}}}}}})), QosClass::kBestEffort);
}

TEST(QosClass, PodLevelResourcesDecideWhenSet) {
  json pod = podWith({}, {{"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}});
  // Pod-level requests default to the pod-level limits: Guaranteed although the container
  // sets nothing.
  EXPECT_EQ(qosOf(pod), QosClass::kGuaranteed);
  pod["spec"]["resources"] = {{"requests", {{"cpu", "1"}}}};
  EXPECT_EQ(qosOf(pod), QosClass::kBurstable);
  // Unsupported pod-level resources only: the containers decide.
  pod["spec"]["resources"] = {{"limits", {{"ephemeral-storage", "1Gi"}}}};
  EXPECT_EQ(qosOf(pod), QosClass::kBestEffort);
}

TEST(QosClass, StatusQosClassWinsForQosClassButNotForComputeQosClass) {
  json pod = podWith({}, json::object());
  pod["status"] = {{"qosClass", "Guaranteed"}};
  EXPECT_EQ(*qosClass(pod), QosClass::kGuaranteed);
  EXPECT_EQ(*computeQosClass(pod), QosClass::kBestEffort);
  pod["status"]["qosClass"] = "Bogus";
  EXPECT_EQ(*qosClass(pod), QosClass::kBestEffort);
}

TEST(QosClass, Names) {
  EXPECT_EQ(qosClassName(QosClass::kGuaranteed), "Guaranteed");
  EXPECT_EQ(qosClassName(QosClass::kBurstable), "Burstable");
  EXPECT_EQ(qosClassName(QosClass::kBestEffort), "BestEffort");
}

TEST(QosClass, QuantitiesMayBeJsonNumbers) {
  EXPECT_EQ(qosOf(podWith({{"resources", {{"limits", {{"cpu", 2}, {"memory", 1073741824}}}}}})),
            QosClass::kGuaranteed);
}

TEST(QosClass, MalformedResourcesAreInvalidArgument) {
  auto q = computeQosClass(podWith({{"resources", {{"limits", {{"cpu", json::object()}}}}}}));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(q.status().message().find("spec.containers[0].resources.limits[cpu]"), std::string::npos)
      << q.status();
  EXPECT_NE(q.status().message().find("pod \"ns/p\""), std::string::npos) << q.status();

  q = computeQosClass(podWith({{"resources", {{"requests", {{"memory", "12 parsecs"}}}}}}));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(q.status().message().find("resources.requests[memory]"), std::string::npos) << q.status();
}

// ---------------------------------------------------------------------------------------
// $(VAR) expansion: the cases of upstream's expansion tests.

struct ExpandCase {
  const char* name;
  std::string input;
  std::string expected;
};

const std::vector<ExpandCase>& expandCases() {
  static const std::vector<ExpandCase> cases = {
      {"whole string", "$(VAR_A)", "A"},
      {"repeat", "$(VAR_A)-$(VAR_A)", "A-A"},
      {"beginning", "$(VAR_A)-1", "A-1"},
      {"middle", "___$(VAR_B)___", "___B___"},
      {"end", "___$(VAR_C)", "___C"},
      {"compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"},
      {"escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
      {"compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"},
      {"mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"},
      {"backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"},
      {"backslash escape ignored 2", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"},
      {"lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"},
      {"nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"},
      {"nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
      {"value is a reference", "$(VAR_REF)", "$(VAR_A)"},
      {"value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"},
      {"empty var", "foo$(VAR_EMPTY)bar", "foobar"},
      {"unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"},
      {"expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"},
      {"shell special vars pass through", "$?_boo_$!", "$?_boo_$!"},
      {"bare operators are ignored", "$VAR_A", "$VAR_A"},
      {"undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"},
      {"multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
      {"multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"},
      {"multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"},
      {"multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"},
      {"missing open expression", "$VAR_A)", "$VAR_A)"},
      {"shell syntax ignored", "${VAR_A}", "${VAR_A}"},
      {"trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"},
      {"trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("},
      {"operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"},
      {"shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"},
      {"lots of $( in middle", "--$($($($($--", "--$($($($($--"},
      {"lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("},
      {"lots of $( at end", "foo0--$($($($(", "foo0--$($($($("},
      {"escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"},
      {"newline not expanded", "\n", "\n"},
      {"dollar sign followed by non-ASCII UTF-8 character", "$\xc2\xa3" "FOO", "$\xc2\xa3" "FOO"},
      {"dollar sign followed by multi-byte UTF-8 character in middle", "prefix-$\xe2\x82\xac-suffix",
       "prefix-$\xe2\x82\xac-suffix"},
      {"dollar sign followed by Chinese character", "$\xe4\xb8\xad\xe6\x96\x87", "$\xe4\xb8\xad\xe6\x96\x87"},
      // Beyond upstream's table: Go decodes the byte after $ as a rune, so an invalid one
      // comes out as U+FFFD.
      {"dollar sign followed by an invalid byte", "a$\xff" "b", "a$\xef\xbf\xbd" "b"},
      {"empty input", "", ""},
      {"lone operator", "$", "$"},
  };
  return cases;
}

TEST(Expand, UpstreamTableWithOneMapping) {
  const std::map<std::string, std::string, std::less<>> vars = {
      {"VAR_A", "A"}, {"VAR_B", "B"}, {"VAR_C", "C"}, {"VAR_REF", "$(VAR_A)"}, {"VAR_EMPTY", ""}};
  const podenv::Lookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  for (const ExpandCase& c : expandCases()) EXPECT_EQ(podenv::expand(c.input, lookup), c.expected) << c.name;
}

TEST(Expand, UpstreamTableWithTwoMappings) {
  const std::map<std::string, std::string, std::less<>> first = {{"VAR_A", "A"}, {"VAR_EMPTY", ""}};
  const std::map<std::string, std::string, std::less<>> second = {
      {"VAR_B", "B"}, {"VAR_C", "C"}, {"VAR_REF", "$(VAR_A)"}};
  const podenv::Lookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto* m : {&first, &second}) {
      if (auto it = m->find(name); it != m->end()) return it->second;
    }
    return std::nullopt;
  };
  for (const ExpandCase& c : expandCases()) EXPECT_EQ(podenv::expand(c.input, lookup), c.expected) << c.name;
}

TEST(Expand, EnvValuesReferToEarlierVariablesOnly) {
  // upstream TestMapReference, through the container config
  json pod = podWith({{"env", json::parse(R"j([
      {"name": "FOO", "value": "bar"},
      {"name": "ZOO", "value": "$(FOO)-1"},
      {"name": "BLU", "value": "$(ZOO)-2"},
      {"name": "EARLY", "value": "$(LATE)"},
      {"name": "LATE", "value": "late"},
      {"name": "ESCAPED", "value": "$$(FOO)"}])j")}});
  auto c = containerConfigOf(pod);
  EXPECT_EQ(envValue(c, "FOO"), "bar");
  EXPECT_EQ(envValue(c, "ZOO"), "bar-1");
  EXPECT_EQ(envValue(c, "BLU"), "bar-1-2");
  EXPECT_EQ(envValue(c, "EARLY"), "$(LATE)");
  EXPECT_EQ(envValue(c, "ESCAPED"), "$(FOO)");
}

// ---------------------------------------------------------------------------------------
// Go encoders and the container hash.

TEST(GoJson, StringEscapingMatchesEncodingJson) {
  std::string out;
  gojson::appendString(out, "a\"b\\c\n\t\r\b\f\x01<>&\x7f\xc3\xa9\xe2\x80\xa8\xff");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u003c\\u003e\\u0026\x7f\xc3\xa9\\u2028\\ufffd\"");
}

TEST(GoJson, QuoteMatchesStrconvQuote) {
  EXPECT_EQ(gojson::quote("plain"), "\"plain\"");
  EXPECT_EQ(gojson::quote("a\"b\\c\n\a\x01\x7f"), "\"a\\\"b\\\\c\\n\\a\\x01\\x7f\"");
  EXPECT_EQ(gojson::quote("caf\xc3\xa9 \xff"), "\"caf\xc3\xa9 \\xff\"");
  EXPECT_EQ(gojson::quote("nb\xc2\xa0sp"), "\"nb\\u00a0sp\"");
  EXPECT_EQ(gojson::quote("\xf3\xb0\x80\x80"), "\"\\U000f0000\"");
}

TEST(GoJson, Fnv32a) {
  EXPECT_EQ(gojson::fnv32a(""), 0x811c9dc5u);
  EXPECT_EQ(gojson::fnv32a("a"), 0xe40c292cu);
  EXPECT_EQ(gojson::fnv32a("foobar"), 0xbf9cf968u);
}

TEST(ContainerHash, MatchesTheUpstreamKubelet) {
  // Reference values from k8s.io/kubernetes v1.37.2 HashContainer.
  EXPECT_EQ(*containerHash(json{{"name", "app"}, {"image", "nginx:1.25"}}), 0xe324a2d6u);
  EXPECT_EQ(*containerHash(json{{"name", "sidecar"},
                                {"image", "registry.example.com/team/busybox@sha256:0123456789abcdef"}}),
            0x9a8b2c65u);
  EXPECT_EQ(*containerHash(json::object()), 0xedd67cc4u);
  EXPECT_EQ(*containerHash(json{{"name", "a<b>&c"}, {"image", "img\"q\\x\n\xe2\x80\xa8\xff"}}), 0x8a1eb3fu);
}

TEST(ContainerHash, OnlyNameAndImageCount) {
  json a = {{"name", "app"}, {"image", "nginx:1.25"}, {"command", {"sh"}}, {"env", json::array()}};
  EXPECT_EQ(*containerHash(a), 0xe324a2d6u);
  a["image"] = "nginx:1.26";
  EXPECT_NE(*containerHash(a), 0xe324a2d6u);
}

TEST(ContainerHash, MalformedIsInvalidArgument) {
  EXPECT_EQ(containerHash(json{{"name", 3}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(containerHash(json::array()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ContainerHash, AnnotationIsLowercaseHex) {
  auto c = containerConfigOf(webPod());
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.hash"), "e324a2d6");
}

// ---------------------------------------------------------------------------------------
// Sandbox config

TEST(SandboxConfig, MetadataLabelsAnnotationsAndLogDirectory) {
  SandboxOptions opts;
  opts.attempt = 3;
  opts.cgroupParent = "/kubepods/burstable/pod4f1b7c2e-1111-2222-3333-444455556666";
  opts.runtimeHandler = "runc-fast";
  auto s = makeSandboxConfig(webPod(), testNode(), opts);
  ASSERT_TRUE(s.ok()) << s.status();
  const auto& c = s->config;
  EXPECT_EQ(s->runtimeHandler, "runc-fast");
  EXPECT_TRUE(s->events.empty());
  EXPECT_EQ(c.metadata().name(), "web");
  EXPECT_EQ(c.metadata().namespace_(), "default");
  EXPECT_EQ(c.metadata().uid(), "4f1b7c2e-1111-2222-3333-444455556666");
  EXPECT_EQ(c.metadata().attempt(), 3u);
  EXPECT_EQ(c.labels().size(), 5u);
  EXPECT_EQ(c.labels().at("app"), "web");
  EXPECT_EQ(c.labels().at("io.kubernetes.pod.name"), "web");
  EXPECT_EQ(c.labels().at("io.kubernetes.pod.namespace"), "default");
  EXPECT_EQ(c.labels().at("io.kubernetes.pod.uid"), "4f1b7c2e-1111-2222-3333-444455556666");
  EXPECT_EQ(c.annotations().size(), 3u);
  EXPECT_EQ(c.annotations().at("kubernetes.io/config.seen"), "2025-11-26T13:53:46.123456789Z");
  EXPECT_EQ(c.annotations().at("team"), "blue");
  EXPECT_EQ(c.log_directory(), "/var/log/pods/default_web_4f1b7c2e-1111-2222-3333-444455556666");
  EXPECT_EQ(c.hostname(), "web");
  EXPECT_EQ(c.linux().cgroup_parent(), opts.cgroupParent);
}

TEST(SandboxConfig, PodLogsDirComesFromTheNode) {
  NodeSettings node = testNode();
  node.podLogsDir = "/data/logs/";
  EXPECT_EQ(sandboxOf(webPod(), node).log_directory(),
            "/data/logs/default_web_4f1b7c2e-1111-2222-3333-444455556666");
  EXPECT_EQ(podLogDirectory("/var/log/pods", "ns", "n", "u"), "/var/log/pods/ns_n_u");
  EXPECT_EQ(containerLogPath("app", 4), "app/4.log");
}

TEST(SandboxConfig, SecurityDefaults) {
  const auto c = sandboxOf(webPod());
  const auto& sc = c.linux().security_context();
  EXPECT_FALSE(sc.privileged());
  // Always RuntimeDefault for the sandbox, whatever the pod asks for its containers.
  EXPECT_EQ(sc.seccomp().profile_type(), ::runtime::v1::SecurityProfile::RuntimeDefault);
  EXPECT_EQ(sc.namespace_options().network(), ::runtime::v1::POD);
  EXPECT_EQ(sc.namespace_options().pid(), ::runtime::v1::CONTAINER);
  EXPECT_EQ(sc.namespace_options().ipc(), ::runtime::v1::POD);
  EXPECT_EQ(sc.namespace_options().userns_options().mode(), ::runtime::v1::NODE);
  EXPECT_FALSE(sc.has_run_as_user());
  EXPECT_FALSE(sc.has_run_as_group());
  EXPECT_TRUE(sc.supplemental_groups().empty());
  EXPECT_FALSE(sc.has_selinux_options());
  EXPECT_TRUE(c.linux().sysctls().empty());
}

TEST(SandboxConfig, HostNamespacesAndSharedPid) {
  json pod = webPod();
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["hostPID"] = true;
  pod["spec"]["hostIPC"] = true;
  auto ns = sandboxOf(pod).linux().security_context().namespace_options();
  EXPECT_EQ(ns.network(), ::runtime::v1::NODE);
  EXPECT_EQ(ns.pid(), ::runtime::v1::NODE);
  EXPECT_EQ(ns.ipc(), ::runtime::v1::NODE);

  pod = webPod();
  pod["spec"]["shareProcessNamespace"] = true;
  EXPECT_EQ(sandboxOf(pod).linux().security_context().namespace_options().pid(), ::runtime::v1::POD);
}

TEST(SandboxConfig, PodSecurityContext) {
  json pod = webPod();
  pod["spec"]["securityContext"] = json::parse(R"({
    "runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000, 5000],
    "supplementalGroupsPolicy": "Strict",
    "seLinuxOptions": {"user": "system_u", "role": "system_r", "type": "spc_t", "level": "s0:c1,c2"},
    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
                {"name": "kernel.shm_rmid_forced", "value": "1"}],
    "seccompProfile": {"type": "Unconfined"}})");
  SandboxOptions opts;
  opts.extraSupplementalGroups = {65534};
  const auto c = sandboxOf(pod, testNode(), opts);
  const auto& sc = c.linux().security_context();
  EXPECT_EQ(sc.run_as_user().value(), 1000);
  EXPECT_EQ(sc.run_as_group().value(), 3000);
  // fsGroup, then the volumes' groups, then supplementalGroups.
  EXPECT_EQ(ints(sc.supplemental_groups()), (std::vector<int64_t>{2000, 65534, 4000, 5000}));
  EXPECT_EQ(sc.supplemental_groups_policy(), ::runtime::v1::Strict);
  EXPECT_EQ(sc.selinux_options().type(), "spc_t");
  EXPECT_EQ(sc.selinux_options().level(), "s0:c1,c2");
  EXPECT_EQ(sc.seccomp().profile_type(), ::runtime::v1::SecurityProfile::RuntimeDefault);
  EXPECT_EQ(c.linux().sysctls().size(), 2u);
  EXPECT_EQ(c.linux().sysctls().at("net.ipv4.ip_unprivileged_port_start"), "0");
}

TEST(SandboxConfig, UnknownSupplementalGroupsPolicyIsAnError) {
  json pod = webPod();
  pod["spec"]["securityContext"] = {{"supplementalGroupsPolicy", "Loose"}};
  auto s = makeSandboxConfig(pod, testNode());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("unsupported supplementalGroupsPolicy: Loose"), std::string::npos);
}

TEST(SandboxConfig, PrivilegedWhenAnyContainerIs) {
  json pod = webPod();
  EXPECT_FALSE(sandboxOf(pod).linux().security_context().privileged());
  pod["spec"]["initContainers"] = json::parse(R"([{"name": "setup", "image": "x", "securityContext": {"privileged": true}}])");
  EXPECT_TRUE(sandboxOf(pod).linux().security_context().privileged());
  pod["spec"].erase("initContainers");
  pod["spec"]["ephemeralContainers"] = json::parse(R"([{"name": "dbg", "image": "x", "securityContext": {"privileged": true}}])");
  EXPECT_TRUE(sandboxOf(pod).linux().security_context().privileged());
}

TEST(SandboxConfig, UserNamespaces) {
  json pod = webPod();
  pod["spec"]["hostUsers"] = false;
  auto s = makeSandboxConfig(pod, testNode());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("can't set `spec.hostUsers: false`"), std::string::npos) << s.status();

  SandboxOptions opts;
  ::runtime::v1::UserNamespace userns;
  userns.set_mode(::runtime::v1::POD);
  auto* m = userns.add_uids();
  m->set_host_id(65536);
  m->set_container_id(0);
  m->set_length(65536);
  *userns.add_gids() = *m;
  opts.userNamespace = userns;
  const auto c = sandboxOf(pod, testNode(), opts);
  const auto& u = c.linux().security_context().namespace_options().userns_options();
  EXPECT_EQ(u.mode(), ::runtime::v1::POD);
  ASSERT_EQ(u.uids_size(), 1);
  EXPECT_EQ(u.uids(0).host_id(), 65536u);

  pod["spec"]["hostUsers"] = true;
  EXPECT_EQ(sandboxOf(pod, testNode(), opts).linux().security_context().namespace_options().userns_options().mode(),
            ::runtime::v1::NODE);
}

TEST(SandboxConfig, Hostnames) {
  json pod = webPod();
  pod["spec"]["hostname"] = "www";
  EXPECT_EQ(sandboxOf(pod).hostname(), "www");

  pod["spec"]["subdomain"] = "frontends";
  EXPECT_EQ(sandboxOf(pod).hostname(), "www") << "the domain only shows with setHostnameAsFQDN";
  pod["spec"]["setHostnameAsFQDN"] = true;
  EXPECT_EQ(sandboxOf(pod).hostname(), "www.frontends.default.svc.cluster.local");

  pod["spec"]["hostnameOverride"] = "custom.host.example";
  EXPECT_EQ(sandboxOf(pod).hostname(), "custom.host.example") << "an override has no domain";

  pod["spec"]["hostNetwork"] = true;
  EXPECT_EQ(sandboxOf(pod).hostname(), "") << "host-network pods keep the node's hostname";
}

TEST(SandboxConfig, LongNamesAreCutTo63WithoutTrailingDashOrDot) {
  json pod = webPod();
  pod["metadata"]["name"] = std::string(62, 'a') + "-bcdef";
  EXPECT_EQ(sandboxOf(pod).hostname(), std::string(62, 'a'));
}

TEST(SandboxConfig, HostnameErrors) {
  json pod = webPod();
  pod["spec"]["hostname"] = "Not_A_Label";
  auto s = makeSandboxConfig(pod, testNode());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("pod Hostname \"Not_A_Label\" is not a valid DNS label"), std::string::npos)
      << s.status();

  pod = webPod();
  pod["spec"]["subdomain"] = "a.b";
  s = makeSandboxConfig(pod, testNode());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("must not contain dots"), std::string::npos) << s.status();

  pod = webPod();
  pod["spec"]["hostname"] = std::string(40, 'h');
  pod["spec"]["subdomain"] = "svc";
  pod["spec"]["setHostnameAsFQDN"] = true;
  s = makeSandboxConfig(pod, testNode());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("is too long (64 characters is the max, 70 characters requested)"),
            std::string::npos)
      << s.status();

  pod = webPod();
  pod["spec"]["hostnameOverride"] = "UPPER.example";
  s = makeSandboxConfig(pod, testNode());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("pod HostnameOverride \"UPPER.example\" is not a valid DNS subdomain"),
            std::string::npos)
      << s.status();
}

TEST(SandboxDns, ClusterFirst) {
  const auto dns = sandboxOf(webPod()).dns_config();
  EXPECT_EQ(strings(dns.servers()), std::vector<std::string>{"10.96.0.10"});
  EXPECT_EQ(strings(dns.searches()),
            (std::vector<std::string>{"default.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                      "corp.example.com", "lab.example.com"}));
  EXPECT_EQ(strings(dns.options()), std::vector<std::string>{"ndots:5"});
}

TEST(SandboxDns, DefaultUsesTheHostResolvConf) {
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "Default";
  const auto dns = sandboxOf(pod).dns_config();
  EXPECT_EQ(strings(dns.servers()), (std::vector<std::string>{"192.168.1.1", "192.168.1.2"}));
  EXPECT_EQ(strings(dns.searches()), (std::vector<std::string>{"corp.example.com", "lab.example.com"}));
  EXPECT_EQ(strings(dns.options()), (std::vector<std::string>{"timeout:2", "attempts:3"}));
}

TEST(SandboxDns, HostNetworkClusterFirstFallsBackToDefault) {
  json pod = webPod();
  pod["spec"]["hostNetwork"] = true;
  EXPECT_EQ(strings(sandboxOf(pod).dns_config().servers()), (std::vector<std::string>{"192.168.1.1", "192.168.1.2"}));
  pod["spec"]["dnsPolicy"] = "ClusterFirstWithHostNet";
  EXPECT_EQ(strings(sandboxOf(pod).dns_config().servers()), std::vector<std::string>{"10.96.0.10"});
}

TEST(SandboxDns, NoneWithDnsConfig) {
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "None";
  auto dns = sandboxOf(pod).dns_config();
  EXPECT_EQ(dns.servers_size() + dns.searches_size() + dns.options_size(), 0);
  pod["spec"]["dnsConfig"] = json::parse(R"({"nameservers": ["1.1.1.1", "1.1.1.1", "8.8.8.8"],
      "searches": ["a.example", "b.example"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})");
  dns = sandboxOf(pod).dns_config();
  EXPECT_EQ(strings(dns.servers()), (std::vector<std::string>{"1.1.1.1", "8.8.8.8"}));
  EXPECT_EQ(strings(dns.searches()), (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(strings(dns.options()), (std::vector<std::string>{"ndots:2", "edns0"}));
}

TEST(SandboxDns, DnsConfigMergesIntoClusterFirst) {
  json pod = webPod();
  pod["spec"]["dnsConfig"] = json::parse(R"({"nameservers": ["10.96.0.10", "9.9.9.9"],
      "searches": ["cluster.local", "extra.example"],
      "options": [{"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]})");
  const auto dns = sandboxOf(pod).dns_config();
  EXPECT_EQ(strings(dns.servers()), (std::vector<std::string>{"10.96.0.10", "9.9.9.9"}));
  EXPECT_EQ(strings(dns.searches()),
            (std::vector<std::string>{"default.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                      "corp.example.com", "lab.example.com", "extra.example"}));
  EXPECT_EQ(strings(dns.options()), (std::vector<std::string>{"ndots:1", "single-request-reopen"}));
}

TEST(SandboxDns, MissingClusterDnsFallsBackWithAnEvent) {
  NodeSettings node = testNode();
  node.clusterDns.clear();
  auto s = makeSandboxConfig(webPod(), node);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(strings(s->config.dns_config().servers()), (std::vector<std::string>{"192.168.1.1", "192.168.1.2"}));
  ASSERT_EQ(s->events.size(), 1u);
  EXPECT_EQ(s->events[0].reason, "MissingClusterDNS");
  EXPECT_EQ(s->events[0].message,
            "pod: \"web_default(4f1b7c2e-1111-2222-3333-444455556666)\". kubelet does not have ClusterDNS IP "
            "configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.");
}

TEST(SandboxDns, WithoutResolvConfTheNodeIsTheNameserver) {
  NodeSettings node = testNode();
  node.resolvConf.reset();
  node.nodeIps = {"192.168.1.10", "fd00::10"};
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "Default";
  auto dns = sandboxOf(pod, node).dns_config();
  EXPECT_EQ(strings(dns.servers()), (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(strings(dns.searches()), std::vector<std::string>{"."});
  node.nodeIps.clear();
  dns = sandboxOf(pod, node).dns_config();
  EXPECT_EQ(strings(dns.servers()), std::vector<std::string>{"127.0.0.1"});
  // ClusterFirst without host searches
  pod["spec"]["dnsPolicy"] = "ClusterFirst";
  dns = sandboxOf(pod, node).dns_config();
  EXPECT_EQ(dns.searches_size(), 3);
}

TEST(SandboxDns, LimitsTrimWithEvents) {
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "None";
  json searches = json::array();
  for (int i = 0; i < 40; ++i) searches.push_back("s" + std::to_string(i) + ".example");
  searches.push_back(std::string(254, 'x'));
  pod["spec"]["dnsConfig"] = {{"nameservers", {"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"}}, {"searches", searches}};
  auto s = makeSandboxConfig(pod, testNode());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->config.dns_config().servers_size(), 3);
  EXPECT_EQ(s->config.dns_config().searches_size(), 32);
  ASSERT_EQ(s->events.size(), 2u);
  EXPECT_EQ(s->events[0].message,
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "
            "1.1.1.1 2.2.2.2 3.3.3.3");
  EXPECT_EQ(s->events[1].reason, "DNSConfigForming");

  // Long paths: the line is cut from the end to 2048 characters.
  searches = json::array();
  for (int i = 0; i < 10; ++i) searches.push_back(std::string(250, static_cast<char>('a' + i)));
  pod["spec"]["dnsConfig"] = {{"searches", searches}};
  s = makeSandboxConfig(pod, testNode());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->config.dns_config().searches_size(), 8);  // 8 * 251 - 1 = 2007
}

TEST(SandboxDns, ResolvConfParsing) {
  auto rc = poddns::parseResolvConf(
      "nameserver 1.2.3.4\n  # comment\nsearch first.example\nsearch a.example. . b.example\n"
      "options ndots:2 timeout:1\noptions ndots:3\n\tnameserver   5.6.7.8  # trailing\n");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->nameservers, (std::vector<std::string>{"1.2.3.4", "5.6.7.8"}));
  EXPECT_EQ(rc->searches, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(rc->options, (std::vector<std::string>{"ndots:3", "timeout:1"}));

  rc = poddns::parseResolvConf("nameserver\n");
  EXPECT_FALSE(rc.ok());
  NodeSettings node = testNode();
  node.resolvConf = "nameserver\n";
  auto s = makeSandboxConfig(webPod(), node);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("Encountered error while parsing resolv conf file"), std::string::npos);
}

TEST(SandboxDns, SearchLineLimitEventsSayWhatWasApplied) {
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "None";
  // 33 short ones: the 33rd goes.
  json searches = json::array();
  for (int i = 0; i < 33; ++i) searches.push_back("s" + std::to_string(i));
  pod["spec"]["dnsConfig"] = {{"nameservers", {"1.1.1.1"}}, {"searches", searches}};
  auto s = makeSandboxConfig(pod, testNode());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->events.size(), 1u);
  EXPECT_EQ(s->events[0].reason, "DNSConfigForming");
  std::string applied;
  for (int i = 0; i < 32; ++i) applied += (i ? " s" : "s") + std::to_string(i);
  EXPECT_EQ(s->events[0].message,
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: " +
                applied);

  // A path over 253 characters is dropped wherever it is; exactly 253 stays.
  pod["spec"]["dnsConfig"] = {{"nameservers", {"1.1.1.1"}},
                              {"searches", {"a.example", std::string(254, 'x'), std::string(253, 'y')}}};
  s = makeSandboxConfig(pod, testNode());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(strings(s->config.dns_config().searches()), (std::vector<std::string>{"a.example", std::string(253, 'y')}));
  ASSERT_EQ(s->events.size(), 1u);

  // Exactly 32 paths and exactly 2048 characters are within the limits: no event.
  searches = json::array();
  for (int i = 0; i < 31; ++i) searches.push_back(std::string(63, static_cast<char>('a' + i % 26)) + std::to_string(i));
  size_t used = 0;
  for (const auto& x : searches) used += x.get<std::string>().size() + 1;
  searches.push_back(std::string(2048 - used, 'z'));
  pod["spec"]["dnsConfig"] = {{"nameservers", {"1.1.1.1"}}, {"searches", searches}};
  s = makeSandboxConfig(pod, testNode());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->config.dns_config().searches_size(), 32);
  EXPECT_TRUE(s->events.empty()) << s->events[0].message;

  // The host's search domains count too: ClusterFirst adds three in front of them.
  NodeSettings node = testNode();
  node.resolvConf = "nameserver 192.168.1.1\nsearch";
  for (int i = 0; i < 30; ++i) *node.resolvConf += " h" + std::to_string(i) + ".example";
  s = makeSandboxConfig(webPod(), node);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->config.dns_config().searches_size(), 32);
  EXPECT_EQ(s->config.dns_config().searches(31), "h28.example");
  ASSERT_EQ(s->events.size(), 1u);
  EXPECT_EQ(s->events[0].reason, "DNSConfigForming");
}

TEST(SandboxDns, ClusterFirstWithHostNetOnlyMattersOnTheHostNetwork) {
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "ClusterFirstWithHostNet";
  EXPECT_EQ(strings(sandboxOf(pod).dns_config().servers()), std::vector<std::string>{"10.96.0.10"});
  EXPECT_EQ(sandboxOf(pod).dns_config().searches(0), "default.svc.cluster.local");
  // Default ignores the cluster DNS on any network; None with a host network starts empty.
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["dnsPolicy"] = "Default";
  EXPECT_EQ(strings(sandboxOf(pod).dns_config().options()), (std::vector<std::string>{"timeout:2", "attempts:3"}));
  pod["spec"]["dnsPolicy"] = "None";
  pod["spec"]["dnsConfig"] = {{"nameservers", {"9.9.9.9"}}};
  const auto dns = sandboxOf(pod).dns_config();
  EXPECT_EQ(strings(dns.servers()), std::vector<std::string>{"9.9.9.9"});
  EXPECT_EQ(dns.searches_size() + dns.options_size(), 0);
}

TEST(SandboxDns, DnsConfigOptionsOverrideTheHostsByName) {
  json pod = webPod();
  pod["spec"]["dnsPolicy"] = "Default";
  pod["spec"]["dnsConfig"] = json::parse(R"({"options": [{"name": "attempts", "value": "5"}, {"name": "rotate"},
      {"name": "timeout"}]})");
  EXPECT_EQ(strings(sandboxOf(pod).dns_config().options()),
            (std::vector<std::string>{"timeout", "attempts:5", "rotate"}))
      << "a name without value replaces timeout:2 with the bare option";
}

TEST(ResolvConfLimits, WarningsForTheNodesFile) {
  const std::string path = "/etc/resolv.conf";
  auto warn = [&](const absl::StatusOr<std::string>& content, std::string_view domain = "cluster.local") {
    return resolvConfLimitsWarning(path, content, domain);
  };
  EXPECT_EQ(warn(std::string("nameserver 1.1.1.1\nsearch a.example b.example\n")), std::nullopt);
  EXPECT_EQ(warn(absl::NotFoundError("open /etc/resolv.conf: no such file or directory")),
            "open /etc/resolv.conf: no such file or directory");
  EXPECT_EQ(warn(std::string("nameserver\n")), "nameserver list is empty ");

  std::string search = "search";
  for (int i = 0; i < 30; ++i) search += " d" + std::to_string(i) + ".example";
  EXPECT_EQ(warn(search),
            "Resolv.conf file '/etc/resolv.conf' contains search line consisting of more than 29 domains!");
  EXPECT_EQ(warn(search, ""), std::nullopt) << "without a cluster domain all 32 are the host's";
  search += " d30.example d31.example d32.example";
  EXPECT_EQ(warn(search, ""),
            "Resolv.conf file '/etc/resolv.conf' contains search line consisting of more than 32 domains!");

  EXPECT_EQ(warn("search ok.example " + std::string(254, 'x')),
            "Resolv.conf file \"/etc/resolv.conf\" contains a search path which length is more than allowed 253 "
            "chars!");
  std::string longLine = "search";
  for (int i = 0; i < 9; ++i) longLine += " " + std::string(250, static_cast<char>('a' + i));
  EXPECT_EQ(warn(longLine),
            "Resolv.conf file '/etc/resolv.conf' contains search line which length is more than allowed 2048 chars!");
}

TEST(SandboxConfig, PortMappings) {
  json pod = webPod();
  pod["spec"]["containers"][1]["ports"] = json::parse(R"([
      {"containerPort": 53, "protocol": "UDP"},
      {"containerPort": 53, "protocol": "UDP"},
      {"containerPort": 5000, "protocol": "SCTP", "hostIP": "fd00::1", "hostPort": 5000},
      {"name": "weird", "containerPort": 7, "protocol": "ICMP"}])");
  pod["spec"]["initContainers"] = json::parse(R"([{"name": "i", "image": "i", "ports": [{"containerPort": 1}]}])");
  const auto c = sandboxOf(pod);
  ASSERT_EQ(c.port_mappings_size(), 5);
  EXPECT_EQ(c.port_mappings(0).container_port(), 80);
  EXPECT_EQ(c.port_mappings(0).host_port(), 0) << "ports without hostPort are passed as well";
  EXPECT_EQ(c.port_mappings(0).protocol(), ::runtime::v1::TCP);
  EXPECT_EQ(c.port_mappings(1).container_port(), 9090);
  EXPECT_EQ(c.port_mappings(1).host_port(), 19090);
  EXPECT_EQ(c.port_mappings(1).host_ip(), "10.0.0.1");
  EXPECT_EQ(c.port_mappings(1).protocol(), ::runtime::v1::UDP);
  EXPECT_EQ(c.port_mappings(2).container_port(), 53) << "the duplicate unnamed port is dropped";
  EXPECT_EQ(c.port_mappings(3).protocol(), ::runtime::v1::SCTP);
  EXPECT_EQ(c.port_mappings(3).host_ip(), "fd00::1");
  EXPECT_EQ(c.port_mappings(4).protocol(), ::runtime::v1::TCP) << "unknown protocols become TCP";
}

TEST(SandboxConfig, HostNetworkDefaultsHostPorts) {
  json pod = webPod();
  pod["spec"]["hostNetwork"] = true;
  const auto c = sandboxOf(pod);
  ASSERT_EQ(c.port_mappings_size(), 2);
  EXPECT_EQ(c.port_mappings(0).host_port(), 80);
  EXPECT_EQ(c.port_mappings(1).host_port(), 19090);
}

TEST(SandboxConfig, ResourcesFromAggregatedRequestsAndLimits) {
  json pod = json::parse(R"json({
    "metadata": {"name": "r", "namespace": "ns", "uid": "u"},
    "spec": {"containers": [
      {"name": "a", "image": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}},
      {"name": "b", "image": "b", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}]}})json");
  auto r = sandboxOf(pod).linux().resources();
  EXPECT_EQ(r.cpu_shares(), 768);
  EXPECT_EQ(r.cpu_period(), 100000);
  EXPECT_EQ(r.cpu_quota(), 150000);
  EXPECT_EQ(r.memory_limit_in_bytes(), 128 * kMi);
  EXPECT_EQ(r.oom_score_adj(), 0);
  EXPECT_TRUE(r.unified().empty());
  const auto overhead = sandboxOf(pod).linux().overhead();
  EXPECT_EQ(overhead.cpu_shares(), 0);

  // A sidecar runs alongside everything; a plain init container only before the others.
  pod["spec"]["initContainers"] = json::parse(R"([
      {"name": "side", "image": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
      {"name": "job", "image": "j", "resources": {"requests": {"cpu": "1"}}}])");
  r = sandboxOf(pod).linux().resources();
  EXPECT_EQ(r.cpu_shares(), 1126);  // max(750m + 100m, 1 + 100m) = 1100m
}

TEST(SandboxConfig, NoRequestsMeansMinimumShares) {
  auto r = sandboxOf(podWith({})).linux().resources();
  EXPECT_EQ(r.cpu_shares(), 2);
  EXPECT_EQ(r.cpu_quota(), 0);
  EXPECT_EQ(r.memory_limit_in_bytes(), 0);
}

TEST(SandboxConfig, OverheadAndNodeOptions) {
  json pod = podWith({{"resources", {{"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}}},
                     {{"overhead", {{"cpu", "250m"}, {"memory", "120Mi"}}}});
  NodeSettings node = testNode();
  node.cgroupV2 = true;
  node.singleProcessOomKill = false;
  SandboxOptions opts;
  opts.exclusiveCpus = true;
  const auto lx = sandboxOf(pod, node, opts).linux();
  EXPECT_EQ(lx.resources().cpu_shares(), 2048) << "overhead is not part of the resources";
  EXPECT_EQ(lx.resources().cpu_quota(), -1);
  EXPECT_EQ(lx.resources().unified().at("memory.oom.group"), "1");
  EXPECT_EQ(lx.overhead().cpu_shares(), 256);
  EXPECT_EQ(lx.overhead().cpu_quota(), 25000);
  EXPECT_EQ(lx.overhead().memory_limit_in_bytes(), 120 * kMi);

  node.cpuCfsQuota = false;
  const auto r = sandboxOf(pod, node).linux().resources();
  EXPECT_EQ(r.cpu_period(), 0);
  EXPECT_EQ(r.cpu_quota(), 0);
}

TEST(SandboxConfig, PodLevelResources) {
  json pod = podWith({{"resources", {{"requests", {{"cpu", "100m"}}}}}},
                     {{"resources", {{"limits", {{"cpu", "2"}, {"memory", "512Mi"}}}}}});
  const auto r = sandboxOf(pod).linux().resources();
  // Pod-level requests default from the containers' (cpu 100m) and then the pod's limits (memory).
  EXPECT_EQ(r.cpu_shares(), 102);
  EXPECT_EQ(r.cpu_quota(), 200000);
  EXPECT_EQ(r.memory_limit_in_bytes(), 512 * kMi);
}

TEST(SandboxConfig, MalformedPodsAreInvalidArgument) {
  struct Case {
    std::string what;
    json pod;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({"not an object", json::array(), "pod: expected an object"});
  json p = webPod();
  p["metadata"] = "web";
  cases.push_back({"metadata string", p, "metadata: expected an object, got string"});
  p = webPod();
  p["metadata"]["labels"]["app"] = 7;
  cases.push_back({"label value", p, "metadata.labels[app]: expected a string, got number"});
  p = webPod();
  p["spec"]["containers"] = {{"name", "x"}};
  cases.push_back({"containers object", p, "spec.containers: expected an array, got object"});
  p = webPod();
  p["spec"]["containers"][1]["ports"][0] = {{"containerPort", "80"}};
  cases.push_back({"port string", p, "spec.containers[1].ports[0].containerPort: expected an integer, got string"});
  p = webPod();
  p["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000000000;
  cases.push_back({"port range", p, "spec.containers[0].ports[0].containerPort: 70000000000 is out of range"});
  p = webPod();
  p["spec"]["hostNetwork"] = "yes";
  cases.push_back({"bool", p, "spec.hostNetwork: expected a boolean, got string"});
  p = webPod();
  p["spec"]["securityContext"]["runAsUser"] = 1.5;
  cases.push_back({"float uid", p, "spec.securityContext.runAsUser: expected an integer, got number"});
  p = webPod();
  p["spec"]["dnsConfig"] = {{"options", {{{"name", 5}}}}};
  cases.push_back({"dns option", p, "spec.dnsConfig.options[0].name: expected a string"});
  for (const Case& c : cases) {
    auto s = makeSandboxConfig(c.pod, testNode());
    ASSERT_FALSE(s.ok()) << c.what;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(s.status().message().find(c.field), std::string::npos) << c.what << ": " << s.status();
  }
}

TEST(SandboxConfig, NullsReadAsAbsent) {
  json pod = webPod();
  pod["spec"]["hostname"] = nullptr;
  pod["spec"]["securityContext"] = nullptr;
  pod["metadata"]["labels"] = nullptr;
  const auto c = sandboxOf(pod);
  EXPECT_EQ(c.hostname(), "web");
  EXPECT_EQ(c.labels().size(), 3u);
}

// ---------------------------------------------------------------------------------------
// Container config

TEST(ContainerConfig, WebPodEndToEnd) {
  const json pod = webPod();
  const auto c = containerConfigOf(pod);
  EXPECT_EQ(c.metadata().name(), "app");
  EXPECT_EQ(c.metadata().attempt(), 2u);
  EXPECT_EQ(c.image().image(), "docker.io/library/nginx@sha256:abcd");
  EXPECT_EQ(c.image().user_specified_image(), "nginx:1.25");
  EXPECT_EQ(strings(c.command()), (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(strings(c.args()), std::vector<std::string>{"echo hello to web at $(date) $(MISSING)"});
  EXPECT_EQ(c.working_dir(), "/srv");
  EXPECT_EQ(envs(c), (std::vector<std::pair<std::string, std::string>>{
                         {"GREETING", "hello"}, {"POD_NAME", "web"}, {"MESSAGE", "hello, web!"}}));
  EXPECT_EQ(c.log_path(), "app/2.log");
  EXPECT_TRUE(c.stdin());
  EXPECT_FALSE(c.stdin_once());
  EXPECT_TRUE(c.tty());
  EXPECT_TRUE(c.mounts().empty());

  EXPECT_EQ(c.labels().size(), 4u);
  EXPECT_EQ(c.labels().at("io.kubernetes.container.name"), "app");
  EXPECT_EQ(c.labels().at("io.kubernetes.pod.name"), "web");
  EXPECT_EQ(c.labels().at("io.kubernetes.pod.namespace"), "default");
  EXPECT_EQ(c.labels().at("io.kubernetes.pod.uid"), "4f1b7c2e-1111-2222-3333-444455556666");

  EXPECT_EQ(c.annotations().size(), 6u);
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.restartCount"), "2");
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.terminationMessagePath"), "/dev/termination-log");
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.terminationMessagePolicy"), "File");
  EXPECT_EQ(c.annotations().at("io.kubernetes.pod.terminationGracePeriod"), "45");
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.ports"),
            R"([{"name":"http","containerPort":80,"protocol":"TCP"},)"
            R"({"hostPort":19090,"containerPort":9090,"protocol":"UDP","hostIP":"10.0.0.1"}])");

  const auto& r = c.linux().resources();
  EXPECT_EQ(r.cpu_shares(), 256);
  EXPECT_EQ(r.cpu_period(), 100000);
  EXPECT_EQ(r.cpu_quota(), 50000);
  EXPECT_EQ(r.memory_limit_in_bytes(), 2 * kGi);
  EXPECT_EQ(r.oom_score_adj(), 875);  // 1000 - 1000 * 1Gi / 8Gi
  EXPECT_TRUE(r.hugepage_limits().empty());
  EXPECT_TRUE(r.unified().empty());
  EXPECT_EQ(r.memory_swap_limit_in_bytes(), 0);

  const auto& sc = c.linux().security_context();
  EXPECT_FALSE(sc.has_capabilities());
  EXPECT_FALSE(sc.privileged());
  EXPECT_FALSE(sc.readonly_rootfs());
  EXPECT_FALSE(sc.no_new_privs());
  EXPECT_EQ(sc.run_as_user().value(), 0) << "an image without a user runs as root";
  EXPECT_EQ(sc.run_as_username(), "");
  EXPECT_FALSE(sc.has_run_as_group());
  EXPECT_EQ(sc.seccomp().profile_type(), ::runtime::v1::SecurityProfile::Unconfined);
  EXPECT_FALSE(sc.has_apparmor());
  EXPECT_EQ(sc.namespace_options().network(), ::runtime::v1::POD);
  EXPECT_EQ(sc.namespace_options().pid(), ::runtime::v1::CONTAINER);
  EXPECT_EQ(sc.namespace_options().userns_options().mode(), ::runtime::v1::NODE);
  EXPECT_EQ(strings(sc.masked_paths()),
            (std::vector<std::string>{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                                      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                      "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                                      "/sys/devices/virtual/powercap"}));
  EXPECT_EQ(strings(sc.readonly_paths()), (std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq",
                                                                    "/proc/sys", "/proc/sysrq-trigger"}));
}

TEST(ContainerConfig, DefaultsForABareContainer) {
  const auto c = containerConfigOf(podWith({}));
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.terminationMessagePath"), "/dev/termination-log");
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.terminationMessagePolicy"), "File");
  EXPECT_EQ(c.annotations().at("io.kubernetes.pod.terminationGracePeriod"), "30");
  EXPECT_EQ(c.annotations().count("io.kubernetes.container.ports"), 0u);
  EXPECT_EQ(c.annotations().count("io.kubernetes.pod.deletionGracePeriod"), 0u);
  EXPECT_EQ(c.annotations().count("io.kubernetes.container.preStopHandler"), 0u);
  EXPECT_EQ(c.linux().resources().cpu_shares(), 2);
  EXPECT_EQ(c.linux().resources().cpu_quota(), 0);
  EXPECT_EQ(c.linux().resources().oom_score_adj(), 1000);
  EXPECT_TRUE(c.command().empty());
  EXPECT_TRUE(c.envs().empty());
}

TEST(ContainerConfig, SecondContainerAndCommandExpansionFromServiceEnv) {
  json pod = webPod();
  pod["spec"]["containers"][1]["args"] = {"--upstream=$(BACKEND_SERVICE_HOST):$(BACKEND_SERVICE_PORT)"};
  ContainerOptions opts = basicOptions();
  opts.serviceEnv = {{"BACKEND_SERVICE_HOST", "10.96.3.4"}, {"BACKEND_SERVICE_PORT", "8080"}};
  const auto c = containerConfigOf(pod, 1, opts);
  EXPECT_EQ(strings(c.args()), std::vector<std::string>{"--upstream=10.96.3.4:8080"});
  EXPECT_EQ(envs(c), (std::vector<std::pair<std::string, std::string>>{{"BACKEND_SERVICE_HOST", "10.96.3.4"},
                                                                       {"BACKEND_SERVICE_PORT", "8080"}}));
  // BestEffort container in a Burstable pod: Burstable formula with no request.
  EXPECT_EQ(c.linux().resources().oom_score_adj(), 999);
}

TEST(ContainerConfig, ContainerEnvOverridesServiceEnvAndKeepsFirstPosition) {
  json pod = podWith({{"env", json::parse(R"j([{"name": "A", "value": "1"}, {"name": "SVC_HOST", "value": "mine"},
                                             {"name": "A", "value": "2"}, {"name": "B", "value": "$(SVC_PORT)"}])j")}});
  ContainerOptions opts = basicOptions();
  opts.serviceEnv = {{"SVC_HOST", "10.0.0.1"}, {"SVC_PORT", "80"}};
  EXPECT_EQ(envs(containerConfigOf(pod, 0, opts)),
            (std::vector<std::pair<std::string, std::string>>{
                {"A", "2"}, {"SVC_HOST", "mine"}, {"B", "80"}, {"SVC_PORT", "80"}}));
}

TEST(ContainerEnv, FieldRefs) {
  json pod = webPod();
  pod["metadata"]["annotations"]["note"] = "say \"hi\"\n";
  pod["spec"]["containers"][0]["env"] = json::parse(R"([
    {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "NS", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
    {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
    {"name": "NOPE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['absent']"}}},
    {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
    {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
    {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "spec.host"}}},
    {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
    {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
    {"name": "HOST_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}},
    {"name": "VALUE_WINS", "value": "literal", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])");
  ContainerOptions opts = basicOptions();
  opts.hostIps = {"192.168.1.10", "fd00:0:0::10"};
  const auto c = containerConfigOf(pod, 0, opts);
  EXPECT_EQ(envValue(c, "NAME"), "web");
  EXPECT_EQ(envValue(c, "NS"), "default");
  EXPECT_EQ(envValue(c, "UID"), "4f1b7c2e-1111-2222-3333-444455556666");
  EXPECT_EQ(envValue(c, "APP"), "web");
  EXPECT_EQ(envValue(c, "NOPE"), "");
  EXPECT_EQ(envValue(c, "TEAM"), "blue");
  EXPECT_EQ(envValue(c, "LABELS"), "app=\"web\"\ntier=\"frontend\"");
  EXPECT_EQ(envValue(c, "NOTE"), "say \"hi\"\n");
  EXPECT_EQ(envValue(c, "NODE"), "node-1");
  EXPECT_EQ(envValue(c, "HOST"), "node-1");
  EXPECT_EQ(envValue(c, "SA"), "web-sa");
  EXPECT_EQ(envValue(c, "POD_IP"), "10.244.1.7");
  EXPECT_EQ(envValue(c, "POD_IPS"), "10.244.1.7,fd00::7");
  EXPECT_EQ(envValue(c, "HOST_IP"), "192.168.1.10");
  EXPECT_EQ(envValue(c, "HOST_IPS"), "192.168.1.10,fd00::10");
  EXPECT_EQ(envValue(c, "VALUE_WINS"), "literal");
}

TEST(ContainerEnv, PodIpOrderFollowsTheNodesFamily) {
  json pod = podWith({{"env", json::parse(R"([
      {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
      {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}])")}});
  ContainerOptions opts = basicOptions();
  opts.podIps = {"10.244.1.7", "FD00:0000::0007"};
  NodeSettings node = testNode();
  node.nodeIps = {"fd00::10"};
  const auto c = containerConfigOf(pod, 0, opts, node);
  EXPECT_EQ(envValue(c, "IP"), "fd00::7");
  EXPECT_EQ(envValue(c, "IPS"), "fd00::7,10.244.1.7");
}

TEST(ContainerEnv, FieldRefErrors) {
  struct Case {
    std::string fieldRef;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"fieldPath": "status.phase"})", absl::StatusCode::kInvalidArgument, "unsupported fieldPath: status.phase"},
      {R"({"fieldPath": "spec.containers"})", absl::StatusCode::kInvalidArgument,
       "field label not supported: spec.containers"},
      {R"({"apiVersion": "v2", "fieldPath": "metadata.name"})", absl::StatusCode::kInvalidArgument,
       "unsupported pod version: v2"},
      {R"({"fieldPath": "metadata.name['x']"})", absl::StatusCode::kInvalidArgument,
       "field label does not support subscript: metadata.name['x']"},
      {R"({"fieldPath": "metadata.labels['bad key!']"})", absl::StatusCode::kInvalidArgument,
       "invalid key subscript in metadata.labels['bad key!']"},
      {R"({"fieldPath": "status.hostIP"})", absl::StatusCode::kFailedPrecondition, "host IPs are not known"},
  };
  for (const Case& tc : cases) {
    json pod = podWith({{"env", {{{"name", "V"}, {"valueFrom", {{"fieldRef", json::parse(tc.fieldRef)}}}}}}});
    ContainerOptions opts = basicOptions();
    opts.hostIps.clear();
    auto c = makeContainerConfig(pod, containerOf(pod), testNode(), opts);
    ASSERT_FALSE(c.ok()) << tc.fieldRef;
    EXPECT_EQ(c.status().code(), tc.code) << tc.fieldRef << ": " << c.status();
    EXPECT_NE(c.status().message().find(tc.message), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find("pod \"ns/p\": container \"c\": env \"V\": "), std::string::npos)
        << c.status();
  }
}

TEST(ContainerEnv, ResourceFieldRefs) {
  json pod = json::parse(R"json({
    "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
    "spec": {
      "initContainers": [{"name": "init", "image": "i", "resources": {"requests": {"cpu": "100m"}}}],
      "containers": [{
        "name": "main", "image": "m",
        "resources": {"requests": {"cpu": "250m", "memory": "100Mi", "hugepages-2Mi": "4Mi"},
                      "limits": {"cpu": "1500m", "hugepages-2Mi": "4Mi"}},
        "env": [
          {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
          {"name": "CPU_LIMIT_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
          {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "0"}}},
          {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
          {"name": "MEM_REQ_MI", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}}},
          {"name": "EPH_LIMIT_GI", "valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage", "divisor": "1Gi"}}},
          {"name": "EPH_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.ephemeral-storage"}}},
          {"name": "HUGE", "valueFrom": {"resourceFieldRef": {"resource": "limits.hugepages-2Mi", "divisor": "1Mi"}}},
          {"name": "OTHER_MEM", "valueFrom": {"resourceFieldRef": {"containerName": "other", "resource": "limits.memory", "divisor": "1Mi"}}},
          {"name": "INIT_CPU", "valueFrom": {"resourceFieldRef": {"containerName": "init", "resource": "limits.cpu"}}}
        ]}, {
        "name": "other", "image": "o", "resources": {"limits": {"memory": "300Mi"}}}]}})json");
  const auto c = containerConfigOf(pod);
  EXPECT_EQ(envValue(c, "CPU_LIMIT"), "2");  // ceil(1.5)
  EXPECT_EQ(envValue(c, "CPU_LIMIT_M"), "1500");
  EXPECT_EQ(envValue(c, "CPU_REQ"), "1");
  EXPECT_EQ(envValue(c, "MEM_LIMIT"), std::to_string(8 * kGi)) << "an unset limit is the node's allocatable";
  EXPECT_EQ(envValue(c, "MEM_REQ_MI"), "100");
  EXPECT_EQ(envValue(c, "EPH_LIMIT_GI"), "100");
  EXPECT_EQ(envValue(c, "EPH_REQ"), "0");
  EXPECT_EQ(envValue(c, "HUGE"), "4");
  EXPECT_EQ(envValue(c, "OTHER_MEM"), "300");
  EXPECT_EQ(envValue(c, "INIT_CPU"), "0") << "init containers named by another container keep unset limits";

  // Pod-level limits replace allocatable as the default.
  pod["spec"]["resources"] = {{"limits", {{"memory", "1Gi"}}}};
  EXPECT_EQ(envValue(containerConfigOf(pod), "MEM_LIMIT"), std::to_string(kGi));
}

TEST(ContainerEnv, ResourceFieldRefErrors) {
  json pod = podWith({{"env", {{{"name", "X"}, {"valueFrom", {{"resourceFieldRef", {{"resource", "limits.gpu"}}}}}}}}});
  auto c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unsupported container resource : limits.gpu"), std::string::npos);

  pod = podWith({{"env", {{{"name", "X"}, {"valueFrom", {{"resourceFieldRef", {{"containerName", "ghost"}, {"resource", "limits.cpu"}}}}}}}}});
  c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("container ghost not found"), std::string::npos);

  pod = podWith({{"env", {{{"name", "X"}, {"valueFrom", {{"resourceFieldRef", {{"resource", "limits.cpu"}}}}}}}}});
  ContainerOptions opts = basicOptions();
  opts.nodeAllocatable.reset();
  c = makeContainerConfig(pod, containerOf(pod), testNode(), opts);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("container \"c\": env \"X\""), std::string::npos) << c.status();
}

TEST(ContainerEnv, ConfigMapAndSecretReferencesNeedASource) {
  const char* refs[] = {
      R"([{"name": "DB_HOST", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "host"}}}])",
      R"([{"name": "DB_PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}])",
  };
  for (const char* r : refs) {
    json pod = podWith({{"env", json::parse(r)}});
    auto c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string var = json::parse(r)[0]["name"];
    EXPECT_NE(c.status().message().find("container \"c\": env \"" + var + "\""), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find("not supported yet"), std::string::npos) << c.status();
  }
  json pod = podWith({{"envFrom", json::parse(R"([{"configMapRef": {"name": "settings"}}])")}});
  auto c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("container \"c\": envFrom[0]: configmap \"settings\""), std::string::npos)
      << c.status();

  pod = podWith({{"env", json::parse(R"([{"name": "F", "valueFrom": {"fileKeyRef": {"volumeName": "cfg", "path": "a.env", "key": "K"}}}])")}});
  c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ContainerEnv, ConfigMapsAndSecretsThroughSources) {
  json pod = podWith({
      {"envFrom", json::parse(R"([{"configMapRef": {"name": "settings"}},
                                  {"prefix": "S_", "secretRef": {"name": "creds"}},
                                  {"configMapRef": {"name": "absent", "optional": true}}])")},
      {"env", json::parse(R"j([
          {"name": "MODE", "value": "override"},
          {"name": "HOST", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "host"}}},
          {"name": "URL", "value": "postgres://$(HOST)/$(S_user)"},
          {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "nope", "optional": true}}},
          {"name": "OPT2", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}}])j")}});
  int fetches = 0;
  ContainerOptions opts = basicOptions();
  opts.envSources.configMap = [&](const std::string& name) -> absl::StatusOr<std::map<std::string, std::string>> {
    ++fetches;
    if (name == "settings") return std::map<std::string, std::string>{{"MODE", "prod"}, {"LEVEL", "3"}};
    if (name == "db") return std::map<std::string, std::string>{{"host", "db.internal"}};
    return absl::NotFoundError("configmaps \"" + name + "\" not found");
  };
  opts.envSources.secret = [&](const std::string& name) -> absl::StatusOr<std::map<std::string, std::string>> {
    if (name == "creds") return std::map<std::string, std::string>{{"user", "admin"}};
    return absl::NotFoundError("not found");
  };
  const auto c = containerConfigOf(pod, 0, opts);
  EXPECT_EQ(envs(c), (std::vector<std::pair<std::string, std::string>>{{"LEVEL", "3"},
                                                                       {"MODE", "override"},
                                                                       {"S_user", "admin"},
                                                                       {"HOST", "db.internal"},
                                                                       {"URL", "postgres://db.internal/admin"}}));
  EXPECT_EQ(fetches, 3) << "each object is fetched once";

  // A missing key is an error unless optional.
  pod = podWith({{"env", json::parse(R"([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "port"}}}])")}});
  auto r = makeContainerConfig(pod, containerOf(pod), testNode(), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("couldn't find key port in ConfigMap ns/db"), std::string::npos) << r.status();
  pod = podWith({{"env", json::parse(R"([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "a"}}}])")}});
  r = makeContainerConfig(pod, containerOf(pod), testNode(), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("configmap \"missing\" not found"), std::string::npos) << r.status();
}

TEST(ContainerConfig, RunAsNonRootChecks) {
  auto check = [](const json& pod, std::optional<int64_t> uid, std::string username) {
    ContainerOptions opts = basicOptions();
    opts.imageUid = uid;
    opts.imageUsername = std::move(username);
    return makeContainerConfig(pod, containerOf(pod), testNode(), opts).status();
  };
  json pod = webPod();
  pod["spec"]["securityContext"]["runAsNonRoot"] = true;
  const std::string where = "(pod: \"web_default(4f1b7c2e-1111-2222-3333-444455556666)\", container: app)";

  absl::Status st = check(pod, 0, "");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "container has runAsNonRoot and image will run as root " + where);
  EXPECT_EQ(check(pod, std::nullopt, "").message(), st.message()) << "no image user means root";
  EXPECT_EQ(check(pod, std::nullopt, "nginx").message(),
            "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root " +
                where);
  EXPECT_EQ(check(pod, int64_t{1} << 32, "").message(),
            "container has runAsNonRoot and image has an invalid user id (4294967296). (Must be 1-(2147483647)): "
            "must be between 0 and 2147483647, inclusive " +
                where);
  EXPECT_TRUE(check(pod, 101, "").ok());

  pod["spec"]["containers"][0]["securityContext"] = {{"runAsUser", 0}};
  EXPECT_EQ(check(pod, 101, "").message(), "container's runAsUser breaks non-root policy " + where);
  pod["spec"]["containers"][0]["securityContext"] = {{"runAsUser", 1000}};
  EXPECT_TRUE(check(pod, 0, "").ok()) << "the pod's own user wins over the image's";
  pod["spec"]["containers"][0]["securityContext"] = {{"runAsNonRoot", false}};
  EXPECT_TRUE(check(pod, 0, "").ok()) << "the container may opt out";

  // The standalone check gives the same answers.
  pod["spec"]["containers"][0].erase("securityContext");
  EXPECT_EQ(verifyRunAsNonRoot(pod, containerOf(pod), 0, "").message(), st.message());
  EXPECT_TRUE(verifyRunAsNonRoot(pod, containerOf(pod), 65534, "").ok());
  EXPECT_TRUE(verifyRunAsNonRoot(webPod(), containerOf(webPod()), 0, "").ok());
}

TEST(ContainerSecurity, ContainerFields) {
  json pod = webPod();
  pod["spec"]["securityContext"] = json::parse(
      R"({"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000, "supplementalGroups": [3000],
          "seLinuxOptions": {"level": "s0:c1"}})");
  pod["spec"]["containers"][0]["securityContext"] = json::parse(R"({
      "runAsUser": 1001, "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["ALL"]},
      "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
      "seLinuxOptions": {"type": "container_t"}})");
  ContainerOptions opts = basicOptions();
  opts.extraSupplementalGroups = {4000};
  opts.imageUsername = "www-data";
  const auto sc = containerConfigOf(pod, 0, opts).linux().security_context();
  EXPECT_EQ(strings(sc.capabilities().add_capabilities()), (std::vector<std::string>{"NET_ADMIN", "SYS_TIME"}));
  EXPECT_EQ(strings(sc.capabilities().drop_capabilities()), std::vector<std::string>{"ALL"});
  EXPECT_EQ(sc.run_as_user().value(), 1001);
  EXPECT_EQ(sc.run_as_username(), "") << "an explicit runAsUser hides the image user";
  EXPECT_EQ(sc.run_as_group().value(), 1000);
  EXPECT_TRUE(sc.readonly_rootfs());
  EXPECT_TRUE(sc.no_new_privs());
  EXPECT_EQ(sc.selinux_options().type(), "container_t");
  EXPECT_EQ(sc.selinux_options().level(), "") << "the container's SELinux options replace the pod's whole";
  // fsGroup, supplementalGroups, then the volumes' groups (the sandbox orders them differently).
  EXPECT_EQ(ints(sc.supplemental_groups()), (std::vector<int64_t>{2000, 3000, 4000}));

  // The pod's user applies when the container sets none; the image user is not used.
  pod["spec"]["containers"][0]["securityContext"].erase("runAsUser");
  EXPECT_EQ(containerConfigOf(pod, 0, opts).linux().security_context().run_as_user().value(), 1000);
  // Without any runAsUser the image's username goes to the runtime.
  pod["spec"]["securityContext"].erase("runAsUser");
  const auto sc2 = containerConfigOf(pod, 0, opts).linux().security_context();
  EXPECT_FALSE(sc2.has_run_as_user());
  EXPECT_EQ(sc2.run_as_username(), "www-data");
}

TEST(ContainerSecurity, PrivilegedAndProcMount) {
  json pod = podWith({{"securityContext", {{"privileged", true}, {"allowPrivilegeEscalation", true}}}});
  auto sc = containerConfigOf(pod).linux().security_context();
  EXPECT_TRUE(sc.privileged());
  EXPECT_FALSE(sc.no_new_privs());
  EXPECT_EQ(sc.masked_paths_size(), 12) << "the kubelet sends the lists for privileged containers too";
  pod = podWith({{"securityContext", {{"procMount", "Unmasked"}}}});
  sc = containerConfigOf(pod).linux().security_context();
  EXPECT_TRUE(sc.masked_paths().empty());
  EXPECT_TRUE(sc.readonly_paths().empty());

  NodeSettings node = testNode();
  node.extraMaskedPaths = {"/sys/devices/system/cpu/cpu0/thermal_throttle"};
  sc = containerConfigOf(podWith({}), 0, basicOptions(), node).linux().security_context();
  ASSERT_EQ(sc.masked_paths_size(), 13);
  EXPECT_EQ(sc.masked_paths(12), "/sys/devices/system/cpu/cpu0/thermal_throttle");
}

TEST(ContainerSecurity, Seccomp) {
  NodeSettings node = testNode();
  auto seccompOf = [&](const json& pod) { return containerConfigOf(pod, 0, basicOptions(), node).linux().security_context().seccomp(); };
  EXPECT_EQ(seccompOf(podWith({})).profile_type(), ::runtime::v1::SecurityProfile::Unconfined);
  node.seccompDefault = true;
  EXPECT_EQ(seccompOf(podWith({})).profile_type(), ::runtime::v1::SecurityProfile::RuntimeDefault);
  node.seccompDefault = false;

  json pod = podWith({}, {{"securityContext", {{"seccompProfile", {{"type", "RuntimeDefault"}}}}}});
  EXPECT_EQ(seccompOf(pod).profile_type(), ::runtime::v1::SecurityProfile::RuntimeDefault);
  pod["spec"]["containers"][0]["securityContext"] = {
      {"seccompProfile", {{"type", "Localhost"}, {"localhostProfile", "profiles/../audit.json"}}}};
  auto p = seccompOf(pod);
  EXPECT_EQ(p.profile_type(), ::runtime::v1::SecurityProfile::Localhost);
  EXPECT_EQ(p.localhost_ref(), "/var/lib/kubelet/seccomp/audit.json");
  pod["spec"]["containers"][0]["securityContext"] = {{"seccompProfile", {{"type", "Unconfined"}}}};
  EXPECT_EQ(seccompOf(pod).profile_type(), ::runtime::v1::SecurityProfile::Unconfined);

  pod["spec"]["containers"][0]["securityContext"] = {{"seccompProfile", {{"type", "Localhost"}}}};
  auto c = makeContainerConfig(pod, containerOf(pod), node, basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("localhostProfile must be set if seccompProfile type is Localhost."),
            std::string::npos);
  EXPECT_NE(c.status().message().find("container \"c\""), std::string::npos);
}

TEST(ContainerSecurity, AppArmor) {
  auto sc = containerConfigOf(podWith({{"securityContext", {{"appArmorProfile", {{"type", "RuntimeDefault"}}}}}}))
                .linux()
                .security_context();
  EXPECT_EQ(sc.apparmor().profile_type(), ::runtime::v1::SecurityProfile::RuntimeDefault);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_EQ(sc.apparmor_profile(), "runtime/default");

  json pod = podWith({}, {{"securityContext", {{"appArmorProfile", {{"type", "Unconfined"}}}}}});
  pod["metadata"]["annotations"] = {{"container.apparmor.security.beta.kubernetes.io/c", "localhost/k8s-nginx"}};
  sc = containerConfigOf(pod).linux().security_context();
  EXPECT_EQ(sc.apparmor().profile_type(), ::runtime::v1::SecurityProfile::Localhost);
  EXPECT_EQ(sc.apparmor().localhost_ref(), "k8s-nginx");
  EXPECT_EQ(sc.apparmor_profile(), "localhost/k8s-nginx");

  pod["metadata"].erase("annotations");
  sc = containerConfigOf(pod).linux().security_context();
  EXPECT_EQ(sc.apparmor_profile(), "unconfined");
#pragma GCC diagnostic pop

  pod = podWith({{"securityContext", {{"appArmorProfile", {{"type", "Localhost"}}}}}});
  auto c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("missing localhost apparmor profile name"), std::string::npos);
}

TEST(ContainerSecurity, EphemeralContainerTargetsAnotherContainersPidNamespace) {
  json pod = webPod();
  pod["spec"]["ephemeralContainers"] = json::parse(R"([{"name": "debug", "image": "busybox", "targetContainerName": "app"}])");
  ContainerOptions opts = basicOptions();
  opts.targetContainerId = "0123abcd";
  auto c = makeContainerConfig(pod, pod["spec"]["ephemeralContainers"][0], testNode(), opts);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->linux().security_context().namespace_options().pid(), ::runtime::v1::TARGET);
  EXPECT_EQ(c->linux().security_context().namespace_options().target_id(), "0123abcd");

  pod["spec"]["shareProcessNamespace"] = true;
  c = makeContainerConfig(pod, pod["spec"]["ephemeralContainers"][0], testNode(), opts);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->linux().security_context().namespace_options().pid(), ::runtime::v1::POD);
}

TEST(ContainerResources, OomScoreAdjByQos) {
  auto oomOf = [](const json& pod, size_t i = 0) {
    return containerConfigOf(pod, i).linux().resources().oom_score_adj();
  };
  EXPECT_EQ(oomOf(podWith({{"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}})), -997);
  EXPECT_EQ(oomOf(podWith({})), 1000);
  EXPECT_EQ(oomOf(podWith({{"resources", {{"requests", {{"memory", "4Gi"}}}}}})), 500);
  EXPECT_EQ(oomOf(podWith({{"resources", {{"requests", {{"memory", "8Gi"}}}}}})), 3) << "never below Guaranteed's";
  EXPECT_EQ(oomOf(podWith({{"resources", {{"requests", {{"memory", "1Ki"}}}}}})), 999) << "never BestEffort's";

  // A static system-node-critical pod is treated as Guaranteed.
  json pod = podWith({{"resources", {{"requests", {{"memory", "100Mi"}}}}}}, {{"priorityClassName", "system-node-critical"}});
  pod["metadata"]["annotations"] = {{"kubernetes.io/config.source", "file"}};
  EXPECT_EQ(oomOf(pod), -997);
  pod["metadata"]["annotations"] = {{"kubernetes.io/config.source", "api"}};
  EXPECT_NE(oomOf(pod), -997);
  pod["spec"]["priority"] = 2000001000;
  EXPECT_EQ(oomOf(pod), -997);
}

TEST(ContainerResources, SidecarsAreKilledNoLaterThanTheSmallestRegularContainer) {
  json pod = json::parse(R"json({
    "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
    "spec": {
      "initContainers": [{"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                          "resources": {"requests": {"memory": "100Mi"}}}],
      "containers": [{"name": "app", "image": "a", "resources": {"requests": {"memory": "1Gi"}}},
                     {"name": "big", "image": "b", "resources": {"requests": {"memory": "2Gi"}}}]}})json");
  auto c = makeContainerConfig(pod, pod["spec"]["initContainers"][0], testNode(), basicOptions());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->linux().resources().oom_score_adj(), 875);  // not 988
  EXPECT_EQ(containerConfigOf(pod, 1).linux().resources().oom_score_adj(), 750);
}

TEST(ContainerResources, PodLevelMemoryRequestIsSharedForOomScore) {
  json pod = json::parse(R"json({
    "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
    "spec": {
      "resources": {"requests": {"memory": "4Gi"}},
      "containers": [{"name": "a", "image": "a", "resources": {"requests": {"memory": "1Gi"}}},
                     {"name": "b", "image": "b"}]}})json");
  // (4Gi - 1Gi) / 2 containers = 1.5Gi extra each: 1000 - 1000 * 2.5Gi / 8Gi = 688.
  EXPECT_EQ(containerConfigOf(pod, 0).linux().resources().oom_score_adj(), 688);
  EXPECT_EQ(containerConfigOf(pod, 1).linux().resources().oom_score_adj(), 813);
}

TEST(ContainerResources, UnknownMemoryCapacityFailsForBurstable) {
  NodeSettings node = testNode();
  node.memoryCapacity = 0;
  json pod = podWith({{"resources", {{"requests", {{"memory", "1Gi"}}}}}});
  auto c = makeContainerConfig(pod, containerOf(pod), node, basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("memory capacity"), std::string::npos);
  EXPECT_TRUE(makeContainerConfig(podWith({}), containerOf(podWith({})), node, basicOptions()).ok())
      << "BestEffort needs no capacity";
}

TEST(ContainerResources, CpuSharesQuotaAndPodLevelLimits) {
  // No cpu request: shares follow the limit, here the pod-level one.
  json pod = podWith({}, {{"resources", {{"limits", {{"cpu", "2"}}}}}});
  auto r = containerConfigOf(pod).linux().resources();
  EXPECT_EQ(r.cpu_shares(), 2048);
  EXPECT_EQ(r.cpu_quota(), 200000);
  // A limit without a request gets the request from API defaulting.
  pod = podWith({{"resources", {{"limits", {{"cpu", "2"}}}}}});
  EXPECT_EQ(containerConfigOf(pod).linux().resources().cpu_shares(), 2048);

  // Tiny values are clamped: 1m -> 2 shares, quota at least 1ms.
  pod = podWith({{"resources", {{"requests", {{"cpu", "1m"}}}, {"limits", {{"cpu", "5m"}}}}}});
  r = containerConfigOf(pod).linux().resources();
  EXPECT_EQ(r.cpu_shares(), 2);
  EXPECT_EQ(r.cpu_quota(), 1000);
  pod = podWith({{"resources", {{"requests", {{"cpu", "1000"}}}}}});
  EXPECT_EQ(containerConfigOf(pod).linux().resources().cpu_shares(), 262144);

  // Pod-level limits stand in for unset container limits.
  pod = podWith({{"resources", {{"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}}}}},
                {{"resources", {{"limits", {{"cpu", "1"}, {"memory", "256Mi"}}}}}});
  r = containerConfigOf(pod).linux().resources();
  EXPECT_EQ(r.cpu_shares(), 102);
  EXPECT_EQ(r.cpu_quota(), 100000);
  EXPECT_EQ(r.memory_limit_in_bytes(), 256 * kMi);

  ContainerOptions opts = basicOptions();
  opts.exclusiveCpus = true;
  EXPECT_EQ(containerConfigOf(pod, 0, opts).linux().resources().cpu_quota(), -1);
}

TEST(ContainerResources, HugepagesSwapAndCgroupV2) {
  NodeSettings node = testNode();
  node.hugePageSizes = {"2MB", "1GB"};
  node.swapControllerAvailable = true;
  json pod = podWith({{"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}, {"hugepages-2Mi", "8Mi"}}}}}});
  auto r = containerConfigOf(pod, 0, basicOptions(), node).linux().resources();
  ASSERT_EQ(r.hugepage_limits_size(), 2);
  EXPECT_EQ(r.hugepage_limits(0).page_size(), "2MB");
  EXPECT_EQ(r.hugepage_limits(0).limit(), uint64_t{8} << 20);
  EXPECT_EQ(r.hugepage_limits(1).page_size(), "1GB");
  EXPECT_EQ(r.hugepage_limits(1).limit(), 0u);
  EXPECT_EQ(r.memory_swap_limit_in_bytes(), kGi) << "cgroup v1 NoSwap: swap limit = memory limit";
  EXPECT_TRUE(r.unified().empty());

  // Pod-level hugepages apply where the container sets none.
  pod = podWith({}, {{"resources", {{"limits", {{"hugepages-1Gi", "2Gi"}}}}}});
  r = containerConfigOf(pod, 0, basicOptions(), node).linux().resources();
  EXPECT_EQ(r.hugepage_limits(1).limit(), uint64_t{2} << 30);

  node.cgroupV2 = true;
  r = containerConfigOf(podWith({}), 0, basicOptions(), node).linux().resources();
  EXPECT_EQ(r.unified().at("memory.swap.max"), "0");
  EXPECT_EQ(r.unified().at("memory.high"), "max");
  EXPECT_EQ(r.unified().count("memory.oom.group"), 0u);
}

TEST(ContainerConfig, LifecycleAndGraceAnnotations) {
  json pod = podWith({{"lifecycle", json::parse(R"({"preStop": {"httpGet": {"port": "http", "httpHeaders": [{"name": "X-Stop", "value": "1"}]}},
                                                    "postStart": {"exec": {"command": ["true"]}}})")},
                      {"ports", json::parse(R"([{"name": "http", "containerPort": 8080}])")}},
                     {{"terminationGracePeriodSeconds", -5}});
  pod["metadata"]["deletionGracePeriodSeconds"] = 12;
  auto c = containerConfigOf(pod);
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.preStopHandler"),
            R"({"httpGet":{"path":"/","port":"http","scheme":"HTTP","httpHeaders":[{"name":"X-Stop","value":"1"}]}})");
  EXPECT_EQ(c.annotations().at("io.kubernetes.container.ports"), R"([{"name":"http","containerPort":8080,"protocol":"TCP"}])");
  EXPECT_EQ(c.annotations().at("io.kubernetes.pod.deletionGracePeriod"), "12");
  EXPECT_EQ(c.annotations().at("io.kubernetes.pod.terminationGracePeriod"), "1") << "negative grace becomes 1";

  pod = podWith({{"lifecycle", json::parse(R"({"preStop": {"exec": {"command": ["/bin/sh", "-c", "nginx -s quit; sleep 5"]}}})")}});
  EXPECT_EQ(containerConfigOf(pod).annotations().at("io.kubernetes.container.preStopHandler"),
            R"({"exec":{"command":["/bin/sh","-c","nginx -s quit; sleep 5"]}})");
  pod = podWith({{"lifecycle", json::parse(R"({"preStop": {"sleep": {"seconds": 10}, "tcpSocket": {"port": 80, "host": "localhost"}}})")}});
  EXPECT_EQ(containerConfigOf(pod).annotations().at("io.kubernetes.container.preStopHandler"),
            R"({"tcpSocket":{"port":80,"host":"localhost"},"sleep":{"seconds":10}})");
}

TEST(ContainerConfig, TerminationMessageMount) {
  json pod = podWith({{"terminationMessagePath", "/tmp/msg"}});
  ContainerOptions opts = basicOptions();
  opts.terminationMessageHostPath = "/var/lib/kubelet/pods/u-1/containers/c/1a2b3c4d";
  NodeSettings node = testNode();
  node.selinuxEnabled = true;
  auto c = containerConfigOf(pod, 0, opts, node);
  ASSERT_EQ(c.mounts_size(), 1);
  EXPECT_EQ(c.mounts(0).host_path(), "/var/lib/kubelet/pods/u-1/containers/c/1a2b3c4d");
  EXPECT_EQ(c.mounts(0).container_path(), "/tmp/msg");
  EXPECT_TRUE(c.mounts(0).selinux_relabel());
  EXPECT_FALSE(c.mounts(0).readonly());
}

// ---------------------------------------------------------------------------------------
// The pod's managed /etc/hosts

// The lines every pod-network hosts file starts with (upstream's, tab separated).
constexpr char kHostsPreamble[] =
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n";

std::string hostsOf(const json& pod, const std::vector<std::string>& podIps, std::string_view nodeHosts = "") {
  auto content = managedHostsFile(pod, testNode(), podIps, nodeHosts);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.value_or("<error>");
}

TEST(HostsFile, PodNetworkLinesForEachIpWithThePodsHostname) {
  EXPECT_EQ(hostsOf(webPod(), {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\tweb\n");
  // Every IP, in the order given (the sandbox's), whatever the node's family.
  EXPECT_EQ(hostsOf(webPod(), {"fd00::7", "10.244.1.7"}),
            std::string(kHostsPreamble) + "fd00::7\tweb\n10.244.1.7\tweb\n");
  EXPECT_EQ(hostsOf(webPod(), {}), kHostsPreamble);

  json pod = webPod();
  pod["spec"]["hostname"] = "www";
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\twww\n");
}

TEST(HostsFile, SubdomainPutsTheFqdnFirst) {
  json pod = webPod();
  pod["spec"]["hostname"] = "www";
  pod["spec"]["subdomain"] = "frontends";
  const std::string fqdn = "www.frontends.default.svc.cluster.local";
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7", "fd00::7"}),
            std::string(kHostsPreamble) + "10.244.1.7\t" + fqdn + "\twww\nfd00::7\t" + fqdn + "\twww\n");
  pod["spec"]["setHostnameAsFQDN"] = true;
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\t" + fqdn + "\twww\n")
      << "setHostnameAsFQDN changes the kernel hostname only";

  // A hostnameOverride has no domain; a long name is cut as for the sandbox's hostname.
  pod["spec"]["hostnameOverride"] = "custom.host.example";
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\tcustom.host.example\n");
  pod = webPod();
  pod["metadata"]["name"] = std::string(62, 'a') + "-bcdef";
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\t" + std::string(62, 'a') + "\n");
}

TEST(HostsFile, HostAliasesBlockHasOneLinePerAlias) {
  json pod = webPod();
  pod["spec"]["hostAliases"] = json::parse(R"([
      {"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
      {"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]},
      {"ip": "fd00::53", "hostnames": ["v6.example"]}])");
  const std::string block =
      "\n# Entries added by HostAliases.\n"
      "127.0.0.1\tfoo.local\tbar.local\n"
      "10.1.2.3\tfoo.remote\tbar.remote\n"
      "fd00::53\tv6.example\n";
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\tweb\n" + block);
  // The ip is written as given; an alias without names still gets its line.
  pod["spec"]["hostAliases"] = json::parse(R"([{"ip": "10.0.0.1"}])");
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}),
            std::string(kHostsPreamble) + "10.244.1.7\tweb\n\n# Entries added by HostAliases.\n10.0.0.1\t\n");
  pod["spec"]["hostAliases"] = json::array();
  EXPECT_EQ(hostsOf(pod, {"10.244.1.7"}), std::string(kHostsPreamble) + "10.244.1.7\tweb\n");
}

TEST(HostsFile, HostNetworkTakesTheNodesFileAsItIs) {
  json pod = webPod();
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["hostname"] = "ignored";
  pod["spec"]["subdomain"] = "ignored";
  const std::string node = "127.0.0.1 localhost\n# a comment\n192.168.1.10  node-1 node-1.example\n";
  EXPECT_EQ(hostsOf(pod, {"192.168.1.10"}, node), "# Kubernetes-managed hosts file (host network).\n" + node);
  EXPECT_EQ(hostsOf(pod, {}, node), "# Kubernetes-managed hosts file (host network).\n" + node);
  // Nothing is added between the node's last line and the aliases, even without its newline.
  pod["spec"]["hostAliases"] = json::parse(R"([{"ip": "10.1.2.3", "hostnames": ["db.example"]}])");
  EXPECT_EQ(hostsOf(pod, {}, "127.0.0.1 localhost"),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost"
            "\n# Entries added by HostAliases.\n10.1.2.3\tdb.example\n");
  EXPECT_EQ(hostsOf(pod, {}, ""),
            "# Kubernetes-managed hosts file (host network).\n"
            "\n# Entries added by HostAliases.\n10.1.2.3\tdb.example\n");
}

TEST(HostsFile, BadAliasesAndHostnamesAreErrorsNamingTheField) {
  struct Case {
    json spec;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"hostAliases", "10.0.0.1 foo"}}, "spec.hostAliases: expected an array, got string"},
      {{{"hostAliases", {"10.0.0.1"}}}, "spec.hostAliases[0]: expected an object, got string"},
      {{{"hostAliases", {{{"ip", "10.0.0.1"}, {"hostnames", {"a"}}}, {{"ip", 10}}}}},
       "spec.hostAliases[1].ip: expected a string, got number"},
      {{{"hostAliases", {{{"ip", "10.0.0.1"}, {"hostnames", "a b"}}}}},
       "spec.hostAliases[0].hostnames: expected an array, got string"},
      {{{"hostAliases", {{{"ip", "10.0.0.1"}, {"hostnames", {"a", nullptr}}}}}},
       "spec.hostAliases[0].hostnames[1]: expected a string, got null"},
      {{{"hostAliases", {{{"ip", "10.0.0.1"}}, {{"ip", "10.0.0.256"}, {"hostnames", {"a"}}}}}},
       "spec.hostAliases[1].ip: Invalid value: \"10.0.0.256\": must be a valid IP address"},
      {{{"hostAliases", {{{"hostnames", {"a"}}}}}}, "spec.hostAliases[0].ip: Invalid value: \"\""},
      {{{"hostAliases", {{{"ip", "10.0.0.1\n10.6.6.6 evil"}}}}}, "spec.hostAliases[0].ip: Invalid value"},
      {{{"hostAliases", {{{"ip", "10.0.0.1"}, {"hostnames", {"ok.example", "two\twords"}}}}}},
       "spec.hostAliases[0].hostnames[1]: Invalid value: \"two\\twords\": a lowercase RFC 1123 subdomain"},
      {{{"hostAliases", {{{"ip", "10.0.0.1"}, {"hostnames", {""}}}}}},
       "spec.hostAliases[0].hostnames[0]: Invalid value: \"\""},
      {{{"hostname", "Not_A_Label"}}, "pod Hostname \"Not_A_Label\" is not a valid DNS label"},
  };
  for (const Case& tc : cases) {
    json pod = podWith({}, tc.spec);
    auto content = managedHostsFile(pod, testNode(), {"10.244.1.7"}, "");
    ASSERT_FALSE(content.ok()) << tc.message;
    EXPECT_EQ(content.status().code(), absl::StatusCode::kInvalidArgument) << content.status();
    EXPECT_NE(content.status().message().find(tc.message), std::string::npos) << content.status();
    EXPECT_NE(content.status().message().find("pod \"ns/p\""), std::string::npos) << content.status();
  }
  // The same pods on the node's network fail the same way.
  json pod = podWith({}, {{"hostNetwork", true}, {"hostAliases", {{{"ip", "nope"}}}}});
  EXPECT_FALSE(managedHostsFile(pod, testNode(), {}, "").ok());
}

TEST(HostsFile, WhichContainersGetIt) {
  auto uses = [](const json& pod, const json& container, const std::vector<std::string>& ips) {
    auto r = usesManagedHostsFile(pod, container, ips);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(false);
  };
  json pod = webPod();
  pod["spec"]["initContainers"] = json::parse(R"([{"name": "init", "image": "i"},
      {"name": "sidecar", "image": "s", "restartPolicy": "Always"}])");
  EXPECT_TRUE(uses(pod, containerOf(pod), {"10.244.1.7"}));
  EXPECT_TRUE(uses(pod, pod["spec"]["initContainers"][0], {"10.244.1.7"}));
  EXPECT_TRUE(uses(pod, pod["spec"]["initContainers"][1], {"10.244.1.7"}));
  EXPECT_FALSE(uses(pod, containerOf(pod), {})) << "not before the pod has an IP";
  pod["spec"]["hostNetwork"] = true;
  EXPECT_TRUE(uses(pod, containerOf(pod), {})) << "a host-network pod needs no IP of its own";

  // A container that mounts something at /etc/hosts keeps it; its neighbours still get the file.
  pod = webPod();
  pod["spec"]["containers"][0]["volumeMounts"] = json::parse(R"([{"name": "data", "mountPath": "/data"},
      {"name": "hosts", "mountPath": "/etc/hosts"}])");
  EXPECT_FALSE(uses(pod, containerOf(pod, 0), {"10.244.1.7"}));
  EXPECT_TRUE(uses(pod, containerOf(pod, 1), {"10.244.1.7"}));
  pod["spec"]["hostNetwork"] = true;
  EXPECT_FALSE(uses(pod, containerOf(pod, 0), {}));
  // Upstream compares the path as written.
  pod["spec"]["containers"][0]["volumeMounts"][1]["mountPath"] = "/etc/hosts/";
  EXPECT_TRUE(uses(pod, containerOf(pod, 0), {}));
  pod["spec"]["containers"][0]["volumeMounts"][1]["mountPath"] = 7;
  auto r = usesManagedHostsFile(pod, containerOf(pod, 0), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("spec.containers[0].volumeMounts[1].mountPath: expected a string"),
            std::string::npos)
      << r.status();
}

TEST(HostsFile, MountedReadWriteBeforeTheTerminationMessage) {
  json pod = webPod();
  ContainerOptions opts = basicOptions();
  opts.etcHostsHostPath = "/var/lib/kubelet/pods/4f1b7c2e-1111-2222-3333-444455556666/etc-hosts";
  opts.terminationMessageHostPath = "/var/lib/kubelet/pods/4f1b7c2e-1111-2222-3333-444455556666/containers/app/1a2b";
  auto c = containerConfigOf(pod, 0, opts);
  ASSERT_EQ(c.mounts_size(), 2);
  EXPECT_EQ(c.mounts(0).host_path(), opts.etcHostsHostPath);
  EXPECT_EQ(c.mounts(0).container_path(), "/etc/hosts");
  EXPECT_FALSE(c.mounts(0).readonly());
  EXPECT_FALSE(c.mounts(0).selinux_relabel()) << "relabeled only where SELinux is on";
  EXPECT_EQ(c.mounts(0).propagation(), ::runtime::v1::PROPAGATION_PRIVATE);
  EXPECT_EQ(c.mounts(1).container_path(), "/dev/termination-log");

  NodeSettings node = testNode();
  node.selinuxEnabled = true;
  EXPECT_TRUE(containerConfigOf(pod, 0, opts, node).mounts(0).selinux_relabel());

  // Not over a volume the container mounts there.
  pod["spec"]["containers"][0]["volumeMounts"] = json::parse(R"([{"name": "hosts", "mountPath": "/etc/hosts"}])");
  c = containerConfigOf(pod, 0, opts);
  ASSERT_EQ(c.mounts_size(), 1);
  EXPECT_EQ(c.mounts(0).container_path(), "/dev/termination-log");
}

TEST(HostsFile, MountsAreIdMappedIntoThePodsUserNamespace) {
  json pod = webPod();
  pod["spec"]["hostUsers"] = false;
  ContainerOptions opts = basicOptions();
  ::runtime::v1::UserNamespace userns;
  userns.set_mode(::runtime::v1::POD);
  auto* m = userns.add_uids();
  m->set_host_id(65536);
  m->set_container_id(0);
  m->set_length(65536);
  *userns.add_gids() = *m;
  opts.userNamespace = userns;
  opts.etcHostsHostPath = "/pods/u/etc-hosts";
  opts.terminationMessageHostPath = "/pods/u/containers/app/1a2b";
  auto c = containerConfigOf(pod, 0, opts);
  ASSERT_EQ(c.mounts_size(), 2);
  for (const auto& mount : c.mounts()) {
    ASSERT_EQ(mount.uidmappings_size(), 1) << mount.container_path();
    EXPECT_EQ(mount.uidmappings(0).host_id(), 65536u);
    ASSERT_EQ(mount.gidmappings_size(), 1) << mount.container_path();
    EXPECT_EQ(mount.gidmappings(0).length(), 65536u);
  }
  pod["spec"]["hostUsers"] = true;
  c = containerConfigOf(pod, 0, opts);
  ASSERT_EQ(c.mounts_size(), 2);
  EXPECT_EQ(c.mounts(0).uidmappings_size(), 0);
}

TEST(ContainerConfig, MalformedContainersAreInvalidArgument) {
  struct Case {
    json fields;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"env", {{{"name", "A"}, {"value", 5}}}}}, "spec.containers[0].env[0].value: expected a string, got number"},
      {{{"env", "A=1"}}, "spec.containers[0].env: expected an array, got string"},
      {{{"command", {"sh", 1}}}, "spec.containers[0].command[1]: expected a string, got number"},
      {{{"securityContext", {{"runAsUser", "root"}}}}, "spec.containers[0].securityContext.runAsUser: expected an integer"},
      {{{"securityContext", {{"capabilities", {{"add", "NET_ADMIN"}}}}}},
       "spec.containers[0].securityContext.capabilities.add: expected an array"},
      {{{"lifecycle", {{"preStop", {{"httpGet", {{"port", true}}}}}}}},
       "spec.containers[0].lifecycle.preStop.httpGet.port: expected an integer, got boolean"},
      {{{"env", {{{"name", "D"}, {"valueFrom", {{"resourceFieldRef", {{"resource", "limits.cpu"}, {"divisor", "x1"}}}}}}}}},
       "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor"},
      {{{"tty", 1}}, "spec.containers[0].tty: expected a boolean, got number"},
  };
  for (const Case& tc : cases) {
    json pod = podWith(tc.fields);
    auto c = makeContainerConfig(pod, containerOf(pod), testNode(), basicOptions());
    ASSERT_FALSE(c.ok()) << tc.message;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    EXPECT_NE(c.status().message().find(tc.message), std::string::npos) << c.status();
  }
  // A container that is not part of the pod is named by its name.
  json pod = podWith({});
  json stray = {{"name", "stray"}, {"stdin", "yes"}};
  auto c = makeContainerConfig(pod, stray, testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("container \"stray\".stdin: expected a boolean"), std::string::npos)
      << c.status();
  c = makeContainerConfig(pod, json("not a container"), testNode(), basicOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
}

// Every value of a realistic pod, replaced in turn by each JSON type: the functions return
// OK or an error status, and never throw.
void collectPaths(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) collectPaths(v, at / k, out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) collectPaths(j[i], at / i, out);
  }
}

TEST(Robustness, WrongTypesAnywhereNeverThrow) {
  json base = webPod();
  base["spec"]["initContainers"] = json::parse(R"j([{"name": "init", "image": "i", "restartPolicy": "Always",
      "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}, "seccompProfile": {"type": "RuntimeDefault"}},
      "lifecycle": {"preStop": {"httpGet": {"port": 80, "httpHeaders": [{"name": "a", "value": "b"}]}}},
      "env": [{"name": "L", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}],
      "envFrom": [{"prefix": "P_", "configMapRef": {"name": "cm", "optional": true}}]}])j");
  base["spec"]["securityContext"] = json::parse(R"j({"runAsUser": 1, "fsGroup": 2, "supplementalGroups": [3],
      "sysctls": [{"name": "a", "value": "b"}], "seLinuxOptions": {"level": "s0"}})j");
  base["spec"]["dnsConfig"] = json::parse(R"j({"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "1"}]})j");
  base["spec"]["resources"] = json::parse(R"j({"limits": {"cpu": "2"}})j");
  base["spec"]["overhead"] = json::parse(R"j({"cpu": "10m"})j");
  base["spec"]["hostAliases"] = json::parse(R"j([{"ip": "10.0.0.1", "hostnames": ["a.example", "b.example"]}])j");
  base["spec"]["containers"][0]["volumeMounts"] = json::parse(R"j([{"name": "v", "mountPath": "/etc/hosts"}])j");
  std::vector<json::json_pointer> paths;
  collectPaths(base, json::json_pointer(), paths);
  const std::vector<json> replacements = {nullptr, true, 7, -1, 2.5, "text", json::array({1, "x"}),
                                          json::object({{"k", "v"}}), 99999999999999};
  ContainerOptions opts = basicOptions();
  opts.envSources.configMap = [](const std::string&) -> absl::StatusOr<std::map<std::string, std::string>> {
    return std::map<std::string, std::string>{{"K", "V"}};
  };
  size_t runs = 0;
  for (const auto& path : paths) {
    for (const json& r : replacements) {
      json pod = base;
      pod[path] = r;
      SCOPED_TRACE(path.to_string() + " = " + r.dump());
      auto check = [](const absl::Status& st) {
        EXPECT_TRUE(st.ok() || st.code() == absl::StatusCode::kInvalidArgument ||
                    st.code() == absl::StatusCode::kFailedPrecondition)
            << st;
      };
      EXPECT_NO_THROW({
        check(qosClass(pod).status());
        check(makeSandboxConfig(pod, testNode()).status());
        const json& containers = objects::array(pod, {"spec", "containers"});
        const json& inits = objects::array(pod, {"spec", "initContainers"});
        for (const json& c : containers) check(makeContainerConfig(pod, c, testNode(), opts).status());
        for (const json& c : inits) check(makeContainerConfig(pod, c, testNode(), opts).status());
        for (const json& c : containers) check(usesManagedHostsFile(pod, c, {"10.244.1.7"}).status());
        check(managedHostsFile(pod, testNode(), {"10.244.1.7"}, "127.0.0.1 localhost\n").status());
        check(containerHash(objects::object(pod, {"spec"})).status());
        ++runs;
      });
    }
  }
  EXPECT_GT(runs, 1000u);
}

// ---------------------------------------------------------------------------------------
// Helpers with their own quirks

TEST(Helpers, ParseIpAndSort) {
  EXPECT_EQ(podenv::parseIp("010.001.000.255")->text, "10.1.0.255");
  EXPECT_TRUE(podenv::parseIp("::ffff:10.0.0.1")->v4);
  EXPECT_EQ(podenv::parseIp("::ffff:10.0.0.1")->text, "10.0.0.1");
  EXPECT_EQ(podenv::parseIp("2001:DB8:0:0:1:0:0:1")->text, "2001:db8::1:0:0:1");
  EXPECT_EQ(podenv::parseIp("2001:db8:0:1:1:1:1:1")->text, "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(podenv::parseIp("::")->text, "::");
  EXPECT_FALSE(podenv::parseIp("256.1.1.1"));
  EXPECT_FALSE(podenv::parseIp("1.2.3"));
  EXPECT_FALSE(podenv::parseIp("fe80::1%eth0"));
  EXPECT_EQ(podenv::sortPodIps({"fd00::1", "bogus", "10.0.0.1", "10.0.0.2"}, {}),
            (std::vector<std::string>{"10.0.0.1", "fd00::1"}));
}

TEST(Helpers, QualifiedNamesAndPaths) {
  EXPECT_TRUE(podenv::isQualifiedName("app"));
  EXPECT_TRUE(podenv::isQualifiedName("example.com/my_key-1.x"));
  EXPECT_FALSE(podenv::isQualifiedName("/key"));
  EXPECT_FALSE(podenv::isQualifiedName("Example.com/key"));
  EXPECT_FALSE(podenv::isQualifiedName("key-"));
  EXPECT_FALSE(podenv::isQualifiedName(std::string(64, 'k')));
  EXPECT_FALSE(podenv::isQualifiedName("a/b/c"));
  EXPECT_EQ(podsec::joinPath("/var/lib/kubelet/seccomp", "../../etc/x"), "/var/lib/etc/x");
  EXPECT_EQ(podsec::joinPath("/", "../.."), "/");
  EXPECT_EQ(podsec::joinPath("a", "./b//c/"), "a/b/c");
  EXPECT_EQ(podenv::formatMap({{"b", "x\"y"}, {"a", "1"}}), "a=\"1\"\nb=\"x\\\"y\"");
}

}  // namespace
}  // namespace cubelet::runtime
