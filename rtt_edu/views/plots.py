"""Plots of a run and of a rule, with matplotlib's object API. Each ``plot_*`` returns its Figure.

    plot_history(history)               # the loss as a line, its natural 20s and 1s marked
    plot_distribution("classroom")      # the exact multiplier distribution, E[m], P(ascent), P(skip)
    plot_band(dice_losses, plain_losses)  # many seeds: median and a quantile band
    plot_decision_boundary(model, X, y) # a 2-D classifier's regions over its data

Each plot is drawn by a *view*, a small class that creates its artists once and changes them with
``set_data`` on ``update(...)``; the live panels (:mod:`rtt_edu.views.widgets`) keep a view and call
``update`` every frame, so a static plot and a live one are the same drawing. Figures are made
with ``Figure()``, never registered with pyplot, so nothing is shown twice or kept alive by it.
"""
from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from rtt_edu.errors import RollToTrainError, bad_value

__all__ = ["plot_history", "plot_distribution", "plot_band", "plot_decision_boundary", "LossCurveView",
           "DistributionView", "BandView", "BoundaryView", "encounter_spans", "level_ups", "band_stats",
           "decision_grid", "OUTCOME_STYLE", "ALL_OUTCOMES", "CRITICAL_OUTCOMES",
           "DENSE_STEPS", "LABEL_GAPS"]

#: Okabe and Ito's colour-blind-safe palette (Color Universal Design, 2008): name → colour.
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
           "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
           "grey": "#777777"}

#: outcome → how its steps are marked (colour, marker, size, legend label). Every outcome has its
#: own marker shape as well as its own colour, so no two differ by colour alone.
OUTCOME_STYLE = {
    "critical_success": dict(color=PALETTE["green"], marker="*", markersize=9, label="critical success"),
    "success": dict(color=PALETTE["sky_blue"], marker="o", markersize=3.5, label="success"),
    "fail": dict(color=PALETTE["orange"], marker="v", markersize=4.5, label="fail"),
    "critical_fail": dict(color=PALETTE["vermillion"], marker="X", markersize=7, label="critical failure"),
    "skipped": dict(color=PALETTE["grey"], marker="s", markersize=4, label="skipped", markerfacecolor="none"),
}
_OTHER = dict(color="#999999", marker=".", markersize=4, label="other")

#: every outcome a step can have ("other": one the styles do not know): a live panel marks them all.
ALL_OUTCOMES = (*OUTCOME_STYLE, "other")
#: the outcomes a static loss curve marks unless told otherwise: the natural 20s and natural 1s. A marker
#: on every step buries the line; the critical steps are the ones a reader looks for.
CRITICAL_OUTCOMES = ("critical_success", "critical_fail")
#: a live loss curve longer than this many steps draws the other outcomes' markers small and faint
DENSE_STEPS = 150
#: the least distance between two labels of a kind, as a fraction of the steps shown: a monster's name
#: stands upright (one line of text wide), a level label " Lv 10" lies across (about six characters wide)
LABEL_GAPS = {"monster": 0.06, "level": 0.10}

#: the two runs of a panel and a faded copy of the dice run before the last change.
RUN_STYLE = {"dice": dict(color=PALETTE["blue"], lw=1.2, label="dice"),
             "plain": dict(color=PALETTE["black"], lw=1.2, ls="--", label="plain"),
             "before": dict(color=PALETTE["blue"], lw=2.4, ls="-", alpha=0.25, label="before the change")}

#: the y-axis shows finite losses up to this many times the first loss: a diverging run leaves
#: through the top instead of flattening every other curve against the bottom.
Y_CAP = 10.0

# Event kinds that open and close a monster encounter. The monsters log kind "encounter" both when
# one appears (with "turns") and when it leaves (with "hit_points_left"), and "defeat" when beaten.
_ENCOUNTER_END = {"defeat"}
_MONSTER_SHADE = PALETTE["purple"]
_LEVEL_COLOUR = PALETTE["orange"]


class PngFigure(Figure):
    """A Figure that shows itself as PNG in a notebook even before pyplot is imported."""

    def _repr_png_(self):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        if self.canvas is None or type(self.canvas).__name__ == "FigureCanvasBase":
            FigureCanvasAgg(self)
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(figsize=(6.0, 3.5), ncols: int = 1, dpi: int = 100):
    """(figure, axes) from the object API: no pyplot state, an Agg canvas for rendering."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = PngFigure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _axes(ax, figsize):
    if ax is None:
        return new_figure(figsize)[1]
    if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
        raise TypeError(bad_value("ax", ax, "a matplotlib Axes or None"))
    return ax


def _round_up(value: float) -> float:
    """``value`` rounded up to a quarter of its decade: 0.7277 → 0.75, 3.2 → 3.25, 41 → 42.5."""
    step = 10 ** math.floor(math.log10(value)) / 4
    return math.ceil(value / step - 1e-9) * step


def _floats(values) -> np.ndarray:
    """A float64 array from a list (``None`` → NaN), a numpy array or a tensor."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


# --- the loss curve of a run -------------------------------------------------------------------

def encounter_spans(events) -> list:
    """``[(first step, last step, monster name), ...]`` from ``(step, event)`` pairs, in order.

    A monster appears with an event of kind ``"encounter"`` carrying ``"turns"``; it ends with a
    ``"defeat"``, or an ``"encounter"`` event with
    ``"hit_points_left"`` (it leaves). One still present ends at the last step seen.
    """
    spans, open_ = [], None
    last = None
    for step, event in events:
        last = step
        kind = event.get("kind")
        ends = kind in _ENCOUNTER_END or (kind == "encounter" and "hit_points_left" in event)
        if ends and open_ is not None:
            spans.append((open_[0], step, open_[1]))
            open_ = None
        elif kind == "encounter" and not ends:
            if open_ is not None:
                spans.append((open_[0], step, open_[1]))
            open_ = (step, event.get("monster", "monster"))
    if open_ is not None:
        spans.append((open_[0], last, open_[1]))
    return spans


def level_ups(events) -> list:
    """``[(step, level), ...]`` from events of kind ``"level_up"``."""
    return [(step, event.get("level")) for step, event in events if event.get("kind") == "level_up"]


def percent(p: float, digits: int = 0) -> str:
    """A share of steps: 70%, 5% (``digits`` decimals), and a small chance with two, 0.25%, never 0%."""
    return f"{p:.2%}" if 0 < p < 0.01 else f"{p:.{digits}%}"


class LossCurveView:
    """The loss of a run by step, a marker per step in its outcome's colour and shape, encounters
    shaded, level-ups marked, and optionally the plain run's loss and a faded "before" curve.

    ``lines["dice"]``, ``lines["plain"]``, ``lines["before"]`` and ``markers[outcome]`` are Line2D
    artists; ``update`` appends only the steps added since the last call (a new History starts
    over). The y-limits come from finite losses only, at most :data:`Y_CAP` × the first loss.
    """

    def __init__(self, ax, title: str | None = None, log_scale: bool = False, legend: bool = True,
                 marks=ALL_OUTCOMES):
        self.ax, self.show_legend = ax, legend     # legend=False: the caller shows legend_handles() elsewhere
        unknown = set(marks) - set(ALL_OUTCOMES)
        if unknown:
            raise RollToTrainError(bad_value("marks", marks, f"outcomes among {ALL_OUTCOMES}"))
        self.marks = tuple(marks)                  # the outcomes whose steps get a marker; the line shows every step
        self._dense = False                        # whether the ordinary markers are drawn small and faint
        self.lines = {name: ax.plot([], [], **style)[0] for name, style in RUN_STYLE.items()}
        self.markers = {name: ax.plot([], [], ls="", zorder=3, **style)[0] for name, style in OUTCOME_STYLE.items()}
        self.markers["other"] = ax.plot([], [], ls="", zorder=3, **_OTHER)[0]
        self._decorations: list = []
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        self.log_scale = False
        self.set_log_scale(log_scale)
        if title:
            ax.set_title(title)
        self._clear_cache()

    def _clear_cache(self):
        self._history, self._n = None, 0
        self._x, self._loss = [], []
        self._by_outcome = {name: ([], []) for name in self.markers}
        self._events: list = []
        self._drawn = None

    def set_log_scale(self, on: bool) -> None:
        """A logarithmic loss axis (``True``) or a linear one."""
        self.log_scale = bool(on)
        self.ax.set_yscale("log" if self.log_scale else "linear")

    def update(self, history, plain=None, before=None) -> None:
        """Show ``history`` (a :class:`~rtt_edu.engine.history.History`), ``plain`` losses and ``before``
        (or ``None``)."""
        total, first = history.total_steps, history.first_kept    # a bounded history keeps the newest only
        if history is not self._history or total < self._n:
            self._clear_cache()
            self._history = history
        for record in history.steps[max(0, self._n - first):]:
            loss = math.nan if record.loss is None else record.loss
            self._x.append(record.step)
            self._loss.append(loss)
            xs, ys = self._by_outcome.get(record.outcome, self._by_outcome["other"])
            xs.append(record.step)
            ys.append(loss)
            self._events.extend((record.step, event) for event in record.events)
        self._n = total
        self.lines["dice"].set_data(self._x, self._loss)
        for name, values in (("plain", plain), ("before", before)):
            values = np.empty(0) if values is None else _floats(values)
            self.lines[name].set_data(np.arange(len(values)), values)
        for name, (xs, ys) in self._by_outcome.items():
            self.markers[name].set_data(*((xs, ys) if name in self.marks else ([], [])))
        self._fade_when_dense(len(self._x))
        self._decorate()
        self._limits()
        self._legend()

    def _fade_when_dense(self, steps: int) -> None:
        """Past :data:`DENSE_STEPS` steps a marker on every step would bury the line: the ordinary
        outcomes' markers turn small and faint, the critical ones (natural 20s and 1s) stay as they are."""
        dense = steps > DENSE_STEPS
        if dense == self._dense:
            return
        self._dense = dense
        for name, artist in self.markers.items():
            if name not in CRITICAL_OUTCOMES:
                style = OUTCOME_STYLE.get(name, _OTHER)
                artist.set_markersize(style["markersize"] * (0.6 if dense else 1.0))
                artist.set_alpha(0.35 if dense else None)

    def _limits(self):
        """x from 0 to the longest curve; y over finite losses <= Y_CAP × the first (positive ones on a log axis)."""
        curves = [np.asarray(line.get_ydata(), dtype=float) for line in self.lines.values()]
        length = max((len(c) for c in curves), default=0)
        values = np.concatenate(curves) if curves else np.empty(0)
        values = values[np.isfinite(values)]
        firsts = [c[0] for c in curves if len(c) and np.isfinite(c[0])]
        if firsts:
            values = values[values <= Y_CAP * max(firsts)]
        if self.log_scale:
            values = values[values > 0]
        self.ax.set_xlim(-0.5, max(length, 10) - 0.5)      # an empty run: steps 0 to 9, not fractions of one
        if not len(values):
            self.ax.set_ylim(*((0.1, 1.0) if self.log_scale else (0.0, 1.0)))
            return
        lo, hi = float(values.min()), float(values.max())
        if self.log_scale:       # to the half-decade: a small change of the curves keeps the axis
            self.ax.set_ylim(10 ** (math.floor(2 * math.log10(lo)) / 2), 10 ** (math.ceil(2 * math.log10(hi)) / 2))
        else:                    # from 0 (a loss is >= 0) to a round number above the top
            top = _round_up(hi + 0.04 * (hi - min(lo, 0.0)) if hi > 0 else 1.0)
            self.ax.set_ylim(0.0 if lo >= 0 else lo - 0.05 * (top - lo), top)

    def dynamic_artists(self) -> list:
        """The artists that change with the data (a live figure redraws only these when it can)."""
        return [*self.lines.values(), *self.markers.values(), *self._decorations]

    def _decorate(self):
        """Shade encounters and mark level-ups; redrawn only when they changed.

        Monster names (upright text) sit at the top and level labels (across) at the bottom; a label
        closer than :data:`LABEL_GAPS` of the x-range to the previous one of its kind is left out (its
        shading or line still shows), so labels never run into each other.
        """
        spans, levels = encounter_spans(self._events), level_ups(self._events)
        if (spans, levels) == self._drawn:
            return
        for artist in self._decorations:
            artist.remove()
        self._decorations = []
        transform = self.ax.get_xaxis_transform()       # x in steps, y in axes fraction
        shown = (self._x[-1] - self._x[0] + 1) if self._x else 1
        gap = LABEL_GAPS["monster"] * shown
        last = -math.inf
        for start, end, name in spans:
            self._decorations.append(self.ax.axvspan(start - 0.5, end + 0.5, color=_MONSTER_SHADE, alpha=0.12, lw=0))
            if start - last >= gap:
                self._decorations.append(self.ax.text(start, 0.98, name, transform=transform, fontsize=6, va="top",
                                                      rotation=90, color=_MONSTER_SHADE))
                last = start
        gap, last = LABEL_GAPS["level"] * shown, -math.inf
        for step, level in levels:
            self._decorations.append(self.ax.axvline(step, color=_LEVEL_COLOUR, lw=1, ls=":"))
            if step - last >= gap:
                self._decorations.append(self.ax.text(step, 0.02, f" Lv {level}", transform=transform, fontsize=7,
                                                      color=_LEVEL_COLOUR))
                last = step
        self._drawn = (spans, levels)

    def legend_handles(self) -> list:
        """Every entry a live panel's legend needs, from the start: the runs, then the outcomes."""
        return [*self.lines.values(), *(a for name, a in self.markers.items() if name != "other")]

    def _legend(self):
        if not self.show_legend:
            return
        shown = [a for a in (*self.lines.values(), *self.markers.values()) if len(a.get_xdata())]
        key = tuple(a.get_label() for a in shown)
        if key != getattr(self, "_legend_key", None):
            self._legend_key = key
            legend = self.ax.get_legend()
            if legend is not None:
                legend.remove()
            spec = self.ax.get_subplotspec()
            if shown and spec is not None and not spec.is_last_col():   # a neighbour on the right: below
                self.ax.legend(handles=shown, loc="upper center", bbox_to_anchor=(0.5, -0.25),
                               ncols=2, borderaxespad=0.0, frameon=False)
            elif shown:   # beside the axes, so it never covers data or tick labels
                self.ax.legend(handles=shown, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                               borderaxespad=0.0, frameon=False)


def plot_history(history, ax=None, plain=None, title: str | None = None, log_scale: bool = False,
                 marks=CRITICAL_OUTCOMES, legend: bool = True):
    """The loss curve of ``history`` as a line, the steps of the outcomes in ``marks`` marked (by
    default the critical successes and failures, natural 20s and 1s; :data:`ALL_OUTCOMES` marks every
    step), monster encounters shaded, level-ups marked; ``plain`` adds the plain run's losses beside
    it. ``legend=False`` leaves the legend out (one legend for a row of plots). Returns the Figure."""
    from rtt_edu.engine.history import History
    if not isinstance(history, History):
        raise TypeError(bad_value("history", history, "a rtt_edu History"))
    if len(history) and all(r.loss is None for r in history.steps):
        raise RollToTrainError(bad_value("history", history, "a history with losses (under attach, call "
                                                             "handle.observe_loss(loss) before optimizer.step())"))
    ax = _axes(ax, (6.5, 3.5))
    view = LossCurveView(ax, title=title, log_scale=log_scale, legend=legend, marks=marks)
    view.update(history, plain)
    return ax.figure


# --- the exact distribution of a rule ----------------------------------------------------------

#: sign of m → (colour, marker, legend label): each sign has its own shape as well as its own colour.
_SIGN_STYLE = {"ascent": (PALETTE["vermillion"], "v", "m < 0: uphill"),
               "skip": (PALETTE["grey"], "s", "m = 0: skipped"),
               "descent": (PALETTE["green"], "^", "m > 0: downhill")}


class DistributionView:
    """Stems at each multiplier value m of a rule, height P(m) (exact), coloured by the sign of m, each
    labelled with its probability so that a stem too short to see still reads (P(m = −0.5) = 0.25%);
    the mean E[m] as a dashed line; E[m], P(ascent) and P(skip) in the title (``title=True``), in the
    same words as the verdict (:func:`percent`). The legend names only the signs the rule gives.

    ``points[sign]`` are Line2D artists (x = multipliers, y = probabilities) for the signs
    ``"ascent"``, ``"skip"`` and ``"descent"``; ``mean_line`` is the dashed line at E[m]; ``labels``
    the probabilities' texts.
    """

    def __init__(self, ax, title: bool = True):
        from matplotlib.collections import LineCollection
        self.ax, self.title = ax, title
        self.stems = LineCollection([], linewidths=2)
        ax.add_collection(self.stems)
        self.points = {sign: ax.plot([], [], ls="", marker=marker, color=color, label=label, clip_on=False,
                                     zorder=3)[0]
                       for sign, (color, marker, label) in _SIGN_STYLE.items()}
        self.mean_line = ax.axvline(0.0, color=PALETTE["blue"], ls="--", lw=1.2, label="E[m]")
        self.plain_line = ax.axvline(1.0, color="#999999", ls=":", lw=1, label="m = 1, a plain step")
        self.labels: list = []
        ax.set_xlabel("update multiplier m (1 = the plain step)")
        ax.set_ylabel("P(m), exact")
        self.summary: dict = {}

    def update(self, rule) -> None:
        from rtt_edu.game.rules import as_rules
        rule = as_rules(rule)
        dist = rule.distribution()
        ms, ps = np.array(list(dist)), np.array(list(dist.values()))
        signs = {"ascent": ms < 0, "skip": ms == 0, "descent": ms > 0}
        colors = np.empty(len(ms), dtype=object)
        for sign, mask in signs.items():
            self.points[sign].set_data(ms[mask], ps[mask])
            colors[mask] = _SIGN_STYLE[sign][0]
        self.stems.set_segments([((m, 0.0), (m, p)) for m, p in zip(ms, ps)])
        self.stems.set_colors(list(colors))
        for text in self.labels:
            text.remove()
        shares = [f"{100 * p:.2f}".rstrip("0").rstrip(".") + "%" for p in ps]       # 48.75%, 0.25%, 5%
        self.labels = [self.ax.annotate(share, (m, p), xytext=(0, 7), textcoords="offset points", ha="center",
                                        va="bottom", fontsize="small", color=color)
                       for share, m, p, color in zip(shares, ms, ps, colors)]
        shown = [self.points[sign] for sign, mask in signs.items() if mask.any()]
        self.ax.legend(handles=[*shown, self.mean_line, self.plain_line], loc="upper center",   # under the axes
                       bbox_to_anchor=(0.5, -0.2), ncols=2, borderaxespad=0.0, frameon=False)
        self.summary = rule.summary()
        mean = self.summary["mean"]
        self.mean_line.set_xdata([mean, mean])
        if self.title:
            self.ax.set_title(f"E[m] = {mean:+.4f}   P(ascent) = {percent(self.summary['p_ascent'], 1)}   "
                              f"P(skip) = {percent(self.summary['p_skip'], 1)}")
        lo, hi = min(ms.min(), mean, 0.0, 1.0), max(ms.max(), mean, 1.0)
        pad = 0.08 * (hi - lo)
        self.ax.set_xlim(lo - pad, hi + pad)
        self.ax.set_ylim(0.0, 1.25 * ps.max())


def plot_distribution(rule="classroom", ax=None):
    """The exact distribution of a rule's multiplier (a :class:`SavingThrow` or preset name),
    with E[m], P(ascent) = P(m < 0) and P(skip) = P(m = 0). Returns the Figure."""
    ax = _axes(ax, (7.0, 4.2))
    DistributionView(ax).update(rule)
    return ax.figure


# --- many seeds: median and band --------------------------------------------------------------

def band_stats(losses, quantiles=(0.1, 0.9)):
    """(median, low, high) over seeds, per step, of a (seeds, steps) array of losses.

    NaN (a diverged seed) propagates to that step's statistics rather than being silently dropped.
    """
    values = _floats(losses)
    if values.ndim != 2 or values.shape[0] < 1:
        raise RollToTrainError(bad_value("losses", f"<array of shape {values.shape}>", "a (seeds, steps) array"))
    lo_q, hi_q = quantiles
    if not 0 <= lo_q < hi_q <= 1:
        raise RollToTrainError(bad_value("quantiles", quantiles, "(low, high) with 0 <= low < high <= 1"))
    stats = np.quantile(values, [0.5, lo_q, hi_q], axis=0)
    return stats[0], stats[1], stats[2]


def _set_fill(ax, fill, x, lo, hi, **style):
    """Change a fill_between band in place (matplotlib >= 3.10), else draw it again."""
    if fill is not None and hasattr(fill, "set_data"):
        fill.set_data(x, lo, hi)
        return fill
    if fill is not None:
        fill.remove()
    return ax.fill_between(x, lo, hi, lw=0, **style)


class BandView:
    """Median loss over seeds with a quantile band, for the dice runs and the plain runs.

    ``lines["dice"]``/``lines["plain"]`` hold the medians; ``bands[...]`` the fill between quantiles.
    """
    colors = {"dice": PALETTE["blue"], "plain": PALETTE["black"]}

    def __init__(self, ax, quantiles=(0.1, 0.9), title: str | None = None):
        from matplotlib.patches import Patch
        self.ax, self.quantiles = ax, quantiles
        lo, hi = quantiles
        self.lines = {name: ax.plot([], [], color=c, lw=1.5, ls="-" if name == "dice" else "--",
                                    label=f"{name}: median")[0] for name, c in self.colors.items()}
        self.bands = {name: None for name in self.colors}
        self._band_label = f"{lo:.0%}-{hi:.0%} of seeds"
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        if title:
            ax.set_title(title)
        handles = []
        for name, color in self.colors.items():     # one legend, made once, beside the axes
            handles += [self.lines[name], Patch(color=color, alpha=0.2, lw=0, label=f"{name}: {self._band_label}")]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  frameon=False)

    def update(self, dice, plain=None) -> None:
        shown = []
        for name, losses in (("dice", dice), ("plain", plain)):
            if losses is None:
                self.lines[name].set_data([], [])
                continue
            median, lo, hi = band_stats(losses, self.quantiles)
            x = np.arange(len(median))
            self.lines[name].set_data(x, median)
            self.bands[name] = _set_fill(self.ax, self.bands[name], x, lo, hi, color=self.colors[name], alpha=0.2,
                                         label=f"{name}: {self._band_label}")
            shown.append((median, lo, hi))
        if not shown:
            return
        values = np.concatenate([np.concatenate(parts) for parts in shown])
        values = values[np.isfinite(values)]
        firsts = [m[0] for m, _, _ in shown if len(m) and np.isfinite(m[0])]
        if firsts:                         # a diverging band leaves through the top (see Y_CAP)
            values = values[values <= Y_CAP * max(firsts)]
        self.ax.set_xlim(-0.5, max(max(len(m) for m, _, _ in shown), 2) - 0.5)
        if len(values):
            top = float(values.max())
            top = _round_up(top * 1.04) if top > 0 else 1.0
            self.ax.set_ylim(min(0.0, float(values.min())), top)


def plot_band(dice, plain=None, ax=None, quantiles=(0.1, 0.9), title: str | None = None):
    """Dice vs plain over many seeds: each one's median loss per step and the band between the
    ``quantiles`` of the seeds. ``dice``/``plain``: (seeds, steps) arrays or tensors. Returns the Figure."""
    ax = _axes(ax, (6.0, 3.5))
    BandView(ax, quantiles, title).update(dice, plain)
    return ax.figure


# --- the decision boundary of a 2-D classifier -------------------------------------------------

#: class k's colour (Okabe-Ito, as RGB): blue, vermillion, green, purple, orange, sky blue, yellow, grey.
_CLASS_COLORS = np.array([[0.0, 0.447, 0.698], [0.835, 0.369, 0.0], [0.0, 0.62, 0.451], [0.8, 0.475, 0.655],
                          [0.902, 0.624, 0.0], [0.337, 0.706, 0.914], [0.941, 0.894, 0.259], [0.5, 0.5, 0.5]])


def decision_grid(model, xlim, ylim, resolution: int = 80):
    """Class probabilities of ``model`` on a resolution × resolution grid: (res, res, classes).

    Row i is y = ylim[0] + i·(ylim[1] - ylim[0])/(res - 1) (origin at the bottom), column j likewise
    in x. One output column is read as a logit of class 1 (sigmoid); several as softmax.
    """
    import torch
    xs = torch.linspace(float(xlim[0]), float(xlim[1]), resolution)
    ys = torch.linspace(float(ylim[0]), float(ylim[1]), resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    first = next(model.parameters(), None) if hasattr(model, "parameters") else None
    if first is not None:
        points = points.to(device=first.device, dtype=first.dtype)
    with torch.no_grad():
        logits = model(points)
    if logits.ndim != 2:
        raise RollToTrainError(bad_value("model", model, "a model mapping (N, 2) points to (N, classes) scores"))
    if logits.shape[1] == 1:
        p1 = torch.sigmoid(logits)
        probs = torch.cat([1 - p1, p1], 1)
    else:
        probs = torch.softmax(logits, 1)
    return probs.reshape(resolution, resolution, -1).double().cpu().numpy()


def _shade(probs):
    """An RGB image: each cell in its likeliest class's colour, paler as the model is less sure.

    confidence c = (max_k p_k - 1/K) / (1 - 1/K) ∈ [0, 1];  colour = white + 0.6·c·(class colour - white)

    A cell whose probabilities are not finite (a diverged model) is grey.
    """
    k = probs.shape[-1]
    bad = ~np.isfinite(probs).all(-1)
    probs = np.where(bad[..., None], 1.0 / k, probs)
    conf = (probs.max(-1) - 1.0 / k) / (1.0 - 1.0 / k)
    colors = _CLASS_COLORS[probs.argmax(-1) % len(_CLASS_COLORS)]
    image = 1.0 + 0.6 * conf[..., None] * (colors - 1.0)
    image[bad] = 0.8
    return image


class BoundaryView:
    """A classifier's regions over its data: ``image`` (the shaded grid), ``train``/``test`` points.

    ``set_points(X_train, y_train, X_test, y_test)`` when the data change; ``update(model)`` each frame.
    """

    def __init__(self, ax, resolution: int = 80, margin: float = 0.4, title: str | None = None, legend: bool = True,
                 fontsize: float | None = 7):
        self.ax, self.resolution, self.margin, self.show_legend = ax, resolution, margin, legend
        self.fontsize = fontsize        # labels and legend; None: the style's sizes (a static plot in a lesson)
        self.image = ax.imshow(np.ones((2, 2, 3)), origin="lower", interpolation="bilinear", aspect="auto")
        self.train = ax.scatter([], [], s=12, edgecolors="white", linewidths=0.4, zorder=3, label="train")
        self.test = ax.scatter([], [], s=14, facecolors="none", linewidths=0.9, zorder=3, label="test")
        self.probs = None
        ax.set_xticks([])
        ax.set_yticks([])
        sizes = ({}, {}) if fontsize is None else ({"fontsize": fontsize}, {"fontsize": fontsize + 2})
        ax.set_xlabel("x₁ (shade: predicted class)", **sizes[0])
        ax.set_ylabel("x₂", **sizes[0])
        if title:
            ax.set_title(title, **sizes[1])

    def set_points(self, X_train, y_train, X_test=None, y_test=None) -> None:
        X_train, y_train = np.asarray(X_train, dtype=float), np.asarray(y_train, dtype=int)
        X_all = X_train if X_test is None else np.concatenate([X_train, np.asarray(X_test, dtype=float)])
        lo, hi = X_all.min(0) - self.margin, X_all.max(0) + self.margin
        self.xlim, self.ylim = (lo[0], hi[0]), (lo[1], hi[1])
        self.image.set_extent((*self.xlim, *self.ylim))
        self.train.set_offsets(X_train)
        self.train.set_facecolors(_CLASS_COLORS[y_train % len(_CLASS_COLORS)])
        if X_test is not None and len(X_test):
            y_test = np.asarray(y_test, dtype=int)
            self.test.set_offsets(np.asarray(X_test, dtype=float))
            self.test.set_edgecolors(_CLASS_COLORS[y_test % len(_CLASS_COLORS)])
        else:
            self.test.set_offsets(np.empty((0, 2)))
        self.ax.set_xlim(*self.xlim)
        self.ax.set_ylim(*self.ylim)
        self.classes = int(y_train.max()) + 1 if len(y_train) else 0
        self.has_test = X_test is not None and len(X_test) > 0
        if self.show_legend:
            self._legend()

    def legend_handles(self) -> list:
        """Which colour is which class, and that hollow points are held out."""
        from matplotlib.lines import Line2D
        handles = [Line2D([], [], ls="", marker="o", markersize=5, color=_CLASS_COLORS[k % len(_CLASS_COLORS)],
                          label=f"class {k}") for k in range(self.classes)]
        if self.has_test:
            handles.append(Line2D([], [], ls="", marker="o", markersize=5, markerfacecolor="none", color="#444444",
                                  label="hollow: test"))
        return handles

    def _legend(self) -> None:
        """The class legend, below the axes."""
        handles = self.legend_handles()
        legend = self.ax.get_legend()
        if legend is not None:
            legend.remove()
        if handles:
            self.ax.legend(handles=handles, fontsize=None if self.fontsize is None else self.fontsize - 1,
                           loc="upper center", bbox_to_anchor=(0.5, -0.1),
                           ncols=min(3, len(handles)), frameon=False, handletextpad=0.1, columnspacing=0.6,
                           borderaxespad=0.0)

    def dynamic_artists(self) -> list:
        """The shaded grid and the points (drawn over it): what a live figure redraws."""
        return [self.image, self.train, self.test]

    def update(self, model) -> None:
        self.probs = decision_grid(model, self.xlim, self.ylim, self.resolution)
        self.image.set_data(_shade(self.probs))


def plot_decision_boundary(model, X, y, ax=None, resolution: int = 100, X_test=None, y_test=None,
                           title: str | None = None, legend: bool = True):
    """The regions ``model`` assigns to each class over the points ``X`` (coloured by ``y``);
    ``X_test``/``y_test`` are drawn hollow; ``legend=False`` leaves the class legend out (one legend for
    a row of plots). Labels take the style's font sizes. Returns the Figure."""
    X, y = _floats(X), np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise RollToTrainError(bad_value("X", f"<array of shape {X.shape}>", "(n, 2) points"))
    if len(y) != len(X):
        raise RollToTrainError(bad_value("y", f"<{len(y)} labels>", f"{len(X)} labels, one per point of X"))
    ax = _axes(ax, (4.0, 4.0))
    view = BoundaryView(ax, resolution, title=title, legend=legend, fontsize=None)
    view.set_points(X, y, None if X_test is None else _floats(X_test),
                    None if y_test is None
                    else np.asarray(y_test.detach().cpu() if hasattr(y_test, "detach") else y_test))
    view.update(model)
    return ax.figure
