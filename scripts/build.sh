#!/usr/bin/env bash
#  Configures and builds dlb into BUILD_DIR (default: build/).
#  Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
shift || true
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory -s
