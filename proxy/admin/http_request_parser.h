#pragma once
// Reads the head of one HTTP/1.x request (RFC 9112 sections 2-5) for the admin
// listener through http_parser. Bytes in, one outcome out; no I/O, so it can
// be fed one byte at a time. The admin endpoints take no request body, so
// parsing stops at the end of the head (the caller answers and closes).
//
// Hostile input is bounded here: the head (request line + header fields) may
// be at most kMaxHeadBytes; a longer one is TooLarge (431, RFC 6585 section 5)
// without the parser ever seeing more than kMaxHeadBytes + 1 bytes.
#include <http_parser.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace mailgate {

class HttpRequestParser {
 public:
  static constexpr size_t kMaxHeadBytes = 8 * 1024;

  enum class Outcome {
    NeedMore,         // the head has not ended yet
    Complete,         // a well-formed head: method() and path() are valid
    Invalid,          // not HTTP/1.x syntax (400)
    TooLarge,         // head longer than kMaxHeadBytes (431)
    VersionUnsupported,  // well-formed, but not HTTP/1.0 or 1.1 (505)
  };
  enum class Method { Get, Head, Post, Other };

  HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Feeds bytes; once the outcome is not NeedMore, further bytes are ignored
  // and the same outcome is returned.
  Outcome feed(std::string_view bytes);
  // The peer ended its side: a head cut short is Invalid; nothing at all
  // stays NeedMore (a port probe, not a request).
  Outcome finish();

  Outcome outcome() const { return outcome_; }
  // True once any byte arrived.
  bool started() const { return headBytes_ > 0; }
  Method method() const { return method_; }
  // The request target's path, without query or fragment ("/metrics" for
  // "/metrics?x=1" and for the absolute form "http://host/metrics", which
  // RFC 9112 section 3.2.2 requires servers to accept); "*" for the
  // asterisk form; empty when the target has no path ("http://host").
  const std::string& path() const { return path_; }
  // The target's query, without '?' (empty when there is none).
  const std::string& query() const { return query_; }
  // The value of the Authorization field (the last one when repeated), its
  // surrounding whitespace removed; empty when absent.
  const std::string& authorization() const { return authorization_; }

 private:
  static int onUrl(http_parser*, const char*, size_t);
  static int onHeadersComplete(http_parser*);
  static int onHeaderField(http_parser*, const char*, size_t);
  static int onHeaderValue(http_parser*, const char*, size_t);
  void endHeaderValue();

  http_parser parser_;
  http_parser_settings settings_;
  std::string url_;
  std::string path_;
  std::string query_;
  std::string field_;           // the header field being read
  std::string value_;           // and its value so far
  bool inValue_ = false;
  std::string authorization_;
  Method method_ = Method::Other;
  size_t headBytes_ = 0;
  bool headDone_ = false;
  Outcome outcome_ = Outcome::NeedMore;
};

}  // namespace mailgate
