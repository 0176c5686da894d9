#!/bin/bash
# The one test command: install what the tests need (Debian 12, as root), build,
# and run every test — unit tests, then integration tests against real MariaDB,
# Dovecot and Postfix started privately on loopback.
#
# usage: scripts/test.sh [--unit-only] [ctest arguments...]
# env:   BUILD_DIR (default build), TITAN_SANITIZE=1 (ASan+UBSan build), JOBS
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}
UNIT_ONLY=0
if [[ ${1:-} == --unit-only ]]; then UNIT_ONLY=1; shift; fi

"$ROOT/scripts/install-deps.sh"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTITAN_SANITIZE="${TITAN_SANITIZE:-OFF}" > "$BUILD_DIR.cmake.log" 2>&1 \
    || { cat "$BUILD_DIR.cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$JOBS"

cd "$BUILD_DIR"
echo "== unit tests"
ctest --output-on-failure -L unit -j "$JOBS" "$@"
if [[ $UNIT_ONLY == 0 ]]; then
    echo "== integration tests (real MariaDB, titan-authd, Dovecot, Postfix)"
    ctest --output-on-failure -L integration "$@"
fi
echo "== all tests passed"
