"""The set-up code and predict-then-check self-checks of lessons 5 to 9 (rtt_edu.course.lesson05-09)."""
import csv
import math
from fractions import Fraction
from types import SimpleNamespace

import pytest

from rtt_edu.course import lesson05, lesson06, lesson07, lesson08, lesson09
from rtt_edu.game.rules import SavingThrow
from rtt_edu.science.stats import bootstrap_interval, t_interval


def _history(losses):
    return SimpleNamespace(losses=losses)


AT, W = lesson05.AT, lesson05.WINDOW
BASE = [0.5] * (AT + W + 10)


@pytest.mark.parametrize("after,expected", [
    ([0.5] * (W + 10), "unharmed"),                               # the undisturbed run itself
    ([0.6] * (W + 10), "slowed"),                                 # above the base, never 2 x before
    ([5.0] + [0.5] * (W + 9), "repaired"),                        # a spike, back within 25% 20-40 steps on
    ([5.0] + [2.0] * (W + 9), "hurt"),                            # a spike that stays
])
def test_lesson05_verdicts_follow_the_thresholds(after, expected):
    assert lesson05.verdict(_history(BASE[:AT] + after), _history(BASE)) == expected


def test_lesson05_strike_check_knows_the_ac_21_limit():
    assert lesson05.check_strike_ac30(1)
    assert lesson05.check_strike_ac30(Fraction(20, 20))
    wrong = lesson05.check_strike_ac30(0.9)
    assert not wrong and "AC ≤ 21" in wrong.message
    assert not lesson05.check_strike_ac30(None)


def test_lesson05_adam_pays_for_a_loss_spike_later():
    plain, dragon = lesson05.adam_step_sizes()
    ratio = [d / p for p, d in zip(plain, dragon)]
    assert ratio[:AT] == pytest.approx([1.0] * AT)                 # identical before the dragon
    assert all(3 < r < 5 for r in ratio[AT:AT + 3])               # struck steps: a few times, not 100 times
    assert sum(ratio[AT + 40:AT + 121]) / 81 < 0.3                # long after: much smaller steps


def test_lesson06_dropout_variance_check():
    rule = SavingThrow.preset("lr-dropout").with_bonus(6)
    assert lesson06.check_dropout_variance(rule.variance())
    assert not lesson06.check_dropout_variance(0.8) and "E[m]" in lesson06.check_dropout_variance(0.8).message


def test_lesson07_first_adam_step_check():
    assert lesson07.check_first_adam_step(1.0)
    assert "update" in lesson07.check_first_adam_step(0.5).message


def test_lesson08_rogue_check_matches_the_grammar():
    from rtt_edu.data import FantasyGrammar
    words = "a brave rogue guards the [MASK]".split()
    i = words.index("[MASK]")
    weights = {}
    for sentence, p in FantasyGrammar().sentences.items():
        if len(sentence) == len(words) and all(a == b for j, (a, b) in enumerate(zip(sentence, words)) if j != i):
            weights[sentence[i]] = weights.get(sentence[i], 0) + p
    best = max(weights.values()) / sum(weights.values())
    assert lesson08.check_rogue_best_accuracy(best)
    assert not lesson08.check_rogue_best_accuracy(1)


def test_lesson09_thirty_seeds_reproduce_the_recorded_summary():
    comparisons = lesson09.thirty_seeds()
    with open(lesson09.RUNS.parent / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("diff")]
    assert rows
    for r in rows:
        c = comparisons[r["task"]].contrast(r["arm"], "plain", r["metric"])
        assert c["mean_diff"] == pytest.approx(float(r["diff"]), abs=1e-9)


def test_lesson09_the_parts_add_up():
    moons = lesson09.thirty_seeds()["moons"]
    total = moons.contrast("classroom", "plain", "train_loss")["mean_diff"]
    lr = moons.contrast("plain, lr x 0.475", "plain", "train_loss")["mean_diff"]
    noise = moons.contrast(*lesson09.NOISE_ALONE, "train_loss")["mean_diff"]
    assert total == pytest.approx(lr + noise, abs=1e-12)


def test_lesson09_bootstrap_check_is_true_of_the_example():
    example = [0.012, -0.004, 0.009, 0.015, 0.003]
    t, b = t_interval(example), bootstrap_interval(example, seed=0)
    assert b.hi - b.lo < t.hi - t.lo
    assert lesson09.check_bootstrap_narrower("narrower")
    assert not lesson09.check_bootstrap_narrower("wider")


def test_the_packaged_30_seed_runs_are_the_experiments_own():
    """Lesson 9 reads the shipped copy where there is no source checkout (an installed package, Binder)."""
    from rtt_edu.course import lesson09
    assert lesson09.PACKAGED_RUNS.read_bytes() == lesson09.CHECKOUT_RUNS.read_bytes()
    assert lesson09.thirty_seeds(lesson09.PACKAGED_RUNS).keys() == lesson09.thirty_seeds(lesson09.CHECKOUT_RUNS).keys()
