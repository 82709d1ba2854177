#!/usr/bin/env bash
#  Integration test: the event stream of a node and `cancel`, on a real
#  three-node cluster (a the origin, b throttled, c lost on purpose), every
#  node keeping a small ring of events (DLB_EVENT_RING) so that the test
#  can overflow it. Checks:
#    - events for a workload's submit, bootstrap, a move, its end, a
#      throttle change, a policy change and a lost peer (c's services
#      stopped by dlb-cluster stop-node, by their PIDs);
#    - `events --since N` returns only events after N;
#    - a ring that overflowed reports the events a client missed;
#    - `cancel` of a running workload on two nodes: it ends cancelled, b
#      drops its queued jobs of it (its queue drains without running them
#      all), no service dies, a restarted origin does not resume it;
#      cancelling an unknown or an ended workload is an error.
#  Usage: tests/test_events.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip)
set -uo pipefail
build=$(cd "${1:?usage: test_events.sh BUILD_DIR}" && pwd)
readonly DEADLINE=60 # secs for a condition
cluster=$build/dlb-cluster
source "$(dirname "$0")/lib.bash"
require test_events "$cluster" "$build/dlbctl" "$build/dlb-worker"

top=$(mktemp -d /tmp/dlb-test-events.XXXXXX)
run=$top/run
follow_pid=
fail() {
    echo "FAIL: $*" >&2
    "$cluster" status --dir "$run" >&2
    for log in "$run"/*.log; do echo "--- $log" >&2; tail -n 12 "$log" >&2; done
    exit 1
}
cleanup() {
    [ -n "$follow_pid" ] && kill "$follow_pid" 2>/dev/null
    "$cluster" down --dir "$run" >/dev/null 2>&1
    rm -rf "$top"
}
trap cleanup EXIT
ctl() { "$build/dlbctl" --timeout 5 "$@"; }

export DLB_EVENT_RING=128
endpoints=$("$cluster" up --nodes 3 --throttle 1.0,0.5,1.0 --policy symmetric --port 0 \
    --dir "$run" -- --heartbeat 250 --lease 2000) || fail "the cluster did not start"
node_of() { echo "$endpoints" | awk -v n="$1" '$1 == n { print $2 }'; }
a=$(node_of a) b=$(node_of b) c=$(node_of c)
[ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] || fail "no endpoints in: $endpoints"

#  Everything a's monitor numbers, as it comes, one JSON object a line.
"$build/dlbctl" --node "$a" events --follow --json >"$top/a.events" 2>"$top/a.err" &
follow_pid=$!

#  seen FILE JQ-FILTER: some event in FILE (JSON lines) passes the filter.
seen() { [ -s "$1" ] && jq -e -s "any(.[]; $2)" "$1" >/dev/null 2>&1; }
#  on NODE JQ-FILTER: some event the node holds passes the filter.
on() {
    ctl --node "$1" events --json >"$top/on.events" 2>/dev/null && seen "$top/on.events" "$2"
}
field() {
    ctl --node "$a" status --json 2>/dev/null |
        jq -r --arg id "$1" ".workloads[] | select(.id == \$id) | $2"
}
#  node_field NODE JQ: a field of the node's own row in its status.
node_field() { ctl --node "$1" status --json 2>/dev/null | jq -r ".nodes[0] | $2"; }

echo "1. a workload's submit, bootstrap, moves and end are events"
w1=$(ctl --node "$a" submit --elements 262144 --jobs 512 --reps 50000 \
    --output "$run/w1.npy") || fail "submit"
ctl --node "$a" wait "$w1" --timeout 180 >/dev/null || fail "$w1 did not complete"
for kind in submitted bootstrap complete; do
    wait_for 10 seen "$top/a.events" ".kind == \"$kind\" and .workload == \"$w1\"" ||
        fail "no $kind event for $w1 on a"
done
seen "$top/a.events" '.kind == "submitted" and .service == "worker" and .count == 512' ||
    fail "the submitted event does not count 512 jobs"
moved=0
for n in "$a" "$b" "$c"; do on "$n" '.kind == "moved" and .peer != "" and .count > 0' && moved=1; done
[ "$moved" = 1 ] || fail "no node reported a move (with its peer and count)"
wait_for 10 seen "$top/a.events" '.kind == "transfer" and .service == "transfer"' ||
    fail "no transfer summary on a"

echo "2. throttle and policy changes are events"
ctl --node "$a" throttle 0.75 >/dev/null || fail "throttle"
ctl --node "$a" policy receiver >/dev/null || fail "policy"
wait_for 10 seen "$top/a.events" '.kind == "throttle" and .value == 0.75' ||
    fail "no throttle event"
wait_for 10 seen "$top/a.events" '.kind == "policy" and (.text | test("-> receiver"))' ||
    fail "no policy event"

echo "3. --since N gives only the events after N"
last=$(jq -s 'map(.seq) | max' "$top/a.events")
ctl --node "$a" throttle 0.8 >/dev/null || fail "throttle"
wait_for 10 on "$a" '.kind == "throttle" and .value == 0.8' || fail "no second throttle event"
ctl --node "$a" events --json --since "$last" >"$top/since.events" || fail "events --since"
[ -s "$top/since.events" ] || fail "events --since $last gave nothing"
jq -e -s --argjson n "$last" 'all(.[]; .seq > $n)' "$top/since.events" >/dev/null ||
    fail "events --since $last gave older events"
seen "$top/since.events" '.kind == "throttle" and .value == 0.8' ||
    fail "events --since $last missed the new throttle event"

echo "4. a lost peer is an event"
"$cluster" stop-node c --dir "$run" >/dev/null || fail "stop-node c"
wait_for "$DEADLINE" seen "$top/a.events" '.kind == "peer_lost" and .peer == "c"' ||
    fail "no peer_lost event for c on a"

echo "5. cancel a running workload on two nodes"
ctl --node "$a" policy symmetric >/dev/null || fail "policy"
w2=$(ctl --node "$a" submit --elements 1048576 --jobs 4096 --reps 200000 \
    --output "$run/w2.npy") || fail "submit"
b_holds() { [ "$(node_field "$b" .queue)" -ge 20 ] && [ "$(field "$w2" .completed)" -ge 4 ]; }
wait_for "$DEADLINE" b_holds || fail "b never held jobs of $w2"
b_queue=$(node_field "$b" .queue)
b_done=$(node_field "$b" .done)
ctl --node "$a" cancel "$w2" >"$top/cancel.out" || fail "cancel $w2"
grep -q "$w2 cancelled" "$top/cancel.out" || fail "cancel said: $(cat "$top/cancel.out")"
#  The worker publishes the change before it replies, and the monitor holds
#  the reply until it has that STATUS, for at most 500 ms (a STATUS lost or
#  late): so the status shows it, or at worst a moment after.
cancelled() { [ "$(field "$w2" .state)" = cancelled ]; }
wait_for 10 cancelled || fail "$w2 is $(field "$w2" .state), not cancelled"
b_idle() { [ "$(node_field "$b" '.queue + .running')" = 0 ]; }
wait_for "$DEADLINE" b_idle || fail "b still holds jobs of the cancelled $w2"
ran=$(($(node_field "$b" .done) - b_done))
((ran < b_queue)) || fail "b ran $ran jobs after the cancel, of the $b_queue it held"
a_idle() { [ "$(node_field "$a" '.queue + .running')" = 0 ]; }
wait_for "$DEADLINE" a_idle || fail "a still runs jobs of the cancelled $w2"
wait_for 10 seen "$top/a.events" ".kind == \"cancelled\" and .workload == \"$w2\"" ||
    fail "no cancelled event on a"
wait_for 10 on "$b" ".kind == \"dropped\" and .workload == \"$w2\" and .peer == \"a\"" ||
    fail "no dropped event on b"
completed=$(field "$w2" .completed)
[ "$completed" -lt 4096 ] || fail "$w2 completed all its jobs"
"$cluster" pids --dir "$run" | awk '$2 != "c"' >"$top/pids"
grep -q '^- ' "$top/pids" && fail "a service died: $(grep '^- ' "$top/pids")"
find "$run" -name "$w2.wal" | grep -q . && fail "the journal of the cancelled $w2 is still there"

echo "6. cancelling an unknown or an ended workload is an error"
ctl --node "$a" cancel nosuch-1 2>"$top/err" && fail "cancel of an unknown id succeeded"
grep -q "no workload 'nosuch-1'" "$top/err" || fail "cancel unknown said: $(cat "$top/err")"
ctl --node "$a" cancel "$w1" 2>"$top/err" && fail "cancel of the complete $w1 succeeded"
grep -q "already ended (complete)" "$top/err" || fail "cancel ended said: $(cat "$top/err")"
ctl --node "$a" cancel "$w2" 2>"$top/err" && fail "a second cancel of $w2 succeeded"

echo "7. a restarted origin does not resume the cancelled workload"
"$cluster" stop-node a --dir "$run" >/dev/null || fail "stop-node a"
"$cluster" start-node a --dir "$run" >/dev/null || fail "start-node a"
has_all() { [ "$(ctl --node "$a" status --json 2>/dev/null | jq '.services | length')" = 5 ]; }
wait_for "$DEADLINE" has_all || fail "a did not come back"
#  The worker rebuilds its workloads before it answers: a resumed one
#  would be running, with jobs queued, now.
[ "$(field "$w2" .state)" = cancelled ] || fail "after a restart $w2 is $(field "$w2" .state)"
[ "$(field "$w2" .completed)" = "$completed" ] || fail "$w2 changed after the restart"
[ "$(node_field "$a" '.queue + .running')" = 0 ] || fail "a resumed jobs after the restart"
#  The follower saw the monitor's new start.
wait_for 10 grep -q "monitor restarted" "$top/a.err" || fail "events --follow missed the restart"

echo "8. a ring that overflowed reports the events missed"
for i in $(seq 1 70); do
    ctl --node "$b" throttle 0.5 >/dev/null && ctl --node "$b" throttle 0.6 >/dev/null ||
        fail "throttle on b"
done
ctl --node "$b" events --json >"$top/b.events" 2>"$top/b.err" || fail "events on b"
grep -q "missed [0-9]* events" "$top/b.err" || fail "no missed events reported: $(cat "$top/b.err")"
[ "$(wc -l <"$top/b.events")" -le 128 ] || fail "b returned more events than its ring holds"
[ "$(jq -s '.[0].seq' "$top/b.events")" -gt 1 ] || fail "b's oldest event is still the first"

kill "$follow_pid" 2>/dev/null
follow_pid=
echo "PASS"
