"""What every lesson's self-check shares: the :class:`Feedback` a learner sees, and judging an answer.

A check compares an answer with the exact value computed by the library and returns a
``Feedback``: it shows as one line in a notebook, ``✔ right: ...`` or ``✘ not yet: ...`` with a
hint (text marks every font has, not emoji), and ``bool(feedback)`` is True only when the answer
is right. Each lesson's checks live in its module (``rtt_edu.course.lesson02.check_mean``, ...).

- ``read_number(answer, what)`` reads a numeric answer, or says what is missing (``None``, a string, nan);
- ``judge(answer, expected, what, right, hint, mistakes, tol)`` compares it within ``tol`` and names
  the known mistake it sees (a percentage instead of a probability, E[m²] for the variance, ...):
  an answer is right when ``|answer − expected| <= tol``;
- ``Question`` and ``choose(answer, question)``: a multiple-choice quiz question, answered with a letter;
  each wrong letter has the hint naming the misconception it shows. A lesson's quiz is its ``QUIZ``
  tuple, asked by ``check_quiz(answer, number)``, which is ``ask(QUIZ, answer, number)``.

The teachers' guide lists, for every lesson, the misconceptions its checks detect: it reads them from
these hints (``lessons/guides.py``), so the list stays true to the checks.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from rtt_edu.errors import require

__all__ = ["Feedback", "read_number", "judge", "Question", "choose", "ask", "RIGHT_MARK", "NOT_YET_MARK"]

RIGHT_MARK = "✔ "            # before a right answer's message, which starts "right: ..."
NOT_YET_MARK = "✘ not yet: "  # before the hint of a wrong or missing answer


@dataclass(frozen=True)
class Feedback:
    """The outcome of a self-check: ``ok`` and a message for the learner."""
    ok: bool
    message: str

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return (RIGHT_MARK if self.ok else NOT_YET_MARK) + self.message

    def _repr_markdown_(self):
        return repr(self)


def read_number(answer, what: str):
    """The answer as a float, or a Feedback saying what is missing (``what``: the kind of answer asked for)."""
    if answer is None:
        return Feedback(False, f"replace `None` with {what}, then run the cell again.")
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real) or not math.isfinite(float(answer)):
        return Feedback(False, f"answer={answer!r}: expected {what}.")
    return float(answer)


def judge(answer, expected: float, what: str, right: str, hint: str, mistakes=(), tol: float = 1e-3) -> Feedback:
    """Compare a numeric ``answer`` with ``expected`` (absolute tolerance ``tol``).

    ``mistakes`` is a sequence of ``(value, message)`` pairs: an answer within ``tol`` of known
    wrong values gets their messages (in order); any other wrong answer gets ``hint``.
    """
    value = read_number(answer, what)
    if isinstance(value, Feedback):
        return value
    if abs(value - float(expected)) <= tol:
        return Feedback(True, right)
    seen = [message for wrong, message in mistakes if wrong is not None and abs(value - float(wrong)) <= tol]
    if seen:    # two mistakes can give the same number: name both
        return Feedback(False, f"{value:g} is not it: " + " Or: ".join(dict.fromkeys(seen)))
    return Feedback(False, f"{value:g} is not it. {hint}")


@dataclass(frozen=True)
class Question:
    """A multiple-choice question: its letters, the right one, why it is right, and what each wrong one shows.

    ``topic`` is the question in a few words (the teachers' guide lists it); ``wrong`` maps each
    wrong letter to the hint the learner gets, which names the misconception behind that choice.
    """
    topic: str                  # the question in a few words, e.g. "what E[m] measures"
    right: str                  # the right letter, e.g. "b"
    why: str                    # one sentence: why it is right (shown with the ✔)
    wrong: Mapping[str, str]    # each wrong letter -> the hint naming the misconception it shows

    def __post_init__(self):
        require(self.right not in self.wrong, "right", self.right, "a letter that is not also in `wrong`")
        require(len(self.wrong) >= 1, "wrong", self.wrong, "at least one wrong letter with its hint")

    @property
    def letters(self) -> tuple:
        return tuple(sorted((self.right, *self.wrong)))


def choose(answer, question: Question) -> Feedback:
    """Feedback for a letter (``"a"``, ``"b"``, ...; case and spaces do not matter) answering ``question``."""
    letters = ", ".join(f'"{letter}"' for letter in question.letters)
    if answer is None:
        return Feedback(False, f"replace `None` with one letter in quotes ({letters}), then run the cell again.")
    letter = answer.strip().lower().strip("()") if isinstance(answer, str) else None
    if letter == question.right:
        return Feedback(True, f"right: ({letter}). {question.why}")
    if letter in question.wrong:
        return Feedback(False, f"({letter}) is not it: {question.wrong[letter]}")
    return Feedback(False, f"answer={str(answer)[:40]!r}: expected one letter in quotes ({letters}).")


def ask(quiz, answer, number: int) -> Feedback:
    """Question ``number`` (1 to ``len(quiz)``) of a lesson's quiz, answered with a letter (see :func:`choose`)."""
    require(isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(quiz), "number", number,
            f"a question number from 1 to {len(quiz)}")
    return choose(answer, quiz[number - 1])
