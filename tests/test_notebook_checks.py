"""The lessons' checked outputs hold on any CPU, and still fail when a result really changes.

The repository's root ``conftest.py`` gives nbval a tolerant comparison for the checked cells tagged
``rtt-check-approx`` (the ones whose numbers come out of float training): each decimal number may
move by ``LAST_DIGIT_UNITS`` units in its last printed digit; integers, words and the printed
precision stay exact. Every other checked cell is compared digit for digit, as nbval does.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK, APPROX = "nbval-check-output", "rtt-check-approx"


def _load_root_conftest():
    """The root conftest.py as a module of its own (the name ``conftest`` is tests/conftest.py's)."""
    spec = importlib.util.spec_from_file_location("rtt_root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checks = _load_root_conftest()
UNITS = checks.LAST_DIGIT_UNITS


def code_cells(path: Path) -> list:
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def text_of(cell) -> str:
    """A committed cell's printed text (its streams) and rich text (text/markdown), in order."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        parts.extend(v for k, v in output.get("data", {}).items() if k == "text/markdown")
    return "".join(parts)


def approx_outputs() -> list:
    """(lesson, nbval cell number, text) of every committed output tagged rtt-check-approx."""
    found = []
    for path in LESSONS:
        for number, cell in enumerate(code_cells(path)):
            if APPROX in cell.metadata.get("tags", []):
                found.append(pytest.param(path.stem, number, text_of(cell), id=f"{path.stem[:2]}-cell{number}"))
    return found


def shifted(text: str, units: int) -> str:
    """``text`` with each decimal number moved by ``units`` in its last digit, alternately up and down."""
    count = iter(range(10 ** 6))

    def move(match):
        decimals = match.group("decimals")
        if decimals is None:
            return match.group()
        value = Decimal(match.group()) + (-1) ** next(count) * units * Decimal(1).scaleb(-len(decimals))
        return f"{value:{'+' if match.group()[0] == '+' else ''}.{len(decimals)}f}"

    return checks.NUMBER.sub(move, text)


# --- the comparison ---------------------------------------------------------------------------
def test_the_issues_last_digit_differences_pass():
    """Lesson 10's BERT lines as an Intel AVX-512 and an AMD AVX2 machine print them."""
    intel = "  classroom, lr / 0.475    mean 0.708   vs plain -0.247 [-0.323, -0.172]  worse, better in 0/4\n"
    amd = "  classroom, lr / 0.475    mean 0.707   vs plain -0.248 [-0.324, -0.172]  worse, better in 0/4\n"
    assert checks.numbers_agree(intel, amd) and checks.numbers_agree(amd, intel)
    assert checks.numbers_agree("sd of the differences: 4 seeds 0.047, 30 seeds 0.075",
                                "sd of the differences: 4 seeds 0.048, 30 seeds 0.075")
    assert checks.numbers_agree("97.5% of acc*", "97.4% of acc*")                 # the unit is 0.1 here
    assert checks.numbers_agree("+0.003 [-0.020, +0.025]", "+0.004 [-0.019, +0.026]")


@pytest.mark.parametrize("lesson, number, text", approx_outputs())
def test_every_tolerant_output_passes_within_the_tolerance_and_fails_beyond_it(lesson, number, text):
    assert re.search(r"\d\.\d", text), f"{lesson} cell {number}: tagged {APPROX} but prints no decimal number"
    for units in range(1, UNITS + 1):
        assert checks.numbers_agree(text, shifted(text, units))
    beyond = shifted(text, UNITS + 1)
    assert not checks.numbers_agree(text, beyond)
    assert checks.align_numbers(text, beyond) == beyond          # every moved number is reported


@pytest.mark.parametrize("lesson, number, text", approx_outputs())
def test_integers_words_and_precision_stay_exact_in_tolerant_cells(lesson, number, text):
    integers = [m for m in checks.NUMBER.finditer(text) if m.group("decimals") is None]
    for m in integers:                                           # counts, steps, seeds: one more fails
        changed = text[:m.start()] + str(int(m.group()) + 1) + text[m.end():]
        assert not checks.numbers_agree(text, changed), m.group()
    word = re.search(r"[A-Za-z]{3,}", text)
    assert not checks.numbers_agree(text, text[:word.start()] + word.group().swapcase() + text[word.end():])
    decimal = next(m for m in checks.NUMBER.finditer(text) if m.group("decimals"))
    assert not checks.numbers_agree(text, text[:decimal.end()] + "0" + text[decimal.end():])   # one more digit


def test_numbers_in_another_form_do_not_pass():
    assert not checks.numbers_agree("loss 0.707", "loss 0.71")
    assert not checks.numbers_agree("loss 1.02e-05", "loss 0.0000102")
    assert not checks.numbers_agree("loss 0.707", "loss 0.707 0.1")
    assert checks.numbers_agree("loss 1.02e-05", "loss 1.04e-05") and not checks.numbers_agree("1.02e-05", "1.05e-05")


def test_every_tolerant_cell_is_a_checked_cell():
    for path in LESSONS:
        for number, cell in enumerate(code_cells(path)):
            tags = cell.metadata.get("tags", [])
            assert APPROX not in tags or CHECK in tags, f"{path.name} cell {number}: {APPROX} without {CHECK}"


# --- a real change fails -----------------------------------------------------------------------
def lesson10_moons_block() -> tuple:
    """Lesson 10's ``show`` function (from the lesson) and the committed moons lines of its toy table."""
    cells = code_cells(ROOT / "notebooks" / "10_experiments.ipynb")
    show_cell = next(c for c in cells if c.source.startswith("def show("))
    table = next(c for c in cells if c.source.startswith("for comparison in toy.values():"))
    assert APPROX in table.metadata["tags"]
    committed = text_of(table)
    namespace = {}
    exec(show_cell.source, namespace)
    return namespace["show"], committed[:committed.index("\nxor,") + 1]


@pytest.mark.slow
def test_lesson10_with_another_learning_rate_fails_its_check(one_thread):
    """Lesson 10's moons table rerun at lr 0.45 instead of the lesson's 0.5: the check reports it."""
    from rtt_edu.science.experiments import run_comparison
    show, committed = lesson10_moons_block()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        show(run_comparison("moons", seeds=10, lr=0.45))
    printed = printed.getvalue()
    assert not checks.numbers_agree(committed, printed)
    moved = [(a.group(), b.group()) for a, b in zip(checks.NUMBER.finditer(committed),
                                                    checks.NUMBER.finditer(checks.align_numbers(committed, printed)))
             if a.group() != b.group()]
    assert len(moved) >= 3, moved                               # not one number at an edge: the run changed


# --- nbval applies it ---------------------------------------------------------------------------
_CELL_IDS = itertools.count()      # each made cell its own id (nbformat renames a repeated one)


def _cell(source, text, tags, markdown=None):
    outputs = [{"name": "stdout", "output_type": "stream", "text": text}]
    if markdown is not None:
        outputs.insert(0, {"output_type": "display_data", "metadata": {},
                           "data": {"text/markdown": markdown, "text/plain": "<IPython.core.display.Markdown object>"}})
    return {"cell_type": "code", "execution_count": 1, "id": f"c{next(_CELL_IDS)}",
            "metadata": {"tags": tags}, "source": source, "outputs": outputs}


@pytest.mark.slow
def test_nbval_compares_tagged_cells_with_the_tolerance_and_the_others_exactly(tmp_path):
    """A real nbval run with the root conftest.py: which cells pass and which fail."""
    line = "mean {}   vs plain -0.248 [-0.324, -0.172]  worse, better in {}/4"
    committed = line.format("0.707", "0") + "\n"
    cells = [  # (source printing a result, tags, whether nbval must pass it)
        (f"print({line.format('0.708', '0')!r})", [CHECK, APPROX], True),    # another CPU: passes
        (f"print({line.format('0.711', '0')!r})", [CHECK, APPROX], False),   # 4 units: a real change
        (f"print({line.format('0.708', '0')!r})", [CHECK], False),           # an exact cell: digit for digit
        (f"print({line.format('0.707', '1')!r})", [CHECK, APPROX], False),   # a count is exact
    ]
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": [_cell(s, committed, t) for s, t, _ in cells],
          "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                      "name": "python3"}}}
    table = "| moons | +0.003 [-0.020, +0.025] none detected |"
    nb["cells"].append(_cell("from IPython.display import Markdown, display\n"
                             f"display(Markdown({table.replace('0.003', '0.004').replace('0.025', '0.026')!r}))\n"
                             "print('moons: none detected')", "moons: none detected\n", [CHECK, APPROX], table))
    cells.append((None, None, True))                                     # a rendered table: passes
    (tmp_path / "lesson.ipynb").write_text(json.dumps(nb))
    (tmp_path / "conftest.py").write_bytes((ROOT / "conftest.py").read_bytes())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-rA",
                           "lesson.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    report = done.stdout
    for number, (_, _, passes) in enumerate(cells):
        outcome = re.search(rf"^(PASSED|FAILED) lesson\.ipynb::Cell {number}\b", report, re.MULTILINE)
        assert outcome, report[-3000:]
        assert outcome.group(1) == ("PASSED" if passes else "FAILED"), f"Cell {number}:\n{report[-4000:]}"
    note = f"cell tagged {APPROX}: decimal numbers may differ by {UNITS} units"
    sections = dict(re.findall(r"_{5,} lesson\.ipynb::Cell (\d+) _{5,}\n(.*?)(?=\n_{5,} |\n={5,} )", report, re.DOTALL))
    assert sorted(sections) == ["1", "2", "3"], report[-4000:]                   # the three failures' reports
    assert {number: note in text for number, text in sections.items()} == {"1": True, "2": False, "3": True}
    assert "0.711" in report
