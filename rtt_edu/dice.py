"""Dice: notation, a seeded roller, and the exact distribution of a kept die.

Notation (case-insensitive, spaces ignored)::

    d20        one twenty-sided die
    2d6+3      two six-sided dice plus 3
    d100       one hundred-sided die
    4d6kh3     roll four d6, keep the highest three
    2d20kl1    roll two d20, keep the lowest one (disadvantage)

Every ``DiceRoller`` owns a ``random.Random`` built from its seed, so rolls never touch
(and are never touched by) the global ``random``, numpy or torch RNG state.
"""
from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import DiceError, bad_value, check_type

MAX_DICE = 1000          # more dice than this in one roll is refused
MAX_SIDES = 1_000_000    # a die with more faces than this is refused

_NOTATION = re.compile(r"(?P<count>[0-9]{0,9})d(?P<sides>[0-9]{1,9})(?:k(?P<keep>[hl])(?P<kept>[0-9]{1,9}))?"
                       r"(?P<mod>[+-][0-9]{1,9})?")   # at most 9 digits a number: 'd' + '9' * 5000 is refused


@dataclass(frozen=True)
class DiceSpec:
    """A parsed notation: ``count`` dice of ``sides`` faces, keep ``kept`` (highest or lowest)."""
    count: int      # dice rolled
    sides: int      # faces per die
    kept: int       # dice kept (== count when nothing is dropped)
    keep: str       # "h" (highest) or "l" (lowest)
    modifier: int   # the notation's own +N / -N


def parse(notation: str) -> DiceSpec:
    """Parse dice notation; raise ``DiceError`` quoting the bad value."""
    check_type("notation", notation, str, "a dice notation string such as 'd20' or '2d6+3'")
    return _parse(notation)


@functools.lru_cache(maxsize=256)   # a training loop rolls the same notation every step
def _parse(notation: str) -> DiceSpec:
    match = _NOTATION.fullmatch("".join(notation.split()).lower())
    if match is None:
        raise DiceError(bad_value("notation", notation, "dice notation like 'd20', '2d6+3', '4d6kh3' or '2d20kl1'"))
    count = int(match["count"] or 1)
    sides = int(match["sides"])
    kept = int(match["kept"]) if match["kept"] else count
    if count < 1:
        raise DiceError(bad_value("notation", notation, "at least one die"))
    if count > MAX_DICE:
        raise DiceError(bad_value("notation", notation, f"at most {MAX_DICE} dice in one roll"))
    if sides < 2:
        raise DiceError(bad_value("notation", notation, "dice with at least 2 sides"))
    if sides > MAX_SIDES:
        raise DiceError(bad_value("notation", notation, f"dice with at most {MAX_SIDES} sides"))
    if not 1 <= kept <= count:
        raise DiceError(bad_value("notation", notation, f"to keep between 1 and {count} dice"))
    return DiceSpec(count, sides, kept, match["keep"] or "h", int(match["mod"] or 0))


@dataclass(frozen=True)
class Roll:
    """One roll. ``natural`` is the kept die's face (the sum of the kept dice when several are kept)."""
    notation: str
    faces: tuple        # every die rolled, in the order rolled
    kept: tuple         # the dice that count
    natural: int        # sum of the kept dice: for one d20, the face crits are read from
    modifier: int       # everything added to the dice
    total: int          # natural + modifier
    sides: int          # faces of each die
    advantage: bool = False
    disadvantage: bool = False

    @property
    def is_max(self) -> bool:
        """Every kept die shows its top face (a natural 20 on a d20)."""
        return self.natural == self.sides * len(self.kept)

    @property
    def is_min(self) -> bool:
        """Every kept die shows 1 (a natural 1)."""
        return self.natural == len(self.kept)


def ability_modifier(score: int) -> int:
    """The 5e SRD ability modifier: ``(score - 10) // 2`` for scores 1..30 (1 → -5, 10 → 0, 30 → +10)."""
    check_type("score", score, int, "an integer ability score from 1 to 30")
    if not 1 <= score <= 30:
        raise DiceError(bad_value("score", score, "an ability score from 1 to 30"))
    return (score - 10) // 2


def _check_adv(advantage, disadvantage):
    check_type("advantage", advantage, bool, "True or False")
    check_type("disadvantage", disadvantage, bool, "True or False")
    if advantage and disadvantage:
        raise DiceError("advantage=True together with disadvantage=True: choose one "
                        "(in 5e they cancel; pass neither for a straight roll)")


class DiceRoller:
    """Rolls dice with its own seeded RNG.

    >>> DiceRoller(seed=7).roll("d20").natural == DiceRoller(seed=7).roll("d20").natural
    True
    """

    def __init__(self, seed: int | None = None):
        if seed is not None:
            check_type("seed", seed, int, "an int or None")
        self.seed = seed
        self._rng = random.Random(seed)

    def die(self, sides: int) -> int:
        """One face of a die with ``sides`` faces, uniform on 1..sides."""
        return self._rng.randint(1, sides)

    def uniform(self) -> float:
        """A float in [0, 1) from this roller's RNG (for encounter chances and the like)."""
        return self._rng.random()

    def choice(self, items):
        """One item of a non-empty sequence, from this roller's RNG."""
        return items[self._rng.randrange(len(items))]

    def torch_seed(self) -> int:
        """A 63-bit seed drawn from this roller, for a ``torch.Generator`` (weight noise etc.)."""
        return self._rng.getrandbits(63)

    def roll(self, notation: str = "d20", advantage: bool = False, disadvantage: bool = False,
             modifier: int = 0) -> Roll:
        """Roll ``notation``. Advantage rolls a single die twice and keeps the higher face.

        ``advantage``/``disadvantage`` apply to a single-die notation only (``d20``, ``d20+5``);
        for several dice write the keep rule instead (``2d20kh1``).
        """
        spec = parse(notation)
        if not (advantage is False and disadvantage is False and type(modifier) is int):   # else all pass
            _check_adv(advantage, disadvantage)
            check_type("modifier", modifier, int, "an integer modifier")
        if (advantage or disadvantage) and spec.count != 1:
            raise DiceError(bad_value("notation", notation,
                                      "a single die with advantage/disadvantage (write '2d20kh1' for several dice)"))
        if spec.count == 1 and not (advantage or disadvantage):   # one die: a plain saving throw
            faces = kept = (self.die(spec.sides),)
        else:
            count = 2 if (advantage or disadvantage) else spec.count
            kept_n = 1 if (advantage or disadvantage) else spec.kept
            highest = not disadvantage and spec.keep == "h"
            faces = tuple(self.die(spec.sides) for _ in range(count))
            kept = tuple(sorted(faces, reverse=highest)[:kept_n])
        natural = sum(kept)
        total_mod = spec.modifier + modifier
        return Roll(notation, faces, kept, natural, total_mod, natural + total_mod, spec.sides,
                    advantage, disadvantage)

    def state_dict(self) -> dict:
        """The RNG state as plain ints and lists (safe for JSON and ``torch.load(weights_only=True)``)."""
        version, internal, gauss = self._rng.getstate()
        return {"seed": self.seed, "version": version, "internal": list(internal), "gauss": gauss}

    def load_state_dict(self, state: dict) -> None:
        """Resume exactly where ``state_dict()`` was taken."""
        try:
            rng_state = (state["version"], tuple(int(x) for x in state["internal"]), state["gauss"])
            self._rng.setstate(rng_state)
        except (KeyError, TypeError, ValueError) as exc:
            shown = sorted(map(str, state)) if isinstance(state, dict) else state
            raise DiceError(f"{bad_value('state', shown, 'a DiceRoller state_dict')} ({type(exc).__name__}: {exc})") from None
        self.seed = state.get("seed")


def natural_distribution(sides: int, advantage: bool = False, disadvantage: bool = False) -> dict:
    """Exact P(natural == k) for one die, as ``Fraction``s.

    straight:      P(k) = 1/s
    advantage:     P(max of two == k) = (k² - (k-1)²) / s² = (2k - 1) / s²
    disadvantage:  P(min of two == k) = (2(s - k) + 1) / s²
    """
    check_type("sides", sides, int, "an integer number of sides")
    if not 2 <= sides <= MAX_SIDES:
        raise DiceError(bad_value("sides", sides, f"between 2 and {MAX_SIDES}"))
    _check_adv(advantage, disadvantage)
    s2 = sides * sides
    if advantage:
        return {k: Fraction(2 * k - 1, s2) for k in range(1, sides + 1)}
    if disadvantage:
        return {k: Fraction(2 * (sides - k) + 1, s2) for k in range(1, sides + 1)}
    return {k: Fraction(1, sides) for k in range(1, sides + 1)}
