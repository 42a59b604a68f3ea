// grpcwire: gRPC calls (unary and server-streaming, plaintext) over HTTP/2, with nghttp2
// doing the framing, instead of the gRPC library.
//
// Why: the agent makes only simple calls — the CRI over a unix socket, the grpc probe over
// TCP — and libgrpc was the largest part of the agent's memory (about 5 MiB of its pages
// resident, plus its threads). Messages are passed as serialized bytes, so the caller picks
// its protobuf classes (the CRI's) or encodes by hand (the health probe).
//
// The wire protocol (grpc/doc/PROTOCOL-HTTP2.md): a POST to /<package.Service>/<Method> with
// content-type application/grpc and te: trailers, each message prefixed by a compression
// flag and a 4-byte big-endian length; the status comes in the grpc-status and grpc-message
// (percent-encoded) trailers, or in a single HEADERS frame for a trailers-only answer.
//
// A Channel keeps a few idle connections and runs each call on a connection of its own, so
// calls from many threads never wait for one another. A connection the peer closed or sent
// GOAWAY on is dropped before reuse; a call that could not have reached the server (the
// write failed, REFUSED_STREAM, or a GOAWAY below its stream) is retried once on a new
// connection.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cubelet::grpcwire {

using Clock = std::chrono::steady_clock;

struct ChannelOptions {
  std::string userAgent = "cubelet";
  // Same limit as upstream's CRI client (maxMsgSize): ListContainers on a busy node is large.
  size_t maxReceiveMessageSize = 16 * 1024 * 1024;
  size_t maxIdleConnections = 8;
};

class Connection;

class Channel {
 public:
  // `target`: "unix:///path", "unix:/path" or "host:port" ("[v6]:port").
  static absl::StatusOr<std::shared_ptr<Channel>> create(const std::string& target, ChannelOptions options = {});
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // One unary call; returns the serialized answer. Errors carry gRPC's status code (absl's
  // codes are the same numbers) and the server's message; transport failures are
  // UNAVAILABLE, a passed deadline DEADLINE_EXCEEDED.
  absl::StatusOr<std::string> call(std::string_view method, std::string_view request,
                                   std::optional<Clock::time_point> deadline);

  // A server-streaming call: `onMessage` gets each message in order; an error from it ends
  // the call with that error. Returns when the server ends the stream (its status; OK
  // included) or, with OK, soon after `stop` is requested. `onStarted` runs once the request
  // is on its way.
  absl::Status stream(std::string_view method, std::string_view request, std::stop_token stop,
                      const std::function<absl::Status(std::string)>& onMessage,
                      const std::function<void()>& onStarted);

  // Opens one connection (kept for the next call), trying again until `deadline` while the
  // peer refuses: for callers that wait for a server to be reachable.
  absl::Status connect(Clock::time_point deadline);

  // Ends every call in flight with CANCELLED and refuses new ones (shutdown).
  void cancelAll();

  const std::string& target() const { return target_; }

 private:
  friend class Connection;
  struct Address;
  Channel(std::string target, std::unique_ptr<Address> address, ChannelOptions options);

  absl::StatusOr<std::unique_ptr<Connection>> take(std::optional<Clock::time_point> deadline);
  void giveBack(std::unique_ptr<Connection> conn);
  absl::Status run(std::string_view method, std::string_view request, std::optional<Clock::time_point> deadline,
                   int stopFd, const std::function<absl::Status(std::string)>& onMessage,
                   const std::function<void()>& onStarted);

  const std::string target_;
  const std::unique_ptr<Address> address_;
  const ChannelOptions options_;
  int cancelFd_ = -1;  // an eventfd, readable once cancelAll() ran
  std::mutex mu_;
  bool cancelled_ = false;                          // guarded by mu_
  std::vector<std::unique_ptr<Connection>> idle_;   // guarded by mu_
};

// grpc-message's percent-encoding undone (exposed for tests).
std::string percentDecode(std::string_view in);
// The grpc-timeout header value for a time left (at most 8 digits and a unit).
std::string timeoutHeader(std::chrono::nanoseconds left);

}  // namespace cubelet::grpcwire
