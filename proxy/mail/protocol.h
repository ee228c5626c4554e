#pragma once
// The three mail protocols mailgate speaks, on either side of it.
namespace mailgate {

enum class Protocol { Imap, Pop3, Smtp };

inline const char* protocolName(Protocol p) {
  switch (p) {
    case Protocol::Imap: return "imap";
    case Protocol::Pop3: return "pop3";
    case Protocol::Smtp: return "smtp";
  }
  return "?";
}

}  // namespace mailgate
