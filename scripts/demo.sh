#!/usr/bin/env bash
# README command 1: a working mailgate in front of a demo Dovecot, on this machine.
#
#   installs dependencies, builds build/mailgate, makes a self-signed certificate
#   (config/demo/, first run only), starts a demo Dovecot (IMAP 1143, POP3 1110,
#   submission 1587 on 127.0.0.1, plus an SMTP sink for relayed mail) with users
#   alice@example.com / alice-demo and bob@example.com / bob-demo, then runs
#   mailgate in the foreground with config/mailgate.json. Ctrl-C stops everything.
#
# Environment: MAILGATE_BUILD_DIR (default build), MAILGATE_SKIP_DEPS=1,
#              MAILGATE_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${MAILGATE_BUILD_DIR:-build}
CONFIG=${MAILGATE_CONFIG:-config/mailgate.json}
DEMO_DIR=$ROOT/.demo
PY=/usr/bin/python3

if [[ "${MAILGATE_SKIP_DEPS:-0}" != 1 ]]; then
  scripts/install-deps.sh
fi
if [[ "${MAILGATE_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$BUILD_DIR"
  cmake --build "$BUILD_DIR" -j"$(nproc)"
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
  (self-signed certificate: clients need -k / "accept the certificate")

  IMAP   curl -k imaps://127.0.0.1:10993/INBOX -u alice@example.com:alice-demo
         curl -k 'imaps://127.0.0.1:10993/INBOX;UID=1' -u alice@example.com:alice-demo
         curl -k --ssl-reqd imap://127.0.0.1:10143/INBOX -u alice@example.com:alice-demo
  POP3   curl -k pop3s://127.0.0.1:10995/1 -u alice@example.com:alice-demo
         curl -k --ssl-reqd pop3://127.0.0.1:10110/ -u alice@example.com:alice-demo
  bridge curl -k pop3s://127.0.0.1:11995/ -u alice@example.com:alice-demo   (POP3 view of IMAP)
  SMTP   printf 'Subject: hi\r\n\r\nhello\r\n' > /tmp/m.txt
         curl -k smtps://127.0.0.1:10465 -u alice@example.com:alice-demo \
              --mail-from alice@example.com --mail-rcpt bob@example.com -T /tmp/m.txt
         (relayed mail lands in .demo/dovecot/sink/)
  TLS    openssl s_client -connect 127.0.0.1:10993
         openssl s_client -starttls imap -connect 127.0.0.1:10143
  Thunderbird: IMAP 127.0.0.1:10993 SSL/TLS (or 10143 STARTTLS), SMTP 127.0.0.1:10465
         SSL/TLS (or 10587 STARTTLS), normal password, username = full address;
         accept the self-signed certificate when asked.
  Admin  curl http://127.0.0.1:9925/metrics   /healthz   /readyz

  Ctrl-C stops mailgate and Dovecot.

INFO

echo "demo: $BUILD_DIR/mailgate --config $CONFIG"
"$BUILD_DIR/mailgate" --config "$CONFIG" &
mailgate_pid=$!
set +e
wait "$mailgate_pid"
rc=$?
mailgate_pid=
exit $rc
