"""Lesson 6's code (rtt_edu.course.lesson06): the arena's network and fight verdicts, and its self-checks,
whose expected values agree with an independent computation (seeded Monte Carlo or a real run)."""
import math
from fractions import Fraction
from types import SimpleNamespace

import pytest
import torch

from rtt_edu import DiceRoller
from rtt_edu.course import lesson06 as c6
from rtt_edu.party.classes import Fighter


def _history(losses):
    return SimpleNamespace(losses=losses)


AT, W = c6.AT, c6.WINDOW
BASE = [0.5] * (AT + W + 10)


@pytest.mark.parametrize("after,expected", [
    ([0.5] * (W + 10), "unharmed"),                               # the undisturbed run itself
    ([0.6] * (W + 10), "slowed"),                                 # above the base, never 2 x before
    ([5.0] + [0.5] * (W + 9), "repaired"),                        # a spike, back within 25% 20-40 steps on
    ([5.0] + [2.0] * (W + 9), "hurt"),                            # a spike that stays
])
def test_lesson06_verdicts_follow_the_thresholds(after, expected):
    assert c6.fight_verdict(_history(BASE[:AT] + after), _history(BASE)) == expected


def test_lesson06_strike_check_knows_the_ac_21_limit():
    assert c6.check_strike_ac30(1)
    assert c6.check_strike_ac30(Fraction(20, 20))
    wrong = c6.check_strike_ac30(0.9)
    assert not wrong and "AC ≤ 21" in wrong.message
    assert not c6.check_strike_ac30(None)


def test_lesson06_adam_pays_for_a_loss_spike_later():
    plain, dragon = c6.adam_step_sizes()
    ratio = [d / p for p, d in zip(plain, dragon)]
    assert ratio[:AT] == pytest.approx([1.0] * AT)                 # identical before the dragon
    assert all(3 < r < 5 for r in ratio[AT:AT + 3])               # struck steps: a few times, not 100 times
    assert sum(ratio[AT + 40:AT + 121]) / 81 < 0.3                # long after: much smaller steps


def test_lesson06_network_is_nn_linears_default_init_from_a_generator():
    """make_model(seed) has the weights nn.Linear draws after torch.manual_seed(seed); the global RNG is untouched."""
    torch.manual_seed(123)
    state = torch.get_rng_state()
    built = c6.make_model(seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(7)
    nn = torch.nn
    reference = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))
    assert [p.shape for p in built.parameters()] == [p.shape for p in reference.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(built.parameters(), reference.parameters()))
    assert not torch.equal(c6.make_model(seed=8)[0].weight, built[0].weight)


def test_monster_strike_probability_against_seeded_saves():
    roller = DiceRoller(seed=4)
    n = 40_000
    hits = sum(roller.roll("d20", modifier=2).total < 15 for _ in range(n))
    p = c6.monster_strike_probability(15, 2)
    assert p == Fraction(12, 20)
    assert abs(hits / n - float(p)) < 4 * math.sqrt(float(p) * (1 - p) / n)
    assert c6.check_monster_strike(0.6)
    assert "saves" in c6.check_monster_strike(0.4).message                    # the chance of the save
    assert "ignores the bonus" in c6.check_monster_strike(0.7).message


def test_ooze_factor_and_fighter_clip():
    assert c6.check_ooze_factor(0.55 + 0.45 * 0.1)
    assert not c6.check_ooze_factor(0.1)
    assert c6.check_fighter_clip(Fighter(level=5, max_norm=1.0).armour_norm, level=5, max_norm=1.0)
    assert not c6.check_fighter_clip(1.0, level=5)


def test_lesson06_epoch_ratio_is_one_against_itself_and_reads_one_epoch():
    base = _history([0.5] * 40)
    assert c6.epoch_ratio(base, base, range(8, 40)) == pytest.approx([1.0] * 32)
    behind = _history([0.5] * 32 + [1.0] * 8)                      # the last epoch twice the base
    assert c6.epoch_ratio(behind, base, [31, 39]) == pytest.approx([1.0, 2.0])


def test_lesson06_adam_prediction_names_each_mistake():
    assert c6.check_adam_after_dragon("c") and c6.check_adam_after_dragon(" (C) ")
    assert "never multiplies" in c6.check_adam_after_dragon("a").message
    assert "forgets slowly" in c6.check_adam_after_dragon("b").message
    assert "replace `None`" in c6.check_adam_after_dragon(None).message
    assert not c6.check_adam_after_dragon("e")


def test_lesson06_every_check_asks_to_replace_none():
    for feedback in (c6.check_strike_ac30(None), c6.check_monster_strike(None), c6.check_ooze_factor(None),
                     c6.check_fighter_clip(None), c6.check_same_monsters(None)):
        assert not feedback and "replace `None`" in feedback.message


def test_lesson06_the_keys_answers_are_right():
    assert c6.check_strike_ac30(1) and c6.check_same_monsters(True)
    assert c6.check_monster_strike(Fraction(12, 20), armor_class=15, bonus=2)
    assert c6.check_ooze_factor(0.55 * 1 + 0.45 * 0.1, slow=0.1, armor_class=10, bonus=0)
    assert c6.check_fighter_clip(2 * 1.0 / 3, level=5, max_norm=1.0)
    assert not c6.check_same_monsters(False) and "stream of their own" in c6.check_same_monsters(False).message
