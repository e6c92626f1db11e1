"""Dice against plain training over many seeds: the comparison of lesson 10, at any scale.

For every task, every arm (plain; the dice; plain at the dice's mean learning rate; the dice at
plain's mean learning rate) is trained once per seed, and arms are compared paired by seed with
t and bootstrap intervals (see ``rtt_edu.science.experiments``). Writes to OUT:

    runs.csv       one row per run: task, arm, seed, steps, every metric, seconds
    summary.csv    one row per task, metric and arm: mean and interval, paired difference to plain
    summary.md     the tables and the plain-words conclusions
    <task>.png     each seed's value per arm, and each arm's mean with its interval

and prints one JSON line of figures (wall time per task, the mean difference of each arm to plain).

    .venv/bin/python experiments/run_experiments.py OUT                       # 30 seeds, every task
    .venv/bin/python experiments/run_experiments.py OUT --seeds 10 --tasks moons xor
    .venv/bin/python experiments/run_experiments.py OUT --tasks bert --seeds 12 --steps 300
    .venv/bin/python experiments/run_experiments.py OUT --from-runs experiments/results/runs.csv

``--from-runs`` trains nothing: it reads the runs of an earlier ``runs.csv`` and writes the
statistics, tables and plots again from them (after a change to the statistics, say).

The lesson's own numbers are ``--seeds 10`` for the toy tasks and ``--seeds 4`` for ``bert``
(each task's default steps); more seeds narrow the intervals, more steps change the question.
"""
import argparse
import csv
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rtt_edu.science.experiments import TASKS, Comparison, default_arms, run_comparison  # noqa: E402

SUMMARY_FIELDS = ["task", "metric", "arm", "n", "diverged", "mean", "sd", "lo", "hi", "diff", "diff_lo", "diff_hi",
                  "boot_lo", "boot_hi", "wins", "verdict"]


def read_runs(path, tasks, arms) -> dict:
    """task name → a ``Comparison`` rebuilt from the rows of an earlier ``runs.csv`` (no training)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_name = {a.name: a for a in arms}
    out = {}
    for name in tasks:
        task = TASKS[name]
        mine = [r for r in rows if r["task"] == name]
        if not mine:
            continue
        numbers = [*task.metrics, "seconds"]
        parsed = [{"task": name, "arm": r["arm"], "seed": int(r["seed"]), "steps": int(r["steps"]),
                   **{k: float(r[k]) for k in numbers}} for r in mine]
        names = list(dict.fromkeys(r["arm"] for r in parsed))
        if any(n not in by_name for n in names):
            raise SystemExit(f"{path}: arms {names} are not the default arms of this rule ({list(by_name)})")
        seeds = list(dict.fromkeys(r["seed"] for r in parsed))
        out[name] = Comparison(task, tuple(by_name[n] for n in names), seeds, parsed[0]["steps"], parsed)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for the tables and plots (created if missing)")
    parser.add_argument("--tasks", nargs="+", default=sorted(TASKS), choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, default=30, help="seeds 0..N-1 (default 30)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default: each task's own)")
    parser.add_argument("--rules", default="classroom", help="the dice rule (a preset name, default classroom)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the same floats everywhere)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per task")
    parser.add_argument("--from-runs", metavar="RUNS_CSV", default=None,
                        help="train nothing: recompute the statistics from an earlier runs.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = default_arms(args.rules)
    figures = {"benchmark": "experiments", "seeds": args.seeds, "rules": args.rules, "tasks": {}}
    all_rows, summary_rows, markdown = [], [], [f"# Dice vs plain: {args.seeds} seeds, rule `{args.rules}`\n"]
    earlier = read_runs(args.from_runs, args.tasks, arms) if args.from_runs else None
    if earlier is not None:
        args.tasks = [name for name in args.tasks if name in earlier]
        markdown[0] = f"# Dice vs plain: {len(next(iter(earlier.values())).seeds)} seeds, rule `{args.rules}`\n"
    for name in args.tasks:
        task = TASKS[name]
        started = time.perf_counter()
        if earlier is None:
            comparison = run_comparison(task, seeds=args.seeds, steps=args.steps, arms=arms, progress=args.progress)
        else:
            comparison = earlier[name]
        wall = time.perf_counter() - started if earlier is None else sum(r["seconds"] for r in comparison.rows)
        all_rows += comparison.rows
        markdown += [f"## {name}: {task.description}\n", f"{comparison.steps} steps per run.\n"]
        for metric in task.metrics:
            rows = comparison.summary(metric, confidence=args.confidence)
            summary_rows += rows
            markdown += [comparison.to_markdown(metric, args.confidence), ""]
        markdown += ["```", comparison.conclusion(confidence=args.confidence), "```", ""]
        fig, axes = plt.subplots(1, len(task.metrics), figsize=(5 * len(task.metrics), 3.5))
        for ax, metric in zip(axes, task.metrics):
            comparison.plot(metric, ax=ax)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, f"{name}.png"), dpi=80)
        plt.close(fig)
        primary = comparison.summary(confidence=args.confidence)
        figures["tasks"][name] = {"wall_s": round(wall, 1), "steps": comparison.steps, "metric": task.primary,
                                  "means": {r["arm"]: round(r["mean"], 4) for r in primary if "mean" in r},
                                  "diff_to_plain": {r["arm"]: [round(r["diff"], 4), round(r["diff_lo"], 4),
                                                               round(r["diff_hi"], 4)]
                                                    for r in primary if "diff" in r}}

    fields = list(dict.fromkeys(k for row in all_rows for k in row))
    with open(os.path.join(args.out, "runs.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(all_rows)
    with open(os.path.join(args.out, "summary.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(summary_rows)
    with open(os.path.join(args.out, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(markdown) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
