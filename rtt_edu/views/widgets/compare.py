"""``ComparePanel``: many seeds of dice against plain, trained as one batch, shown as bands.

    panel = ComparePanel(seeds=64, steps=300, rules="classroom")
    panel.run()                      # or the Run button: every seed's dice run and plain run at once
    panel.controls["dc"].value = 15  # live: re-trained at once when that takes <= live_seconds
    panel.batch.dice_losses          # (seeds, steps)
    panel.summary                    # final losses, test accuracies, seeds where the dice won

Seed s here is the run a :class:`TrainingPanel` with ``seed=s`` (and no class, monsters or
experience) would train: the same data, initial weights and dice. All seeds train together in
:class:`rtt_edu.training.batched.SeedBatch` (batched matmuls over stacked parameters; see that module and
:mod:`rtt_edu.training.optimizers` for the batched SGD, momentum and Adam and why each dice update is exactly m
times the plain one).

**Live.** The panel trains when asked (Run, or ``run()``), and a change of any control re-trains
the batch. When the estimate (the last run's seconds per model-step × 2·seeds × steps) is at most
``live_seconds`` (0.5 s), it re-trains before the callback returns; otherwise the plot is marked
out of date at once and, on the kernel's event loop, it re-trains ``debounce`` seconds after the
last change, in slices, redrawing the bands as they grow ("re-training…"). Without an event loop
a slow change waits for Run, the plot still marked out of date. The dice controls are the
:class:`~rtt_edu.views.widgets.dice_controls.DiceControls` of the :class:`TrainingPanel`.
"""
from __future__ import annotations

import asyncio
import html
import math
import time

import ipywidgets as widgets
import torch

from rtt_edu.errors import RollToTrainTypeError, require
from rtt_edu.training.batched import SeedBatch
from rtt_edu.views.plots import BandView
from rtt_edu.views.widgets.base import LiveFigure, Panel
from rtt_edu.views.widgets.config import LR_CHOICES, CompareConfig, rules_from_config
from rtt_edu.views.widgets.dice_controls import DiceControls
from rtt_edu.views.widgets.training import _datasets, _options_with, refuse_if_closed

__all__ = ["ComparePanel", "CAPTION"]

_SETTINGS = ("dataset", "noise", "optimizer", "lr", "seeds", "steps")
_TITLE = "median and 10%-90% band over seeds"

#: the one-line text description of the panel's figure.
CAPTION = ("Figure: the training loss at each step, as the median over seeds (dice: solid blue line; plain: dashed "
           "black line) with a shaded band from the 10% to the 90% quantile of the seeds.")


class ComparePanel(Panel):
    """Dice vs plain over many seeds (see the module docstring).

    ``controls``: ``dataset``, ``noise``, ``optimizer``, ``lr``, ``seeds``, ``steps``, the dice
    controls (``rules``, ``die``, ``dc``, ``intelligence``, ``roll``, the bands and their margins)
    and the ``run`` button. Readouts: ``summary_html``, ``state`` (up to date, out of date,
    re-training…) and ``caption`` (HTML widgets); ``summary`` (a dict); ``stale`` (bool).
    """

    steps_per_slice = 20        # steps between two looks at the event loop during Run
    live_seconds = 0.5          # a change re-trains at once when the estimate is at most this
    debounce = 0.4              # seconds after the last change before a slow re-train starts
    seconds_per_model_step = 1.3e-5   # the estimate before the first run (replaced by each run's own)

    def __init__(self, config=None, figures: str = "auto", **settings):
        super().__init__()
        if config is None:
            config = {}
        elif isinstance(config, CompareConfig):
            config = config.to_dict()
        require(isinstance(config, dict), "config", config, "a CompareConfig, a dict or None", RollToTrainTypeError)
        self._config = CompareConfig.from_dict({**config, **settings})
        cfg, wide = self._config, {"description_width": "92px"}
        slider = dict(style=wide, continuous_update=False)
        self.dice = DiceControls(cfg.rules, cfg.intelligence, observe=self.observe)
        self.controls = {
            "dataset": widgets.Dropdown(options=list(_datasets()), value=cfg.dataset, description="dataset",
                                        style=wide),
            "noise": widgets.FloatSlider(value=cfg.noise, min=0.0, max=max(0.5, cfg.noise), step=0.01,
                                         description="noise", **slider),
            "optimizer": widgets.Dropdown(options=["sgd", "momentum", "adam"], value=cfg.optimizer,
                                          description="optimizer", style=wide),
            "lr": widgets.SelectionSlider(options=[(f"{v:g}", v) for v in _options_with(LR_CHOICES, cfg.lr)],
                                          value=cfg.lr, description="learning rate", **slider),
            "seeds": widgets.IntSlider(value=cfg.seeds, min=2, max=max(128, cfg.seeds), description="seeds", **slider),
            "steps": widgets.IntSlider(value=cfg.steps, min=10, max=max(1000, cfg.steps), step=10,
                                       description="steps", **slider),
            **self.dice.controls,
            "run": widgets.Button(description="Run", icon="play", button_style="success",
                                  layout=widgets.Layout(width="120px")),
        }
        self.figure = LiveFigure(figsize=(7.6, 3.0), mode=figures)
        self.figures.append(self.figure)
        self.view = BandView(self.figure.axes[0])
        self.view.ax.set_title("not trained yet: press Run, or move any control", fontsize=9, color="#D55E00")
        self.summary_html = widgets.HTML("<small>press Run, or move any control</small>",
                                         layout=widgets.Layout(max_width="700px"))
        self.state = widgets.HTML("", layout=widgets.Layout(max_width="700px"))
        self.caption = widgets.HTML(f"<div style='line-height:1.3'><small><i>{html.escape(CAPTION)}</i></small></div>",
                                    layout=widgets.Layout(max_width="700px"))
        self.summary: dict = {}
        self.batch = None
        self.stale = False
        self._pending = None
        self._holding = False       # True while the controls are set back to the config: no re-training
        for name in _SETTINGS:
            self.observe(self.controls[name], self._settings_changed)
        self.dice.on_change(lambda kind: self._settings_changed(None))
        self.on_click(self.controls["run"], lambda _: self.start())
        c = self.controls
        for name in _SETTINGS:
            c[name].layout.width = "292px"
        column = dict(flex="0 0 auto", margin="0 12px 6px 0")
        settings = widgets.VBox([widgets.HTML("<b>training</b>"), *(c[name] for name in _SETTINGS), c["run"]],
                                layout=widgets.Layout(width="300px", **column))
        dice = widgets.VBox([widgets.HTML("<b>dice</b>"), *self.dice.boxes()],
                            layout=widgets.Layout(width="520px", **column))
        self.widget.children = [self.figure.widget, self.caption, self.state, self.summary_html,
                                widgets.HBox([dice, settings],
                                             layout=widgets.Layout(flex_flow="row wrap", width="100%")),
                                self.error, self.output]
        self.figure.draw()

    # --- configuration ---------------------------------------------------------------------------
    def config(self) -> dict:
        """The settings as JSON-ready data (``from_config`` rebuilds the panel; ``run()`` retrains)."""
        return self._config.to_dict()

    @classmethod
    def from_config(cls, cfg: dict, figures: str = "auto") -> ComparePanel:
        require(isinstance(cfg, dict), "cfg", cfg, "a dict made by ComparePanel.config()")
        return cls(CompareConfig.from_dict(cfg), figures=figures)

    def estimate_seconds(self, config: CompareConfig | None = None) -> float:
        """How long training ``config`` (the current one by default) should take, from the last run's pace."""
        config = config or self._config
        return self.seconds_per_model_step * 2 * config.seeds * config.steps

    def _settings_changed(self, change) -> None:
        if self._holding:
            return
        values = {name: self.controls[name].value for name in _SETTINGS}
        try:
            config = CompareConfig.from_dict({**self._config.to_dict(), **values, "rules": self.dice.config_rules(),
                                              "intelligence": self.dice.intelligence})   # raises, naming a bad value
        except Exception:
            self._show_config()          # a refused value: the controls go back to the config in use
            raise
        self._config = config
        self.clear_error()
        self.cancel_task()
        self.controls["run"].disabled = False
        if self.estimate_seconds() <= self.live_seconds:
            self.run()
            return
        self._mark_stale("out of date: the settings changed" + (", re-training…" if self._debounced() else
                                                                  "; press Run to re-train"))

    def _show_config(self) -> None:
        """Every control set to the config in use, without re-training."""
        cfg = self._config
        self._holding = True
        try:
            for name in _SETTINGS:
                self.controls[name].value = getattr(cfg, name)
            self.dice.show(cfg.rules, cfg.intelligence)
        finally:
            self._holding = False

    def _debounced(self) -> bool:
        """Start re-training ``debounce`` seconds from now on the event loop (False if none runs)."""
        async def later():
            await asyncio.sleep(self.debounce)
            await self._train_in_slices()
        return self.start_task(later)

    def _mark_stale(self, words: str) -> None:
        self.stale = True
        self.state.value = f"<b style='color:#D55E00'>{html.escape(words)}</b>"
        for line in self.view.lines.values():
            line.set_alpha(0.35)
        self.view.ax.set_title(("out of date: " if self.batch is not None else "not trained yet: ")
                               + ("re-training…" if self.running else "press Run"), fontsize=9, color="#D55E00")
        self.figure.draw()

    def _mark_fresh(self) -> None:
        self.stale = False
        self.state.value = ""
        for line in self.view.lines.values():
            line.set_alpha(1.0)
        self.view.ax.set_title(_TITLE, fontsize=9, color="black")

    # --- training --------------------------------------------------------------------------------
    def _new_batch(self) -> SeedBatch:
        cfg = self._config
        return SeedBatch(cfg.dataset, seeds=cfg.seeds, rules=rules_from_config(cfg.rules), optimizer=cfg.optimizer,
                         lr=cfg.lr, hidden=cfg.hidden, layers=cfg.layers, activation=cfg.activation,
                         points=cfg.points, noise=cfg.noise, intelligence=cfg.intelligence)

    def _timed_steps(self, batch: SeedBatch, n: int) -> None:
        start = time.perf_counter()
        batch.step(n)
        elapsed = time.perf_counter() - start
        if n:
            self.seconds_per_model_step = elapsed / (2 * len(batch.seeds) * n)

    def run(self) -> dict:
        """Train every seed for ``steps`` steps now (synchronously), draw the bands, return ``summary``."""
        refuse_if_closed(self, "run")
        self.cancel_task()
        self.batch = self._new_batch()
        self._timed_steps(self.batch, self._config.steps)
        self._mark_fresh()
        self.refresh()
        return self.summary

    def start(self) -> None:
        """The Run button: train in slices on the kernel's event loop (synchronously if none runs)."""
        refuse_if_closed(self, "start")
        if self.running:
            return
        if self.start_task(self._train_in_slices):
            self.controls["run"].disabled = True
        else:
            self.run()

    async def _train_in_slices(self) -> None:
        try:
            self.batch = self._new_batch()
            if self.stale:
                self.state.value = "<b style='color:#D55E00'>re-training…</b>"
            last = 0.0
            while self.batch.steps < self._config.steps:
                self._timed_steps(self.batch, min(self.steps_per_slice, self._config.steps - self.batch.steps))
                if time.perf_counter() - last > 0.2:
                    self.refresh()
                    last = time.perf_counter()
                await asyncio.sleep(0)
            self._mark_fresh()
            self.refresh()
        finally:
            self.controls["run"].disabled = False

    def refresh(self) -> None:
        """Redraw the bands and the summary from the batch's losses so far."""
        batch = self.batch
        if batch is None or batch.steps == 0:
            return
        dice, plain = batch.dice_losses, batch.plain_losses
        self.view.update(dice, plain)
        self.figure.draw()
        accuracy = batch.test_accuracy()
        final_dice, final_plain = dice[:, -1], plain[:, -1]
        self.summary = {"steps": batch.steps, "seeds": len(batch.seeds),
                        "final_loss_median": {"dice": final_dice.median().item(), "plain": final_plain.median().item()},
                        "test_accuracy_median": {"dice": accuracy["dice"].median().item(),
                                                 "plain": accuracy["plain"].median().item()},
                        "dice_lower_final_loss": int((final_dice < final_plain).sum())}
        first = dice[:, 0].abs()
        diverged = {name: int((~torch.isfinite(losses).all(1) | (losses.max(1).values > 1000 * first)).sum())
                    for name, losses in (("dice", dice), ("plain", plain))}
        self.summary["diverged"] = diverged
        s = self.summary

        def loss(v):
            return f"{v:.4f}" if math.isfinite(v) else "diverged"

        gone = "; ".join(f"{n} of {s['seeds']} {name} runs diverged (their loss turned non-finite or grew past "
                         f"1000 × its first value: lr {self._config.lr:g} is too large for them)"
                         for name, n in diverged.items() if n)
        self.summary_html.value = (
            f"<div style='line-height:1.3'><small>step {s['steps']} of {self._config.steps}, {s['seeds']} seeds. "
            "Median final loss: dice "
            f"{loss(s['final_loss_median']['dice'])}, plain {loss(s['final_loss_median']['plain'])}. "
            + (f"<b style='color:#D55E00'>{html.escape(gone)}.</b> " if gone else "") + "Median test accuracy: "
            f"dice {s['test_accuracy_median']['dice']:.0%}, plain {s['test_accuracy_median']['plain']:.0%}. "
            f"The dice ended lower on {s['dice_lower_final_loss']} of {s['seeds']} seeds "
            f"({html.escape('a count, not a test: lesson 10 puts intervals on it')}).</small></div>")
