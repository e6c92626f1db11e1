"""``DicePanel``: move a slider, see a saving throw's exact multiplier distribution change.

    panel = DicePanel(preset="classroom")
    panel                                  # die, DC, modifier, straight/advantage/disadvantage, preset
    panel.controls["dc"].value = 15        # the readout and the plot follow at once
    panel.rules                            # the SavingThrow shown: SavingThrow.preset("classroom", dc=15)

The readout is exact (from ``SavingThrow.summary()``, no sampling): the mean multiplier E[m]
(the drift: the plain learning rate it is equivalent to on average), the variance Var[m] (the
temperature) and the standard deviation, P(ascent) = P(m < 0), P(skip) = P(m = 0), each outcome's probability, and a
verdict in plain words (:func:`rule_verdict`); the panel's static picture (for pages without a kernel) writes the same
readout and verdict under its plot. A preset sets the bands (what each outcome multiplies the update by)
and its DC; the die, DC, modifier and advantage then change the rule around those bands.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from rtt_edu.errors import RollToTrainTypeError, require
from rtt_edu.game.rules import PRESETS, SavingThrow
from rtt_edu.views.plots import DistributionView
from rtt_edu.views.plots import percent as _percent
from rtt_edu.views.widgets.base import LiveFigure, Panel, side_label

__all__ = ["DicePanel", "rule_verdict", "DICE", "CAPTION"]

#: the one-line text description of the panel's figure.
CAPTION = ("Figure: each multiplier m the rule can give, as a stem whose height is its exact probability, marked "
           "by its sign (downward triangle: uphill, m < 0; square: skipped, m = 0; upward triangle: downhill, "
           "m > 0), with the mean E[m] as a dashed line and a plain step, m = 1, as a dotted line.")

#: the dice a saving throw can use: label → sides.
DICE = {"d4": 4, "d6": 6, "d8": 8, "d10": 10, "d12": 12, "d20": 20, "d100": 100}
ROLL_MODES = ("straight", "advantage", "disadvantage")


def rule_verdict(rule: SavingThrow) -> str:
    """What a rule does to training, in plain words, from its exact figures."""
    s = rule.summary()
    mean, std, up, skip = s["mean"], s["std"], s["p_ascent"], s["p_skip"]
    if mean < 0:
        head = (f"This rule climbs the loss: on average each step is {mean:+.3f} times a plain step, "
                "so training moves uphill and diverges.")
    elif mean == 0:
        head = "On average this rule makes no progress at all (E[m] = 0): the steps cancel out."
    elif mean < 0.1:
        head = (f"This rule learns, slowly: on average each step is {mean:.3f} times a plain step, so it needs "
                f"about {1 / mean:.0f} steps to make one plain step's progress.")
    else:
        head = (f"This rule learns: on average each step is {mean:.2f} times a plain step, like plain training "
                f"at {mean:.2f} × the learning rate.")
    parts = [head]
    if skip:
        parts.append(f"{_percent(skip)} of steps do nothing (m = 0).")
    if up:
        parts.append(f"{_percent(up)} of steps go uphill (m < 0).")
    if std:
        parts.append(f"The step size scatters by ±{std:.2f} (one standard deviation) around its mean; "
                     f"its variance, {s['variance']:.3f}, is the dice's temperature.")
    else:
        parts.append("Every step is the same: no randomness at all.")
    return " ".join(parts)


_OUTCOMES = ("critical_success", "success", "fail", "critical_fail")


def _readout_rows(rule: SavingThrow) -> list:
    """(name, value) of each exact figure in the readout: E[m], Var[m], std, P(ascent), P(skip), each outcome."""
    s = rule.summary()
    rows = [("E[m] (drift)", f"{s['mean']:+.4f}"), ("Var[m] (temperature)", f"{s['variance']:.4f}"),
            ("std of m", f"{s['std']:.4f}"),
            ("P(ascent), m < 0", f"{s['p_ascent']:.2%}"), ("P(skip), m = 0", f"{s['p_skip']:.2%}")]
    return rows + [(name.replace("_", " "), f"{s[name]:.2%}") for name in _OUTCOMES]


def _readout_html(rule: SavingThrow) -> str:
    cells = "".join(f"<tr><td style='padding-right:1em'>{html.escape(k)}</td><td><b>{v}</b></td></tr>"
                    for k, v in _readout_rows(rule))
    return f"<table style='font-size:90%;line-height:1.3'>{cells}</table>"


def _readout_lines(rule: SavingThrow) -> list:
    """The readout and the verdict as lines of plain text: what the panel's static picture writes under its plot."""
    rows = _readout_rows(rule)
    # a no-break space inside "name: value", so the picture breaks a line between figures, never inside one
    joined = lambda part: "    ".join(f"{name}: {value}".replace(" ", "\u00a0") for name, value in part)  # noqa: E731
    return [joined(rows[:3]), joined(rows[3:5]), joined(rows[5:]), rule_verdict(rule)]


class DicePanel(Panel):
    """A saving throw's exact multiplier distribution, live (see the module docstring).

    Controls: ``die`` (sides), ``dc``, ``modifier``, ``roll`` (straight/advantage/disadvantage),
    ``preset``. Readouts: ``readout`` (an HTML table of exact figures) and ``verdict`` (HTML).
    """

    def __init__(self, preset: str = "classroom", rules: SavingThrow | None = None, figures: str = "auto"):
        super().__init__()
        base = rules if rules is not None else SavingThrow.preset(preset)
        require(isinstance(base, SavingThrow), "rules", rules, "a SavingThrow or None", RollToTrainTypeError)
        self._bands = base
        preset_name = base.name if base.name in PRESETS else "custom"
        presets = list(PRESETS) + ([] if preset_name in PRESETS else ["custom"])
        self.controls = {
            "die": widgets.Dropdown(options=list(DICE.items()), value=base.sides if base.sides in DICE.values() else 20,
                                    description="die"),
            "dc": widgets.IntSlider(value=base.dc, min=1, max=max(30, base.sides + 10, base.dc),
                                    description="DC", continuous_update=True),
            "modifier": widgets.IntSlider(value=base.modifier, min=-10, max=10, description="modifier"),
            "roll": widgets.ToggleButtons(options=list(ROLL_MODES), value=_roll_mode(base),
                                          style={"button_width": "auto"}),
            "preset": widgets.Dropdown(options=presets, value=preset_name, description="preset"),
        }
        if base.sides not in DICE.values():     # an unusual die from a custom rule keeps its sides
            self.controls["die"].options = [*DICE.items(), (f"d{base.sides}", base.sides)]
            self.controls["die"].value = base.sides
        self.readout = widgets.HTML()
        self.verdict = widgets.HTML(layout=widgets.Layout(max_width="760px"))
        self.caption = widgets.HTML(f"<div style='line-height:1.3'><small><i>{html.escape(CAPTION)}</i></small></div>",
                                    layout=widgets.Layout(max_width="760px"))
        # drawn at twice its size on the page and shown at exactly 468 x 324 CSS pixels: sharp, never stretched
        self.figure = LiveFigure(figsize=(5.2, 3.6), mode=figures, pixel_ratio=2)
        self.figures.append(self.figure)
        self.view = DistributionView(self.figure.axes[0], title=False)   # the readout has the figures
        self._holding = False
        for name in ("die", "dc", "modifier", "roll"):
            self.observe(self.controls[name], self._changed)
        self.observe(self.controls["preset"], self._preset_changed)
        c = self.controls
        for name in ("preset", "die", "dc", "modifier"):
            c[name].layout.width = "300px"
        roll = widgets.HBox([side_label("roll", "80px"), c["roll"]])       # each button as wide as its word
        controls = widgets.VBox([c["preset"], c["die"], c["dc"], c["modifier"], roll, self.readout],
                                layout=widgets.Layout(width="360px", flex="0 0 auto", margin="0 12px 0 0"))
        self.widget.children = [
            widgets.HBox([controls, self.figure.widget], layout=widgets.Layout(flex_flow="row wrap")),
            self.caption, self.verdict, self.error, self.output]
        self.rules = base
        self.update()

    def __repr__(self):
        return f"DicePanel(rules={self.rules!r})"

    def picture_notes(self) -> list:
        """The readout (E[m], Var[m], std, P(ascent), P(skip), each outcome) and the verdict, as text lines."""
        return _readout_lines(self.rules)

    # --- state ----------------------------------------------------------------------------------
    def _rule_from_controls(self) -> SavingThrow:
        c = self.controls
        mode = c["roll"].value
        return self._bands.replace(sides=c["die"].value, dc=c["dc"].value, modifier=c["modifier"].value,
                                   advantage=mode == "advantage", disadvantage=mode == "disadvantage")

    def update(self) -> None:
        """Rebuild ``rules`` from the controls; redraw the distribution, readout and verdict."""
        self.rules = self._rule_from_controls()
        self.view.update(self.rules)
        self.figure.draw()
        self.readout.value = _readout_html(self.rules)
        self.verdict.value = f"<p style='line-height:1.4;margin:0'>{html.escape(rule_verdict(self.rules))}</p>"
        self.clear_error()

    def _changed(self, change) -> None:
        if self._holding:
            return
        if change["owner"] is self.controls["die"]:
            self.controls["dc"].max = max(30, change["new"] + 10, self.controls["dc"].value)
        self.update()

    def _preset_changed(self, change) -> None:
        if change["new"] == "custom":
            return
        preset = SavingThrow.preset(change["new"])
        self._bands = preset
        self._holding = True           # one update for the whole preset, not one per slider
        try:
            c = self.controls
            c["die"].value = preset.sides
            c["dc"].max = max(30, preset.sides + 10)
            c["dc"].value = preset.dc
            c["modifier"].value = preset.modifier
            c["roll"].value = _roll_mode(preset)
        finally:
            self._holding = False
        self.update()


def _roll_mode(rule: SavingThrow) -> str:
    return "advantage" if rule.advantage else "disadvantage" if rule.disadvantage else "straight"
