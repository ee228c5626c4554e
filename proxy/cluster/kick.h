#pragma once
// Ending a user's sessions on every replica (docs/architecture.md §2.6).
// `mailgate kick` publishes the user name on the fleet's kick channel; each
// replica subscribes to it and ends that user's sessions, each with its
// protocol's goodbye. Sessions started after the kick route by the lookup
// as it then stands, so a mailbox moved to another backend is reached there.
#include <optional>
#include <string>

#include "config/config.h"

namespace mailgate {

// The channel every replica of one fleet (one key prefix) listens on.
std::string kickChannel(const RedisConfig& redis);

// For the `mailgate kick` command, not for an event loop: connects,
// authenticates and publishes with blocking calls bounded by the configured
// timeouts. Returns how many replicas received the message (Redis's PUBLISH
// answer), or nullopt with `error` set.
std::optional<long long> publishKick(const RedisConfig& redis, const std::string& user,
                                     std::string& error);

}  // namespace mailgate
