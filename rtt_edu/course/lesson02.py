"""Lesson 2 (saving throws on a straight line): the rendered tables and maps, and the lesson's self-checks.

Every number comes from :mod:`rtt_edu.science.quadratic` (exact) or from a seeded run; these functions only
lay them out, so a lesson cell shows one call and the picture or table it gives. The self-checks (drift,
temperature, step factors, convergence) compare an answer with the exact value and name the mistake they see.

    from rtt_edu.course import lesson02 as c2
    c2.step_table(errors, records, lr=0.4, a=2.0)       # a rendered table of a short run, step by step
    c2.verdict_table([("classroom", 4.5), ...])         # the three verdicts of a rule at a learning rate
    c2.plot_lambda_maps(("classroom", ...), dcs, lrs)   # λ over lr and DC, with a colour bar
    c2.agreement(rule, dcs, lrs, faces, steps)          # simulated runs against the sign of λ
    c2.check_mean(0.475, "classroom")                   # ✔ right: E[m] = Σ P(m)·m = 0.4750 ...
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown
from matplotlib.colors import SymLogNorm

from rtt_edu.course.checks import Feedback, judge
from rtt_edu.errors import require
from rtt_edu.game.rules import SavingThrow, as_rules
from rtt_edu.science import quadratic

__all__ = ["step_table", "verdict_table", "plot_lambda_maps", "agreement", "log_sd", "close_look_table",
           "plot_seed_distributions", "SIGN_BARS", "check_mean", "check_variance", "check_step_factor",
           "check_converges", "check_largest_lr"]


def _table(header, rows) -> Markdown:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def step_table(errors, records, lr: float, a: float) -> Markdown:
    """One row per step: the roll, m, the error before and after, their ratio and 1 − lr·a·m."""
    rows = [(t, r.natural, r.outcome.replace("_", " "), f"{r.multiplier:+.2f}", f"{errors[t]:+.5f}",
             f"{errors[t + 1]:+.5f}", f"{errors[t + 1] / errors[t]:+.4f}",
             f"{quadratic.step_factor(lr, r.multiplier, a):+.4f}") for t, r in enumerate(records)]
    return _table(("step", "natural", "outcome", "*m*", "error before", "error after", "after / before",
                   "1 − lr·*a*·*m*"), rows)


def _word(ok: bool) -> str:
    return "converges" if ok else "**diverges**"


def verdict_table(cases) -> tuple:
    """(rendered table, rows) of the three verdicts for each (rule name, lr) on a = 1.

    The average run converges iff |E[f]| = |1 − lr·E[m]| < 1, the mean square iff E[f²] < 1, almost
    every run iff λ = E[log|f|] < 0 (``rtt_edu.science.quadratic``).
    """
    rows = []
    for name, lr in cases:
        mean = SavingThrow.preset(name).expected_multiplier()
        avg = abs(quadratic.mean_rate(name, lr))
        ms = quadratic.mean_square_rate(name, lr)
        lam = quadratic.lyapunov_exponent(name, lr)
        rows.append((name, lr, mean, avg, ms, lam))
    shown = [(f"`{name}`", f"{lr:g}", f"{mean:+.4f}", f"{avg:.4f} {_word(avg < 1)}", f"{ms:.4f} {_word(ms < 1)}",
              f"{lam:+.4f} {_word(lam < 0)}") for name, lr, mean, avg, ms, lam in rows]
    return _table(("rule", "lr", "E[*m*]", "average run: abs(1 − lr·E[*m*])", "mean square: E[(1 − lr·*m*)²]",
                   "almost every run: λ"), shown), rows


def lambda_map(name: str, dcs, lrs) -> np.ndarray:
    """λ(lr) of the preset at each DC: an array (len(dcs), len(lrs))."""
    return np.array([quadratic.lyapunov_grid(SavingThrow.preset(name, dc=dc), lrs) for dc in dcs])


def plot_lambda_maps(names, dcs, lrs, clip: float = 0.5):
    """λ over lr (log scale, a = 1) and DC, one map per rule, with a colour bar.

    Blue converges (λ < 0), red diverges (λ > 0), white is the boundary; the colour scale is
    logarithmic on both sides of 0 so that small rates show. Black dots: the exact interval ends
    (``convergence_intervals``). ◀ marks the DCs where E[m] ≤ 0. λ = −∞ (a step can land on w*)
    shows as the darkest blue.
    """
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True, sharey=True, layout="constrained")
    norm = SymLogNorm(0.002, vmin=-clip, vmax=clip)
    for ax, name in zip(axes.flat, names):
        mesh = ax.pcolormesh(lrs, dcs, np.clip(lambda_map(name, dcs, lrs), -clip, clip), cmap="RdBu_r", norm=norm,
                             shading="nearest")
        for dc in dcs:
            rule = SavingThrow.preset(name, dc=dc)
            ends = [end for iv in quadratic.convergence_intervals(rule) for end in iv if 0 < end <= lrs[-1]]
            ax.plot(ends, [dc] * len(ends), "k.", ms=3)
            if rule.expected_multiplier() <= 0:
                ax.text(lrs[-1] * 1.1, dc, "◀", va="center", fontsize=7)
        ax.set_xscale("log")
        ax.set_title(name)
    for ax in axes[1]:
        ax.set_xlabel("learning rate (a = 1)")
    for ax in axes[:, 0]:
        ax.set_ylabel("DC")
    bar = fig.colorbar(mesh, ax=axes, shrink=0.8, pad=0.04)
    bar.set_label("λ = E[log|1 − lr·m|]   (blue < 0: converges, red > 0: diverges)")
    bar.set_ticks([-0.5, -0.1, -0.01, 0, 0.01, 0.1, 0.5])
    bar.set_ticklabels(["≤ −0.5", "−0.1", "−0.01", "0", "+0.01", "+0.1", "≥ +0.5"])
    return fig


def log_sd(rule, lr: float) -> float:
    """σ = the standard deviation of log|1 − lr·m| under the rule's exact distribution."""
    dist = rule.distribution()
    logs = {m: math.log(abs(1 - lr * m)) for m in dist}
    mean = sum(p * logs[m] for m, p in dist.items())
    return math.sqrt(max(sum(p * (logs[m] - mean) ** 2 for m, p in dist.items()), 0.0))


def agreement(name: str, dcs, lrs, faces, steps: int) -> tuple:
    """(cells, agree, margins) of simulated runs against the sign of λ, for one preset over DC × lr.

    A cell converges in simulation when more than half of its runs end below their start. Each
    disagreeing cell gives its margin |λ|·√n / σ: how many finite-run standard deviations separate
    λ from the boundary 0.
    """
    cells = agree = 0
    margins = []
    for dc in dcs:
        rule = SavingThrow.preset(name, dc=dc)
        sims = quadratic.simulate_log_errors(rule, lrs, faces)          # (lrs, runs)
        exact = quadratic.lyapunov_grid(rule, lrs)
        for lr, sim, lam in zip(lrs, sims, exact):
            cells += 1
            if ((sim < 0).mean() > 0.5) == (lam < 0):
                agree += 1
            else:
                margins.append(abs(lam) * math.sqrt(steps) / log_sd(rule, lr))
    return cells, agree, margins


def close_look_table(rule, lrs, faces, steps: int) -> tuple:
    """(rendered table, rows) of λ against the median rate of the simulated runs at each lr."""
    sims = quadratic.simulate_log_errors(rule, lrs, faces)
    rows = [(lr, quadratic.lyapunov_exponent(rule, lr), float(np.median(sim)) / steps, float(np.isneginf(sim).mean()))
            for lr, sim in zip(lrs, sims)]
    shown = [(f"{lr:g}", f"{lam:+.4f}", f"{med:+.4f}", f"{landed:.2f}") for lr, lam, med, landed in rows]
    return _table(("lr", "λ (exact)", "median rate of the 64 runs", "runs that landed on *w*\\*"), shown), rows


#: the sign of m → (colour, hatch, legend label): a colour-blind-safe colour and a pattern each.
SIGN_BARS = {"uphill": ("#D55E00", "////", "m < 0: uphill"), "skip": ("#777777", "....", "m = 0: skipped"),
             "downhill": ("#009E73", "", "m > 0: downhill")}


def plot_seed_distributions(names):
    """Each rule's exact distribution of m as bars, one per value in order, coloured and hatched by sign."""
    from matplotlib.patches import Patch
    fig, axes = plt.subplots(1, len(names), figsize=(11, 2.9), sharey=True, layout="constrained")
    for ax, name in zip(axes, names):
        rule = SavingThrow.preset(name)
        dist = rule.distribution()
        for i, (m, p) in enumerate(dist.items()):
            colour, hatch, _ = SIGN_BARS["uphill" if m < 0 else "skip" if m == 0 else "downhill"]
            ax.bar(i, p, color=colour, hatch=hatch, edgecolor="white" if hatch else colour, lw=0)
        ax.set_xticks(range(len(dist)), [f"{m:g}" for m in dist], rotation=90, fontsize=7)
        ax.set_xlabel("value of m")
        ax.set_title(f"{name}: E[m] = {rule.expected_multiplier():+.4f}", fontsize=10)
    axes[0].set_ylabel("P(m), exact")
    handles = [Patch(facecolor=c, hatch=h, edgecolor="white", label=label) for c, h, label in SIGN_BARS.values()]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    return fig


# --- exercises ----------------------------------------------------------------------------------

def check_mean(answer, rule="classroom") -> Feedback:
    """E[m] = Σ P(m)·m of a rule (the drift)."""
    rule = as_rules(rule)
    dist = rule.distribution()
    expected = rule.expected_multiplier()
    probs = rule.outcome_probabilities()
    mistakes = [(-expected, "the sign is flipped. A crit fail with m = -1 pulls the mean *down*."),
                (sum(dist) / len(dist), "that is the average of the distinct values of m; weight each by its "
                                        "probability."),
                (probs["success"] + probs["critical_success"], "that is P(success), not the mean multiplier.")]
    return judge(answer, expected, "a number (the mean multiplier)",
                 f"right: E[m] = Σ P(m)·m = {expected:.4f}: the drift. On average a step moves {expected:.4f} "
                 "of a plain step.",
                 "List the values of m with their probabilities (rule.distribution()) and sum P(m)·m.",
                 mistakes, tol=5e-4)


def check_variance(answer, rule="classroom") -> Feedback:
    """Var[m] = Σ P(m)·(m - E[m])² of a rule (the temperature)."""
    rule = as_rules(rule)
    expected, mean = rule.variance(), rule.expected_multiplier()
    mistakes = [(expected + mean ** 2, f"that is E[m²]. Subtract E[m]² = {mean ** 2:.4f}."),
                (math.sqrt(expected), "that is the standard deviation. The variance is its square.")]
    return judge(answer, expected, "a number (the variance)",
                 f"right: Var[m] = E[m²] - E[m]² = {expected:.4f}: the temperature of this random learning rate.",
                 "Var[m] = Σ P(m)·(m - E[m])², or E[m²] - E[m]².", mistakes, tol=5e-4)


def check_step_factor(answer, lr: float = 0.1, m: float = 0.75, curvature: float = 2.0) -> Feedback:
    """One step on a/2·(w - w*)² multiplies the error by 1 - lr·a·m."""
    expected = quadratic.step_factor(lr, m, curvature)
    mistakes = [(lr * curvature * m, "that is how much of the error the step removes, not what is left."),
                (1 + lr * curvature * m, "the sign: a step with m > 0 goes *down* the gradient a·(w - w*)."),
                (1 - lr * m, f"the curvature a = {curvature:g} is missing: the gradient is a·(w - w*).")]
    return judge(answer, expected, "a number (the factor)",
                 f"right: w - w* becomes (1 - {lr:g}·{curvature:g}·{m:g})·(w - w*) = {expected:g}·(w - w*).",
                 "Write one SGD step, w ← w - lr·m·a·(w - w*), and subtract w* on both sides.", mistakes, tol=1e-6)


def check_converges(answer, rule="seed-readme", lr: float = 1.0, curvature: float = 1.0) -> Feedback:
    """Does almost every run converge? True when λ = E[log|1 - lr·a·m|] < 0."""
    rule = as_rules(rule)
    lam = quadratic.lyapunov_exponent(rule, lr, curvature)
    expected = lam < 0
    if not isinstance(answer, bool):
        return Feedback(False, "replace `None` with True (almost every run converges) or False, then run the cell "
                        "again."
                        if answer is None else f"answer={answer!r}: expected True or False.")
    mean = rule.expected_multiplier()
    why = ("λ = -∞: some roll makes 1 - lr·a·m = 0 and lands exactly on w*, which happens with positive "
           "probability every step" if lam == -math.inf else f"λ = E[log|1 - lr·a·m|] = {lam:+.4f}")
    if answer == expected:
        return Feedback(True, f"right: {why}, so almost every run {'converges' if expected else 'diverges'} "
                              f"(while E[m] = {mean:+.4f}).")
    if answer == (mean > 0):
        return Feedback(False, f"the sign of E[m] ({mean:+.4f}) is not the verdict. Compute λ = Σ P(m)·log|1 - lr·a·m| "
                               "with quadratic.lyapunov_exponent.")
    return Feedback(False, "not this time. Compute λ = Σ P(m)·log|1 - lr·a·m|: negative means converges.")


def check_largest_lr(answer, rule="lr-dropout", curvature: float = 1.0) -> Feedback:
    """The end of the stable range: every lr in (0, lr_max) converges almost surely, lr_max does not.

    That is the first interval of :func:`rtt_edu.science.quadratic.convergence_intervals` (for a rule
    with E[m] >= 0 it starts at 0). Islands further out, around lr = 1/(a·m), do not count.
    """
    rule = as_rules(rule)
    intervals = quadratic.convergence_intervals(rule, curvature)
    require(intervals and intervals[0][0] == 0.0, "rule", rule, "a rule whose small learning rates converge "
            "(E[m] > 0): with E[m] < 0 there is no stable range (0, lr_max)")
    expected = intervals[0][1]
    mean = rule.expected_multiplier()
    mistakes = [(quadratic.mean_square_limit(rule, curvature),
                 "that is where E[error²] stops shrinking (the mean-square limit 2E[m]/(a·E[m²])). "
                 "Almost-sure convergence goes further."),
                (2.0 / (curvature * mean) if mean > 0 else None,
                 "that is where the *average* run stops converging (lr·a·E[m] = 2). The typical run is decided "
                 "by E[log|1 - lr·a·m|], not by E[m]."),
                (2.0 / curvature, "that is plain gradient descent's limit 2/a, as if every roll gave m = 1.")]
    return judge(answer, expected, "a learning rate", f"right: λ crosses 0 at lr = {expected:.4f}; just above it "
                 "almost every run diverges.", "Find where λ(lr) = Σ P(m)·log|1 - lr·a·m| first turns positive "
                 "(quadratic.convergence_intervals).", mistakes, tol=1e-3)
