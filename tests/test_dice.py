"""Dice: notation, seeded rolls, exact face distributions, state round trips."""
import itertools
import math
import random
from collections import Counter
from fractions import Fraction

import pytest
import torch

from rtt_edu.errors import DiceError
from rtt_edu.game.dice import (
    MAX_WORK,
    DiceRoller,
    ability_modifier,
    distribution_cost,
    natural_distribution,
    parse,
    total_distribution,
)


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


def test_a_die_draws_what_randint_draws_bit_for_bit():
    """``die`` is randint(1, sides) made cheaper: every face and the stream after it are the same,
    so checkpoints and seeds written before still resume the same rolls."""
    for seed in range(20):
        roller, reference = DiceRoller(seed), random.Random(seed)
        for sides in [*range(1, 40), 64, 100, 127, 128, 129, 1000, 2 ** 40 + 3]:
            assert [roller.die(sides) for _ in range(10)] == [reference.randint(1, sides) for _ in range(10)]
        assert roller._rng.getstate() == reference.getstate()
    with pytest.raises(ValueError, match="empty range"):
        DiceRoller(0).die(0)


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


# --- notation: spaces never split a number ------------------------------------------------------

@pytest.mark.parametrize("notation", ["1d20 5", "2 0d6", "d2 0", "4d6kh 3 1", "2d6+1 0", "1\t0d6"])
def test_a_space_between_two_digits_is_refused_not_joined(notation):
    with pytest.raises(DiceError, match="no space inside a number") as err:
        parse(notation)
    assert repr(notation) in str(err.value)


@pytest.mark.parametrize("notation,expected", [(" 2d6 + 3 ", (2, 6, 2, "h", 3)), ("2 d 6", (2, 6, 2, "h", 0)),
                                                ("4d6 kh3", (4, 6, 3, "h", 0)), ("4d6k h3", (4, 6, 3, "h", 0)),
                                                ("d20 - 1", (1, 20, 1, "h", -1)), ("D20\n", (1, 20, 1, "h", 0))])
def test_spaces_between_tokens_still_parse(notation, expected):
    spec = parse(notation)
    assert (spec.count, spec.sides, spec.kept, spec.keep, spec.modifier) == expected


# --- the exact distribution of a notation ---------------------------------------------------------

def _brute_force(count, sides, kept, keep):
    """Every ordered roll, each 1/s^n: the definition itself."""
    counts = Counter(sum(sorted(faces, reverse=keep == "h")[:kept])
                     for faces in itertools.product(range(1, sides + 1), repeat=count))
    return {t: Fraction(c, sides ** count) for t, c in counts.items()}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("sides", [2, 3, 4, 6])
def test_every_small_notation_matches_brute_force_enumeration(count, sides):
    for kept in range(1, count + 1):
        for keep in "hl":
            notation = f"{count}d{sides}k{keep}{kept}"
            assert total_distribution(notation) == _brute_force(count, sides, kept, keep), notation
    every_die = _brute_force(count, sides, count, "h")
    assert total_distribution(f"{count}d{sides}+2") == {t + 2: p for t, p in every_die.items()}


def test_exact_values_of_keep_rules_and_large_sums():
    # 8d6kh3 = 18 needs at least three sixes among eight: 1 - P(at most two sixes)
    p18 = 1 - sum(Fraction(math.comb(8, j) * 5 ** (8 - j), 6 ** 8) for j in range(3))
    dist = total_distribution("8d6kh3")
    assert dist[18] == p18 and dist[3] == Fraction(1, 6 ** 8) and sum(dist.values()) == 1
    low = total_distribution("20d6kl5")
    assert low[5] == 1 - Fraction(5, 6) ** 20 - 20 * Fraction(1, 6) * Fraction(5, 6) ** 19 - sum(
        Fraction(math.comb(20, j) * 5 ** (20 - j), 6 ** 20) for j in range(2, 5))   # at least five ones
    assert low[30] == Fraction(1, 6 ** 20)
    big = total_distribution("100d100")
    assert min(big) == 100 and max(big) == 10_000 and big[100] == Fraction(1, 100 ** 100)
    assert big[101] == Fraction(100, 100 ** 100) and max(big, key=big.get) == 5050
    assert sum(t * p for t, p in big.items()) == Fraction(10_100, 2)              # 100 · E[d100] = 5050
    assert all(big[t] == big[10_100 - t] for t in range(100, 10_001, 97))        # symmetric about 5050


@pytest.mark.parametrize("notation", ["8d6kh3", "20d6kl5", "3d10kh2+1", "6d4-3"])
def test_keep_rule_distributions_match_seeded_rolls(notation):
    dist = total_distribution(notation)
    roller = DiceRoller(seed=31)
    n = 20_000
    counts = Counter(roller.roll(notation).total for _ in range(n))
    assert set(counts) <= set(dist)
    for t, p in dist.items():
        assert abs(counts[t] / n - float(p)) < 4.5 * math.sqrt(float(p * (1 - p)) / n) + 1e-12, (notation, t)


@pytest.mark.parametrize("notation", ["1000d200", "100d100kh50", "2d1000000", "60d100kh30"])
def test_notations_beyond_the_cost_bound_are_refused_naming_them(notation):
    assert distribution_cost(notation) > MAX_WORK
    with pytest.raises(DiceError, match="units of work") as err:
        total_distribution(notation)
    assert repr(notation) in str(err.value)


def test_a_refusal_comes_before_any_counting(monkeypatch):
    from rtt_edu.game import dice

    def no_work(*args):
        raise AssertionError("counting started")
    monkeypatch.setattr(dice, "_sum_counts", no_work)
    monkeypatch.setattr(dice, "_keep_highest_counts", no_work)
    for notation in ("1000d200", "100d100kh50"):
        with pytest.raises(DiceError, match="units of work"):
            total_distribution(notation)
    with pytest.raises(AssertionError, match="counting started"):      # an accepted one does count
        total_distribution("2d6")


def test_the_cost_bound_admits_the_benchmarked_notations():
    for notation in ("100d100", "8d6kh3", "20d6kl5", "1000d2", "1000d3", "1000d2kh999", "4d6kh3"):
        assert distribution_cost(notation) <= MAX_WORK
    assert distribution_cost("101d100") > distribution_cost("100d100")
    assert distribution_cost("20d100kh11") > distribution_cost("20d100kh10")


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
    assert total_distribution("2d6")[7] == Fraction(1, 6)
    assert total_distribution("d20", modifier=2) == {k + 2: Fraction(1, 20) for k in range(1, 21)}
    with pytest.raises(ValueError, match="notation="):
        total_distribution("100d100kh50")      # beyond the documented cost bound
