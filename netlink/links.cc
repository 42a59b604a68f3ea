// Links: look-up, creation (plain kinds and veth pairs), deletion, changes, bridge ports and
// moves between namespaces.
#include <linux/if_link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>

#include "base/status_macros.h"
#include "netlink/internal.h"

namespace cubelet::netlink {

using internal::CachePtr;
using internal::LinkPtr;
using internal::NlAddrPtr;

namespace {

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

absl::Status noMemory(const std::string& what) { return absl::ResourceExhaustedError(what + ": out of memory"); }

// Sets name, MTU and MAC of a link about to be created.
absl::Status describeNew(rtnl_link* l, std::string_view name, unsigned mtu, const std::string& mac) {
  RETURN_IF_ERROR(checkLinkName(name));
  rtnl_link_set_name(l, std::string(name).c_str());
  if (mtu != 0) rtnl_link_set_mtu(l, mtu);
  if (!mac.empty()) {
    ASSIGN_OR_RETURN(Mac m, parseMac(mac));
    NlAddrPtr a = internal::toNlAddr(m);
    if (!a) return noMemory("MAC " + mac);
    rtnl_link_set_addr(l, a.get());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Link> Socket::linkByName(std::string_view name) {
  RETURN_IF_ERROR(checkLinkName(name));
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock_.get(), 0, std::string(name).c_str(), &raw);
  RETURN_IF_ERROR(status(rc, "look up link " + quoted(name)));
  LinkPtr l(raw);
  return internal::toLink(l.get());
}

absl::StatusOr<Link> Socket::linkByIndex(int ifindex) {
  if (ifindex <= 0) return absl::InvalidArgumentError("look up link: invalid ifindex " + std::to_string(ifindex));
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock_.get(), ifindex, nullptr, &raw);
  RETURN_IF_ERROR(status(rc, "look up link with ifindex " + std::to_string(ifindex)));
  LinkPtr l(raw);
  return internal::toLink(l.get());
}

absl::StatusOr<std::vector<Link>> Socket::links() {
  nl_cache* raw = nullptr;
  RETURN_IF_ERROR(status(rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw), "list links"));
  CachePtr cache(raw);
  std::vector<Link> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    out.push_back(internal::toLink(reinterpret_cast<rtnl_link*>(o)));
  }
  return out;
}

absl::StatusOr<Link> Socket::addLink(std::string_view name, std::string_view kind, const LinkOptions& options) {
  std::string what = "add " + std::string(kind) + " link " + quoted(name);
  LinkPtr l(rtnl_link_alloc());
  if (!l) return noMemory(what);
  RETURN_IF_ERROR(annotate(describeNew(l.get(), name, options.mtu, options.mac), what));
  if (int rc = rtnl_link_set_type(l.get(), std::string(kind).c_str()); rc < 0) return status(rc, what);
  absl::Status st = status(rtnl_link_add(sock_.get(), l.get(), NLM_F_CREATE | NLM_F_EXCL), what);
  if (absl::IsUnimplemented(st)) {
    // Without module support an unknown kind can never appear; say so plainly.
    return absl::UnimplementedError(std::string(st.message()) + " (this kernel has no \"" + std::string(kind) +
                                    "\" link type)");
  }
  RETURN_IF_ERROR(st);
  return linkByName(name);
}

absl::StatusOr<Link> Socket::addVeth(const VethSpec& spec) {
  std::string what = "add veth link " + quoted(spec.name) + " with peer " + quoted(spec.peerName);
  if (spec.peerNetnsFd >= 0) what += " in another network namespace";
  LinkPtr veth(rtnl_link_veth_alloc());
  if (!veth) return noMemory(what);
  LinkPtr peer(rtnl_link_veth_get_peer(veth.get()));  // one more reference, released by `peer`
  RETURN_IF_ERROR(annotate(describeNew(veth.get(), spec.name, spec.mtu, spec.mac), what));
  RETURN_IF_ERROR(annotate(describeNew(peer.get(), spec.peerName, spec.mtu, spec.peerMac), what));
  // Carried inside the peer's attributes (VETH_INFO_PEER): the kernel creates the peer there.
  if (spec.peerNetnsFd >= 0) rtnl_link_set_ns_fd(peer.get(), spec.peerNetnsFd);
  absl::Status st = status(rtnl_link_add(sock_.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL), what);
  if (absl::IsAlreadyExists(st)) {
    // One name clashed; tell the caller which, as only one of them is theirs to pick again.
    bool here = linkByName(spec.name).ok();
    bool peerHere = spec.peerNetnsFd < 0 && linkByName(spec.peerName).ok();
    std::string which = here       ? "link " + quoted(spec.name) + " exists here"
                        : peerHere ? "link " + quoted(spec.peerName) + " exists here"
                                   : "link " + quoted(spec.peerName) + " exists in the peer's network namespace";
    return absl::AlreadyExistsError(std::string(st.message()) + ": " + which);
  }
  RETURN_IF_ERROR(st);
  return linkByName(spec.name);
}

absl::Status Socket::deleteLink(std::string_view name) {
  std::string what = "delete link " + quoted(name);
  RETURN_IF_ERROR(annotate(checkLinkName(name), what));
  LinkPtr l(rtnl_link_alloc());
  if (!l) return noMemory(what);
  rtnl_link_set_name(l.get(), std::string(name).c_str());
  return status(rtnl_link_delete(sock_.get(), l.get()), what);
}

absl::Status Socket::deleteLinkByIndex(int ifindex) {
  std::string what = "delete link with ifindex " + std::to_string(ifindex);
  if (ifindex <= 0) return absl::InvalidArgumentError(what + ": invalid ifindex");
  LinkPtr l(rtnl_link_alloc());
  if (!l) return noMemory(what);
  rtnl_link_set_ifindex(l.get(), ifindex);
  return status(rtnl_link_delete(sock_.get(), l.get()), what);
}

absl::Status Socket::change(const Link& link, rtnl_link* changes, const std::string& context) {
  LinkPtr orig(rtnl_link_alloc());
  if (!orig) return noMemory(context);
  rtnl_link_set_ifindex(orig.get(), link.ifindex);
  // Bridge-port changes go out as AF_BRIDGE requests; `orig` must have the same family.
  if (rtnl_link_get_family(changes) == AF_BRIDGE) rtnl_link_set_family(orig.get(), AF_BRIDGE);
  return status(rtnl_link_change(sock_.get(), orig.get(), changes, 0), context);
}

absl::Status Socket::changeLink(const Link& link, const LinkChange& c) {
  std::string what;
  auto add = [&](const std::string& part) { what += (what.empty() ? "" : ", ") + part; };
  LinkPtr ch(rtnl_link_alloc());
  if (!ch) return noMemory("change link " + quoted(link.name));
  if (c.up) {
    add(*c.up ? "up" : "down");
    if (*c.up) {
      rtnl_link_set_flags(ch.get(), IFF_UP);
    } else {
      rtnl_link_unset_flags(ch.get(), IFF_UP);
    }
  }
  if (c.mtu) {
    add("mtu " + std::to_string(*c.mtu));
    rtnl_link_set_mtu(ch.get(), *c.mtu);
  }
  NlAddrPtr mac;
  if (c.mac) {
    add("mac " + *c.mac);
    ASSIGN_OR_RETURN(Mac m, parseMac(*c.mac));
    mac = internal::toNlAddr(m);
    if (!mac) return noMemory("change link " + quoted(link.name));
    rtnl_link_set_addr(ch.get(), mac.get());
  }
  if (c.masterIndex) {
    add(*c.masterIndex ? "master ifindex " + std::to_string(*c.masterIndex) : "no master");
    rtnl_link_set_master(ch.get(), *c.masterIndex);
  }
  if (what.empty()) return absl::OkStatus();
  return change(link, ch.get(), "set link " + quoted(link.name) + " " + what);
}

absl::Status Socket::setLinkUp(const Link& link, bool up) {
  LinkChange c;
  c.up = up;
  return changeLink(link, c);
}

absl::Status Socket::setMtu(const Link& link, unsigned mtu) {
  LinkChange c;
  c.mtu = mtu;
  return changeLink(link, c);
}

absl::Status Socket::setMac(const Link& link, std::string_view mac) {
  LinkChange c;
  c.mac = std::string(mac);
  return changeLink(link, c);
}

absl::Status Socket::clearMaster(const Link& link) {
  LinkChange c;
  c.masterIndex = 0;
  return changeLink(link, c);
}

absl::Status Socket::setMaster(const Link& link, const Link& bridge) {
  LinkPtr ch(rtnl_link_alloc());
  std::string what = "add link " + quoted(link.name) + " to bridge " + quoted(bridge.name);
  if (!ch) return noMemory(what);
  rtnl_link_set_master(ch.get(), bridge.ifindex);
  return change(link, ch.get(), what);
}

absl::Status Socket::setHairpin(const Link& port, bool on) {
  std::string what = std::string("turn ") + (on ? "on" : "off") + " hairpin mode of bridge port " + quoted(port.name);
  // libnl's bridge-port flags exist only on AF_BRIDGE link objects (rtnl_link_is_bridge);
  // on any other they fail with NLE_OPNOTSUPP ("expecting a link object of type bridge").
  LinkPtr ch(rtnl_link_alloc());
  if (!ch) return noMemory(what);
  rtnl_link_set_family(ch.get(), AF_BRIDGE);
  int rc = on ? rtnl_link_bridge_set_flags(ch.get(), RTNL_BRIDGE_HAIRPIN_MODE)
              : rtnl_link_bridge_unset_flags(ch.get(), RTNL_BRIDGE_HAIRPIN_MODE);
  if (rc < 0) return status(rc, what);
  return change(port, ch.get(), what);
}

absl::StatusOr<bool> Socket::hairpin(const Link& port) {
  std::string what = "read hairpin mode of link " + quoted(port.name);
  // The port flags come only in an AF_BRIDGE dump (IFLA_PROTINFO), which lists bridge ports.
  nl_cache* raw = nullptr;
  RETURN_IF_ERROR(status(rtnl_link_alloc_cache(sock_.get(), AF_BRIDGE, &raw), what));
  CachePtr cache(raw);
  LinkPtr l(rtnl_link_get(cache.get(), port.ifindex));
  // The dump lists bridges too; a port is the one with a master and port attributes.
  if (!l || !rtnl_link_is_bridge(l.get()) || rtnl_link_get_master(l.get()) == 0 ||
      !rtnl_link_bridge_has_ext_info(l.get())) {
    return absl::NotFoundError(what + ": not a bridge port");
  }
  int flags = rtnl_link_bridge_get_flags(l.get());
  if (flags < 0) return status(flags, what);
  return (flags & RTNL_BRIDGE_HAIRPIN_MODE) != 0;
}

absl::Status Socket::moveToNetns(const Link& link, int nsFd) {
  return moveLink(link, nsFd, "fd " + std::to_string(nsFd));
}

absl::Status Socket::moveToNetns(const Link& link, const Netns& ns) { return moveLink(link, ns.fd(), ns.path()); }

absl::Status Socket::moveToNetns(const Link& link, const std::string& nsPath) {
  ASSIGN_OR_RETURN(Netns ns, Netns::open(nsPath));
  return moveToNetns(link, ns);
}

absl::Status Socket::moveLink(const Link& link, int nsFd, const std::string& label) {
  std::string what = "move link " + quoted(link.name) + " to network namespace " + label;
  LinkPtr ch(rtnl_link_alloc());
  if (!ch) return noMemory(what);
  rtnl_link_set_ns_fd(ch.get(), nsFd);
  return change(link, ch.get(), what);
}

}  // namespace cubelet::netlink
