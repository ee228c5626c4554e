#include "proxy/server/config_check_files.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "config/json_reader.h"
#include "proxy/tls/tls_context.h"

namespace mailgate {

namespace {

using X509Ptr = bssl::UniquePtr<X509>;

// Every PEM certificate in `path`, in file order (leaf first for a chain).
// Empty when the file holds none (DER, a key, text, or unreadable).
std::vector<X509Ptr> readPemCertificates(const std::string& path) {
  std::vector<X509Ptr> out;
  bssl::UniquePtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return out;
  }
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out.emplace_back(cert);
  ERR_clear_error();  // the end of the file reads as "no start line"
  return out;
}

// Seconds from `now` to `t`, or false when `t` cannot be read.
bool secondsUntil(const ASN1_TIME* t, std::time_t now, int64_t& seconds) {
  bssl::UniquePtr<ASN1_TIME> from(ASN1_TIME_set(nullptr, now));
  int days = 0, secs = 0;
  if (!from || !ASN1_TIME_diff(&days, &secs, from.get(), t)) return false;
  seconds = int64_t{days} * 86400 + secs;
  return true;
}

// "2026-12-30 12:00:00 UTC"
std::string formatTime(const ASN1_TIME* t, std::time_t now) {
  int64_t seconds = 0;
  if (!secondsUntil(t, now, seconds)) return "an unreadable date";
  std::time_t when = now + static_cast<std::time_t>(seconds);
  struct tm tm {};
  if (!gmtime_r(&when, &tm)) return "an unreadable date";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string subjectOf(X509* cert) {
  char buf[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf - 1);
  return buf;
}

// Dates of every certificate in the chain: an expired or not yet valid one
// is an error (clients refuse it), one within the warning window a warning.
void checkDates(const std::vector<X509Ptr>& chain, std::time_t now, const std::string& path,
                ConfigIssues& issues) {
  for (size_t i = 0; i < chain.size(); ++i) {
    X509* cert = chain[i].get();
    std::string which = i == 0 ? "the certificate" : "chain certificate " + std::to_string(i + 1) +
                                                         " (" + subjectOf(cert) + ")";
    int64_t toStart = 0, toEnd = 0;
    if (!secondsUntil(X509_get0_notBefore(cert), now, toStart) ||
        !secondsUntil(X509_get0_notAfter(cert), now, toEnd)) {
      issues.error(path, which + " has an unreadable validity period");
      continue;
    }
    if (toStart > 0)
      issues.error(path, which + " is not valid before " +
                             formatTime(X509_get0_notBefore(cert), now));
    if (toEnd < 0) {
      issues.error(path, which + " expired on " + formatTime(X509_get0_notAfter(cert), now));
    } else if (toEnd < int64_t{kCertificateExpiryWarningDays} * 86400) {
      issues.warning(path, which + " expires in " + std::to_string(toEnd / 86400) + " days, on " +
                               formatTime(X509_get0_notAfter(cert), now));
    }
  }
}

// A chain file is the leaf, then the certificate that issued it, and so on
// (RFC 8446 §4.4.2); clients given another order often fail to build a path.
void checkChainOrder(const std::vector<X509Ptr>& chain, const std::string& path,
                     ConfigIssues& issues) {
  for (size_t i = 1; i < chain.size(); ++i) {
    if (X509_check_issued(chain[i].get(), chain[i - 1].get()) != X509_V_OK)
      issues.warning(path, "certificate " + std::to_string(i + 1) + " did not issue certificate " +
                               std::to_string(i) +
                               " (a chain file lists the leaf first, then each issuer)");
  }
}

// Each SNI name of the entry must be one the certificate is valid for, or
// clients asking for it fail verification. A wildcard entry is covered when a
// name it stands for is (RFC 6125 §6.4.3).
void checkNames(X509* leaf, const CertificateConfig& cert, const std::string& path,
                ConfigIssues& issues) {
  for (size_t i = 0; i < cert.names.size(); ++i) {
    const std::string& name = cert.names[i];
    std::string probe = name.rfind("*.", 0) == 0 ? "mailgate-sni-probe" + name.substr(1) : name;
    if (X509_check_host(leaf, probe.data(), probe.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                        nullptr) != 1)
      issues.warning(jsonPathIndex(jsonPathKey(path, "names"), i),
                     quoteJson(name) + " is not covered by the certificate (" +
                         subjectOf(leaf) + "): clients asking for it will refuse the connection");
  }
  ERR_clear_error();
}

void checkCertificate(const CertificateConfig& cert, const std::string& path, std::time_t now,
                      ConfigIssues& issues) {
  std::vector<X509Ptr> chain = readPemCertificates(cert.cert);
  std::string certPath = jsonPathKey(path, "cert");
  if (chain.empty()) {
    issues.error(certPath, "file " + quoteJson(cert.cert) + " holds no PEM certificate");
    return;
  }
  // The daemon's own loader: the key must load and match (one entry at a
  // time, so the error names this entry).
  std::string error;
  if (!TlsContext::makeServer({cert}, &error))
    issues.error(jsonPathKey(path, "key"), error);
  checkDates(chain, now, certPath, issues);
  checkChainOrder(chain, certPath, issues);
  checkNames(chain.front().get(), cert, path, issues);
}

void checkPoolCa(const PoolConfig& pool, ConfigIssues& issues) {
  if (pool.tls == TlsMode::None || pool.insecureSkipVerify || pool.caFile.empty()) return;
  std::string path = jsonPathKey(jsonPathKey("$.pools", pool.name), "ca_file");
  if (readPemCertificates(pool.caFile).empty()) {
    issues.error(path, "file " + quoteJson(pool.caFile) + " holds no PEM certificate");
    return;
  }
  std::string error;
  if (!TlsContext::makeClient(pool.caFile, false, &error)) issues.error(path, error);
}

}  // namespace

ConfigLoadResult checkConfigFile(const std::string& path, std::time_t now) {
  ConfigLoadResult result = loadConfigFile(path);
  // Files the loader already found missing are reported once, by the loader.
  if (!result.config) return result;
  try {
    ConfigIssues issues;
    const Config& config = *result.config;
    for (size_t i = 0; i < config.certificates.size(); ++i)
      checkCertificate(config.certificates[i], jsonPathIndex("$.tls.certificates", i), now,
                       issues);
    for (const auto& [name, pool] : config.pools) checkPoolCa(pool, issues);
    for (auto& e : issues.errors()) result.errors.push_back(std::move(e));
    for (auto& w : issues.warnings()) result.warnings.push_back(std::move(w));
  } catch (const std::exception& e) {
    result.errors.push_back({"", std::string("internal error while checking files: ") + e.what()});
  }
  if (!result.errors.empty()) result.config.reset();
  return result;
}

}  // namespace mailgate
