"""What a long run's history costs: memory per step, checkpoint size, save and load times.

Prints one JSON line of named figures. The steps are recorded as the game master records them
(``History.append_step`` with the fields positional, the loss still a tensor, an event on one step
in ten), without training, so the figures are the history's alone. Memory is measured with
``tracemalloc`` (Python objects and the tensors' storage), after the losses were read back.
Figures and goals:

    append_step_us              recording one step as GameMaster.end does: History.append_step, the
                                fields positional (one tuple appended), the loss a tensor
    bytes_per_step_all          memory per step of History(), every record kept, before reading
    bytes_per_step_all_read     the same after history.steps made (and cached) the StepRecords
    bytes_per_step_bounded      memory per step of History(max_steps=10_000) after --long steps
    bounded_history_mb          its total, in MB                                       goal < 50
    checkpoint_bytes_per_step   the saved file's size per step (columns, every record kept)
    save_100k_s, load_100k_s    history_to_dict + save_state / load_state + history_from_dict at
                                --steps steps, every record kept, the columns format (checkpoints')
    save_100k_rows_s, load_100k_rows_s  the same in the row format (JSON's)
    save_bounded_s, load_bounded_s  a History(max_steps=10_000) checkpoint after --long steps
                                                                                       goal < 0.5

Times are the fastest of ``--rounds`` (the machine may be shared: other jobs only add time).

    .venv/bin/python benchmarks/bench_history.py [--steps 100000] [--long 1000000] [--rounds 3]
"""
import argparse
import gc
import json
import os
import random
import tempfile
import time
import tracemalloc

import torch

from rtt_edu.engine.history import History
from rtt_edu.training.checkpoint import CHECKPOINT_FORMAT, load_state, save_state
from rtt_edu.training.history_file import history_from_dict, history_to_dict

BOUND = 10_000
OUTCOMES = {1: "critical_fail", 20: "critical_success"}


def fill(history: History, steps: int) -> History:
    """Record ``steps`` steps as GameMaster.end does: the fields positional, the loss a 0-dim tensor."""
    rng = random.Random(0)
    losses = torch.rand(steps, dtype=torch.float32)
    for i in range(steps):
        natural = rng.randint(1, 20)
        outcome = OUTCOMES.get(natural, "success" if natural >= 10 else "fail")
        multiplier = 1.0 if natural == 20 else 0.75 if natural >= 10 else 0.25
        events = [{"kind": "crit", "message": f"natural {natural}"}] if i % 10 == 0 else []
        history.append_step(i, i // 1000, natural, natural + 2, multiplier, outcome, 0.1, losses[i], multiplier, 2,
                            12, events)
    return history


def per_step_us(steps: int, rounds: int) -> float:
    """What recording one step costs the game master: from the turn's values (made beforehand) to
    a recorded step."""
    losses = list(torch.rand(steps, dtype=torch.float32).unbind())
    rows = [(i, 0, 7, 9, 0.25, "fail", 0.1, losses[i], 0.25, 2, 12, []) for i in range(steps)]
    best = float("inf")
    for _ in range(rounds):
        history = History()
        start = time.perf_counter()
        for step, epoch, natural, total, m, outcome, lr, loss, rule_m, modifier, dc, events in rows:
            history.append_step(step, epoch, natural, total, m, outcome, lr, loss, rule_m, modifier, dc, events)
        best = min(best, time.perf_counter() - start)
    return best / steps * 1e6


def memory(make, read: bool = False) -> tuple:
    """(bytes held by the history ``make()`` builds, the history)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    history = make()
    history.column("loss")              # read the losses back (the tensors are freed)
    if read:
        assert len(history.steps) == len(history)     # make (and cache) every StepRecord
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return held, history


def save_load(history: History, rounds: int, columns: bool = True) -> tuple:
    """(save seconds, load seconds, file bytes) of a checkpoint holding ``history``."""
    state = {"format": CHECKPOINT_FORMAT, "history": None}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.pt")
        save_s = load_s = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            state["history"] = history_to_dict(history, columns=columns)
            save_state(state, path)
            save_s = min(save_s, time.perf_counter() - start)
            start = time.perf_counter()
            loaded = history_from_dict(load_state(path)["history"])
            load_s = min(load_s, time.perf_counter() - start)
        size = os.path.getsize(path)
    assert loaded.total_steps == history.total_steps and len(loaded) == len(history)
    return save_s, load_s, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--long", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures = {"steps": args.steps, "long_steps": args.long, "bound": BOUND, "load_before": os.getloadavg()[0]}
    figures["append_step_us"] = per_step_us(min(args.steps, 50_000), args.rounds)

    held, full = memory(lambda: fill(History(), args.steps))
    figures["bytes_per_step_all"] = held / args.steps
    held_read, _ = memory(lambda: fill(History(), args.steps), read=True)
    figures["bytes_per_step_all_read"] = held_read / args.steps
    save_s, load_s, size = save_load(full, args.rounds)
    figures.update(save_100k_s=save_s, load_100k_s=load_s, checkpoint_bytes_per_step=size / args.steps)
    save_s, load_s, size = save_load(full, args.rounds, columns=False)
    figures.update(save_100k_rows_s=save_s, load_100k_rows_s=load_s, checkpoint_rows_bytes_per_step=size / args.steps)
    del full

    held, bounded = memory(lambda: fill(History(max_steps=BOUND), args.long))
    figures["bytes_per_step_bounded"] = held / args.long
    figures["bounded_history_mb"] = held / 2 ** 20
    save_s, load_s, size = save_load(bounded, args.rounds)
    figures.update(save_bounded_s=save_s, load_bounded_s=load_s, bounded_checkpoint_mb=size / 2 ** 20)
    figures["load_after"] = os.getloadavg()[0]
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
