"""Dice: notation, a seeded roller, and the exact distribution of a kept die.

Notation (case-insensitive; spaces may separate its parts but never split a number, so
``"2d6 + 3"`` is 2d6+3 while ``"1d20 5"`` is refused rather than read as a d205)::

    d20        one twenty-sided die
    2d6+3      two six-sided dice plus 3
    d100       one hundred-sided die
    4d6kh3     roll four d6, keep the highest three
    2d20kl1    roll two d20, keep the lowest one (disadvantage)

``total_distribution(notation)`` is the exact distribution of any notation the parser accepts,
computed with integer counts (see its docstring for the algorithms and the documented cost bound).
Rolling is cheap for any die up to :data:`MAX_SIDES` faces; anything *exact* about a die (its
distribution, a saving throw's figures) is bounded by one constant, :data:`MAX_WORK`, checked by one
function, :func:`check_exact_cost`: ``total_distribution("d1000000")``, ``natural_distribution(10**6)``
and ``SavingThrow(sides=10**6)`` are refused by the same check, naming the argument.

Every ``DiceRoller`` owns a ``random.Random`` built from its seed, so rolls never touch
(and are never touched by) the global ``random``, numpy or torch RNG state.
"""
from __future__ import annotations

import functools
import itertools
import operator
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from math import comb

from rtt_edu.errors import DiceError, bad_value, check_type, require

MAX_DICE = 1000          # more dice than this in one roll is refused
MAX_SIDES = 1_000_000    # a die with more faces than this is refused (rolling; exact maths: MAX_WORK)

_NOTATION = re.compile(r"(?P<count>[0-9]{0,9})d(?P<sides>[0-9]{1,9})(?:k(?P<keep>[hl])(?P<kept>[0-9]{1,9}))?"
                       r"(?P<mod>[+-][0-9]{1,9})?")   # at most 9 digits a number: 'd' + '9' * 5000 is refused
_SPLIT_NUMBER = re.compile(r"[0-9]\s+[0-9]")   # digits with only spaces between: "1d20 5", "2 0d6"


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
    require(not _SPLIT_NUMBER.search(notation), "notation", notation, "dice notation with no space inside a number "
            "(spaces may separate 'd', 'k', '+' and the numbers, never two digits)", DiceError)
    match = _NOTATION.fullmatch("".join(notation.split()).lower())
    require(match is not None, "notation", notation, "dice notation like 'd20', '2d6+3', '4d6kh3' or '2d20kl1'",
            DiceError)
    count = int(match["count"] or 1)
    sides = int(match["sides"])
    kept = int(match["kept"]) if match["kept"] else count
    require(count >= 1, "notation", notation, "at least one die", DiceError)
    require(count <= MAX_DICE, "notation", notation, f"at most {MAX_DICE} dice in one roll", DiceError)
    require(sides >= 2, "notation", notation, "dice with at least 2 sides", DiceError)
    require(sides <= MAX_SIDES, "notation", notation, f"dice with at most {MAX_SIDES} sides", DiceError)
    require(1 <= kept <= count, "notation", notation, f"to keep between 1 and {count} dice", DiceError)
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
    require(1 <= score <= 30, "score", score, "an ability score from 1 to 30", DiceError)
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
        """One face of a die with ``sides`` faces, uniform on 1..sides.

        Draw for draw what ``random.Random.randint(1, sides)`` gives (the same bits, the same
        rejections: ``k = sides.bit_length()`` bits until one is below ``sides``), in one call
        instead of four: it runs on every optimizer step."""
        if sides < 1:
            return self._rng.randint(1, sides)      # refused as randint refuses it
        getrandbits, bits = self._rng.getrandbits, sides.bit_length()
        face = getrandbits(bits)
        while face >= sides:
            face = getrandbits(bits)
        return face + 1

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
        if advantage or disadvantage:             # (checked here only: a plain roll pays for no call)
            require(spec.count == 1, "notation", notation,
                    "a single die with advantage/disadvantage (write '2d20kh1' for several dice)", DiceError)
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
            raise DiceError(f"{bad_value('state', shown, 'a DiceRoller state_dict')} ({type(exc).__name__}: {exc})") \
                from None
        self.seed = state.get("seed")


def natural_distribution(sides: int, advantage: bool = False, disadvantage: bool = False) -> dict:
    """Exact P(natural == k) for one die, as ``Fraction``s: ``w(k) / denominator`` of :func:`natural_weights`.

    straight:      P(k) = 1/s
    advantage:     P(max of two == k) = (k² - (k-1)²) / s² = (2k - 1) / s²
    disadvantage:  P(min of two == k) = (2(s - k) + 1) / s²
    """
    denominator, weights = natural_weights(sides, advantage, disadvantage)
    if not (advantage or disadvantage):
        p = Fraction(1, sides)                  # every face alike: one Fraction shared
        return dict.fromkeys(range(1, sides + 1), p)
    return {k: Fraction(weights[k], denominator) for k in range(1, sides + 1)}


def natural_weights(sides: int, advantage: bool = False, disadvantage: bool = False) -> tuple:
    """``(denominator, weights)``: P(natural == k) = ``weights[k] / denominator`` exactly, integers (index 0 unused).

    straight: w(k) = 1 over s;  advantage: w(k) = 2k - 1 over s²;  disadvantage: w(k) = 2(s - k) + 1 over s².
    A die whose exact distribution costs more than :data:`MAX_WORK` is refused (:func:`check_exact_cost`).
    """
    check_type("sides", sides, int, "an integer number of sides")
    require(2 <= sides <= MAX_SIDES, "sides", sides, f"between 2 and {MAX_SIDES}", DiceError)
    check_exact_cost("sides", sides, f"d{sides}")
    _check_adv(advantage, disadvantage)
    if advantage:
        return sides * sides, range(-1, 2 * sides, 2)               # w(k) = 2k - 1
    if disadvantage:
        return sides * sides, range(2 * sides + 1, 0, -2)           # w(k) = 2(s - k) + 1
    return sides, [1] * (sides + 1)


# --- the exact distribution of a notation ------------------------------------------------------

MAX_WORK = 2_500_000   # ``distribution_cost`` units ``total_distribution`` accepts: about 0.3 s of CPython


def _sum_counts(dice: int, sides: int) -> list:
    """``counts[i]`` = the number of the sides^dice ordered rolls whose faces sum to ``dice + i``.

    One die at a time, with prefix sums P_j(i) = Σ_{i' <= i} c_j(i'):

        c_{j+1}(i) = Σ_{k=0..sides-1} c_j(i - k) = P_j(i) - P_j(i - sides)

    so adding a die costs one pass over the j·(sides - 1) + 1 totals so far (integers, no division).
    """
    counts = [1]
    for _ in range(dice):
        counts = _add_die(counts, sides)
    return counts


def _add_die(counts: list, sides: int) -> list:
    """The counts of the sums with one more die of ``sides`` faces: c'(i) = P(i) - P(i - sides), P the prefix sums."""
    prefix = list(itertools.accumulate(counts))
    return list(map(operator.sub, prefix + [prefix[-1]] * (sides - 1), [0] * sides + prefix[:-1]))


def _keep_highest_counts(count: int, sides: int, kept: int) -> list:
    """``counts[i]`` = the number of ordered rolls of ``count`` dice whose ``kept`` highest faces sum to ``kept + i``.

    Sort by the threshold v, the kept-th highest face. With a dice strictly above v (a < kept) and
    the other count - a dice at most v, of which at least kept - a show exactly v, the kept total
    is (the sum of the a dice above v) + (kept - a)·v, and the number of ways is

        C(count, a) · [ v^(count-a) - Σ_{b < kept-a} C(count-a, b) · (v-1)^(count-a-b) ]
                    · (ways a dice on v+1..s reach their sum)

    The bracket G_a counts the count - a dice at most v with at least kept - a of them equal to v.
    Pascal's rule gives it for every a from one start, with x = v - 1 and r = count - kept + 1:

        G_{kept-1} = v^r - x^r,        G_a = v · G_{a+1} - C(count-a-1, kept-a-1) · x^r

    Each (v, a) is then one pass over a list of a·(s - v - 1) + 1 sums: O(kept² · sides²) in all.
    """
    counts = [0] * (kept * (sides - 1) + 1)
    r = count - kept + 1
    v_r = 0                                           # v^r, carried to the next face as (v - 1)^r
    for v in range(1, sides + 1):
        x_r, v_r = v_r, v ** r
        at_least = [0] * kept                         # G_a for a = 0..kept-1
        at_least[-1] = v_r - x_r
        for a in range(kept - 2, -1, -1):
            at_least[a] = v * at_least[a + 1] - comb(count - a - 1, kept - a - 1) * x_r
        above = [1]                                   # a dice on v+1..sides, their sums from a·(v+1)
        for a in range(kept):
            weight = comb(count, a) * at_least[a]
            if weight:
                start = kept * (v - 1) + a                # index of the total a·(v+1) + (kept-a)·v
                end = start + len(above)
                counts[start:end] = map(operator.add, counts[start:end], map(operator.mul, above,
                                                                               itertools.repeat(weight)))
            if a + 1 == kept or v == sides:               # no face above the top one
                break
            above = _add_die(above, sides - v)           # one more die above v: faces v+1..sides
    return counts


def distribution_cost(notation: str) -> int:
    """The work ``total_distribution(notation)`` would do, in the units of :data:`MAX_WORK`.

    One unit is about one small-integer addition in a list pass (about 100 ns in CPython). With n
    dice of s faces, keeping k, the passes add or multiply

        no keep rule:           Σ_{j=1..n} (j·(s - 1) + 1)                       integers
        keep highest / lowest:  k(k - 1)(s - 1)(s - 2) + (k - 1)s(s - 1)/2 + 4k(s - 1) + 3sk

    of up to b = n · bits(s) bits (the counts reach s^n), which scales each by 1 + b/2000. A keep
    rule also costs 40 + 50·(b/1000)^1.6 units per face (the threshold loop's own work and its
    power v^(n-k+1), a Karatsuba product of b-bit integers). Each possible total then costs 25
    units for its ``Fraction`` (a gcd of big integers, and the object).

    ``100d100`` costs about 0.9 million units and ``8d6kh3`` about 900; ``1000d200`` (500 million),
    ``100d100kh50``, ``1000d5`` and ``2d1000000`` are refused. The slowest notations accepted take
    about 5 times as long as ``100d100`` (``benchmarks/bench_dice.py`` times a set of them).
    """
    spec = parse(notation)
    n, s, k = spec.count, spec.sides, spec.kept
    bits = n * s.bit_length()
    if k == n:
        passes = n * (n + 1) // 2 * (s - 1) + n
        return passes * (2000 + bits) // 2000 + 25 * (n * (s - 1) + 1)
    passes = k * (k - 1) * (s - 1) * (s - 2) + (k - 1) * s * (s - 1) // 2 + 4 * k * (s - 1) + 3 * s * k
    per_face = 40 + int(50 * (bits / 1000) ** 1.6)     # the threshold loop and its power v^(n-k+1)
    return passes * (2000 + bits) // 2000 + per_face * s + 25 * (k * (s - 1) + 1)


@functools.lru_cache(maxsize=1)
def largest_exact_die() -> int:
    """The most faces a die may have for its exact distribution: the largest s with ``distribution_cost("d{s}")
    <= MAX_WORK`` (96,122). Derived from :data:`MAX_WORK`, not a bound of its own."""
    lo, hi = 2, MAX_SIDES
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if distribution_cost(f"d{mid}") <= MAX_WORK else (lo, mid - 1)
    return lo


def check_exact_cost(name: str, value, notation: str, error=DiceError) -> None:
    """The one check of :data:`MAX_WORK`: refuse ``value`` (named ``name``) when the exact distribution of
    ``notation`` costs more (``distribution_cost(notation) > MAX_WORK``), before any work starts.

    ``total_distribution`` checks its notation; ``natural_distribution`` and ``SavingThrow`` check
    ``"d{sides}"``, the one die whose faces they weigh (a rule's advantage is a closed form, no dearer).
    """
    cost = distribution_cost(notation)
    if cost > MAX_WORK:
        one_die = notation == f"d{value}"
        raise error(bad_value(name, value,
                              f"{'a die' if one_die else 'dice'} whose exact distribution costs at most {MAX_WORK:,} "
                              f"units of work, about 0.3 s (this one needs {cost:,}: "
                              + (f"at most {largest_exact_die():,} sides)" if one_die
                                 else "use fewer dice, sides or kept dice)")))


def total_distribution(notation: str, modifier: int = 0) -> dict:
    """Exact P(total == t) of a dice notation (``"d20"``, ``"2d6+3"``, ``"8d6kh3"``, ``"2d20kl1"``), as ``Fraction``s.

    Integer counts of the s^n equally likely ordered rolls, one division each at the end:

        P(total = t) = (rolls whose kept dice sum to t - modifier) / s^n

    Without a keep rule the counts come from ``_sum_counts``; keep-highest from
    ``_keep_highest_counts``; keep-lowest is keep-highest mirrored (face f ↔ s + 1 - f, so a kept
    total t ↔ k·(s + 1) - t). A notation whose :func:`distribution_cost` exceeds
    :data:`MAX_WORK` is refused with a ``DiceError`` before any work starts.
    """
    spec = parse(notation)
    check_type("modifier", modifier, int, "an integer modifier")
    check_exact_cost("notation", notation, notation)
    n, s, k = spec.count, spec.sides, spec.kept
    if k == n:
        counts = _sum_counts(n, s)
    else:
        counts = _keep_highest_counts(n, s, k)
        if spec.keep == "l":
            counts.reverse()
    rolls = s ** n
    shift = k + spec.modifier + modifier           # index 0 is the smallest kept total, k
    cache: dict = {}                               # equal counts (a symmetric distribution) share a Fraction
    out = {}
    for i, c in enumerate(counts):
        if c:
            p = cache.get(c)
            if p is None:
                p = cache[c] = Fraction(c, rolls)
            out[i + shift] = p
    return out
