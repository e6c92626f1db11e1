"""Self-checks of lesson 3: a toy network on the moons.

The effective learning rate, counts of skipped and uphill steps: each compares an answer with the
exact value computed by the library and names the mistake it sees.
"""
from __future__ import annotations

from rtt_edu.game.rules import as_rules
from rtt_edu.exercises.base import Feedback, judge

__all__ = ["check_effective_lr", "check_expected_count"]


def check_effective_lr(answer, rule="classroom", lr: float = 0.1) -> Feedback:
    """On average the dice train at lr·E[m]: the drift folded into the learning rate."""
    rule = as_rules(rule)
    expected = lr * rule.expected_multiplier()
    return judge(answer, expected, "a learning rate",
                 f"right: lr·E[m] = {lr:g}·{rule.expected_multiplier():.4f} = {expected:.4f}. The rest of each "
                 "step is noise around it.",
                 "Each step is m times the plain step, so on average it is E[m] times it.",
                 [(lr, "that is the plain learning rate. The dice scale every step by m."),
                  (rule.expected_multiplier(), f"that is E[m]. Multiply by the learning rate {lr:g}.")],
                 tol=5e-4)


_COUNTED = {"skipped": ("p_skip", "steps with m = 0 (skipped)"),
            "uphill": ("p_ascent", "steps with m < 0 (uphill)")}


def check_expected_count(answer, rule="seed-code", steps: int = 300, kind: str = "skipped") -> Feedback:
    """The expected number of skipped (m = 0) or uphill (m < 0) steps in ``steps`` steps: steps · P."""
    if kind not in _COUNTED:
        raise ValueError(f"kind={kind!r}: expected one of {sorted(_COUNTED)}")
    rule = as_rules(rule)
    method, label = _COUNTED[kind]
    p = getattr(rule, method)()
    expected = steps * p
    return judge(answer, expected, "a number of steps",
                 f"right: {steps} · {p:.4f} = {expected:.2f} {label} on average.",
                 f"Each step is one roll: the count is steps · P, with P from rule.{method}().",
                 [(p, f"that is the probability of one step. Multiply by {steps} steps."),
                  (steps * (1 - p), "that counts the other steps.")], tol=0.05)
