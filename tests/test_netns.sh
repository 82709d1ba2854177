#!/usr/bin/env bash
#  Integration test: dlb-cluster --netns. Two nodes, each in a network
#  namespace of its own with its own address and the same base port. Both
#  see each other live; a workload submitted on a completes, verified, and
#  runs on both; `cut b` (a partition) makes a see b stale, `heal b` live
#  again; a workload submitted after the heal completes too; stop-node and
#  start-node keep the namespace; `down` leaves no namespace, veth, bridge
#  or process behind.
#  Usage: tests/test_netns.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip:
#  not root, no network namespaces, no jq)
set -uo pipefail
build=$(cd "${1:?usage: test_netns.sh BUILD_DIR}" && pwd)
readonly DEADLINE=20 # secs for any condition (a peer goes stale after 1.5 s)
cluster=$build/dlb-cluster
source "$(dirname "$0")/lib.bash"
require test_netns "$cluster" "$build/dlbctl" "$build/dlb-monitor"
require_netns test_netns

top=$(mktemp -d /tmp/dlb-test-netns.XXXXXX)
run=$top/run
fail() {
    echo "FAIL: $*" >&2
    "$cluster" status --dir "$run" >&2
    cat "$run/events" >&2
    for log in "$run"/*.log; do echo "--- $log" >&2; tail -n 8 "$log" >&2; done
    exit 1
}
cleanup() { "$cluster" down --dir "$run" >/dev/null 2>&1; rm -rf "$top"; }
trap cleanup EXIT

#  ctl NODE ARGS...: dlbctl, in NODE's namespace, to NODE's control endpoint.
ctl() { "$cluster" exec --dir "$run" "$1" -- "$build/dlbctl" --node "$(ep "$1")" --timeout 5 "${@:2}"; }
ep() { "$cluster" endpoint --dir "$run" "$1"; }
#  sees NODE OTHER STALE: NODE's view of OTHER has stale == STALE.
sees() {
    [ "$(ctl "$1" status --json 2>/dev/null |
        jq -r --arg n "$2" '.nodes[] | select(.node == $n) | .stale')" = "$3" ]
}
namespaces() { ip netns list | awk -v p="dlb-$id-" 'index($1, p) == 1 { print $1 }'; }
#  submit_and_verify NODE FILE: a workload on NODE completes and is verified.
submit_and_verify() {
    local wid
    wid=$(ctl "$1" submit --elements 65536 --jobs 64 --reps 2000 --output "$2") ||
        fail "submit on $1"
    ctl "$1" wait "$wid" --timeout 60 >/dev/null 2>&1 || fail "workload $wid not complete and verified"
    ran=$(ctl "$1" status --json |
        jq -r --arg id "$wid" '.workloads[] | select(.id == $id) | "\(.ran.a // 0) \(.ran.b // 0)"')
    [ "$(ctl "$1" status --json | jq -r --arg id "$wid" '.workloads[] | select(.id == $id) | .verified')" = true ] ||
        fail "workload $wid not verified"
    [ -s "$2" ] || fail "no output file $2"
}

echo "1. up --netns: two nodes, each in its own namespace, the same port"
"$cluster" up --nodes 2 --netns --port 0 --policy symmetric --dir "$run" \
    >"$top/endpoints" || fail "cluster did not start"
a=$(awk '$1 == "a" { print $2 }' "$top/endpoints")
b=$(awk '$1 == "b" { print $2 }' "$top/endpoints")
echo "   a $a, b $b"
[ "$a" = "$(ep a)" ] && [ "$b" = "$(ep b)" ] || fail "endpoint differs from what up printed"
[ "$(control_port "$a")" = "$(control_port "$b")" ] || fail "the nodes have different ports: $a $b"
ip_a=$(control_of "$a") ip_b=$(control_of "$b")
ip_a=${ip_a#tcp://} ip_a=${ip_a%:*} ip_b=${ip_b#tcp://} ip_b=${ip_b%:*}
[ "$ip_a" != "$ip_b" ] && [ "${ip_a%.*}" = "${ip_b%.*}" ] || fail "addresses $ip_a $ip_b"
ip -o addr | grep -q " $ip_a/" && fail "$ip_a is an address of the root namespace"
id=$(awk '$1 == "netns" { print $2 }' "$run/cluster")
[ "$(namespaces | wc -l)" -eq 3 ] || fail "expected 3 namespaces dlb-$id-*: $(namespaces)"
pid=$("$cluster" pids --dir "$run" | awk '$2 == "b" && $3 == "worker" { print $1 }')
[ "$(ip netns identify "$pid")" = "dlb-$id-b" ] || fail "b's worker is not in dlb-$id-b"
"$cluster" exec --dir "$run" a -- ip -o -4 addr show | grep -q " $ip_a/" ||
    fail "exec a: the namespace has no $ip_a"
"$cluster" exec --dir "$run" b -- sh -c 'exit 7'
[ $? -eq 7 ] || fail "exec did not return the command's exit status"
"$cluster" status --dir "$run" >/dev/null || fail "status: not every service alive"

echo "2. both see each other live"
wait_for "$DEADLINE" sees a b false || fail "a does not see b live"
wait_for "$DEADLINE" sees b a false || fail "b does not see a live"

echo "3. a workload submitted on a completes, verified, and runs on both"
submit_and_verify a "$run/a/result.npy"
echo "   jobs run: a ${ran% *}, b ${ran#* }"
[ "${ran% *}" -gt 0 ] && [ "${ran#* }" -gt 0 ] || fail "ran a=${ran% *} b=${ran#* }"

echo "4. cut b: a sees b stale (and b sees a stale); the processes keep running"
t0=$(ms)
"$cluster" cut --dir "$run" b 2>/dev/null || fail "cut b"
wait_for "$DEADLINE" sees a b true || fail "a does not see b stale within $DEADLINE s of the cut"
echo "   a saw b stale $(($(ms) - t0)) ms after the cut"
wait_for "$DEADLINE" sees b a true || fail "b does not see a stale"
"$cluster" status --dir "$run" >/dev/null || fail "a service died during the cut"
grep -q ' cut b$' "$run/events" || fail "the cut is not in $run/events"

echo "5. heal b: a sees b live again, and a workload completes"
t0=$(ms)
"$cluster" heal --dir "$run" b 2>/dev/null || fail "heal b"
wait_for "$DEADLINE" sees a b false || fail "a does not see b live within $DEADLINE s of the heal"
echo "   a saw b live $(($(ms) - t0)) ms after the heal"
wait_for "$DEADLINE" sees b a false || fail "b does not see a live again"
grep -q ' heal b$' "$run/events" || fail "the heal is not in $run/events"
submit_and_verify a "$run/healed.npy"

echo "6. stop-node b keeps its namespace; start-node b brings it back"
"$cluster" stop-node b --dir "$run" 2>/dev/null || fail "stop-node b"
[ -z "$(ip netns pids "dlb-$id-b")" ] || fail "processes still in dlb-$id-b after stop-node"
[ "$(namespaces | wc -l)" -eq 3 ] || fail "stop-node removed a namespace"
wait_for "$DEADLINE" sees a b true || fail "a does not see b stale"
"$cluster" start-node b --dir "$run" >/dev/null 2>&1 || fail "start-node b"
wait_for "$DEADLINE" sees a b false || fail "a does not see b live again"

echo "7. down leaves no namespace, link or process behind"
pids=$("$cluster" pids --dir "$run" | awk '$1 != "-" { print $1 }')
"$cluster" down --dir "$run" 2>/dev/null || fail "down"
[ -z "$(namespaces)" ] || fail "namespaces left: $(namespaces)"
for pid in $pids; do
    [ -d "/proc/$pid" ] && fail "pid $pid still runs after down"
done
pgrep -f -- "$run" >/dev/null && fail "a process naming $run still runs: $(pgrep -af -- "$run")"
ip -o link | grep -q -- "dlb-$id-" && fail "a link of the root namespace still names dlb-$id-*"
"$cluster" cut --dir "$run" b 2>/dev/null && fail "cut after down succeeded"
echo "PASS"
