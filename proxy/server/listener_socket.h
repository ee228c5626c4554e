#pragma once
// Listening sockets. Each worker thread gets its own socket on the same
// address (SO_REUSEPORT), so the kernel spreads connections across loops
// without a shared accept lock. Sockets are opened on the main thread, where
// errors can be reported synchronously (start-up and reload), then handed to
// the worker that will own them.
#include <cstdint>
#include <string>

namespace mailgate {

// Returns a listening, non-blocking fd, or -1 with `error` set.
int openListenSocket(const std::string& host, uint16_t port, std::string* error);

}  // namespace mailgate
