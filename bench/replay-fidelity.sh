#!/usr/bin/env bash
#  Replay fidelity on real traces: replays one trace from each data set in
#  ../shared/traces (PlanetLab, Google, Bitbrains), compressed to 1 s per
#  sample, on one CPU in each CPU mode (own, then total), then disk and
#  network rates, and prints a table per kind.
#
#  CPU: per trace and mode the mean and max absolute deviation
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
#  Disk and network: the published traces have no disk or network columns,
#  so the bench replays a dlb-collect CSV: DLB_BENCH_COLLECT if set (a user's
#  own history), else one made from the PlanetLab trace's CPU % u:
#  disk_read_bps = u x 100 KB/s, disk_write_bps = (100 - u) x 50 KB/s,
#  net_out_bps = u x 10 KB/s, net_in_bps = u x 5 KB/s (varying, and
#  deterministic). Disk I/O goes to a file under DLB_BENCH_DISK_DIR (default:
#  the build directory, on a real disk); the network sink runs on loopback.
#  Each prints mean target and achieved, mean and max absolute deviation
#  (bytes/s; packets/s for the network), over the first SAMPLES rows.
#
#  Usage: bench/replay-fidelity.sh [SAMPLES]       (default 80: about 10 minutes in all)
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
sink=
cleanup () {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$sink" ]; then kill "$sink" 2>/dev/null || true; wait "$sink" 2>/dev/null || true; fi
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

#  Prints the value of key $1 in the summary line $2 (key=value ...).
value () {
    awk -v key="$1" '{ for (i = 1; i <= NF; i++) { split ($i, kv, "=")
                                                   if (kv[1] == key) print kv[2] } }' <<<"$2"
}

echo "replay-fidelity: $samples samples per trace at $seconds_per_sample s per sample on CPU $cpu"
echo "  host: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "CPU (points of CPU %; own: the load thread's own CPU time; total: the CPU's busy time)"
printf '%-10s %-40s %-5s %7s %8s %7s %6s %9s %6s | %5s %8s %7s\n' set trace mode samples \
    mean_dev max_dev short overhead% others quiet mean_dev max_dev
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
    for mode in own total; do
        "$build/dlb-replay" "$excerpt" --mode "$mode" --format "$set" \
            --seconds-per-sample "$seconds_per_sample" --cpus "$cpu" \
            --report "$tmp/$set.$mode.report" >"$tmp/$set.out" 2>"$tmp/$set.err" &
        pid=$!
        wait "$pid" || { echo "$set: dlb-replay failed: $(cat "$tmp/$set.err")"; exit 1; }
        pid=
        line=$(cat "$tmp/$set.out")
        name=${file#"$traces"/}
        printf '%-10s %-40.40s %-5s %7s %8s %7s %6s %9s %6s | %5s %8s %7s\n' "$set" "$name" \
            "$mode" "$(value intervals "$line")" "$(value mean_dev "$line")" \
            "$(value max_dev "$line")" "$(value short "$line")" "$(value overhead "$line")" \
            "$(value others "$line")" "$(value quiet "$line")" \
            "$(value quiet_mean_dev "$line")" "$(value quiet_max_dev "$line")"
    done
done
echo "  others: busy points of that CPU not from dlb-replay (other processes); quiet: the"
echo "  intervals with others <= 3 points and their deviations, the idle-core figures;"
echo "  short: mean points by which the achieved fell below the target"

#  Disk and network, one dlb-replay as a scenario would run it.
collect=${DLB_BENCH_COLLECT:-}
if [ -z "$collect" ]; then
    collect=$tmp/collect.csv
    echo timestamp,cpu_total,disk_read_bps,disk_write_bps,net_in_bps,net_out_bps >"$collect"
    awk -v n="$samples" 'NR <= n { u = $1 + 0
        printf "%d,%s,%d,%d,%d,%d\n", NR, u, u * 100000, (100 - u) * 50000, u * 5000, u * 10000 }' \
        "${chosen[planetlab]}" >>"$collect"
    source_name="made from ${chosen[planetlab]#"$traces"/}"
else
    head -n $((samples + 1)) "$collect" >"$tmp/collect.csv"
    collect=$tmp/collect.csv
    source_name=$DLB_BENCH_COLLECT
fi
disk_dir=$(mktemp -d "${DLB_BENCH_DISK_DIR:-$build}/replay-fidelity.XXXXXX")
"$build/dlb-replay" --sink 0 >"$tmp/sink.out" 2>"$tmp/sink.err" &
sink=$!
for _ in $(seq 50); do grep -q '^port=' "$tmp/sink.out" && break; sleep 0.1; done
port=$(sed -n 's/^port=//p' "$tmp/sink.out")
[ -n "$port" ] || { echo "the sink did not start: $(cat "$tmp/sink.err")"; exit 1; }
"$build/dlb-replay" "$collect" --disk "$disk_dir" --net "127.0.0.1:$port" \
    --seconds-per-sample "$seconds_per_sample" >"$tmp/io.out" 2>"$tmp/io.err" &
pid=$!
wait "$pid" || { echo "disk and network replay failed: $(cat "$tmp/io.err")"; exit 1; }
pid=
kill "$sink"; wait "$sink" 2>/dev/null || true; sink=
rmdir "$disk_dir"
disk=$(grep '^disk:' "$tmp/io.out")
net=$(grep '^net:' "$tmp/io.out")
echo
echo "Disk and network ($source_name; disk in $disk_dir, network to a sink on loopback)"
printf '%-6s %-9s %-8s %7s %11s %11s %10s %10s\n' kind direction unit samples \
    target achieved mean_dev max_dev
row () { #  kind direction unit prefix line
    printf '%-6s %-9s %-8s %7s %11s %11s %10s %10s\n' "$1" "$2" "$3" \
        "$(value intervals "$5")" "$(value "$4_target" "$5")" "$(value "$4_achieved" "$5")" \
        "$(value "$4_mean_dev" "$5")" "$(value "$4_max_dev" "$5")"
}
row disk read bytes/s read "$disk"
row disk write bytes/s write "$disk"
row net out bytes/s out_bps "$net"
row net out pkts/s out_pps "$net"
row net in bytes/s in_bps "$net"
row net in pkts/s in_pps "$net"
echo "  disk: page cache $(value page_cache "$disk"); storage I/O counted by the kernel:" \
    "$(value storage_read "$disk") bytes read, $(value storage_write "$disk") written"
echo "  net: $(value sent "$net") datagrams sent, $(value sink_received "$net") received" \
    "by the sink, $(value lost "$net") lost"
echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
