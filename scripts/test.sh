#!/usr/bin/env bash
# README command 2: install dependencies, build, run unit + fuzz tests (ctest),
# then the integration tests (pytest, real Dovecot and clients) -- twice: a
# plain build, then an AddressSanitizer + UBSan build where any sanitizer
# report fails the run.
#
# Environment:
#   MAILGATE_BUILD_DIR        plain build folder (default: build)
#   MAILGATE_ASAN_BUILD_DIR   sanitizer build folder (default: build-asan)
#   MAILGATE_PLAIN_PASS=0     skip the plain pass
#   MAILGATE_SANITIZE_PASS=0  skip the ASan/UBSan pass (default: run it)
#   MAILGATE_SKIP_DEPS=1      do not run scripts/install-deps.sh
#   PYTEST_ARGS               extra arguments for pytest (e.g. "-k imap -x")
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PLAIN_DIR=${MAILGATE_BUILD_DIR:-build}
ASAN_DIR=${MAILGATE_ASAN_BUILD_DIR:-build-asan}
start=$(date +%s)

step() { printf '\n==== %s ====\n' "$*"; }

if [[ "${MAILGATE_SKIP_DEPS:-0}" != 1 ]]; then
  step "dependencies"
  scripts/install-deps.sh || { echo "test.sh: FAILED installing dependencies"; exit 1; }
fi

# A warm compiler cache makes the second build of the same sources cheap
# where one exists; CI on a fresh machine simply builds.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

build() {   # build DIR CMAKE-ARGS...
  local dir=$1
  shift
  local generator=()
  if [[ ! -f "$dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
    generator=(-G Ninja)
  fi
  cmake -S . -B "$dir" "${generator[@]}" "${launcher[@]}" "$@" && cmake --build "$dir" -j2
}

describe() {   # describe NAME RC
  case "$2" in
    0) echo "$1 passed" ;;
    5) echo "$1 FAILED (no tests collected)" ;;
    skip) echo "$1 skipped" ;;
    *) echo "$1 FAILED (exit $2)" ;;
  esac
}

# run_pass LABEL DIR CMAKE-ARGS...: build, ctest, pytest; sets pass_summary
# and returns 0 only when all three passed.
run_pass() {
  local label=$1 dir=$2
  shift 2
  local pass_start
  pass_start=$(date +%s)
  step "$label: build ($dir)"
  if ! build "$dir" "$@"; then
    pass_summary="$label: build FAILED"
    return 1
  fi
  step "$label: unit + fuzz tests (ctest)"
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 600
  local ctest_rc=$?
  step "$label: integration tests (pytest)"
  # Debian's interpreter: it has python3-pytest, python3-aiosmtpd, python3-yaml.
  MAILGATE_BUILD_DIR=$dir /usr/bin/python3 -m pytest "$ROOT/tests/integration" -q \
    -p no:cacheprovider ${PYTEST_ARGS:-}
  local pytest_rc=$?
  pass_summary="$label: $(describe ctest $ctest_rc), $(describe pytest $pytest_rc), $(( $(date +%s) - pass_start ))s"
  [[ $ctest_rc -eq 0 && $pytest_rc -eq 0 ]]
}

summaries=()
ok=1

if [[ "${MAILGATE_PLAIN_PASS:-1}" != 0 ]]; then
  run_pass plain "$PLAIN_DIR" || ok=0
  summaries+=("$pass_summary")
fi

if [[ "${MAILGATE_SANITIZE_PASS:-1}" != 0 ]]; then
  # Any report is fatal: ASan/LSan abort at the first one, UBSan too (the
  # build also has -fno-sanitize-recover=all). The daemon's output goes to
  # its log, which the pytest harness scans for reports (harness/mailgate.py);
  # MAILGATE_SANITIZER tells tests that measure memory (RSS) to skip.
  (
    export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1:detect_stack_use_after_return=0
    export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
    export MAILGATE_SANITIZER=1
    # The fuzz targets are built with their standalone driver here (libFuzzer
    # needs clang): ctest runs their seeds and generated inputs under ASan.
    run_pass asan "$ASAN_DIR" -DMAILGATE_SANITIZE=ON -DMAILGATE_LIBFUZZER=OFF
    rc=$?
    echo "$pass_summary" >"$ASAN_DIR/.test-summary"
    exit $rc
  ) || ok=0
  summaries+=("$(cat "$ASAN_DIR/.test-summary" 2>/dev/null || echo "asan: build FAILED")")
fi

if [[ ${#summaries[@]} -eq 0 ]]; then
  echo "test.sh: FAILED: both passes disabled"
  exit 1
fi
summary="$(IFS=';'; echo "${summaries[*]}"); total $(( $(date +%s) - start ))s"
if [[ $ok -eq 1 ]]; then
  echo "test.sh: OK: $summary"
  exit 0
fi
echo "test.sh: FAILED: $summary"
exit 1
