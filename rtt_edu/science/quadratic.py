"""The dice on a straight line: when does a run with a random learning rate converge?

The loss is a 1-D quadratic of curvature ``a`` > 0, L(w) = a/2 · (w - w*)², with gradient
a · (w - w*). One SGD step with learning rate lr, scaled by the dice multiplier m, is
w ← w - lr · m · a · (w - w*), so the error e = w - w* is multiplied by the step's factor

    f(m) = 1 - h·m,        h = lr · a                         (``step_factor``)

and after n steps e_n = e_0 · Π_i f(m_i). Taking logs, log|e_n / e_0| = Σ_i log|f(m_i)|, a sum of
independent rolls, so by the strong law of large numbers (1/n) log|e_n / e_0| → λ almost surely:

    λ(h) = E[log|1 - h·m|] = Σ_m P(m) · log|1 - h·m|          (``lyapunov_exponent``)

λ < 0: e_n → 0 almost surely (the run converges); λ > 0: |e_n| → ∞ almost surely; λ = 0 is the
boundary. A multiplier with 1 - h·m = 0 contributes log 0 = -∞: that step lands exactly on w*,
it has a positive probability on every step, so a run reaches w* in finitely many steps almost
surely. We set λ = -∞ there (and the run converges).

Two other boundaries, for comparison (``mean_rate``, ``mean_square_rate``):

    the average run   E[e_n]  = (1 - h·E[m])^n · e_0      → 0  iff  0 < h·E[m] < 2
    mean square       E[e_n²] = E[(1 - h·m)²]^n · e_0²    → 0  iff  0 < h < 2·E[m] / E[m²]

Jensen's inequality links them: λ = ½ E[log f²] ≤ ½ log E[f²], so mean-square convergence implies
almost-sure convergence, never the other way. And while every f(m) > 0 (h < 1 / max m),
λ < log(1 - h·E[m]) ≤ 0 whenever E[m] ≥ 0. But E[m] > 0 is neither necessary (a rule whose mean is
negative still converges near a pole h = 1/m) nor sufficient (every rule with some m ≠ 0 diverges
once h is large): the sign of the drift is not the verdict.

The exact boundary (``convergence_intervals``): the poles h = 1/m (m > 0 in the support) cut
h > 0 into intervals. On each one every term log|1 - h·m| is concave in h, so λ is strictly
concave there, with λ' (h) = -Σ P(m) · m / (1 - h·m) decreasing, and λ → -∞ at a pole. Hence on
each interval {λ ≥ 0} is one closed interval or empty: bisection on λ' finds the maximum, then
bisection on λ its two ends, to the last bit of a float. On (0, first pole) λ(0) = 0 and
λ'(0) = -E[m]; past the last pole λ rises from -∞ to +∞ and has exactly one root.

``quadratic_run`` is the real thing: one float64 weight trained on this loss by ``torch.optim.SGD``
with the dice attached (``rtt_edu.attach``), so each step's factor e_{t+1}/e_t can be read off and
compared with f(m_t).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from rtt_edu.errors import DiceError, NegativeDriftWarning, check_type, require
from rtt_edu.game.rules import as_rules

__all__ = ["step_factor", "lyapunov_exponent", "lyapunov_grid", "mean_rate", "mean_square_rate",
           "mean_square_limit", "convergence_intervals", "converges", "roll_naturals", "simulate_log_errors",
           "quadratic_run"]


def _check_number(name, value, positive=True) -> float:
    """``value`` as a float: a finite number, and > 0 when ``positive`` (a learning rate, a curvature)."""
    check_type(name, value, (int, float), "a number")
    return float(require(math.isfinite(value) and (value > 0 or not positive), name, value,
                         "a finite number > 0" if positive else "a finite number"))


def _support(rule) -> list:
    """[(m, P(m))] of the rule, with P exact (``Fraction``) and m a float."""
    return list(as_rules(rule).distribution(exact=True).items())


def step_factor(lr: float, m: float, curvature: float = 1.0) -> float:
    """f = 1 - lr·a·m: what one step with multiplier m does to the error w - w*."""
    return 1.0 - _check_number("lr", lr) * _check_number("curvature", curvature) * _check_number("m", m, positive=False)


def _lyapunov_h(support, h: float) -> float:
    terms = []
    for m, p in support:
        f = 1.0 - h * m
        if f == 0.0:
            return -math.inf            # a step lands exactly on w*: converged with positive probability
        terms.append(float(p) * math.log(abs(f)))
    return math.fsum(terms)


def lyapunov_exponent(rule, lr: float, curvature: float = 1.0) -> float:
    """λ = Σ_m P(m) log|1 - lr·a·m|: the almost-sure growth rate of log|error| per step.

    Negative: almost every run converges; positive: almost every run diverges. ``-inf`` when some
    multiplier with P(m) > 0 has 1 - lr·a·m = 0 exactly (that step lands on w*).
    """
    h = _check_number("lr", lr) * _check_number("curvature", curvature)
    return _lyapunov_h(_support(rule), h)


def lyapunov_grid(rule, lrs, curvature: float = 1.0) -> np.ndarray:
    """λ for each learning rate in ``lrs`` at once (numpy; ``-inf`` where a factor is exactly 0)."""
    a = _check_number("curvature", curvature)
    lrs = np.asarray(lrs, dtype=float)
    require(np.all(np.isfinite(lrs) & (lrs > 0)), "lrs", lrs.tolist(), "finite learning rates > 0")
    support = _support(rule)
    ms = np.array([m for m, _ in support])
    ps = np.array([float(p) for _, p in support])
    with np.errstate(divide="ignore"):
        logs = np.log(np.abs(1.0 - np.multiply.outer(lrs * a, ms)))      # (len(lrs), len(ms))
    landed = np.isneginf(logs).any(axis=-1)                              # a step lands on w*
    return np.where(landed, -np.inf, np.where(np.isneginf(logs), 0.0, logs) @ ps)


def mean_rate(rule, lr: float, curvature: float = 1.0) -> float:
    """E[f] = 1 - lr·a·E[m]: the average run shrinks by this factor per step (the drift)."""
    return 1.0 - _check_number("lr", lr) * _check_number("curvature", curvature) * as_rules(rule).expected_multiplier()


def mean_square_rate(rule, lr: float, curvature: float = 1.0) -> float:
    """E[f²] = 1 - 2h·E[m] + h²·E[m²], h = lr·a: E[error²] is multiplied by this per step."""
    h = _check_number("lr", lr) * _check_number("curvature", curvature)
    return math.fsum(float(p) * (1.0 - h * m) ** 2 for m, p in _support(rule))


def mean_square_limit(rule, curvature: float = 1.0) -> float:
    """The largest lr with E[error²] → 0: 2·E[m] / (a·E[m²]); 0.0 when E[m] <= 0 (no such lr).

    With E[m²] = Var[m] + E[m]², a hotter rule (larger variance) has a smaller stable range.
    """
    a = _check_number("curvature", curvature)
    support = _support(rule)
    mean = math.fsum(float(p) * m for m, p in support)
    second = math.fsum(float(p) * m * m for m, p in support)
    return 2.0 * mean / (a * second) if mean > 0 else 0.0


# --- the exact boundary -------------------------------------------------------------------------

def _bisect(pred, lo: float, hi: float) -> float:
    """The last float in (lo, hi) where ``pred`` holds, given pred(lo+) True and pred(hi-) False.

    Neither end is evaluated (an end may be a pole, where λ is -∞ and λ' infinite).
    """
    while True:
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            return lo
        if pred(mid):
            lo = mid
        else:
            hi = mid


def _derivative(support, h: float) -> float:
    """λ'(h) = -Σ P(m) m / (1 - h m) (between poles)."""
    return math.fsum(-float(p) * m / (1.0 - h * m) for m, p in support if m != 0)


def _intervals_h(support) -> list:
    """Open intervals of h > 0 with λ(h) < 0, merged across the poles (where λ = -∞)."""
    nonzero = [(m, p) for m, p in support if m != 0 and p > 0]
    if not nonzero:
        return []                                   # every step is skipped: the error never moves

    def lam(h):
        return _lyapunov_h(nonzero, h)              # m = 0 adds log 1 = 0

    poles = sorted({1.0 / m for m, _ in nonzero if m > 0})
    edges = [0.0] + poles
    pieces = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else math.inf
        if math.isinf(hi):                          # past the last pole (or no pole): λ increases
            if lo == 0.0:
                return []                           # all m <= 0: λ > 0 for every h > 0
            top = 2.0 * lo
            while lam(top) < 0:
                top *= 2.0
            pieces.append((lo, _bisect(lambda h: lam(h) < 0, lo, top)))
            break
        if lo == 0.0 and _derivative(nonzero, 0.0) <= 0:   # λ(0) = 0, λ'(0) = -E[m] <= 0, concave
            pieces.append((lo, hi))
            continue
        # the maximum of the concave λ on (lo, hi): where the decreasing derivative crosses 0
        peak = _bisect(lambda h: _derivative(nonzero, h) > 0, lo, hi)
        if lo > 0.0 and lam(peak) < 0:
            pieces.append((lo, hi))
            continue
        right = _bisect(lambda h: lam(h) >= 0, peak, hi)
        if lo > 0.0:
            pieces.append((lo, _bisect(lambda h: lam(h) < 0, lo, peak)))
        pieces.append((right, hi))
    merged = []
    for lo, hi in pieces:
        if merged and merged[-1][1] == lo and lo in poles:
            merged[-1] = (merged[-1][0], hi)        # the pole itself converges: join across it
        else:
            merged.append((lo, hi))
    return merged


def convergence_intervals(rule, curvature: float = 1.0) -> list:
    """The learning rates at which a run converges almost surely (λ < 0), as open intervals.

    ``[(lo, hi), ...]`` in increasing order; the ends are the roots of λ (to the last bit of a
    float) or 0. Every interval is bounded: a large enough learning rate always diverges.
    """
    a = _check_number("curvature", curvature)
    return [(lo / a, hi / a) for lo, hi in _intervals_h(_support(rule))]


def converges(rule, lr: float, curvature: float = 1.0) -> bool:
    """True when λ < 0: almost every run at this learning rate reaches w* (in the limit)."""
    return lyapunov_exponent(rule, lr, curvature) < 0


# --- simulated runs -----------------------------------------------------------------------------

def roll_naturals(rule, roller, runs: int, steps: int) -> np.ndarray:
    """A (runs, steps) array of natural faces rolled by ``roller`` as the rule rolls them
    (:meth:`~rtt_edu.game.rules.SavingThrow.roll`, the game master's own path, with no bonus)."""
    rule = as_rules(rule)
    for name, value in (("runs", runs), ("steps", steps)):
        check_type(name, value, int, "an integer >= 1")
        require(value >= 1, name, value, "an integer >= 1")
    faces = [rule.roll(roller)[0].natural for _ in range(runs * steps)]
    return np.array(faces, dtype=np.int64).reshape(runs, steps)


def simulate_log_errors(rule, lrs, naturals, curvature: float = 1.0) -> np.ndarray:
    """log|e_n / e_0| of each run at each learning rate: shape (len(lrs), runs).

    Run r at learning rate lr multiplies its error by 1 - lr·a·m(naturals[r, t]) at step t, so
    log|e_n / e_0| = Σ_t log|1 - lr·a·m_t| exactly (no overflow, no underflow). ``-inf`` marks a
    run that landed exactly on w*. The same faces serve every learning rate (common random numbers).
    """
    rule = as_rules(rule)
    a = _check_number("curvature", curvature)
    naturals = np.asarray(naturals)
    require(naturals.ndim == 2 and naturals.size and 1 <= naturals.min() and naturals.max() <= rule.sides,
            "naturals", f"array of shape {naturals.shape}", f"a (runs, steps) array of faces 1..{rule.sides}")
    table = np.array([0.0] + [rule.multiplier(k) for k in range(1, rule.sides + 1)])
    ms = table[naturals]                                        # (runs, steps)
    out = []
    for lr in np.asarray(lrs, dtype=float).ravel():
        with np.errstate(divide="ignore"):
            logs = np.log(np.abs(1.0 - lr * a * ms))
        hit = np.isneginf(logs).any(axis=1)
        out.append(np.where(hit, -np.inf, np.where(np.isneginf(logs), 0.0, logs).sum(axis=1)))
    return np.array(out)


def quadratic_run(rules, lr: float, steps: int, seed: int, curvature: float = 1.0, w0: float = 1.0,
                  w_star: float = 0.0):
    """Train one weight on a/2·(w - w*)² with SGD and the dice; return (errors, records).

    ``errors[t]`` is w - w* before step t (``steps + 1`` values, float64); ``records`` are the
    step records (natural face, multiplier, ...). A rule that climbs the loss is what this
    lesson shows on purpose, so its ``NegativeDriftWarning`` is not raised here, and no guard
    runs: a run that overflows float64 shows as ``inf`` (or ``nan``) in ``errors``.
    """
    import torch

    from rtt_edu.training.game import attach

    check_type("steps", steps, int, "an integer >= 1")
    require(steps >= 1, "steps", steps, "an integer >= 1", DiceError)   # DiceError, as it always was
    w = torch.nn.Parameter(torch.tensor(float(w0), dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(optimizer, rules, seed=seed, on_nonfinite="off")
    errors = [float(w.detach()) - w_star]
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            loss = 0.5 * curvature * (w - w_star) ** 2
            loss.backward()
            optimizer.step()
            errors.append(float(w.detach()) - w_star)
    finally:
        handle.remove()
    return errors, handle.records
