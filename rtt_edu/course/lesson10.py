"""Lesson 10 (experiments): the 30-seed results read back from ``experiments/results/runs.csv``,
rendered tables of verdicts, the intervals of the paired differences the verdicts read, the 4-seed
against 30-seed picture, and the lesson's self-checks and quiz.

The rows of ``runs.csv`` are the runs of ``experiments/run_experiments.py --seeds 30`` (classroom rule,
the default arms): ``thirty_seeds()`` rebuilds each task's :class:`~rtt_edu.science.experiments.Comparison`
from them without training, so every statistic the lesson shows is computed, not copied.
"""
from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

from rtt_edu.course.checks import Feedback, Question, ask, read_number
from rtt_edu.science.experiments import TASKS, Comparison, default_arms
from rtt_edu.science.stats import Interval, interval_verdict, t_interval, t_quantile

__all__ = ["RUNS", "CHECKOUT_RUNS", "PACKAGED_RUNS", "NOISE_ALONE", "COMPENSATED", "PAIRS", "thirty_seeds",
           "verdict_table", "verdict_summary", "contrast_line", "plot_differences", "plot_few_seeds",
           "check_bootstrap_narrower", "check_t_half_width", "check_seeds_needed", "check_verdict", "QUIZ",
           "check_quiz"]

#: The 30-seed runs: experiments/results/runs.csv in a source checkout, else the copy shipped with the
#: package (rtt_edu/data/experiments_runs.csv, the same file: a test keeps the two identical).
CHECKOUT_RUNS = Path(__file__).resolve().parents[2] / "experiments" / "results" / "runs.csv"
PACKAGED_RUNS = Path(__file__).resolve().parents[1] / "data" / "experiments_runs.csv"
RUNS = CHECKOUT_RUNS if CHECKOUT_RUNS.is_file() else PACKAGED_RUNS
NOISE_ALONE = ("classroom", "plain, lr x 0.475")          # the same mean step, dice against no dice
COMPENSATED = ("classroom, lr / 0.475", "plain")          # plain's mean step, dice against no dice


def thirty_seeds(path=RUNS, rules="classroom") -> dict:
    """task name → the Comparison of the recorded runs (no training)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    arms = {a.name: a for a in default_arms(rules)}
    out = {}
    for name, task in TASKS.items():
        mine = [r for r in rows if r["task"] == name]
        if not mine:
            continue
        parsed = [{"task": name, "arm": r["arm"], "seed": int(r["seed"]), "steps": int(r["steps"]),
                   **{k: float(r[k]) for k in task.metrics if r.get(k, "") != ""}} for r in mine]
        names = list(dict.fromkeys(r["arm"] for r in parsed))
        seeds = list(dict.fromkeys(r["seed"] for r in parsed))
        out[name] = Comparison(task, tuple(arms[n] for n in names), seeds, parsed[0]["steps"], parsed)
    return out


def _cell(c) -> str:
    return f"{c['mean_diff']:+.3f} [{c['t'].lo:+.3f}, {c['t'].hi:+.3f}]"


def _short(c, better) -> str:
    """'better', 'worse' or 'none detected', from the t interval of a paired difference."""
    lo, hi = c["t"].lo, c["t"].hi
    good, bad = (hi < 0, lo > 0) if better == "lower" else (lo > 0, hi < 0)
    return "better" if good else "worse" if bad else "none detected"


PAIRS = (("classroom", "plain", "dice − plain"),
         ("plain, lr x 0.475", "plain", "smaller lr − plain"),
         (*COMPENSATED, "dice at plain's mean step − plain"),
         (*NOISE_ALONE, "noise alone: dice − smaller lr"))


def verdict_table(comparisons: dict, metric=None):
    """Every task's four paired differences with their 95% t intervals and verdicts, as Markdown."""
    from IPython.display import Markdown
    lines = ["| task (metric) | " + " | ".join(label for *_, label in PAIRS) + " |", "|---|" + "---|" * len(PAIRS)]
    for comparison in comparisons.values():
        m = comparison._metric(metric)
        better = comparison.task.metrics[m]
        cells = []
        for arm, against, _ in PAIRS:
            c = comparison.contrast(arm, against, m)
            cells.append(f"{_cell(c)} {_short(c, better)}")
        lines.append(f"| {comparison.task.name} ({m}, {better} is better) | " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))


def verdict_summary(comparisons: dict, metric=None) -> str:
    """One plain-text line per task: each pair's verdict, in the columns of :func:`verdict_table`."""
    out = []
    for comparison in comparisons.values():
        m = comparison._metric(metric)
        better = comparison.task.metrics[m]
        out.append(f"{comparison.task.name}, {len(comparison.seeds)} seeds: " + " | ".join(
            _short(comparison.contrast(arm, against, m), better) for arm, against, _ in PAIRS))
    return "\n".join(out)


def contrast_line(comparison, arm, against, metric=None) -> str:
    """'arm − against: mean [t interval], bootstrap [lo, hi]' for one pair."""
    c = comparison.contrast(arm, against, metric)
    return (f"{arm} − {against}: {_cell(c)} (t), bootstrap [{c['bootstrap'].lo:+.3f}, {c['bootstrap'].hi:+.3f}]")


VERDICT_COLOURS = {"better": "#009e73", "worse": "#d55e00", "none detected": "0.3"}   # colour-blind safe


def plot_differences(comparison, metric=None, ax=None, labels: bool = True):
    """What the verdicts read: each pair of :data:`PAIRS`, its mean paired difference d̄ = mean_s (arm − against)
    with the 95% t interval d̄ ± t · s/√n, and the line at 0 (the verdict: which side of 0 the interval is on)."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    m = comparison._metric(metric)
    better = comparison.task.metrics[m]
    seen = set()
    for y, (arm, against, _) in enumerate(PAIRS):
        c = comparison.contrast(arm, against, m)
        verdict = _short(c, better)
        ax.errorbar([c["mean_diff"]], [y], xerr=[[c["mean_diff"] - c["t"].lo], [c["t"].hi - c["mean_diff"]]],
                    fmt="o", capsize=5, color=VERDICT_COLOURS[verdict], label=None if verdict in seen else verdict)
        seen.add(verdict)
    ax.axvline(0, color="k", lw=1, ls="--")
    ax.set_yticks(range(len(PAIRS)), [label for *_, label in PAIRS] if labels else [])
    ax.set_ylim(len(PAIRS) - 0.5, -0.5)                      # the first pair on top
    ax.set_xlabel(f"{m} difference ({better} is better)")
    ax.set_title(f"{comparison.task.name}: {len(comparison.seeds)} seeds, 95% t intervals")
    ax.legend(title="verdict", loc="best")
    return ax


def plot_few_seeds(live, thirty, ax=None):
    """The 30 recorded paired differences of the compensated arm on the BERT, the live seeds marked,
    with the live t interval beside the 30-seed one."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2))
    arm, against = COMPENSATED
    d = [a - b for a, b in zip(thirty.values(arm), thirty.values(against))]
    few = set(live.seeds)
    ax.scatter([s for s in thirty.seeds if s not in few], [v for s, v in zip(thirty.seeds, d) if s not in few],
               marker="o", color="0.55", label="the other 26 seeds")
    ax.scatter([s for s in thirty.seeds if s in few], [v for s, v in zip(thirty.seeds, d) if s in few],
               marker="D", color="#d55e00", label="the 4 seeds run live")
    for x, c, label in ((31.5, live.contrast(arm, against), "4-seed mean and 95% t interval"),
                        (33.5, thirty.contrast(arm, against), "30-seed mean and 95% t interval")):
        ax.errorbar([x], [c["mean_diff"]], yerr=[[c["mean_diff"] - c["t"].lo], [c["t"].hi - c["mean_diff"]]],
                    fmt="s" if x < 33 else "^", capsize=5, color="#0072b2" if x < 33 else "k", label=label)
    ax.axhline(0, color="0.5", lw=1, ls="--")
    ax.set_xlabel("seed (intervals at the right)")
    ax.set_ylabel("ratio: dice at plain's\nmean step − plain")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


# --- predict, then check ------------------------------------------------------------------------

def check_bootstrap_narrower(answer) -> Feedback:
    """For 5 differences, is the percentile bootstrap interval 'narrower' or 'wider' than the t interval?"""
    if answer is None:
        return Feedback(False, "replace `None` with 'narrower' or 'wider', then run the cell again.")
    if not isinstance(answer, str) or answer.strip().lower() not in ("narrower", "wider"):
        return Feedback(False, f"answer={answer!r}: expected 'narrower' or 'wider'.")
    if answer.strip().lower() == "narrower":
        return Feedback(True, "right: narrower. It only reshuffles the 5 values it has, and with few values it "
                              "misses how far the mean could really be; t widens the interval for that.")
    return Feedback(False, "not wider: the bootstrap never imagines a value outside the sample, and t(0.975; 4) "
                           "= 2.78 already widens the t interval beyond the normal 1.96.")


# --- exercises ----------------------------------------------------------------------------------

def check_t_half_width(answer, differences=(0.012, -0.004, 0.009, 0.015, 0.003), confidence: float = 0.95) -> Feedback:
    """Half-width of the t interval of the mean difference: t(1 - α/2; n - 1) · s / √n."""
    interval = t_interval(differences, confidence)
    expected = (interval.hi - interval.lo) / 2
    n, q = len(differences), 0.5 + confidence / 2
    z_width = 1.959963984540054 * statistics.stdev(differences) / math.sqrt(n)
    population = t_quantile(q, n - 1) * statistics.pstdev(differences) / math.sqrt(n)
    value = read_number(answer, "a number (the half-width of the interval)")
    if isinstance(value, Feedback):
        return value
    if abs(value - expected) <= 5e-5:
        return Feedback(True, f"right: t({q:.3f}; {n - 1}) = {t_quantile(q, n - 1):.4f}, "
                              f"s = {statistics.stdev(differences):.5f}, half-width = {expected:.5f}.")
    if abs(value - z_width) <= 5e-5:
        return Feedback(False, f"{value:g} uses 1.96, the normal quantile. With {n} seeds use Student's t with "
                               f"{n - 1} degrees of freedom: t_quantile({q}, {n - 1}).")
    if abs(value - population) <= 5e-5:
        return Feedback(False, f"{value:g} uses the population standard deviation (divide by n). "
                               "The sample standard deviation divides by n - 1: statistics.stdev.")
    return Feedback(False, f"{value:g} is not it. Half-width = t(1 - α/2; n - 1) × s / √n, with s the sample "
                           "standard deviation of the differences.")


def check_seeds_needed(answer, sd: float = 0.01, half_width: float = 0.002, confidence: float = 0.95) -> Feedback:
    """The fewest seeds n with t(1 - α/2; n - 1) · sd / √n <= half_width."""
    q = 0.5 + confidence / 2
    n = 2
    while t_quantile(q, n - 1) * sd / math.sqrt(n) > half_width:
        n += 1
    normal = math.ceil((1.959963984540054 * sd / half_width) ** 2)
    value = read_number(answer, "a whole number of seeds")
    if isinstance(value, Feedback):
        return value
    if value == n:
        return Feedback(True, f"right: {n} seeds give half-width {t_quantile(q, n - 1) * sd / math.sqrt(n):.6f}, "
                              f"{n - 1} give {t_quantile(q, n - 2) * sd / math.sqrt(n - 1):.6f}. Halving the width "
                              "costs four times the seeds.")
    if value == normal:
        return Feedback(False, f"{value:g} uses 1.96 for every n. Student's t is a little larger for a finite "
                               "number of seeds, so you need slightly more.")
    if value > n:
        return Feedback(False, f"{value:g} seeds are enough, but fewer would do: find the smallest n.")
    return Feedback(False, f"{value:g} seeds are not enough: t(1 - α/2; n - 1) × sd / √n is still above "
                           f"{half_width:g}.")


def check_verdict(answer, lo: float = -0.004, hi: float = 0.011, better: str = "lower") -> Feedback:
    """Which verdict an interval [lo, hi] of (arm - plain) supports: 'better', 'worse' or 'no difference detected'
    (a plain 'no difference' is accepted too)."""
    expected = interval_verdict(Interval((lo + hi) / 2, lo, hi, 0.95, "t", 2), better).split(":")[0]
    if answer is None:
        return Feedback(False, "replace `None` with 'better', 'worse' or 'no difference detected', then run the "
                               "cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected 'better', 'worse' or 'no difference detected'.")
    given = answer.strip().lower()
    given = "no difference detected" if given.startswith("no difference") else given
    if given == expected:
        return Feedback(True, f"right: {expected}. " + (
            f"The interval [{lo:+g}, {hi:+g}] contains 0, and it also says a difference larger than "
            f"{max(abs(lo), abs(hi)):g} is unlikely: that is the useful half of the answer."
            if expected.startswith("no") else f"The whole interval [{lo:+g}, {hi:+g}] is on one side of 0."))
    return Feedback(False, f"{answer!r} is not it. Is 0 inside [{lo:+g}, {hi:+g}]? If not, which side is better "
                           f"when {better} is better?")


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="why the comparison is paired by seed",
             right="b",
             why="seed s gives both arms the same data, initial weights and batch order, so in the difference "
                 "d_s what the seed does to both cancels, and the differences spread less than the runs do.",
             wrong={"a": "pairing does not add runs: it is how the same runs are compared, seed against seed.",
                    "c": "a paired difference still varies from seed to seed (the dice, and how each arm reacts "
                         "to the seed), so it still needs an interval.",
                    "d": "every seed counts, good or bad; picking seeds after seeing the results is how an "
                         "experiment fools its author."}),
    Question(topic="telling the dice's mean from their noise",
             right="b",
             why="plain training at E[m]·lr has the dice's mean step and no noise; if it is as far behind as "
                 "the dice, the mean (a smaller learning rate) explains the gap, and the noise adds nothing seen.",
             wrong={"a": "the arm at E[m]·lr has no noise at all, yet it is as far behind: the noise cannot be "
                         "what makes the difference.",
                    "c": "both intervals lie entirely on the worse side of 0 over the same seeds: that is more than "
                         "bad luck of the seeds.",
                    "d": "the dice scale the update, after Adam's division (lesson 8): Adam feels them, which is "
                         "why the dice arm is behind at all."}),
    Question(topic="what more seeds do to an interval",
             right="a",
             why="the half-width is t · s/√n: s stays about the same, √n grows by √5 and t falls from 2.26 to "
                 "2.01, so the interval is about 2.5 times narrower; where it lands, the data decide.",
             wrong={"b": "s, the spread of the differences, stays about the same, but the interval is for the "
                         "mean, and its width falls as s/√n.",
                    "c": "more seeds estimate the spread better; they do not make it larger, and the width "
                         "still falls as 1/√n.",
                    "d": "an interval that contains 0 may contain the true difference 0: more seeds narrow it "
                         "around the truth, which may be 0 or very close."}),
    Question(topic="reading 'no difference detected'",
             right="b",
             why="an interval that contains 0 cannot tell the sign, but it bounds the size: a difference "
                 "beyond its far end is unlikely, a smaller one is not ruled out.",
             wrong={"a": "'not detected' is not 'none': a small difference inside the interval is still "
                         "possible; more seeds might find it.",
                    "c": "the interval reaches the better side too; the sign is not known, whatever the mean "
                         "difference's sign.",
                    "d": "the experiment did its job: it bounds how large a difference can be, which is a result."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
