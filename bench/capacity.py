#!/usr/bin/python3
"""How far each node's predicted capacity was from the rate it ran at.

Reads the series.csv of every run in one or more dlb-bench output
directories and prints, per policy, node and window, the median relative
error of the capacity the node published (jobs/s, `dlbctl status`) against
the rate it completed jobs at over the same window, with its range over the
runs. The rate is the fall of the node's pending jobs (queue + running)
between the harness's polls, leaving out the polls between which jobs moved
(the pending count rose, or fell by more than three times its median fall):
what is left is the node's own work. A window with less than 2 s of such
polls is left out.

    bench/capacity.py [--window A:B] ... DIR ...

--window A:B   secs after the submit (repeatable; default: 4:7.5 and
               10.5:20, before and after step.scn's owner step at 8 s)
"""
import argparse
import csv
import os
import re
import statistics


def window_error(rows, t0, t1):
    """(capacity / rate - 1) of one node's status rows over [t0, t1], or None."""
    rs = [r for r in rows if t0 <= float(r["t"]) <= t1]
    if len(rs) < 5:
        return None
    falls = [int(x["pending"]) - int(y["pending"]) for x, y in zip(rs, rs[1:])]
    limit = 3 * max(1, statistics.median(falls))
    done = secs = 0.0
    for x, y, fall in zip(rs, rs[1:], falls):
        if 0 <= fall <= limit:
            done += fall
            secs += float(y["t"]) - float(x["t"])
    if secs < 2 or done == 0:
        return None
    capacity = statistics.median(float(r["capacity"] or 0) for r in rs)
    return capacity / (done / secs) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", action="append", metavar="A:B",
                    help="secs after the submit (repeatable; default 4:7.5 and 10.5:20)")
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="dlb-bench output directories")
    args = ap.parse_args()
    try:
        windows = [tuple(float(v) for v in w.split(":")) for w in (args.window or ["4:7.5", "10.5:20"])]
        assert all(len(w) == 2 and w[0] < w[1] for w in windows)
    except (ValueError, AssertionError):
        ap.error("--window takes A:B, secs, A < B")
    lines = ["| results | policy | node | window, s | runs | capacity error, median | range |",
             "|---|---|---|---|---|---|---|"]
    for d in args.dirs:
        runs = os.path.join(d, "runs.csv")
        if not os.path.exists(runs):
            ap.error(f"{d}: no runs.csv (not a dlb-bench output directory)")
        errors = {}
        with open(runs) as f:
            for run in csv.DictReader(f):
                slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", run["policy"])  # as dlb-bench names it
                path = os.path.join(d, "runs", f"r{run['round']}-{slug}", "series.csv")
                if not os.path.exists(path):
                    continue
                try:
                    with open(path) as s:
                        rows = [r for r in csv.DictReader(s) if r["kind"] == "status"]
                    for node in sorted({r["node"] for r in rows}):
                        mine = [r for r in rows if r["node"] == node]
                        for w in windows:
                            e = window_error(mine, *w)
                            if e is not None:
                                errors.setdefault((run["policy"], node, w), []).append(e)
                except (KeyError, ValueError) as e:
                    ap.error(f"{path}: not a dlb-bench series ({e!r})")
        for (policy, node, w), es in sorted(errors.items()):
            lines.append(f"| {os.path.basename(os.path.normpath(d))} | {policy} | {node} | "
                         f"{w[0]:g}–{w[1]:g} | {len(es)} | {100 * statistics.median(es):+.1f} % | "
                         f"{100 * min(es):+.1f} to {100 * max(es):+.1f} % |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
