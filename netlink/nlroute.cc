#include "netlink/nlroute.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include <map>

namespace cubelet::netlink {
namespace {

struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using CachePtr = std::unique_ptr<nl_cache, CacheDeleter>;

absl::Status nlError(int err, const std::string& what) {
  return absl::UnavailableError(what + ": " + nl_geterror(err));
}

std::string addrText(nl_addr* a) {
  if (!a) return "";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (!inet_ntop(nl_addr_get_family(a), nl_addr_get_binary_addr(a), buf, sizeof buf)) return "";
  return buf;
}

}  // namespace

void Socket::Deleter::operator()(nl_sock* s) const { nl_socket_free(s); }

Socket::~Socket() = default;

absl::StatusOr<Socket> Socket::open() {
  nl_sock* s = nl_socket_alloc();
  if (!s) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  Socket sock(s);
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0) return nlError(err, "connecting a NETLINK_ROUTE socket");
  return sock;
}

absl::StatusOr<std::vector<Address>> Socket::addresses() {
  nl_cache* rawLinks = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &rawLinks); err < 0) return nlError(err, "listing links");
  CachePtr links(rawLinks);
  nl_cache* rawAddrs = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock_.get(), &rawAddrs); err < 0) return nlError(err, "listing addresses");
  CachePtr addrs(rawAddrs);

  std::map<int, std::pair<std::string, unsigned>> linkInfo;
  for (nl_object* o = nl_cache_get_first(links.get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    const char* name = rtnl_link_get_name(l);
    linkInfo[rtnl_link_get_ifindex(l)] = {name ? name : "", rtnl_link_get_flags(l)};
  }
  std::vector<Address> out;
  for (nl_object* o = nl_cache_get_first(addrs.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    Address ad;
    ad.ifindex = rtnl_addr_get_ifindex(a);
    ad.family = rtnl_addr_get_family(a);
    ad.ip = addrText(rtnl_addr_get_local(a));
    ad.prefixLen = rtnl_addr_get_prefixlen(a);
    ad.global = rtnl_addr_get_scope(a) == RT_SCOPE_UNIVERSE;
    if (auto it = linkInfo.find(ad.ifindex); it != linkInfo.end()) {
      ad.ifname = it->second.first;
      ad.linkUp = (it->second.second & IFF_UP) != 0;
      ad.loopback = (it->second.second & IFF_LOOPBACK) != 0;
    }
    if (!ad.ip.empty()) out.push_back(std::move(ad));
  }
  return out;
}

absl::StatusOr<std::vector<Route>> Socket::routes(int family) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_.get(), family, 0, &raw); err < 0) return nlError(err, "listing routes");
  CachePtr cache(raw);
  std::vector<Route> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) continue;
    Route rt;
    rt.family = rtnl_route_get_family(r);
    nl_addr* dst = rtnl_route_get_dst(r);
    if (dst && nl_addr_get_prefixlen(dst) > 0) {
      rt.dst = addrText(dst) + "/" + std::to_string(nl_addr_get_prefixlen(dst));
    }
    if (rtnl_route_get_nnexthops(r) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      rt.oifindex = rtnl_route_nh_get_ifindex(nh);
      rt.gateway = addrText(rtnl_route_nh_get_gateway(nh));
    }
    out.push_back(std::move(rt));
  }
  return out;
}

absl::StatusOr<std::string> chooseHostAddress(const std::vector<Address>& addrs, const std::vector<Route>& routes4,
                                              const std::vector<Route>& routes6) {
  for (int family : {AF_INET, AF_INET6}) {
    const auto& routes = family == AF_INET ? routes4 : routes6;
    for (const auto& r : routes) {
      if (!r.dst.empty()) continue;
      for (const auto& a : addrs) {
        if (a.family == family && a.ifindex == r.oifindex && a.global && !a.loopback) return a.ip;
      }
    }
    for (const auto& a : addrs) {
      if (a.family == family && a.global && a.linkUp && !a.loopback) return a.ip;
    }
  }
  return absl::NotFoundError("no global unicast address on any up, non-loopback interface; set --node-ip");
}

}  // namespace cubelet::netlink
