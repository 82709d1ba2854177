#!/usr/bin/env bash
#  Integration test: dlb-bench, the fair-comparison harness. A tiny scenario
#  (two nodes in network namespaces, 128 short jobs, policies none and
#  receiver, one round) whose node b replays a dlb-collect CSV (CPU, disk,
#  and network to a sink on node a) and gets a throttle change mid-run. It
#  checks that every output exists and is well formed: runs.csv has one
#  complete, verified row per policy with ideal <= makespan and replay
#  fidelity for CPU, disk and network; summary.md has the table; the PNGs are
#  PNGs. And that a bad scenario file is refused with its line and field.
#  Usage: tests/test_bench.sh BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: not
#  root, no network namespaces, no python3 or jq). ctest label: netns.
set -uo pipefail
build=$(cd "${1:?usage: test_bench.sh BUILD_DIR}" && pwd)
bench=$build/dlb-bench
source "$(dirname "$0")/lib.bash"
require test_bench "$bench" "$build/dlb-cluster" "$build/dlb-replay" "$build/dlbctl"
command -v python3 >/dev/null || { echo "test_bench: no python3; skipping" >&2; exit 77; }
require_netns test_bench

top=$(mktemp -d /tmp/dlb-test-bench.XXXXXX)
trap 'rm -rf "$top"' EXIT
fail() {
    echo "FAIL: $*" >&2
    [ -f "$top/out/runs.csv" ] && cat "$top/out/runs.csv" >&2
    [ -f "$top/bench.log" ] && tail -n 20 "$top/bench.log" >&2
    exit 1
}

#  A user's own history, as dlb-collect writes it: 30 samples.
{
    echo "timestamp,cpu_total,cpu0,cpu1,runq,load1,disk_read_bps,disk_write_bps,net_in_bps,net_out_bps"
    for i in $(seq 0 29); do
        echo "$((1700000000 + i)),$((20 + (i * 7) % 40)),0,0,1,0.5,$((200000 + i * 4096)),100000,20000,50000"
    done
} >"$top/history.csv"

cat >"$top/tiny.scn" <<'SCN'
# the self-check of tests/test_bench.sh
name tiny
workload jobs=128 elements=131072 reps=50000
node a throttle=1.0
node b throttle=0.5
load b history.csv seconds-per-sample=0.5 disk=on net=a
throttle b 0.5 0.8
policy none
policy receiver
rounds 1
lead 1
timeout 60
SCN

#  A bad scenario first: its line and field are named, and the exit is 2.
printf 'node a\nnode c cpus=0\npolicy none\n' >"$top/bad.scn"
err=$("$bench" "$top/bad.scn" 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "bad scenario: exit $rc, expected 2"
[[ $err == *"bad.scn:2: node NAME"*"must be 'b'"* ]] || fail "bad scenario: unclear error: $err"
printf 'node a\nload a history.csv seconds-per-sample=x\npolicy none\n' >"$top/bad2.scn"
err=$("$bench" "$top/bad2.scn" 2>&1)
[[ $err == *"bad2.scn:2: load seconds-per-sample: 'x' is not a number"* ]] ||
    fail "bad scenario 2: unclear error: $err"

start=$(ms)
"$bench" "$top/tiny.scn" --out "$top/out" >"$top/bench.log" 2>&1 || fail "dlb-bench exited $?"
echo "test_bench: dlb-bench ran in $(( ($(ms) - start) / 1000 )) s" >&2
grep -q '^dlb-bench: \[2/2\]' "$top/bench.log" || fail "no progress lines"

python3 - "$top/out" <<'PY' || fail "outputs are not well formed"
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
assert sorted(r["policy"] for r in rows) == ["none", "receiver"], rows
for r in rows:
    assert r["state"] == "complete" and r["verified"] == "True", r
    m, i, e = float(r["makespan_s"]), float(r["ideal_s"]), float(r["efficiency"])
    #  The ideal rests on a job cost measured beside the run (dlb-kernel cost,
    #  a median on a shared machine): a few per cent of error in it is
    #  measurement, more is a wrong ideal.
    assert 0 < i <= 1.1 * m, f"ideal {i} > 1.1 x makespan {m}"
    assert abs(e - i / m) < 0.01, r
    assert float(r["ideal_machine_s"]) > 0, r   # may pass m a little: see README
    assert int(r["jobs"]) == 128 and sum(int(x.split(":")[1]) for x in r["ran"].split()) == 128, r
    fid = json.loads(r["fidelity"])["b"]
    assert fid["cpu"]["mode"] == "own" and float(fid["cpu"]["mean_dev"]) >= 0, fid
    assert int(fid["disk"]["intervals"]) > 0 and int(fid["net"]["sent"]) > 0, fid
    assert float(r["replay_mean_dev"]) >= 0, r
    #  The rebalance time after the throttle change rests on each pool's job
    #  cost around it (compute threads' CPU over jobs done, 5 s either side:
    #  the whole run here), so it is near the run's; '-' would mean too few
    #  jobs were seen, and the run's cost stood in.
    local = [float(x) for x in r["change_cost_ms"].split("/")]
    whole = [float(x) for x in r["worker_cost_ms"].split()]
    assert len(local) == len(whole) == 2, r
    assert all(0.5 * w <= l <= 2 * w for l, w in zip(local, whole)), (local, whole)
    assert len(r["rebalance_s"].split()) == len(r["rebalance_before_s"].split()) == 1, r
    series = os.path.join(out, "runs", "r1-" + r["policy"], "series.csv")
    series_rows = list(csv.DictReader(open(series)))
    kinds = {row["kind"] for row in series_rows}
    assert kinds == {"status", "owner", "target", "share"}, kinds
    #  the shares the verdict rests on: per pool (node a's CPU, node b's),
    #  the jobs' no more than the CPUs free, both within one CPU
    share = [row for row in series_rows if row["kind"] == "share"]
    assert {row["node"] for row in share} == {"a", "b"}, share[:2]
    assert all(0 <= float(row["free_jobs_cpus"]) <= float(row["free_cpus"]) <= 1 for row in share)
    done = [int(row["done"]) for row in series_rows if row["kind"] == "status"]
    assert max(done) > 0, "no jobs done in the status polls"
md = open(os.path.join(out, "summary.md")).read()
assert "| policy | makespan s" in md and "| none |" in md and "| receiver |" in md, md
assert "Pending jobs" in md, md
PY
if command -v gnuplot >/dev/null; then
    for png in pending owner efficiency; do
        [ "$(head -c 4 "$top/out/$png.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
            fail "$png.png is not a PNG"
    done
else
    echo "test_bench: no gnuplot (scripts/install-deps.sh installs gnuplot-nox): PNGs not checked" >&2
fi
#  Nothing left behind: no namespace of any run.
for meta in "$top/out/runs"/*/cluster/cluster; do
    id=$(awk '$1 == "netns" { print $2 }' "$meta")
    [ -n "$id" ] || fail "$meta names no namespaces"
    ! ip netns list | grep -q "^dlb-$id-" || fail "the namespaces dlb-$id-* are left"
done
echo "test_bench: pass"
