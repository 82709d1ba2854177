#!/usr/bin/python3
"""Benchmark: the messages on each node's bus while a workload runs.

Starts a two-node cluster (dlb-cluster up), submits --jobs J jobs of
--elements N x --reps R to node a, subscribes to every service's bus
(RUN/BASE.bus.SERVICE, proto/README.md 3) of both nodes, and counts what
each publishes from submit to the workload's end, by message type, as
messages per second. Every message on a bus wakes each of its readers (and
the ZeroMQ I/O threads on both sides): this is where a node's control plane
spends its wake-ups (bench/idle.sh measures their CPU).

Usage: bench/bus.py [--jobs J] [--elements N] [--reps R] [--build DIR]
"""
import argparse
import collections
import glob
import os
import subprocess
import sys
import tempfile
import threading
import time

try:
    import zmq
except ImportError:
    sys.exit("bus.py: needs python3-zmq (scripts/install-deps.sh installs it)")

TYPES = {17: "STATUS", 20: "EVENT"}


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1024)
    ap.add_argument("--elements", type=int, default=1048576)
    ap.add_argument("--reps", type=int, default=50000)
    ap.add_argument("--build", default=os.path.join(top, "build"))
    a = ap.parse_args()
    cluster, ctl = os.path.join(a.build, "dlb-cluster"), os.path.join(a.build, "dlbctl")
    if not os.access(cluster, os.X_OK):
        sys.exit(f"bus.py: no {cluster}: build first (scripts/build.sh)")
    with tempfile.TemporaryDirectory(prefix="dlb-bus.") as d:
        subprocess.run([cluster, "up", "--nodes", "2", "--port", "0", "--dir", d],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run(d, ctl, a)
        finally:
            subprocess.run([cluster, "down", "--dir", d], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def run(d, ctl, a):
    ctx = zmq.Context()
    poller, names = zmq.Poller(), {}
    for path in sorted(glob.glob(os.path.join(d, ".dlb", "*", "run", "*.bus.*"))):
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect("ipc://" + path)
        poller.register(s, zmq.POLLIN)
        node = path.split(os.sep)[-3]
        names[s] = (node, path.rsplit(".", 1)[1])
    time.sleep(0.5)  # the subscriptions reach the publishers
    counts, done = collections.Counter(), threading.Event()
    node_a = os.path.join(d, "a.node")
    wid = subprocess.run([ctl, "--node", node_a, "submit", "--jobs", str(a.jobs),
                          "--elements", str(a.elements), "--reps", str(a.reps),
                          "--output", "bus.npy"], check=True, capture_output=True,
                         text=True).stdout.strip()
    t0 = time.monotonic()
    waiter = threading.Thread(target=lambda: (subprocess.run(
        [ctl, "--node", node_a, "wait", wid, "--timeout", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), done.set()))
    waiter.start()
    while not done.is_set():
        for s, _ in poller.poll(100):
            while True:
                try:
                    m = s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                kind = TYPES.get(m[3], str(m[3])) if len(m) > 3 else "?"
                counts[names[s] + (kind,)] += 1
    seconds = time.monotonic() - t0
    waiter.join()
    print(f"Messages per second on each bus during a run of {a.jobs} jobs "
          f"({seconds:.2f} s, node a the origin)")
    print(f"{'node':<5} {'service':<9} {'type':<7} {'per s':>7}")
    for node in sorted({k[0] for k in counts}):
        total = 0.0
        for k in sorted(k for k in counts if k[0] == node):
            rate = counts[k] / seconds
            total += rate
            print(f"{node:<5} {k[1]:<9} {k[2]:<7} {rate:7.1f}")
        print(f"{node:<5} {'all':<9} {'':<7} {total:7.1f}")


if __name__ == "__main__":
    main()
