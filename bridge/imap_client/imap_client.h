#pragma once
// An asynchronous IMAP client over one Connection (RFC 9051; RFC 3501 servers
// too). Commands are tagged and may be pipelined; untagged data is routed to
// the oldest command still pending (the one that caused it, for the
// one-command-at-a-time use the bridge makes), and every response is also
// shown to an observer (EXPUNGE, EXISTS, BYE arrive unasked).
//
// The promise Dovecot's imapc makes, and so do we: EVERY command's completion
// callback runs exactly once, with Ok, No, Bad or Disconnected. When the
// connection is lost, all pending commands complete as Disconnected, in the
// order they were sent. A command sent after the loss completes as
// Disconnected on a later loop turn (never on the sender's stack).
// The one exception: destroying the ImapClient drops pending callbacks (the
// owner is going away; calling into it would be calling into a dead object).
//
// It starts on a connection that is already logged in: the proxy's
// BackendConnector (proxy/upstream/backend_connector.h) resolves, fails over,
// does TLS, client-IP forwarding and the one IMAP backend login, for the
// proxy and the bridge alike (docs/architecture.md §2.3).
//
// Lifetime: the ImapClient owns its Connection (libuv rules: the Connection
// frees itself after close()/abort()). It must not be destroyed on the stack
// of one of its own callbacks; its owner defers destruction to a later turn.
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/imap_client/command_data.h"
#include "proxy/codec/imap_response.h"
#include "proxy/codec/imap_response_reader.h"
#include "config/config.h"
#include "proxy/net/connection.h"
#include "proxy/net/timer.h"
#include "proxy/mail/credentials.h"

namespace mailgate {


struct ImapClientOptions {
  // A command that sees no byte from the server for this long drops the
  // connection (all pending commands complete as Disconnected). Not counted
  // while reading is paused for backpressure. 0 = never.
  uint32_t responseTimeoutMs = 30000;
  // Caps on what one command may gather (bridge/imap_client/command_data.h).
  // Past one the connection is dropped and every pending command completes
  // as Disconnected. The defaults are far above what the bridge's commands
  // draw from a real server: the largest is the snapshot's UID FETCH 1:*,
  // one response per message (about 1 KiB of footprint each), and real
  // servers send those commands no inline literals at all.
  CommandData::Limits commandLimits;
};

struct ImapResult {
  enum class Status { Ok, No, Bad, Disconnected };
  Status status = Status::Disconnected;
  std::string code;       // response code of the tagged answer, e.g. "READ-WRITE"
  std::string codeData;
  std::string text;
  std::vector<ImapResponse> untagged;  // data that arrived while this command was oldest

  bool ok() const { return status == Status::Ok; }
};

const char* imapStatusName(ImapResult::Status s);

class ImapClient : private ConnectionHandler {
 public:
  using Done = std::function<void(ImapResult)>;

  // Optional per-command hooks for streamed body literals (see
  // ImapResponseParser) and continuation requests ("+ ...").
  // For "UID FETCH <one uid> ...", the literal hooks see only the bodies of
  // FETCH responses carrying that UID, and ImapResult::untagged keeps only
  // those FETCH responses (CommandData).
  struct Hooks {
    std::function<void(const ImapResponse& partial, std::string_view key, uint64_t size)> onLiteralBegin;
    std::function<void(std::string_view chunk)> onLiteralData;
    std::function<void()> onLiteralEnd;
    // Return the line to send (without CRLF) in answer to "+ text".
    std::function<std::string(std::string_view text)> onContinuation;
  };

  struct Events {
    // The connection is gone. Runs at most once, after the pending commands
    // have completed as Disconnected.
    std::function<void(std::string reason)> onDisconnected;
    // Every untagged response, before it is routed to a command.
    std::function<void(const ImapResponse&)> onUntagged;
  };

  // Takes over `loggedIn` (a connection whose reading is paused, as the
  // BackendConnector hands it over). Nothing runs until start().
  ImapClient(uv_loop_t* loop, OwnedConnection loggedIn, ImapClientOptions options, Events events);
  ~ImapClient() override;
  ImapClient(const ImapClient&) = delete;
  ImapClient& operator=(const ImapClient&) = delete;

  // Reads on: `remainder` is what the backend sent after its login answer
  // (parsed first). Commands may be sent right after.
  void start(std::string_view remainder);

  // Sends "<tag> <command>\r\n". `command` must not contain CR or LF (except
  // within LITERAL+ literals the caller formats itself).
  void send(std::string command, Done done, Hooks hooks = {});

  // Re-reads capabilities (after login they may change). Done runs after they
  // are updated.
  void refreshCapabilities(Done done);

  // `loginText` is what followed the tagged OK of the login, e.g.
  // "[CAPABILITY IMAP4rev1 UIDPLUS ...] Logged in" (RFC 9051 §7.1). Takes
  // the list when there is one; false when the text carries none.
  bool learnCapabilitiesFromCode(std::string_view loginText);

  bool hasCapability(std::string_view name) const;  // case-insensitive
  const std::set<std::string>& capabilities() const { return caps_; }

  // Backpressure: stop reading from the server while the consumer is full.
  void pauseReading();
  void resumeReading();

  // Sends LOGOUT (if connected) and closes after flushing. Pending commands
  // complete as Disconnected on a later loop turn; onDisconnected does not run.
  void logoutAndClose();
  // Closes at once; same completion rules.
  void abort();

  bool connected() const { return state_ == State::Ready; }
  size_t pendingCommands() const { return pending_.size(); }

 private:
  enum class State { Idle, Ready, Closed };

  struct Pending {
    std::string tag;
    Done done;
    Hooks hooks;
    CommandData data;
  };

  class ParserSink;
  friend class ParserSink;

  // ConnectionHandler
  void onData(std::string_view plaintext) override;
  void onClosed(CloseReason reason, std::string_view detail) override;

  void onResponse(ImapResponse&& r);
  void onLiteralBegin(const ImapResponse& partial, std::string_view key, uint64_t size);
  void onLiteralData(std::string_view chunk);
  void onLiteralEnd();

  void protocolError(std::string why);
  void abortConnection();
  void disconnect(std::string reason, bool notify);
  void completeAllLater();
  void setCapabilities(std::string_view list);
  // Replays bodies held until their response named its UID.
  void releaseHeld(const ImapResponse& r, std::vector<CommandData::HeldBody> held);
  void armTimer();
  Pending* oldest() { return pending_.empty() ? nullptr : &pending_.front(); }

  uv_loop_t* loop_;
  ImapClientOptions options_;
  Events events_;
  State state_ = State::Idle;
  OwnedConnection conn_;
  std::unique_ptr<ParserSink> sink_;
  std::unique_ptr<ImapResponseParser> parser_;
  std::deque<Pending> pending_;
  uint64_t nextTag_ = 1;
  std::set<std::string> caps_;
  bool paused_ = false;
  Timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};


}  // namespace mailgate
