#include "kubelet/volume/token_manager.h"

#include <condition_variable>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/objects/timefmt.h"

namespace cubelet::volume {

using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

constexpr auto kMaxTokenAge = std::chrono::hours(24);

std::string describe(const TokenRequestSpec& spec) {
  return "service account \"" + spec.ns + "/" + spec.serviceAccount + "\" for pod \"" + spec.ns + "/" +
         spec.podName + "\" (uid " + spec.podUid + ")" +
         (spec.audience.empty() ? "" : " audience \"" + spec.audience + "\"");
}

absl::Status validate(const TokenRequestSpec& spec) {
  if (spec.ns.empty() || spec.serviceAccount.empty() || spec.podName.empty() || spec.podUid.empty()) {
    return absl::InvalidArgumentError("token request for " + describe(spec) +
                                      ": namespace, service account, pod name and pod uid are required");
  }
  if (spec.expirationSeconds < kMinTokenExpirationSeconds) {
    return absl::InvalidArgumentError("spec.expirationSeconds: Invalid value: " +
                                      std::to_string(spec.expirationSeconds) +
                                      ": may not specify a duration less than 10 minutes");
  }
  if (spec.expirationSeconds > kMaxTokenExpirationSeconds) {
    return absl::InvalidArgumentError("spec.expirationSeconds: Invalid value: " +
                                      std::to_string(spec.expirationSeconds) +
                                      ": may not specify a duration larger than 2^32 seconds");
  }
  return absl::OkStatus();
}

// The refusals of a TokenRequest for a pod the apiserver has not linked to this node yet: the
// node authorizer's and NodeRestriction's (its pod cache lacks the pod).
bool notLinkedYet(const absl::Status& st, const std::string& podName) {
  const std::string msg(st.message());
  if (absl::IsPermissionDenied(st)) return msg.find("no relationship found between node") != std::string::npos;
  if (absl::IsNotFound(st)) return msg.find("pod \"" + podName + "\" not found") != std::string::npos;
  return false;
}

}  // namespace

TokenManager::Clock TokenManager::defaultClock() {
  return [] { return system_clock::now(); };
}

std::function<int()> TokenManager::defaultJitter() {
  return [] {
    thread_local std::mt19937 rng{std::random_device{}()};
    return std::uniform_int_distribution<int>(0, 9)(rng);
  };
}

TokenManager::TokenManager(api::Client* client, Clock clock, std::function<int()> jitterSeconds)
    : client_(client), clock_(std::move(clock)), jitter_(std::move(jitterSeconds)) {}

bool TokenManager::requiresRefresh(const Token& tok, int64_t expirationSeconds, system_clock::time_point now,
                                   int jitterSeconds) {
  if (expirationSeconds <= 0) return false;  // upstream: no requested duration, never refreshed
  const seconds jitter(jitterSeconds);
  const system_clock::time_point iat = tok.expiration - seconds(expirationSeconds);
  if (now < iat) return true;  // the clock moved back
  if (now > iat + kMaxTokenAge - jitter) return true;
  // 20% of the requested duration, whole seconds (rounded down).
  const seconds margin(expirationSeconds / 5);
  return now > tok.expiration - margin - jitter;
}

TokenManager::Key TokenManager::keyOf(const TokenRequestSpec& spec) {
  return {spec.ns, spec.serviceAccount, spec.audience, spec.expirationSeconds, spec.podName, spec.podUid};
}

absl::StatusOr<Token> TokenManager::request(const TokenRequestSpec& spec) {
  api::json body = {
      {"apiVersion", "authentication.k8s.io/v1"},
      {"kind", "TokenRequest"},
      {"spec",
       {{"expirationSeconds", spec.expirationSeconds},
        {"boundObjectRef", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", spec.podName}, {"uid", spec.podUid}}}}},
  };
  if (!spec.audience.empty()) body["spec"]["audiences"] = api::json::array({spec.audience});
  const std::string path =
      "/api/v1/namespaces/" + spec.ns + "/serviceaccounts/" + spec.serviceAccount + "/token";
  absl::StatusOr<api::json> created = client_->create(path, body);
  for (size_t i = 0; i < linkRetries_.size() && !created.ok() && notLinkedYet(created.status(), spec.podName); ++i) {
    VLOG(2) << "TokenRequest for pod " << spec.ns << "/" << spec.podName << " refused before the apiserver linked it "
            << "to this node (" << created.status().message() << "); asking again in " << linkRetries_[i].count() << "ms";
    std::this_thread::sleep_for(linkRetries_[i]);
    created = client_->create(path, body);
  }
  ASSIGN_OR_RETURN(api::json resp, std::move(created));

  const api::json* status = resp.is_object() && resp.contains("status") ? &resp["status"] : nullptr;
  if (status == nullptr || !status->is_object() || !status->contains("token") || !(*status)["token"].is_string() ||
      (*status)["token"].get<std::string>().empty()) {
    return absl::InternalError("TokenRequest response has no status.token");
  }
  if (!status->contains("expirationTimestamp") || !(*status)["expirationTimestamp"].is_string()) {
    return absl::InternalError("TokenRequest response has no status.expirationTimestamp");
  }
  const std::string expText = (*status)["expirationTimestamp"].get<std::string>();
  auto exp = objects::parseTime(expText);
  if (!exp) return absl::InternalError("TokenRequest response has a malformed expirationTimestamp \"" + expText + "\"");

  Token tok;
  tok.token = (*status)["token"].get<std::string>();
  tok.expiration = *exp;
  tok.issued = *exp - seconds(spec.expirationSeconds);
  return tok;
}

absl::StatusOr<Token> TokenManager::get(const TokenRequestSpec& spec) {
  RETURN_IF_ERROR(validate(spec));

  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& slot = cache_[keyOf(spec)];
    if (!slot) slot = std::make_shared<Entry>();
    entry = slot;
  }

  // Held during the request: a concurrent get() of the same key waits and then finds the
  // fresh token instead of making a second request. mu_ is not held, so other keys proceed.
  std::lock_guard<std::mutex> el(entry->mu);
  const system_clock::time_point now = clock_();
  if (entry->tok && !requiresRefresh(*entry->tok, spec.expirationSeconds, now, jitter_())) return *entry->tok;

  absl::StatusOr<Token> fresh = request(spec);
  if (fresh.ok()) {
    entry->tok = *fresh;
    return fresh;
  }
  if (entry->tok && now < entry->tok->expiration) {
    LOG_WARNING << "could not refresh the token of " << describe(spec) << ", using the cached one until "
                << objects::formatTime(entry->tok->expiration) << ": " << fresh.status().message();
    return *entry->tok;
  }
  if (entry->tok) {
    return absl::Status(fresh.status().code(), "token of " + describe(spec) + " expired and refresh failed: " +
                                                   std::string(fresh.status().message()));
  }
  {
    // Nothing to keep: drop the empty entry unless another get() holds it (references are
    // only taken under mu_, so the count is exact there: the map's and ours).
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(keyOf(spec));
    if (it != cache_.end() && it->second == entry && entry.use_count() == 2) cache_.erase(it);
  }
  return absl::Status(fresh.status().code(),
                      "failed to fetch token of " + describe(spec) + ": " + std::string(fresh.status().message()));
}

void TokenManager::forgetPod(const std::string& podUid) {
  std::lock_guard<std::mutex> l(mu_);
  std::erase_if(cache_, [&](const auto& kv) { return std::get<5>(kv.first) == podUid; });
}

size_t TokenManager::cleanupExpired() {
  const system_clock::time_point now = clock_();
  std::lock_guard<std::mutex> l(mu_);
  return std::erase_if(cache_, [&](const auto& kv) {
    Entry& e = *kv.second;
    std::unique_lock<std::mutex> el(e.mu, std::try_to_lock);
    if (!el.owns_lock()) return false;  // being refreshed
    return !e.tok || now >= e.tok->expiration;
  });
}

void TokenManager::runCleanup(std::stop_token stop, std::chrono::milliseconds period) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> l(m);
  // wait_for returns the predicate: true only once a stop was requested.
  while (!cv.wait_for(l, stop, period, [&stop] { return stop.stop_requested(); })) {
    if (size_t n = cleanupExpired(); n > 0) LOG_INFO << "dropped " << n << " expired service-account tokens";
  }
}

size_t TokenManager::cachedCount() {
  std::lock_guard<std::mutex> l(mu_);
  return cache_.size();
}

}  // namespace cubelet::volume
