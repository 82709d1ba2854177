#!/usr/bin/env bash
#  The dlb demo: installs what is missing, builds, starts a two-node cluster
#  on this machine (node b throttled to 0.5), runs the default workload
#  (1,048,576 float64 in 1,024 jobs) from node a with a progress bar, prints
#  a summary, and stops the cluster. Logs stay in the run directory.
#  With --web, dlb-web serves the dashboard of both nodes beside them (its
#  address is printed; --web-listen ADDR:PORT, default 127.0.0.1:7180), and
#  the cluster stays up after the summary until Ctrl-C.
#  Usage: scripts/demo.sh [--policy NAME] [--throttle A,B] [--dir DIR] [--port BASE]
#                         [--web] [--web-listen ADDR:PORT]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
policy=receiver throttles=1.0,0.5 dir="$top/demo-run" port=7100 web="" web_listen=127.0.0.1:7180
while [ $# -gt 0 ]; do
    case "$1" in
        --policy) policy=$2; shift 2 ;;
        --throttle) throttles=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --web) web=1; shift ;;
        --web-listen) web=1; web_listen=$2; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
"$top/scripts/install-deps.sh"
echo "== building"
"$top/scripts/build.sh" "$top/build" >/dev/null
bin="$top/build"
echo "== starting two nodes (throttles $throttles, policy $policy); logs in $dir"
"$bin/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"
nodes=$("$bin/dlb-cluster" up --nodes 2 --throttle "$throttles" --policy "$policy" \
    --port "$port" --dir "$dir") || exit 1
echo "$nodes"
#  What dlbctl takes as --node: each node's node file (endpoint and keys).
a=$(echo "$nodes" | awk '$1 == "a" { print $2 }') b=$(echo "$nodes" | awk '$1 == "b" { print $2 }')
web_pid=""
trap '[ -z "$web_pid" ] || kill "$web_pid" 2>/dev/null; "$bin/dlb-cluster" down --dir "$dir" >/dev/null 2>&1 || true' EXIT INT TERM
echo "   (watch the story: tail -f $dir/*.log)"
if [ -n "$web" ]; then
    "$bin/dlb-web" --node "$a" --node "$b" --listen "$web_listen" > "$dir/web.out" 2> "$dir/web.log" &
    web_pid=$!
    for _ in $(seq 100); do grep -q '^dlb-web: serving' "$dir/web.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^dlb-web: serving' "$dir/web.out" || { echo "demo: dlb-web did not start:" >&2; cat "$dir/web.log" >&2; exit 1; }
    echo "== dashboard: $(grep -o 'http://[^ ]*' "$dir/web.out" | tail -1)"
fi

echo "== submitting the default workload to node a"
id=$("$bin/dlbctl" --node "$a" submit --output result.npy)
echo "   workload $id"
ok=0
"$bin/dlbctl" --node "$a" wait "$id" || ok=$?
sa=$("$bin/dlbctl" --node "$a" status --json)
sb=$("$bin/dlbctl" --node "$b" status --json)
w=$(echo "$sa" | jq --arg id "$id" '.workloads[] | select(.id == $id)')
q() { echo "$1" | jq -r "$2"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }
kib() { awk -v b="$1" 'BEGIN {printf "%.1f KiB", b / 1024}'; }

echo
echo "== summary"
printf '  makespan           %.2f s\n' "$(q "$w" .elapsed_s)"
printf '  jobs run           a: %s, b: %s (of %s)\n' "$(q "$w" '.ran.a // 0')" "$(q "$w" '.ran.b // 0')" "$(q "$w" .jobs)"
printf '  jobs moved         a -> b: %s, b -> a: %s\n' "$(q "$sa" .transfer.jobs_sent)" "$(q "$sb" .transfer.jobs_sent)"
printf '  results returned   b -> a: %s\n' "$(q "$sb" .transfer.results_sent)"
raw=$(( $(q "$sa" .transfer.raw_bytes) + $(q "$sb" .transfer.raw_bytes) ))
wire=$(( $(q "$sa" .transfer.wire_bytes) + $(q "$sb" .transfer.wire_bytes) ))
printf '  bytes on the wire  %s before compression, %s after\n' "$(mib $raw)" "$(kib $wire)"
printf '  result             %s, verified: %s\n' "$dir/result.npy" "$(q "$w" .verified)"
[ "$ok" -eq 0 ] || { echo "demo: the workload did not complete and verify" >&2; exit 1; }
if [ -n "$web" ]; then
    echo "== the cluster and the dashboard stay up: $(grep -o 'http://[^ ]*' "$dir/web.out" | tail -1) (Ctrl-C stops them)"
    wait "$web_pid" || true
fi
