// The socket, its error reporting, and the conversions every part shares.
#include "netlink/nlroute.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <cerrno>
#include <cstring>

#include "netlink/errors.h"
#include "netlink/internal.h"

namespace cubelet::netlink {
namespace internal {

// What the kernel said about the last failed request: libnl reduces its errno to an NLE_*
// code (most of them to NLE_FAILURE) and drops the extended ack, so an error callback keeps
// both. Heap-allocated so its address, given to libnl, survives moves of the Socket.
struct KernelError {
  int err = 0;         // positive errno; 0 when the failure did not come from the kernel
  std::string extack;  // NLMSGERR_ATTR_MSG
};

}  // namespace internal

namespace {

// Names of libnl's error codes (netlink/errno.h), for messages people grep for.
constexpr const char* kNleNames[] = {
    "NLE_SUCCESS",       "NLE_FAILURE",         "NLE_INTR",          "NLE_BAD_SOCK",      "NLE_AGAIN",
    "NLE_NOMEM",         "NLE_EXIST",           "NLE_INVAL",         "NLE_RANGE",         "NLE_MSGSIZE",
    "NLE_OPNOTSUPP",     "NLE_AF_NOSUPPORT",    "NLE_OBJ_NOTFOUND",  "NLE_NOATTR",        "NLE_MISSING_ATTR",
    "NLE_AF_MISMATCH",   "NLE_SEQ_MISMATCH",    "NLE_MSG_OVERFLOW",  "NLE_MSG_TRUNC",     "NLE_NOADDR",
    "NLE_SRCRT_NOSUPPORT", "NLE_MSG_TOOSHORT",  "NLE_MSGTYPE_NOSUPPORT", "NLE_OBJ_MISMATCH", "NLE_NOCACHE",
    "NLE_BUSY",          "NLE_PROTO_MISMATCH",  "NLE_NOACCESS",      "NLE_PERM",          "NLE_PKTLOC_FILE",
    "NLE_PARSE_ERR",     "NLE_NODEV",           "NLE_IMMUTABLE",     "NLE_DUMP_INTR",     "NLE_ATTRSIZE",
};
static_assert(std::size(kNleNames) == NLE_MAX + 1);

// For failures libnl found on its own, before or without a kernel answer.
absl::StatusCode codeForNle(int nle) {
  switch (nle) {
    case NLE_EXIST:
      return absl::StatusCode::kAlreadyExists;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
    case NLE_NOADDR:
      return absl::StatusCode::kNotFound;
    case NLE_OPNOTSUPP:
    case NLE_AF_NOSUPPORT:
      return absl::StatusCode::kUnimplemented;
    case NLE_INVAL:
    case NLE_RANGE:
    case NLE_MISSING_ATTR:
    case NLE_IMMUTABLE:
      return absl::StatusCode::kInvalidArgument;
    case NLE_PERM:
    case NLE_NOACCESS:
      return absl::StatusCode::kPermissionDenied;
    case NLE_NOMEM:
      return absl::StatusCode::kResourceExhausted;
    case NLE_BAD_SOCK:
    case NLE_AGAIN:
    case NLE_INTR:
    case NLE_DUMP_INTR:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

// libnl's error callback: keep the errno and the extended ack, then let libnl fail the call
// as usual (NL_STOP makes it return its NLE code for the errno).
int onKernelError(sockaddr_nl*, nlmsgerr* e, void* arg) {
  auto* out = static_cast<internal::KernelError*>(arg);
  out->err = -e->error;
  out->extack.clear();
  // libnl hands over the payload of the NLMSG_ERROR message; its header sits just before.
  const auto* h = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return NL_STOP;
  // The attributes follow the echoed request: all of it, or only its header when capped.
  size_t echoed = (h->nlmsg_flags & NLM_F_CAPPED) ? 0 : e->msg.nlmsg_len - NLMSG_HDRLEN;
  size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nlmsgerr) + echoed);
  if (offset >= h->nlmsg_len) return NL_STOP;
  auto* attrs = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(h)) + offset);
  if (nlattr* msg = nla_find(attrs, static_cast<int>(h->nlmsg_len - offset), NLMSGERR_ATTR_MSG)) {
    const char* text = static_cast<const char*>(nla_data(msg));
    out->extack.assign(text, strnlen(text, nla_len(msg)));
  }
  return NL_STOP;
}

}  // namespace

namespace internal {

NlAddrPtr toNlAddr(const IpPrefix& p) {
  NlAddrPtr a(nl_addr_build(p.family, p.addr.data(), p.addrLen()));
  if (a) nl_addr_set_prefixlen(a.get(), p.prefixLen);
  return a;
}

NlAddrPtr toNlAddr(const Mac& mac) { return NlAddrPtr(nl_addr_build(AF_LLC, mac.data(), mac.size())); }

std::string addrText(nl_addr* a) {
  if (!a || nl_addr_get_len(a) == 0) return "";
  int family = nl_addr_get_family(a);
  if (family == AF_INET || family == AF_INET6) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (!inet_ntop(family, nl_addr_get_binary_addr(a), buf, sizeof buf)) return "";
    return buf;
  }
  if (nl_addr_get_len(a) == 6) {
    Mac mac;
    std::memcpy(mac.data(), nl_addr_get_binary_addr(a), mac.size());
    return formatMac(mac);
  }
  char buf[64] = {0};
  return nl_addr2str(a, buf, sizeof buf);
}

Link toLink(rtnl_link* l) {
  Link out;
  out.ifindex = rtnl_link_get_ifindex(l);
  const char* name = rtnl_link_get_name(l);
  out.name = name ? name : "";
  const char* kind = rtnl_link_get_type(l);
  out.kind = kind ? kind : "";
  out.flags = rtnl_link_get_flags(l);
  out.mtu = rtnl_link_get_mtu(l);
  out.mac = addrText(rtnl_link_get_addr(l));
  out.masterIndex = rtnl_link_get_master(l);
  out.peerIndex = rtnl_link_get_link(l);
  out.operState = rtnl_link_get_operstate(l);
  return out;
}

}  // namespace internal

void Socket::Deleter::operator()(nl_sock* s) const { nl_socket_free(s); }

Socket::Socket(nl_sock* s, std::unique_ptr<internal::KernelError> e) : sock_(s), kernelError_(std::move(e)) {}
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

absl::StatusOr<Socket> Socket::open() {
  nl_sock* s = nl_socket_alloc();
  if (!s) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  Socket sock(s, std::make_unique<internal::KernelError>());
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0) {
    return absl::UnavailableError(std::string("connecting a NETLINK_ROUTE socket: ") + nl_geterror(err));
  }
  // Ask for the kernel's own words on failures; an old kernel without them still works.
  int one = 1;
  (void)setsockopt(nl_socket_get_fd(s), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  nl_socket_modify_err_cb(s, NL_CB_CUSTOM, onKernelError, sock.kernelError_.get());
  return sock;
}

absl::StatusOr<Socket> Socket::openIn(const Netns& ns) {
  absl::StatusOr<Socket> sock = runInNetns(ns, [] { return Socket::open(); });
  if (!sock.ok()) {
    return absl::Status(sock.status().code(),
                        "open a netlink socket in network namespace " + ns.path() + ": " +
                            std::string(sock.status().message()));
  }
  return sock;
}

absl::Status Socket::status(int rc, const std::string& context) {
  internal::KernelError kernel = std::exchange(*kernelError_, internal::KernelError{});
  if (rc >= 0) return absl::OkStatus();
  int nle = -rc;
  // A kernel answer left from an earlier request (libnl retries some) does not explain this.
  if (kernel.err != 0 && nl_syserr2nlerr(kernel.err) != nle) kernel = {};
  std::string msg = context + ": " + nl_geterror(nle) + " (" + (nle <= NLE_MAX ? kNleNames[nle] : "NLE_?");
  // libnl's text says it all unless it folded the errno into its catch-all.
  if (kernel.err != 0 && nle == NLE_FAILURE) msg += ", errno " + internal::errnoText(kernel.err);
  msg += ")";
  if (!kernel.extack.empty()) msg += "; kernel: " + kernel.extack;
  return absl::Status(kernel.err != 0 ? internal::codeForErrno(kernel.err) : codeForNle(nle), msg);
}

std::string Socket::linkLabel(int ifindex) {
  // Called while reporting another failure: keep what the kernel said about that one.
  internal::KernelError pending = std::move(*kernelError_);
  rtnl_link* raw = nullptr;
  std::string label = "ifindex " + std::to_string(ifindex);
  if (rtnl_link_get_kernel(sock_.get(), ifindex, nullptr, &raw) >= 0) {
    internal::LinkPtr l(raw);
    if (const char* name = rtnl_link_get_name(l.get())) label = "\"" + std::string(name) + "\"";
  }
  *kernelError_ = std::move(pending);
  return label;
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
