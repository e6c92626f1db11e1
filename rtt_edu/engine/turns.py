"""One optimizer step as a turn of the game, run by the :class:`GameMaster`.

Everything that bends training (character classes, monsters, the experience system) is a
:class:`Participant` with documented no-op hooks. For each optimizer step the game master calls,
in order::

    before_roll(turn)   add to turn.bonus, grant turn.advantage / turn.disadvantage
    -- the d20 is rolled: turn.roll, turn.outcome, m = rules.roll(save roller, bonus, ...) --
    after_roll(turn)    read turn.outcome, change turn.multiplier (sneak attack, rage, ...)
    before_step(turn)   gradients are final: clip or scale them (turn.params)
    -- the non-finite guard may skip the step; the target applies m; optimizer.step() --
    after_step(turn)    weights are updated: perturb, roll back, award XP
    on_epoch_end(master, epoch)   a long rest: limited uses recover (master.log records it)
    abort(turn)         the turn will not finish (an error was raised): undo what is temporary

State apart from control, as HuggingFace's ``TrainerState`` and ``TrainerControl``: a participant
reads the turn's fields, changes the ones its hook names (the bonus, advantage, the multiplier),
skips the update with ``turn.skip(why)`` (the one way to skip a step) and records an event with
``turn.log(kind, message)`` (``master.log`` at an epoch's end). The game master's bookkeeping (the
target's saved state, held-back gradients, the records) is private to it.

Two seeded dice streams: the save's die comes from ``master.roller`` and everything the
participants roll (an encounter, a class's die, a death save) from ``master.table_roller``.
So with the same seed, a change of the DC, the intelligence or a band leaves every step's
natural face as it was, and only its reading changes.

The same turn runs in the trainer's per-mini-batch and per-accumulation-step modes, under
``attach`` in anyone's loop, and under the HuggingFace callback, because all of them are one
optimizer step. Participants steer the step only through the turn, never by reaching into the
trainer or the game master.
"""
from __future__ import annotations

import random
import warnings
import weakref
from dataclasses import dataclass, field

import torch

from rtt_edu.engine.distributed import is_distributed, mean_over_ranks, shared_seed
from rtt_edu.engine.history import History, StepRecord
from rtt_edu.engine.tensors import optimizer_params, restore_lrs, scale_lrs
from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value, check_type
from rtt_edu.game.dice import DiceRoller, Roll, ability_modifier
from rtt_edu.game.rules import SavingThrow, as_rules


class Participant:
    """Base class of anything that takes part in a turn. Every hook is a documented no-op."""

    #: True if the participant reads ``turn.loss_value()``, which costs one host sync per step.
    needs_loss = False

    def before_roll(self, turn: Turn) -> None:
        """Before the die is rolled: add to ``turn.bonus``, set ``turn.advantage``/``disadvantage``."""

    def after_roll(self, turn: Turn) -> None:
        """After the roll: read ``turn.roll``/``turn.outcome``, change ``turn.multiplier``."""

    def before_step(self, turn: Turn) -> None:
        """Gradients are final and the update is about to be applied: clip or scale them, or ``turn.skip()``."""

    def after_step(self, turn: Turn) -> None:
        """The update was applied (or skipped: ``turn.skipped``): act on the weights, award XP."""

    def on_epoch_end(self, master: GameMaster, epoch: int) -> None:
        """The end of an epoch: a long rest. No turn is open: record an event with ``master.log``."""

    def abort(self, turn: Turn) -> None:
        """The turn will not reach ``after_step`` (an error was raised): undo any temporary change."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass(eq=False, slots=True)
class Turn:
    """Everything about one optimizer step that participants may read, and the two calls that act on it.

    State (read it; ``bonus``, ``advantage``, ``disadvantage`` and ``multiplier`` are the fields a
    participant may also change, in the hook its docstring names): the step, the roll, the outcome,
    the multiplier, the loss, and through properties the rules, the participants' roller, the
    parameters, the scheduler and the experience system.

    Control, one call each: :meth:`skip` skips this step's update; :meth:`log` records an event.
    Fields whose names start with ``_`` are the game master's bookkeeping. A turn has slots, so an
    undeclared attribute set on it from outside is an ``AttributeError``, not a silent side channel.
    """
    _master: GameMaster
    optimizer: torch.optim.Optimizer
    step: int                          # optimizer steps before this one
    epoch: int
    loss: torch.Tensor | None = None   # the training loss of this step, if the loop told us
    bonus: int = 0                     # added to the natural face (intelligence, proficiency, ...)
    advantage: bool = False
    disadvantage: bool = False
    roll: Roll | None = None
    outcome: str | None = None
    rule_multiplier: float = 1.0       # the rule's multiplier for this roll
    multiplier: float = 1.0            # the scale that will be applied (after classes and monsters)
    _skipped: bool = False             # set by skip(): the update is not applied at all
    _events: list = field(default_factory=list)   # what log() recorded; becomes the step record's events
    _target: UpdateTarget | GradientTarget | DeltaTarget | None = None   # what applies m to this step
    _target_state: object = None       # what ``_target.apply`` saved for ``_target.restore``
    _stashed_grads: list | None = None  # a skipped step's gradients, handed back after optimizer.step()
    _loss_value: float | None = None

    @property
    def roller(self) -> DiceRoller:
        """The roller of everything but the save: encounters, a class's die, a death save."""
        return self._master.table_roller

    @property
    def rules(self) -> SavingThrow:
        return self._master.rules

    @property
    def params(self) -> list:
        """The parameters this step updates (those with a gradient)."""
        return optimizer_params(self.optimizer, grad=True)

    @property
    def scheduler(self):
        """The optimizer's learning-rate scheduler, if the game master was given one (else ``None``)."""
        return self._master.scheduler

    @property
    def experience(self) -> Participant | None:
        """The experience system taking part in this game (``GameMaster.experience``), or ``None``."""
        return self._master.experience

    @property
    def skipped(self) -> bool:
        """True when this step's update is not applied (see :meth:`skip`)."""
        return self._skipped

    @property
    def events(self) -> tuple:
        """The events logged so far this step (a copy: record one with :meth:`log`)."""
        return tuple(self._events)

    def skip(self, why: str | None = None, kind: str = "skip") -> None:
        """Skip this step's update: nothing of it lands. The one way to skip a step.

        Before ``optimizer.step()`` (a participant's ``before_step``, the non-finite guard) the
        gradients are held back from the optimizer; after it (the fp16 gradient scaler skipped the
        step itself) the target's change is undone. ``why``, if given, is logged as an event of
        ``kind`` (a participant that logs its own event passes none).
        """
        if self._target is not None:       # applied already: undo it, the optimizer did not step
            self._target.restore(self)
            self._target = None
            self._stashed_grads = []
        self._skipped = True
        if why is not None:
            self.log(kind, why)

    def log(self, kind: str, message: str, **details) -> dict:
        """Record an event of this step (shown by ``history.battle_log()``). The one way to record one."""
        event = {"kind": kind, "message": message, **details}
        self._events.append(event)
        return event

    def loss_value(self) -> float | None:
        """The loss as a Python float (one host sync, done once per step and cached)."""
        if self._loss_value is None and self.loss is not None:
            self._loss_value = float(self.loss)
        return self._loss_value


# --- how the multiplier reaches the update: a dispatch table of targets -------------------
# Each target saves what it needs in ``turn._target_state`` (apply) and puts it back (restore).

class UpdateTarget:
    """Scale every param group's learning rate by m for exactly this step, then restore it.

    SGD, momentum SGD, Adam, AdamW and every optimizer whose step is lr × (something that does
    not depend on lr) move the weights by exactly m times the plain step. No tensor work for
    float learning rates; a tensor learning rate is scaled in place and copied back.
    """
    name = "update"

    def apply(self, turn: Turn) -> None:
        groups = turn.optimizer.param_groups
        if len(groups) == 1 and groups[0]["lr"].__class__ is float:    # the common case, on every step
            lr = groups[0]["lr"]
            groups[0]["lr"] = lr * turn.multiplier
            turn._target_state = lr
        else:
            turn._target_state = scale_lrs(turn.optimizer, turn.multiplier)

    def restore(self, turn: Turn) -> None:
        saved = turn._target_state
        if saved.__class__ is float:
            turn.optimizer.param_groups[0]["lr"] = saved
        else:
            restore_lrs(turn.optimizer, saved)
        turn._target_state = None


class GradientTarget:
    """Scale the gradients by m: the prototype's loss scaling. Adam normalises it away."""
    name = "gradient"

    def apply(self, turn: Turn) -> None:
        if turn.multiplier != 1.0:
            grads = [p.grad for p in turn.params]
            if grads:
                torch._foreach_mul_(grads, turn.multiplier)

    def restore(self, turn: Turn) -> None:
        pass


class DeltaTarget:
    """Let the optimizer step, then scale the parameter change: p ← p₀ + m (p - p₀). Any optimizer."""
    name = "delta"

    def apply(self, turn: Turn) -> None:
        # every parameter, not only those with a gradient now: LBFGS computes its own inside step()
        turn._target_state = [(p, p.detach().clone()) for p in optimizer_params(turn.optimizer)]

    def restore(self, turn: Turn) -> None:
        if turn.multiplier != 1.0:      # m = 1 keeps the optimizer's own step, bit for bit
            with torch.no_grad():
                for p, before in turn._target_state:
                    p.sub_(before).mul_(turn.multiplier).add_(before)
        turn._target_state = None


TARGETS = {t.name: t for t in (UpdateTarget, GradientTarget, DeltaTarget)}

#: Optimizers whose step is not lr × (something that does not depend on lr), and why. Under
#: ``target="update"`` their steps are scaled with ``"delta"`` instead (a warning says so, once).
NOT_LINEAR_IN_LR = {
    torch.optim.ASGD: "ASGD's step uses an eta worked out from the previous step's lr, so a scaled lr "
                      "would reach the weights one step late",
    torch.optim.Rprop: "Rprop ignores the lr after its first step (its step sizes adapt on their own), "
                       "so a scaled lr would be lost",
    torch.optim.LBFGS: "LBFGS's step runs several iterations whose directions depend on earlier ones, "
                       "so a scaled lr is not a scaled step",
}


def check_target(target, name: str = "target") -> str:
    """``target`` if it names a target of :data:`TARGETS`, else a clear error naming ``name``."""
    check_type(name, target, str, f"one of {sorted(TARGETS)}")
    if target not in TARGETS:
        raise RollToTrainError(bad_value(name, target, f"one of {sorted(TARGETS)}"))
    return target


def check_intelligence(score, name: str = "intelligence") -> int:
    """The 5e ability modifier of an intelligence ``score`` (1..30), or a clear error naming ``name``."""
    try:
        return ability_modifier(score)
    except (TypeError, ValueError) as exc:   # name the argument the user passed
        raise type(exc)(f"{name}={score!r}: {exc}") from None


def table_seed(seed: int | None) -> int | None:
    """The seed of the participants' stream, worked out from the game's seed (``None`` stays ``None``)."""
    return None if seed is None else random.Random(f"rtt_edu table {seed}").getrandbits(63)


_ROLLER_OWNER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # roller → its game master


class GameMaster:
    """Runs a turn per optimizer step: rolls, lets participants act, applies and records.

    ``rules``: a :class:`SavingThrow` or preset name; ``intelligence`` (1..30) adds its 5e
    ability modifier to every saving throw; ``participants`` join each turn in order;
    ``guard`` handles NaN/inf (see :mod:`rtt_edu.engine.safety`); ``target`` chooses what m scales;
    ``scheduler`` is the learning-rate scheduler of the optimizer, if any (a death save's revival
    lowers its base rates too); ``experience`` is the participant that keeps the experience points
    (an :class:`~rtt_edu.party.xp.ExperienceSystem`): it acts first each turn, and a defeated monster
    awards its XP to it (``master.experience``, ``turn.experience``; ``None`` without one).

    What the game master records is its own: participants read the :class:`Turn` and act through
    ``turn.skip`` and ``turn.log``, and :meth:`log` records an event outside a turn.

    Dice: ``seed`` seeds two streams, the save's (``roller``) and the participants'
    (``table_roller``, seeded with :func:`table_seed`). A ``roller`` you pass rolls both, unless
    you pass a ``table_roller`` too. Under ``torch.distributed`` all ranks share one seed and
    decide on the mean loss over ranks (see :mod:`rtt_edu.engine.distributed`), so every replica applies
    the same multiplier to the same step.
    """

    def __init__(self, rules=None, roller: DiceRoller | None = None, seed: int | None = None,
                 target: str = "update", participants=(), intelligence: int = 10, guard=None,
                 scheduler=None, table_roller: DiceRoller | None = None, experience: Participant | None = None):
        self.rules = as_rules(rules)
        if roller is not None and seed is not None:
            raise RollToTrainError(f"roller={roller!r} and seed={seed!r}: pass one or the other")
        for name, value in (("roller", roller), ("table_roller", table_roller)):
            if value is not None and not isinstance(value, DiceRoller):
                raise RollToTrainTypeError(bad_value(name, value, "a DiceRoller or None"))
        check_target(target)
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise RollToTrainTypeError(bad_value("scheduler", scheduler,
                                                 "a torch.optim.lr_scheduler scheduler or None"))
        self.intelligence_modifier = check_intelligence(intelligence)
        self.intelligence = intelligence
        if roller is None:
            seed = shared_seed(seed)                        # one seed for all ranks
            roller = DiceRoller(seed)
            table_roller = table_roller if table_roller is not None else DiceRoller(table_seed(seed))
        self.roller = roller
        self.table_roller = table_roller if table_roller is not None else roller
        for r in {id(self.roller): self.roller, id(self.table_roller): self.table_roller}.values():
            owner = _ROLLER_OWNER.get(r)
            if owner is not None and owner() is not None:
                warnings.warn(f"{r!r} already rolls for another game master: both runs now draw from one "
                              "stream, so each changes the other's rolls. Give each its own seed or DiceRoller.",
                              RuntimeWarning, stacklevel=3)
            _ROLLER_OWNER[r] = weakref.ref(self)
        self.target = TARGETS[target]()
        self._targets: dict = {}           # optimizer class → the target its steps use
        if experience is not None and not isinstance(experience, Participant):
            raise RollToTrainTypeError(bad_value("experience", experience,
                                                 "a Participant such as ExperienceSystem(), or None"))
        participants = [p for p in participants if p is not None]
        for p in participants:
            if not isinstance(p, Participant):
                raise RollToTrainTypeError(bad_value("participants", p,
                                                     "Participant instances (classes, monsters, experience)"))
        if experience is not None and all(p is not experience for p in participants):
            participants.insert(0, experience)         # experience acts first: its bonus joins every save
        self.participants = participants
        self.experience = experience
        self.guard = guard
        self.scheduler = scheduler
        self.history = History()
        self.step = 0
        self.epoch = 0
        self._pending_loss = None

    @property
    def last_record(self) -> StepRecord | None:
        """The newest record, for progress bars and panels."""
        return self.history.last()

    @property
    def needs_loss(self) -> bool:
        return any(p.needs_loss for p in self.participants) or bool(getattr(self.guard, "needs_loss", False))

    def observe_loss(self, loss) -> None:
        """Tell the game master this step's training loss (a tensor; it is not read back here)."""
        self._pending_loss = loss.detach() if isinstance(loss, torch.Tensor) else loss

    def _call(self, hook: str, turn: Turn) -> None:
        for p in self.participants:
            getattr(p, hook)(turn)

    def target_for(self, optimizer) -> UpdateTarget | GradientTarget | DeltaTarget:
        """The target this optimizer's steps use: ``self.target``, except ``"update"`` on an
        optimizer of :data:`NOT_LINEAR_IN_LR`, which gets ``"delta"`` (with a warning, once)."""
        kind = type(optimizer)
        target = self._targets.get(kind)
        if target is None:
            target = self.target
            why = next((why for cls, why in NOT_LINEAR_IN_LR.items() if isinstance(optimizer, cls)), None)
            if why is not None and isinstance(target, UpdateTarget):
                warnings.warn(f"target='update' on {kind.__name__}: {why}. Its steps are scaled with "
                              "target='delta' instead (p <- p0 + m (p - p0)), which is exact for any optimizer.",
                              RuntimeWarning, stacklevel=4)
                target = DeltaTarget()
            self._targets[kind] = target
        return target

    # --- the turn ---------------------------------------------------------------------------
    def begin(self, optimizer) -> Turn:
        """Before ``optimizer.step()``: roll, let participants act, apply the multiplier.

        If anything raises on the way (a participant, the guard with ``on_nonfinite="raise"``),
        the turn is aborted first: every temporary change is undone (see :meth:`abort`).
        """
        loss = self._pending_loss
        if loss.__class__ in (int, float):
            loss = torch.tensor(float(loss))
        self._pending_loss = None
        parts = self.participants          # none: no hooks to call (the fastest path)
        if (self.guard is not None or (parts and self.needs_loss)) and is_distributed():
            loss = mean_over_ranks(loss, optimizer.param_groups[0]["params"][0].device)  # decide alike on all ranks
        turn = Turn(self, optimizer, self.step, self.epoch, loss, self.intelligence_modifier)
        try:
            if parts:
                self._call("before_roll", turn)
            turn.roll, turn.outcome, m = self.rules.roll(self.roller, turn.bonus, turn.advantage, turn.disadvantage)
            turn.rule_multiplier = turn.multiplier = m
            if turn.outcome == "critical_success":
                turn.log("crit", f"natural {turn.roll.natural}: critical success, the full update lands")
            elif turn.outcome == "critical_fail":
                turn.log("crit", f"natural 1: critical failure, multiplier {m:+g}")
            if parts:
                self._call("after_roll", turn)
                self._call("before_step", turn)
            if self.guard is not None:
                self.guard.check(turn)
            if turn._skipped:
                turn._stashed_grads = [(p, p.grad) for p in turn.params]
                for p, _ in turn._stashed_grads:
                    p.grad = None          # the optimizer skips parameters without a gradient
            else:
                turn._target = self._targets.get(optimizer.__class__) or self.target_for(optimizer)  # cached: no call
                turn._target.apply(turn)
        except BaseException:
            self.abort(turn)
            raise
        return turn

    def log(self, kind: str, message: str, **details) -> dict | None:
        """Record an event outside a turn (a long rest at an epoch's end): it joins the newest step's
        record, as if logged on that step. Returns the event, or ``None`` when no step is recorded yet
        (the event is dropped). Inside a turn, use :meth:`Turn.log`."""
        record = self.history.last()
        if record is None:
            return None
        event = {"kind": kind, "message": message, **details}
        record.events.append(event)
        return event

    def abort(self, turn: Turn) -> None:
        """Undo everything temporary of a turn that will not finish: the target's scaling, the
        held-back gradients and each participant's own change (``Participant.abort``)."""
        if turn._target is not None:
            turn._target.restore(turn)
            turn._target = None
        for p, grad in turn._stashed_grads or ():
            p.grad = grad
        turn._stashed_grads = None
        for p in self.participants:
            p.abort(turn)

    def end(self, turn: Turn) -> StepRecord | None:
        """After ``optimizer.step()``: restore, let participants act, record the step."""
        try:
            if turn._skipped:
                for p, grad in turn._stashed_grads or ():
                    p.grad = grad
                turn._stashed_grads = None
            elif turn._target is not None:
                turn._target.restore(turn)
                turn._target = None
            if self.participants:
                self._call("after_step", turn)
            if self.guard is not None:
                self.guard.after(turn)
        except BaseException:
            self.abort(turn)
            raise
        lr = turn.optimizer.param_groups[0]["lr"]
        roll = turn.roll
        if lr.__class__ is not float and isinstance(lr, torch.Tensor):
            lr = lr.detach().clone()                  # not an alias of the live rate
        skipped = turn._skipped           # the fields in StepRecord's order, positional: one tuple a step
        self.history.append_step(turn.step, turn.epoch, roll.natural, roll.total, 0.0 if skipped else turn.multiplier,
                                 "skipped" if skipped else turn.outcome, lr,
                                 turn.loss if turn._loss_value is None else turn._loss_value, turn.rule_multiplier,
                                 roll.modifier, self.rules.dc, turn._events)
        self.step += 1

    def end_epoch(self) -> None:
        """Close an epoch: participants take a long rest; the epoch counter advances."""
        for p in self.participants:
            p.on_epoch_end(self, self.epoch)
        self.epoch += 1

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"step": self.step, "epoch": self.epoch, "rules": self.rules.to_dict(),
                 "roller": self.roller.state_dict(),
                 "participants": [p.state_dict() for p in self.participants],
                 "guard": self.guard.state_dict() if self.guard is not None else None}
        if self.table_roller is not self.roller:
            state["table_roller"] = self.table_roller.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if len(state["participants"]) != len(self.participants):
            raise RollToTrainError(bad_value("state['participants']", len(state["participants"]),
                                             f"{len(self.participants)} participant states"))
        separate = self.table_roller is not self.roller
        if separate != ("table_roller" in state):
            raise RollToTrainError(bad_value("state['table_roller']", "present" if not separate else "missing",
                                             "one dice stream for the save and one for the participants"
                                             if separate else "a single dice stream, as this game master rolls"))
        self.step, self.epoch = state["step"], state["epoch"]
        self.rules = SavingThrow.from_dict(state["rules"])
        self.roller.load_state_dict(state["roller"])
        if separate:
            self.table_roller.load_state_dict(state["table_roller"])
        for p, s in zip(self.participants, state["participants"]):
            p.load_state_dict(s)
        if self.guard is not None and state.get("guard") is not None:
            self.guard.load_state_dict(state["guard"])
