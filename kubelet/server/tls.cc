#include "kubelet/server/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace cubelet::server {
namespace {

// Go cipher suite names -> OpenSSL names (TLS 1.2). TLS 1.3 suites are accepted, as Go
// does, without being configurable.
const std::map<std::string, std::string>& tls12Ciphers() {
  static const std::map<std::string, std::string> m = {
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
  };
  return m;
}

bool isTls13Suite(const std::string& name) {
  return name == "TLS_AES_128_GCM_SHA256" || name == "TLS_AES_256_GCM_SHA384" || name == "TLS_CHACHA20_POLY1305_SHA256";
}

std::string opensslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

absl::Status addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return absl::InternalError(absl::StrCat("certificate extension ", value, ": ", opensslError()));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return absl::OkStatus();
}

absl::StatusOr<X509Ptr> makeCert(EVP_PKEY* key, EVP_PKEY* signer, X509* issuer, long serial, const std::string& cn,
                                 bool ca, const std::string& san) {
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError("out of memory");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  // Valid from an hour ago (clock skew) for one year, as upstream's self-signed pair.
  time_t now = time(nullptr);
  X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -3600, &now);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), 365, -3600, &now);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  X509* iss = issuer ? issuer : cert.get();
  if (ca) {
    RETURN_IF_ERROR(addExt(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(addExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"));
  } else {
    RETURN_IF_ERROR(addExt(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(addExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    RETURN_IF_ERROR(addExt(cert.get(), iss, NID_ext_key_usage, "serverAuth"));
    if (!san.empty()) RETURN_IF_ERROR(addExt(cert.get(), iss, NID_subject_alt_name, san));
  }
  if (X509_sign(cert.get(), signer, EVP_sha256()) == 0) return absl::InternalError(absl::StrCat("signing: ", opensslError()));
  return cert;
}

bool readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

absl::Status writeFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", strerror(errno)));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  fchmod(fd, mode);
  fsync(fd);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, ": ", strerror(errno)));
  return absl::OkStatus();
}

std::string pem(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

}  // namespace

absl::Status validateTlsSettings(const std::string& minVersion, const std::vector<std::string>& cipherSuites) {
  if (!minVersion.empty() && minVersion != "VersionTLS12" && minVersion != "VersionTLS13") {
    if (minVersion == "VersionTLS10" || minVersion == "VersionTLS11")
      return absl::InvalidArgumentError(
          absl::StrCat("tlsMinVersion: ", minVersion, " is not supported: cubelet serves TLS 1.2 or newer"));
    return absl::InvalidArgumentError(absl::StrCat("tlsMinVersion: unknown TLS version \"", minVersion,
                                                   "\" (want VersionTLS12 or VersionTLS13)"));
  }
  for (const auto& c : cipherSuites) {
    if (!tls12Ciphers().contains(c) && !isTls13Suite(c))
      return absl::InvalidArgumentError(absl::StrCat("tlsCipherSuites: Cipher suite ", c, " not supported or doesn't exist"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::string>> ensureSelfSignedCert(const std::string& certDir,
                                                                         const std::string& hostname,
                                                                         const std::vector<std::string>& ips) {
  const std::string crt = certDir + "/kubelet.crt", key = certDir + "/kubelet.key";
  if (readable(crt) && readable(key)) return std::make_pair(crt, key);
  std::error_code ec;
  std::filesystem::create_directories(certDir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create --cert-dir ", certDir, ": ", ec.message()));

  PkeyPtr caKey(EVP_RSA_gen(2048)), leafKey(EVP_RSA_gen(2048));
  if (!caKey || !leafKey) return absl::InternalError(absl::StrCat("generating RSA keys: ", opensslError()));
  const std::string stamp = std::to_string(time(nullptr));
  std::vector<std::string> sans;
  unsigned char buf[16];
  if (inet_pton(AF_INET, hostname.c_str(), buf) == 1 || inet_pton(AF_INET6, hostname.c_str(), buf) == 1)
    sans.push_back("IP:" + hostname);
  else
    sans.push_back("DNS:" + hostname);
  for (const auto& ip : ips)
    if (!ip.empty() && ip != hostname) sans.push_back("IP:" + ip);
  auto ca = makeCert(caKey.get(), caKey.get(), nullptr, 1, hostname + "-ca@" + stamp, true, "");
  if (!ca.ok()) return ca.status();
  auto leaf = makeCert(leafKey.get(), caKey.get(), ca->get(), 2, hostname + "@" + stamp, false, absl::StrJoin(sans, ","));
  if (!leaf.ok()) return leaf.status();

  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey_traditional(b, leafKey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string keyPem(data, static_cast<size_t>(n));
  BIO_free(b);
  RETURN_IF_ERROR(writeFileAtomic(key, keyPem, 0600));
  RETURN_IF_ERROR(writeFileAtomic(crt, pem(leaf->get()) + pem(ca->get()), 0644));
  LOG_INFO << "Generated self-signed serving certificate cert=" << crt << " key=" << key;
  return std::make_pair(crt, key);
}

absl::StatusOr<SslCtxPtr> makeServerContext(const TlsOptions& opts) {
  RETURN_IF_ERROR(validateTlsSettings(opts.minVersion, opts.cipherSuites));
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", opensslError()));
  SSL_CTX_set_min_proto_version(ctx.get(), opts.minVersion == "VersionTLS13" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_AUTO_RETRY);
  std::vector<std::string> tls12;
  for (const auto& c : opts.cipherSuites)
    if (auto it = tls12Ciphers().find(c); it != tls12Ciphers().end()) tls12.push_back(it->second);
  if (!opts.cipherSuites.empty() && !tls12.empty()) {
    if (SSL_CTX_set_cipher_list(ctx.get(), absl::StrJoin(tls12, ":").c_str()) != 1)
      return absl::InvalidArgumentError(absl::StrCat("tlsCipherSuites: ", opensslError()));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), opts.certFile.c_str()) != 1)
    return absl::InvalidArgumentError(absl::StrCat("tlsCertFile ", opts.certFile, ": ", opensslError()));
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), opts.keyFile.c_str(), SSL_FILETYPE_PEM) != 1)
    return absl::InvalidArgumentError(absl::StrCat("tlsPrivateKeyFile ", opts.keyFile, ": ", opensslError()));
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return absl::InvalidArgumentError(
        absl::StrCat("tlsPrivateKeyFile ", opts.keyFile, " does not match tlsCertFile ", opts.certFile));
  if (!opts.clientCAFile.empty()) {
    // Ask for a certificate from these CAs, accept the handshake whatever comes: clients with
    // a bearer token only (metrics-server, Prometheus) send none, and a bad certificate is a
    // 401 from the authenticator, not a failed handshake (Go's RequestClientCert).
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opts.clientCAFile.c_str());
    if (!names)
      return absl::InvalidArgumentError(
          absl::StrCat("authentication.x509.clientCAFile: cannot load ", opts.clientCAFile, ": ", opensslError()));
    SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  }
  return ctx;
}

}  // namespace cubelet::server
