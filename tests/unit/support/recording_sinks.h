#pragma once
// Fakes for the login machines' and backend logins' sinks: they record every
// call so a test can compare what went out with a transcript.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/session/login_machine.h"
#include "proxy/upstream/backend_login.h"

namespace mailgate::testing {

struct RecordingLoginSink : LoginSink {
  std::string out;                   // everything sent to the client
  std::vector<Credentials> logins;   // authenticate() calls
  std::vector<std::string> errors;   // protocolError() tokens
  int tlsBegun = 0;
  int closed = 0;

  void sendToClient(std::string_view bytes) override { out.append(bytes); }
  void beginTls() override { ++tlsBegun; }
  void authenticate(const Credentials& c) override { logins.push_back(c); }
  void closeClient() override { ++closed; }
  void protocolError(std::string_view what) override { errors.emplace_back(what); }

  std::string take() { return std::exchange(out, {}); }
  bool sawError(std::string_view what) const {
    for (const auto& e : errors) {
      if (e == what) return true;
    }
    return false;
  }
};

struct RecordingBackendSink : BackendLoginSink {
  std::string sent;  // everything sent to the backend
  int tlsBegun = 0;
  std::vector<BackendLoginResult> results;

  void sendToBackend(std::string_view bytes) override { sent.append(bytes); }
  void beginBackendTls() override { ++tlsBegun; }
  void loginFinished(const BackendLoginResult& r) override { results.push_back(r); }

  std::string take() { return std::exchange(sent, {}); }
};

// Feeds `bytes` in chunks of `chunk` bytes (0: all at once), the way reads
// from a socket may split them.
template <typename Receiver>
void feed(Receiver& r, std::string_view bytes, size_t chunk) {
  if (chunk == 0) {
    r.receive(bytes);
    return;
  }
  for (size_t i = 0; i < bytes.size(); i += chunk) r.receive(bytes.substr(i, chunk));
}

}  // namespace mailgate::testing
