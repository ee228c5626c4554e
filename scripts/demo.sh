#!/usr/bin/env bash
# README command 1: a working mailgate in front of a demo Dovecot, on this machine.
#
#   installs the build and demo packages (scripts/install-deps.sh --demo: no test
#   tools), builds only the mailgate binary (tests and fuzz targets off) in
#   build-demo/, makes a self-signed certificate (config/demo/, first run only),
#   starts a demo Dovecot (IMAP 1143, POP3 1110, submission 1587 on 127.0.0.1,
#   plus an SMTP sink for relayed mail) with users alice@example.com / alice-demo
#   and bob@example.com / bob-demo, then runs mailgate in the foreground with
#   config/mailgate.json. Ctrl-C stops everything.
#
# Environment: MAILGATE_BUILD_DIR (default build-demo, apart from scripts/test.sh's
#              build/ so neither reconfigures the other), MAILGATE_SKIP_DEPS=1,
#              MAILGATE_SKIP_BUILD=1, MAILGATE_CONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${MAILGATE_BUILD_DIR:-build-demo}
CONFIG=${MAILGATE_CONFIG:-config/mailgate.json}
DEMO_DIR=$ROOT/.demo
PY=/usr/bin/python3
started=$(date +%s)

if [[ "${MAILGATE_SKIP_DEPS:-0}" != 1 ]]; then
  scripts/install-deps.sh --demo
fi
if [[ "${MAILGATE_SKIP_BUILD:-0}" != 1 ]]; then
  configure=(-DMAILGATE_TESTS=OFF)
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    configure+=(-DCMAKE_BUILD_TYPE=Release)
    command -v ninja >/dev/null && configure+=(-G Ninja)
  fi
  if command -v ccache >/dev/null; then
    configure+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$BUILD_DIR" "${configure[@]}"
  # Only the daemon: the unit tests and fuzz targets are most of the build.
  cmake --build "$BUILD_DIR" --target mailgate -j"$(nproc)"
fi

if [[ ! -f config/demo/cert.pem || ! -f config/demo/key.pem ]]; then
  echo "demo: generating a self-signed certificate for localhost/127.0.0.1 in config/demo/"
  $PY tests/integration/harness/certs.py --self-signed config/demo/cert.pem config/demo/key.pem
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 1143 1110 1587 1025; do
  if port_busy "$p"; then
    echo "demo: port $p on 127.0.0.1 is in use (another demo running?); stop it first" >&2
    exit 1
  fi
done

mkdir -p "$DEMO_DIR"
backend_pid=
mailgate_pid=
cleanup() {
  trap - EXIT INT TERM
  if [[ -n "$mailgate_pid" ]] && kill -0 "$mailgate_pid" 2>/dev/null; then
    kill -TERM "$mailgate_pid" 2>/dev/null || true
    wait "$mailgate_pid" 2>/dev/null || true
  fi
  if [[ -n "$backend_pid" ]] && kill -0 "$backend_pid" 2>/dev/null; then
    echo "demo: stopping Dovecot"
    kill -TERM "$backend_pid" 2>/dev/null || true
    wait "$backend_pid" 2>/dev/null || true
  fi
  echo "demo: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: starting Dovecot (state in .demo/dovecot, log .demo/dovecot/dovecot.log)"
$PY tests/integration/harness/dovecot.py --demo --workdir "$DEMO_DIR/dovecot" \
  --imap-port 1143 --pop3-port 1110 --submission-port 1587 --sink-port 1025 \
  > "$DEMO_DIR/backend.out" 2>&1 &
backend_pid=$!
for _ in $(seq 1 100); do
  grep -q '^dovecot: imap' "$DEMO_DIR/backend.out" 2>/dev/null && break
  if ! kill -0 "$backend_pid" 2>/dev/null; then
    echo "demo: Dovecot failed to start:" >&2; cat "$DEMO_DIR/backend.out" >&2
    tail -20 "$DEMO_DIR/dovecot/dovecot.log" >&2 || true
    exit 1
  fi
  sleep 0.1
done

cat <<'INFO'

  mailgate demo — users: alice@example.com / alice-demo, bob@example.com / bob-demo
  The certificate (config/demo/cert.pem) is self-signed for the name localhost:
  connect to localhost (not 127.0.0.1) and trust that file, or use curl -k.
  README.md has the same lines, and settings for mbsync, offlineimap, getmail
  and Thunderbird.

  IMAP   curl --cacert config/demo/cert.pem imaps://localhost:10993/ -u alice@example.com:alice-demo
              (lists the folders)
         curl --cacert config/demo/cert.pem 'imaps://localhost:10993/INBOX?ALL' -u alice@example.com:alice-demo
              (searches INBOX: the message numbers)
         curl --cacert config/demo/cert.pem 'imaps://localhost:10993/INBOX;UID=1' -u alice@example.com:alice-demo
  POP3   curl --cacert config/demo/cert.pem pop3s://localhost:10995/ -u alice@example.com:alice-demo
  bridge curl --cacert config/demo/cert.pem pop3s://localhost:11995/ -u alice@example.com:alice-demo
  SMTP   printf 'From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhello\r\n' > /tmp/demo-mail.txt
         curl --cacert config/demo/cert.pem smtps://localhost:10465 -u alice@example.com:alice-demo \
              --mail-from alice@example.com --mail-rcpt bob@example.com -T /tmp/demo-mail.txt
         (relayed mail lands in .demo/dovecot/sink/)
  TLS    openssl s_client -connect localhost:10993 -CAfile config/demo/cert.pem
  Admin  curl http://127.0.0.1:9925/metrics   /healthz   /readyz

  Ctrl-C stops mailgate and Dovecot.

INFO
echo "demo: $BUILD_DIR/mailgate --config $CONFIG (ready $(( $(date +%s) - started )) s after demo.sh started)"
"$BUILD_DIR/mailgate" --config "$CONFIG" &
mailgate_pid=$!
set +e
wait "$mailgate_pid"
rc=$?
mailgate_pid=
exit $rc
