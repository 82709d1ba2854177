#!/usr/bin/env bash
#  Benchmark: what a node costs its machine's owner. Starts a two-node
#  cluster and measures, from /proc/PID/stat and /proc/PID/task/TID/stat
#  (user + system time, in clock ticks):
#  1. idle: each service's CPU over --seconds S of an idle cluster (after
#     --settle seconds), as % of one core, per service and per node;
#  2. during a run: the control plane's CPU while a workload runs (every
#     thread of every service except the worker's compute threads, which
#     are named "dlb-compute"), per service and per node, as % of one core
#     over the workload's makespan; the compute threads' share is shown for
#     scale. The workload is --jobs J jobs of --elements N x --reps R
#     (default: the README's default workload); --data random submits a
#     file of N random float64 in [1, 2) instead of the constant vector
#     (dlb-bench --write-random, what its data=random submits: what zlib
#     barely shrinks).
#  Both also count context switches per second (/proc/PID/task/TID/status:
#  each a wake-up or a preemption). --threads adds, for the run, each
#  control-plane thread's CPU ticks and switches, by node, service and
#  thread name (ZMQbg/IO/0 is a service's ZeroMQ I/O thread): where the
#  control plane's CPU goes.
#  The resolution is one clock tick (1/CLK_TCK s, 10 ms here) per service
#  and window: over 60 s that is 0.017 % of a core, over a 10 s run 0.1 %.
#  Goals: idle, <= 0.5 % per node; during a run, <= 1 % of a core.
#  Options after -- go to every service (e.g. -- --state-period 100).
#  Usage: bench/idle.sh [--seconds S] [--settle S] [--jobs J] [--elements N]
#                       [--reps R] [--data constant|random] [--no-run]
#                       [--threads] [--build DIR]
#                       [-- NODE OPTIONS...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=60 settle=5 jobs=1024 elements=1048576 reps=50000 run=1 threads=0 data=constant
build="$top/build"
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --settle) settle=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --elements) elements=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --no-run) run=0; shift ;;
        --threads) threads=1; shift ;;
        --build) build=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "idle.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$data" in constant | random) ;; *) echo "idle.sh: --data constant or random" >&2; exit 2 ;; esac
[ -x "$build/dlb-cluster" ] || "$top/scripts/build.sh" "$build" >/dev/null
command -v jq >/dev/null || { echo "idle.sh: needs jq" >&2; exit 1; }
dir=$(mktemp -d /tmp/dlb-idle.XXXXXX)
trap '"$build/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
hz=$(getconf CLK_TCK)

#  ticks PID [all|control|compute]: user + system ticks of the process (all),
#  or of its threads not named dlb-compute (control), or named so (compute).
#  A thread's comm is in parentheses and may hold spaces: fields are
#  counted after the last ')'.
ticks() {
    local pid=$1 which=${2:-all}
    if [ "$which" = all ]; then
        sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'
        return
    fi
    local sum=0 t line comm
    for t in /proc/"$pid"/task/*; do
        line=$(cat "$t/stat" 2>/dev/null) || continue
        comm=${line#*(}
        comm=${comm%)*}
        if { [ "$which" = compute ] && [ "$comm" = dlb-compute ]; } ||
            { [ "$which" = control ] && [ "$comm" != dlb-compute ]; }; then
            sum=$((sum + $(echo "${line##*) }" | awk '{print $12 + $13}')))
        fi
    done
    echo "$sum"
}

#  switches PID [all|control]: context switches (voluntary + not) of the
#  process's threads (all), or of those not named dlb-compute (control):
#  each is a wake-up or a preemption.
switches() {
    local pid=$1 which=${2:-all} sum=0 t comm n
    for t in /proc/"$pid"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        [ "$which" = control ] && [ "$comm" = dlb-compute ] && continue
        n=$(awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s + 0}' \
            "$t/status" 2>/dev/null) || continue
        sum=$((sum + n))
    done
    echo "$sum"
}

#  per_thread: "node service thread ticks switches" for every thread of
#  every service but the compute threads, summed by thread name.
per_thread() {
    local s pid node name t comm
    for s in "${services[@]}"; do
        read -r pid node name <<<"$s"
        for t in /proc/"$pid"/task/*; do
            comm=$(cat "$t/comm" 2>/dev/null) || continue
            [ "$comm" = dlb-compute ] && continue
            echo "$node $name ${comm// /_} $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}') $(awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s + 0}' "$t/status")"
        done
    done | awk '{k = $1 " " $2 " " $3; t[k] += $4; w[k] += $5} END {for (k in t) print k, t[k], w[k]}' | sort
}

pct() { awk -v d="$1" -v w="$2" -v hz="$hz" 'BEGIN {printf "%.3f", 100 * d / hz / w}'; }

per_s() { awk -v d="$1" -v w="$2" 'BEGIN {printf "%.1f", d / w}'; }

#  table BEFORE AFTER SECONDS [FORMAT]: per node and service, the counts from
#  the associative array named BEFORE to the one named AFTER, as FORMAT (pct:
#  ticks as % of a core, the default; per_s: per second).
table() {
    local -n from=$1 to=$2
    local node name d total row format=${4:-pct}
    printf '%-6s %9s %9s %9s %9s %9s %9s\n' node monitor worker state transfer adaptor total
    for node in a b; do
        total=0 row=""
        for name in monitor worker state transfer adaptor; do
            d=$((to[$node.$name] - from[$node.$name]))
            total=$((total + d))
            row+=$(printf ' %9s' "$("$format" "$d" "$3")")
        done
        printf '%-6s%s %9s\n' "$node" "$row" "$("$format" "$total" "$3")"
    done
}

"$build/dlb-cluster" up --nodes 2 --port 0 --dir "$dir" -- "${extra[@]}" >/dev/null 2>&1
mapfile -t services < <("$build/dlb-cluster" pids --dir "$dir")
sleep "$settle"

#  1. Idle
declare -A before after sbefore safter
for s in "${services[@]}"; do
    read -r pid node name <<<"$s"
    before[$node.$name]=$(ticks "$pid")
    sbefore[$node.$name]=$(switches "$pid")
done
t0=$(date +%s.%N)
sleep "$seconds"
t1=$(date +%s.%N)
for s in "${services[@]}"; do
    read -r pid node name <<<"$s"
    after[$node.$name]=$(ticks "$pid")
    safter[$node.$name]=$(switches "$pid")
done
window=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
echo "Idle two-node cluster, $(printf '%.1f' "$window") s; CPU % of one core (1 tick = $((1000 / hz)) ms: $(pct 1 "$window") % over this window)"
table before after "$window"
echo "Context switches per second (every thread)"
table sbefore safter "$window" per_s
[ "$run" = 1 ] || exit 0

#  2. During a run
declare -A cbefore cafter csbefore csafter
compute0=0 compute1=0
for s in "${services[@]}"; do
    read -r pid node name <<<"$s"
    cbefore[$node.$name]=$(ticks "$pid" control)
    csbefore[$node.$name]=$(switches "$pid" control)
    [ "$name" = worker ] && compute0=$((compute0 + $(ticks "$pid" compute)))
done
a=$dir/a.node
[ "$threads" = 1 ] && per_thread >"$dir/threads.0"
input=(--elements "$elements")
if [ "$data" = random ]; then
    #  this repository's dlb-bench, whatever --build is (an older build's may
    #  not have --write-random)
    python3 "$top/tools/bench/dlb-bench" --write-random "$elements" "$dir/input.npy" || exit 1
    input=(--input input.npy)
fi
id=$("$build/dlbctl" --node "$a" submit "${input[@]}" --jobs "$jobs" --reps "$reps" \
    --output run.npy)
"$build/dlbctl" --node "$a" wait "$id" --timeout 600 >/dev/null 2>&1 ||
    { echo "idle.sh: workload $id did not complete and verify" >&2; exit 1; }
for s in "${services[@]}"; do
    read -r pid node name <<<"$s"
    cafter[$node.$name]=$(ticks "$pid" control)
    csafter[$node.$name]=$(switches "$pid" control)
    [ "$name" = worker ] && compute1=$((compute1 + $(ticks "$pid" compute)))
done
[ "$threads" = 1 ] && per_thread >"$dir/threads.1"
makespan=$("$build/dlbctl" --node "$a" status --json |
    jq -r --arg id "$id" '.workloads[] | select(.id == $id) | .elapsed_s')
echo
echo "During a run of $jobs jobs x $((elements / jobs)) elements x $reps reps, $data data ($(printf '%.2f' "$makespan") s, from submit to wait's return); control plane CPU % of one core (1 tick = $(pct 1 "$makespan") %)"
echo "(worker: its threads but the compute threads; compute threads of both nodes together: $(pct $((compute1 - compute0)) "$makespan") %)"
table cbefore cafter "$makespan"
echo "Context switches per second (every thread but the compute threads)"
table csbefore csafter "$makespan" per_s
[ "$threads" = 1 ] || exit 0
echo
echo "Control-plane threads during the run (CPU % of one core, switches per second)"
printf '%-6s %-9s %-14s %9s %9s\n' node service thread cpu switches
join <(awk '{print $1 ":" $2 ":" $3, $4, $5}' "$dir/threads.0") \
    <(awk '{print $1 ":" $2 ":" $3, $4, $5}' "$dir/threads.1") |
    while read -r key t0 w0 t1 w1; do
        [ $((t1 - t0 + w1 - w0)) -gt 0 ] || continue
        IFS=: read -r node name comm <<<"$key"
        printf '%-6s %-9s %-14s %9s %9s\n' "$node" "$name" "$comm" \
            "$(pct $((t1 - t0)) "$makespan")" "$(per_s $((w1 - w0)) "$makespan")"
    done
