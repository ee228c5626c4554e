#include "tests/unit/support/certs/test_certs.h"

#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

namespace mailgate {

namespace {

// Test helper: a BoringSSL failure here is a broken test environment, so
// report it and abort rather than thread errors through every test.
[[noreturn]] void die(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  std::fprintf(stderr, "test_certs: %s failed: %s\n", what, buf);
  std::abort();
}

template <typename T>
T* check(T* p, const char* what) {
  if (!p) die(what);
  return p;
}
void check(int ok, const char* what) {
  if (ok != 1) die(what);
}

using PkeyPtr = bssl::UniquePtr<EVP_PKEY>;
using X509Ptr = bssl::UniquePtr<X509>;

PkeyPtr newP256Key() {
  bssl::UniquePtr<EC_KEY> ec(check(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1), "EC_KEY_new"));
  check(EC_KEY_generate_key(ec.get()), "EC_KEY_generate_key");
  PkeyPtr key(check(EVP_PKEY_new(), "EVP_PKEY_new"));
  check(EVP_PKEY_assign_EC_KEY(key.get(), ec.release()), "EVP_PKEY_assign_EC_KEY");
  return key;
}

std::string pemOf(X509* cert) {
  bssl::UniquePtr<BIO> bio(check(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string pemOf(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(check(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

X509Ptr parseCert(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(check(BIO_new_mem_buf(pem.data(), static_cast<long>(pem.size())), "BIO_new_mem_buf"));
  return X509Ptr(check(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), "PEM_read_bio_X509"));
}

PkeyPtr parseKey(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(check(BIO_new_mem_buf(pem.data(), static_cast<long>(pem.size())), "BIO_new_mem_buf"));
  return PkeyPtr(check(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), "PEM_read_bio_PrivateKey"));
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(
      check(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()), "X509V3_EXT_nconf_nid"));
  check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

// An unsigned certificate with subject CN, fresh serial, validity from one
// hour ago (clock skew) to 30 days ahead.
X509Ptr newCert(const std::string& commonName, EVP_PKEY* key) {
  X509Ptr cert(check(X509_new(), "X509_new"));
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&serial), sizeof(serial));
  serial = (serial >> 1) | 1;  // positive and non-zero (RFC 5280 §4.1.2.2)
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial), "serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const uint8_t*>(commonName.c_str()), -1, -1, 0),
        "X509_NAME_add_entry_by_txt");
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  return cert;
}

// Leaf for the names, issued by `issuer`/`issuerKey` (or self-signed when
// issuer is null).
X509Ptr newLeaf(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuerKey,
                const std::vector<std::string>& dnsNames, const std::vector<std::string>& ips,
                const std::string& commonName) {
  std::string cn = !commonName.empty() ? commonName
                   : !dnsNames.empty() ? dnsNames.front()
                   : !ips.empty()      ? ips.front()
                                       : "mailgate test";
  X509Ptr cert = newCert(cn, key);
  X509* signer = issuer ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)), "X509_set_issuer_name");
  addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  addExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer) addExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const auto& n : dnsNames) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  for (const auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) addExtension(cert.get(), signer, NID_subject_alt_name, san);
  check(X509_sign(cert.get(), issuerKey ? issuerKey : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

}  // namespace

TestPki makeTestPki(const std::vector<std::string>& dnsNames,
                    const std::vector<std::string>& ipAddresses, const std::string& commonName) {
  PkeyPtr caKey = newP256Key();
  X509Ptr ca = newCert("mailgate test CA", caKey.get());
  check(X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())), "X509_set_issuer_name");
  addExtension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExtension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(ca.get(), caKey.get(), EVP_sha256()) > 0, "X509_sign");

  TestPki issuer;
  issuer.caPem = pemOf(ca.get());
  issuer.caKeyPem = pemOf(caKey.get());
  return makeLeaf(issuer, dnsNames, ipAddresses, commonName);
}

TestPki makeLeaf(const TestPki& issuer, const std::vector<std::string>& dnsNames,
                 const std::vector<std::string>& ipAddresses, const std::string& commonName) {
  X509Ptr ca = parseCert(issuer.caPem);
  PkeyPtr caKey = parseKey(issuer.caKeyPem);
  PkeyPtr key = newP256Key();
  X509Ptr leaf = newLeaf(key.get(), ca.get(), caKey.get(), dnsNames, ipAddresses, commonName);
  TestPki pki;
  pki.caPem = issuer.caPem;
  pki.caKeyPem = issuer.caKeyPem;
  pki.certPem = pemOf(leaf.get());
  pki.keyPem = pemOf(key.get());
  return pki;
}

TestPki makeSelfSigned(const std::vector<std::string>& dnsNames,
                       const std::vector<std::string>& ipAddresses) {
  PkeyPtr key = newP256Key();
  X509Ptr cert = newLeaf(key.get(), nullptr, nullptr, dnsNames, ipAddresses, "");
  TestPki pki;
  pki.certPem = pemOf(cert.get());
  pki.keyPem = pemOf(key.get());
  pki.caPem = pki.certPem;
  pki.caKeyPem = pki.keyPem;
  return pki;
}

bool writeTextFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

bool writeTestPki(const TestPki& pki, const std::string& dir, std::string* error) {
  for (const auto& [name, content] : {std::pair<const char*, const std::string*>{"ca.pem", &pki.caPem},
                                      {"cert.pem", &pki.certPem},
                                      {"key.pem", &pki.keyPem}}) {
    std::string path = dir + "/" + name;
    if (!writeTextFile(path, *content)) {
      if (error) *error = "cannot write " + path;
      return false;
    }
  }
  return true;
}

TestTempDir::TestTempDir() {
  const char* base = getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/mailgate-test-XXXXXX";
  if (!mkdtemp(templ.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = templ;
}

TestTempDir::~TestTempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace mailgate
