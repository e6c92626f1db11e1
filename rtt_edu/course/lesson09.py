"""Lesson 9 (a small BERT): the exact posterior of a masked word, and the lesson's self-checks.

The best accuracy on a context, the exact posterior of a masked word, the Bayes guess: each check
compares an answer with the exact value computed from the grammar and names the mistake it sees.
"""
from __future__ import annotations

import functools
from fractions import Fraction

from rtt_edu.course.checks import Feedback, judge
from rtt_edu.data.grammar import FantasyGrammar
from rtt_edu.errors import require

__all__ = ["check_rogue_best_accuracy", "mask_posterior", "check_mask_probability", "check_context_best_accuracy",
           "check_best_word"]


def check_rogue_best_accuracy(answer) -> Feedback:
    """The best accuracy on 'a brave rogue guards the [MASK]' (key 1/2, gem 1/4, crown 1/4): 1/2."""
    return judge(answer, Fraction(1, 2), "a probability (a Fraction or a float)",
                 "right: 1/2. The best guess is always the likeliest word, 'key', and it is right half the time.",
                 "A perfect model knows P(word | context) and always says the likeliest word. How often is it right?",
                 mistakes=((1, "a perfect model still cannot know which of the rogue's things this sentence hides."),
                           (Fraction(1, 3), "not a uniform guess: the grammar makes 'key' twice as likely as each "
                                            "of the others."),
                           (Fraction(1, 4), "that is how often 'gem' or 'crown' is right; pick the likeliest word.")))


# --- exercises ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _grammar() -> FantasyGrammar:
    return FantasyGrammar()


def mask_posterior(context: str) -> dict:
    """Exact P(w | c) for a context such as ``"the wizard casts a [MASK]"`` (one ``[MASK]``; its length counts).

    P(w | c) = P(c with w) / Σ_w' P(c with w'), summed over the grammar's sentences that fit.
    """
    words = context.split()
    require(words.count("[MASK]") == 1, "context", context, "a sentence with exactly one [MASK]")
    i = words.index("[MASK]")
    weights: dict = {}
    for sentence, p in _grammar().sentences.items():
        if len(sentence) == len(words) and all(a == b for j, (a, b) in enumerate(zip(sentence, words)) if j != i):
            weights[sentence[i]] = weights.get(sentence[i], Fraction(0)) + p
    require(weights, "context", context, "a context that a sentence of the grammar fits; no sentence fits this one")
    total = sum(weights.values())
    return {w: p / total for w, p in sorted(weights.items(), key=lambda kv: -kv[1])}


def check_mask_probability(answer, context: str = "the wizard casts a [MASK]", word: str = "fireball") -> Feedback:
    """The exact P(word | context) from the grammar."""
    expected = mask_posterior(context).get(word, Fraction(0))
    return judge(answer, float(expected), "a probability (a Fraction or a float)",
                 f"right: P({word} | {context!r}) = {expected}.",
                 "Only sentences of the same length with the same words around the mask count. Which rule "
                 "of the grammar chooses the hidden word, and with what probabilities?", tol=1e-3)


def check_context_best_accuracy(answer, context: str = "[MASK] wise knight slays a troll") -> Feedback:
    """The best accuracy on one context: max_w P(w | c)."""
    post = mask_posterior(context)
    word, expected = next(iter(post.items()))
    return judge(answer, float(expected), "a probability (a Fraction or a float)",
                 f"right: the best guess is {word!r}, right with probability {expected}; no model does better.",
                 "A perfect model always guesses the most likely word. How often is that word the right one?",
                 tol=1e-3)


def check_best_word(answer, context: str = "the brave [MASK] heals a wounded knight") -> Feedback:
    """The Bayes-optimal guess: argmax_w P(w | c)."""
    post = mask_posterior(context)
    word, p = next(iter(post.items()))
    if answer is None:
        return Feedback(False, "replace `None` with a word in quotes, then run the cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected a word in quotes, such as 'wizard'.")
    if answer.strip().lower() == word:
        return Feedback(True, f"right: {word!r}, with probability {p}. The verb decides the hero, several words "
                              "away: that is the long-range dependency attention has to find.")
    if answer.strip().lower() in post:
        return Feedback(False, f"{answer!r} can appear there, but it is not the most likely word. "
                               "Which hero does this verb belong to?")
    return Feedback(False, f"{answer!r} never appears in this context. Look at the verb: whose verb is it?")
