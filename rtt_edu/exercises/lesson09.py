"""Self-checks of lesson 9: experiments.

A t interval's half-width, the seeds a width needs, a verdict in words: each compares an answer with
the exact value computed by the library and names the mistake it sees.
"""
from __future__ import annotations

import math

from rtt_edu.exercises.base import Feedback, _number

__all__ = ["check_t_half_width", "check_seeds_needed", "check_verdict"]


def check_t_half_width(answer, differences=(0.012, -0.004, 0.009, 0.015, 0.003), confidence: float = 0.95) -> Feedback:
    """Half-width of the t interval of the mean difference: t(1 - α/2; n - 1) · s / √n."""
    import statistics

    from rtt_edu.science.stats import t_interval, t_quantile
    interval = t_interval(differences, confidence)
    expected = (interval.hi - interval.lo) / 2
    n = len(differences)
    z_width = 1.959963984540054 * statistics.stdev(differences) / math.sqrt(n)
    population = t_quantile(0.5 + confidence / 2, n - 1) * statistics.pstdev(differences) / math.sqrt(n)
    value = _number(answer, "a number (the half-width of the interval)")
    if isinstance(value, Feedback):
        return value
    if abs(value - expected) <= 5e-5:
        return Feedback(True, f"right: t({0.5 + confidence / 2:.3f}; {n - 1}) = {t_quantile(0.5 + confidence / 2, n - 1):.4f}, "
                              f"s = {statistics.stdev(differences):.5f}, half-width = {expected:.5f}.")
    if abs(value - z_width) <= 5e-5:
        return Feedback(False, f"{value:g} uses 1.96, the normal quantile. With {n} seeds use Student's t with "
                               f"{n - 1} degrees of freedom: t_quantile({0.5 + confidence / 2}, {n - 1}).")
    if abs(value - population) <= 5e-5:
        return Feedback(False, f"{value:g} uses the population standard deviation (divide by n). "
                               "The sample standard deviation divides by n - 1: statistics.stdev.")
    return Feedback(False, f"{value:g} is not it. Half-width = t(1 - α/2; n - 1) × s / √n, with s the sample "
                           "standard deviation of the differences.")


def check_seeds_needed(answer, sd: float = 0.01, half_width: float = 0.002, confidence: float = 0.95) -> Feedback:
    """The fewest seeds n with t(1 - α/2; n - 1) · sd / √n <= half_width."""
    from rtt_edu.science.stats import t_quantile
    q = 0.5 + confidence / 2
    n = 2
    while t_quantile(q, n - 1) * sd / math.sqrt(n) > half_width:
        n += 1
    normal = math.ceil((1.959963984540054 * sd / half_width) ** 2)
    value = _number(answer, "a whole number of seeds")
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
    return Feedback(False, f"{value:g} seeds are not enough: t(1 - α/2; n - 1) × sd / √n is still above {half_width:g}.")


def check_verdict(answer, lo: float = -0.004, hi: float = 0.011, better: str = "lower") -> Feedback:
    """Which verdict an interval [lo, hi] of (arm - plain) supports: 'better', 'worse' or 'no difference'."""
    from rtt_edu.science.stats import Interval, verdict
    expected = verdict(Interval((lo + hi) / 2, lo, hi, 0.95, "t", 2), better).split(":")[0]
    if answer is None:
        return Feedback(False, "replace `None` with 'better', 'worse' or 'no difference', then run the cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected 'better', 'worse' or 'no difference'.")
    given = answer.strip().lower()
    given = "no difference detected" if given.startswith("no difference") else given
    if given == expected:
        return Feedback(True, f"right: {expected}. " + (
            f"The interval [{lo:+g}, {hi:+g}] contains 0, and it also says a difference larger than "
            f"{max(abs(lo), abs(hi)):g} is unlikely: that is the useful half of the answer."
            if expected.startswith("no") else f"The whole interval [{lo:+g}, {hi:+g}] is on one side of 0."))
    return Feedback(False, f"{answer!r} is not it. Is 0 inside [{lo:+g}, {hi:+g}]? If not, which side is better "
                           f"when {better} is better?")
