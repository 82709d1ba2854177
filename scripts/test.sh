#!/usr/bin/env bash
#  Installs what is missing, builds, and runs every test (unit self-tests and
#  integration tests with real processes) through ctest.
#  Usage: scripts/test.sh [ctest args...]     e.g. scripts/test.sh -R transfer
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/build"
cd "$top/build"
ctest --output-on-failure --timeout 300 "$@"
