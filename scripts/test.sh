#!/usr/bin/env bash
# README command 2: install dependencies, build, run unit + fuzz tests (ctest),
# then the integration tests (pytest, real Dovecot and clients).
#
# Environment:
#   MAILGATE_BUILD_DIR   build folder (default: build)
#   MAILGATE_SKIP_DEPS=1 do not run scripts/install-deps.sh
#   PYTEST_ARGS          extra arguments for pytest (e.g. "-k imap -x")
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${MAILGATE_BUILD_DIR:-build}
export MAILGATE_BUILD_DIR=$BUILD_DIR
start=$(date +%s)

step() { printf '\n==== %s ====\n' "$*"; }

if [[ "${MAILGATE_SKIP_DEPS:-0}" != 1 ]]; then
  step "dependencies"
  scripts/install-deps.sh || { echo "test.sh: FAILED installing dependencies"; exit 1; }
fi

step "build ($BUILD_DIR)"
generator=()
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
if ! cmake -S . -B "$BUILD_DIR" "${generator[@]}" || ! cmake --build "$BUILD_DIR" -j2; then
  echo "test.sh: FAILED: build"
  exit 1
fi

step "unit + fuzz tests (ctest)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600
ctest_rc=$?

step "integration tests (pytest)"
# Debian's interpreter: it has python3-pytest, python3-aiosmtpd, python3-yaml.
/usr/bin/python3 -m pytest "$ROOT/tests/integration" -q -p no:cacheprovider ${PYTEST_ARGS:-}
pytest_rc=$?

elapsed=$(( $(date +%s) - start ))
describe() {   # describe NAME RC
  case "$2" in
    0) echo "$1 passed" ;;
    5) echo "$1 FAILED (no tests collected)" ;;
    *) echo "$1 FAILED (exit $2)" ;;
  esac
}
summary="$(describe ctest $ctest_rc); $(describe pytest $pytest_rc); ${elapsed}s"
if [[ $ctest_rc -eq 0 && $pytest_rc -eq 0 ]]; then
  echo "test.sh: OK: $summary"
  exit 0
fi
echo "test.sh: FAILED: $summary"
exit 1
