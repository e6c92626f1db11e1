"""``TrainingPanel``: train a toy network with the dice beside the same network without them.

    panel = TrainingPanel(dataset="moons", rules="classroom", seed=0)
    panel                                   # controls, Play / Pause / Step / Reset, live plots
    panel.step(300)                         # the same, from code (synchronous)
    panel.history                           # the dice run's History
    cfg = panel.config()                    # JSON: hand it to a class ...
    TrainingPanel.from_config(cfg)          # ... and it rebuilds and replays exactly this run

**Play never blocks the kernel.** Play starts an asyncio task on the kernel's event loop that
trains a few steps, redraws at most every ``frame_interval`` seconds, then ``await
asyncio.sleep(0)``: between those slices the kernel handles widget messages, so Pause, Step and
every slider answer while training runs (as TensorFlow Playground ticks one step per frame).

**Every control resets the run.** A run is exactly its config: changing the dataset, the rule or
the learning rate rebuilds both runs from step 0 with the new settings (Play keeps playing), so
``config()`` always describes what is on screen and ``from_config`` reproduces it exactly.

The figure shows the dice run's loss (each step marked by its outcome, monster encounters shaded,
level-ups marked) beside the plain run's loss from the same seed and initial weights, and the dice
run's decision boundary over the data (train points filled, test points hollow).
"""
from __future__ import annotations

import asyncio
import html
import time

import ipywidgets as widgets

from ..batched import one_thread
from ..errors import RollToTrainError, bad_value
from ..plots import BoundaryView, LossCurveView
from ..rules import PRESETS
from ..xp import MAX_LEVEL, XP_THRESHOLDS
from .base import LiveFigure, Panel
from .config import LR_CHOICES, TrainingConfig, class_choices, monster_choices
from .dice import verdict
from .run import ToyRun

__all__ = ["TrainingPanel"]

_LOG_LINES = 12


def _options_with(options, value):
    """``options`` (a list of values) with ``value`` added, sorted, if a config asks for one not in it."""
    return sorted({*options, value})


class TrainingPanel(Panel):
    """A live dice run beside a plain run (see the module docstring).

    ``controls``: the settings (``dataset``, ``noise``, ``hidden``, ``layers``, ``activation``,
    ``optimizer``, ``lr``, ``rules``, ``intelligence``, ``character_class``, ``class_level``,
    ``monsters``, ``encounter_chance``, ``experience``, ``seed``) and the buttons (``play``,
    ``pause``, ``step``, ``reset``). Readouts: ``status``, ``last_roll``, ``xp_bar`` with
    ``xp_label``, and ``battle_log`` (all widgets whose text changes as training runs).
    """

    steps_per_frame = 5        # optimizer steps between two looks at the event loop while playing
    max_steps = 5000           # Play stops here (a forgotten tab should not train forever)

    def __init__(self, config=None, figures: str = "auto", **settings):
        super().__init__()
        if config is None:
            config = {}
        elif isinstance(config, TrainingConfig):
            config = config.to_dict()
        elif not isinstance(config, dict):
            raise TypeError(bad_value("config", config, "a TrainingConfig, a dict or None"))
        self._config = TrainingConfig.from_dict({**config, **settings})
        self._custom_rules = None if isinstance(self._config.rules, str) else self._config.rules
        self.figure = LiveFigure(figsize=(7.0, 2.9), ncols=2, mode=figures, width_ratios=(1.8, 1.0))
        self.figures.append(self.figure)
        self.frame_interval = 0.05 if self.figure.mode == "ipympl" else 0.3   # seconds between redraws
        self.loss_view = LossCurveView(self.figure.axes[0])
        self.boundary_view = BoundaryView(self.figure.axes[1], resolution=70)
        self._build_controls()
        self._build_readouts()
        self.playing = False
        self._run = None
        self._layout()
        self._new_run()

    # --- widgets ---------------------------------------------------------------------------------
    def _build_controls(self) -> None:
        cfg = self._config
        classes, monsters = class_choices(), monster_choices()
        rule_options = list(PRESETS) + (["custom"] if self._custom_rules is not None else [])
        wide = {"description_width": "92px"}
        self.controls = {
            "dataset": widgets.Dropdown(options=list(_datasets()), value=cfg.dataset, description="dataset", style=wide),
            "noise": widgets.FloatSlider(value=cfg.noise, min=0.0, max=max(0.5, cfg.noise), step=0.01,
                                         description="noise", style=wide, continuous_update=False),
            "hidden": widgets.IntSlider(value=cfg.hidden, min=1, max=max(64, cfg.hidden), description="hidden width",
                                        style=wide, continuous_update=False),
            "layers": widgets.IntSlider(value=cfg.layers, min=0, max=max(4, cfg.layers), description="hidden layers",
                                        style=wide, continuous_update=False),
            "activation": widgets.Dropdown(options=list(_activations()), value=cfg.activation, description="activation",
                                           style=wide),
            "optimizer": widgets.Dropdown(options=list(_optimizers()), value=cfg.optimizer, description="optimizer",
                                          style=wide),
            "lr": widgets.SelectionSlider(options=[(f"{v:g}", v) for v in _options_with(LR_CHOICES, cfg.lr)],
                                          value=cfg.lr, description="learning rate", style=wide,
                                          continuous_update=False),
            "rules": widgets.Dropdown(options=rule_options, value="custom" if self._custom_rules is not None else cfg.rules,
                                      description="rule", style=wide),
            "intelligence": widgets.IntSlider(value=cfg.intelligence, min=1, max=30, description="intelligence",
                                              style=wide, continuous_update=False),
            "character_class": widgets.Dropdown(options=["none", *classes], value=cfg.character_class or "none",
                                                description="class", style=wide),
            "class_level": widgets.IntSlider(value=cfg.class_level, min=1, max=20, description="class level",
                                             style=wide, continuous_update=False),
            "monsters": widgets.SelectMultiple(options=list(monsters), value=tuple(cfg.monsters),
                                               description="monsters", rows=min(4, max(1, len(monsters))), style=wide),
            "encounter_chance": widgets.FloatSlider(value=cfg.encounter_chance, min=0.0, max=max(0.2, cfg.encounter_chance),
                                                    step=0.01, description="encounters", style=wide,
                                                    continuous_update=False),
            "experience": widgets.Checkbox(value=cfg.experience, description="experience and levels", indent=False),
            "seed": widgets.IntText(value=cfg.seed, description="seed", style=wide),
            "play": widgets.Button(description="Play", icon="play", button_style="success",
                                   layout=widgets.Layout(width="80px")),
            "pause": widgets.Button(description="Pause", icon="pause", disabled=True, layout=widgets.Layout(width="80px")),
            "step": widgets.Button(description="Step", icon="step-forward", layout=widgets.Layout(width="80px")),
            "reset": widgets.Button(description="Reset", icon="undo", button_style="warning",
                                    layout=widgets.Layout(width="80px")),
        }
        for name in _SETTINGS:
            self.observe(self.controls[name], self._settings_changed)
        self.on_click(self.controls["play"], lambda _: self.play())
        self.on_click(self.controls["pause"], lambda _: self.pause())
        self.on_click(self.controls["step"], lambda _: self.step(1))
        self.on_click(self.controls["reset"], lambda _: self.reset())

    def _build_readouts(self) -> None:
        self.status = widgets.HTML()
        self.rule_line = widgets.HTML(layout=widgets.Layout(max_width="640px"))
        self.last_roll = widgets.HTML()
        self.xp_bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="Lv 1",
                                            layout=widgets.Layout(width="260px"))
        self.xp_label = widgets.HTML()
        self.battle_log = widgets.HTML(layout=widgets.Layout(max_height="190px", max_width="640px", overflow="auto",
                                                             border="1px solid #ddd", padding="2px 6px"))

    def _layout(self) -> None:
        c = self.controls
        for name in _SETTINGS:
            c[name].layout.width = "292px"
        settings = widgets.VBox([c[name] for name in _SETTINGS], layout=widgets.Layout(min_width="300px"))
        buttons = widgets.HBox([c["play"], c["pause"], c["step"], c["reset"]])
        right = widgets.VBox([buttons, self.status, self.figure.widget, self.rule_line, self.last_roll,
                              widgets.HBox([self.xp_bar, self.xp_label]), self.battle_log])
        self.widget.children = [widgets.HBox([settings, right]), self.error, self.output]

    # --- the run ---------------------------------------------------------------------------------
    @property
    def history(self):
        """The dice run's :class:`~rtt_edu.history.History`."""
        return self._run.history

    @property
    def plain_losses(self) -> list:
        """The plain run's loss at each step."""
        return self._run.plain_losses

    @property
    def run(self) -> ToyRun:
        """The two runs (models, optimizers, the attach handle)."""
        return self._run

    @property
    def steps(self) -> int:
        return self._run.steps

    def config(self) -> dict:
        """The settings and the steps taken, as JSON-ready data: ``from_config`` replays them exactly."""
        return {**self._config.to_dict(), "steps": self.steps}

    @classmethod
    def from_config(cls, cfg: dict, figures: str = "auto") -> "TrainingPanel":
        """A panel with ``cfg``'s settings that has replayed ``cfg["steps"]`` steps (0 if absent)."""
        if not isinstance(cfg, dict):
            raise RollToTrainError(bad_value("cfg", cfg, "a dict made by TrainingPanel.config()"))
        cfg = dict(cfg)
        steps = cfg.pop("steps", 0)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 1_000_000:
            raise RollToTrainError(bad_value("steps", steps, "a number of steps from 0 to 1000000"))
        panel = cls(TrainingConfig.from_dict(cfg), figures=figures)
        if steps:
            panel.step(steps)
        return panel

    def _new_run(self) -> None:
        if self._run is not None:
            self._run.close()
        self._run = ToyRun(self._config)
        data = self._run.data
        self.boundary_view.set_points(data.X_train, data.y_train, data.X_test, data.y_test)
        self.loss_view.update(self._run.history, [])
        self.output.outputs = ()          # (clear_output() would print escape codes outside a kernel)
        for message in self._run.warnings:
            self.output.append_stdout(f"note: {message}\n")
        self.refresh()

    def step(self, n: int = 1) -> None:
        """Train ``n`` steps of both runs now (synchronously), then redraw."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise RollToTrainError(bad_value("n", n, "a number of steps >= 0"))
        self._run.step(n)
        self.refresh()

    def reset(self) -> None:
        """Both runs back to step 0 with the current settings (same seed: the same run again)."""
        self._new_run()

    def close(self) -> None:
        """Stop playing, remove the dice hooks and every callback, close the widgets."""
        super().close()
        self._run.close()

    # --- play and pause ---------------------------------------------------------------------------
    def play(self) -> None:
        """Train step by step on the kernel's event loop until Pause (or ``max_steps``)."""
        if self.running:
            return
        self.playing = True
        if not self.start_task(self._play_loop):
            self.playing = False
            raise RollToTrainError("Play needs a running event loop (a Jupyter kernel has one); "
                                   "outside Jupyter call panel.step(n) instead")
        self._buttons()

    def pause(self) -> None:
        """Stop playing after the current slice of steps; the run stays where it is."""
        self.playing = False
        self.cancel_task()
        self._buttons()
        self.refresh()

    async def _play_loop(self) -> None:
        me, last = asyncio.current_task(), 0.0
        try:
            while self.playing and self.steps < self.max_steps:
                self._run.step(min(self.steps_per_frame, self.max_steps - self.steps))
                now = time.perf_counter()
                if now - last >= self.frame_interval:
                    self.refresh()
                    last = now
                await asyncio.sleep(0)          # the kernel handles widget messages here
        finally:
            if self._task is me:                # not when Pause (or Play again) already took over
                self._task, self.playing = None, False
                self._buttons()
                if not self.closed:
                    self.refresh()

    def _buttons(self) -> None:
        self.controls["play"].disabled = self.playing
        self.controls["pause"].disabled = not self.playing

    # --- settings ---------------------------------------------------------------------------------
    def _settings_changed(self, change) -> None:
        values = {name: self.controls[name].value for name in _SETTINGS}
        values["monsters"] = list(values["monsters"])
        values["character_class"] = None if values["character_class"] == "none" else values["character_class"]
        if values["rules"] == "custom":
            values["rules"] = self._custom_rules
        config = TrainingConfig.from_dict({**self._config.to_dict(), **values})   # raises, naming a bad value
        self.clear_error()
        self._config = config
        self._new_run()

    # --- what is shown ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the figure and every readout from the runs' current state."""
        with one_thread():
            self._refresh()

    def _refresh(self) -> None:
        run = self._run
        history = run.history
        self.loss_view.update(history, run.plain_losses)
        self.boundary_view.update(run.dice_model)
        self.figure.draw()
        accuracy = run.accuracy()
        last_loss = history.steps[-1].loss if len(history) else None
        plain = run.plain_losses[-1] if run.plain_losses else None
        fmt = (lambda v: "–" if v is None else f"{v:.4f}")
        self.status.value = (f"<b>step {run.steps}</b> &nbsp; loss: dice {fmt(last_loss)} / plain {fmt(plain)}"
                             f" &nbsp; test accuracy: dice {accuracy['dice']:.0%} / plain {accuracy['plain']:.0%}")
        rule = run.rules
        s = rule.summary()
        self.rule_line.value = (f"<small><b>{html.escape(rule.name or 'custom rule')}</b>, d{rule.sides} vs DC {rule.dc}: "
                                f"E[m] = {s['mean']:+.3f}, P(ascent) = {s['p_ascent']:.0%}, P(skip) = {s['p_skip']:.0%}. "
                                f"{html.escape(verdict(rule))} (Before bonuses.)</small>")
        self.last_roll.value = _roll_line(history.steps[-1] if len(history) else None, rule)
        self._xp(run.experience)
        lines = history.battle_log()[-_LOG_LINES:]
        self.battle_log.value = ("<pre style='margin:0;font-size:85%;white-space:pre-wrap'>"
                                 + html.escape("\n".join(lines) if lines else "(the battle log is empty)") + "</pre>")

    def _xp(self, experience) -> None:
        if experience is None:
            self.xp_bar.description, self.xp_bar.value = "XP off", 0.0
            self.xp_label.value = "<small>experience is off</small>"
            return
        level, xp = experience.level, experience.xp
        if level >= MAX_LEVEL:
            self.xp_bar.value, need = 1.0, None
        else:
            lo, hi = XP_THRESHOLDS[level - 1], XP_THRESHOLDS[level]
            self.xp_bar.value = (xp - lo) / (hi - lo)
            need = hi - xp
        self.xp_bar.description = f"Lv {level}"
        self.xp_label.value = (f"<small>{xp} XP" + (f", {need} to level {level + 1}" if need is not None else "")
                               + f"; proficiency +{experience.proficiency} on every save</small>")


def _roll_line(record, rule) -> str:
    if record is None:
        return "<small>no roll yet: press Step or Play</small>"
    mod = record.total - record.natural
    return (f"<small>last roll (step {record.step}): d{rule.sides} shows <b>{record.natural}</b>"
            f"{f' {mod:+d}' if mod else ''} = {record.total} vs DC {record.dc} → <b>{record.outcome.replace('_', ' ')}</b>, "
            f"update × {record.multiplier:+.3g}</small>")


#: the controls that are settings (each one a TrainingConfig field); the rest are buttons.
_SETTINGS = ("dataset", "noise", "hidden", "layers", "activation", "optimizer", "lr", "rules", "intelligence",
             "character_class", "class_level", "monsters", "encounter_chance", "experience", "seed")


def _datasets():
    from ..data.toy import DATASETS
    return DATASETS


def _activations():
    from ..models.mlp import ACTIVATIONS
    return ACTIVATIONS


def _optimizers():
    from ..batched import OPTIMIZERS
    return OPTIMIZERS
