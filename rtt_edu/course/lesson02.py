"""Lesson 2 (saving throws on a straight line): the rendered tables and maps, and the lesson's self-checks.

Every number comes from :mod:`rtt_edu.science.quadratic` (exact) or from a seeded run; these functions only
lay them out, so a lesson cell shows one call and the picture or table it gives. The self-checks (drift,
temperature, step factors, convergence) compare an answer with the exact value and name the mistake they see.

    from rtt_edu.course import lesson02 as c2
    c2.step_table(errors, records, lr=0.4, a=2.0)       # a rendered table of a short run, step by step
    c2.verdict_table([("classroom", 4.5), ...])         # the three verdicts of a rule at a learning rate
    c2.plot_lambda_maps(("classroom", ...), dcs, lrs)   # λ over lr and DC, one colour scale and its bar
    c2.agreement(rule, dcs, lrs, faces, steps)          # simulated runs against the sign of λ
    c2.check_mean(0.475, "classroom")                   # ✔ right: E[m] = Σ P(m)·m = 0.4750 ...
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown
from matplotlib.colors import Normalize

from rtt_edu.course.checks import Feedback, Question, ask, judge
from rtt_edu.errors import require
from rtt_edu.game.rules import SavingThrow, as_rules
from rtt_edu.science import quadratic

__all__ = ["step_table", "verdict_table", "plot_lambda_maps", "agreement", "log_sd", "close_look_table",
           "plot_seed_faces", "SIGN_BARS", "check_mean", "check_variance", "check_step_factor", "check_logs",
           "check_converges", "check_largest_lr", "QUIZ", "check_quiz"]


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


def plot_lambda_maps(names, dcs, lrs, clip: float = 0.3):
    """λ over lr (log scale, a = 1) and DC, one map per rule, all four on one linear colour scale with its bar.

    Blue converges (λ < 0), red diverges (λ > 0), white is λ = 0; |λ| above ``clip`` shows in the
    darkest colour, and λ = −∞ (a step can land on w*) too. Black dots: the exact ends of the
    converging ranges (``convergence_intervals``), one row of dots per DC: the boundary.
    """
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.4), sharex=True, sharey=True, layout="constrained")
    norm = Normalize(vmin=-clip, vmax=clip)
    for ax, name in zip(axes.flat, names):
        mesh = ax.pcolormesh(lrs, dcs, np.clip(lambda_map(name, dcs, lrs), -clip, clip), cmap="RdBu_r", norm=norm,
                             shading="nearest")
        for dc in dcs:
            rule = SavingThrow.preset(name, dc=dc)
            ends = [end for iv in quadratic.convergence_intervals(rule) for end in iv if 0 < end <= lrs[-1]]
            ax.plot(ends, [dc] * len(ends), "k.", ms=4)
        ax.set_xscale("log")
        ax.set_yticks([dc for dc in dcs if dc % 3 == 2])      # whole DCs only: 2, 5, 8, ...
        ax.grid(False)
        ax.set_title(name)
    for ax in axes[1]:
        ax.set_xlabel("learning rate (a = 1, log scale)")
    for ax in axes[:, 0]:
        ax.set_ylabel("DC")
    axes[0, 0].plot([], [], "k.", ms=6, label="exact boundary, λ = 0")
    axes[0, 0].legend(loc="lower left", fontsize=10)
    bar = fig.colorbar(mesh, ax=axes, shrink=0.85, pad=0.02)
    bar.set_label("λ = E[log|1 − lr·m|]:  blue converges, red diverges")
    ticks = np.linspace(-clip, clip, 7)
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"≤ {t:+.1f}" if t == ticks[0] else f"≥ {t:+.1f}" if t == ticks[-1] else f"{t:+.1f}"
                        .replace("+0.0", "0") for t in ticks])
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


def plot_seed_faces(names, limit: float = 0.16):
    """m on each face of the d20 (each face has probability 1/20) for each rule, one row per rule.

    Bars are coloured and hatched by the sign of m. The axis shows m from −``limit`` to ``limit``, where
    the margins are; a bar beyond it (a critical ±1) is cut at the edge and labelled with its value.
    """
    from matplotlib.patches import Patch
    fig, axes = plt.subplots(len(names), 1, figsize=(7.5, 1.9 * len(names) + 0.6), sharex=True,
                             layout="constrained")
    for ax, name in zip(np.atleast_1d(axes), names):
        rule = SavingThrow.preset(name)
        faces = rule.faces()
        for face in range(1, rule.sides + 1):
            m = faces[face][1]
            colour, hatch, _ = SIGN_BARS["uphill" if m < 0 else "skip" if m == 0 else "downhill"]
            shown = max(-limit, min(limit, m))
            ax.bar(face, shown if m else 0.004, color=colour, hatch=hatch, edgecolor="white" if hatch else colour,
                   lw=0, bottom=0 if m else -0.002)
            if m != shown:
                ax.text(face, shown * 0.8, f"{m:+g}", ha="center", va="center", fontsize=10, color="white",
                        fontweight="bold")
        ax.axhline(0, color="#333333", lw=0.8)
        ax.set_ylim(-limit, limit)
        ax.set_ylabel("m")
        ax.set_title(f"{name}: E[m] = {rule.expected_multiplier():+.4f}", loc="left", fontsize=12)
    ax.set_xticks(range(1, 21))
    ax.set_xlim(0.4, 20.6)
    ax.set_xlabel("natural face of the d20 (each with probability 1/20), DC 15")
    handles = [Patch(facecolor=c, hatch=h, edgecolor="white", label=label) for c, h, label in SIGN_BARS.values()]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=10.5)
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


def check_logs(answer, rule="classroom", lr: float = 4.5, curvature: float = 1.0) -> Feedback:
    """The logs log|1 − lr·a·m|, one per value of m in the rule's distribution (in its order): the terms of λ."""
    rule = as_rules(rule)
    values = list(rule.distribution())
    factors = [quadratic.step_factor(lr, m, curvature) for m in values]
    expected = [math.log(abs(f)) if f else -math.inf for f in factors]
    what = f"a list of {len(values)} numbers, log|1 − lr·a·m| for m = {', '.join(f'{m:g}' for m in values)}"
    if answer is None:
        return Feedback(False, f"replace `None` with {what}, then run the cell again.")
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__len__") or len(answer) != len(values) or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) for x in answer):
        return Feedback(False, f"answer={str(answer)[:60]!r}: expected {what}.")

    def near(guess):
        return all(abs(a - g) <= 1e-3 or a == g for a, g in zip(answer, guess))

    if near(expected):
        return Feedback(True, "right: these are the four logs. Weight each by its P(m) and add them up: that sum is λ.")
    mistakes = [([abs(f) for f in factors], "those are the factors |1 − lr·a·m|; take the log of each (math.log)."),
                ([math.log10(abs(f)) if f else -math.inf for f in factors],
                 "that is math.log10; λ uses the natural log, math.log."),
                ([math.log(abs(1 - curvature * m)) if m * curvature != 1 else -math.inf for m in values],
                 f"the learning rate is missing: the factor is 1 − lr·a·m with lr = {lr:g}.")]
    for guess, message in mistakes:
        if near(guess):
            return Feedback(False, message)
    wrong = next(m for m, a, e in zip(values, answer, expected) if not abs(a - e) <= 1e-3)
    return Feedback(False, f"the entry for m = {wrong:g} is not it: compute the factor "
                           f"1 − {lr:g}·{curvature:g}·({wrong:g}) first, then math.log of its absolute value.")


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


# --- quiz ----------------------------------------------------------------------------------------

#: The lesson's quiz, on the main path's ideas: the step factor, drift, temperature and why seed-readme climbs.
QUIZ = (
    Question(topic="what the drift does to the average run",
             right="a",
             why="E[e_n] = (1 − lr·a·E[m])ⁿ·e₀: the average run is plain SGD at the learning rate lr·E[m], here "
                 "half the learning rate.",
             wrong={"b": "the dice do not average out to a full step: the average step is E[m] times a plain step, "
                         "so a drift below 1 makes the average run slower.",
                    "c": "a drift of 0.5 does not stop anything: each step still shrinks the error on average, "
                         "by a factor 1 − lr·a·0.5."}),
    Question(topic="what the temperature does",
             right="b",
             why="the average run depends on the drift only; the temperature Var[m] sets how far single runs "
                 "wander around it.",
             wrong={"a": "the average run is plain SGD at lr·E[m]: the temperature does not enter it, so equal "
                         "drifts give equal average runs.",
                    "c": "noise spreads runs both ways: with more temperature some runs end higher and some lower; "
                         "section 2's picture has most runs below the average one."}),
    Question(topic="why seed-readme climbs",
             right="b",
             why="its fails are scaled by (total − 15)/100, a negative margin, on 13 of the 20 faces: most steps "
                 "go slightly uphill, and E[m] = −0.0405 < 0.",
             wrong={"a": "seed-code inverts its critical failures too and still descends: the natural 20's +1 "
                         "cancels the natural 1's −1. Look at the faces between them.",
                    "c": "its temperature is about that of classroom, which learns; noise alone does not turn the "
                         "average step uphill."}),
    Question(topic="a negative step factor",
             right="a",
             why="e ← f·e with f = −0.5: the error changes sign (w lands on the other side of w*) and halves in "
                 "size, so the loss a/2·e² falls to a quarter.",
             wrong={"b": "uphill means the error grows, a factor with |f| > 1; a factor of −0.5 halves the error's "
                         "size, only on the other side of w*.",
                    "c": "the loss a/2·e² depends on the error's size: a factor of −0.5 makes it a quarter, not "
                         "larger."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
