"""Lesson 8 (where the dice act): the lesson's task, its small network, and its self-checks.

The task is lesson 6's arena: 512 points in the plane, label 1 where x·y > 0 (a checkerboard of
four quadrants), the same 2-16-1 tanh network (:func:`rtt_edu.course.lesson06.make_model`) with a
binary cross-entropy loss.

The self-checks (SGD and Adam under a scaled gradient, an epoch's noise, accumulation) compare an
answer with the exact value computed by the library and name the mistake they see.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from rtt_edu.course.checks import Feedback, judge, read_number
from rtt_edu.course.lesson06 import make_model, quadrants
from rtt_edu.game.rules import SavingThrow, as_rules
from rtt_edu.training.optimizers import OPTIMIZERS as CHOICES

__all__ = ["X", "y", "loss_fn", "make_model", "always", "flat", "LESSON_LR", "OPTIMIZERS", "check_first_adam_step",
           "check_sgd_gradient_ratio", "check_adam_first_step", "check_epoch_noise", "check_accumulation_rolls"]

X, y = quadrants(seed=0)          # (512, 2) points; (512,) labels: 1 in the first and third quadrants
loss_fn = nn.BCEWithLogitsLoss()


def always(m: float) -> SavingThrow:
    """A rule whose every band is m: the dice always say 'scale this step by m'."""
    return SavingThrow(dc=11, crit_fail=m, fail=m, success=m, crit_success=m, name=f"always {m:+g}")


def flat(model) -> torch.Tensor:
    """All parameters of ``model`` as one vector."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


#: name in the library's one optimizer table → the learning rate this lesson trains it at.
LESSON_LR = {"sgd": 0.1, "momentum": 0.1, "adam": 0.01}

#: the optimizer's label ("SGD", "SGD + momentum 0.9", "Adam") → ``f(params)``: that optimizer at the lesson's
#: learning rate, built from :data:`rtt_edu.training.optimizers.OPTIMIZERS`.
OPTIMIZERS = {CHOICES[name].label: functools.partial(CHOICES[name].make, lr=lr) for name, lr in LESSON_LR.items()}


# --- predict, then check ------------------------------------------------------------------------

def check_first_adam_step(answer) -> Feedback:
    """Adam's first step with the gradient scaled by 0.5: the ratio to the plain step is 1 (to 1e-4)."""
    return judge(answer, 1.0, "a number (the ratio of the actual change to the plain change)",
                 "right: about 1. On its first step Adam moves every coordinate by about lr · sign(g): "
                 "halving g changes nothing.",
                 "On the first step m̂ = g and v̂ = g²: what is g / √(g²)?",
                 mistakes=((0.5, "0.5 is what target='update' gives; with target='gradient' Adam divides "
                                 "the scale away."),
                           (0.25, "g is halved in m̂ but g² is quartered in v̂, and Adam divides by √v̂.")),
                 tol=0.01)


# --- exercises ----------------------------------------------------------------------------------

def check_sgd_gradient_ratio(answer) -> Feedback:
    """Plain SGD, target="gradient", m = 0.25: the step is exactly 0.25 of the plain step."""
    return judge(answer, 0.25, "a number (the ratio of the actual change to the plain change)",
                 "right: for plain SGD, Δ = -lr·g, so scaling g by m scales Δ by exactly m.",
                 "For plain SGD the change is -lr·g. What happens to it when g is multiplied by m?", tol=1e-4)


def check_adam_first_step(answer) -> Feedback:
    """Adam's first step with a gradient scaled by -0.5 is the plain step with its sign flipped: ratio -1."""
    return judge(answer, -1.0, "a number (the ratio, to two decimals)",
                 "right: on its first step Adam moves by -lr·g/(|g| + ε) ≈ -lr·sign(g). "
                 "The scale 0.5 cancels; only the sign survives.",
                 "On the first step m̂ = g and v̂ = g², so Δ = -lr·g/(|g| + ε). Put -0.5·g in place of g.", tol=0.01)


def check_epoch_noise(answer, rule=None, batches: int = 64, window: int = 8) -> Feedback:
    """sd of the epoch's mean multiplier = sqrt(Var[m] / R), R = ceil(batches / window) rolls."""
    rule = as_rules("classroom" if rule is None else rule)
    rolls = math.ceil(batches / window)
    expected = math.sqrt(rule.variance() / rolls)
    return judge(answer, expected, "a number (a standard deviation)",
                 f"right: {rolls} rolls per epoch, sd = sqrt({rule.variance():.6f} / {rolls}) = {expected:.4f}.",
                 f"How many rolls does the epoch make ({batches} batches, one roll per {window})? "
                 "The mean of R independent rolls has variance Var[m] / R.", tol=5e-4)


def check_accumulation_rolls(answer, batches: int = 100, window: int = 16) -> Feedback:
    """Rolls per epoch: one per full window plus one for a shorter last window = ceil(batches / window)."""
    expected = math.ceil(batches / window)
    value = read_number(answer, "a whole number of rolls")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        return Feedback(True, f"right: {batches // window} full windows of {window} and a last window of "
                              f"{batches % window} batches, which is stepped too: {expected} rolls.")
    if value == batches // window:
        return Feedback(False, f"{value:g} counts the full windows only. The last {batches % window} batches "
                               "are a shorter window: are they stepped?")
    return Feedback(False, f"{value:g} is not it. One roll per optimizer step: how many steps does the epoch make?")
