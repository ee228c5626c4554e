#include "proxy/server/protocol_goodbye.h"

namespace mailgate {

Protocol protocolOf(ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return Protocol::Imap;
    case ListenerProtocol::Pop3: return Protocol::Pop3;
    case ListenerProtocol::Smtp: return Protocol::Smtp;
  }
  return Protocol::Imap;
}

uint32_t idleTimeoutFor(const LimitsConfig& limits, ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return limits.imapIdleTimeoutS;
    case ListenerProtocol::Pop3: return limits.pop3IdleTimeoutS;
    case ListenerProtocol::Smtp: return limits.smtpIdleTimeoutS;
  }
  return limits.imapIdleTimeoutS;
}

std::string goodbyeLine(ListenerProtocol p, std::string_view reason) {
  std::string text;
  for (char c : reason) text.push_back(c == '\r' || c == '\n' ? ' ' : c);
  switch (p) {
    case ListenerProtocol::Imap: return "* BYE [UNAVAILABLE] " + text + "\r\n";
    case ListenerProtocol::Pop3: return "-ERR [SYS/TEMP] " + text + "\r\n";
    case ListenerProtocol::Smtp: return "421 4.3.2 " + text + "\r\n";
  }
  return {};
}

std::string tooManyConnectionsLine(ListenerProtocol p) {
  if (p == ListenerProtocol::Smtp) return "421 4.7.0 Too many connections\r\n";
  return goodbyeLine(p, "Too many connections");
}

}  // namespace mailgate
