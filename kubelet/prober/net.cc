#include "kubelet/prober/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <vector>

#include "kubelet/objects/json_access.h"

namespace cubelet::prober {
namespace {

// Go's strconv.Atoi for the port fallback: an optional sign and decimal digits.
absl::StatusOr<long long> atoi(const std::string& s) {
  const std::string prefix = "strconv.Atoi: parsing \"" + s + "\": ";
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size()) return absl::InvalidArgumentError(prefix + "invalid syntax");
  long long v = 0;
  bool overflow = false;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return absl::InvalidArgumentError(prefix + "invalid syntax");
    if (v > (LLONG_MAX - 9) / 10) overflow = true;
    if (!overflow) v = v * 10 + (s[i] - '0');
  }
  if (overflow) return absl::InvalidArgumentError(prefix + "value out of range");
  return s[0] == '-' ? -v : v;
}

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  std::string text;  // host:port as Go prints the remote address
};

absl::StatusOr<std::vector<Endpoint>> resolve(const std::string& host, int port) {
  std::vector<Endpoint> out;
  Endpoint e;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    e.len = sizeof(sockaddr_in);
    e.family = AF_INET;
    e.text = joinHostPort(host, port);
    out.push_back(e);
    return out;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    e.len = sizeof(sockaddr_in6);
    e.family = AF_INET6;
    e.text = joinHostPort(host, port);
    out.push_back(e);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (host.empty() || getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || !res) {
    return absl::NotFoundError("dial tcp: lookup " + host + ": no such host");
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  for (addrinfo* a = res; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    Endpoint r;
    std::memcpy(&r.addr, a->ai_addr, a->ai_addrlen);
    r.len = a->ai_addrlen;
    r.family = a->ai_family;
    char ip[INET6_ADDRSTRLEN] = {0};
    getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST);
    r.text = joinHostPort(ip, port);
    out.push_back(r);
  }
  if (out.empty()) return absl::NotFoundError("dial tcp: lookup " + host + ": no such host");
  return out;
}

absl::StatusOr<Fd> connectOne(const Endpoint& e, std::chrono::steady_clock::time_point deadline) {
  const std::string prefix = "dial tcp " + e.text + ": ";
  Fd fd(socket(e.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::UnavailableError(prefix + "socket: " + errnoText(errno));
  // As upstream's probe dialer: a short linger so probes leave no lingering sockets behind.
  linger l{1, 1};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&e.addr), e.len) == 0) return fd;
  if (errno != EINPROGRESS) return absl::UnavailableError(prefix + "connect: " + errnoText(errno));
  while (true) {
    pollfd p{fd.get(), POLLOUT, 0};
    int n = poll(&p, 1, pollTimeout(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(prefix + "poll: " + errnoText(errno));
    if (n == 0) return absl::DeadlineExceededError(prefix + "i/o timeout");
    break;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return absl::UnavailableError(prefix + "connect: " + errnoText(err));
  return fd;
}

}  // namespace

std::string joinHostPort(std::string_view host, int port) {
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

absl::StatusOr<int> resolveContainerPort(const nlohmann::json& port, const nlohmann::json& container) {
  long long value = -1;
  if (port.is_number_integer()) {
    value = port.get<long long>();
  } else if (port.is_string()) {
    const std::string name = port.get<std::string>();
    bool found = false;
    for (const auto& p : objects::array(container, {"ports"})) {
      if (objects::str(p, {"name"}) == name) {
        value = objects::integer(p, {"containerPort"}, 0);
        found = true;
        break;
      }
    }
    if (!found) {
      // Upstream's last try: a number written as a string.
      auto n = atoi(name);
      if (!n.ok()) return n.status();
      value = *n;
    }
  } else {
    return absl::InvalidArgumentError("intOrString had no kind: " + port.dump());
  }
  if (value > 0 && value < 65536) return static_cast<int>(value);
  return absl::InvalidArgumentError("invalid port number: " + std::to_string(value));
}

std::string errnoText(int err) {
  char buf[128];
  // GNU strerror_r returns the message (which may or may not be buf).
  std::string s = strerror_r(err, buf, sizeof buf);
  // Go's errno texts are glibc's with a lower-case first letter.
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

int pollTimeout(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  if (left.count() > INT_MAX) return INT_MAX;
  // Round up so a poll never returns just before the deadline and spins.
  return static_cast<int>(left.count()) + 1;
}

absl::StatusOr<Fd> dialTcp(const std::string& host, int port, std::chrono::steady_clock::time_point deadline) {
  auto endpoints = resolve(host, port);
  if (!endpoints.ok()) return endpoints.status();
  absl::Status first;
  for (const auto& e : *endpoints) {
    auto fd = connectOne(e, deadline);
    if (fd.ok()) return fd;
    if (first.ok()) first = fd.status();
    if (absl::IsDeadlineExceeded(fd.status())) break;
  }
  return first;
}

}  // namespace cubelet::prober
