// TlsContext + TlsEngine, wired client to server in memory: no sockets, so
// every split of the ciphertext can be exercised deterministically.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_engine.h"
#include "tests/unit/support/certs/test_certs.h"

namespace mailgate {
namespace {

// Feeds `data` to `engine`, `chunk` bytes per call (0 = all in one call).
bool feedIn(TlsEngine& engine, const std::string& data, std::string& plain, size_t chunk) {
  if (chunk == 0) return engine.feed(data, plain);
  for (size_t i = 0; i < data.size(); i += chunk) {
    if (!engine.feed(std::string_view(data).substr(i, chunk), plain)) return false;
  }
  return true;
}

struct Wire {
  std::unique_ptr<TlsEngine> client;
  std::unique_ptr<TlsEngine> server;
  std::string clientPlain;  // what the client received
  std::string serverPlain;  // what the server received
  bool clientOk = true;
  bool serverOk = true;

  // Moves ciphertext both ways until neither side has anything to send.
  // A failing side still sends its alert, so the other side's error is seen.
  void pump(size_t chunk = 0) {
    for (int round = 0; round < 10000; ++round) {
      std::string toServer = client->takeCiphertext();
      std::string toClient = server->takeCiphertext();
      if (toServer.empty() && toClient.empty()) return;
      if (serverOk && !toServer.empty()) serverOk = feedIn(*server, toServer, serverPlain, chunk);
      if (clientOk && !toClient.empty()) clientOk = feedIn(*client, toClient, clientPlain, chunk);
    }
    ADD_FAILURE() << "pump did not settle";
  }
  bool ok() const { return clientOk && serverOk; }
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = makeTestPki({"mail.example.com", "*.wild.example"}, {"127.0.0.1", "::1"}, "main");
    ASSERT_TRUE(writeTestPki(pki_, dir_.path()));
    std::string error;
    server_ = TlsContext::makeServer({{dir_.file("cert.pem"), dir_.file("key.pem"), {"mail.example.com"}}},
                                     &error);
    ASSERT_TRUE(server_) << error;
  }

  std::shared_ptr<TlsContext> verifyingClient() {
    std::string error;
    auto ctx = TlsContext::makeClient(dir_.file("ca.pem"), false, &error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }

  Wire connect(std::shared_ptr<TlsContext> clientCtx, const std::string& name,
               std::shared_ptr<TlsContext> serverCtx = nullptr) {
    Wire w;
    w.server = TlsEngine::makeServer(serverCtx ? serverCtx : server_);
    w.client = TlsEngine::makeClient(clientCtx, name);
    EXPECT_TRUE(w.server && w.client);
    return w;
  }

  TestTempDir dir_;
  TestPki pki_;
  std::shared_ptr<TlsContext> server_;
};

TEST_F(TlsTest, HandshakeAndDataBothWays) {
  Wire w = connect(verifyingClient(), "mail.example.com");
  w.pump();
  ASSERT_TRUE(w.ok()) << w.client->error() << " / " << w.server->error();
  EXPECT_TRUE(w.client->handshakeDone());
  EXPECT_TRUE(w.server->handshakeDone());
  EXPECT_EQ(w.client->version(), "TLSv1.3");
  EXPECT_EQ(w.server->version(), "TLSv1.3");
  EXPECT_EQ(w.server->serverName(), "mail.example.com");
  EXPECT_EQ(w.server->alpn(), "");

  ASSERT_TRUE(w.client->write("a1 CAPABILITY\r\n"));
  ASSERT_TRUE(w.server->write("* CAPABILITY IMAP4rev1\r\n"));
  w.pump();
  EXPECT_EQ(w.serverPlain, "a1 CAPABILITY\r\n");
  EXPECT_EQ(w.clientPlain, "* CAPABILITY IMAP4rev1\r\n");
}

TEST_F(TlsTest, ClientHelloAvailableRightAfterMakeClient) {
  auto client = TlsEngine::makeClient(verifyingClient(), "mail.example.com");
  ASSERT_TRUE(client);
  std::string hello = client->takeCiphertext();
  ASSERT_GE(hello.size(), 5u);
  EXPECT_EQ(hello[0], 0x16);  // handshake record
  EXPECT_EQ(client->version(), "");
  EXPECT_FALSE(client->handshakeDone());
}

TEST_F(TlsTest, ByteAtATimeWithDataWrittenBeforeHandshake) {
  Wire w = connect(verifyingClient(), "mail.example.com");
  // Held until the handshake is done, then sent in order.
  ASSERT_TRUE(w.client->write("a1 LOGIN "));
  ASSERT_TRUE(w.client->write("user pass\r\n"));
  ASSERT_TRUE(w.server->write("* OK ready\r\n"));
  EXPECT_FALSE(w.client->handshakeDone());
  w.pump(1);
  ASSERT_TRUE(w.ok()) << w.client->error() << " / " << w.server->error();
  EXPECT_EQ(w.serverPlain, "a1 LOGIN user pass\r\n");
  EXPECT_EQ(w.clientPlain, "* OK ready\r\n");
}

TEST_F(TlsTest, Tls12StillAccepted) {
  auto ctx = verifyingClient();
  SSL_CTX_set_max_proto_version(ctx->native(), TLS1_2_VERSION);
  Wire w = connect(ctx, "mail.example.com");
  w.pump(7);
  ASSERT_TRUE(w.ok()) << w.client->error() << " / " << w.server->error();
  EXPECT_EQ(w.server->version(), "TLSv1.2");
  ASSERT_TRUE(w.client->write("x"));
  w.pump();
  EXPECT_EQ(w.serverPlain, "x");
}

TEST_F(TlsTest, Tls11ClientRefused) {
  std::string error;
  auto ctx = TlsContext::makeClient("", true, &error);
  ASSERT_TRUE(ctx) << error;
  SSL_CTX_set_min_proto_version(ctx->native(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(ctx->native(), TLS1_1_VERSION);
  ASSERT_TRUE(SSL_CTX_set_cipher_list(ctx->native(), "ECDHE-ECDSA-AES128-SHA"));
  Wire w = connect(ctx, "mail.example.com");
  w.pump();
  EXPECT_FALSE(w.serverOk);
  EXPECT_FALSE(w.clientOk);
  EXPECT_FALSE(w.server->handshakeDone());
  EXPECT_NE(w.server->error().find("unsupported protocol"), std::string::npos) << w.server->error();
  EXPECT_NE(w.client->error().find("protocol version"), std::string::npos) << w.client->error();
}

TEST_F(TlsTest, NoSharedCipher) {
  std::string error;
  auto ctx = TlsContext::makeClient("", true, &error);
  ASSERT_TRUE(ctx) << error;
  SSL_CTX_set_max_proto_version(ctx->native(), TLS1_2_VERSION);
  ASSERT_TRUE(SSL_CTX_set_cipher_list(ctx->native(), "AES128-SHA"));  // RSA key exchange only
  Wire w = connect(ctx, "mail.example.com");
  w.pump();
  EXPECT_FALSE(w.serverOk);
  EXPECT_NE(w.server->error().find("no shared cipher"), std::string::npos) << w.server->error();
}

// Captures the CN of the certificate the server presented.
int captureLeafCn(X509_STORE_CTX* store, void* arg) {
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
  *static_cast<std::string*>(arg) = cn;
  return 1;
}

TEST_F(TlsTest, SniPicksExactThenWildcardThenFirst) {
  TestPki first = makeLeaf(pki_, {"first.example"}, {}, "first");
  TestPki exact = makeLeaf(pki_, {"mail.example.com"}, {}, "exact");
  TestPki wild = makeLeaf(pki_, {"*.wild.example"}, {}, "wildcard");
  std::vector<CertificateConfig> certs;
  for (auto [name, pki, names] : {std::tuple{"first", &first, std::vector<std::string>{}},
                                  std::tuple{"exact", &exact, std::vector<std::string>{"Mail.Example.com"}},
                                  std::tuple{"wild", &wild, std::vector<std::string>{"*.wild.example"}}}) {
    std::string cert = dir_.file(std::string(name) + ".crt"), key = dir_.file(std::string(name) + ".key");
    ASSERT_TRUE(writeTextFile(cert, pki->certPem));
    ASSERT_TRUE(writeTextFile(key, pki->keyPem));
    certs.push_back({cert, key, names});
  }
  std::string error;
  auto serverCtx = TlsContext::makeServer(certs, &error);
  ASSERT_TRUE(serverCtx) << error;

  struct Case {
    std::string sni;
    std::string expectCn;
  } cases[] = {
      {"mail.example.com", "exact"},    {"MAIL.EXAMPLE.COM", "exact"},
      {"mail.example.com.", "exact"},   {"imap.wild.example", "wildcard"},
      {"a.b.wild.example", "first"},    {"wild.example", "first"},
      {"unknown.test", "first"},        {"127.0.0.1", "first"},  // IP: no SNI sent
  };
  for (const auto& c : cases) {
    auto clientCtx = TlsContext::makeClient("", true, &error);
    ASSERT_TRUE(clientCtx) << error;
    std::string seenCn;
    SSL_CTX_set_verify(clientCtx->native(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(clientCtx->native(), captureLeafCn, &seenCn);
    Wire w = connect(clientCtx, c.sni, serverCtx);
    w.pump();
    ASSERT_TRUE(w.ok()) << c.sni << ": " << w.client->error() << " / " << w.server->error();
    EXPECT_EQ(seenCn, c.expectCn) << c.sni;
  }

  // And with real verification: the wildcard certificate verifies for its name.
  auto verifying = TlsContext::makeClient(dir_.file("ca.pem"), false, &error);
  Wire w = connect(verifying, "pop.wild.example", serverCtx);
  w.pump();
  EXPECT_TRUE(w.ok()) << w.client->error();
  EXPECT_EQ(w.server->serverName(), "pop.wild.example");
}

TEST_F(TlsTest, VerifyFailsWithWrongCa) {
  TestTempDir other;
  ASSERT_TRUE(writeTestPki(makeTestPki({"mail.example.com"}), other.path()));
  std::string error;
  auto ctx = TlsContext::makeClient(other.file("ca.pem"), false, &error);
  ASSERT_TRUE(ctx) << error;
  Wire w = connect(ctx, "mail.example.com");
  w.pump();
  EXPECT_FALSE(w.clientOk);
  EXPECT_FALSE(w.client->handshakeDone());
  EXPECT_NE(w.client->error().find("certificate verify failed"), std::string::npos) << w.client->error();
  EXPECT_FALSE(w.serverOk);  // the client's alert reaches the server
  EXPECT_FALSE(w.client->write("data"));
}

TEST_F(TlsTest, VerifyFailsWithWrongName) {
  Wire w = connect(verifyingClient(), "other.example.com");
  w.pump();
  EXPECT_FALSE(w.clientOk);
  EXPECT_NE(w.client->error().find("certificate verify failed"), std::string::npos) << w.client->error();
  EXPECT_NE(w.client->error().find("ostname mismatch"), std::string::npos) << w.client->error();
}

TEST_F(TlsTest, VerifyFailsWithoutAName) {
  Wire w = connect(verifyingClient(), "");
  std::string plain;
  EXPECT_FALSE(w.client->feed("", plain));
  EXPECT_NE(w.client->error().find("no server name"), std::string::npos) << w.client->error();
}

TEST_F(TlsTest, VerifyIpLiterals) {
  for (std::string ip : {"127.0.0.1", "::1", "[::1]"}) {
    Wire w = connect(verifyingClient(), ip);
    w.pump();
    EXPECT_TRUE(w.ok()) << ip << ": " << w.client->error();
    EXPECT_EQ(w.server->serverName(), "") << ip;  // RFC 6066 §3: no IP in SNI
  }
  Wire w = connect(verifyingClient(), "127.0.0.2");
  w.pump();
  EXPECT_FALSE(w.clientOk);
  EXPECT_NE(w.client->error().find("certificate verify failed"), std::string::npos) << w.client->error();
}

TEST_F(TlsTest, InsecureSkipVerifyAcceptsSelfSigned) {
  TestTempDir selfDir;
  ASSERT_TRUE(writeTestPki(makeSelfSigned({"backend.local"}), selfDir.path()));
  std::string error;
  auto serverCtx = TlsContext::makeServer({{selfDir.file("cert.pem"), selfDir.file("key.pem"), {}}}, &error);
  ASSERT_TRUE(serverCtx) << error;

  auto insecure = TlsContext::makeClient("", true, &error);
  ASSERT_TRUE(insecure) << error;
  EXPECT_FALSE(insecure->verifyPeer());
  Wire w = connect(insecure, "whatever.example", serverCtx);
  w.pump();
  EXPECT_TRUE(w.ok()) << w.client->error();

  // The same server fails a verifying client using the system store.
  auto strict = TlsContext::makeClient("", false, &error);
  ASSERT_TRUE(strict) << error;
  Wire v = connect(strict, "backend.local", serverCtx);
  v.pump();
  EXPECT_FALSE(v.clientOk);
  EXPECT_NE(v.client->error().find("certificate verify failed"), std::string::npos) << v.client->error();
}

// ALPN is strict (ALPACA, RFC 7301 §3.2): a client that offers ALPN without
// the listener's protocol gets no_application_protocol, never a session; a
// client without ALPN is served.
TEST_F(TlsTest, AlpnNegotiation) {
  using P = ListenerProtocol;
  struct Case {
    std::string offered;                // wire format; "" = no ALPN extension
    std::optional<P> listener;          // nullopt: the engine was not told
    std::string expected;               // negotiated id; "-" = handshake refused
  } cases[] = {
      {std::string("\x02h2\x04imap\x04pop3", 13), P::Imap, "imap"},
      {std::string("\x02h2\x04imap\x04pop3", 13), P::Pop3, "pop3"},
      {std::string("\x04smtp", 5), P::Smtp, "smtp"},
      {std::string("\x04smtp", 5), P::Imap, "-"},  // SMTP client on the IMAP port
      {std::string("\x04imap", 5), P::Pop3, "-"},
      {std::string("\x04pop3\x04imap", 10), P::Smtp, "-"},
      {std::string("\x08http/1.1", 9), P::Imap, "-"},  // a browser (ALPACA)
      {std::string("\x02h2\x08http/1.1", 12), P::Smtp, "-"},
      {std::string("\x08http/1.1", 9), std::nullopt, "-"},
      {std::string("\x04smtp", 5), std::nullopt, "smtp"},
      {"", P::Imap, ""},  // none offered: served without ALPN
      {"", std::nullopt, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "offered " << testing::PrintToString(c.offered) << " listener "
                                    << (c.listener ? std::string(alpnProtocolId(*c.listener)) : "-"));
    auto ctx = verifyingClient();
    if (!c.offered.empty()) {
      ASSERT_EQ(SSL_CTX_set_alpn_protos(ctx->native(), reinterpret_cast<const uint8_t*>(c.offered.data()),
                                        c.offered.size()),
                0);
    }
    Wire w;
    w.server = TlsEngine::makeServer(server_, c.listener);
    w.client = TlsEngine::makeClient(ctx, "mail.example.com");
    ASSERT_TRUE(w.server && w.client);
    w.pump();
    if (c.expected == "-") {
      EXPECT_FALSE(w.serverOk);
      EXPECT_FALSE(w.client->handshakeDone());
      EXPECT_NE(w.client->error().find("peer sent alert: no application protocol"), std::string::npos)
          << w.client->error();
      continue;
    }
    ASSERT_TRUE(w.ok()) << w.client->error() << " / " << w.server->error();
    EXPECT_EQ(w.server->alpn(), c.expected);
    EXPECT_EQ(w.client->alpn(), c.expected);
  }
}

// TLS 1.2: the server's suite order wins over the client's (testssl.sh rates
// a server without a cipher order HIGH). Whatever order the client lists our
// suites in, the first suite of our list that it offers is chosen.
TEST_F(TlsTest, Tls12ServerCipherPreference) {
  const char* clientOrders[] = {
      "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305",
  };
  std::string first;  // what the server chose for the first order
  for (const char* order : clientOrders) {
    SCOPED_TRACE(order);
    auto ctx = verifyingClient();
    ASSERT_TRUE(SSL_CTX_set_max_proto_version(ctx->native(), TLS1_2_VERSION));
    ASSERT_TRUE(SSL_CTX_set_strict_cipher_list(ctx->native(), order));
    Wire w = connect(ctx, "mail.example.com");
    w.pump();
    ASSERT_TRUE(w.ok()) << w.client->error() << " / " << w.server->error();
    EXPECT_EQ(w.server->version(), "TLSv1.2");
    EXPECT_EQ(w.server->cipher().find("CHACHA20"), std::string::npos) << w.server->cipher();
    EXPECT_NE(w.server->cipher().find("AES128-GCM"), std::string::npos) << w.server->cipher();
    if (first.empty()) first = w.server->cipher();
    EXPECT_EQ(w.server->cipher(), first);
  }
}

TEST_F(TlsTest, TenMegabytesInOneWrite) {
  Wire w = connect(verifyingClient(), "mail.example.com");
  w.pump();
  ASSERT_TRUE(w.ok());
  std::string big(10 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);

  ASSERT_TRUE(w.client->write(big));
  std::string cipher = w.client->takeCiphertext();
  EXPECT_GT(cipher.size(), big.size());  // all of it, with record overhead
  std::string plain;
  ASSERT_TRUE(w.server->feed(cipher, plain)) << w.server->error();
  EXPECT_EQ(plain.size(), big.size());
  EXPECT_TRUE(plain == big);

  // And back, fed in odd-sized pieces.
  ASSERT_TRUE(w.server->write(big));
  w.pump(99991);
  EXPECT_EQ(w.clientPlain.size(), big.size());
  EXPECT_TRUE(w.clientPlain == big);
}

TEST_F(TlsTest, LargeWriteBeforeHandshake) {
  Wire w = connect(verifyingClient(), "mail.example.com");
  std::string big(3 * 1024 * 1024 + 17, 'z');
  ASSERT_TRUE(w.client->write(big));
  w.pump();
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w.serverPlain == big);
}

TEST_F(TlsTest, CloseNotify) {
  Wire w = connect(verifyingClient(), "mail.example.com");
  w.pump();
  ASSERT_TRUE(w.client->write("a9 LOGOUT\r\n"));
  w.client->shutdown();
  w.pump();
  ASSERT_TRUE(w.ok()) << w.server->error();
  EXPECT_EQ(w.serverPlain, "a9 LOGOUT\r\n");
  EXPECT_TRUE(w.server->peerClosed());
  EXPECT_FALSE(w.client->peerClosed());
  // The server answers with its own close_notify.
  w.server->shutdown();
  w.pump();
  EXPECT_TRUE(w.client->peerClosed());
  EXPECT_TRUE(w.ok());
}

TEST_F(TlsTest, ShutdownBeforeHandshakeFollowsHeldData) {
  Wire w = connect(verifyingClient(), "mail.example.com");
  ASSERT_TRUE(w.server->write("* BYE shutting down\r\n"));
  w.server->shutdown();
  w.pump(3);
  ASSERT_TRUE(w.ok()) << w.client->error();
  EXPECT_EQ(w.clientPlain, "* BYE shutting down\r\n");
  EXPECT_TRUE(w.client->peerClosed());
}

TEST_F(TlsTest, PlaintextToServerIsAnError) {
  auto server = TlsEngine::makeServer(server_);
  ASSERT_TRUE(server);
  std::string plain;
  EXPECT_FALSE(server->feed("a LOGIN x y\r\n", plain));
  EXPECT_FALSE(server->error().empty());
  EXPECT_TRUE(plain.empty());
  EXPECT_FALSE(server->feed("more", plain));  // stays failed
  EXPECT_FALSE(server->write("x"));
  server->takeCiphertext();  // an alert, maybe; must not crash
  server->shutdown();

  // Same, a byte at a time.
  auto server2 = TlsEngine::makeServer(server_);
  bool ok = true;
  for (char c : std::string("a LOGIN x y\r\n")) ok = ok && server2->feed(std::string_view(&c, 1), plain);
  EXPECT_FALSE(ok);
}

TEST_F(TlsTest, PlaintextGreetingToClientIsWrongVersion) {
  auto client = TlsEngine::makeClient(verifyingClient(), "mail.example.com");
  ASSERT_TRUE(client);
  std::string plain;
  EXPECT_FALSE(client->feed("* OK IMAP4rev1 ready\r\n", plain));
  EXPECT_NE(client->error().find("wrong version number"), std::string::npos) << client->error();
}

TEST_F(TlsTest, RandomGarbageDoesNotCrash) {
  std::string junk;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245 + 12345;
    junk.push_back(static_cast<char>(x >> 24));
  }
  for (size_t split : {size_t(1), size_t(5), size_t(100), size_t(0)}) {
    auto server = TlsEngine::makeServer(server_);
    std::string plain;
    feedIn(*server, junk, plain, split);
    auto client = TlsEngine::makeClient(verifyingClient(), "mail.example.com");
    feedIn(*client, junk, plain, split);
  }
}

TEST(TlsContextTest, MakeServerErrors) {
  TestTempDir dir;
  std::string error;
  EXPECT_FALSE(TlsContext::makeServer({}, &error));
  EXPECT_FALSE(error.empty());

  error.clear();
  EXPECT_FALSE(TlsContext::makeServer({{dir.file("missing.pem"), dir.file("key.pem"), {}}}, &error));
  EXPECT_NE(error.find(dir.file("missing.pem")), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;

  TestPki a = makeTestPki({"a.example"});
  TestPki b = makeTestPki({"b.example"});
  ASSERT_TRUE(writeTextFile(dir.file("a.crt"), a.certPem));
  ASSERT_TRUE(writeTextFile(dir.file("b.key"), b.keyPem));
  ASSERT_TRUE(writeTextFile(dir.file("junk.key"), "not a key\n"));

  error.clear();
  EXPECT_FALSE(TlsContext::makeServer({{dir.file("a.crt"), dir.file("missing.key"), {}}}, &error));
  EXPECT_NE(error.find(dir.file("missing.key")), std::string::npos) << error;

  error.clear();
  EXPECT_FALSE(TlsContext::makeServer({{dir.file("a.crt"), dir.file("junk.key"), {}}}, &error));
  EXPECT_NE(error.find(dir.file("junk.key")), std::string::npos) << error;
  EXPECT_NE(error.find("no start line"), std::string::npos) << error;

  error.clear();
  EXPECT_FALSE(TlsContext::makeServer({{dir.file("a.crt"), dir.file("b.key"), {}}}, &error));
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  EXPECT_NE(error.find(dir.file("b.key")), std::string::npos) << error;
}

TEST(TlsContextTest, MakeClientErrors) {
  std::string error;
  EXPECT_FALSE(TlsContext::makeClient("/nonexistent/ca.pem", false, &error));
  EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos) << error;
  auto insecure = TlsContext::makeClient("/nonexistent/ca.pem", true, &error);
  EXPECT_TRUE(insecure);  // the CA file is not used without verification
  auto system = TlsContext::makeClient("", false, &error);
  ASSERT_TRUE(system) << error;
  EXPECT_TRUE(system->verifyPeer());
  EXPECT_FALSE(system->isServer());
  // Engines refuse a context of the wrong side.
  EXPECT_FALSE(TlsEngine::makeServer(system));
}

}  // namespace
}  // namespace mailgate
