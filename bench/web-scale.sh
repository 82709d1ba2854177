#!/usr/bin/env bash
#  The dashboard at scale: starts an N-node cluster (8 by default) on this
#  machine, dlb-web attached to every node, and headless Chromium on the
#  page (bench/web_scale.py); makes the nodes emit events (throttle changes
#  on every node, dlbctl throttle --all) until the page holds E events
#  (10,000 by default, the page's bound), timing meanwhile how long the
#  page's main thread takes to answer; then times a text filter, a node
#  filter and clearing them over those events, and prints a table.
#  Usage: bash bench/web-scale.sh [--nodes N] [--events E] [--build DIR]
#                                 [--shot FILE.png]
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^[^#]/{/^#/s/^#  \{0,1\}//p}' "$0"; exit 0 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build nodes=8 events=10000 shot=""
while (($#)); do
    case $1 in
        --nodes) nodes=$2; shift 2 ;;
        --events) events=$2; shift 2 ;;
        --build) build=$(cd "$2" && pwd); shift 2 ;;
        --shot) shot=$2; shift 2 ;;
        *) echo "web-scale.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "web-scale.sh: needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/dlb-web-scale.XXXXXX)
web_pid=""
cleanup() {
    [ -z "$web_pid" ] || kill "$web_pid" 2>/dev/null || true
    "$build/dlb-cluster" down --dir "$dir/run" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

echo "web-scale: $nodes nodes, $events events" >&2
"$build/dlb-cluster" up --nodes "$nodes" --port 0 --dir "$dir/run" >"$dir/nodes"
args=()
while read -r name file; do args+=(--node "$file"); done < <(grep '\.node$' "$dir/nodes")
((${#args[@]} == 2 * nodes)) || { echo "web-scale.sh: expected $nodes node files: $(cat "$dir/nodes")" >&2; exit 1; }
"$build/dlb-web" "${args[@]}" --listen 127.0.0.1:0 >"$dir/web.out" 2>"$dir/web.err" &
web_pid=$!
url=""
for _ in $(seq 1 200); do
    url=$(sed -n 's|^dlb-web: serving \(http://127.0.0.1:[0-9]*/\).*|\1|p' "$dir/web.out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "web-scale.sh: dlb-web did not start: $(cat "$dir/web.err")" >&2; exit 1; }
a=$dir/run/a.node
#  One round of the generator: every node's throttle to 0.9 and back, 40
#  times (80 events a node per round); the measurement starts it again
#  until the page holds enough.
gen=(bash -c "for i in \$(seq 1 40); do '$build/dlbctl' --node '$a' throttle --all 0.9 >/dev/null;
              '$build/dlbctl' --node '$a' throttle --all 1 >/dev/null; done")
DLB_WEB_SCALE_SHOT=$shot /usr/bin/python3 "$top/bench/web_scale.py" "$url" "$events" "$nodes" \
    "${gen[@]}" >"$dir/figures"
read -r line <"$dir/figures"
declare -A f
for kv in $line; do f[${kv%%=*}]=${kv#*=}; done
printf '\n| nodes | events kept | drawn | first view | main thread: median / p95 / max | text filter | node filter | clear | JS heap |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
printf '| %s | %s | %s | %s s | %s / %s / %s ms (%s samples) | %s ms | %s ms | %s ms | %s MiB |\n' \
    "${f[nodes]}" "${f[events_kept]}" "${f[events_drawn]}" "${f[first_view_s]}" \
    "${f[main_thread_ms_median]}" "${f[main_thread_ms_p95]}" "${f[main_thread_ms_max]}" \
    "${f[samples]}" "${f[filter_text_ms]}" "${f[filter_node_ms]}" "${f[clear_ms]}" "${f[js_heap_mb]}"
