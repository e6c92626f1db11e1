"""The straight-line maths of lesson 2: step factors, the Lyapunov exponent and its exact boundary."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtt_edu import DiceError, DiceRoller, RollToTrainError, SavingThrow
from rtt_edu.science import quadratic as q
from rtt_edu.science.quadratic import quadratic_run

SEED_RULES = ("seed-code", "seed-readme", "seed-methodology")

# m = +1 or -1 with probability 1/2 each: λ(h) = ½ log|1 - h²|, converges exactly for 0 < h < √2.
COIN = SavingThrow(dc=11, crit_fail=-1.0, fail=-1.0, success=1.0, crit_success=1.0)


def lyapunov_by_faces(rule, h):
    """λ summed face by face (not through rule.distribution()): an independent path."""
    total = 0.0
    for face, p in rule.face_probabilities().items():
        f = 1.0 - h * rule.multiplier(face)
        if f == 0:
            return -math.inf
        total += float(p) * math.log(abs(f))
    return total


# --- one step ------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", ["classroom", "seed-readme"])
def test_a_real_sgd_step_multiplies_the_error_by_the_factor(rule):
    errors, records = quadratic_run(rule, lr=0.3, steps=40, seed=5, curvature=2.5, w0=1.7, w_star=0.4)
    assert len(errors) == 41 and len(records) == 40
    assert len({r.multiplier for r in records}) > 1            # the dice did vary
    for t, record in enumerate(records):
        expected = errors[t] * q.step_factor(0.3, record.multiplier, 2.5)
        assert errors[t + 1] == pytest.approx(expected, rel=1e-12, abs=1e-15)   # w - w* rounds at ~1e-16


def test_step_factor_and_validation():
    assert q.step_factor(0.1, 0.75, 2.0) == pytest.approx(0.85)
    assert q.step_factor(1.0, 1.0) == 0.0
    for bad in (0, -0.1, math.nan, math.inf):
        with pytest.raises(RollToTrainError, match="lr="):
            q.lyapunov_exponent("classroom", bad)
    with pytest.raises(RollToTrainError, match="curvature="):
        q.convergence_intervals("classroom", curvature=-1.0)
    with pytest.raises(TypeError, match="lr="):
        q.lyapunov_exponent("classroom", "0.1")
    with pytest.raises(RollToTrainError, match="lrs="):
        q.lyapunov_grid("classroom", [0.1, 0.0])


# --- the Lyapunov exponent -----------------------------------------------------------------------

@pytest.mark.parametrize("rule", ["classroom", "lr-dropout", *SEED_RULES])
@pytest.mark.parametrize("lr", [0.05, 0.7, 2.3, 6.0])
def test_lyapunov_matches_a_face_by_face_sum_and_the_grid(rule, lr):
    r = SavingThrow.preset(rule)
    expected = lyapunov_by_faces(r, lr)
    assert q.lyapunov_exponent(r, lr) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert q.lyapunov_grid(r, [lr])[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_curvature_enters_only_through_lr_times_a():
    assert q.lyapunov_exponent("classroom", 0.5, curvature=4.0) == pytest.approx(q.lyapunov_exponent("classroom", 2.0))


def test_a_factor_of_exactly_zero_is_minus_infinity():
    # classroom has m = 1 (crit success) and m = 0.25: lr = 1 and lr = 4 land exactly on w*
    assert q.lyapunov_exponent("classroom", 1.0) == -math.inf
    assert q.lyapunov_exponent("classroom", 4.0) == -math.inf
    assert q.lyapunov_grid("classroom", [1.0, 4.0, 2.0]).tolist()[:2] == [-math.inf, -math.inf]
    assert q.converges("seed-readme", 1.0)     # E[m] < 0, yet a natural 20 lands on w*
    # a run lands when it first rolls a 20: P(landed within n steps) = 1 - (19/20)^n
    naturals = q.roll_naturals("seed-readme", DiceRoller(3), runs=2000, steps=20)
    landed = np.isneginf(q.simulate_log_errors("seed-readme", [1.0], naturals)[0]).mean()
    p = 1 - (19 / 20) ** 20
    assert abs(landed - p) < 4 * math.sqrt(p * (1 - p) / 2000)


@pytest.mark.parametrize("rule,lr", [("classroom", 0.5), ("classroom", 3.0), ("classroom", 6.0),
                                     ("seed-methodology", 0.9), ("lr-dropout", 2.5)])
def test_simulated_growth_rate_matches_lyapunov(rule, lr):
    """Monte Carlo: the mean of (1/n) log|e_n/e_0| over runs is λ within 4 standard errors."""
    runs, steps = 200, 200
    naturals = q.roll_naturals(rule, DiceRoller(11), runs, steps)
    rates = q.simulate_log_errors(rule, [lr], naturals)[0] / steps
    r = SavingThrow.preset(rule)
    lam = q.lyapunov_exponent(r, lr)
    second = sum(float(p) * math.log(abs(1 - lr * m)) ** 2 for m, p in r.distribution(exact=True).items())
    se = math.sqrt((second - lam ** 2) / (steps * runs))
    assert abs(rates.mean() - lam) < 4 * se


def test_simulation_uses_the_rules_multipliers():
    naturals = np.array([[20, 1, 11, 10]])
    got = q.simulate_log_errors("classroom", [0.5], naturals)[0, 0]
    expected = math.log(0.5) + math.log(1.25) + math.log(1 - 0.375) + math.log(1 - 0.125)
    assert got == pytest.approx(expected)
    with pytest.raises(RollToTrainError, match="naturals="):
        q.simulate_log_errors("classroom", [0.5], np.array([[0, 3]]))


# --- the exact boundary --------------------------------------------------------------------------

def test_closed_form_boundaries():
    (lo, hi), = q.convergence_intervals("plain")             # |1 - h| < 1
    assert lo == 0.0 and hi == pytest.approx(2.0, rel=1e-14)
    (lo, hi), = q.convergence_intervals("lr-dropout")        # ½ log|1 - h| < 0
    assert hi == pytest.approx(2.0, rel=1e-14)
    (lo, hi), = q.convergence_intervals(COIN)                # ½ log|1 - h²| < 0: E[m] = 0 and still converges
    assert COIN.expected_multiplier() == 0
    assert lo == 0.0 and hi == pytest.approx(math.sqrt(2), rel=1e-14)
    (lo, hi), = q.convergence_intervals(COIN, curvature=4.0)
    assert hi == pytest.approx(math.sqrt(2) / 4, rel=1e-14)


@pytest.mark.parametrize("rule", ["classroom", *SEED_RULES])
def test_interval_ends_are_roots_and_the_signs_hold_on_a_fine_grid(rule):
    intervals = q.convergence_intervals(rule)
    poles = {1 / m for m in SavingThrow.preset(rule).distribution() if m > 0}
    for lo, hi in intervals:
        for end in (lo, hi):
            if end != 0.0 and not any(math.isclose(end, p, rel_tol=1e-12) for p in poles):
                below, above = end - 4 * math.ulp(end), end + 4 * math.ulp(end)   # a root to the last bits
                assert q.lyapunov_exponent(rule, below) * q.lyapunov_exponent(rule, above) < 0
    grid = np.geomspace(1e-3, 200, 20001)
    lam = q.lyapunov_grid(rule, grid)
    inside = np.zeros(grid.shape, dtype=bool)
    for lo, hi in intervals:
        inside |= (grid > lo) & (grid < hi)
    assert np.array_equal(lam < 0, inside)


def test_the_seed_rules_are_the_counterexamples_of_lesson_two():
    readme = SavingThrow.preset("seed-readme")
    assert readme.expected_multiplier() < 0
    first = q.convergence_intervals(readme)[0]
    assert 0 < first[0] < 1 < first[1]                       # negative drift, yet converges around lr = 1
    classroom = SavingThrow.preset("classroom")
    assert classroom.expected_multiplier() > 0
    end = q.convergence_intervals(classroom)[0][1]
    assert not q.converges(classroom, end * 1.01)            # positive drift, yet diverges at large lr


@pytest.mark.parametrize("rule", ["classroom", "lr-dropout", *SEED_RULES])
def test_mean_square_is_stricter_than_almost_sure(rule):
    limit = q.mean_square_limit(rule)
    if limit > 0:
        assert q.mean_square_rate(rule, limit) == pytest.approx(1.0, abs=1e-12)
        assert q.mean_square_rate(rule, 0.5 * limit) < 1
        assert q.converges(rule, 0.999 * limit)
    for lr in np.geomspace(0.01, 10, 50):
        # Jensen: λ <= ½ log E[f²]
        assert q.lyapunov_exponent(rule, float(lr)) <= 0.5 * math.log(q.mean_square_rate(rule, float(lr))) + 1e-12
    assert q.mean_rate("classroom", 2.0) == pytest.approx(1 - 2 * 0.475)


band = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5]), st.floats(-2, 2, allow_nan=False).map(lambda x: round(x, 3)))


@settings(max_examples=40, deadline=None)
@given(cs=band, s=band, f=band, cf=band, dc=st.integers(2, 21), probes=st.lists(st.floats(0.001, 30), min_size=5,
                                                                                 max_size=5))
def test_intervals_agree_with_the_sign_of_lambda_for_any_rule(cs, s, f, cf, dc, probes):
    rule = SavingThrow(dc=dc, crit_success=cs, success=s, fail=f, crit_fail=cf)
    intervals = q.convergence_intervals(rule)
    for lo, hi in intervals:
        assert lo < hi and hi < math.inf
    for h in probes:
        lam = q.lyapunov_exponent(rule, h)
        if any(abs(h - end) < 1e-6 * max(1, end) for iv in intervals for end in iv):
            continue                                          # too close to a root to tell
        assert (lam < 0) == any(lo < h < hi for lo, hi in intervals), (h, lam, intervals)


def test_exact_probabilities_are_used():
    # lr-dropout at lr = 0.5: λ = ½ log ½ exactly
    assert q.lyapunov_exponent("lr-dropout", 0.5) == pytest.approx(0.5 * math.log(0.5), rel=1e-15)
    assert sum(p for _, p in q._support("classroom")) == Fraction(1)


def test_quadratic_run_refuses_zero_steps():
    with pytest.raises(DiceError, match="steps=0"):
        q.quadratic_run("classroom", lr=0.1, steps=0, seed=0)
