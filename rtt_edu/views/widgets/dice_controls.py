"""The dice controls the training panels share: a rule shown as widgets, and widgets read as a rule.

    dice = DiceControls("classroom", intelligence=10)
    dice.controls["dc"].value = 15       # a dice control moved: dice.preset is now "custom"
    dice.rule()                          # SavingThrow.preset("classroom").replace(dc=15, name=None)
    dice.set_rule("seed-code")           # a preset sets every dice control at once

The controls (``controls``, name → widget):

``rules``         the presets and ``"custom"``
``die``           d4, d6, d8, d10, d12, d20, d100 (a custom rule's unusual die joins the list)
``dc``            the difficulty class (IntSlider)
``intelligence``  the ability score 1..30; ``modifier_label`` shows the modifier it adds to every save
``roll``          straight, advantage or disadvantage (ToggleButtons)
``crit_success``, ``success``, ``fail``, ``crit_fail``
                  each band's multiplier, -1 to 1 in steps of 0.05 (FloatSliders)
``crit_success_margin``, ...
                  beside each band, how much the multiplier grows per point of margin::

                      m = value + margin × (total - dc)      (a Margin(scale=margin, offset=value))

                  0 makes the band a plain number; the seed presets' (total - dc)/100 is value 0,
                  margin 0.01. A Margin's clamps (lo, hi) and the rule's own modifier are kept.

Every preset is exactly these values, and a custom rule round-trips through :meth:`rule` and
:meth:`set_rule`. Moving any dice control (other than ``rules``) switches ``rules`` to ``"custom"``.
"""
from __future__ import annotations

import ipywidgets as widgets

from rtt_edu.game.dice import ability_modifier
from rtt_edu.game.rules import PRESETS, Margin, SavingThrow
from rtt_edu.views.widgets.base import side_label
from rtt_edu.views.widgets.config import rules_from_config
from rtt_edu.views.widgets.dice import DICE, ROLL_MODES
from rtt_edu.views.widgets.dice import _roll_mode as roll_mode

__all__ = ["DiceControls", "DICE", "ROLL_MODES", "BANDS", "DICE_CONTROLS"]

#: SavingThrow argument → the outcome band it sets.
BANDS = {"crit_success": "critical_success", "success": "success", "fail": "fail", "crit_fail": "critical_fail"}
_LABELS = {"crit_success": "crit success", "success": "success", "fail": "fail", "crit_fail": "crit fail"}
#: every dice control's name, in the order shown.
DICE_CONTROLS = ("rules", "die", "dc", "intelligence", "roll", *BANDS, *(f"{band}_margin" for band in BANDS))
_MARGIN_RANGE = 0.05


def _dc_max(sides: int, dc: int = 0) -> int:
    return max(30, sides + 10, dc)


class DiceControls:
    """A rule's widgets (see the module docstring). ``on_change(fn)``: ``fn(kind)`` after a change,
    ``kind`` being ``"dice"`` (a dice control or a preset) or ``"intelligence"``."""

    def __init__(self, rules="classroom", intelligence: int = 10, label_width: str = "92px", observe=None):
        """``observe(widget, handler)`` registers the handlers (a panel passes its guarded, removable
        :meth:`~rtt_edu.views.widgets.base.Panel.observe`); by default ``widget.observe(handler, "value")``."""
        rule = rules_from_config(rules)
        style = {"description_width": label_width}
        self._base = rule                  # what the controls do not show (modifier, a Margin's clamps)
        preset = rules if isinstance(rules, str) else ("custom" if rule.name not in PRESETS
                                                       or SavingThrow.preset(rule.name) != rule else rule.name)
        slider = dict(style=style, continuous_update=False)
        self.controls = {
            "rules": widgets.Dropdown(options=[*PRESETS, "custom"], value=preset, description="rule", style=style),
            "die": widgets.Dropdown(options=list(DICE.items()), value=20, description="die", style=style),
            "dc": widgets.IntSlider(value=rule.dc, min=1, max=_dc_max(rule.sides, rule.dc), description="DC", **slider),
            "intelligence": widgets.IntSlider(value=intelligence, min=1, max=30, description="intelligence", **slider),
            "roll": widgets.ToggleButtons(options=list(ROLL_MODES), value=roll_mode(rule),
                                          style={"button_width": "auto"},
                                          tooltips=["one die", "two dice, keep the higher",
                                                    "two dice, keep the lower"]),
        }
        for band, label in _LABELS.items():
            self.controls[band] = widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.05, description=label,
                                                      readout_format=".2f", **slider)
        for band in BANDS:
            self.controls[f"{band}_margin"] = widgets.FloatSlider(
                value=0.0, min=-_MARGIN_RANGE, max=_MARGIN_RANGE, step=0.005, description="+ margin ×",
                readout_format=".3f", style={"description_width": "80px"}, continuous_update=False)
        self.modifier_label = widgets.HTML()
        self._callbacks: list = []
        self._holding = False
        self._show(rule, preset)
        observe = observe or (lambda widget, handler: widget.observe(handler, names="value"))
        for widget, handler in self._handlers():
            observe(widget, handler)

    # --- reading and writing the rule ---------------------------------------------------------
    @property
    def preset(self) -> str:
        return self.controls["rules"].value

    @property
    def intelligence(self) -> int:
        return self.controls["intelligence"].value

    def rule(self) -> SavingThrow:
        """The rule the controls show: the preset itself, or the custom rule they spell out."""
        if self.preset != "custom":
            return SavingThrow.preset(self.preset)
        c = self.controls
        bands = {}
        for band, outcome in BANDS.items():
            value, scale = float(c[band].value), float(c[f"{band}_margin"].value)
            old = self._base.bands[outcome]
            if scale == 0.0:
                bands[band] = value
            elif isinstance(old, Margin):
                bands[band] = Margin(scale=scale, offset=value, lo=old.lo, hi=old.hi)
            else:
                bands[band] = Margin(scale=scale, offset=value)
        mode = c["roll"].value
        rule = self._base.replace(sides=c["die"].value, dc=c["dc"].value, advantage=mode == "advantage",
                                  disadvantage=mode == "disadvantage", **bands)
        return rule

    def config_rules(self):
        """The rule as a config holds it: the preset's name, or the custom rule's dict."""
        return self.preset if self.preset != "custom" else self.rule().to_dict()

    def set_rule(self, rules) -> None:
        """Show ``rules`` (a preset name, a SavingThrow or its dict) on every dice control, in one change."""
        rule = rules_from_config(rules)
        preset = rules if isinstance(rules, str) else "custom"
        self._base = rule
        self._show(rule, preset)

    def show(self, rules, intelligence: int) -> None:
        """Show ``rules`` and ``intelligence`` (a config's) on the controls without firing a change.

        A panel calls this to put the controls back to the config in use after a refused value.
        """
        self._holding = True
        try:
            self.controls["intelligence"].value = intelligence
        finally:
            self._holding = False
        self._modifier()
        self.set_rule(rules)

    def _show(self, rule: SavingThrow, preset: str) -> None:
        c = self.controls
        self._holding = True
        try:
            c["rules"].value = preset
            die = c["die"]
            if rule.sides not in DICE.values():          # an unusual die from a custom rule keeps its sides
                die.options = [*DICE.items(), (f"d{rule.sides}", rule.sides)]
            die.value = rule.sides
            c["dc"].max = _dc_max(rule.sides, rule.dc)
            c["dc"].value = rule.dc
            c["roll"].value = roll_mode(rule)
            for band, outcome in BANDS.items():
                value = rule.bands[outcome]
                offset, scale = (value.offset, value.scale) if isinstance(value, Margin) else (value, 0.0)
                slider, margin = c[band], c[f"{band}_margin"]
                slider.min, slider.max = min(-1.0, offset), max(1.0, offset)
                slider.value = offset
                margin.min, margin.max = min(-_MARGIN_RANGE, scale), max(_MARGIN_RANGE, scale)
                margin.value = scale
        finally:
            self._holding = False
        self._modifier()

    def _modifier(self) -> None:
        self.modifier_label.value = f"<small>modifier {ability_modifier(self.intelligence):+d}</small>"

    # --- events -------------------------------------------------------------------------------
    def on_change(self, fn) -> None:
        self._callbacks.append(fn)

    def _handlers(self):
        pairs = [(self.controls["rules"], self._preset_changed), (self.controls["intelligence"], self._intelligence)]
        pairs += [(self.controls[name], self._dice_changed) for name in DICE_CONTROLS
                  if name not in ("rules", "intelligence")]
        return pairs

    def _fire(self, kind: str) -> None:
        for fn in self._callbacks:
            fn(kind)

    def _preset_changed(self, change) -> None:
        if self._holding:
            return
        if change["new"] == "custom":        # the same numbers, no longer the preset
            if self._base.name in PRESETS:
                self._base = self._base.replace(name=None)
        else:
            self.set_rule(change["new"])
        self._fire("dice")

    def _dice_changed(self, change) -> None:
        if self._holding:
            return
        c = self.controls
        if change["owner"] is c["die"]:
            c["dc"].max = _dc_max(change["new"], c["dc"].value)
        if self.preset != "custom":
            self._base = SavingThrow.preset(self.preset).replace(name=None)
            self._holding = True
            try:
                c["rules"].value = "custom"
            finally:
                self._holding = False
        self._fire("dice")

    def _intelligence(self, change) -> None:
        self._modifier()
        if not self._holding:
            self._fire("intelligence")

    # --- layout -------------------------------------------------------------------------------
    def boxes(self, width: str = "292px") -> list:
        """The controls laid out as rows: a slider per row, each band beside its margin."""
        c = self.controls
        for name in ("rules", "die", "dc"):
            c[name].layout.width = width
        c["intelligence"].layout.width = width
        rows = [c["rules"], c["die"], c["dc"], widgets.HBox([c["intelligence"], self.modifier_label]),
                widgets.HBox([side_label("roll"), c["roll"]])]
        for band in BANDS:
            c[band].layout.width = "280px"
            c[f"{band}_margin"].layout.width = "226px"
            rows.append(widgets.HBox([c[band], c[f"{band}_margin"]]))
        return rows
