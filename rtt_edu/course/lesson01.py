"""Lesson 1 (dice): exact means of dice distributions and the lesson's self-checks.

Probabilities of a d20, ability modifiers, mean totals, the DC of a mean: each check compares an
answer with the exact value computed by the library and names the mistake it sees. The quiz
(:data:`QUIZ`, :func:`check_quiz`) asks about the ideas: what the DC does to the drift, crits against
modifiers, what disadvantage costs, and what a temperature of 0 means.

    from rtt_edu.course import lesson01 as c1
    c1.mean_of(total_distribution("2d6+3"))      # Fraction(10, 1)
    c1.check_twenty_with_advantage(39 / 400)     # ✔ ...
    c1.check_at_least(0.3, target=15)            # ✔ right: P = 3/10 = 0.3000 (rolled once).
"""
from __future__ import annotations

from fractions import Fraction

from rtt_edu.course.checks import Feedback, Question, ask, judge, read_number
from rtt_edu.errors import require
from rtt_edu.game.dice import ability_modifier, natural_distribution, total_distribution
from rtt_edu.game.rules import as_rules

__all__ = ["mean_of", "p_at_least", "check_twenty_with_advantage", "check_at_least", "check_ability_modifier",
           "check_mean_total", "check_smallest_dc", "QUIZ", "check_quiz"]


def mean_of(distribution: dict) -> Fraction:
    """E[X] = Σ x P(x) of a ``{value: probability}`` dict (exact for ``Fraction`` probabilities)."""
    return sum((Fraction(x) * p for x, p in distribution.items()), Fraction(0))


def p_at_least(target: int, sides: int = 20, modifier: int = 0, advantage: bool = False,
               disadvantage: bool = False) -> Fraction:
    """Exact P(natural + modifier >= target) for one die, with advantage or disadvantage."""
    faces = natural_distribution(sides, advantage, disadvantage)
    return sum((p for k, p in faces.items() if k + modifier >= target), Fraction(0))


# --- predict, then check ------------------------------------------------------------------------

def check_twenty_with_advantage(answer) -> Feedback:
    """P(natural = 20) when a d20 is rolled with advantage: 1 − (19/20)² = 39/400."""
    expected = float(natural_distribution(20, advantage=True)[20])
    return judge(answer, expected, "a probability between 0 and 1 (a fraction like 1/20 is fine)",
                 f"right: the higher of two dice is 20 unless both miss it: 1 − (19/20)² = 39/400 = {expected:.4f}, "
                 "almost twice 1/20.",
                 "Advantage fails to show a 20 only when both dice miss it: 1 − P(both miss).",
                 mistakes=((2 / 20, "2/20 counts the case where both dice show 20 twice; subtract it: 1 − (19/20)²."),
                           (1 / 400, "1/400 is both dice showing 20; one of the two is enough."),
                           (1 / 20, "that is one die; with two dice a 20 is more likely.")))


# --- exercises ----------------------------------------------------------------------------------

def _probability_mistakes(expected: float) -> list:
    return [(100 * expected, "that looks like a percentage. Give a probability between 0 and 1."),
            (1 - expected, "that is the chance of the opposite event. Count the faces that reach the target.")]


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
                         f"that ignores the modifier {modifier:+d}. A face k succeeds when "
                         f"k {modifier:+d} >= {target}."))
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
    expected = mean_of(total_distribution(notation))
    return judge(answer, expected, "a number (the average total)",
                 f"right: E[{notation}] = {float(expected):.4f}"
                 + (f" = {expected}." if expected.denominator > 1 else "."),
                 "One d s averages (s + 1) / 2; averages of dice add up, and so does the modifier. "
                 "A keep rule needs the whole distribution: total_distribution(notation).",
                 tol=5e-3)


def check_smallest_dc(answer, rule="classroom", below: float = 0.4, **changes) -> Feedback:
    """The smallest DC (1..sides + 10) at which the rule's E[m] is below ``below``.

    ``changes`` change the rule first, e.g. ``advantage=True``.
    """
    rule = as_rules(rule)
    if changes:
        rule = rule.replace(**changes)

    def exact_mean(r):     # exact: at DC 14 the classroom mean is 2/5, which a float sum puts below 0.4
        return sum((Fraction(m) * p for m, p in r.distribution(exact=True).items()), Fraction(0))
    limit = Fraction(str(below))
    exact = {dc: exact_mean(rule.replace(dc=dc)) for dc in range(1, rule.sides + 11)}
    means = {dc: float(mean) for dc, mean in exact.items()}
    found = [dc for dc, mean in exact.items() if mean < limit]
    require(found, "below", below, f"a mean that E[m] of {rule!r} falls below at some DC")
    expected = found[0]
    value = read_number(answer, "a whole number (a DC)")
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


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="what raising classroom's DC by 1 does to E[m]", right="a",
             why="At DC 11 to 20 one more DC moves exactly one face, of probability 1/20, from success (0.75) "
                 "to fail (0.25): E[m] falls by (0.75 − 0.25)/20 = 0.025.",
             wrong={"b": "the multipliers of the bands are fixed by the rule (0.75 for a success); a harder save "
                         "only makes successes rarer.",
                    "c": "the DC decides which faces succeed, and so how often each multiplier comes up: the "
                         "mean is each m times how often it comes up.",
                    "d": "0.5 is the gap between a success and a fail, but only one face in twenty changes band: "
                         "weigh the gap by that face's probability."}),
    Question(topic="a natural 1 with a large modifier", right="b",
             why="A critical is read from the natural face: a natural 1 is a critical failure whatever the "
                 "modifier, so m = −0.5 even though 1 + 12 reaches DC 11.",
             wrong={"a": "1 + 12 = 13 does reach the DC, but a natural 1 is read before the total: it is a "
                         "critical failure whatever is added.",
                    "c": "a modifier cannot soften a natural 1: crits depend on the face the die shows, not on "
                         "what is added to it."}),
    Question(topic="which save disadvantage hurts more, p = 0.9 or p = 0.5", right="a",
             why="Disadvantage turns p into p²: 0.5 drops to 0.25 (−0.25), 0.9 only to 0.81 (−0.09). Like "
                 "advantage, it matters most in the middle of the die.",
             wrong={"b": "the mean of the natural face does fall by about 3.3, but a probability of reaching a "
                         "target falls from p to p², which depends on p.",
                    "c": "a likely save needs both dice to make it, and each one nearly always does: 0.9² = "
                         "0.81 loses only 0.09."}),
    Question(topic="what a temperature Var[m] of 0 means", right="a",
             why="Var[m] = 0 means m never scatters: every step is exactly 0.5 of a plain step, which is plain "
                 "training at half the learning rate.",
             wrong={"b": "the temperature says how much m scatters, not how large it is; the drift E[m] = 0.5 is "
                         "the size of the steps.",
                    "c": "a variance of 0 means no scatter at all: every m is the mean, 0.5.",
                    "d": "m = 0.5 is positive on every face, so no step goes uphill."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
