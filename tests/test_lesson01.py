"""Lesson 1's code (rtt_edu.course.lesson01): exact probabilities of a d20 against counting, and its
self-checks: right answers pass, each known mistake gets its own hint."""
import itertools
from fractions import Fraction

import pytest

from helpers import fails, passes
from rtt_edu import SavingThrow
from rtt_edu.course import lesson01 as c1
from rtt_edu.errors import RollToTrainError
from rtt_edu.game.dice import total_distribution


def test_p_at_least_by_counting_pairs():
    for target, mod in ((15, 0), (15, 3), (2, -1), (25, 0)):
        straight = Fraction(sum(1 for k in range(1, 21) if k + mod >= target), 20)
        pairs = list(itertools.product(range(1, 21), repeat=2))
        adv = Fraction(sum(1 for a, b in pairs if max(a, b) + mod >= target), 400)
        dis = Fraction(sum(1 for a, b in pairs if min(a, b) + mod >= target), 400)
        assert c1.p_at_least(target, modifier=mod) == straight
        assert c1.p_at_least(target, modifier=mod, advantage=True) == adv
        assert c1.p_at_least(target, modifier=mod, disadvantage=True) == dis


def test_mean_of_a_dice_distribution_is_exact():
    assert c1.mean_of(total_distribution("2d6+3")) == 10
    assert c1.mean_of(total_distribution("4d6kh3")) == Fraction(15869, 1296)
    assert c1.mean_of({0: Fraction(1, 3), 3: Fraction(2, 3)}) == 2


def test_check_at_least():
    assert "3/10" in passes(c1.check_at_least(0.3, target=15))
    passes(c1.check_at_least(Fraction(3, 10), target=15))
    passes(c1.check_at_least(0.51, target=15, advantage=True))
    passes(c1.check_at_least(0.09, target=15, disadvantage=True))
    fails(c1.check_at_least(30, target=15), "percentage")
    fails(c1.check_at_least(0.7, target=15), "opposite")
    fails(c1.check_at_least(0.3, target=15, advantage=True), "single die")
    fails(c1.check_at_least(0.6, target=15, advantage=True), "doubling")
    fails(c1.check_at_least(0.3, target=15, modifier=2), "modifier +2")
    fails(c1.check_at_least(0.42, target=15), "faces")
    fails(c1.check_at_least(None), "replace `None`")
    fails(c1.check_at_least("0.3"), "expected a probability")
    fails(c1.check_at_least(True), "expected a probability")


def test_check_ability_modifier():
    passes(c1.check_ability_modifier(-1, score=9))
    fails(c1.check_ability_modifier(0, score=9), "rounded *down*")
    fails(c1.check_ability_modifier(-2, score=8), "score - 10")
    fails(c1.check_ability_modifier(-3, score=7), "Halve it")           # -1.5 rounds down to -2
    passes(c1.check_ability_modifier(3, score=16))
    fails(c1.check_ability_modifier(6, score=16), "score - 10")


def test_check_mean_total():
    passes(c1.check_mean_total(10, "2d6+3"))
    passes(c1.check_mean_total(15869 / 1296, "4d6kh3"))
    fails(c1.check_mean_total(10.5, "4d6kh3"), "keep rule")


def test_check_smallest_dc():
    # classroom: E[m] = 0.475 at DC 11 and falls by 0.025 per DC: 0.4 at DC 14, 0.375 at DC 15
    passes(c1.check_smallest_dc(15, "classroom", below=0.4))
    fails(c1.check_smallest_dc(16, "classroom", below=0.4), "smaller")
    fails(c1.check_smallest_dc(14, "classroom", below=0.4), "Raise the DC")
    fails(c1.check_smallest_dc(99, "classroom", below=0.4), "not a DC")
    means = {dc: SavingThrow.preset("classroom", advantage=True, dc=dc).expected_multiplier() for dc in range(1, 31)}
    dcs = [dc for dc, mean in means.items() if mean < 0.4]
    passes(c1.check_smallest_dc(dcs[0], "classroom", below=0.4, advantage=True))
    with pytest.raises(RollToTrainError, match="below="):
        c1.check_smallest_dc(1, "classroom", below=-1.0)


def test_check_twenty_with_advantage():
    assert c1.check_twenty_with_advantage(39 / 400)
    fails(c1.check_twenty_with_advantage(1 / 20), "one die")
    fails(c1.check_twenty_with_advantage(2 / 20), "subtract")
    fails(c1.check_twenty_with_advantage(1 / 400), "both dice")
    fails(c1.check_twenty_with_advantage(None), "replace `None`")


def test_each_exercise_names_its_mistakes():
    passes(c1.check_at_least(0.16, target=15, modifier=2, disadvantage=True))
    fails(c1.check_at_least(0.09, target=15, modifier=2, disadvantage=True), "ignores the modifier")
    fails(c1.check_at_least(0.4, target=15, modifier=2, disadvantage=True), "single die")
    fails(c1.check_at_least(0.2, target=15, modifier=2, disadvantage=True), "halving")
    fails(c1.check_at_least(16, target=15, modifier=2, disadvantage=True), "percentage")
    fails(c1.check_mean_total(None, "2d6+3"), "replace `None`")
    fails(c1.check_mean_total(7, "2d6+3"), "modifier")
    fails(c1.check_ability_modifier(None), "replace `None`")
    fails(c1.check_smallest_dc(None, "classroom", below=0.4, advantage=True), "replace `None`")
    passes(c1.check_smallest_dc(19, "classroom", below=0.4, advantage=True))
    fails(c1.check_smallest_dc(18, "classroom", below=0.4, advantage=True), "Raise the DC")


def test_lesson1_quiz_knows_each_letter():
    assert [q.right for q in c1.QUIZ] == ["a", "b", "a", "a"] and 3 <= len(c1.QUIZ) <= 5
    with pytest.raises(RollToTrainError, match="number"):
        c1.check_quiz("a", len(c1.QUIZ) + 1)


def test_lesson1_quiz_answers_are_the_exact_numbers():
    classroom = SavingThrow.preset("classroom")
    drop = classroom.expected_multiplier() - classroom.replace(dc=12).expected_multiplier()
    assert drop == pytest.approx(0.025)                                       # question 1: (a)
    assert SavingThrow.preset("classroom", modifier=12).multiplier(1) == -0.5  # question 2: (b)
    loss = {p: p - p * p for p in (0.9, 0.5)}                                  # question 3: p − p²
    assert loss[0.5] > loss[0.9]


def test_the_distribution_figure_labels_every_stem_and_names_only_the_signs_it_shows():
    import matplotlib
    matplotlib.use("Agg")
    from rtt_edu.views.plots import plot_distribution
    from rtt_edu.views.widgets import rule_verdict
    rule = SavingThrow.preset("classroom", dc=15, advantage=True)
    ax = plot_distribution(rule).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["m < 0: uphill", "m > 0: downhill", "E[m]", "m = 1, a plain step"]    # no "skipped"
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.25%", "48.75%", "41.25%", "9.75%"])
    assert "P(ascent) = 0.25%" in ax.get_title() and "0.25% of steps go uphill" in rule_verdict(rule)
    (ascent,) = [line for line in ax.lines if line.get_label() == "m < 0: uphill"]
    assert not ascent.get_clip_on()                       # the marker of a 0.25 % stem shows whole on the axis
    skip = plot_distribution("lr-dropout").axes[0]
    assert "m = 0: skipped" in [t.get_text() for t in skip.get_legend().get_texts()]
