#!/usr/bin/env bash
#  Integration test: a real two-node cluster on loopback (ten processes),
#  one node throttled. Checks that the result is exactly right, that jobs
#  moved and both nodes ran some, that every service is its own process,
#  that garbage at the peer-facing endpoints does not stop a run, and that
#  a throttle set through dlbctl changes the worker's measured CPU share.
#  Usage: tests/test_cluster.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: test_cluster.sh BUILD_DIR}" && pwd)
dir=$(mktemp -d /tmp/dlb-test-cluster.XXXXXX)
ctl() { "$build/dlbctl" --timeout 5 "$@"; }
fail() {
    echo "FAIL: $*" >&2
    for log in "$dir"/*.log; do echo "--- $log" >&2; tail -n 15 "$log" >&2; done
    exit 1
}
cleanup() { "$build/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

#  Polls a command until it succeeds or the deadline (seconds) passes.
wait_for() {
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

#  --port 0: dlb-cluster picks free ports and prints each node's endpoint.
"$build/dlb-cluster" up --nodes 2 --throttle 1.0,0.5 --policy symmetric --port 0 \
    --dir "$dir" > "$dir/endpoints" || fail "cluster did not start"
a=$(awk '$1 == "a" { print $2 }' "$dir/endpoints")
b=$(awk '$1 == "b" { print $2 }' "$dir/endpoints")
[ -n "$a" ] && [ -n "$b" ] || fail "up printed no endpoints"
port=${a##*:}

echo "1. every service is its own process"
"$build/dlb-cluster" pids --dir "$dir" > "$dir/pids.now"
[ "$(wc -l < "$dir/pids.now")" -eq 10 ] || fail "expected 10 services, pids lists $(wc -l < "$dir/pids.now")"
[ "$(awk '{print $1}' "$dir/pids.now" | sort -u | wc -l)" -eq 10 ] || fail "PIDs are not distinct"
while read -r pid node service; do
    [ -d "/proc/$pid" ] || fail "$node $service (pid $pid) is not running"
    grep -q "dlb-$service" "/proc/$pid/cmdline" || fail "pid $pid is not dlb-$service"
done < "$dir/pids.now"

echo "2. garbage at the peer-facing endpoints, then a run that must finish correctly"
"$build/dlb_inject" "tcp://127.0.0.1:$((port + 2))" || fail "inject to transfer"
"$build/dlb_inject" "tcp://127.0.0.1:$((port + 1))" || fail "inject to state"
for p in $((port + 1)) $((port + 2)) $((port + 101)) $((port + 102)); do
    #  Raw bytes that are not even ZMTP.
    (exec 3<>"/dev/tcp/127.0.0.1/$p" && printf 'GET / HTTP/1.0\r\n\r\n\xff\x00garbage' >&3) \
        2>/dev/null || true
done
id=$(ctl --node "$a" submit --elements 262144 --jobs 256 --reps 50000 \
        --output "$dir/result.npy") || fail "submit"
ctl --node "$a" wait "$id" --timeout 120 >/dev/null || fail "workload $id not complete and verified"
wait_for 10 grep -q "dropped" "$dir/a-transfer.log" || fail "the transfer service did not report the garbage"
status=$(ctl --node "$a" status --json) || fail "status"

echo "3. the result is exactly right"
#  Every element is 1.111111 plus 50000 additions of 1.111111, in float64;
#  the node verified that; check the file independently here too.
[ "$(echo "$status" | jq -r --arg id "$id" '.workloads[] | select(.id == $id) | .verified')" = true ] \
    || fail "the node did not verify the result"
size=$(stat -c %s "$dir/result.npy")
[ "$size" -eq $((128 + 262144 * 8)) ] || fail "result file has $size bytes"
distinct=$(tail -c $((262144 * 8)) "$dir/result.npy" | od -An -v -tx8 -w8 | sort -u)
[ "$(echo "$distinct" | wc -l)" -eq 1 ] || fail "result elements differ: $(echo "$distinct" | head -3)"
#  The expected bit pattern, from the same float64 additions done here.
expected=$(python3 -c '
import struct
x = 1.111111
for _ in range(50000):
    x += 1.111111
print("%016x" % struct.unpack("<Q", struct.pack("<d", x))[0])')
[ "$(echo "$distinct" | tr -d ' ')" = "$expected" ] || fail "element $distinct, expected $expected"

echo "4. with one node throttled, jobs moved and both nodes ran jobs"
ran_a=$(echo "$status" | jq --arg id "$id" '.workloads[] | select(.id == $id) | .ran.a // 0')
ran_b=$(echo "$status" | jq --arg id "$id" '.workloads[] | select(.id == $id) | .ran.b // 0')
sent=$(echo "$status" | jq '.nodes[0].sent')
[ "$ran_a" -gt 0 ] && [ "$ran_b" -gt 0 ] || fail "ran a=$ran_a b=$ran_b"
[ "$sent" -gt 0 ] || fail "no jobs moved"
[ $((ran_a + ran_b)) -eq 256 ] || fail "ran a=$ran_a + b=$ran_b != 256"
#  Which node ran more depends on what else the machine runs: on a busy
#  2-core machine a throttle of 1.0 and one of 0.5 can get the same CPU.
#  bench/balance.sh measures the split; here only the sum is exact.
for pid in $(awk '{print $1}' "$dir/pids.now"); do
    [ -d "/proc/$pid" ] || fail "a service died during the run (pid $pid)"
done

echo "5. a throttle set through dlbctl changes the worker's measured CPU share"
ctl --node "$a" policy none >/dev/null || fail "policy none on a"
ctl --node "$b" policy none >/dev/null || fail "policy none on b"
ctl --node "$a" throttle 0.3 >/dev/null || fail "throttle 0.3"
id=$(ctl --node "$a" submit --elements 1048576 --jobs 1024 --reps 50000 \
        --output "$dir/long.npy") || fail "submit long"
share() { ctl --node "$a" status --json | jq '.nodes[0].worker_cpu'; }
#  The monitor measures over its sampling period; take the median of a few
#  readings once the worker is busy.
median_share() {
    local values=()
    for _ in 1 2 3 4 5; do sleep 0.6; values+=("$(share)"); done
    printf '%s\n' "${values[@]}" | sort -g | sed -n 3p
}
wait_for 10 sh -c "[ \"\$('$build/dlbctl' --node $a status --json | jq '.nodes[0].running')\" -gt 0 ]" \
    || fail "the worker did not start"
low=$(median_share)
ctl --node "$a" throttle 1.0 >/dev/null || fail "throttle 1.0"
high=$(median_share)
echo "   worker CPU share: $low % at throttle 0.3, $high % at throttle 1.0"
#  Bounds that hold on a busy 2-core machine: never much above the
#  throttle, and clearly higher when released. Precise figures: bench/.
awk -v l="$low" -v h="$high" 'BEGIN { exit !(l <= 40 && h >= l + 20) }' \
    || fail "throttle did not change the CPU share as expected (low $low, high $high)"
echo "PASS"
