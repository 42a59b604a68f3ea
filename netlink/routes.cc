// Routes of the main table.
#include <linux/rtnetlink.h>

#include "base/status_macros.h"
#include "netlink/internal.h"

namespace cubelet::netlink {

using internal::CachePtr;
using internal::NlAddrPtr;
using internal::RoutePtr;

namespace {

enum RouteOp { kAdd, kReplace, kDelete };

const char* verb(int op) { return op == kAdd ? "add" : op == kReplace ? "replace" : "delete"; }

// The parsed parts of a Route given as input.
struct RouteParts {
  int family = 0;
  IpPrefix dst;  // prefixLen 0 for the default route
  std::optional<IpPrefix> gateway;
  std::optional<IpPrefix> prefsrc;
};

absl::StatusOr<RouteParts> parseRoute(const Route& r, int op) {
  RouteParts out;
  bool isDefault = r.dst.empty() || r.dst == "default";
  if (!isDefault) {
    ASSIGN_OR_RETURN(out.dst, parseCidr(r.dst));
  }
  if (!r.gateway.empty()) {
    ASSIGN_OR_RETURN(out.gateway, parseIp(r.gateway));
  }
  if (!r.prefsrc.empty()) {
    ASSIGN_OR_RETURN(out.prefsrc, parseIp(r.prefsrc));
  }
  out.family = r.family != 0 ? r.family : !isDefault ? out.dst.family : out.gateway ? out.gateway->family : 0;
  if (out.family != AF_INET && out.family != AF_INET6) {
    return absl::InvalidArgumentError("route: give an IPv4 or IPv6 family, destination or gateway");
  }
  for (const IpPrefix* p : {isDefault ? nullptr : &out.dst, out.gateway ? &*out.gateway : nullptr,
                            out.prefsrc ? &*out.prefsrc : nullptr}) {
    if (p && p->family != out.family) {
      return absl::InvalidArgumentError("route: " + p->ip() + " is not of the route's address family");
    }
  }
  if (isDefault) out.dst = IpPrefix{.family = out.family, .addr = {}, .prefixLen = 0};
  if (op != kDelete && !out.gateway && r.oifindex == 0) {
    return absl::InvalidArgumentError("route to " + out.dst.str() + ": needs a gateway, a device or both");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Route>> Socket::routes(int family) {
  nl_cache* raw = nullptr;
  RETURN_IF_ERROR(status(rtnl_route_alloc_cache(sock_.get(), family, 0, &raw), "list routes"));
  CachePtr cache(raw);
  std::vector<Route> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) continue;
    Route rt;
    rt.family = rtnl_route_get_family(r);
    nl_addr* dst = rtnl_route_get_dst(r);
    if (dst && nl_addr_get_prefixlen(dst) > 0) {
      rt.dst = internal::addrText(dst) + "/" + std::to_string(nl_addr_get_prefixlen(dst));
    }
    if (rtnl_route_get_nnexthops(r) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      rt.oifindex = rtnl_route_nh_get_ifindex(nh);
      rt.gateway = internal::addrText(rtnl_route_nh_get_gateway(nh));
    }
    rt.scope = rtnl_route_get_scope(r);
    rt.prefsrc = internal::addrText(rtnl_route_get_pref_src(r));
    rt.metric = rtnl_route_get_priority(r);
    out.push_back(std::move(rt));
  }
  return out;
}

absl::Status Socket::addRoute(const Route& route) { return routeRequest(route, kAdd); }
absl::Status Socket::replaceRoute(const Route& route) { return routeRequest(route, kReplace); }
absl::Status Socket::deleteRoute(const Route& route) { return routeRequest(route, kDelete); }

absl::Status Socket::routeRequest(const Route& route, int op) {
  absl::StatusOr<RouteParts> parts = parseRoute(route, op);
  if (!parts.ok()) return annotate(parts.status(), std::string(verb(op)) + " route");
  RoutePtr r(rtnl_route_alloc());
  NlAddrPtr dst = internal::toNlAddr(parts->dst);
  if (!r || !dst) return absl::ResourceExhaustedError(std::string(verb(op)) + " route: out of memory");
  rtnl_route_set_family(r.get(), parts->family);
  rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_set_dst(r.get(), dst.get());  // takes its own reference
  if (op == kDelete) {
    // Match what is there: any protocol, and any scope unless one is asked for (with no
    // scope set, libnl would send a guessed one and miss routes added with another).
    rtnl_route_set_protocol(r.get(), RTPROT_UNSPEC);
    rtnl_route_set_scope(r.get(), route.scope.value_or(RT_SCOPE_NOWHERE));
  } else {
    rtnl_route_set_protocol(r.get(), RTPROT_BOOT);  // as `ip route add`
    if (route.scope) rtnl_route_set_scope(r.get(), *route.scope);  // else libnl guesses as ip does
  }
  if (route.metric != 0) rtnl_route_set_priority(r.get(), route.metric);
  if (parts->prefsrc) {
    NlAddrPtr src = internal::toNlAddr(*parts->prefsrc);
    if (!src) return absl::ResourceExhaustedError(std::string(verb(op)) + " route: out of memory");
    rtnl_route_set_pref_src(r.get(), src.get());
  }
  if (parts->gateway || route.oifindex != 0) {
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!nh) return absl::ResourceExhaustedError(std::string(verb(op)) + " route: out of memory");
    if (route.oifindex != 0) rtnl_route_nh_set_ifindex(nh, route.oifindex);
    if (parts->gateway) {
      NlAddrPtr gw = internal::toNlAddr(*parts->gateway);
      if (!gw) {
        rtnl_route_nh_free(nh);
        return absl::ResourceExhaustedError(std::string(verb(op)) + " route: out of memory");
      }
      rtnl_route_nh_set_gateway(nh, gw.get());
    }
    rtnl_route_add_nexthop(r.get(), nh);  // the route owns it from here
  }
  int rc = op == kDelete    ? rtnl_route_delete(sock_.get(), r.get(), 0)
           : op == kReplace ? rtnl_route_add(sock_.get(), r.get(), NLM_F_REPLACE)
                            : rtnl_route_add(sock_.get(), r.get(), NLM_F_EXCL);
  if (rc >= 0) return status(rc, "");
  std::string what = std::string(verb(op)) + " route " + (parts->dst.prefixLen == 0 ? "default" : parts->dst.str());
  if (parts->gateway) what += " via " + parts->gateway->ip();
  if (route.oifindex != 0) what += " dev " + linkLabel(route.oifindex);
  return status(rc, what);
}

}  // namespace cubelet::netlink
