"""Lesson 3's set-up: a network with four parameters, its gradient by the chain rule, by a hand-written
backward pass (:class:`Value`) and by PyTorch's autograd, its pictures and its self-checks.

The network takes one input x and gives one output y; its loss on a point (x, t) with target t is

    z = w1·x + b1,   h = tanh(z),   y = w2·h + b2,   L = ½ (y − t)².

By the chain rule each gradient is a product of local derivatives, taken from the loss backwards:

    ∂L/∂y  = y − t
    ∂L/∂w2 = ∂L/∂y · h            ∂L/∂b2 = ∂L/∂y · 1
    ∂L/∂h  = ∂L/∂y · w2
    ∂L/∂z  = ∂L/∂h · (1 − h²)     (tanh′(z) = 1 − tanh(z)²)
    ∂L/∂w1 = ∂L/∂z · x            ∂L/∂b1 = ∂L/∂z · 1          ∂L/∂x = ∂L/∂z · w1

    from rtt_edu.course import lesson03 as c3
    c3.chain_rule(c3.LESSON)["w1"]        # 1.635439...
    c3.backward_pass(c3.LESSON)["w1"]     # the same, from Value.backward()
    c3.autograd(c3.LESSON)["w1"]          # the same, from torch's loss.backward() in float64
    c3.check_w1_gradient(-0.8857)         # ✔ right: ∂L/∂w1 = (y − t)·w2·(1 − h²)·x = ...
"""
from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import dataclass, fields

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown
from matplotlib.patches import FancyBboxPatch, Patch

from rtt_edu.course.checks import Feedback, Question, ask, judge
from rtt_edu.errors import check_type, require

__all__ = ["TinyNet", "LESSON", "EXERCISE", "PARAMETERS", "Value", "forward", "chain_rule", "backward_pass",
           "autograd", "plot_tanh", "plot_graph", "plot_loss_along", "show_code", "check_sign",
           "check_w2_gradient", "check_w1_gradient", "check_input_gradient", "check_dice_step", "QUIZ", "check_quiz"]

PARAMETERS = ("w1", "b1", "w2", "b2")    #: the network's four parameters, in the order the lesson lists them


@dataclass(frozen=True)
class TinyNet:
    """One training point (x, t) and the four parameters of the network y = w2·tanh(w1·x + b1) + b2."""
    x: float = 2.0      # the input
    t: float = 1.0      # the target: the output the loss asks for
    w1: float = 0.5     # layer 1's weight, multiplies x
    b1: float = -0.5    # layer 1's bias, added before tanh
    w2: float = -1.5    # layer 2's weight, multiplies h
    b2: float = 1.0     # layer 2's bias, added to the output

    def __post_init__(self):
        for f in fields(self):
            value = check_type(f.name, getattr(self, f.name), (int, float), "a number")
            require(math.isfinite(value), f.name, value, "a finite number")
            object.__setattr__(self, f.name, float(value))

    def replace(self, **changes) -> TinyNet:
        """A copy with some numbers changed: ``net.replace(w1=0.7)``."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        require(not unknown, "changes", unknown, f"names among {[f.name for f in fields(self)]}")
        return TinyNet(**{**self.__dict__, **changes})


LESSON = TinyNet()                                                       #: the numbers the lesson works with
EXERCISE = TinyNet(x=1.5, t=-0.5, w1=-0.8, b1=0.4, w2=2.0, b2=0.3)       #: the exercises' numbers


def _net(net) -> TinyNet:
    return check_type("net", net, TinyNet, "a TinyNet (for example c3.LESSON)")


def forward(net: TinyNet = LESSON) -> dict:
    """The forward pass: {"z": w1·x + b1, "h": tanh(z), "y": w2·h + b2, "loss": ½(y − t)²}."""
    net = _net(net)
    z = net.w1 * net.x + net.b1
    h = math.tanh(z)
    y = net.w2 * h + net.b2
    return {"z": z, "h": h, "y": y, "loss": (y - net.t) ** 2 / 2}


def chain_rule(net: TinyNet = LESSON) -> dict:
    """∂L/∂(name) for every number of the network, as the products of the module docstring."""
    v = forward(net)
    d_y = v["y"] - net.t                  # L = ½(y − t)²
    d_h = d_y * net.w2                    # y = w2·h + b2
    d_z = d_h * (1 - v["h"] ** 2)         # h = tanh(z)
    return {"loss": 1.0, "y": d_y, "w2": d_y * v["h"], "b2": d_y, "h": d_h, "z": d_z,
            "w1": d_z * net.x, "b1": d_z, "x": d_z * net.w1}


# --- a backward pass by hand (the idea of Karpathy's micrograd) ---------------------------------------------

_created = itertools.count()   # numbers each new Value: a Value is always made after its inputs


class Value:
    """A number that remembers how it was computed, so that ``backward()`` can find
    its gradients. Each operation records its inputs and its local derivative with
    respect to each input.
    """

    def __init__(self, data, inputs=(), local=(), name=""):
        self.data = float(data)      # the number, computed in the forward pass
        self.grad = 0.0              # ∂L/∂self, once L.backward() has run
        self.inputs = inputs         # the Values this one was computed from
        self.local = local           # ∂self/∂input for each input: local derivatives
        self.name = name
        self.created = next(_created)

    def __add__(self, other):        # a + b:  ∂/∂a = 1,  ∂/∂b = 1
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __sub__(self, other):        # a − b:  ∂/∂a = 1,  ∂/∂b = −1
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data - other.data, (self, other), (1.0, -1.0))

    def __mul__(self, other):        # a · b:  ∂/∂a = b,  ∂/∂b = a
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def tanh(self):                  # tanh(a):  ∂/∂a = 1 − tanh(a)²
        h = math.tanh(self.data)
        return Value(h, (self,), (1 - h * h,))

    __radd__, __rmul__ = __add__, __mul__                  # 2 + a, 2 · a

    def __rsub__(self, other):                             # 2 − a
        return Value(other) - self

    def backward(self):
        """Backpropagation: set .grad of this Value L, and of every Value it came
        from, to ∂L/∂(that Value)."""
        graph, stack = {}, [self]
        while stack:                 # collect the graph: L and all it was computed from
            v = stack.pop()
            if id(v) not in graph:
                graph[id(v)] = v
                stack.extend(v.inputs)
        # newest first: each Value comes before its inputs
        order = sorted(graph.values(), key=lambda v: v.created, reverse=True)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0              # ∂L/∂L
        for v in order:              # from L back to the inputs
            for inp, local in zip(v.inputs, v.local):
                inp.grad += v.grad * local   # the chain rule; += sums every path to L

    def __repr__(self):
        name = f"{self.name} = " if self.name else ""
        return f"Value({name}{self.data:.6g}, grad {self.grad:.6g})"


def backward_pass(net: TinyNet = LESSON) -> dict:
    """∂L/∂(name) for x and the four parameters, from :meth:`Value.backward` on the network built of Values."""
    net = _net(net)
    v = {name: Value(getattr(net, name), name=name) for name in ("x", *PARAMETERS)}
    h = (v["w1"] * v["x"] + v["b1"]).tanh()
    y = v["w2"] * h + v["b2"]
    d = y - net.t
    loss = 0.5 * d * d
    loss.backward()
    return {name: value.grad for name, value in v.items()}


def autograd(net: TinyNet = LESSON) -> dict:
    """∂L/∂(name) for x and the four parameters, from PyTorch's ``loss.backward()`` in float64."""
    net = _net(net)
    p = {name: torch.tensor(getattr(net, name), dtype=torch.float64, requires_grad=True)
         for name in ("x", *PARAMETERS)}
    h = torch.tanh(p["w1"] * p["x"] + p["b1"])
    y = p["w2"] * h + p["b2"]
    loss = (y - net.t) ** 2 / 2
    loss.backward()
    return {name: tensor.grad.item() for name, tensor in p.items()}


def show_code(obj) -> Markdown:
    """The source of a class or function, shown in a notebook as a highlighted block of Python."""
    return Markdown(f"```python\n{inspect.getsource(obj)}```")


# --- pictures ----------------------------------------------------------------------------------------------

PARAM_COLOR, DATA_COLOR, NODE_COLOR = "#cfe3f5", "#e6e6e6", "white"   # box fills: parameters, data, computed
GRAD_COLOR = "#D55E00"                                                 # every gradient is drawn in this colour

# The graph's boxes: name -> (column, row, formula, kind). Rows run from 0 (bottom) to 2 (top).
_BOXES = {
    "w1": (0, 2, "w1", "param"), "x": (0, 1, "x", "data"), "b1": (0, 0, "b1", "param"),
    "z": (1, 1, "z = w1·x + b1", "node"), "h": (2, 1, "h = tanh(z)", "node"),
    "w2": (2, 2, "w2", "param"), "b2": (2, 0, "b2", "param"),
    "y": (3, 1, "y = w2·h + b2", "node"), "t": (3, 0, "t", "data"),
    "loss": (4, 1, "L = ½(y − t)²", "node"),
}
# The graph's arrows: (from, to, the local derivative ∂to/∂from as a formula, or None where none is needed).
_ARROWS = (("w1", "z", "x"), ("x", "z", None), ("b1", "z", "1"), ("z", "h", "(1 − h²)"), ("w2", "y", "h"),
           ("h", "y", "w2"), ("b2", "y", "1"), ("y", "loss", "(y − t)"), ("t", "loss", None))
# The graph is laid out in inches: a box is _W by _H, columns are _DX apart and rows _DY apart.
_W, _H, _DX, _DY = 1.6, 0.62, 3.1, 1.4
_FONT = 13                   # the size of every label of the graph, in points


def _local_derivatives(net: TinyNet) -> dict:
    """(from, to) -> ∂to/∂from at the network's numbers: the numbers on the graph's arrows."""
    v = forward(net)
    return {("w1", "z"): net.x, ("b1", "z"): 1.0, ("z", "h"): 1 - v["h"] ** 2, ("w2", "y"): v["h"],
            ("h", "y"): net.w2, ("b2", "y"): 1.0, ("y", "loss"): v["y"] - net.t}


def _number(value: float) -> str:
    """Six decimals, or fewer for a number that has fewer (2, −0.5), with a true minus sign."""
    return (f"{value:g}" if value == round(value, 4) else f"{value:.6f}").replace("-", "−")


def plot_graph(net: TinyNet = LESSON, gradients: bool = False):
    """The computation graph of the network as a new figure: a box per number with its value; with
    ``gradients``, each parameter and computed box also shows ∂L/∂(box) and each arrow its local derivative."""
    net = _net(net)
    values = {**forward(net), "x": net.x, "t": net.t, **{p: getattr(net, p) for p in PARAMETERS}}
    grads, locals_ = chain_rule(net), _local_derivatives(net)
    bottom = 1.3 if gradients else 0.85           # the centre of the lowest row; the key sits below it
    width, height = 0.2 + _W + 4 * _DX, bottom + 2 * _DY + _H / 2 + (0.45 if gradients else 0.1)
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1), xlim=(0, width), ylim=(0, height))      # one data unit is one inch
    ax.axis("off")

    def centre(name):
        col, row, _, _ = _BOXES[name]
        return 0.1 + _W / 2 + col * _DX, bottom + row * _DY

    fills = {"param": PARAM_COLOR, "data": DATA_COLOR, "node": NODE_COLOR}
    for name, (_, _, formula, kind) in _BOXES.items():
        cx, cy = centre(name)
        ax.add_patch(FancyBboxPatch((cx - _W / 2, cy - _H / 2), _W, _H, boxstyle="round,pad=0.03",
                                    facecolor=fills[kind], edgecolor="#333333", lw=1.2))
        ax.text(cx, cy + 0.13, formula, ha="center", va="center", fontsize=_FONT)
        ax.text(cx, cy - 0.14, f"= {_number(values[name])}", ha="center", va="center", fontsize=_FONT)
        if gradients and kind != "data":       # above the top row's boxes, below the others': clear of the arrows
            side = 1 if _BOXES[name][1] == 2 else -1
            label = f"∂L/∂{'L' if name == 'loss' else name} = {_number(grads[name])}"
            ax.text(cx, cy + side * (_H / 2 + 0.2), label, ha="center", va="center", fontsize=_FONT - 1,
                    color=GRAD_COLOR, fontweight="bold")
    for start, end, formula in _ARROWS:
        (x0, y0), (x1, y1) = centre(start), centre(end)
        a = (x0 + _W / 2 + 0.06, y0)                                   # from the right edge of the start box
        b = (x1 - _W / 2 - 0.06, y1 + 0.14 * np.sign(y0 - y1))         # to the left edge of the end box
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.4,
                                                         mutation_scale=18, shrinkA=0, shrinkB=0))
        if gradients and formula is not None:
            text = f"× {formula}\n= {_number(locals_[start, end])}"
            if y0 == y1:          # along a row: above the arrow
                ax.text((a[0] + b[0]) / 2, y0 + 0.05, text, ha="center", va="bottom", fontsize=_FONT,
                        color="#444444", linespacing=1.1)
            else:                 # a slanted arrow: on it, clear of the labels along the row
                along = 0.4 if y0 > y1 else 0.62
                ax.text(a[0] + along * (b[0] - a[0]), a[1] + along * (b[1] - a[1]), text, ha="center", va="center",
                        fontsize=_FONT, color="#444444", linespacing=1.1,
                        bbox=dict(facecolor="white", edgecolor="none", pad=1))
    keys = [Patch(facecolor=PARAM_COLOR, edgecolor="#333333", label="parameter"),
            Patch(facecolor=DATA_COLOR, edgecolor="#333333", label="data: the input x, its target t"),
            Patch(facecolor=NODE_COLOR, edgecolor="#333333", label="computed in the forward pass")]
    if gradients:
        keys += [Patch(facecolor=GRAD_COLOR, label="orange: the box's gradient ∂L/∂(box)"),
                 Patch(facecolor="#444444", label="on an arrow: × its local derivative")]
    ax.legend(handles=keys, loc="lower center", bbox_to_anchor=(width / 2, 0.02), bbox_transform=ax.transData,
              ncol=3, fontsize=_FONT - 1, frameon=False, handlelength=1.5, columnspacing=2)
    return ax


def plot_tanh(z: float = 0.5, ax=None):
    """tanh(z) and its slope 1 − tanh(z)², with the tangent at ``z`` drawn."""
    z = require(isinstance(z, (int, float)) and not isinstance(z, bool) and math.isfinite(z), "z", z,
                "a finite number")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    zs = np.linspace(-3.5, 3.5, 300)
    ax.plot(zs, np.tanh(zs), color="#0072B2", lw=2.5, label="tanh(z)")
    ax.plot(zs, 1 - np.tanh(zs) ** 2, color="#009E73", lw=2.5, ls="--", label="its slope, 1 − tanh(z)²")
    h, slope = math.tanh(z), 1 - math.tanh(z) ** 2
    ax.plot([z - 0.8, z + 0.8], [h - 0.8 * slope, h + 0.8 * slope], color=GRAD_COLOR, lw=2,
            label=f"tangent at z = {z:g}: slope {slope:.4f}")
    ax.plot([z], [h], "o", color=GRAD_COLOR, ms=7)
    ax.axhline(0, color="#999999", lw=0.8)
    ax.axvline(0, color="#999999", lw=0.8)
    ax.set(xlim=(-3.5, 3.5), ylim=(-1.15, 1.15))
    _readable(ax, "z", "tanh(z) and its slope")
    return ax


def plot_loss_along(net: TinyNet = LESSON, name: str = "w1", ax=None):
    """The loss as one parameter ``name`` moves (the other numbers fixed), with its tangent: slope ∂L/∂name."""
    net = _net(net)
    require(name in PARAMETERS, "name", name, f"one of {PARAMETERS}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    now = getattr(net, name)
    ws = np.linspace(now - 1.5, now + 1.5, 301)
    losses = [forward(net.replace(**{name: float(w)}))["loss"] for w in ws]
    ax.plot(ws, losses, color="#4d4d4d", lw=2.5, label=f"loss L as {name} moves")
    lowest = float(ws[int(np.argmin(losses))])
    ax.axvline(lowest, color="#009E73", ls=":", lw=2, label=f"lowest loss, at {name} ≈ {lowest:.2f}")
    loss, slope = forward(net)["loss"], chain_rule(net)[name]
    run = 0.35                         # the tangent's half-length along the parameter's axis
    ax.plot([now - run, now + run], [loss - run * slope, loss + run * slope], color=GRAD_COLOR, lw=3,
            label=f"slope at {name} = {now:g}: ∂L/∂{name} = {slope:+.4f}")
    ax.plot([now], [loss], "o", color=GRAD_COLOR, ms=8)
    _readable(ax, f"{name} (the other numbers fixed)", "loss L")
    return ax


def _readable(ax, xlabel: str, ylabel: str) -> None:
    """Axis labels and ticks large enough to read at a notebook's default zoom, and the key under the axes,
    clear of the curves."""
    ax.set_xlabel(xlabel, fontsize=12)
    ax.set_ylabel(ylabel, fontsize=12)
    ax.tick_params(labelsize=11)
    ax.legend(fontsize=11, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)


# --- predict, then check ---------------------------------------------------------------------------------

def _chain(net: TinyNet, name: str) -> list:
    """[(formula, value)] of the local derivatives whose product, from the loss back, is ∂L/∂``name``."""
    v = forward(net)
    d_y, w2, slope = ("y − t", v["y"] - net.t), ("w2", net.w2), ("1 − h²", 1 - v["h"] ** 2)
    chains = {"w2": [d_y, ("h", v["h"])], "b2": [d_y, ("1", 1.0)],
              "w1": [d_y, w2, slope, ("x", net.x)], "b1": [d_y, w2, slope, ("1", 1.0)]}
    require(name in chains, "name", name, f"one of {PARAMETERS}")
    return chains[name]


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def check_sign(answer, net: TinyNet = LESSON, name: str = "w1") -> Feedback:
    """The sign of ∂L/∂``name``: +1 if the loss rises as the parameter grows, −1 if it falls (0 if neither)."""
    net = _net(net)
    chain = _chain(net, name)
    if answer is None:
        return Feedback(False, "replace `None` with +1 (the loss rises as it grows) or -1 (it falls), then run "
                               "the cell again.")
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer not in (1, -1, 0):
        return Feedback(False, f"answer={answer!r}: expected +1 or -1.")
    gradient = chain_rule(net)[name]
    signs = ", ".join(f"{formula} {'+−'[value < 0] if value else '0'}" for formula, value in chain)
    if answer == _sign(gradient):
        return Feedback(True, f"right: ∂L/∂{name} = {gradient:+.6f}, the product of the local derivatives "
                              f"along its chain, whose signs are {signs}.")
    flips = [formula for formula, value in chain[1:] if value < 0]
    if answer == _sign(chain[0][1]) and flips:
        return Feedback(False, f"{answer:+g} is the sign of y − t alone. The chain from L to {name} also passes "
                               f"through {' and '.join(flips)}, which is negative here: each negative local "
                               "derivative flips the sign.")
    return Feedback(False, f"{answer:+g} is not it. Multiply the signs of the local derivatives along the chain, "
                           "y − t (the prediction minus the target) first.")


# --- exercises ---------------------------------------------------------------------------------------------

def _mistakes(expected: float, pairs) -> list:
    """The (value, message) pairs whose value is not the right answer itself (a mistake that gives the right
    number here would be marked right anyway)."""
    return [(value, message) for value, message in pairs if abs(value - expected) > 1e-9]


def check_w2_gradient(answer, net: TinyNet = EXERCISE) -> Feedback:
    """∂L/∂w2 = (y − t)·h, compared with autograd."""
    net = _net(net)
    v = forward(net)
    expected = autograd(net)["w2"]
    d_y = v["y"] - net.t
    return judge(answer, expected, "a number (∂L/∂w2)",
                 f"right: ∂L/∂w2 = (y − t)·h = {d_y:.6f} × {v['h']:.6f} = {expected:.6f}, as autograd says.",
                 "Run the forward pass first (z, h, y), then multiply dL/dy = y − t by ∂y/∂w2 = h.",
                 _mistakes(expected, (
                     (d_y, "that is y − t, which is ∂L/∂b2; w2 multiplies h, so ∂y/∂w2 = h: multiply by it."),
                     (-expected, "the sign: dL/dy = y − t (prediction minus target), not t − y."),
                     (d_y * net.w2, "that multiplies by w2; the local derivative of w2·h with respect to w2 is h."),
                     (d_y ** 2 * v["h"], "dL/dy is y − t, not (y − t)²: the ½ in L cancels the 2 of the square."),
                     (2 * expected, "the loss is ½(y − t)², so dL/dy = y − t, not 2(y − t)."))),
                 tol=2e-3)


def check_w1_gradient(answer, net: TinyNet = EXERCISE) -> Feedback:
    """∂L/∂w1 = (y − t)·w2·(1 − h²)·x, compared with autograd."""
    net = _net(net)
    v = forward(net)
    expected = autograd(net)["w1"]
    d_y, slope = v["y"] - net.t, 1 - v["h"] ** 2
    return judge(answer, expected, "a number (∂L/∂w1)",
                 f"right: ∂L/∂w1 = (y − t)·w2·(1 − h²)·x = {d_y:.6f} × {net.w2:g} × {slope:.6f} × {net.x:g} "
                 f"= {expected:.6f}, as autograd says.",
                 "Four local derivatives multiply along the chain L ← y ← h ← z ← w1: (y − t), w2, 1 − h², x.",
                 _mistakes(expected, (
                     (d_y * net.w2 * net.x, "you forgot tanh's slope: h = tanh(z), so multiply by 1 − h²."),
                     (-expected, "a sign error: check each factor's sign, y − t (prediction minus target) first."),
                     (d_y * slope * net.x, "you skipped w2: the chain from w1 to L passes through y = w2·h + b2, "
                                           "so ∂y/∂h = w2 is one of the factors."),
                     (d_y * net.w2 * slope, "you stopped at z: z = w1·x + b1, so ∂z/∂w1 = x is the last factor."),
                     (d_y * net.w2 * (1 - v["z"] ** 2) * net.x, "tanh's slope is 1 − tanh(z)² = 1 − h², "
                                                                "not 1 − z²."),
                     (d_y * net.w2 * (1 - v["h"]) * net.x, "tanh's slope is 1 − h², h squared, not 1 − h."),
                     (d_y * net.w2 * slope * net.x * 2, "dL/dy = y − t: the ½ in L cancels the 2 of the square."))),
                 tol=2e-3)


def check_input_gradient(answer, net: TinyNet = EXERCISE) -> Feedback:
    """∂L/∂x = (y − t)·w2·(1 − h²)·w1: the backward pass gives the gradient of the input too."""
    net = _net(net)
    v = forward(net)
    expected = autograd(net)["x"]
    d_z = chain_rule(net)["z"]
    return judge(answer, expected, "a number (∂L/∂x)",
                 f"right: ∂L/∂x = ∂L/∂z · w1 = {d_z:.6f} × {net.w1:g} = {expected:.6f}: the same chain as w1's "
                 "up to z, then z = w1·x + b1 gives ∂z/∂x = w1.",
                 "Reuse ∂L/∂z from ∂L/∂w1's chain; only the last local derivative changes: ∂z/∂x.",
                 _mistakes(expected, (
                     (d_z * net.x, "that is ∂L/∂w1: for x the last local derivative is ∂z/∂x = w1, not x."),
                     (d_z, "that is ∂L/∂z (and ∂L/∂b1); multiply by ∂z/∂x = w1."),
                     (-expected, "a sign error: check each factor's sign."),
                     ((v["y"] - net.t) * net.w2 * net.w1, "you forgot tanh's slope, 1 − h²."))),
                 tol=2e-3)


def check_dice_step(answer, net: TinyNet = EXERCISE, lr: float = 0.1, m: float = 0.25) -> Feedback:
    """The new w1 after one dice-scaled step: w1 − m·lr·∂L/∂w1."""
    net = _net(net)
    for arg, value in (("lr", lr), ("m", m)):
        require(math.isfinite(check_type(arg, value, (int, float), "a number")), arg, value, "a finite number")
    g = autograd(net)["w1"]
    expected = net.w1 - m * lr * g
    return judge(answer, expected, "a number (the new w1)",
                 f"right: w1 − m·lr·∂L/∂w1 = {net.w1:g} − {m:g} × {lr:g} × ({g:.6f}) = {expected:.6f}. The "
                 f"gradient is exact; the dice only scale the step, here to {m:g} of a plain one.",
                 "Take the gradient ∂L/∂w1 of exercise 2, multiply by lr and by m, and subtract from w1.",
                 _mistakes(expected, (
                     (net.w1 - lr * g, "that is a plain step: the dice's m multiplies it."),
                     (net.w1 + m * lr * g, "you added the step: gradient descent goes against the gradient."),
                     (-m * lr * g, "that is the update, the change of w1; the new w1 is w1 plus it."),
                     (net.w1 - m * g, "you forgot the learning rate: the step is m·lr·gradient."))),
                 tol=5e-4)


# --- quiz --------------------------------------------------------------------------------------------------

#: The lesson's quiz: what the chain rule and the backward pass mean, not the numbers they printed.
QUIZ = (
    Question(topic="a zero weight on the chain",
             right="b",
             why="∂L/∂w1 = (y − t)·w2·(1 − h²)·x is a product, and one factor is w2 = 0: moving w1 moves h, "
                 "but h no longer reaches y, so the loss cannot feel it.",
             wrong={"a": "w1 does not touch y directly, but the chain rule multiplies every local derivative on "
                         "the way from w1 to L; one of them is ∂y/∂h = w2.",
                    "c": "a weight of 0 does not make the step larger: a zero factor in a product makes the product "
                         "0, whatever the other factors are."}),
    Question(topic="tanh's flat ends",
             right="a",
             why="the chain for w1 passes through tanh's slope 1 − h², which is close to 0 where tanh is flat "
                 "(h near ±1): the gradient of w1 and b1 nearly vanishes, however wrong the output is.",
             wrong={"b": "a large z does not make a large gradient: the chain multiplies by tanh's slope at z, "
                         "1 − h², and that slope is small where the curve is flat.",
                    "c": "tanh's slope is a factor of ∂L/∂w1 (look at the chain L ← y ← h ← z ← w1): when it "
                         "changes, the gradient changes with it."}),
    Question(topic="why the backward pass goes from the loss back",
             right="c",
             why="one pass from the loss gives ∂L/∂(box) for every box, each computed once and reused by the "
                 "boxes before it; going forwards takes one pass per parameter.",
             wrong={"a": "a forward walk along the chain gives the same numbers (multiplication does not care "
                         "about order); the backward order is about reuse, not about correctness.",
                    "b": "the loss's value is computed by the forward pass, before any gradient; backwards is "
                         "about how many passes the gradients take."}),
    Question(topic="where the dice act on the gradient",
             right="b",
             why="the gradient is computed exactly, as in this lesson; the dice's m scales only the step "
                 "−m·lr·∂L/∂w1, so m = −0.5 moves w1 half a plain step uphill along the same slope.",
             wrong={"a": "the dice do not enter the forward or the backward pass: autograd gives the same exact "
                         "gradient on every roll. m multiplies the step that uses it.",
                    "c": "m scales the step, and a negative m reverses it: w1 moves up the loss, not down "
                         "by a smaller amount."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
