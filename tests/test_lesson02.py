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


def test_the_maps_share_one_linear_colour_scale_and_whole_dcs():
    fig = c2.plot_lambda_maps(("classroom", "seed-readme", "seed-methodology", "seed-code"), list(range(2, 22)),
                              [0.1, 1.0, 10.0])
    meshes = [ax.collections[0] for ax in fig.axes[:4]]
    assert len({(m.norm.vmin, m.norm.vmax) for m in meshes}) == 1 and type(meshes[0].norm).__name__ == "Normalize"
    assert all(float(t).is_integer() for t in fig.axes[0].get_yticks())
    assert not any(text.get_text() == "◀" for ax in fig.axes for text in ax.texts)


def test_the_faces_plot_has_a_bar_per_face_with_whole_ticks():
    fig = c2.plot_seed_faces(("seed-readme", "seed-code"))
    assert [len(ax.patches) for ax in fig.axes] == [20, 20]
    assert list(fig.axes[-1].get_xticks()) == list(range(1, 21))
    assert {t.get_rotation() for t in fig.axes[-1].get_xticklabels()} == {0.0}


def test_the_new_exercises_ask_for_numbers_the_lesson_does_not_print():
    readme10 = SavingThrow.preset("seed-readme", dc=10)
    passes(c2.check_mean(0.0045, readme10))
    fails(c2.check_mean(-0.0045, readme10), "sign")
    fails(c2.check_mean(0.55, readme10), "P(success)")
    dropout16 = SavingThrow.preset("lr-dropout", dc=16)
    passes(c2.check_variance(3 / 16, dropout16))
    fails(c2.check_variance(0.25, dropout16), "E[m²]")
    fails(c2.check_variance(math.sqrt(3) / 4, dropout16), "standard deviation")
    half = SavingThrow.preset("lr-dropout", fail=0.5, crit_fail=0.5)
    passes(c2.check_largest_lr(3.0, half))
    fails(c2.check_largest_lr(2.4, half), "mean-square")
    fails(c2.check_largest_lr(8 / 3, half), "average")
    fails(c2.check_largest_lr(2.0, half), "plain gradient descent")


def test_check_logs_wants_the_natural_log_of_each_factors_size():
    right = [math.log(abs(1 - 4.5 * m)) for m in (-0.5, 0.25, 0.75, 1.0)]
    passes(c2.check_logs(right, "classroom", lr=4.5))
    passes(c2.check_logs(tuple(round(x, 3) for x in right), "classroom", lr=4.5))
    fails(c2.check_logs([3.25, 0.125, 2.375, 3.5], "classroom", lr=4.5), "factors")
    fails(c2.check_logs([math.log10(abs(1 - 4.5 * m)) for m in (-0.5, 0.25, 0.75, 1.0)], "classroom", lr=4.5),
          "log10")
    fails(c2.check_logs(right[:3] + [-1.0], "classroom", lr=4.5), "entry for m = 1 ")
    fails(c2.check_logs([math.log(abs(1 - m)) if m != 1 else -math.inf for m in (-0.5, 0.25, 0.75, 1.0)],
                        "classroom", lr=4.5), "learning rate is missing")
    fails(c2.check_logs(None), "replace `None`")
    fails(c2.check_logs([1.0, 2.0]), "a list of 4 numbers")
    fails(c2.check_logs("1, 2, 3, 4"), "a list of 4 numbers")


