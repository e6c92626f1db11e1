"""Lesson 8 (a small BERT): the lesson's predict-then-check self-checks."""
from __future__ import annotations

from fractions import Fraction

from rtt_edu.exercises import Feedback, judge


def check_rogue_best_accuracy(answer) -> Feedback:
    """The best accuracy on 'a brave rogue guards the [MASK]' (key 1/2, gem 1/4, crown 1/4): 1/2."""
    return judge(answer, Fraction(1, 2), "a probability (a Fraction or a float)",
                 "right: 1/2. The best guess is always the likeliest word, 'key', and it is right half the time.",
                 "A perfect model knows P(word | context) and always says the likeliest word. How often is it right?",
                 mistakes=((1, "a perfect model still cannot know which of the rogue's things this sentence hides."),
                           (Fraction(1, 3), "not a uniform guess: the grammar makes 'key' twice as likely as each "
                                            "of the others."),
                           (Fraction(1, 4), "that is how often 'gem' or 'crown' is right; pick the likeliest word.")))
