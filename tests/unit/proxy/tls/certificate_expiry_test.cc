// certificateNotAfter and TlsContext::notAfter (the source of
// mailgate_tls_certificate_expiry_timestamp_seconds).
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <string>

#include "proxy/tls/tls_context.h"
#include "tests/unit/support/certs/test_certs.h"

namespace mailgate {
namespace {

bssl::UniquePtr<X509> parsePem(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<long>(pem.size())));
  return bssl::UniquePtr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// test_certs issues leaves valid for 30 days from now.
constexpr int64_t kThirtyDays = 30LL * 24 * 3600;

TEST(CertificateNotAfter, TestLeafExpiresInThirtyDays) {
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  TestPki pki = makeTestPki({"mail.example.com"});
  const int64_t after = static_cast<int64_t>(std::time(nullptr));
  auto cert = parsePem(pki.certPem);
  ASSERT_TRUE(cert);
  auto notAfter = certificateNotAfter(cert.get());
  ASSERT_TRUE(notAfter.has_value());
  EXPECT_GE(*notAfter, before + kThirtyDays);
  EXPECT_LE(*notAfter, after + kThirtyDays);
}

// Exact values for both encodings RFC 5280 §4.1.2.5 allows: UTCTime up to
// 2049, GeneralizedTime from 2050; and UTCTime's 1950..1969 half.
TEST(CertificateNotAfter, ExactForUtcTimeAndGeneralizedTime) {
  TestPki pki = makeTestPki({"mail.example.com"});
  auto cert = parsePem(pki.certPem);
  ASSERT_TRUE(cert);
  struct Case {
    const char* asn1;
    int64_t unix;
  } cases[] = {
      {"700101000000Z", 0},
      {"491231235959Z", 2524607999},
      {"20500101000000Z", 2524608000},
      {"99991231235959Z", 253402300799},
      {"500101000000Z", -631152000},
      {"260301120000Z", 1772366400},
  };
  for (const auto& c : cases) {
    ASSERT_EQ(ASN1_TIME_set_string(X509_getm_notAfter(cert.get()), c.asn1), 1) << c.asn1;
    EXPECT_EQ(certificateNotAfter(cert.get()), c.unix) << c.asn1;
  }
}

TEST(CertificateNotAfter, UndecodableTimeOrNoCertificate) {
  EXPECT_FALSE(certificateNotAfter(nullptr).has_value());
  TestPki pki = makeTestPki({"mail.example.com"});
  auto cert = parsePem(pki.certPem);
  ASSERT_TRUE(cert);
  // The type stays UTCTime, the content is not a time.
  ASSERT_EQ(ASN1_STRING_set(X509_getm_notAfter(cert.get()), "not a time", 10), 1);
  EXPECT_FALSE(certificateNotAfter(cert.get()).has_value());
}

TEST(TlsContextNotAfter, OnePerConfiguredCertificateInConfigOrder) {
  TestTempDir dir;
  TestPki a = makeTestPki({"a.example.com"});
  TestPki b = makeTestPki({"b.example.com"});
  ASSERT_TRUE(writeTextFile(dir.file("a.pem"), a.certPem));
  ASSERT_TRUE(writeTextFile(dir.file("a.key"), a.keyPem));
  ASSERT_TRUE(writeTextFile(dir.file("b.pem"), b.certPem));
  ASSERT_TRUE(writeTextFile(dir.file("b.key"), b.keyPem));
  std::string error;
  auto ctx = TlsContext::makeServer({{dir.file("a.pem"), dir.file("a.key"), {"a.example.com"}},
                                     {dir.file("b.pem"), dir.file("b.key"), {}}},
                                    &error);
  ASSERT_TRUE(ctx) << error;
  ASSERT_EQ(ctx->notAfter().size(), 2u);
  EXPECT_EQ(ctx->notAfter()[0], certificateNotAfter(parsePem(a.certPem).get()));
  EXPECT_EQ(ctx->notAfter()[1], certificateNotAfter(parsePem(b.certPem).get()));
  EXPECT_TRUE(ctx->notAfter()[0].has_value());
}

}  // namespace
}  // namespace mailgate
