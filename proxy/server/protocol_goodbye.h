#pragma once
// The one line a listener's protocol uses to turn a client away, and the
// listener facts the session needs (mail protocol, idle limit). Shared by the
// worker (refusal at accept) and the session (PROXY per-IP refusal, drain).
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/mail/protocol.h"

namespace mailgate {

Protocol protocolOf(ListenerProtocol p);
uint32_t idleTimeoutFor(const LimitsConfig& limits, ListenerProtocol p);

// A temporary-failure goodbye carrying `text` (CR/LF replaced, so it stays
// one line): IMAP BYE [UNAVAILABLE] (RFC 5530 §3), POP3 -ERR [SYS/TEMP]
// (RFC 3206 §4), SMTP 421 4.3.2 (RFC 5321 §3.8).
std::string goodbyeLine(ListenerProtocol p, std::string_view text);
// "Too many connections", for a connection refused by a limit; SMTP uses
// 4.7.0 there (RFC 3463 §3.8, security/policy).
std::string tooManyConnectionsLine(ListenerProtocol p);

}  // namespace mailgate
