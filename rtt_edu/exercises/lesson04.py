"""Self-checks of lesson 4: character classes.

Their techniques, the Rogue's factor, the Fighter's armour, a class's mean: each compares an answer
with the exact value computed by the library and names the mistake it sees.
"""
from __future__ import annotations

import math

from rtt_edu.party.classes import Rogue
from rtt_edu.lessons_support import class_distribution
from rtt_edu.game.rules import as_rules
from rtt_edu.party.xp import proficiency_bonus
from rtt_edu.exercises.base import Feedback, judge

__all__ = ["TECHNIQUES", "check_technique", "check_sneak_factor", "check_armour_norm", "check_class_mean"]


#: class → the training technique it stands for (the names lesson 4 lists).
TECHNIQUES = {
    "Wizard": "learning-rate bursts",
    "Rogue": "a heavier upper tail",
    "Fighter": "gradient clipping",
    "Cleric": "rollback to the best weights",
    "Barbarian": "no ascent steps",
    "Bard": "re-rolling fails",
    "Paladin": "a bonus to every save",
}


def check_technique(answer, character_class: str = "Cleric") -> Feedback:
    """Which technique of :data:`TECHNIQUES` does ``character_class`` stand for? (case-insensitive)"""
    if character_class not in TECHNIQUES:
        raise ValueError(f"character_class={character_class!r}: expected one of {sorted(TECHNIQUES)}")
    expected = TECHNIQUES[character_class]
    if answer is None:
        return Feedback(False, "replace `None` with one of the technique names in quotes, then run the cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected a technique name in quotes, such as {expected!r}.")
    given = " ".join(answer.lower().split())
    if given == expected:
        return Feedback(True, f"right: the {character_class} stands for {expected}.")
    owner = next((cls for cls, name in TECHNIQUES.items() if name == given), None)
    if owner is not None:
        return Feedback(False, f"{answer!r} is the {owner}'s technique. What does the {character_class} change: "
                               "the multiplier, the learning rate, the gradients or the weights?")
    return Feedback(False, f"{answer!r} is not one of the names: {', '.join(repr(n) for n in TECHNIQUES.values())}.")


def check_sneak_factor(answer, level: int = 5) -> Feedback:
    """The Rogue's sneak-attack factor at ``level``: 1 + ⌈level / 2⌉ / 4."""
    expected = Rogue(level=level).sneak_factor
    dice = math.ceil(level / 2)
    mistakes = [(1 + level / 2 / 4, f"⌈{level}/2⌉ rounds *up* to {dice} sneak-attack dice."),
                (dice / 4, "the factor is 1 plus the extra: the step keeps its own size too."),
                (1 + level / 4, "a rogue has ⌈level/2⌉ sneak-attack dice, not one per level.")]
    return judge(answer, expected, "a number (the factor)",
                 f"right: 1 + ⌈{level}/2⌉/4 = 1 + {dice}/4 = {expected:g}.",
                 "The factor is 1 + ⌈level / 2⌉ / 4.", mistakes, tol=1e-9)


def check_armour_norm(answer, level: int = 9, max_norm: float = 1.0) -> Feedback:
    """The Fighter's clipping norm: 2 · max_norm / proficiency_bonus(level)."""
    bonus = proficiency_bonus(level)
    expected = 2 * max_norm / bonus
    mistakes = [(max_norm / bonus, "the armour is *2* × max_norm / proficiency bonus."),
                (2 * max_norm / 2, f"that uses the level-1 bonus +2; at level {level} the bonus is +{bonus}."),
                (2 * max_norm * bonus, "the armour tightens with level: divide by the bonus.")]
    return judge(answer, expected, "a gradient norm",
                 f"right: proficiency +{bonus} at level {level}, so ‖g‖ is clipped to 2 × {max_norm:g} / {bonus} "
                 f"= {expected:g}.",
                 "armour_norm = 2 × max_norm / proficiency_bonus(level); the bonus is 2 + (level − 1) // 4.",
                 mistakes, tol=1e-9)


def check_class_mean(answer, character_class, rules="classroom") -> Feedback:
    """E[m] of ``rules`` while ``character_class`` acts on every turn (``character_class.distribution(rules)``)."""
    rule = as_rules(rules)
    dist = class_distribution(character_class, rule)
    expected = math.fsum(m * p for m, p in dist.items())
    name = type(character_class).__name__
    return judge(answer, expected, "a number (the mean multiplier)",
                 f"right: with the {name}, E[m] = {expected:.4f} (without it {rule.expected_multiplier():.4f}).",
                 f"Go face by face: which faces does the {name} change, and to what? Then sum P(m)·m.",
                 [(rule.expected_multiplier(), f"that is E[m] without the {name}.")], tol=5e-4)
