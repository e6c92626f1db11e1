"""A panel's display carries a static picture of its current state (image/png) beside the widget view.

Where no kernel runs (the course website, GitHub, nbviewer) the widget view shows nothing; the
picture is what a reader sees there, and its PNG Description text becomes the image's alt text.
"""
import base64
import io

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from rtt_edu.course import lesson00
from rtt_edu.widgets import ComparePanel, DicePanel, Panel, TrainingPanel
from rtt_edu.widgets import compare, dice, training
from rtt_edu.widgets.base import PICTURE_DPI

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
    return next(l for l in ax.lines if l.get_label() == label)


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
    monkeypatch.setattr(type(panel.figure), "snapshot", lambda self, dpi=100: (_ for _ in ()).throw(MemoryError("no room")))
    with pytest.warns(RuntimeWarning, match=r"DicePanel: no static picture .*MemoryError: no room"):
        bundle = panel._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "image/png" not in bundle and bundle["text/plain"] == repr(panel)
