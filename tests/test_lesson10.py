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
    assert c10.check_verdict("better", lo=0.001, hi=0.01, better="higher") and not c10.check_verdict("worse")
