"""Many seeds at once: the dice run and the plain run of every seed, trained as one batch of models.

    batch = SeedBatch("moons", seeds=range(64), rules="classroom", optimizer="sgd", lr=0.1)
    batch.step(300)                         # 128 MLPs (64 dice, 64 plain), one batched pass per step
    batch.dice_losses, batch.plain_losses   # (64, 300) each: loss of every seed at every step
    plot_band(batch.dice_losses, batch.plain_losses)

**What a seed fixes.** Seed s gives the data ``make_dataset(dataset, points, noise, seed=s)``,
the initial weights ``mlp(..., seed=s)`` and the dice ``DiceRoller(s)``: exactly what a
``TrainingPanel`` (or ``attach(optimizer, rules, seed=s)``) with that seed uses, so seed s here
is that panel's run. Its dice run and its plain run start from the same weights on the same data.

**Batching.** The B = 2·seeds models are stacked in groups of G, each group the dice runs of a
range of seeds and their plain twins (see :class:`SeedBatch`): layer l holds W (G, out, in) and
b (G, out), points are stored feature-major, and every model's full-batch forward pass is one
batched matmul per layer::

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

**Group by group, on every core.** The groups share nothing (each has its seeds' data, dice and
optimizer), so :meth:`SeedBatch.step` trains them one after another, or several at once on
threads, one group per idle core (:func:`free_cores`): PyTorch runs each group's small operations on
its own thread without the GIL, and a model's numbers do not depend on which thread trained it or
when. A group is built when it first trains, so a panel can train the first seeds to the end and
draw their band (``batch.losses(seeds=k)``) before the other seeds' data exist.

    batch.step(300, groups=[0])             # the first group's seeds, to step 300
    batch.seeds_at(300)                     # how many leading seeds have 300 steps
    batch.step(300, groups=[1, 2, 3, 4])    # the others, two at a time on two cores
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch.nn import functional as F

from rtt_edu.data.toy import DATASETS, make_dataset
from rtt_edu.errors import RollToTrainTypeError, bad_value, check_type, require
from rtt_edu.game.dice import DiceRoller, ability_modifier
from rtt_edu.game.rules import as_rules
from rtt_edu.models.mlp import mlp
from rtt_edu.training.optimizers import OPTIMIZERS

__all__ = ["SeedBatch", "roll_multiplier", "one_thread", "usable_cores", "free_cores", "ACTIVATION_GRADS"]


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


def usable_cores() -> int:
    """The CPU cores this process may keep busy: the cores it may run on (``taskset -c 0`` leaves one), at most
    the container's CPU quota (cgroup ``cpu.max``; mybinder.org grants about one core), and at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                      # not Linux
        cores = os.cpu_count() or 1
    for quota_file, period_file in (("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            text = Path("/sys/fs/cgroup", quota_file).read_text().split()
            quota, period = text[0], (text[1] if period_file is None
                                      else Path("/sys/fs/cgroup", period_file).read_text().strip())
        except (OSError, IndexError):
            continue
        if quota not in ("max", "-1"):
            with contextlib.suppress(ValueError, ZeroDivisionError):
                cores = min(cores, int(quota) // int(period))
        break
    return max(1, cores)


def free_cores() -> int:
    """The usable cores (:func:`usable_cores`) this process can have to itself: its own, and the others less the
    1-minute load average of other work, a core at least half idle counted as idle. So on two cores a
    second thread starts while the load average is below 1.5, and never on one core.

    A second thread helps only on an idle core. Measured on a shared 2-core machine (64 seeds × 300
    steps): 0.75 s on two threads against 0.95 s on one at a load average of 1.2 to 1.6, but 1.15 s
    against 0.9 s at 2.5, the other core busy with other jobs. PyTorch's own intra-op threads are worse
    still on a busy core (3 to 20 s: they spin-wait), so the batches run PyTorch on one thread
    (:func:`one_thread`) and add threads of their own (:meth:`SeedBatch.step`).
    """
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):          # not a Unix
        return cores
    return max(1, min(cores, int(cores + 1.5 - load)))      # load 0.3 of 2 cores: 2; load 1.7: 1


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
    """Dice and plain runs of the toy MLP for every seed, trained group by group (see the module docstring).

    The seeds are cut into groups of ``group_size`` models: the dice runs of ``group_size // 2``
    seeds and their plain twins (at least one seed a group). By default a group holds as many as
    keep one layer's activations, group × points × width floats, near 128K (about half a megabyte),
    so every tensor of a group stays in the CPU's cache, which roughly halves the time of a step.
    ``first_group`` (models) makes the first group smaller than the others: the first seeds'
    band comes sooner. Each group is one stack of parameters with its own batched optimizer; it is
    built when it first trains.
    """

    def __init__(self, dataset: str = "moons", seeds=16, rules="classroom", optimizer: str = "sgd",
                 lr: float = 0.1, hidden: int = 16, layers: int = 2, activation: str = "relu",
                 points: int = 400, noise: float = 0.1, intelligence: int = 10, group_size: int | None = None,
                 first_group: int | None = None):
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
        self.optimizer, self.lr = optimizer, float(lr)
        self._data = lambda s: make_dataset(dataset, n=points, noise=noise, seed=s)
        self._model = lambda s, classes: mlp(2, (hidden,) * layers, classes, activation, seed=s)
        first = self._data(self.seeds[0])               # the settings are checked here, on the first seed
        model = self._model(self.seeds[0], first.classes)
        self.classes = first.classes
        require(activation in ACTIVATION_GRADS, "activation", activation, f"one of {sorted(ACTIVATION_GRADS)}")
        self.activation, self.activation_grad = ACTIVATION_GRADS[activation]
        self.activation_inplace = INPLACE_ACTIVATIONS.get(activation)
        # A model's parameters are one row: W₁ (out, in), b₁ (out), W₂, b₂, ... flattened in that order.
        self.layout, offset = [], 0
        for layer in _linears(model):
            for tensor in (layer.weight, layer.bias):
                self.layout.append((offset, tuple(tensor.shape)))
                offset += tensor.numel()
        if group_size is None:
            group_size = max(1, 131072 // (len(first.y_train) * max(hidden, 2)))
        for name, size in (("group_size", group_size), ("first_group", first_group)):
            if size is not None:
                check_type(name, size, int, "a number of models per group >= 1")
                require(size >= 1, name, size, "a number of models per group >= 1")
        per = max(1, group_size // 2)
        head = per if first_group is None else max(1, first_group // 2)
        starts = [0, *range(head, len(self.seeds), per)]
        #: the seeds of each group, as (start, stop) indices into ``seeds``, in training order.
        self.spans = [(a, min(b, len(self.seeds))) for a, b in zip(starts, [*starts[1:], len(self.seeds)]) if a < b]
        self._groups: list = [None] * len(self.spans)
        self._groups[0] = self._build(0, {self.seeds[0]: (first, model)})

    # --- the groups ---------------------------------------------------------------------------------
    def _build(self, index: int, made: dict | None = None) -> dict:
        """Group ``index``: its seeds' data and initial weights stacked, dice runs first, then their plain twins."""
        a, b = self.spans[index]
        seeds = self.seeds[a:b]
        made = made or {}
        members = []                                    # (data, model) of each seed
        for s in seeds:
            if s not in made:
                data = self._data(s)
                made[s] = (data, self._model(s, data.classes))
            members.append(made[s])
        datasets = [d for d, _ in members]
        rows = torch.stack([torch.cat([t.detach().reshape(-1) for layer in _linears(model)
                                       for t in (layer.weight, layer.bias)]) for _, model in members])
        leaf = torch.cat([rows, rows])                  # (2k, P): row i < k rolls seed i's dice, row k + i is its twin
        X = torch.stack([d.X_train.T for d in datasets])            # (k, 2, points): feature-major
        y = torch.stack([d.y_train for d in datasets])
        X_test = torch.stack([d.X_test.T for d in datasets])
        y_test = torch.stack([d.y_test for d in datasets])
        return {"seeds": slice(a, b), "flat": leaf, "params": self.params(leaf),     # views, made once
                "X": torch.cat([X, X]), "y": torch.cat([y, y]),
                "minus_one": torch.full((2 * len(seeds), 1, X.shape[2]), -1.0),
                "X_test": torch.cat([X_test, X_test]), "y_test": torch.cat([y_test, y_test]),
                "optimizer": OPTIMIZERS[self.optimizer].batched([leaf], self.lr),
                "rollers": [DiceRoller(s) for s in seeds],
                "losses": [],          # one (2k,) tensor per step: each model's loss before its update
                "multipliers": []}     # one list of k multipliers per step

    def _group(self, index: int) -> dict:
        if self._groups[index] is None:
            self._groups[index] = self._build(index)
        return self._groups[index]

    @property
    def groups(self) -> list:
        """Every group (built now if it was not yet): dicts with ``flat`` (the (G, P) parameter rows), ``X``,
        ``y``, ``optimizer``, ``losses``, ... of the dice runs of ``seeds[group["seeds"]]`` and their twins."""
        return [self._group(i) for i in range(len(self.spans))]

    def params(self, flat: torch.Tensor) -> list:
        """A group's (G, P) parameter rows as the layers' tensors [W₁ (G, out, in), b₁ (G, out), ...]."""
        return [flat[:, o:o + math.prod(shape)].view(-1, *shape) for o, shape in self.layout]

    def parameters(self) -> tuple:
        """(dice, plain): every model's parameters as a row, (seeds, P) each, in the order of ``seeds``."""
        rows = [(g["flat"][: len(g["rollers"])], g["flat"][len(g["rollers"]):]) for g in self.groups]
        return torch.cat([d for d, _ in rows]), torch.cat([p for _, p in rows])

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

    def step(self, n: int = 1, groups=None, workers: int | None = None, seconds: float | None = None) -> None:
        """``n`` optimizer steps of every model in ``groups`` (indices into :attr:`spans`; all by default).

        The groups train one after another, or ``workers`` at a time on threads (by default one per
        idle core, :func:`free_cores`); every thread runs PyTorch on one CPU thread. The numbers are
        the same either way. With ``seconds``, a group stops early once that much time has
        passed (a slice of a panel's training; the steps it did not take are left for a later call).
        """
        check_type("n", n, int, "a number of steps >= 0")
        require(n >= 0, "n", n, "a number of steps >= 0")
        chosen = range(len(self.spans)) if groups is None else groups
        self._train_groups([(i, n) for i in chosen], workers, seconds)

    def train_to(self, steps: int, groups=None, workers: int | None = None, seconds: float | None = None) -> None:
        """Every group in ``groups`` (all by default) trained to ``steps`` steps (see :meth:`step`)."""
        check_type("steps", steps, int, "a number of steps >= 0")
        chosen = range(len(self.spans)) if groups is None else groups
        self._train_groups([(i, steps - self.group_steps(i)) for i in chosen], workers, seconds)

    def _train_groups(self, plan: list, workers, seconds) -> None:
        """``plan``: (group index, steps); the groups built here, then trained one by one or on threads."""
        deadline = None if seconds is None else time.perf_counter() + seconds      # building a group counts too
        plan = [(self._group(i), n) for i, n in plan if n > 0]
        workers = min(len(plan), free_cores() if workers is None else workers)
        with one_thread():
            if workers <= 1:
                for group, n in plan:
                    self._train(group, n, deadline)
                return
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda job: self._train(*job, deadline), plan))

    @torch.no_grad()
    def _train(self, group: dict, n: int, deadline: float | None = None) -> None:
        """``n`` steps of one group (fewer if ``deadline`` passes): each seed rolls its own save, and its dice
        model steps m times the plain update."""
        plain = [1.0] * len(group["rollers"])
        for _ in range(n):
            m = self.rules.roll_batch(group["rollers"], self.bonus)[1]     # one roll per seed, as roll_multiplier
            loss, group["flat"].grad = self._loss_and_grad(group)
            group["optimizer"].update(m + plain)
            group["losses"].append(loss)
            group["multipliers"].append(m)
            if deadline is not None and time.perf_counter() >= deadline:
                return

    def group_steps(self, index: int) -> int:
        """The steps group ``index`` has taken (0 before it is built)."""
        group = self._groups[index]
        return 0 if group is None else len(group["losses"])

    @property
    def steps(self) -> int:
        """The steps every model has taken."""
        return min(self.group_steps(i) for i in range(len(self.spans)))

    def seeds_at(self, steps: int) -> int:
        """How many of the first seeds (in the order of ``seeds``) have taken at least ``steps`` steps."""
        done = 0
        for i, (_, b) in enumerate(self.spans):
            if self.group_steps(i) < steps:
                break
            done = b
        return done

    def losses(self, seeds: int | None = None) -> tuple:
        """(dice, plain): (k, s) losses of the first k = ``seeds`` seeds (all by default) at each of the s steps
        all of them have taken, before that step's update."""
        k = len(self.seeds) if seeds is None else seeds
        chosen = [(i, a, min(b, k)) for i, (a, b) in enumerate(self.spans) if a < k]
        s = min((self.group_steps(i) for i, _, _ in chosen), default=0)
        dice, plain = [torch.empty(0, s)], [torch.empty(0, s)]
        for i, a, b in chosen:
            if not s:
                dice.append(torch.empty(b - a, 0))
                plain.append(torch.empty(b - a, 0))
                continue
            group = self._groups[i]
            stacked = torch.stack(group["losses"][:s]).T        # (2k_group, s)
            half = len(group["rollers"])
            dice.append(stacked[: b - a])
            plain.append(stacked[half: half + b - a])
        return torch.cat(dice), torch.cat(plain)

    @property
    def dice_losses(self) -> torch.Tensor:
        """(seeds, steps): the loss of each seed's dice run at each step, before that step's update."""
        return self.losses()[0]

    @property
    def plain_losses(self) -> torch.Tensor:
        """(seeds, steps): the same for each seed's plain run."""
        return self.losses()[1]

    @property
    def multipliers(self) -> torch.Tensor:
        """(seeds, steps): the multiplier each seed's dice run applied at each step."""
        s = self.steps
        if not s:
            return torch.empty(len(self.seeds), 0, dtype=torch.float64)
        return torch.cat([torch.tensor(g["multipliers"][:s], dtype=torch.float64).T for g in self.groups])

    @torch.no_grad()
    def test_accuracy(self, seeds: int | None = None) -> dict:
        """``{"dice": (k,), "plain": (k,)}``: accuracy of each model of the first k = ``seeds`` seeds (all by
        default) on its seed's test points."""
        k = len(self.seeds) if seeds is None else seeds
        dice, plain = [torch.empty(0, dtype=torch.float64)], [torch.empty(0, dtype=torch.float64)]
        for i, (a, b) in enumerate(self.spans):
            if a >= k:
                break
            g = self._group(i)
            hits = (self.forward(g["flat"], g["X_test"]).argmax(1) == g["y_test"]).double().mean(1)
            half = len(g["rollers"])
            dice.append(hits[: min(b, k) - a])
            plain.append(hits[half: half + min(b, k) - a])
        return {"dice": torch.cat(dice), "plain": torch.cat(plain)}


def _linears(model) -> list:
    """The Linear layers of an :func:`~rtt_edu.models.mlp.mlp`, in order."""
    return [module for module in model if isinstance(module, torch.nn.Linear)]
