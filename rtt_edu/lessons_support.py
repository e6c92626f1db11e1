"""Small helpers the lessons share: the exact distribution of any dice notation, and a quadratic run.

``total_distribution("2d6+3")`` is exact (``Fraction``s): dice without a keep rule are convolved
one die at a time,

    P(S_{j+1} = t) = Σ_{k=1..s} P(S_j = t - k) / s,

and a keep rule (``4d6kh3``) enumerates every ordered outcome (s^n of them, each 1/s^n).

``class_distribution(Rogue(), "classroom")`` is the exact multiplier distribution of a rule with a
character class acting on every turn (while its uses last; see :mod:`rtt_edu.classes`)::

    Rogue       m ← m · sneak_factor  where m > 0 and total >= DC + 5 (or the roll had advantage)
    Barbarian   m ← max(m, 0)         (raging)
    Bard        a fail is re-judged with + d(die):  Bard.distribution(rules)
    Paladin     the aura and Lay on Hands:           Paladin.effective_rules(rules)
    Wizard, Fighter, Cleric   m unchanged: they act on the learning rate, the gradients, the weights

``quadratic_run`` trains one weight on L(w) = a/2 · (w - w*)² with ``torch.optim.SGD`` and the
dice attached (``rtt_edu.attach``), in float64, so each step's factor e_{t+1}/e_t can be read off
and compared with 1 - lr·a·m_t (see :mod:`rtt_edu.quadratic`).
"""
from __future__ import annotations

import warnings
from fractions import Fraction

from .dice import total_distribution
from .errors import DiceError, NegativeDriftWarning, bad_value, check_type

__all__ = ["total_distribution", "mean_of", "class_distribution", "quadratic_run"]

def mean_of(distribution: dict) -> Fraction:
    """E[X] = Σ x P(x) of a ``{value: probability}`` dict (exact for ``Fraction`` probabilities)."""
    return sum((Fraction(x) * p for x, p in distribution.items()), Fraction(0))


def _rogue(rogue, rules, bonus):
    def m(k):
        value = rules.multiplier(k, bonus)
        excellent = k + rules.modifier + bonus >= rules.dc + rogue.MARGIN
        return value * rogue.sneak_factor if value > 0 and (excellent or rules.advantage) else value
    return _by_face(rules, m)


def _barbarian(barbarian, rules, bonus):
    return _by_face(rules, lambda k: max(rules.multiplier(k, bonus), 0.0))


def _bard(bard, rules, bonus):
    return bard.distribution(rules, bonus)


def _paladin(paladin, rules, bonus):
    return paladin.effective_rules(rules, bonus).distribution()


def _unchanged(character_class, rules, bonus):
    return _by_face(rules, lambda k: rules.multiplier(k, bonus))


def _by_face(rules, multiplier) -> dict:
    dist: dict = {}
    for k, p in rules.face_probabilities().items():
        m = multiplier(k)
        dist[m] = dist.get(m, Fraction(0)) + p
    return {m: float(p) for m, p in sorted(dist.items())}


#: class name → its effect on the multiplier's distribution, while its uses last.
CLASS_EFFECTS = {"Rogue": _rogue, "Barbarian": _barbarian, "Bard": _bard, "Paladin": _paladin,
                 "Wizard": _unchanged, "Fighter": _unchanged, "Cleric": _unchanged}


def class_distribution(character_class, rules="classroom", bonus: int = 0) -> dict:
    """Exact m → P(m) of ``rules`` rolled with ``bonus`` while ``character_class`` acts on every turn."""
    from .classes import CharacterClass
    from .rules import as_rules
    if not isinstance(character_class, CharacterClass) or type(character_class).__name__ not in CLASS_EFFECTS:
        raise TypeError(bad_value("character_class", character_class, f"an instance of one of {sorted(CLASS_EFFECTS)}"))
    check_type("bonus", bonus, int, "an integer bonus")
    return CLASS_EFFECTS[type(character_class).__name__](character_class, as_rules(rules), bonus)


def quadratic_run(rules, lr: float, steps: int, seed: int, curvature: float = 1.0, w0: float = 1.0,
                  w_star: float = 0.0):
    """Train one weight on a/2·(w - w*)² with SGD and the dice; return (errors, records).

    ``errors[t]`` is w - w* before step t (``steps + 1`` values, float64); ``records`` are the
    step records (natural face, multiplier, ...). A rule that climbs the loss is what this
    lesson shows on purpose, so its ``NegativeDriftWarning`` is not raised here, and no guard
    runs: a run that overflows float64 shows as ``inf`` (or ``nan``) in ``errors``.
    """
    import torch
    from .hook import attach

    check_type("steps", steps, int, "an integer >= 1")
    if steps < 1:
        raise DiceError(bad_value("steps", steps, "an integer >= 1"))
    w = torch.nn.Parameter(torch.tensor(float(w0), dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(optimizer, rules, seed=seed, on_nonfinite="off")
    errors = [float(w.detach()) - w_star]
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            loss = 0.5 * curvature * (w - w_star) ** 2
            loss.backward()
            optimizer.step()
            errors.append(float(w.detach()) - w_star)
    finally:
        handle.remove()
    return errors, handle.records
