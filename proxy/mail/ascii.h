#pragma once
// ASCII case handling for protocol keywords: IMAP atoms (RFC 9051 §9 "case-
// insensitive"), POP3 commands (RFC 1939 §3), SMTP verbs and EHLO keywords
// (RFC 5321 §2.4). Never locale-dependent. Pure.
#include <string>
#include <string_view>

namespace mailgate {

std::string asciiUpper(std::string_view s);
bool asciiIEquals(std::string_view a, std::string_view b);
// True when `s` starts with `prefix`, ignoring ASCII case.
bool asciiIStartsWith(std::string_view s, std::string_view prefix);

}  // namespace mailgate
