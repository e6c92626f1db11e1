"""The course as a newcomer reads it: every term taught before it is used, and cells of a readable size.

Two checks run over every lesson ``notebooks/NN_*.ipynb``.

**The glossary** (``notebooks/GLOSSARY.md``). Each table row is ``| term | meaning | lesson |``; the term
cell is ``<a id="ANCHOR"></a>**term** (other name, other name)``. A lesson's markdown may use a term
only in the lesson that teaches it or later, unless that use links to the glossary. How a use is found:

- only markdown cells count (code and its output are the library's names, not prose), and within them
  fenced code blocks, inline code spans (`` `lr-dropout` ``), HTML tags and link targets are dropped;
  the text of a link to ``GLOSSARY.md#...`` is dropped too: that use is explained by the link;
- a term is a whole word: not preceded or followed by a letter, digit, ``_`` or ``-``, so "DC" is not
  found in "DCs"-free text like "ADC" and "loss" is not found in "lossless", while "loss" is found in
  "loss curve"; an ``s`` or ``es`` plural counts as the term ("losses", "gradients");
- a term written with a capital letter (DC, SGD, Adam, ReLU) is matched in exactly that
  case, so "AC" is not "ac"; a term in lower case is matched in any case ("Loss" at a sentence start);
- spaces inside a term match any run of white space, so a term may wrap across lines.

The glossary must also be true: the lesson a term names exists, and its markdown uses the term; every
``GLOSSARY.md#anchor`` link of a lesson names an anchor of the glossary.

**Cell limits.** A markdown cell has at most 180 words and a code cell at most 25 lines; a lesson's main
path (all its markdown up to a "## Going further (optional)" heading, which opens the lesson's optional
part) has at most 1,800 words. Words inside ``<details>`` ... ``</details>`` (the
folded "Going deeper" blocks) count towards neither. A word is a white-space separated token that holds
a letter or a digit (table rules ``|---|`` and lone symbols are not words).

The lessons' code (``rtt_edu.course.lessonNN``) is tested in ``test_lessonNN.py``.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GLOSSARY = NOTEBOOKS / "GLOSSARY.md"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

MARKDOWN_WORDS, CODE_LINES, LESSON_WORDS = 180, 25, 1800
#: the heading that opens a lesson's optional part: from it on, words do not count towards the main path
OPTIONAL_PART = re.compile(r"^## Going further \(optional\)", re.M)

ROW = re.compile(r'^\|\s*<a id="(?P<anchor>[^"]+)"></a>\*\*(?P<term>[^*]+)\*\*\s*(?:\((?P<aliases>[^)]*)\))?\s*'
                 r'\|(?P<meaning>.+)\|\s*(?P<lesson>\d\d)\s*\|\s*$')


def glossary() -> list:
    """[(anchor, lesson, [names])] of every row of the glossary's tables."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            names = [match["term"].strip()]
            if match["aliases"]:
                names += [a.strip() for a in match["aliases"].split(",") if a.strip()]
            rows.append((match["anchor"], int(match["lesson"]), names))
        elif line.startswith("| <a"):
            raise AssertionError(f"GLOSSARY.md: a row that does not read `| <a id=..></a>**term** (aliases) | "
                                 f"meaning | NN |`: {line!r}")
    return rows


def term_pattern(name: str) -> re.Pattern:
    """A whole-word pattern of a glossary name (see the module docstring)."""
    words = r"\s+".join(re.escape(w) for w in name.split())
    flags = 0 if any(c.isupper() for c in name) else re.IGNORECASE
    return re.compile(rf"(?<![\w-]){words}(?:s|es)?(?![\w-])", flags)


def lesson_number(path: Path) -> int:
    return int(path.name[:2])


def markdown_cells(path: Path) -> list:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def prose(source: str) -> str:
    """The words a student reads as prose: code, tags, link targets and glossary links dropped."""
    text = re.sub(r"```.*?```", " ", source, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\[[^\]]*\]\([^)]*GLOSSARY\.md#[^)]*\)", " ", text)   # a use explained by its link
    text = re.sub(r"\]\([^)]*\)", "]", text)                              # other links keep their text
    return re.sub(r"<[^>]+>", " ", text)


def outside_details(source: str) -> str:
    return re.sub(r"<details>.*?</details>", " ", source, flags=re.S | re.I)


def words(text: str) -> int:
    return sum(1 for token in text.split() if re.search(r"\w", token))


TERMS = glossary()


def test_the_glossary_reads_and_names_real_lessons():
    assert len(TERMS) >= 40, "the glossary's rows were not read"
    anchors = [anchor for anchor, _, _ in TERMS]
    assert len(anchors) == len(set(anchors)), "two glossary rows share an anchor"
    lessons = {lesson_number(p) for p in LESSONS}
    for anchor, lesson, _ in TERMS:
        assert lesson in lessons, f"GLOSSARY.md#{anchor}: lesson {lesson:02d} does not exist"


@pytest.mark.parametrize("anchor,lesson,names", TERMS, ids=[t[0] for t in TERMS])
def test_the_teaching_lesson_uses_its_term(anchor, lesson, names):
    (path,) = [p for p in LESSONS if lesson_number(p) == lesson]
    text = "\n".join(prose(s) for s in markdown_cells(path))
    assert any(term_pattern(n).search(text) for n in names), (
        f"GLOSSARY.md says {path.name} teaches {names[0]!r}, but its markdown never uses it")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_no_term_is_used_before_the_lesson_that_teaches_it(path):
    number = lesson_number(path)
    later = [(anchor, lesson, names) for anchor, lesson, names in TERMS if lesson > number]
    found = []
    for index, source in enumerate(nbformat.read(path, as_version=4).cells):
        if source.cell_type != "markdown":
            continue
        text = prose(source.source)
        for anchor, lesson, names in later:
            for name in names:
                match = term_pattern(name).search(text)
                if match:
                    found.append(f"cell {index}: {match[0]!r} (taught in lesson {lesson:02d}; "
                                 f"teach it here or link it: [{match[0]}](GLOSSARY.md#{anchor}))")
                    break
    assert not found, f"{path.name} uses terms before they are taught:\n" + "\n".join(found)


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_glossary_links_name_real_anchors(path):
    anchors = {anchor for anchor, _, _ in TERMS}
    for source in markdown_cells(path):
        for anchor in re.findall(r"GLOSSARY\.md#([\w-]+)", source):
            assert anchor in anchors, f"{path.name} links GLOSSARY.md#{anchor}, which the glossary lacks"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_cells_and_the_main_path_stay_short(path):
    problems, total, optional = [], 0, False
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            optional = optional or bool(OPTIONAL_PART.search(cell.source))
            count = words(outside_details(cell.source))
            total += 0 if optional else count
            if count > MARKDOWN_WORDS:
                problems.append(f"markdown cell {index}: {count} words > {MARKDOWN_WORDS}")
        elif cell.cell_type == "code":
            lines = len(cell.source.splitlines())
            if lines > CODE_LINES:
                problems.append(f"code cell {index}: {lines} lines > {CODE_LINES}")
    if total > LESSON_WORDS:
        problems.append(f"main path: {total} words > {LESSON_WORDS}")
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_the_limits_are_measured_as_documented():
    assert words("a **bold** word, |---|, and ≥ 1.5 |") == 5     # "≥" and table rules are not words
    assert OPTIONAL_PART.search("text\n## Going further (optional)\n") and not OPTIONAL_PART.search("## Going on")
    assert words(outside_details("two words <details><summary>Going deeper</summary> many more words "
                                 "</details>")) == 2
    assert term_pattern("loss").search("the losses fell") and not term_pattern("loss").search("lossless")
    assert term_pattern("DC").search("a DC of 11") and not term_pattern("DC").search("the dc slider")
    assert not term_pattern("lr").search("the lr-dropout preset")
    assert term_pattern("learning rate").search("a learning\n  rate")
    assert "DC" not in prose("set `dc` or [DC](GLOSSARY.md#dc) <a id='x'></a>")


def test_no_test_marker_in_a_lesson():
    for path in LESSONS:
        for cell in nbformat.read(path, as_version=4).cells:
            assert "NBVAL_CHECK_OUTPUT" not in cell.source, (
                f"{path.name}: use the cell tag nbval-check-output, not the comment")


def test_the_glossary_ships_with_the_lessons():
    """The lessons link GLOSSARY.md, so an installed course (``rtt_edu.lessons``) must carry it."""
    import fnmatch
    import tomllib
    config = tomllib.loads((NOTEBOOKS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"]["rtt_edu.lessons"] == "notebooks"
    patterns = setuptools["package-data"]["rtt_edu.lessons"]
    assert any(fnmatch.fnmatch(GLOSSARY.name, p) for p in patterns), f"GLOSSARY.md is not in {patterns}"
