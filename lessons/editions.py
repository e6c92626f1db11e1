"""The student edition of every lesson, generated from its authored version by nbgrader's preprocessors.

One source, two editions:

- ``lessons/source/NN_title.ipynb``, the **authored** version (the teacher's answer key): each
  prediction and exercise is a pair of nbgrader cells. The *answer* cell holds the worked
  solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the value and, in a comment,
  why); the *check* cell after it is an autograded test worth ``points``: it shows the self-check
  the student sees, and its ``### BEGIN HIDDEN TESTS`` block asserts the check passes, so
  ``nbgrader autograde`` takes the points away from a wrong answer. A written answer is a
  markdown cell with nbgrader's solution metadata. The authored lesson is committed executed:
  every check cell shows "✔" (tests/test_editions.py holds it to that; nbval re-runs it).
- ``notebooks/NN_title.ipynb``, the **student** edition, which ``make lab``, Binder, ``rtt-edu
  lessons`` and the website serve. It is generated here, never edited by hand:

  1. nbgrader's ``ClearSolutions`` turns every solution into ``answer = None   # your answer``
     (written answers into "YOUR ANSWER HERE");
  2. nbgrader's ``ClearHiddenTests`` removes the asserts, so an unanswered check says
     "✘ not yet" and nothing stops the notebook;
  3. :class:`StudentOutputs` clears the outputs that would give an answer away (the answer and
     check cells, and any cell tagged ``rtt-answer``: the cell that reveals a prediction's answer),
     takes the nbval tags off those cells, drops the cells tagged ``rtt-teacher`` and every cell's
     ``nbgrader`` metadata. The website's edition (``fold_answers=True``, made by ``site/build.py``)
     keeps an ``rtt-answer`` cell's outputs folded behind a toggle instead: its reader cannot run
     the cell.

Every other cell, its outputs included, is the authored cell unchanged, so the student edition
needs no run of its own. Both editions are committed; ``tests/test_editions.py`` regenerates the
student edition and fails on any difference, so they cannot drift.

    .venv/bin/python lessons/editions.py            # write notebooks/ from lessons/source/ (make editions)
    .venv/bin/python lessons/editions.py --check    # exit 1, naming the lessons, if notebooks/ is stale

An author edits ``lessons/source/NN_*.ipynb``, re-runs it
(``benchmarks/bench_notebooks.py --write lessons/source/NN_*.ipynb``) and runs ``make editions``.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "lessons", "source")     # the authored lessons (answer key)
STUDENT = os.path.join(ROOT, "notebooks")             # the student edition, generated

CODE_STUB = "answer = None   # your answer"        # what a solution region becomes
TEXT_STUB = "*Your answer here.*"                  # what a written answer becomes
ANSWER_TAG = "rtt-answer"      # a cell whose output answers a question: cleared in the student edition
TEACHER_TAG = "rtt-teacher"    # a cell for the teacher only: left out of the student edition
CHECK_TAGS = ("nbval-check-output", "rtt-check-approx")


def nbgrader_role(cell) -> str | None:
    """``"answer"`` for an nbgrader solution cell, ``"check"`` for a graded test cell, else None."""
    meta = cell.metadata.get("nbgrader", {})
    return "answer" if meta.get("solution") else "check" if meta.get("grade") else None


class StudentOutputs(Preprocessor):
    """Clear the outputs that give an answer away; drop teacher-only cells and the nbgrader metadata.

    ``fold_answers``: instead of clearing an ``rtt-answer`` cell's outputs, keep them folded behind
    a "show output" toggle (Jupyter Book's ``hide-output`` tag): the website's edition, whose reader
    cannot run the cell, predicts and then unfolds the answer."""

    def __init__(self, fold_answers: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fold_answers = fold_answers

    def preprocess(self, nb, resources):
        nb.cells = [cell for cell in nb.cells if TEACHER_TAG not in cell.metadata.get("tags", [])]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        tags = cell.metadata.get("tags", [])
        role, folded = nbgrader_role(cell), self.fold_answers and ANSWER_TAG in tags
        if role or ANSWER_TAG in tags:
            if cell.cell_type == "code" and not folded:
                cell.outputs, cell.execution_count = [], None
            kept = [tag for tag in tags if tag not in CHECK_TAGS + (ANSWER_TAG,)] + (["hide-output"] if folded else [])
            if kept:
                cell.metadata["tags"] = kept
            else:
                cell.metadata.pop("tags", None)
        cell.metadata.pop("nbgrader", None)
        return cell, resources


def student_edition(source_path: str, fold_answers: bool = False) -> str:
    """The student edition of one authored lesson, as the text of its ``.ipynb`` file (``fold_answers``:
    the website's, see :class:`StudentOutputs`)."""
    nb = nbformat.read(source_path, as_version=4)
    resources = {}
    steps = (ClearSolutions(code_stub={"python": CODE_STUB}, text_stub=TEXT_STUB, enforce_metadata=True),
             ClearHiddenTests(), StudentOutputs(fold_answers=fold_answers))
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"     # as nbformat.write saves it


def authored_lessons() -> list[str]:
    return sorted(glob.glob(os.path.join(SOURCE, "[0-9][0-9]_*.ipynb")))


def _stale() -> dict:
    """``{name: generated text}`` of the student editions that differ from what their authored lessons
    generate (or are missing): each generated once."""
    stale = {}
    for path in authored_lessons():
        name = os.path.basename(path)
        target = os.path.join(STUDENT, name)
        current = Path(target).read_text(encoding="utf-8") if os.path.exists(target) else None
        text = student_edition(path)
        if current != text:
            stale[name] = text
    return stale


def stale_lessons() -> list[str]:
    """Student editions that differ from what their authored lessons generate (or are missing)."""
    return list(_stale())


def write_all() -> list[str]:
    """Write every student edition that changed (each an atomic write); return their names."""
    from rtt_edu.atomic import atomic_write

    stale = _stale()
    for name, text in stale.items():
        data = text.encode("utf-8")
        atomic_write(os.path.join(STUDENT, name), lambda fh, data=data: fh.write(data), what="lesson")
    return list(stale)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report student editions that are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_lessons()
        for name in stale:
            print(f"notebooks/{name} differs from what lessons/source/{name} generates: run `make editions`")
        return 1 if stale else 0
    for name in write_all():
        print(f"wrote notebooks/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
