"""Graded versions for a class: nbgrader grades three copies of one lesson, offline, in a temporary course.

The course folder is what a teacher sets up (teachers/nbgrader_config.py; the authored lesson in
``source/lessonNN/``). ``nbgrader generate_assignment`` makes the student version; three submissions are
graded by ``nbgrader autograde``, each check cell scoring its points or 0:

- the answer key (every solution of the authored lesson) gets full marks;
- the blank student version gets 0 without crashing;
- the key with one wrong answer loses exactly that question's points, and nothing else.
"""
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lessons"))
pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook  # noqa: E402

import editions  # noqa: E402

LESSON = "01_roll_the_dice"          # exact maths only: quick to run three times
ASSIGNMENT = "lesson01"
WRONG = "lesson01_exercise2"         # the question the third copy gets wrong
NBGRADER = os.path.join(os.path.dirname(sys.executable), "nbgrader")

pytestmark = pytest.mark.slow


def _solution(cell) -> str:
    """An answer cell's source with the solution markers taken out (what a student who got it right writes)."""
    return "\n".join(line for line in cell.source.split("\n") if "SOLUTION" not in line)


def _submission(release, source, wrong=None):
    """The released notebook with the key's answers written in (``wrong``: this question's answer set wrong)."""
    key = {c.metadata.nbgrader.grade_id: c for c in source.cells if editions.nbgrader_role(c) == "answer"}
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in key:
            cell.source = _solution(key[gid]) + ("\nanswer = -12345   # a wrong answer" if gid == wrong else "")
    return nb


def _nbgrader(course, *args):
    env = {**os.environ, "PATH": os.path.dirname(NBGRADER) + os.pathsep + os.environ.get("PATH", "")}  # its alembic
    done = subprocess.run([NBGRADER, *args, "--force"], cwd=course, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copy(os.path.join(ROOT, "teachers", "nbgrader_config.py"), course)
    os.makedirs(course / "source" / ASSIGNMENT)
    source_path = os.path.join(editions.SOURCE, LESSON + ".ipynb")
    shutil.copy(source_path, course / "source" / ASSIGNMENT)
    _nbgrader(course, "generate_assignment", ASSIGNMENT)
    release = nbformat.read(course / "release" / ASSIGNMENT / f"{LESSON}.ipynb", as_version=4)
    source = nbformat.read(source_path, as_version=4)
    copies = {"key": _submission(release, source), "blank": release,
              "one_wrong": _submission(release, source, wrong=WRONG)}
    for student, nb in copies.items():
        folder = course / "submitted" / student / ASSIGNMENT
        os.makedirs(folder)
        nbformat.write(nb, folder / f"{LESSON}.ipynb")
    _nbgrader(course, "autograde", ASSIGNMENT)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        yield {student: {grade.cell.name: (grade.score, grade.max_score)
                         for grade in gradebook.find_submission_notebook(LESSON, ASSIGNMENT, student).grades}
               for student in copies}, release


def test_the_teachers_config_uses_the_student_editions_stubs():
    text = open(os.path.join(ROOT, "teachers", "nbgrader_config.py"), encoding="utf-8").read()
    assert repr(editions.CODE_STUB).replace("'", '"') in text and repr(editions.TEXT_STUB).replace("'", '"') in text


def test_the_released_version_has_no_solution_and_no_hidden_test(graded):
    _, release = graded
    text = nbformat.writes(release)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and editions.CODE_STUB in text


def test_the_answer_key_gets_full_marks(graded):
    scores, _ = graded
    assert scores["key"] and all(score == most > 0 for score, most in scores["key"].values()), scores["key"]


def test_the_blank_student_version_gets_zero(graded):
    scores, _ = graded
    assert sum(score for score, _ in scores["blank"].values()) == 0


def test_one_wrong_answer_loses_exactly_its_points(graded):
    scores, _ = graded
    lost = {cell: most - score for cell, (score, most) in scores["one_wrong"].items() if score != most}
    assert lost == {WRONG + "_check": scores["key"][WRONG + "_check"][1]}
