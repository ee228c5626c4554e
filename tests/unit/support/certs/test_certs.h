#pragma once
// Test PKI generated at run time with BoringSSL: EC P-256 keys, a CA, and leaf
// certificates for given DNS names and IP addresses. No fixture files, so
// nothing expires in the repository.
//
// Library target `mailgate_test_certs` (declared in tests/unit/tls/CMakeLists.txt).
// It lives in certs/ because mailgate_unit_test() globs only the *.cc files of
// a test folder itself. Other test folders link it by name:
//   mailgate_unit_test(net_tests mailgate_net mailgate_test_certs)
// and include "tests/unit/support/certs/test_certs.h". The header uses only the
// standard library, so it does not pull BoringSSL headers into the user.
#include <string>
#include <vector>

namespace mailgate {

struct TestPki {
  std::string caPem;     // the issuing CA's certificate (== certPem when self-signed)
  std::string caKeyPem;  // the issuing CA's key, to sign more leaves with the same CA
  std::string certPem;   // the leaf certificate
  std::string keyPem;    // the leaf's private key (PKCS#8 PEM)
};

// A fresh CA and a leaf signed by it for `dnsNames` (SAN dNSName, "*.x" allowed)
// and `ipAddresses` (SAN iPAddress, v4 or v6). The leaf's CN is the first name,
// or `commonName` when given. Aborts the test binary on a BoringSSL failure.
TestPki makeTestPki(const std::vector<std::string>& dnsNames,
                    const std::vector<std::string>& ipAddresses = {},
                    const std::string& commonName = "");

// A new leaf signed by the CA of `issuer` (same caPem/caKeyPem).
TestPki makeLeaf(const TestPki& issuer, const std::vector<std::string>& dnsNames,
                 const std::vector<std::string>& ipAddresses = {},
                 const std::string& commonName = "");

// A self-signed leaf (caPem == certPem), e.g. for insecureSkipVerify tests.
TestPki makeSelfSigned(const std::vector<std::string>& dnsNames,
                       const std::vector<std::string>& ipAddresses = {});

// Writes ca.pem, cert.pem and key.pem into `dir` (which must exist).
bool writeTestPki(const TestPki& pki, const std::string& dir, std::string* error = nullptr);
bool writeTextFile(const std::string& path, const std::string& content);

// A fresh directory under $TMPDIR (or /tmp); removed by ~TestTempDir.
class TestTempDir {
 public:
  TestTempDir();
  ~TestTempDir();
  TestTempDir(const TestTempDir&) = delete;
  TestTempDir& operator=(const TestTempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace mailgate
