#!/usr/bin/env bash
#  Integration test: nothing submitted is lost. A two-node cluster under
#  dlb-cluster's supervision (a is the origin, b the peer). During a
#  workload each fault below happens once, at a moment when both nodes
#  hold jobs; every workload must end complete and verified (the origin
#  checks every element exactly), with each job's result applied once
#  (completed = jobs = the sum of the nodes' ran counts):
#    - kill -9 of each service of the peer, then of the origin (the
#      origin's worker comes back from its journal);
#    - the whole peer node lost for good (killed; the origin takes its
#      jobs back when their leases lapse), then started again;
#    - the whole origin node killed and started again (the workload
#      resumes from the journal).
#  A `dlbctl wait` started before each fault must ride over it (a restarting
#  monitor, the origin down for a few seconds) and report the workload
#  complete.
#  Partitions between separate hosts are in tests/test_partition.sh.
#  Usage: tests/test_faults.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip)
set -uo pipefail
build=$(cd "${1:?usage: test_faults.sh BUILD_DIR}" && pwd)
readonly DEADLINE=60 # secs for a condition; a workload gets 3 of them
cluster=$build/dlb-cluster
source "$(dirname "$0")/lib.bash"
require test_faults "$cluster" "$build/dlbctl" "$build/dlb-worker"

top=$(mktemp -d /tmp/dlb-test-faults.XXXXXX)
run=$top/run
fail() {
    echo "FAIL: $*" >&2
    "$cluster" status --dir "$run" >&2
    for log in "$run"/*.log; do echo "--- $log" >&2; tail -n 12 "$log" >&2; done
    exit 1
}
cleanup() { "$cluster" down --dir "$run" >/dev/null 2>&1; rm -rf "$top"; }
trap cleanup EXIT

ctl() { "$build/dlbctl" --timeout 5 "$@"; }

#  Short heartbeats and leases keep the test fast: a lost holder's jobs
#  come back 2-3 s after its last HOLD.
endpoints=$("$cluster" up --nodes 2 --port 0 --dir "$run" --policy receiver \
    -- --heartbeat 250 --lease 2000) || fail "the cluster did not start"
a=$(echo "$endpoints" | awk '$1 == "a" { print $2 }')
b=$(echo "$endpoints" | awk '$1 == "b" { print $2 }')
[ -n "$a" ] && [ -n "$b" ] || fail "no endpoints in: $endpoints"

#  field ID JQ: a field of workload ID in a's status.
field() {
    ctl --node "$a" status --json 2>/dev/null |
        jq -r --arg id "$1" ".workloads[] | select(.id == \$id) | $2"
}
#  both_busy ID: the workload has started and b holds some of its jobs.
both_busy() {
    local s
    s=$(ctl --node "$b" status --json 2>/dev/null) || return 1
    [ "$(echo "$s" | jq '.nodes[0].queue + .nodes[0].running')" -gt 0 ] &&
        [ "$(field "$1" .completed)" -gt 4 ]
}
#  has_all NODE-ENDPOINT: the node lists its five services.
has_all() { [ "$(ctl --node "$1" status --json 2>/dev/null | jq '.services | length')" = 5 ]; }
sees_live() {
    [ "$(ctl --node "$1" status --json 2>/dev/null |
        jq -r --arg n "$2" '.nodes[] | select(.node == $n) | .stale')" = false ]
}

n=0
#  submit: a workload of 192 jobs on a, long enough to be caught mid-run;
#  sets id.
submit() {
    n=$((n + 1))
    id=$(ctl --node "$a" submit --elements $((192 * 512)) --jobs 192 --reps 150000 \
        --output "out-$n.npy") || fail "submit"
}
#  check ID WHAT: the workload completed, verified, each result applied once.
#  watch ID: starts `dlbctl wait ID` now, before the fault, so that it has
#  to ride over whatever happens (its monitor restarting, the origin down).
watch() {
    "$build/dlbctl" --node "$a" wait "$1" --timeout $((3 * DEADLINE)) \
        >"$top/wait.out" 2>"$top/wait.err" &
    waiter=$!
}
#  check ID WHAT: the wait started by watch ends well, and the workload
#  completed, verified, each result applied once.
check() {
    local id=$1 what=$2
    wait "$waiter" || fail "$what: dlbctl wait $id: $(tail -n 3 "$top/wait.err") $(cat "$top/wait.out")"
    local jobs completed ran dups
    jobs=$(field "$id" .jobs)
    completed=$(field "$id" .completed)
    ran=$(field "$id" '[.ran[]] | add')
    dups=$(field "$id" .duplicates)
    [ "$(field "$id" .verified)" = true ] || fail "$what: not verified"
    [ "$jobs" = 192 ] && [ "$completed" = 192 ] && [ "$ran" = 192 ] ||
        fail "$what: jobs $jobs, completed $completed, ran $ran (each must be 192)"
    echo "   $what: $id complete and verified, ran $(field "$id" '.ran | tostring'), $dups duplicates dropped"
}

echo "1. kill -9 of each service, on the peer and on the origin"
for node in b a; do
    ep=$b
    [ "$node" = a ] && ep=$a
    for service in worker transfer state adaptor monitor; do
        submit
        wait_for "$DEADLINE" both_busy "$id" || fail "workload $id did not get going on both nodes"
        watch "$id"
        "$cluster" kill "$node" "$service" --dir "$run" >/dev/null || fail "kill $node $service"
        check "$id" "$node's $service killed"
        wait_for "$DEADLINE" has_all "$ep" || fail "$node did not get all five services back"
    done
done

echo "2. the peer node lost for good mid-run, then back"
submit
wait_for "$DEADLINE" both_busy "$id" || fail "workload $id did not get going on both nodes"
watch "$id"
"$cluster" stop-node b --signal KILL --dir "$run" >/dev/null || fail "stop-node b"
check "$id" "node b lost"
"$cluster" start-node b --dir "$run" >/dev/null || fail "start-node b"
wait_for "$DEADLINE" sees_live "$a" b || fail "a does not see b live again"

echo "3. the origin node killed whole, then started again"
submit
wait_for "$DEADLINE" both_busy "$id" || fail "workload $id did not get going on both nodes"
watch "$id"
"$cluster" stop-node a --signal KILL --dir "$run" >/dev/null || fail "stop-node a"
"$cluster" start-node a --dir "$run" >/dev/null || fail "start-node a"
check "$id" "node a restarted"
grep -q "recovered from its journal" "$run/a-worker.log" ||
    fail "the origin's worker did not say it recovered the workload"
echo PASS
