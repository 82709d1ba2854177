#!/usr/bin/env bash
#  test_cli: the command-line surface of dlbctl and dlb-cluster, and the
#  docker-compose file, without a running node.
#  Usage: bash tests/test_cli.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip)
set -uo pipefail

build=${1:?usage: test_cli.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
readonly STEP_TIMEOUT=10 # secs any single command may take
failures=0
checked=0
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "  stdout: $(head -c 400 "$out")" >&2
    echo "  stderr: $(head -c 400 "$err")" >&2
    failures=$((failures + 1))
}

#  run EXPECTED_STATUS CMD...: runs CMD (bounded by STEP_TIMEOUT) and checks
#  its exit status. Returns 0 if it matched.
run() {
    local expected=$1 status
    shift
    checked=$((checked + 1))
    timeout "$STEP_TIMEOUT" "$@" >"$out" 2>"$err"
    status=$?
    if ((status != expected)); then
        fail "'$*' exited $status, expected $expected"
        return 1
    fi
    return 0
}

#  expect_in FILE PATTERN DESCRIPTION: FILE must match the extended regex.
expect_in() {
    grep -Eq -- "$2" "$1" || fail "$3: no match for '$2'"
}

dlbctl=$build/dlbctl
cluster=$build/dlb-cluster
have_any=0

if [[ -x $dlbctl ]]; then
    have_any=1
    run 0 "$dlbctl" --help && expect_in "$out" '^Usage: dlbctl' "dlbctl --help on stdout"
    for command in status throttle policy submit wait help; do
        run 0 "$dlbctl" "$command" --help &&
            expect_in "$out" "^Usage: .*dlbctl .*$command" "dlbctl $command --help"
    done
    #  Bad usage: exit 2, a message naming the problem, the usage on stderr.
    run 2 "$dlbctl" && expect_in "$err" 'no command' "dlbctl without a command"
    run 2 "$dlbctl" frobnicate && expect_in "$err" "unknown command 'frobnicate'" \
        "dlbctl unknown command"
    run 2 "$dlbctl" --bogus status && expect_in "$err" "unknown option '--bogus'" \
        "dlbctl unknown option"
    run 2 "$dlbctl" status --bogus && expect_in "$err" "unknown option '--bogus'" \
        "dlbctl status unknown option"
    run 2 "$dlbctl" --node nonsense status && expect_in "$err" "'nonsense'" \
        "dlbctl bad endpoint"
    run 2 "$dlbctl" --timeout 0 status && expect_in "$err" "--timeout '0'" \
        "dlbctl bad timeout"
    run 2 "$dlbctl" throttle && expect_in "$err" 'missing VALUE' "throttle without value"
    for value in 0 1.5 -1 abc; do
        run 2 "$dlbctl" throttle "$value" &&
            expect_in "$err" "throttle '$value'" "throttle $value"
    done
    run 2 "$dlbctl" policy fastest && expect_in "$err" "policy 'fastest'" "bad policy"
    run 2 "$dlbctl" submit && expect_in "$err" '--output' "submit without --output"
    run 2 "$dlbctl" submit --jobs 10 --elements 5 --output /tmp/x.npy &&
        expect_in "$err" 'more than --elements' "submit jobs > elements"
    run 2 "$dlbctl" submit --jobs 0 --output /tmp/x.npy &&
        expect_in "$err" "--jobs '0'" "submit zero jobs"
    run 2 "$dlbctl" submit --elements 10 --input /tmp/in.npy --output /tmp/x.npy &&
        expect_in "$err" 'exclude' "submit --elements with --input"
    run 2 "$dlbctl" wait && expect_in "$err" 'missing workload ID' "wait without id"
    run 2 "$dlbctl" wait a-1 --timeout -3 && expect_in "$err" "--timeout '-3'" \
        "wait bad timeout"
    run 2 "$dlbctl" wait a-1 --stall 0 && expect_in "$err" "--stall '0'" "wait bad stall"
    #  Paths are the node's business (in its data directory): absolute or
    #  relative, they reach the (absent) node as given.
    run 1 "$dlbctl" --node 127.0.0.1:1 --timeout 0.5 submit --output /no-such-dir-dlb/x.npy &&
        expect_in "$err" 'no answer' "submit with an absolute output path"
    run 1 "$dlbctl" --node 127.0.0.1:1 --timeout 0.5 submit --output no-such-dir-dlb/x.npy &&
        expect_in "$err" 'no answer' "submit relative output in a missing directory"
    run 2 "$dlbctl" submit --output '' && expect_in "$err" "--output ''" "submit empty output"

    #  No node: a clear "no answer" within about the timeout, exit 1.
    start=$(date +%s%N)
    run 1 "$dlbctl" --node tcp://127.0.0.1:1 --timeout 1 status &&
        expect_in "$err" 'no answer from tcp://127.0.0.1:1 within 1 s' "status without node"
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    ((elapsed_ms < 3000)) || fail "status without node took ${elapsed_ms} ms (timeout 1 s)"
    run 1 env DLB_CONTROL=127.0.0.1:1 "$dlbctl" --timeout 0.5 throttle 0.5 &&
        expect_in "$err" 'no answer from tcp://127.0.0.1:1' "DLB_CONTROL host:port"
    run 1 "$dlbctl" --node 127.0.0.1:1 --timeout 0.5 wait a-1 --timeout 5 &&
        expect_in "$err" 'no answer' "wait without node"
else
    echo "test_cli: $dlbctl not built; skipping its checks" >&2
fi

if [[ -x $cluster ]]; then
    have_any=1
    run 0 "$cluster" --help && expect_in "$out" '^Usage: dlb-cluster' "dlb-cluster --help"
    for command in up down status pids kill stop-node start-node; do
        run 0 "$cluster" "$command" --help && expect_in "$out" '^Usage: dlb-cluster' \
            "dlb-cluster $command --help"
    done
    run 2 "$cluster" && expect_in "$err" 'no command' "dlb-cluster without a command"
    run 2 "$cluster" frobnicate && expect_in "$err" "unknown command 'frobnicate'" \
        "dlb-cluster unknown command"
    run 2 "$cluster" up && expect_in "$err" '--nodes N is required' "up without --nodes"
    run 2 "$cluster" up --nodes 0 && expect_in "$err" "--nodes '0'" "up --nodes 0"
    run 2 "$cluster" up --nodes x && expect_in "$err" "--nodes 'x'" "up --nodes x"
    run 2 "$cluster" up --nodes 3 --throttle 1.0,0.5 &&
        expect_in "$err" 'has 2 values for 3 nodes' "up short throttle list"
    run 2 "$cluster" up --nodes 2 --throttle 1.0,0 && expect_in "$err" "value '0'" \
        "up throttle 0"
    run 2 "$cluster" up --nodes 2 --policy fastest && expect_in "$err" "'fastest'" \
        "up bad policy"
    #  (never bound: two nodes from this base would need ports past 65535)
    run 2 "$cluster" up --nodes 2 --port "$((65535 - 35))" && expect_in "$err" '65535' \
        "up ports out of range"
    run 2 "$cluster" down --bogus && expect_in "$err" "'--bogus'" "down bad argument"
    empty=$(mktemp -d)
    run 0 "$cluster" down --dir "$empty" && expect_in "$err" 'nothing to stop' \
        "down without a cluster"
    run 1 "$cluster" status --dir "$empty" && expect_in "$err" 'no cluster' \
        "status without a cluster"
    run 1 "$cluster" up --nodes 1 --dir "$empty" --bin "$empty" &&
        expect_in "$err" 'dlb-monitor is missing' "up without binaries"
    [[ -e $empty/supervisors || -e $empty/cluster ]] &&
        fail "up without binaries left $empty/supervisors or $empty/cluster behind"
    run 1 "$cluster" pids --dir "$empty" && expect_in "$err" 'no cluster' "pids without a cluster"
    run 2 "$cluster" kill a && expect_in "$err" 'NODE and SERVICE' "kill without a service"
    run 2 "$cluster" kill a frobnicator --dir "$empty" &&
        expect_in "$err" "unknown service 'frobnicator'" "kill an unknown service"
    run 2 "$cluster" kill a worker --signal NOPE && expect_in "$err" "--signal 'NOPE'" \
        "kill with a bad signal"
    run 2 "$cluster" stop-node && expect_in "$err" 'one NODE' "stop-node without a node"
    run 2 "$cluster" stop-node a --signal HUP && expect_in "$err" "--signal 'HUP'" \
        "stop-node with a signal other than TERM or KILL"
    run 1 "$cluster" start-node a --dir "$empty" && expect_in "$err" 'no cluster' \
        "start-node without a cluster"
    run 2 "$cluster" up --nodes 1 --port -1 && expect_in "$err" "--port '-1'" "up --port -1"
    rm -rf "$empty"
else
    echo "test_cli: $cluster not built; skipping its checks" >&2
fi

if command -v docker-compose >/dev/null; then
    run 0 docker-compose -f "$top/docker-compose.yml" config -q
    #  The bridge override needs the node's name, network and address, and
    #  says which is missing.
    bridge=(-f "$top/docker-compose.yml" -f "$top/deploy/compose.bridge.yml")
    run 0 env DLB_NODE=a DLB_NETWORK=n DLB_ADDRESS=10.0.0.1 docker-compose "${bridge[@]}" config -q
    run 1 env -u DLB_NODE DLB_NETWORK=n DLB_ADDRESS=10.0.0.1 docker-compose "${bridge[@]}" config -q &&
        expect_in "$err" 'set DLB_NODE to a name unique in the cluster' "bridge override without DLB_NODE"
    have_any=1
else
    echo "test_cli: docker-compose not installed; skipping the compose file check" >&2
fi

#  The systemd units: systemd-analyze verify finds no error and no warning
#  (it exits 0 on unknown keys, so its output must be empty). ExecStart and
#  ExecStartPre are pointed at this build, since it checks that the commands exist.
if command -v systemd-analyze >/dev/null && [[ -x $build/dlb-worker ]]; then
    have_any=1
    units=$(mktemp -d)
    for unit in "$top"/deploy/systemd/*.service "$top"/deploy/systemd/*.target; do
        sed "s|^\(ExecStart\(Pre\)\{0,1\}\)=/usr/local/bin/|\1=$(cd "$build" && pwd)/|" "$unit" >"$units/${unit##*/}"
    done
    run 0 env SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify dlb@alpha.target \
        dlb-{monitor,worker,state,transfer,adaptor}@alpha.service &&
        { [[ ! -s $out && ! -s $err ]] || fail "systemd-analyze verify: warnings"; }
    rm -rf "$units"
    run 2 bash "$top/deploy/systemd/install.sh" && expect_in "$err" 'NAME needed' \
        "deploy/systemd/install.sh without a name"
else
    echo "test_cli: systemd-analyze not installed; skipping the systemd unit check" >&2
fi

#  The containers' entrypoint: a usage error (exit 2) leaves the container
#  idle instead of exiting into a restart loop; any other status passes.
run 124 timeout 2 sh "$top/deploy/dlb-entrypoint" sh -c 'echo bad >&2; exit 2' &&
    expect_in "$err" 'not restarting it in a loop' "entrypoint after exit 2"
run 3 sh "$top/deploy/dlb-entrypoint" sh -c 'exit 3'
run 0 sh "$top/deploy/dlb-entrypoint" true

#  The scripts' --help prints their header comment, up to its Usage line,
#  and nothing of the code below it; none runs anything.
for script in scripts/build.sh scripts/test.sh scripts/demo.sh scripts/build-image.sh \
    scripts/make-base-image.sh bench/balance.sh bench/throttle.sh bench/replay-fidelity.sh \
    bench/chaos.sh bench/liveness.sh bench/flood.sh deploy/systemd/install.sh; do
    have_any=1
    run 0 bash "$top/$script" --help &&
        expect_in "$out" "^Usage: $script" "$script --help" &&
        { ! grep -q 'set -euo' "$out" || fail "$script --help prints its code"; }
done
run 2 bash "$top/bench/replay-fidelity.sh" many

if ((!have_any)); then
    echo "test_cli: nothing to test (no dlbctl, dlb-cluster or docker-compose)" >&2
    exit 77
fi
if ((failures)); then
    echo "test_cli: $failures of $checked checks failed" >&2
    exit 1
fi
echo "test_cli: $checked checks passed" >&2
exit 0
