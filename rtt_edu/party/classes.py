"""Character classes: each one a real training technique in costume.

A class is a :class:`~rtt_edu.engine.turns.Participant`: it acts only through the turn's fields and hooks
(``turn.bonus``, ``turn.multiplier``, the gradients of ``turn.params``, the param groups' learning
rates, ``turn.skip()``), so it works the same per mini-batch, per accumulation step, under
``attach`` and under the HuggingFace callback.

Every class has a ``level`` (1..20) that changes its abilities by the formula in its docstring or
a :class:`LevelTable` (the 5e tables as data, read with ``bisect``),
a limited feature with ``max_uses`` uses per long rest (``uses=`` overrides the level's number),
and ``state_dict()`` / ``load_state_dict()`` holding the uses left and any running timer.
A long rest (the end of an epoch, ``on_epoch_end``) restores every use.

=============  ===================================  ==========================================
class          technique                            what it does to step t
=============  ===================================  ==========================================
Wizard         learning-rate boost / warm restart   lr ← power·lr (or the initial lr) for a few steps
Rogue          heavier upper tail of the multiplier m ← m·(1 + ⌈level/2⌉/4) on an excellent roll
Fighter        gradient-norm clipping; spike skip   clip ‖g‖ to 2·max_norm/prof(level); skip a spike
Cleric         loss-spike rollback                  keep the best weights; restore them on a spike
Barbarian      no ascent steps for a while          m ← max(m, 0) for the turns of a rage
Bard           variance reduction on fails          a failed save gets + d6..d12 and is re-judged
Paladin        variance reduction on every save     + aura to every save; a natural 1 re-judged
=============  ===================================  ==========================================

``cls.distribution(rules, bonus)`` is the exact multiplier distribution of ``rules`` while the class
acts on every turn (while its uses last): each class overrides it with its own effect on m::

    Rogue       m ← m · sneak_factor  where m > 0 and total >= DC + 5 (or the roll had advantage)
    Barbarian   m ← max(m, 0)         (raging)
    Bard        a fail is re-judged with + d(die)
    Paladin     the aura and Lay on Hands: the distribution of ``effective_rules(rules)``
    Wizard, Fighter, Cleric   m unchanged: they act on the learning rate, the gradients, the weights

Events are logged with kind ``"ability"`` (details: ``character_class``, ``ability``) and, at a long
rest that restored something, kind ``"long_rest"`` on the last step of the epoch.
"""
from __future__ import annotations

import bisect
import dataclasses
import math
from fractions import Fraction

import torch

from rtt_edu.engine.tensors import optimizer_params, saved_lr, set_lr
from rtt_edu.engine.turns import Participant
from rtt_edu.errors import RollToTrainError, bad_value, check_type, require
from rtt_edu.party.xp import proficiency_bonus


def _check_level(level):
    check_type("level", level, int, "a level from 1 to 20")
    return require(1 <= level <= 20, "level", level, "a level from 1 to 20")


def _check_positive(name, value, expected="a number > 0"):
    check_type(name, value, (int, float), expected)
    return float(require(math.isfinite(value) and value > 0, name, value, expected))


def _check_state(state, keys, what):
    if not isinstance(state, dict) or any(k not in state for k in keys):
        shown = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise RollToTrainError(bad_value("state", shown, f"a {what} state_dict with keys {list(keys)}"))


class LevelTable:
    """A value per level (1..20), written as the levels where it changes, as the 5e class tables are.

    ``LevelTable({1: 2, 4: 3, 10: 4})`` is 2 at levels 1-3, 3 at 4-9 and 4 at 10-20; ``table[level]``
    finds the last change at or below ``level`` with ``bisect``, as :func:`~rtt_edu.party.xp.level_for_xp`
    reads the XP table.
    """

    def __init__(self, changes: dict):
        self.levels = tuple(changes)         # the levels where the value changes, rising from 1
        self.values = tuple(changes.values())
        require(self.levels[0] == 1 and list(self.levels) == sorted(set(self.levels)), "changes", changes,
                "levels rising from 1, each with its value")

    def __getitem__(self, level: int):
        return self.values[bisect.bisect_right(self.levels, _check_level(level)) - 1]

    def __repr__(self):
        return f"LevelTable({dict(zip(self.levels, self.values))!r})"


def _finite_loss(turn):
    """The turn's loss as a float, or ``None`` when the loop did not report one or it is NaN/inf."""
    loss = turn.loss_value()
    return loss if loss is not None and math.isfinite(loss) else None


class CharacterClass(Participant):
    """Base class: a ``level`` (1..20), a limited feature with uses per long rest, no-op turn hooks.

    Subclasses set ``name`` and ``feature`` (shown in the battle log) and override
    :meth:`uses_for_level`, the number of uses a long rest restores at a level. ``uses`` overrides
    that number (``None``: from the level), for lessons that want more or fewer.
    """
    name = "Adventurer"     # shown in the battle log: "the Wizard casts Haste ..."
    feature = "feature"     # the limited feature, plural in messages: "spell slots"

    def __init__(self, level: int = 1, uses: int | None = None):
        self.level = level
        if uses is not None:
            check_type("uses", uses, int, "a number of uses per long rest >= 0, or None for the level's number")
            require(uses >= 0, "uses", uses, "a number of uses per long rest >= 0")
        self.uses = uses
        self.uses_left = self.max_uses

    @property
    def level(self) -> int:
        return self._level

    @level.setter
    def level(self, value: int) -> None:
        self._level = _check_level(value)

    def uses_for_level(self, level: int) -> int:
        """Uses of the limited feature that a long rest restores at ``level`` (none in the base class)."""
        return 0

    @property
    def max_uses(self) -> int:
        return self.uses if self.uses is not None else self.uses_for_level(self.level)

    def spend(self) -> bool:
        """Use the feature once if a use is left; ``False`` when none is."""
        if self.uses_left <= 0:
            return False
        self.uses_left -= 1
        return True

    def log(self, turn, ability: str, message: str, **details) -> dict:
        """Log an ``"ability"`` event: ``"the Rogue <message>"``."""
        return turn.log("ability", f"the {self.name} {message}", character_class=self.name, ability=ability,
                        uses_left=self.uses_left, **details)

    def on_epoch_end(self, master, epoch: int) -> None:
        """A long rest: every use of the limited feature comes back."""
        recovered = self.max_uses - self.uses_left
        self.uses_left = self.max_uses
        if recovered > 0:
            master.log("long_rest", f"long rest after epoch {epoch}: the {self.name} recovers {recovered} "
                                    f"{self.feature} ({self.max_uses} ready)",
                       character_class=self.name, recovered=recovered)

    def state_dict(self) -> dict:
        return {"level": self.level, "uses": self.uses, "uses_left": self.uses_left}

    def load_state_dict(self, state) -> None:
        _check_state(state, ("level",), type(self).__name__)
        self.level = state["level"]
        self.uses = state.get("uses", self.uses)
        self.uses_left = state.get("uses_left", self.max_uses)

    def face_multiplier(self, rules, natural: int, bonus: int = 0) -> float:
        """The multiplier of a face while the class acts on every turn (unchanged in the base class)."""
        return rules.multiplier(natural, bonus)

    def distribution(self, rules="classroom", bonus: int = 0) -> dict:
        """Exact multiplier → probability of ``rules`` rolled with ``bonus`` while this class acts on every turn.

        P(m) = Σ_k P(k) · 1{face_multiplier(k) = m}, summed exactly (``Fraction``s) and returned as
        floats sorted by m. A class that changes the multiplier of a face overrides
        :meth:`face_multiplier`; one that changes more than a face's multiplier (Bard, Paladin)
        overrides this method. Wizard, Fighter and Cleric leave m unchanged: they act on the
        learning rate, the gradients and the weights.
        """
        rules = _rules(rules)
        check_type("bonus", bonus, int, "an integer bonus")
        dist: dict = {}
        for k, p in rules.face_probabilities().items():
            m = self.face_multiplier(rules, k, bonus)
            dist[m] = dist.get(m, Fraction(0)) + p
        return {m: float(p) for m, p in sorted(dist.items())}

    def __repr__(self):
        return f"{type(self).__name__}(level={self.level}, uses_left={self.uses_left}/{self.max_uses})"


def _rules(rules):
    from rtt_edu.game.rules import as_rules
    return as_rules(rules)


# --- Wizard: learning-rate magic ---------------------------------------------------------------

def _haste(wizard, group, index):
    """Haste: lr ← power × lr."""
    return group["lr"] * wizard.power


def _restart(wizard, group, index):
    """Warm restart: lr ← the group's initial lr (a scheduler's ``initial_lr``, else the first lr seen)."""
    return group.get("initial_lr", wizard.base_lrs[index])


class Wizard(CharacterClass):
    """Learning-rate magic: short learning-rate boosts (Haste) or warm restarts (SGDR).

    Technique: a learning-rate schedule with short bursts, as in warm restarts (Loshchilov & Hutter
    2017, SGDR) and cyclical learning rates (Smith 2017): a larger rate for a few steps helps
    leave a flat region or a poor basin, at the price of a noisier loss.

    When the natural face is at least ``cast_on`` and no spell is running, the Wizard spends a spell
    slot and casts ``spell`` for ``duration`` turns, the casting turn included. On each of them,
    for every param group g (float or tensor learning rates)::

        haste:    lr_g ← power × lr_g
        restart:  lr_g ← initial_lr_g    (the scheduler's "initial_lr", else lr_g at the first turn)

    The rate is set in ``before_step`` and restored in ``after_step``, so the optimizer really
    steps with it whatever the target (update, gradient, delta), and a scheduler never sees it.
    (If something else rescales the rate during the step, such as a death-save revival, that
    rescaling is kept: lr ← saved × lr_now / lr_spell.)

    Level: spell slots per long rest = 1 + (level + 1) // 2 (2 at level 1, 11 at level 20);
    duration = 1 + level // 5 turns (1 at levels 1-4, 5 at level 20).
    """
    name = "Wizard"
    feature = "spell slots"
    SPELLS = {"haste": _haste, "restart": _restart}

    def __init__(self, level: int = 1, spell: str = "haste", power: float = 2.0, cast_on: int = 18,
                 uses: int | None = None):
        super().__init__(level, uses)
        check_type("spell", spell, str, f"one of {sorted(self.SPELLS)}")
        require(spell in self.SPELLS, "spell", spell, f"one of {sorted(self.SPELLS)}")
        check_type("cast_on", cast_on, int, "the lowest natural face that casts (an integer >= 1)")
        require(cast_on >= 1, "cast_on", cast_on, "the lowest natural face that casts (>= 1)")
        self.spell = spell
        self.power = _check_positive("power", power, "a learning-rate factor > 0")
        self.cast_on = cast_on
        self.spell_turns_left = 0
        self.base_lrs: list | None = None   # the rates at the first turn, for "restart"
        self._saved = []

    def uses_for_level(self, level: int) -> int:
        return 1 + (level + 1) // 2

    @property
    def duration(self) -> int:
        """Turns a spell lasts: 1 + level // 5."""
        return 1 + self.level // 5

    def after_roll(self, turn) -> None:
        if self.spell_turns_left == 0 and turn.roll.natural >= self.cast_on and self.spend():
            self.spell_turns_left = self.duration
            what = (f"learning rate x{self.power:g}" if self.spell == "haste"
                    else "learning rate back to its initial value")
            self.log(turn, self.spell, f"casts {'Haste' if self.spell == 'haste' else 'Warm Restart'}: {what} "
                                       f"for {self.duration} turn{'s' * (self.duration > 1)} "
                                       f"({self.uses_left} slot{'s' * (self.uses_left != 1)} left)",
                     turns=self.duration)

    def before_step(self, turn) -> None:
        if self._saved:                 # a turn that never reached after_step (an error was raised): undo it
            self.after_step(turn)
        if self.base_lrs is None and self.spell == "restart":    # no host sync for a tensor rate
            self.base_lrs = [saved_lr(g) for g in turn.optimizer.param_groups]
        if self.spell_turns_left == 0:
            return
        cast = self.SPELLS[self.spell]
        groups = turn.optimizer.param_groups
        values = [cast(self, group, i) for i, group in enumerate(groups)]   # all read before any is written
        self._saved, seen = [], set()
        for group, value in zip(groups, values):
            lr = group["lr"]
            if isinstance(lr, torch.Tensor):
                if id(lr) in seen:       # one tensor shared by several groups: cast on it once
                    continue
                seen.add(id(lr))
            saved = saved_lr(group)
            set_lr(group, value)
            self._saved.append((group, saved, saved_lr(group)))

    def after_step(self, turn) -> None:
        """Restore each rate: lr ← saved × lr_now / lr_spell (exactly saved when nothing else changed it)."""
        self._restore_rates()
        if self.spell_turns_left > 0:
            self.spell_turns_left -= 1

    def abort(self, turn) -> None:
        """An error cut the turn short (``on_nonfinite="raise"``, say): the rates go back at once."""
        self._restore_rates()

    def _restore_rates(self) -> None:
        for group, saved, spell_lr in self._saved:
            now = group["lr"]
            if isinstance(now, torch.Tensor):
                now.copy_(torch.where(spell_lr == 0, saved, saved * (now / spell_lr)))
            else:
                group["lr"] = saved if now == spell_lr or spell_lr == 0 else saved * now / spell_lr
        self._saved = []

    def state_dict(self) -> dict:
        return {**super().state_dict(), "spell_turns_left": self.spell_turns_left, "base_lrs": self.base_lrs}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.spell_turns_left = state.get("spell_turns_left", 0)
        self.base_lrs = state.get("base_lrs")


# --- Rogue: sneak attack -----------------------------------------------------------------------

class Rogue(CharacterClass):
    """Sneak attack: an extra-strong update on an excellent roll or with advantage.

    Technique: a heavier upper tail of the random learning rate. Good steps get longer, which
    raises the drift E[m] and the variance Var[m] together (more progress, more noise).

    When the step's multiplier is positive and the roll beats the DC by 5 or more
    (total >= dc + 5) or was rolled with advantage, the Rogue spends a sneak attack::

        m ← m × (1 + ⌈level / 2⌉ / 4)       (× 1.25 at level 1, × 3.5 at levels 19-20)

    ⌈level / 2⌉ is the number of sneak-attack dice of a 5e rogue. Sneak attacks per long rest:
    2 + level.
    """
    name = "Rogue"
    feature = "sneak attacks"
    MARGIN = 5     # "excellent": the total beats the DC by at least this much

    def uses_for_level(self, level: int) -> int:
        return 2 + level

    @property
    def sneak_factor(self) -> float:
        """1 + ⌈level / 2⌉ / 4."""
        return 1 + math.ceil(self.level / 2) / 4

    def face_multiplier(self, rules, natural: int, bonus: int = 0) -> float:
        """m · sneak_factor when m > 0 and the total beats the DC by ``MARGIN`` (or the rule rolls with advantage)."""
        m = rules.multiplier(natural, bonus)
        excellent = natural + rules.modifier + bonus >= rules.dc + self.MARGIN
        return m * self.sneak_factor if m > 0 and (excellent or rules.advantage) else m

    def after_roll(self, turn) -> None:
        excellent = turn.roll.total >= turn.rules.dc + self.MARGIN
        if turn.multiplier > 0 and (excellent or turn.roll.advantage) and self.spend():
            turn.multiplier *= self.sneak_factor
            why = f"total {turn.roll.total} vs DC {turn.rules.dc}" if excellent else "advantage"
            self.log(turn, "sneak attack", f"sneak attacks ({why}): update x{self.sneak_factor:g}",
                     factor=self.sneak_factor)


# --- loss spikes (Fighter, Cleric) ---------------------------------------------------------------

class _SpikeWatch:
    """A loss spike: loss > factor × ema, the running mean of earlier non-spike losses.

    ema ← beta · ema + (1 - beta) · loss after every non-spike loss (the first loss starts it).
    """
    BETA = 0.9

    def __init__(self, factor: float):
        self.factor = factor
        self.ema: float | None = None

    def is_spike(self, loss: float) -> bool:
        if self.ema is not None and loss > self.factor * self.ema:
            return True
        self.ema = loss if self.ema is None else self.BETA * self.ema + (1 - self.BETA) * loss
        return False


def _check_spike_factor(value):
    check_type("spike_factor", value, (int, float), "a factor > 1 (a spike is loss > factor x its running mean)")
    require(math.isfinite(value) and value > 1, "spike_factor", value,
            "a factor > 1 (a spike is loss > factor x its running mean)")
    return float(value)


# --- Fighter: armour and second wind -------------------------------------------------------------

class Fighter(CharacterClass):
    """Armour as gradient-norm clipping; second wind skips the update of a loss spike.

    Technique: gradient-norm clipping (Pascanu et al. 2013), the standard guard against exploding
    gradients; and skipping the batches of a loss spike, as large-model training does (PaLM,
    Chowdhery et al. 2022, skipped the batches around its spikes).

    Armour, every turn, before the update (``torch.nn.utils.clip_grad_norm_``)::

        g ← g × min(1, armour_norm / ‖g‖),   armour_norm = 2 × max_norm / proficiency_bonus(level)

    (max_norm at levels 1-4, 2/3 of it at 5-8, ... 1/3 at 17-20: the armour tightens with level.)

    Second wind: when the step's loss spikes (loss > spike_factor × the running mean of earlier
    losses, ema with beta 0.9) the Fighter spends a use and the update is skipped
    (``turn.skip()``: not applied, and kept out of the optimizer's moments). Needs the loss.
    Uses per long rest: 2 at levels 1-3, 3 at 4-9, 4 at 10-20.
    """
    name = "Fighter"
    feature = "second winds"
    needs_loss = True

    def __init__(self, level: int = 1, max_norm: float = 1.0, spike_factor: float = 2.0, uses: int | None = None):
        super().__init__(level, uses)
        self.max_norm = _check_positive("max_norm", max_norm, "a gradient norm > 0")
        self.watch = _SpikeWatch(_check_spike_factor(spike_factor))

    SECOND_WINDS = LevelTable({1: 2, 4: 3, 10: 4})   # second winds per long rest

    def uses_for_level(self, level: int) -> int:
        return self.SECOND_WINDS[level]

    @property
    def armour_norm(self) -> float:
        """2 × max_norm / proficiency_bonus(level)."""
        return 2 * self.max_norm / proficiency_bonus(self.level)

    def before_step(self, turn) -> None:
        params = turn.params
        if params:
            torch.nn.utils.clip_grad_norm_(params, self.armour_norm)
        loss = _finite_loss(turn)
        if loss is not None and self.watch.is_spike(loss) and self.spend():
            turn.skip()
            self.log(turn, "second wind", f"catches a second wind: loss {loss:.4g} spiked above "
                                          f"{self.watch.factor:g} x {self.watch.ema:.4g}, the update is skipped",
                     loss=loss, mean=self.watch.ema)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "ema": self.watch.ema}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.watch.ema = state.get("ema")


# --- Cleric: revive ---------------------------------------------------------------------------------

class Cleric(CharacterClass):
    """Revive: keep the best weights and roll back to them after a loss spike.

    Technique: loss-spike recovery by rollback to a checkpoint (as PaLM's training restarted from
    a checkpoint before a spike), with the checkpoint kept in memory: one copy of the weights.

    Each turn, before the update, with the step's loss L (measured at the current weights)::

        L < best             → best ← L, best_weights ← a copy of the current weights
        L > spike_factor·ema → a spike: spend a revive; the update is skipped and, after it,
                               every parameter ← best_weights

    (ema: the running mean of earlier non-spike losses, beta 0.9.) The optimizer's moments are not
    rolled back; the spike's gradient never enters them because the update is skipped. Needs the
    loss. A mini-batch loss is noisy, so both "best" and "spike" are judged on noise too: a larger
    batch, an accumulation window or a larger ``spike_factor`` makes them more reliable.
    Revives per long rest: 1 + level // 6 (1 at level 1, 4 at level 18).
    """
    name = "Cleric"
    feature = "revives"
    needs_loss = True

    def __init__(self, level: int = 1, spike_factor: float = 2.0, uses: int | None = None):
        super().__init__(level, uses)
        self.watch = _SpikeWatch(_check_spike_factor(spike_factor))
        self.best_loss: float | None = None
        self.best_step: int | None = None
        self.best_weights: list | None = None
        self._reviving = False

    def uses_for_level(self, level: int) -> int:
        return 1 + level // 6

    @staticmethod
    def _params(turn):
        return optimizer_params(turn.optimizer)

    @torch.no_grad()
    def before_step(self, turn) -> None:
        loss = _finite_loss(turn)
        if loss is None:
            return
        if self.watch.is_spike(loss):
            if self.best_weights is not None and self.spend():
                turn.skip()
                self._reviving = True
                self.log(turn, "revive", f"revives the model: loss {loss:.4g} spiked above {self.watch.factor:g} x "
                                         f"{self.watch.ema:.4g}; weights rolled back to the best ones (loss "
                                         f"{self.best_loss:.4g} at step {self.best_step})",
                         loss=loss, best_loss=self.best_loss, best_step=self.best_step)
        elif self.best_loss is None or loss < self.best_loss:
            params = self._params(turn)
            if self.best_weights is None:
                self.best_weights = [p.detach().clone() for p in params]
            else:
                for saved, p in zip(self.best_weights, params):
                    saved.copy_(p)
            self.best_loss, self.best_step = loss, turn.step

    @torch.no_grad()
    def after_step(self, turn) -> None:
        if self._reviving:
            for p, saved in zip(self._params(turn), self.best_weights):
                p.copy_(saved)
            self._reviving = False

    def state_dict(self) -> dict:
        return {**super().state_dict(), "ema": self.watch.ema, "best_loss": self.best_loss,
                "best_step": self.best_step, "best_weights": self.best_weights}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.watch.ema = state.get("ema")
        self.best_loss, self.best_step = state.get("best_loss"), state.get("best_step")
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else [w.detach().clone() for w in weights]


# --- Barbarian: rage -----------------------------------------------------------------------------

class Barbarian(CharacterClass):
    """Rage: ignore negative (ascent) updates for a few turns.

    Technique: clipping the random learning rate at zero, m ← max(m, 0): a step that would
    climb the loss is discarded instead. It raises the drift and removes the ascent tail.

    When a turn's multiplier is negative and no rage is running, the Barbarian spends a rage,
    which lasts ``rage_turns`` turns from this one; on each of them::

        m ← max(m, 0)

    Level (the 5e barbarian table): rages per long rest = 2 at levels 1-2, 3 at 3-5, 4 at 6-11,
    5 at 12-16, 6 at 17-20; a rage lasts as many turns as the rage damage bonus: 2 at levels
    1-8, 3 at 9-15, 4 at 16-20.
    """
    name = "Barbarian"
    feature = "rages"

    def __init__(self, level: int = 1, uses: int | None = None):
        super().__init__(level, uses)
        self.rage_turns_left = 0

    RAGES = LevelTable({1: 2, 3: 3, 6: 4, 12: 5, 17: 6})   # rages per long rest (5e)
    RAGE_TURNS = LevelTable({1: 2, 9: 3, 16: 4})           # turns a rage lasts: the 5e rage damage bonus

    def uses_for_level(self, level: int) -> int:
        return self.RAGES[level]

    @property
    def rage_turns(self) -> int:
        """Turns a rage lasts: 2, 3 or 4 (the 5e rage damage bonus)."""
        return self.RAGE_TURNS[self.level]

    def after_roll(self, turn) -> None:
        if self.rage_turns_left == 0 and turn.multiplier < 0 and self.spend():
            self.rage_turns_left = self.rage_turns
            self.log(turn, "rage", f"flies into a rage: no step uphill for {self.rage_turns} turns "
                                   f"(multiplier {turn.multiplier:+g} -> 0)", turns=self.rage_turns)
        if self.rage_turns_left > 0 and turn.multiplier < 0:
            turn.multiplier = 0.0

    def face_multiplier(self, rules, natural: int, bonus: int = 0) -> float:
        """max(m, 0): raging, no step climbs the loss."""
        return max(rules.multiplier(natural, bonus), 0.0)

    def after_step(self, turn) -> None:
        if self.rage_turns_left > 0:
            self.rage_turns_left -= 1

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rage_turns_left": self.rage_turns_left}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.rage_turns_left = state.get("rage_turns_left", 0)


# --- Bard: inspiration --------------------------------------------------------------------------

class Bard(CharacterClass):
    """Bardic Inspiration: a die added to a failed save, which is then judged again.

    Technique: variance reduction of the random learning rate on its worst band. Fails move to the
    success band, so the drift rises; whether the variance falls depends on the rule (it does when
    fails are inverse updates). :meth:`distribution` gives the exact effect.

    On a failed save (not a natural 1) the Bard spends an inspiration and rolls the inspiration die
    d, then the roll is judged again with it (crits still come from the natural face)::

        m ← rules.multiplier(natural, bonus + d)       (= rules.with_bonus(bonus + d).multiplier(natural))

    Level (5e): the die is a d6 at levels 1-4, d8 at 5-9, d10 at 10-14, d12 at 15-20.
    Inspirations per long rest: 3 + level.
    """
    name = "Bard"
    feature = "inspirations"

    def uses_for_level(self, level: int) -> int:
        return 3 + level

    DICE = LevelTable({1: 6, 5: 8, 10: 10, 15: 12})   # sides of the inspiration die (5e)

    @property
    def die(self) -> int:
        """Sides of the inspiration die: 6, 8, 10 or 12."""
        return self.DICE[self.level]

    def after_roll(self, turn) -> None:
        if turn.outcome != "fail" or not self.spend():
            return
        d = turn.roller.die(self.die)
        natural, bonus = turn.roll.natural, turn.bonus + d
        turn.outcome = turn.rules.outcome(natural, bonus)
        turn.multiplier = turn.rules.multiplier(natural, bonus)
        turn.roll = dataclasses.replace(turn.roll, modifier=turn.roll.modifier + d, total=turn.roll.total + d)
        self.log(turn, "inspiration", f"inspires: +d{self.die} rolled {d}, total {turn.roll.total} vs DC "
                                      f"{turn.rules.dc}: {turn.outcome.replace('_', ' ')}, "
                                      f"multiplier {turn.multiplier:+g}", die=d)

    def distribution(self, rules="classroom", bonus: int = 0) -> dict:
        """Exact multiplier → probability while inspirations last, for ``rules`` rolled with ``bonus``.

        P(m) = Σ_k P(k) · [k fails: (1/s) Σ_d 1{m(k, bonus + d) = m};  else 1{m(k, bonus) = m}]
        """
        rules = _rules(rules)
        check_type("bonus", bonus, int, "an integer bonus")
        dist: dict = {}
        for k, p in rules.face_probabilities().items():
            if rules.outcome(k, bonus) == "fail":
                for d in range(1, self.die + 1):
                    m = rules.multiplier(k, bonus + d)
                    dist[m] = dist.get(m, Fraction(0)) + p * Fraction(1, self.die)
            else:
                m = rules.multiplier(k, bonus)
                dist[m] = dist.get(m, Fraction(0)) + p
        return {m: float(p) for m, p in sorted(dist.items())}


# --- Paladin: aura and lay on hands ---------------------------------------------------------------

class Paladin(CharacterClass):
    """Aura of Protection: a bonus to every saving throw; Lay on Hands heals a natural 1.

    Technique: variance reduction by a constant shift of the save, exactly
    ``rules.with_bonus(aura)`` (and the monsters' saves get it too, as a 5e aura does).

    Every turn: ``turn.bonus += aura``, aura = 1 + level // 6 (+1 at levels 1-5, +4 at 18-20).
    Lay on Hands: on a critical failure (natural 1) the Paladin spends a use and the roll counts as
    an ordinary one (success if total >= DC, else fail)::

        m ← band(total)   instead of crit_fail

    Uses per long rest: level (the 5e pool is 5 × level hit points, 5 per cure).
    :meth:`effective_rules` is the exact rule rolled while uses last.
    """
    name = "Paladin"
    feature = "Lay on Hands uses"

    def uses_for_level(self, level: int) -> int:
        return level

    @property
    def aura(self) -> int:
        """The save bonus: 1 + level // 6."""
        return 1 + self.level // 6

    def before_roll(self, turn) -> None:
        turn.bonus += self.aura

    @staticmethod
    def _ordinary(rules, natural, bonus):
        """(outcome, multiplier) of a face judged by total vs DC only, without crits."""
        total = natural + rules.modifier + bonus
        outcome = "success" if total >= rules.dc else "fail"
        band = rules.bands[outcome]
        return outcome, (band(total, rules.dc) if callable(band) else band)

    def after_roll(self, turn) -> None:
        if turn.outcome != "critical_fail" or not self.spend():
            return
        turn.outcome, turn.multiplier = self._ordinary(turn.rules, turn.roll.natural, turn.bonus)
        self.log(turn, "lay on hands", f"lays on hands: the natural 1 counts as a total of {turn.roll.total} "
                                       f"vs DC {turn.rules.dc}, {turn.outcome}, multiplier {turn.multiplier:+g}")

    def effective_rules(self, rules, bonus: int = 0):
        """The exact rule rolled with the aura while Lay on Hands lasts: ``with_bonus(bonus + aura)``,
        its crit-fail band replaced by the ordinary band of a natural 1."""
        check_type("bonus", bonus, int, "an integer bonus")
        _, m = self._ordinary(rules, 1, bonus + self.aura)
        return rules.with_bonus(bonus + self.aura).replace(crit_fail=m)

    def distribution(self, rules="classroom", bonus: int = 0) -> dict:
        """Exact multiplier → probability while Lay on Hands lasts: ``effective_rules(rules, bonus).distribution()``."""
        return self.effective_rules(_rules(rules), bonus).distribution()


#: name → class, for menus and panels.
CLASSES = {cls.name.lower(): cls for cls in (Wizard, Rogue, Fighter, Cleric, Barbarian, Bard, Paladin)}

__all__ = ["CharacterClass", "Wizard", "Rogue", "Fighter", "Cleric", "Barbarian", "Bard", "Paladin"]
