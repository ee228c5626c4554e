// mailgate: a mail protocol gateway. See README.md.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "config/config.h"
#include "config/config_report.h"
#include "proxy/server/server.h"

namespace {

#ifndef MAILGATE_VERSION
#define MAILGATE_VERSION "dev"
#endif

void usage(FILE* out) {
  std::fprintf(out,
               "usage: mailgate --config FILE        run the gateway\n"
               "       mailgate --check-config FILE  validate FILE and explain every error\n"
               "       mailgate --version | --help\n"
               "signals: SIGHUP reloads the config and certificates; SIGTERM drains and exits.\n");
}

int checkConfig(const std::string& path) {
  auto result = mailgate::loadConfigFile(path);
  std::string report = mailgate::formatConfigErrors(result, path);
  if (!report.empty()) std::fputs(report.c_str(), result.config ? stdout : stderr);
  if (!result.config) return 1;
  std::printf("%s: ok (%zu listeners, %zu routes, %zu pools)\n", path.c_str(),
              result.config->listeners.size(), result.config->routes.size(),
              result.config->pools.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that goes away mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  if (argc == 2 && (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "-V"))) {
    std::printf("mailgate %s\n", MAILGATE_VERSION);
    return 0;
  }
  if (argc == 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc == 3 && !std::strcmp(argv[1], "--check-config")) return checkConfig(argv[2]);
  if (argc == 3 && !std::strcmp(argv[1], "--config")) {
    mailgate::Server server(argv[2]);
    return server.run();
  }
  usage(stderr);
  return 2;
}
