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
