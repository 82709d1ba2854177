#!/usr/bin/env bash
#  Installs what is missing, builds, and runs every test (unit self-tests and
#  integration tests with real processes) through ctest. tests/test_compose.sh
#  also builds the Docker image and runs three nodes in containers; it skips
#  without a Docker daemon, and `scripts/test.sh -LE docker` leaves it out.
#  Usage: scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R transfer
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/build"
cd "$top/build"
ctest --output-on-failure --timeout 300 "$@"
