#pragma once
// Logs in to an IMAP backend on the client's behalf (docs/architecture.md §2.1): greeting,
// optional STARTTLS (RFC 9051 §6.2.1), optional ID with the client's address
// (RFC 2971), then AUTHENTICATE (RFC 9051 §6.2.2, RFC 4959 SASL-IR) or LOGIN.
// Pure: see backend_login.h.
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/line_framer.h"
#include "proxy/upstream/backend_login_budget.h"
#include "proxy/upstream/backend_login.h"

namespace mailgate {

std::unique_ptr<BackendLogin> makeImapBackendLogin(const BackendLoginParams&, BackendLoginSink&);

class ImapBackendLogin final : public BackendLogin {
 public:
  static constexpr size_t kMaxLineBytes = 64 * 1024;

  ImapBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink);

  void receive(std::string_view bytes) override;
  void tlsEstablished() override;
  std::string takeRemainder() override;

 private:
  enum class State {
    Greeting,      // waiting for "* OK" / "* PREAUTH" / "* BYE"
    Capability,    // CAPABILITY sent
    StartTls,      // STARTTLS sent
    TlsHandshake,  // beginBackendTls() called
    Id,            // ID sent
    Login,         // LOGIN or AUTHENTICATE sent; continuations may be asked for
    Done,
  };

  void process();
  void onLine(std::string_view line);
  void onGreeting(std::string_view line);
  void onUntagged(std::string_view rest);
  void onContinuation(std::string_view rest);
  void onTagged(std::string_view status, std::string_view text);
  void advance();  // caps are known: next step
  void sendCommand(std::string_view command, State next);
  void startLogin();
  void startLoginCommand();
  void finish(BackendLoginResult::Kind kind, std::string text);
  void parseCapabilityList(std::string_view list);
  void captureCapabilityCode(std::string_view text);  // "[CAPABILITY ...] ..."
  bool hasCap(std::string_view cap) const;
  static bool literalEndsLine(std::string_view line, size_t& size);

  BackendLoginParams params_;
  BackendLoginSink& sink_;
  LineFramer framer_;
  State state_ = State::Greeting;
  std::set<std::string> caps_;
  bool capsKnown_ = false;
  bool tlsDone_ = false;
  bool idDone_ = false;
  unsigned tagCounter_ = 0;
  std::string tag_;                  // tag of the command in flight
  std::vector<std::string> chunks_;  // sent one per "+" continuation
  size_t nextChunk_ = 0;
  bool oauth_ = false;               // AUTHENTICATE XOAUTH2/OAUTHBEARER in flight
  std::string oauthChallenge_;       // base64 error challenge as sent, RFC 7628 §3.2.2
  size_t skipLiteral_ = 0;           // octets of an untagged literal to skip
  bool inLiteral_ = false;
  bool continuesUntagged_ = false;   // next line is the rest of an untagged response
  bool oauthAnswered_ = false;
  size_t untaggedBytes_ = 0;         // one untagged response across its literals
  backend::AnswerBudget untaggedBudget_;  // untagged lines and literals since the last command
};

}  // namespace mailgate
