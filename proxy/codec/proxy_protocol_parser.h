#pragma once
// Reads the PROXY protocol header a load balancer sends first on a connection
// (haproxy's proxy-protocol.txt: v1 text line §2.1, v2 binary block §2.2).
// Pure and resumable: the caller feeds bytes as they arrive, nothing here
// touches a socket. Both versions are detected from the first byte, as the
// spec recommends for a receiver that accepts either (§2.2, "the receiver
// knows which version ... from the first byte").
//
// Nothing but the header is consumed: bytes after it (a ClientHello, an IMAP
// command) are reported as not consumed and belong to the caller.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailgate {

struct ProxyHeader {
  int version = 0;             // 1 or 2
  // LOCAL (v2 command 0x0): the balancer's own connection, e.g. a health
  // check; v1 "UNKNOWN" and v2 families other than INET/INET6 likewise carry
  // no usable client address. The receiver then keeps the TCP peer (§2.1, §2.2).
  bool hasAddresses = false;
  bool local = false;          // v2 LOCAL command
  std::string sourceAddress;   // numeric, as inet_ntop writes it
  uint16_t sourcePort = 0;
  std::string destAddress;
  uint16_t destPort = 0;
};

class ProxyProtocolParser {
 public:
  enum class Status { NeedMore, Done, Invalid };
  struct Result {
    Status status = Status::NeedMore;
    // Bytes of this feed() call that belong to the header. With Done, the
    // rest of the input is the client's payload.
    size_t consumed = 0;
    std::string reason;  // set with Invalid
  };

  // v1: "a receiver may ... stop reading after 107 characters" (§2.1):
  // the longest valid TCP6 line with its CRLF.
  static constexpr size_t kMaxV1Bytes = 107;
  // v2 fixed part: 12-byte signature, version/command, family, 16-bit length.
  static constexpr size_t kV2FixedBytes = 16;

  // Feed the next bytes. After Done or Invalid further calls return the same
  // status and consume nothing.
  Result feed(std::string_view bytes);

  const ProxyHeader& header() const { return header_; }

 private:
  enum class State { Start, V1, V2Signature, V2Fixed, V2Addresses, V2Skip, Done, Invalid };

  Result fail(size_t consumed, std::string reason);
  bool finishV1(std::string& why);
  bool checkV2Fixed(std::string& why);
  void finishV2Addresses();

  State state_ = State::Start;
  std::string buffer_;        // v1 line or v2 fixed part + address block
  size_t v2Length_ = 0;       // the v2 length field: bytes after the fixed part
  size_t v2AddressBytes_ = 0; // the part of v2Length_ that is buffered
  size_t v2Skip_ = 0;         // TLV bytes still to skip
  std::string reason_;
  ProxyHeader header_;
};

}  // namespace mailgate
