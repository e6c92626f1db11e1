"""Lesson 9 (a small BERT): the exact posterior of a masked word, and the lesson's self-checks.

The best accuracy on a context, the exact posterior of a masked word, the Bayes guess: each check
compares an answer with the exact value computed from the grammar and names the mistake it sees.
"""
from __future__ import annotations

import functools
from fractions import Fraction

from rtt_edu.course.checks import Feedback, Question, ask, judge
from rtt_edu.data.grammar import FantasyGrammar
from rtt_edu.errors import require

__all__ = ["check_rogue_best_accuracy", "mask_posterior", "check_mask_probability", "check_context_best_accuracy",
           "check_best_word", "QUIZ", "check_quiz"]


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
        return Feedback(True, f"right: {word!r}, with probability {p}. A word on the other side of the mask, "
                              "its verb, decides the hero: a masked-LM reads both sides, and attention finds it.")
    if answer.strip().lower() in post:
        return Feedback(False, f"{answer!r} can appear there, but it is not the most likely word. "
                               "Which hero does this verb belong to?")
    return Feedback(False, f"{answer!r} never appears in this context. Look at the verb: whose verb is it?")


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="the best accuracy when the words behind a mask are equally likely",
             right="b",
             why="the best any model can do is say the likeliest word, and with three words at 1/3 each it is right "
                 "1/3 of the time: the optimum is the posterior's largest probability.",
             wrong={"a": "the best accuracy is not fixed by the sentence: it is the largest probability in the "
                         "posterior, and that changes when the grammar's probabilities change.",
                    "c": "a perfect model knows the probabilities, not the sentence: when three words fit equally "
                         "well, no model can know which one this sentence hides.",
                    "d": "guessing uniformly among the three is right 1/3 of the time, the same as always saying "
                         "one of them; no guess does better than the largest probability."}),
    Question(topic="whether a bigger model can beat the Bayes-optimal accuracy",
             right="c",
             why="72.6% is what a model that knows every probability of the grammar exactly reaches; the rest of "
                 "the errors are chance in the language itself ('the' or 'a', which of a hero's things), which no "
                 "model can remove.",
             wrong={"a": "size and training time can bring a model up to the optimum, not past it: the optimum "
                         "already knows the grammar perfectly.",
                    "b": "the hidden word is often truly uncertain ('the' or 'a' is 3:2 in every sentence): even "
                         "a model that knows the grammar perfectly guesses wrong there.",
                    "d": "the optimum is computed from the grammar alone, not from any model: it is the same for "
                         "every model, small or large."}),
    Question(topic="what the classroom dice do to AdamW, on average",
             right="b",
             why="the dice scale AdamW's update (target 'update'), so on average the step is E[m] = 0.475 times "
                 "the plain one: AdamW at about 0.475 × 3·10⁻³ ≈ 1.4·10⁻³, plus the noise of the rolls.",
             wrong={"a": "the dice do change the step: a multiplier of mean 0.475 makes the average step about "
                         "half as long.",
                    "c": "the multiplier scales the learning rate, it does not divide it: a mean below 1 makes "
                         "the steps shorter, not longer.",
                    "d": "Adam undoes a scaled gradient or a scaled loss, but the dice here scale the update "
                         "itself, after Adam's division (lesson 8), and that Adam cannot undo."}),
    Question(topic="what one seed per rule can say about a small gap",
             right="c",
             why="another seed changes the data, the initial weights and the dice, and moves each run by about as "
                 "much as the gap; only many paired seeds and an interval can tell (lesson 10).",
             wrong={"a": "one run per rule measures this seed, not the rule: another seed can give a gap of the "
                         "other sign.",
                    "b": "a gap this small from one seed says nothing either way: not that the dice help, nor that "
                         "they do not.",
                    "d": "'as good as plain' is a claim too: one seed cannot rule out a real difference of a point "
                         "or two in either direction."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
