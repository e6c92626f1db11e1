"""Property tests (hypothesis): every valid rule, every notation string, every history.

Settings are modest (50 examples, no deadline, derandomized) so the suite stays fast and the
same examples run on every machine.
"""
import json
import math
import os
import tempfile
from fractions import Fraction

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rtt_edu import DiceRoller, EvalRecord, History, Margin, SavingThrow, StepRecord
from rtt_edu.errors import DiceError
from rtt_edu.training.history_file import history_from_json, history_to_json, load_history, save_history

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
MC_ROLLS = 4000

# --- rules ------------------------------------------------------------------------------------

numbers = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)


@st.composite
def margins(draw):
    lo = draw(st.none() | st.floats(-5, 5))
    hi = draw(st.none() | st.floats(-5, 5))
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    return Margin(scale=draw(st.floats(-1, 1)), offset=draw(st.floats(-2, 2)), lo=lo, hi=hi)


bands = numbers | margins()


@st.composite
def rules(draw):
    advantage, disadvantage = draw(st.sampled_from([(False, False), (True, False), (False, True)]))
    sides = draw(st.sampled_from([4, 6, 8, 10, 12, 20]) | st.integers(2, 30))
    return SavingThrow(dc=draw(st.integers(-30, 50)), sides=sides,
                       modifier=draw(st.integers(-10, 10)), advantage=advantage, disadvantage=disadvantage,
                       crit_success=draw(bands), crit_fail=draw(bands), success=draw(bands), fail=draw(bands))


@SETTINGS
@given(rule=rules())
def test_every_valid_rule_has_a_distribution_summing_to_one_with_finite_multipliers(rule):
    exact = rule.distribution(exact=True)
    assert sum(exact.values(), Fraction(0)) == 1
    assert all(math.isfinite(m) for m in exact) and all(p > 0 for p in exact.values())
    assert math.isclose(sum(rule.distribution().values()), 1.0, rel_tol=1e-12)
    assert math.isclose(sum(rule.outcome_probabilities().values()), 1.0, rel_tol=1e-12)
    mean, var = rule.expected_multiplier(), rule.variance()
    assert math.isfinite(mean) and var >= 0
    assert min(exact) - 1e-12 <= mean <= max(exact) + 1e-12
    assert SavingThrow.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule


@SETTINGS
@given(rule=rules(), seed=st.integers(0, 2 ** 32))
def test_every_valid_rule_has_the_mean_that_seeded_rolls_estimate(rule, seed):
    roller = DiceRoller(seed)
    draws = [rule.multiplier(roller.roll(f"d{rule.sides}", advantage=rule.advantage,
                                         disadvantage=rule.disadvantage).natural) for _ in range(MC_ROLLS)]
    estimate = math.fsum(draws) / MC_ROLLS
    standard_error = math.sqrt(rule.variance() / MC_ROLLS)
    assert abs(estimate - rule.expected_multiplier()) <= 5 * standard_error + 1e-9 * (1 + abs(estimate))


# --- dice notation ------------------------------------------------------------------------------

digits = st.integers(0, 1100).map(str) | st.sampled_from(["", "0", "1", "20", "1001", "99999999", "9" * 12])


@st.composite
def near_notation(draw):
    """Strings shaped like notation, valid or not: counts, sides, keep rules, modifiers, spaces, case."""
    parts = [draw(digits), draw(st.sampled_from(["d", "D", "d ", " d", "", "dd"])), draw(digits)]
    if draw(st.booleans()):
        parts += [draw(st.sampled_from(["kh", "kl", "KH", "k h", "k", "kx", "h"])), draw(digits)]
    if draw(st.booleans()):
        parts += [draw(st.sampled_from(["+", "-", " + ", "+-", "*"])), draw(digits)]
    return "".join(parts)


def rolls_or_raises_dice_error(notation, advantage, disadvantage):
    try:
        roll = DiceRoller(0).roll(notation, advantage=advantage, disadvantage=disadvantage)
    except DiceError:
        return None
    assert all(1 <= f <= roll.sides for f in roll.faces)
    assert roll.natural == sum(roll.kept) and roll.total == roll.natural + roll.modifier
    assert set(roll.kept) <= set(roll.faces) and len(roll.kept) <= len(roll.faces)
    return roll


@SETTINGS
@given(notation=st.text(max_size=24),
       flags=st.sampled_from([(False, False), (True, False), (False, True), (True, True)]))
def test_any_text_either_rolls_or_raises_dice_error(notation, flags):
    rolls_or_raises_dice_error(notation, *flags)


@SETTINGS
@given(notation=near_notation(), flags=st.sampled_from([(False, False), (True, False), (False, True)]))
@example(notation="d" + "9" * 4400, flags=(False, False))      # beyond Python's int-from-string limit
@example(notation="2d6+" + "1" * 5000, flags=(False, False))
@example(notation="d20\n", flags=(True, False))
def test_any_near_notation_either_rolls_or_raises_dice_error(notation, flags):
    roll = rolls_or_raises_dice_error(notation, *flags)
    if roll is not None and not any(flags):
        spec = "".join(notation.split()).lower()
        count = int(spec.split("d")[0] or 1)
        assert len(roll.faces) == count


@st.composite
def valid_notation(draw):
    count = draw(st.integers(1, 60))
    sides = draw(st.integers(2, 10 ** 6))
    kept = draw(st.none() | st.integers(1, count))
    modifier = draw(st.integers(-10 ** 6, 10 ** 6))
    text = f"{count if count > 1 or draw(st.booleans()) else ''}d{sides}"
    if kept is not None:
        text += f"k{draw(st.sampled_from('hl'))}{kept}"
    if modifier:
        text += f"{modifier:+d}"
    return text, count, sides, kept or count, modifier


@SETTINGS
@given(spec=valid_notation())
def test_every_valid_notation_rolls_the_dice_it_names(spec):
    notation, count, sides, kept, modifier = spec
    roll = rolls_or_raises_dice_error(notation, False, False)
    assert roll is not None, notation
    assert (len(roll.faces), roll.sides, len(roll.kept), roll.modifier) == (count, sides, kept, modifier)
    ordered = sorted(roll.faces, reverse="kl" not in notation)
    assert sorted(roll.kept) == sorted(ordered[:kept])


@SETTINGS
@given(spec=valid_notation())
def test_every_valid_notation_has_an_exact_distribution_or_a_refusal_naming_it(spec):
    from rtt_edu.game.dice import MAX_WORK, distribution_cost, total_distribution
    notation, count, sides, kept, modifier = spec
    if distribution_cost(notation) > MAX_WORK:
        try:
            total_distribution(notation)
        except DiceError as err:
            assert repr(notation) in str(err)
        else:
            raise AssertionError(f"{notation} is beyond the bound and was not refused")
        return
    dist = total_distribution(notation)
    rolls = sides ** count
    assert sum(p.numerator * (rolls // p.denominator) for p in dist.values()) == rolls   # sums to exactly 1
    assert min(dist) == kept + modifier and max(dist) == kept * sides + modifier


# --- history JSON ---------------------------------------------------------------------------------

any_float = st.floats(allow_nan=True, allow_infinity=True)
json_leaf = (st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.floats(allow_nan=False)
             | st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


@st.composite
def events(draw):
    details = draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("kind", "message")), json_value,
                                   max_size=3))
    kind = st.sampled_from(["crit", "nonfinite", "death_save", "revive", "level_up"]) | st.text(max_size=8)
    return {"kind": draw(kind),
            "message": draw(st.text(max_size=30)), **details}


step_records = st.builds(
    StepRecord, step=st.integers(0, 10 ** 9), epoch=st.integers(0, 10 ** 4), natural=st.integers(1, 100),
    total=st.integers(-200, 300), multiplier=any_float,
    outcome=st.sampled_from(["critical_success", "success", "fail", "critical_fail", "skipped"]),
    lr=st.none() | any_float, loss=st.none() | any_float, rule_multiplier=st.none() | any_float,
    modifier=st.integers(-50, 50), dc=st.none() | st.integers(-100, 100), events=st.lists(events(), max_size=3))
eval_records = st.builds(EvalRecord, step=st.integers(0, 10 ** 9), epoch=st.integers(0, 10 ** 4), loss=any_float,
                         accuracy=st.none() | st.floats(0, 1))
histories = st.builds(History, steps=st.lists(step_records, max_size=6), evals=st.lists(eval_records, max_size=3),
                      meta=st.dictionaries(st.text(max_size=8), json_value, max_size=3))


@SETTINGS
@given(history=histories)
def test_a_history_survives_a_json_round_trip_unchanged(history):
    text = history_to_json(history)
    again = history_from_json(text)
    assert again == history and history_to_json(again) == text
    assert len(again.steps) == len(history.steps) and len(again.evals) == len(history.evals)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "history.json")
        save_history(history, path)
        assert load_history(path) == history and os.listdir(folder) == ["history.json"]
