// Shared by the netlink/ sources only: ownership of libnl objects and conversions between
// them and this library's types. Not part of the library's interface.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <memory>
#include <string>

#include "netlink/nlroute.h"

namespace cubelet::netlink::internal {

// libnl objects are reference counted; each pointer holds one reference.
template <auto Release>
struct Releaser {
  template <typename T>
  void operator()(T* p) const {
    Release(p);
  }
};
using LinkPtr = std::unique_ptr<rtnl_link, Releaser<rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Releaser<rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Releaser<rtnl_route_put>>;
using NeighPtr = std::unique_ptr<rtnl_neigh, Releaser<rtnl_neigh_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Releaser<nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Releaser<nl_cache_free>>;

// Each returns null only when libnl is out of memory.
NlAddrPtr toNlAddr(const IpPrefix& p);
NlAddrPtr toNlAddr(const Mac& mac);

// "10.1.0.1" for an IP, "02:42:..." for a link-layer address; "" for null or empty.
std::string addrText(nl_addr* a);

Link toLink(rtnl_link* l);

}  // namespace cubelet::netlink::internal
