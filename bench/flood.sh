#!/usr/bin/env bash
#  Benchmark: a flood of hostile traffic at every external port of a running
#  node (a, of a keyed three-node cluster on loopback), in two phases, each
#  during a workload of a's:
#    outsiders: an unknown key and no key (plaintext), at each port: for
#      --handshakes s, 20 new connections every 50 ms, each with a junk
#      message; the bombs below; 200 raw TCP connections of garbage. With
#      keys none of it reaches a decoder.
#    insiders: trusted keys, so everything reaches the decoders: node c's key
#      at the transfer port, the cluster's client key at the control port,
#      and c's key on c's own state port (c stopped, a rogue bound in its
#      place, which a subscribes to): --junk junk messages each, then the
#      bombs.
#    subscriptions: c's key subscribes at a's state port to 5,000 distinct
#      1 KiB topics. libzmq's PUB keeps every topic a subscriber asks for, so
#      this one grows a's state service (README, Known limitations): shown,
#      not bounded.
#  Bombs: a frame over the port's limit (256 MiB + 1 on transfer, 64 KiB + 1
#  on control and state), a JOBS of 100 MB of one-byte msgpack ints (on
#  control and state the largest that fits: 64 KiB), a RESULTS batch of
#  24 zlib streams of zeros declaring 768 MiB. For each phase it prints, for a's five services,
#  resident memory before, the peak during (VmHWM, reset at the start of
#  the phase), after, and whether the same process is still up; the
#  refusals and drops a logged and their rate; and whether the workload
#  completed, verified, with every element exact.
#  Exits 1 if a service died or restarted, a peak exceeded its bound, or a
#  workload is not exact. The bound: --bound MiB (default 64) for every
#  service, plus, for the insiders' transfer, the largest frame it must
#  take whole before it can refuse it (the 100 MB bomb, under the 256 MiB
#  limit).
#  The sender's own memory: the 256 MiB frame is zero pages when plaintext,
#  about 2 x 256 MiB for a moment under CURVE. Takes 1-2 minutes.
#  Usage: bench/flood.sh [--junk N] [--handshakes SECS] [--bound MIB] [--build DIR]
set -uo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
junk=100000 handshakes=10 bound=64 build=$top/build
while [ $# -gt 0 ]; do
    case $1 in
        --junk) junk=$2; shift 2 ;;
        --handshakes) handshakes=$2; shift 2 ;;
        --bound) bound=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        *) echo "flood.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$junk" "$handshakes" "$bound"; do
    [[ $v =~ ^[0-9]+$ ]] || { echo "flood.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
source "$top/tests/lib.bash"
[ -x "$build/dlb_attack" ] || "$top/scripts/build.sh" "$build" >/dev/null
[ -x /usr/bin/time ] || { echo "flood.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
readonly BOMB=100000000 SMALL=65536 BIG=$((256 * 1024 * 1024))
readonly ELEMENTS=262144 JOBS=512 REPS=100000
cluster=$build/dlb-cluster
dir=$(mktemp -d /tmp/dlb-flood.XXXXXX)
cleanup() { "$cluster" down --dir "$dir" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
failed=0
problem() { echo "PROBLEM: $*"; failed=1; }

"$cluster" up --nodes 3 --port 0 --dir "$dir" > "$dir/endpoints" 2>/dev/null ||
    { echo "flood.sh: the cluster did not start" >&2; exit 1; }
node_file() { awk -v n="$1" '$1 == n { print $2 }' "$dir/endpoints"; }
a=$(node_file a) c=$(node_file c)
port=$(control_port "$a") port_c=$(control_port "$c")
a_cert=$dir/.dlb/a/keys/node.cert c_key=$dir/.dlb/c/keys/node.cert
"$build/dlbctl" keygen --client --name mallory --out "$dir/mallory.cert" >/dev/null
"$cluster" pids --dir "$dir" | awk '$2 == "a"' > "$dir/pids"
mapfile -t services < <(awk '{ print $3 }' "$dir/pids")
pid_of() { awk -v s="$1" '$3 == s { print $1 }' "$dir/pids"; }
kib() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }
#  attack ARGS...: one dlb_attack run, its report and its own peak memory kept.
attack() {
    /usr/bin/time -a -o "$dir/sender.mem" -f "%M %C" "$build/dlb_attack" --to a "$@" \
        >> "$dir/attack.out" 2>&1
}

#  phase NAME FLOOD_FUNCTION: a workload, the flood, the table.
phase() {
    local name=$1 flood=$2 s pid id t0 t1 status distinct expected
    declare -A before
    for s in "${services[@]}"; do
        pid=$(pid_of "$s")
        before[$s]=$(kib "$pid" VmRSS)
        echo 5 > "/proc/$pid/clear_refs" #  VmHWM := VmRSS
    done
    for log in "$dir"/a-*.log; do wc -l < "$log" > "$log.mark"; done
    id=$("$build/dlbctl" --node "$a" submit --elements $ELEMENTS --jobs $JOBS --reps $REPS \
        --output "$dir/$name.npy") || { problem "submit"; return; }
    t0=$(ms)
    "$flood"
    t1=$(ms)
    "$build/dlbctl" --node "$a" wait "$id" --timeout 300 >/dev/null 2>&1 ||
        problem "$name: the workload did not complete and verify"
    echo
    echo "== $name ($(awk -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", t / 1000 }') s of flood)"
    printf '%-9s %12s %12s %12s %4s\n' service "RSS before" "peak during" "RSS after" up
    for s in "${services[@]}"; do
        pid=$(pid_of "$s")
        local up=no limit=$((bound * 1024)) peak
        [ -d "/proc/$pid" ] && grep -q "dlb-$s" "/proc/$pid/cmdline" && up=yes
        peak=$(kib "$pid" VmHWM)
        [ "$name" = insiders ] && [ "$s" = transfer ] && limit=$((limit + BOMB / 1024))
        [ "$name" = subscriptions ] && [ "$s" = state ] && limit=-1
        printf '%-9s %8s MiB %8s MiB %8s MiB %4s\n' "$s" "$(mib "${before[$s]}")" \
            "$(mib "$peak")" "$(mib "$(kib "$pid" VmRSS)")" "$up"
        [ "$up" = yes ] || problem "$name: a's $s died"
        ((limit < 0 || ${peak:-0} <= limit)) || problem "$name: a's $s peaked at $(mib "$peak") MiB, over $(mib $limit) MiB"
    done
    "$cluster" status --dir "$dir" | awk '$2 == "a" && $4 != 0 { bad = 1 } END { exit bad }' ||
        problem "$name: a service of a restarted"
    #  What the logs say happened during the phase (counters are per process).
    echo "refusals and drops a logged (the counter's last value in the phase; rate over the flood):"
    local rate="awk -v t=$((t1 - t0)) '{ printf \"%d (%d/s)\", \$1, \$1 * 1000 / t }'"
    for s in "${services[@]}"; do
        local log=$dir/a-$s.log new refused malformed
        new=$(tail -n +$(($(cat "$log.mark") + 1)) "$log")
        refused=$(echo "$new" | sed -n 's/.*(\([0-9]*\) refused so far).*/\1/p' | tail -1)
        malformed=$(echo "$new" | sed -n 's/.*(\([0-9]*\) \(malformed \)\{0,1\}so far).*/\1/p' | tail -1)
        [ -n "$refused$malformed" ] || continue
        printf '  %-9s handshakes refused %-16s malformed dropped %-16s in %s log lines\n' "$s" \
            "$(echo "${refused:-0}" | eval "$rate")" "$(echo "${malformed:-0}" | eval "$rate")" \
            "$(echo "$new" | wc -l)"
    done
    #  The first refusal of each bomb, as logged.
    for pattern in "over 1048576 objects" "declares [0-9]* payload bytes" "malformed request"; do
        for log in "$dir"/a-*.log; do tail -n +$(($(cat "$log.mark") + 1)) "$log"; done |
            grep -m1 "$pattern" | sed 's/^[^ ]* /  e.g. /' | cut -c1-150
    done
    status=$("$build/dlbctl" --node "$a" status --json)
    distinct=$(tail -c $((ELEMENTS * 8)) "$dir/$name.npy" 2>/dev/null | od -An -v -tx8 -w8 | sort -u | tr -d ' ')
    expected=$(python3 -c "
import struct
x = 1.111111
for _ in range($REPS):
    x += 1.111111
print('%016x' % struct.unpack('<Q', struct.pack('<d', x))[0])")
    echo "workload $id: $(echo "$status" | jq -r --arg id "$id" '.workloads[] | select(.id == $id) |
        "\(.state), \(.completed)/\(.jobs) jobs, verified \(.verified), ran \(.ran | tostring)"'), every element exact: $([ "$distinct" = "$expected" ] && echo yes || echo no)"
    [ "$distinct" = "$expected" ] || problem "$name: the output is not exact"
}

outsiders() {
    local key keyed p
    for key in "$dir/mallory.cert" ""; do
        keyed=()
        [ -n "$key" ] && keyed=(--key "$key" --server-key "$a_cert")
        for p in "$port" $((port + 1)) $((port + 2)); do
            local sock=push
            [ "$p" = "$port" ] && sock=dealer
            [ "$p" = $((port + 1)) ] && sock=xsub
            attack --type junk --count "$junk" --connections 20 --duration $((handshakes * 1000)) \
                --socket $sock --endpoint "tcp://127.0.0.1:$p" "${keyed[@]}" &
            attack --type oversize --size $((BIG + 1)) --socket $sock --endpoint "tcp://127.0.0.1:$p" \
                "${keyed[@]}" --duration 1000 &
            attack --type objects --size $BOMB --socket $sock --endpoint "tcp://127.0.0.1:$p" \
                "${keyed[@]}" --duration 1000 &
            attack --type zbomb --socket $sock --endpoint "tcp://127.0.0.1:$p" "${keyed[@]}" \
                --duration 1000 &
        done
        wait
    done
    #  Raw TCP that is not ZMTP at all.
    for p in "$port" $((port + 1)) $((port + 2)); do
        for _ in $(seq 200); do
            (exec 3<>"/dev/tcp/127.0.0.1/$p" && head -c 4096 /dev/urandom >&3) 2>/dev/null
        done
    done
}

insiders() {
    local control=(--endpoint "tcp://127.0.0.1:$port" --socket dealer --key "$dir/.dlb/client.cert" --server-key "$a_cert")
    local transfer=(--endpoint "tcp://127.0.0.1:$((port + 2))" --key "$c_key" --server-key "$a_cert" --from c)
    local rogue=(--bind --endpoint "tcp://127.0.0.1:$((port_c + 1))" --key "$c_key")
    #  a subscribes to c's state port under c's key: a rogue with c's key in
    #  c's place reaches a's state decoders.
    "$cluster" stop-node c --dir "$dir" >/dev/null
    #  The bombs first, so that their refusals are among the warnings logged
    #  in full; then the junk.
    attack --type oversize --size $((BIG + 1)) "${transfer[@]}" --duration 10000
    attack --type objects --size $BOMB "${transfer[@]}" --duration 10000
    attack --type zbomb --count 20 "${transfer[@]}" --duration 5000
    for s in oversize objects; do
        local size=$SMALL
        [ $s = oversize ] && size=$((SMALL + 1))
        attack --type $s --size $size --count 20 "${rogue[@]}" --duration 3000 &
        attack --type $s --size $size "${control[@]}" --duration 1000
        wait
    done
    attack --type junk --count "$junk" "${rogue[@]}" --duration 8000 &
    attack --type junk --count "$junk" "${transfer[@]}" --duration 10000 &
    attack --type junk --count "$junk" "${control[@]}" --duration 1000 &
    wait
    "$cluster" start-node c --dir "$dir" >/dev/null || problem "start-node c"
}

subscriptions() {
    attack --type subscribe --count 5000 --size 1024 --socket xsub --key "$c_key" \
        --server-key "$a_cert" --endpoint "tcp://127.0.0.1:$((port + 1))" --duration 2000
}

echo "flood.sh: a keyed 3-node cluster; target node a (pids: $(awk '{ printf "%s=%s ", $3, $1 }' "$dir/pids"))"
phase outsiders outsiders
phase insiders insiders
phase subscriptions subscriptions
echo
grep -h "^dlb_attack:" "$dir/attack.out" | sed 's/^/  /' > "$dir/summary"
echo "senders: $(wc -l < "$dir/summary") dlb_attack runs; sent in all: $(awk '{ s += $4 } END { print s }' "$dir/summary") messages; control replies: $(awk '{ s += $8 } END { print s }' "$dir/summary" | tr -d ,)"
echo "largest sender: $(sort -n "$dir/sender.mem" | tail -1 | awk '{ printf "%.0f MiB peak RSS:", $1 / 1024; for (i = 5; i <= 8; i++) printf " %s", $i }')"
((failed)) && { echo "flood.sh: FAILED"; exit 1; }
echo "flood.sh: every service up, under its bound, and every workload exact"
