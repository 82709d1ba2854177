#  Helpers shared by the integration tests under tests/ and the benches under
#  bench/, sourced by them. Not a test itself: ctest runs tests/*.sh only.

#  ms: the wall clock in milliseconds.
ms() { echo $(($(date +%s%N) / 1000000)); }

#  wait_for SECS CMD...: runs CMD every 50 ms until it succeeds; returns 1
#  once SECS have passed without.
wait_for() {
    local deadline=$(($(ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(ms) < deadline)) || return 1
        sleep 0.05
    done
}

#  require NAME FILE...: exits 77 (ctest's skip) with a message unless every
#  FILE is an executable and jq is installed.
require() {
    local name=$1 f
    shift
    for f; do
        [ -x "$f" ] || { echo "$name: $f not built; skipping" >&2; exit 77; }
    done
    command -v jq >/dev/null || { echo "$name: jq not installed; skipping" >&2; exit 77; }
}

#  require_netns NAME: exits 77 (ctest's skip) with a message unless this is
#  root and network namespaces can be made here (dlb-cluster up --netns).
require_netns() {
    [ "$(id -u)" -eq 0 ] || { echo "$1: not root; skipping" >&2; exit 77; }
    command -v ip >/dev/null || { echo "$1: no 'ip' (iproute2); skipping" >&2; exit 77; }
    local probe=dlb-probe-$$
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "$1: 'ip netns add' fails here; skipping" >&2
        exit 77
    fi
    ip netns del "$probe"
}

#  control_of NODE: the control endpoint tcp://HOST:PORT of a node, from what
#  `dlb-cluster up` printed for it (a node file, or the endpoint without keys).
control_of() {
    if [ -f "$1" ]; then sed -n 's/^ *control = "\(.*\)"/\1/p' "$1"; else echo "$1"; fi
}

#  control_port NODE: the port of control_of NODE.
control_port() {
    local control
    control=$(control_of "$1")
    echo "${control##*:}"
}

#  require_netns NAME: exits 77 (skip) with a message unless this is root
#  and a network namespace can be made (iproute2 present).
require_netns() {
    [ "$(id -u)" -eq 0 ] || { echo "$1: not root; skipping" >&2; exit 77; }
    command -v ip >/dev/null || { echo "$1: no 'ip' (iproute2); skipping" >&2; exit 77; }
    local probe=dlb-probe-$$
    ip netns add "$probe" 2>/dev/null || { echo "$1: 'ip netns add' fails here; skipping" >&2; exit 77; }
    ip netns del "$probe"
}

#  tail_logs LINES LOG...: the last LINES of each LOG, headed by its name, on stderr.
tail_logs() {
    local lines=$1 log
    shift
    for log; do
        echo "--- $log" >&2
        tail -n "$lines" "$log" >&2
    done
}
