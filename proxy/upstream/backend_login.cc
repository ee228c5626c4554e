#include "proxy/upstream/backend_login.h"

#include "proxy/upstream/imap_backend_login.h"
#include "proxy/upstream/pop3_backend_login.h"
#include "proxy/upstream/smtp_backend_login.h"

namespace mailgate {

std::unique_ptr<BackendLogin> makeBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink) {
  switch (params.protocol) {
    case Protocol::Imap: return makeImapBackendLogin(params, sink);
    case Protocol::Pop3: return makePop3BackendLogin(params, sink);
    case Protocol::Smtp: return makeSmtpBackendLogin(params, sink);
  }
  return nullptr;
}

}  // namespace mailgate
