#include "proxy/codec/proxy_protocol_parser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace mailgate {

namespace {

// §2.2: "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A".
constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV1Prefix = "PROXY ";

// §2.2 address block sizes for AF_INET, AF_INET6 and AF_UNIX.
constexpr size_t kInetBlock = 12;
constexpr size_t kInet6Block = 36;
constexpr size_t kUnixBlock = 216;

std::vector<std::string_view> splitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t sp = s.find(' ', start);
    out.push_back(s.substr(start, sp == std::string_view::npos ? sp : sp - start));
    if (sp == std::string_view::npos) return out;
    start = sp + 1;
  }
}

// §2.1: "a decimal integer in the range 0..65535 inclusive".
bool parsePort(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

// Numeric address of `family`, rewritten in canonical form.
bool parseAddress(std::string_view s, int family, std::string& out) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  char text[INET6_ADDRSTRLEN] = {};
  std::memcpy(text, s.data(), s.size());
  unsigned char bin[16];
  if (inet_pton(family, text, bin) != 1) return false;
  char canon[INET6_ADDRSTRLEN];
  if (!inet_ntop(family, bin, canon, sizeof canon)) return false;
  out = canon;
  return true;
}

std::string formatAddress(int family, const char* bytes) {
  char canon[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, canon, sizeof canon);
  return canon;
}

uint16_t be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

}  // namespace

ProxyProtocolParser::Result ProxyProtocolParser::fail(size_t consumed, std::string reason) {
  state_ = State::Invalid;
  reason_ = reason;
  buffer_.clear();
  return {Status::Invalid, consumed, std::move(reason)};
}

ProxyProtocolParser::Result ProxyProtocolParser::feed(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    switch (state_) {
      case State::Done:
        return {Status::Done, i, {}};
      case State::Invalid:
        return {Status::Invalid, i, reason_};
      case State::Start:
        if (bytes[i] == kV1Prefix[0]) {
          state_ = State::V1;
        } else if (bytes[i] == kV2Signature[0]) {
          state_ = State::V2Signature;
        } else {
          return fail(i, "no PROXY protocol header");
        }
        break;
      case State::V1: {
        const char c = bytes[i++];
        buffer_.push_back(c);
        const size_t n = buffer_.size();
        if (n <= kV1Prefix.size() && c != kV1Prefix[n - 1])
          return fail(i, "not a PROXY v1 line");
        if (c == '\n') {
          if (n < 2 || buffer_[n - 2] != '\r') return fail(i, "PROXY v1 line ends without CRLF");
          std::string why;
          if (!finishV1(why)) return fail(i, std::move(why));
          state_ = State::Done;
          return {Status::Done, i, {}};
        }
        if (n >= kMaxV1Bytes) return fail(i, "PROXY v1 line longer than 107 bytes");
        if (c != '\r' && (c < ' ' || c > '~')) return fail(i, "control byte in PROXY v1 line");
        if (n >= 2 && buffer_[n - 2] == '\r') return fail(i, "CR inside PROXY v1 line");
        break;
      }
      case State::V2Signature: {
        const char c = bytes[i++];
        buffer_.push_back(c);
        if (c != kV2Signature[buffer_.size() - 1]) return fail(i, "bad PROXY v2 signature");
        if (buffer_.size() == sizeof kV2Signature) state_ = State::V2Fixed;
        break;
      }
      case State::V2Fixed: {
        buffer_.push_back(bytes[i++]);
        if (buffer_.size() < kV2FixedBytes) break;
        std::string why;
        if (!checkV2Fixed(why)) return fail(i, std::move(why));
        if (v2AddressBytes_ > 0) {
          state_ = State::V2Addresses;
        } else if (v2Skip_ > 0) {
          state_ = State::V2Skip;
        } else {
          state_ = State::Done;
          buffer_.clear();
          return {Status::Done, i, {}};
        }
        break;
      }
      case State::V2Addresses: {
        const size_t want = kV2FixedBytes + v2AddressBytes_ - buffer_.size();
        const size_t take = std::min(want, bytes.size() - i);
        buffer_.append(bytes.substr(i, take));
        i += take;
        if (take < want) break;
        finishV2Addresses();
        if (v2Skip_ == 0) {
          state_ = State::Done;
          return {Status::Done, i, {}};
        }
        state_ = State::V2Skip;
        break;
      }
      case State::V2Skip: {
        // TLVs (§2.2.7) carry nothing mailgate uses: skipped without buffering.
        const size_t take = std::min(v2Skip_, bytes.size() - i);
        v2Skip_ -= take;
        i += take;
        if (v2Skip_ == 0) {
          state_ = State::Done;
          return {Status::Done, i, {}};
        }
        break;
      }
    }
  }
  if (state_ == State::Done) return {Status::Done, i, {}};
  if (state_ == State::Invalid) return {Status::Invalid, i, reason_};
  return {Status::NeedMore, i, {}};
}

bool ProxyProtocolParser::finishV1(std::string& why) {
  header_ = {};
  header_.version = 1;
  std::string_view line(buffer_.data(), buffer_.size() - 2);  // without CRLF
  line.remove_prefix(kV1Prefix.size());
  auto fields = splitSpaces(line);
  // §2.1: "UNKNOWN" — the rest of the line up to CRLF is to be ignored and
  // the receiver uses the real connection addresses.
  if (fields[0] == "UNKNOWN") {
    buffer_.clear();
    return true;
  }
  int family;
  if (fields[0] == "TCP4") {
    family = AF_INET;
  } else if (fields[0] == "TCP6") {
    family = AF_INET6;
  } else {
    why = "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN";
    return false;
  }
  if (fields.size() != 5) {
    why = "PROXY v1 line needs exactly: protocol, two addresses, two ports";
    return false;
  }
  if (!parseAddress(fields[1], family, header_.sourceAddress) ||
      !parseAddress(fields[2], family, header_.destAddress)) {
    why = "PROXY v1 address is not a numeric address of the announced family";
    return false;
  }
  if (!parsePort(fields[3], header_.sourcePort) || !parsePort(fields[4], header_.destPort)) {
    why = "PROXY v1 port is not a number in 0..65535";
    return false;
  }
  header_.hasAddresses = true;
  buffer_.clear();
  return true;
}

bool ProxyProtocolParser::checkV2Fixed(std::string& why) {
  header_ = {};
  header_.version = 2;
  const uint8_t verCmd = static_cast<uint8_t>(buffer_[12]);
  const uint8_t fam = static_cast<uint8_t>(buffer_[13]);
  v2Length_ = be16(&buffer_[14]);
  if ((verCmd >> 4) != 2) {
    why = "PROXY v2 header has version " + std::to_string(verCmd >> 4);
    return false;
  }
  const uint8_t command = verCmd & 0x0f;
  if (command > 1) {
    why = "PROXY v2 command is neither LOCAL nor PROXY";
    return false;
  }
  const uint8_t family = fam >> 4, transport = fam & 0x0f;
  if (family > 3 || transport > 2) {
    why = "PROXY v2 unknown address family or transport";
    return false;
  }
  v2AddressBytes_ = 0;
  if (command == 0) {
    // §2.2: LOCAL — "the receiver must accept this connection as valid and
    // must use the real connection endpoints and discard the protocol block
    // including the family which is ignored".
    header_.local = true;
    v2Skip_ = v2Length_;
    return true;
  }
  const size_t block = family == 1 ? kInetBlock : family == 2 ? kInet6Block : family == 3 ? kUnixBlock : 0;
  if (v2Length_ < block) {
    why = "PROXY v2 length is shorter than its address block";
    return false;
  }
  if (transport == 2) {
    why = "PROXY v2 announces a datagram connection";
    return false;
  }
  // Only TCP over IPv4/IPv6 yields a client address; UNSPEC and UNIX are
  // accepted with the real endpoints kept (§2.2: "the receiver should
  // ignore address information" it does not support).
  if ((family == 1 || family == 2) && transport == 1) v2AddressBytes_ = block;
  v2Skip_ = v2Length_ - v2AddressBytes_;
  return true;
}

void ProxyProtocolParser::finishV2Addresses() {
  const char* a = buffer_.data() + kV2FixedBytes;
  if (v2AddressBytes_ == kInetBlock) {
    header_.sourceAddress = formatAddress(AF_INET, a);
    header_.destAddress = formatAddress(AF_INET, a + 4);
    header_.sourcePort = be16(a + 8);
    header_.destPort = be16(a + 10);
  } else {
    header_.sourceAddress = formatAddress(AF_INET6, a);
    header_.destAddress = formatAddress(AF_INET6, a + 16);
    header_.sourcePort = be16(a + 32);
    header_.destPort = be16(a + 34);
  }
  header_.hasAddresses = true;
  buffer_.clear();
}

}  // namespace mailgate
