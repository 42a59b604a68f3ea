// The HTTP GET of an HTTPGetAction, shared by httpGet probes and httpGet lifecycle hooks, as
// the upstream kubelet sends it (pkg/probe/http request.go and http.go):
//  - URL: scheme (lower-cased, default http), host (default: the pod IP), port by number or
//    by the container's port name, path as written;
//  - headers: the action's httpHeaders (names canonicalised the Go way), User-Agent
//    `kube-<purpose>/<major>.<minor>` and Accept `*/*` unless given (an empty Accept removes
//    it), a Host header replaces the Host line; no compression, no keep-alive;
//  - HTTPS without certificate verification;
//  - redirects are followed (at most 10) only while they stay on the same host name; a
//    redirect elsewhere is returned as the answer (the prober reports it as a warning);
//  - at most 10 KiB of the body is read.
// Errors read like the Go client's, since upstream shows them in probe output:
//   Get "http://10.0.0.5:8080/healthz": dial tcp 10.0.0.5:8080: connect: connection refused
//   Get "http://10.0.0.5:8080/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)
//
// Thread-safe (no shared state besides OpenSSL's client context, made once).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace cubelet::prober {

inline constexpr size_t kMaxHttpBodyBytes = 10 * 1024;

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpGetRequest {
  std::string scheme = "http";  // "http" or "https"
  std::string host;             // URL host: an IP literal or a name, no brackets
  int port = 80;
  std::string path;             // as written in the action ("", "/healthz", "/x?y=1")
  std::vector<HttpHeader> headers;  // canonical names; Host, User-Agent and Accept included

  // Go's URL string: "http://10.0.0.5:8080/healthz".
  std::string url() const;
};

// The request for `action` (an HTTPGetAction object) of `container` in a pod with `podIp`.
// `purpose` is "probe" or "lifecycle". Errors (InvalidArgument) are port resolution errors.
absl::StatusOr<HttpGetRequest> requestForHttpGetAction(const nlohmann::json& action, const nlohmann::json& container,
                                                       const std::string& podIp, std::string_view purpose);

// "kube-probe/1.37" for purpose "probe", from the Kubernetes version cubelet implements.
std::string kubeUserAgent(std::string_view purpose);

// textproto.CanonicalMIMEHeaderKey: "x-custom-header" -> "X-Custom-Header".
std::string canonicalHeaderName(std::string_view name);

struct HttpGetResponse {
  int status = 0;
  std::string body;       // the first kMaxHttpBodyBytes at most
  bool truncated = false; // the body was longer
  // Reading the body failed (not truncation), in Go's words; the status is still valid.
  std::string bodyError;
};

// Sends the GET and reads the answer within `timeout` (redirects included; 0: no limit).
// Errors: DeadlineExceeded when the timeout ran out, Unavailable otherwise.
absl::StatusOr<HttpGetResponse> httpGet(const HttpGetRequest& request, std::chrono::milliseconds timeout);

}  // namespace cubelet::prober
