#include "kubelet/server/auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"

namespace cubelet::server {
namespace {

constexpr std::string_view kWebSocketBearerPrefix = "base64url.bearer.authorization.k8s.io.";

// isSubpath: the path itself or anything below it.
bool under(const std::string& path, std::string_view prefix) {
  if (path == prefix) return true;
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/';
}

std::string sha256Hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return absl::BytesToHexString(std::string(reinterpret_cast<const char*>(md), n));
}

std::vector<std::string> nameEntries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0;) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

void addAuthenticatedGroup(UserInfo& u) {
  if (std::find(u.groups.begin(), u.groups.end(), "system:authenticated") == u.groups.end())
    u.groups.push_back("system:authenticated");
}

// The apiserver may be briefly unreachable (restart): a few tries before giving up.
absl::StatusOr<nlohmann::json> createWithRetry(const ApiCreate& api, const std::string& path, const nlohmann::json& obj) {
  auto delay = std::chrono::milliseconds(500);
  absl::StatusOr<nlohmann::json> r;
  for (int attempt = 0; attempt < 3; ++attempt) {
    r = api(path, obj);
    if (r.ok() || r.status().code() != absl::StatusCode::kUnavailable) return r;
    std::this_thread::sleep_for(delay);
    delay = delay * 3 / 2;
  }
  return r;
}

}  // namespace

std::string verbForMethod(const std::string& method) {
  if (method == "POST") return "create";
  if (method == "GET") return "get";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "";
}

std::vector<Attributes> requestAttributes(const std::string& method, const std::string& path) {
  const std::string verb = verbForMethod(method);
  auto one = [&](const char* sub) { return std::vector<Attributes>{{verb, sub}}; };
  auto withProxy = [&](const char* sub) { return std::vector<Attributes>{{verb, sub}, {verb, "proxy"}}; };
  if (under(path, "/stats")) return one("stats");
  if (under(path, "/metrics")) return one("metrics");
  if (under(path, "/logs")) return one("log");
  if (under(path, "/checkpoint")) return one("checkpoint");
  if (under(path, "/pods") || under(path, "/runningpods")) return withProxy("pods");
  if (under(path, "/healthz")) return withProxy("healthz");
  if (under(path, "/configz")) return withProxy("configz");
  if (under(path, "/statusz")) return withProxy("statusz");
  return one("proxy");
}

std::string forbiddenMessage(const UserInfo& user, const std::vector<Attributes>& attrs) {
  std::vector<std::string> subs;
  for (const auto& a : attrs) subs.push_back(a.subresource);
  std::string verb = attrs.empty() ? "" : attrs.front().verb;
  return absl::StrCat("Forbidden (user=", user.name, ", verb=", verb, ", resource=nodes, subresource(s)=[",
                      absl::StrJoin(subs, " "), "])\n");
}

// ---- authentication ----

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::create(const AuthenticatorOptions& opts, ApiCreate api) {
  std::unique_ptr<Authenticator> a(new Authenticator(opts, std::move(api)));
  if (!opts.clientCAFile.empty()) {
    a->store_ = X509_STORE_new();
    if (!a->store_ || X509_STORE_load_file(a->store_, opts.clientCAFile.c_str()) != 1)
      return absl::InvalidArgumentError(
          absl::StrCat("authentication.x509.clientCAFile: cannot load CA certificates from ", opts.clientCAFile));
  }
  return a;
}

Authenticator::~Authenticator() {
  if (store_) X509_STORE_free(store_);
}

std::optional<std::string> Authenticator::bearerToken(const Credentials& creds) {
  std::string_view h = creds.authorization;
  if (h.size() > 7 && (h.substr(0, 7) == "Bearer " || h.substr(0, 7) == "bearer ")) {
    h.remove_prefix(7);
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
    if (!h.empty()) return std::string(h);
  }
  for (const auto& v : creds.webSocketProtocols) {
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view p = rest.substr(0, comma);
      while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
      while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
      if (p.substr(0, kWebSocketBearerPrefix.size()) == kWebSocketBearerPrefix) {
        std::string token;
        if (absl::WebSafeBase64Unescape(std::string(p.substr(kWebSocketBearerPrefix.size())), &token) && !token.empty())
          return token;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return std::nullopt;
}

absl::StatusOr<UserInfo> Authenticator::verifyCertificate(X509* cert, STACK_OF(X509)* chain) {
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (!ctx) return absl::InternalError("out of memory");
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> guard(ctx, X509_STORE_CTX_free);
  if (X509_STORE_CTX_init(ctx, store_, cert, chain) != 1) return absl::InternalError("cannot verify certificate");
  // Client certificates must allow client authentication (Go's default ExtKeyUsage check).
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx) != 1) {
    char subject[256] = {0};
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    return absl::UnauthenticatedError(absl::StrCat("verifying client certificate ", subject, " failed: ",
                                                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx))));
  }
  UserInfo u;
  X509_NAME* subject = X509_get_subject_name(cert);
  auto cn = nameEntries(subject, NID_commonName);
  if (cn.empty() || cn.front().empty()) return absl::UnauthenticatedError("client certificate has no common name");
  u.name = cn.front();
  u.groups = nameEntries(subject, NID_organizationName);
  return u;
}

absl::StatusOr<std::optional<UserInfo>> Authenticator::reviewToken(const std::string& token) {
  const std::string key = sha256Hex(token);
  if (auto hit = tokens_.get(key)) return *hit;
  nlohmann::json review = {{"apiVersion", "authentication.k8s.io/v1"},
                           {"kind", "TokenReview"},
                           {"spec", {{"token", token}}}};
  auto answer = createWithRetry(api_, "/apis/authentication.k8s.io/v1/tokenreviews", review);
  if (!answer.ok()) return answer.status();
  const auto& status = (*answer)["status"];
  std::optional<UserInfo> result;
  if (status.is_object() && status.value("authenticated", false)) {
    UserInfo u;
    const auto& user = status.value("user", nlohmann::json::object());
    u.name = user.value("username", "");
    u.uid = user.value("uid", "");
    if (user.contains("groups") && user["groups"].is_array())
      for (const auto& g : user["groups"])
        if (g.is_string()) u.groups.push_back(g.get<std::string>());
    if (user.contains("extra") && user["extra"].is_object())
      for (const auto& [k, vs] : user["extra"].items())
        if (vs.is_array())
          for (const auto& v : vs)
            if (v.is_string()) u.extra[k].push_back(v.get<std::string>());
    if (!u.name.empty()) result = std::move(u);
  }
  tokens_.put(key, result, opts_.webhookCacheTTL);
  return result;
}

absl::StatusOr<UserInfo> Authenticator::authenticate(const Credentials& creds) {
  std::vector<std::string> errors;
  bool presented = false;
  if (store_ && creds.peerCert) {
    presented = true;
    auto u = verifyCertificate(creds.peerCert, creds.peerChain);
    if (u.ok()) {
      addAuthenticatedGroup(*u);
      return u;
    }
    errors.push_back(std::string(u.status().message()));
  }
  if (opts_.webhook) {
    if (auto token = bearerToken(creds)) {
      presented = true;
      auto u = reviewToken(*token);
      if (u.ok() && u->has_value()) {
        UserInfo user = **u;
        addAuthenticatedGroup(user);
        return user;
      }
      errors.push_back(u.ok() ? "token not authenticated" : std::string(u.status().message()));
    }
  }
  if (!presented && opts_.anonymous) {
    return UserInfo{"system:anonymous", "", {"system:unauthenticated"}, {}};
  }
  if (!errors.empty()) {
    VLOG(2) << "kubelet API: authentication failed: " << absl::StrJoin(errors, "; ");
    return absl::UnauthenticatedError(absl::StrJoin(errors, "; "));
  }
  return absl::UnauthenticatedError("no credentials");
}

// ---- authorization ----

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::create(const AuthorizerOptions& opts, ApiCreate api) {
  if (opts.mode.empty()) return absl::InvalidArgumentError("authorization.mode: No authorization mode specified");
  if (opts.mode != "Webhook" && opts.mode != "AlwaysAllow")
    return absl::InvalidArgumentError(absl::StrCat("authorization.mode: Unknown authorization mode ", opts.mode));
  return std::unique_ptr<Authorizer>(new Authorizer(opts, std::move(api)));
}

nlohmann::json Authorizer::subjectAccessReview(const UserInfo& user, const Attributes& attrs) const {
  nlohmann::json spec = {{"resourceAttributes",
                          {{"namespace", ""},
                           {"verb", attrs.verb},
                           {"group", ""},
                           {"version", "v1"},
                           {"resource", "nodes"},
                           {"subresource", attrs.subresource},
                           {"name", opts_.nodeName}}},
                         {"user", user.name},
                         {"groups", user.groups}};
  if (!user.uid.empty()) spec["uid"] = user.uid;
  if (!user.extra.empty()) spec["extra"] = user.extra;
  return {{"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
}

absl::StatusOr<bool> Authorizer::authorize(const UserInfo& user, const Attributes& attrs) {
  if (opts_.mode == "AlwaysAllow") return true;
  nlohmann::json sar = subjectAccessReview(user, attrs);
  const std::string key = sar["spec"].dump();
  if (auto hit = cache_.get(key)) return *hit;
  auto answer = createWithRetry(api_, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar);
  if (!answer.ok()) return answer.status();
  const auto& status = (*answer)["status"];
  bool allowed = status.is_object() && status.value("allowed", false) && !status.value("denied", false);
  cache_.put(key, allowed, allowed ? opts_.allowedTTL : opts_.deniedTTL);
  return allowed;
}

}  // namespace cubelet::server
