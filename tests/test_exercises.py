"""Self-checks of lessons 1-4: right answers pass, each known mistake gets its own hint."""
import itertools
import math
from fractions import Fraction

import pytest

from rtt_edu import Barbarian, Bard, DiceRoller, Fighter, Paladin, Rogue, SavingThrow, Wizard
from rtt_edu import exercises as ex
from rtt_edu.lessons_support import mean_of, total_distribution


def passes(feedback):
    assert feedback.ok and bool(feedback) and repr(feedback).startswith("✔ right"), feedback
    return feedback.message


def fails(feedback, *words):
    assert not feedback.ok and not bool(feedback) and repr(feedback).startswith("✘ not yet"), feedback
    for word in words:
        assert word in feedback.message, (word, feedback.message)
    return feedback.message


# --- exact values behind the checks ---------------------------------------------------------------

def test_p_at_least_by_counting_pairs():
    for target, mod in ((15, 0), (15, 3), (2, -1), (25, 0)):
        straight = Fraction(sum(1 for k in range(1, 21) if k + mod >= target), 20)
        pairs = list(itertools.product(range(1, 21), repeat=2))
        adv = Fraction(sum(1 for a, b in pairs if max(a, b) + mod >= target), 400)
        dis = Fraction(sum(1 for a, b in pairs if min(a, b) + mod >= target), 400)
        assert ex.p_at_least(target, modifier=mod) == straight
        assert ex.p_at_least(target, modifier=mod, advantage=True) == adv
        assert ex.p_at_least(target, modifier=mod, disadvantage=True) == dis


def test_total_distribution_against_seeded_rolls():
    roller = DiceRoller(seed=1)
    for notation in ("2d6+3", "4d6kh3", "2d20kl1", "3d4-2"):
        dist = total_distribution(notation)
        assert sum(dist.values()) == 1
        n = 20000
        counts = {}
        for _ in range(n):
            t = roller.roll(notation).total
            counts[t] = counts.get(t, 0) + 1
        assert set(counts) <= set(dist)
        for t, p in dist.items():      # every total within 4.5 standard errors
            assert abs(counts.get(t, 0) / n - float(p)) < 4.5 * math.sqrt(float(p * (1 - p)) / n) + 1e-12


def test_total_distribution_exact_values():
    assert mean_of(total_distribution("2d6+3")) == 10
    assert total_distribution("2d6")[7] == Fraction(1, 6)
    assert mean_of(total_distribution("4d6kh3")) == Fraction(15869, 1296)
    assert total_distribution("d20", modifier=2) == {k + 2: Fraction(1, 20) for k in range(1, 21)}
    with pytest.raises(ValueError, match="notation="):
        total_distribution("100d100kh50")      # beyond the documented cost bound


# --- lesson 1 ------------------------------------------------------------------------------------

def test_check_at_least():
    assert "3/10" in passes(ex.check_at_least(0.3, target=15))
    passes(ex.check_at_least(Fraction(3, 10), target=15))
    passes(ex.check_at_least(0.51, target=15, advantage=True))
    passes(ex.check_at_least(0.09, target=15, disadvantage=True))
    fails(ex.check_at_least(30, target=15), "percentage")
    fails(ex.check_at_least(0.7, target=15), "opposite")
    fails(ex.check_at_least(0.3, target=15, advantage=True), "single die")
    fails(ex.check_at_least(0.6, target=15, advantage=True), "doubling")
    fails(ex.check_at_least(0.3, target=15, modifier=2), "modifier +2")
    fails(ex.check_at_least(0.42, target=15), "faces")
    fails(ex.check_at_least(None), "replace `None`")
    fails(ex.check_at_least("0.3"), "expected a probability")
    fails(ex.check_at_least(True), "expected a probability")


def test_check_ability_modifier():
    passes(ex.check_ability_modifier(-1, score=9))
    fails(ex.check_ability_modifier(0, score=9), "rounded *down*")
    fails(ex.check_ability_modifier(-2, score=8), "score - 10")
    fails(ex.check_ability_modifier(-3, score=7), "Halve it")           # -1.5 rounds down to -2
    passes(ex.check_ability_modifier(3, score=16))
    fails(ex.check_ability_modifier(6, score=16), "score - 10")


def test_check_mean_total():
    passes(ex.check_mean_total(10, "2d6+3"))
    passes(ex.check_mean_total(15869 / 1296, "4d6kh3"))
    fails(ex.check_mean_total(10.5, "4d6kh3"), "keep rule")


def test_check_smallest_dc():
    # classroom: E[m] = 0.475 at DC 11 and falls by 0.025 per DC: 0.4 at DC 14, 0.375 at DC 15
    passes(ex.check_smallest_dc(15, "classroom", below=0.4))
    fails(ex.check_smallest_dc(16, "classroom", below=0.4), "smaller")
    fails(ex.check_smallest_dc(14, "classroom", below=0.4), "Raise the DC")
    fails(ex.check_smallest_dc(99, "classroom", below=0.4), "not a DC")
    dcs = [dc for dc in range(1, 31) if SavingThrow.preset("classroom", advantage=True, dc=dc).expected_multiplier() < 0.4]
    passes(ex.check_smallest_dc(dcs[0], "classroom", below=0.4, advantage=True))
    with pytest.raises(ValueError, match="below="):
        ex.check_smallest_dc(1, "classroom", below=-1.0)


# --- lesson 2 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["classroom", "seed-code", "seed-readme", "seed-methodology"])
def test_check_mean_and_variance_follow_the_rule(name):
    rule = SavingThrow.preset(name)
    mean, var = rule.expected_multiplier(), rule.variance()
    passes(ex.check_mean(mean, name))
    passes(ex.check_variance(var, rule))
    fails(ex.check_variance(var + mean ** 2 + (0.01 if abs(mean) < 0.03 else 0), name))
    fails(ex.check_variance(math.sqrt(var), name), "standard deviation")
    if abs(mean) > 0.01:
        fails(ex.check_mean(-mean, name), "sign")


def test_check_mean_hints():
    fails(ex.check_mean(0.5, "classroom"), "P(success)")          # 0.45 + 0.05
    fails(ex.check_mean(0.375, "classroom"), "distinct values")   # (-0.5 + 0.25 + 0.75 + 1) / 4
    fails(ex.check_variance(0.34375, "classroom"), "E[m²]")


def test_check_step_factor():
    passes(ex.check_step_factor(0.85, lr=0.1, m=0.75, curvature=2.0))
    fails(ex.check_step_factor(0.15, lr=0.1, m=0.75, curvature=2.0), "removes")
    fails(ex.check_step_factor(1.15, lr=0.1, m=0.75, curvature=2.0), "sign")
    fails(ex.check_step_factor(0.925, lr=0.1, m=0.75, curvature=2.0), "curvature")


def test_check_converges():
    assert "λ = -∞" in passes(ex.check_converges(True, "seed-readme", lr=1.0))
    fails(ex.check_converges(False, "seed-readme", lr=1.0), "sign of E[m]")
    passes(ex.check_converges(False, "classroom", lr=6.0))
    fails(ex.check_converges(True, "classroom", lr=6.0), "sign of E[m]")
    passes(ex.check_converges(False, "seed-readme", lr=0.1))
    fails(ex.check_converges(True, "seed-readme", lr=0.1), "Compute λ")
    fails(ex.check_converges(None), "True")
    fails(ex.check_converges(1), "True or False")


def test_check_largest_lr():
    passes(ex.check_largest_lr(2.0, "lr-dropout"))
    fails(ex.check_largest_lr(4.0, "lr-dropout"), "average")
    end = ex.check_largest_lr(5.0635, "classroom")
    passes(end)
    fails(ex.check_largest_lr(2.7636, "classroom"), "mean-square")
    fails(ex.check_largest_lr(2.0, "classroom"), "plain gradient descent")
    with pytest.raises(ValueError, match="E\\[m\\] < 0"):
        ex.check_largest_lr(1.0, "seed-readme")


# --- lesson 3 ------------------------------------------------------------------------------------

def test_check_effective_lr_and_counts():
    passes(ex.check_effective_lr(0.0475, "classroom", lr=0.1))
    fails(ex.check_effective_lr(0.1, "classroom", lr=0.1), "plain learning rate")
    fails(ex.check_effective_lr(0.475, "classroom", lr=0.1), "Multiply")
    passes(ex.check_expected_count(210, "seed-code", steps=300, kind="skipped"))
    passes(ex.check_expected_count(210, "seed-readme", steps=300, kind="uphill"))
    fails(ex.check_expected_count(0.7, "seed-code", steps=300), "probability of one step")
    fails(ex.check_expected_count(90, "seed-code", steps=300), "other steps")
    with pytest.raises(ValueError, match="kind="):
        ex.check_expected_count(1, kind="sideways")


def test_judge_names_every_matching_mistake_but_never_before_the_right_answer():
    fb = ex.judge(1.0, 1.0, "x", "ok", "hint", [(1.0, "a mistake that equals the answer")])
    assert fb.ok
    fb = ex.judge(2.0, 1.0, "x", "ok", "hint", [(None, "skipped"), (2.0, "first"), (3.0, "far"), (2.0, "second")])
    assert fb.message == "2 is not it: first Or: second"
    assert ex.judge(5.0, 1.0, "x", "ok", "hint", [(2.0, "first")]).message == "5 is not it. hint"


# --- lesson 4 ------------------------------------------------------------------------------------

def rolled_multipliers(character_class, rules, steps=5000, seed=4):
    """Multipliers of real turns: attach the dice and the class to an SGD optimizer and step it."""
    import torch
    from rtt_edu import attach
    p = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=0.1)
    handle = attach(optimizer, rules, seed=seed, character_class=character_class)
    for _ in range(steps):
        p.grad = torch.ones(1)
        optimizer.step()
    handle.remove()
    return [r.multiplier for r in handle.records]


@pytest.mark.parametrize("make", [lambda: Rogue(level=5, uses=10 ** 9), lambda: Barbarian(uses=10 ** 9),
                                  lambda: Bard(level=5, uses=10 ** 9), lambda: Paladin(level=6, uses=10 ** 9),
                                  lambda: Wizard()])
@pytest.mark.parametrize("rules", ["classroom", "seed-readme"])
@pytest.mark.filterwarnings("ignore::rtt_edu.NegativeDriftWarning")
def test_class_distribution_matches_seeded_turns(make, rules):
    """Exact distribution while uses last vs 5000 turns of the class acting through the game master."""
    from rtt_edu.lessons_support import class_distribution
    exact = class_distribution(make(), rules)
    assert sum(exact.values()) == pytest.approx(1.0)
    rolled = rolled_multipliers(make(), rules)
    n = len(rolled)
    counts = {}
    for m in rolled:
        key = min(exact, key=lambda v: abs(v - m))       # the exact value this float is
        assert abs(key - m) < 1e-12, (m, key)
        counts[key] = counts.get(key, 0) + 1
    for m, p in exact.items():
        assert abs(counts.get(m, 0) / n - p) < 4.5 * math.sqrt(p * (1 - p) / n) + 1e-12, (m, p, counts.get(m, 0) / n)


def test_class_distribution_exact_values_and_errors():
    from rtt_edu.lessons_support import class_distribution
    rogue = class_distribution(Rogue(), "classroom")        # faces 16-20 beat DC 11 by 5: x1.25
    assert rogue == pytest.approx({-0.5: 0.05, 0.25: 0.45, 0.75: 0.25, 0.9375: 0.2, 1.25: 0.05})
    assert class_distribution(Barbarian(), "classroom") == pytest.approx({0.0: 0.05, 0.25: 0.45, 0.75: 0.45, 1.0: 0.05})
    assert class_distribution(Fighter(), "classroom") == SavingThrow.preset("classroom").distribution()
    with pytest.raises(TypeError, match="character_class="):
        class_distribution("Rogue", "classroom")


def test_lesson_four_checks():
    assert set(ex.TECHNIQUES) == {"Wizard", "Rogue", "Fighter", "Cleric", "Barbarian", "Bard", "Paladin"}
    passes(ex.check_technique("Gradient  Clipping", "Fighter"))
    fails(ex.check_technique("gradient clipping", "Cleric"), "Fighter's technique")
    fails(ex.check_technique("dropout", "Cleric"), "not one of the names")
    fails(ex.check_technique(3, "Cleric"), "in quotes")
    passes(ex.check_sneak_factor(1.75, level=5))
    fails(ex.check_sneak_factor(1.625, level=5), "rounds *up*")
    fails(ex.check_sneak_factor(0.75, level=5), "1 plus")
    passes(ex.check_sneak_factor(Rogue(level=20).sneak_factor, level=20))
    passes(ex.check_armour_norm(0.5, level=9))
    fails(ex.check_armour_norm(1.0, level=9), "level-1 bonus")
    fails(ex.check_armour_norm(0.25, level=9), "*2*")
    passes(ex.check_class_mean(0.5625, Bard(), "classroom"))
    fails(ex.check_class_mean(0.475, Bard(), "classroom"), "without the Bard")
    passes(ex.check_class_mean(0.5, Barbarian(), "classroom"))


# --- the package: one module per lesson, every former name where it was --------------------------

def test_one_module_per_lesson_and_every_name_where_it_was():
    import pathlib

    from rtt_edu import exercises, exercises_advanced
    from rtt_edu.exercises import base
    folder = pathlib.Path(exercises.__file__).parent
    files = sorted(int(p.stem[len("lesson"):]) for p in folder.glob("lesson[0-9][0-9].py"))
    assert sorted(exercises.LESSONS) == files and {1, 2, 3, 4, 5, 6, 7, 8, 9} <= set(files)
    for number, module in exercises.LESSONS.items():
        assert module.__name__ == f"rtt_edu.exercises.lesson{number:02d}"
        for name in module.__all__:                       # each lesson's names, from the package
            assert getattr(exercises, name) is getattr(module, name) and name in exercises.__all__, name
    for name in exercises_advanced.__all__:               # lessons 5-9, from the former module too
        assert getattr(exercises_advanced, name) is getattr(exercises, name), name
    assert exercises.Feedback is exercises_advanced.Feedback is base.Feedback
    assert exercises.LESSONS[1].check_mean_total is ex.check_mean_total
    assert exercises.LESSONS[9].check_verdict is exercises_advanced.check_verdict
