#!/usr/bin/env bash
#  Integration test: partitions between separate hosts. Three nodes, each in
#  its own network namespace with its own address (dlb-cluster --netns).
#  During a workload of a's, b is cut off for 5 s, longer than the lease, so
#  a takes b's jobs back and runs them while b runs them too; then a itself
#  (the origin) is cut off from both peers for 5 s. Each workload must end
#  complete and verified, each job's result applied once (completed = jobs =
#  the sum of the ran counts) and every extra copy counted as a duplicate.
#  Usage: tests/test_partition.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip)
set -uo pipefail
build=$(cd "${1:?usage: test_partition.sh BUILD_DIR}" && pwd)
readonly DEADLINE=60 # secs for a condition; a workload gets 3 of them
readonly CUT=5       # secs of partition
cluster=$build/dlb-cluster
source "$(dirname "$0")/lib.bash"
require test_partition "$cluster" "$build/dlbctl" "$build/dlb-worker"
[ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1 ||
    { echo "test_partition: needs root and network namespaces; skipping" >&2; exit 77; }

top=$(mktemp -d /tmp/dlb-test-partition.XXXXXX)
run=$top/run
fail() {
    echo "FAIL: $*" >&2
    cat "$run/events" >&2 2>/dev/null
    for log in "$run"/*-worker.log "$run"/*-state.log; do
        echo "--- $log" >&2
        tail -n 12 "$log" >&2
    done
    exit 1
}
cleanup() { "$cluster" down --dir "$run" >/dev/null 2>&1; rm -rf "$top"; }
trap cleanup EXIT

"$cluster" up --nodes 3 --netns --dir "$run" --policy receiver \
    -- --heartbeat 250 --lease 2000 >"$top/endpoints" || fail "the cluster did not start"
ep() { awk -v n="$1" '$1 == n { print $2 }' "$top/endpoints"; }
#  ctl NODE ARGS: dlbctl run on NODE's host against NODE.
ctl() {
    local node=$1
    shift
    "$cluster" exec --dir "$run" "$node" -- "$build/dlbctl" --timeout 5 --node "$(ep "$node")" "$@"
}
field() {
    ctl a status --json 2>/dev/null | jq -r --arg id "$1" ".workloads[] | select(.id == \$id) | $2"
}
holds_jobs() {
    [ "$(ctl "$1" status --json 2>/dev/null | jq '.nodes[0].queue + .nodes[0].running')" -gt 0 ]
}
stale_in() {
    [ "$(ctl "$1" status --json 2>/dev/null |
        jq -r --arg n "$2" '.nodes[] | select(.node == $n) | .stale')" = "$3" ]
}
n=0
submit() {
    n=$((n + 1))
    id=$(ctl a submit --elements $((192 * 512)) --jobs 192 --reps 150000 \
        --output "out-$n.npy") || fail "submit"
    wait_for "$DEADLINE" holds_jobs b || fail "b got none of $id's jobs"
}
check() {
    local out
    out=$(ctl a wait "$id" --timeout $((3 * DEADLINE)) 2>"$top/wait.err") ||
        fail "$1: workload $id: $(cat "$top/wait.err") $out"
    local completed ran dups
    completed=$(field "$id" .completed)
    ran=$(field "$id" '[.ran[]] | add')
    dups=$(field "$id" .duplicates)
    [ "$(field "$id" .verified)" = true ] || fail "$1: not verified"
    [ "$completed" = 192 ] && [ "$ran" = 192 ] || fail "$1: completed $completed, ran $ran (each must be 192)"
    echo "   $1: $id complete and verified, ran $(field "$id" '.ran | tostring'), $dups duplicates dropped"
}

echo "1. a peer cut off for ${CUT} s mid-run"
submit
"$cluster" cut b --dir "$run" >/dev/null || fail "cut b"
wait_for "$DEADLINE" stale_in a b true || fail "a does not see b stale"
sleep "$CUT" # the partition itself
"$cluster" heal b --dir "$run" >/dev/null || fail "heal b"
check "b cut off for ${CUT} s"
wait_for "$DEADLINE" stale_in a b false || fail "a does not see b live again"

echo "2. the origin cut off from every peer for ${CUT} s mid-run"
submit
"$cluster" cut a --dir "$run" >/dev/null || fail "cut a"
wait_for "$DEADLINE" stale_in a b true || fail "a does not see b stale"
sleep "$CUT"
"$cluster" heal a --dir "$run" >/dev/null || fail "heal a"
check "a cut off for ${CUT} s"
echo PASS
