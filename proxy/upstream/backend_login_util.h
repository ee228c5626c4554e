#pragma once
// Small pieces the POP3 and SMTP backend logins share. Pure.
#include <cstddef>
#include <string>
#include <string_view>

namespace mailgate::backend {

// Backend lines quoted in a result are cut short: they end up in logs.
std::string excerpt(std::string_view line);

// Only address characters reach an XCLIENT line; anything else (a zone
// index, a hostname, injected spaces) makes the caller drop the attribute.
bool isSafeAddress(std::string_view address);

// An AUTH command with its initial response (POP3 RFC 5034 §4, SMTP RFC 4954
// §4). The response goes on the command line when the line, CRLF included,
// fits in `maxLine` octets; otherwise it waits for the server's first
// challenge.
struct AuthCommand {
  std::string line;      // to send now, without CRLF
  std::string deferred;  // base64 to send after the first challenge; empty if in `line`
};
AuthCommand authCommand(std::string_view mechanism, std::string_view rawResponse, size_t maxLine);

}  // namespace mailgate::backend
