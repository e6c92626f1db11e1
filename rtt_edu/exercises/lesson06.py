"""Self-checks of lesson 6: experience and levels.

The proficiency bonus, a level's mean and variance, XP per step: each compares an answer with the
exact value computed by the library and names the mistake it sees.
"""
from __future__ import annotations

from rtt_edu.game.rules import as_rules
from rtt_edu.party.xp import MAX_LEVEL, proficiency_bonus
from rtt_edu.exercises.base import Feedback, _close, _number

__all__ = ["check_proficiency_bonus", "check_level_mean", "check_first_level_below", "check_mean_xp_per_step"]


def check_proficiency_bonus(answer, level: int = 11) -> Feedback:
    """The 5e proficiency bonus at ``level``: 2 + (level - 1) // 4."""
    expected = proficiency_bonus(level)
    value = _number(answer, "a whole number (the bonus)")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        return Feedback(True, f"right: 2 + ({level} - 1) // 4 = +{expected}.")
    return Feedback(False, f"{value:g} is not it. The bonus is +2 at levels 1-4 and grows by 1 every 4 levels.")


def check_level_mean(answer, rule="classroom", level: int = 9) -> Feedback:
    """E[m] of ``rule`` at ``level``: ``rule.with_bonus(proficiency_bonus(level)).expected_multiplier()``."""
    rule = as_rules(rule)
    bonus = proficiency_bonus(level)
    expected = rule.with_bonus(bonus).expected_multiplier()
    return _close(answer, expected, 5e-4, "a number (the mean multiplier)",
                  f"right: with bonus +{bonus}, E[m] = {expected:.4f} (it is {rule.expected_multiplier():.4f} "
                  "with no bonus).",
                  f"At level {level} the bonus is +{bonus}. Try rule.with_bonus({bonus}).expected_multiplier(), "
                  "or count the faces k with k + bonus >= DC (crits still come from the natural 1 and 20).")


def check_first_level_below(answer, rule="lr-dropout", variance: float = 0.2) -> Feedback:
    """The first level whose exact Var[m] is below ``variance``."""
    rule = as_rules(rule)
    levels = [L for L in range(1, MAX_LEVEL + 1) if rule.with_bonus(proficiency_bonus(L)).variance() < variance]
    if not levels:
        raise ValueError(f"variance={variance!r}: no level of this rule gets below it")
    expected = levels[0]
    value = _number(answer, "a level from 1 to 20")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        bonus = proficiency_bonus(expected)
        return Feedback(True, f"right: level {expected} brings bonus +{bonus} and Var[m] = "
                              f"{rule.with_bonus(bonus).variance():.4f}.")
    return Feedback(False, f"{value:g} is not it. The bonus only changes at levels 1, 5, 9, 13, 17: compute "
                           "rule.with_bonus(b).variance() for b = 2..6 and find the first below the target.")


def check_mean_xp_per_step(answer, rule="lr-dropout", bonus: int = 2, success_xp: int = 10,
                           crit_xp: int = 50) -> Feedback:
    """E[XP per step] = success_xp · P(success) + crit_xp · P(critical success)."""
    probs = as_rules(rule).with_bonus(bonus).outcome_probabilities()
    expected = success_xp * probs["success"] + crit_xp * probs["critical_success"]
    return _close(answer, expected, 1e-3, "a number of XP",
                  f"right: {success_xp} × {probs['success']:.2f} + {crit_xp} × {probs['critical_success']:.2f} "
                  f"= {expected:.2f} XP per step.",
                  "A success earns success_xp, a critical success earns crit_xp instead (not both); "
                  "weight each by its exact probability.")
