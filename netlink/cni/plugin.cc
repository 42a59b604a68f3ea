// ADD, DEL, CHECK and VERSION of cubelet-cni and its loopback type.
#include "netlink/cni/plugin.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "base/status_macros.h"
#include "netlink/cni/hostport.h"
#include "netlink/cni/ipam.h"
#include "netlink/cni/result.h"
#include "netlink/netns.h"
#include "netlink/nlroute.h"

namespace cubelet::cni {
namespace {

using netlink::IpPrefix;
using netlink::Link;
using netlink::Netns;
using netlink::Socket;

absl::Status setupError(const absl::Status& st, std::string_view what) {
  if (st.ok()) return st;
  return cniError(cniCodeOf(st, ErrorCode::kNetworkSetup), std::string(what) + ": " + std::string(st.message()));
}

std::string randomHex(size_t bytes) {
  unsigned char buf[8] = {0};
  if (getrandom(buf, bytes, 0) != static_cast<ssize_t>(bytes)) {
    // getrandom on a booted kernel does not fail for 8 bytes; fall back to the clock anyway.
    uint64_t t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (size_t i = 0; i < bytes; ++i) buf[i] = static_cast<unsigned char>(t >> (8 * i));
  }
  std::string out;
  char hex[3];
  for (size_t i = 0; i < bytes; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", buf[i]);
    out += hex;
  }
  return out;
}

// A locally administered unicast MAC, so the bridge keeps one address instead of taking the
// lowest of its ports' (which would change the pods' gateway MAC as pods come and go).
std::string randomMac() {
  std::string h = randomHex(6);
  unsigned first = static_cast<unsigned>(std::stoul(h.substr(0, 2), nullptr, 16));
  first = (first & 0xfc) | 0x02;
  char b[3];
  std::snprintf(b, sizeof b, "%02x", first);
  std::string mac = b;
  for (size_t i = 2; i < 12; i += 2) mac += ":" + h.substr(i, 2);
  return mac;
}

std::string storeDir(const NetConf& conf) { return conf.dataDir + "/" + conf.name; }

void maybePauseForFaultInjection(const std::string& dir) {
  std::ifstream f(dir + "/" + std::string(kFaultInjectionFile));
  if (!f) return;
  std::string line;
  while (std::getline(f, line)) {
    constexpr std::string_view key = "pause-after-reserve=";
    if (line.starts_with(key)) {
      int seconds = std::atoi(line.c_str() + key.size());
      if (seconds > 0 && seconds <= 600) std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
  }
}

// The bridge, created when missing, up, holding every gateway.
absl::StatusOr<Link> ensureBridge(Socket& host, const NetConf& conf, const std::vector<IpamAllocation>& allocs) {
  absl::StatusOr<Link> br = host.linkByName(conf.bridge);
  if (absl::IsNotFound(br.status())) {
    br = host.addBridge(conf.bridge, {.mtu = conf.mtu, .mac = randomMac()});
    if (absl::IsAlreadyExists(br.status())) br = host.linkByName(conf.bridge);  // a concurrent ADD won
  }
  if (!br.ok()) return br.status();
  if (br->kind != "bridge") {
    return cniError(ErrorCode::kNetworkSetup,
                    "link \"" + conf.bridge + "\" exists but is a " + (br->kind.empty() ? "device" : br->kind) +
                        ", not a bridge (config field bridge)");
  }
  if (!br->up()) RETURN_IF_ERROR(host.setLinkUp(*br));
  for (const IpamAllocation& a : allocs) {
    IpPrefix gw = a.gateway;
    gw.prefixLen = a.address.prefixLen;
    absl::Status st = host.addAddress(*br, gw.str(), {.noDad = gw.family == AF_INET6});
    if (!st.ok() && !absl::IsAlreadyExists(st)) return st;
  }
  return *br;
}

struct Plumbed {
  Link bridge;
  Link hostVeth;
  Link podLink;
};

absl::StatusOr<Plumbed> plumb(const Environment& env, const NetConf& conf, const Netns& ns,
                              const std::vector<IpamAllocation>& allocs) {
  ASSIGN_OR_RETURN(Socket host, Socket::open());
  Plumbed out;
  ASSIGN_OR_RETURN(out.bridge, ensureBridge(host, conf, allocs));
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    netlink::VethSpec spec;
    spec.name = "veth" + randomHex(4);
    spec.peerName = env.ifname;
    spec.peerNetnsFd = ns.fd();
    spec.mtu = conf.mtu;
    absl::StatusOr<Link> veth = host.addVeth(spec);
    if (veth.ok()) {
      out.hostVeth = *veth;
      last = absl::OkStatus();
      break;
    }
    last = veth.status();
    if (!absl::IsAlreadyExists(last)) return last;
    if (!host.linkByName(spec.name).ok()) {
      return cniError(ErrorCode::kNetworkSetup,
                      "interface \"" + env.ifname + "\" already exists in network namespace " + env.netns);
    }
  }
  RETURN_IF_ERROR(last);
  netlink::LinkChange enslave;
  enslave.up = true;
  enslave.masterIndex = out.bridge.ifindex;
  RETURN_IF_ERROR(host.changeLink(out.hostVeth, enslave));
  if (conf.hairpinMode) RETURN_IF_ERROR(host.setHairpin(out.hostVeth, true));
  // An address is reused once its pod is gone: a neighbour entry the host kept for it still
  // names the old pod's MAC, and the first packets to the new pod (a probe, say) would go
  // there until the kernel re-resolves it (seconds). Forget it.
  for (const IpamAllocation& a : allocs) {
    absl::Status st = host.deleteNeighbour(out.bridge, a.address.ip());
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }

  ASSIGN_OR_RETURN(Socket pod, Socket::openIn(ns));
  ASSIGN_OR_RETURN(out.podLink, pod.linkByName(env.ifname));
  for (const IpamAllocation& a : allocs) {
    RETURN_IF_ERROR(pod.addAddress(out.podLink, a.address.str(), {.noDad = a.address.family == AF_INET6}));
  }
  RETURN_IF_ERROR(pod.setLinkUp(out.podLink));
  for (const RouteConf& rc : conf.routes) {
    const IpamAllocation* fam = nullptr;
    for (const IpamAllocation& a : allocs) {
      if (a.address.family == rc.dst.family) fam = &a;
    }
    if (!fam) continue;  // a route of a family this pod has no address in
    netlink::Route r;
    r.family = rc.dst.family;
    r.dst = rc.dst.prefixLen == 0 ? "" : rc.dst.str();
    r.gateway = (rc.gw ? *rc.gw : fam->gateway).ip();
    r.oifindex = out.podLink.ifindex;
    RETURN_IF_ERROR(pod.addRoute(r));
  }
  ASSIGN_OR_RETURN(out.podLink, pod.linkByName(env.ifname));  // up, with its final MAC
  return out;
}

Result resultFor(const Environment& env, const NetConf& conf, const Plumbed& p,
                 const std::vector<IpamAllocation>& allocs) {
  Result r;
  r.interfaces.push_back({p.bridge.name, p.bridge.mac, ""});
  r.interfaces.push_back({p.hostVeth.name, p.hostVeth.mac, ""});
  r.interfaces.push_back({env.ifname, p.podLink.mac, env.netns});
  for (const IpamAllocation& a : allocs) r.ips.push_back({a.address, a.gateway, 2});
  for (const RouteConf& rc : conf.routes) {
    for (const IpamAllocation& a : allocs) {
      if (a.address.family == rc.dst.family) r.routes.push_back({rc.dst, rc.gw ? *rc.gw : a.gateway});
    }
  }
  return r;
}

// Removes the pod's interface, if its namespace is still there.
absl::Status deletePodLink(const Environment& env) {
  if (env.netns.empty()) return absl::OkStatus();
  absl::StatusOr<Netns> ns = Netns::open(env.netns);
  // Gone, or no longer a namespace (an unmounted bind mount): the link went with it.
  if (absl::IsNotFound(ns.status()) || absl::IsInvalidArgument(ns.status())) return absl::OkStatus();
  if (!ns.ok()) return ns.status();
  ASSIGN_OR_RETURN(Socket pod, Socket::openIn(*ns));
  absl::Status st = pod.deleteLink(env.ifname);
  if (absl::IsNotFound(st)) return absl::OkStatus();
  return st;
}

absl::StatusOr<std::string> add(const Environment& env, const NetConf& conf) {
  absl::StatusOr<Netns> ns = Netns::open(env.netns);
  if (!ns.ok()) return cniError(ErrorCode::kInvalidEnvironment, "CNI_NETNS: " + std::string(ns.status().message()));
  std::string dir = storeDir(conf);
  absl::StatusOr<IpamStore> store = IpamStore::open(dir);
  if (!store.ok()) return cniError(ErrorCode::kIoFailure, std::string(store.status().message()));
  IpamOwner owner{env.containerId, env.ifname, env.netns, podUidFrom(env)};
  absl::StatusOr<std::vector<IpamAllocation>> allocs = store->allocate(owner, conf.ranges);
  if (!allocs.ok()) {
    ErrorCode code = absl::IsResourceExhausted(allocs.status()) ? ErrorCode::kNoAddresses : ErrorCode::kIoFailure;
    return cniError(code, std::string(allocs.status().message()));
  }
  maybePauseForFaultInjection(dir);
  absl::StatusOr<Plumbed> plumbed = plumb(env, conf, *ns, *allocs);
  absl::Status st = plumbed.status();
  if (st.ok() && !conf.portMappings.empty()) {
    for (const IpamAllocation& a : *allocs) {
      st = addHostPorts(dir, conf.name, env.containerId, a.address, conf.portMappings);
      if (!st.ok()) break;
    }
  }
  if (!st.ok()) {
    // Leave nothing behind: the runtime's DEL may never come.
    (void)removeHostPorts(dir, conf.name, env.containerId);
    (void)deletePodLink(env);
    (void)store->release(env.containerId, env.ifname);
    return setupError(st, "set up the network of sandbox " + env.containerId);
  }
  return resultJson(resultFor(env, conf, *plumbed, *allocs), conf.cniVersion).dump();
}

absl::Status del(const Environment& env, const NetConf& conf) {
  std::string dir = storeDir(conf);
  RETURN_IF_ERROR(removeHostPorts(dir, conf.name, env.containerId));
  RETURN_IF_ERROR(setupError(deletePodLink(env), "remove interface " + env.ifname + " of sandbox " + env.containerId));
  absl::StatusOr<IpamStore> store = IpamStore::open(dir);
  if (!store.ok()) return cniError(ErrorCode::kIoFailure, std::string(store.status().message()));
  absl::Status st = store->release(env.containerId, env.ifname);
  if (!st.ok()) return cniError(ErrorCode::kIoFailure, std::string(st.message()));
  // Addresses of ADDs whose DEL never came (the plugin killed mid-ADD, a runtime that skips
  // DEL after a failed ADD): their namespace is gone by now. Best effort.
  if (auto stale = store->releaseStale(); !stale.ok()) {
    std::fprintf(stderr, "cubelet-cni: releasing stale addresses: %s\n", std::string(stale.status().message()).c_str());
  }
  return absl::OkStatus();
}

absl::Status check(const Environment& env, const NetConf& conf) {
  if (conf.prevResult.is_null()) return cniError(ErrorCode::kInvalidConfig, "CHECK needs prevResult");
  ASSIGN_OR_RETURN(Result prev, parseResult(conf.prevResult));
  absl::StatusOr<IpamStore> store = IpamStore::open(storeDir(conf));
  if (!store.ok()) return cniError(ErrorCode::kIoFailure, std::string(store.status().message()));
  absl::StatusOr<std::vector<IpamAllocation>> held = store->find(env.containerId, env.ifname);
  if (!held.ok()) return cniError(ErrorCode::kIoFailure, std::string(held.status().message()));
  for (const IpResult& ip : prev.ips) {
    bool found = false;
    for (const IpamAllocation& a : *held) found = found || a.address.addr == ip.address.addr;
    if (!found) {
      return cniError(ErrorCode::kNetworkSetup,
                      "address " + ip.address.str() + " of prevResult is not allocated to sandbox " + env.containerId);
    }
  }
  ASSIGN_OR_RETURN(Socket host, Socket::open());
  absl::StatusOr<Link> br = host.linkByName(conf.bridge);
  if (!br.ok() || br->kind != "bridge") {
    return cniError(ErrorCode::kNetworkSetup, "bridge \"" + conf.bridge + "\" is missing");
  }
  absl::StatusOr<Netns> ns = Netns::open(env.netns);
  if (!ns.ok()) return cniError(ErrorCode::kInvalidEnvironment, "CNI_NETNS: " + std::string(ns.status().message()));
  ASSIGN_OR_RETURN(Socket pod, Socket::openIn(*ns));
  absl::StatusOr<Link> link = pod.linkByName(env.ifname);
  if (!link.ok()) {
    return cniError(ErrorCode::kNetworkSetup, "interface " + env.ifname + " is missing in " + env.netns);
  }
  ASSIGN_OR_RETURN(std::vector<netlink::Address> addrs, pod.addresses(*link));
  for (const IpamAllocation& a : *held) {
    bool on = false;
    for (const netlink::Address& x : addrs) on = on || x.ip == a.address.ip();
    if (!on) {
      return cniError(ErrorCode::kNetworkSetup,
                      "address " + a.address.str() + " is not on " + env.ifname + " in " + env.netns);
    }
  }
  return absl::OkStatus();
}

// ---- loopback

absl::StatusOr<std::string> loopbackAdd(const Environment& env, const NetConf& conf) {
  absl::StatusOr<Netns> ns = Netns::open(env.netns);
  if (!ns.ok()) return cniError(ErrorCode::kInvalidEnvironment, "CNI_NETNS: " + std::string(ns.status().message()));
  ASSIGN_OR_RETURN(Socket pod, Socket::openIn(*ns));
  ASSIGN_OR_RETURN(Link lo, pod.linkByName(env.ifname));
  if (!(lo.flags & IFF_LOOPBACK)) {
    return cniError(ErrorCode::kInvalidEnvironment, "CNI_IFNAME: \"" + env.ifname + "\" is not a loopback interface");
  }
  if (!lo.up()) RETURN_IF_ERROR(pod.setLinkUp(lo));
  Result r;
  r.interfaces.push_back({env.ifname, "00:00:00:00:00:00", env.netns});
  r.ips.push_back({*netlink::parseCidr("127.0.0.1/8"), std::nullopt, 0});
  r.ips.push_back({*netlink::parseCidr("::1/128"), std::nullopt, 0});
  return resultJson(r, conf.cniVersion).dump();
}

absl::Status loopbackCheck(const Environment& env) {
  absl::StatusOr<Netns> ns = Netns::open(env.netns);
  if (!ns.ok()) return cniError(ErrorCode::kInvalidEnvironment, "CNI_NETNS: " + std::string(ns.status().message()));
  ASSIGN_OR_RETURN(Socket pod, Socket::openIn(*ns));
  ASSIGN_OR_RETURN(Link lo, pod.linkByName(env.ifname));
  if (!lo.up()) return cniError(ErrorCode::kNetworkSetup, env.ifname + " is down in " + env.netns);
  return absl::OkStatus();
}

Output failure(const std::string& version, const absl::Status& st, ErrorCode fallback) {
  return {1, errorJson(version, cniCodeOf(st, fallback), std::string(st.message())).dump()};
}

}  // namespace

Output run(std::string_view stdinText, const GetEnv& getenv) {
  absl::StatusOr<Environment> env = parseEnvironment(getenv);
  // The version for error objects: the config's when it can be read.
  std::string version = "1.0.0";
  if (auto j = nlohmann::json::parse(stdinText, nullptr, false); j.is_object() && j.contains("cniVersion") &&
                                                                  j["cniVersion"].is_string()) {
    version = j["cniVersion"].get<std::string>();
  }
  if (!env.ok()) return failure(version, env.status(), ErrorCode::kInvalidEnvironment);
  if (env->command == Command::kVersion) return {0, versionJson(version).dump()};
  absl::StatusOr<NetConf> conf = parseNetConf(stdinText, env->command == Command::kDel);
  if (!conf.ok()) return failure(version, conf.status(), ErrorCode::kInvalidConfig);
  if (env->command == Command::kCheck && !versionAtLeast(conf->cniVersion, 0, 4, 0)) {
    return failure(version,
                   cniError(ErrorCode::kIncompatibleVersion, "CHECK needs cniVersion 0.4.0 or later, config has " +
                                                                 conf->cniVersion),
                   ErrorCode::kIncompatibleVersion);
  }
  bool loopback = conf->type == "loopback";
  switch (env->command) {
    case Command::kAdd: {
      absl::StatusOr<std::string> out = loopback ? loopbackAdd(*env, *conf) : add(*env, *conf);
      if (!out.ok()) return failure(version, out.status(), ErrorCode::kNetworkSetup);
      return {0, *out};
    }
    case Command::kDel: {
      absl::Status st = loopback ? absl::OkStatus() : del(*env, *conf);
      if (!st.ok()) return failure(version, st, ErrorCode::kNetworkSetup);
      return {0, ""};
    }
    case Command::kCheck: {
      absl::Status st = loopback ? loopbackCheck(*env) : check(*env, *conf);
      if (!st.ok()) return failure(version, st, ErrorCode::kNetworkSetup);
      return {0, ""};
    }
    case Command::kVersion:
      break;
  }
  return {0, versionJson(version).dump()};
}

}  // namespace cubelet::cni
