"""``ComparePanel``: many seeds of dice against plain, trained as one batch, shown as bands.

    panel = ComparePanel(seeds=64, steps=300, rules="classroom")
    panel.run()                      # or the Run button: every seed's dice run and plain run at once
    panel.controls["dc"].value = 15  # live: the first seeds' band at once, then all seeds ("8 of 64 seeds")
    panel.batch.dice_losses          # (seeds, steps)
    panel.summary                    # final losses, test accuracies, seeds where the dice won
    await panel.wait()               # (in a coroutine) until a re-training under way has every seed

Seed s here is the run a :class:`TrainingPanel` with ``seed=s`` (and no class, monsters or
experience) would train: the same data, initial weights and dice. All seeds train together in
:class:`rtt_edu.training.batched.SeedBatch` (batched matmuls over stacked parameters; see that module and
:mod:`rtt_edu.training.optimizers` for the batched SGD, momentum and Adam and why each dice update is exactly m
times the plain one).

**Live, and filled in.** The panel trains when asked (Run, or ``run()``), and a change of any
control re-trains the batch. On the kernel's event loop the seeds train group by group
(:class:`~rtt_edu.training.batched.SeedBatch`), in slices of ``slice_seconds`` separated by
``await asyncio.sleep(0)``: first the ``first_seeds`` seeds alone, their band drawn after the
first slice and growing step by step (every ``frame_interval``) to the last step, about one plain
run's time; then the others, a group per idle core at once (``free_cores``), the band redrawn over more seeds as
each group finishes, the count on the axes and the state line ("re-training: 30 of 64 seeds").
The faded medians of the last whole run stay until the first new band replaces them; the axes
keep their range while the seeds come in. A newer change cancels the unfinished re-training and
starts again. Once every seed is drawn nothing says "re-training" or "out of date" any more.

Without an event loop (a script) a change re-trains before the callback returns when the estimate
(the last run's seconds per model-step × 2·seeds × steps) is at most ``live_seconds`` (0.5 s);
otherwise the plot is marked out of date until Run. ``batch``, ``summary`` and the static picture
first finish a re-training under way, synchronously (:meth:`ComparePanel.finish`), so code that
changes a control and then reads ``summary`` reads every seed. The dice controls are the
:class:`~rtt_edu.views.widgets.dice_controls.DiceControls` of the :class:`TrainingPanel`.
"""
from __future__ import annotations

import asyncio
import html
import math
import time

import ipywidgets as widgets
import torch

from rtt_edu.errors import require
from rtt_edu.training.batched import SeedBatch, free_cores
from rtt_edu.views.plots import BandView
from rtt_edu.views.widgets.base import LiveFigure, Panel
from rtt_edu.views.widgets.config import LR_CHOICES, CompareConfig, rules_from_config
from rtt_edu.views.widgets.dice_controls import DiceControls
from rtt_edu.views.widgets.training import _datasets, _loop_running, _options_with, refuse_if_closed

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
    and the ``run`` button. Readouts: ``summary_html``, ``state`` (out of date, re-training: k of n
    seeds, or nothing once every seed is drawn) and ``caption`` (HTML widgets); ``summary`` (a
    dict); ``stale`` (bool: what is drawn is not the whole run of the settings); ``seeds_shown`` and
    ``steps_shown`` (the band drawn: the first seeds, over the first steps).
    """

    first_seeds = 4             # the seeds of the first band drawn after a change (the first group)
    slice_seconds = 0.03        # training between two looks at the event loop
    frame_interval = 0.1        # seconds between two redraws while the first seeds' band grows step by step
    live_seconds = 0.5          # without an event loop, a change re-trains at once when the estimate is at most this
    seconds_per_model_step = 3.4e-5   # the estimate before the first run (replaced by each run's own)

    def __init__(self, config=None, figures: str = "auto", **settings):
        super().__init__()
        self._config = self.config_from(CompareConfig, config, settings)
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
        #: the seeds drawn so far while the others train ("re-training: 30 of 64 seeds"), inside the axes
        self.progress = self.view.ax.text(0.98, 0.95, "", transform=self.view.ax.transAxes, ha="right", va="top",
                                          fontsize=8, color="#D55E00")
        # a frame redraws only these over the rendered axes (blitting) while the limits and title stay
        self.figure.dynamic = lambda: [*self.view.lines.values(), *(b for b in self.view.bands.values() if b),
                                       self.progress]
        self.summary_html = widgets.HTML("<small>press Run, or move any control</small>",
                                         layout=widgets.Layout(max_width="700px"))
        self.state = widgets.HTML("", layout=widgets.Layout(max_width="700px"))
        self.caption = widgets.HTML(f"<div style='line-height:1.3'><small><i>{html.escape(CAPTION)}</i></small></div>",
                                    layout=widgets.Layout(max_width="700px"))
        self._summary: dict = {}
        self._batch = None
        self.stale = False
        self.seeds_shown = 0        # the seeds whose band is drawn (the first ones of the batch) ...
        self.steps_shown = 0        # ... over this many steps
        self._frame_at = 0.0        # perf_counter() of the last redraw of the bands
        self._holding = False       # True while the controls are set back to the config: no re-training
        self._waiters: list = []    # futures of wait() calls, resolved when the training task ends
        self._training = None       # the batch a task is training on the event loop (None: none is)
        self._doing = "training"    # what the state line calls it: "training" (a first run) or "re-training"
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

    @property
    def batch(self) -> SeedBatch | None:
        """The seeds' runs (:class:`~rtt_edu.training.batched.SeedBatch`), every seed trained (see :meth:`finish`)."""
        self.finish()
        return self._batch

    @property
    def summary(self) -> dict:
        """Final losses, test accuracies and the seeds where the dice ended lower: every seed (see :meth:`finish`)."""
        self.finish()
        return self._summary

    def finish(self) -> None:
        """Finish a re-training under way now, synchronously: every seed to the last step, then the whole band."""
        if self._training is None or self.closed:
            return
        self.cancel_task()
        self._training = None
        self._timed(lambda: self._batch.train_to(self._config.steps), self._config.steps)
        self._mark_fresh()
        self.refresh()
        self.controls["run"].disabled = False

    async def wait(self) -> None:
        """Return once a re-training under way has every seed drawn (at once when none is under way)."""
        if not self.running:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await future

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
        self._training = None
        self.controls["run"].disabled = False
        if self._begin():                                  # a running event loop: progressive
            return
        if self.estimate_seconds() <= self.live_seconds:
            self.run()
        else:
            self._mark_stale("out of date: the settings changed; press Run to re-train")

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

    def _mark_stale(self, words: str) -> None:
        """The bands drawn (if any) faded, ``words`` on the state line; the axes say "out of date: press Run"
        (or, while a task trains, ``words`` inside the axes)."""
        self.stale = True
        self.state.value = f"<b style='color:#D55E00'>{html.escape(words)}</b>"
        for line in self.view.lines.values():
            line.set_alpha(0.35)
        if self.running:
            self.progress.set_text(words)
            if not self.view.ax.get_title().startswith(_TITLE):
                self.view.ax.set_title(_TITLE, fontsize=9, color="black")
        else:
            self.view.ax.set_title(("out of date: " if self._batch is not None else "not trained yet: ") + "press Run",
                                   fontsize=9, color="#D55E00")
        self.figure.draw()

    def _mark_fresh(self) -> None:
        self.stale = False
        self.state.value = ""
        self.progress.set_text("")
        for line in self.view.lines.values():
            line.set_alpha(1.0)
        self.view.ax.set_title(_TITLE, fontsize=9, color="black")

    # --- training --------------------------------------------------------------------------------
    def _new_batch(self) -> SeedBatch:
        cfg = self._config
        return SeedBatch(cfg.dataset, seeds=cfg.seeds, rules=rules_from_config(cfg.rules), optimizer=cfg.optimizer,
                         lr=cfg.lr, hidden=cfg.hidden, layers=cfg.layers, activation=cfg.activation,
                         points=cfg.points, noise=cfg.noise, intelligence=cfg.intelligence,
                         first_group=2 * self.first_seeds)

    def _timed(self, train, steps: int) -> None:
        """``train()`` (every seed to ``steps``), its pace kept for :meth:`estimate_seconds`."""
        before = sum(self._batch.group_steps(i) * (b - a) for i, (a, b) in enumerate(self._batch.spans))
        start = time.perf_counter()
        train()
        model_steps = 2 * (steps * len(self._batch.seeds) - before)
        if model_steps > 0:
            self.seconds_per_model_step = (time.perf_counter() - start) / model_steps

    def run(self) -> dict:
        """Train every seed for ``steps`` steps now (synchronously), draw the bands, return ``summary``."""
        refuse_if_closed(self, "run")
        self.cancel_task()
        self._training = None
        self._batch = self._new_batch()
        self._timed(lambda: self._batch.train_to(self._config.steps), self._config.steps)
        self._mark_fresh()
        self.refresh()
        self.controls["run"].disabled = False
        return self._summary

    def start(self) -> None:
        """The Run button: train in slices on the kernel's event loop (synchronously if none runs)."""
        refuse_if_closed(self, "start")
        if self.running:
            return
        if not self._begin():
            self.run()

    def _begin(self) -> bool:
        """A new batch, trained by a task on the running event loop; False (nothing started) when none runs."""
        if not _loop_running():
            return False
        self._doing = "re-training" if self._batch is not None else "training"
        self._batch = self._training = self._new_batch()
        self.seeds_shown = self.steps_shown = 0
        self.start_task(self._train_in_slices)
        self.controls["run"].disabled = True
        self._mark_stale(f"{self._doing}: 0 of {len(self._batch.seeds)} seeds")
        return True

    async def _train_in_slices(self) -> None:
        """The seeds group by group on the event loop: the first group alone (the first band), then the
        others ``free_cores()`` at a time; the band redrawn each time more seeds have every step."""
        me = asyncio.current_task()
        try:
            steps, workers = self._config.steps, free_cores()
            batch = self._training
            start = time.perf_counter()
            while True:
                pending = [i for i in range(len(batch.spans)) if batch.group_steps(i) < steps]
                if not pending:
                    break
                at_once = 1 if pending[0] == 0 else workers     # the first seeds alone: their band comes soonest
                batch.train_to(steps, groups=pending[:at_once], workers=at_once, seconds=self.slice_seconds)
                if self._worth_a_frame(batch, steps):
                    self.refresh()
                await asyncio.sleep(0)            # the kernel handles widget messages here
            self.seconds_per_model_step = (time.perf_counter() - start) / (2 * len(batch.seeds) * max(1, steps))
            self._training = None
            self._mark_fresh()
            self.refresh()
        finally:
            if self._task is me:
                self._task = None
                self.controls["run"].disabled = False
            if self._task is None:               # no newer training took over: wait() returns
                waiters, self._waiters = self._waiters, []
                for future in waiters:
                    if not future.done():
                        future.set_result(None)

    def _worth_a_frame(self, batch: SeedBatch, steps: int) -> bool:
        """Redraw now? When more seeds have every step than the band shows, or the first seeds' band (still
        growing) was never drawn or was drawn ``frame_interval`` ago."""
        whole = batch.seeds_at(steps)
        if whole:
            return whole > self.seeds_shown or self.steps_shown < steps
        return not self.steps_shown or time.perf_counter() - self._frame_at >= self.frame_interval

    def refresh(self) -> None:
        """Redraw the bands and the summary from the seeds trained to the last step (all, once done); while
        others train, their count on the state line and inside the axes ("re-training: 30 of 64 seeds")."""
        batch = self._batch
        if batch is None:
            return
        steps = self._config.steps
        k = batch.seeds_at(steps) if self._training is not None else len(batch.seeds)
        k = k or batch.spans[0][1]                # the first seeds, over the steps they have so far
        dice, plain = batch.losses(k)
        if dice.shape[1] == 0:
            return
        self.seeds_shown, self.steps_shown = k, dice.shape[1]
        shown = self.view.ax.get_ylim()
        self.view.update(dice, plain)
        low, high = self.view.ax.get_ylim()
        if self._training is not None:           # while seeds and steps come in the axes stay put (a frame is a blit)
            self.view.ax.set_xlim(-0.5, max(steps, 2) - 0.5)
            if shown[0] <= low and high <= shown[1] and high >= shown[1] / 2:
                self.view.ax.set_ylim(*shown)
        for line in self.view.lines.values():
            line.set_alpha(1.0)
        if k < len(batch.seeds) or dice.shape[1] < steps:
            words = f"{self._doing}: {k} of {len(batch.seeds)} seeds" + (
                f", step {dice.shape[1]} of {steps}" if dice.shape[1] < steps else "")
            self.state.value = f"<b style='color:#D55E00'>{html.escape(words)}…</b>"
            self.progress.set_text(words)
        self.figure.draw()
        self._frame_at = time.perf_counter()
        accuracy = batch.test_accuracy(k)
        final_dice, final_plain = dice[:, -1], plain[:, -1]
        self._summary = {"steps": dice.shape[1], "seeds": k,
                        "final_loss_median": {"dice": final_dice.median().item(), "plain": final_plain.median().item()},
                        "test_accuracy_median": {"dice": accuracy["dice"].median().item(),
                                                 "plain": accuracy["plain"].median().item()},
                        "dice_lower_final_loss": int((final_dice < final_plain).sum())}
        first = dice[:, 0].abs()
        diverged = {name: int((~torch.isfinite(losses).all(1) | (losses.max(1).values > 1000 * first)).sum())
                    for name, losses in (("dice", dice), ("plain", plain))}
        self._summary["diverged"] = diverged
        s = self._summary
        of = f"{s['seeds']} of {len(batch.seeds)} seeds so far" if self.stale else f"{s['seeds']} seeds"

        def loss(v):
            return f"{v:.4f}" if math.isfinite(v) else "diverged"

        gone = "; ".join(f"{n} of {s['seeds']} {name} runs diverged (their loss turned non-finite or grew past "
                         f"1000 × its first value: lr {self._config.lr:g} is too large for them)"
                         for name, n in diverged.items() if n)
        self.summary_html.value = (
            f"<div style='line-height:1.3'><small>step {s['steps']} of {self._config.steps}, {of}. "
            "Median final loss: dice "
            f"{loss(s['final_loss_median']['dice'])}, plain {loss(s['final_loss_median']['plain'])}. "
            + (f"<b style='color:#D55E00'>{html.escape(gone)}.</b> " if gone else "") + "Median test accuracy: "
            f"dice {s['test_accuracy_median']['dice']:.0%}, plain {s['test_accuracy_median']['plain']:.0%}. "
            f"The dice ended lower on {s['dice_lower_final_loss']} of {s['seeds']} seeds "
            f"({html.escape('a count, not a test: an interval, as in lesson 10, says more')}).</small></div>")
