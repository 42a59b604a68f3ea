// Addresses on links, and neighbour (ARP / NDP) entries.
#include <linux/if_addr.h>
#include <linux/neighbour.h>

#include <map>

#include "base/status_macros.h"
#include "netlink/internal.h"

namespace cubelet::netlink {

using internal::AddrPtr;
using internal::CachePtr;
using internal::NeighPtr;
using internal::NlAddrPtr;

namespace {

std::string onLink(const Link& link) { return "link \"" + link.name + "\""; }

// The rtnl_addr for `prefix` on `link`, as add and delete both send it.
absl::StatusOr<AddrPtr> addrObject(const Link& link, const IpPrefix& prefix, const std::string& what) {
  AddrPtr addr(rtnl_addr_alloc());
  NlAddrPtr local = internal::toNlAddr(prefix);
  if (!addr || !local) return absl::ResourceExhaustedError(what + ": out of memory");
  rtnl_addr_set_ifindex(addr.get(), link.ifindex);
  rtnl_addr_set_family(addr.get(), prefix.family);
  rtnl_addr_set_local(addr.get(), local.get());  // takes its own reference
  rtnl_addr_set_prefixlen(addr.get(), prefix.prefixLen);
  return addr;
}

}  // namespace

absl::StatusOr<std::vector<Address>> Socket::addresses() {
  nl_cache* rawLinks = nullptr;
  RETURN_IF_ERROR(status(rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &rawLinks), "list links"));
  CachePtr links(rawLinks);
  nl_cache* rawAddrs = nullptr;
  RETURN_IF_ERROR(status(rtnl_addr_alloc_cache(sock_.get(), &rawAddrs), "list addresses"));
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
    ad.ip = internal::addrText(rtnl_addr_get_local(a));
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

absl::StatusOr<std::vector<Address>> Socket::addresses(const Link& link) {
  ASSIGN_OR_RETURN(std::vector<Address> all, addresses());
  std::erase_if(all, [&](const Address& a) { return a.ifindex != link.ifindex; });
  return all;
}

absl::Status Socket::addAddress(const Link& link, std::string_view cidr, const AddressOptions& options) {
  ASSIGN_OR_RETURN(IpPrefix p, parseCidr(cidr));
  std::string what = "add address " + p.str() + " to " + onLink(link);
  ASSIGN_OR_RETURN(AddrPtr addr, addrObject(link, p, what));
  if (p.family == AF_INET && p.prefixLen <= 30) {
    IpPrefix brd = p;  // the prefix's last address, as `ip addr add ... brd +` sets it
    for (int bit = p.prefixLen; bit < 32; ++bit) brd.addr[bit / 8] |= uint8_t(0x80 >> (bit % 8));
    brd.prefixLen = 32;
    NlAddrPtr b = internal::toNlAddr(brd);
    if (!b) return absl::ResourceExhaustedError(what + ": out of memory");
    rtnl_addr_set_broadcast(addr.get(), b.get());
  }
  if (options.noDad) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  return status(rtnl_addr_add(sock_.get(), addr.get(), NLM_F_EXCL), what);
}

absl::Status Socket::deleteAddress(const Link& link, std::string_view cidr) {
  ASSIGN_OR_RETURN(IpPrefix p, parseCidr(cidr));
  std::string what = "delete address " + p.str() + " from " + onLink(link);
  ASSIGN_OR_RETURN(AddrPtr addr, addrObject(link, p, what));
  return status(rtnl_addr_delete(sock_.get(), addr.get(), 0), what);
}

absl::StatusOr<std::vector<Neighbour>> Socket::neighbours(int family) {
  nl_cache* raw = nullptr;
  RETURN_IF_ERROR(status(rtnl_neigh_alloc_cache(sock_.get(), &raw), "list neighbours"));
  CachePtr cache(raw);
  std::vector<Neighbour> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* n = reinterpret_cast<rtnl_neigh*>(o);
    Neighbour nb;
    nb.family = rtnl_neigh_get_family(n);
    // The same dump holds the bridges' forwarding entries (AF_BRIDGE); only IP ones here.
    if (nb.family != AF_INET && nb.family != AF_INET6) continue;
    if (family != 0 && nb.family != family) continue;
    nb.ifindex = rtnl_neigh_get_ifindex(n);
    nb.ip = internal::addrText(rtnl_neigh_get_dst(n));
    nb.mac = internal::addrText(rtnl_neigh_get_lladdr(n));
    nb.state = rtnl_neigh_get_state(n);
    out.push_back(std::move(nb));
  }
  return out;
}

absl::Status Socket::addNeighbour(const Link& link, std::string_view ip, std::string_view mac) {
  std::string what = "add neighbour " + std::string(ip) + " lladdr " + std::string(mac) + " on " + onLink(link);
  ASSIGN_OR_RETURN(IpPrefix dst, parseIp(ip));
  ASSIGN_OR_RETURN(Mac m, parseMac(mac));
  NeighPtr n(rtnl_neigh_alloc());
  NlAddrPtr d = internal::toNlAddr(dst);
  NlAddrPtr l = internal::toNlAddr(m);
  if (!n || !d || !l) return absl::ResourceExhaustedError(what + ": out of memory");
  rtnl_neigh_set_ifindex(n.get(), link.ifindex);
  rtnl_neigh_set_family(n.get(), dst.family);
  rtnl_neigh_set_dst(n.get(), d.get());
  rtnl_neigh_set_lladdr(n.get(), l.get());
  rtnl_neigh_set_state(n.get(), NUD_PERMANENT);
  return status(rtnl_neigh_add(sock_.get(), n.get(), NLM_F_CREATE | NLM_F_EXCL), what);
}

absl::Status Socket::deleteNeighbour(const Link& link, std::string_view ip) {
  std::string what = "delete neighbour " + std::string(ip) + " on " + onLink(link);
  ASSIGN_OR_RETURN(IpPrefix dst, parseIp(ip));
  NeighPtr n(rtnl_neigh_alloc());
  NlAddrPtr d = internal::toNlAddr(dst);
  if (!n || !d) return absl::ResourceExhaustedError(what + ": out of memory");
  rtnl_neigh_set_ifindex(n.get(), link.ifindex);
  rtnl_neigh_set_family(n.get(), dst.family);
  rtnl_neigh_set_dst(n.get(), d.get());
  return status(rtnl_neigh_delete(sock_.get(), n.get(), 0), what);
}

}  // namespace cubelet::netlink
