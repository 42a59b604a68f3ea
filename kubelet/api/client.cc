#include "kubelet/api/client.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <httplib.h>

#include "base/log.h"
#include "base/status_macros.h"
#include "kubelet/objects/json_access.h"

namespace cubelet::api {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr memBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

const char* patchContentType(PatchType t) {
  switch (t) {
    case PatchType::kStrategicMerge: return "application/strategic-merge-patch+json";
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kJson: return "application/json-patch+json";
  }
  return "application/json";
}

absl::StatusCode codeForHttp(int http, const std::string& reason) {
  switch (http) {
    case 400: case 422: return absl::StatusCode::kInvalidArgument;
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 409: return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists : absl::StatusCode::kAborted;
    case 410: return absl::StatusCode::kOutOfRange;
    case 429: return absl::StatusCode::kResourceExhausted;
    case 504: return absl::StatusCode::kDeadlineExceeded;
    default: break;
  }
  if (http >= 500) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status statusFromResponse(int http, const std::string& body, const std::string& what) {
  if (http >= 200 && http < 300) return absl::OkStatus();
  std::string reason, message;
  auto j = json::parse(body, nullptr, false);
  if (objects::str(j, {"kind"}) == "Status") {
    reason = objects::str(j, {"reason"});
    message = objects::str(j, {"message"});
  } else {
    message = body.substr(0, 512);
  }
  return absl::Status(codeForHttp(http, reason),
                      what + ": " + std::to_string(http) + (reason.empty() ? "" : " " + reason) + ": " + message);
}

void dropManagedFields(json& object) {
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) meta->erase("managedFields");
}

absl::StatusOr<WatchEvent> decodeWatchEvent(std::string_view line) {
  auto j = json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string() || !j.contains("object") ||
      !j["object"].is_object()) {
    return absl::InvalidArgumentError("malformed watch event: " + std::string(line.substr(0, 200)));
  }
  WatchEvent ev{j["type"].get<std::string>(), std::move(j["object"])};
  dropManagedFields(ev.object);
  if (ev.type == "ERROR") {
    int code = static_cast<int>(objects::integer(ev.object, {"code"}, 500));
    return statusFromResponse(code, ev.object.dump(), "watch");
  }
  if (ev.type != "ADDED" && ev.type != "MODIFIED" && ev.type != "DELETED" && ev.type != "BOOKMARK") {
    return absl::InvalidArgumentError("watch event of unknown type \"" + ev.type + "\"");
  }
  return ev;
}

// Idle connections kept for reuse.
constexpr size_t kMaxIdleConnections = 16;

struct Client::TlsMaterial {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  X509_STORE* store = nullptr;  // the kubeconfig's CA certificates; null: none given
  TlsMaterial() = default;
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;
  ~TlsMaterial() {
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_STORE_free(store);
  }
};

namespace {

// The kubeconfig's client certificate, key and CA certificates, parsed once: decoding a
// private key and the CA costs milliseconds, which every new connection would pay. Null
// when any of them is not valid PEM.
std::shared_ptr<Client::TlsMaterial> parseTlsMaterial(const config::RestConfig& rc) {
  auto tls = std::make_shared<Client::TlsMaterial>();
  if (!rc.clientCertPem.empty()) {
    auto cb = memBio(rc.clientCertPem);
    tls->cert = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
    auto kb = memBio(rc.clientKeyPem);
    tls->key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
    if (!tls->cert || !tls->key) return nullptr;
  }
  if (!rc.caPem.empty()) {
    tls->store = X509_STORE_new();
    auto bio = memBio(rc.caPem);
    int n = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(tls->store, ca);
      X509_free(ca);
      ++n;
    }
    if (n == 0) return nullptr;
  }
  return tls;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::create(const config::RestConfig& rc, ClientOptions opts) {
  std::unique_ptr<Client> c(new Client());
  c->rc_ = rc;
  c->opts_ = opts;
  c->server_ = rc.server;
  std::string rest = rc.server;
  if (rest.rfind("https://", 0) == 0) {
    rest = rest.substr(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
    c->https_ = false;
    c->port_ = 80;
  } else {
    return absl::InvalidArgumentError("server \"" + rc.server + "\" from " + rc.source + " is not an http(s) URL");
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  // host, host:port, [v6], [v6]:port
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("bad server address " + rc.server);
    c->host_ = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] == ':') c->port_ = std::atoi(rest.c_str() + 1);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    c->host_ = rest.substr(0, colon);
    c->port_ = std::atoi(rest.c_str() + colon + 1);
  } else {
    c->host_ = rest;
  }
  if (c->host_.empty() || c->port_ <= 0 || c->port_ > 65535) {
    return absl::InvalidArgumentError("bad server address \"" + rc.server + "\" in " + rc.source);
  }
  // Fail early on unusable credentials rather than on the first request.
  if (c->https_) c->tls_ = parseTlsMaterial(rc);
  auto probe = c->https_ && !c->tls_ ? nullptr : c->makeClient();
  if (!probe || !probe->is_valid()) {
    return absl::InvalidArgumentError("cannot use the TLS credentials from " + rc.source +
                                      " (client certificate, key or CA is not valid PEM or they do not match)");
  }
  c->release(std::move(probe));
  return c;
}

Client::~Client() = default;

std::unique_ptr<httplib::ClientImpl> Client::makeClient() {
  std::unique_ptr<httplib::ClientImpl> cli;
  if (https_) {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (tls_->cert) {
      ssl = std::make_unique<httplib::SSLClient>(host_, port_, tls_->cert, tls_->key);  // the SSL_CTX takes references
    } else {
      ssl = std::make_unique<httplib::SSLClient>(host_, port_);
    }
    if (tls_->store) {
      X509_STORE_up_ref(tls_->store);
      ssl->set_ca_cert_store(tls_->store);  // takes that reference
      // Only the kubeconfig's CA is trusted, as client-go does when one is given. Without a CA
      // path cpp-httplib would also add the system's bundle to the store (and parse its ~140
      // certificates for every connection); /dev/null is a certificate directory that can
      // hold nothing.
      ssl->set_ca_cert_path("", "/dev/null");
    }
    ssl->enable_server_certificate_verification(!rc_.insecureSkipVerify);
    cli = std::move(ssl);
  } else {
    cli = std::make_unique<httplib::ClientImpl>(host_, port_);
  }
  cli->set_keep_alive(true);
  // A request goes out in more than one write (headers, then the body): without TCP_NODELAY
  // the body waits for the ACK of the headers, which the apiserver delays by up to 40 ms.
  cli->set_tcp_nodelay(true);
  cli->set_connection_timeout(std::chrono::seconds(5));
  cli->set_read_timeout(opts_.requestTimeout);
  cli->set_write_timeout(opts_.requestTimeout);
  if (!rc_.bearerToken.empty()) cli->set_bearer_token_auth(rc_.bearerToken.c_str());
  return cli;
}

std::unique_ptr<httplib::ClientImpl> Client::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return makeClient();
}

void Client::release(std::unique_ptr<httplib::ClientImpl> c) {
  std::lock_guard<std::mutex> lock(mu_);
  // Enough kept for the pod workers and status senders of a burst: every connection made anew
  // costs a TLS handshake.
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(c));
}

absl::StatusOr<json> Client::call(const std::string& method, const std::string& path, const std::string& body,
                                  const std::string& contentType) {
  const std::string what = method + " " + path;
  auto cli = acquire();
  if (!cli) return absl::InvalidArgumentError(what + ": cannot set up TLS from " + rc_.source);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = {{"Accept", "application/json"}, {"User-Agent", opts_.userAgent}};
  if (!body.empty()) {
    req.body = body;
    req.headers.emplace("Content-Type", contentType);
  }
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool ok = cli->send(req, res, err);
  if (!ok) {
    // The pooled connection may have been closed by the server: retry once on a new one.
    cli = makeClient();
    if (!cli) return absl::InvalidArgumentError(what + ": cannot set up TLS from " + rc_.source);
    res = httplib::Response();
    ok = cli->send(req, res, err);
  }
  if (!ok) {
    return absl::UnavailableError(what + " on " + server_ + ": " + httplib::to_string(err));
  }
  release(std::move(cli));
  RETURN_IF_ERROR(statusFromResponse(res.status, res.body, what));
  if (res.body.empty()) return json::object();
  auto j = json::parse(res.body, nullptr, false);
  if (j.is_discarded()) return absl::InternalError(what + ": response is not JSON");
  return j;
}

absl::StatusOr<json> Client::get(const std::string& path) { return call("GET", path, "", ""); }

absl::StatusOr<json> Client::create(const std::string& path, const json& obj) {
  return call("POST", path, obj.dump(), "application/json");
}

absl::StatusOr<json> Client::update(const std::string& path, const json& obj) {
  return call("PUT", path, obj.dump(), "application/json");
}

absl::StatusOr<json> Client::patch(const std::string& path, const json& p, PatchType type) {
  return call("PATCH", path, p.dump(), patchContentType(type));
}

absl::Status Client::remove(const std::string& path) { return call("DELETE", path, "", "").status(); }

absl::Status Client::removeWithBody(const std::string& path, const json& deleteOptions) {
  return call("DELETE", path, deleteOptions.dump(), "application/json").status();
}

absl::Status Client::watch(const std::string& path, const std::function<bool(const WatchEvent&)>& onEvent,
                           std::stop_token stop, std::chrono::seconds readTimeout) {
  auto cli = makeClient();
  if (!cli) return absl::InvalidArgumentError("watch " + path + ": cannot set up TLS from " + rc_.source);
  cli->set_keep_alive(false);
  cli->set_read_timeout(readTimeout);
  std::stop_callback onStop(stop, [&cli] { cli->stop(); });

  httplib::Request req;
  req.method = "GET";
  req.path = path;
  req.headers = {{"Accept", "application/json"}, {"User-Agent", opts_.userAgent}};
  int httpStatus = 0;
  std::string errorBody;
  LineSplitter lines;
  absl::Status streamStatus;
  bool consumerStopped = false;
  req.response_handler = [&](const httplib::Response& r) {
    httpStatus = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (httpStatus != 200) {
      if (errorBody.size() < 65536) errorBody.append(data, len);
      return true;
    }
    bool keep = true;
    lines.feed(std::string_view(data, len), [&](std::string_view line) {
      if (!keep) return;
      auto ev = decodeWatchEvent(line);
      if (!ev.ok()) {
        streamStatus = ev.status();
        keep = false;
        return;
      }
      if (!onEvent(*ev)) {
        consumerStopped = true;
        keep = false;
      }
    });
    return keep && !stop.stop_requested();
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool ok = cli->send(req, res, err);
  if (stop.stop_requested()) return absl::CancelledError("watch " + path + ": stopped");
  if (!streamStatus.ok()) return streamStatus;
  if (consumerStopped) return absl::OkStatus();
  if (httpStatus != 0 && httpStatus != 200) return statusFromResponse(httpStatus, errorBody, "watch " + path);
  if (!ok) {
    if (err == httplib::Error::Read && httpStatus == 200) {
      return absl::DeadlineExceededError("watch " + path + ": no data within the read timeout");
    }
    return absl::UnavailableError("watch " + path + " on " + server_ + ": " + httplib::to_string(err));
  }
  return absl::OkStatus();
}

}  // namespace cubelet::api
