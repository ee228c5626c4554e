// --check-config loads the certificates, keys and CA files the way the daemon
// does (proxy/tls/tls_context.h) and judges their dates and names. Real PEM
// files generated at run time; the clock is passed in, so "expired" and
// "expires in 5 days" need no special certificates.
#include <gtest/gtest.h>

#include <ctime>

#include "proxy/server/config_check_files.h"
#include "tests/unit/config/config_test_util.h"
#include "tests/unit/support/certs/test_certs.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::minimalConfig;
using testing::TempDir;

constexpr std::time_t kDay = 86400;

// The test leaves are valid from an hour ago to 30 days ahead.
ConfigLoadResult checkAt(const TempDir& dir, const json& config, std::time_t now) {
  std::string file = dir.write("mailgate.json", config.dump(2));
  return checkConfigFile(file, now);
}

ConfigLoadResult check(const TempDir& dir, const json& config) {
  return checkAt(dir, config, std::time(nullptr));
}

json withNames(std::vector<std::string> names) {
  json c = minimalConfig();
  c["tls"]["certificates"][0]["names"] = names;
  return c;
}

TEST(CheckConfigFiles, AMatchingPairIsOk) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com"});
  dir.write("cert.pem", pki.certPem);
  dir.write("key.pem", pki.keyPem);
  auto r = check(dir, withNames({"mail.example.com"}));
  EXPECT_CONFIG_OK(r);
  EXPECT_TRUE(r.warnings.empty()) << testing::dumpIssues(r);
}

TEST(CheckConfigFiles, KeyOfAnotherCertificateIsAnError) {
  TempDir dir;
  dir.write("cert.pem", makeTestPki({"mail.example.com"}).certPem);
  dir.write("key.pem", makeTestPki({"mail.example.com"}).keyPem);
  auto r = check(dir, minimalConfig());
  EXPECT_FALSE(r.config);
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].key", "does not match certificate");
}

TEST(CheckConfigFiles, NonPemCertificateOrKeyIsAnError) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com"});
  dir.write("cert.pem", "placeholder\n");
  dir.write("key.pem", pki.keyPem);
  auto r = check(dir, minimalConfig());
  EXPECT_FALSE(r.config);
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].cert", "no PEM certificate");

  dir.write("cert.pem", pki.certPem);
  dir.write("key.pem", "not a key\n");
  auto r2 = check(dir, minimalConfig());
  EXPECT_FALSE(r2.config);
  EXPECT_CONFIG_ERROR(r2, "$.tls.certificates[0].key", "cannot load private key");
}

TEST(CheckConfigFiles, ExpiredCertificateIsAnError) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com"});
  dir.write("cert.pem", pki.certPem);
  dir.write("key.pem", pki.keyPem);
  auto r = checkAt(dir, minimalConfig(), std::time(nullptr) + 31 * kDay);
  EXPECT_FALSE(r.config);
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].cert", "expired on ");
}

TEST(CheckConfigFiles, CertificateExpiringWithin14DaysIsAWarning) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com"});
  dir.write("cert.pem", pki.certPem);
  dir.write("key.pem", pki.keyPem);
  auto soon = checkAt(dir, minimalConfig(), std::time(nullptr) + 25 * kDay);  // 5 days left
  EXPECT_CONFIG_OK(soon);
  EXPECT_CONFIG_WARNING(soon, "$.tls.certificates[0].cert", "the certificate expires in ");
  // 5 days less the seconds since the certificate was made: 4 or 5 whole days.
  ASSERT_EQ(soon.warnings.size(), 1u);
  EXPECT_TRUE(soon.warnings[0].message.find("in 4 days") != std::string::npos ||
              soon.warnings[0].message.find("in 5 days") != std::string::npos)
      << soon.warnings[0].message;
  auto later = checkAt(dir, minimalConfig(), std::time(nullptr) + 10 * kDay);  // 20 days left
  EXPECT_CONFIG_OK(later);
  EXPECT_TRUE(later.warnings.empty()) << testing::dumpIssues(later);
}

TEST(CheckConfigFiles, ANameTheCertificateDoesNotCoverIsAWarning) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com", "*.example.net"});
  dir.write("cert.pem", pki.certPem);
  dir.write("key.pem", pki.keyPem);
  auto r = check(dir, withNames({"mail.example.com", "imap.example.org", "*.example.net",
                                 "*.example.com"}));
  EXPECT_CONFIG_OK(r);
  EXPECT_CONFIG_WARNING(r, "$.tls.certificates[0].names[1]",
                        "\"imap.example.org\" is not covered by the certificate");
  EXPECT_CONFIG_WARNING(r, "$.tls.certificates[0].names[3]",
                        "\"*.example.com\" is not covered by the certificate");
  EXPECT_EQ(r.warnings.size(), 2u) << testing::dumpIssues(r);
}

TEST(CheckConfigFiles, ChainInTheWrongOrderIsAWarning) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com"});
  dir.write("key.pem", pki.keyPem);
  dir.write("cert.pem", pki.certPem + pki.caPem);
  auto good = check(dir, minimalConfig());
  EXPECT_CONFIG_OK(good);
  EXPECT_TRUE(good.warnings.empty()) << testing::dumpIssues(good);
  TestPki other = makeTestPki({"other.example.com"});
  dir.write("cert.pem", pki.certPem + other.caPem);
  auto bad = check(dir, minimalConfig());
  EXPECT_CONFIG_OK(bad);
  EXPECT_CONFIG_WARNING(bad, "$.tls.certificates[0].cert", "certificate 2 did not issue certificate 1");
}

json withBackendTls(const std::string& caFile) {
  json c = minimalConfig();
  c["pools"]["local"]["tls"] = "implicit";
  c["pools"]["local"]["ca_file"] = caFile;
  return c;
}

TEST(CheckConfigFiles, CaFileMustHoldCertificates) {
  TempDir dir;
  TestPki pki = makeTestPki({"mail.example.com"});
  dir.write("cert.pem", pki.certPem);
  dir.write("key.pem", pki.keyPem);
  dir.write("ca.pem", pki.caPem);
  auto ok = check(dir, withBackendTls("ca.pem"));
  EXPECT_CONFIG_OK(ok);
  dir.write("ca.pem", "placeholder\n");
  auto bad = check(dir, withBackendTls("ca.pem"));
  EXPECT_FALSE(bad.config);
  EXPECT_CONFIG_ERROR(bad, "$.pools.local.ca_file", "no PEM certificate");
}

TEST(CheckConfigFiles, MissingFilesStillReportedByTheLoader) {
  TempDir dir;
  auto r = check(dir, withBackendTls("missing-ca.pem"));  // no cert.pem, key.pem either
  EXPECT_FALSE(r.config);
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].cert", "does not exist");
  EXPECT_CONFIG_ERROR(r, "$.pools.local.ca_file", "does not exist");
}

}  // namespace
}  // namespace mailgate
