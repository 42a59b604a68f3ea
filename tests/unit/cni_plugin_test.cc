// Unit tests for cubelet-cni (netlink/cni/): environment and config parsing, result / error
// JSON, host port rules text, installing the plugin and the conflist (temp dirs); and, as
// root, whole ADD / CHECK / DEL runs of the plugin inside throwaway network namespaces: a
// "node" namespace standing in for the host and "pod" namespaces (/run/netns/cnitest-*),
// always removed. Nothing touches the machine's own namespace.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/string_view.h"
#include "base/fd.h"
#include "base/status_macros.h"
#include "base/subprocess.h"
#include "netlink/cni/config.h"
#include "netlink/cni/hostport.h"
#include "netlink/cni/install.h"
#include "netlink/cni/ipam.h"
#include "netlink/cni/plugin.h"
#include "netlink/cni/result.h"
#include "netlink/netns.h"
#include "tests/fakes/test_netns.h"
#include "netlink/nlroute.h"

namespace cubelet::cni {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

::testing::AssertionResult contains(absl::string_view text, absl::string_view part) {
  if (text.find(part) != absl::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

GetEnv envFrom(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cnitest-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------------------------
// Environment.

TEST(CniEnvironment, AddNeedsEveryVariable) {
  auto env = parseEnvironment(envFrom({{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "abc"}, {"CNI_IFNAME", "eth0"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(cniCodeOf(env.status()), ErrorCode::kInvalidEnvironment);
  EXPECT_TRUE(contains(env.status().message(), "CNI_NETNS: required"));
}

TEST(CniEnvironment, DelWithoutNetnsIsFine) {
  auto env = parseEnvironment(envFrom({{"CNI_COMMAND", "DEL"}, {"CNI_CONTAINERID", "abc"}, {"CNI_IFNAME", "eth0"}}));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->command, Command::kDel);
  EXPECT_EQ(env->netns, "");
}

TEST(CniEnvironment, RejectsBadContainerIdAndInterfaceName) {
  auto bad = parseEnvironment(envFrom(
      {{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "-x"}, {"CNI_NETNS", "/run/netns/x"}, {"CNI_IFNAME", "eth0"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "CNI_CONTAINERID"));
  auto longName = parseEnvironment(envFrom({{"CNI_COMMAND", "ADD"},
                                            {"CNI_CONTAINERID", "abc"},
                                            {"CNI_NETNS", "/run/netns/x"},
                                            {"CNI_IFNAME", "a-name-longer-than-15"}}));
  ASSERT_FALSE(longName.ok());
  EXPECT_EQ(cniCodeOf(longName.status()), ErrorCode::kInvalidEnvironment);
  EXPECT_TRUE(contains(longName.status().message(), "CNI_IFNAME"));
}

TEST(CniEnvironment, UnknownCommandAndMalformedArgs) {
  auto cmd = parseEnvironment(envFrom({{"CNI_COMMAND", "GC"}}));
  ASSERT_FALSE(cmd.ok());
  EXPECT_TRUE(contains(cmd.status().message(), "unknown command \"GC\""));
  auto args = parseEnvironment(envFrom({{"CNI_COMMAND", "DEL"},
                                        {"CNI_CONTAINERID", "abc"},
                                        {"CNI_IFNAME", "eth0"},
                                        {"CNI_ARGS", "IgnoreUnknown=1;broken"}}));
  ASSERT_FALSE(args.ok());
  EXPECT_TRUE(contains(args.status().message(), "CNI_ARGS: \"broken\" is not KEY=VALUE"));
}

TEST(CniEnvironment, ReadsKubernetesArgs) {
  auto env = parseEnvironment(envFrom({{"CNI_COMMAND", "ADD"},
                                       {"CNI_CONTAINERID", "abc"},
                                       {"CNI_NETNS", "/run/netns/x"},
                                       {"CNI_IFNAME", "eth0"},
                                       {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_UID=u-1"}}));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(podUidFrom(*env), "u-1");
  EXPECT_EQ(env->args.at("K8S_POD_NAME"), "p");
}

// ---------------------------------------------------------------------------------------------
// Network config.

json baseConf() {
  return json::parse(R"({"cniVersion":"1.0.0","name":"cubelet","type":"cubelet-cni","bridge":"cni0",
    "ipam":{"ranges":[{"subnet":"10.244.0.0/24"}],"dataDir":"/tmp/x"}})");
}

TEST(CniConfig, ParsesTheConflistEntryCubeletWrites) {
  NetworkSettings s;
  s.podCidrs = {"10.244.3.0/24"};
  s.mtu = 1450;
  s.dataDir = "/var/lib/cubelet/ipam";
  auto text = conflistText(s);
  ASSERT_TRUE(text.ok()) << text.status();
  json list = json::parse(*text);
  EXPECT_EQ(list["cniVersion"], "1.0.0");
  EXPECT_EQ(list["name"], "cubelet");
  json plugin = list["plugins"][0];
  EXPECT_EQ(plugin["capabilities"]["portMappings"], true);
  // What a runtime hands the plugin: the entry with name and version injected.
  plugin["cniVersion"] = list["cniVersion"];
  plugin["name"] = list["name"];
  plugin.erase("capabilities");
  auto conf = parseNetConf(plugin.dump());
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(conf->bridge, "cni0");
  EXPECT_EQ(conf->mtu, 1450u);
  EXPECT_TRUE(conf->hairpinMode);
  EXPECT_EQ(conf->dataDir, "/var/lib/cubelet/ipam");
  ASSERT_EQ(conf->ranges.size(), 1u);
  EXPECT_EQ(conf->ranges[0].subnet.str(), "10.244.3.0/24");
  // Default: one default route for the family.
  ASSERT_EQ(conf->routes.size(), 1u);
  EXPECT_EQ(conf->routes[0].dst.str(), "0.0.0.0/0");
  EXPECT_FALSE(conf->routes[0].gw.has_value());
}

TEST(CniConfig, ErrorsNameTheField) {
  auto notJson = parseNetConf("{nope");
  ASSERT_FALSE(notJson.ok());
  EXPECT_EQ(cniCodeOf(notJson.status()), ErrorCode::kDecodeFailure);

  json c = baseConf();
  c["cniVersion"] = "0.2.0";
  auto version = parseNetConf(c.dump());
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(cniCodeOf(version.status()), ErrorCode::kIncompatibleVersion);

  c = baseConf();
  c["ipam"]["ranges"][0]["subnet"] = "10.244.0.0/33";
  auto subnet = parseNetConf(c.dump());
  ASSERT_FALSE(subnet.ok());
  EXPECT_EQ(cniCodeOf(subnet.status()), ErrorCode::kInvalidConfig);
  EXPECT_TRUE(contains(subnet.status().message(), "ipam.ranges[0].subnet"));

  c = baseConf();
  c["ipam"]["ranges"][0]["gateway"] = "10.245.0.1";
  auto gw = parseNetConf(c.dump());
  ASSERT_FALSE(gw.ok());
  EXPECT_TRUE(contains(gw.status().message(), "ipam.ranges[0].gateway: 10.245.0.1 is not in subnet 10.244.0.0/24"));

  c = baseConf();
  c["type"] = "bridge";
  auto type = parseNetConf(c.dump());
  ASSERT_FALSE(type.ok());
  EXPECT_TRUE(contains(type.status().message(), "type"));

  c = baseConf();
  c["mtu"] = "big";
  EXPECT_TRUE(contains(parseNetConf(c.dump()).status().message(), "mtu"));

  c = baseConf();
  c["ipam"]["ranges"].push_back({{"subnet", "10.245.0.0/24"}});
  EXPECT_TRUE(contains(parseNetConf(c.dump()).status().message(), "one per address family"));

  c = baseConf();
  c.erase("ipam");
  EXPECT_TRUE(contains(parseNetConf(c.dump()).status().message(), "ipam: required"));
}

TEST(CniConfig, HostLocalRangeSetsDualStackAndRoutes) {
  json c = baseConf();
  c["ipam"]["ranges"] = json::parse(R"([[{"subnet":"10.244.1.0/24","gateway":"10.244.1.254"}],[{"subnet":"fd00:1::/64"}]])");
  c["ipam"]["routes"] = json::parse(R"([{"dst":"10.96.0.0/16"},{"dst":"::/0","gw":"fd00:1::1"}])");
  auto conf = parseNetConf(c.dump());
  ASSERT_TRUE(conf.ok()) << conf.status();
  ASSERT_EQ(conf->ranges.size(), 2u);
  ASSERT_TRUE(conf->ranges[0].gateway.has_value());
  EXPECT_EQ(conf->ranges[0].gateway->ip(), "10.244.1.254");
  EXPECT_EQ(conf->ranges[1].subnet.family, AF_INET6);
  ASSERT_EQ(conf->routes.size(), 2u);
  EXPECT_EQ(conf->routes[1].gw->ip(), "fd00:1::1");
}

TEST(CniConfig, PortMappings) {
  json c = baseConf();
  c["runtimeConfig"] = json::parse(
      R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"},{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"10.99.0.2"}]})");
  auto conf = parseNetConf(c.dump());
  ASSERT_TRUE(conf.ok()) << conf.status();
  ASSERT_EQ(conf->portMappings.size(), 2u);
  EXPECT_EQ(conf->portMappings[0].protocol, "tcp");
  EXPECT_EQ(conf->portMappings[1].hostIP, "10.99.0.2");
  // containerd 1.6 sends Go's field names.
  json go = baseConf();
  go["runtimeConfig"] = json::parse(
      R"({"portMappings":[{"HostPort":18888,"ContainerPort":8080,"Protocol":"tcp","HostIP":""}]})");
  auto goConf = parseNetConf(go.dump());
  ASSERT_TRUE(goConf.ok()) << goConf.status();
  ASSERT_EQ(goConf->portMappings.size(), 1u);
  EXPECT_EQ(goConf->portMappings[0].hostPort, 18888);
  EXPECT_EQ(goConf->portMappings[0].containerPort, 8080);
  EXPECT_EQ(goConf->portMappings[0].hostIP, "");
  c["runtimeConfig"]["portMappings"][0]["hostPort"] = 70000;
  auto bad = parseNetConf(c.dump());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "runtimeConfig.portMappings[0].hostPort: 70000 is not in 1..65535"));
  // DEL ignores the runtime config: a bad one must not block a teardown.
  EXPECT_TRUE(parseNetConf(c.dump(), /*forDelete=*/true).ok());
}

TEST(CniConfig, Versions) {
  EXPECT_TRUE(versionAtLeast("1.0.0", 0, 4, 0));
  EXPECT_TRUE(versionAtLeast("0.4.0", 0, 4, 0));
  EXPECT_FALSE(versionAtLeast("0.3.1", 0, 4, 0));
  EXPECT_TRUE(isSupportedVersion("0.3.1"));
  EXPECT_FALSE(isSupportedVersion("0.2.0"));
}

// ---------------------------------------------------------------------------------------------
// JSON out.

Result sampleResult() {
  Result r;
  r.interfaces = {{"cni0", "02:00:00:00:00:01", ""}, {"veth1234", "02:00:00:00:00:02", ""},
                  {"eth0", "02:00:00:00:00:03", "/run/netns/p"}};
  r.ips = {{*netlink::parseCidr("10.244.0.2/24"), *netlink::parseIp("10.244.0.1"), 2}};
  r.routes = {{*netlink::parseCidr("0.0.0.0/0"), *netlink::parseIp("10.244.0.1")}};
  return r;
}

TEST(CniResult, FormatPerVersion) {
  json v1 = resultJson(sampleResult(), "1.0.0");
  EXPECT_EQ(v1["cniVersion"], "1.0.0");
  EXPECT_EQ(v1["interfaces"][2]["sandbox"], "/run/netns/p");
  EXPECT_EQ(v1["ips"][0]["address"], "10.244.0.2/24");
  EXPECT_EQ(v1["ips"][0]["gateway"], "10.244.0.1");
  EXPECT_EQ(v1["ips"][0]["interface"], 2);
  EXPECT_FALSE(v1["ips"][0].contains("version"));
  EXPECT_EQ(v1["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_FALSE(v1["interfaces"][0].contains("sandbox"));
  json v031 = resultJson(sampleResult(), "0.3.1");
  EXPECT_EQ(v031["ips"][0]["version"], "4");
}

TEST(CniResult, PrevResultRoundTrip) {
  auto r = parseResult(resultJson(sampleResult(), "1.0.0"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->ips.size(), 1u);
  EXPECT_EQ(r->ips[0].address.str(), "10.244.0.2/24");
  EXPECT_EQ(r->interfaces[2].sandbox, "/run/netns/p");
  auto bad = parseResult(json::parse(R"({"ips":[{"address":"nope"}]})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "ips[0].address"));
}

TEST(CniResult, ErrorAndVersionObjects) {
  json e = errorJson("0.4.0", ErrorCode::kInvalidConfig, "bad", "more");
  EXPECT_EQ(e, json::parse(R"({"cniVersion":"0.4.0","code":7,"msg":"bad","details":"more"})"));
  json v = versionJson("1.0.0");
  EXPECT_EQ(v["supportedVersions"], json::parse(R"(["0.3.0","0.3.1","0.4.0","1.0.0"])"));
}

TEST(CniRun, VersionAndErrorsGoToStdout) {
  Output v = run(R"({"cniVersion":"1.0.0"})", envFrom({{"CNI_COMMAND", "VERSION"}}));
  EXPECT_EQ(v.exitCode, 0);
  EXPECT_EQ(json::parse(v.stdoutText)["supportedVersions"].size(), 4u);
  Output e = run("{", envFrom({{"CNI_COMMAND", "ADD"},
                               {"CNI_CONTAINERID", "abc"},
                               {"CNI_NETNS", "/run/netns/x"},
                               {"CNI_IFNAME", "eth0"}}));
  EXPECT_EQ(e.exitCode, 1);
  EXPECT_EQ(json::parse(e.stdoutText)["code"], 6);
  json c = baseConf();
  c["cniVersion"] = "0.3.1";
  Output check = run(c.dump(), envFrom({{"CNI_COMMAND", "CHECK"},
                                        {"CNI_CONTAINERID", "abc"},
                                        {"CNI_NETNS", "/run/netns/x"},
                                        {"CNI_IFNAME", "eth0"}}));
  EXPECT_EQ(json::parse(check.stdoutText)["code"], 1);
}

// ---------------------------------------------------------------------------------------------
// Host port rules (text) and installation.

TEST(CniHostPorts, ChainNameAndRestoreInput) {
  std::string chain = hostPortChain("cubelet", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  EXPECT_LE(chain.size(), 28u);
  EXPECT_EQ(chain, hostPortChain("cubelet", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
  EXPECT_NE(chain, hostPortChain("cubelet", "other"));
  std::vector<PortMapping> m = {{8080, 80, "tcp", ""}, {5353, 53, "udp", "10.99.0.2"}};
  std::string in = hostPortRestoreInput("CUBELET-HP-x", "c", *netlink::parseIp("10.244.0.5"), m);
  EXPECT_TRUE(contains(in, "*nat\n:CUBELET-HP-x - [0:0]\n"));
  EXPECT_TRUE(contains(in, "-A CUBELET-HP-x -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.0.5:80\n"));
  EXPECT_TRUE(contains(in, "-A CUBELET-HP-x -p udp -m udp --dport 5353 -d 10.99.0.2 -j DNAT --to-destination "
                           "10.244.0.5:53\n"));
  EXPECT_TRUE(contains(in, "-I CUBELET-HOSTPORTS 1 -p tcp -m tcp --dport 8080 -m comment --comment \"c\" -j "
                           "CUBELET-HP-x\n"));
  EXPECT_TRUE(in.ends_with("COMMIT\n"));
  // An IPv6 pod gets bracketed destinations and no IPv4 host-IP mappings.
  std::string in6 = hostPortRestoreInput("CUBELET-HP-x", "c", *netlink::parseIp("fd00::5"), m);
  EXPECT_TRUE(contains(in6, "--to-destination [fd00::5]:80"));
  EXPECT_FALSE(contains(in6, "10.99.0.2"));
}

TEST(CniInstall, ConflistIsWrittenOnceAndAtomically) {
  TempDir dir;
  NetworkSettings s;
  s.podCidrs = {"10.244.0.0/24"};
  auto first = writeConflist(dir.path(), s);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  EXPECT_TRUE(otherNetworkConfigs(dir.path()).empty());
  auto again = writeConflist(dir.path(), s);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "an unchanged config must not be rewritten (the runtime would reload)";
  s.podCidrs = {"10.244.7.0/24"};
  auto changed = writeConflist(dir.path(), s);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(contains(readFile(dir.path() + "/" + kConflistName), "10.244.7.0/24"));
  // No temp file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  // Other add-ons' configs, by the extensions runtimes load; dotfiles and others are not.
  std::ofstream(dir.path() + "/99-flannel.conflist") << "{}";
  std::ofstream(dir.path() + "/05-calico.conf") << "{}";
  std::ofstream(dir.path() + "/.hidden.conflist") << "{}";
  std::ofstream(dir.path() + "/README") << "";
  EXPECT_EQ(otherNetworkConfigs(dir.path()), (std::vector<std::string>{"05-calico.conf", "99-flannel.conflist"}));
  EXPECT_TRUE(otherNetworkConfigs(dir.path() + "/missing").empty());
  EXPECT_FALSE(conflistText(NetworkSettings{}).ok());
  NetworkSettings bad;
  bad.podCidrs = {"not-a-cidr"};
  EXPECT_TRUE(contains(conflistText(bad).status().message(), "podCIDR not-a-cidr"));
}

TEST(CniInstall, PluginCopiedUnlessIdenticalAndLoopbackKept) {
  TempDir dir;
  std::string src = dir.path() + "/src";
  std::ofstream(src) << "binary-v1";
  std::string bin = dir.path() + "/bin";
  auto first = installPlugin(src, bin);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, (std::vector<std::string>{"cubelet-cni", "loopback"}));
  struct stat st {};
  ASSERT_EQ(::stat((bin + "/cubelet-cni").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  auto second = installPlugin(src, bin);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  EXPECT_EQ(fs::read_symlink(bin + "/loopback"), "cubelet-cni");
  // A newer cubelet-cni replaces ours, and loopback follows it; a loopback from elsewhere
  // stays.
  std::ofstream(src) << "binary-v2";
  auto third = installPlugin(src, bin);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, std::vector<std::string>{"cubelet-cni"});
  EXPECT_EQ(readFile(bin + "/cubelet-cni"), "binary-v2");
  EXPECT_EQ(readFile(bin + "/loopback"), "binary-v2");
  fs::remove(bin + "/loopback");
  std::ofstream(bin + "/loopback") << "packaged";
  ::chmod((bin + "/loopback").c_str(), 0755);
  std::ofstream(src) << "binary-v3";
  auto fourth = installPlugin(src, bin);
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(*fourth, std::vector<std::string>{"cubelet-cni"});
  EXPECT_EQ(readFile(bin + "/loopback"), "packaged");
  EXPECT_FALSE(installPlugin(dir.path() + "/missing", bin).ok());
}

// ---------------------------------------------------------------------------------------------
// Whole plugin runs in throwaway namespaces (root).

constexpr std::string_view kPrefix = "cnitest-";

std::string uniqueName(std::string_view tag) { return testing::uniqueTestNetnsName(kPrefix, tag); }

void removeStale() { testing::removeStaleTestNetns(kPrefix); }

class PluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { removeStale(); }
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "these tests create network namespaces: run them as root (CI does)";
    auto node = netlink::NamedNetns::create(uniqueName("node"));
    ASSERT_TRUE(node.ok()) << node.status();
    node_.emplace(std::move(*node));
    // The node namespace's loopback is up, as on a real node (hostPort via OUTPUT to a local
    // address needs it).
    auto up = netlink::runInNetns(node_->path(), []() -> absl::Status {
      auto s = netlink::Socket::open();
      if (!s.ok()) return s.status();
      auto lo = s->linkByName("lo");
      if (!lo.ok()) return lo.status();
      return s->setLinkUp(*lo);
    });
    ASSERT_TRUE(up.ok()) << up;
  }

  template <typename F>
  auto inNode(F&& fn) {
    return netlink::runInNetns(node_->path(), std::forward<F>(fn));
  }

  netlink::NamedNetns newPod(std::string_view tag) {
    auto pod = netlink::NamedNetns::create(uniqueName(tag));
    EXPECT_TRUE(pod.ok()) << pod.status();
    return std::move(*pod);
  }

  json conf(const std::string& version = "1.0.0") {
    json c = baseConf();
    c["cniVersion"] = version;
    c["ipam"]["dataDir"] = data_.path();
    return c;
  }

  Output plugin(const std::string& command, const std::string& id, const std::string& netns, const json& c,
                const std::string& ifname = "eth0") {
    std::map<std::string, std::string> vars = {{"CNI_COMMAND", command},
                                               {"CNI_CONTAINERID", id},
                                               {"CNI_IFNAME", ifname},
                                               {"CNI_PATH", "/opt/cni/bin"},
                                               {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_UID=uid-" + id}};
    if (!netns.empty()) vars["CNI_NETNS"] = netns;
    std::string in = c.dump();
    auto out = inNode([&] { return run(in, envFrom(vars)); });
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : Output{-1, ""};
  }

  std::vector<std::string> records() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data_.path() + "/cubelet", ec)) {
      std::string n = e.path().filename();
      if (n != "lock" && !n.starts_with("last_reserved") && !n.starts_with(".")) out.push_back(n);
    }
    return out;
  }

  std::optional<netlink::NamedNetns> node_;
  TempDir data_;
};

// A TCP listener inside `ns` on port; returns the fd (open in that namespace).
Fd listenIn(const netlink::NamedNetns& ns, int port) {
  auto fd = netlink::runInNetns(ns.path(), [port]() -> int {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 4) != 0) {
      ::close(s);
      return -1;
    }
    return s;
  });
  return Fd(fd.ok() ? *fd : -1);
}

// Connects from inside `ns` to ip:port, and the listener accepts: true when both happen
// within 3 s.
bool connects(const std::string& nsPath, const std::string& ip, int port, int listener) {
  auto ok = netlink::runInNetns(nsPath, [&]() -> bool {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    Fd sock(s);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) return false;
    pollfd p{s, POLLOUT, 0};
    if (::poll(&p, 1, 3000) != 1) return false;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return false;
    pollfd l{listener, POLLIN, 0};
    if (::poll(&l, 1, 3000) != 1) return false;
    Fd accepted(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    return accepted.valid();
  });
  return ok.ok() && *ok;
}

TEST_F(PluginTest, AddCheckDelLifecycle) {
  netlink::NamedNetns pod = newPod("pod");
  Output add = plugin("ADD", "sandbox1", pod.path(), conf());
  ASSERT_EQ(add.exitCode, 0) << add.stdoutText;
  json r = json::parse(add.stdoutText);
  ASSERT_EQ(r["interfaces"].size(), 3u) << r;
  EXPECT_EQ(r["interfaces"][0]["name"], "cni0");
  EXPECT_TRUE(r["interfaces"][1]["name"].get<std::string>().starts_with("veth"));
  EXPECT_EQ(r["interfaces"][2]["name"], "eth0");
  EXPECT_EQ(r["interfaces"][2]["sandbox"], pod.path());
  EXPECT_EQ(r["ips"][0]["address"], "10.244.0.2/24");
  EXPECT_EQ(r["ips"][0]["gateway"], "10.244.0.1");
  EXPECT_EQ(r["ips"][0]["interface"], 2);
  EXPECT_EQ(r["routes"][0], json::parse(R"({"dst":"0.0.0.0/0","gw":"10.244.0.1"})"));

  // The pod side: eth0 up with the address and a default route via the gateway.
  auto podView = netlink::runInNetns(pod.path(), [] {
    auto s = netlink::Socket::open();
    auto link = s->linkByName("eth0");
    auto addrs = s->addresses(*link);
    auto routes = s->routes(AF_INET);
    std::string out = link->up() ? "up" : "down";
    for (const auto& a : *addrs) out += " " + a.ip + "/" + std::to_string(a.prefixLen);
    for (const auto& rt : *routes) out += " route[" + rt.dst + " via " + rt.gateway + "]";
    return out;
  });
  ASSERT_TRUE(podView.ok()) << podView.status();
  EXPECT_TRUE(contains(*podView, "up 10.244.0.2/24"));
  EXPECT_TRUE(contains(*podView, "route[ via 10.244.0.1]"));
  // The node side: the bridge holds the gateway, the host end is a hairpin port of it.
  std::string hostVeth = r["interfaces"][1]["name"];
  auto nodeView = inNode([&] {
    auto s = netlink::Socket::open();
    auto br = s->linkByName("cni0");
    auto veth = s->linkByName(hostVeth);
    auto addrs = s->addresses(*br);
    std::string out = br->kind + (br->up() ? " up" : " down");
    for (const auto& a : *addrs) {
      if (a.family == AF_INET) out += " " + a.ip + "/" + std::to_string(a.prefixLen);
    }
    out += veth->masterIndex == br->ifindex ? " port" : " not-a-port";
    auto hp = s->hairpin(*veth);
    out += hp.ok() && *hp ? " hairpin" : " no-hairpin";
    return out;
  });
  ASSERT_TRUE(nodeView.ok()) << nodeView.status();
  EXPECT_EQ(*nodeView, "bridge up 10.244.0.1/24 port hairpin");
  EXPECT_EQ(records(), std::vector<std::string>{"10.244.0.2"});

  // CHECK with the ADD result as prevResult passes.
  json c = conf();
  c["prevResult"] = r;
  Output check = plugin("CHECK", "sandbox1", pod.path(), c);
  EXPECT_EQ(check.exitCode, 0) << check.stdoutText;
  EXPECT_EQ(check.stdoutText, "");

  // DEL removes eth0 (and its host end) and frees the address; a second DEL, and a DEL
  // once the namespace is gone, succeed.
  Output del = plugin("DEL", "sandbox1", pod.path(), c);
  EXPECT_EQ(del.exitCode, 0) << del.stdoutText;
  EXPECT_TRUE(records().empty());
  auto gone = netlink::runInNetns(pod.path(), [] { return netlink::Socket::open()->linkByName("eth0").status(); });
  ASSERT_TRUE(gone.ok() || absl::IsNotFound(gone)) << gone;
  EXPECT_TRUE(absl::IsNotFound(gone)) << gone;
  EXPECT_EQ(plugin("DEL", "sandbox1", pod.path(), c).exitCode, 0);
  std::string path = pod.path();
  ASSERT_TRUE(pod.remove().ok());
  EXPECT_EQ(plugin("DEL", "sandbox1", path, c).exitCode, 0);
  EXPECT_EQ(plugin("DEL", "sandbox1", "", c).exitCode, 0);

  // CHECK after DEL fails, naming the address.
  netlink::NamedNetns other = newPod("other");
  Output stale = plugin("CHECK", "sandbox1", other.path(), c);
  EXPECT_NE(stale.exitCode, 0);
  EXPECT_TRUE(contains(stale.stdoutText, "10.244.0.2/24 of prevResult is not allocated"));
}

TEST_F(PluginTest, OlderVersionsGetTheirFormat) {
  netlink::NamedNetns pod = newPod("pod");
  Output add = plugin("ADD", "old", pod.path(), conf("0.3.1"));
  ASSERT_EQ(add.exitCode, 0) << add.stdoutText;
  json r = json::parse(add.stdoutText);
  EXPECT_EQ(r["cniVersion"], "0.3.1");
  EXPECT_EQ(r["ips"][0]["version"], "4");
  EXPECT_EQ(plugin("DEL", "old", pod.path(), conf("0.3.1")).exitCode, 0);
}

TEST_F(PluginTest, AddForgetsTheNodesNeighbourEntryOfAReusedAddress) {
  netlink::NamedNetns a = newPod("a");
  ASSERT_EQ(plugin("ADD", "a", a.path(), conf()).exitCode, 0);
  // The next address, as a gone pod would have left it in the node's neighbour table.
  auto planted = inNode([]() -> absl::Status {
    auto s = netlink::Socket::open();
    if (!s.ok()) return s.status();
    auto br = s->linkByName("cni0");
    if (!br.ok()) return br.status();
    return s->addNeighbour(*br, "10.244.0.3", "02:00:00:00:00:99");
  });
  ASSERT_TRUE(planted.ok()) << planted;
  netlink::NamedNetns b = newPod("b");
  Output addB = plugin("ADD", "b", b.path(), conf());
  ASSERT_EQ(addB.exitCode, 0) << addB.stdoutText;
  ASSERT_EQ(json::parse(addB.stdoutText)["ips"][0]["address"], "10.244.0.3/24");
  auto left = inNode([]() -> absl::StatusOr<bool> {
    auto s = netlink::Socket::open();
    if (!s.ok()) return s.status();
    auto all = s->neighbours(AF_INET);
    if (!all.ok()) return all.status();
    for (const auto& n : *all)
      if (n.ip == "10.244.0.3" && n.mac == "02:00:00:00:00:99") return true;
    return false;
  });
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_FALSE(*left) << "the old MAC is still the node's neighbour entry for the new pod's address";
}

TEST_F(PluginTest, PodsReachEachOtherAndTheNode) {
  netlink::NamedNetns a = newPod("a");
  netlink::NamedNetns b = newPod("b");
  Output addA = plugin("ADD", "a", a.path(), conf());
  Output addB = plugin("ADD", "b", b.path(), conf());
  ASSERT_EQ(addA.exitCode, 0) << addA.stdoutText;
  ASSERT_EQ(addB.exitCode, 0) << addB.stdoutText;
  std::string ipB = json::parse(addB.stdoutText)["ips"][0]["address"];
  ipB = ipB.substr(0, ipB.find('/'));
  EXPECT_NE(ipB, "10.244.0.2");
  Fd listenB = listenIn(b, 8080);
  ASSERT_TRUE(listenB.valid());
  EXPECT_TRUE(connects(a.path(), ipB, 8080, listenB.get())) << "pod a -> pod b " << ipB;
  // The node reaches the pod, and the pod reaches the node's gateway address.
  EXPECT_TRUE(connects(node_->path(), ipB, 8080, listenB.get())) << "node -> pod b";
  Fd listenNode(-1);
  {
    auto fd = inNode([]() -> int {
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(9090);
      ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      ::listen(s, 4);
      return s;
    });
    ASSERT_TRUE(fd.ok());
    listenNode.reset(*fd);
  }
  EXPECT_TRUE(connects(a.path(), "10.244.0.1", 9090, listenNode.get())) << "pod a -> node";
  EXPECT_EQ(plugin("DEL", "a", a.path(), conf()).exitCode, 0);
  EXPECT_EQ(plugin("DEL", "b", b.path(), conf()).exitCode, 0);
}

TEST_F(PluginTest, ExistingInterfaceIsAnErrorAndReleasesTheAddress) {
  netlink::NamedNetns pod = newPod("pod");
  ASSERT_EQ(plugin("ADD", "first", pod.path(), conf()).exitCode, 0);
  Output again = plugin("ADD", "second", pod.path(), conf());
  EXPECT_NE(again.exitCode, 0);
  json e = json::parse(again.stdoutText);
  EXPECT_TRUE(contains(e["msg"].get<std::string>(), "interface \"eth0\" already exists")) << e;
  EXPECT_EQ(records(), std::vector<std::string>{"10.244.0.2"}) << "the failed ADD must not keep an address";
  EXPECT_EQ(plugin("DEL", "first", pod.path(), conf()).exitCode, 0);
}

TEST_F(PluginTest, LoopbackAdd) {
  netlink::NamedNetns pod = newPod("lo");
  json c = {{"cniVersion", "0.3.1"}, {"name", "cni-loopback"}, {"type", "loopback"}};
  Output add = plugin("ADD", "lo1", pod.path(), c, "lo");
  ASSERT_EQ(add.exitCode, 0) << add.stdoutText;
  json r = json::parse(add.stdoutText);
  EXPECT_EQ(r["ips"][0]["address"], "127.0.0.1/8");
  auto up = netlink::runInNetns(pod.path(), [] { return netlink::Socket::open()->linkByName("lo")->up(); });
  ASSERT_TRUE(up.ok());
  EXPECT_TRUE(*up);
  EXPECT_EQ(plugin("DEL", "lo1", pod.path(), c, "lo").exitCode, 0);
  Output wrong = plugin("ADD", "lo2", pod.path(), {{"cniVersion", "1.0.0"}, {"name", "x"}, {"type", "loopback"}});
  EXPECT_NE(wrong.exitCode, 0) << "eth0 does not exist in the pod: nothing to set up";
}

TEST_F(PluginTest, HostPortReachesThePodAndDelRemovesTheRules) {
  ASSERT_TRUE(findExecutable("iptables-restore").ok()) << "iptables is a dependency (hack/install-deps.sh)";
  // The node's own address, on a veth whose peer stays in the node namespace.
  auto nodeAddr = inNode([]() -> absl::Status {
    auto s = netlink::Socket::open();
    netlink::VethSpec v;
    v.name = "node0";
    v.peerName = "node0-peer";
    auto link = s->addVeth(v);
    if (!link.ok()) return link.status();
    RETURN_IF_ERROR(s->setLinkUp(*link));
    RETURN_IF_ERROR(s->setLinkUp(*s->linkByName("node0-peer")));
    return s->addAddress(*link, "10.99.0.2/24");
  });
  ASSERT_TRUE(nodeAddr.ok()) << nodeAddr;
  netlink::NamedNetns pod = newPod("hp");
  json c = conf();
  c["runtimeConfig"] = json::parse(R"({"portMappings":[{"hostPort":18080,"containerPort":8080,"protocol":"tcp"}]})");
  Output add = plugin("ADD", "hp1", pod.path(), c);
  ASSERT_EQ(add.exitCode, 0) << add.stdoutText;
  Fd listener = listenIn(pod, 8080);
  ASSERT_TRUE(listener.valid());
  EXPECT_TRUE(connects(node_->path(), "10.99.0.2", 18080, listener.get())) << "node address:hostPort -> pod";
  auto rules = inNode([] { return runProcess({"iptables-save", "-t", "nat"}); });
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(contains(rules->out, "-A CUBELET-HOSTPORTS")) << rules->out;
  EXPECT_TRUE(contains(rules->out, "--to-destination 10.244.0.2:8080")) << rules->out;
  EXPECT_EQ(plugin("DEL", "hp1", pod.path(), c).exitCode, 0);
  auto after = inNode([] { return runProcess({"iptables-save", "-t", "nat"}); });
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(contains(after->out, "DNAT")) << after->out;
  EXPECT_FALSE(contains(after->out, hostPortChain("cubelet", "hp1"))) << after->out;
  EXPECT_EQ(plugin("DEL", "hp1", pod.path(), c).exitCode, 0) << "a second DEL is fine";
}

TEST_F(PluginTest, ConcurrentAddsGetDistinctAddresses) {
  std::vector<netlink::NamedNetns> pods;
  for (int i = 0; i < 12; ++i) pods.push_back(newPod("c" + std::to_string(i)));
  std::vector<std::string> ips(pods.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < pods.size(); ++i) {
    threads.emplace_back([&, i] {
      Output out = plugin("ADD", "conc" + std::to_string(i), pods[i].path(), conf());
      if (out.exitCode == 0) ips[i] = json::parse(out.stdoutText)["ips"][0]["address"];
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> distinct(ips.begin(), ips.end());
  EXPECT_EQ(distinct.size(), pods.size());
  EXPECT_FALSE(distinct.count(""));
  for (size_t i = 0; i < pods.size(); ++i) EXPECT_EQ(plugin("DEL", "conc" + std::to_string(i), pods[i].path(), conf()).exitCode, 0);
  EXPECT_TRUE(records().empty());
}

}  // namespace
}  // namespace cubelet::cni
