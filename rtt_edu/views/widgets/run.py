"""A dice run and its plain twin, stepped together: what the :class:`TrainingPanel` trains.

    run = ToyRun(TrainingConfig(dataset="moons", rules="classroom", seed=0))
    run.step(300)
    run.history            # the dice run's History (a StepRecord per step, with events)
    run.plain_losses       # the plain run's loss at each step
    run.accuracy()         # test accuracy of both
    run.replace_dice(config.replace(rules=...))   # a new dice run from step 0, the plain run kept
    run.replace_dice(new_config, 300, now=False)  # ... owed, not trained: run.behind == 300
    run.catch_up(seconds=0.02)                    # some of the owed steps; run.trained: the steps both have

Both runs start from the same weights (``mlp(..., seed=config.seed)``) on the same full-batch data
(``make_dataset(..., seed=config.seed)``). The dice act through :func:`rtt_edu.attach` on the dice
run's optimizer, with the config's class, monsters and experience, so every mechanic is the
library's. Both runs train with the toy loop (:func:`rtt_edu.training.toy.train_full_batch`): the
plain run is the same loop without the hooks.

**Only the dice run depends on the dice.** :meth:`ToyRun.replace_dice` rebuilds the dice run from
the stored initial weights with the same seed, so its dice are the same stream read by the new
rule; the plain run is left as it is.

**Steps owed.** ``run.steps`` is the step both runs are at once the steps they owe are trained.
:meth:`ToyRun.replace_dice` and :meth:`ToyRun.extend_to` with ``now=False`` only record what is
owed (``run.behind`` steps); :meth:`ToyRun.catch_up` trains them, all at once or a few at a time
(a panel draws the first steps of a new curve, then the rest between the kernel's other work).
The runs' arithmetic does not depend on how the owed steps are cut: a run caught up in slices is,
number for number, the run trained in one call. :meth:`ToyRun.step` catches up first.

**A run that diverges stops.** Before each update the step's loss is read (a CPU float, no device
sync): when it is not finite, or larger than :data:`DIVERGE_FACTOR` × the run's first loss, that
run takes no more steps and ``diverged[run]`` says at which step and why. The other run goes on.
When the dice's death saves cannot bring the dice run back (:class:`~rtt_edu.engine.safety.DeathSaves`
raises ``NonFiniteTrainingError``), that run stops the same way, ``"unrecoverable"``.

**What a replay costs.** :func:`step_work` estimates one step of both runs in units of about one
multiply-add (the forward passes; the backward passes and the Python around them are in the
constant). The dev machine (2 cores, one thread) trains about 10^10 such units a second: the
default network costs 5.3 million a step (0.6 ms), the largest the config allows (20,000 points, 6
layers of 256) 13 billion (1.2 s). :data:`MAX_REPLAY_WORK` bounds the steps a shared config may ask
a panel to replay (:func:`max_replay_steps`): about 20 s on that machine, whatever the network.
"""
from __future__ import annotations

import copy
import math
import time
import warnings

import torch

from rtt_edu.data.toy import make_dataset
from rtt_edu.errors import NonFiniteTrainingError, PanelClosedError
from rtt_edu.models.mlp import mlp
from rtt_edu.party.xp import ExperienceSystem
from rtt_edu.training.batched import one_thread
from rtt_edu.training.game import attach
from rtt_edu.training.optimizers import OPTIMIZERS
from rtt_edu.training.toy import train_full_batch
from rtt_edu.views.widgets.config import TrainingConfig, class_choices, monster_choices, rules_from_config

__all__ = ["ToyRun", "DIVERGE_FACTOR", "MAX_REPLAY_WORK", "step_work", "max_replay_steps"]

#: a loss above this many times the run's first loss counts as diverged.
DIVERGE_FACTOR = 1000.0
#: the most work (:func:`step_work` units, about 10^10 a second on a 2-core laptop) a replay may ask for.
MAX_REPLAY_WORK = 200_000_000_000
#: the work of one step besides the matrix products: losses, the dice's hooks, the optimizers.
STEP_OVERHEAD = 5_000_000
_MAX_CLASSES = 3      # the most classes a toy dataset has (blobs)
#: steps of each run between two looks at the clock while catching up within a time budget.
CATCH_UP_CHUNK = 4


def step_work(config: TrainingConfig) -> int:
    """One step of both runs, in units of about one multiply-add: with widths w = (2, h, ..., h, classes),

        work = STEP_OVERHEAD + 2 runs × points × Σ_i w_i · w_{i+1}

    (every point counted, the held-out quarter too: an estimate from above).
    """
    widths = (2, *(config.hidden,) * config.layers, _MAX_CLASSES)
    per_point = sum(a * b for a, b in zip(widths, widths[1:]))
    return STEP_OVERHEAD + 2 * config.points * per_point


def max_replay_steps(config: TrainingConfig) -> int:
    """The most steps a shared ``config`` may replay: ``MAX_REPLAY_WORK // step_work(config)``."""
    return MAX_REPLAY_WORK // step_work(config)


class ToyRun:
    """The two runs of one :class:`TrainingConfig` (see the module docstring)."""

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.data = make_dataset(config.dataset, n=config.points, noise=config.noise, seed=config.seed)
        self._initial = mlp(2, (config.hidden,) * config.layers, self.data.classes, config.activation,
                            seed=config.seed)
        self.plain_model = copy.deepcopy(self._initial)
        self.plain_optimizer = OPTIMIZERS[config.optimizer].make(self.plain_model.parameters(), config.lr)
        self._plain_losses: list = []
        self.steps = 0                     # the step both runs are at once caught up (a run that diverged stopped)
        self._done = {"dice": 0, "plain": 0}    # steps of each run trained so far (or passed over after diverging)
        self.diverged: dict = {"dice": None, "plain": None}    # run → (step, "non-finite" | "too large")
        self._first = {"dice": None, "plain": None}
        self.handle = None
        self.closed = False
        self._build_dice(config)

    def _build_dice(self, config: TrainingConfig) -> None:
        self.config = config
        self.rules = rules_from_config(config.rules)
        self.dice_model = copy.deepcopy(self._initial)
        self.dice_optimizer = OPTIMIZERS[config.optimizer].make(self.dice_model.parameters(), config.lr)
        character_class = None
        if config.character_class is not None:
            character_class = class_choices()[config.character_class](level=config.class_level)
        monsters = [monster_choices()[name]() for name in config.monsters]
        self.experience = ExperienceSystem(xp_scale=config.xp_scale) if config.experience else None
        with warnings.catch_warnings(record=True) as caught:   # a rule that climbs is a lesson, not a failure
            warnings.simplefilter("always")
            self.handle = attach(self.dice_optimizer, self.rules, seed=config.seed, character_class=character_class,
                                 experience=self.experience, monsters=monsters or None,
                                 encounter_chance=config.encounter_chance if monsters else 0.0,
                                 intelligence=config.intelligence)
        self.warnings = [str(w.message) for w in caught]
        self.diverged["dice"], self._first["dice"] = None, None

    def replace_dice(self, config: TrainingConfig, steps: int | None = None, now: bool = True) -> None:
        """A new dice run under ``config`` (same seed: the same dice, re-read) trained to ``steps`` (at least
        the steps taken so far).

        ``steps`` defaults to the steps taken so far; the plain run is extended to it if it is behind.
        With ``now=False`` the steps are owed (:attr:`behind`), for :meth:`catch_up` to train.
        """
        self._check_open()
        steps = self.steps if steps is None else steps
        self.handle.remove()
        self._build_dice(config)
        self._done["dice"] = 0
        self.extend_to(steps, now)

    def extend_to(self, steps: int, now: bool = True) -> None:
        """Both runs to ``steps`` (no change when they are there already); owed with ``now=False``."""
        self._check_open()
        self.steps = max(self.steps, steps, self._done["plain"])
        if now:
            self.catch_up()

    @property
    def behind(self) -> int:
        """The most steps either run owes (0: both runs are at :attr:`steps`)."""
        return self.steps - min(self._done.values())

    @property
    def trained(self) -> int:
        """The steps both runs have trained (:attr:`steps` once caught up)."""
        return min(self._done.values())

    def catch_up(self, steps: int | None = None, seconds: float | None = None) -> int:
        """Train the steps the runs owe: all of them, at most ``steps`` of each, or until ``seconds`` have passed.

        Within a time budget the runs take :data:`CATCH_UP_CHUNK` steps each between two looks at the
        clock, so the budget is overrun by at most one chunk. Returns :attr:`behind` (0: caught up).
        """
        self._check_open()
        deadline = None if seconds is None else time.perf_counter() + seconds
        left = self.behind if steps is None else min(steps, self.behind)
        with one_thread():
            while left > 0:
                chunk = left if deadline is None else min(left, CATCH_UP_CHUNK)
                for run, train in (("dice", self._step_dice), ("plain", self._step_plain)):
                    owed = min(chunk, self.steps - self._done[run])
                    train(owed)
                    self._done[run] += owed
                left -= chunk
                if deadline is not None and time.perf_counter() >= deadline:
                    break
        return self.behind

    @property
    def history(self):
        """The dice run's :class:`~rtt_edu.engine.history.History`."""
        return self.handle.history

    @property
    def plain_losses(self) -> list:
        """The plain run's training loss at each step (before that step's update)."""
        return self._plain_losses

    def step(self, n: int = 1) -> None:
        """``n`` full-batch steps of both runs (after the steps they owe): the dice run through the hooks,
        the plain run without."""
        self._check_open()
        self.extend_to(self.steps + n)

    def _diverges(self, run: str, step: int, value: float) -> bool:
        """Record and say whether the loss ``value`` at ``step`` ends ``run`` (non-finite or too large)."""
        first = self._first[run]
        if first is None:
            self._first[run] = first = value
        if not math.isfinite(value):
            self.diverged[run] = (step, "non-finite")
        elif step and math.isfinite(first) and value > DIVERGE_FACTOR * abs(first):
            self.diverged[run] = (step, "too large")
        else:
            return False
        return True

    def _check_open(self) -> None:
        if self.closed:
            raise PanelClosedError("this run is closed: its dice hooks were removed, so a step would train "
                                   "without the dice; build a new panel (TrainingPanel.from_config(panel.config()))")

    def _step_dice(self, n: int) -> None:
        if self.diverged["dice"] is not None:
            return
        handle = self.handle
        try:                               # the hooks roll, scale, restore and record
            train_full_batch(self.dice_model, self.dice_optimizer, self.data.X_train, self.data.y_train, n,
                             handle=handle, stop=lambda value: self._diverges("dice", handle.master.step, value))
        except NonFiniteTrainingError:     # the death saves ran out: a divergence, said in words
            self.diverged["dice"] = (handle.master.step, "unrecoverable")

    def _step_plain(self, n: int) -> None:
        if self.diverged["plain"] is not None:
            return
        losses = self._plain_losses
        train_full_batch(self.plain_model, self.plain_optimizer, self.data.X_train, self.data.y_train, n,
                         stop=lambda value: self._diverges("plain", len(losses), value), losses=losses)

    @torch.no_grad()
    def accuracy(self) -> dict:
        """Test accuracy of ``"dice"`` and ``"plain"`` (train accuracy when there is no test set)."""
        X, y = (self.data.X_test, self.data.y_test) if len(self.data.y_test) else (self.data.X_train, self.data.y_train)
        return {name: (model(X).argmax(1) == y).double().mean().item()
                for name, model in (("dice", self.dice_model), ("plain", self.plain_model))}

    def close(self) -> None:
        """Remove the dice hooks from the optimizer; later steps are refused (``PanelClosedError``)."""
        self.handle.remove()
        self.closed = True
