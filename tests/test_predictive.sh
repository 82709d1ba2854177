#!/usr/bin/env bash
#  Integration test: the predictive policy on three nodes, each in a network
#  namespace of its own (dlb-cluster up --netns). `dlbctl --all` sets the
#  policy and the throttle on all three from one node; a workload from a runs
#  on all three; c is stopped mid-run (stop-node) and started again
#  (start-node); a second workload, from b, runs meanwhile; both complete,
#  verified (a generated vector is checked element by element against the
#  exact float64 value), and c, back, runs jobs again. A node started at the
#  default priority runs its compute threads at idle priority (ps: class
#  IDL) in a session of the lowest weight (/proc/PID/autogroup); the workloads run at normal priority (ctest sets DLB_PRIORITY=normal),
#  since at idle priority a machine busy with other work may starve them, as
#  it should. Pinned to one CPU by taskset, the node measures its owner's
#  load on that CPU (the monitor logs it). Loose bounds, every wait with a
#  deadline.
#  Usage: tests/test_predictive.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip:
#  not root, no network namespaces, no jq)
set -uo pipefail
build=$(cd "${1:?usage: test_predictive.sh BUILD_DIR}" && pwd)
readonly DEADLINE=20 # secs for any condition
readonly FINISH=200  # secs for a workload (loose: other work may crowd the machine)
cluster=$build/dlb-cluster
source "$(dirname "$0")/lib.bash"
require test_predictive "$cluster" "$build/dlbctl" "$build/dlb-monitor"
require_netns test_predictive

top=$(mktemp -d /tmp/dlb-test-predictive.XXXXXX)
run=$top/run
fail() {
    echo "FAIL: $*" >&2
    "$cluster" status --dir "$run" >&2
    tail_logs 8 "$run"/*-adaptor.log "$run"/*-worker.log
    exit 1
}
cleanup() {
    "$cluster" down --dir "$run" >/dev/null 2>&1
    [ -d "$top/solo" ] && "$cluster" down --dir "$top/solo" >/dev/null 2>&1
    rm -rf "$top"
}
trap cleanup EXIT

#  ctl NODE ARGS...: dlbctl in NODE's namespace, through NODE's node file.
ctl() { "$cluster" exec --dir "$run" "$1" -- "$build/dlbctl" --node "$run/$1.node" --timeout 5 "${@:2}"; }
#  own NODE FIELD: FIELD of NODE's own row, as NODE answers.
own() { ctl "$1" status --json 2>/dev/null | jq -r --arg n "$1" ".nodes[] | select(.node == \$n) | .$2"; }
#  sees NODE OTHER STALE: NODE's view of OTHER has stale == STALE.
sees() {
    [ "$(ctl "$1" status --json 2>/dev/null |
        jq -r --arg n "$2" '.nodes[] | select(.node == $n) | .stale')" = "$3" ]
}
#  ran NODE ID WHO: jobs of workload ID (held by NODE) that WHO ran.
ran() {
    ctl "$1" status --json 2>/dev/null |
        jq -r --arg id "$2" --arg w "$3" '.workloads[] | select(.id == $id) | .ran[$w] // 0'
}
ran_some() { [ "$(ran "$@")" -gt 0 ] 2>/dev/null; }
all_have() { # all_have FIELD VALUE: every node's own FIELD is VALUE
    for n in a b c; do [ "$(own "$n" "$1")" = "$2" ] || return 1; done
}

echo "1. three nodes, each in its own namespace, policy predictive"
"$cluster" up --nodes 3 --netns --port 0 --policy predictive --dir "$run" \
    -- --heartbeat 250 --lease 2000 >"$top/nodes" || fail "cluster did not start"
all_have policy predictive || fail "not every node runs predictive"

echo "2. dlbctl --all sets the policy and the throttle on every node"
ctl a policy --all symmetric >"$top/out" || fail "policy --all: $(cat "$top/out")"
[ "$(grep -c 'policy symmetric' "$top/out")" -eq 3 ] || fail "policy --all answered: $(cat "$top/out")"
wait_for "$DEADLINE" all_have policy symmetric || fail "not every node took policy symmetric"
ctl b throttle --all 0.8 >"$top/out" || fail "throttle --all: $(cat "$top/out")"
wait_for "$DEADLINE" all_have throttle 0.8 || fail "not every node took throttle 0.8"
ctl c throttle --all 1 >/dev/null && ctl c policy --all predictive >/dev/null ||
    fail "setting back throttle 1, policy predictive"
wait_for "$DEADLINE" all_have policy predictive || fail "not every node is back to predictive"
wait_for "$DEADLINE" all_have throttle 1 || fail "not every node is back to throttle 1"
"$cluster" exec --dir "$run" a -- "$build/dlbctl" --node "$(control_of "$run/a.node")" \
    --timeout 3 policy --all none >/dev/null 2>&1 && fail "policy --all without a node file succeeded"

echo "3. a workload from a runs on all three"
w1=$(ctl a submit --elements 524288 --jobs 512 --reps 20000 --output w1.npy) || fail "submit on a"
for n in a b c; do
    wait_for "$DEADLINE" ran_some a "$w1" "$n" || fail "$n ran no job of $w1"
done

echo "4. c stops mid-run and comes back; a second workload starts from b meanwhile"
"$cluster" stop-node c --dir "$run" 2>/dev/null || fail "stop-node c"
wait_for "$DEADLINE" sees a c true || fail "a does not see c stale"
w2=$(ctl b submit --elements 262144 --jobs 256 --reps 20000 --output w2.npy) || fail "submit on b"
"$cluster" start-node c --dir "$run" >/dev/null 2>&1 || fail "start-node c"
wait_for "$DEADLINE" sees a c false || fail "a does not see c live again"
returned() { [ "$(own c done)" -gt 0 ] 2>/dev/null; }
wait_for "$FINISH" returned || fail "c, back, ran no job"
echo "   c, back, ran $(own c done) job(s)"

echo "5. both workloads complete, verified, every job counted once"
ctl a wait "$w1" --timeout "$FINISH" >"$top/w1" 2>/dev/null || fail "$w1 not complete and verified"
ctl b wait "$w2" --timeout "$FINISH" >"$top/w2" 2>/dev/null || fail "$w2 not complete and verified"
cat "$top/w1" "$top/w2" | sed 's/^/   /'
for pair in "a $w1 512" "b $w2 256"; do
    set -- $pair
    total=$(ctl "$1" status --json | jq --arg id "$2" '[.workloads[] | select(.id == $id) | .ran[]] | add')
    [ "$total" = "$3" ] || fail "$2: ran adds up to $total, not $3"
done
[ -s "$run/w1.npy" ] && [ -s "$run/w2.npy" ] || fail "an output is missing"

echo "6. at the default priority, compute threads run at idle priority"
"$cluster" down --dir "$run" >/dev/null 2>&1
env -u DLB_PRIORITY "$cluster" up --nodes 1 --port 0 --dir "$top/solo" >/dev/null 2>&1 ||
    fail "a node at the default priority did not start"
solo_worker() { "$cluster" pids --dir "$top/solo" | awk '$3 == "worker" { print $1 }'; }
idle_threads() {
    local pid
    pid=$(solo_worker)
    [ -n "$pid" ] && ps -L -o comm=,cls= -p "$pid" | grep -q '^dlb-compute *IDL'
}
wait_for "$DEADLINE" idle_threads ||
    fail "compute threads are not SCHED_IDLE: $(ps -L -o tid=,comm=,cls= -p "$(solo_worker)")"
#  ... and its session (no terminal under dlb-cluster) has the lowest weight.
if [ -r /proc/self/autogroup ]; then
    grep -q ' nice 19$' "/proc/$(solo_worker)/autogroup" ||
        fail "the worker's session is not at nice 19: $(cat "/proc/$(solo_worker)/autogroup")"
fi

echo "7. pinned to one CPU by taskset, a node measures its owner's load there"
if [ "$(nproc)" -ge 2 ]; then
    cpu=$(taskset -pc $$ | sed 's/.*: //; s/[,-].*//')
    for pid in $("$cluster" pids --dir "$top/solo" | awk '{ print $1 }'); do
        taskset -a -p -c "$cpu" "$pid" >/dev/null || fail "taskset could not pin $pid"
    done
    measured() { grep -q "owner load measured on CPUs $cpu\$" "$top/solo/a-monitor.log"; }
    wait_for "$DEADLINE" measured ||
        fail "the monitor did not take the worker's CPU $cpu: $(grep 'owner load' "$top/solo/a-monitor.log")"
fi
echo "PASS"
