"""The non-finite guard: a NaN or inf update is never applied.

Policies (``on_nonfinite=``):

``"death-save"`` (default)
    The 5e death saving throw. A step whose loss, gradients or multiplier are not finite is
    skipped and the model is *dying*; each such step rolls a d20 (5e SRD, "Death Saving Throws"):

    ======================  =========================================================
    natural 20              regain a hit point: stable at once, both tallies reset
    10 to 19                one success
    2 to 9                  one failure
    natural 1               two failures
    ======================  =========================================================

    A finite step while dying is applied and counts as a success. Three successes (they need
    not be consecutive): stable again, both tallies reset. Three failures: the weights and the
    optimizer state from just before the first bad step are restored, every learning rate is
    multiplied by ``lr_factor`` (the scheduler's base rates too) and the tallies reset. After
    ``max_revivals`` restorations, one more death raises
    :class:`~rtt_edu.errors.NonFiniteTrainingError`.
``"raise"``
    Stop at the first non-finite step with :class:`~rtt_edu.errors.NonFiniteTrainingError`;
    the update is not applied.
``"off"``
    No check (and no host sync). NaN updates are applied as the optimizer computes them.

``on_nonfinite`` also accepts a guard object, e.g. ``DeathSaves(lr_factor=0.1, max_revivals=1)``.

Every skipped step is recorded with ``outcome="skipped"`` and events of kinds ``"nonfinite"``,
``"death_save"`` and ``"revive"`` in that step's history record.

What is checked: the loss the loop reported (``observe_loss``; the trainer always does), every
gradient, and the multiplier. Checking costs one host sync per step (as AMP's ``GradScaler``
does); on CUDA, where that matters, choose ``"off"`` for the fastest path. Not covered: an update
that overflows from finite gradients (``lr × grad`` beyond the float range), and buffers such as
BatchNorm running statistics, which the bad batch's forward pass has already updated.
"""
from __future__ import annotations

import copy
import math
import threading

import torch

from rtt_edu.engine.tensors import optimizer_params, scale_lrs
from rtt_edu.errors import NonFiniteTrainingError, RollToTrainError, bad_value, check_type

POLICIES = ("death-save", "raise", "off")
DEATH_SAVE_DC = 10      # 5e: a death saving throw of 10 or more succeeds


def find_nonfinite(turn) -> str | None:
    """``None`` when the step is finite, else what is not (``"the loss is nan"``, ...).

    One host sync when all is well (:func:`all_finite`); only a bad step pays for a second pass
    that says which tensor went wrong, using max-norms ``max |x|``, finite exactly when every
    element is (a sum of squares could overflow for large finite values).
    """
    if not math.isfinite(turn.multiplier):
        return f"the multiplier is {turn.multiplier}"
    grads = [g for group in turn.optimizer.param_groups for p in group["params"] if (g := p.grad) is not None]
    loss = turn.loss                                   # read only: no detached views to make
    if all_finite(grads, loss):
        return None
    which = [i for i, p in enumerate(optimizer_params(turn.optimizer)) if p.grad is not None]   # indices of grads
    tensors = grads + ([] if loss is None else [loss])
    values = [n.item() for n in torch._foreach_norm(tensors, ord=math.inf)]   # the rare bad path
    kind = ["nan" if math.isnan(v) else "inf" for v in values]
    parts = [f"the loss is {kind[-1]}"] if loss is not None and not math.isfinite(values[-1]) else []
    bad = [(i, k) for i, k, v in zip(which, kind, values) if not math.isfinite(v)]
    if bad:
        first = f"the gradient of parameter {bad[0][0]} is {bad[0][1]}"
        parts.append(first if len(bad) == 1 else f"{len(bad)} gradients are not finite ({first}, ...)")
    return " and ".join(parts)


def all_finite(grads: list, loss: torch.Tensor | None = None) -> bool:
    """True when every element of ``grads`` and ``loss`` is finite; one host sync.

    Checked as AMP's ``GradScaler`` checks gradients, with its fused kernel
    ``torch._amp_foreach_non_finite_check_and_unscale_`` at scale 1, raising a ``found`` flag per
    device; ``g × 1`` leaves every value bit-identical (−0.0 and subnormals included). The usual
    case, dense floating gradients on one device, is one call for all of them; otherwise one call
    per (device, dtype) group. The loss joins as a one-element copy, so it is never written (a loss
    on the CPU is read as one number instead: no copy, no kernel). The flags are kept (one per
    device and thread) and zeroed only after a bad step: the kernel only ever raises them. On a
    CPU this is a few small ops per step instead of a norm per tensor. Gradients the kernel does
    not take (sparse, complex, or part of a graph from ``create_graph=True``) are checked with
    max-norms ``max |x|``.
    """
    tensors = grads
    if loss is not None:
        if loss.is_cpu and loss.numel() == 1 and not loss.is_complex():
            if not math.isfinite(loss.item()):    # on the CPU reading one number is cheaper than a copy
                return False
        else:
            tensors = [*grads, loss.detach().reshape(1).clone()]
    try:
        if tensors and _FUSED_CHECK is not None and not any(t.requires_grad for t in tensors):
            device = tensors[0].device
            flag = _found_flag(device)
            try:                                  # the usual case: every tensor in one call
                _FUSED_CHECK(tensors, flag, _unit_scale(device))
                return _read({device: flag}, [flag])
            except RuntimeError:                  # sparse, complex or integer ones, or several devices
                flag.zero_()
        return _read(*_check_by_group(tensors))
    except BaseException:
        _FOUND.flags = {}                         # a flag may be left raised: make new ones next time
        raise


def _check_by_group(tensors: list) -> tuple:
    """``(found flags by device, every flag)``: the fused check per (device, dtype) group, max-norms
    for what it does not take."""
    groups, others = {}, []
    for t in tensors:
        if _FUSED_CHECK is not None and t.layout == torch.strided and t.is_floating_point() and not t.requires_grad:
            groups.setdefault((t.device, t.dtype), []).append(t)
        elif t.is_floating_point() or t.is_complex():   # integers are always finite
            others.append(t)
    found = {}
    for (device, _), group in groups.items():
        if device not in found:
            found[device] = _found_flag(device)
        _FUSED_CHECK(group, found[device], _unit_scale(device))
    flags = list(found.values())
    if others:
        with torch.no_grad():                     # a gradient in a graph (create_graph=True): no graph for its norm
            flags += [(~torch.isfinite(torch.linalg.vector_norm(t.to_dense() if t.layout != torch.strided else t,
                                                                ord=math.inf))).reshape(1).float() for t in others]
    return found, flags


def _read(found: dict, flags: list) -> bool:
    """Read the flags (one host sync): True when none is raised; raised found flags are zeroed."""
    if not flags:
        return True
    bad = bool(flags[0]) if len(flags) == 1 else bool(sum(f.to(flags[0].device) for f in flags))
    if bad:
        for flag in found.values():
            flag.zero_()
    return not bad


_FOUND = threading.local()          # .flags: device → this thread's float32 [0.] flag for the fused check
_UNIT_SCALES: dict = {}
#: GradScaler's kernel; where a torch build lacks it, every tensor takes the max-norm path.
_FUSED_CHECK = getattr(torch, "_amp_foreach_non_finite_check_and_unscale_", None)


def _found_flag(device) -> torch.Tensor:
    """This thread's ``found`` flag on ``device``: ``[0.]`` until the fused check raises it."""
    flags = getattr(_FOUND, "flags", None)
    if flags is None:
        flags = _FOUND.flags = {}
    flag = flags.get(device)
    if flag is None:
        flag = flags[device] = torch.zeros(1, device=device)
    return flag


def _unit_scale(device) -> torch.Tensor:
    """A float32 ``[1.0]`` on ``device``, made once: the kernel only reads it."""
    if device not in _UNIT_SCALES:
        _UNIT_SCALES[device] = torch.ones(1, device=device)
    return _UNIT_SCALES[device]


class RaiseGuard:
    """``on_nonfinite="raise"``: stop at once, before the bad update is applied."""
    needs_loss = False

    def check(self, turn) -> None:
        bad = find_nonfinite(turn)
        if bad is not None:
            turn.skip()
            raise NonFiniteTrainingError(f"step {turn.step}: {bad}; the update was not applied "
                                         "(on_nonfinite='raise'; use 'death-save' to skip and recover)")

    def after(self, turn) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state) -> None:
        pass


class DeathSaves:
    """``on_nonfinite="death-save"``: skip, roll death saves, restore and lower the LR after three failures.

    ``lr_factor`` (0 < f < 1) multiplies every learning rate at each restoration;
    ``max_revivals`` restorations are allowed before the run stops.
    """
    needs_loss = False

    def __init__(self, lr_factor: float = 0.5, max_revivals: int = 3):
        check_type("lr_factor", lr_factor, (int, float), "a factor between 0 and 1")
        if not 0.0 < lr_factor < 1.0:
            raise RollToTrainError(bad_value("lr_factor", lr_factor, "a factor between 0 and 1 (exclusive)"))
        check_type("max_revivals", max_revivals, int, "an integer >= 0")
        if max_revivals < 0:
            raise RollToTrainError(bad_value("max_revivals", max_revivals, "an integer >= 0"))
        self.lr_factor = float(lr_factor)
        self.max_revivals = max_revivals
        self.successes = self.failures = self.revivals = 0
        self.dying = False
        self._snapshot = None   # {"params": [...], "optimizer": state_dict} just before the first bad step

    # --- the turn ---------------------------------------------------------------------------
    def check(self, turn) -> None:
        bad = find_nonfinite(turn)
        if bad is None:
            if self.dying:
                self._success(turn, "a finite step while dying")
            return
        if not self.dying:
            self.dying = True
            self._snapshot = _snapshot(turn)
            turn.skip(f"{bad}: the update is skipped and the model is dying", kind="nonfinite")
        else:
            turn.skip(f"{bad} again: the update is skipped", kind="nonfinite")
        natural = turn.roller.roll("d20").natural
        if natural == 20:
            turn.log("death_save", "death save: natural 20, the model is back on its feet", natural=20)
            self._stable(turn, "")
        elif natural >= DEATH_SAVE_DC:
            self._success(turn, f"death save {natural}", natural=natural)
        else:
            self.failures += 2 if natural == 1 else 1
            turn.log("death_save", f"death save {natural}: {'two failures' if natural == 1 else 'failure'} "
                                   f"({min(self.failures, 3)}/3)", natural=natural)
            if self.failures >= 3:
                self._revive(turn)

    def after(self, turn) -> None:
        pass

    def _success(self, turn, why: str, natural=None) -> None:
        self.successes += 1
        turn.log("death_save", f"{why}: success ({self.successes}/3)", natural=natural)
        if self.successes >= 3:
            self._stable(turn, "three successes: the model is stable")

    def _stable(self, turn, message: str) -> None:
        if message:
            turn.log("death_save", message)
        self.successes = self.failures = 0
        self.dying = False
        self._snapshot = None

    def _revive(self, turn) -> None:
        """Restore the snapshot; every learning rate × ``lr_factor``; the scheduler's too."""
        self.revivals += 1
        if self.revivals > self.max_revivals:
            raise NonFiniteTrainingError(
                f"step {turn.step}: training cannot recover from NaN/inf: three failed death saves after "
                f"{self.max_revivals} restoration(s) with the learning rate lowered x{self.lr_factor:g} each time; "
                "check the data, the loss and the learning rate")
        optimizer = turn.optimizer
        if self._snapshot is not None:
            groups = optimizer.param_groups     # these very dicts: a Wizard's spell and a scheduler hold them
            with torch.no_grad():
                for p, saved in zip(optimizer_params(optimizer), self._snapshot["params"]):
                    p.copy_(saved)
            optimizer.load_state_dict(self._snapshot["optimizer"])   # the moments and step counts
            optimizer.param_groups = groups     # keep the current lr, momentum, ... (the schedule's)
        scale_lrs(optimizer, self.lr_factor)    # a rate tensor shared by groups is lowered once
        for group in optimizer.param_groups:
            if "initial_lr" in group:
                group["initial_lr"] *= self.lr_factor
        scheduler = turn.scheduler
        if scheduler is not None and hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [lr * self.lr_factor for lr in scheduler.base_lrs]
        restored = (f"weights and optimizer state restored from before step {self._snapshot['step']}, "
                    if self._snapshot is not None else "")
        turn.log("revive", f"three failed death saves: {restored}learning rate x{self.lr_factor:g} "
                           f"(restoration {self.revivals} of {self.max_revivals})", revival=self.revivals)
        self.successes = self.failures = 0
        self.dying = False
        self._snapshot = None

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Tallies, settings and (while dying) the snapshot: tensors and plain values only."""
        return {"successes": self.successes, "failures": self.failures, "revivals": self.revivals,
                "dying": self.dying, "lr_factor": self.lr_factor, "max_revivals": self.max_revivals,
                "snapshot": self._snapshot}

    def load_state_dict(self, state) -> None:
        keys = ("successes", "failures", "revivals", "dying", "lr_factor", "max_revivals")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            raise RollToTrainError(bad_value("state", type(state).__name__ if not isinstance(state, dict)
                                             else sorted(state), f"a DeathSaves state_dict with keys {list(keys)}"))
        for key in keys:
            setattr(self, key, state[key])
        self._snapshot = state.get("snapshot")


def _snapshot(turn) -> dict:
    """The optimizer's weights and its full state, copied (the weights are all still finite)."""
    return {"params": [p.detach().clone() for p in optimizer_params(turn.optimizer)],
            "optimizer": copy.deepcopy(turn.optimizer.state_dict()), "step": turn.step}


GUARDS = {"death-save": DeathSaves, "raise": RaiseGuard, "off": lambda: None}


def check_policy(policy, name: str = "on_nonfinite"):
    """``policy`` if it is a policy name of :data:`POLICIES` or a guard object, else a clear error naming ``name``."""
    if isinstance(policy, (DeathSaves, RaiseGuard)):
        return policy
    check_type(name, policy, str, f"one of {list(POLICIES)} or a DeathSaves(...) guard")
    if policy not in GUARDS:
        raise RollToTrainError(bad_value(name, policy, f"one of {list(POLICIES)}"))
    return policy


def make_guard(policy):
    """The guard for an ``on_nonfinite`` policy name (a new one), or a guard object passed as is."""
    policy = check_policy(policy)
    return policy if isinstance(policy, (DeathSaves, RaiseGuard)) else GUARDS[policy]()
