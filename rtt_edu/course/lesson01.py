"""Lesson 1's set-up: the predict-then-check of advantage.

    from rtt_edu.course import lesson01 as c1
    c1.check_twenty_with_advantage(39 / 400)     # ✔ ...
"""
from __future__ import annotations

from rtt_edu.game.dice import natural_distribution
from rtt_edu.exercises import Feedback, judge

__all__ = ["check_twenty_with_advantage"]


def check_twenty_with_advantage(answer) -> Feedback:
    """P(natural = 20) when a d20 is rolled with advantage: 1 − (19/20)² = 39/400."""
    expected = float(natural_distribution(20, advantage=True)[20])
    return judge(answer, expected, "a probability between 0 and 1 (a fraction like 1/20 is fine)",
                 f"the higher of two dice is 20 unless both miss it: 1 − (19/20)² = 39/400 = {expected:.4f}, "
                 "almost twice 1/20.",
                 "Advantage fails to show a 20 only when both dice miss it: 1 − P(both miss).",
                 mistakes=((2 / 20, "2/20 counts the case where both dice show 20 twice; subtract it: 1 − (19/20)²."),
                           (1 / 400, "1/400 is both dice showing 20; one of the two is enough."),
                           (1 / 20, "that is one die; with two dice a 20 is more likely.")))
