"""How fast the panels answer: training the toy MLP, the many-seeds batch, and a DicePanel update.

Prints one JSON line of named figures, on one CPU thread. This machine may be shared: other jobs
only ever add time, so each figure is the fastest of ``--rounds`` repeats (as ``timeit`` advises),
and the load average before and after is printed beside them. Figures and goals:

    mlp_300_steps_s            300 full-batch SGD steps of the toy MLP (2-16-16-2, ReLU) on 400
                               moons points, a plain PyTorch loop                       goal <= 0.15
    mlp_dice_300_steps_s       the same with attach("classroom") and observe_loss        goal <= 0.15
    mlp_dice_guard_off_300_steps_s  the same with on_nonfinite="off" (no finiteness check per step)
    training_panel_300_steps_s TrainingPanel.step(300): the dice run and its plain twin (600 steps)
                               with classes/monsters off, experience on, then one redraw (static PNG)
    training_panel_frame_ms    one TrainingPanel.refresh(): lines, boundary grid, readouts, PNG render
    training_panel_dice_change_ms  median over 20 moves of the DC slider of a TrainingPanel at step
                               300: the dice run re-trained from step 0 (300 steps), then one redraw
                               (static PNG, as the lessons show it)                     goal <= 150
    training_panel_dice_change_ipympl_ms  the same with an ipympl canvas (the canvas renders when the
                               browser asks)
    compare_64x300_s           SeedBatch: 64 seeds x 300 steps, dice and plain (128 MLPs), SGD
                                                                                        goal <= 0.5
    compare_64x300_adam_s      the same with Adam                                       goal <= 0.5

Beside them, each figure as a ratio to ``mlp_300_steps_s`` measured in the same run (``ratios``):
a busy machine slows both alike, so the ratios travel between machines better than the seconds.
The goal compare_64x300_s <= 0.5 s is about 5 x one plain loop.
    dice_panel_update_ms       a DicePanel DC-slider move with an ipympl canvas: the rule, the
                               exact readout, the artists and draw_idle (the canvas renders when the
                               browser asks)                                            goal <= 50
    dice_panel_update_static_ms  the same move with the static fallback, a PNG rendered each time
    dice_panel_render_ms       one Agg render of the DicePanel figure alone (what ipympl does when asked)

    .venv/bin/python benchmarks/bench_panels.py [--rounds 5] [--quick]
"""
import argparse
import json
import os
import statistics
import time

import torch
from torch.nn import functional as F

from rtt_edu import attach
from rtt_edu.data import make_dataset
from rtt_edu.models import mlp
from rtt_edu.training.batched import SeedBatch
from rtt_edu.views.widgets import DicePanel, TrainingPanel

GOALS = {"mlp_300_steps_s": 0.15, "mlp_dice_300_steps_s": 0.15, "training_panel_300_steps_s": 0.15,
         "training_panel_dice_change_ms": 150.0, "compare_64x300_s": 0.5, "compare_64x300_adam_s": 0.5,
         "dice_panel_update_ms": 50.0}


def fastest(fn, rounds: int) -> float:
    """The fastest wall time of ``rounds`` calls of ``fn`` (each call builds what it times)."""
    best = float("inf")
    for _ in range(rounds):
        best = min(best, fn())
    return best


def mlp_run(steps: int, dice: bool, guard: str = "death-save") -> float:
    data = make_dataset("moons", n=400, noise=0.1, seed=0, test_fraction=0.0)     # all 400 points train
    model = mlp(2, (16, 16), 2, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = attach(optimizer, "classroom", seed=0, on_nonfinite=guard) if dice else None
    X, y = data.X_train, data.y_train
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        if handle is not None:
            handle.observe_loss(loss)
        optimizer.step()
    elapsed = time.perf_counter() - start
    if handle is not None:
        handle.remove()
    return elapsed


def panel_run(steps: int) -> float:
    panel = TrainingPanel(figures="static")
    start = time.perf_counter()
    panel.step(steps)
    elapsed = time.perf_counter() - start
    panel.close()
    return elapsed


def panel_frame(repeats: int = 5) -> float:
    panel = TrainingPanel(figures="static")
    panel.step(100)
    start = time.perf_counter()
    for _ in range(repeats):
        panel.refresh()
    elapsed = (time.perf_counter() - start) / repeats
    panel.close()
    return elapsed


def dice_changes(steps: int, figures: str, moves: int = 20) -> float:
    """The median time of ``moves`` DC-slider moves of a TrainingPanel that has taken ``steps`` steps."""
    panel = TrainingPanel(figures=figures, horizon=steps)
    panel.step(steps)
    dc = panel.controls["dc"]
    times = []
    for i in range(moves):
        start = time.perf_counter()
        dc.value = 8 + i % 10 if dc.value != 8 + i % 10 else 18
        times.append(time.perf_counter() - start)
    panel.close()
    return statistics.median(times)


def compare_run(seeds: int, steps: int, optimizer: str) -> float:
    batch = SeedBatch("moons", seeds=seeds, optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.01)
    start = time.perf_counter()
    batch.step(steps)
    return time.perf_counter() - start


def dice_updates(figures: str, moves: int = 20) -> float:
    panel = DicePanel(figures=figures)
    dc = panel.controls["dc"]
    start = time.perf_counter()
    for i in range(moves):
        dc.value = 5 + i % 15
    elapsed = (time.perf_counter() - start) / moves
    panel.close()
    return elapsed


def dice_render(repeats: int = 10) -> float:
    panel = DicePanel(figures="static")
    canvas = panel.figure.figure.canvas
    start = time.perf_counter()
    for _ in range(repeats):
        canvas.draw()
    elapsed = (time.perf_counter() - start) / repeats
    panel.close()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round of shorter runs: a smoke test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds = 1 if args.quick else args.rounds
    steps, seeds = (60, 16) if args.quick else (300, 64)
    figures = {"benchmark": "panels", "threads": 1, "rounds": rounds, "steps": steps, "seeds": seeds,
               "cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    dice_updates("static", 2)                   # first-use costs (fonts, imports) are not a panel update
    figures["mlp_300_steps_s"] = fastest(lambda: mlp_run(steps, False), rounds)
    figures["mlp_dice_300_steps_s"] = fastest(lambda: mlp_run(steps, True), rounds)
    figures["mlp_dice_guard_off_300_steps_s"] = fastest(lambda: mlp_run(steps, True, "off"), rounds)
    figures["training_panel_300_steps_s"] = fastest(lambda: panel_run(steps), rounds)
    figures["training_panel_frame_ms"] = 1000 * fastest(panel_frame, rounds)
    figures["training_panel_dice_change_ms"] = 1000 * fastest(lambda: dice_changes(steps, "static"), rounds)
    figures["training_panel_dice_change_ipympl_ms"] = 1000 * fastest(lambda: dice_changes(steps, "ipympl"), rounds)
    figures["compare_64x300_s"] = fastest(lambda: compare_run(seeds, steps, "sgd"), rounds)
    figures["compare_64x300_adam_s"] = fastest(lambda: compare_run(seeds, steps, "adam"), rounds)
    figures["dice_panel_update_ms"] = 1000 * fastest(lambda: dice_updates("ipympl"), rounds)
    figures["dice_panel_update_static_ms"] = 1000 * fastest(lambda: dice_updates("static"), rounds)
    figures["dice_panel_render_ms"] = 1000 * fastest(dice_render, rounds)
    plain = figures["mlp_300_steps_s"]
    figures["ratios"] = {name: round(figures[name] / (1000 * plain if name.endswith("_ms") else plain), 2)
                         for name in ("mlp_dice_300_steps_s", "training_panel_300_steps_s",
                                      "training_panel_dice_change_ms", "compare_64x300_s", "compare_64x300_adam_s")}
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    figures["load_after"] = round(os.getloadavg()[0], 2)
    if not args.quick:
        figures["goals_met"] = {name: figures[name] <= goal for name, goal in GOALS.items()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
