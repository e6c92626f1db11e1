"""Self-checks of lesson 2: saving throws on a straight line.

Drift, temperature, step factors, convergence: each compares an answer with the exact value computed
by the library and names the mistake it sees.
"""
from __future__ import annotations

import math

from rtt_edu.game.rules import as_rules
from rtt_edu.exercises.base import Feedback, judge

__all__ = ["check_mean", "check_variance", "check_step_factor", "check_converges", "check_largest_lr"]


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
    from rtt_edu.science.quadratic import step_factor
    expected = step_factor(lr, m, curvature)
    mistakes = [(lr * curvature * m, "that is how much of the error the step removes, not what is left."),
                (1 + lr * curvature * m, "the sign: a step with m > 0 goes *down* the gradient a·(w - w*)."),
                (1 - lr * m, f"the curvature a = {curvature:g} is missing: the gradient is a·(w - w*).")]
    return judge(answer, expected, "a number (the factor)",
                 f"right: w - w* becomes (1 - {lr:g}·{curvature:g}·{m:g})·(w - w*) = {expected:g}·(w - w*).",
                 "Write one SGD step, w ← w - lr·m·a·(w - w*), and subtract w* on both sides.", mistakes, tol=1e-6)


def check_converges(answer, rule="seed-readme", lr: float = 1.0, curvature: float = 1.0) -> Feedback:
    """Does almost every run converge? True when λ = E[log|1 - lr·a·m|] < 0."""
    from rtt_edu.science.quadratic import lyapunov_exponent
    rule = as_rules(rule)
    lam = lyapunov_exponent(rule, lr, curvature)
    expected = lam < 0
    if not isinstance(answer, bool):
        return Feedback(False, "answer with True (almost every run converges) or False."
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
    from rtt_edu.science.quadratic import convergence_intervals, mean_square_limit
    rule = as_rules(rule)
    intervals = convergence_intervals(rule, curvature)
    if not intervals or intervals[0][0] != 0.0:
        raise ValueError(f"rule={rule!r}: small learning rates do not converge (E[m] < 0), so there is no "
                         "stable range (0, lr_max)")
    expected = intervals[0][1]
    mean = rule.expected_multiplier()
    mistakes = [(mean_square_limit(rule, curvature), "that is where E[error²] stops shrinking (the mean-square "
                                                     "limit 2E[m]/(a·E[m²])). Almost-sure convergence goes further."),
                (2.0 / (curvature * mean) if mean > 0 else None,
                 "that is where the *average* run stops converging (lr·a·E[m] = 2). The typical run is decided "
                 "by E[log|1 - lr·a·m|], not by E[m]."),
                (2.0 / curvature, "that is plain gradient descent's limit 2/a, as if every roll gave m = 1.")]
    return judge(answer, expected, "a learning rate", f"right: λ crosses 0 at lr = {expected:.4f}; just above it "
                 "almost every run diverges.", "Find where λ(lr) = Σ P(m)·log|1 - lr·a·m| first turns positive "
                 "(quadratic.convergence_intervals).", mistakes, tol=1e-3)
