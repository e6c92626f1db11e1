"""How fast the panels answer: training the toy MLP, the many-seeds batch, a dice change, a DicePanel update.

Prints one JSON object: the figures measured on all the cores this process may use, and again in a
subprocess pinned to one core (``os.sched_setaffinity``, as ``taskset -c 0``; mybinder.org gives
about one), each setting beside its own plain loop. This machine may be shared: other jobs only
ever add time, so each figure is the fastest of ``--rounds`` repeats (as ``timeit`` advises), the
rounds of the issue's figures interleaved with the plain loop's, and the load average before and
after is printed beside them. Figures and goals:

    mlp_300_steps_s            300 full-batch SGD steps of the toy MLP (2-16-16-2, ReLU) on 400
                               moons points, a plain PyTorch loop: the reference of every ratio
    mlp_dice_300_steps_s       the same with attach("classroom") and observe_loss        goal <= 0.15
    mlp_dice_guard_off_300_steps_s  the same with on_nonfinite="off" (no finiteness check per step)
    training_panel_300_steps_s TrainingPanel.step(300): the dice run and its plain twin (600 steps)
                               with classes/monsters off, experience on, then one redraw (static PNG)
    training_panel_frame_ms    one TrainingPanel.refresh(): lines, boundary grid, readouts, PNG render
    training_panel_dice_change_ms  median over 20 moves of the DC slider of a TrainingPanel at step
                               300 with no event loop: the dice run re-trained from step 0 (300
                               steps), then one redraw (static PNG, as the lessons show it), one-shot
    training_panel_dice_change_ipympl_ms  the same with an ipympl canvas (the canvas renders when the
                               browser asks)
    dice_change_first_frame_ms the same move on a running event loop (a kernel's): until the
                               callback returns with the first steps of the new curve drawn
                                                                                        goal <= 50
    dice_change_whole_ms       ... until the curve is whole (``await panel.wait()``), the rest trained
                               in the loop's slices                           goal <= 1.5 x plain loop
    compare_64x300_s           SeedBatch: 64 seeds x 300 steps, dice and plain (128 MLPs), SGD, on
                               every usable core (a group of seeds per core, a thread each)
    compare_64x300_one_worker_s  the same on one thread
    compare_64x300_adam_s      the same as compare_64x300_s with Adam
    compare_first_band_s       a DC move of a ComparePanel of 64 seeds x 300 steps on a running event
                               loop: until a band of its first seeds is drawn (their first steps)
                                                                                goal <= 1 x plain loop
    compare_first_seeds_whole_s  ... until the first seeds' band has all 300 steps
    compare_all_seeds_s        ... until all 64 seeds are drawn (``await panel.wait()``)
                                                                                goal <= 5 x plain loop
    dice_panel_update_ms       a DicePanel DC-slider move with an ipympl canvas: the rule, the
                               exact readout, the artists and draw_idle (the canvas renders when the
                               browser asks)                                            goal <= 50
    dice_panel_update_static_ms  the same move with the static fallback, a PNG rendered each time
    dice_panel_render_ms       one Agg render of the DicePanel figure alone (what ipympl does when asked)

Beside them, each timed figure as a ratio to ``mlp_300_steps_s`` measured in the same setting
(``ratios``): a busy machine slows both alike, so the ratios travel between machines better than the
seconds. Torch runs on one thread throughout (the panels pin it: toy models gain nothing from
intra-op threads); the batched seeds use a second core, if there is one, as a second thread: the
ComparePanel and SeedBatch.step by default only when the load average leaves it idle (free_cores,
printed with the load before each setting), compare_64x300_s always.

    .venv/bin/python benchmarks/bench_panels.py [--rounds 5] [--quick] [--cores both|all|one]
"""
import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch.nn import functional as F

from rtt_edu import attach
from rtt_edu.data import make_dataset
from rtt_edu.models import mlp
from rtt_edu.training.batched import SeedBatch, free_cores, usable_cores
from rtt_edu.views.widgets import ComparePanel, DicePanel, TrainingPanel

#: absolute goals (seconds, or ms for a name ending in _ms)
GOALS = {"mlp_dice_300_steps_s": 0.15, "dice_change_first_frame_ms": 50.0, "dice_panel_update_ms": 50.0}
#: goals as a multiple of the plain loop measured beside them
RATIO_GOALS = {"dice_change_whole_ms": 1.5, "compare_first_band_s": 1.0, "compare_all_seeds_s": 5.0}
#: the figures given as ratios to the plain loop
RATIOS = ("mlp_dice_300_steps_s", "training_panel_300_steps_s", "training_panel_dice_change_ms",
          "dice_change_first_frame_ms", "dice_change_whole_ms", "compare_64x300_s", "compare_64x300_one_worker_s",
          "compare_64x300_adam_s", "compare_first_band_s", "compare_first_seeds_whole_s", "compare_all_seeds_s")


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


def progressive_dice_changes(steps: int, moves: int = 10) -> tuple:
    """(first frame, whole curve): the median seconds of ``moves`` DC moves of a TrainingPanel at step
    ``steps`` on a running event loop, until the callback returns and until ``await panel.wait()``."""
    async def moves_on_a_loop():
        panel = TrainingPanel(figures="static", horizon=steps)
        panel.step(steps)
        dc = panel.controls["dc"]
        first, whole = [], []
        for i in range(moves):
            start = time.perf_counter()
            dc.value = 8 + i % 10 if dc.value != 8 + i % 10 else 18
            first.append(time.perf_counter() - start)
            await panel.wait()
            whole.append(time.perf_counter() - start)
        panel.close()
        return statistics.median(first), statistics.median(whole)
    return asyncio.run(moves_on_a_loop())


def compare_run(seeds: int, steps: int, optimizer: str, workers: int | None = None) -> float:
    batch = SeedBatch("moons", seeds=seeds, optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.01)
    start = time.perf_counter()
    batch.step(steps, workers=workers)
    return time.perf_counter() - start


def compare_changes(seeds: int, steps: int, moves: int = 2) -> tuple:
    """(first band, first seeds whole, all seeds): the fastest seconds of ``moves`` DC moves of a trained
    ComparePanel on a running event loop, until a band of its first seeds is drawn, until that band has every
    step, and until every seed is drawn."""
    async def moves_on_a_loop():
        panel = ComparePanel(figures="static", seeds=seeds, steps=steps)
        panel.run()
        dc = panel.controls["dc"]
        first, first_whole, whole = [], [], []
        for i in range(moves):
            start = time.perf_counter()
            dc.value = 12 + i
            while panel.seeds_shown == 0:
                await asyncio.sleep(0)
            first.append(time.perf_counter() - start)
            while panel.steps_shown < steps:
                await asyncio.sleep(0)
            first_whole.append(time.perf_counter() - start)
            await panel.wait()
            whole.append(time.perf_counter() - start)
        panel.close()
        return min(first), min(first_whole), min(whole)
    return asyncio.run(moves_on_a_loop())


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


def interleaved(rounds: int, steps: int, seeds: int) -> dict:
    """The plain loop and the issue's figures, round after round (a load that comes and goes meets them
    all); each the fastest of its rounds."""
    best: dict = {}
    for _ in range(rounds):
        found = {"mlp_300_steps_s": mlp_run(steps, False)}
        found["dice_change_first_frame_ms"], found["dice_change_whole_ms"] = progressive_dice_changes(steps)
        (found["compare_first_band_s"], found["compare_first_seeds_whole_s"],
         found["compare_all_seeds_s"]) = compare_changes(seeds, steps)
        found["compare_64x300_s"] = compare_run(seeds, steps, "sgd", workers=usable_cores())
        found["compare_64x300_one_worker_s"] = compare_run(seeds, steps, "sgd", workers=1)
        for name, value in found.items():
            best[name] = min(best.get(name, float("inf")), value * (1000 if name.endswith("_ms") else 1))
    return best


def measure(rounds: int, quick: bool) -> dict:
    """Every figure in this process, as its affinity allows (see the module docstring)."""
    torch.set_num_threads(1)
    steps, seeds = (60, 16) if quick else (300, 64)
    figures = {"usable_cores": usable_cores(), "free_cores": free_cores(), "torch_threads": 1, "rounds": rounds,
               "steps": steps, "seeds": seeds, "load_before": round(os.getloadavg()[0], 2)}
    dice_updates("static", 2)                   # first-use costs (fonts, imports) are not a panel update
    progressive_dice_changes(steps, 2)
    figures.update(interleaved(rounds, steps, seeds))
    figures["mlp_dice_300_steps_s"] = fastest(lambda: mlp_run(steps, True), rounds)
    figures["mlp_dice_guard_off_300_steps_s"] = fastest(lambda: mlp_run(steps, True, "off"), rounds)
    figures["training_panel_300_steps_s"] = fastest(lambda: panel_run(steps), rounds)
    figures["training_panel_frame_ms"] = 1000 * fastest(panel_frame, rounds)
    figures["training_panel_dice_change_ms"] = 1000 * fastest(lambda: dice_changes(steps, "static"), rounds)
    figures["training_panel_dice_change_ipympl_ms"] = 1000 * fastest(lambda: dice_changes(steps, "ipympl"), rounds)
    figures["compare_64x300_adam_s"] = fastest(lambda: compare_run(seeds, steps, "adam", usable_cores()), rounds)
    figures["dice_panel_update_ms"] = 1000 * fastest(lambda: dice_updates("ipympl"), rounds)
    figures["dice_panel_update_static_ms"] = 1000 * fastest(lambda: dice_updates("static"), rounds)
    figures["dice_panel_render_ms"] = 1000 * fastest(dice_render, rounds)
    plain = figures["mlp_300_steps_s"]
    figures["ratios"] = {name: round(figures[name] / (1000 * plain if name.endswith("_ms") else plain), 2)
                         for name in RATIOS}
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    figures["load_after"] = round(os.getloadavg()[0], 2)
    if not quick:
        figures["goals_met"] = {**{name: figures[name] <= goal for name, goal in GOALS.items()},
                                **{name: figures["ratios"][name] <= goal for name, goal in RATIO_GOALS.items()}}
    return figures


def machine() -> dict:
    """The CPU model, its cores, and this process's affinity and CPU quota (usable_cores)."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "usable_cores": usable_cores()}


def in_subprocess(cores: str, args) -> dict:
    """``measure`` in a fresh interpreter; ``cores="one"`` pins it to one core before it starts."""
    cpu = min(os.sched_getaffinity(0))
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cores == "one" else None
    command = [sys.executable, __file__, "--cores", cores, "--rounds", str(args.rounds)] + (["--quick"] if args.quick
                                                                                           else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=pin)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round of shorter runs: a smoke test")
    parser.add_argument("--cores", choices=("both", "all", "one"), default="both",
                        help="all: the cores this process may use; one: pinned to one; both: each in a subprocess")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    if args.cores != "both":
        if args.cores == "one" and len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(measure(rounds, args.quick)))
        return
    report = {"benchmark": "panels", "machine": machine(), "load_before": round(os.getloadavg()[0], 2)}
    report["all_cores"] = in_subprocess("all", args)
    report["one_core"] = in_subprocess("one", args)
    report["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
