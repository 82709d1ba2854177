#!/usr/bin/env bash
#  Benchmark: rounds of random faults during workloads. Each round submits
#  a workload to a random origin, waits a random moment, injects one fault
#  and waits for the workload. Faults, each equally likely:
#    none          no fault (the baseline makespan)
#    kill          kill -9 of a random service on a random node (origin too)
#    node-lost     a random non-origin node killed whole, back after the round
#    origin-restart  the origin node killed whole and started 0-3 s later
#    partition     a random non-origin node cut off for 2-10 s (--netns)
#    isolate       the origin cut off from every peer for 2-8 s (--netns)
#  Per round it prints the fault, whether the workload completed, whether it
#  is exact (verified by the origin, every element, and completed = jobs =
#  the sum of the nodes' ran counts), the jobs lost, the duplicate results
#  dropped, the makespan and the time from the fault to the end; then the
#  totals and, per fault kind, the median makespan and its cost over the
#  baseline. Partitions need separate hosts: with --netns (root), every node
#  runs in its own network namespace; without it they are left out.
#  Usage: bench/chaos.sh [--rounds N] [--seed S] [--nodes K] [--netns]
#                        [--jobs J] [--reps R] [--build DIR]
set -uo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=10 seed=1 nodes=3 netns=0 jobs=128 reps=150000 build=$top/build
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --nodes) nodes=$2; shift 2 ;;
        --netns) netns=1; shift ;;
        --jobs) jobs=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        *) echo "chaos.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$rounds" "$seed" "$nodes" "$jobs" "$reps"; do
    [[ $v =~ ^[0-9]+$ ]] || { echo "chaos.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
((nodes >= 2 && nodes <= 8)) || { echo "chaos.sh: --nodes 2..8" >&2; exit 2; }
[ -x "$build/dlb-worker" ] || "$top/scripts/build.sh" "$build" >/dev/null
cluster=$build/dlb-cluster
source "$top/tests/lib.bash"
RANDOM=$seed
names=(a b c d e f g h)
kinds=(none kill node-lost origin-restart)
((netns)) && kinds+=(partition isolate)
services=(monitor worker state transfer adaptor)

dir=$(mktemp -d /tmp/dlb-chaos.XXXXXX)
run=$dir/run
trap '"$cluster" down --dir "$run" >/dev/null 2>&1; rm -rf "$dir"' EXIT
mode=()
((netns)) && mode=(--netns)
"$cluster" up --nodes "$nodes" "${mode[@]}" --port 0 --dir "$run" --policy receiver \
    >"$dir/endpoints" 2>>"$dir/cluster.log" || { echo "chaos.sh: the cluster did not start" >&2; exit 1; }

#  ctl_on NODE ARGS...: dlbctl against NODE, from inside its host.
ctl_on() {
    local node=$1 ep
    shift
    ep=$(awk -v n="$node" '$1 == n { print $2 }' "$dir/endpoints")
    "$cluster" exec --dir "$run" "$node" -- "$build/dlbctl" --timeout 5 --node "$ep" "$@"
}
field() { jq -r --arg id "$1" ".workloads[] | select(.id == \$id) | $2" "$dir/status"; }
live_all() {
    local node
    for node in "${names[@]:0:nodes}"; do
        [ "$(ctl_on "$node" status --json 2>/dev/null |
            jq '[.nodes[] | select(.stale == false)] | length')" = "$nodes" ] || return 1
    done
}

printf '%-5s %-15s %-22s %-9s %-5s %-4s %-10s %-10s %-10s\n' round fault target completed exact lost duplicates makespan_s recover_s
declare -A spans
total_done=0 total_exact=0 total_lost=0 total_dups=0
for round in $(seq "$rounds"); do
    wait_for 60 live_all || { echo "chaos.sh: round $round: the cluster did not heal" >&2; exit 1; }
    kind=${kinds[RANDOM % ${#kinds[@]}]}
    origin=${names[RANDOM % nodes]}
    others=()
    for node in "${names[@]:0:nodes}"; do [ "$node" = "$origin" ] || others+=("$node"); done
    other=${others[RANDOM % ${#others[@]}]}
    delay_ms=$((300 + RANDOM % 1500))
    start=$(ms)
    id=$(ctl_on "$origin" submit --elements $((jobs * 512)) --jobs "$jobs" --reps "$reps" \
        --output "out-$round.npy") || { echo "chaos.sh: submit failed" >&2; exit 1; }
    sleep "$(awk -v m="$delay_ms" 'BEGIN { print m / 1000 }')"
    fault_at=$(ms)
    target=-
    case $kind in
        kill)
            victim=${names[RANDOM % nodes]} service=${services[RANDOM % 5]}
            target="$victim $service"
            "$cluster" kill "$victim" "$service" --dir "$run" >/dev/null 2>>"$dir/cluster.log" ;;
        node-lost)
            target=$other
            "$cluster" stop-node "$other" --signal KILL --dir "$run" >/dev/null 2>>"$dir/cluster.log" ;;
        origin-restart)
            target=$origin
            "$cluster" stop-node "$origin" --signal KILL --dir "$run" >/dev/null 2>>"$dir/cluster.log"
            sleep "$(awk -v m=$((RANDOM % 3000)) 'BEGIN { print m / 1000 }')"
            "$cluster" start-node "$origin" --dir "$run" >/dev/null 2>>"$dir/cluster.log" ;;
        partition)
            secs=$((2 + RANDOM % 9))
            target="$other ${secs}s"
            "$cluster" cut "$other" --dir "$run" >/dev/null 2>>"$dir/cluster.log"
            (sleep "$secs"; "$cluster" heal "$other" --dir "$run" >/dev/null 2>>"$dir/cluster.log") & ;;
        isolate)
            secs=$((2 + RANDOM % 7))
            target="$origin ${secs}s"
            "$cluster" cut "$origin" --dir "$run" >/dev/null 2>>"$dir/cluster.log"
            (sleep "$secs"; "$cluster" heal "$origin" --dir "$run" >/dev/null 2>>"$dir/cluster.log") & ;;
    esac
    completed=no exact=no lost=$jobs dups=-
    if ctl_on "$origin" wait "$id" --timeout 300 >/dev/null 2>"$dir/wait.err"; then
        completed=yes
    fi
    end=$(ms)
    wait # a partition's heal
    [ "$kind" = node-lost ] && "$cluster" start-node "$other" --dir "$run" >/dev/null 2>>"$dir/cluster.log"
    if ctl_on "$origin" status --json >"$dir/status" 2>/dev/null; then
        done_jobs=$(field "$id" .completed)
        ran=$(field "$id" '[.ran[]] | add')
        dups=$(field "$id" .duplicates)
        lost=$((jobs - ${done_jobs:-0}))
        [ "$completed" = yes ] && [ "$(field "$id" .verified)" = true ] &&
            [ "$done_jobs" = "$jobs" ] && [ "$ran" = "$jobs" ] && exact=yes
    fi
    span=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", (e - s) / 1000 }')
    recover=$(awk -v s="$fault_at" -v e="$end" 'BEGIN { printf "%.2f", (e - s) / 1000 }')
    spans[$kind]+="$span "
    [ "$completed" = yes ] && total_done=$((total_done + 1))
    [ "$exact" = yes ] && total_exact=$((total_exact + 1))
    total_lost=$((total_lost + lost))
    [[ $dups =~ ^[0-9]+$ ]] && total_dups=$((total_dups + dups))
    printf '%-5s %-15s %-22s %-9s %-5s %-4s %-10s %-10s %-10s\n' "$round" "$kind" \
        "$target (origin $origin)" "$completed" "$exact" "$lost" "$dups" "$span" "$recover"
done
echo
echo "totals: $rounds rounds, $total_done completed, $total_exact exact, $total_lost jobs lost, $total_dups duplicates dropped (never applied)"
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
base=$(echo "${spans[none]:-}" | median)
printf '%-15s %-7s %-12s %-12s\n' fault rounds median_s cost_s
for kind in "${kinds[@]}"; do
    count=$(echo "${spans[$kind]:-}" | wc -w)
    med=$(echo "${spans[$kind]:-}" | median)
    cost=-
    [ -n "$base" ] && [ -n "$med" ] && cost=$(awk -v m="$med" -v b="$base" 'BEGIN { printf "%+.2f", m - b }')
    printf '%-15s %-7s %-12s %-12s\n' "$kind" "$count" "${med:--}" "$cost"
done
[ "$total_exact" -eq "$rounds" ]
