"""What the dice cost: wall time of dice training over the identical plain loop.

Prints one JSON line of named figures. For each workload the same model (same seed), data and
AdamW optimizer are trained for a fixed number of steps by several loops, one after the other
in each of ``--rounds`` rounds (the order rotates every round, A/B/C/... then B/C/.../A).
This machine may be shared: other jobs only ever add time, so, as ``timeit`` advises, a loop's
time is its fastest round, and a ratio is fastest over fastest. Figures per workload:

    <workload>_ratio          attach(target="update", on_nonfinite="off") + observe_loss, in the plain loop
    <workload>_guard_ratio    the same with the default non-finite guard (one host sync per step)
    <workload>_trainer_ratio  RollToTrain(on_nonfinite="off") over the plain loop
    <workload>_noise_ratio    plain over plain (a second copy of it): how far equal loops land apart
    <workload>_median_ratio   as _ratio, but the median over rounds of (dice / plain of the same round)
    <workload>_plain_step_us  the plain loop's fastest time per step, in microseconds
    <workload>_dice_step_us   time spent inside the dice (observe_loss, the turn's begin and end) in
                              the median step, measured in the loop by timers around those calls alone
    <workload>_guard_step_us  the same with the default non-finite guard (its check runs in begin)
    <workload>_dice_share     dice_step_us / plain_step_us: the overhead without the machine's noise
    <workload>_goals          the goals of this workload (ratio, guard_ratio, dice_step_us), where set
    <workload>_met            {goal: whether this run met it}

Workloads: ``bert_tiny_cpu`` (rtt_edu.models.BertMLM, BertConfig.tiny; goal ratio <= 1.02),
``mlp_cpu`` (a toy MLP, 16-64-4; goals: ratio <= 1.05, guard ratio <= 1.10, <= 5 µs inside the
dice a step); with CUDA also ``bert_tiny_cuda`` and ``bert_base_cuda`` (a BERT-base-sized
encoder: 12 blocks, width 768; goal <= 1.01), timed from a synchronised start to a synchronised
end, never per step. ``load_before``/``load_after`` are the machine's 1-minute load averages
around the run: on a shared machine, compare runs made at a low load.

    .venv/bin/python benchmarks/bench_overhead.py [--rounds 30] [--threads 1] [--quick]
"""
import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch import nn

from rtt_edu import RollToTrain, attach
from rtt_edu.models import BertConfig, BertMLM

RULES = "classroom"
#: workload → its goals: the dice/plain ratio, the ratio with the default guard, µs inside the dice a step
GOALS = {"bert_tiny_cpu": {"ratio": 1.02}, "mlp_cpu": {"ratio": 1.05, "guard_ratio": 1.10, "dice_step_us": 5.0},
         "bert_tiny_cuda": {}, "bert_base_cuda": {"ratio": 1.01}}


# --- workloads: a model factory, batches and the loss of one batch --------------------------

def mlm_batches(config: BertConfig, n: int, batch: int, device, seed: int = 1) -> list:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(1, config.vocab_size, (batch, config.max_len), generator=g)
        masked = torch.rand(ids.shape, generator=g) < 0.15
        masked[:, 0] = True
        out.append({"input_ids": torch.where(masked, torch.full_like(ids, 1), ids).to(device),
                    "attention_mask": torch.ones_like(ids).to(device),
                    "labels": torch.where(masked, ids, torch.full_like(ids, -100)).to(device)})
    return out


def bert_workload(config: BertConfig, batch: int, device, steps: int) -> dict:
    return {"model": lambda: BertMLM(config, seed=0).to(device),
            "batches": mlm_batches(config, steps, batch, device),
            "loss": lambda model, b: model(**b).loss, "loss_fn": None}


def mlp_workload(device, steps: int) -> dict:
    def model():
        net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        return net.to(device)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(64, 16, generator=g) for _ in range(steps)]
    batches = [(x.to(device), (x[:, :4].argmax(1)).to(device)) for x in xs]
    ce = nn.CrossEntropyLoss()
    return {"model": model, "batches": batches, "loss": lambda m, b: ce(m(b[0]), b[1]), "loss_fn": ce}


# --- the loops being compared ---------------------------------------------------------------

def plain_loop(work, model, optimizer):
    loss_of = work["loss"]
    for batch in work["batches"]:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(model, batch)
        loss.backward()
        optimizer.step()


def dice_loop(on_nonfinite, spent: list | None = None):
    """The plain loop with the dice attached. With ``spent``, timers around the dice's own calls
    append each call's seconds to it."""
    def run(work, model, optimizer):
        handle = attach(optimizer, RULES, seed=0, on_nonfinite=on_nonfinite)
        if spent is not None:
            master = handle.master
            for name in ("begin", "end", "observe_loss"):    # the hooks look these up on the master
                setattr(master, name, _timer(getattr(master, name), spent))
        loss_of = work["loss"]
        for batch in work["batches"]:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model, batch)
            loss.backward()
            handle.observe_loss(loss)
            optimizer.step()
        handle.remove()
    return run


def trainer_loop(work, model, optimizer):
    RollToTrain(model, optimizer, rules=RULES, seed=0, loss_fn=work["loss_fn"], progress=False,
                on_nonfinite="off").train(work["batches"])


def _timer(call, spent):
    def timed_call(*args):
        start = time.perf_counter()
        out = call(*args)
        spent.append(time.perf_counter() - start)
        return out
    return timed_call


LOOPS = {"plain": plain_loop, "dice": dice_loop("off"), "guard": dice_loop("death-save"),
         "trainer": trainer_loop, "plain_again": plain_loop}


def timed(loop, work, device) -> float:
    """Wall seconds of one run of ``loop`` from the initial weights and a fresh optimizer."""
    model = work["module"]
    model.load_state_dict(work["initial"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    loop(work, model, optimizer)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(name: str, work: dict, device, rounds: int) -> dict:
    """Every loop once per round for ``rounds`` rounds; see the module docstring for the figures."""
    work["module"] = work["model"]()              # built once; every run starts from these weights
    work["initial"] = {k: v.clone() for k, v in work["module"].state_dict().items()}
    names = list(LOOPS)
    for loop_name in names:                       # warm-up: allocator, kernels, first-call costs
        timed(LOOPS[loop_name], work, device)
    wall = {n: [] for n in names}
    for r in range(rounds):
        for loop_name in names[r % len(names):] + names[:r % len(names)]:
            wall[loop_name].append(timed(LOOPS[loop_name], work, device))
    runs = max(3, rounds // 5)
    dice_us, guard_us = (step_us(on_nonfinite, work, device, runs) for on_nonfinite in ("off", "death-save"))
    steps = len(work["batches"])
    fastest = {n: min(t) for n, t in wall.items()}
    plain_us = 1e6 * fastest["plain"] / steps
    figures = {"ratio": round(fastest["dice"] / fastest["plain"], 4),
               "guard_ratio": round(fastest["guard"] / fastest["plain"], 4),
               "trainer_ratio": round(fastest["trainer"] / fastest["plain"], 4),
               "noise_ratio": round(fastest["plain_again"] / fastest["plain"], 4),
               "median_ratio": round(statistics.median(d / p for d, p in zip(wall["dice"], wall["plain"])), 4),
               "plain_step_us": round(plain_us, 1), "dice_step_us": round(dice_us, 2),
               "guard_step_us": round(guard_us, 2),
               "dice_share": round(dice_us / plain_us, 4), "goals": GOALS[name]}
    figures["met"] = {goal: figures[goal] <= bound for goal, bound in GOALS[name].items()}
    return {f"{name}_{key}": value for key, value in figures.items()}


def step_us(on_nonfinite: str, work: dict, device, runs: int) -> float:
    """Microseconds inside the dice (observe_loss, begin, end: three calls a step) in the median step
    of ``runs`` runs: a preempted call does not count."""
    spent = []
    for _ in range(runs):
        timed(dice_loop(on_nonfinite, spent), work, device)
    return 1e6 * statistics.median(sum(spent[i:i + 3]) for i in range(0, len(spent), 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cuda-rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="few steps and rounds: a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else args.rounds
    scale = 0.2 if args.quick else 1.0

    cpu = torch.device("cpu")
    tiny = BertConfig.tiny(vocab_size=64, max_len=16)
    figures = {"benchmark": "overhead", "rules": RULES, "threads": args.threads, "rounds": rounds,
               "machine": f"{_cpu_name()}, {os.cpu_count()} cores", "load_before": os.getloadavg()[0]}
    figures.update(measure("bert_tiny_cpu", bert_workload(tiny, 32, cpu, int(40 * scale)), cpu, rounds))
    figures.update(measure("mlp_cpu", mlp_workload(cpu, int(200 * scale)), cpu, rounds))
    figures["cuda"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        base = BertConfig(vocab_size=30522, max_len=128, n_layers=12, n_heads=12, d_model=768, d_ff=3072)
        figures["cuda_device"] = torch.cuda.get_device_name()
        cuda_rounds = 3 if args.quick else args.cuda_rounds
        figures.update(measure("bert_tiny_cuda", bert_workload(tiny, 32, gpu, int(200 * scale)), gpu, cuda_rounds))
        figures.update(measure("bert_base_cuda", bert_workload(base, 16, gpu, int(30 * scale)), gpu, cuda_rounds))
    figures["load_after"] = os.getloadavg()[0]
    print(json.dumps(figures))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
