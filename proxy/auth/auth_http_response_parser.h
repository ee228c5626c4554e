#pragma once
// Reads an auth_http answer (nginx's ngx_mail_auth_http_module semantics)
// through http_parser. Bytes in, one AuthHttpAnswer out; no I/O. Like nginx,
// only the header block matters: parsing stops at its end and any body is
// ignored (Content-Length, chunked or close-delimited alike).
#include <http_parser.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailgate {

// Auth-Wait above this is taken as this many seconds. nginx keeps any value,
// but a service asking for more than a minute is confused, and the login
// timeout ends the session long before anyway; in milliseconds a larger value
// would also wrap a uint32 (4294968 s -> 0.77 s).
constexpr uint32_t kMaxAuthWaitS = 60;

struct AuthHttpAnswer {
  enum class Kind {
    Ok,       // Auth-Status: OK with a usable Auth-Server and Auth-Port
    Error,    // any other Auth-Status: `errorText` is shown to the client
    Wait,     // Auth-Status: WAIT: ask again after `waitS` seconds (nginx's auth_wait)
    Invalid,  // not an answer we can act on: 5xx, no Auth-Status, bad server/port, bad HTTP
  };
  Kind kind = Kind::Invalid;
  unsigned httpStatus = 0;
  std::string server;                 // Auth-Server: numeric IP (nginx accepts no names)
  uint16_t port = 0;                  // Auth-Port
  std::optional<std::string> user;    // Auth-User: log in to the backend as this user
  std::optional<std::string> pass;    // Auth-Pass: ... with this password / token
  std::string errorText;              // Auth-Status value when not OK/WAIT
  std::string errorCode;              // Auth-Error-Code, e.g. "535 5.7.8" (SMTP)
  uint32_t waitS = 0;                 // Auth-Wait, at most kMaxAuthWaitS
  std::string detail;                 // why Invalid, for logs (no secrets)
};

class AuthHttpResponseParser {
 public:
  enum class State { NeedMore, Done };

  AuthHttpResponseParser();
  AuthHttpResponseParser(const AuthHttpResponseParser&) = delete;
  AuthHttpResponseParser& operator=(const AuthHttpResponseParser&) = delete;

  // Feeds bytes; Done once the header block ended or the input is broken.
  State feed(std::string_view bytes);
  // The peer closed: Done (an answer cut short is Invalid).
  State finish();
  bool done() const { return done_; }
  // Valid once done().
  const AuthHttpAnswer& answer() const { return answer_; }

 private:
  static int onHeaderField(http_parser*, const char*, size_t);
  static int onHeaderValue(http_parser*, const char*, size_t);
  static int onHeadersComplete(http_parser*);
  void commitHeader();
  void complete();
  void fail(std::string detail);

  http_parser parser_;
  http_parser_settings settings_;
  std::string field_, value_;
  bool inValue_ = false;
  bool headersDone_ = false;
  bool done_ = false;
  size_t headerBytes_ = 0;
  // Collected raw header values; classified in complete().
  std::optional<std::string> status_, server_, port_, user_, pass_, wait_, errorCode_;
  AuthHttpAnswer answer_;
};

}  // namespace mailgate
