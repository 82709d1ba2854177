#!/usr/bin/env bash
#  Cost of dlb_forecast per call, in instructions (callgrind counts are
#  repeatable, unlike timings): dlb_forecast_feed, and dlb_forecast_mean for
#  intervals of 1 to 960 samples, on the first SAMPLES samples of one
#  Bitbrains trace (a full history, the steady state of a long-running
#  monitor). Needs valgrind; takes about a minute.
#  Usage: bench/forecast-cost.sh [BUILD_DIR] [TRACE] [SAMPLES] [HORIZON]
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
trace=${2:-$top/../shared/traces/bitbrains/34.csv}
samples=${3:-3000}
horizon=${4:-5}
intervals=1,6,72,960
command -v valgrind >/dev/null || { echo "valgrind not found"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/trace"
head -n $((samples + 1)) "$trace" >"$work/trace/$(basename "$trace")" #  + header
valgrind --tool=callgrind --callgrind-out-file="$work/out" \
    "$build/dlb-forecast" eval "$work/trace" --horizon "$horizon" \
    --interval "$intervals" --json >"$work/json" 2>"$work/log"
#  Calls: one feed a sample; one dlb_forecast_mean a scored interval point.
queries=$(grep -o '"points": [0-9]*, "last"' "$work/json" | awk '{ s += $2 } END { print s }')
callgrind_annotate --inclusive=yes "$work/out" 2>/dev/null >"$work/annotate"
cost () { grep -E "[^_a-z]$1( |$)" "$work/annotate" | head -1 | awk '{ gsub(",", "", $1); print $1 }'; }
feed=$(cost dlb_forecast_feed)
mean=$(cost dlb_forecast_mean)
awk -v f="$feed" -v m="$mean" -v n="$samples" -v q="$queries" \
    -v h="$horizon" 'BEGIN {
    printf "max_horizon %d, %d samples, %d interval queries (K = 1, 6, 72, 960)\n", h, n, q
    printf "dlb_forecast_feed   %9.0f instructions a call\n", f / n
    printf "dlb_forecast_mean   %9.0f instructions a call\n", m / q }'
