"""Lesson 4 (a toy network on the moons): why the plain run's loss spikes near step 65, and the self-checks.

**The spike.** Lesson 0's bowl of curvature a overshoots when lr · a > 2: each step multiplies the
error by 1 − lr·a, below −1. A network's loss has a curvature too, different in each direction; the
largest one, the top eigenvalue of the Hessian (the matrix of second derivatives), is its
*sharpness*. :func:`sharpness_along` follows it along the plain run: it grows while the network
learns, and once it passes 2 / lr the plain steps overshoot along that direction and the loss jumps
(a loss spike), which throws the weights to a flatter place, where the loss falls again. Cohen et
al. 2021 call this training "at the edge of stability". The sharpness is found by power iteration
on Hessian-vector products (``torch.autograd.grad`` twice), from a seeded start vector.

**Overfitting.** :func:`train_and_test_losses` trains the plain network and records its loss on the
training points and on the held-out test points at every step; :func:`plot_train_test` draws both.
The training loss keeps falling; the test loss stops falling and climbs once the network starts to
fit the training points' noise.

**The self-checks**: the DC slider's effect, the effective learning rate, counts of skipped and uphill
steps, and the quiz (``QUIZ``, ``check_quiz``); each compares an answer with the exact value computed by
the library and names the mistake it sees.
"""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import torch
from torch.nn import functional as F

from rtt_edu.course.checks import Feedback, Question, ask, judge
from rtt_edu.errors import require
from rtt_edu.game.rules import SavingThrow, as_rules
from rtt_edu.views.widgets import ToyRun, TrainingConfig

__all__ = ["sharpness", "sharpness_along", "plot_sharpness", "train_and_test_losses", "plot_train_test",
           "check_dc15", "check_effective_lr", "check_expected_count", "QUIZ", "check_quiz"]


def sharpness(model, X, y, iterations: int = 30, seed: int = 0, start=None) -> tuple:
    """(top eigenvalue of the Hessian of the cross-entropy loss at the model's weights, its vector).

    Power iteration from a seeded random vector, or from ``start`` (the vector of a nearby step,
    so a few iterations suffice).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(model(X), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    generator = torch.Generator().manual_seed(seed)
    v = start if start is not None else [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    value = 0.0
    for _ in range(iterations):
        norm = torch.sqrt(sum((a * a).sum() for a in v))
        v = [a / norm for a in v]
        hv = torch.autograd.grad(grads, params, v, retain_graph=True)
        value = float(sum((a * b).sum() for a, b in zip(hv, v)))
        v = [h.detach() for h in hv]
    return value, v


def sharpness_along(config: TrainingConfig, steps: int = 90, every: int = 4, iterations: int = 8) -> dict:
    """The plain run of ``config``: its loss at every step and its sharpness every ``every`` steps.

    The first sharpness takes 30 power iterations, each later one ``iterations`` from the last vector.
    """
    run = ToyRun(config)
    model = copy.deepcopy(run.plain_model)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    X, y = run.data.X_train, run.data.y_train
    out = {"steps": [], "sharpness": [], "losses": []}
    vector = None
    for step in range(steps):
        if step % every == 0:
            value, vector = sharpness(model, X, y, iterations=30 if vector is None else iterations, start=vector)
            out["steps"].append(step)
            out["sharpness"].append(value)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        out["losses"].append(loss.item())
        loss.backward()
        optimizer.step()
    run.close()
    return out


def plot_sharpness(result: dict, lr: float):
    """The plain run's loss (left axis) and sharpness (right axis), with the threshold 2 / lr."""
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    ax.plot(result["losses"], color="#0072B2", lw=1.5, label="plain run's loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss", color="#0072B2")
    right = ax.twinx()
    right.plot(result["steps"], result["sharpness"], "s-", color="#D55E00", ms=3, lw=1, label="sharpness")
    right.axhline(2 / lr, color="#D55E00", ls=":", lw=1.5, label=f"2 / lr = {2 / lr:g}: steps overshoot above")
    right.set_ylabel("sharpness (top curvature)", color="#D55E00")
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center", ncol=3,
              bbox_to_anchor=(0.5, -0.22))
    return fig


def train_and_test_losses(config: TrainingConfig, steps: int = 2000) -> dict:
    """The plain run of ``config`` for ``steps`` full-batch steps: {"train": [...], "test": [...]}, the
    cross-entropy on the training points and on the test points before each step."""
    run = ToyRun(config)
    model = copy.deepcopy(run.plain_model)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    data = run.data
    out = {"train": [], "test": []}
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data.X_train), data.y_train)
        with torch.no_grad():
            out["test"].append(F.cross_entropy(model(data.X_test), data.y_test).item())
        out["train"].append(loss.item())
        loss.backward()
        optimizer.step()
    run.close()
    return out


def plot_train_test(curves: dict):
    """The training loss and the test loss of one run against the step, the test loss's lowest point marked."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    ax.plot(curves["train"], color="#0072B2", lw=1.4, label="training loss (the 300 points it learns from)")
    ax.plot(curves["test"], color="#D55E00", lw=1.4, label="test loss (100 held-out points)")
    best = min(range(len(curves["test"])), key=curves["test"].__getitem__)
    ax.plot([best], [curves["test"][best]], "o", color="#D55E00", ms=7,
            label=f"lowest test loss, step {best}")
    ax.set(xlabel="step", ylabel="cross-entropy loss", ylim=(0, 0.75))   # the start, 0.69 = log 2, shows
    ax.legend()
    return fig


def check_dc15(answer) -> Feedback:
    """What DC 15 instead of 11 does to the ``classroom`` curve: "slower", "faster" or "the same"."""
    old, new = (SavingThrow.preset("classroom", dc=dc).expected_multiplier() for dc in (11, 15))
    if answer is None:
        return Feedback(False, 'replace `None` with "slower", "faster" or "the same", then run the cell again.')
    if answer not in ("slower", "faster", "the same"):
        return Feedback(False, f'answer={answer!r}: expected "slower", "faster" or "the same".')
    why = (f"a DC of 15 turns the faces 11 to 14 from successes (m = 0.75) into fails (m = 0.25), so the drift "
           f"falls from E[m] = {old:.3f} to {new:.3f}: the dice run trains like plain SGD at {new:.3f} × lr "
           "instead of {:.3f} × lr, and its loss falls more slowly.".format(old))
    if answer == "slower":
        return Feedback(True, why)
    return Feedback(False, "not yet: which band do the faces 11 to 14 move to at DC 15, and what does that do to "
                           "E[m]?")


# --- exercises ----------------------------------------------------------------------------------

def check_effective_lr(answer, rule="classroom", lr: float = 0.1, before=None) -> Feedback:
    """On average the dice train at lr·E[m]: the drift folded into the learning rate.

    ``before``: a rule whose E[m] a student may use by mistake (``rule`` before a change, e.g. DC 11).
    """
    rule = as_rules(rule)
    expected = lr * rule.expected_multiplier()
    old = None if before is None else as_rules(before).expected_multiplier()
    return judge(answer, expected, "a learning rate",
                 f"right: lr·E[m] = {lr:g}·{rule.expected_multiplier():.4f} = {expected:.4f}. The rest of each "
                 "step is noise around it.",
                 "Each step is m times the plain step, so on average it is E[m] times it.",
                 [(lr, "that is the plain learning rate. The dice scale every step by m."),
                  (rule.expected_multiplier(), f"that is E[m]. Multiply by the learning rate {lr:g}."),
                  (None if old is None else lr * old,
                   f"that uses E[m] = {old or 0:.3f}, the rule's before the change. Which faces change band, and what "
                   "is E[m] now?")],
                 tol=5e-4)


_COUNTED = {"skipped": ("p_skip", "steps with m = 0 (skipped)"),
            "uphill": ("p_ascent", "steps with m < 0 (uphill)")}


def check_expected_count(answer, rule="seed-code", steps: int = 300, kind: str = "skipped") -> Feedback:
    """The expected number of skipped (m = 0) or uphill (m < 0) steps in ``steps`` steps: steps · P."""
    require(kind in _COUNTED, "kind", kind, f"one of {sorted(_COUNTED)}")
    rule = as_rules(rule)
    method, label = _COUNTED[kind]
    p = getattr(rule, method)()
    expected = steps * p
    return judge(answer, expected, "a number of steps",
                 f"right: {steps} · {p:.4f} = {expected:.2f} {label} on average.",
                 f"Each step is one roll: the count is steps · P, with P from rule.{method}().",
                 [(p, f"that is the probability of one step. Multiply by {steps} steps."),
                  (steps * (1 - p), "that counts the other steps.")], tol=0.05)


# --- the quiz -------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="what removes the plain run's loss spike",
             right="b",
             why="the spike comes when the sharpness passes 2 / lr; at lr 0.2 that line is at 10, above the "
                 "highest sharpness the run reaches (about 7), so the steps no longer overshoot.",
             wrong={"a": "a larger learning rate lowers the line 2 / lr: the sharpness crosses it sooner, and "
                         "the steps overshoot more.",
                    "c": "the spike happens at step 65; more steps after it change nothing before it.",
                    "d": "the test points are never trained on: they measure the network, they do not move it."}),
    Question(topic="what the growing gap between training and test loss means",
             right="c",
             why="the network keeps fitting the training points, noise included, and that extra fit does "
                 "not carry over to points it never saw: it is overfitting.",
             wrong={"a": "a network that learned the moons better would do better on new points too; here "
                         "the test loss gets worse.",
                    "b": "the training loss falls smoothly all along: no step overshoots there.",
                    "d": "the test points come from the same two moons, with the same noise; only which "
                         "points the network trained on differs."}),
    Question(topic="what the DC slider does to the plain run",
             right="a",
             why="the plain run rolls no dice: the panel keeps it, and only the dice run is re-trained, "
                 "on the same dice faces read by the new rule.",
             wrong={"b": "the plain run has no saving throw: a DC cannot make its steps smaller.",
                    "c": "a plain step is never scaled by m, so no DC can make it larger either."}),
    Question(topic="why the fair control is a plain run at lr · E[m]",
             right="b",
             why="on average a dice run moves like plain SGD at lr · E[m]: a plain run at that rate has the "
                 "same pace, so what is left between the two is the dice's noise.",
             wrong={"a": "the plain run at lr 0.5 trains well (loss 0.064): it is not broken, it is just "
                         "faster than the dice on average.",
                    "c": "both runs see the same data and start from the same weights: only the step sizes differ.",
                    "d": "a plain run rolls no dice, so it has none of their noise: that is why it can "
                         "show what the noise does."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
