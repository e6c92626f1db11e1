"""Monsters: training failure modes in costume, and the encounter table that brings them.

A monster stays for ``turns`` optimizer steps. Each turn the model makes a saving throw to resist
it, d20 + ``turn.bonus`` (intelligence, proficiency, a Paladin's aura) against the monster's
armour class; on a failed save the monster's effect hits that step:

=============  ===========================  ==================================================
monster        failure mode                 effect of a failed save on step t
=============  ===========================  ==================================================
LossDragon     loss spikes, noisy labels    gradients × factor (training on factor × the loss)
GradientOoze   vanishing gradients          m ← slow × m (the update shrinks)
WeightWraith   weight corruption / noise    after the step, w ← w + sigma · rms(w) · N(0, 1)
=============  ===========================  ==================================================

The model deals damage by lowering the loss: on each turn after the first, a loss below the
lowest one of the encounter deals ``100 × (lowest - loss) / start`` damage, where ``start`` is the
loss when the monster appeared; so a monster with h hit points is defeated when the loss has
fallen h percent below its value at the encounter's start. A defeated monster leaves at once and
gives its challenge rating's XP (5e SRD) to the :class:`~rtt_edu.party.xp.ExperienceSystem`, if one
takes part. Damage needs the loss (``needs_loss``); without it a monster just stays its turns.

:class:`EncounterTable` draws a monster with the game's seeded roller (``encounter_chance`` per turn
while none is present) or follows a schedule ``{step: monster}``; every encounter fights a deep
copy of the template, so hit points and turns reset. Events (kinds): ``"encounter"`` (appears,
leaves), ``"monster"`` (an attack and its save), ``"damage"``, ``"defeat"``.
"""
from __future__ import annotations

import copy
import math
from fractions import Fraction

import torch

from rtt_edu.engine.tensors import optimizer_params
from rtt_edu.engine.turns import Participant
from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value, check_type, require

#: Challenge rating → XP (5e SRD, "Experience Points by Challenge Rating").
CR_XP = {0: 10, 0.125: 25, 0.25: 50, 0.5: 100, 1: 200, 2: 450, 3: 700, 4: 1100, 5: 1800, 6: 2300, 7: 2900,
         8: 3900, 9: 5000, 10: 5900, 11: 7200, 12: 8400, 13: 10000, 14: 11500, 15: 13000, 16: 15000,
         17: 18000, 18: 20000, 19: 22000, 20: 25000, 21: 33000, 22: 41000, 23: 50000, 24: 62000,
         25: 75000, 26: 90000, 27: 105000, 28: 120000, 29: 135000, 30: 155000}


def check_chance(p, name: str = "encounter_chance") -> float:
    """``p`` as a float if it is a probability in [0, 1], else a clear error naming ``name``."""
    check_type(name, p, (int, float, Fraction), "a probability between 0 and 1")
    return float(require(0 <= p <= 1, name, p, "a probability between 0 and 1"))   # NaN fails this too


def check_monsters(monsters, name: str = "monsters") -> tuple:
    """``monsters`` as a tuple of :class:`Monster` templates (one monster, a list or a tuple; ``None``
    is none), else a clear error naming ``name``."""
    if monsters is None:
        return ()
    if isinstance(monsters, Monster):
        return (monsters,)
    require(isinstance(monsters, (list, tuple)) and all(isinstance(m, Monster) for m in monsters), name, monsters,
            "a list of Monster instances such as [LossDragon()]", RollToTrainTypeError)
    return tuple(monsters)


def check_schedule(schedule, name: str = "encounter_schedule") -> dict:
    """``schedule`` as a new dict ``{step: Monster}`` (``None`` is empty), else a clear error naming ``name``."""
    schedule = {} if schedule is None else schedule
    require(isinstance(schedule, dict), name, schedule, "a dict {step: Monster}", RollToTrainTypeError)
    for step, monster in schedule.items():
        require(isinstance(step, int) and not isinstance(step, bool) and step >= 0, f"{name} step", step,
                "an optimizer step, an integer >= 0")
        require(isinstance(monster, Monster), f"{name}[{step}]", monster, "a Monster such as LossDragon()",
                RollToTrainTypeError)
    return dict(schedule)


def _number(name, value, expected, ok):
    check_type(name, value, (int, float), expected)
    require(math.isfinite(value) and ok(value), name, value, expected)
    return value


class Monster(Participant):
    """A monster: ``hit_points``, ``armor_class`` (AC: the total the model's save must reach), ``challenge_rating``
    (its XP, from :data:`CR_XP`) and ``turns`` (how long it stays). Subclasses define its effect:

    ``strike(turn)``  after the roll, on a failed save: act on the gradients or ``turn.multiplier``
    ``linger(turn)``  after the step, on a failed save: act on the weights
    """
    name = "Monster"
    attack = "attacks"            # "the Loss Dragon breathes fire"
    needs_loss = True             # damage is dealt by lowering the loss

    def __init__(self, hit_points: float = 10, armor_class: int = 12, challenge_rating=1, turns: int = 3,
                 name: str | None = None):
        self.hit_points = _number("hit_points", hit_points, "a number of hit points > 0", lambda v: v > 0)
        check_type("armor_class", armor_class, int, "an integer armour class (the save DC) from 1 to 30")
        require(1 <= armor_class <= 30, "armor_class", armor_class, "an armour class from 1 to 30")
        check_type("challenge_rating", challenge_rating, (int, float, Fraction),
                   "a challenge rating: 0, 1/8, 1/4, 1/2 or 1..30")
        require(challenge_rating in CR_XP, "challenge_rating", challenge_rating,
                "a challenge rating: 0, 1/8, 1/4, 1/2 or 1..30")
        check_type("turns", turns, int, "a number of turns >= 1")
        require(turns >= 1, "turns", turns, "a number of turns >= 1")
        if name is not None:
            check_type("name", name, str, "a monster name (str) or None")
            self.name = name
        self.armor_class, self.turns = armor_class, turns
        self.challenge_rating = float(challenge_rating) if isinstance(challenge_rating, Fraction) else challenge_rating
        self.hit_points_left = float(hit_points)
        self.turns_left = turns
        self.start_loss: float | None = None
        self.lowest_loss: float | None = None
        self.defeated = False
        self.struck = False       # this turn's save failed

    @property
    def xp(self) -> int:
        """The XP for defeating it: :data:`CR_XP` of its challenge rating."""
        return CR_XP[self.challenge_rating]

    @property
    def done(self) -> bool:
        """Defeated, or its turns are over."""
        return self.defeated or self.turns_left <= 0

    def describe(self) -> str:
        """What a failed save does, for the battle log."""
        return "no effect"

    def strike(self, turn) -> dict | None:
        """After the roll, on a failed save; may return details for the event (no-op in the base class)."""

    def linger(self, turn) -> None:
        """After the step, on a failed save (no-op in the base class)."""

    # --- the turn -------------------------------------------------------------------------------
    def after_roll(self, turn) -> None:
        self.struck = False
        if self.done:
            return
        self._take_damage(turn)
        if self.defeated:
            return
        save = turn.roller.roll("d20", modifier=turn.bonus)
        saved = save.total >= self.armor_class
        details = {}
        if not saved:
            self.struck = True
            details = self.strike(turn) or {}
        verdict = (f"resisted (saved {save.total} vs AC {self.armor_class})" if saved
                   else f"{self.describe()} (failed {save.total} vs AC {self.armor_class})")
        turn.log("monster", f"the {self.name} {self.attack}: {verdict}", monster=self.name, save=save.total,
                 dc=self.armor_class, saved=saved, **details)

    def after_step(self, turn) -> None:
        if self.done:
            return
        if self.struck:
            self.linger(turn)
        self.turns_left -= 1

    def _take_damage(self, turn) -> None:
        loss = turn.loss_value()
        if loss is None or not math.isfinite(loss):
            return
        if self.start_loss is None:
            self.start_loss = self.lowest_loss = loss
            return
        if loss >= self.lowest_loss or self.start_loss == 0:
            return
        damage = 100 * (self.lowest_loss - loss) / abs(self.start_loss)
        self.lowest_loss = loss
        self.hit_points_left = max(0.0, self.hit_points_left - damage)
        turn.log("damage", f"the model hits the {self.name} for {damage:.1f} "
                           f"({self.hit_points_left:.4g} of {self.hit_points:.4g} HP left)",
                 monster=self.name, damage=damage, hit_points_left=self.hit_points_left)
        if self.hit_points_left <= 0:
            self.defeated = True
            event = turn.log("defeat", f"the {self.name} is defeated", monster=self.name, xp=0)
            experience = turn.experience
            if experience is not None:     # after the defeat, so a level-up is logged after it
                event["xp"] = experience.award(self.xp, f"defeating the {self.name}", turn)
                event["message"] += f": +{event['xp']} XP"

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"hit_points_left": self.hit_points_left, "turns_left": self.turns_left,
                "start_loss": self.start_loss, "lowest_loss": self.lowest_loss, "defeated": self.defeated}

    def load_state_dict(self, state) -> None:
        keys = ("hit_points_left", "turns_left", "start_loss", "lowest_loss", "defeated")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            shown = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise RollToTrainError(bad_value("state", shown, f"a monster state_dict with keys {list(keys)}"))
        for key in keys:
            setattr(self, key, state[key])

    def __repr__(self):
        return (f"{type(self).__name__}(hit_points={self.hit_points!r}, armor_class={self.armor_class}, "
                f"challenge_rating={self.challenge_rating!r}, turns={self.turns})")


class LossDragon(Monster):
    """The Loss Dragon breathes fire: the loss the model trains on is multiplied by ``factor``.

    Failure mode: loss spikes and noisy labels, a batch whose loss (and gradient) is suddenly
    much larger than usual.

    In an optimizer hook the loss is already backpropagated, and ∇(k·L) = k·∇L, so scaling every
    gradient by k is exactly training on k × the loss::

        g ← factor × g          (after the roll, before a Fighter's clipping)

    With SGD this multiplies the step by ``factor``; Adam divides the gradient by its running
    scale, so it barely notices (the lesson of "where the dice act").
    """
    name = "Loss Dragon"
    attack = "breathes fire"

    def __init__(self, factor: float = 2.0, hit_points: float = 20, armor_class: int = 15, challenge_rating=10,
                 turns: int = 3, name: str | None = None):
        super().__init__(hit_points, armor_class, challenge_rating, turns, name)
        self.factor = float(_number("factor", factor, "a loss factor > 0", lambda v: v > 0))

    def describe(self) -> str:
        return f"loss x{self.factor:g} this turn"

    def strike(self, turn) -> None:
        grads = [p.grad for p in turn.params]
        if grads:
            torch._foreach_mul_(grads, self.factor)


class GradientOoze(Monster):
    """The Gradient Ooze engulfs the update: it shrinks to ``slow`` times its size.

    Failure mode: vanishing gradients, updates too small to make progress.

    The Ooze scales the update multiplier, so the update is exactly ``slow`` times what it would
    have been for any optimizer under ``target="update"`` (scaling the gradient instead would be
    undone by Adam's normalisation)::

        m ← slow × m
    """
    name = "Gradient Ooze"
    attack = "engulfs the gradients"

    def __init__(self, slow: float = 0.1, hit_points: float = 5, armor_class: int = 10, challenge_rating=1,
                 turns: int = 4, name: str | None = None):
        super().__init__(hit_points, armor_class, challenge_rating, turns, name)
        self.slow = float(_number("slow", slow, "an update factor from 0 to 1", lambda v: 0 <= v <= 1))

    def describe(self) -> str:
        return f"update x{self.slow:g} this turn"

    def strike(self, turn) -> None:
        turn.multiplier *= self.slow


class WeightWraith(Monster):
    """The Weight Wraith drains the weights: noise scaled to each parameter's size, after the step.

    Failure mode: weight corruption, such as noisy hardware, bad quantisation or an overwritten
    checkpoint; as a technique, weight-noise injection (perturbed training).

    After the step (so the weights change even when the update multiplier is 0), for every
    parameter tensor w of the optimizer::

        w ← w + sigma × rms(w) × ε,    rms(w) = sqrt(mean(w²)),   ε ~ N(0, 1)

    ε is drawn from a ``torch.Generator`` on w's device, seeded once per attack from the game's
    roller (``turn.roller.torch_seed()``, logged as ``seed``), one tensor per parameter in order.
    """
    name = "Weight Wraith"
    attack = "drains the weights"

    def __init__(self, sigma: float = 0.05, hit_points: float = 10, armor_class: int = 13, challenge_rating=5,
                 turns: int = 4, name: str | None = None):
        super().__init__(hit_points, armor_class, challenge_rating, turns, name)
        self.sigma = float(_number("sigma", sigma, "a noise scale >= 0", lambda v: v >= 0))
        self._seed = None

    def describe(self) -> str:
        return f"weight noise {self.sigma:g} x rms(w) after the step"

    def strike(self, turn) -> dict:
        self._seed = turn.roller.torch_seed()
        return {"seed": self._seed}

    @torch.no_grad()
    def linger(self, turn) -> None:
        generators: dict = {}
        for w in optimizer_params(turn.optimizer):
            if not w.requires_grad:
                continue
            if w.device not in generators:
                generators[w.device] = torch.Generator(device=w.device).manual_seed(self._seed)
            eps = torch.randn(w.shape, generator=generators[w.device], device=w.device, dtype=w.dtype)
            rms = w.detach().float().pow(2).mean().sqrt().to(w.dtype)
            w.add_(eps * (self.sigma * rms))


#: name → monster class, for menus and panels.
MONSTERS = {"dragon": LossDragon, "ooze": GradientOoze, "wraith": WeightWraith}


class EncounterTable(Participant):
    """Brings monsters: a scheduled one at its step, or a random one with probability ``chance``.

    ``monsters``: the templates a random encounter draws from (uniformly, with ``turn.roller``);
    ``chance``: the probability, each turn no monster is present, that one appears;
    ``schedule``: ``{step: monster}``, a monster that appears at that optimizer step (0-based, as in
    the history records), replacing any monster still present. Each encounter fights a deep copy.
    """
    needs_loss = True

    def __init__(self, monsters=(), chance: float = 0.0, schedule=None):
        monsters = check_monsters(monsters)
        self.chance = check_chance(chance)
        if self.chance > 0 and not monsters:
            raise RollToTrainError(bad_value("monsters", list(monsters), f"at least one Monster to draw with "
                                                                   f"encounter_chance={chance!r}"))
        self.monsters = list(monsters)
        self.schedule = check_schedule(schedule)
        self.active: Monster | None = None
        self._source = None           # ("monsters", index) or ("schedule", step): the active one's template

    def _template(self, source):
        kind, key = source
        return self.monsters[key] if kind == "monsters" else self.schedule[key]

    def _leave(self, turn, why: str) -> None:
        m = self.active
        turn.log("encounter", f"the {m.name} {why} ({m.hit_points_left:.4g} of {m.hit_points:.4g} HP left)",
                 monster=m.name, hit_points_left=m.hit_points_left)
        self.active, self._source = None, None

    def before_roll(self, turn) -> None:
        if turn.step in self.schedule:
            source = ("schedule", turn.step)
        elif self.active is None and self.chance > 0 and turn.roller.uniform() < self.chance:
            source = ("monsters", turn.roller.choice(range(len(self.monsters))))
        else:
            return
        if self.active is not None:
            self._leave(turn, "flees as another monster arrives")
        self.active, self._source = copy.deepcopy(self._template(source)), source
        m = self.active
        article = "an" if m.name[:1].lower() in "aeiou" else "a"
        turn.log("encounter", f"{article} {m.name} appears ({m.hit_points:.4g} HP, AC {m.armor_class}) "
                              f"for {m.turns} turn{'s' * (m.turns > 1)}",
                 monster=m.name, hit_points=m.hit_points, armor_class=m.armor_class, turns=m.turns)

    def after_roll(self, turn) -> None:
        if self.active is not None:
            self.active.after_roll(turn)

    def before_step(self, turn) -> None:
        if self.active is not None:
            self.active.before_step(turn)

    def after_step(self, turn) -> None:
        if self.active is None:
            return
        self.active.after_step(turn)
        if self.active.defeated:
            self.active, self._source = None, None
        elif self.active.done:
            self._leave(turn, "leaves unbeaten")

    def state_dict(self) -> dict:
        if self.active is None:
            return {"active": None}
        kind, key = self._source
        return {"active": {"source": kind, "key": key, "state": self.active.state_dict()}}

    def load_state_dict(self, state) -> None:
        require(isinstance(state, dict) and "active" in state, "state", state,
                "an EncounterTable state_dict with key 'active'")
        active = state["active"]
        if active is None:
            self.active, self._source = None, None
            return
        source = (active.get("source"), active.get("key"))
        valid = ((source[0] == "monsters" and isinstance(source[1], int) and 0 <= source[1] < len(self.monsters))
                 or (source[0] == "schedule" and source[1] in self.schedule))
        if not valid:
            raise RollToTrainError(bad_value("state['active']", {"source": source[0], "key": source[1]},
                                             "a monster of this table's monsters or schedule"))
        monster = copy.deepcopy(self._template(source))
        monster.load_state_dict(active["state"])
        self.active, self._source = monster, source

    def __repr__(self):
        return f"EncounterTable({self.monsters!r}, chance={self.chance!r}, schedule={self.schedule!r})"


__all__ = ["Monster", "LossDragon", "GradientOoze", "WeightWraith", "EncounterTable", "check_chance", "check_monsters",
           "check_schedule", "CR_XP"]
