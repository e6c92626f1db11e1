"""Roll-to-Train in the HuggingFace ``Trainer``: a callback, nothing else changes.

    from rtt_edu.training.hf import RollToTrainCallback
    dice = RollToTrainCallback(rules="classroom", seed=0)    # or RollToTrainCallback(game=GameConfig(...))
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[dice])
    trainer.train()
    dice.records[-1].multiplier              # one record per optimizer step, as with attach
    trainer.state.log_history[-1]["rtt/multiplier"]

One optimizer step of the Trainer is one turn of :class:`~rtt_edu.engine.turns.GameMaster`, the same
as under :func:`rtt_edu.attach` and :class:`rtt_edu.RollToTrain`:

    on_pre_optimizer_step   gradients are final (accumulated, clipped): master.begin(optimizer)
                            rolls, lets classes and monsters act, scales this step (target)
    optimizer.step()        the Trainer's own step, on the accelerate-wrapped optimizer
    on_optimizer_step       master.end(turn): the learning rate is restored, the step recorded
    on_epoch_end            a long rest for the participants
    on_log                  the rolls since the last log join the Trainer's logs ("rtt/...")

The loss of each step is captured from the model's outputs (``outputs["loss"]``, with a forward
hook, kept on the device): the mean over the step's micro-batches, as the model reported them.
A model that returns no loss (a custom ``compute_loss_func``) leaves ``loss=None`` in the records.

Under ``torchrun`` / ``accelerate launch`` every rank rolls the same dice: with ``seed=None`` a
seed is drawn on rank 0 when training starts and shared (see :mod:`rtt_edu.engine.distributed`).
With fp16 mixed precision, prefer ``on_nonfinite="off"``: the gradient scaler already skips
overflowing steps, and a step it skips is recorded as ``"skipped"``.

``transformers`` is imported when this module is; ``rtt_edu`` itself never imports it.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from rtt_edu.engine.distributed import is_distributed, shared_seed
from rtt_edu.engine.history import History
from rtt_edu.engine.hook import unwrap_optimizer
from rtt_edu.engine.turns import table_seed
from rtt_edu.errors import CheckpointError, RollToTrainTypeError, bad_value, check_type
from rtt_edu.game.dice import DiceRoller
from rtt_edu.game.rules import OUTCOMES
from rtt_edu.party.xp import ExperienceSystem
from rtt_edu.training.checkpoint import game_state_problems, resumed_history
from rtt_edu.training.game import GameConfig, build_master, game_config
from rtt_edu.training.history_file import history_to_dict

try:
    from transformers import TrainerCallback
except ImportError:  # the ``hf`` extra is not installed: the module imports, the callback explains
    TrainerCallback = object
    HF_AVAILABLE = False
else:
    HF_AVAILABLE = True

PREFIX = "rtt/"
LOGGED_OUTCOMES = (*OUTCOMES, "skipped")


class RollToTrainCallback(TrainerCallback):
    """A saving throw for every optimizer step of a HuggingFace ``Trainer``.

    The game as for :func:`rtt_edu.attach`: ``game=GameConfig(...)``, or its fields as keywords
    (``rules`` may come first, positionally: a :class:`~rtt_edu.game.rules.SavingThrow` or a preset
    name; ``seed``, ``character_class``, ``experience``, ``target``, monsters, ``intelligence``,
    ``on_nonfinite``: see :class:`~rtt_edu.training.game.GameConfig`); ``roller`` instead of a seed.
    ``capture_loss=False`` leaves the model's forward alone (no loss in the records).
    ``history``: the :class:`~rtt_edu.engine.history.History` to record into, e.g. ``History(max_steps=10_000)``
    for a long run (the ``rtt/...`` log figures then cover the kept records of each logging window).
    """

    def __init__(self, rules=None, *, game: GameConfig | None = None, roller: DiceRoller | None = None,
                 capture_loss: bool = True, history: History | None = None, **settings):
        if not HF_AVAILABLE:
            raise ImportError("RollToTrainCallback needs transformers and accelerate: "
                              "pip install 'rtt_edu[hf]' (or pip install transformers accelerate)")
        if rules is not None:
            settings = {"rules": rules, **settings}
        self.game = game_config(game, settings, where="RollToTrainCallback")
        self.master = build_master(self.game, roller=roller)
        if history is not None:
            if not isinstance(history, History):
                raise RollToTrainTypeError(bad_value("history", history,
                                                     "a rtt_edu History (e.g. History(max_steps=10_000)) or None"))
            self.master.history = history
        # seed=None before torch.distributed is up: share a seed once training starts (on_train_begin)
        self._share_seed = roller is None and self.game.seed is None and not is_distributed()
        check_type("capture_loss", capture_loss, bool, "True or False")
        self.capture_loss = capture_loss
        self._turn = None
        self._wrapped = None          # the optimizer the Trainer steps (accelerate's wrapper)
        self._losses: list = []       # this step's micro-batch losses, on the device
        self._hook = None
        self._logged = 0              # records already put in the Trainer's logs

    # --- what a notebook reads ----------------------------------------------------------------
    @property
    def records(self) -> list:
        """One :class:`~rtt_edu.engine.history.StepRecord` per optimizer step, as ``attach(...).records``."""
        return self.master.history.steps

    @property
    def history(self) -> History:
        return self.master.history

    @property
    def experience(self) -> ExperienceSystem | None:
        """The experience system of this game (``game.experience``), or ``None``."""
        return self.master.experience

    # --- the Trainer's events -----------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, lr_scheduler=None, **kwargs):
        if self._share_seed and is_distributed() and self.master.step == 0:
            seed = shared_seed(None)
            self.master.roller, self.master.table_roller = DiceRoller(seed), DiceRoller(table_seed(seed))
        self._share_seed = False
        # a revival lowers the schedule's base rates too (accelerate wraps the scheduler as well)
        self.master.scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)
        if self.capture_loss and model is not None and self._hook is None:
            self._hook = model.register_forward_hook(self._capture)

    def _capture(self, module, inputs, outputs) -> None:
        """Keep the training loss the model reported (a device tensor; nothing is read back)."""
        if module.training and torch.is_grad_enabled() and isinstance(outputs, Mapping):
            loss = outputs.get("loss")
            if isinstance(loss, torch.Tensor) and loss.numel() == 1:
                self._losses.append(loss.detach())

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        if self._losses:
            losses, self._losses = self._losses, []
            self.master.observe_loss(losses[0] if len(losses) == 1 else torch.stack(losses).mean())
        self._wrapped = optimizer
        self._turn = self.master.begin(unwrap_optimizer(optimizer))

    def on_optimizer_step(self, args, state, control, **kwargs):
        turn, self._turn = self._turn, None
        if turn is None:
            return
        if getattr(self._wrapped, "step_was_skipped", False) and not turn.skipped:
            # fp16: the gradient scaler found inf/NaN and skipped optimizer.step() itself
            turn.skip("the gradient scaler found inf/NaN gradients and skipped this step", kind="nonfinite")
        self.master.end(turn)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.master.end_epoch()

    def on_log(self, args, state, control, logs=None, **kwargs):
        """Add the rolls since the last log to ``logs`` (and to ``state.log_history``'s entry).

        ``rtt/natural``, ``rtt/multiplier``: the last step's face and applied multiplier;
        ``rtt/multiplier_mean``: the mean applied multiplier since the last log (the effective
        learning-rate scale of those steps); ``rtt/<outcome>``: how many steps had each outcome;
        ``rtt/events``: how many events were logged; ``rtt/level``, ``rtt/xp`` with experience.
        """
        history = self.master.history
        if logs is None or history.total_steps == self._logged:
            return
        fresh = history.total_steps - self._logged       # steps since the last log; a bound may keep fewer
        self._logged = history.total_steps
        if fresh < 0:                                     # a state loaded from a later run: start over here
            return
        new = self.records[-fresh:] if fresh <= len(history) else self.records
        if not new:
            return
        figures = {f"{PREFIX}natural": new[-1].natural, f"{PREFIX}multiplier": new[-1].multiplier,
                   f"{PREFIX}multiplier_mean": sum(r.multiplier for r in new) / len(new),
                   **{f"{PREFIX}{o}": sum(r.outcome == o for r in new) for o in LOGGED_OUTCOMES},
                   f"{PREFIX}events": sum(len(r.events) for r in new)}
        xp = self.experience
        if xp is not None:
            figures.update({f"{PREFIX}level": xp.level, f"{PREFIX}xp": xp.xp})
        logs.update(figures)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(figures)     # the Trainer copied logs there just before

    def on_train_end(self, args, state, control, **kwargs):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._losses = []

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The game (roller, step, participants, guard) and the history: resume exactly."""
        return {"master": self.master.state_dict(), "history": history_to_dict(self.history, columns=True),
                "logged": self._logged, "participants": [type(p).__name__ for p in self.master.participants]}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`; the whole state is checked first, and a state that does not
        fit this callback (another class, monsters, a malformed history) changes nothing. The saved
        history is read under this callback's ``history`` bound, whatever it was saved with
        (``history=None``: every step from here on)."""
        if not isinstance(state, Mapping) or any(k not in state for k in ("master", "history", "logged")):
            shown = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise CheckpointError(bad_value("state", shown, "a RollToTrainCallback state_dict with keys "
                                                            "['history', 'logged', 'master']"))
        problems = game_state_problems(self.master, state["master"], state.get("participants"))
        history = resumed_history(self.master.history, state["history"], problems, "this callback")
        self.master.load_state_dict(state["master"])
        self.master.history = history
        self._logged = state["logged"]
        self._share_seed = False           # the loaded roller is the shared one
