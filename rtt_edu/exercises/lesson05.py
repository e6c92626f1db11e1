"""Self-checks of lesson 5: monsters.

The chance of a strike, the ooze's expected factor, the Fighter's clip: each compares an answer with
the exact value computed by the library and names the mistake it sees.
"""
from __future__ import annotations

from fractions import Fraction

from rtt_edu.party.xp import proficiency_bonus
from rtt_edu.exercises.base import Feedback, _close, _number

__all__ = ["monster_strike_probability", "check_monster_strike", "check_ooze_factor", "check_fighter_clip"]


def monster_strike_probability(armor_class: int, bonus: int = 0) -> Fraction:
    """Exact P(d20 + bonus < AC): the chance a monster strikes on one turn."""
    return Fraction(sum(1 for k in range(1, 21) if k + bonus < armor_class), 20)


def check_monster_strike(answer, armor_class: int = 15, bonus: int = 2) -> Feedback:
    """P(strike) = #{k in 1..20 : k + bonus < AC} / 20."""
    expected = monster_strike_probability(armor_class, bonus)
    value = _number(answer, "a probability (a Fraction or a float)")
    if isinstance(value, Feedback):
        return value
    if abs(value - float(expected)) <= 1e-3:
        return Feedback(True, f"right: faces 1..{armor_class - 1 - bonus} fail to reach AC {armor_class} with "
                              f"{bonus:+d}: P(strike) = {expected}.")
    if abs(value - float(1 - expected)) <= 1e-3:
        return Feedback(False, f"{value:g} is the chance the model *saves*. The monster strikes on a failed save.")
    if abs(value - float(monster_strike_probability(armor_class))) <= 1e-3:
        return Feedback(False, f"{value:g} ignores the bonus {bonus:+d}: a face k saves when k {bonus:+d} >= {armor_class}.")
    return Feedback(False, f"{value:g} is not it. Count the faces k of a d20 with k {bonus:+d} < {armor_class}.")


def check_ooze_factor(answer, slow: float = 0.1, armor_class: int = 10, bonus: int = 0) -> Feedback:
    """E[factor] = P(save) · 1 + P(strike) · slow."""
    p = float(monster_strike_probability(armor_class, bonus))
    expected = (1 - p) + p * slow
    return _close(answer, expected, 1e-3, "a number (the expected factor on the update)",
                  f"right: {1 - p:.2f} × 1 + {p:.2f} × {slow:g} = {expected:.4f}.",
                  f"First P(strike) = P(d20 {bonus:+d} < {armor_class}); a struck turn scales the update by "
                  f"{slow:g}, a saved one leaves it alone.")


def check_fighter_clip(answer, level: int = 5, max_norm: float = 1.0) -> Feedback:
    """The Fighter's armour: gradients clipped to norm 2 · max_norm / proficiency_bonus(level)."""
    expected = 2 * max_norm / proficiency_bonus(level)
    return _close(answer, expected, 1e-3, "a number (a gradient norm)",
                  f"right: 2 × {max_norm:g} / {proficiency_bonus(level)} = {expected:.4f}: the armour tightens as the "
                  "proficiency bonus grows.",
                  "The armour norm is 2 × max_norm / proficiency_bonus(level); the bonus at level 5 is +3.")
