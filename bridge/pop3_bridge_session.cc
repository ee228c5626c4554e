// BridgeSession, part 2: the POP3 TRANSACTION and UPDATE states (RFC 1939
// §5, §6) served from the snapshot and the IMAP client.
#include "bridge/pop3_bridge_session.h"

#include <charconv>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/mail/ascii.h"

namespace mailgate {
namespace {

constexpr size_t kMaxPipelinedBytes = 64 * 1024;    // then stop reading the client

// RFC 2449 §5 capabilities valid in the TRANSACTION state.
constexpr std::string_view kCapa =
    "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
    "IMPLEMENTATION mailgate-bridge\r\n.\r\n";

}  // namespace

void BridgeSession::serve(Connection* client, std::string pipelined) {
  if (phase_ != Phase::LoggedIn || !client) {
    if (client) client->close();  // ours now; nothing to serve
    return;
  }
  phase_ = Phase::Serving;
  client_ = client;
  client_->setHandler(this);
  client_->startReading();
  framer_.append(pipelined);
  armIdleTimer();
  processInput();
}

void BridgeSession::shutdown(std::string_view reason) {
  switch (phase_) {
    case Phase::Created:
    case Phase::Opening:
    case Phase::LoggedIn:
      // The glue still owns the client and answers it itself.
      phase_ = Phase::Finished;
      lease_.reset();
      dropFleetLease();
      if (imap_) imap_->abort();
      return;
    case Phase::Serving:
      if (!streaming_) reply(reason.empty() ? "-ERR Server shutting down." : "-ERR " + std::string(reason));
      finish("shutdown");
      return;
    case Phase::Committing:  // QUIT is being written: let it finish
    case Phase::Finished:
      return;
  }
}

void BridgeSession::reply(std::string_view line) {
  if (!client_) return;
  std::string out;
  out.reserve(line.size() + 2);
  out.append(line);
  out.append("\r\n");
  client_->write(out);
}

void BridgeSession::count(std::string_view cmd, bool ok) {
  Metrics::instance().bridgeCommand(cmd, ok ? "ok" : "err");
}

void BridgeSession::armIdleTimer() {
  if (phase_ != Phase::Serving || limits_.pop3IdleTimeoutS == 0) {
    idleTimer_.stop();
    return;
  }
  idleTimer_.start(uint64_t{limits_.pop3IdleTimeoutS} * 1000, [this] {
    if (phase_ != Phase::Serving) return;
    // RFC 1939 §3: an autologout timer ends the session without UPDATE.
    if (!streaming_) reply("-ERR Disconnected for inactivity.");
    finish("idle_timeout");
  });
}

void BridgeSession::onData(std::string_view bytes) {
  if (phase_ == Phase::Committing) {
    // RFC 1939 §6: nothing follows QUIT. What a client sends while the
    // commit runs would never be read: drop it instead of buffering it.
    if (client_) client_->pauseReading();
    return;
  }
  if (phase_ != Phase::Serving) return;
  framer_.append(bytes);
  armIdleTimer();
  processInput();
}

void BridgeSession::onDrained() {
  if (imapPaused_ && imap_) {
    imapPaused_ = false;
    imap_->resumeReading();
  }
  armIdleTimer();  // the client is taking data: it is not idle
  processInput();  // commands held back while the client did not read
}

void BridgeSession::onClosed(CloseReason reason, std::string_view detail) {
  client_ = nullptr;  // the Connection is closing itself
  if (phase_ == Phase::Committing) return;  // the client asked to QUIT: finish the commit
  log::info("bridge_client_closed", {{"session", client_info_.sessionId}, {"reason", closeReasonName(reason)}});
  finish("client_closed");  // RFC 1939 §6: no QUIT, no UPDATE state
}

void BridgeSession::processInput() {
  // A client that does not read its answers gets no new ones: no command
  // is answered while its output queue is above the high watermark (one
  // UIDL of a large mailbox is many kB, a read holds thousands of them).
  while (!busy_ && phase_ == Phase::Serving && !(client_ && client_->aboveHighWatermark())) {
    std::string line;
    const LineFramer::Status st = framer_.next(line);
    if (st == LineFramer::Status::NeedMore) break;
    if (st == LineFramer::Status::TooLong) {
      reply("-ERR Line too long.");
      count("unknown", false);
      if (++badCommands_ > limits_.maxBadCommands) {
        reply("-ERR Too many bad commands.");
        finish("bad_commands");
        return;
      }
      continue;
    }
    handleCommand(line);
  }
  if (!client_ || phase_ != Phase::Serving) return;
  // Pipelining (RFC 2449 §6.6) is welcome, an unbounded backlog is not,
  // of commands nor of answers.
  const bool full = framer_.buffered() > kMaxPipelinedBytes || client_->aboveHighWatermark();
  if (full && !clientPaused_) {
    clientPaused_ = true;
    client_->pauseReading();
  } else if (!full && clientPaused_) {
    clientPaused_ = false;
    client_->resumeReading();
  }
}

void BridgeSession::handleCommand(std::string_view line) {
  const size_t sp = line.find(' ');
  const std::string name = asciiUpper(line.substr(0, sp));
  std::string_view args = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);

  if (name == "STAT") {
    reply("+OK " + std::to_string(view_->undeletedCount()) + " " + std::to_string(view_->undeletedSize()));
    count("STAT", true);
  } else if (name == "LIST") {
    cmdList(args, false);
  } else if (name == "UIDL") {
    cmdList(args, true);
  } else if (name == "RETR") {
    cmdFetch(args, false);
  } else if (name == "TOP") {
    cmdFetch(args, true);
  } else if (name == "DELE") {
    std::string err;
    const size_t n = view_->resolve(args, false, &err);
    if (n == 0) {
      reply("-ERR " + err);
    } else {
      view_->markDeleted(n);  // RFC 1939 §5: only marked; QUIT decides
      reply("+OK Marked to be deleted.");
    }
    count("DELE", n != 0);
  } else if (name == "RSET") {
    view_->resetDeletions();  // never clears \Seen marks (docs/architecture.md §2.3)
    reply("+OK");
    count("RSET", true);
  } else if (name == "NOOP") {
    reply("+OK");
    count("NOOP", true);
  } else if (name == "CAPA") {
    if (client_) client_->write(kCapa);
    count("CAPA", true);
  } else if (name == "QUIT") {
    count("QUIT", true);
    cmdQuit();
  } else {
    reply("-ERR Unknown command: " + name);
    count("unknown", false);
    if (++badCommands_ > limits_.maxBadCommands) {
      reply("-ERR Too many bad commands.");
      finish("bad_commands");
    }
  }
}

void BridgeSession::cmdList(std::string_view args, bool uidl) {
  const char* metric = uidl ? "UIDL" : "LIST";
  if (args.empty()) {
    std::string out = uidl ? "+OK\r\n" : "+OK " + std::to_string(view_->undeletedCount()) + " messages:\r\n";
    for (size_t n = 1; n <= view_->count(); ++n) {
      const Pop3View::Message& m = view_->message(n);
      if (m.deleted) continue;
      out += std::to_string(n);
      out += ' ';
      out += uidl ? view_->uidl(n) : std::to_string(m.size);
      out += "\r\n";
    }
    out += ".\r\n";
    if (client_) client_->write(out);
    count(metric, true);
    return;
  }
  std::string err;
  const size_t n = view_->resolve(args, false, &err);
  if (n == 0) {
    reply("-ERR " + err);
    count(metric, false);
    return;
  }
  reply("+OK " + std::to_string(n) + " " + (uidl ? view_->uidl(n) : std::to_string(view_->message(n).size)));
  count(metric, true);
}

void BridgeSession::cmdFetch(std::string_view args, bool top) {
  const char* metric = top ? "TOP" : "RETR";
  std::string err;
  std::string_view rest;
  const size_t n = view_->resolve(args, top, &err, &rest);
  if (n == 0) {
    reply("-ERR " + err);
    count(metric, false);
    return;
  }
  uint64_t lines = Pop3BodyEncoder::kWholeMessage;
  if (top) {
    // RFC 1939 §7: TOP msg n, n non-negative. Worded as Dovecot's get_size().
    if (rest.empty() || rest[0] < '0' || rest[0] > '9') {
      reply("-ERR Invalid size: " + std::string(rest));
      count(metric, false);
      return;
    }
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), lines);
    if (ec != std::errc() || lines == Pop3BodyEncoder::kWholeMessage) {
      reply("-ERR Size too large: " + std::string(rest));
      count(metric, false);
      return;
    }
    if (p != rest.data() + rest.size()) {
      reply("-ERR Noise after size: " + std::string(p, rest.data() + rest.size()));
      count(metric, false);
      return;
    }
  }
  const Pop3View::Message& m = view_->message(n);
  if (m.gone) {
    reply("-ERR Message " + std::to_string(n) + " expunged.");
    count(metric, false);
    return;
  }
  busy_ = true;
  if (top && lines > 0) {
    // RFC 1939 §7 needs the header and n lines, not the attachments: fetch
    // a bounded partial (RFC 9051 §6.4.5 BODY[]<offset.length>) and more
    // only while the lines are not complete yet, doubling each time.
    auto state = std::make_shared<TopState>();
    state->n = n;
    state->uid = m.uid;
    state->size = m.size;
    encoder_.emplace(lines);
    fetchTopPartial(state, 0, kTopFirstPartialBytes + lines * kTopBytesPerLine);
    return;
  }
  busy_ = true;
  struct FetchState {
    bool started = false;
    bool ended = false;
  };
  auto state = std::make_shared<FetchState>();
  const uint32_t uid = m.uid;
  const uint64_t size = m.size;
  ImapClient::Hooks hooks;
  hooks.onLiteralBegin = [this, state, uid, size, top, lines](const ImapResponse& partial, std::string_view key,
                                                                uint64_t) {
    if (state->started || !key.starts_with("BODY[")) return;
    if (const ImapValue* u = partial.fetchItem("UID"); u && u->number() != uid) return;
    state->started = true;
    streaming_ = true;
    encoder_.emplace(lines);
    // Dovecot: RETR answers the LIST size, TOP a bare +OK.
    reply(top ? "+OK" : "+OK " + std::to_string(size) + " octets");
  };
  hooks.onLiteralData = [this, state](std::string_view chunk) {
    if (!state->started || state->ended) return;
    streamBodyChunk(chunk);
  };
  hooks.onLiteralEnd = [this, state] {
    if (!state->started || state->ended) return;
    state->ended = true;
    std::string out;
    encoder_->finish(out);
    encoder_.reset();
    streaming_ = false;
    if (client_) client_->write(out);
  };
  const std::string section = (top && lines == 0) ? "BODY.PEEK[HEADER]" : "BODY.PEEK[]";
  imap_->send("UID FETCH " + std::to_string(uid) + " (UID " + section + ")",
              [this, state, n, top, metric, lines](ImapResult r) {
                if (phase_ != Phase::Serving) return;
                if (r.status == ImapResult::Status::Disconnected) return;  // onBackendLost answers
                if (state->ended) {
                  if (!top) view_->markRetrieved(n);
                  count(metric, true);
                  commandDone();
                  return;
                }
                // No body literal: a quoted body (legal, if unusual), or the
                // message is gone (RFC 9051 §7.5.1: expunged by another client).
                for (const ImapResponse& u : r.untagged) {
                  if (u.name != "FETCH") continue;
                  const ImapValue* body = u.fetchItem(top && lines == 0 ? "BODY[HEADER]" : "BODY[]");
                  if (!body || body->kind != ImapValue::Kind::String) continue;
                  Pop3BodyEncoder enc(lines);
                  std::string out = top ? "+OK\r\n"
                                        : "+OK " + std::to_string(view_->message(n).size) + " octets\r\n";
                  enc.feed(body->text, out);
                  enc.finish(out);
                  if (client_) client_->write(out);
                  if (!top) view_->markRetrieved(n);
                  count(metric, true);
                  commandDone();
                  return;
                }
                view_->markGone(n);
                reply("-ERR Message " + std::to_string(n) + " expunged.");
                log::info("bridge_message_gone", {{"session", client_info_.sessionId},
                                                  {"uid", view_->message(n).uid},
                                                  {"backend", r.text}});
                count(metric, false);
                commandDone();
              },
              std::move(hooks));
}

void BridgeSession::streamBodyChunk(std::string_view chunk) {
  if (!encoder_ || encoder_->done()) return;
  std::string out;
  encoder_->feed(chunk, out);
  if (!client_) return;
  client_->write(out);
  // Bounded memory: stop reading the backend while the client lags.
  if (client_->aboveHighWatermark() && !imapPaused_) {
    imapPaused_ = true;
    imap_->pauseReading();
  }
}

void BridgeSession::fetchTopPartial(std::shared_ptr<TopState> state, uint64_t offset, uint64_t length) {
  ImapClient::Hooks hooks;
  hooks.onLiteralBegin = [this, state](const ImapResponse& partial, std::string_view key, uint64_t) {
    if (state->inLiteral || !key.starts_with("BODY[")) return;
    if (const ImapValue* u = partial.fetchItem("UID"); u && u->number() != state->uid) return;
    state->inLiteral = true;
    state->received = 0;
    if (!state->started) {
      state->started = true;
      streaming_ = true;
      reply("+OK");  // Dovecot: TOP answers a bare +OK
    }
  };
  hooks.onLiteralData = [this, state](std::string_view chunk) {
    if (!state->inLiteral) return;
    state->received += chunk.size();
    streamBodyChunk(chunk);
  };
  hooks.onLiteralEnd = [state] { state->inLiteral = false; };
  const std::string command = "UID FETCH " + std::to_string(state->uid) + " (UID BODY.PEEK[]<" +
                              std::to_string(offset) + "." + std::to_string(length) + ">)";
  imap_->send(command, [this, state, offset, length](ImapResult r) {
    if (phase_ != Phase::Serving) return;
    if (r.status == ImapResult::Status::Disconnected) return;  // onBackendLost answers
    // A quoted partial (legal, if unusual) instead of a literal.
    for (const ImapResponse& u : r.untagged) {
      if (u.name != "FETCH" || state->inLiteral) continue;
      const ImapValue* body = u.fetchItem("BODY[]<" + std::to_string(offset) + ">");
      if (!body || body->kind != ImapValue::Kind::String) continue;
      if (const ImapValue* id = u.fetchItem("UID"); id && id->number() != state->uid) continue;
      if (!state->started) {
        state->started = true;
        streaming_ = true;
        reply("+OK");
      }
      state->received = body->text.size();
      std::string out;
      if (encoder_ && !encoder_->done()) encoder_->feed(body->text, out);
      if (client_) client_->write(out);
      break;
    }
    if (!state->started) {
      // No body at all: the message is gone (RFC 9051 §7.5.1: expunged by
      // another client).
      encoder_.reset();
      view_->markGone(state->n);
      reply("-ERR Message " + std::to_string(state->n) + " expunged.");
      log::info("bridge_message_gone", {{"session", client_info_.sessionId}, {"uid", state->uid}, {"backend", r.text}});
      count("TOP", false);
      commandDone();
      return;
    }
    // The lines are complete, or the message ended (a partial shorter than
    // asked for, or the whole size read).
    const bool complete = !encoder_ || encoder_->done() || state->received < length ||
                          offset + length >= state->size;
    if (!complete) {
      fetchTopPartial(state, offset + length, length * 2);
      return;
    }
    std::string out;
    if (encoder_) encoder_->finish(out);
    encoder_.reset();
    streaming_ = false;
    if (client_) client_->write(out);
    count("TOP", true);
    commandDone();
  }, std::move(hooks));
}

void BridgeSession::commandDone() {
  busy_ = false;
  armIdleTimer();
  processInput();
}

void BridgeSession::cmdQuit() {
  phase_ = Phase::Committing;
  busy_ = true;
  idleTimer_.stop();
  CommitPolicy policy;
  policy.onDelete = config_.onDelete;
  policy.moveTo = config_.moveTo;
  policy.markSeen = config_.markSeen;
  policy.keyword = keyword_;
  commitPlan_ = buildCommitPlan(*view_, policy);
  runCommit(0);
}

void BridgeSession::runCommit(size_t step) {
  if (phase_ != Phase::Committing) return;
  if (step == commitPlan_.size()) {
    for (const CommitStep& s : commitPlan_) {
      if (s.kind == CommitStep::Kind::Hide) Metrics::instance().bridgeCommitted("hide", s.messages);
      if (s.kind == CommitStep::Kind::Move) Metrics::instance().bridgeCommitted("move", s.messages);
      if (s.kind == CommitStep::Kind::Expunge) Metrics::instance().bridgeCommitted("expunge", s.messages);
    }
    const bool deleted = !view_->deletedUids().empty();
    reply(deleted ? "+OK Logging out, messages deleted." : "+OK Logging out.");
    finish("quit");
    return;
  }
  const CommitStep& s = commitPlan_[step];
  imap_->send(s.command, [this, step](ImapResult r) {
    if (phase_ != Phase::Committing) return;
    const CommitStep& s = commitPlan_[step];
    if (r.ok()) {
      runCommit(step + 1);
      return;
    }
    if (r.status == ImapResult::Status::Disconnected) return;  // onBackendLost answers
    if (s.kind == CommitStep::Kind::Move && r.code == "TRYCREATE" && !triedCreate_) {
      // RFC 6851 §3.3 / RFC 9051 §6.4.7: the target folder does not exist yet.
      triedCreate_ = true;
      imap_->send("CREATE " + imapMailboxName(config_.moveTo), [this, step](ImapResult c) {
        if (phase_ != Phase::Committing || c.status == ImapResult::Status::Disconnected) return;
        runCommit(step);  // retry the MOVE (if CREATE failed, MOVE fails again and we report)
      });
      return;
    }
    log::warn("bridge_commit_failed", {{"session", client_info_.sessionId},
                                       {"step", commitStepName(s.kind)},
                                       {"status", imapStatusName(r.status)},
                                       {"backend", r.text}});
    reply("-ERR [SYS/TEMP] Could not save the session's changes, please retry.");
    finish("commit_failed");
  });
}

void BridgeSession::onBackendLost(std::string reason) {
  switch (phase_) {
    case Phase::Opening:
      loginFailed(LoginFailure::Temporary, "", "backend_disconnected");
      return;
    case Phase::Serving:
      if (!streaming_) reply("-ERR [SYS/TEMP] Backend connection lost.");
      break;
    case Phase::Committing:
      reply("-ERR [SYS/TEMP] Backend connection lost while saving changes.");
      break;
    default:
      return;
  }
  log::warn("bridge_backend_lost", {{"session", client_info_.sessionId}, {"reason", reason}});
  finish("backend_lost");
}

void BridgeSession::finish(std::string_view why) {
  if (phase_ == Phase::Finished) return;
  const bool served = phase_ == Phase::Serving || phase_ == Phase::Committing;
  phase_ = Phase::Finished;
  idleTimer_.stop();
  lease_.reset();
  dropFleetLease();
  if (client_) {
    client_->close();  // flushes what we queued (the last answer)
    client_ = nullptr;
  }
  if (imap_) imap_->logoutAndClose();
  log::info("bridge_session_end", {{"session", client_info_.sessionId}, {"reason", why}});
  if (served) {
    defer([this] {
      if (callbacks_.onFinished) callbacks_.onFinished();
    });
  }
}

}  // namespace mailgate
