"""Lesson 8 (where the dice act): the lesson's task, its small network, and its self-checks.

The task is lesson 6's arena: 512 points in the plane, label 1 where x·y > 0 (a checkerboard of
four quadrants), the same 2-16-1 tanh network (:func:`rtt_edu.course.lesson06.make_model`) with a
binary cross-entropy loss.

The self-checks (SGD and Adam under a scaled gradient, an epoch's noise, accumulation) compare an
answer with the exact value computed by the library and name the mistake they see. The quiz
(:data:`QUIZ`, :func:`check_quiz`) asks about the ideas: Adam and a scaled loss, the target that is exact for
any optimizer, what a skipped step still does, an epoch's noise under accumulation, momentum and m < 0.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from rtt_edu.course.checks import Feedback, Question, ask, judge, read_number
from rtt_edu.course.lesson06 import make_model, quadrants
from rtt_edu.game.rules import SavingThrow, as_rules
from rtt_edu.training.optimizers import OPTIMIZERS as CHOICES

__all__ = ["X", "y", "loss_fn", "make_model", "always", "flat", "LESSON_LR", "OPTIMIZERS", "check_first_adam_step",
           "check_sgd_gradient_ratio", "check_adam_first_step", "check_epoch_noise", "check_accumulation_rolls",
           "QUIZ", "check_quiz"]

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


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="Adam when every loss of a run is multiplied by 10", right="c",
             why="Every gradient is 10 times larger, so Adam's first average grows by 10 and the square root of "
                 "its second average by 10 too: their ratio, and so the step, stays about the same.",
             wrong={"a": "that is plain SGD, whose step is −lr·g. Adam divides by the square root of its second "
                         "average, which grows with the gradients.",
                    "b": "nothing here shrinks the step: the gradients grow, and Adam divides that growth away."}),
    Question(topic="the target that scales the step by m for any optimizer", right="a",
             why="`delta` scales the finished change, p ← p₀ + m·(p − p₀), whatever the optimizer computed.",
             wrong={"b": "`update` scales the learning rate: the step is exactly m times the plain one only when "
                         "the optimizer moves by lr times something that does not depend on lr, as SGD, "
                         "momentum and Adam do. An unknown optimizer need not.",
                    "c": "`gradient` is exact only for plain SGD: an optimizer that remembers past gradients "
                         "keeps the unscaled past."}),
    Question(topic="what a skipped step (m = 0, target update) does under Adam", right="b",
             why="The learning rate of that step is 0, so the weights stay put; but optimizer.step() still runs, "
                 "and Adam's averages take in the batch's gradient.",
             wrong={"a": "optimizer.step() still runs, with a learning rate of 0: the weights stay put, but Adam "
                         "updates its averages with this batch's gradient.",
                    "c": "that is what target='gradient' does (a zero gradient, but a non-zero average); with "
                         "'update' the step is 0 times lr."}),
    Question(topic="an epoch's dice noise with a roll per 4 mini-batches", right="d",
             why="The drift E[m] is the same; the epoch averages R/4 rolls instead of R, so Var[M] = Var[m]/R "
                 "grows 4 times and its standard deviation √4 = 2 times.",
             wrong={"a": "fewer rolls average out less noise: Var[M] = Var[m]/R grows when R falls.",
                    "b": "each roll now decides a step on the gradient of 4 mini-batches, averaged; the mean "
                         "multiplier per epoch, the drift, does not change.",
                    "c": "the variance grows 4 times; the standard deviation is its square root."}),
    Question(topic="why momentum with a scaled gradient and m = −0.5 still went downhill", right="a",
             why="Momentum steps along the sum of past gradients; the newest one, halved and flipped, is one term "
                 "among many, and the older, unflipped ones outweigh it.",
             wrong={"b": "nothing clips the multiplier: the newest gradient really is flipped, but it is one term "
                         "of momentum's sum.",
                    "c": "−0.5·g points uphill; the step went downhill because of the other terms of the sum."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
