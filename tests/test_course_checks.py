"""What every lesson's self-check shares (rtt_edu.course.checks), and the checks of all lessons at once:
each asks for an answer instead of failing, and every name a lesson's notebook calls is in its module."""
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from rtt_edu import Rogue
from rtt_edu.course.checks import Feedback, Question, ask, judge, read_number

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def module(number: int):
    return importlib.import_module(f"rtt_edu.course.lesson{number:02d}")


NUMBERS = [int(p.name[:2]) for p in LESSONS]
#: a value for each argument without a default that a check takes besides the answer, by its name.
NEEDS = {"lr": 0.9, "w": 2.0, "character_class": Rogue(), "number": 1}
#: checks that train a panel to know the answer: asked with None only.
SLOW = {"check_bonus_after_dc"}
CHECKS = [(f"lesson{n:02d}.{name}", getattr(module(n), name)) for n in NUMBERS
          for name in module(n).__all__ if name.startswith("check_")]


def needs(check) -> dict:
    """The arguments of ``check`` besides the answer that have no default, from :data:`NEEDS`."""
    parameters = list(inspect.signature(check).parameters.values())[1:]
    return {p.name: NEEDS[p.name] for p in parameters if p.default is p.empty and p.kind is not p.VAR_KEYWORD}


def test_feedback_shows_its_verdict_and_is_truthy_only_when_right():
    good, bad = Feedback(True, "fine"), Feedback(False, "hint")
    assert bool(good) and not bool(bad)
    assert repr(good) == "✔ fine" and repr(bad) == "✘ not yet: hint" and bad._repr_markdown_() == "✘ not yet: hint"
    assert not any(ord(c) > 0xFFFF or 0x1F000 <= ord(c) for c in repr(good) + repr(bad))    # no emoji: every font


def test_read_number_takes_numbers_and_says_what_is_missing():
    assert read_number(3, "x") == 3.0 and read_number(0.5, "x") == 0.5
    for answer in (None, "0.5", True, float("nan"), float("inf")):
        feedback = read_number(answer, "a probability")
        assert isinstance(feedback, Feedback) and not feedback and "a probability" in feedback.message


def test_judge_names_every_matching_mistake_but_never_before_the_right_answer():
    fb = judge(1.0, 1.0, "x", "ok", "hint", [(1.0, "a mistake that equals the answer")])
    assert fb.ok
    fb = judge(2.0, 1.0, "x", "ok", "hint", [(None, "skipped"), (2.0, "first"), (3.0, "far"), (2.0, "second")])
    assert fb.message == "2 is not it: first Or: second"
    assert judge(5.0, 1.0, "x", "ok", "hint", [(2.0, "first")]).message == "5 is not it. hint"
    assert judge(1.0004, 1.0, "x", "ok", "hint", tol=5e-4) and not judge(1.0006, 1.0, "x", "ok", "hint", tol=5e-4)


def test_a_quiz_question_takes_a_letter_and_names_the_misconception_of_a_wrong_one():
    quiz = (Question("a topic", "b", "because", {"a": "a is a misconception", "c": "c is another"}),)
    assert ask(quiz, " (B) ", 1) and ask(quiz, "b", 1).message == "right: (b). because"
    assert ask(quiz, "a", 1).message == "(a) is not it: a is a misconception"
    assert not ask(quiz, "z", 1) and "expected one letter" in ask(quiz, "z", 1).message
    assert "replace `None`" in ask(quiz, None, 1).message
    for number in (0, 2, True, 1.0):
        with pytest.raises(ValueError, match="number"):
            ask(quiz, "b", number)
    with pytest.raises(ValueError, match="right"):
        Question("t", "a", "why", {"a": "both right and wrong"})


QUESTIONS = [(n, k) for n in NUMBERS for k in range(1, len(module(n).QUIZ) + 1)]


@pytest.mark.parametrize("number,k", QUESTIONS, ids=[f"lesson{n:02d}-q{k}" for n, k in QUESTIONS])
def test_every_quiz_question_takes_its_letter_and_names_the_misconception_of_each_other(number, k):
    lesson = module(number)
    question = lesson.QUIZ[k - 1]
    assert lesson.check_quiz(question.right, k) and lesson.check_quiz(f" ({question.right.upper()}) ", k)
    for letter, hint in question.wrong.items():
        feedback = lesson.check_quiz(letter, k)
        assert not feedback and hint in feedback.message
        assert f"({question.right})" not in hint, "a hint must not give the right letter away"
    assert "replace `None`" in lesson.check_quiz(None, k).message
    with pytest.raises(ValueError, match="number"):
        lesson.check_quiz(question.right, len(lesson.QUIZ) + 1)


def test_every_lesson_ends_with_a_quiz_of_three_to_five_questions():
    for number in NUMBERS:
        quiz = module(number).QUIZ
        assert 3 <= len(quiz) <= 5 and all(isinstance(q, Question) for q in quiz), number


def test_every_lesson_has_its_module_with_its_checks():
    assert NUMBERS == list(range(len(LESSONS))) and len(LESSONS) >= 10
    assert len(CHECKS) >= 40
    for name, check in CHECKS:
        assert list(inspect.signature(check).parameters)[0] == "answer", name
        assert check.__doc__, f"{name} needs a docstring: what it checks"


@pytest.mark.parametrize("name,check", CHECKS, ids=[name for name, _ in CHECKS])
def test_every_check_asks_for_an_answer_instead_of_failing(name, check):
    feedback = check(None, **needs(check))
    assert isinstance(feedback, Feedback) and not feedback and "replace `None`" in feedback.message
    if check.__name__ not in SLOW:
        assert not check(3, **needs(check))                 # an answer of the wrong kind is never right


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_a_notebook_calls_only_names_its_lessons_module_has(path):
    """``c5.check_x`` or ``course.check_x`` in lesson 5's cells is a name of rtt_edu.course.lesson05."""
    number = int(path.name[:2])
    sources = ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
               if c["cell_type"] == "code"]
    code = "\n".join(sources)
    aliases = re.findall(rf"from rtt_edu\.course import lesson{number:02d} as (\w+)", code)
    assert len(aliases) == 1, f"{path.name}: import `from rtt_edu.course import lesson{number:02d} as ...` once"
    names = set(re.findall(rf"(?<![\w.]){aliases[0]}\.(\w+)", code))
    assert names, f"{path.name} never calls its module"
    assert names <= set(dir(module(number))), sorted(names - set(dir(module(number))))
    assert not re.search(r"rtt_edu(?:\.| import )(?:exercises|lessons_support|compare)\b", code), path.name
