"""``TrainingPanel``: the dice playground. Move a dice slider and watch the loss curve bend at once.

    panel = TrainingPanel(dataset="moons", rules="classroom", seed=0)
    panel                                   # controls, Play / Pause / Step / Reset, live plots
    panel.step(300)                         # train both runs from code (synchronous)
    panel.controls["dc"].value = 15         # the dice run re-trains from step 0; the curve is redrawn
    panel.curves()                          # {"dice": [...], "plain": [...], "before": [...]}: the whole run
    await panel.wait()                      # (in a coroutine) until a re-training under way has finished
    cfg = panel.config()                    # JSON: hand it to a class ...
    TrainingPanel.from_config(cfg)          # ... and it rebuilds and replays exactly this run

**A dice change redraws at once.** When a dice control changes (``rules``, ``die``, ``dc``,
``intelligence``, ``roll``, the band multipliers and their margins; see
:class:`~rtt_edu.views.widgets.dice_controls.DiceControls`) or a game setting that only the dice run
has (class, monsters, experience), the dice run is trained again from step 0 with the same seed,
up to the step the panel had reached, or to ``horizon`` steps if it had not got that far. The
plain run does not depend on the dice, so it is kept (or extended to that step). The dice curve
from before the change stays as a faded line.

**Progressively, when the kernel's event loop runs** (a notebook; Play's loop). The callback
trains the first steps of the new curve (``first_frame_seconds`` of training) and draws them
before it returns: within one 50 ms frame. The rest is trained on the event loop as Play is, in
slices of ``slice_seconds`` separated by ``await asyncio.sleep(0)``, redrawn every
``frame_interval`` or, where a redraw is slow, after ``train_per_redraw`` times a redraw's time of
training (so redraws take at most a fifth of the re-training's time); the status line says
"re-training… step k of n" until the curve is whole. A newer change replaces the unfinished
re-training: the run is rebuilt under the new setting and the faded curve stays the last whole
one. While Play runs, its task trains the owed steps first and then goes on playing, so the two
never interleave; Pause during a re-training lets it finish (the curve becomes whole) and stops
there. Without an event loop (a script) the re-training is
done before the callback returns.

**Whatever reads the run sees the whole run.** ``curves()``, ``history``, ``plain_losses``, ``run``,
``step()`` and the static picture first finish a re-training under way, synchronously
(:meth:`TrainingPanel.finish`). So a cell that sets ``panel.controls["dc"].value = 15`` and then
prints ``panel.curves()`` prints the finished run, the same numbers as a one-shot re-training;
``await panel.wait()`` waits without blocking, for the event loop's slices to finish it.

**Same faces, new reading.** The save's die comes from its own seeded stream, so with no class
and no monsters, moving ``dc``, ``intelligence`` or a band leaves the natural face of every step
as it was: the same dice, read by the new rule. Only what the student changed changes on screen.

**Other settings re-train both runs.** Changing the dataset, the network, the optimizer, the
learning rate or the seed trains both runs to ``horizon``, progressively as above; the plot is
never emptied (Reset does that). Play continues past the horizon.

**A divergence is a lesson.** A run whose loss turns non-finite or grows past 1000 × its first
value stops (see :mod:`rtt_edu.views.widgets.run`); the status line says which run, at which step and
why, and the y-axis is scaled from finite losses only, so the other curve stays readable.

**Play never blocks the kernel.** Play starts an asyncio task on the kernel's event loop that
trains a few steps, redraws at most every ``frame_interval`` seconds, then ``await
asyncio.sleep(0)``: between those slices the kernel handles widget messages, so Pause, Step and
every slider answer while training runs (as TensorFlow Playground ticks one step per frame).

**A refused value is put back.** A setting the config refuses (a negative seed typed in the box)
shows the reason on the error line, and every control goes back to the value in use: what the
controls show is always ``config()`` and the run.

**A shared config is bounded.** ``from_config`` refuses more replayed steps than
:func:`~rtt_edu.views.widgets.run.max_replay_steps` allows for that network (about 20 s of training on a
2-core laptop, :data:`~rtt_edu.views.widgets.run.MAX_REPLAY_WORK`), naming ``steps`` and the maximum. A
replay estimated above ``replay_now_work`` (about 0.5 s) runs on the kernel's event loop like Play:
``from_config`` returns at once, the status line counts the steps replayed, Pause stops it there.
Without an event loop (a script) the replay runs before ``from_config`` returns.

**A closed panel stays closed.** ``close()`` removes the dice hooks; ``step``, ``reset`` and ``play``
are then refused with :class:`~rtt_edu.errors.PanelClosedError` rather than training without dice.

``config()`` always describes what is on screen and ``from_config`` reproduces it exactly.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import time

import ipywidgets as widgets

from rtt_edu.errors import PanelClosedError, RollToTrainError, require
from rtt_edu.game.rules import Margin
from rtt_edu.party.xp import MAX_LEVEL, XP_THRESHOLDS
from rtt_edu.training.batched import one_thread
from rtt_edu.views.plots import BoundaryView, LossCurveView
from rtt_edu.views.widgets.base import LiveFigure, Panel
from rtt_edu.views.widgets.config import LR_CHOICES, TrainingConfig, class_choices, monster_choices
from rtt_edu.views.widgets.dice import rule_verdict
from rtt_edu.views.widgets.dice_controls import BANDS, DiceControls
from rtt_edu.views.widgets.run import DIVERGE_FACTOR, MAX_REPLAY_WORK, ToyRun, max_replay_steps, step_work

__all__ = ["TrainingPanel", "CAPTION"]

_LOG_LINES = 12

#: the one-line text description of the panel's figure.
CAPTION = ("Figure: left, the training loss at each step of the dice run (solid blue line, each step marked by "
           "the shape and colour of its outcome) and of the plain run (dashed black line), with the dice run "
           "from before the last change as a faded line; right, the class the dice run's network predicts "
           "over the data (filled points train it, hollow points test it).")


def _options_with(options, value):
    """``options`` (a list of values) with ``value`` added, sorted, if a config asks for one not in it."""
    return sorted({*options, value})


def refuse_if_closed(panel, action: str) -> None:
    """Raise :class:`PanelClosedError` when ``panel`` was closed: ``action`` would work without its dice or widgets."""
    if panel.closed:
        raise PanelClosedError(f"{type(panel).__name__}.{action}(): the panel is closed (close() removed its dice "
                               "and callbacks); build a new one, e.g. from_config(panel.config())")


class TrainingPanel(Panel):
    """The dice playground: a live dice run beside a plain run (see the module docstring).

    ``controls``: the settings (``dataset``, ``noise``, ``hidden``, ``layers``, ``activation``,
    ``optimizer``, ``lr``, ``seed``, ``horizon``), the dice (``rules``, ``die``, ``dc``,
    ``intelligence``, ``roll``, ``crit_success``, ``success``, ``fail``, ``crit_fail`` and each
    band's ``..._margin``), the game (``character_class``, ``class_level``, ``monsters``,
    ``encounter_chance``, ``experience``), ``log_scale`` and the buttons (``play``, ``pause``,
    ``step``, ``reset``). Readouts: ``status``, ``rule_line``, ``last_roll``, ``caption``,
    ``xp_bar`` with ``xp_label``, and ``battle_log``.
    """

    steps_per_frame = 5        # optimizer steps between two looks at the event loop while playing
    frame_work = 1_000_000_000  # ... fewer on a large network: at most this much step_work (about 0.1 s) a slice
    max_steps = 5000           # Play stops here (a forgotten tab should not train forever)
    replay_now_work = 5_000_000_000   # from_config replays this much step_work (about 0.5 s) before returning
    first_frame_seconds = 0.01   # a change trains this long before its first frame (a redraw takes ~25 ms more)
    slice_seconds = 0.02       # a re-training trains this long between two looks at the event loop
    train_per_redraw = 4       # ... and between two of its redraws, at least this many times a redraw's time

    def __init__(self, config=None, figures: str = "auto", **settings):
        super().__init__()
        self._config = self.config_from(TrainingConfig, config, settings)
        self.figure = LiveFigure(figsize=(6.9, 3.0), ncols=2, mode=figures, width_ratios=(1.7, 1.0))
        # the legend is a figure of its own beside the plots, drawn when its entries change (not every frame)
        self.legend_figure = LiveFigure(figsize=(1.75, 3.0), ncols=0, mode="static", pixel_ratio=2)
        self.figures += [self.figure, self.legend_figure]
        self.frame_interval = 0.05 if self.figure.mode == "ipympl" else 0.3   # seconds between redraws
        self.loss_view = LossCurveView(self.figure.axes[0], legend=False)
        self.boundary_view = BoundaryView(self.figure.axes[1], resolution=60, legend=False, fontsize=9)
        self._legend_key = None
        self.figure.dynamic = lambda: self.loss_view.dynamic_artists() + self.boundary_view.dynamic_artists()
        self._before: list = []
        self._build_controls()
        self._build_readouts()
        self.playing = False
        self._target = None        # the step a replay runs to (None: Play runs to max_steps)
        self._holding = False      # True while the controls are set back to the config: no re-training
        self._run = None
        self._frame_at = 0.0       # perf_counter() of the last redraw
        self._redraw_seconds = 0.0  # how long the last redraw took
        self._waiters: list = []   # futures of wait() calls, resolved once the curve is whole
        self._layout()
        self._new_run()

    # --- widgets ---------------------------------------------------------------------------------
    def _build_controls(self) -> None:
        cfg = self._config
        classes, monsters = class_choices(), monster_choices()
        wide = {"description_width": "92px"}
        slider = dict(style=wide, continuous_update=False)
        self.dice = DiceControls(cfg.rules, cfg.intelligence, observe=self.observe)
        self.controls = {
            "dataset": widgets.Dropdown(options=list(_datasets()), value=cfg.dataset, description="dataset",
                                        style=wide),
            "noise": widgets.FloatSlider(value=cfg.noise, min=0.0, max=max(0.5, cfg.noise), step=0.01,
                                         description="noise", **slider),
            "hidden": widgets.IntSlider(value=cfg.hidden, min=1, max=max(64, cfg.hidden), description="hidden width",
                                        **slider),
            "layers": widgets.IntSlider(value=cfg.layers, min=0, max=max(4, cfg.layers), description="hidden layers",
                                        **slider),
            "activation": widgets.Dropdown(options=list(_activations()), value=cfg.activation, description="activation",
                                           style=wide),
            "optimizer": widgets.Dropdown(options=list(_optimizers()), value=cfg.optimizer, description="optimizer",
                                          style=wide),
            "lr": widgets.SelectionSlider(options=[(f"{v:g}", v) for v in _options_with(LR_CHOICES, cfg.lr)],
                                          value=cfg.lr, description="learning rate", **slider),
            "seed": widgets.IntText(value=cfg.seed, description="seed", style=wide),
            **self.dice.controls,
            "character_class": widgets.Dropdown(options=["none", *classes], value=cfg.character_class or "none",
                                                description="class", style=wide),
            "class_level": widgets.IntSlider(value=cfg.class_level, min=1, max=20, description="class level", **slider),
            "monsters": widgets.SelectMultiple(options=list(monsters), value=tuple(cfg.monsters),
                                               description="monsters", rows=min(4, max(1, len(monsters))), style=wide),
            "encounter_chance": widgets.FloatSlider(value=cfg.encounter_chance, min=0.0,
                                                    max=max(0.2, cfg.encounter_chance), step=0.01,
                                                    description="encounters", **slider),
            "experience": widgets.Checkbox(value=cfg.experience, description="experience and levels", indent=False),
            "horizon": widgets.IntSlider(value=cfg.horizon, min=10, max=max(1000, cfg.horizon), step=10,
                                         description="horizon", style={"description_width": "56px"},
                                         continuous_update=False),
            "log_scale": widgets.ToggleButton(value=False, description="log scale", icon="line-chart",
                                              tooltip="a logarithmic loss axis", layout=widgets.Layout(width="104px")),
            "play": widgets.Button(description="Play", icon="play", button_style="success",
                                   layout=widgets.Layout(width="80px")),
            "pause": widgets.Button(description="Pause", icon="pause", disabled=True,
                                    layout=widgets.Layout(width="80px")),
            "step": widgets.Button(description="Step", icon="step-forward", layout=widgets.Layout(width="80px")),
            "reset": widgets.Button(description="Reset", icon="undo", button_style="warning",
                                    layout=widgets.Layout(width="80px")),
        }
        for name in _BOTH:
            self.observe(self.controls[name], self._settings_changed)
        for name in _GAME:
            self.observe(self.controls[name], self._game_changed)
        self.dice.on_change(lambda kind: self._retrain_dice())
        self.observe(self.controls["horizon"], self._horizon_changed)
        self.observe(self.controls["log_scale"], self._log_scale_changed)
        self.on_click(self.controls["play"], lambda _: self.play())
        self.on_click(self.controls["pause"], lambda _: self.pause())
        self.on_click(self.controls["step"], lambda _: self.step(1))
        self.on_click(self.controls["reset"], lambda _: self.reset())

    def _build_readouts(self) -> None:
        self.status = widgets.HTML(layout=widgets.Layout(max_width="760px"))
        self.rule_line = widgets.HTML(layout=widgets.Layout(max_width="760px"))
        self.last_roll = widgets.HTML(layout=widgets.Layout(max_width="760px"))
        self.caption = widgets.HTML(f"<div style='line-height:1.3'><small><i>{html.escape(CAPTION)}</i></small></div>",
                                    layout=widgets.Layout(max_width="760px"))
        self.xp_bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="Lv 1",
                                            layout=widgets.Layout(width="260px"))
        self.xp_label = widgets.HTML()
        self.battle_log = widgets.HTML(layout=widgets.Layout(max_height="190px", max_width="760px", overflow="auto",
                                                             border="1px solid #ddd", padding="2px 6px"))

    def _layout(self) -> None:
        c = self.controls
        for name in (*_BOTH, *_GAME):
            c[name].layout.width = "292px"
        column = dict(flex="0 0 auto", margin="0 12px 6px 0")
        network = widgets.VBox([widgets.HTML("<b>network and data</b>"), *(c[name] for name in _BOTH)],
                               layout=widgets.Layout(width="300px", **column))
        dice = widgets.VBox([widgets.HTML("<b>dice</b> (a change re-trains the dice run only)"), *self.dice.boxes()],
                            layout=widgets.Layout(width="520px", **column))
        game = widgets.VBox([widgets.HTML("<b>the game</b> (the dice run only)"), *(c[name] for name in _GAME)],
                            layout=widgets.Layout(width="300px", **column))
        settings = widgets.HBox([dice, network, game], layout=widgets.Layout(flex_flow="row wrap", width="100%"))
        buttons = widgets.HBox([c["play"], c["pause"], c["step"], c["reset"], c["log_scale"], c["horizon"]],
                               layout=widgets.Layout(flex_flow="row wrap"))
        c["horizon"].layout.width = "250px"
        plots = widgets.HBox([self.figure.widget, self.legend_figure.widget])
        self.widget.children = [buttons, self.status, plots, self.caption, self.rule_line, self.last_roll,
                                settings, widgets.HBox([self.xp_bar, self.xp_label]), self.battle_log,
                                self.error, self.output]

    # --- the run ---------------------------------------------------------------------------------
    @property
    def history(self):
        """The dice run's :class:`~rtt_edu.engine.history.History` (of the whole run: see :meth:`finish`)."""
        self.finish()
        return self._run.history

    @property
    def plain_losses(self) -> list:
        """The plain run's loss at each step (of the whole run: see :meth:`finish`)."""
        self.finish()
        return self._run.plain_losses

    @property
    def run(self) -> ToyRun:
        """The two runs (models, optimizers, the attach handle), caught up (see :meth:`finish`)."""
        self.finish()
        return self._run

    @property
    def steps(self) -> int:
        """The step both runs are at (once a re-training under way has finished)."""
        return self._run.steps

    @property
    def retraining(self) -> bool:
        """True while a change's re-training is under way: the curve drawn is not whole yet."""
        return self._run.behind > 0

    def finish(self) -> None:
        """Finish a re-training under way now, synchronously, and redraw (nothing to do when there is none)."""
        if self._run.behind and not self._run.closed:
            self._run.catch_up()
            self.refresh()

    async def wait(self) -> None:
        """Return once the curve is whole: a re-training under way finished on the event loop (at once if none).

        When nothing trains it any more (the task was cancelled), it returns too; :meth:`curves` then
        finishes the run itself.
        """
        if not self._run.behind:
            return
        if not self.running:
            self.finish()
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await future

    def _wake(self, force: bool = False) -> None:
        """Resolve the wait() futures once the curve is whole (``force``: nothing trains it any more)."""
        if self._run.behind and not force:
            return
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    @property
    def horizon(self) -> int:
        return self._config.horizon

    def curves(self) -> dict:
        """The y-values of the whole run, as drawn: ``{"dice": [...], "plain": [...], "before": [...]}`` (``[]``
        when none). A re-training under way is finished first (:meth:`finish`)."""
        self.finish()
        lines = self.loss_view.lines
        return {name: [float(v) for v in lines[name].get_ydata()] for name in ("dice", "plain", "before")}

    def config(self) -> dict:
        """The settings and the steps taken, as JSON-ready data: ``from_config`` replays them exactly."""
        return {**self._config.to_dict(), "steps": self.steps}

    @classmethod
    def from_config(cls, cfg: dict, figures: str = "auto") -> TrainingPanel:
        """A panel with ``cfg``'s settings that replays ``cfg["steps"]`` steps (0 if absent).

        At most :func:`~rtt_edu.views.widgets.run.max_replay_steps` steps (``MAX_REPLAY_WORK`` of work). A
        replay costing more than ``replay_now_work`` runs on the event loop when one runs (see the module
        docstring): ``panel.running`` is True until it reaches the step, and Pause stops it.
        """
        require(isinstance(cfg, dict), "cfg", cfg, "a dict made by TrainingPanel.config()")
        cfg = dict(cfg)
        steps = cfg.pop("steps", 0)
        require(isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0, "steps", steps,
                "a number of steps >= 0")
        config = TrainingConfig.from_dict(cfg)
        limit, work = max_replay_steps(config), step_work(config)
        require(steps <= limit, "steps", steps, f"at most {limit:,} steps for this network: a step of both runs "
                f"costs {work:,} units of work and a replay at most {MAX_REPLAY_WORK:,} (about 20 s on a laptop; "
                "rtt_edu.views.widgets.run.MAX_REPLAY_WORK)")
        panel = cls(config, figures=figures)
        if steps and not (steps * work > panel.replay_now_work and panel._replay(steps)):
            panel.step(steps)
        return panel

    def _replay(self, steps: int) -> bool:
        """Train to ``steps`` on the event loop, as Play does; False (nothing started) when no loop runs."""
        self._target, self.playing = steps, True
        if not self.start_task(self._play_loop):
            self._target, self.playing = None, False
            return False
        self._buttons()
        self.refresh()
        return True

    def _new_run(self, steps: int = 0, progressive: bool = False) -> None:
        """Both runs rebuilt from the config and trained ``steps`` steps, then redrawn (``progressive``: see
        :meth:`_catch_up`)."""
        if self._run is not None:
            self._run.close()
        self._run = ToyRun(self._config)
        self._run.extend_to(steps, now=False)
        data = self._run.data
        self.boundary_view.set_points(data.X_train, data.y_train, data.X_test, data.y_test)
        self._legend()
        self._notes()
        if progressive:
            self._catch_up()
        else:
            self.finish()
            self.refresh()

    def _catch_up(self) -> None:
        """Train the steps the runs owe and redraw: all now without an event loop; else the first
        ``first_frame_seconds`` of them and a frame now, the rest on the event loop (module docstring)."""
        run = self._run
        if not _loop_running():
            run.catch_up()
            self.refresh()
            return
        run.catch_up(seconds=self.first_frame_seconds)
        self.refresh()
        if run.behind and not self.running:
            self.start_task(self._play_loop)

    def _legend(self) -> None:
        """The legend figure: the runs and outcomes of the loss plot, then the classes of the data."""
        view = self.boundary_view
        key = (view.classes, view.has_test)
        if key == self._legend_key:
            return
        self._legend_key = key
        fig = self.legend_figure.figure
        for legend in list(fig.legends):
            legend.remove()
        fig.legend(handles=self.loss_view.legend_handles(), fontsize=8, loc="upper left", frameon=False,
                   title="loss (left)", title_fontsize=8, alignment="left", borderaxespad=0.2)
        fig.legend(handles=view.legend_handles(), fontsize=8, loc="lower left", frameon=False,
                   title="data (right)", title_fontsize=8, alignment="left", borderaxespad=0.2)
        self.legend_figure.draw()

    def _notes(self) -> None:
        self.output.outputs = ()          # (clear_output() would print escape codes outside a kernel)
        for message in self._run.warnings:
            self.output.append_stdout(f"note: {message}\n")

    def step(self, n: int = 1) -> None:
        """Train ``n`` steps of both runs now (synchronously, after a re-training under way), then redraw."""
        refuse_if_closed(self, "step")
        require(isinstance(n, int) and not isinstance(n, bool) and n >= 0, "n", n, "a number of steps >= 0")
        self._run.step(n)
        self.refresh()

    def reset(self) -> None:
        """Both runs back to step 0 with the current settings (same seed: the same run again); no "before"."""
        refuse_if_closed(self, "reset")
        if self._target is not None:       # a replay stops: Reset means step 0
            self.pause()
        self._before = []
        self._new_run()

    def close(self) -> None:
        """Stop playing, remove the dice hooks and every callback, close the widgets."""
        super().close()
        self._run.close()
        self._wake(force=True)

    # --- play and pause ---------------------------------------------------------------------------
    def play(self) -> None:
        """Train step by step on the kernel's event loop until Pause (or ``max_steps``)."""
        refuse_if_closed(self, "play")
        if self.running:
            if self._target is None and not self.playing:     # a re-training under way: Play goes on after it
                self.playing = True
                self._buttons()
            return
        self.playing = True
        if not self.start_task(self._play_loop):
            self.playing = False
            raise RollToTrainError("Play needs a running event loop (a Jupyter kernel has one); "
                                   "outside Jupyter call panel.step(n) instead")
        self._buttons()

    def pause(self) -> None:
        """Stop playing (or replaying) after the current slice of steps; the run stays where it is.

        A re-training under way is not stopped: it finishes (the curve becomes whole), then nothing more runs.
        """
        self.playing, self._target = False, None
        if not self._run.behind:
            self.cancel_task()
        self._buttons()
        self.refresh()

    async def _play_loop(self) -> None:
        """Play's task, and a re-training's: first the steps the runs owe, then Play's steps while playing."""
        me = asyncio.current_task()
        try:
            while True:
                run = self._run
                if run.behind:                  # a change's re-training: the curve made whole before Play goes on
                    run.catch_up(seconds=self.slice_seconds)
                    wait = max(self.frame_interval, self.train_per_redraw * self._redraw_seconds)
                    if not run.behind or time.perf_counter() - self._frame_at >= wait:
                        self.refresh()
                    else:
                        self._show_status()
                    await asyncio.sleep(0)      # the kernel handles widget messages here
                    continue
                end = self.max_steps if self._target is None else self._target
                if not (self.playing and self.steps < end and not all(run.diverged.values())):
                    break
                per_frame = max(1, min(self.steps_per_frame, self.frame_work // step_work(self._config)))
                run.step(min(per_frame, end - self.steps))
                if time.perf_counter() - self._frame_at >= self.frame_interval:
                    self.refresh()
                await asyncio.sleep(0)          # the kernel handles widget messages here
        finally:
            if self._task is me:                # not when Pause (or Play again) already took over
                self._task, self.playing, self._target = None, False, None
                self._buttons()
                if not self.closed:
                    self.refresh()
            self._wake(force=self._task is None)

    def _buttons(self) -> None:
        self.controls["play"].disabled = self.playing
        self.controls["pause"].disabled = not self.playing

    # --- settings ---------------------------------------------------------------------------------
    def _values(self, names) -> dict:
        values = {name: self.controls[name].value for name in names}
        if "monsters" in values:
            values["monsters"] = list(values["monsters"])
        if "character_class" in values:
            values["character_class"] = None if values["character_class"] == "none" else values["character_class"]
        return values

    @contextlib.contextmanager
    def _or_put_back(self):
        """A refused value (the config raises) puts every control back to the config in use, then shows why."""
        try:
            yield
        except Exception:
            self._show_config()
            raise

    def _show_config(self) -> None:
        """Every control set to the config in use, without re-training (the handlers wait while ``_holding``)."""
        cfg = self._config
        shown = {name: getattr(cfg, name) for name in (*_BOTH, *_GAME, "horizon")}
        shown["character_class"] = cfg.character_class or "none"
        shown["monsters"] = tuple(cfg.monsters)
        self._holding = True
        try:
            for name, value in shown.items():
                self.controls[name].value = value
            self.dice.show(cfg.rules, cfg.intelligence)
        finally:
            self._holding = False

    def _settings_changed(self, change) -> None:
        """Data, network, optimizer, lr or seed: both runs re-train to the horizon; the old dice curve stays faded."""
        if self._holding:
            return
        with self._or_put_back():
            config = self._config.replace(**self._values(_BOTH))    # raises, naming a bad value
        self.clear_error()
        self._config = config
        self._keep_before()
        self._new_run(config.horizon, progressive=True)

    def _game_changed(self, change) -> None:
        self._retrain_dice()

    def _retrain_dice(self) -> None:
        """A dice or game setting changed: the dice run again from step 0 (same seed), the plain run kept."""
        if self._holding:
            return
        with self._or_put_back():
            config = self._config.replace(rules=self.dice.config_rules(), intelligence=self.dice.intelligence,
                                          **self._values(_GAME))
        self.clear_error()
        self._config = config
        self._keep_before()
        self._run.replace_dice(config, max(self.steps, config.horizon), now=False)
        self._notes()
        self._catch_up()

    def _keep_before(self) -> None:
        """The dice curve shown faded: the one on screen, or the last whole one when a re-training is replaced."""
        if not self._run.behind:
            self._before = list(self._run.history.losses)

    def _horizon_changed(self, change) -> None:
        if self._holding:
            return
        with self._or_put_back():
            config = self._config.replace(horizon=change["new"])
        self._config = config
        self._run.extend_to(config.horizon, now=False)
        self._catch_up()

    def _log_scale_changed(self, change) -> None:
        self.loss_view.set_log_scale(change["new"])
        self.refresh()

    # --- what is shown ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the figure and every readout from the runs' current state."""
        with one_thread():
            self._refresh()

    def _refresh(self) -> None:
        start = time.perf_counter()
        run = self._run
        history = run.history
        self.loss_view.update(history, run.plain_losses, self._before)
        self.boundary_view.update(run.dice_model)
        self.figure.draw()
        self._frame_at = time.perf_counter()
        self._redraw_seconds = self._frame_at - start
        self._show_status()
        rule = run.rules
        s = rule.summary()
        roll_mode = " with advantage" if rule.advantage else " with disadvantage" if rule.disadvantage else ""
        self.rule_line.value = (f"<div style='line-height:1.3'><small><b>{html.escape(rule.name or 'custom rule')}"
                                f"</b>, d{rule.sides} vs DC {rule.dc}{roll_mode}"
                                f": {html.escape(_bands_text(rule))}. E[m] = {s['mean']:+.3f}, "
                                f"P(ascent) = {s['p_ascent']:.0%}, P(skip) = {s['p_skip']:.0%}. "
                                f"{html.escape(rule_verdict(rule))} (Before bonuses.)</small></div>")
        self.last_roll.value = _roll_line(history.steps[-1] if len(history) else None, rule)
        self._xp(run.experience)
        lines = history.battle_log()[-_LOG_LINES:]
        self.battle_log.value = ("<pre style='margin:0;font-size:85%;white-space:pre-wrap'>"
                                 + html.escape("\n".join(lines) if lines else "(the battle log is empty)") + "</pre>")
        self._wake()

    def _show_status(self) -> None:
        """The status line alone (cheap: a re-training's slices update it between two frames)."""
        run = self._run
        progress = ""
        if run.behind:
            progress = f"<br><b>re-training… step {run.trained} of {run.steps}</b>"
        elif self._target is not None and self.running:
            progress = (f"<br><b>replaying the shared run: step {run.steps} of {self._target}</b> "
                        "(Pause stops it here)")
        self.status.value = f"<div style='line-height:1.35'>{_status(run)}{progress}</div>"

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


def _loop_running() -> bool:
    """True inside a running asyncio event loop (a Jupyter kernel's, while a cell or callback runs)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _bands_text(rule) -> str:
    """Each band's multiplier in words: "crit success ×1, success ×0 + 0.01 × (total − DC), ..."."""
    parts = []
    for band, outcome in BANDS.items():
        value = rule.bands[outcome]
        if isinstance(value, Margin):
            text = f"{value.offset:g} + {value.scale:g} × (total − DC)"
            if value.lo is not None or value.hi is not None:
                text += f", clamped to [{'−∞' if value.lo is None else f'{value.lo:g}'}, " \
                        f"{'∞' if value.hi is None else f'{value.hi:g}'}]"
        else:
            text = f"{value:g}"
        parts.append(f"{band.replace('_', ' ')} ×{text}")
    return ", ".join(parts)


def _status(run) -> str:
    """The status line: the step, the last finite losses, test accuracy, and any divergence in words."""
    history, plain = run.history, run.plain_losses
    last_dice = history.steps[-1].loss if len(history) else None
    last_plain = plain[-1] if plain else None
    accuracy = run.accuracy()
    diverged = run.diverged

    def loss(name, value):
        if diverged[name] is not None:
            return "diverged"
        return "–" if value is None else f"{value:.4f}"

    text = (f"<b>step {run.steps}</b> &nbsp; loss: dice {loss('dice', last_dice)} / plain {loss('plain', last_plain)}"
            f" &nbsp; test accuracy: dice {_accuracy(accuracy['dice'], diverged['dice'])} / plain "
            f"{_accuracy(accuracy['plain'], diverged['plain'])}")
    words = divergence_words(run)
    if words:
        text += f"<br><span style='color:#D55E00'>{html.escape(words)}</span>"
    return text


def _accuracy(value, diverged) -> str:
    return "–" if diverged is not None or value != value else f"{value:.0%}"


def divergence_words(run) -> str:
    """Which run diverged, at which step and why, in a sentence each ("" when none did)."""
    rule, lr = run.rules, run.config.lr
    s = rule.summary()
    top = max(rule.distribution())
    sentences = []
    for name, other in (("plain", "dice"), ("dice", "plain")):
        if run.diverged[name] is None:
            continue
        step, why = run.diverged[name]
        what = _WHY[why]
        if name == "dice" and s["mean"] <= 0:
            cause = f"this rule climbs the loss on average (E[m] = {s['mean']:+.3f})"
        else:
            cause = f"lr {lr:g} is too large for this network"
        sentence = f"{name} diverged at step {step}: {what}; {cause}"
        if run.diverged[other] is None:
            if name == "plain" and s["mean"] < 1:
                sentence += (f"; the dice run's average step is {s['mean']:.2f} × lr, so it survived longer")
            elif name == "dice" and s["mean"] > 0:
                sentence += (f"; some dice steps are {top:g} × lr" if top > 1 else "")
                sentence += (f"{';' if top <= 1 else ','} {s['p_ascent']:.0%} of them go uphill"
                             if s["p_ascent"] else "")
                sentence += ", which the plain run never does"
        sentences.append(sentence + ".")
    return " ".join(sentences)


#: why a run stopped (``ToyRun.diverged[run][1]``) → the words the status line says.
_WHY = {"non-finite": "its loss is no longer a finite number",
        "too large": f"its loss grew past {DIVERGE_FACTOR:g} × its first value",
        "unrecoverable": "its weights turned non-finite and the death saves could not bring them back"}


def _roll_line(record, rule) -> str:
    if record is None:
        return "<small>no roll yet: press Step or Play</small>"
    mod = record.total - record.natural
    return (f"<small>last roll (step {record.step}): d{rule.sides} shows <b>{record.natural}</b>"
            f"{f' {mod:+d}' if mod else ''} = {record.total} vs DC {record.dc} → "
            f"<b>{record.outcome.replace('_', ' ')}</b>, "
            f"update × {record.multiplier:+.3g}</small>")


#: settings both runs share: a change re-trains both to the horizon.
_BOTH = ("dataset", "noise", "hidden", "layers", "activation", "optimizer", "lr", "seed")
#: settings of the game that only the dice run has: a change re-trains the dice run only.
_GAME = ("character_class", "class_level", "monsters", "encounter_chance", "experience")


def _datasets():
    from rtt_edu.data.toy import DATASETS
    return DATASETS


def _activations():
    from rtt_edu.models.mlp import ACTIVATIONS
    return ACTIVATIONS


def _optimizers():
    from rtt_edu.training.optimizers import OPTIMIZERS
    return OPTIMIZERS
