// A self-signed certificate (its own CA) and its P-256 key, made at test time, for TLS test
// servers: httplib::SSLServer srv(cert.cert, cert.key).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

namespace cubelet::testing {

struct SelfSignedCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;

  // `san`, when given, is a subjectAltName such as "IP:127.0.0.1" (a client that checks the
  // host needs one).
  explicit SelfSignedCert(const std::string& cn = "test-server", const std::string& san = "") {
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    if (!san.empty()) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());
  }
  SelfSignedCert(const SelfSignedCert&) = delete;
  SelfSignedCert& operator=(const SelfSignedCert&) = delete;
  ~SelfSignedCert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }

  // The certificate as PEM (e.g. a kubeconfig's certificate-authority-data, decoded).
  std::string pem() const {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(b);
    return out;
  }
};

}  // namespace cubelet::testing
