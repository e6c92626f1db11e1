"""The many-seeds comparison: Student's t against its definition, interval coverage by seeded Monte
Carlo, pairing, the controls, determinism, the outputs, and the script."""
import csv
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from rtt_edu import SavingThrow
from rtt_edu.errors import RollToTrainError
from rtt_edu.science.experiments import TASKS, Arm, Comparison, Task, default_arms, run_comparison
from rtt_edu.science.stats import (
    Interval,
    bootstrap_interval,
    interval_verdict,
    paired_summary,
    t_cdf,
    t_interval,
    t_quantile,
)

ROOT = Path(__file__).resolve().parent.parent


# --- Student's t -----------------------------------------------------------------------------

def _t_cdf_by_quadrature(t, df, n=20_000):
    """P(T <= t) by Simpson's rule on the t density from 0 to t (an independent oracle)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    f = lambda x: c * (1 + x * x / df) ** (-(df + 1) / 2)  # noqa: E731
    h = t / n
    s = f(0) + f(t) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, n))
    return 0.5 + s * h / 3


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 29])
@pytest.mark.parametrize("t", [0.5, 1.7, 3.0])
def test_t_cdf_matches_the_integral_of_the_density(df, t):
    assert t_cdf(t, df) == pytest.approx(_t_cdf_by_quadrature(t, df), abs=1e-9)
    assert t_cdf(-t, df) == pytest.approx(1 - t_cdf(t, df), abs=1e-12)


def test_t_quantile_closed_forms_and_inverse():
    # df = 1 is the Cauchy distribution: q = 1/2 + atan(t)/pi; df = 2: t = (2q-1) / sqrt(2q(1-q))
    for q in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(q, 1) == pytest.approx(math.tan(math.pi * (q - 0.5)), rel=1e-9)
        assert t_quantile(q, 2) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=1e-9)
        for df in (3, 10, 40):
            assert t_cdf(t_quantile(q, df), df) == pytest.approx(q, abs=1e-11)
            assert t_quantile(1 - q, df) == pytest.approx(-t_quantile(q, df))
    normal_975 = statistics.NormalDist().inv_cdf(0.975)
    assert t_quantile(0.975, 10 ** 6) == pytest.approx(normal_975, abs=1e-5)
    assert t_quantile(0.975, 5) > t_quantile(0.975, 30) > normal_975      # heavier tails for fewer seeds


def test_t_quantile_rejects_bad_arguments():
    with pytest.raises(RollToTrainError, match="q=1.5"):
        t_quantile(1.5, 3)
    with pytest.raises(RollToTrainError, match="df=0"):
        t_quantile(0.9, 0)


# --- intervals -----------------------------------------------------------------------------------

def test_t_interval_formula():
    values = [0.3, 0.1, 0.4, 0.2, 0.5]
    iv = t_interval(values, 0.9)
    half = t_quantile(0.95, 4) * statistics.stdev(values) / math.sqrt(5)
    assert iv.estimate == pytest.approx(0.3)
    assert (iv.lo, iv.hi) == pytest.approx((0.3 - half, 0.3 + half))
    assert iv.method == "t" and iv.n == 5 and iv.confidence == 0.9


def test_t_interval_covers_the_true_mean_95_percent_of_the_time():
    rng = random.Random(7)
    trials, n = 4000, 5
    covered = sum(t_interval([rng.gauss(2.0, 3.0) for _ in range(n)]).contains(2.0) for _ in range(trials))
    # binomial sd of the coverage: sqrt(0.95 * 0.05 / 4000) = 0.0034
    assert abs(covered / trials - 0.95) < 0.015
    z_covered = 0
    rng = random.Random(7)
    for _ in range(trials):                 # 1.96 instead of t undercovers with 5 values
        xs = [rng.gauss(2.0, 3.0) for _ in range(n)]
        z_covered += abs(statistics.fmean(xs) - 2.0) <= 1.96 * statistics.stdev(xs) / math.sqrt(n)
    assert z_covered / trials < 0.91


def test_bootstrap_interval_is_seeded_percentiles_of_resampled_means():
    values = [1.0, 2.0, 4.0, 8.0, 3.0, 5.0]
    a, b = bootstrap_interval(values, seed=3), bootstrap_interval(values, seed=3)
    assert a == b
    assert a.lo < statistics.fmean(values) < a.hi
    assert min(values) <= a.lo and a.hi <= max(values)                 # it never leaves the sample's range
    assert bootstrap_interval([2.5] * 4) == Interval(2.5, 2.5, 2.5, 0.95, "bootstrap", 4)
    wide, narrow = bootstrap_interval(values, 0.99, seed=1), bootstrap_interval(values, 0.8, seed=1)
    assert wide.lo <= narrow.lo and narrow.hi <= wide.hi


def test_bootstrap_is_close_to_t_for_many_normal_values():
    rng = random.Random(11)
    values = [rng.gauss(0.0, 1.0) for _ in range(400)]
    t, boot = t_interval(values), bootstrap_interval(values, resamples=4000, seed=0)
    assert boot.lo == pytest.approx(t.lo, abs=0.02) and boot.hi == pytest.approx(t.hi, abs=0.02)


def test_intervals_refuse_too_few_or_non_finite_values():
    with pytest.raises(RollToTrainError, match="at least 2"):
        t_interval([1.0])
    with pytest.raises(RollToTrainError, match="finite"):
        t_interval([1.0, float("nan")])
    with pytest.raises(RollToTrainError, match="confidence=1.0"):
        t_interval([1.0, 2.0], 1.0)


def test_paired_summary_counts_wins_in_the_better_direction():
    base = [1.0, 2.0, 3.0, 4.0]
    arm = [0.9, 2.1, 2.5, 4.0]
    lower = paired_summary(arm, base, "lower")
    assert lower["mean_diff"] == pytest.approx((-0.1 + 0.1 - 0.5 + 0.0) / 4)
    assert (lower["wins"], lower["ties"], lower["n"]) == (2, 1, 4)
    assert paired_summary(arm, base, "higher")["wins"] == 1
    with pytest.raises(RollToTrainError, match="4 values"):
        paired_summary(arm[:3], base)


def test_verdict_words():
    assert interval_verdict(Interval(-0.2, -0.3, -0.1, 0.95, "t", 5), "lower").startswith("better")
    assert interval_verdict(Interval(-0.2, -0.3, -0.1, 0.95, "t", 5), "higher").startswith("worse")
    text = interval_verdict(Interval(0.01, -0.004, 0.011, 0.95, "t", 5), "lower")
    assert text.startswith("no difference detected") and "0.011" in text and "not ruled out" in text


# --- the comparison on a synthetic task: pairing and controls ------------------------------------

def _synthetic(effect_of_noise=0.05):
    """metric = seed effect (large) + lr effect + noise effect + small per-run noise."""
    def run(arm, seed, steps):
        rng = random.Random(seed * 1000 + steps)
        seed_effect = random.Random(seed).gauss(0.0, 1.0)           # shared by every arm of a seed
        lr_effect = 0.3 * (1 - arm.mean_lr_scale)                   # a smaller mean step: a higher loss
        noise = 0.0 if arm.is_plain else effect_of_noise
        return {"loss": 1.0 + seed_effect + lr_effect + noise + 0.01 * rng.gauss(0, 1)}
    return Task("synthetic", run, {"loss": "lower"}, "loss", 7)


def test_pairing_detects_an_effect_hidden_by_the_seed_spread():
    c = run_comparison(_synthetic(0.05), seeds=12)
    rows = {r["arm"]: r for r in c.summary()}
    # per-arm intervals are wide (the seed effect has sd 1) and overlap ...
    assert rows["classroom, lr / 0.475"]["lo"] < rows["plain"]["hi"]
    # ... but the paired difference isolates the 0.05 of noise
    comp = rows["classroom, lr / 0.475"]
    assert comp["diff_lo"] < 0.05 < comp["diff_hi"] and comp["diff_lo"] > 0
    matched = c.contrast("classroom", "plain, lr x 0.475")
    assert matched["t"].contains(0.05) and matched["t"].lo > 0
    assert rows["classroom"]["diff"] == pytest.approx(0.3 * (1 - 0.475) + 0.05, abs=0.01)


def test_conclusion_names_the_noise_alone_pairs():
    text = run_comparison(_synthetic(0.0), seeds=8).conclusion()
    assert "classroom, lr / 0.475 vs plain (the noise alone" in text
    assert "the noise alone (classroom vs plain, lr x 0.475" in text
    lines = [line for line in text.splitlines() if "noise alone" in line]
    assert all("no difference detected" in line for line in lines)


def test_default_arms_share_mean_steps_as_documented():
    arms = {a.name: a for a in default_arms("classroom")}
    mean = SavingThrow.preset("classroom").expected_multiplier()
    assert arms["plain"].mean_lr_scale == 1.0 and arms["plain"].is_plain
    assert arms["classroom"].mean_lr_scale == pytest.approx(mean) and not arms["classroom"].is_plain
    assert arms[f"plain, lr x {mean:.3g}"].mean_lr_scale == pytest.approx(mean)
    assert arms[f"classroom, lr / {mean:.3g}"].mean_lr_scale == pytest.approx(1.0)
    with pytest.raises(RollToTrainError, match="E\\[m\\] > 0"):
        Arm.matched("seed-readme")


def test_run_comparison_validates_its_arguments():
    with pytest.raises(RollToTrainError, match="task='spirals'"):
        run_comparison("spirals")
    with pytest.raises(RollToTrainError, match="seeds=1"):
        run_comparison(_synthetic(), seeds=1)
    with pytest.raises(RollToTrainError, match="distinct names"):
        run_comparison(_synthetic(), seeds=2, arms=[Arm("plain"), Arm("plain")])
    with pytest.raises(RollToTrainError, match="steps=0"):
        run_comparison(_synthetic(), seeds=2, steps=0)


def test_a_diverged_run_is_left_out_and_counted():
    def run(arm, seed, steps):
        diverged = seed == 2 and not arm.is_plain
        return {"loss": float("nan") if diverged else float(seed) + (0 if arm.is_plain else 0.5)}
    c = run_comparison(Task("nan", run, {"loss": "lower"}, "loss", 1), seeds=5,
                       arms=[Arm("plain"), Arm.dice("classroom")])
    contrast = c.contrast("classroom")
    assert contrast["diverged"] == 1 and contrast["n"] == 4 and contrast["mean_diff"] == pytest.approx(0.5)
    assert "1 seed(s) left out" in c.conclusion()


# --- real tasks ---------------------------------------------------------------------------------

def _without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_toy_runs_are_deterministic_and_the_matched_arm_is_plain_at_a_smaller_lr():
    task = TASKS["xor"]
    a = run_comparison(task, seeds=2, steps=12)
    b = run_comparison(task, seeds=2, steps=12)
    assert _without_seconds(a.rows) == _without_seconds(b.rows)
    mean = SavingThrow.preset("classroom").expected_multiplier()
    assert a.values("plain, lr x 0.475") == [task.run(Arm("plain"), s, 12, lr=0.002 * mean)["loss"] for s in (0, 1)]
    assert a.values("classroom") != a.values("plain")                       # the dice did act
    assert all(0.0 <= v <= 1.0 for v in a.values("plain", "accuracy"))


def test_the_moons_task_is_lesson_3s_training_panel_run():
    """Seed s of the moons task trains exactly the TrainingPanel run with seed s (dice and plain)."""
    import torch

    from rtt_edu.views.widgets import ToyRun, TrainingConfig
    run = ToyRun(TrainingConfig(dataset="moons", noise=0.2, lr=0.5, rules="classroom", experience=False, seed=3))
    run.step(25)
    dice = TASKS["moons"].run(Arm.dice("classroom"), 3, 25)
    plain = TASKS["moons"].run(Arm("plain"), 3, 25)
    X, y = run.data.X_test, run.data.y_test
    with torch.no_grad():
        assert dice["loss"] == float(torch.nn.functional.cross_entropy(run.dice_model(X), y))
        assert plain["loss"] == float(torch.nn.functional.cross_entropy(run.plain_model(X), y))
    assert dice["accuracy"] == run.accuracy()["dice"] and plain["accuracy"] == run.accuracy()["plain"]
    run.close()


def test_the_seed_changes_data_weights_and_dice():
    run = TASKS["xor"].run
    assert run(Arm("plain"), 0, 20) != run(Arm("plain"), 1, 20)
    assert run(Arm.dice("classroom"), 0, 20) == run(Arm.dice("classroom"), 0, 20)


def test_bert_task_scores_against_the_exact_optimum():
    from rtt_edu.data import FantasyGrammar
    result = TASKS["bert"].run(Arm("plain"), 0, 3)
    assert 0.0 < result["ratio"] <= 1.0
    optimum = float(FantasyGrammar().contexts.optimal_accuracy)
    assert result["accuracy"] == pytest.approx(result["ratio"] * optimum, rel=1e-9)


# --- outputs --------------------------------------------------------------------------------------

def test_csv_markdown_and_plot(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    c = run_comparison(_synthetic(), seeds=3)
    path = tmp_path / "runs.csv"
    c.to_csv(path)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 4
    assert [float(r["loss"]) for r in rows] == [r["loss"] for r in c.rows]
    table = c.to_markdown()
    assert table.count("\n") == 1 + 4 and "(baseline)" in table
    ax = c.plot()
    assert len(ax.lines) >= 3                                             # one line per seed


def test_the_script_writes_its_tables_and_plots(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "run_experiments.py"), str(out),
                           "--tasks", "xor", "--seeds", "2", "--steps", "10"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["tasks"]["xor"]["steps"] == 10
    assert set(figures["tasks"]["xor"]["diff_to_plain"]) == {a.name for a in default_arms()[1:]}
    for name in ("runs.csv", "summary.csv", "summary.md", "xor.png"):
        assert (out / name).stat().st_size > 0
    with open(out / "runs.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2 * 4
    assert "## xor" in (out / "summary.md").read_text()


def test_comparison_rejects_unknown_arms_and_metrics():
    c = Comparison(_synthetic(), default_arms(), [0, 1], 7, [])
    with pytest.raises(RollToTrainError, match="arm='dice'"):
        c.values("dice")
    with pytest.raises(RollToTrainError, match="metric='accuracy'"):
        c.values("plain", "accuracy")


# --- the statistics module: SciPy's t, numpy's bootstrap ------------------------------------------

def test_the_statistics_have_one_home_in_stats():
    from rtt_edu.science import experiments, stats
    assert not set(stats.__all__) & set(experiments.__all__)      # experiments uses them; it does not re-export them


@pytest.mark.parametrize("q,df,table", [(0.975, 10, 2.228139), (0.995, 5, 4.032143), (0.95, 30, 1.697261),
                                         (0.975, 4, 2.776445), (0.9, 1, 3.077684), (0.999, 29, 3.396240)])
def test_t_quantile_matches_the_printed_t_table(q, df, table):
    assert t_quantile(q, df) == pytest.approx(table, abs=5e-7)
    assert t_cdf(table, df) == pytest.approx(q, abs=1e-6)


def test_bootstrap_means_are_the_means_of_one_seeded_index_draw():
    import numpy as np
    values = [1.0, 2.0, 4.0, 8.0, 3.0, 5.0]
    picks = np.random.default_rng(5).integers(0, 6, size=(1000, 6))
    means = sorted(math.fsum(values[i] for i in row) / 6 for row in picks)     # a loop, one resample at a time
    interval = bootstrap_interval(values, 0.9, resamples=1000, seed=5)
    assert interval.lo == pytest.approx(means[50], abs=1e-12) and interval.hi == pytest.approx(means[949], abs=1e-12)
    assert bootstrap_interval(values, seed=6) != bootstrap_interval(values, seed=5)


def test_bootstrap_interval_covers_the_true_mean_close_to_its_confidence():
    """400 seeded samples of 40 exponential values (skewed): the percentile bootstrap covers about 91%
    (a little under 95%: it never sees a value outside the sample; an 80% interval would cover about 78%)."""
    rng = random.Random(21)
    trials = 400
    covered = sum(bootstrap_interval([rng.expovariate(1.0) for _ in range(40)], resamples=1000, seed=k).contains(1.0)
                  for k in range(trials))
    assert 0.87 <= covered / trials <= 0.96
