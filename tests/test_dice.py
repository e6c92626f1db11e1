"""Dice: notation, seeded rolls, exact face distributions, state round trips."""
import random
from collections import Counter

import pytest
import torch

from rtt_edu.dice import DiceRoller, ability_modifier, natural_distribution, parse
from rtt_edu.errors import DiceError


def test_notation_parses_counts_sides_keep_and_modifier():
    assert parse("d20") == parse("1d20")
    spec = parse("4d6kh3")
    assert (spec.count, spec.sides, spec.kept, spec.keep, spec.modifier) == (4, 6, 3, "h", 0)
    spec = parse("2d20KL1-2")
    assert (spec.count, spec.sides, spec.kept, spec.keep, spec.modifier) == (2, 20, 1, "l", -2)
    assert parse(" 2d6 + 3 ").modifier == 3


@pytest.mark.parametrize("notation,expected_range", [("d20", (1, 20)), ("2d6+3", (5, 15)), ("d100", (1, 100)),
                                                     ("4d6kh3", (3, 18)), ("2d20kl1", (1, 20))])
def test_rolls_stay_in_range_and_total_adds_modifier(notation, expected_range):
    roller = DiceRoller(seed=3)
    for _ in range(300):
        r = roller.roll(notation, modifier=2)
        assert expected_range[0] + 2 <= r.total <= expected_range[1] + 2
        assert r.total == r.natural + r.modifier
        assert r.natural == sum(r.kept)


def test_keep_highest_keeps_the_top_dice():
    roller = DiceRoller(seed=11)
    for _ in range(200):
        r = roller.roll("4d6kh3")
        assert len(r.faces) == 4 and sorted(r.faces)[1:] == sorted(r.kept)
        r = roller.roll("2d20kl1")
        assert r.kept == (min(r.faces),)


def test_advantage_keeps_the_higher_of_two_and_disadvantage_the_lower():
    roller = DiceRoller(seed=5)
    for _ in range(200):
        a = roller.roll("d20", advantage=True)
        d = roller.roll("d20", disadvantage=True)
        assert len(a.faces) == 2 and a.natural == max(a.faces)
        assert len(d.faces) == 2 and d.natural == min(d.faces)


def test_same_seed_same_rolls_and_the_global_rng_is_untouched():
    random.seed(123)
    torch.manual_seed(123)
    expected_globals = (random.random(), torch.rand(1).item())
    random.seed(123)
    torch.manual_seed(123)
    r1, r2 = DiceRoller(seed=9), DiceRoller(seed=9)
    rolls_a = [r1.roll("3d8+1").total for _ in range(100)]
    rolls_b = [r2.roll("3d8+1").total for _ in range(100)]
    other = DiceRoller(seed=10)
    assert rolls_a == rolls_b
    assert rolls_a != [other.roll("3d8+1").total for _ in range(100)]
    assert (random.random(), torch.rand(1).item()) == expected_globals


def test_state_dict_resumes_the_sequence_exactly():
    roller = DiceRoller(seed=42)
    for _ in range(17):
        roller.roll("d20")
    state = roller.state_dict()
    expected = [roller.roll("2d6").faces for _ in range(50)]
    fresh = DiceRoller(seed=0)
    fresh.load_state_dict(state)
    assert [fresh.roll("2d6").faces for _ in range(50)] == expected
    with pytest.raises(DiceError, match="state"):
        fresh.load_state_dict({"nonsense": 1})


def test_d20_chi_square_is_uniform():
    """Pearson chi-square on 20,000 seeded d20 rolls; 19 degrees of freedom, 0.1% critical value 43.82."""
    roller = DiceRoller(seed=2024)
    n = 20_000
    counts = Counter(roller.roll("d20").natural for _ in range(n))
    expected = n / 20
    chi2 = sum((counts[k] - expected) ** 2 / expected for k in range(1, 21))
    assert set(counts) == set(range(1, 21))
    assert chi2 < 43.82


@pytest.mark.parametrize("adv,dis", [(True, False), (False, True), (False, False)])
def test_exact_face_distribution_matches_seeded_rolls(adv, dis):
    dist = natural_distribution(20, adv, dis)
    assert sum(dist.values()) == 1
    roller = DiceRoller(seed=77)
    n = 40_000
    counts = Counter(roller.roll("d20", advantage=adv, disadvantage=dis).natural for _ in range(n))
    for face, p in dist.items():
        se = (float(p) * (1 - float(p)) / n) ** 0.5
        assert abs(counts[face] / n - float(p)) < 5 * se


def test_ability_modifier_follows_the_srd_table():
    table = {1: -5, 2: -4, 3: -4, 8: -1, 9: -1, 10: 0, 11: 0, 12: 1, 15: 2, 20: 5, 30: 10}
    for score, mod in table.items():
        assert ability_modifier(score) == mod
    for bad in (0, 31, -3):
        with pytest.raises(DiceError, match=f"score={bad}"):
            ability_modifier(bad)
    with pytest.raises(TypeError, match="score=10.5"):
        ability_modifier(10.5)


@pytest.mark.parametrize("notation", ["", "d", "20", "d1", "0d6", "1001d6", "2d6kh3", "d20++1", "dd20",
                                      "2d6x", "3d6kh0", "d0"])
def test_bad_notation_is_refused_quoting_it(notation):
    with pytest.raises(DiceError) as err:
        DiceRoller(seed=0).roll(notation)
    assert repr(notation) in str(err.value)


def test_advantage_with_disadvantage_is_refused():
    with pytest.raises(DiceError, match="advantage=True together with disadvantage=True"):
        DiceRoller(seed=0).roll("d20", advantage=True, disadvantage=True)
    with pytest.raises(DiceError, match="'3d6'"):
        DiceRoller(seed=0).roll("3d6", advantage=True)
    assert isinstance(DiceError("x"), ValueError)
