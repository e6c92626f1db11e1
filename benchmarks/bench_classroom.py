"""How fast a teacher sees the class: 30 handed-in configs of 300 steps replayed by ClassRuns.from_folder.

Prints one JSON line of named figures, on one CPU thread. This machine may be shared: other jobs
only ever add time, so each figure is the fastest of ``--rounds`` repeats (as ``timeit`` advises),
and the load average before and after is printed beside them. Figures and goals:

    plain_300_steps_s        300 full-batch SGD steps of one plain PyTorch loop on a student's network and
                             data (the default TrainingConfig: 2-16-16-2 ReLU MLP, 300 of the 400 moons points)
    class_30x300_s           ClassRuns.from_folder on 30 configs of 300 steps, one per student, with varied
                             dice (each its own seed: its own data, weights and rolls; one rule, no class,
                             monsters or experience): reading and checking the files, the 30 dice runs and
                             their 30 plain twins, the test accuracies                   goal <= 5 x plain
    class_30x300_3_rules_s   the same class with three rules (classroom, lr-dropout, seed-methodology), so
                             three batches of 10
    class_30x300_alone_s     (--alone) every config replayed alone, the panel's own runs (batched=False)

``ratios``: each class figure over ``plain_300_steps_s`` measured in the same run; a busy machine slows
both alike, so the ratios travel between machines better than the seconds. The rounds interleave the
figures (plain, class, class with three rules, then again), so each sees the same spells of load.
``cpu_s`` and ``cpu_ratios``: the same figures in this process's CPU time (``time.process_time``, one
thread): on a shared machine the time spent waiting for a core is not counted, so they move less with
the load than the wall times do (the goal is judged on the wall times).

    .venv/bin/python benchmarks/bench_classroom.py [--rounds 5] [--quick] [--alone]
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from rtt_edu.classroom import ClassRuns
from rtt_edu.data import make_dataset
from rtt_edu.models import mlp
from rtt_edu.views.widgets.config import TrainingConfig

GOAL_RATIO = 5.0
STUDENTS = 30


def timed(fn) -> tuple:
    """(wall seconds, CPU seconds of this process) of one call of ``fn``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def fastest_interleaved(jobs: dict, rounds: int) -> tuple:
    """({name: fastest wall time}, {name: fastest CPU time}) over ``rounds`` rounds of every job in turn."""
    wall, cpu = {name: float("inf") for name in jobs}, {name: float("inf") for name in jobs}
    for _ in range(rounds):
        for name, fn in jobs.items():
            w, c = timed(fn)
            wall[name], cpu[name] = min(wall[name], w), min(cpu[name], c)
    return wall, cpu


def plain_loop(steps: int) -> None:
    """One plain run of the default config's network on its training points, as a panel's plain run trains."""
    config = TrainingConfig()
    data = make_dataset(config.dataset, n=config.points, noise=config.noise, seed=0)
    model = mlp(2, (config.hidden,) * config.layers, data.classes, config.activation, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    X, y = data.X_train, data.y_train
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()


def write_class(folder: Path, steps: int, rules: list) -> None:
    """30 students' configs, as each would hand in panel.config(): varied seeds, the rules taken in turn."""
    base = TrainingConfig(experience=False)
    for i in range(STUDENTS):
        config = base.replace(seed=100 + 7 * i, rules=rules[i % len(rules)])
        (folder / f"student{i:02d}.json").write_text(json.dumps({**config.to_dict(), "steps": steps}))


def replay(folder: Path, batched: bool = True) -> None:
    runs = ClassRuns.from_folder(folder, batched=batched)
    assert len(runs) == STUDENTS and not runs.problems, runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round of 60-step runs: a smoke test")
    parser.add_argument("--alone", action="store_true", help="also time every config replayed alone (slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds = 1 if args.quick else args.rounds
    steps = 60 if args.quick else 300
    figures = {"benchmark": "classroom", "threads": 1, "rounds": rounds, "steps": steps, "students": STUDENTS,
               "cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as one_rule, tempfile.TemporaryDirectory() as three_rules:
        write_class(Path(one_rule), steps, ["classroom"])
        write_class(Path(three_rules), steps, ["classroom", "lr-dropout", "seed-methodology"])
        replay(Path(one_rule))                           # first-use costs (imports, kernels, autograd) are
        plain_loop(steps)                                # neither the class's nor the plain loop's
        jobs = {"plain_300_steps_s": lambda: plain_loop(steps), "class_30x300_s": lambda: replay(Path(one_rule)),
                "class_30x300_3_rules_s": lambda: replay(Path(three_rules))}
        wall, cpu = fastest_interleaved(jobs, rounds)
        if args.alone:
            alone = fastest_interleaved({"class_30x300_alone_s": lambda: replay(Path(one_rule), batched=False)}, 1)
            wall.update(alone[0])
            cpu.update(alone[1])
    figures.update(wall)
    figures["cpu_s"] = {name: round(value, 4) for name, value in cpu.items()}
    figures["ratios"] = {name: round(wall[name] / wall["plain_300_steps_s"], 2) for name in wall
                         if name != "plain_300_steps_s"}
    figures["cpu_ratios"] = {name: round(cpu[name] / cpu["plain_300_steps_s"], 2) for name in cpu
                             if name != "plain_300_steps_s"}
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    figures["load_after"] = round(os.getloadavg()[0], 2)
    if not args.quick:
        figures["goal_met"] = {"class_30x300_s": figures["ratios"]["class_30x300_s"] <= GOAL_RATIO}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
