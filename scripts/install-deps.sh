#!/usr/bin/env bash
# Install the Debian packages mailgate needs to build, run the demo and run the
# tests. Idempotent: checks each package with dpkg-query and only calls apt-get
# (update once, then install) when something is missing.
#
# Usage: scripts/install-deps.sh [--build-only | --demo]
#   (none)        build + test packages + demo/test run packages (scripts/test.sh, CI)
#   --build-only  what `cmake -DMAILGATE_TESTS=OFF` + building the mailgate target need
#   --demo        --build-only plus what scripts/demo.sh runs (Dovecot, the SMTP sink)
set -euo pipefail

# One package per line, so lists edited on several branches merge cleanly.
BUILD_PKGS=(
  cmake
  ninja-build
  g++
  pkg-config
  libuv1-dev
  android-libboringssl-dev
  nlohmann-json3-dev
  prometheus-cpp-dev
  libhttp-parser-dev
  libhiredis-dev
  lowdown  # renders the man page mailgate(8) from docs/
)
RUN_PKGS=(
  dovecot-imapd
  dovecot-pop3d
  dovecot-submissiond
  python3-aiosmtpd
  openssl
)
TEST_PKGS=(
  libgtest-dev
  python3-pytest
  curl
  fetchmail
  mpop
  swaks
  libnet-ssleay-perl
  libio-socket-ssl-perl
  prometheus
  python3-yaml
  nginx-light
  libnginx-mod-mail
  isync
  offlineimap3
  getmail6
  python3-jsonschema
  redis-server
)

pkgs=("${BUILD_PKGS[@]}")
case "${1:-}" in
  --build-only) ;;
  --demo) pkgs+=("${RUN_PKGS[@]}") ;;
  "") pkgs+=("${RUN_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [--build-only | --demo]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Services pulled in by these packages (dovecot, prometheus, nginx) must not be started
# by the package scripts: we run our own instances on other ports.
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
  apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
echo "install-deps: done"
