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
path (all its markdown) has at most 1,800 words. Words inside ``<details>`` ... ``</details>`` (the
folded "Going deeper" blocks) count towards neither. A word is a white-space separated token that holds
a letter or a digit (table rules ``|---|`` and lone symbols are not words).

**The lessons' set-up code** (``rtt_edu.course``) is checked last: its maths against the library and
PyTorch, its panel headlessly.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib
import nbformat
import pytest
import torch

matplotlib.use("Agg")

from rtt_edu.science import quadratic  # noqa: E402
from rtt_edu.course import lesson00 as c0  # noqa: E402
from rtt_edu.course import lesson01 as c1  # noqa: E402
from rtt_edu.course import lesson02 as c2  # noqa: E402
from rtt_edu.course import lesson03 as c3  # noqa: E402
from rtt_edu.course import lesson04 as c4  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GLOSSARY = NOTEBOOKS / "GLOSSARY.md"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

MARKDOWN_WORDS, CODE_LINES, LESSON_WORDS = 180, 25, 1800

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
    problems, total = [], 0
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            count = words(outside_details(cell.source))
            total += count
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


# --- the lessons' set-up code (rtt_edu.course) -------------------------------------------------------


@pytest.mark.parametrize("w", [-1.5, 0.0, 1.0, 2.25, 3.0])
def test_lesson0_loss_is_lesson2s_bowl_and_its_gradient_is_torchs(w):
    assert c0.loss(w) == pytest.approx(c0.CURVATURE / 2 * (w - c0.TRUE_W) ** 2, abs=1e-12)
    weight = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    x, y = torch.tensor(c0.X, dtype=torch.float64), torch.tensor(c0.Y, dtype=torch.float64)
    (0.5 * ((weight * x - y) ** 2).mean()).backward()
    assert c0.gradient(w) == pytest.approx(weight.grad.item(), abs=1e-12)


@pytest.mark.parametrize("lr", [0.1, 0.4, 0.8, 1.05])
def test_lesson0_steps_multiply_the_error_by_the_step_factor(lr):
    ws = c0.descend(3.0, lr, 6)
    factor = quadratic.step_factor(lr, 1.0, c0.CURVATURE)
    for before, after in zip(ws, ws[1:]):
        assert after - 1 == pytest.approx(factor * (before - 1), rel=1e-12)
    optimizer_w = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([optimizer_w], lr=lr)
    x, y = torch.tensor(c0.X, dtype=torch.float64), torch.tensor(c0.Y, dtype=torch.float64)
    for _ in range(6):
        optimizer.zero_grad()
        (0.5 * ((optimizer_w * x - y) ** 2).mean()).backward()
        optimizer.step()
    assert optimizer_w.item() == pytest.approx(ws[-1], rel=1e-12)


def test_lesson0_refuses_bad_input_by_name():
    with pytest.raises(Exception, match="lr"):
        c0.descend(3.0, float("nan"), 3)
    with pytest.raises(Exception, match="steps"):
        c0.descend(3.0, 0.1, -1)


def test_step_panel_draws_the_slider_and_says_what_happens():
    panel = c0.StepPanel(lr=0.1, steps=8)
    try:
        panel.controls["lr"].value = 0.5
        assert panel.steps() == c0.descend(3.0, 0.5, 8)
        assert list(panel._path.get_xdata())[:2] == [3.0, 1.0]
        assert "lands exactly on the minimum" in panel.status.value
        panel.controls["lr"].value = 1.1
        assert "diverges" in panel.status.value
        assert all(abs(w) < 50 for w in panel._path.get_xdata())        # off-chart weights are not drawn
        panel.controls["lr"].value = 0.8
        assert "zigzags" in panel.status.value
    finally:
        panel.close()
    assert panel.closed
    panel.controls["lr"].value = 0.3            # no callback is left: nothing redraws a closed panel
    assert "zigzags" in panel.status.value


def test_lesson0_and_1_checks_know_right_and_wrong():
    assert c0.check_one_step(1.4)
    wrong = c0.check_one_step(4.6)
    assert not wrong and "against" in wrong.message
    assert c0.check_loss(4.0) and "half" in c0.check_loss(8.0).message
    assert c0.check_converges(False, 1.1) and not c0.check_converges(True, 1.1)
    assert not c0.check_converges(None, 0.9)
    assert c0.check_factor(0.5, 0.25) and c0.check_update(-0.2, 2.0, 0.1)
    assert c1.check_twenty_with_advantage(39 / 400) and not c1.check_twenty_with_advantage(1 / 20)
    assert c3.check_dc15("slower") and not c3.check_dc15("faster") and not c3.check_dc15(None)


def test_lesson2_tables_carry_the_library_numbers():
    _, rows = c2.verdict_table([("classroom", 4.5), ("seed-readme", 1.0)])
    assert rows[0][5] == quadratic.lyapunov_exponent("classroom", 4.5)
    assert rows[0][3] == abs(quadratic.mean_rate("classroom", 4.5)) and rows[1][5] == -math.inf
    fig = c2.plot_lambda_maps(("classroom", "seed-readme", "seed-methodology", "seed-code"), [11, 15],
                              [0.1, 1.0, 10.0])
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any(label.startswith("λ") for label in labels), "the λ maps need a colour bar with a label"


def test_lesson3_sharpness_is_the_top_hessian_eigenvalue():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    X = torch.randn(20, 2, dtype=torch.float64)
    y = (X[:, 0] > 0).long()
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(vector):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            size = math.prod(shape)
            params[name] = vector[start:start + size].reshape(shape)
            start += size
        return torch.nn.functional.cross_entropy(torch.func.functional_call(model, params, (X,)), y)

    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))
    top = max(eigenvalues.abs()).item()
    value, _ = c3.sharpness(model, X, y, iterations=300)
    assert value == pytest.approx(top, rel=1e-4)


def test_lesson4_level_rows_follow_the_classes():
    from rtt_edu import Bard, Rogue, proficiency_bonus
    rows = c4.level_rows((1, 9))
    assert [bonus for _, bonus, _ in rows] == [proficiency_bonus(1), proficiency_bonus(9)]
    assert rows[1][2]["Rogue factor / uses"] == f"{Rogue(level=9).sneak_factor:.2f} / {Rogue(level=9).max_uses}"
    assert rows[0][2]["Bard die / uses"] == f"d{Bard(level=1).die} / {Bard(level=1).max_uses}"
    assert "| 9 | +4 |" in c4.level_table((1, 9)).data
