#!/usr/bin/env bash
#  Benchmark: the failure detector's two settings, measured. A two-node
#  cluster runs a long workload of a's (so b holds a's jobs and sends HOLDs)
#  while BUSY busy loops compete for the CPUs, for --seconds. From the
#  nodes' debug logs it takes every gap between two STATEs a hears from b
#  (period --state-period, 250 ms) and between two HOLDs a gets from b
#  (period --heartbeat, 1 s), and prints their distribution and how many
#  gaps would have crossed each candidate limit: each such gap is a live,
#  busy node wrongly declared stale (STATE) or its jobs needlessly
#  re-issued (HOLD). Then it kills node b whole and measures how long a
#  takes to declare it stale and to take its jobs back with the default
#  --stale-after and --lease. Nothing here asserts: it prints a table.
#  Usage: bench/liveness.sh [--seconds S] [--busy N] [--build DIR]
set -uo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=120 busy=2 build=$top/build
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --busy) busy=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        *) echo "liveness.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$seconds" "$busy"; do
    [[ $v =~ ^[0-9]+$ ]] || { echo "liveness.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
[ -x "$build/dlb-worker" ] || "$top/scripts/build.sh" "$build" >/dev/null
cluster=$build/dlb-cluster
dir=$(mktemp -d /tmp/dlb-liveness.XXXXXX)
run=$dir/run
loops=()
cleanup() {
    for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; done
    "$cluster" down --dir "$run" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
DLB_DEBUG=1 "$cluster" up --nodes 2 --port 0 --dir "$run" --policy none >"$dir/endpoints" ||
    { echo "liveness.sh: the cluster did not start" >&2; exit 1; }
a=$(awk '$1 == "a" { print $2 }' "$dir/endpoints")
b=$(awk '$1 == "b" { print $2 }' "$dir/endpoints")
for _ in $(seq "$busy"); do
    timeout "$((seconds + 60))" sh -c 'while :; do :; done' &
    loops+=($!)
done
#  A workload far longer than the measurement; policy none gives b half of
#  it at the start and moves nothing after (65536 jobs: the default --max-jobs).
"$build/dlbctl" --node "$a" submit --elements $((65536 * 64)) --jobs 65536 --reps 300000 \
    --output out.npy >/dev/null || { echo "liveness.sh: submit failed" >&2; exit 1; }
sleep "$seconds"

#  gaps PATTERN: ms between successive log lines of a-* matching PATTERN.
stamp_ms() { awk '{ split($1, t, /[T:.Z]/); print ((t[2] * 60 + t[3]) * 60 + t[4]) * 1000 + t[5] }'; }
gaps() { grep -h "$1" "$run"/a-*.log | stamp_ms | awk 'NR > 1 { print $1 - p } { p = $1 }'; }
gaps 'STATE from b after' >"$dir/state.gaps"
gaps 'HOLD from b' >"$dir/hold.gaps"
quantile() { sort -g "$1" | awk -v q="$2" '{ v[NR] = $1 } END { i = int(q * NR); if (i < 1) i = 1; print v[i] }'; }
over() { awk -v l="$2" '$1 > l { n++ } END { print n + 0 }' "$1"; }
echo "under $busy busy loops on $(nproc) CPUs, $seconds s, a long workload running on both nodes"
printf '%-24s %-7s %-8s %-8s %-8s %-8s  %s\n' heartbeat gaps median_ms p99_ms max_ms mean_ms "gaps longer than limit L"
for kind in state hold; do
    f=$dir/$kind.gaps
    if [ "$kind" = state ]; then name="STATE (250 ms)" limits="500 750 1000 1500"
    else name="HOLD (1000 ms)" limits="1500 2000 3000 6000"; fi
    counts=""
    for l in $limits; do counts+="L=$l:$(over "$f" "$l") "; done
    printf '%-24s %-7s %-8s %-8s %-8s %-8s  %s\n' "$name" "$(wc -l <"$f")" "$(quantile "$f" 0.5)" \
        "$(quantile "$f" 0.99)" "$(sort -g "$f" | tail -1)" \
        "$(awk '{ s += $1 } END { if (NR) printf "%.0f", s / NR }' "$f")" "$counts"
done

#  Detection: b dies whole.
killed=$(date +%s%3N)
"$cluster" stop-node b --signal KILL --dir "$run" >/dev/null
deadline=$((killed + 60000))
stale_at="" lapse_at=""
while [ "$(date +%s%3N)" -lt "$deadline" ] && { [ -z "$stale_at" ] || [ -z "$lapse_at" ]; }; do
    [ -z "$stale_at" ] && grep -q "peer b lost" "$run/a-state.log" && stale_at=$(date +%s%3N)
    [ -z "$lapse_at" ] && grep -q "taking back jobs last held by b" "$run/a-worker.log" &&
        lapse_at=$(date +%s%3N)
    sleep 0.05
done
echo
echo "node b killed (kill -9 of all five services):"
since() { if [ -n "$1" ]; then echo "$(($1 - killed)) ms"; else echo "not within 60 s"; fi; }
echo "  a declared b stale after    $(since "$stale_at") (--stale-after 1500)"
echo "  a took b's jobs back after  $(since "$lapse_at") (--lease 6000, checked every --heartbeat 1000)"
