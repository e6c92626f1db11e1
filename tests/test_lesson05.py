"""Lesson 5's code (rtt_edu.course.lesson05): a class's exact distribution against seeded turns, the
level table, and its self-checks: right answers pass, each known mistake gets its own hint."""
import math

import matplotlib
import pytest
import torch

from helpers import fails, passes

matplotlib.use("Agg")

from rtt_edu import Barbarian, Bard, Fighter, Paladin, Rogue, SavingThrow, Wizard, attach, proficiency_bonus  # noqa: E402
from rtt_edu.course import lesson05 as c5  # noqa: E402
from rtt_edu.errors import RollToTrainError  # noqa: E402


def test_lesson5_level_rows_follow_the_classes():
    rows = c5.level_rows((1, 9))
    assert [bonus for _, bonus, _ in rows] == [proficiency_bonus(1), proficiency_bonus(9)]
    assert rows[1][2]["Rogue factor / uses"] == f"{Rogue(level=9).sneak_factor:.2f} / {Rogue(level=9).max_uses}"
    assert rows[0][2]["Bard die / uses"] == f"d{Bard(level=1).die} / {Bard(level=1).max_uses}"
    assert "| 9 | +4 |" in c5.level_table((1, 9)).data


def rolled_multipliers(character_class, rules, steps=5000, seed=4):
    """Multipliers of real turns: attach the dice and the class to an SGD optimizer and step it."""
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
    exact = c5.class_distribution(make(), rules)
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
    rogue = c5.class_distribution(Rogue(), "classroom")        # faces 16-20 beat DC 11 by 5: x1.25
    assert rogue == pytest.approx({-0.5: 0.05, 0.25: 0.45, 0.75: 0.25, 0.9375: 0.2, 1.25: 0.05})
    barbarian = c5.class_distribution(Barbarian(), "classroom")       # no ascent: the crit fail's -0.5 becomes 0
    assert barbarian == pytest.approx({0.0: 0.05, 0.25: 0.45, 0.75: 0.45, 1.0: 0.05})
    assert c5.class_distribution(Fighter(), "classroom") == SavingThrow.preset("classroom").distribution()
    with pytest.raises(TypeError, match="character_class="):
        c5.class_distribution("Rogue", "classroom")


def test_lesson_four_checks():
    assert set(c5.TECHNIQUES) == {"Wizard", "Rogue", "Fighter", "Cleric", "Barbarian", "Bard", "Paladin"}
    passes(c5.check_technique("Gradient  Clipping", "Fighter"))
    fails(c5.check_technique("gradient clipping", "Cleric"), "Fighter's technique")
    fails(c5.check_technique("dropout", "Cleric"), "not one of the names")
    fails(c5.check_technique(3, "Cleric"), "in quotes")
    passes(c5.check_battle_log("Re-rolling fails"))
    for wrong in ("rollback to the best weights", "a bonus to every save", 3, None):
        assert "Bard" not in c5.check_battle_log(wrong).message
    fails(c5.check_battle_log("a bonus to every save"), "the class that wrote this line")
    fails(c5.check_battle_log(None), "replace `None`")
    passes(c5.check_sneak_factor(2.0, level=7))
    passes(c5.check_armour_norm(1.0, level=7, max_norm=1.5))
    fails(c5.check_armour_norm(1.5, level=7, max_norm=1.5), "level-1 bonus")
    passes(c5.check_sneak_factor(1.75, level=5))
    fails(c5.check_sneak_factor(1.625, level=5), "rounds *up*")
    fails(c5.check_sneak_factor(0.75, level=5), "1 plus")
    passes(c5.check_sneak_factor(Rogue(level=20).sneak_factor, level=20))
    passes(c5.check_armour_norm(0.5, level=9))
    fails(c5.check_armour_norm(1.0, level=9), "level-1 bonus")
    fails(c5.check_armour_norm(0.25, level=9), "*2*")
    passes(c5.check_class_mean(0.5625, Bard(), "classroom"))
    fails(c5.check_class_mean(0.475, Bard(), "classroom"), "without the Bard")
    passes(c5.check_class_mean(0.5, Barbarian(), "classroom"))
    with pytest.raises(RollToTrainError, match="character_class="):
        c5.check_technique("cleric", "Druid")


def test_the_quiz_keys_and_its_numbers():
    assert [q.right for q in c5.QUIZ] == ["a", "c", "b", "d"]
    rule = SavingThrow.preset("classroom")
    raging = c5.class_distribution(Barbarian(), rule)
    mean = sum(p * m for m, p in raging.items())
    assert mean > rule.expected_multiplier()                                      # question 2: E[m] rises ...
    assert sum(p * (m - mean) ** 2 for m, p in raging.items()) < rule.variance()  # ... and Var[m] falls
    with pytest.raises(RollToTrainError, match="number="):
        c5.check_quiz("a", 0)
