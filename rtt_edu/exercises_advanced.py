"""Self-checks for lessons 5 to 9: each one compares an answer with the exact value and says why.

Every check returns a :class:`Feedback` that shows as one line in a notebook (``✅ ...`` or
``❌ ...`` with a hint) and is truthy only when the answer is right. The expected values are
computed from the library (rules, distributions), never typed in, so they stay right if the
rules change.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Feedback",
           # lesson 5
           "monster_strike_probability", "check_monster_strike", "check_ooze_factor", "check_fighter_clip",
           # lesson 6
           "check_proficiency_bonus", "check_level_mean", "check_first_level_below", "check_mean_xp_per_step",
           # lesson 7
           "check_sgd_gradient_ratio", "check_adam_first_step", "check_epoch_noise", "check_accumulation_rolls",
           # lesson 8
           "mask_posterior", "check_mask_probability", "check_context_best_accuracy", "check_best_word",
           # lesson 9
           "check_t_half_width", "check_seeds_needed", "check_verdict"]


@dataclass(frozen=True)
class Feedback:
    """The outcome of a self-check: ``ok`` and a message for the learner."""
    ok: bool
    message: str

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return ("✅ " if self.ok else "❌ ") + self.message

    def _repr_markdown_(self):
        return ("✅ " if self.ok else "❌ ") + self.message


def _number(answer, what: str):
    """The answer as a float, or a Feedback saying what is missing."""
    if answer is None:
        return Feedback(False, f"replace `None` with {what}, then run the cell again.")
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real) or not math.isfinite(float(answer)):
        return Feedback(False, f"answer={answer!r}: expected {what}.")
    return float(answer)


def _close(answer, expected: float, tol: float, what: str, right: str, hint: str) -> Feedback:
    value = _number(answer, what)
    if isinstance(value, Feedback):
        return value
    if abs(value - expected) <= tol:
        return Feedback(True, right)
    return Feedback(False, f"{value:g} is not it. {hint}")


# --- lesson 7: where the dice act -------------------------------------------------------------

def check_sgd_gradient_ratio(answer) -> Feedback:
    """Plain SGD, target="gradient", m = 0.25: the step is exactly 0.25 of the plain step."""
    return _close(answer, 0.25, 1e-4, "a number (the ratio of the actual change to the plain change)",
                  "right: for plain SGD, Δ = -lr·g, so scaling g by m scales Δ by exactly m.",
                  "For plain SGD the change is -lr·g. What happens to it when g is multiplied by m?")


def check_adam_first_step(answer) -> Feedback:
    """Adam's first step with a gradient scaled by -0.5 is the plain step with its sign flipped: ratio -1."""
    return _close(answer, -1.0, 0.01, "a number (the ratio, to two decimals)",
                  "right: on its first step Adam moves by -lr·g/(|g| + ε) ≈ -lr·sign(g). "
                  "The scale 0.5 cancels; only the sign survives.",
                  "On the first step m̂ = g and v̂ = g², so Δ = -lr·g/(|g| + ε). Put -0.5·g in place of g.")


def check_epoch_noise(answer, rule=None, batches: int = 64, window: int = 8) -> Feedback:
    """sd of the epoch's mean multiplier = sqrt(Var[m] / R), R = ceil(batches / window) rolls."""
    from .rules import as_rules
    rule = as_rules("classroom" if rule is None else rule)
    rolls = math.ceil(batches / window)
    expected = math.sqrt(rule.variance() / rolls)
    return _close(answer, expected, 5e-4, "a number (a standard deviation)",
                  f"right: {rolls} rolls per epoch, sd = sqrt({rule.variance():.6f} / {rolls}) = {expected:.4f}.",
                  f"How many rolls does the epoch make ({batches} batches, one roll per {window})? "
                  "The mean of R independent rolls has variance Var[m] / R.")


def check_accumulation_rolls(answer, batches: int = 100, window: int = 16) -> Feedback:
    """Rolls per epoch: one per full window plus one for a shorter last window = ceil(batches / window)."""
    expected = math.ceil(batches / window)
    value = _number(answer, "a whole number of rolls")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        return Feedback(True, f"right: {batches // window} full windows of {window} and a last window of "
                              f"{batches % window} batches, which is stepped too: {expected} rolls.")
    if value == batches // window:
        return Feedback(False, f"{value:g} counts the full windows only. The last {batches % window} batches "
                               "are a shorter window: are they stepped?")
    return Feedback(False, f"{value:g} is not it. One roll per optimizer step: how many steps does the epoch make?")


# --- lesson 6: experience and levels ----------------------------------------------------------

def check_proficiency_bonus(answer, level: int = 11) -> Feedback:
    """The 5e proficiency bonus at ``level``: 2 + (level - 1) // 4."""
    from .xp import proficiency_bonus
    expected = proficiency_bonus(level)
    value = _number(answer, "a whole number (the bonus)")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        return Feedback(True, f"right: 2 + ({level} - 1) // 4 = +{expected}.")
    return Feedback(False, f"{value:g} is not it. The bonus is +2 at levels 1-4 and grows by 1 every 4 levels.")


def check_level_mean(answer, rule="classroom", level: int = 9) -> Feedback:
    """E[m] of ``rule`` at ``level``: ``rule.with_bonus(proficiency_bonus(level)).expected_multiplier()``."""
    from .rules import as_rules
    from .xp import proficiency_bonus
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
    from .rules import as_rules
    from .xp import MAX_LEVEL, proficiency_bonus
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
    from .rules import as_rules
    probs = as_rules(rule).with_bonus(bonus).outcome_probabilities()
    expected = success_xp * probs["success"] + crit_xp * probs["critical_success"]
    return _close(answer, expected, 1e-3, "a number of XP",
                  f"right: {success_xp} × {probs['success']:.2f} + {crit_xp} × {probs['critical_success']:.2f} "
                  f"= {expected:.2f} XP per step.",
                  "A success earns success_xp, a critical success earns crit_xp instead (not both); "
                  "weight each by its exact probability.")


# --- lesson 8: a small BERT -------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _grammar():
    from .data.grammar import FantasyGrammar
    return FantasyGrammar()


def mask_posterior(context: str) -> dict:
    """Exact P(w | c) for a context such as ``"the wizard casts a [MASK]"`` (one ``[MASK]``; its length counts).

    P(w | c) = P(c with w) / Σ_w' P(c with w'), summed over the grammar's sentences that fit.
    """
    words = context.split()
    if words.count("[MASK]") != 1:
        raise ValueError(f"context={context!r}: expected a sentence with exactly one [MASK]")
    i = words.index("[MASK]")
    weights: dict = {}
    for sentence, p in _grammar().sentences.items():
        if len(sentence) == len(words) and all(a == b for j, (a, b) in enumerate(zip(sentence, words)) if j != i):
            weights[sentence[i]] = weights.get(sentence[i], Fraction(0)) + p
    if not weights:
        raise ValueError(f"context={context!r}: no sentence of the grammar fits this context")
    total = sum(weights.values())
    return {w: p / total for w, p in sorted(weights.items(), key=lambda kv: -kv[1])}


def check_mask_probability(answer, context: str = "the wizard casts a [MASK]", word: str = "fireball") -> Feedback:
    """The exact P(word | context) from the grammar."""
    expected = mask_posterior(context).get(word, Fraction(0))
    return _close(answer, float(expected), 1e-3, "a probability (a Fraction or a float)",
                  f"right: P({word} | {context!r}) = {expected}.",
                  "Only sentences of the same length with the same words around the mask count. Which rule "
                  "of the grammar chooses the hidden word, and with what probabilities?")


def check_context_best_accuracy(answer, context: str = "[MASK] wise knight slays a troll") -> Feedback:
    """The best accuracy on one context: max_w P(w | c)."""
    post = mask_posterior(context)
    word, expected = next(iter(post.items()))
    return _close(answer, float(expected), 1e-3, "a probability (a Fraction or a float)",
                  f"right: the best guess is {word!r}, right with probability {expected}; no model does better.",
                  "A perfect model always guesses the most likely word. How often is that word the right one?")


def check_best_word(answer, context: str = "the brave [MASK] heals a wounded knight") -> Feedback:
    """The Bayes-optimal guess: argmax_w P(w | c)."""
    post = mask_posterior(context)
    word, p = next(iter(post.items()))
    if answer is None:
        return Feedback(False, "replace `None` with a word in quotes, then run the cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected a word in quotes, such as 'wizard'.")
    if answer.strip().lower() == word:
        return Feedback(True, f"right: {word!r}, with probability {p}. The verb decides the hero, several words "
                              "away: that is the long-range dependency attention has to find.")
    if answer.strip().lower() in post:
        return Feedback(False, f"{answer!r} can appear there, but it is not the most likely word. "
                               "Which hero does this verb belong to?")
    return Feedback(False, f"{answer!r} never appears in this context. Look at the verb: whose verb is it?")


# --- lesson 5: monsters -----------------------------------------------------------------------

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
    from .xp import proficiency_bonus
    expected = 2 * max_norm / proficiency_bonus(level)
    return _close(answer, expected, 1e-3, "a number (a gradient norm)",
                  f"right: 2 × {max_norm:g} / {proficiency_bonus(level)} = {expected:.4f}: the armour tightens as the "
                  "proficiency bonus grows.",
                  "The armour norm is 2 × max_norm / proficiency_bonus(level); the bonus at level 5 is +3.")


# --- lesson 9: experiments --------------------------------------------------------------------

def check_t_half_width(answer, differences=(0.012, -0.004, 0.009, 0.015, 0.003), confidence: float = 0.95) -> Feedback:
    """Half-width of the t interval of the mean difference: t(1 - α/2; n - 1) · s / √n."""
    import statistics

    from .experiments import t_interval, t_quantile
    interval = t_interval(differences, confidence)
    expected = (interval.hi - interval.lo) / 2
    n = len(differences)
    z_width = 1.959963984540054 * statistics.stdev(differences) / math.sqrt(n)
    population = t_quantile(0.5 + confidence / 2, n - 1) * statistics.pstdev(differences) / math.sqrt(n)
    value = _number(answer, "a number (the half-width of the interval)")
    if isinstance(value, Feedback):
        return value
    if abs(value - expected) <= 5e-5:
        return Feedback(True, f"right: t({0.5 + confidence / 2:.3f}; {n - 1}) = {t_quantile(0.5 + confidence / 2, n - 1):.4f}, "
                              f"s = {statistics.stdev(differences):.5f}, half-width = {expected:.5f}.")
    if abs(value - z_width) <= 5e-5:
        return Feedback(False, f"{value:g} uses 1.96, the normal quantile. With {n} seeds use Student's t with "
                               f"{n - 1} degrees of freedom: t_quantile({0.5 + confidence / 2}, {n - 1}).")
    if abs(value - population) <= 5e-5:
        return Feedback(False, f"{value:g} uses the population standard deviation (divide by n). "
                               "The sample standard deviation divides by n - 1: statistics.stdev.")
    return Feedback(False, f"{value:g} is not it. Half-width = t(1 - α/2; n - 1) × s / √n, with s the sample "
                           "standard deviation of the differences.")


def check_seeds_needed(answer, sd: float = 0.01, half_width: float = 0.002, confidence: float = 0.95) -> Feedback:
    """The fewest seeds n with t(1 - α/2; n - 1) · sd / √n <= half_width."""
    from .experiments import t_quantile
    q = 0.5 + confidence / 2
    n = 2
    while t_quantile(q, n - 1) * sd / math.sqrt(n) > half_width:
        n += 1
    normal = math.ceil((1.959963984540054 * sd / half_width) ** 2)
    value = _number(answer, "a whole number of seeds")
    if isinstance(value, Feedback):
        return value
    if value == n:
        return Feedback(True, f"right: {n} seeds give half-width {t_quantile(q, n - 1) * sd / math.sqrt(n):.6f}, "
                              f"{n - 1} give {t_quantile(q, n - 2) * sd / math.sqrt(n - 1):.6f}. Halving the width "
                              "costs four times the seeds.")
    if value == normal:
        return Feedback(False, f"{value:g} uses 1.96 for every n. Student's t is a little larger for a finite "
                               "number of seeds, so you need slightly more.")
    if value > n:
        return Feedback(False, f"{value:g} seeds are enough, but fewer would do: find the smallest n.")
    return Feedback(False, f"{value:g} seeds are not enough: t(1 - α/2; n - 1) × sd / √n is still above {half_width:g}.")


def check_verdict(answer, lo: float = -0.004, hi: float = 0.011, better: str = "lower") -> Feedback:
    """Which verdict an interval [lo, hi] of (arm - plain) supports: 'better', 'worse' or 'no difference'."""
    from .experiments import Interval, verdict
    expected = verdict(Interval((lo + hi) / 2, lo, hi, 0.95, "t", 2), better).split(":")[0]
    if answer is None:
        return Feedback(False, "replace `None` with 'better', 'worse' or 'no difference', then run the cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected 'better', 'worse' or 'no difference'.")
    given = answer.strip().lower()
    given = "no difference detected" if given.startswith("no difference") else given
    if given == expected:
        return Feedback(True, f"right: {expected}. " + (
            f"The interval [{lo:+g}, {hi:+g}] contains 0, and it also says a difference larger than "
            f"{max(abs(lo), abs(hi)):g} is unlikely: that is the useful half of the answer."
            if expected.startswith("no") else f"The whole interval [{lo:+g}, {hi:+g}] is on one side of 0."))
    return Feedback(False, f"{answer!r} is not it. Is 0 inside [{lo:+g}, {hi:+g}]? If not, which side is better "
                           f"when {better} is better?")
