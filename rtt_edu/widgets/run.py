"""A dice run and its plain twin, stepped together: what the :class:`TrainingPanel` trains.

    run = ToyRun(TrainingConfig(dataset="moons", rules="classroom", seed=0))
    run.step(300)
    run.history            # the dice run's History (a StepRecord per step, with events)
    run.plain_losses       # the plain run's loss at each step
    run.accuracy()         # test accuracy of both

Both runs start from the same weights (``mlp(..., seed=config.seed)``) on the same full-batch data
(``make_dataset(..., seed=config.seed)``). The dice act through :func:`rtt_edu.attach` on the dice
run's optimizer, with the config's class, monsters and experience, so every mechanic is the
library's; the plain run is the same loop without the hook.
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch.nn import functional as F

from ..batched import OPTIMIZERS, one_thread
from ..data.toy import make_dataset
from ..hook import attach
from ..models.mlp import mlp
from ..xp import ExperienceSystem
from .config import TrainingConfig, class_choices, monster_choices, rules_from_config

__all__ = ["ToyRun"]


class ToyRun:
    """The two runs of one :class:`TrainingConfig` (see the module docstring)."""

    def __init__(self, config: TrainingConfig):
        self.config = config
        self.rules = rules_from_config(config.rules)
        self.data = make_dataset(config.dataset, n=config.points, noise=config.noise, seed=config.seed)
        self.dice_model = mlp(2, (config.hidden,) * config.layers, self.data.classes, config.activation,
                              seed=config.seed)
        self.plain_model = copy.deepcopy(self.dice_model)
        self.dice_optimizer = OPTIMIZERS[config.optimizer](self.dice_model.parameters(), config.lr)
        self.plain_optimizer = OPTIMIZERS[config.optimizer](self.plain_model.parameters(), config.lr)
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
        self._plain_losses: list = []
        self._plain_pending: list = []

    @property
    def history(self):
        """The dice run's :class:`~rtt_edu.history.History`."""
        return self.handle.history

    @property
    def steps(self) -> int:
        return self.handle.master.step

    @property
    def plain_losses(self) -> list:
        """The plain run's training loss at each step (before that step's update)."""
        if self._plain_pending:
            self._plain_losses += torch.stack(self._plain_pending).tolist()
            self._plain_pending.clear()
        return self._plain_losses

    def step(self, n: int = 1) -> None:
        """``n`` full-batch steps of both runs: the dice run through the hooks, the plain run without."""
        with one_thread():
            self._step(n)

    def _step(self, n: int) -> None:
        X, y = self.data.X_train, self.data.y_train
        for _ in range(n):
            self.dice_optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.dice_model(X), y)
            loss.backward()
            self.handle.observe_loss(loss)
            self.dice_optimizer.step()           # the hooks roll, scale, restore and record
            self.plain_optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.plain_model(X), y)
            loss.backward()
            self.plain_optimizer.step()
            self._plain_pending.append(loss.detach())

    @torch.no_grad()
    def accuracy(self) -> dict:
        """Test accuracy of ``"dice"`` and ``"plain"`` (train accuracy when there is no test set)."""
        X, y = (self.data.X_test, self.data.y_test) if len(self.data.y_test) else (self.data.X_train, self.data.y_train)
        return {name: (model(X).argmax(1) == y).double().mean().item()
                for name, model in (("dice", self.dice_model), ("plain", self.plain_model))}

    def close(self) -> None:
        """Remove the dice hooks from the optimizer."""
        self.handle.remove()
