"""Saving-throw rules: how a roll becomes an update multiplier, with their exact maths.

A rule rolls one die with ``sides`` faces. Crits are read off the *natural* face (5e):

    natural == sides         → critical success  → ``crit_success``
    natural == 1             → critical failure  → ``crit_fail``
    total = natural + modifier + bonus >= dc     → success → ``success``
    otherwise                                    → fail    → ``fail``

Each band's multiplier is a number or a :class:`Margin` (a linear formula of ``total - dc``).
Because the bands depend only on the natural face, the distribution of the multiplier is
exact: sum P(natural = k) over faces, with P from :func:`rtt_edu.game.dice.natural_distribution`.

    E[m]   = Σ_k P(k) m(k)
    Var[m] = Σ_k P(k) m(k)² - E[m]²

Rolling is :meth:`SavingThrow.roll`: the one way a roll becomes a multiplier, used by the game
master of every training loop, the batched many-seed trainer and the straight-line simulations.
A rule is immutable once built (``rule.replace(dc=12)`` makes a new one), so the result of each
face under a bonus is worked out once, when first rolled, and looked up on every later roll; the
exact distribution is worked out once too, from integer weights (one pass over the faces).

**Bounds.** A rule is built or refused at once, whatever a shared file asks for:

- ``sides``: a die whose exact distribution :func:`rtt_edu.game.dice.total_distribution` would compute,
  the one bound :data:`rtt_edu.game.dice.MAX_WORK` checked by :func:`rtt_edu.game.dice.check_exact_cost`
  (``largest_exact_die()``, a d96,122: its exact figures take a fraction of a second);
- every number of a band (a plain multiplier; a Margin's ``scale``, ``offset``, ``lo`` and ``hi``):
  finite and at most :data:`MAX_MULTIPLIER` in size, so that ``|m| <= 1000 + 1000·|total - dc|``
  (below 10^9 on any allowed die) and its square, the variance, stay far from float overflow.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from fractions import Fraction

from rtt_edu.errors import NegativeDriftWarning, RollToTrainTypeError, RulesError, bad_value, check_type, require, shown
from rtt_edu.game.dice import (
    MAX_SIDES,
    DiceRoller,
    Roll,
    _check_adv,
    check_exact_cost,
    natural_distribution,
    natural_weights,
)

OUTCOMES = ("critical_success", "success", "fail", "critical_fail")

#: the largest size of any number in a band: a multiplier, or a Margin's scale, offset, lo or hi.
#: A step 1000 times the plain one already diverges any network here; beyond it lies float overflow.
MAX_MULTIPLIER = 1000.0


def _check_number(name, value, none: bool = False):
    """``value`` if it is a finite number of size at most MAX_MULTIPLIER (or None, when ``none``)."""
    if value is None and none:
        return value
    check_type(name, value, (int, float), "a number" + (" or None" if none else ""))
    return require(math.isfinite(value) and -MAX_MULTIPLIER <= value <= MAX_MULTIPLIER, name, value,
                   f"a finite multiplier from -{MAX_MULTIPLIER:g} to {MAX_MULTIPLIER:g} "
                   "(rtt_edu.game.rules.MAX_MULTIPLIER)", RulesError)


@dataclass(frozen=True)
class Margin:
    """A band multiplier that grows with the margin of the roll: ``offset + scale * (total - dc)``.

    The original prototype's partial update is ``Margin(scale=0.01)``: (roll - dc) / 100.
    ``lo``/``hi`` clamp the result (``None`` = unbounded). Each number is finite and at most
    :data:`MAX_MULTIPLIER` in size.
    """
    scale: float = 0.01
    offset: float = 0.0
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self):
        for name in ("scale", "offset", "lo", "hi"):
            _check_number(name, getattr(self, name), none=name in ("lo", "hi"))
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise RulesError(f"lo={self.lo!r} and hi={self.hi!r}: expected lo <= hi")

    def __call__(self, total: int, dc: int) -> float:
        value = self.offset + self.scale * (total - dc)
        if self.lo is not None:
            value = max(self.lo, value)
        if self.hi is not None:
            value = min(self.hi, value)
        return value

    def to_dict(self) -> dict:
        return {"margin": {"scale": self.scale, "offset": self.offset, "lo": self.lo, "hi": self.hi}}


def _check_band(name, value):
    if isinstance(value, Margin):
        for field in ("scale", "offset", "lo", "hi"):
            _check_number(f"{name}.{field}", getattr(value, field), none=field in ("lo", "hi"))
        return value
    check_type(name, value, (int, float), "a number or a Margin(scale, offset)")
    return float(_check_number(name, value))


_MARGIN_FIELDS = ("scale", "offset", "lo", "hi")


def _band_from_json(name, value):
    """A band from JSON: a number, or ``{"margin": {"scale": ..., "offset": ..., "lo": ..., "hi": ...}}``.

    Every field is checked here under its band's name (``success.scale=...``) before the Margin is built.
    """
    if isinstance(value, dict) and "margin" in value:
        fields = value["margin"]
        require(isinstance(fields, dict),
                f"{name}.margin", fields, f"a dict with some of {list(_MARGIN_FIELDS)}", RollToTrainTypeError)
        extra = sorted(map(str, set(fields) - set(_MARGIN_FIELDS))) or sorted(map(str, set(value) - {"margin"}))
        require(not extra, f"{name}.margin", extra, f"only {list(_MARGIN_FIELDS)} inside {{'margin': {{...}}}}",
                RulesError)
        for field, v in fields.items():
            _check_number(f"{name}.{field}", v, none=field in ("lo", "hi"))
        return _check_band(name, Margin(**fields))
    return _check_band(name, value)


class SavingThrow:
    """A saving-throw rule. See the module docstring for the bands and the maths."""

    def __init__(self, dc: int = 15, sides: int = 20, modifier: int = 0, advantage: bool = False,
                 disadvantage: bool = False, crit_success=1.0, crit_fail=-1.0, success=Margin(0.01),
                 fail=0.0, name: str | None = None):
        check_type("dc", dc, int, "an integer difficulty class")
        check_type("sides", sides, int, "an integer number of sides (20 for a d20)")
        check_type("modifier", modifier, int, "an integer modifier")
        require(2 <= sides <= MAX_SIDES, "sides", sides, f"a die with 2 to {MAX_SIDES} sides", RulesError)
        check_exact_cost("sides", sides, f"d{sides}", RulesError)   # the bound of total_distribution
        require(-1000 <= dc <= 1000, "dc", dc, "a value between -1000 and 1000", RulesError)
        require(-1000 <= modifier <= 1000, "modifier", modifier, "a value between -1000 and 1000", RulesError)
        _check_adv(advantage, disadvantage)
        if name is not None:
            check_type("name", name, str, "a rule name (str) or None")
        bands = {"critical_success": _check_band("crit_success", crit_success),
                 "success": _check_band("success", success),
                 "fail": _check_band("fail", fail),
                 "critical_fail": _check_band("crit_fail", crit_fail)}
        for attr, value in (("dc", dc), ("sides", sides), ("modifier", modifier), ("advantage", advantage),
                            ("disadvantage", disadvantage), ("bands", bands), ("name", name),
                            ("_faces", {}), ("_rolls", {}), ("_exact", {})):
            object.__setattr__(self, attr, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"SavingThrow is immutable: use rule.replace({name}=...) for a changed copy")

    def __hash__(self):
        return hash(repr(self))

    # --- rolling: the one path from a die to a multiplier -----------------------------------
    def faces(self, bonus: int = 0) -> tuple:
        """``(outcome, m)`` of every natural face under ``bonus``, indexed by the face (index 0 unused).

        Worked out once per bonus: face k → (self.outcome(k, bonus), self.multiplier(k, bonus)).
        """
        table = self._faces.get(bonus)
        if table is None:
            check_type("bonus", bonus, int, "an integer bonus")
            table = self._faces[bonus] = (None,) + tuple(self._face(k, bonus) for k in range(1, self.sides + 1))
        return table

    def _face(self, natural: int, bonus: int) -> tuple:
        """``(outcome, m)`` of one natural face (no checks: ``natural`` is a face, ``bonus`` an int)."""
        if natural == self.sides:
            outcome = "critical_success"
        elif natural == 1:
            outcome = "critical_fail"
        else:
            outcome = "success" if natural + self.modifier + bonus >= self.dc else "fail"
        band = self.bands[outcome]
        return outcome, (band(natural + self.modifier + bonus, self.dc) if isinstance(band, Margin) else band)

    def _results(self, bonus: int) -> dict:
        """face → the straight roll's ``(Roll, outcome, m)`` under ``bonus``, filled as faces come up."""
        check_type("bonus", bonus, int, "an integer bonus")
        results = self._rolls[bonus] = {}
        return results

    def roll(self, roller: DiceRoller, bonus: int = 0, advantage: bool = False,
             disadvantage: bool = False) -> tuple:
        """Roll this saving throw once: ``(Roll, outcome, m)``.

        The die is d{sides}; advantage (two dice, keep the higher) or disadvantage (keep the
        lower) comes from the rule or the arguments, and the two cancel, as in 5e. The roll's
        modifier is ``rule.modifier + bonus``; the outcome and m are read off the natural face::

            natural ~ d{sides} (kept die)      total = natural + modifier + bonus
            outcome, m = faces(bonus)[natural]

        A straight roll is one draw and a look-up: the result of a face is made the first time it
        comes up under a bonus (a ``Roll`` is immutable, so one object serves every turn that shows
        that face), so a large die costs only the faces it shows.
        """
        results = self._rolls.get(bonus)
        if results is None:
            results = self._results(bonus)
        adv = self.advantage or advantage
        dis = self.disadvantage or disadvantage
        modifier = self.modifier + bonus
        if adv == dis:                      # neither, or both (which cancel)
            natural = roller.die(self.sides)
            result = results.get(natural)
            if result is None:
                result = results[natural] = (Roll(f"d{self.sides}", (natural,), (natural,), natural, modifier,
                                                  natural + modifier, self.sides),) + self._face(natural, bonus)
            return result
        pair = (roller.die(self.sides), roller.die(self.sides))
        natural = max(pair) if adv else min(pair)
        return (Roll(f"d{self.sides}", pair, (natural,), natural, modifier, natural + modifier, self.sides, adv, dis),
                *self._face(natural, bonus))

    def roll_batch(self, rollers, bonus: int = 0, advantage: bool = False, disadvantage: bool = False) -> tuple:
        """One roll from each roller of a batch (one roller per seed): ``(naturals, multipliers)`` lists.

        Each entry is exactly what ``self.roll(roller, bonus, advantage, disadvantage)`` gives.
        """
        naturals, multipliers = [], []
        for roller in rollers:
            roll, _, m = self.roll(roller, bonus, advantage, disadvantage)
            naturals.append(roll.natural)
            multipliers.append(m)
        return naturals, multipliers

    # --- one roll -------------------------------------------------------------------------
    def outcome(self, natural: int, bonus: int = 0) -> str:
        """The band of a natural face: crits by the natural die, the rest by total vs dc."""
        if natural == self.sides:
            return "critical_success"
        if natural == 1:
            return "critical_fail"
        return "success" if natural + self.modifier + bonus >= self.dc else "fail"

    def multiplier(self, natural: int, bonus: int = 0) -> float:
        """The update multiplier for a natural face (``bonus`` adds to the modifier)."""
        check_type("natural", natural, int, f"a natural face from 1 to {self.sides}")
        require(1 <= natural <= self.sides, "natural", natural, f"a face from 1 to {self.sides}", RulesError)
        check_type("bonus", bonus, int, "an integer bonus")
        return self._face(natural, bonus)[1]

    # --- exact maths ------------------------------------------------------------------------
    def face_probabilities(self) -> dict:
        """Exact P(natural == k) as ``Fraction``s (advantage/disadvantage included)."""
        return natural_distribution(self.sides, self.advantage, self.disadvantage)

    def _weights(self) -> tuple:
        """``(denominator, {m: weight}, {outcome: weight})``, exact integers, worked out once (a rule is immutable).

        P(natural = k) = w(k) / denominator (:func:`rtt_edu.game.dice.natural_weights`), so

            P(m) = Σ_{k: m(k) = m} w(k) / denominator,     P(outcome) = Σ_{k in the band} w(k) / denominator
        """
        cached = self._exact.get("weights")
        if cached is None:
            denominator, weights = natural_weights(self.sides, self.advantage, self.disadvantage)
            by_m: dict = {}
            by_outcome = dict.fromkeys(OUTCOMES, 0)
            face = self._face
            for k in range(1, self.sides + 1):
                outcome, m = face(k, 0)
                w = weights[k]
                by_m[m] = by_m.get(m, 0) + w
                by_outcome[outcome] += w
            cached = self._exact["weights"] = (denominator, dict(sorted(by_m.items())), by_outcome)
        return cached

    def distribution(self, exact: bool = False) -> dict:
        """Each multiplier value → its exact probability (``Fraction`` if ``exact``), sorted by value."""
        denominator, by_m, _ = self._weights()
        if exact:
            return {m: Fraction(w, denominator) for m, w in by_m.items()}
        return {m: w / denominator for m, w in by_m.items()}     # int / int: float(Fraction(w, d)), exactly

    def outcome_probabilities(self) -> dict:
        """Each outcome band → exact probability (as float)."""
        denominator, _, by_outcome = self._weights()
        return {k: w / denominator for k, w in by_outcome.items()}

    def expected_multiplier(self) -> float:
        """E[m] = Σ P(m) m: the drift. Positive means the loss goes down on average."""
        denominator, by_m, _ = self._weights()
        return math.fsum(w / denominator * m for m, w in by_m.items())

    def variance(self) -> float:
        """Var[m] = Σ P(m) (m - E[m])²: the temperature of the random learning rate."""
        denominator, by_m, _ = self._weights()
        mean = self.expected_multiplier()
        return math.fsum(w / denominator * (m - mean) ** 2 for m, w in by_m.items())

    def p_ascent(self) -> float:
        """P(m < 0): the chance a step climbs the loss."""
        denominator, by_m, _ = self._weights()
        return sum(w for m, w in by_m.items() if m < 0) / denominator

    def p_skip(self) -> float:
        """P(m == 0): the chance a step is discarded."""
        denominator, by_m, _ = self._weights()
        return sum(w for m, w in by_m.items() if m == 0) / denominator

    def summary(self) -> dict:
        """The rule's exact figures in one dict (mean, variance, std, P(ascent), P(skip), outcomes)."""
        var = self.variance()
        return {"mean": self.expected_multiplier(), "variance": var, "std": math.sqrt(var),
                "p_ascent": self.p_ascent(), "p_skip": self.p_skip(), **self.outcome_probabilities()}

    # --- variations and (de)serialisation ---------------------------------------------------
    def replace(self, **changes) -> SavingThrow:
        """A copy with some arguments changed (``rule.replace(dc=12)``)."""
        kwargs = self.to_dict()
        unknown = sorted(set(changes) - set(kwargs))
        if unknown:
            raise RollToTrainTypeError(f"{', '.join(f'{k[:60]}={shown(changes[k])}' for k in unknown[:5])}: "
                                       f"not SavingThrow arguments; expected some of {sorted(kwargs)}")
        kwargs.update(changes)
        return SavingThrow(**{k: _band_from_json(k, v) if k in _BAND_ARGS and not isinstance(v, Margin) else v
                              for k, v in kwargs.items()})

    def with_bonus(self, bonus: int, advantage: bool | None = None, disadvantage: bool | None = None):
        """The rule as rolled with an extra ``bonus`` (proficiency, a Bard's inspiration, ...)."""
        check_type("bonus", bonus, int, "an integer bonus")
        adv = self.advantage if advantage is None else advantage
        dis = self.disadvantage if disadvantage is None else disadvantage
        return self.replace(modifier=self.modifier + bonus, advantage=adv and not dis, disadvantage=dis and not adv)

    def to_dict(self) -> dict:
        """JSON-ready arguments that rebuild this rule: ``SavingThrow.from_dict(rule.to_dict())``."""
        out = {"dc": self.dc, "sides": self.sides, "modifier": self.modifier,
               "advantage": self.advantage, "disadvantage": self.disadvantage, "name": self.name}
        for arg, band in zip(_BAND_ARGS, ("critical_success", "critical_fail", "success", "fail")):
            value = self.bands[band]
            out[arg] = value.to_dict() if isinstance(value, Margin) else value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SavingThrow:
        require(isinstance(data, dict), "data", data, "a dict made by SavingThrow.to_dict()", RollToTrainTypeError)
        unknown = set(data) - set(_BAND_ARGS) - {"dc", "sides", "modifier", "advantage", "disadvantage", "name"}
        require(not unknown, "data", sorted(unknown), "only SavingThrow arguments", RulesError)
        return cls(**{k: _band_from_json(k, v) if k in _BAND_ARGS else v for k, v in data.items()})

    def __eq__(self, other):
        return isinstance(other, SavingThrow) and self.to_dict() == other.to_dict()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if v is not None)
        return f"SavingThrow({args})"

    # --- presets ----------------------------------------------------------------------------
    @classmethod
    def presets(cls) -> dict:
        """Preset name → one-line description."""
        return {name: doc for name, (doc, _) in PRESETS.items()}

    @classmethod
    def preset(cls, name: str, **changes) -> SavingThrow:
        """A named rule (see :data:`PRESETS`); keyword arguments override its fields."""
        check_type("name", name, str, f"a preset name, one of {sorted(PRESETS)}")
        require(name in PRESETS, "name", name, f"one of {sorted(PRESETS)}", RulesError)
        rule = SavingThrow(name=name, **PRESETS[name][1])
        return rule.replace(**changes) if changes else rule


_BAND_ARGS = ("crit_success", "crit_fail", "success", "fail")

# name → (description, arguments). The three seed rules follow the Roll-to-Train proposal this
# project started from (its prototype code, README and Methodology, which are not in this
# repository): where the text is vague about "scaled", we use the prototype code's formula,
# (total - dc) / 100, for every partial band, so the three differ only where their descriptions differ.
PRESETS = {
    "seed-code": (
        "the prototype's code: crit fail -1, fail 0, success (total-dc)/100, crit success +1. "
        "Mean +0.005 on a d20 at DC 15: 70% of steps do nothing.",
        dict(dc=15, crit_fail=-1.0, fail=0.0, success=Margin(0.01), crit_success=1.0)),
    "seed-readme": (
        "the seed README: crit fail inverts (-1), a fail is a scaled negative update (total-dc)/100, "
        "a success (total-dc)/100, crit success +1. Mean -0.0405: it climbs the loss.",
        dict(dc=15, crit_fail=-1.0, fail=Margin(0.01), success=Margin(0.01), crit_success=1.0)),
    "seed-methodology": (
        "the seed Methodology: crit fail discards (0), a fail is a scaled inverse update (total-dc)/100, "
        "a success (total-dc)/100, crit success +1. Mean +0.0095.",
        dict(dc=15, crit_fail=0.0, fail=Margin(0.01), success=Margin(0.01), crit_success=1.0)),
    "classroom": (
        "the teaching rule: crit success 1, success 0.75, fail 0.25, crit fail -0.5 at DC 11. "
        "Mean +0.475: it learns, with visible noise and a 5% chance of a step uphill.",
        dict(dc=11, crit_fail=-0.5, fail=0.25, success=0.75, crit_success=1.0)),
    "lr-dropout": (
        "a fail or crit fail skips the whole step (every parameter at once; Lin et al. 2019's learning-rate dropout "
        "instead drops each parameter's learning rate independently at every step), anything else applies it. "
        "At DC 11 half the steps are skipped; mean 0.5.",
        dict(dc=11, crit_fail=0.0, fail=0.0, success=1.0, crit_success=1.0)),
    "plain": (
        "every roll applies the full update: plain training, the control for every comparison.",
        dict(dc=11, crit_fail=1.0, fail=1.0, success=1.0, crit_success=1.0)),
}


def as_rules(rules) -> SavingThrow:
    """Accept a ``SavingThrow``, a preset name or ``None`` (the ``"classroom"`` rule, which learns)."""
    if rules is None:
        return SavingThrow.preset("classroom")
    if isinstance(rules, str):
        if rules not in PRESETS:
            raise RulesError(f"rules={shown(rules)}: expected a SavingThrow or a preset name "
                             f"({bad_value('name', rules, f'one of {sorted(PRESETS)}')})")
        return SavingThrow.preset(rules)
    if isinstance(rules, SavingThrow):
        return rules
    raise RollToTrainTypeError(bad_value("rules", rules, "a SavingThrow, a preset name or None"))


def warn_if_negative_drift(rules: SavingThrow, bonus: int = 0, stacklevel: int = 3) -> None:
    """Warn (``NegativeDriftWarning``) when E[m] <= 0 for the rule as it will be rolled."""
    effective = rules.with_bonus(bonus) if bonus else rules
    mean = effective.expected_multiplier()
    if mean <= 0:
        at_zero = " (at exactly 0 it makes no progress)" if mean == 0 else ""
        warnings.warn(f"{rules!r} has expected multiplier {mean:+.4f} (with bonus {bonus:+d}): "
                      f"on average this rule climbs the loss{at_zero}", NegativeDriftWarning, stacklevel=stacklevel)
