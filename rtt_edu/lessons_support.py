"""Small helpers the lessons share, each re-exported from its home.

- ``total_distribution("2d6+3")``: the exact distribution of a dice notation (:mod:`rtt_edu.game.dice`);
- ``mean_of(distribution)``: E[X] of a ``{value: probability}`` dict, exact for ``Fraction``s;
- ``class_distribution(Rogue(), "classroom")``: the exact multiplier distribution while a class acts
  on every turn, which is ``Rogue().distribution("classroom")`` (:mod:`rtt_edu.party.classes`);
- ``quadratic_run``: one weight trained on a/2 · (w - w*)² with SGD and the dice
  (:mod:`rtt_edu.science.quadratic`).
"""
from __future__ import annotations

from fractions import Fraction

from rtt_edu.game.dice import total_distribution
from rtt_edu.errors import bad_value
from rtt_edu.science.quadratic import quadratic_run

__all__ = ["total_distribution", "mean_of", "class_distribution", "quadratic_run"]


def mean_of(distribution: dict) -> Fraction:
    """E[X] = Σ x P(x) of a ``{value: probability}`` dict (exact for ``Fraction`` probabilities)."""
    return sum((Fraction(x) * p for x, p in distribution.items()), Fraction(0))


def class_distribution(character_class, rules="classroom", bonus: int = 0) -> dict:
    """Exact m → P(m) of ``rules`` rolled with ``bonus`` while ``character_class`` acts on every turn.

    The same as ``character_class.distribution(rules, bonus)``: each class overrides its own.
    """
    from rtt_edu.party.classes import CharacterClass
    if not isinstance(character_class, CharacterClass):
        raise TypeError(bad_value("character_class", character_class, "an instance of a CharacterClass "
                                  "(Wizard, Rogue, Fighter, Cleric, Barbarian, Bard or Paladin)"))
    return character_class.distribution(rules, bonus)
