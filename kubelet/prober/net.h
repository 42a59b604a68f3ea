// The network side of container handlers, shared by probes and lifecycle hooks: a container
// port given by number or by name, Go's host:port form, and a TCP connect with a deadline
// whose errors read like Go's net.Dial errors (the upstream kubelet puts those in probe
// output and events).
//
// Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "base/fd.h"

namespace cubelet::prober {

// The shared owned fd (base/fd.h), by its old name here.
using ::cubelet::Fd;

// net.JoinHostPort: "10.0.0.5:80", "[fd00::5]:80".
std::string joinHostPort(std::string_view host, int port);

// True for an IPv4 or IPv6 literal.
bool isIpLiteral(const std::string& host);

// probe.ResolveContainerPort: a number is taken as it is; a string names one of the
// container's ports, or else is read as a decimal number. The result must be 1..65535.
// Errors (InvalidArgument) as upstream's: `strconv.Atoi: parsing "web": invalid syntax`,
// `invalid port number: 0`.
absl::StatusOr<int> resolveContainerPort(const nlohmann::json& port, const nlohmann::json& container);

// Go's text for an errno, as in "connect: connection refused".
std::string errnoText(int err);

// Opens a non-blocking TCP connection to host:port (an IP literal or a name) before
// `deadline`, with SO_LINGER 1s as upstream's probe dialer sets it. Errors carry Go's
// net.Dial text:
//   DeadlineExceeded  "dial tcp 10.0.0.5:81: i/o timeout"
//   Unavailable       "dial tcp 10.0.0.5:81: connect: connection refused"
//   NotFound          "dial tcp: lookup nosuch.invalid: no such host"
absl::StatusOr<Fd> dialTcp(const std::string& host, int port, std::chrono::steady_clock::time_point deadline);

// Milliseconds left until `deadline` for poll(): at least 0.
int pollTimeout(std::chrono::steady_clock::time_point deadline);

}  // namespace cubelet::prober
