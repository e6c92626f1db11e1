"""Lesson 6 (experience and levels): the lesson's predict-then-check self-checks."""
from __future__ import annotations

from rtt_edu.exercises import Feedback, judge
from rtt_edu.game.rules import SavingThrow


def check_dropout_variance(answer) -> Feedback:
    """Var[m] of ``lr-dropout`` at bonus +6: p(1 − p) with p = P(success) = 0.8, so 0.16."""
    rule = SavingThrow.preset("lr-dropout").with_bonus(6)
    p = rule.expected_multiplier()          # m is 1 or 0, so E[m] = P(m = 1)
    return judge(answer, rule.variance(), "a number (the variance of m)",
                 f"right: {rule.variance():.2f} = p(1 − p) with p = {p:.1f}; the plot below shows it level by level.",
                 "m is 1 with probability p and 0 otherwise: Var[m] = E[m²] − E[m]².",
                 mistakes=((p, "that is E[m] (= P(m = 1)), not its variance."),
                           (p * p, "that is E[m]²; the variance is E[m²] − E[m]², and m² = m here."),
                           (0.25, "that is Var[m] with no bonus (p = 0.5); at +6, p = 0.8.")))


def _bonus_after_dc(dc: int, steps: int = 300) -> int:
    from rtt_edu.views.widgets import TrainingPanel
    panel = TrainingPanel(dataset="xor", lr=0.5, rules="lr-dropout", experience=True, xp_scale=20, seed=0)
    panel.step(steps)
    panel.controls["dc"].value = dc
    bonus = panel.history.steps[-1].modifier      # intelligence 10 adds 0: the modifier is the bonus
    panel.close()
    return bonus


def check_bonus_after_dc(answer, dc: int = 15) -> Feedback:
    """The proficiency bonus at step 300 of the lesson's panel after the DC is raised to ``dc``."""
    if answer is None:
        return Feedback(False, "replace `None` with a whole number (the bonus), then run the cell again.")
    expected = _bonus_after_dc(dc)
    return judge(answer, expected, "a whole number (the bonus)",
                 f"right: +{expected}. Fewer successful saves earn fewer XP, so the model climbs more slowly.",
                 "A higher DC means fewer successes, and only successes (and crits) earn XP.",
                 mistakes=((4, "that is the bonus at DC 11; at DC 15 fewer saves succeed."),), tol=0.5)
