// REST client for the kube-apiserver: TLS with client certificates or a bearer token,
// JSON requests, and streaming watches. Thread-safe: each request borrows a connection
// from a small keep-alive pool.
//
// HTTP failures become absl::Status codes with the apiserver's Status message:
//   400/422 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound,
//   409 AlreadyExists (reason AlreadyExists) or Aborted (Conflict), 410 OutOfRange (Gone),
//   429 ResourceExhausted, 5xx and connection errors Unavailable, timeouts DeadlineExceeded.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kubelet/config/kubeconfig.h"

namespace httplib {
class ClientImpl;
}

namespace cubelet::api {

using nlohmann::json;

inline bool isGone(const absl::Status& st) { return st.code() == absl::StatusCode::kOutOfRange; }
inline bool isNotFound(const absl::Status& st) { return st.code() == absl::StatusCode::kNotFound; }
inline bool isAlreadyExists(const absl::Status& st) { return st.code() == absl::StatusCode::kAlreadyExists; }
inline bool isConflict(const absl::Status& st) { return st.code() == absl::StatusCode::kAborted; }

// Maps an HTTP status and the apiserver's JSON Status body to an absl::Status. Exposed for tests.
absl::Status statusFromResponse(int httpStatus, const std::string& body, const std::string& what);

enum class PatchType { kStrategicMerge, kMerge, kJson };

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  json object;
};

// Removes metadata.managedFields (server-side apply bookkeeping, often the biggest part of an
// object, which nothing on a node reads): watched and listed objects are kept without it.
void dropManagedFields(json& object);

// Decodes one line of a watch stream (the object without managedFields). An ERROR event carrying a Status is returned as the
// matching error (410 -> OutOfRange); malformed lines are InvalidArgument.
absl::StatusOr<WatchEvent> decodeWatchEvent(std::string_view line);

// Splits a chunked byte stream into complete lines; keeps the incomplete tail.
class LineSplitter {
 public:
  template <typename F>
  void feed(std::string_view data, F&& onLine) {
    buf_.append(data);
    size_t start = 0;
    for (size_t nl; (nl = buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (nl > start) onLine(std::string_view(buf_).substr(start, nl - start));
    }
    buf_.erase(0, start);
  }
  size_t pending() const { return buf_.size(); }

 private:
  std::string buf_;
};

struct ClientOptions {
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(10)};
  std::string userAgent = "cubelet";
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> create(const config::RestConfig& rc, ClientOptions opts = {});
  ~Client();

  struct TlsMaterial;  // defined in client.cc
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  absl::StatusOr<json> get(const std::string& path);
  absl::StatusOr<json> create(const std::string& path, const json& obj);
  absl::StatusOr<json> update(const std::string& path, const json& obj);
  absl::StatusOr<json> patch(const std::string& path, const json& patch, PatchType type);
  absl::Status remove(const std::string& path);
  // DELETE with DeleteOptions (grace period, preconditions).
  absl::Status removeWithBody(const std::string& path, const json& deleteOptions);

  // GETs `path` (which must carry watch=true and a resourceVersion) and calls `onEvent` for
  // each event until the server ends the stream (OK), `onEvent` returns false (OK), `stop`
  // is requested (Cancelled) or an error occurs.
  absl::Status watch(const std::string& path, const std::function<bool(const WatchEvent&)>& onEvent,
                     std::stop_token stop, std::chrono::seconds readTimeout);

  const std::string& server() const { return server_; }

 private:
  Client() = default;
  absl::StatusOr<json> call(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& contentType);
  std::unique_ptr<httplib::ClientImpl> acquire();
  void release(std::unique_ptr<httplib::ClientImpl> c);
  std::unique_ptr<httplib::ClientImpl> makeClient();

  // The client certificate, key and CA store, parsed once by create() and shared by every
  // connection; set for https servers.
  std::shared_ptr<TlsMaterial> tls_;
  config::RestConfig rc_;
  ClientOptions opts_;
  std::string server_;
  std::string host_;
  int port_ = 443;
  bool https_ = true;
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_;  // guarded by mu_
};

}  // namespace cubelet::api
