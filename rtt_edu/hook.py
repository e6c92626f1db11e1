"""Roll-to-Train in anyone's training loop: ``attach`` the dice to an optimizer.

    handle = attach(optimizer, "classroom", seed=0)
    for x, y in data:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        handle.observe_loss(loss)     # optional: puts the loss in the records
        optimizer.step()              # the hooks roll, scale this step, restore, record
    handle.records[-1].multiplier
    handle.remove()

The hooks are torch's ``register_step_pre_hook`` / ``register_step_post_hook``, so they wrap
every optimizer implementation (for-loop, foreach, fused) with no change to the loop.
"""
from __future__ import annotations

import threading
import warnings
import weakref

import torch

from .classes import CharacterClass
from .errors import RollToTrainError, bad_value
from .monsters import EncounterTable
from .rules import as_rules, warn_if_negative_drift
from .safety import make_guard
from .turns import GameMaster
from .xp import as_experience


def build_participants(character_class=None, experience=None, monsters=None, encounter_chance=0.0,
                       encounter_schedule=None, experience_arg: str = "experience"):
    """The participants of a turn, in the order they act: experience, class, encounters.

    ``experience_arg`` is the name the caller gave the experience argument, for error messages.
    """
    participants = [as_experience(experience, experience_arg)]
    if character_class is not None:
        if not isinstance(character_class, CharacterClass):
            raise TypeError(bad_value("character_class", character_class, "a CharacterClass such as Wizard(level=1)"))
        participants.append(character_class)
    if monsters or encounter_schedule or encounter_chance:   # a chance without monsters is refused there
        participants.append(EncounterTable(monsters or [], chance=encounter_chance, schedule=encounter_schedule))
    return [p for p in participants if p is not None]


def build_master(rules=None, *, roller=None, seed=None, target: str = "update", intelligence: int = 10,
                 character_class=None, experience=None, monsters=None, encounter_chance: float = 0.0,
                 encounter_schedule=None, on_nonfinite: str = "death-save", scheduler=None,
                 experience_arg: str = "experience", stacklevel: int = 3) -> GameMaster:
    """The one place a :class:`GameMaster` is built from the user's arguments (``attach``,
    ``RollToTrain`` and the HuggingFace callback all call it), with one warning when the rule,
    as rolled with the intelligence bonus, climbs the loss on average (E[m] <= 0)."""
    rules = as_rules(rules)
    master = GameMaster(rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                        participants=build_participants(character_class, experience, monsters, encounter_chance,
                                                        encounter_schedule, experience_arg),
                        guard=make_guard(on_nonfinite), scheduler=scheduler)
    warn_if_negative_drift(rules, master.intelligence_modifier, stacklevel=stacklevel + 1)
    return master


#: optimizer → the AttachHandle whose hooks are on it: one game master per optimizer.
_ATTACHED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
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
        """One :class:`~rtt_edu.history.StepRecord` per optimizer step since ``attach``."""
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
        raise TypeError(bad_value("optimizer", optimizer, "a torch.optim.Optimizer (or accelerate's wrapper of one)"))
    return inner


def attach(optimizer, rules=None, roller=None, seed=None, target: str = "update", *, character_class=None,
           experience=None, monsters=None, encounter_chance: float = 0.0, encounter_schedule=None,
           intelligence: int = 10, on_nonfinite: str = "death-save") -> AttachHandle:
    """Roll a saving throw for every ``optimizer.step()`` and scale that step's update.

    ``target="update"`` scales the step's learning rate (exact for every torch optimizer whose step
    is lr × something: SGD, Adam, AdamW, RMSprop, ...; on ASGD, Rprop and LBFGS, whose steps are not,
    it uses ``"delta"`` and warns once), ``"gradient"`` scales the gradients, ``"delta"`` scales the
    parameter change of any optimizer. Attaching to an optimizer that has dice already replaces
    them (with a warning): see :class:`AttachHandle`.
    """
    optimizer = unwrap_optimizer(optimizer)
    master = build_master(rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                          character_class=character_class, experience=experience, monsters=monsters,
                          encounter_chance=encounter_chance, encounter_schedule=encounter_schedule,
                          on_nonfinite=on_nonfinite)
    return AttachHandle(optimizer, master)
