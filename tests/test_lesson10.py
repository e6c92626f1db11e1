"""Lesson 10's code (rtt_edu.course.lesson10): the 30-seed results it reads back, and its self-checks."""
import csv
import math
import statistics

import pytest

from rtt_edu.course import lesson10 as c10
from rtt_edu.science.stats import bootstrap_interval, t_interval, t_quantile


def test_lesson10_thirty_seeds_reproduce_the_recorded_summary():
    comparisons = c10.thirty_seeds()
    with open(c10.RUNS.parent / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("diff")]
    assert rows
    for r in rows:
        c = comparisons[r["task"]].contrast(r["arm"], "plain", r["metric"])
        assert c["mean_diff"] == pytest.approx(float(r["diff"]), abs=1e-9)


def test_lesson10_the_parts_add_up():
    moons = c10.thirty_seeds()["moons"]
    total = moons.contrast("classroom", "plain", "train_loss")["mean_diff"]
    lr = moons.contrast("plain, lr x 0.475", "plain", "train_loss")["mean_diff"]
    noise = moons.contrast(*c10.NOISE_ALONE, "train_loss")["mean_diff"]
    assert total == pytest.approx(lr + noise, abs=1e-12)


def test_lesson10_bootstrap_check_is_true_of_the_example():
    example = [0.012, -0.004, 0.009, 0.015, 0.003]
    t, b = t_interval(example), bootstrap_interval(example, seed=0)
    assert b.hi - b.lo < t.hi - t.lo
    assert c10.check_bootstrap_narrower("narrower")
    assert not c10.check_bootstrap_narrower("wider")


def test_the_packaged_30_seed_runs_are_the_experiments_own():
    """Lesson 10 reads the shipped copy where there is no source checkout (an installed package, Binder)."""
    assert c10.PACKAGED_RUNS.read_bytes() == c10.CHECKOUT_RUNS.read_bytes()
    assert c10.thirty_seeds(c10.PACKAGED_RUNS).keys() == c10.thirty_seeds(c10.CHECKOUT_RUNS).keys()


def test_statistics_checks():
    diffs = (0.012, -0.004, 0.009, 0.015, 0.003)
    iv = t_interval(diffs)
    assert c10.check_t_half_width((iv.hi - iv.lo) / 2)
    assert "1.96" in c10.check_t_half_width(1.959963984540054 * statistics.stdev(diffs) / math.sqrt(5)).message
    n = next(k for k in range(2, 1000) if t_quantile(0.975, k - 1) * 0.01 / math.sqrt(k) <= 0.002)
    assert c10.check_seeds_needed(n) and not c10.check_seeds_needed(n - 1) and not c10.check_seeds_needed(n + 1)
    assert c10.check_verdict("no difference") and c10.check_verdict("worse", lo=0.001, hi=0.01)
    assert c10.check_verdict("no difference detected") and c10.check_verdict(" No difference detected ")
    assert c10.check_verdict("better", lo=0.001, hi=0.01, better="higher") and not c10.check_verdict("worse")


def test_lesson10_key_answers_are_right_and_none_asks_for_an_answer():
    diffs = [0.012, -0.004, 0.009, 0.015, 0.003]
    assert c10.check_bootstrap_narrower("narrower")
    assert c10.check_t_half_width(t_quantile(0.975, 4) * statistics.stdev(diffs) / 5 ** 0.5)
    assert c10.check_seeds_needed(99)
    assert c10.check_verdict("no difference")
    for check in (c10.check_bootstrap_narrower, c10.check_t_half_width, c10.check_seeds_needed, c10.check_verdict):
        assert "replace `None`" in check(None).message


def test_lesson10_named_mistakes_are_recognised():
    diffs = [0.012, -0.004, 0.009, 0.015, 0.003]
    population = t_quantile(0.975, 4) * statistics.pstdev(diffs) / math.sqrt(5)
    assert "population standard deviation" in c10.check_t_half_width(population).message
    assert "1.96 for every n" in c10.check_seeds_needed(97).message
    assert "fewer would do" in c10.check_seeds_needed(150).message
    assert "not enough" in c10.check_seeds_needed(50).message
    assert "Is 0 inside" in c10.check_verdict("worse").message


def test_lesson10_quiz():
    assert [q.right for q in c10.QUIZ] == ["b", "b", "a", "b"]
    with pytest.raises(Exception, match="question number"):
        c10.check_quiz("a", 0)


def test_lesson10_the_figure_of_the_arms_shows_the_paired_differences_the_verdicts_read():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xor = c10.thirty_seeds()["xor"]
    ax = c10.plot_differences(xor)
    bars = [c for c in ax.containers]
    assert len(bars) == len(c10.PAIRS)
    for bar, (arm, against, _) in zip(bars, c10.PAIRS):
        c = xor.contrast(arm, against)
        x, y = bar.lines[0].get_data()
        assert x[0] == pytest.approx(c["mean_diff"])
    assert any(list(line.get_xdata()) == [0, 0] for line in ax.lines)       # the line at 0
    assert [t.get_text() for t in ax.get_yticklabels()] == [label for *_, label in c10.PAIRS]
    assert {t.get_text() for t in ax.get_legend().get_texts()} <= {"better", "worse", "none detected"}
    plt.close(ax.figure)
