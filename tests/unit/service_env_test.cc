#include "kubelet/runtime/service_env.h"

#include <gtest/gtest.h>

namespace cubelet::runtime {
namespace {

using nlohmann::json;

json service(const std::string& ns, const std::string& name, const std::string& clusterIp, json ports) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}}, {"spec", {{"clusterIP", clusterIp}, {"ports", ports}}}};
}

json kubernetesService() {
  return service("default", "kubernetes", "10.96.0.1", json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}}}));
}

TEST(ServiceEnv, MasterServiceVariables) {
  auto env = serviceEnvVars({serviceInfoFromJson(kubernetesService())});
  EXPECT_EQ(env, (std::map<std::string, std::string>{
                     {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                     {"KUBERNETES_SERVICE_PORT", "443"},
                     {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
                     {"KUBERNETES_PORT", "tcp://10.96.0.1:443"},
                     {"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"},
                     {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
                     {"KUBERNETES_PORT_443_TCP_PORT", "443"},
                     {"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"},
                 }));
}

TEST(ServiceEnv, DashesUppercaseDefaultProtocolAndSeveralPorts) {
  auto env = serviceEnvVars({serviceInfoFromJson(service(
      "ns1", "fooservice-x", "10.0.0.7",
      json::array({{{"port", 8765}}, {{"name", "dns-udp"}, {"port", 53}, {"protocol", "UDP"}}})))});
  EXPECT_EQ(env["FOOSERVICE_X_SERVICE_HOST"], "10.0.0.7");
  EXPECT_EQ(env["FOOSERVICE_X_SERVICE_PORT"], "8765");
  EXPECT_EQ(env["FOOSERVICE_X_SERVICE_PORT_DNS_UDP"], "53");
  EXPECT_EQ(env["FOOSERVICE_X_PORT"], "tcp://10.0.0.7:8765");
  EXPECT_EQ(env["FOOSERVICE_X_PORT_8765_TCP"], "tcp://10.0.0.7:8765");
  EXPECT_EQ(env["FOOSERVICE_X_PORT_53_UDP"], "udp://10.0.0.7:53");
  EXPECT_EQ(env["FOOSERVICE_X_PORT_53_UDP_PROTO"], "udp");
  EXPECT_EQ(env["FOOSERVICE_X_PORT_53_UDP_ADDR"], "10.0.0.7");
  EXPECT_EQ(env.size(), 12u);
}

TEST(ServiceEnv, Ipv6AddressIsBracketedInUrls) {
  auto env = serviceEnvVars({serviceInfoFromJson(service("a", "v6", "fd00::10", json::array({{{"port", 80}}})))});
  EXPECT_EQ(env["V6_SERVICE_HOST"], "fd00::10");
  EXPECT_EQ(env["V6_PORT"], "tcp://[fd00::10]:80");
}

TEST(ServiceEnv, HeadlessAndExternalNameServicesGiveNothing) {
  json external = {{"metadata", {{"namespace", "a"}, {"name", "ext"}}},
                   {"spec", {{"type", "ExternalName"}, {"externalName", "example.invalid"}}}};
  auto env = serviceEnvVars({serviceInfoFromJson(service("a", "headless", "None", json::array({{{"port", 80}}}))),
                             serviceInfoFromJson(external)});
  EXPECT_TRUE(env.empty());
}

TEST(ServiceEnv, PodGetsMasterServiceAlwaysAndItsNamespaceWithLinks) {
  std::vector<ServiceInfo> all = {
      serviceInfoFromJson(kubernetesService()),
      serviceInfoFromJson(service("default", "other", "10.96.0.9", json::array({{{"port", 1}}}))),
      serviceInfoFromJson(service("ns1", "mine", "10.96.1.1", json::array({{{"port", 2}}}))),
      serviceInfoFromJson(service("ns2", "theirs", "10.96.2.2", json::array({{{"port", 3}}}))),
  };
  auto names = [](const std::vector<ServiceInfo>& v) {
    std::vector<std::string> out;
    for (const auto& s : v) out.push_back(s.ns + "/" + s.name);
    return out;
  };
  EXPECT_EQ(names(servicesForPod(all, "ns1", true)), (std::vector<std::string>{"default/kubernetes", "ns1/mine"}));
  EXPECT_EQ(names(servicesForPod(all, "ns1", false)), (std::vector<std::string>{"default/kubernetes"}));
  EXPECT_EQ(names(servicesForPod(all, "default", true)),
            (std::vector<std::string>{"default/kubernetes", "default/other"}));
}

TEST(ServiceEnv, ServiceNamedKubernetesInThePodsNamespaceWins) {
  std::vector<ServiceInfo> all = {
      serviceInfoFromJson(kubernetesService()),
      serviceInfoFromJson(service("ns1", "kubernetes", "10.96.5.5", json::array({{{"port", 80}}}))),
  };
  auto chosen = servicesForPod(all, "ns1", true);
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0].clusterIp, "10.96.5.5");
  chosen = servicesForPod(all, "ns1", false);
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0].clusterIp, "10.96.0.1");
}

TEST(ServiceStore, WaitsForTheFirstListExceptForStaticPods) {
  ServiceStore store;
  auto env = store.envFor("ns1", true, false);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().message(), "services have not yet been read at least once, cannot construct envvars");
  auto forStatic = store.envFor("ns1", true, true);
  ASSERT_TRUE(forStatic.ok());
  EXPECT_TRUE(forStatic->empty());

  store.replace({kubernetesService()});
  env = store.envFor("ns1", true, false);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->at("KUBERNETES_SERVICE_HOST"), "10.96.0.1");
}

TEST(ServiceStore, WatchEventsAddChangeAndDelete) {
  ServiceStore store;
  store.replace({});
  store.apply("ADDED", service("ns1", "web", "10.96.3.3", json::array({{{"port", 80}}})));
  EXPECT_EQ(store.envFor("ns1", true, false)->at("WEB_SERVICE_HOST"), "10.96.3.3");
  store.apply("MODIFIED", service("ns1", "web", "10.96.3.4", json::array({{{"port", 81}}})));
  EXPECT_EQ(store.envFor("ns1", true, false)->at("WEB_SERVICE_PORT"), "81");
  store.apply("DELETED", service("ns1", "web", "10.96.3.4", json::array({{{"port", 81}}})));
  EXPECT_TRUE(store.envFor("ns1", true, false)->empty());
  // A malformed object (no metadata) is ignored.
  store.apply("ADDED", json::array({1, 2}));
  store.apply("ADDED", json{{"spec", "x"}});
  EXPECT_TRUE(store.envFor("ns1", true, false)->empty());
}

}  // namespace
}  // namespace cubelet::runtime
