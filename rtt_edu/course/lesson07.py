"""Lesson 7 (experience and levels): the lesson's self-checks.

The variance of ``lr-dropout`` at a bonus, the bonus a raised DC leaves, the proficiency bonus, a
level's mean and variance, XP per step: each compares an answer with the exact value computed by the
library (or a seeded panel run) and names the mistake it sees. The quiz (:data:`QUIZ`, :func:`check_quiz`)
asks about the ideas: what a bonus does to the crits, the drift and the noise, and how far a run may
stray from the exact numbers.
"""
from __future__ import annotations

from rtt_edu.course.checks import Feedback, Question, ask, judge, read_number
from rtt_edu.errors import require
from rtt_edu.game.rules import SavingThrow, as_rules
from rtt_edu.party.xp import MAX_LEVEL, proficiency_bonus

__all__ = ["check_dropout_variance", "check_bonus_after_dc", "check_proficiency_bonus", "check_level_mean",
           "check_first_level_below", "check_mean_xp_per_step", "QUIZ", "check_quiz"]


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


# --- exercises ----------------------------------------------------------------------------------

def check_proficiency_bonus(answer, level: int = 11) -> Feedback:
    """The 5e proficiency bonus at ``level``: 2 + (level - 1) // 4."""
    expected = proficiency_bonus(level)
    value = read_number(answer, "a whole number (the bonus)")
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
    return judge(answer, expected, "a number (the mean multiplier)",
                 f"right: with bonus +{bonus}, E[m] = {expected:.4f} (it is {rule.expected_multiplier():.4f} "
                 "with no bonus).",
                 f"At level {level} the bonus is +{bonus}. Try rule.with_bonus({bonus}).expected_multiplier(), "
                 "or count the faces k with k + bonus >= DC (crits still come from the natural 1 and 20).", tol=5e-4)


def check_first_level_below(answer, rule="lr-dropout", variance: float = 0.2) -> Feedback:
    """The first level whose exact Var[m] is below ``variance``."""
    rule = as_rules(rule)
    levels = [L for L in range(1, MAX_LEVEL + 1) if rule.with_bonus(proficiency_bonus(L)).variance() < variance]
    require(levels, "variance", variance, f"a variance that some level of {rule!r} gets below")
    expected = levels[0]
    value = read_number(answer, "a level from 1 to 20")
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
    return judge(answer, expected, "a number of XP",
                 f"right: {success_xp} × {probs['success']:.2f} + {crit_xp} × {probs['critical_success']:.2f} "
                 f"= {expected:.2f} XP per step.",
                 "A success earns success_xp, a critical success earns crit_xp instead (not both); "
                 "weight each by its exact probability.", tol=1e-3)


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="why classroom's variance barely moves with the level", right="c",
             why="The bonus moves faces between fail and success, but the natural 1 and 20 stay crits at "
                 "every level, and the crits' far-apart multipliers (−0.5 and 1) carry over half of the variance.",
             wrong={"a": "a bonus of +6 turns six of the twenty faces from fail to success: that is not small. "
                         "Look at which outcomes the bonus cannot touch.",
                    "b": "the bonus does change the drift (0.475 → 0.625), so it does act on the rule; ask "
                         "which outcomes carry the variance."}),
    Question(topic="what a bonus does to lr-dropout's effective learning rate", right="a",
             why="One more success face in twenty raises P(m = 1), hence E[m], by 0.05: each step is on average "
                 "larger, so lr · E[m] grows by lr · 0.05.",
             wrong={"b": "annealing here makes the steps less *random*, not smaller: a success is a full step "
                         "(m = 1), and there are more of them.",
                    "c": "E[m] = P(success) for lr-dropout; a bonus changes that probability, so it changes "
                         "the mean as well as the variance."}),
    Question(topic="whether seed-code's falling sd/E[m] is noise annealing", right="b",
             why="Its variance grows slightly with the bonus; sd/E[m] falls only because the drift rises "
                 "from almost nothing (0.005 → 0.0275), so the steps are as noisy as before.",
             wrong={"a": "noise per unit of drift can fall because the drift grows while the noise does not "
                         "fall at all: check what Var[m] itself does.",
                    "c": "a bonus does not always lower the variance: for seed-code it raises every success's "
                         "multiplier, (total − DC)/100, and Var[m] rises slightly."}),
    Question(topic="reading one bracket's (run − exact)/SE of +2.3", right="d",
             why="(run − exact)/SE behaves like a draw of a standard normal; one of five brackets beyond ±2 "
                 "happens about a fifth of the time by chance alone.",
             wrong={"a": "a single value a little past 2 is a common chance result among five; a wrong formula "
                         "would push every bracket the same way, by far more.",
                    "b": "the seed changes which dice fall, not whether the exact mean is right; a different seed "
                         "gives different values of the same size.",
                    "c": "the standard error already takes the number of steps into account: a bracket with "
                         "few steps has a larger SE, not larger (run − exact)/SE values."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
