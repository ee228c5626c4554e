// ImapClient, part 2: logging in and identifying the client (RFC 9051 §6.2,
// RFC 4959 SASL-IR, RFC 4616 PLAIN, RFC 2971 ID).
#include "bridge/imap_client/imap_client.h"
#include "proxy/mail/sasl.h"

namespace mailgate {
namespace {

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// ID values are ours (addresses, ports, a session id), but never trust a
// string into a protocol line: keep only what an address or id can contain.
std::string sanitizeIdValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
        c == ':' || c == '-' || c == '_' || c == '%')
      out.push_back(c);
    if (out.size() >= 128) break;
  }
  return out;
}

}  // namespace

void ImapClient::login(const Credentials& c, Done done) {
  auto refuse = [this, &done](std::string why) {
    std::weak_ptr<bool> alive = alive_;
    deferToNextTick(loop_, [alive, done = std::move(done), why = std::move(why)] {
      auto a = alive.lock();
      if (!a || !*a || !done) return;
      ImapResult r;
      r.status = ImapResult::Status::No;
      r.text = why;
      done(std::move(r));
    });
  };
  if (!c.authzid.empty()) {
    // The bridge logs in as exactly the user it was given, never on behalf of
    // another (the login machines and lookups never hand it an authzid).
    refuse("the bridge does not log in with an authorization identity");
    return;
  }
  if (hasCapability("LOGINDISABLED")) {
    refuse("backend refuses plaintext login (LOGINDISABLED)");
    return;
  }
  const bool saslIr = hasCapability("SASL-IR");  // RFC 4959
  auto authenticate = [&](const char* mech, std::string raw) {
    std::string b64 = base64Encode(raw);
    if (b64.empty()) b64 = "=";  // RFC 4959 §3: empty initial response
    Hooks hooks;
    if (saslIr) {
      // A continuation after the initial response carries an error (XOAUTH2
      // sends a JSON status): answer with an empty response to get the NO.
      hooks.onContinuation = [](std::string_view) { return std::string(); };
      send(std::string("AUTHENTICATE ") + mech + " " + b64, std::move(done), std::move(hooks));
    } else {
      auto first = std::make_shared<bool>(true);
      hooks.onContinuation = [first, b64](std::string_view) {
        if (*first) {
          *first = false;
          return b64;
        }
        return std::string();
      };
      send(std::string("AUTHENTICATE ") + mech, std::move(done), std::move(hooks));
    }
  };
  switch (c.mechanism) {
    case Credentials::Mechanism::XOAuth2:
    case Credentials::Mechanism::OAuthBearer: {
      const char* mech = sasl::saslName(c.mechanism);
      if (!hasCapability(std::string("AUTH=") + mech)) {
        refuse(std::string("backend does not offer AUTH=") + mech);
        return;
      }
      authenticate(mech, c.secret);
      return;
    }
    case Credentials::Mechanism::Password:
      break;
  }
  if (hasCapability("AUTH=PLAIN")) {
    authenticate("PLAIN", sasl::encodePlain(c));
    return;
  }
  if (imapQuotable(c.user) && imapQuotable(c.secret)) {
    send("LOGIN " + quote(c.user) + " " + quote(c.secret), std::move(done));
    return;
  }
  if (hasCapability("LITERAL+") && c.user.find_first_of(std::string("\r\n\0", 3)) == std::string::npos) {
    // RFC 7888: non-synchronizing literals need no round trip.
    send("LOGIN {" + std::to_string(c.user.size()) + "+}\r\n" + c.user + " {" + std::to_string(c.secret.size()) +
             "+}\r\n" + c.secret,
         std::move(done));
    return;
  }
  refuse("credentials cannot be sent with LOGIN to this backend");
}

void ImapClient::sendId(const Endpoint& peer, const Endpoint& local, std::string_view sessionId, Done done) {
  // Dovecot's names (login_trusted_networks): x-originating-ip/-port,
  // x-connected-ip/-port, x-session-id (RFC 2971 ID).
  std::string cmd = "ID (\"x-originating-ip\" " + quote(sanitizeIdValue(peer.address)) +
                    " \"x-originating-port\" \"" + std::to_string(peer.port) + "\"";
  if (!local.address.empty()) {
    cmd += " \"x-connected-ip\" " + quote(sanitizeIdValue(local.address)) + " \"x-connected-port\" \"" +
           std::to_string(local.port) + "\"";
  }
  if (!sessionId.empty()) cmd += " \"x-session-id\" " + quote(sanitizeIdValue(sessionId));
  cmd += ")";
  send(std::move(cmd), std::move(done));
}

}  // namespace mailgate
