"""How long the exact distribution of a dice notation takes (``rtt_edu.game.dice.total_distribution``).

Prints one JSON line of named figures. This machine may be shared: other jobs only ever add time,
so each figure is the fastest of ``--rounds`` repeats (as ``timeit`` advises), and the load
average before and after is printed beside them. Figures and goals:

    total_100d100_s          100d100: 9,901 totals, integer counts one die at a time   goal <= 1
    total_8d6kh3_s           8d6kh3: keep the highest 3 of 8, by the threshold face    goal <= 1
    total_20d6kl5_s          20d6kl5: keep the lowest 5 of 20 (mirrored keep-highest)  goal <= 1
    near_bound_worst_s       the slowest of the notations just under ``MAX_WORK``: for each die of a
                             grid (d2 .. d100000) and each keep rule (none, kh1 .. kh100), the most
                             dice the bound accepts (``near_bound_worst`` names it)   goal <= 1
    near_bound_worst_over_100d100  that time over total_100d100_s: the same on a loaded machine
    refuse_1000d200_us       the refusal of 1000d200 (hours of work): checked before any work
    fraction_steps_20d20_s   the former algorithm on 20d20 (a ``Fraction`` product and sum at every
                             step), beside ``total_20d20_s``, the same distribution now; ``speedup_20d20``

    .venv/bin/python benchmarks/bench_dice.py [--rounds 3] [--quick]
"""
import argparse
import json
import os
import time
from fractions import Fraction

from rtt_edu.errors import DiceError
from rtt_edu.game.dice import MAX_DICE, MAX_WORK, distribution_cost, total_distribution

GOALS = {"total_100d100_s": 1.0, "total_8d6kh3_s": 1.0, "total_20d6kl5_s": 1.0, "near_bound_worst_s": 1.0}
SIDES = (2, 6, 20, 100, 1000, 10_000, 100_000)
KEEPS = (None, 1, 2, 5, 20, 100)


def near_bound(sides=SIDES, keeps=KEEPS) -> list:
    """For each die and keep rule, the notation with the most dice (<= MAX_DICE) that the bound accepts.

    The cost grows with the number of dice, so a bisection on it finds that number.
    """
    found = []
    for s in sides:
        for k in keeps:
            name = (lambda n, s=s: f"{n}d{s}") if k is None else (lambda n, s=s, k=k: f"{n}d{s}kh{k}")
            lo, best = (1 if k is None else k + 1), None
            hi = MAX_DICE
            while lo <= hi:
                mid = (lo + hi) // 2
                if distribution_cost(name(mid)) <= MAX_WORK:
                    best, lo = mid, mid + 1
                else:
                    hi = mid - 1
            if best is not None:
                found.append(name(best))
    return found


def fraction_steps(count: int, sides: int) -> dict:
    """The former sum of dice: a ``Fraction`` multiplied and added for every (total, face) at every die."""
    dist = {0: Fraction(1)}
    face = Fraction(1, sides)
    for _ in range(count):
        nxt: dict = {}
        for total, p in dist.items():
            for k in range(1, sides + 1):
                nxt[total + k] = nxt.get(total + k, Fraction(0)) + p * face
        dist = nxt
    return dist


def best_of(rounds: int, work) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def refuse(notation: str) -> None:
    try:
        total_distribution(notation)
    except DiceError:
        return
    raise AssertionError(f"{notation} was not refused")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each figure; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="one round and a smaller former-algorithm case")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    load_before = os.getloadavg()[0]
    old_case = (10, 20) if args.quick else (20, 20)
    name = f"{old_case[0]}d{old_case[1]}"
    assert total_distribution(name) == fraction_steps(*old_case)          # the same numbers, before timing
    notations = near_bound((6, 100, 10_000), (None, 1, 5)) if args.quick else near_bound()
    near = {n: best_of(rounds, lambda n=n: total_distribution(n)) for n in notations}
    worst = max(near, key=near.get)
    figures = {
        "total_100d100_s": best_of(rounds, lambda: total_distribution("100d100")),
        "total_8d6kh3_s": best_of(rounds, lambda: total_distribution("8d6kh3")),
        "total_20d6kl5_s": best_of(rounds, lambda: total_distribution("20d6kl5")),
        "near_bound_worst_s": near[worst],
        "refuse_1000d200_us": 1e6 * best_of(max(rounds, 3), lambda: refuse("1000d200")),
        f"fraction_steps_{name}_s": best_of(1, lambda: fraction_steps(*old_case)),
        f"total_{name}_s": best_of(rounds, lambda: total_distribution(name)),
    }
    figures["near_bound_worst_over_100d100"] = figures["near_bound_worst_s"] / figures["total_100d100_s"]
    figures[f"speedup_{name}"] = figures[f"fraction_steps_{name}_s"] / figures[f"total_{name}_s"]
    figures = {k: round(v, 6) for k, v in figures.items()}
    figures["near_bound_worst"] = worst
    figures["near_bound_count"] = len(near)
    figures["load_average_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    figures["goals"] = GOALS
    figures["met"] = {k: figures[k] <= goal for k, goal in GOALS.items()}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
