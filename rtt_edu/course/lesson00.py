"""Lesson 0's set-up: one weight, a straight line, its loss, gradient descent, and a learning-rate panel.

The data are five points on the line y = 1 · x. The model is y = w · x with one parameter w, and
its loss is half the mean squared error,

    L(w) = ½ · mean((w·xᵢ − yᵢ)²) = a/2 · (w − w*)²,   a = mean(xᵢ²) = 2,  w* = 1,

the bowl of lesson 2 (``rtt_edu.science.quadratic``). Its gradient is dL/dw = mean((w·xᵢ − yᵢ)·xᵢ) = a·(w − w*),
so one step of gradient descent, w ← w − lr · a · (w − w*), multiplies the error e = w − w* by
1 − lr·a: the error shrinks when |1 − lr·a| < 1, that is 0 < lr < 2/a = 1, and grows beyond.

    from rtt_edu.course import lesson00 as c0
    c0.loss(3.0)                 # 4.0
    c0.descend(3.0, lr=0.4, steps=3)   # [3.0, 1.4, 1.08, 1.016]
    c0.StepPanel()               # an lr slider and the steps it gives, drawn on the bowl
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from rtt_edu.course.checks import Feedback, Question, ask, judge
from rtt_edu.errors import check_type, require
from rtt_edu.views.widgets.base import LiveFigure, Panel

__all__ = ["X", "Y", "TRUE_W", "CURVATURE", "W0", "loss", "gradient", "descend", "plot_data",
           "plot_loss", "plot_steps", "StepPanel", "check_loss", "check_one_step", "check_converges", "check_factor",
           "check_update", "QUIZ", "check_quiz"]

X = (-2.0, -1.0, 0.0, 1.0, 2.0)        #: the inputs xᵢ
Y = tuple(1.0 * x for x in X)          #: the targets yᵢ, on the line y = 1 · x
TRUE_W = 1.0                           #: w*, the weight that fits every point
CURVATURE = sum(x * x for x in X) / len(X)   #: a = mean(xᵢ²) = 2: how steep the bowl is
W0 = 3.0                               #: where the lessons start the weight


def _number(name, value) -> float:
    check_type(name, value, (int, float), "a number")
    require(math.isfinite(value), name, value, "a finite number")
    return float(value)


def loss(w: float) -> float:
    """L(w) = ½ · mean((w·xᵢ − yᵢ)²): half the mean squared error of the line y = w·x."""
    w = _number("w", w)
    return 0.5 * sum((w * x - y) ** 2 for x, y in zip(X, Y)) / len(X)


def gradient(w: float) -> float:
    """dL/dw = mean((w·xᵢ − yᵢ)·xᵢ) = a·(w − w*)."""
    w = _number("w", w)
    return sum((w * x - y) * x for x, y in zip(X, Y)) / len(X)


def descend(w0: float, lr: float, steps: int) -> list:
    """[w₀, w₁, ..., w_steps] of gradient descent, wₜ₊₁ = wₜ − lr · dL/dw(wₜ)."""
    w, lr = _number("w0", w0), _number("lr", lr)
    check_type("steps", steps, int, "a whole number of steps")
    require(steps >= 0, "steps", steps, "a number of steps ≥ 0")
    ws = [w]
    for _ in range(steps):
        w = w - lr * gradient(w)
        if not math.isfinite(w):
            break
        ws.append(w)
    return ws


def plot_data(ws=(0.5, 1.0, 3.0), ax=None):
    """The five points and the model's line y = w·x for a few weights w.

    The legend names each line by its w only: the lesson asks for a loss after this picture.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    xs = np.linspace(-2.3, 2.3, 2)
    for w, style in zip(ws, ("--", "-", ":", "-.")):
        ax.plot(xs, w * xs, style, label=f"model y = {w:g}·x")
    ax.plot(X, Y, "ko", ms=7, label="data (xᵢ, yᵢ)")
    ax.set_xlabel("input x")
    ax.set_ylabel("output y")
    ax.legend(loc="upper left")
    return ax


def plot_loss(ax=None, marked=(W0,)):
    """The loss over w: a bowl with its minimum at w* = 1, each marked weight with its slope."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ws = np.linspace(-1.2, 3.4, 200)
    ax.plot(ws, [loss(float(w)) for w in ws], color="#4d4d4d", label="loss L(w)")
    for w in marked:
        g = gradient(w)
        ax.plot([w - 0.5, w + 0.5], [loss(w) - 0.5 * g, loss(w) + 0.5 * g], color="#d95f02", lw=2,
                label=f"slope at w = {w:g}: gradient {g:+g}")
        ax.plot([w], [loss(w)], "o", color="#d95f02")
    ax.axvline(TRUE_W, color="#1b9e77", ls=":", label="minimum, w* = 1")
    ax.set_xlabel("weight w")
    ax.set_ylabel("loss L(w)")
    ax.set_ylim(-0.3, 6.5)
    ax.legend(loc="upper center")
    return ax


def _status(lr: float, ws: list, steps: int) -> str:
    factor = 1 - lr * CURVATURE
    head = f"lr {lr:.2f}: every step multiplies the error w − 1 by 1 − lr·2 = {factor:+.2f}"
    if abs(factor) < 1e-12:
        return head + ": the first step lands exactly on the minimum."
    if abs(factor) < 1:
        kind = "creeps towards" if factor > 0.5 else "moves towards" if factor > 0 else "zigzags across, towards"
        return head + f", so w {kind} the minimum: after {steps} steps w = {ws[-1]:.4f}, loss {loss(ws[-1]):.2g}."
    if abs(factor) == 1:
        return head + ": w bounces between two points forever, the loss never falls."
    return (head + f": every step overshoots further than the last, the run diverges "
            f"(after {len(ws) - 1} steps w = {ws[-1]:.3g}, off the chart).")


class StepPanel(Panel):
    """A learning-rate slider and the steps of gradient descent it gives, drawn on the loss bowl.

    ``panel.controls["lr"]`` sets the learning rate; the left plot shows each step wₜ on the bowl
    (an arrow from one to the next), the right one the loss at each step (log scale), and the line
    under them says in words what the step does to the error. ``panel.steps()`` is the list of
    weights drawn. ``close()`` unregisters the slider and closes the figure.
    """

    CAPTION = ("Figure: left, the loss bowl L(w) with the weights w₀, w₁, ... of gradient descent from w = 3 "
               "as dots joined by lines; right, the loss at each step on a log scale.")

    def __init__(self, lr: float = 0.1, steps: int = 12, w0: float = W0):
        super().__init__()
        self.n_steps, self.w0 = steps, _number("w0", w0)
        self.controls["lr"] = widgets.FloatSlider(value=lr, min=0.05, max=1.2, step=0.05, description="lr",
                                                  readout_format=".2f", continuous_update=True)
        self.status = widgets.HTML()
        self.figure = LiveFigure(figsize=(8.6, 3.0), ncols=2, mode="auto", dpi=80)
        self.figures.append(self.figure)
        left, right = self.figure.axes
        ws = np.linspace(-1.2, 3.4, 200)
        left.plot(ws, [loss(float(w)) for w in ws], color="#4d4d4d", lw=1.2, label="loss L(w)")
        left.axvline(TRUE_W, color="#1b9e77", ls=":", label="minimum w* = 1")
        (self._path,) = left.plot([], [], "-o", color="#d95f02", ms=4, lw=1, label="steps w₀, w₁, ...")
        left.set(xlim=(-1.2, 3.4), ylim=(-0.3, 6), xlabel="weight w", ylabel="loss L(w)")
        left.legend(loc="upper center")
        (self._curve,) = right.plot([], [], "-o", color="#d95f02", ms=3, lw=1)
        right.set(yscale="log", xlim=(-0.5, steps + 0.5), ylim=(1e-8, 1e3), xlabel="step t",
                  ylabel="loss L(wₜ)")
        self.widget.children = [self.controls["lr"], self.figure.widget, self.status,
                                widgets.HTML(f"<small>{self.CAPTION}</small>")]
        self.observe(self.controls["lr"], lambda change: self.redraw())
        self.redraw()

    def steps(self) -> list:
        return descend(self.w0, self.controls["lr"].value, self.n_steps)

    def redraw(self) -> None:
        lr = self.controls["lr"].value
        ws = self.steps()
        shown = [w for w in ws if -50 < w < 50]
        self._path.set_data(shown, [loss(w) for w in shown])
        self._curve.set_data(range(len(ws)), [max(loss(w), 1e-12) for w in ws])
        self.status.value = _status(lr, ws, self.n_steps)
        self.figure.draw()

    def __repr__(self):
        return f"StepPanel(lr={self.controls['lr'].value:g})"


def plot_steps(lrs=(0.1, 0.4, 0.5, 0.8, 1.05), steps: int = 8):
    """Gradient descent from w = 3, one line per learning rate: left the weight wₜ at each step (a zigzag
    shows as w jumping from one side of w* = 1 to the other), right its loss (log scale). Returns the Figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.6), layout="constrained")
    markers = ("o", "s", "^", "D", "v", "P")
    for lr, marker in zip(lrs, markers):
        ws = descend(W0, lr, steps)
        factor = 1 - lr * CURVATURE
        label = f"lr {lr:g}: factor 1 − lr·2 = {factor:+.2f}"
        if factor == 0:
            label += " (loss 0, drawn at 10⁻¹²)"
        left.plot(range(len(ws)), ws, marker=marker, lw=1.2, label=label)
        right.plot(range(len(ws)), [max(loss(w), 1e-12) for w in ws], marker=marker, lw=1.2)
    left.axhline(TRUE_W, color="k", ls=":", lw=1, label="the minimum w* = 1")
    left.set(xlabel="step t", ylabel="weight wₜ", title="the weight")
    right.set(yscale="log", xlabel="step t", ylabel="loss L(wₜ) (log scale)", title="its loss")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside lower center", ncols=2)
    return fig


# --- self-checks ------------------------------------------------------------------------------
def check_loss(answer, w: float = W0) -> Feedback:
    """The loss L(w) at ``w``, computed by hand."""
    errors = [w * x - y for x, y in zip(X, Y)]
    squares = [e * e for e in errors]
    expected = loss(w)
    return judge(answer, expected, "a number (the loss at w)",
                 f"right: the errors are {[round(e, 4) for e in errors]}, their squares average "
                 f"{sum(squares) / len(X):g}, and half of that is L({w:g}) = {expected:g}.",
                 "Square the five errors w·xᵢ − yᵢ, average the squares, halve the mean.",
                 mistakes=((2 * expected, "that is the mean of the squares; the loss is half of it."),
                           (sum(squares), "that is the sum of the squares; average them, then halve."),
                           (sum(squares) / 2, "average over the five points before you halve.")))


def check_one_step(answer, w: float = W0, lr: float = 0.4) -> Feedback:
    """Where one step of gradient descent from ``w`` with ``lr`` lands."""
    g = gradient(w)
    expected = w - lr * g
    return judge(answer, expected, "a number (the new weight)",
                 f"right: w − lr · gradient = {w:g} − {lr:g} · {g:g} = {expected:g}.",
                 "Compute the gradient at w first, a·(w − 1) with a = 2, then take lr times it away from w.",
                 mistakes=((w + lr * g, "you added the step: gradient descent goes *against* the gradient."),
                           (w - g, "you forgot to multiply the gradient by the learning rate."),
                           (-lr * g, "that is the update, the change of w; the new weight is w plus it.")))


def check_converges(answer, lr: float) -> Feedback:
    """Whether gradient descent on the lesson's loss converges at ``lr``."""
    factor = 1 - lr * CURVATURE
    expected = abs(factor) < 1
    if not isinstance(answer, bool):
        return Feedback(False, "replace `None` with True (the run converges) or False (it diverges), then run the "
                        "cell again." if answer is None else f"answer={answer!r}: expected True or False.")
    why = (f"each step multiplies the error by 1 − lr·2 = {factor:+.2f}, "
           f"and |{factor:+.2f}| {'<' if expected else '>'} 1")
    if answer == expected:
        return Feedback(True, f"right: {why}: the run {'converges' if expected else 'diverges'}.")
    return Feedback(False, "not this time. Work out 1 − lr·a with a = 2: does its size stay below 1?")


def check_factor(answer, lr: float) -> Feedback:
    """What one step at ``lr`` multiplies the error w − w* by."""
    expected = 1 - lr * CURVATURE
    return judge(answer, expected, "a number (the factor)", f"right: 1 − lr·a = 1 − {lr:g}·2 = {expected:g}.",
                 "The error is multiplied by 1 − lr·a, with a = 2 here.",
                 mistakes=((lr * CURVATURE, "that is lr·a; the factor is 1 minus it."),
                           (1 - lr, "the curvature a = 2 is missing: 1 − lr·a.")))


def check_update(answer, w: float, lr: float) -> Feedback:
    """The update −lr · gradient at ``w``."""
    g = gradient(w)
    expected = -lr * g
    return judge(answer, expected, "a number (the update, the change of w)",
                 f"right: the update is −lr · gradient = −{lr:g} · {g:g} = {expected:g}.",
                 "The update is minus the learning rate times the gradient at w.",
                 mistakes=((lr * g, "the sign: the update goes against the gradient, downhill."),
                           (w - lr * g, "that is the new weight; the update is the change, new minus old.")))


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="which way a step goes when the gradient is negative", right="b",
             why="A negative gradient means the loss falls as w grows, so −lr · gradient is positive: the step "
                 "moves w to the right, downhill.",
             wrong={"a": "a step goes *against* the gradient: −lr · (a negative number) is positive.",
                    "c": "the gradient is 0 at the minimum; a negative gradient only says the loss falls to the "
                         "right, and its size says how steeply.",
                    "d": "the direction of a step depends on the gradient's sign alone; the loss's value sets "
                         "nothing about it."}),
    Question(topic="what doubling a slow learning rate does (0.3 to 0.6)", right="c",
             why="The factor goes from 1 − 0.3·2 = 0.4 to 1 − 0.6·2 = −0.2: w now lands on the other side of "
                 "the minimum each step, but |−0.2| < 0.4, so the error shrinks faster.",
             wrong={"a": "a doubled step does not halve the factor: 1 − lr·2 goes from 0.4 to −0.2, and the "
                         "minus sign means w jumps across the minimum.",
                    "b": "overshooting is not diverging: the run diverges only when the factor's size passes 1, "
                         "here at lr > 1.",
                    "d": "the speed is the size of the factor, |1 − lr·2|: 0.2 is smaller than 0.4, so the error "
                         "shrinks faster, zigzag or not."}),
    Question(topic="what doubling every target does to the minimum and the curvature", right="a",
             why="The line y = 2·x goes through every new point, so w* = 2; the curvature a = mean(xᵢ²) "
                 "depends on the inputs only, so the bowl keeps its shape and moves.",
             wrong={"b": "the minimum is the w whose line fits every point; the points now lie on y = 2·x.",
                    "c": "the curvature a = mean(xᵢ²) is made of the inputs xᵢ only; the targets move the "
                         "minimum, not the steepness.",
                    "d": "the points still lie on a line through 0, so one w fits them all, with loss 0."}),
    Question(topic="what a multiplier m = 0 does to a step", right="a",
             why="The dice multiply the update: 0 · (−lr · gradient) = 0, so w stays where it is for that step.",
             wrong={"b": "m multiplies the update, the change of w, not w itself.",
                    "c": "a plain step is m = 1; m = 0 scales the update to nothing.",
                    "d": "a step goes uphill when m is negative; m = 0 gives no step at all."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
