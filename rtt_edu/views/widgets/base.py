"""What every panel shares: its widget tree, callbacks whose errors show, a live figure, ``close()``.

A panel is a plain class. It owns a widget tree (``panel.widget``) and shows it through
``_repr_mimebundle_``, exposes its inputs as ``panel.controls`` (name → widget) and registers every
callback through :meth:`Panel.observe` / :meth:`Panel.on_click`, which

- route an exception raised inside the callback to the panel: a red line in ``panel.error``
  (an HTML widget) and the traceback in ``panel.output`` (an Output widget), instead of the
  kernel's log where it would vanish;
- run it on the thread that built the panel (:mod:`~rtt_edu.views.widgets.home_thread`):
  JupyterLab may send a widget's message to a kernel subshell, handled on a thread of its own;
  such a callback is queued on the panel's event loop, so callbacks, cells and Play's slices
  never run at once;
- remember the registration, so :meth:`Panel.close` can undo it, cancel a running task and
  close the widgets and figures.

A panel's display carries, beside the widget view, ``image/png``: a picture of its figures as they
are (:meth:`Panel.picture`), laid out as the widget tree lays them out, with the panel's readout
(:meth:`Panel.picture_notes`) written under them. A live frontend shows the widget; one without a
kernel (a website, GitHub, nbviewer) shows the picture. The picture carries the panel's "Figure:
..." caption as its PNG ``Description`` text, which the course website turns into the image's alt
text, and the readout as its ``Comment`` text.

**The picture follows the panel.** In a kernel, a panel shows itself (``_ipython_display_``) with
a ``display_id``, and after each cell (IPython's ``post_run_cell`` event) whose run left the panel
changed since its picture was last sent (:meth:`Panel.picture_token`: each figure's draw count and
the readout), it sends ``update_display_data``: the same widget view with a new picture. So a
lesson saved by nbclient (``benchmarks/bench_notebooks.py --write``) keeps, under the cell that
shows the panel, the picture of the panel after the last cell that changed it, not the empty axes
it had when shown. At most one update per cell, none when nothing changed; sliders moved in a
live frontend send nothing until a cell runs. A live JupyterLab redraws the widget view of that
output once (an update replaces the whole output); its controls keep their values.

:class:`LiveFigure` is a matplotlib figure the panel changes in place: an ipympl canvas widget when
the ipympl backend is active (``%matplotlib widget``), updated with ``draw_idle()``; otherwise a
static PNG re-rendered into an ``ipywidgets.Image`` on each ``draw()``. The figure is built with
the object API and never registered with pyplot, so nothing else displays or keeps it.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import html
import io
import itertools
import re
import traceback
import uuid
import warnings
import weakref

import ipywidgets as widgets
from matplotlib.figure import Figure

from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value, require
from rtt_edu.views.widgets.home_thread import HomeThread

__all__ = ["Panel", "LiveFigure", "figure_mode", "FIGURE_MODES"]

FIGURE_MODES = ("auto", "ipympl", "static")
PICTURE_DPI = 100                           # the static picture in a panel's display: small, readable
NOTE_POINTS = 9                             # the size of the readout written under the picture, in points
_numbers = itertools.count(1_000_000)       # figure numbers outside pyplot's 1, 2, 3, ...


def _backend():
    import matplotlib
    try:
        return matplotlib.get_backend(auto_select=False)      # matplotlib >= 3.10: does not resolve "auto"
    except TypeError:
        return matplotlib.rcParams._get("backend")


def _ipympl():
    """ipympl's Canvas and FigureManager, leaving matplotlib's backend as it was.

    Importing ``ipympl`` makes it matplotlib's backend (its ``__init__`` calls ``matplotlib.use``);
    a panel asked for an ipympl canvas should not change what ``plt.plot`` does elsewhere.
    """
    import sys
    if "ipympl.backend_nbagg" not in sys.modules:
        import matplotlib
        from matplotlib import rcsetup
        before = _backend()
        from ipympl import backend_nbagg  # noqa: F401
        if before is None:
            matplotlib.rcParams._set("backend", rcsetup._auto_backend_sentinel)
        elif _backend() != before:
            matplotlib.use(before)        # switches pyplot back too, if it was imported
    from ipympl.backend_nbagg import Canvas, FigureManager
    return Canvas, FigureManager


def figure_mode(mode: str = "auto") -> str:
    """``"ipympl"`` when asked for, or for ``"auto"`` when ipympl is the active backend; else ``"static"``."""
    if mode not in FIGURE_MODES:
        raise RollToTrainError(bad_value("figures", mode, f"one of {list(FIGURE_MODES)}"))
    if mode != "auto":
        return mode
    backend = (_backend() or "").lower()
    return "ipympl" if ("ipympl" in backend or backend in ("widget", "nbagg.widget")) else "static"


class LiveFigure:
    """A figure updated in place: ``axes``, ``widget`` (canvas or Image), ``draw()``, ``close()``.

    The static PNG is shown at exactly its pixel size (``figsize × dpi``), so the browser never
    stretches or resamples it; ``pixel_ratio`` > 1 renders that many pixels per CSS pixel, sharp
    on a high-density screen.

    **Blitting.** ``dynamic`` (a function returning artists) names what changes from frame to
    frame: the lines, markers, images. When nothing else changed (the axes' limits and scales,
    legends, titles), a frame restores the rendered background and draws only those artists,
    instead of laying out and rendering every tick label and legend entry again.
    """

    def __init__(self, figsize=(8.0, 3.4), ncols: int = 1, mode: str = "auto", width_ratios=None, dpi: int = 90,
                 pixel_ratio: float = 1.0, dynamic=None):
        self.mode = figure_mode(mode)
        self.pixel_ratio = pixel_ratio
        self.figure = Figure(figsize=figsize, dpi=dpi * (pixel_ratio if self.mode == "static" else 1),
                             layout="constrained")
        self.size_px = (round(figsize[0] * dpi), round(figsize[1] * dpi))     # CSS pixels on the page
        if self.mode == "ipympl":
            Canvas, FigureManager = _ipympl()
            canvas = Canvas(self.figure)
            self.manager = FigureManager(canvas, next(_numbers))      # not in pyplot's registry
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.resizable = False
            canvas.toolbar_visible = "fade-in-fade-out"
            home = HomeThread()                # the canvas draws (a frontend's "draw" request) where the panel runs
            for receiver in (canvas, self.manager.toolbar):
                receiver.on_msg(canvas._handle_message, remove=True)
                receiver.on_msg(home.wrap(canvas._handle_message))
            self.widget = canvas
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            FigureCanvasAgg(self.figure)
            width, height = self.size_px
            self.widget = widgets.Image(format="png", layout=widgets.Layout(
                width=f"{width}px", height=f"{height}px", min_width=f"{width}px", flex="0 0 auto",
                object_fit="contain"))
        self.axes = list(self.figure.subplots(1, ncols, width_ratios=width_ratios, squeeze=False)[0]) if ncols else []
        self.dynamic = dynamic
        self._background, self._key = None, None
        self.draws = 0
        self.blits = 0

    def draw(self) -> None:
        """Show the artists' current data: ``draw_idle()`` on an ipympl canvas, a fresh PNG otherwise."""
        if self.draws == 0:        # the constrained layout is found once, then kept: a frame is cheaper
            self.figure.draw_without_rendering()
            self.figure.set_layout_engine("none")
        if self.mode == "ipympl":
            self.figure.canvas.draw_idle()
        else:
            self.widget.value = self.png()
        self.draws += 1

    def _static_key(self) -> tuple:
        """What the background shows besides the dynamic artists: limits, scales, legends, titles."""
        return tuple((ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), id(ax.get_legend()),
                      ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) for ax in self.axes)

    def _render(self) -> None:
        canvas = self.figure.canvas
        dynamic = list(self.dynamic()) if self.dynamic is not None else []
        if not dynamic:
            canvas.draw()
            return
        key = self._static_key()
        if self._background is not None and key == self._key:
            canvas.restore_region(self._background)
            self.blits += 1
        else:
            for artist in dynamic:
                artist.set_animated(True)
            canvas.draw()                                   # everything but the dynamic artists
            self._background, self._key = canvas.copy_from_bbox(self.figure.bbox), key
        for artist in sorted(dynamic, key=lambda a: a.get_zorder()):
            if artist.get_visible():
                artist.axes.draw_artist(artist)

    def png(self) -> bytes:
        """The figure as PNG bytes: one Agg draw, encoded with fast compression (a live frame, not an archive)."""
        import numpy as np
        from PIL import Image
        self._render()
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(self.figure.canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def snapshot(self, dpi: float = PICTURE_DPI):
        """The figure as it is now, as a PIL image rendered by Agg at ``dpi`` (the widget is not touched).

        Saving draws the blitted (animated) artists too, which a plain canvas draw leaves out.
        """
        from PIL import Image
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")

    def close(self) -> None:
        self.widget.close()


class Panel:
    """Base class of the panels (see the module docstring)."""

    @staticmethod
    def config_from(config_type, config, settings: dict):
        """A panel's settings: ``config`` (a ``config_type``, its dict, or None) with ``settings`` on top, checked."""
        if config is None:
            config = {}
        elif isinstance(config, config_type):
            config = config.to_dict()
        require(isinstance(config, dict), "config", config, f"a {config_type.__name__}, a dict or None",
                RollToTrainTypeError)
        return config_type.from_dict({**config, **settings})

    def __init__(self):
        self.controls: dict = {}
        self.error = widgets.HTML(value="", layout=widgets.Layout(min_height="0px"))
        self.output = widgets.Output(layout=widgets.Layout(max_height="160px", overflow="auto"))
        self.widget = widgets.VBox()
        self.figures: list = []
        self._observers: list = []       # (widget, handler, names)
        self._clicks: list = []          # (button, handler)
        self._task = None
        self.closed = False
        self._home = HomeThread()        # where the callbacks run: the thread (and event loop) that built the panel
        self._display_id = None          # the id of this panel's displays in a kernel (None: never shown there)
        self._shown_token = None         # picture_token() of the picture those displays hold
        self._after_cell = None          # the post_run_cell handle that keeps them current

    # --- callbacks whose errors are visible -----------------------------------------------------
    def guarded(self, fn):
        """``fn`` wrapped so an exception shows in the panel (``error_text``) instead of escaping."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:      # shown, not swallowed: the panel is the user's console
                self.show_error(exc)
        return wrapper

    def observe(self, widget, handler, names="value") -> None:
        """``widget.observe`` with a guarded handler run on the panel's thread, undone by :meth:`close`."""
        handler = self._home.wrap(self.guarded(handler))
        widget.observe(handler, names=names)
        self._observers.append((widget, handler, names))

    def on_click(self, button, handler) -> None:
        """``button.on_click`` with a guarded handler run on the panel's thread, undone by :meth:`close`."""
        handler = self._home.wrap(self.guarded(handler))
        button.on_click(handler)
        self._clicks.append((button, handler))

    def show_error(self, exc: BaseException) -> None:
        """A red line naming the error in ``panel.error`` and its traceback in ``panel.output``."""
        self.error.value = (f'<span style="color:#b2182b"><b>{html.escape(type(exc).__name__)}:</b> '
                            f"{html.escape(str(exc))}</span>")
        self.output.append_stderr("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def clear_error(self) -> None:
        self.error.value = ""

    @property
    def error_text(self) -> str:
        """The error line as plain text ("" when there is none)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.error.value))

    # --- running on the kernel's event loop -----------------------------------------------------
    def start_task(self, coroutine_fn) -> bool:
        """Run ``coroutine_fn()`` as a task on the running event loop (the kernel's); False if none runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._task = loop.create_task(self._run_guarded(coroutine_fn))
        return True

    async def _run_guarded(self, coroutine_fn):
        try:
            await coroutine_fn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.show_error(exc)

    def finish(self) -> None:
        """Finish work under way on the event loop (a re-training) now: nothing here; a panel with such work says."""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def cancel_task(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    # --- display and teardown ---------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        """Show the panel (widget view and picture) with a ``display_id``, kept current after each cell.

        Outside a kernel (a terminal IPython) the bundle is shown once, as any object's is.
        """
        from IPython.display import display
        bundle = self._repr_mimebundle_()
        if bundle is None:
            return
        shell = _kernel_shell()
        if shell is None:
            display(bundle, raw=True)
            return
        if self._display_id is None:
            self._display_id = f"rtt-edu-panel-{uuid.uuid4().hex}"
        display(bundle, raw=True, display_id=self._display_id)
        self._shown_token = self.picture_token()
        if self._after_cell is None and not self.closed:
            self._after_cell = _AfterEachCell(shell, self)

    def picture_token(self) -> tuple:
        """What the picture shows, cheaply: each figure's draw count and the readout under the picture.

        A panel redraws a figure (:meth:`LiveFigure.draw`) whenever what it shows changes, so a
        token that did not change means a picture that did not change.
        """
        return (tuple(fig.draws for fig in self.figures), tuple(self.picture_notes()))

    def update_picture(self) -> bool:
        """Send the displays of this panel its current picture if it changed since the last one sent.

        Called after each cell by IPython's ``post_run_cell`` event; True when an update was sent.
        """
        if self._display_id is None or self.closed:
            return False
        self.finish()
        token = self.picture_token()
        if token == self._shown_token:
            return False
        from IPython.display import update_display
        bundle = self._repr_mimebundle_()
        if bundle is None or "image/png" not in bundle:     # no picture made (it warned): keep the last one
            return False
        update_display(bundle, raw=True, display_id=self._display_id)
        self._shown_token = token
        return True

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        if bundle is not None:                 # text for consoles without widgets, not the whole tree's repr
            bundle["text/plain"] = repr(self)
            wanted = (include is None or "image/png" in include) and not (exclude and "image/png" in exclude)
            try:
                png = self.picture() if wanted else None
            except Exception as exc:           # the live widget still shows; only the static copy is missing
                warnings.warn(f"{type(self).__name__}: no static picture for pages without a kernel "
                              f"({type(exc).__name__}: {str(exc)[:80]})", RuntimeWarning, stacklevel=2)
                png = None
            if png is not None:                # what a page without a kernel shows instead of the widget
                bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle

    @property
    def caption_text(self) -> str:
        """The panel's "Figure: ..." caption(s) as plain text, found in its widget tree ("" when none)."""
        found = []
        for widget in _walk(self.widget):
            if isinstance(widget, widgets.HTML):
                text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", widget.value)).split())
                if text.startswith("Figure:"):
                    found.append(text)
        return " ".join(found)

    def picture_notes(self) -> list:
        """Lines of text written under the picture: what the panel shows as text, not in a figure.

        None here; a panel with a readout (the DicePanel's exact figures and verdict) lists it.
        """
        return []

    def picture(self, dpi: float = PICTURE_DPI):
        """PNG bytes of the panel's figures as they are now, or None for a panel without figures.

        Each figure is rendered with Agg at ``dpi``; figures side by side in an HBox stay side by
        side, the others are stacked, as the widget tree lays them out. The lines of
        :meth:`picture_notes` are written under them, wrapped to the picture's width. The caption
        (:attr:`caption_text`) is the PNG's ``Description`` text, the notes its ``Comment``, the
        panel's repr its ``Title``. The PNG has a palette of 256 colours, each pixel within a few
        levels of the rendered one. Work under way is finished first (:meth:`finish`): the picture is of
        the whole run.
        """
        if not self.figures:
            return None
        if not self.closed:
            self.finish()
        from PIL import Image, PngImagePlugin
        by_widget = {id(fig.widget): fig for fig in self.figures}
        shown = set()

        def layout(widget):
            fig = by_widget.get(id(widget))
            if fig is not None:
                shown.add(id(widget))
                return fig.snapshot(dpi)
            parts = [part for part in map(layout, getattr(widget, "children", ())) if part is not None]
            return _join(parts, across=isinstance(widget, widgets.HBox)) if parts else None

        parts = [layout(self.widget)]
        parts += [fig.snapshot(dpi) for fig in self.figures if id(fig.widget) not in shown]   # not in the tree
        image = _join([part for part in parts if part is not None], across=False)
        notes = self.picture_notes()
        if notes:
            image = _join([image, _text_image(notes, image.size[0], dpi)], across=False)
        info = PngImagePlugin.PngInfo()
        info.add_itxt("Title", repr(self))
        if self.caption_text:
            info.add_itxt("Description", self.caption_text)
        if notes:
            info.add_itxt("Comment", "\n".join(notes).replace("\u00a0", " "))
        # 256 colours chosen to cover the picture (every colour within a few levels of the figure's):
        # a third of the bytes a notebook would otherwise keep
        image = image.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        image.save(buffer, format="png", pnginfo=info, optimize=True)
        return buffer.getvalue()

    def __repr__(self):
        settings = getattr(self, "_config", None)
        shown = ", ".join(f"{k}={v!r}" for k, v in settings.to_dict().items()
                          if k in ("dataset", "rules", "seed", "seeds")) if settings is not None else ""
        return f"{type(self).__name__}({shown})"

    def close(self) -> None:
        """Cancel a running task, unregister every callback, close the figures and widgets."""
        if self.closed:
            return
        if self._after_cell is not None:
            self._after_cell.remove()
            self._after_cell = None
        self.cancel_task()
        for widget, handler, names in self._observers:
            widget.unobserve(handler, names=names)
        for button, handler in self._clicks:
            button.on_click(handler, remove=True)
        self._observers, self._clicks = [], []
        for fig in self.figures:
            fig.close()
        _close_tree(self.widget)
        self.closed = True


def _kernel_shell():
    """The IPython shell of a kernel (one whose displays a frontend can update), or None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


class _AfterEachCell:
    """A removable ``post_run_cell`` callback calling ``panel.update_picture()``; it holds the panel weakly.

    A panel that was closed or collected removes the callback the next time it runs.
    """

    def __init__(self, shell, panel: Panel):
        self.shell = shell
        self.panel = weakref.ref(panel)
        shell.events.register("post_run_cell", self)

    def __call__(self, result=None) -> None:
        panel = self.panel()
        if panel is None or panel.closed:
            self.remove()
            return
        try:
            panel.update_picture()
        except Exception as exc:       # the live widget is fine; only the saved picture is behind
            warnings.warn(f"{type(panel).__name__}: its picture for pages without a kernel was not updated "
                          f"({type(exc).__name__}: {str(exc)[:80]})", RuntimeWarning, stacklevel=2)

    def remove(self) -> None:
        """Unregister the callback (once; removing it again does nothing)."""
        if self in self.shell.events.callbacks["post_run_cell"]:
            self.shell.events.unregister("post_run_cell", self)


def _wrapped(lines: list, width: int, dpi: float) -> list:
    """``lines`` broken at spaces so that each fits ``width`` pixels, written at :data:`NOTE_POINTS` points and ``dpi``.

    Widths are measured with the Agg renderer in the figures' font. A no-break space (U+00A0)
    keeps a name with its value; a single word wider than ``width`` stays whole on its line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.font_manager import FontProperties
    font = FontProperties(size=NOTE_POINTS)
    renderer = FigureCanvasAgg(Figure(dpi=dpi)).get_renderer()
    fits = lambda text: renderer.get_text_width_height_descent(text, font, ismath=False)[0] <= width  # noqa: E731
    wrapped = []
    for line in lines:
        current = ""
        for gap, word in zip([""] + re.findall(r" +", line), re.split(r" +", line)):
            if current and not fits(current + gap + word):
                wrapped.append(current)
                current = word
            else:
                current += gap + word
        wrapped.append(current)
    return wrapped


def _text_image(lines: list, width: int, dpi: float):
    """``lines`` written in black on white (:func:`_wrapped` to the width), as a PIL image ``width`` pixels wide."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image
    pixels_per_point = dpi / 72
    pad = round(6 * pixels_per_point)
    wrapped = _wrapped(lines, width - 2 * pad, dpi)
    line_height = NOTE_POINTS * pixels_per_point * 1.4
    height = round(len(wrapped) * line_height + 2 * pad)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    figure.text(pad / width, 1 - pad / height, "\n".join(wrapped), ha="left", va="top", fontsize=NOTE_POINTS,
                linespacing=1.4, color="black", parse_math=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _walk(widget):
    """The widget and every widget below it, depth first."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _join(images: list, across: bool):
    """PIL images side by side (``across``, top-aligned) or stacked (left-aligned) on white."""
    from PIL import Image
    if len(images) == 1:
        return images[0]
    sizes = [image.size for image in images]
    width = sum(w for w, _ in sizes) if across else max(w for w, _ in sizes)
    height = max(h for _, h in sizes) if across else sum(h for _, h in sizes)
    joined = Image.new("RGB", (width, height), "white")
    at = 0
    for image in images:
        joined.paste(image, (at, 0) if across else (0, at))
        at += image.size[0] if across else image.size[1]
    return joined


def _close_tree(widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def side_label(text: str, width: str = "92px"):
    """A label that lines up with the sliders' descriptions, for a widget shown without its own."""
    return widgets.HTML(f"<div style='text-align:right;padding-right:8px'>{text}</div>",
                        layout=widgets.Layout(width=width, flex="0 0 auto"))
