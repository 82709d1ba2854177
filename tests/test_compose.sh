#!/usr/bin/env bash
#  Integration test: docker-compose.yml really runs. Builds the image
#  (scripts/build-image.sh: nothing is pulled; Docker's cache makes a rerun
#  fast), makes a bridge network on a free private subnet, and starts three
#  nodes a, b, c as three Compose projects with deploy/compose.bridge.yml,
#  each with its own address and data directory, as README.md "Three
#  machines" does on three machines. Then, with docker-compose (v1) and with
#  `docker compose` (v2) where installed:
#    1. every container is healthy and runs as the unprivileged user; once
#       each node's node.cert (made on its first start) is in the others'
#       trusted keys, `dlbctl status` inside node a (no --node: DLB_CONTROL
#       and the admin key) shows 3 live nodes; a dlbctl without a trusted
#       key is refused;
#    2. a workload submitted with `exec -T monitor dlbctl submit` completes
#       and verifies without faults, its output lands in a's data directory,
#       and the file is still there after `down` and `up` of node a;
#    3. a second workload completes exact although node b's containers are
#       killed (docker kill) while it runs and node c is disconnected from the
#       network for 10 s and then reconnected.
#  Everything it makes (containers, network, data directories) goes on exit;
#  the images stay, for the next run. Exits 77 (skip) only if no Docker
#  daemon answers.
#  Usage: tests/test_compose.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
readonly IMAGE=dlbtest-node:latest
readonly PORT=7100            #  every node has its own address, so one port
readonly NODES=(a b c)
readonly HOSTS=(11 12 13)     #  the nodes' last octets on the test subnet
readonly DISCONNECT=10        #  secs node c spends off the network (on purpose)
readonly HEALTHY_TIMEOUT=90   #  secs for 15 containers to report healthy
readonly CLUSTER_TIMEOUT=60   #  secs for node a to see 3 live nodes
readonly SPREAD_TIMEOUT=60    #  secs for the workload to reach node b
#  The workloads' deadlines are for progress (dlbctl wait --stall): with
#  other work on the machine the containers' share of the CPU, and so a
#  workload's length, is anyone's guess (a fixed 180 s failed beside two
#  busy loops); a workload with no job done for STALL secs is stuck. The
#  limits for the whole are backstops.
readonly STALL=60             #  secs without a job done
readonly QUIET_TIMEOUT=300    #  secs for the fault-free workload
readonly FAULT_TIMEOUT=600    #  secs for the workload with faults (about 30 s on a quiet machine)
readonly STEP_TIMEOUT=60      #  secs for any single docker or compose command
readonly POLL=0.5             #  secs between checks

run=dlbtest-$$               #  prefix of every name this run makes
work=""
network=""
subnet_prefix=""
compose=""                   #  the Compose command of the current round
failures=0

note() { echo "test_compose: $*" >&2; }
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

if ! command -v docker >/dev/null || ! timeout 20 docker info >/dev/null 2>&1; then
    note "no Docker daemon answers (docker info); skipping"
    exit 77
fi
for tool in jq ip curl; do
    command -v "$tool" >/dev/null || { note "$tool is missing (scripts/install-deps.sh)"; exit 1; }
done
composers=()
command -v docker-compose >/dev/null && composers+=("docker-compose")
if docker compose version >/dev/null 2>&1; then
    composers+=("docker compose")
else
    note "docker compose (v2) is not installed: only docker-compose is tried"
fi
if [ ${#composers[@]} -eq 0 ]; then
    note "neither docker-compose nor docker compose is installed (scripts/install-deps.sh)"
    exit 1
fi

#  ip_of NODE: the node's address on the test network.
ip_of() {
    local i
    for i in "${!NODES[@]}"; do
        [ "${NODES[$i]}" = "$1" ] && { echo "$subnet_prefix.${HOSTS[$i]}"; return; }
    done
}

#  dc NODE ARGS...: the Compose command of this round for node NODE's project,
#  with the variables that make it that node (they are needed by every
#  command, down included, since Compose interpolates the whole file).
#  Bounded by STEP_TIMEOUT, or by dc_timeout if the caller sets it.
dc() {
    local node=$1 peers="" other
    shift
    for other in "${NODES[@]}"; do
        [ "$other" = "$node" ] || peers+="${peers:+,}$(ip_of "$other"):$PORT"
    done
    DLB_NODE=$node DLB_ADDRESS=$(ip_of "$node") DLB_PEERS=$peers DLB_PORT=$PORT \
    DLB_NETWORK=$network DLB_IMAGE=$IMAGE DLB_DATA=$work/$node \
    DLB_UID=$data_uid DLB_GID=$data_gid DLB_THREADS=1 \
        timeout "${dc_timeout:-$STEP_TIMEOUT}" $compose -p "$run-$node" \
        -f "$top/docker-compose.yml" -f "$top/deploy/compose.bridge.yml" \
        -f "$work/equal.yml" "$@"
}

#  containers NODE [SERVICE]: ids of the node's containers, from their
#  Compose labels (works the same with v1 and v2, running or not).
containers() {
    docker ps -aq --filter "label=com.docker.compose.project=$run-$1" \
        ${2:+--filter "label=com.docker.compose.service=$2"}
}

#  status NODE: the node's `dlbctl status --json`, asked inside its monitor
#  container without --node (so through DLB_CONTROL).
status() {
    local id
    id=$(containers "$1" monitor) && [ -n "$id" ] &&
        timeout 10 docker exec "$id" dlbctl --timeout 3 status --json 2>/dev/null
}

#  wait_for SECS CMD...: polls CMD until it succeeds or SECS pass.
wait_for() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep "$POLL"
    done
}

readonly SERVICES=(monitor worker state transfer adaptor)

all_healthy() {
    local node service id health
    for node in "${NODES[@]}"; do
        for service in "${SERVICES[@]}"; do
            id=$(containers "$node" "$service")
            [ -n "$id" ] || return 1
            health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
            [ "$health" = healthy ] || return 1
        done
    done
}

#  live_nodes NODE COUNT: NODE's status lists COUNT nodes, none stale.
live_nodes() {
    [ "$(status "$1" | jq '[.nodes[] | select(.stale | not)] | length')" = "$2" ] 2>/dev/null
}

#  on_b ID: node a's status says node b holds or ran jobs of workload ID.
on_b() {
    status a | jq -e --arg id "$ID_UNDER_TEST" \
        '((.nodes[] | select(.node == "b") | .queue) > 0)
         or (((.workloads[] | select(.id == $id) | .ran.b) // 0) > 0)' >/dev/null 2>&1
}

show_logs() {
    local node
    for node in "${NODES[@]}"; do
        echo "--- node $node (last lines of each service)" >&2
        dc "$node" logs --no-color --tail 12 2>&1 | sed 's/^/    /' >&2
    done
}

#  down_all: stops and removes the three projects' containers (by project,
#  then any left by id), keeping the network and the data directories.
down_all() {
    local node ids
    for node in "${NODES[@]}"; do
        dc "$node" down --timeout 5 >/dev/null 2>&1
        ids=$(containers "$node")
        [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
    done
}

cleanup() {
    [ -n "$compose" ] && down_all
    [ -n "$network" ] && docker network rm "$network" >/dev/null 2>&1
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

#  ---- the image -----------------------------------------------------------
started=$(date +%s)
"$top/scripts/build-image.sh" --tag "$IMAGE" >/dev/null || { note "the image did not build"; exit 1; }
note "image $IMAGE ready in $(($(date +%s) - started)) s"

#  ---- a bridge network on a subnet nothing here uses ----------------------
#  ip_int A.B.C.D: the address as an integer.
ip_int() {
    local IFS=. a b c d
    read -r a b c d <<<"$1"
    echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
#  overlaps NET/LEN NET/LEN: the two prefixes share an address.
overlaps() {
    local m=$((${1#*/} < ${2#*/} ? ${1#*/} : ${2#*/}))
    (((($(ip_int "${1%/*}") ^ $(ip_int "${2%/*}")) >> (32 - m)) == 0))
}
used=$( (
    docker network inspect $(docker network ls -q) \
        -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null
    ip -4 -o addr show | awk '{print $4}'
    ip -4 route show table all | awk '$1 ~ /^[0-9.]+(\/[0-9]+)?$/ {print $1}'
) | tr ' ' '\n' | grep -E '^[0-9.]+(/[0-9]+)?$' | sed -E '/\//!s/$/\/32/')
for third in $(seq 40 99); do
    candidate=10.213.$third.0/24
    clash=0
    for net in $used; do
        overlaps "$candidate" "$net" && { clash=1; break; }
    done
    ((clash)) && continue
    #  Another run may take it between the check and here: then try the next.
    if docker network create --driver bridge --subnet "$candidate" \
        --label dlbtest=1 "$run-net" >/dev/null 2>&1; then
        network=$run-net
        subnet_prefix=10.213.$third
        break
    fi
done
[ -n "$network" ] || { note "found no free subnet in 10.213.40-99.0/24"; exit 1; }
note "network $network on $subnet_prefix.0/24"

#  The services run as the image's user 10001, which must own the data
#  directories; a caller that cannot chown runs them as itself instead.
work=$(mktemp -d "/tmp/$run.XXXXXX")
chmod 755 "$work"
#  The workers compete as equals here (their default, the lowest cgroup
#  weight, lets a machine busy with other work starve them, as it should),
#  as ctest's DLB_PRIORITY=normal does for the other tests.
printf 'version: "3.8"\nservices:\n  worker:\n    cpu_shares: 1024\n' >"$work/equal.yml"
if [ "$(id -u)" -eq 0 ]; then data_uid=10001 data_gid=10001; else data_uid=$(id -u) data_gid=$(id -g); fi

#  ---- one round per Compose implementation --------------------------------
for compose in "${composers[@]}"; do
    round_failures=$failures
    note "== $compose ($($compose version --short 2>/dev/null || $compose version | head -n 1))"
    for node in "${NODES[@]}"; do
        rm -rf "${work:?}/$node"
        mkdir -p "$work/$node"
        chown "$data_uid:$data_gid" "$work/$node"
    done

    for node in "${NODES[@]}"; do
        dc "$node" up -d --no-build >/dev/null 2>"$work/up.err" ||
            { fail "$compose up of node $node: $(tail -n 5 "$work/up.err")"; }
    done

    #  As on three machines: each node made its key pair on its first start;
    #  each node's node.cert goes into the others' trusted keys.
    for node in "${NODES[@]}"; do
        wait_for "$HEALTHY_TIMEOUT" test -s "$work/$node/.dlb/keys/node.cert" ||
            fail "node $node made no key pair in $work/$node/.dlb/keys"
    done
    for node in "${NODES[@]}"; do
        for other in "${NODES[@]}"; do
            [ "$other" = "$node" ] && continue
            cp "$work/$other/.dlb/keys/node.cert" "$work/$node/.dlb/keys/trusted/$other.cert" &&
                chown "$data_uid:$data_gid" "$work/$node/.dlb/keys/trusted/$other.cert" ||
                fail "cannot give $other's node.cert to $node"
        done
    done

    echo "1. healthy containers, unprivileged, keyed, a cluster of three" >&2
    wait_for "$HEALTHY_TIMEOUT" all_healthy || fail "not all 15 containers healthy in ${HEALTHY_TIMEOUT} s"
    for service in "${SERVICES[@]}"; do
        id=$(containers a "$service")
        uid=$(timeout 10 docker exec "$id" id -u)
        [ "$uid" = "$data_uid" ] || fail "container $id runs as uid '$uid', not $data_uid"
    done
    wait_for "$CLUSTER_TIMEOUT" live_nodes a 3 || fail "node a does not see 3 live nodes: $(status a | jq -c '[.nodes[] | {node, stale}]' 2>/dev/null)"
    dc a exec -T monitor dlbctl status >"$work/status.out" 2>&1 ||
        fail "dlbctl status through DLB_CONTROL: $(head -n 3 "$work/status.out")"
    if dc a exec -T -e DLB_KEY=/data/.dlb/keys/stranger.cert monitor \
        sh -c 'dlbctl keygen --client --out /data/.dlb/keys/stranger.cert >/dev/null && dlbctl --timeout 5 status' \
        >"$work/stranger.out" 2>&1; then
        fail "a dlbctl with an untrusted key controlled node a"
    fi
    grep -q "refused the key" "$work/stranger.out" ||
        fail "an untrusted key was not told it was refused: $(head -n 3 "$work/stranger.out")"

    echo "   the dashboard: --profile web serves node a's cluster" >&2
    #  Beside node a, on its address (0.0.0.0 inside its namespace), so with
    #  a login token, from a file in its data directory.
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/a/web.token"
    chown "$data_uid:$data_gid" "$work/a/web.token" && chmod 600 "$work/a/web.token"
    web_metrics() {
        curl -sf -H "Authorization: Bearer $(cat "$work/a/web.token")" \
            "http://$(ip_of a):7180/metrics" >"$work/metrics" 2>/dev/null &&
            grep -q '^dlb_up{node="a"} 1' "$work/metrics" &&
            grep -q '^dlb_node_stale{node="c"} 0' "$work/metrics"
    }
    if DLB_WEB_LISTEN=0.0.0.0:7180 DLB_WEB_TOKEN_FILE=/data/web.token \
        dc a --profile web up -d --no-build web >/dev/null 2>"$work/up.err"; then
        wait_for "$CLUSTER_TIMEOUT" web_metrics ||
            fail "dlb-web of node a: no metrics of a live cluster at $(ip_of a):7180: $(head -c 300 "$work/metrics" 2>/dev/null) $(docker logs "$(containers a web)" 2>&1 | tail -n 3)"
        curl -s -o /dev/null -w '%{http_code}' "http://$(ip_of a):7180/metrics" | grep -q 401 ||
            fail "dlb-web of node a answered without its token"
        dc a --profile web rm -sf web >/dev/null 2>&1 || fail "$compose rm of node a's web"
    else
        fail "$compose --profile web up of node a: $(tail -n 5 "$work/up.err")"
    fi

    echo "2. a workload without faults; its output survives down and up" >&2
    if id=$(dc a exec -T monitor dlbctl submit --elements 65536 --jobs 64 --reps 20000 \
        --output /data/quiet.npy 2>"$work/submit.err"); then
        id=$(echo "$id" | tr -d '\r')
        out=$(dc_timeout=$((QUIET_TIMEOUT + 30)) dc a exec -T monitor dlbctl wait "$id" --timeout "$QUIET_TIMEOUT" --stall "$STALL" 2>"$work/wait.err")
        rc=$?
        [ "$rc" -eq 0 ] && grep -q "complete: .*verified" <<<"$out" ||
            fail "workload $id without faults: exit $rc, '$out' $(tail -n 2 "$work/wait.err")"
        [ -s "$work/a/quiet.npy" ] || fail "no quiet.npy in node a's data directory"
    else
        fail "submit to node a: $(cat "$work/submit.err")"
    fi
    dc a down --timeout 5 >/dev/null 2>&1 || fail "$compose down of node a"
    [ -s "$work/a/quiet.npy" ] || fail "quiet.npy did not survive down of node a"
    dc a up -d --no-build >/dev/null 2>"$work/up.err" || fail "up again of node a: $(tail -n 5 "$work/up.err")"
    wait_for "$CLUSTER_TIMEOUT" live_nodes a 3 || fail "node a back up does not see 3 live nodes"

    echo "3. a workload while b is killed and c is cut off for $DISCONNECT s" >&2
    if ID_UNDER_TEST=$(dc a exec -T monitor dlbctl submit --elements 1048576 --jobs 1024 \
        --reps 100000 --output /data/faults.npy 2>"$work/submit.err"); then
        ID_UNDER_TEST=$(echo "$ID_UNDER_TEST" | tr -d '\r')
        dc_timeout=$((FAULT_TIMEOUT + 30)) dc a exec -T monitor dlbctl wait "$ID_UNDER_TEST" --timeout "$FAULT_TIMEOUT" --stall "$STALL" \
            >"$work/faults.out" 2>"$work/wait.err" &
        waiter=$!
        wait_for "$SPREAD_TIMEOUT" on_b || fail "workload $ID_UNDER_TEST never reached node b"
        ids=$(containers b)
        docker kill $ids >/dev/null || fail "docker kill of node b"
        c_net=$(containers c net)
        docker network disconnect "$network" "$c_net" || fail "disconnect of node c"
        note "node b killed, node c disconnected; waiting $DISCONNECT s"
        sleep "$DISCONNECT"
        docker network connect --ip "$(ip_of c)" "$network" "$c_net" || fail "reconnect of node c"
        wait "$waiter"
        rc=$?
        out=$(cat "$work/faults.out")
        [ "$rc" -eq 0 ] && grep -q "complete: .*verified" <<<"$out" ||
            fail "workload $ID_UNDER_TEST with faults: exit $rc, '$out' $(tail -n 2 "$work/wait.err") (the jobs lost with node b must be run again elsewhere)"
        [ -s "$work/a/faults.npy" ] || fail "no faults.npy in node a's data directory"
    else
        fail "submit to node a: $(cat "$work/submit.err")"
    fi

    ((failures > round_failures)) && show_logs
    down_all
done

if ((failures)); then
    note "$failures check(s) failed"
    exit 1
fi
note "passed with ${composers[*]}"
exit 0
