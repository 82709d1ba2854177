#!/usr/bin/env bash
#  Benchmark: how precisely the throttle bounds a thread's duty cycle.
#  For each setting, runs the kernel under the throttle for S seconds and
#  prints the thread's measured CPU share (median of --runs), and its error
#  in percentage points. Goal: within 5 points.
#  Usage: bench/throttle.sh [--seconds S] [--runs N] [--build DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=3 runs=3 build="$top/build"
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "throttle.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$build/dlb-kernel" ] || "$top/scripts/build.sh" "$build" >/dev/null
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
printf '%-9s %15s %13s\n' throttle measured_share error_points
for t in 0.1 0.3 0.5 0.7 1.0; do
    share=$(for _ in $(seq "$runs"); do "$build/dlb-kernel" throttle "$t" --seconds "$seconds"; done | median)
    printf '%-9s %15.3f %+13.1f\n' "$t" "$share" "$(awk -v s="$share" -v t="$t" 'BEGIN {print 100 * (s - t)}')"
done
