"""The statistics of a many-seed comparison: t and bootstrap intervals, paired differences, verdicts.

    t_interval([0.012, -0.004, 0.009, 0.015, 0.003])        # +0.007 [-0.002415, +0.01642]
    paired_summary(arm_values, plain_values, better="lower")

Arms are compared *paired*, seed by seed (see :mod:`rtt_edu.science.experiments`):

    d_s = metric(arm, seed s) - metric(plain, seed s),      s = 1..n

    mean difference     d̄   = (1/n) Σ d_s
    sample std          s_d = sqrt( Σ (d_s - d̄)² / (n - 1) )
    t interval          d̄ ± t(1 - α/2; n - 1) · s_d / √n       (``t_interval``; t from ``scipy.stats.t``)
    bootstrap interval  the α/2 and 1 - α/2 quantiles of the means of B resamples of the n
                        differences, drawn with replacement in one seeded numpy draw
                        (``bootstrap_interval``)

The t interval has exactly the stated coverage when the d_s are normal and close to it for
moderate n otherwise; the percentile bootstrap assumes no shape but is too narrow for small n
(it never sees a value outside the sample), so the two are reported side by side. ``wins`` counts
the seeds where the arm did better than plain: a sign test's raw material.

**What a verdict may say** (``interval_verdict``): an interval entirely on the better side of 0 supports
"better" at that confidence; entirely on the worse side, "worse"; an interval containing 0 says
no difference was detected *and* bounds it: effects larger than the interval's far end are
unlikely. It never says "no effect".
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

from rtt_edu.errors import check_type, require

__all__ = ["t_cdf", "t_quantile", "Interval", "t_interval", "bootstrap_interval", "paired_summary", "interval_verdict"]


# --- Student's t ------------------------------------------------------------------------------

def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (``scipy.stats.t.cdf``).

    For t > 0 it is 1 - I_{df/(df+t²)}(df/2, 1/2) / 2, with I the regularised incomplete beta.
    """
    return float(_scipy_stats.t.cdf(t, df))


def t_quantile(q: float, df: float) -> float:
    """The t value with P(T <= t) = q (``scipy.stats.t.ppf``): t(0.975; 10) = 2.2281..."""
    check_type("q", q, float, "a probability strictly between 0 and 1")
    check_type("df", df, (int, float), "degrees of freedom > 0")
    require(0.0 < q < 1.0, "q", q, "a probability strictly between 0 and 1")
    require(df > 0, "df", df, "degrees of freedom > 0")
    return float(_scipy_stats.t.ppf(q, df))


# --- intervals -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval [lo, hi]."""
    estimate: float      # the sample mean
    lo: float            # lower end
    hi: float            # upper end
    confidence: float    # e.g. 0.95
    method: str          # "t" or "bootstrap"
    n: int               # values the interval was computed from

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self):
        return f"{self.estimate:+.4g} [{self.lo:+.4g}, {self.hi:+.4g}]"


def _values(values) -> list:
    values = [float(v) for v in values]
    require(len(values) >= 2, "values", values, "at least 2 values (one per seed)")
    require(all(math.isfinite(v) for v in values),
            "values", values, "finite numbers (a run diverged: report it, do not average it)")
    return values


def _confidence(confidence) -> float:
    check_type("confidence", confidence, float, "a probability such as 0.95")
    require(0.0 < confidence < 1.0, "confidence", confidence, "a probability strictly between 0 and 1")
    return confidence


def t_interval(values, confidence: float = 0.95) -> Interval:
    """x̄ ± t(1 - α/2; n - 1) · s / √n, with s the sample standard deviation (n - 1 in the divisor)."""
    values, confidence = _values(values), _confidence(confidence)
    n = len(values)
    mean = math.fsum(values) / n
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, confidence, "t", n)


def bootstrap_interval(values, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> Interval:
    """Percentile bootstrap of the mean: ``resamples`` means of n values drawn with replacement.

    One draw of a (B, n) table of indices from ``numpy.random.default_rng(seed)``; the ends are
    the sorted means at ranks floor(α/2 · B) and ceil((1 - α/2) · B) - 1.
    """
    values, confidence = _values(values), _confidence(confidence)
    check_type("resamples", resamples, int, "an integer >= 100")
    require(resamples >= 100, "resamples", resamples, "an integer >= 100")
    sample = np.asarray(values, dtype=np.float64)
    n = sample.size
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))     # (B, n) indices
    means = np.sort(sample[picks].mean(axis=1))                                 # (B,)
    alpha = 1.0 - confidence
    lo = float(means[int(math.floor(alpha / 2 * resamples))])
    hi = float(means[int(math.ceil((1 - alpha / 2) * resamples)) - 1])
    return Interval(math.fsum(values) / n, lo, hi, confidence, "bootstrap", n)


def paired_summary(arm_values, base_values, better: str = "lower", confidence: float = 0.95,
                   resamples: int = 10_000, seed: int = 0) -> dict:
    """Paired differences d_s = arm_s - base_s: their mean, t and bootstrap intervals, and wins."""
    require(better in ("lower", "higher"), "better", better, "'lower' or 'higher'")
    arm_values, base_values = _values(arm_values), _values(base_values)
    require(len(arm_values) == len(base_values),
            "arm_values", len(arm_values), f"{len(base_values)} values, one per seed")
    diffs = [a - b for a, b in zip(arm_values, base_values)]
    sign = -1.0 if better == "lower" else 1.0
    return {"n": len(diffs), "mean_diff": math.fsum(diffs) / len(diffs), "sd_diff": statistics.stdev(diffs),
            "t": t_interval(diffs, confidence), "bootstrap": bootstrap_interval(diffs, confidence, resamples, seed),
            "wins": sum(sign * d > 0 for d in diffs), "ties": sum(d == 0 for d in diffs)}


def interval_verdict(interval: Interval, better: str = "lower", what: str = "the difference") -> str:
    """Plain words for a difference's interval: better, worse, or not detected (and how large it may be)."""
    require(better in ("lower", "higher"), "better", better, "'lower' or 'higher'")
    pct = f"{interval.confidence:.0%}"
    good_side = interval.hi < 0 if better == "lower" else interval.lo > 0
    bad_side = interval.lo > 0 if better == "lower" else interval.hi < 0
    if good_side:
        return f"better: {what} is {interval} ({pct} interval entirely on the better side of 0)"
    if bad_side:
        return f"worse: {what} is {interval} ({pct} interval entirely on the worse side of 0)"
    bound = max(abs(interval.lo), abs(interval.hi))
    return (f"no difference detected: {what} is {interval}, the {pct} interval contains 0; "
            f"differences larger than {bound:.3g} are unlikely, smaller ones are not ruled out")
