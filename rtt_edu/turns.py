"""One optimizer step as a turn of the game, run by the :class:`GameMaster`.

Everything that bends training (character classes, monsters, the experience system) is a
:class:`Participant` with documented no-op hooks. For each optimizer step the game master calls,
in order::

    before_roll(turn)   add to turn.bonus, grant turn.advantage / turn.disadvantage
    -- the d20 is rolled: m = rules.multiplier(natural, bonus) --
    after_roll(turn)    read turn.outcome, change turn.multiplier (sneak attack, rage, ...)
    before_step(turn)   gradients are final: clip or scale them (turn.params)
    -- the non-finite guard may skip the step; the target applies m; optimizer.step() --
    after_step(turn)    weights are updated: perturb, roll back, award XP
    on_epoch_end(master, epoch)   a long rest: limited uses recover

The same turn runs in the trainer's per-mini-batch and per-accumulation-step modes, under
``attach`` in anyone's loop, and under the HuggingFace callback, because all of them are one
optimizer step. Participants steer the step only through the turn's fields, never by reaching
into the trainer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .dice import DiceRoller, Roll, ability_modifier
from .distributed import is_distributed, mean_over_ranks, shared_seed
from .errors import RollToTrainError, bad_value, check_type
from .history import History, StepRecord
from .rules import SavingThrow, as_rules


class Participant:
    """Base class of anything that takes part in a turn. Every hook is a documented no-op."""

    #: True if the participant reads ``turn.loss_value()``, which costs one host sync per step.
    needs_loss = False

    def before_roll(self, turn: "Turn") -> None:
        """Before the die is rolled: add to ``turn.bonus``, set ``turn.advantage``/``disadvantage``."""

    def after_roll(self, turn: "Turn") -> None:
        """After the roll: read ``turn.roll``/``turn.outcome``, change ``turn.multiplier``."""

    def before_step(self, turn: "Turn") -> None:
        """Gradients are final and the update is about to be applied: clip or scale them."""

    def after_step(self, turn: "Turn") -> None:
        """The update was applied (or skipped, see ``turn.skipped``): act on the weights, award XP."""

    def on_epoch_end(self, master: "GameMaster", epoch: int) -> None:
        """The end of an epoch: a long rest."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class Turn:
    """Everything about one optimizer step that participants may read or change."""
    master: "GameMaster"
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
    skipped: bool = False              # True when the update is not applied at all
    events: list = field(default_factory=list)
    _loss_value: float | None = None

    @property
    def roller(self) -> DiceRoller:
        return self.master.roller

    @property
    def rules(self) -> SavingThrow:
        return self.master.rules

    @property
    def params(self) -> list:
        """The parameters this step updates (those with a gradient)."""
        return [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]

    def log(self, kind: str, message: str, **details) -> dict:
        """Record an event of this step (shown by ``history.battle_log()``)."""
        event = {"kind": kind, "message": message, **details}
        self.events.append(event)
        return event

    def loss_value(self) -> float | None:
        """The loss as a Python float (one host sync, done once per step and cached)."""
        if self._loss_value is None and self.loss is not None:
            self._loss_value = float(self.loss)
        return self._loss_value


# --- how the multiplier reaches the update: a dispatch table of targets -------------------

class UpdateTarget:
    """Scale every param group's learning rate by m for exactly this step, then restore it.

    SGD, momentum SGD, Adam and AdamW all move the weights by lr × (something that does not
    depend on lr), so the step becomes exactly m times the plain step. No tensor work for
    float learning rates; a tensor learning rate is scaled in place and copied back.
    """
    name = "update"

    def apply(self, turn: Turn) -> None:
        m = turn.multiplier
        saved = []
        for group in turn.optimizer.param_groups:
            lr = group["lr"]
            if isinstance(lr, torch.Tensor):
                saved.append(lr.clone())
                lr.mul_(m)
            else:
                saved.append(lr)
                group["lr"] = lr * m
        turn._saved = saved

    def restore(self, turn: Turn) -> None:
        for group, lr in zip(turn.optimizer.param_groups, turn._saved):
            if isinstance(lr, torch.Tensor):
                group["lr"].copy_(lr)
            else:
                group["lr"] = lr


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
        turn._saved = [(p, p.detach().clone()) for g in turn.optimizer.param_groups for p in g["params"]]

    def restore(self, turn: Turn) -> None:
        with torch.no_grad():
            for p, before in turn._saved:
                p.sub_(before).mul_(turn.multiplier).add_(before)


TARGETS = {t.name: t for t in (UpdateTarget, GradientTarget, DeltaTarget)}


class GameMaster:
    """Runs a turn per optimizer step: rolls, lets participants act, applies and records.

    ``rules``: a :class:`SavingThrow` or preset name; ``intelligence`` (1..30) adds its 5e
    ability modifier to every saving throw; ``participants`` join each turn in order;
    ``guard`` handles NaN/inf (see :mod:`rtt_edu.safety`); ``target`` chooses what m scales.
    Under ``torch.distributed`` all ranks share one seed and decide on the mean loss over ranks
    (see :mod:`rtt_edu.distributed`), so every replica applies the same multiplier to the same step.
    """

    def __init__(self, rules=None, roller: DiceRoller | None = None, seed: int | None = None,
                 target: str = "update", participants=(), intelligence: int = 10, guard=None):
        self.rules = as_rules(rules)
        if roller is not None and seed is not None:
            raise RollToTrainError(f"roller={roller!r} and seed={seed!r}: pass one or the other")
        if roller is not None and not isinstance(roller, DiceRoller):
            raise TypeError(bad_value("roller", roller, "a DiceRoller or None"))
        check_type("target", target, str, f"one of {sorted(TARGETS)}")
        if target not in TARGETS:
            raise RollToTrainError(bad_value("target", target, f"one of {sorted(TARGETS)}"))
        try:
            self.intelligence_modifier = ability_modifier(intelligence)
        except (TypeError, ValueError) as exc:   # name the argument the user passed
            raise type(exc)(f"intelligence={intelligence!r}: {exc}") from None
        self.intelligence = intelligence
        self.roller = roller if roller is not None else DiceRoller(shared_seed(seed))   # one seed for all ranks
        self.target = TARGETS[target]()
        self.participants = [p for p in participants if p is not None]
        for p in self.participants:
            if not isinstance(p, Participant):
                raise TypeError(bad_value("participants", p, "Participant instances (classes, monsters, experience)"))
        self.guard = guard
        self.history = History()
        self.last_record: StepRecord | None = None   # the newest record, for progress bars and panels
        self.step = 0
        self.epoch = 0
        self._pending_loss = None

    @property
    def needs_loss(self) -> bool:
        return any(p.needs_loss for p in self.participants) or bool(getattr(self.guard, "needs_loss", False))

    def observe_loss(self, loss) -> None:
        """Tell the game master this step's training loss (a tensor; it is not read back here)."""
        self._pending_loss = loss.detach() if isinstance(loss, torch.Tensor) else loss

    def _call(self, hook: str, turn: Turn) -> None:
        for p in self.participants:
            getattr(p, hook)(turn)

    # --- the turn ---------------------------------------------------------------------------
    def begin(self, optimizer) -> Turn:
        """Before ``optimizer.step()``: roll, let participants act, apply the multiplier."""
        loss = self._pending_loss
        if isinstance(loss, (int, float)):
            loss = torch.tensor(float(loss))
        self._pending_loss = None
        parts = self.participants          # none: no hooks to call (the fastest path)
        if (self.guard is not None or (parts and self.needs_loss)) and is_distributed():
            loss = mean_over_ranks(loss, optimizer.param_groups[0]["params"][0].device)  # decide alike on all ranks
        turn = Turn(self, optimizer, self.step, self.epoch, loss=loss, bonus=self.intelligence_modifier)
        if parts:
            self._call("before_roll", turn)
        rules = self.rules
        adv = (rules.advantage or turn.advantage)
        dis = (rules.disadvantage or turn.disadvantage)
        if adv and dis:   # 5e: advantage and disadvantage cancel
            adv = dis = False
        turn.roll = self.roller.roll(f"d{rules.sides}", advantage=adv, disadvantage=dis,
                                     modifier=rules.modifier + turn.bonus)
        turn.outcome = rules.outcome(turn.roll.natural, turn.bonus)
        turn.rule_multiplier = turn.multiplier = rules.multiplier(turn.roll.natural, turn.bonus)
        if turn.outcome == "critical_success":
            turn.log("crit", f"natural {turn.roll.natural}: critical success, the full update lands")
        elif turn.outcome == "critical_fail":
            turn.log("crit", f"natural 1: critical failure, multiplier {turn.multiplier:+g}")
        if parts:
            self._call("after_roll", turn)
            self._call("before_step", turn)
        if self.guard is not None:
            self.guard.check(turn)
        if turn.skipped:
            turn._grads = [(p, p.grad) for p in turn.params]
            for p, _ in turn._grads:
                p.grad = None          # the optimizer skips parameters without a gradient
        else:
            self.target.apply(turn)
        return turn

    def end(self, turn: Turn) -> StepRecord:
        """After ``optimizer.step()``: restore, let participants act, record the step."""
        if turn.skipped:
            for p, grad in turn._grads:
                p.grad = grad
        else:
            self.target.restore(turn)
        if self.participants:
            self._call("after_step", turn)
        if self.guard is not None:
            self.guard.after(turn)
        lr = turn.optimizer.param_groups[0]["lr"]
        record = StepRecord(step=turn.step, epoch=turn.epoch, natural=turn.roll.natural, total=turn.roll.total,
                            multiplier=0.0 if turn.skipped else turn.multiplier,
                            outcome="skipped" if turn.skipped else turn.outcome,
                            lr=None if isinstance(lr, torch.Tensor) else lr,
                            loss=turn._loss_value, rule_multiplier=turn.rule_multiplier,
                            modifier=turn.roll.modifier, dc=self.rules.dc, events=turn.events)
        self.history.add_step(record, loss=turn.loss if turn._loss_value is None else None,
                              lr=lr.detach().clone() if isinstance(lr, torch.Tensor) else None)  # not an alias
        self.step += 1
        self.last_record = record
        return record

    def end_epoch(self) -> None:
        """Close an epoch: participants take a long rest; the epoch counter advances."""
        for p in self.participants:
            p.on_epoch_end(self, self.epoch)
        self.epoch += 1

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "rules": self.rules.to_dict(),
                "roller": self.roller.state_dict(),
                "participants": [p.state_dict() for p in self.participants],
                "guard": self.guard.state_dict() if self.guard is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if len(state["participants"]) != len(self.participants):
            raise RollToTrainError(bad_value("state['participants']", len(state["participants"]),
                                             f"{len(self.participants)} participant states"))
        self.step, self.epoch = state["step"], state["epoch"]
        self.rules = SavingThrow.from_dict(state["rules"])
        self.roller.load_state_dict(state["roller"])
        for p, s in zip(self.participants, state["participants"]):
            p.load_state_dict(s)
        if self.guard is not None and state.get("guard") is not None:
            self.guard.load_state_dict(state["guard"])
