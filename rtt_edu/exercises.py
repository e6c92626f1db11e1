"""Self-checks for lessons 1 to 4: each compares an answer with the exact value and says what is wrong.

    from rtt_edu import exercises as ex
    ex.check_mean(0.475, "classroom")        # ✅ right: E[m] = Σ P(m)·m = 0.4750 ...
    ex.check_mean(0.5, "classroom")          # ❌ 0.5 is not it. ... (a hint)

Every check returns a :class:`~rtt_edu.exercises_advanced.Feedback` (the same as lessons 5 to 9):
it shows as one line in a notebook, and ``bool(feedback)`` is True only when the answer is right.
Expected values are computed from the library (dice, rules, :mod:`rtt_edu.quadratic`), never
typed in. Each check knows the usual mistakes (a percentage instead of a probability, the chance
of failing instead of succeeding, E[m²] instead of the variance, ...) and names the one it sees.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .dice import ability_modifier, natural_distribution
from .exercises_advanced import Feedback, _number
from .rules import as_rules

__all__ = ["Feedback", "judge",
           # lesson 1: dice
           "p_at_least", "check_at_least", "check_ability_modifier", "check_mean_total", "check_smallest_dc",
           # lesson 2: the straight line
           "check_mean", "check_variance", "check_step_factor", "check_converges", "check_largest_lr",
           # lesson 3: a toy MLP
           "check_effective_lr", "check_expected_count",
           # lesson 4: character classes
           "TECHNIQUES", "check_technique", "check_sneak_factor", "check_armour_norm", "check_class_mean"]


def judge(answer, expected: float, what: str, right: str, hint: str, mistakes=(), tol: float = 1e-3) -> Feedback:
    """Compare a numeric ``answer`` with ``expected`` (absolute tolerance ``tol``).

    ``mistakes`` is a sequence of ``(value, message)`` pairs: an answer within ``tol`` of known
    wrong values gets their messages (in order); any other wrong answer gets ``hint``.
    """
    value = _number(answer, what)
    if isinstance(value, Feedback):
        return value
    if abs(value - float(expected)) <= tol:
        return Feedback(True, right)
    seen = [message for wrong, message in mistakes if wrong is not None and abs(value - float(wrong)) <= tol]
    if seen:    # two mistakes can give the same number: name both
        return Feedback(False, f"{value:g} is not it: " + " Or: ".join(dict.fromkeys(seen)))
    return Feedback(False, f"{value:g} is not it. {hint}")


def _probability_mistakes(expected: float) -> list:
    return [(100 * expected, "that looks like a percentage. Give a probability between 0 and 1."),
            (1 - expected, "that is the chance of the opposite event. Count the faces that reach the target.")]


# --- lesson 1: dice ---------------------------------------------------------------------------

def p_at_least(target: int, sides: int = 20, modifier: int = 0, advantage: bool = False,
               disadvantage: bool = False) -> Fraction:
    """Exact P(natural + modifier >= target) for one die, with advantage or disadvantage."""
    faces = natural_distribution(sides, advantage, disadvantage)
    return sum((p for k, p in faces.items() if k + modifier >= target), Fraction(0))


def check_at_least(answer, target: int = 15, sides: int = 20, modifier: int = 0, advantage: bool = False,
                   disadvantage: bool = False) -> Feedback:
    """P(d``sides`` + ``modifier`` >= ``target``), rolled straight, with advantage or with disadvantage."""
    expected = p_at_least(target, sides, modifier, advantage, disadvantage)
    straight = p_at_least(target, sides, modifier)
    how = "with advantage" if advantage else "with disadvantage" if disadvantage else "rolled once"
    faces = sides - max(0, min(sides, target - modifier - 1))
    right = f"right: P = {expected} = {float(expected):.4f} ({how})."
    if advantage:
        right += f" One die gives {straight}; two chances give 1 - (1 - {straight})² = {expected}."
    elif disadvantage:
        right += f" One die gives {straight}; both dice must reach it: ({straight})² = {expected}."
    mistakes = _probability_mistakes(float(expected))
    if modifier:
        mistakes.append((float(p_at_least(target, sides, 0, advantage, disadvantage)),
                         f"that ignores the modifier {modifier:+d}. A face k succeeds when k {modifier:+d} >= {target}."))
    if advantage or disadvantage:
        mistakes.append((float(straight), f"that is a single die. {how.capitalize()} you roll two and keep the "
                                          f"{'higher' if advantage else 'lower'}."))
        mistakes.append((float(2 * straight if advantage else straight / 2),
                         "doubling or halving is not how two dice combine: think of P(both dice miss) "
                         "for advantage, P(both dice reach it) for disadvantage."))
    return judge(answer, expected, "a probability between 0 and 1 (a fraction like 6/20 is fine)", right,
                 f"On a straight d{sides} each face has probability 1/{sides}, and {faces} faces reach {target} "
                 f"with modifier {modifier:+d}." + (" Then combine the two dice." if advantage or disadvantage else ""),
                 mistakes, tol=5e-4)


def check_ability_modifier(answer, score: int = 9) -> Feedback:
    """The 5e ability modifier of ``score``: (score - 10) // 2, rounded down."""
    expected = ability_modifier(score)
    toward_zero = int((score - 10) / 2)
    mistakes = [(toward_zero, f"(score - 10) / 2 = {(score - 10) / 2:g} is rounded *down* in 5e (toward -∞), "
                              "not toward zero.")] if toward_zero != expected else []
    mistakes.append((score - 10, "that is score - 10. Halve it, rounding down."))
    return judge(answer, expected, "a whole number (the modifier)",
                 f"right: ({score} - 10) // 2 = {expected:+d}. Intelligence {score} adds {expected:+d} to every save.",
                 "The modifier is (score - 10) / 2, rounded down.", mistakes, tol=0)


def check_mean_total(answer, notation: str = "2d6+3") -> Feedback:
    """The exact mean total of a dice notation (``"2d6+3"`` → 10, ``"4d6kh3"`` → 15869/1296)."""
    from .lessons_support import mean_of, total_distribution
    expected = mean_of(total_distribution(notation))
    return judge(answer, expected, "a number (the average total)",
                 f"right: E[{notation}] = {float(expected):.4f}" + (f" = {expected}." if expected.denominator > 1 else "."),
                 "One d s averages (s + 1) / 2; averages of dice add up, and so does the modifier. "
                 "A keep rule needs the whole distribution: total_distribution(notation).",
                 tol=5e-3)


def check_smallest_dc(answer, rule="classroom", below: float = 0.4, **changes) -> Feedback:
    """The smallest DC (1..sides + 10) at which the rule's E[m] is below ``below`` (``changes``: e.g. advantage=True)."""
    rule = as_rules(rule)
    if changes:
        rule = rule.replace(**changes)
    def exact_mean(r):     # exact: at DC 14 the classroom mean is 2/5, which a float sum puts below 0.4
        return sum((Fraction(m) * p for m, p in r.distribution(exact=True).items()), Fraction(0))
    limit = Fraction(str(below))
    exact = {dc: exact_mean(rule.replace(dc=dc)) for dc in range(1, rule.sides + 11)}
    means = {dc: float(mean) for dc, mean in exact.items()}
    found = [dc for dc, mean in exact.items() if mean < limit]
    if not found:
        raise ValueError(f"below={below!r}: E[m] of {rule!r} is never below it")
    expected = found[0]
    value = _number(answer, "a whole number (a DC)")
    if isinstance(value, Feedback):
        return value
    if value == expected:
        return Feedback(True, f"right: at DC {expected} E[m] = {means[expected]:.4f}; at DC {expected - 1} it is "
                              f"{means.get(expected - 1, float('nan')):.4f}.")
    if value == int(value) and int(value) in means:
        shown = means[int(value)]
        if exact[int(value)] < limit:
            return Feedback(False, f"at DC {value:g} E[m] = {shown:.4f} is below {below:g}, but so is it at a smaller "
                                   "DC. Move the DC slider down until it is not.")
        return Feedback(False, f"at DC {value:g} E[m] = {shown:.4f}, not below {below:g} yet. Raise the DC.")
    return Feedback(False, f"{value:g} is not a DC of this die. Try the DC slider of the DicePanel.")


# --- lesson 2: drift, temperature and the straight line -----------------------------------------

def check_mean(answer, rule="classroom") -> Feedback:
    """E[m] = Σ P(m)·m of a rule (the drift)."""
    rule = as_rules(rule)
    dist = rule.distribution()
    expected = rule.expected_multiplier()
    probs = rule.outcome_probabilities()
    mistakes = [(-expected, "the sign is flipped. A crit fail with m = -1 pulls the mean *down*."),
                (sum(dist) / len(dist), "that is the average of the distinct values of m; weight each by its "
                                        "probability."),
                (probs["success"] + probs["critical_success"], "that is P(success), not the mean multiplier.")]
    return judge(answer, expected, "a number (the mean multiplier)",
                 f"right: E[m] = Σ P(m)·m = {expected:.4f}: the drift. On average a step moves {expected:.4f} "
                 "of a plain step.",
                 "List the values of m with their probabilities (rule.distribution()) and sum P(m)·m.",
                 mistakes, tol=5e-4)


def check_variance(answer, rule="classroom") -> Feedback:
    """Var[m] = Σ P(m)·(m - E[m])² of a rule (the temperature)."""
    rule = as_rules(rule)
    expected, mean = rule.variance(), rule.expected_multiplier()
    mistakes = [(expected + mean ** 2, f"that is E[m²]. Subtract E[m]² = {mean ** 2:.4f}."),
                (math.sqrt(expected), "that is the standard deviation. The variance is its square.")]
    return judge(answer, expected, "a number (the variance)",
                 f"right: Var[m] = E[m²] - E[m]² = {expected:.4f}: the temperature of this random learning rate.",
                 "Var[m] = Σ P(m)·(m - E[m])², or E[m²] - E[m]².", mistakes, tol=5e-4)


def check_step_factor(answer, lr: float = 0.1, m: float = 0.75, curvature: float = 2.0) -> Feedback:
    """One step on a/2·(w - w*)² multiplies the error by 1 - lr·a·m."""
    from .quadratic import step_factor
    expected = step_factor(lr, m, curvature)
    mistakes = [(lr * curvature * m, "that is how much of the error the step removes, not what is left."),
                (1 + lr * curvature * m, "the sign: a step with m > 0 goes *down* the gradient a·(w - w*)."),
                (1 - lr * m, f"the curvature a = {curvature:g} is missing: the gradient is a·(w - w*).")]
    return judge(answer, expected, "a number (the factor)",
                 f"right: w - w* becomes (1 - {lr:g}·{curvature:g}·{m:g})·(w - w*) = {expected:g}·(w - w*).",
                 "Write one SGD step, w ← w - lr·m·a·(w - w*), and subtract w* on both sides.", mistakes, tol=1e-6)


def check_converges(answer, rule="seed-readme", lr: float = 1.0, curvature: float = 1.0) -> Feedback:
    """Does almost every run converge? True when λ = E[log|1 - lr·a·m|] < 0."""
    from .quadratic import lyapunov_exponent
    rule = as_rules(rule)
    lam = lyapunov_exponent(rule, lr, curvature)
    expected = lam < 0
    if not isinstance(answer, bool):
        return Feedback(False, "answer with True (almost every run converges) or False."
                        if answer is None else f"answer={answer!r}: expected True or False.")
    mean = rule.expected_multiplier()
    why = ("λ = -∞: some roll makes 1 - lr·a·m = 0 and lands exactly on w*, which happens with positive "
           "probability every step" if lam == -math.inf else f"λ = E[log|1 - lr·a·m|] = {lam:+.4f}")
    if answer == expected:
        return Feedback(True, f"right: {why}, so almost every run {'converges' if expected else 'diverges'} "
                              f"(while E[m] = {mean:+.4f}).")
    if answer == (mean > 0):
        return Feedback(False, f"the sign of E[m] ({mean:+.4f}) is not the verdict. Compute λ = Σ P(m)·log|1 - lr·a·m| "
                               "with quadratic.lyapunov_exponent.")
    return Feedback(False, "not this time. Compute λ = Σ P(m)·log|1 - lr·a·m|: negative means converges.")


def check_largest_lr(answer, rule="lr-dropout", curvature: float = 1.0) -> Feedback:
    """The end of the stable range: every lr in (0, lr_max) converges almost surely, lr_max does not.

    That is the first interval of :func:`rtt_edu.quadratic.convergence_intervals` (for a rule
    with E[m] >= 0 it starts at 0). Islands further out, around lr = 1/(a·m), do not count.
    """
    from .quadratic import convergence_intervals, mean_square_limit
    rule = as_rules(rule)
    intervals = convergence_intervals(rule, curvature)
    if not intervals or intervals[0][0] != 0.0:
        raise ValueError(f"rule={rule!r}: small learning rates do not converge (E[m] < 0), so there is no "
                         "stable range (0, lr_max)")
    expected = intervals[0][1]
    mean = rule.expected_multiplier()
    mistakes = [(mean_square_limit(rule, curvature), "that is where E[error²] stops shrinking (the mean-square "
                                                     "limit 2E[m]/(a·E[m²])). Almost-sure convergence goes further."),
                (2.0 / (curvature * mean) if mean > 0 else None,
                 "that is where the *average* run stops converging (lr·a·E[m] = 2). The typical run is decided "
                 "by E[log|1 - lr·a·m|], not by E[m]."),
                (2.0 / curvature, "that is plain gradient descent's limit 2/a, as if every roll gave m = 1.")]
    return judge(answer, expected, "a learning rate", f"right: λ crosses 0 at lr = {expected:.4f}; just above it "
                 "almost every run diverges.", "Find where λ(lr) = Σ P(m)·log|1 - lr·a·m| first turns positive "
                 "(quadratic.convergence_intervals).", mistakes, tol=1e-3)


# --- lesson 3: a toy MLP -------------------------------------------------------------------------

def check_effective_lr(answer, rule="classroom", lr: float = 0.1) -> Feedback:
    """On average the dice train at lr·E[m]: the drift folded into the learning rate."""
    rule = as_rules(rule)
    expected = lr * rule.expected_multiplier()
    return judge(answer, expected, "a learning rate",
                 f"right: lr·E[m] = {lr:g}·{rule.expected_multiplier():.4f} = {expected:.4f}. The rest of each "
                 "step is noise around it.",
                 "Each step is m times the plain step, so on average it is E[m] times it.",
                 [(lr, "that is the plain learning rate. The dice scale every step by m."),
                  (rule.expected_multiplier(), f"that is E[m]. Multiply by the learning rate {lr:g}.")],
                 tol=5e-4)


_COUNTED = {"skipped": ("p_skip", "steps with m = 0 (skipped)"),
            "uphill": ("p_ascent", "steps with m < 0 (uphill)")}


def check_expected_count(answer, rule="seed-code", steps: int = 300, kind: str = "skipped") -> Feedback:
    """The expected number of skipped (m = 0) or uphill (m < 0) steps in ``steps`` steps: steps · P."""
    if kind not in _COUNTED:
        raise ValueError(f"kind={kind!r}: expected one of {sorted(_COUNTED)}")
    rule = as_rules(rule)
    method, label = _COUNTED[kind]
    p = getattr(rule, method)()
    expected = steps * p
    return judge(answer, expected, "a number of steps",
                 f"right: {steps} · {p:.4f} = {expected:.2f} {label} on average.",
                 f"Each step is one roll: the count is steps · P, with P from rule.{method}().",
                 [(p, f"that is the probability of one step. Multiply by {steps} steps."),
                  (steps * (1 - p), "that counts the other steps.")], tol=0.05)


# --- lesson 4: character classes ----------------------------------------------------------------

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
    from .classes import Rogue
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
    from .xp import proficiency_bonus
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
    """E[m] of ``rules`` while ``character_class`` acts on every turn (see ``lessons_support.class_distribution``)."""
    from .lessons_support import class_distribution
    rule = as_rules(rules)
    dist = class_distribution(character_class, rule)
    expected = math.fsum(m * p for m, p in dist.items())
    name = type(character_class).__name__
    return judge(answer, expected, "a number (the mean multiplier)",
                 f"right: with the {name}, E[m] = {expected:.4f} (without it {rule.expected_multiplier():.4f}).",
                 f"Go face by face: which faces does the {name} change, and to what? Then sum P(m)·m.",
                 [(rule.expected_multiplier(), f"that is E[m] without the {name}.")], tol=5e-4)
