"""A panel's display carries a static picture of its current state (image/png) beside the widget view.

Where no kernel runs (the course website, GitHub, nbviewer) the widget view shows nothing; the
picture is what a reader sees there, and its PNG Description text becomes the image's alt text.
A DicePanel's picture writes its readout and verdict under the plot. In a kernel the saved picture
follows the panel: after each cell that changed it, its display gets the new picture (checked with
a recording IPython shell, with nbclient as lessons are saved, and in JupyterLab for the live view).
"""
import base64
import io

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from rtt_edu import SavingThrow
from rtt_edu.course import lesson00
from rtt_edu.views.widgets import ComparePanel, DicePanel, LiveFigure, Panel, TrainingPanel, compare, dice, training
from rtt_edu.views.widgets.base import PICTURE_DPI
from test_browser import browser, lab  # noqa: F401  (JupyterLab and Chromium, for the live test at the end)

pytestmark = pytest.mark.usefixtures("one_thread")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def shown(panel, **kwargs) -> Image.Image:
    """The picture in the panel's display bundle, decoded (it must be there, beside the widget view)."""
    bundle = panel._repr_mimebundle_(**kwargs)
    assert WIDGET_VIEW in bundle and bundle["text/plain"] == repr(panel)
    image = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert image.format == "PNG"
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def has_colour(array: np.ndarray, hex_colour: str, tolerance: int = 12) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(array - rgb).max(axis=-1) <= tolerance).any())


def line(ax, label):
    return next(line for line in ax.lines if line.get_label() == label)


def test_the_picture_follows_the_panels_state_and_matches_a_panel_built_in_that_state():
    panel = lesson00.StepPanel(lr=0.1)
    first = pixels(shown(panel))
    assert first.shape == (round(3.0 * PICTURE_DPI), round(8.6 * PICTURE_DPI), 3)     # figsize × 100 dpi
    panel.controls["lr"].value = 1.05                  # a slider moved: the steps now climb out of the bowl
    moved = pixels(shown(panel))
    assert np.abs(moved - first).sum() > 0
    same_state = lesson00.StepPanel(lr=1.05)
    assert np.array_equal(pixels(shown(same_state)), moved)        # the picture is the state, not its history


def test_a_training_panel_pictures_its_blitted_loss_curve_beside_its_legend():
    panel = TrainingPanel(figures="static", dataset="moons", experience=False, seed=0)
    empty = pixels(shown(panel))
    # the plots and the legend figure sit side by side in an HBox: side by side in the picture too
    assert empty.shape == (round(3.0 * PICTURE_DPI), round(6.9 * PICTURE_DPI) + round(1.75 * PICTURE_DPI), 3)
    colour = line(panel.figure.axes[0], "dice").get_color()
    loss_axes = empty[:, : round(6.9 * PICTURE_DPI * 0.6)]
    assert not has_colour(loss_axes, colour)
    panel.step(60)                                     # frames are blitted: the curve is an animated artist
    assert line(panel.figure.axes[0], "dice").get_animated()
    widget_png, draws = panel.figure.widget.value, panel.figure.draws
    trained = pixels(shown(panel))
    assert has_colour(trained[:, : round(6.9 * PICTURE_DPI * 0.6)], colour)
    assert panel.figure.widget.value == widget_png and panel.figure.draws == draws   # the live view untouched
    assert line(panel.figure.axes[0], "dice").get_animated()                        # and still blitted
    panel.step(1)                                      # the next blitted frame still shows every artist
    frame = pixels(Image.open(io.BytesIO(panel.figure.widget.value)))
    assert has_colour(frame, colour)


@pytest.mark.parametrize("make,caption", [
    (lambda: DicePanel(figures="static"), dice.CAPTION),
    (lambda: TrainingPanel(figures="static", experience=False), training.CAPTION),
    (lambda: lesson00.StepPanel(), lesson00.StepPanel.CAPTION),
    (lambda: ComparePanel(figures="static", seeds=2, steps=10), compare.CAPTION),
])
def test_the_picture_carries_the_caption_as_its_description(make, caption):
    panel = make()
    image = shown(panel)
    assert image.text["Description"] == " ".join(caption.split()) == panel.caption_text
    assert image.text["Title"] == repr(panel)


def test_an_ipympl_canvas_is_pictured_too():
    panel = TrainingPanel(figures="ipympl", experience=False)
    panel.step(30)
    colour = line(panel.figure.axes[0], "dice").get_color()
    assert has_colour(pixels(shown(panel)), colour)


def test_the_bundle_honours_include_and_exclude_and_a_panel_without_figures_has_no_picture():
    panel = DicePanel(figures="static")
    assert "image/png" not in panel._repr_mimebundle_(exclude=["image/png"])
    assert "image/png" not in panel._repr_mimebundle_(include=["text/plain", WIDGET_VIEW])
    bare = Panel()
    bare.widget.children = [widgets.HTML("<small>Figure: nothing drawn</small>")]
    bundle = bare._repr_mimebundle_()
    assert "image/png" not in bundle and bare.picture() is None
    assert bare.caption_text == "Figure: nothing drawn"


def test_a_picture_that_cannot_be_made_leaves_the_widget_view_and_says_why(monkeypatch):
    panel = DicePanel(figures="static")

    def snapshot(self, dpi=100):                    # a picture that cannot be made
        raise MemoryError("no room")
    monkeypatch.setattr(type(panel.figure), "snapshot", snapshot)
    with pytest.warns(RuntimeWarning, match=r"DicePanel: no static picture .*MemoryError: no room"):
        bundle = panel._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "image/png" not in bundle and bundle["text/plain"] == repr(panel)


# --- the readout in the picture -----------------------------------------------------------------------
def test_a_dice_panels_picture_writes_its_readout_and_verdict_under_the_plot():
    panel = DicePanel(figures="static")
    plot_only = pixels(panel.figure.snapshot(PICTURE_DPI))
    image = shown(panel)
    summary = panel.rules.summary()
    notes = image.text["Comment"].splitlines()
    assert notes[0].startswith(f"E[m] (drift): {summary['mean']:+.4f}") and "Var[m] (temperature)" in notes[0]
    assert f"P(ascent), m < 0: {summary['p_ascent']:.2%}" in notes[1]
    assert notes[-1] == dice.rule_verdict(panel.rules)
    drawn = pixels(image)
    # the plot on top, as a figure alone renders it; below it, dark text on white, as wide as the plot
    assert drawn.shape[1] == plot_only.shape[1] and drawn.shape[0] > plot_only.shape[0] + 4 * 12
    assert np.abs(drawn[: plot_only.shape[0]] - plot_only).max() <= 24          # within the 256-colour palette
    below = drawn[plot_only.shape[0]:]
    assert (below.max(axis=-1) < 80).sum() > 500                                 # writing, not a blank strip
    panel.controls["dc"].value = 15                # a new rule: new figures, new verdict, in words and in pixels
    moved = shown(panel)
    assert moved.text["Comment"] != image.text["Comment"] and dice.rule_verdict(panel.rules) in moved.text["Comment"]
    assert not np.array_equal(pixels(moved)[plot_only.shape[0]:], below)


def test_a_long_readout_breaks_between_figures_never_inside_one():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    from rtt_edu.views.widgets.base import NOTE_POINTS, _wrapped
    panel = DicePanel(figures="static")
    notes = panel.picture_notes()
    figures = [item for line in notes[:3] for item in line.split("    ")]     # "name: value", no-break spaces
    assert all(" " not in item for item in figures) and len(figures) == 3 + 2 + 4
    renderer = FigureCanvasAgg(Figure(dpi=PICTURE_DPI)).get_renderer()

    def width(text):
        return renderer.get_text_width_height_descent(text, FontProperties(size=NOTE_POINTS), ismath=False)[0]
    narrow = width(notes[2]) * 0.7                        # the four outcomes do not fit on one line of this width
    lines = _wrapped(notes, narrow, PICTURE_DPI)
    assert len(lines) > len(notes) and all(width(line) <= narrow for line in lines)
    broken = [item for line in lines[: len(lines) - len(_wrapped(notes[3:], narrow, PICTURE_DPI))]
              for item in line.split("    ")]
    assert broken == figures                              # every figure whole, in order, none split
    assert " ".join(_wrapped([notes[3]], narrow, PICTURE_DPI)) == notes[3]   # the verdict: words, in order


# --- the saved picture follows the panel --------------------------------------------------------------
@pytest.fixture
def kernel_shell(monkeypatch, tmp_path):
    """An IPython shell that counts as a kernel's (it has a ``kernel``), recording what it displays."""
    import sys

    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    hook = sys.displayhook
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = CapturingDisplayPublisher()
    monkeypatch.setattr(shell, "kernel", object(), raising=False)
    yield shell
    shell.events.callbacks["post_run_cell"].clear()
    InteractiveShell.clear_instance()
    sys.displayhook = hook


def run_cell(shell, code: str) -> list:
    """Run ``code`` as a cell; what it displayed: (display_id, update?, decoded PNG or None) for each output."""
    shell.display_pub.outputs.clear()
    result = shell.run_cell(code)
    assert result.success, result.error_in_exec
    return [((out["transient"] or {}).get("display_id"), out["update"],
             base64.b64decode(out["data"]["image/png"]) if "image/png" in out["data"] else None)
            for out in shell.display_pub.outputs]


def test_after_each_cell_that_changed_the_panel_its_display_gets_the_new_picture_once(kernel_shell):
    panel = TrainingPanel(figures="static", dataset="moons", experience=False, seed=0)
    kernel_shell.user_ns["panel"] = panel
    [(display_id, update, empty)] = run_cell(kernel_shell, "panel")
    assert display_id and not update and empty == panel.picture()
    assert run_cell(kernel_shell, "x = 1") == []                         # nothing changed: nothing sent
    [(same_id, update, trained)] = run_cell(kernel_shell, "panel.step(10)\npanel.step(10)")
    assert same_id == display_id and update                              # one update for the cell, not one a step
    assert trained == panel.picture() and trained != empty
    assert run_cell(kernel_shell, "panel.steps") == []                   # read, not changed
    panel.controls["log_scale"].value = not panel.controls["log_scale"].value   # as a slider moved in a frontend
    assert [update for _, update, _ in run_cell(kernel_shell, "y = 2")] == [True]   # the next cell sends it
    hooks = len(kernel_shell.events.callbacks["post_run_cell"])
    again = run_cell(kernel_shell, "panel")                              # shown twice: one id, one hook
    assert [(i, u) for i, u, _ in again] == [(display_id, False)]
    assert len(kernel_shell.events.callbacks["post_run_cell"]) == hooks
    panel.close()                                                        # close() removes the hook
    assert len(kernel_shell.events.callbacks["post_run_cell"]) == hooks - 1


def test_a_picture_that_cannot_be_made_after_a_cell_keeps_the_last_one_and_says_why(kernel_shell, monkeypatch):
    panel = DicePanel(figures="static")
    kernel_shell.user_ns["panel"] = panel
    [(display_id, _, first)] = run_cell(kernel_shell, "panel")
    snapshot = type(panel.figure).snapshot
    monkeypatch.setattr(type(panel.figure), "snapshot",
                        lambda self, dpi=100: (_ for _ in ()).throw(MemoryError("no room")))
    with pytest.warns(RuntimeWarning, match=r"DicePanel: no static picture .*MemoryError: no room"):
        assert run_cell(kernel_shell, "panel.controls['dc'].value = 15") == []     # no update without a picture
    monkeypatch.setattr(type(panel.figure), "snapshot", snapshot)
    [(same_id, update, png)] = run_cell(kernel_shell, "x = 1")           # the next cell sends it
    assert same_id == display_id and update and png == panel.picture() != first


def test_a_collected_panel_leaves_no_hook_behind(kernel_shell):
    import gc
    panel = Panel()
    panel.figure = LiveFigure(figsize=(2, 1), mode="static")
    panel.figures.append(panel.figure)
    panel.widget.children = [panel.figure.widget]
    kernel_shell.user_ns["panel"] = panel
    [(display_id, _, _)] = run_cell(kernel_shell, "from IPython.display import display\ndisplay(panel)")
    assert display_id
    del kernel_shell.user_ns["panel"], panel
    gc.collect()
    hooks = kernel_shell.events.callbacks["post_run_cell"]
    assert len(hooks) == 1                                 # held weakly: the panel is gone, its hook not yet
    run_cell(kernel_shell, "x = 1")
    assert hooks == []


def test_outside_a_kernel_a_panel_is_shown_once_with_no_hook(kernel_shell, monkeypatch):
    monkeypatch.delattr(kernel_shell, "kernel")
    panel = DicePanel(figures="static")
    kernel_shell.user_ns["panel"] = panel
    [(display_id, update, png)] = run_cell(kernel_shell, "panel")
    assert display_id is None and not update and png == panel.picture()
    assert kernel_shell.events.callbacks["post_run_cell"] == []


@pytest.mark.slow
def test_a_lesson_saved_by_nbclient_keeps_the_picture_of_the_panel_after_the_last_cell_that_changed_it(tmp_path):
    """As ``benchmarks/bench_notebooks.py --write`` saves a lesson: the panel is shown before it trains."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook
    out = tmp_path.as_posix()
    nb = new_notebook(cells=[
        new_code_cell("from rtt_edu.views.widgets import DicePanel, TrainingPanel\n"
                      "panel = TrainingPanel(figures='static', dataset='moons', experience=False, seed=0)\n"
                      f"open('{out}/untrained.png', 'wb').write(panel.picture())\n"
                      "panel"),
        new_code_cell("dice = DicePanel(figures='static')\ndice"),
        new_code_cell("panel.step(20)"),
        new_code_cell("dice.controls['dc'].value = 15"),
        new_code_cell("x = 1"),
        new_code_cell(f"open('{out}/trained.png', 'wb').write(panel.picture())\n"
                      f"open('{out}/dice.png', 'wb').write(dice.picture())"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": out}}).execute()
    saved = nbformat.reads(nbformat.writes(nb), as_version=4)              # what a file would hold
    [training_out] = saved.cells[0].outputs
    [dice_out] = saved.cells[1].outputs
    assert WIDGET_VIEW in training_out.data and training_out.data["text/plain"].startswith("TrainingPanel(")
    trained, untrained = (tmp_path / "trained.png").read_bytes(), (tmp_path / "untrained.png").read_bytes()
    assert trained != untrained
    assert base64.b64decode(training_out.data["image/png"]) == trained     # the state after step(20), not before
    picture = base64.b64decode(dice_out.data["image/png"])
    assert picture == (tmp_path / "dice.png").read_bytes()
    assert "dc=15" in dice_out.data["text/plain"]
    mean = SavingThrow.preset("classroom", dc=15).summary()["mean"]
    assert f"E[m] (drift): {mean:+.4f}" in Image.open(io.BytesIO(picture)).text["Comment"]


# --- in a live JupyterLab: the update redraws the panel's view once, in one frame ------------------------
FRAMES_JS = """(cell) => { window.__frames = []; const out = cell.querySelector('.jp-OutputArea-output');
  const t0 = performance.now();
  const tick = () => { const r = out.getBoundingClientRect();
    window.__frames.push({h: Math.round(r.height), loading: out.textContent.includes('Loading widget'),
                          sliders: out.querySelectorAll('.widget-slider').length});
    if (performance.now() - t0 < 4000) requestAnimationFrame(tick); };
  new MutationObserver(() => { window.__redrawn = (window.__redrawn || 0) + 1; }).observe(out, {childList: true});
  requestAnimationFrame(tick); }"""


@pytest.mark.browser
@pytest.mark.slow
def test_in_jupyterlab_an_update_redraws_the_panel_in_place_and_its_sliders_still_answer(lab, browser):  # noqa: F811
    from test_browser import (
        CURRENT,
        assert_widgets_rendered,
        move_slider_right,
        open_and_run_all,
        slider,
        write_notebook,
    )
    write_notebook(lab.root / "picture_updates.ipynb", [
        "from rtt_edu.views.widgets import DicePanel\ndice = DicePanel()\ndice",
        "dice.controls['dc'].value = 15",
    ])
    page = browser.new_page()
    try:
        open_and_run_all(page, lab, "picture_updates.ipynb")
        assert_widgets_rendered(page)
        cells = page.locator(f"{CURRENT} .jp-CodeCell")
        shown = cells.nth(0).locator(".jp-OutputArea-output")
        assert shown.count() == 1 and shown.locator(".widget-slider").count() == 2      # one view: DC and modifier
        dc = slider(page, "DC")
        move_slider_right(page, dc, 2)                         # DC 17 in the browser, then the cell sets 15 again
        page.wait_for_function("el => el.textContent === '17'", arg=dc.locator(".widget-readout").element_handle())
        # the kernel has applied DC 17 (its readout says so) before the next cell sets 15: the browser's message may
        # reach the kernel on a subshell thread, so without this wait the two changes could land in either order
        at_17 = SavingThrow.preset("classroom", dc=17).summary()["mean"]
        page.wait_for_function("([el, text]) => el.textContent.includes(text)", timeout=15_000,
                               arg=[shown.locator(".widget-html-content").filter(has_text="E[m]").first.element_handle(),
                                    f"{at_17:+.4f}"])
        cells.nth(0).evaluate(FRAMES_JS)
        cells.nth(1).click()
        page.keyboard.press("Control+Enter")
        page.wait_for_function("() => window.__redrawn > 0", timeout=30_000)       # update_display_data arrived
        page.wait_for_timeout(4500)
        frames = page.evaluate("window.__frames")
        assert len(frames) > 10
        blank = [f for f in frames if f["h"] < 300 or f["loading"] or f["sliders"] != 2]
        assert not blank, f"painted frames without the panel, or with two views of it: {blank[:3]}"
        assert shown.count() == 1 and int(slider(page, "DC").locator(".widget-readout").text_content()) == 15
        move_slider_right(page, slider(page, "DC"), 1)         # the redrawn view answers
        readout = shown.locator(".widget-html-content").filter(has_text="E[m]").first
        mean = SavingThrow.preset("classroom", dc=16).summary()["mean"]
        page.wait_for_function("([el, text]) => el.textContent.includes(text)",
                               arg=[readout.element_handle(), f"{mean:+.4f}"], timeout=15_000)
    finally:
        page.close()
        lab.shut_down_kernels()
