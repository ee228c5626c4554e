#include "bridge/imap_client/imap_client.h"

namespace mailgate {

const char* imapStatusName(ImapResult::Status s) {
  switch (s) {
    case ImapResult::Status::Ok: return "OK";
    case ImapResult::Status::No: return "NO";
    case ImapResult::Status::Bad: return "BAD";
    case ImapResult::Status::Disconnected: return "disconnected";
  }
  return "?";
}

class ImapClient::ParserSink : public ImapResponseHandler {
 public:
  explicit ParserSink(ImapClient& c) : c_(c) {}
  void onResponse(ImapResponse&& r) override { c_.onResponse(std::move(r)); }
  void onLiteralBegin(const ImapResponse& p, std::string_view k, uint64_t s) override { c_.onLiteralBegin(p, k, s); }
  void onLiteralData(std::string_view chunk) override { c_.onLiteralData(chunk); }
  void onLiteralEnd() override { c_.onLiteralEnd(); }

 private:
  ImapClient& c_;
};

ImapClient::ImapClient(uv_loop_t* loop, OwnedConnection loggedIn, ImapClientOptions options, Events events)
    : loop_(loop), options_(std::move(options)), events_(std::move(events)), conn_(std::move(loggedIn)), timer_(loop) {
  sink_ = std::make_unique<ParserSink>(*this);
  parser_ = std::make_unique<ImapResponseParser>(*sink_);
}

ImapClient::~ImapClient() {
  *alive_ = false;
  abortConnection();
}

void ImapClient::abortConnection() {
  if (conn_) conn_.release()->abort();  // drops queued writes: nothing more to say
}

void ImapClient::start(std::string_view remainder) {
  if (state_ != State::Idle) return;
  if (!conn_) {
    state_ = State::Closed;
    return;
  }
  state_ = State::Ready;
  conn_->setHandler(this);
  if (!remainder.empty()) onData(remainder);
  if (state_ == State::Ready && conn_ && !paused_) conn_->resumeReading();
}

void ImapClient::onData(std::string_view plaintext) {
  if (state_ == State::Closed) return;
  if (!parser_->feed(plaintext)) {
    if (state_ != State::Closed) protocolError("unparsable backend response: " + parser_->error());
    return;
  }
  if (state_ != State::Closed) armTimer();
}

void ImapClient::onClosed(CloseReason reason, std::string_view detail) {
  forget(conn_);  // the Connection is closing itself
  disconnect(std::string(closeReasonName(reason)) + ": " + std::string(detail), true);
}

void ImapClient::armTimer() {
  if (state_ != State::Ready) return;
  if (pending_.empty() || paused_ || options_.responseTimeoutMs == 0) {
    timer_.stop();
    return;
  }
  timer_.start(options_.responseTimeoutMs, [this] {
    if (state_ == State::Ready && !pending_.empty() && !paused_) disconnect("backend response timed out", true);
  });
}

void ImapClient::onResponse(ImapResponse&& r) {
  if (state_ == State::Closed) return;
  switch (r.kind) {
    case ImapResponse::Kind::Untagged: {
      if (events_.onUntagged) {
        events_.onUntagged(r);
        if (state_ == State::Closed) return;
      }
      if (r.name == "CAPABILITY") {
        caps_.clear();
        for (const ImapValue& v : r.values)
          if (v.kind == ImapValue::Kind::Atom) caps_.insert(asciiUpper(v.text));
      } else if (r.status && r.code == "CAPABILITY") {
        setCapabilities(r.codeData);
      }
      Pending* p = oldest();
      if (!p) return;
      std::vector<CommandData::HeldBody> held;
      if (p->data.untagged(std::move(r), held) != CommandData::Outcome::Ok) {
        protocolError("backend sent more untagged data than one command may keep");
        return;
      }
      if (!held.empty()) releaseHeld(p->data.kept().back(), std::move(held));
      return;
    }
    case ImapResponse::Kind::Continuation: {
      Pending* p = oldest();
      if (!p || !p->hooks.onContinuation) {
        protocolError("unexpected continuation request");
        return;
      }
      std::string line = p->hooks.onContinuation(r.text);
      if (state_ == State::Closed || !conn_) return;
      line += "\r\n";
      conn_->write(line);
      return;
    }
    case ImapResponse::Kind::Tagged: {
      auto it = pending_.begin();
      while (it != pending_.end() && it->tag != r.tag) ++it;
      if (it == pending_.end()) {
        protocolError("tagged answer for an unknown command");
        return;
      }
      // RFC 9051 §7.1: the tagged OK of LOGIN/AUTHENTICATE may carry the new
      // capabilities.
      if (r.code == "CAPABILITY") setCapabilities(r.codeData);
      Pending done = std::move(*it);
      pending_.erase(it);
      ImapResult result;
      result.status = r.name == "OK" ? ImapResult::Status::Ok
                      : r.name == "NO" ? ImapResult::Status::No
                                       : ImapResult::Status::Bad;
      result.code = std::move(r.code);
      result.codeData = std::move(r.codeData);
      result.text = std::move(r.text);
      result.untagged = done.data.takeUntagged();
      armTimer();
      if (done.done) done.done(std::move(result));
      return;
    }
  }
}

void ImapClient::onLiteralBegin(const ImapResponse& partial, std::string_view key, uint64_t size) {
  if (state_ != State::Ready) return;
  Pending* p = oldest();
  if (!p) return;
  CommandData::Outcome outcome;
  const auto route = p->data.literalBegin(partial, key, size, bool(p->hooks.onLiteralBegin), outcome);
  if (outcome != CommandData::Outcome::Ok) {
    protocolError("body literal of " + std::to_string(size) + " octets before its UID");
    return;
  }
  if (route == CommandData::Route::Pass) p->hooks.onLiteralBegin(partial, key, size);
}

void ImapClient::onLiteralData(std::string_view chunk) {
  if (state_ != State::Ready) return;
  Pending* p = oldest();
  if (p && p->data.literalData(chunk) && p->hooks.onLiteralData) p->hooks.onLiteralData(chunk);
}

void ImapClient::onLiteralEnd() {
  if (state_ != State::Ready) return;
  Pending* p = oldest();
  if (p && p->data.literalEnd() && p->hooks.onLiteralEnd) p->hooks.onLiteralEnd();
}

void ImapClient::releaseHeld(const ImapResponse& r, std::vector<CommandData::HeldBody> held) {
  Pending* p = oldest();
  // The hooks may pause reading or end the session (and with it this
  // client): check after each call that the command is still there.
  std::weak_ptr<bool> alive = alive_;
  auto stillHere = [&] {
    auto a = alive.lock();
    return a && *a && state_ == State::Ready && oldest() == p;
  };
  // `r` lives in p->data, which outlives these calls unless the command goes.
  const ImapResponse response = r;
  for (CommandData::HeldBody& h : held) {
    if (!stillHere()) return;
    if (p->hooks.onLiteralBegin) p->hooks.onLiteralBegin(response, h.key, h.size);
    if (!stillHere()) return;
    if (p->hooks.onLiteralData && !h.data.empty()) p->hooks.onLiteralData(h.data);
    if (!stillHere()) return;
    if (p->hooks.onLiteralEnd) p->hooks.onLiteralEnd();
  }
}

void ImapClient::protocolError(std::string why) { disconnect(std::move(why), true); }

void ImapClient::disconnect(std::string reason, bool notify) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  timer_.stop();
  abortConnection();
  // Complete everything, oldest first. A callback may send() more: those are
  // queued for a later turn by send() itself.
  std::deque<Pending> pending;
  pending.swap(pending_);
  std::weak_ptr<bool> alive = alive_;
  for (Pending& p : pending) {
    if (alive.expired() || !*alive.lock()) return;
    ImapResult r;
    r.status = ImapResult::Status::Disconnected;
    r.text = reason;
    r.untagged = p.data.takeUntagged();
    if (p.done) p.done(std::move(r));
  }
  if (notify && events_.onDisconnected) events_.onDisconnected(reason);
}

void ImapClient::completeAllLater() {
  if (pending_.empty()) return;
  auto pending = std::make_shared<std::deque<Pending>>();
  pending->swap(pending_);
  std::weak_ptr<bool> alive = alive_;
  deferToNextTick(loop_, [pending, alive] {
    for (Pending& p : *pending) {
      auto a = alive.lock();
      if (!a || !*a) return;
      ImapResult r;
      r.status = ImapResult::Status::Disconnected;
      r.text = "connection closed";
      if (p.done) p.done(std::move(r));
    }
  });
}

void ImapClient::send(std::string command, Done done, Hooks hooks) {
  if (state_ != State::Ready || !conn_) {
    std::weak_ptr<bool> alive = alive_;
    deferToNextTick(loop_, [alive, done = std::move(done)] {
      auto a = alive.lock();
      if (!a || !*a || !done) return;
      ImapResult r;
      r.status = ImapResult::Status::Disconnected;
      r.text = "not connected";
      done(std::move(r));
    });
    return;
  }
  Pending p;
  p.tag = "b" + std::to_string(nextTag_++);
  p.done = std::move(done);
  p.hooks = std::move(hooks);
  p.data = CommandData(CommandData::singleFetchUid(command), options_.commandLimits);
  std::string line = p.tag + " " + command + "\r\n";
  pending_.push_back(std::move(p));
  conn_->write(line);
  armTimer();
}

void ImapClient::setCapabilities(std::string_view list) {
  caps_.clear();
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(' ', pos);
    if (end == std::string_view::npos) end = list.size();
    if (end > pos) caps_.insert(asciiUpper(list.substr(pos, end - pos)));
    pos = end + 1;
  }
}

bool ImapClient::learnCapabilitiesFromCode(std::string_view loginText) {
  constexpr std::string_view kCode = "[CAPABILITY ";
  if (loginText.size() < kCode.size() || asciiUpper(loginText.substr(0, kCode.size())) != asciiUpper(kCode))
    return false;
  const size_t close = loginText.find(']');
  if (close == std::string_view::npos) return false;
  setCapabilities(loginText.substr(kCode.size(), close - kCode.size()));
  return true;
}

bool ImapClient::hasCapability(std::string_view name) const { return caps_.count(asciiUpper(name)) > 0; }

void ImapClient::refreshCapabilities(Done done) { send("CAPABILITY", std::move(done)); }

void ImapClient::pauseReading() {
  paused_ = true;
  if (conn_) conn_->pauseReading();
  armTimer();
}

void ImapClient::resumeReading() {
  paused_ = false;
  if (conn_) conn_->resumeReading();
  armTimer();
}

void ImapClient::logoutAndClose() {
  if (state_ == State::Closed) return;
  const bool ready = state_ == State::Ready;
  state_ = State::Closed;
  timer_.stop();
  if (conn_) {
    if (ready) conn_->write("b" + std::to_string(nextTag_++) + " LOGOUT\r\n");
    conn_.reset();  // closes after flushing the LOGOUT
  }
  completeAllLater();
}

void ImapClient::abort() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  timer_.stop();
  abortConnection();
  completeAllLater();
}

}  // namespace mailgate
