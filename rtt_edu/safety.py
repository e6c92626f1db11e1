"""The non-finite guard: a NaN or inf update is never applied.

Policies (``on_nonfinite=``):

``"death-save"`` (default)
    The 5e death saving throw. A step whose loss or gradients are not finite is skipped and the
    model is *dying*; each such step rolls a d20: 10 or more is a success, less a failure, a
    natural 1 two failures, a natural 20 stabilises at once. A finite step while dying counts as
    a success. Three successes: stable again. Three failures: the weights and optimizer state
    from just before the first bad step are restored and every learning rate is multiplied by
    ``lr_factor``. After ``max_revivals`` such restorations training stops with
    :class:`~rtt_edu.errors.NonFiniteTrainingError`.
``"raise"``
    Stop at the first non-finite step with :class:`~rtt_edu.errors.NonFiniteTrainingError`;
    the update is not applied.
``"off"``
    No check (and no host sync). NaN updates are applied as the optimizer computes them.

Checking costs one host sync per step (as AMP's ``GradScaler`` does); on CUDA, where that
matters, choose ``"off"`` for the fastest path.
"""
from __future__ import annotations

import copy

import torch

from .errors import NonFiniteTrainingError, RollToTrainError, bad_value

POLICIES = ("death-save", "raise", "off")


def _all_finite(turn) -> bool:
    tensors = [p.grad for p in turn.params]
    if turn.loss is not None:
        tensors.append(turn.loss)
    if not tensors:
        return True
    norms = torch._foreach_norm([t.detach().float().reshape(-1) for t in tensors])
    return bool(torch.isfinite(torch.stack(norms)).all())


class RaiseGuard:
    """``on_nonfinite="raise"``: stop at once, before the bad update is applied."""
    needs_loss = False

    def check(self, turn) -> None:
        if not _all_finite(turn):
            turn.skipped = True
            raise NonFiniteTrainingError(f"step {turn.step}: the loss or a gradient is NaN or inf; "
                                         "the update was not applied (on_nonfinite='raise')")

    def after(self, turn) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state) -> None:
        pass


class DeathSaves:
    """``on_nonfinite="death-save"``: skip, roll death saves, restore and lower the LR after three failures."""
    needs_loss = False

    def __init__(self, lr_factor: float = 0.5, max_revivals: int = 3):
        if not 0.0 < lr_factor < 1.0:
            raise RollToTrainError(bad_value("lr_factor", lr_factor, "a factor between 0 and 1"))
        self.lr_factor = lr_factor
        self.max_revivals = max_revivals
        self.successes = self.failures = self.revivals = 0
        self.dying = False
        self._snapshot = None   # (model params, optimizer state) just before the first bad step

    def check(self, turn) -> None:
        if _all_finite(turn):
            if self.dying:
                self._success(turn, "a finite step")
            return
        turn.skipped = True
        if not self.dying:
            self.dying = True
            self._snapshot = self._take(turn.optimizer)
            turn.log("nonfinite", "the loss or a gradient is NaN/inf: the update is skipped and the model is dying")
        else:
            turn.log("nonfinite", "NaN/inf again: the update is skipped")
        roll = turn.roller.roll("d20")
        if roll.natural == 20:
            turn.log("death_save", "death save: natural 20, the model stabilises at once", natural=20)
            self._stable()
        elif roll.natural >= 10:
            self._success(turn, f"death save {roll.natural}")
        else:
            self.failures += 2 if roll.natural == 1 else 1
            turn.log("death_save", f"death save {roll.natural}: failure ({self.failures}/3)", natural=roll.natural)
            if self.failures >= 3:
                self._revive(turn)

    def after(self, turn) -> None:
        pass

    def _success(self, turn, why: str) -> None:
        self.successes += 1
        turn.log("death_save", f"{why}: success ({self.successes}/3)")
        if self.successes >= 3:
            turn.log("death_save", "three successes: the model is stable")
            self._stable()

    def _stable(self) -> None:
        self.successes = self.failures = 0
        self.dying = False
        self._snapshot = None

    def _revive(self, turn) -> None:
        self.revivals += 1
        if self.revivals > self.max_revivals:
            raise NonFiniteTrainingError(f"step {turn.step}: still NaN/inf after {self.max_revivals} restorations "
                                         "with a lowered learning rate; check the data and the learning rate")
        if self._snapshot is not None:   # None only when resumed mid-crisis: the weights are finite anyway
            params, opt_state = self._snapshot
            with torch.no_grad():
                for p, saved in zip(_params(turn.optimizer), params):
                    p.copy_(saved)
            turn.optimizer.load_state_dict(opt_state)
        for group in turn.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].mul_(self.lr_factor)
            else:
                group["lr"] *= self.lr_factor
            if "initial_lr" in group:
                group["initial_lr"] *= self.lr_factor
        scheduler = getattr(turn.master, "scheduler", None)
        if scheduler is not None and hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [lr * self.lr_factor for lr in scheduler.base_lrs]
        turn.log("revive", f"three failed death saves: weights restored, learning rate x{self.lr_factor:g}")
        self.successes = self.failures = 0
        self.dying = False
        self._snapshot = None

    @staticmethod
    def _take(optimizer):
        return ([p.detach().clone() for p in _params(optimizer)], copy.deepcopy(optimizer.state_dict()))

    def state_dict(self) -> dict:
        return {"successes": self.successes, "failures": self.failures, "revivals": self.revivals,
                "dying": self.dying, "lr_factor": self.lr_factor, "max_revivals": self.max_revivals}

    def load_state_dict(self, state) -> None:
        for key in ("successes", "failures", "revivals", "dying", "lr_factor", "max_revivals"):
            setattr(self, key, state[key])


def _params(optimizer):
    return [p for g in optimizer.param_groups for p in g["params"]]


GUARDS = {"death-save": DeathSaves, "raise": RaiseGuard, "off": lambda: None}


def make_guard(policy: str):
    """The guard for an ``on_nonfinite`` policy name."""
    if policy not in GUARDS:
        raise RollToTrainError(bad_value("on_nonfinite", policy, f"one of {list(POLICIES)}"))
    return GUARDS[policy]()
