"""The dice on an optimizer: an :class:`AttachHandle` holds the step hooks of one game master.

``rtt_edu.training.game.attach`` builds the game and returns a handle (its docstring shows the loop).
The hooks are torch's ``register_step_pre_hook`` / ``register_step_post_hook``, so they wrap
every optimizer implementation (for-loop, foreach, fused) with no change to the loop.
"""
from __future__ import annotations

import threading
import warnings
import weakref

import torch

from rtt_edu.engine.turns import GameMaster
from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value

#: optimizer → the AttachHandle whose hooks are on it: one game master per optimizer.
_ATTACHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ATTACHING = threading.Lock()      # two threads attaching at once must not both put hooks on


class AttachHandle:
    """What ``attach`` returns: ``.records``, ``.history``, ``.master``, ``.observe_loss()``, ``.remove()``.

    An optimizer carries at most one game master. Attaching again to an optimizer that has one
    (re-running a notebook cell, or ``RollToTrain.train`` on an optimizer you attached by hand)
    removes the earlier handle first, with a ``RuntimeWarning`` that says so; the same master
    attaching again (a trainer's next ``train()``) replaces its own hooks silently. Two sets of
    hooks would scale each step twice and restore the learning rate in the wrong order.

    ``owner`` names a run that is using the dice now (``RollToTrain.train()`` passes itself while it
    trains). An owned handle is never replaced: another game master attaching to its optimizer
    (a second trainer started from the first one's ``on_step``, or from another thread) raises
    :class:`~rtt_edu.errors.RollToTrainError`, so the running game keeps its dice on every step.
    """

    def __init__(self, optimizer, master: GameMaster, *, owner: str | None = None):
        optimizer = unwrap_optimizer(optimizer)      # hooks go on the optimizer that really steps
        with _ATTACHING:
            earlier = _ATTACHED.get(optimizer)
            if earlier is not None and earlier.master is not master:
                if earlier.owner is not None:
                    raise RollToTrainError(
                        f"optimizer={type(optimizer).__name__}: {earlier.owner} is training with it now, with its "
                        f"own dice attached (step {earlier.master.step}); another game master cannot attach to it "
                        "until that run returns. Give the second run its own model and optimizer, or start it "
                        "after the first one")
                warnings.warn(f"this {type(optimizer).__name__} already had dice attached ({earlier!r}); "
                              "that handle is removed and the new one replaces it (one game master per "
                              "optimizer)", RuntimeWarning, stacklevel=3)
            if earlier is not None:
                earlier.remove()
            self.optimizer = optimizer
            self.master = master
            self.owner = owner
            self._turn = None
            self._handles = [optimizer.register_step_pre_hook(self._pre),
                             optimizer.register_step_post_hook(self._post)]
            _ATTACHED[optimizer] = self

    @property
    def attached(self) -> bool:
        """Whether this handle's hooks are still the ones on its optimizer (``False`` once removed)."""
        return bool(self._handles) and _ATTACHED.get(self.optimizer) is self

    def _pre(self, optimizer, args, kwargs):
        if self._turn is not None:             # the last step raised inside optimizer.step(): undo its turn
            turn, self._turn = self._turn, None
            self.master.abort(turn)
        self._turn = self.master.begin(optimizer)

    def _post(self, optimizer, args, kwargs):
        turn, self._turn = self._turn, None
        if turn is not None:
            self.master.end(turn)

    def observe_loss(self, loss) -> None:
        """Give this step's loss to the records (kept on its device until read)."""
        self.master.observe_loss(loss)

    @property
    def records(self) -> list:
        """One :class:`~rtt_edu.engine.history.StepRecord` per optimizer step since ``attach``."""
        return self.master.history.steps

    @property
    def history(self):
        return self.master.history

    def end_epoch(self) -> None:
        """Tell participants an epoch ended (limited uses recover)."""
        self.master.end_epoch()

    def state_dict(self) -> dict:
        return self.master.state_dict()

    def load_state_dict(self, state) -> None:
        self.master.load_state_dict(state)

    def remove(self) -> None:
        """Unregister both hooks; the optimizer is plain again, its param groups as the plain run
        would have them (a turn cut short by an error is undone first)."""
        if self._turn is not None:
            turn, self._turn = self._turn, None
            self.master.abort(turn)
        for h in self._handles:
            h.remove()
        self._handles = []
        if _ATTACHED.get(self.optimizer) is self:
            del _ATTACHED[self.optimizer]

    def __repr__(self):
        state = "removed" if not self._handles else f"{self.master.step} steps"
        return f"<AttachHandle on {type(self.optimizer).__name__}: {self.master.rules.name or 'custom rule'}, {state}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def unwrap_optimizer(optimizer):
    """The torch optimizer inside a wrapper such as accelerate's ``AcceleratedOptimizer`` (``.optimizer``).

    A wrapper steps its inner optimizer once per real update (accelerate skips the
    accumulation micro-steps), so the hooks go on the inner one: one roll per update.
    """
    inner = optimizer
    while isinstance(getattr(inner, "optimizer", None), torch.optim.Optimizer):
        inner = inner.optimizer
    if not isinstance(inner, torch.optim.Optimizer):
        raise RollToTrainTypeError(bad_value("optimizer", optimizer,
                                             "a torch.optim.Optimizer (or accelerate's wrapper of one)"))
    return inner
