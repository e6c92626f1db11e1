"""Many seeds at once: the dice run and the plain run of every seed, trained as one batch of models.

    batch = SeedBatch("moons", seeds=range(64), rules="classroom", optimizer="sgd", lr=0.1)
    batch.step(300)                         # 128 MLPs (64 dice, 64 plain), one batched pass per step
    batch.dice_losses, batch.plain_losses   # (64, 300) each: loss of every seed at every step
    plot_band(batch.dice_losses, batch.plain_losses)

**What a seed fixes.** Seed s gives the data ``make_dataset(dataset, points, noise, seed=s)``,
the initial weights ``mlp(..., seed=s)`` and the dice ``DiceRoller(s)``: exactly what a
``TrainingPanel`` (or ``attach(optimizer, rules, seed=s)``) with that seed uses, so seed s here
is that panel's run. Its dice run and its plain run start from the same weights on the same data.

**Batching.** The B = 2·seeds models are stacked (in groups of G, see :class:`SeedBatch`): layer
l holds W (G, out, in) and b (G, out), points are stored feature-major, and every model's
full-batch forward pass is one batched matmul per layer::

    h_l = f(W_l h_{l-1} + b_l)               h_l: (G, width, n), one ``baddbmm``
    L_b = mean_i CE(z_b,i, y_b,i)            each model's own loss, so ∂(Σ_b L_b)/∂θ_b = ∂L_b/∂θ_b

**The gradients** are written out rather than left to autograd (a third faster at this size,
with no graph to build): for the mean cross-entropy of each model over its n points,

    δ_L = (softmax(z_L) - onehot(y)) / n             ∂L_b/∂z_L, (G, classes, n)
    ∂W_l = δ_l h_{l-1}ᵀ,   ∂b_l = Σ_i δ_l             one ``bmm`` and a sum per layer
    δ_{l-1} = f'(z_{l-1}) ⊙ (W_lᵀ δ_l)                f' from :data:`ACTIVATION_GRADS`

and the tests check them against autograd and against PyTorch's optimizers, seed by seed.

**The multiplier.** Each step, seed s rolls its save from its own ``DiceRoller(s)`` through
:meth:`~rtt_edu.game.rules.SavingThrow.roll_batch` (one :meth:`~rtt_edu.game.rules.SavingThrow.roll`
per seed: the rule's die, advantage, modifier and intelligence bonus, the path every training loop
uses) and its dice model's update is exactly m_s times the plain update, as ``target="update"``
makes it: the learning rate of that model, for that step, is lr·m_s. The plain models use m = 1.
The optimizers are the batched twins of :data:`~rtt_edu.training.optimizers.OPTIMIZERS`
(PyTorch's formulas, for stacked parameters).
Classes, monsters and experience act per step on one optimizer and are not batched here: a
``TrainingPanel`` shows those.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch.nn import functional as F

from rtt_edu.data.toy import DATASETS, make_dataset
from rtt_edu.errors import RollToTrainTypeError, bad_value, check_type, require
from rtt_edu.game.dice import DiceRoller, ability_modifier
from rtt_edu.game.rules import as_rules
from rtt_edu.models.mlp import mlp
from rtt_edu.training.optimizers import OPTIMIZERS

__all__ = ["SeedBatch", "roll_multiplier", "one_thread", "ACTIVATION_GRADS"]


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block, then restore the thread count.

    Toy models are far too small to gain from threads, and on a shared or quota-limited machine
    (a classroom server, mybinder.org) several threads spin-wait on each other: a step that takes
    0.3 ms on one thread can take 50 ms on two busy cores.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_aten = torch.ops.aten

#: activation → (a = f(z), ∂L/∂z from g = ∂L/∂a, the input z and the output a): PyTorch's own backward kernels.
ACTIVATION_GRADS = {
    "relu": (torch.relu, lambda g, z, a: _aten.threshold_backward(g, a, 0)),   # g · 1[a > 0]
    "tanh": (torch.tanh, lambda g, z, a: _aten.tanh_backward(g, a)),           # g · (1 - a²)
    "sigmoid": (torch.sigmoid, lambda g, z, a: _aten.sigmoid_backward(g, a)),  # g · a (1 - a)
    "gelu": (F.gelu, lambda g, z, a: _aten.gelu_backward(g, z)),               # g · (Φ(z) + z φ(z))
}


#: the activations whose backward reads only their output, computed in place on z (no copy kept).
INPLACE_ACTIVATIONS = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}


def roll_multiplier(rules, roller: DiceRoller, intelligence: int = 10) -> float:
    """One roll of ``rules`` from ``roller`` → its multiplier, as a GameMaster with no participants rolls it.

    bonus = the intelligence modifier;  (Roll, outcome, m) = rules.roll(roller, bonus)
    """
    return rules.roll(roller, ability_modifier(intelligence))[2]


def _seed_list(seeds) -> list:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = range(seeds)
    try:
        out = list(seeds)
    except TypeError:
        raise RollToTrainTypeError(bad_value("seeds", seeds, "an int (that many seeds from 0) or a list of ints")) \
            from None
    require(out and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in out),
            "seeds", seeds, "a non-empty list of integer seeds >= 0")
    require(len(set(out)) == len(out), "seeds", seeds, "distinct seeds")
    return out


class SeedBatch:
    """Dice and plain runs of the toy MLP for every seed, stepped together (see the module docstring).

    The B models are kept in groups of ``group_size`` (by default as many as keep one layer's
    activations, group × points × width floats, near 128K: about half a megabyte), each group one
    stack of parameters with its own batched optimizer: the same arithmetic as one big stack, but
    every tensor of a group stays in the CPU's cache, which roughly halves the time of a step.
    """

    def __init__(self, dataset: str = "moons", seeds=16, rules="classroom", optimizer: str = "sgd",
                 lr: float = 0.1, hidden: int = 16, layers: int = 2, activation: str = "relu",
                 points: int = 400, noise: float = 0.1, intelligence: int = 10, group_size: int | None = None):
        self.seeds = _seed_list(seeds)
        check_type("dataset", dataset, str, f"one of {sorted(DATASETS)}")
        require(dataset in DATASETS, "dataset", dataset, f"one of {sorted(DATASETS)}")
        check_type("optimizer", optimizer, str, f"one of {sorted(OPTIMIZERS)}")
        require(optimizer in OPTIMIZERS, "optimizer", optimizer, f"one of {sorted(OPTIMIZERS)}")
        check_type("lr", lr, (int, float), "a learning rate > 0")
        require(math.isfinite(lr) and lr > 0, "lr", lr, "a finite learning rate > 0")
        check_type("layers", layers, int, "a number of hidden layers from 0 to 8")
        require(0 <= layers <= 8, "layers", layers, "a number of hidden layers from 0 to 8")
        self.rules = as_rules(rules)
        self.bonus = ability_modifier(intelligence)     # added to every seed's save
        self.intelligence = intelligence
        datasets = [make_dataset(dataset, n=points, noise=noise, seed=s) for s in self.seeds]
        models = [mlp(2, (hidden,) * layers, datasets[0].classes, activation, seed=s) for s in self.seeds]
        require(activation in ACTIVATION_GRADS, "activation", activation, f"one of {sorted(ACTIVATION_GRADS)}")
        self.activation, self.activation_grad = ACTIVATION_GRADS[activation]
        self.activation_inplace = INPLACE_ACTIVATIONS.get(activation)
        # Model b of B = 2n: b < n rolls seed b's dice, b >= n is seed b - n's plain twin.
        # Points are stored feature-major, X: (B, 2, points), so a layer is W (B, out, in) @ h (B, in, points).
        X = torch.stack([d.X_train.T for d in datasets])
        y = torch.stack([d.y_train for d in datasets])
        X_test = torch.stack([d.X_test.T for d in datasets])
        y_test = torch.stack([d.y_test for d in datasets])
        linears = [mod for mod in models[0] if isinstance(mod, torch.nn.Linear)]
        index = [list(models[0]).index(layer) for layer in linears]
        weights = []
        for i in index:
            W = torch.stack([m[i].weight.detach() for m in models])
            b = torch.stack([m[i].bias.detach() for m in models])
            weights += [torch.cat([W, W]), torch.cat([b, b])]
        B = 2 * len(self.seeds)
        if group_size is None:
            group_size = max(1, 131072 // (X.shape[2] * max(hidden, 2)))
        check_type("group_size", group_size, int, "a number of models per group >= 1")
        require(group_size >= 1, "group_size", group_size, "a number of models per group >= 1")
        # One flat leaf tensor per group, a row per model; each layer's W and b are views of it, so a
        # backward pass leaves every gradient in one (G, P) tensor and the optimizer steps it at once.
        self.layout, offset = [], 0
        for w in weights:
            shape = tuple(w.shape[1:])
            self.layout.append((offset, shape))
            offset += math.prod(shape)
        flat = torch.cat([w.reshape(B, -1) for w in weights], 1)
        X2, y2 = torch.cat([X, X]), torch.cat([y, y])
        Xt2, yt2 = torch.cat([X_test, X_test]), torch.cat([y_test, y_test])
        self.groups = []
        for start in range(0, B, group_size):
            part = slice(start, min(B, start + group_size))
            leaf = flat[part].clone()
            self.groups.append({"models": part, "flat": leaf, "params": self.params(leaf),     # views, made once
                                "X": X2[part].contiguous(), "y": y2[part].contiguous(),
                                "minus_one": torch.full((part.stop - part.start, 1, X.shape[2]), -1.0),
                                "X_test": Xt2[part], "y_test": yt2[part],
                                "optimizer": OPTIMIZERS[optimizer].batched([leaf], float(lr))})
        self.rollers = [DiceRoller(s) for s in self.seeds]
        self._losses: list = []         # one (B,) tensor per step: each model's loss before its update
        self._multipliers: list = []    # one list of n multipliers per step

    def params(self, flat: torch.Tensor) -> list:
        """A group's (G, P) parameter rows as the layers' tensors [W₁ (G, out, in), b₁ (G, out), ...]."""
        return [flat[:, o:o + math.prod(shape)].view(-1, *shape) for o, shape in self.layout]

    def forward(self, flat, X: torch.Tensor, keep: list | None = None, params: list | None = None) -> torch.Tensor:
        """Logits (G, classes, points) of a group's G stacked models on their points X (G, 2, points).

        h_l = f(z_l),  z_l = W_l h_{l-1} + b_l  (one ``baddbmm``), h_0 = X, no f after the last layer.
        ``keep`` collects (z_l, h_l) of the hidden layers for the backward pass; ``params`` are
        ``self.params(flat)`` when the caller already has them.
        """
        params = self.params(flat) if params is None else params
        h = X
        layers = len(params) // 2
        for i in range(layers):
            z = torch.baddbmm(params[2 * i + 1].unsqueeze(2), params[2 * i], h)
            if i == layers - 1:
                return z
            if keep is not None and self.activation_inplace is not None:
                h = self.activation_inplace(z)          # its backward reads only the output: z is not kept
                keep.append((None, h))
                continue
            h = self.activation(z)
            if keep is not None:
                keep.append((z, h))
        return h

    @torch.no_grad()
    def loss_and_grad(self, group: dict):
        """(each model's mean cross-entropy (G,), the gradient of their sum as (G, P) rows), by hand."""
        return self._loss_and_grad(group)

    def _loss_and_grad(self, group: dict):
        flat, X, y, params = group["flat"], group["X"], group["y"], group["params"]
        hidden: list = []
        logits = self.forward(flat, X, hidden, params)
        log_p = torch.log_softmax(logits, 1)
        index = y.unsqueeze(1)
        loss = -log_p.gather(1, index).squeeze(1).mean(1)
        delta = log_p.exp_()                                   # δ = (softmax - onehot(y)) / n
        minus_one = group.get("minus_one")
        if minus_one is None or minus_one.shape != index.shape:
            minus_one = torch.full(index.shape, -1.0, dtype=delta.dtype)
        delta.scatter_add_(1, index, minus_one)
        delta.div_(X.shape[2])
        inputs = [X] + [h for _, h in hidden]
        grads = [None] * len(params)
        for i in reversed(range(len(params) // 2)):
            grads[2 * i] = torch.bmm(delta, inputs[i].transpose(1, 2))      # ∂W = δ hᵀ
            grads[2 * i + 1] = delta.sum(2)                                  # ∂b = Σ δ
            if i:
                z, h = hidden[i - 1]
                delta = self.activation_grad(torch.bmm(params[2 * i].transpose(1, 2), delta), z, h)
        G = flat.shape[0]
        return loss, torch.cat([g.reshape(G, -1) for g in grads], 1)

    def step(self, n: int = 1) -> None:
        """``n`` optimizer steps of every model at once."""
        check_type("n", n, int, "a number of steps >= 0")
        require(n >= 0, "n", n, "a number of steps >= 0")
        plain = [1.0] * len(self.seeds)
        with one_thread():
            self._step(n, plain)

    @torch.no_grad()
    def _step(self, n: int, plain: list) -> None:
        for _ in range(n):
            m = self.rules.roll_batch(self.rollers, self.bonus)[1]      # one roll per seed, as roll_multiplier
            scales = m + plain
            losses = []
            for group in self.groups:
                loss, group["flat"].grad = self._loss_and_grad(group)
                group["optimizer"].update(scales[group["models"]])
                losses.append(loss)
            self._losses.append(torch.cat(losses))
            self._multipliers.append(m)

    @property
    def steps(self) -> int:
        return len(self._losses)

    @property
    def dice_losses(self) -> torch.Tensor:
        """(seeds, steps): the loss of each seed's dice run at each step, before that step's update."""
        return self._stacked()[:, : len(self.seeds)].T

    @property
    def plain_losses(self) -> torch.Tensor:
        """(seeds, steps): the same for each seed's plain run."""
        return self._stacked()[:, len(self.seeds):].T

    @property
    def multipliers(self) -> torch.Tensor:
        """(seeds, steps): the multiplier each seed's dice run applied at each step."""
        if not self._multipliers:
            return torch.empty(len(self.seeds), 0, dtype=torch.float64)
        return torch.tensor(self._multipliers, dtype=torch.float64).T

    def _stacked(self) -> torch.Tensor:
        if not self._losses:
            return torch.empty(0, 2 * len(self.seeds))
        return torch.stack(self._losses)

    @torch.no_grad()
    def test_accuracy(self) -> dict:
        """``{"dice": (seeds,), "plain": (seeds,)}``: accuracy of each model on its seed's test points."""
        hits = torch.cat([(self.forward(g["flat"], g["X_test"]).argmax(1) == g["y_test"]).double().mean(1)
                          for g in self.groups])
        n = len(self.seeds)
        return {"dice": hits[:n], "plain": hits[n:]}
