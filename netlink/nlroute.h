// Thin RAII layer over libnl-route: read links, addresses and routes. Knows nothing about
// Kubernetes. (Link, veth, bridge and netns management arrive with cubelet-cni.)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct nl_sock;

namespace cubelet::netlink {

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

struct Route {
  int family = 0;
  std::string dst;         // "" for a default route, else "a.b.c.d/len"
  int oifindex = 0;
  std::string gateway;
};

class Socket {
 public:
  static absl::StatusOr<Socket> open();
  Socket(Socket&&) noexcept = default;
  Socket& operator=(Socket&&) noexcept = default;
  ~Socket();

  absl::StatusOr<std::vector<Address>> addresses();
  absl::StatusOr<std::vector<Route>> routes(int family);

 private:
  struct Deleter {
    void operator()(nl_sock* s) const;
  };
  explicit Socket(nl_sock* s) : sock_(s) {}
  std::unique_ptr<nl_sock, Deleter> sock_;
};

// The node address the kubelet would choose without --node-ip: the first global IPv4 address
// of the interface holding the default route, else the first global IPv4 address on any up,
// non-loopback interface (then the same for IPv6).
absl::StatusOr<std::string> chooseHostAddress(const std::vector<Address>& addrs, const std::vector<Route>& routes4,
                                              const std::vector<Route>& routes6);

}  // namespace cubelet::netlink
