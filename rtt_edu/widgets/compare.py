"""``ComparePanel``: many seeds of dice against plain, trained as one batch, shown as bands.

    panel = ComparePanel(seeds=64, steps=300, rules="classroom")
    panel.run()                      # or the Run button: every seed's dice run and plain run at once
    panel.batch.dice_losses          # (seeds, steps)
    panel.summary                    # final losses, test accuracies, seeds where the dice won

Seed s here is the run a :class:`TrainingPanel` with ``seed=s`` (and no class, monsters or
experience) would train: the same data, initial weights and dice. All seeds train together in
:class:`rtt_edu.batched.SeedBatch` (batched matmuls over stacked parameters; see that module for
the batched SGD, momentum and Adam and why each dice update is exactly m times the plain one).
The Run button trains on the kernel's event loop in slices, redrawing the bands as they grow.
"""
from __future__ import annotations

import asyncio
import html
import time

import ipywidgets as widgets

from ..batched import SeedBatch
from ..errors import RollToTrainError, bad_value
from ..plots import BandView
from ..rules import PRESETS
from .base import LiveFigure, Panel
from .config import LR_CHOICES, CompareConfig, rules_from_config
from .training import _datasets, _options_with

__all__ = ["ComparePanel"]

_SETTINGS = ("dataset", "noise", "optimizer", "lr", "rules", "seeds", "steps")


class ComparePanel(Panel):
    """Dice vs plain over many seeds (see the module docstring).

    ``controls``: ``dataset``, ``noise``, ``optimizer``, ``lr``, ``rules``, ``seeds``, ``steps``
    and the ``run`` button. Readout: ``summary_html`` (an HTML widget); ``summary`` (a dict).
    """

    steps_per_slice = 20        # steps between two looks at the event loop during Run

    def __init__(self, config=None, figures: str = "auto", **settings):
        super().__init__()
        if config is None:
            config = {}
        elif isinstance(config, CompareConfig):
            config = config.to_dict()
        elif not isinstance(config, dict):
            raise TypeError(bad_value("config", config, "a CompareConfig, a dict or None"))
        self._config = CompareConfig.from_dict({**config, **settings})
        self._custom_rules = None if isinstance(self._config.rules, str) else self._config.rules
        cfg, wide = self._config, {"description_width": "90px"}
        self.controls = {
            "dataset": widgets.Dropdown(options=list(_datasets()), value=cfg.dataset, description="dataset", style=wide),
            "noise": widgets.FloatSlider(value=cfg.noise, min=0.0, max=max(0.5, cfg.noise), step=0.01,
                                         description="noise", style=wide, continuous_update=False),
            "optimizer": widgets.Dropdown(options=["sgd", "momentum", "adam"], value=cfg.optimizer,
                                          description="optimizer", style=wide),
            "lr": widgets.SelectionSlider(options=[(f"{v:g}", v) for v in _options_with(LR_CHOICES, cfg.lr)],
                                          value=cfg.lr, description="learning rate", style=wide,
                                          continuous_update=False),
            "rules": widgets.Dropdown(options=list(PRESETS) + (["custom"] if self._custom_rules is not None else []),
                                      value="custom" if self._custom_rules is not None else cfg.rules,
                                      description="rule", style=wide),
            "seeds": widgets.IntSlider(value=cfg.seeds, min=2, max=max(128, cfg.seeds), description="seeds",
                                       style=wide, continuous_update=False),
            "steps": widgets.IntSlider(value=cfg.steps, min=10, max=max(1000, cfg.steps), step=10,
                                       description="steps", style=wide, continuous_update=False),
            "run": widgets.Button(description="Run", icon="play", button_style="success"),
        }
        self.figure = LiveFigure(figsize=(6.5, 3.3), mode=figures)
        self.figures.append(self.figure)
        self.view = BandView(self.figure.axes[0], title="median and 10%-90% band over seeds")
        self.summary_html = widgets.HTML("<small>press Run</small>")
        self.summary: dict = {}
        self.batch = None
        for name in _SETTINGS:
            self.observe(self.controls[name], self._settings_changed)
        self.on_click(self.controls["run"], lambda _: self.start())
        c = self.controls
        self.widget.children = [
            widgets.HBox([widgets.VBox([c[name] for name in _SETTINGS] + [c["run"]]),
                          widgets.VBox([self.figure.widget, self.summary_html])]),
            self.error, self.output]
        self.figure.draw()

    # --- configuration ---------------------------------------------------------------------------
    def config(self) -> dict:
        """The settings as JSON-ready data (``from_config`` rebuilds the panel; ``run()`` retrains)."""
        return self._config.to_dict()

    @classmethod
    def from_config(cls, cfg: dict, figures: str = "auto") -> "ComparePanel":
        if not isinstance(cfg, dict):
            raise RollToTrainError(bad_value("cfg", cfg, "a dict made by ComparePanel.config()"))
        return cls(CompareConfig.from_dict(cfg), figures=figures)

    def _settings_changed(self, change) -> None:
        values = {name: self.controls[name].value for name in _SETTINGS}
        if values["rules"] == "custom":
            values["rules"] = self._custom_rules
        self._config = CompareConfig.from_dict({**self._config.to_dict(), **values})
        self.cancel_task()
        self.clear_error()
        self.controls["run"].disabled = False

    # --- training --------------------------------------------------------------------------------
    def _new_batch(self) -> SeedBatch:
        cfg = self._config
        return SeedBatch(cfg.dataset, seeds=cfg.seeds, rules=rules_from_config(cfg.rules), optimizer=cfg.optimizer,
                         lr=cfg.lr, hidden=cfg.hidden, layers=cfg.layers, activation=cfg.activation,
                         points=cfg.points, noise=cfg.noise, intelligence=cfg.intelligence)

    def run(self) -> dict:
        """Train every seed for ``steps`` steps now (synchronously), draw the bands, return ``summary``."""
        self.cancel_task()
        self.batch = self._new_batch()
        self.batch.step(self._config.steps)
        self.refresh()
        return self.summary

    def start(self) -> None:
        """The Run button: train in slices on the kernel's event loop (synchronously if none runs)."""
        if self.running:
            return
        if self.start_task(self._run_loop):
            self.controls["run"].disabled = True
        else:
            self.run()

    async def _run_loop(self) -> None:
        try:
            self.batch = self._new_batch()
            last = 0.0
            while self.batch.steps < self._config.steps:
                self.batch.step(min(self.steps_per_slice, self._config.steps - self.batch.steps))
                if time.perf_counter() - last > 0.2:
                    self.refresh()
                    last = time.perf_counter()
                await asyncio.sleep(0)
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
        s = self.summary
        self.summary_html.value = (
            f"<small>step {s['steps']} of {self._config.steps}, {s['seeds']} seeds. Median final loss: dice "
            f"{s['final_loss_median']['dice']:.4f}, plain {s['final_loss_median']['plain']:.4f}. Median test accuracy: "
            f"dice {s['test_accuracy_median']['dice']:.0%}, plain {s['test_accuracy_median']['plain']:.0%}. "
            f"The dice ended lower on {s['dice_lower_final_loss']} of {s['seeds']} seeds "
            f"({html.escape('a count, not a test: lesson 9 puts intervals on it')}).</small>")
