// TLS for the kubelet API: the serving certificate (given, or self-signed and kept in
// --cert-dir as the upstream kubelet does) and the OpenSSL server context (minimum version,
// cipher suites, an optional client certificate request).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "absl/status/statusor.h"

namespace cubelet::server {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

struct TlsOptions {
  std::string certFile;
  std::string keyFile;
  // Go names as KubeletConfiguration takes them: VersionTLS12, VersionTLS13 ("" = TLS 1.2).
  std::string minVersion;
  // Go/IANA names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256...); empty = OpenSSL's defaults.
  std::vector<std::string> cipherSuites;
  // When set, clients are asked (not required) for a certificate issued by these CAs; the
  // authenticator verifies it per request.
  std::string clientCAFile;
};

// Checks tlsMinVersion and tlsCipherSuites, naming the field and value. Versions below TLS
// 1.2 are refused (upstream accepts VersionTLS10 and VersionTLS11; cubelet does not).
absl::Status validateTlsSettings(const std::string& minVersion, const std::vector<std::string>& cipherSuites);

// <certDir>/kubelet.crt and kubelet.key: reused when both can be read, else made: a
// throw-away CA and a serving certificate signed by it for `hostname` and `ips` (RSA 2048,
// valid one year; the .crt holds the leaf then the CA, the key file is 0600). Returns the
// two paths.
absl::StatusOr<std::pair<std::string, std::string>> ensureSelfSignedCert(const std::string& certDir,
                                                                         const std::string& hostname,
                                                                         const std::vector<std::string>& ips);

absl::StatusOr<SslCtxPtr> makeServerContext(const TlsOptions& opts);

}  // namespace cubelet::server
