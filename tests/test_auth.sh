#!/usr/bin/env bash
#  Integration test: nobody without a trusted key gets in, and a trusted key
#  cannot speak for another node. A keyed three-node cluster runs a workload
#  from a (every node throttled to 0.1 until the attacks are over, so that
#  it outlasts them) while dlb_attack, with an unknown key and then with none
#  (plaintext), sends a's transfer port well-formed JOBS, RESULTS (every
#  result of the running workload, all wrong), STEAL, HOLD and ACK in b's
#  name, and a's control port throttle 0.01, policy none, submit and status;
#  node c's trusted key sends RESULTS and HOLD claiming to be b. Checks: the
#  control commands get no answer; a logged each refusal with the attacker's
#  address and key, and the claimed-sender mismatch; a's throttle, policy and
#  workloads are unchanged; the workload completes, verified, and its output
#  is bit-exact. Then b is stopped and rogues bind its state and transfer
#  ports (unknown key, then plaintext) publishing STATEs from "b" with seq
#  2^63: no node completes a handshake with them, a logs that the address
#  does not hold b's key, b stays stale; b started again is live at a and c
#  (so the forged seq was never taken, and the failed handshakes did not
#  cut a off from b for good), and runs jobs of a new workload.
#  Usage: tests/test_auth.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: test_auth.sh BUILD_DIR}" && pwd)
source "$(dirname "$0")/lib.bash"
require test_auth "$build/dlb-cluster" "$build/dlbctl" "$build/dlb_attack"
dir=$(mktemp -d /tmp/dlb-test-auth.XXXXXX)
ctl() { "$build/dlbctl" --timeout 5 "$@"; }
fail() {
    echo "FAIL: $*" >&2
    for log in "$dir"/a-*.log "$dir"/attack.out; do
        echo "--- $log" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
}
cleanup() { "$build/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

"$build/dlb-cluster" up --nodes 3 --port 0 --dir "$dir" > "$dir/endpoints" ||
    fail "cluster did not start"
node_file() { awk -v n="$1" '$1 == n { print $2 }' "$dir/endpoints"; }
a=$(node_file a) b=$(node_file b) c=$(node_file c)
[ -f "$a" ] && [ -f "$b" ] && [ -f "$c" ] || fail "up printed no node files"
port=$(control_port "$a") port_b=$(control_port "$b")
a_cert=$dir/.dlb/a/keys/node.cert
"$build/dlbctl" keygen --client --name mallory --out "$dir/mallory.cert" >/dev/null
mallory_key=$(sed -n 's/^ *public-key = "\(.*\)"/\1/p' "$dir/mallory.cert")
[ -n "$mallory_key" ] || fail "no public key in mallory.cert"
#  attack ARGS...: one dlb_attack run at a, its report kept in attack.out.
attack() {
    "$build/dlb_attack" --to a "$@" >> "$dir/attack.out" 2>&1 || fail "dlb_attack $*"
}
status_of() { ctl --node "$a" status --json; }
#  The workload must outlast the attacks, on a fast machine too (checked
#  below): every node runs at SLOW until they are over, then at 1.0.
readonly ELEMENTS=262144 JOBS=512 REPS=100000 SLOW=0.1
for node in "$a" "$b" "$c"; do ctl --node "$node" throttle $SLOW >/dev/null || fail "throttle $SLOW"; done
before=$(status_of) || fail "status"
throttle=$(echo "$before" | jq '.nodes[0].throttle')
policy=$(echo "$before" | jq -r '.nodes[0].policy')

shape=(--elements $ELEMENTS --jobs $JOBS --reps $REPS)
id=$(ctl --node "$a" submit "${shape[@]}" --output "$dir/result.npy") || fail "submit"
running() { [ "$(status_of | jq -r --arg id "$id" '.workloads[] | select(.id == $id) | .state')" = running ]; }
wait_for 10 sh -c "[ \"\$('$build/dlbctl' --node $a status --json | jq '.nodes[0].running')\" -gt 0 ]" ||
    fail "the workload did not start"

echo "1. a trusted node's key cannot speak for another node"
for type in results hold; do
    attack --type "$type" --endpoint "tcp://127.0.0.1:$((port + 2))" --key "$dir/.dlb/c/keys/node.cert" \
        --server-key "$a_cert" --from b --workload "$id" "${shape[@]}"
    wait_for 10 grep -q "dropped a ${type^^} that claims to come from b but came with the key of c" \
        "$dir/a-transfer.log" || fail "a did not log the forged ${type^^} in b's name"
done
running || fail "the workload ended before the forgeries were checked: this test proves nothing"

echo "2. unknown keys and plaintext peers cannot send jobs, results, steals, holds or commands"
for key in "$dir/mallory.cert" ""; do
    keyed=()
    [ -n "$key" ] && keyed=(--key "$key" --server-key "$a_cert")
    for type in jobs results steal hold ack; do
        attack --type $type --endpoint "tcp://127.0.0.1:$((port + 2))" "${keyed[@]}" --from b \
            --workload "$id" "${shape[@]}" --duration 300
    done
    attack --type throttle --value 0.01 --endpoint "tcp://127.0.0.1:$port" "${keyed[@]}" --duration 500
    attack --type policy --value none --endpoint "tcp://127.0.0.1:$port" "${keyed[@]}" --duration 500
    attack --type submit --endpoint "tcp://127.0.0.1:$port" "${keyed[@]}" --duration 500
    attack --type status --endpoint "tcp://127.0.0.1:$port" "${keyed[@]}" --duration 500
done
running || fail "the workload ended before the attacks were over: this test proves nothing"
! grep -q "replies [1-9]" "$dir/attack.out" || fail "a control command was answered"
after=$(status_of) || fail "status"
[ "$(echo "$after" | jq '.nodes[0].throttle')" = "$throttle" ] || fail "a's throttle changed"
[ "$(echo "$after" | jq -r '.nodes[0].policy')" = "$policy" ] || fail "a's policy changed"
for what in transfer:transfer monitor:control; do
    log=$dir/a-${what%:*}.log port_name=${what#*:}
    grep -qF "refused key $mallory_key from 127.0.0.1 on the $port_name port" "$log" ||
        fail "a's ${what%:*} did not log the unknown key"
    grep -q "refused 127.0.0.1:[0-9]* on the $port_name port: handshake failed" "$log" ||
        fail "a's ${what%:*} did not log the plaintext peer"
done

echo "3. the run goes on: the workload complete, verified and exact"
for node in "$a" "$b" "$c"; do ctl --node "$node" throttle 1.0 >/dev/null || fail "throttle 1.0"; done
ctl --node "$a" wait "$id" --timeout 150 >/dev/null || fail "workload $id not complete and verified"
after=$(status_of) || fail "status"
[ "$(echo "$after" | jq '.workloads | length')" -eq 1 ] || fail "a workload was submitted by an attacker"
#  A forged result would be kept (the first copy of a result wins) and
#  make its elements 0, which the exact check below catches; none may be
#  counted as run by the attackers' claimed names either.
[ "$(echo "$after" | jq --arg id "$id" '.workloads[] | select(.id == $id) | .ran | keys - ["a", "b", "c"] | length')" -eq 0 ] ||
    fail "results credited to a node that is not in the cluster"
[ "$(echo "$after" | jq '.nodes[0].peers | length')" -eq 2 ] || fail "a's peers changed"
distinct=$(tail -c $((ELEMENTS * 8)) "$dir/result.npy" | od -An -v -tx8 -w8 | sort -u | tr -d ' ')
expected=$(python3 -c "
import struct
x = 1.111111
for _ in range($REPS):
    x += 1.111111
print('%016x' % struct.unpack('<Q', struct.pack('<d', x))[0])")
[ "$distinct" = "$expected" ] || fail "result elements $(echo "$distinct" | head -3), expected $expected"
"$build/dlb-cluster" status --dir "$dir" >/dev/null || fail "a service died"

echo "4. a rogue in a stopped peer's place gets no handshake, and the peer comes back"
"$build/dlb-cluster" stop-node b --dir "$dir" >/dev/null || fail "stop-node b"
b_stale() { [ "$(status_of | jq '.nodes[] | select(.node == "b") | .stale')" = true ]; }
wait_for 10 b_stale || fail "a did not see b stale"
for key in "$dir/mallory.cert" ""; do
    keyed=()
    [ -n "$key" ] && keyed=(--key "$key")
    #  b's transfer port too: a's jobs for b go there.
    "$build/dlb_attack" --bind --type junk --endpoint "tcp://127.0.0.1:$((port_b + 2))" \
        "${keyed[@]}" --duration 2500 >> "$dir/attack.out" 2>&1 &
    rogue=$!
    "$build/dlb_attack" --bind --type state --endpoint "tcp://127.0.0.1:$((port_b + 1))" \
        "${keyed[@]}" --from b --count 50 --duration 2500 > "$dir/rogue.out" 2>&1 ||
        fail "the rogue state PUB did not run: $(cat "$dir/rogue.out")"
    wait "$rogue" || fail "the rogue transfer port did not run"
    cat "$dir/rogue.out" >> "$dir/attack.out"
    grep -q "accepted [1-9].*subscriptions 0$" "$dir/rogue.out" ||
        fail "the rogue state PUB: $(cat "$dir/rogue.out") (expected connections, no subscription)"
    b_stale || fail "a saw b live while a rogue held its address"
done
grep -q "tcp://127.0.0.1:$((port_b + 1)) does not hold the key of b: handshake failed" "$dir/a-state.log" ||
    fail "a's state did not log the rogue at b's address"
"$build/dlb-cluster" start-node b --dir "$dir" >/dev/null || fail "start-node b"
b_live() { [ "$(ctl --node "$1" status --json | jq '.nodes[] | select(.node == "b") | .stale')" = false ]; }
wait_for 20 b_live "$a" || fail "a does not see b live again: cut off by the rogue, or a forged seq taken"
wait_for 20 b_live "$c" || fail "c does not see b live again"
id=$(ctl --node "$a" submit --elements 65536 --jobs 192 --reps 50000 --output "$dir/again.npy") ||
    fail "submit after b came back"
ctl --node "$a" wait "$id" --timeout 120 >/dev/null || fail "workload $id not complete and verified"
ran_b=$(status_of | jq --arg id "$id" '.workloads[] | select(.id == $id) | .ran.b // 0')
[ "$ran_b" -gt 0 ] || fail "b ran none of a's jobs after it came back: a cannot reach it"
echo "PASS"
