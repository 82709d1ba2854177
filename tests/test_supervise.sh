#!/usr/bin/env bash
#  Integration test: dlb-cluster's supervision. A two-node cluster on ports
#  dlb-cluster picks (--port 0). A service killed with SIGKILL is restarted
#  and its node lists all five services again; a service that exits 2 (usage
#  error) is not restarted; a node stopped (SIGTERM, then SIGKILL) and started
#  again is seen live by its peer, and a workload then runs on both nodes;
#  `down` leaves no process behind.
#  Usage: tests/test_supervise.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip)
set -uo pipefail
build=$(cd "${1:?usage: test_supervise.sh BUILD_DIR}" && pwd)
readonly RESTART_DEADLINE=10 # secs for a restart (dlb-cluster's backoff: 0.2 s first)
readonly DEADLINE=20         # secs for any other condition
cluster=$build/dlb-cluster
source "$(dirname "$0")/lib.bash"
require test_supervise "$cluster" "$build/dlbctl" "$build/dlb-transfer"

top=$(mktemp -d /tmp/dlb-test-supervise.XXXXXX)
run=$top/run
fail() {
    echo "FAIL: $*" >&2
    "$cluster" status --dir "$run" >&2
    for log in "$run"/*.log; do echo "--- $log" >&2; tail -n 8 "$log" >&2; done
    exit 1
}
cleanup() { "$cluster" down --dir "$run" >/dev/null 2>&1; rm -rf "$top"; }
trap cleanup EXIT

ctl() { "$build/dlbctl" --timeout 5 "$@"; }
#  pid_of NODE SERVICE: the PID dlb-cluster reports ('-' if not running).
pid_of() { "$cluster" pids --dir "$run" | awk -v n="$1" -v s="$2" '$2 == n && $3 == s { print $1 }'; }
#  pid_is_new NODE SERVICE OLD: true once a PID other than OLD runs.
pid_is_new() { local p; p=$(pid_of "$1" "$2"); [ "$p" != - ] && [ "$p" != "$3" ]; }
#  services_of ENDPOINT: how many services the node lists.
services_of() { ctl --node "$1" status --json 2>/dev/null | jq '.services | length'; }
has_all_services() { [ "$(services_of "$1")" = 5 ]; }
#  sees ENDPOINT NODE STALE: the node's view of NODE has stale == STALE.
sees() {
    [ "$(ctl --node "$1" status --json 2>/dev/null |
        jq -r --arg n "$2" '.nodes[] | select(.node == $n) | .stale')" = "$3" ]
}
supervisor_gone() { ! pgrep -f -- "supervise $run $1 $2\$" >/dev/null; }
#  status_of NODE SERVICE: its line of `dlb-cluster status` without the PID.
status_of() { "$cluster" status --dir "$run" | awk -v n="$1" -v s="$2" '$2 == n && $3 == s { $1 = ""; print }'; }
#  running PID: true if PID runs (a zombie does not).
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

#  The binaries, with dlb-transfer behind a wrapper that adds an unknown
#  option (exit 2) while $top/bogus exists. The wrapper execs the binary,
#  so dlb-cluster's check of /proc/PID/cmdline still sees dlb-transfer.
bin=$top/bin
mkdir -p "$bin"
for s in monitor worker state adaptor; do ln -s "$build/dlb-$s" "$bin/dlb-$s"; done
ln -s "$build/dlbctl" "$bin/dlbctl"
printf '#!/bin/sh\n[ -e "%s" ] && set -- --bogus "$@"\nexec "%s" "$@"\n' \
    "$top/bogus" "$build/dlb-transfer" >"$bin/dlb-transfer"
chmod +x "$bin/dlb-transfer"

echo "1. up --port 0: two nodes on ports dlb-cluster picked"
"$cluster" up --nodes 2 --port 0 --policy symmetric --bin "$bin" --dir "$run" \
    >"$top/endpoints" || fail "cluster did not start"
a=$(awk '$1 == "a" { print $2 }' "$top/endpoints")
b=$(awk '$1 == "b" { print $2 }' "$top/endpoints")
[ -n "$a" ] && [ -n "$b" ] || fail "up printed no endpoints: $(cat "$top/endpoints")"
port_a=$(control_port "$a") port_b=$(control_port "$b")
echo "   a $a, b $b"
[ $((port_b - port_a)) -eq 100 ] || fail "node b's base is not a's + 100"
read -r eph_low eph_high </proc/sys/net/ipv4/ip_local_port_range
[ "$port_b" -lt "$eph_low" ] || [ "$port_a" -gt "$eph_high" ] ||
    fail "base $port_a overlaps the ephemeral range $eph_low-$eph_high"
[ "$("$cluster" pids --dir "$run" | awk '$1 != "-"' | wc -l)" -eq 10 ] ||
    fail "pids does not list 10 running services"
"$cluster" status --dir "$run" >/dev/null || fail "status: not every service alive"

echo "2. a's transfer killed with SIGKILL is restarted, and the node lists all five again"
old=$(pid_of a transfer)
t0=$(ms)
kill -9 "$old" || fail "kill -9 $old"
wait_for "$RESTART_DEADLINE" pid_is_new a transfer "$old" ||
    fail "a's transfer not restarted within $RESTART_DEADLINE s"
t1=$(ms)
new=$(pid_of a transfer)
#  The new process's first log line, against the time of the kill.
started=$(grep -m1 "started (pid $new," "$run/a-transfer.log" | cut -d' ' -f1)
started_ms=$(date -d "$started" +%s%3N 2>/dev/null) || started_ms=$t1
echo "   restarted: pid $old -> $new, running $((started_ms - t0)) ms after the kill" \
    "(seen by polling after $((t1 - t0)) ms)"
grep -q "dlb-cluster: dlb-transfer exited (signal 9, SIGKILL); restart 1 in 0.2 s" \
    "$run/a-transfer.log" || fail "the restart is not logged in a-transfer.log"
wait_for "$DEADLINE" has_all_services "$a" || fail "a lists $(services_of "$a") services"
[ "$(status_of a transfer)" = " a transfer 1 alive" ] ||
    fail "status shows '$(status_of a transfer)', not 1 restart of a's transfer"

echo "3. dlb-cluster kill: a's worker crashes (SIGKILL) and comes back"
old=$("$cluster" kill a worker --dir "$run") || fail "dlb-cluster kill a worker"
wait_for "$RESTART_DEADLINE" pid_is_new a worker "$old" || fail "a's worker not restarted"
wait_for "$DEADLINE" "$cluster" status --dir "$run" >/dev/null || fail "not every service alive"

echo "4. a service that exits 2 (usage error) is not restarted"
touch "$top/bogus"
"$cluster" kill b transfer --dir "$run" >/dev/null || fail "dlb-cluster kill b transfer"
wait_for "$DEADLINE" supervisor_gone b transfer || fail "b's transfer supervisor still runs"
[ "$(pid_of b transfer)" = - ] || fail "b's transfer runs again ($(pid_of b transfer))"
grep -q "dlb-transfer exited 2 (usage error" "$run/b-transfer.log" ||
    fail "the usage error is not logged in b-transfer.log"
case $(status_of b transfer) in
    " b transfer 1 stopped: usage error (exit 2);"*) ;;
    *) fail "status shows '$(status_of b transfer)' for b's transfer" ;;
esac
"$cluster" status --dir "$run" >/dev/null && fail "status exits 0 with a service stopped"
rm -f "$top/bogus"
"$cluster" start-node b --dir "$run" >/dev/null || fail "start-node b (its transfer only)"
"$cluster" status --dir "$run" >/dev/null || fail "b's transfer did not come back"

echo "5. stop-node b (SIGTERM) and start-node b: a sees b lost, then live again"
"$cluster" stop-node b --dir "$run" 2>/dev/null || fail "stop-node b"
pgrep -f -- "--port $port_b " >/dev/null && fail "b's services still run after stop-node"
pgrep -f -- "supervise $run b " >/dev/null && fail "b's supervisors still run after stop-node"
wait_for "$DEADLINE" sees "$a" b true || fail "a does not see b stale"
"$cluster" start-node b --dir "$run" >/dev/null || fail "start-node b"
wait_for "$DEADLINE" sees "$a" b false || fail "a does not see b live again"

echo "6. stop-node a --signal KILL (a machine dying) and start-node a: b sees a again"
"$cluster" stop-node a --signal KILL --dir "$run" 2>/dev/null || fail "stop-node a --signal KILL"
pgrep -f -- "--port $port_a " >/dev/null && fail "a's services still run after stop-node"
wait_for "$DEADLINE" sees "$b" a true || fail "b does not see a stale"
"$cluster" start-node a --dir "$run" >/dev/null || fail "start-node a"
wait_for "$DEADLINE" sees "$b" a false || fail "b does not see a live again"

echo "7. a workload then runs on both nodes"
id=$(ctl --node "$a" submit --elements 65536 --jobs 64 --reps 2000 \
    --output result.npy) || fail "submit"
ctl --node "$a" wait "$id" --timeout 60 >/dev/null || fail "workload $id not complete and verified"
ran=$(ctl --node "$a" status --json |
    jq -r --arg id "$id" '.workloads[] | select(.id == $id) | "\(.ran.a // 0) \(.ran.b // 0)"')
echo "   jobs run: a ${ran% *}, b ${ran#* }"
[ "${ran% *}" -gt 0 ] && [ "${ran#* }" -gt 0 ] || fail "ran a=${ran% *} b=${ran#* }"

echo "8. down leaves no process behind"
pids=$("$cluster" pids --dir "$run" | awk '$1 != "-" { print $1 }')
sups=$(pgrep -f -- "supervise $run ")
"$cluster" down --dir "$run" 2>/dev/null || fail "down"
for pid in $pids $sups; do
    running "$pid" && fail "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) still runs after down"
done
pgrep -f -- "$run" >/dev/null && fail "a process naming $run still runs: $(pgrep -af -- "$run")"
pgrep -f -- "--port ($port_a|$port_b) " >/dev/null && fail "a service of the cluster still runs"
echo "PASS"
