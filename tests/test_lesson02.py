"""Lesson 2's code (rtt_edu.course.lesson02): its tables carry the library's exact numbers, and its
self-checks: right answers pass, each known mistake gets its own hint."""
import math

import matplotlib
import pytest

from helpers import fails, passes

matplotlib.use("Agg")

from rtt_edu import SavingThrow  # noqa: E402
from rtt_edu.course import lesson02 as c2  # noqa: E402
from rtt_edu.errors import RollToTrainError  # noqa: E402
from rtt_edu.science import quadratic  # noqa: E402


def test_lesson2_tables_carry_the_library_numbers():
    _, rows = c2.verdict_table([("classroom", 4.5), ("seed-readme", 1.0)])
    assert rows[0][5] == quadratic.lyapunov_exponent("classroom", 4.5)
    assert rows[0][3] == abs(quadratic.mean_rate("classroom", 4.5)) and rows[1][5] == -math.inf
    fig = c2.plot_lambda_maps(("classroom", "seed-readme", "seed-methodology", "seed-code"), [11, 15],
                              [0.1, 1.0, 10.0])
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any(label.startswith("λ") for label in labels), "the λ maps need a colour bar with a label"


@pytest.mark.parametrize("name", ["classroom", "seed-code", "seed-readme", "seed-methodology"])
def test_check_mean_and_variance_follow_the_rule(name):
    rule = SavingThrow.preset(name)
    mean, var = rule.expected_multiplier(), rule.variance()
    passes(c2.check_mean(mean, name))
    passes(c2.check_variance(var, rule))
    fails(c2.check_variance(var + mean ** 2 + (0.01 if abs(mean) < 0.03 else 0), name))
    fails(c2.check_variance(math.sqrt(var), name), "standard deviation")
    if abs(mean) > 0.01:
        fails(c2.check_mean(-mean, name), "sign")


def test_check_mean_hints():
    fails(c2.check_mean(0.5, "classroom"), "P(success)")          # 0.45 + 0.05
    fails(c2.check_mean(0.375, "classroom"), "distinct values")   # (-0.5 + 0.25 + 0.75 + 1) / 4
    fails(c2.check_variance(0.34375, "classroom"), "E[m²]")


def test_check_step_factor():
    passes(c2.check_step_factor(0.85, lr=0.1, m=0.75, curvature=2.0))
    fails(c2.check_step_factor(0.15, lr=0.1, m=0.75, curvature=2.0), "removes")
    fails(c2.check_step_factor(1.15, lr=0.1, m=0.75, curvature=2.0), "sign")
    fails(c2.check_step_factor(0.925, lr=0.1, m=0.75, curvature=2.0), "curvature")


def test_check_converges():
    assert "λ = -∞" in passes(c2.check_converges(True, "seed-readme", lr=1.0))
    fails(c2.check_converges(False, "seed-readme", lr=1.0), "sign of E[m]")
    passes(c2.check_converges(False, "classroom", lr=6.0))
    fails(c2.check_converges(True, "classroom", lr=6.0), "sign of E[m]")
    passes(c2.check_converges(False, "seed-readme", lr=0.1))
    fails(c2.check_converges(True, "seed-readme", lr=0.1), "Compute λ")
    fails(c2.check_converges(None), "True")
    fails(c2.check_converges(1), "True or False")


def test_check_largest_lr():
    passes(c2.check_largest_lr(2.0, "lr-dropout"))
    fails(c2.check_largest_lr(4.0, "lr-dropout"), "average")
    end = c2.check_largest_lr(5.0635, "classroom")
    passes(end)
    fails(c2.check_largest_lr(2.7636, "classroom"), "mean-square")
    fails(c2.check_largest_lr(2.0, "classroom"), "plain gradient descent")
    with pytest.raises(RollToTrainError, match="E\\[m\\] < 0"):
        c2.check_largest_lr(1.0, "seed-readme")
