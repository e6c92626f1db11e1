"""Self-checks of lesson 7: where the dice act.

SGD and Adam under a scaled gradient, an epoch's noise, accumulation: each compares an answer with
the exact value computed by the library and names the mistake it sees.
"""
from __future__ import annotations

import math

from rtt_edu.game.rules import as_rules
from rtt_edu.exercises.base import Feedback, _close, _number

__all__ = ["check_sgd_gradient_ratio", "check_adam_first_step", "check_epoch_noise", "check_accumulation_rolls"]


def check_sgd_gradient_ratio(answer) -> Feedback:
    """Plain SGD, target="gradient", m = 0.25: the step is exactly 0.25 of the plain step."""
    return _close(answer, 0.25, 1e-4, "a number (the ratio of the actual change to the plain change)",
                  "right: for plain SGD, Δ = -lr·g, so scaling g by m scales Δ by exactly m.",
                  "For plain SGD the change is -lr·g. What happens to it when g is multiplied by m?")


def check_adam_first_step(answer) -> Feedback:
    """Adam's first step with a gradient scaled by -0.5 is the plain step with its sign flipped: ratio -1."""
    return _close(answer, -1.0, 0.01, "a number (the ratio, to two decimals)",
                  "right: on its first step Adam moves by -lr·g/(|g| + ε) ≈ -lr·sign(g). "
                  "The scale 0.5 cancels; only the sign survives.",
                  "On the first step m̂ = g and v̂ = g², so Δ = -lr·g/(|g| + ε). Put -0.5·g in place of g.")


def check_epoch_noise(answer, rule=None, batches: int = 64, window: int = 8) -> Feedback:
    """sd of the epoch's mean multiplier = sqrt(Var[m] / R), R = ceil(batches / window) rolls."""
    rule = as_rules("classroom" if rule is None else rule)
    rolls = math.ceil(batches / window)
    expected = math.sqrt(rule.variance() / rolls)
    return _close(answer, expected, 5e-4, "a number (a standard deviation)",
                  f"right: {rolls} rolls per epoch, sd = sqrt({rule.variance():.6f} / {rolls}) = {expected:.4f}.",
                  f"How many rolls does the epoch make ({batches} batches, one roll per {window})? "
                  "The mean of R independent rolls has variance Var[m] / R.")


def check_accumulation_rolls(answer, batches: int = 100, window: int = 16) -> Feedback:
    """Rolls per epoch: one per full window plus one for a shorter last window = ceil(batches / window)."""
    expected = math.ceil(batches / window)
    value = _number(answer, "a whole number of rolls")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        return Feedback(True, f"right: {batches // window} full windows of {window} and a last window of "
                              f"{batches % window} batches, which is stepped too: {expected} rolls.")
    if value == batches // window:
        return Feedback(False, f"{value:g} counts the full windows only. The last {batches % window} batches "
                               "are a shorter window: are they stepped?")
    return Feedback(False, f"{value:g} is not it. One roll per optimizer step: how many steps does the epoch make?")
