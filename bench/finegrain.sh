#!/usr/bin/env bash
#  Benchmark: the cost of fine-grained work. A two-node cluster (both at
#  throttle 1.0) runs workloads of J jobs of 16 elements x 1 repetition
#  (the kernel itself takes well under a microsecond a job), so that the
#  makespan is almost all per-job overhead: queueing, dispatch to a compute
#  thread, journaling, batching, transfer, acknowledgement. Prints the
#  makespan per job in microseconds (the workload's elapsed_s / J, median
#  of --runs runs), for a reference of 1,024 jobs and for each size, with
#  the ratio to the reference. Goal: <= 20 us per job at 65,536 jobs.
#  Every run must complete and verify. The cluster is started once; the
#  sizes are interleaved run by run.
#  Usage: bench/finegrain.sh [--runs N] [--jobs "J1 J2 ..."] [--ref J]
#                            [--threads N] [--build DIR] [--keep DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 sizes="16384 65536" ref=1024 threads=1 build="$top/build" keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --jobs) sizes=$2; shift 2 ;;
        --ref) ref=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "finegrain.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$build/dlb-cluster" ] || "$top/scripts/build.sh" "$build" >/dev/null
command -v jq >/dev/null || { echo "finegrain.sh: needs jq" >&2; exit 1; }
dir=${keep:-$(mktemp -d /tmp/dlb-finegrain.XXXXXX)}
mkdir -p "$dir"
trap '"$build/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true; [ -n "$keep" ] || rm -rf "$dir"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

max=$ref
for j in $sizes; do ((j > max)) && max=$j; done
"$build/dlb-cluster" up --nodes 2 --threads "$threads" --port 0 --dir "$dir" \
    -- --max-jobs "$max" >/dev/null 2>&1
a=$dir/a.node
declare -A per_job
for run in $(seq "$runs"); do
    for j in $ref $sizes; do
        id=$("$build/dlbctl" --node "$a" submit --elements $((16 * j)) --jobs "$j" \
            --reps 1 --output "fine-$j.npy")
        if ! "$build/dlbctl" --node "$a" wait "$id" --timeout 600 >/dev/null 2>&1; then
            echo "finegrain.sh: workload $id ($j jobs) did not complete and verify" >&2
            exit 1
        fi
        elapsed=$("$build/dlbctl" --node "$a" status --json |
            jq -r --arg id "$id" '.workloads[] | select(.id == $id) | .elapsed_s')
        per_job[$j]+="$(awk -v e="$elapsed" -v j="$j" 'BEGIN {printf "%.2f", 1e6 * e / j}') "
        echo "run $run: $j jobs in ${elapsed} s" >&2
    done
done
echo "Two nodes (throttle 1.0, $threads thread(s) each), jobs of 16 elements x 1 rep; median of $runs runs"
printf '%-8s %14s %14s %10s\n' jobs makespan_s us_per_job vs_ref
ref_us=$(echo "${per_job[$ref]}" | tr ' ' '\n' | grep . | median)
for j in $ref $sizes; do
    us=$(echo "${per_job[$j]}" | tr ' ' '\n' | grep . | median)
    printf '%-8s %14.3f %14.2f %10.2f\n' "$j" "$(awk -v u="$us" -v j="$j" 'BEGIN {print u * j / 1e6}')" \
        "$us" "$(awk -v u="$us" -v r="$ref_us" 'BEGIN {print u / r}')"
done
