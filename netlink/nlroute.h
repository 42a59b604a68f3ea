// RAII layer over libnl-route 3.7: the links (bridge, veth, dummy ...), addresses, routes and
// neighbours of one network namespace. Knows nothing about Kubernetes. netns.h has the
// namespace side (handles, named namespaces, running code inside one).
//
// Thread-safety: a Socket is used by one thread at a time (libnl's nl_sock is not
// thread-safe); sockets are cheap, so give each thread its own. A Socket is bound to the
// network namespace it was opened in, whichever thread uses it later: to work in another
// namespace open a socket there (Socket::openIn) rather than moving a thread. The free
// functions are thread-safe (pure).
//
// Errors: every failure names the operation and the object, then libnl's text and code,
// then what the kernel added when that says more: the errno behind libnl's catch-all
// NLE_FAILURE (libnl folds most errnos into it) and the kernel's extended-ack message, e.g.
//   add address 10.1.0.1/24 to link "cbr0": Object exists (NLE_EXIST); kernel: ipv4:
//       Address already assigned
//   delete link "veth1": No such device (NLE_NODEV)
//   add route 10.2.0.0/16 via 10.9.9.9 dev "eth0": Unspecific failure (NLE_FAILURE,
//       errno ENETUNREACH: Network is unreachable); kernel: Nexthop has invalid gateway
// Codes, from the kernel's errno: AlreadyExists (EEXIST), NotFound (ENODEV, ENOENT, ESRCH,
// EADDRNOTAVAIL: no such link, route, address or neighbour), Unimplemented (EOPNOTSUPP,
// e.g. a link kind this kernel lacks), InvalidArgument (EINVAL, ERANGE, and text this
// library could not parse), PermissionDenied (EPERM, EACCES), FailedPrecondition
// (ENETUNREACH, EHOSTUNREACH, EBUSY, ENOTEMPTY: the state of other objects forbids it),
// ResourceExhausted (ENOMEM, ENOBUFS), Unavailable (the socket itself), Unknown otherwise.
// netns.h reports errnos with the same codes. Idempotent callers test
// absl::IsAlreadyExists / absl::IsNotFound.
#pragma once

#include <net/if.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "netlink/netns.h"

struct nl_sock;
struct rtnl_link;

namespace cubelet::netlink {
namespace internal {
struct KernelError;
}

// ---------------------------------------------------------------------------------------------
// Text forms (pure functions).

// An IPv4 or IPv6 address with a prefix length.
struct IpPrefix {
  int family = 0;                  // AF_INET / AF_INET6
  std::array<uint8_t, 16> addr{};  // network byte order; the first 4 bytes for IPv4
  int prefixLen = 0;

  int addrLen() const;           // 4 or 16
  std::string ip() const;        // "10.1.0.1", "fd00::1"
  std::string str() const;       // "10.1.0.1/24"
  bool operator==(const IpPrefix&) const = default;
};

// "10.1.0.1/24", "fd00::1/64"; a bare address is a host prefix (/32, /128). InvalidArgument
// names the text and what is wrong with it.
absl::StatusOr<IpPrefix> parseCidr(std::string_view text);
// An address alone, no prefix length allowed (prefixLen is set to /32 or /128).
absl::StatusOr<IpPrefix> parseIp(std::string_view text);

using Mac = std::array<uint8_t, 6>;
// "02:42:ac:11:00:02" (also with '-'), case-insensitive.
absl::StatusOr<Mac> parseMac(std::string_view text);
std::string formatMac(const Mac& mac);

// Linux interface name rules (net/core/dev.c dev_valid_name): 1..15 bytes, not "." or "..",
// no '/', ':' or whitespace. libnl would silently cut a longer name, which could then match
// another link, so every name passed to this library is checked first.
absl::Status checkLinkName(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Objects as read from the kernel.

struct Link {
  int ifindex = 0;
  std::string name;
  std::string kind;      // IFLA_INFO_KIND: "bridge", "veth", "ifb" ...; "" for lo and hardware
  unsigned flags = 0;    // IFF_* (IFF_UP, IFF_LOOPBACK, IFF_RUNNING ...)
  unsigned mtu = 0;
  std::string mac;       // "02:42:ac:11:00:02"; "" when the link has no link-layer address
  int masterIndex = 0;   // the bridge this link is a port of; 0 for none
  int peerIndex = 0;     // IFLA_LINK: a veth's peer, as an ifindex in the peer's namespace
  int operState = 0;     // IF_OPER_* (RFC 2863); IF_OPER_UP is 6

  bool up() const { return (flags & IFF_UP) != 0; }
};

struct Address {
  int ifindex = 0;
  std::string ifname;
  int family = 0;          // AF_INET / AF_INET6
  std::string ip;          // textual, without prefix length
  int prefixLen = 0;
  bool global = false;     // scope universe
  bool linkUp = false;
  bool loopback = false;
};

// A route in the main table. As input: `dst` "" (or "default") is the default route of
// `family`; family 0 takes the family of dst or gateway; a route needs a gateway, a device
// or both.
struct Route {
  int family = 0;
  std::string dst;         // "" for a default route, else "a.b.c.d/len"
  int oifindex = 0;
  std::string gateway;
  // RT_SCOPE_*. When adding, unset means what `ip route` picks: link for a route without a
  // gateway, universe with one; when deleting, unset matches any scope.
  std::optional<int> scope;
  std::string prefsrc;     // preferred source address; "" for none
  uint32_t metric = 0;     // RTA_PRIORITY
};

struct Neighbour {
  int ifindex = 0;
  int family = 0;
  std::string ip;
  std::string mac;         // "" while unresolved
  int state = 0;           // NUD_* (NUD_PERMANENT = 0x80)
};

// ---------------------------------------------------------------------------------------------
// Inputs.

struct LinkOptions {
  unsigned mtu = 0;        // 0: the kernel's default
  std::string mac;         // "": the kernel's (random) choice
};

// A veth pair: `name` here, `peerName` in the namespace `peerNetnsFd` (-1: here too). The
// kernel creates the peer directly there, under its final name: no move, no rename.
struct VethSpec {
  std::string name;
  std::string peerName;
  int peerNetnsFd = -1;
  unsigned mtu = 0;        // both ends
  std::string mac;
  std::string peerMac;
};

// Several link changes sent as one request; unset fields are left alone.
struct LinkChange {
  std::optional<bool> up;
  std::optional<unsigned> mtu;
  std::optional<std::string> mac;
  std::optional<int> masterIndex;  // 0 takes the link out of its bridge
};

struct AddressOptions {
  // IFA_F_NODAD: usable at once, no IPv6 duplicate address detection (tentative state).
  bool noDad = false;
};

// ---------------------------------------------------------------------------------------------

class Socket {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace.
  static absl::StatusOr<Socket> open();
  // A NETLINK_ROUTE socket in `ns`, opened on a short-lived thread there (runInNetns); it may
  // then be used from any thread (one at a time) and keeps working on `ns`.
  static absl::StatusOr<Socket> openIn(const Netns& ns);

  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;
  ~Socket();

  // ---- links
  absl::StatusOr<Link> linkByName(std::string_view name);  // NotFound when missing
  absl::StatusOr<Link> linkByIndex(int ifindex);
  absl::StatusOr<std::vector<Link>> links();

  // Creates a link of `kind` with no kind-specific attributes ("bridge", "dummy", "ifb"), down.
  // AlreadyExists when `name` exists (whatever its kind: check Link::kind to reuse one);
  // Unimplemented when the kernel has no such link kind (this one has no "dummy").
  absl::StatusOr<Link> addLink(std::string_view name, std::string_view kind, const LinkOptions& options = {});
  absl::StatusOr<Link> addBridge(std::string_view name, const LinkOptions& options = {}) {
    return addLink(name, "bridge", options);
  }
  absl::StatusOr<Link> addDummy(std::string_view name, const LinkOptions& options = {}) {
    return addLink(name, "dummy", options);
  }
  // Creates the pair, both ends down, and returns this namespace's end (its peerIndex is the
  // peer's ifindex over there). AlreadyExists names the end that clashed: `name` here or
  // `peerName` in the peer's namespace.
  absl::StatusOr<Link> addVeth(const VethSpec& spec);
  // NotFound when there is no such link. Deleting either end of a veth deletes both.
  absl::Status deleteLink(std::string_view name);
  absl::Status deleteLinkByIndex(int ifindex);

  absl::Status changeLink(const Link& link, const LinkChange& change);
  // One-change shorthands of changeLink.
  absl::Status setLinkUp(const Link& link, bool up = true);
  absl::Status setMtu(const Link& link, unsigned mtu);
  absl::Status setMac(const Link& link, std::string_view mac);
  // Makes `link` a port of `bridge`.
  absl::Status setMaster(const Link& link, const Link& bridge);
  absl::Status clearMaster(const Link& link);
  // Bridge-port hairpin mode (frames may leave by the port they came in on: a pod reaching
  // itself through a service). `port` must already be a bridge port.
  absl::Status setHairpin(const Link& port, bool on);
  // NotFound when `port` is not a bridge port.
  absl::StatusOr<bool> hairpin(const Link& port);
  // Moves `link` into another network namespace. Its ifindex may change there: look it up
  // again by name through a socket in that namespace.
  absl::Status moveToNetns(const Link& link, const Netns& ns);
  absl::Status moveToNetns(const Link& link, int nsFd);
  absl::Status moveToNetns(const Link& link, const std::string& nsPath);

  // ---- addresses
  absl::StatusOr<std::vector<Address>> addresses();  // of every link
  absl::StatusOr<std::vector<Address>> addresses(const Link& link);
  // `cidr` e.g. "10.1.0.1/24", "fd00::1/64". IPv4 gets the broadcast address of its prefix,
  // as `ip addr add ... brd +`. AlreadyExists when the link has it.
  absl::Status addAddress(const Link& link, std::string_view cidr, const AddressOptions& options = {});
  // NotFound when the link does not have it.
  absl::Status deleteAddress(const Link& link, std::string_view cidr);

  // ---- routes (main table, unicast)
  // family AF_INET, AF_INET6 or AF_UNSPEC (both).
  absl::StatusOr<std::vector<Route>> routes(int family);
  absl::Status addRoute(const Route& route);      // AlreadyExists when there is one for dst
  absl::Status replaceRoute(const Route& route);  // adds, or replaces the one for dst
  absl::Status deleteRoute(const Route& route);   // NotFound when none matches

  // ---- neighbours
  absl::StatusOr<std::vector<Neighbour>> neighbours(int family = 0);
  // A permanent entry (NUD_PERMANENT). AlreadyExists when there is one for `ip`.
  absl::Status addNeighbour(const Link& link, std::string_view ip, std::string_view mac);
  absl::Status deleteNeighbour(const Link& link, std::string_view ip);

 private:
  struct Deleter {
    void operator()(nl_sock* s) const;
  };
  Socket(nl_sock* s, std::unique_ptr<internal::KernelError> e);

  // OK for rc >= 0; else the error for libnl's rc, with `context` and what the kernel said.
  absl::Status status(int rc, const std::string& context);
  // A link for messages: "eth0" in quotes when it can be looked up, else "ifindex 7". Keeps
  // the pending kernel error, so it can be used while reporting one.
  std::string linkLabel(int ifindex);
  absl::Status change(const Link& link, rtnl_link* changes, const std::string& context);
  absl::Status moveLink(const Link& link, int nsFd, const std::string& label);
  absl::Status routeRequest(const Route& route, int op);

  std::unique_ptr<nl_sock, Deleter> sock_;
  std::unique_ptr<internal::KernelError> kernelError_;  // what the kernel said last time
};

// The node address the kubelet would choose without --node-ip: the first global IPv4 address
// of the interface holding the default route, else the first global IPv4 address on any up,
// non-loopback interface (then the same for IPv6).
absl::StatusOr<std::string> chooseHostAddress(const std::vector<Address>& addrs, const std::vector<Route>& routes4,
                                              const std::vector<Route>& routes6);

}  // namespace cubelet::netlink
