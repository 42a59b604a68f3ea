// Authentication and authorization of requests to the kubelet API (:10250), as the upstream
// kubelet does them (cmd/kubelet/app/auth.go, pkg/kubelet/server/auth.go):
//
//   authentication  x509 client certificate verified against authentication.x509.clientCAFile
//                   (user = CN, groups = O), then a bearer token (Authorization header, or the
//                   WebSocket subprotocol base64url.bearer.authorization.k8s.io.<token>) checked
//                   with a TokenReview, results cached for authentication.webhook.cacheTTL;
//                   anonymous (system:anonymous) only when enabled and no credential was
//                   presented. Otherwise 401.
//   authorization   each path maps to one or two subresources of the node (see
//                   requestAttributes); Webhook mode asks a SubjectAccessReview per attribute
//                   set, allowed answers cached cacheAuthorizedTTL, denied cacheUnauthorizedTTL;
//                   AlwaysAllow allows all.
//
// Thread-safety: Authenticator and Authorizer may be used from any number of connection
// threads at once; the caches have their own locks.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/x509.h>

#include "absl/status/statusor.h"


namespace cubelet::server {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

// One SubjectAccessReview's resource attributes: always resource "nodes" of the node.
struct Attributes {
  std::string verb;         // get, create, update, patch, delete; "" for other methods
  std::string subresource;  // proxy, stats, metrics, log, pods, healthz, configz, checkpoint
  bool operator==(const Attributes&) const = default;
};

// The attribute sets tried in order for a request; the first allowed one wins. As upstream
// with KubeletFineGrainedAuthz (on by default since 1.33): /pods and /runningpods try "pods"
// then "proxy", /healthz "healthz" then "proxy", /configz "configz" then "proxy"; /stats
// "stats", /metrics "metrics", /logs "log", /checkpoint "checkpoint"; anything else "proxy".
// A prefix matches the path itself or the path followed by "/".
std::vector<Attributes> requestAttributes(const std::string& method, const std::string& path);

// The HTTP method as an authorization verb (upstream's mapping: HEAD and others give "").
std::string verbForMethod(const std::string& method);

// The upstream 403 body: "Forbidden (user=u, verb=get, resource=nodes, subresource(s)=[a b])\n".
std::string forbiddenMessage(const UserInfo& user, const std::vector<Attributes>& attrs);

// Creates an object through the apiserver (POST) and returns the answer; TokenReviews and
// SubjectAccessReviews go through it. The kubelet passes its API client; tests a fake.
using ApiCreate = std::function<absl::StatusOr<nlohmann::json>(const std::string& path, const nlohmann::json& obj)>;

// A map whose entries expire; used for token and authorization answers.
template <typename V>
class TtlCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit TtlCache(size_t maxEntries = 4096) : max_(maxEntries) {}
  std::optional<V> get(const std::string& key, Clock::time_point now = Clock::now()) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = m_.find(key);
    if (it == m_.end()) return std::nullopt;
    if (it->second.first <= now) {
      m_.erase(it);
      return std::nullopt;
    }
    return it->second.second;
  }
  void put(const std::string& key, V value, std::chrono::nanoseconds ttl, Clock::time_point now = Clock::now()) {
    if (ttl <= std::chrono::nanoseconds::zero()) return;
    std::lock_guard<std::mutex> l(mu_);
    if (m_.size() >= max_) {
      for (auto it = m_.begin(); it != m_.end();) it = it->second.first <= now ? m_.erase(it) : std::next(it);
      if (m_.size() >= max_) m_.clear();  // a flood of distinct keys: start over
    }
    m_.insert_or_assign(key, std::make_pair(now + std::chrono::duration_cast<Clock::duration>(ttl), std::move(value)));
  }
  size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return m_.size();
  }

 private:
  size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<Clock::time_point, V>> m_;
};

struct AuthenticatorOptions {
  bool anonymous = false;
  bool webhook = true;
  std::chrono::nanoseconds webhookCacheTTL = std::chrono::minutes(2);
  std::string clientCAFile;  // "" = no x509 authentication
};

// What the connection and the request carry for authentication.
struct Credentials {
  X509* peerCert = nullptr;             // the client's certificate, if it sent one
  STACK_OF(X509)* peerChain = nullptr;  // intermediates it sent (may be null)
  std::string authorization;           // the Authorization header
  std::vector<std::string> webSocketProtocols;  // Sec-WebSocket-Protocol values
};

class Authenticator {
 public:
  // Loads the client CA file when configured (errors name the file).
  static absl::StatusOr<std::unique_ptr<Authenticator>> create(const AuthenticatorOptions& opts, ApiCreate api);
  ~Authenticator();
  // The user, or Unauthenticated (the server answers 401 "Unauthorized").
  absl::StatusOr<UserInfo> authenticate(const Credentials& creds);
  // The bearer token in `creds`, if any (header first, then the WebSocket subprotocol).
  static std::optional<std::string> bearerToken(const Credentials& creds);

 private:
  Authenticator(AuthenticatorOptions opts, ApiCreate api) : opts_(std::move(opts)), api_(std::move(api)) {}
  absl::StatusOr<UserInfo> verifyCertificate(X509* cert, STACK_OF(X509)* chain);
  absl::StatusOr<std::optional<UserInfo>> reviewToken(const std::string& token);

  AuthenticatorOptions opts_;
  ApiCreate api_;
  X509_STORE* store_ = nullptr;
  // Keyed by the token's SHA-256; nullopt = the apiserver said not authenticated.
  TtlCache<std::optional<UserInfo>> tokens_;
};

struct AuthorizerOptions {
  std::string mode = "Webhook";  // Webhook | AlwaysAllow
  std::chrono::nanoseconds allowedTTL = std::chrono::minutes(5);
  std::chrono::nanoseconds deniedTTL = std::chrono::seconds(30);
  std::string nodeName;
};

class Authorizer {
 public:
  static absl::StatusOr<std::unique_ptr<Authorizer>> create(const AuthorizerOptions& opts, ApiCreate api);
  // True when allowed; an error when the apiserver could not be asked (the server answers
  // 500 naming the attributes).
  absl::StatusOr<bool> authorize(const UserInfo& user, const Attributes& attrs);
  // The SubjectAccessReview the webhook sends (exposed for tests).
  nlohmann::json subjectAccessReview(const UserInfo& user, const Attributes& attrs) const;

 private:
  Authorizer(AuthorizerOptions opts, ApiCreate api) : opts_(std::move(opts)), api_(std::move(api)) {}
  AuthorizerOptions opts_;
  ApiCreate api_;
  TtlCache<bool> cache_;
};

}  // namespace cubelet::server
