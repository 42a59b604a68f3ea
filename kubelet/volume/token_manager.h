// Service-account tokens for projected serviceAccountToken volumes: TokenRequests bound to
// the pod, cached per (namespace, service account, audience, expirationSeconds, pod), and
// refreshed by the kubelet's rule:
//   refresh when now > exp - 20% of expirationSeconds - jitter,
//             or now > iat + 24h - jitter,
//             or now < iat (the clock moved back),
// with jitter 0..9 s, exp = status.expirationTimestamp of the TokenRequest response (never
// the JWT's own exp, which the apiserver may extend to a year) and iat = exp - the requested
// expirationSeconds. When a refresh fails, a cached token that has not expired yet is still
// served (with a warning) and the next get() tries again.
//
// A pod new to the apiserver is known to the node authorizer and to NodeRestriction's pod
// cache a moment after the pod's watchers see it; a TokenRequest in that moment is refused
// (403 "no relationship found between node ...", 404 for the pod). Those two answers are asked
// again after 50, 100 and 200 ms before the failure is returned: the volume would otherwise
// wait for its first back-off step (500 ms) and show a FailedMount event for a pod that is fine.
//
// Thread safety: every method may be called from any thread. One mutex guards the cache map
// and is never held during an HTTP call. Each cache entry has its own mutex, held while that
// entry is refreshed, so concurrent get()s of the same key make a single request (the others
// wait for it and then use its result) while other keys proceed in parallel. Lock order:
// an entry's mutex may be held while taking mu_, never the other way round (cleanupExpired
// only try-locks entries).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "kubelet/api/client.h"

namespace cubelet::volume {

struct TokenRequestSpec {
  std::string ns, serviceAccount, podName, podUid, audience;  // empty audience: the apiserver's own
  int64_t expirationSeconds = 3607;
};

struct Token {
  std::string token;
  std::chrono::system_clock::time_point expiration;  // status.expirationTimestamp
  std::chrono::system_clock::time_point issued;      // expiration - requested expirationSeconds
};

// The apiserver's bounds on a TokenRequest's expirationSeconds.
inline constexpr int64_t kMinTokenExpirationSeconds = 600;
inline constexpr int64_t kMaxTokenExpirationSeconds = int64_t{1} << 32;

class TokenManager {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // `client` must outlive the manager. `jitterSeconds` returns 0..9 and must be thread-safe
  // (the default is).
  explicit TokenManager(api::Client* client, Clock clock = defaultClock(),
                        std::function<int()> jitterSeconds = defaultJitter());

  // The cached token for `spec` unless it requires refresh; otherwise a new one from the
  // apiserver. expirationSeconds outside [600, 2^32] is InvalidArgument, with no request.
  absl::StatusOr<Token> get(const TokenRequestSpec& spec);

  // Drops every cached token bound to the pod (called when the pod is removed).
  void forgetPod(const std::string& podUid);

  // Drops cached tokens that have expired (upstream does this every minute). Returns how many
  // it dropped. Entries being refreshed right now are left alone.
  size_t cleanupExpired();

  // Calls cleanupExpired() every `period` until `stop` is requested.
  void runCleanup(std::stop_token stop, std::chrono::milliseconds period = std::chrono::minutes(1));

  size_t cachedCount();

  // The waits before asking again after a refusal of a pod the apiserver has not linked to
  // the node yet (tests shorten or drop them).
  void setLinkRetries(std::vector<std::chrono::milliseconds> waits) { linkRetries_ = std::move(waits); }

  static bool requiresRefresh(const Token& tok, int64_t expirationSeconds, std::chrono::system_clock::time_point now,
                              int jitterSeconds);

  static Clock defaultClock();
  static std::function<int()> defaultJitter();

 private:
  using Key = std::tuple<std::string, std::string, std::string, int64_t, std::string, std::string>;
  struct Entry {
    std::mutex mu;              // held while refreshing this entry
    std::optional<Token> tok;   // guarded by mu
  };

  static Key keyOf(const TokenRequestSpec& spec);
  absl::StatusOr<Token> request(const TokenRequestSpec& spec);

  api::Client* client_;
  Clock clock_;
  std::function<int()> jitter_;
  std::vector<std::chrono::milliseconds> linkRetries_{std::chrono::milliseconds(50), std::chrono::milliseconds(100),
                                                      std::chrono::milliseconds(200)};
  std::mutex mu_;
  std::map<Key, std::shared_ptr<Entry>> cache_;  // guarded by mu_
};

}  // namespace cubelet::volume
