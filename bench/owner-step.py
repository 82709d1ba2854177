#!/usr/bin/env python3
"""How a node's monitor saw an owner-load step, from dlb-bench runs.

For each run under OUT/runs/ (dlb-bench --out OUT) of a scenario whose
background load on NODE steps up (bench/scenarios/step.scn), prints:

  step     when the step came, secs after the submit: from the harness's
           own readings of the replayed load (series.csv, every `sample`
           secs), the first above 5 % placed back by the share of that
           reading it took up
  seen     secs from the step to the monitor's "owner load stepped to" log
  level    the level it stepped to, %
  sd       the spread (standard deviation, points) of the monitor's owner
           readings 1.5 to 6.5 s after the step, and their mean: how
           sharply it reads a load that holds still. Needs the runs' debug
           logs (DLB_DEBUG=1 in dlb-bench's environment); '-' without
  move     secs from the step to NODE's first push of jobs after it
           (predictive only)
  handover secs from the step to the monitor's "caught up" log (its
           forecaster's own forecast takes over from the level again)
  jump     how NODE's published capacity changed then: the median of its
           polls 2 to 5 s after against 3 s before, %
  rebalance  dlb-bench's figure for each change of the scenario, and in
           brackets its figure as it was reckoned before 2026-12-02 (the
           run's mean job rate, the control plane's CPU left in:
           rebalance_before_s, in runs that have that column)

and their medians over every run of every OUT given. The log times are wall clock and the harness's
are from its submit, so both are taken from the worker's "submitted" log
line: they agree within tens of milliseconds.

Usage: bench/owner-step.py [--node NAME] OUT...
"""
import argparse
import csv
import glob
import os
import re
import statistics


def wall(line):
    m = re.match(r"\S+T(\d+):(\d+):([\d.]+)Z", line)
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


def lines(path):
    try:
        with open(path) as f:
            return f.readlines()
    except OSError:
        return []


def run_figures(run, node):
    logs = os.path.join(run, "cluster")
    submit = next((wall(x) for x in lines(os.path.join(logs, "a-worker.log"))
                   if " submitted: " in x), None)
    series = os.path.join(run, "series.csv")
    if submit is None or not os.path.exists(series):
        return None
    step, before, capacity = None, 0.0, []
    with open(series) as f:
        for row in csv.reader(f):
            if row[0] == "status" and row[2] == node and row[10]:
                capacity.append((float(row[1]), float(row[10])))
            if row[0] != "owner" or row[2] != node:
                continue
            t, pct = float(row[1]), float(row[7])
            if step is None and t > 1 and pct > 5:
                step = t - (t - before) * min(1.0, pct / 80)
            before = t
    if step is None:
        return None
    monitor = [(wall(x) - submit, x) for x in lines(os.path.join(logs, f"{node}-monitor.log"))]
    seen = next(((t, x) for t, x in monitor if t > step and "owner load stepped to" in x), None)
    readings = [float(re.search(r"owner load ([\d.]+) % against", x)[1])
                for t, x in monitor
                if step + 1.5 < t < step + 6.5 and " % against the forecast" in x]
    adaptor = [(wall(x) - submit, x) for x in lines(os.path.join(logs, f"{node}-adaptor.log"))]
    move = next((t for t, x in adaptor if t > step and "predictive: send" in x), None)
    handover = next((t for t, x in monitor if t > step and "has caught up" in x), None)
    jump = None
    if handover is not None:
        ahead = [c for t, c in capacity if handover - 3 <= t < handover]
        after = [c for t, c in capacity if handover + 2 <= t < handover + 5]
        if ahead and after and statistics.median(ahead) > 0:
            jump = 100 * (statistics.median(after) / statistics.median(ahead) - 1)
    return {
        "step": step,
        "seen": seen[0] - step if seen else None,
        "level": float(re.search(r"stepped to ([\d.]+)", seen[1])[1]) if seen else None,
        "sd": statistics.pstdev(readings) if len(readings) > 1 else None,
        "mean": statistics.mean(readings) if readings else None,
        "move": move - step if move is not None else None,
        "handover": handover - step if handover is not None else None,
        "jump": jump,
    }


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node", default="a", help="the node whose load steps (default a)")
    ap.add_argument("out", nargs="+", help="dlb-bench output directories")
    args = ap.parse_args()
    print(f"{'out':24} {'run':28} {'step':>6} {'seen':>5} {'level':>5} {'sd':>5} "
          f"{'mean':>5} {'move':>5} {'handover':>8} {'jump':>5}  rebalance")
    got = []
    for out in args.out:
        rebalance = {}
        try:
            with open(os.path.join(out, "runs.csv")) as f:
                for r in csv.DictReader(f):
                    label = f"r{r['round']}-{r['policy']}".replace(" ", "_")
                    rebalance[label] = r.get("rebalance_s", "")
                    if r.get("rebalance_before_s"):
                        rebalance[label] += f" [{r['rebalance_before_s']}]"
        except OSError:
            print(f"{out}: no runs.csv")
            continue
        for run in sorted(glob.glob(os.path.join(out, "runs", "*"))):
            f = run_figures(run, args.node)
            if f is None:
                continue
            got.append(f)
            print(f"{os.path.basename(out.rstrip('/')):24} {os.path.basename(run):28} "
                  f"{f['step']:6.2f} {fmt(f['seen'], '5.2f')} {fmt(f['level'], '5.1f')} "
                  f"{fmt(f['sd'], '5.2f')} {fmt(f['mean'], '5.1f')} {fmt(f['move'], '5.2f')} "
                  f"{fmt(f['handover'], '8.1f')} {fmt(f['jump'], '+5.0f')}  "
                  f"{rebalance.get(os.path.basename(run), '')}")
    if got:
        med = {}
        for k in ("seen", "level", "sd", "mean", "move", "handover", "jump"):
            known = [g[k] for g in got if g[k] is not None]
            med[k] = statistics.median(known) if known else None  # '-', not 0
        print(f"{'median of ' + str(len(got)) + ' runs':53} {fmt(med['seen'], '5.2f')} "
              f"{fmt(med['level'], '5.1f')} {fmt(med['sd'], '5.2f')} {fmt(med['mean'], '5.1f')} "
              f"{fmt(med['move'], '5.2f')} {fmt(med['handover'], '8.1f')} {fmt(med['jump'], '+5.0f')}")


if __name__ == "__main__":
    main()
