#pragma once
// One server response as the IMAP client sees it (RFC 9051 §7): tagged status,
// untagged status or data, or a continuation request. Plain data; built by
// ImapResponseReader (proxy/codec/imap_response_reader.h).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/mail/ascii.h"  // asciiIEquals, asciiUpper: callers of ImapValue use them

namespace mailgate {

struct ImapValue {
  enum class Kind {
    Atom,      // atoms and numbers, flags like \Seen, fetch keys like BODY[]<0>
    String,    // quoted string or literal delivered inline
    Nil,
    List,      // ( ... )
    Streamed,  // a message-body literal handed to the handler in chunks
  };
  Kind kind = Kind::Atom;
  std::string text;            // Atom, String
  std::vector<ImapValue> list; // List
  uint64_t size = 0;           // Streamed: the literal's length

  bool isAtom(std::string_view name) const;  // case-insensitive atom compare
  std::optional<uint64_t> number() const;    // an all-digit atom
};

struct ImapResponse {
  enum class Kind { Tagged, Untagged, Continuation };
  Kind kind = Kind::Untagged;
  std::string tag;                 // Tagged only
  std::optional<uint32_t> number;  // "* 5 FETCH", "* 3 EXISTS"
  // Upper-cased: OK NO BAD PREAUTH BYE (status) or the data name (FETCH,
  // CAPABILITY, FLAGS, EXISTS, EXPUNGE, SEARCH, LIST, ...).
  std::string name;
  bool status = false;             // OK/NO/BAD/PREAUTH/BYE with resp-text
  std::string code;                // resp-text-code name, upper-cased: "UIDVALIDITY"
  std::string codeData;            // what follows it inside [ ]: "(\Answered \*)"
  std::string text;                // human-readable text (status), or the continuation's text
  std::vector<ImapValue> values;   // data responses: everything after the name
  uint64_t literalBytes = 0;       // octets of its inline (not streamed) literals

  // What keeping this response costs in memory, roughly (the containers'
  // own sizes plus their text), for the caps on data kept per command.
  size_t footprint() const;

  // FETCH helpers: the value after the key `item` in the first list, e.g.
  // fetchItem("UID"), fetchItem("RFC822.SIZE"), fetchItem("FLAGS").
  const ImapValue* fetchItem(std::string_view item) const;
};

}  // namespace mailgate
