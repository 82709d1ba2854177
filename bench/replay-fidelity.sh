#!/usr/bin/env bash
#  Replay fidelity on real traces: replays one trace from each data set in
#  ../shared/traces (PlanetLab, Google, Bitbrains), compressed to 1 s per
#  sample, on one CPU, and prints per trace the mean and max absolute deviation
#  of the achieved from the prescribed CPU % (points, first interval excluded),
#  dlb-replay's own overhead (% of one core) and the other processes' load on
#  that CPU during the replay (points; the replayer can only add load, so
#  foreign load above the target shows up as deviation), and the deviations
#  over the "quiet" intervals alone (foreign load <= 3 points), which is what
#  an idle core would see when the machine is shared.
#
#  The trace of each data set is the one whose first SAMPLES values vary most
#  (largest standard deviation; ties to the first in sorted order): the most
#  demanding to follow, and deterministic.
#
#  Usage: bench/replay-fidelity.sh [SAMPLES]       (default 80: 4 minutes in all)
#  Environment: DLB_TRACES (default ../shared/traces from the repository),
#  BUILD_DIR (default build/, built if dlb-replay is missing), DLB_BENCH_CPU
#  (default: the least busy CPU over one second).
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
samples=${1:-80}
case $samples in
    ''|*[!0-9]*|0) echo "replay-fidelity: SAMPLES must be a positive integer (see --help)" >&2; exit 2 ;;
esac
traces=${DLB_TRACES:-$top/../shared/traces}
build=${BUILD_DIR:-$top/build}
seconds_per_sample=1

if [ ! -d "$traces" ]; then
    echo "replay-fidelity: no traces at $traces (set DLB_TRACES); skipping"
    exit 0
fi
if [ ! -x "$build/dlb-replay" ]; then
    "$top/scripts/build.sh" "$build"
fi
tmp=$(mktemp -d)
pid=
cleanup () {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

#  Prints the file (of those given) whose values in field $1 (separator $2,
#  $3 header lines) over the first $samples samples have the largest spread.
pick_trace () {
    local field=$1 separator=$2 skip=$3
    shift 3
    for file in "$@"; do
        awk -F "$separator" -v f="$field" -v skip="$skip" -v n="$samples" -v name="$file" '
            FNR > skip && FNR <= skip + n { x = $f + 0; s += x; ss += x * x; k++ }
            END { if (k == n) printf "%.6f\t%s\n", ss / k - (s / k) ^ 2, name }' "$file"
    done | sort -t "$(printf '\t')" -k1,1gr -k2,2 | awk -F '\t' 'NR == 1 { print $2 }'
}

if [ -n "${DLB_BENCH_CPU:-}" ]; then
    cpu=$DLB_BENCH_CPU
else
    cpu=$({ grep '^cpu[0-9]' /proc/stat; sleep 1; grep '^cpu[0-9]' /proc/stat; } | awk '
        { b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6
          if ($1 in b0) { p = t > t0[$1] ? 100 * (b - b0[$1]) / (t - t0[$1]) : 100
                          if (best == "" || p < bestp) { best = $1; bestp = p } }
          else { b0[$1] = b; t0[$1] = t } }
        END { sub ("cpu", "", best); print best }')
fi

shopt -s nullglob
declare -A chosen
chosen[planetlab]=$(pick_trace 1 ' ' 0 "$traces"/planetlab/*/*)
chosen[google]=$(pick_trace 1 ' ' 0 "$traces"/google/*)
chosen[bitbrains]=$(pick_trace 5 ';' 1 "$traces"/bitbrains/*.csv)

echo "replay-fidelity: $samples samples per trace at $seconds_per_sample s per sample on CPU $cpu"
echo "  host: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-40s %7s %8s %7s %9s %6s | %5s %8s %7s\n' set trace samples mean_dev max_dev \
    overhead% others quiet mean_dev max_dev
for set in planetlab google bitbrains; do
    file=${chosen[$set]}
    if [ -z "$file" ]; then
        printf '%-12s %s\n' "$set" "(no trace with $samples samples; skipped)"
        continue
    fi
    #  The first samples of the trace, header kept for bitbrains.
    excerpt=$tmp/$set
    if [ "$set" = bitbrains ]; then head -n $((samples + 1)) "$file" >"$excerpt"
    else head -n "$samples" "$file" >"$excerpt"; fi
    "$build/dlb-replay" "$excerpt" --mode total --format "$set" --seconds-per-sample "$seconds_per_sample" \
        --cpus "$cpu" --report "$tmp/$set.report" >"$tmp/$set.out" 2>"$tmp/$set.err" &
    pid=$!
    wait "$pid" || { echo "$set: dlb-replay failed: $(cat "$tmp/$set.err")"; exit 1; }
    pid=
    line=$(cat "$tmp/$set.out")
    value () {
        awk -v key="$1" '{ for (i = 1; i <= NF; i++) { split ($i, kv, "=")
                                                       if (kv[1] == key) print kv[2] } }' \
            <<<"$line"
    }
    name=${file#"$traces"/}
    printf '%-10s %-40.40s %7s %8s %7s %9s %6s | %5s %8s %7s\n' "$set" "$name" \
        "$(value intervals)" "$(value mean_dev)" "$(value max_dev)" "$(value overhead)" \
        "$(value others)" "$(value quiet)" "$(value quiet_mean_dev)" "$(value quiet_max_dev)"
done
echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  others: busy points of that CPU not from dlb-replay (other processes); quiet: the"
echo "  intervals with others <= 3 points and their deviations, the idle-core figures"
