"""One source, two editions: the authored lessons (answer key) and the student edition made from them.

See lessons/editions.py. The student edition in notebooks/ must be exactly what the authored
lessons in lessons/source/ generate; every check cell of the key shows "✔" (nbval re-runs the key and
compares those outputs); the student edition holds no solution, no hidden test and no answer output.
"""
import os
import re
import sys

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lessons"))
pytest.importorskip("nbgrader")
import editions  # noqa: E402
import guides  # noqa: E402

SOURCES = editions.authored_lessons()
NAMES = [os.path.basename(p) for p in SOURCES]


def test_every_lesson_has_an_authored_version():
    student = sorted(n for n in os.listdir(editions.STUDENT) if re.match(r"\d\d_.*\.ipynb$", n))
    assert NAMES == student and len(NAMES) >= 11


def test_student_edition_is_generated_from_the_authored_lessons():
    assert editions.stale_lessons() == [], "run `make editions` and commit notebooks/"


def test_guides_misconceptions_are_generated_from_the_checks():
    stale = [p for p in SOURCES if not os.path.exists(guides.guide_path(p))
             or open(guides.guide_path(p), encoding="utf-8").read() != guides.updated_guide(p)]
    assert stale == [], "run `make editions` and commit teachers/guide/"


def _roles(path):
    nb = nbformat.read(path, as_version=4)
    return nb, [(cell, editions.nbgrader_role(cell)) for cell in nb.cells]


@pytest.mark.parametrize("path", SOURCES, ids=NAMES)
def test_the_key_answers_every_question_and_every_check_says_right(path):
    nb, roles = _roles(path)
    answers = [cell for cell, role in roles if role == "answer"]
    checks = [cell for cell, role in roles if role == "check"]
    assert len(answers) == len(checks) >= 4
    ids = [cell.metadata.nbgrader.grade_id for cell, role in roles if role]
    assert len(set(ids)) == len(ids), "grade_ids must be unique"
    for cell in answers:
        if cell.cell_type == "code":
            solution = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            assert "answer = None" not in solution, f"{cell.metadata.nbgrader.grade_id}: the key has no answer"
            assert "#" in solution, f"{cell.metadata.nbgrader.grade_id}: a solution says why, in a comment"
    for cell in checks:
        gid = cell.metadata.nbgrader.grade_id
        assert cell.metadata.nbgrader.points > 0 and "### BEGIN HIDDEN TESTS" in cell.source, gid
        assert "nbval-check-output" in cell.metadata.get("tags", []), f"{gid}: nbval must re-check the key"
        shown = "".join(out.get("data", {}).get("text/plain", "") for out in cell.outputs)
        assert shown.startswith("✔"), f"{gid}: the key's check shows {shown[:80]!r}"


@pytest.mark.parametrize("path", SOURCES, ids=NAMES)
def test_the_student_edition_gives_nothing_away(path):
    _, roles = _roles(path)
    student = nbformat.read(os.path.join(editions.STUDENT, os.path.basename(path)), as_version=4)
    text = nbformat.writes(student)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and '"nbgrader"' not in text
    assert "✔" not in "".join(str(cell.get("outputs", "")) for cell in student.cells)
    kept = [cell for cell, _ in roles if editions.TEACHER_TAG not in cell.metadata.get("tags", [])]
    assert len(student.cells) == len(kept)
    for source_cell, cell in zip(kept, student.cells):
        if editions.nbgrader_role(source_cell) == "answer" and cell.cell_type == "code":
            assert editions.CODE_STUB in cell.source and not cell.outputs


@pytest.mark.slow
def test_an_unanswered_check_in_the_student_edition_says_it_has_no_answer_yet():
    from nbclient import NotebookClient

    path = os.path.join(editions.STUDENT, "01_roll_the_dice.ipynb")      # exact maths only: a quick run
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": editions.STUDENT}}).execute()
    checks = [cell for cell in nb.cells if cell.cell_type == "code" and re.search(r"\.check_\w+\(answer", cell.source)]
    assert len(checks) >= 7
    for cell in checks:
        shown = "".join(out.get("data", {}).get("text/plain", "") for out in cell.outputs)
        assert shown.startswith("✘ not yet: replace `None`"), (cell.source, shown[:120])


def test_every_prediction_is_answered_on_screen_only_after_it_is_run():
    """The cell after a prediction's check reveals its answer: the student edition ships it without outputs,
    the website's folds them behind a toggle (its reader cannot run the cell)."""
    tagged = 0
    for path in SOURCES:
        source = nbformat.read(path, as_version=4)
        student = nbformat.reads(editions.student_edition(path), as_version=4)
        site = nbformat.reads(editions.student_edition(path, fold_answers=True), as_version=4)
        kept = [cell for cell in source.cells if editions.TEACHER_TAG not in cell.metadata.get("tags", [])]
        for cell, mine, theirs in zip(kept, student.cells, site.cells):
            if editions.ANSWER_TAG in cell.metadata.get("tags", []):
                tagged += 1
                assert cell.outputs and not mine.outputs and mine.execution_count is None, path
                assert theirs.outputs == cell.outputs and "hide-output" in theirs.metadata.tags, path
            elif not editions.nbgrader_role(cell) and cell.cell_type == "code":
                assert mine.outputs == theirs.outputs == cell.outputs
    assert tagged >= 11
