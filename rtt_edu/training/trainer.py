"""``RollToTrain``: a small training loop with a saving throw on every optimizer step.

    trainer = RollToTrain(model, optimizer, scheduler, intelligence=15,
                          character_class=Wizard(level=1), use_xp_system=True,
                          loss_fn=nn.CrossEntropyLoss(), seed=0)
    history = trainer.train(train_loader, eval_loader, epochs=3)

    game = GameConfig(intelligence=15, character_class=Wizard(level=1), experience=True, seed=0)
    trainer = RollToTrain(model, optimizer, scheduler, game=game, loss_fn=nn.CrossEntropyLoss())

Batches are ``(inputs, targets)`` (with ``loss_fn``) or mappings passed as ``model(**batch)``
whose output has ``.loss`` (HuggingFace style). The dice act through :func:`rtt_edu.attach`
on the optimizer, so the trainer, a hand-written loop and the HuggingFace callback roll,
scale and record in exactly the same way.

Modes (how many mini-batches one roll decides):

``per_mini_batch``         one optimizer step, hence one roll, per mini-batch.
``per_accumulation_step``  gradients of ``accumulation_steps`` mini-batches are averaged and one
                           roll decides the whole update; a last, shorter window is stepped too
                           (its gradients averaged over the batches it has).

Checkpoints (:meth:`RollToTrain.save_checkpoint`, ``train(..., save_every=N, checkpoint_path=...)``)
hold everything a run needs to go on exactly as if it had never stopped, mid-epoch included: the
model, optimizer, scheduler, dice, participants, history, the position within the epoch and
torch's global RNG (the layout, and the check of a load: :mod:`rtt_edu.training.checkpoint`). A load
is checked against this trainer in full before anything changes, so a refused file leaves the
trainer bit-identical.

torch's global RNG: dropout and ``DataLoader(shuffle=True)`` draw from it, so a checkpoint saves it
and a load restores it (and a resumed epoch restores it once more, to replay the epoch's shuffle).
That is the one place rtt_edu touches global RNG state; the dice never do.

Threads: torch has one global RNG per process, not one per thread, and a trainer cannot make a
model's dropout draw from a generator of its own. So two ``train()`` calls that overlap in two
threads take each other's random numbers (dropout masks, shuffle orders, a DataLoader's base
seed): neither run is repeatable, and their checkpoints do not replay them. The trainer draws
nothing from the global RNG itself; it keeps a process-wide register of running ``train()`` calls
and warns both runs (:class:`~rtt_edu.errors.ConcurrentTrainingWarning`) when two overlap in
different threads. It does not refuse them: runs without dropout or shuffling are unaffected.
For repeatable runs side by side, use one process per run.
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Mapping

import torch
from tqdm.auto import tqdm

from rtt_edu.atomic import check_path
from rtt_edu.engine.distributed import rank
from rtt_edu.engine.history import EvalRecord, History
from rtt_edu.engine.hook import AttachHandle
from rtt_edu.engine.tensors import optimizer_params
from rtt_edu.errors import (
    CheckpointError,
    ConcurrentTrainingWarning,
    RollToTrainError,
    RollToTrainTypeError,
    ZeroLearningRateWarning,
    bad_value,
    check_type,
)
from rtt_edu.party.xp import ExperienceSystem
from rtt_edu.training import checkpoint
from rtt_edu.training.game import GameConfig, build_master, game_config

MODES = ("per_mini_batch", "per_accumulation_step")


class RollToTrain:
    """Train ``model`` with ``optimizer``; a saving throw decides how much of each update lands.

    The game: ``game=GameConfig(...)``, or its fields as keywords (``rules``, ``intelligence``,
    ``character_class``, ``experience``, ``monsters``, ``encounter_chance``, ``encounter_schedule``,
    ``target``, ``on_nonfinite``, ``seed``: see :class:`~rtt_edu.training.game.GameConfig`);
    ``use_xp_system`` is the seed's name for ``experience``. ``roller``: a
    :class:`~rtt_edu.game.dice.DiceRoller` to roll with, instead of a seed.

    The loop: ``mode`` and ``accumulation_steps`` (how many mini-batches one optimizer step, hence
    one roll, takes: see the module docstring), ``loss_fn``, ``device``, ``progress``.

    ``history``: the :class:`~rtt_edu.engine.history.History` to record into, e.g.
    ``History(max_steps=10_000)`` to keep the last 10,000 step records of a long run (the running
    totals still cover every step). ``None``: a history that keeps every step.

    ``optimizer`` must hold at least one of ``model``'s trainable parameters (an optimizer built on
    another model is refused here, before it could train nothing with full records).

    Threads: one ``train()`` at a time per trainer. Two trainers training at once in two threads
    share torch's global RNG (dropout, shuffled loaders), so both get a
    :class:`~rtt_edu.errors.ConcurrentTrainingWarning`: their results are not repeatable (see the
    module docstring). A second game master cannot attach to the optimizer while ``train()`` runs
    (another trainer on the same optimizer started from ``on_step`` is refused with an error): a
    running trainer rolls and records every one of its steps, or stops with an error.
    """

    def __init__(self, model, optimizer, scheduler=None, *, game: GameConfig | None = None,
                 mode: str = "per_mini_batch", accumulation_steps: int = 1, loss_fn=None, device=None,
                 progress: bool = True, roller=None, history=None, **settings):
        if not isinstance(model, torch.nn.Module):
            raise RollToTrainTypeError(bad_value("model", model, "a torch.nn.Module"))
        if next(model.parameters(), None) is None:
            raise RollToTrainError(bad_value("model", model, "a model with parameters to train (this one has none)"))
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise RollToTrainTypeError(bad_value("optimizer", optimizer, "a torch.optim.Optimizer"))
        if not any(g["params"] for g in optimizer.param_groups):
            raise RollToTrainError(bad_value("optimizer", optimizer, "an optimizer with parameters (its param groups "
                                                                    "are empty)"))
        _check_optimizer_holds_model(optimizer, model)
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise RollToTrainTypeError(bad_value("scheduler", scheduler,
                                                 "a torch.optim.lr_scheduler scheduler or None"))
        if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
            raise RollToTrainError(f"scheduler={scheduler!r}: expected a scheduler of this trainer's optimizer, but it "
                                   f"was built on another one ({type(scheduler.optimizer).__name__} at "
                                   f"{id(scheduler.optimizer):#x}); build it with scheduler = "
                                   f"{type(scheduler).__name__}(optimizer, ...) on the optimizer passed here")
        if history is not None and not isinstance(history, History):
            raise RollToTrainTypeError(bad_value("history", history,
                                                 "a rtt_edu History (e.g. History(max_steps=10_000)) or None"))
        check_type("mode", mode, str, f"one of {list(MODES)}")
        if mode not in MODES:
            raise RollToTrainError(bad_value("mode", mode, f"one of {list(MODES)}"))
        check_type("accumulation_steps", accumulation_steps, int, "an integer >= 1")
        if accumulation_steps < 1:
            raise RollToTrainError(bad_value("accumulation_steps", accumulation_steps, "an integer >= 1"))
        if mode == "per_mini_batch" and accumulation_steps != 1:
            raise RollToTrainError(bad_value("accumulation_steps", accumulation_steps,
                                             "1 in mode='per_mini_batch' (use mode='per_accumulation_step')"))
        if loss_fn is not None and not callable(loss_fn):
            raise RollToTrainTypeError(bad_value("loss_fn", loss_fn, "a callable loss_fn(outputs, targets) or None"))
        check_type("progress", progress, bool, "True or False")
        self.game = game_config(game, settings, aliases={"use_xp_system": "experience"}, where="RollToTrain")
        self.master = build_master(self.game, roller=roller, scheduler=scheduler)
        self.rules = self.master.rules
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.mode = mode
        self.window = accumulation_steps if mode == "per_accumulation_step" else 1
        self.loss_fn = loss_fn
        self.progress = progress
        if device is not None:
            try:
                self.device = torch.device(device)
            except (RuntimeError, TypeError):
                raise RollToTrainTypeError(bad_value("device", device,
                                                     "a torch.device or a name like 'cpu' or 'cuda:0'")) from None
            model.to(self.device)
        else:
            self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        if history is not None:
            self.master.history = history
        self.character_class = self.game.character_class
        self._running = threading.Lock()   # one train() at a time
        self._position = None              # inside an epoch: {"epoch", "batches", "rng_epoch_start"}
        self._resume = None                # a loaded mid-epoch position, replayed by the next train()
        self._handle = None                # while train() runs: the AttachHandle that rolls its steps
        self._overlap = None               # the thread of a train() that started beside this one, to warn of

    # --- what a lesson reads ----------------------------------------------------------------
    @property
    def history(self) -> History:
        return self.master.history

    @property
    def roller(self):
        return self.master.roller

    @property
    def experience(self) -> ExperienceSystem | None:
        """The experience system of this game (``game.experience``), or ``None``."""
        return self.master.experience

    # --- one batch --------------------------------------------------------------------------
    def _to_device(self, value):
        if isinstance(value, torch.Tensor):
            return value.to(self.device, non_blocking=True)
        if isinstance(value, Mapping):
            return {k: self._to_device(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._to_device(v) for v in value)
        return value

    def _forward(self, batch):
        """(loss, outputs, targets) of one batch, on the device."""
        batch = self._to_device(batch)
        if isinstance(batch, Mapping):
            outputs = self.model(**batch)
            if self.loss_fn is not None:
                targets = batch.get("labels")
                logits = _field(outputs, "logits")
                return self.loss_fn(outputs if logits is None else logits, targets), outputs, targets
            loss = _field(outputs, "loss")
            if loss is None:
                raise RollToTrainError(f"model(**batch) returned no .loss (it returned {_describe(outputs)}): expected "
                                       "an object with .loss or a dict with a 'loss' entry; pass labels in the batch "
                                       "so the model computes its loss, or a loss_fn")
            return loss, _field(outputs, "logits"), batch.get("labels")
        if isinstance(batch, (list, tuple)) and len(batch) == 2:
            if self.loss_fn is None:
                raise RollToTrainError("batches are (inputs, targets) but loss_fn=None: pass loss_fn=...")
            inputs, targets = batch
            outputs = self.model(inputs)
            return self.loss_fn(outputs, targets), outputs, targets
        raise RollToTrainError(bad_value("batch", type(batch).__name__,
                                         "an (inputs, targets) pair or a mapping for model(**batch)"))

    # --- training ---------------------------------------------------------------------------
    def train(self, train_dataloader, eval_dataloader=None, epochs: int = 1, *, save_every: int | None = None,
              checkpoint_path=None, on_step=None) -> History:
        """Train ``epochs`` more epochs; evaluate after each one if ``eval_dataloader`` is given.

        ``save_every=N`` with ``checkpoint_path``: save a checkpoint there after every N-th optimizer
        step (counted over the whole run), mid-epoch too; under ``torch.distributed``, rank 0 saves.
        A path in a missing or read-only folder is refused before the first step. ``on_step(trainer)``:
        called after every optimizer step, where ``trainer.save_checkpoint(...)`` saves the exact position.
        Every param group's learning rate must be a finite number >= 0 when ``train`` starts; a rate
        of 0 that no scheduler raises gives a :class:`~rtt_edu.errors.ZeroLearningRateWarning`.
        After a mid-epoch checkpoint is loaded, the first epoch of ``train`` finishes that epoch (it
        counts as one of ``epochs``) with the very batches, dropout masks and dice the unbroken run
        had; ``train_dataloader`` must be built as it was (same data, batch size and shuffle).
        Only one ``train`` runs at a time on a trainer: a second, from another thread, raises at once.
        """
        check_type("epochs", epochs, int, "an integer >= 1")
        if epochs < 1:
            raise RollToTrainError(bad_value("epochs", epochs, "an integer >= 1"))
        _check_loader("train_dataloader", train_dataloader, "an iterable of batches")
        if eval_dataloader is not None:
            _check_loader("eval_dataloader", eval_dataloader, "an iterable of batches or None")
        if save_every is not None:
            check_type("save_every", save_every, int, "a number of optimizer steps >= 1, or None")
            if save_every < 1:
                raise RollToTrainError(bad_value("save_every", save_every, "a number of optimizer steps >= 1, or None"))
            if checkpoint_path is None:
                raise RollToTrainError(bad_value("checkpoint_path", None, "the file to save to every "
                                                                          f"save_every={save_every} steps"))
        if checkpoint_path is not None:
            checkpoint_path = check_path(checkpoint_path, "checkpoint_path")
            if rank() == 0:                      # the rank that saves
                _check_checkpoint_folder(checkpoint_path)
        if on_step is not None and not callable(on_step):
            raise RollToTrainTypeError(bad_value("on_step", on_step, "a callable on_step(trainer) or None"))
        _check_learning_rates(self.optimizer, self.scheduler)
        if not self._running.acquire(blocking=False):
            raise RollToTrainError("train() is already running on this trainer (in another thread, or called from "
                                   "inside its own loop); wait for it to finish, or build a second trainer with "
                                   "its own model and optimizer")
        try:
            self._handle = AttachHandle(self.optimizer, self.master, owner="a RollToTrain.train() (in thread "
                                                                           f"{threading.current_thread().name!r})")
            try:
                _enter_training(self)            # may warn (or raise, where warnings are errors)
                for _ in range(epochs):
                    self._train_epoch(train_dataloader, save_every, checkpoint_path, on_step)
                    if eval_dataloader is not None:
                        self.evaluate(eval_dataloader)
                    self.master.end_epoch()
            finally:
                _leave_training(self)
                self._handle.remove()
        finally:
            self._handle = None
            self._position = None
            self._running.release()
        return self.history

    def _train_epoch(self, loader, save_every=None, checkpoint_path=None, on_step=None) -> None:
        self.model.train()
        _set_epoch(loader, self.master.epoch)
        try:
            total = len(loader)
        except TypeError:
            total = None
        batches, done = self._open_epoch(loader)
        bar = tqdm(batches, total=total, initial=done, desc=f"epoch {self.master.epoch}",
                   disable=not self.progress, leave=False)
        self.optimizer.zero_grad(set_to_none=True)
        window_loss, seen, yielded = None, 0, done
        for batch in bar:
            yielded += 1
            loss, _, _ = self._forward(batch)
            _check_loss(loss)
            (loss / self.window if self.window != 1 else loss).backward()   # x / 1 is exact: skip it
            window_loss = loss.detach() if window_loss is None else window_loss + loss.detach()
            seen += 1
            if seen == self.window:
                self._step(window_loss, seen, bar)
                self._after_step(seen, save_every, checkpoint_path, on_step)
                window_loss, seen = None, 0
        if seen:
            self._step(window_loss, seen, bar)
            self._after_step(seen, save_every, checkpoint_path, on_step)
        bar.close()
        self._position = None
        if yielded == 0:
            raise RollToTrainError(bad_value("train_dataloader", loader, "a loader that yields batches (it yielded "
                                                                         "none this epoch)"))

    def _open_epoch(self, loader):
        """(the epoch's batch iterator, batches already done). After a mid-epoch load: torch's RNG as
        at the epoch's start, so the loader draws the same order, the done batches skipped, then
        the RNG as at the checkpoint, so dropout draws the same masks."""
        resume = self._resume
        if resume is not None:
            checkpoint.set_global_rng({"cpu": resume["rng_epoch_start"]})
        rng_epoch_start = torch.get_rng_state()
        batches = iter(loader)
        done = 0
        if resume is not None:
            for done in range(resume["batches"]):
                if next(batches, _END) is _END:
                    checkpoint.set_global_rng(resume["rng"])   # as the load left it: the next try starts alike
                    raise RollToTrainError(bad_value("train_dataloader", loader, f"the loader of the checkpoint, "
                                                     f"which had {resume['batches']} batches of epoch "
                                                     f"{self.master.epoch} done (this one has only {done})"))
            done = resume["batches"]
            checkpoint.set_global_rng(resume["rng"])
            self._resume = None
        self._position = {"epoch": self.master.epoch, "batches": done, "rng_epoch_start": rng_epoch_start}
        return batches, done

    def _after_step(self, seen: int, save_every, checkpoint_path, on_step) -> None:
        """The position moves on by ``seen`` batches; then save and call back, where asked."""
        self._position["batches"] += seen
        if save_every is not None and self.master.step % save_every == 0 and rank() == 0:
            self.save_checkpoint(checkpoint_path)
        if on_step is not None:
            on_step(self)

    def _step(self, window_loss, seen: int, bar) -> None:
        """One optimizer step for a window of ``seen`` mini-batches (the hooks roll and scale)."""
        if seen != self.window:   # a shorter last window: average over the batches it has
            grads = [p.grad for p in optimizer_params(self.optimizer, grad=True)]
            if grads:
                torch._foreach_mul_(grads, self.window / seen)
        if not self._handle.attached:        # never a plain, unrecorded step
            raise RollToTrainError(f"the dice of this trainer were removed from its optimizer during train() (at step "
                                   f"{self.master.step}); training stops rather than go on without them")
        if self._overlap is not None:
            _warn_overlap(self)
        self.master.observe_loss(window_loss / seen if seen != 1 else window_loss)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if not bar.disable:
            last = self.master.last_record
            bar.set_postfix_str(f"d{self.rules.sides}={last.natural} x{last.multiplier:+.2f}", refresh=False)

    @torch.no_grad()
    def evaluate(self, eval_dataloader) -> EvalRecord:
        """Mean loss (weighted by batch size) and accuracy where outputs are class scores."""
        _check_loader("eval_dataloader", eval_dataloader, "an iterable of batches")
        was_training = self.model.training
        self.model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        counted = torch.zeros((), dtype=torch.float64, device=self.device)
        count, scored = 0, False
        for batch in eval_dataloader:
            loss, outputs, targets = self._forward(batch)
            n = _batch_size(targets, outputs)
            loss_sum += loss.detach().double() * n
            count += n
            hits = _correct(outputs, targets)
            if hits is not None:
                correct += hits[0]
                counted += hits[1]
                scored = True
        self.model.train(was_training)
        if count == 0:
            raise RollToTrainError(bad_value("eval_dataloader", eval_dataloader, "a loader that yields batches "
                                                                                 "(it yielded none)"))
        loss, correct, counted = torch.stack([loss_sum / count, correct, counted]).tolist()  # one sync
        record = EvalRecord(step=self.master.step, epoch=self.master.epoch, loss=loss,
                            accuracy=correct / counted if scored and counted else None)
        self.history.add_eval(record)
        return record

    # --- checkpoints (the format, and the check of a load: rtt_edu.training.checkpoint) -----------
    def state_dict(self) -> dict:
        """Model, optimizer, scheduler, dice, class, monsters, experience, guard, history, the position
        within the epoch and torch's global RNG (see :mod:`rtt_edu.training.checkpoint` for the layout)."""
        return checkpoint.trainer_state(self)

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`. The whole state is checked against this trainer first
        (:func:`~rtt_edu.training.checkpoint.check_state`); one that does not fit raises
        :class:`CheckpointError` and changes nothing.

        A state that fits also sets torch's global RNG to the one saved (for dropout and shuffled
        loaders: the one deliberate change of global RNG state in rtt_edu, see the module docstring)."""
        if self._running.locked():
            raise RollToTrainError("load_state_dict() while train() runs on this trainer: wait for it to finish")
        checkpoint.load_trainer_state(self, state)

    def save_checkpoint(self, path) -> None:
        """Save everything needed to resume exactly, atomically (temporary file, fsync, rename).

        Called during ``train`` (``save_every``, ``on_step``) it saves the position within the epoch.
        A failed write is a :class:`CheckpointError` naming ``path``; the previous file stays intact.
        """
        checkpoint.save_state(self.state_dict(), path)

    def load_checkpoint(self, path) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint`. Never runs code from the file.

        Then ``train(..., epochs=n)`` trains n more epochs, exactly as an unbroken run would (a
        checkpoint taken mid-epoch finishes that epoch first). A file that does not fit this trainer
        raises :class:`CheckpointError` naming ``path``, and the trainer is left exactly as it was.
        """
        path = check_path(path)
        state = checkpoint.load_state(path, map_location=self.device)
        try:
            self.load_state_dict(state)
        except RollToTrainError as exc:
            raise CheckpointError(f"path={path!r}: {exc}") from None


_END = object()


def _check_loader(name: str, loader, expected: str) -> None:
    """An iterable of batches, and not an empty one where its length says so."""
    if loader is None or not hasattr(loader, "__iter__") or isinstance(loader, (str, bytes)):
        raise RollToTrainTypeError(bad_value(name, loader, expected))
    try:
        size = len(loader)
    except TypeError:
        return                    # an iterable without a length: an empty one is caught as it runs
    if size == 0:
        raise RollToTrainError(bad_value(name, loader, "a loader with at least one batch (this one is empty)"))


def _set_epoch(loader, epoch: int) -> None:
    """Let a seeded shuffle (``DistributedSampler``, accelerate's loaders) draw this epoch's order."""
    for owner in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if callable(getattr(owner, "set_epoch", None)):
            owner.set_epoch(epoch)
            return


def _check_loss(loss) -> None:
    """A training loss must be a scalar tensor that backpropagates (before ``backward`` says so obscurely)."""
    if not isinstance(loss, torch.Tensor):
        raise RollToTrainTypeError(bad_value("loss", loss, "a tensor returned by loss_fn or by the model's .loss"))
    if loss.numel() != 1:
        raise RollToTrainError(f"loss=<tensor of shape {tuple(loss.shape)}>: expected a single number "
                               "(a loss_fn with reduction='mean' or 'sum')")
    if not loss.requires_grad:
        raise RollToTrainError(f"loss=<tensor {loss.item():.4g} without grad_fn>: expected a loss computed from "
                               "the model's parameters (this one does not require grad)")


def _batch_size(targets, outputs) -> int:
    for t in (targets, outputs):
        if isinstance(t, torch.Tensor) and t.ndim > 0:
            return t.shape[0]
    return 1


def _correct(outputs, targets):
    """(number correct as a device tensor, number counted) for class scores, else ``None``."""
    if not isinstance(outputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        return None
    if outputs.ndim == targets.ndim + 1 and not targets.is_floating_point():
        mask = targets != -100                     # HuggingFace's ignored label
        hits = (outputs.argmax(-1) == targets) & mask
        return hits.sum().double(), mask.sum().double()
    if outputs.shape == targets.shape and targets.is_floating_point():
        hits = (outputs > 0).to(targets.dtype) == targets   # logits against 0/1 labels
        return hits.sum().double(), torch.tensor(float(targets.numel()), dtype=torch.float64, device=targets.device)
    return None


def _check_optimizer_holds_model(optimizer, model) -> None:
    """At least one of ``model``'s parameters that require grad is in ``optimizer``'s param groups."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise RollToTrainError(f"model={type(model).__name__}: expected a model with parameters to train (all its "
                               "parameters have requires_grad=False)")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in held for p in trainable):
        name = type(optimizer).__name__
        raise RollToTrainError(f"optimizer={name}: expected an optimizer over model's parameters, but none of the "
                               f"model's {len(trainable)} trainable parameters is in its param groups (it holds "
                               f"{len(held)} other tensors: was it built on another model?); build it as "
                               f"{name}(model.parameters(), ...) with the model passed as model=")


def _check_checkpoint_folder(path: str) -> None:
    """``save_every``'s file can be written: its folder exists and is writable, and it is not a folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointError(bad_value("checkpoint_path", path, f"a file path in an existing folder ({folder!r} "
                                                                 "is missing; nothing was trained)"))
    if os.path.isdir(path):
        raise CheckpointError(bad_value("checkpoint_path", path, "a file path, not a folder"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CheckpointError(bad_value("checkpoint_path", path, f"a file path in a folder this process can write "
                                                                 f"to ({folder!r} is read-only; nothing was trained)"))


def _check_learning_rates(optimizer, scheduler) -> None:
    """Every param group's ``lr`` is a finite number >= 0; warn of a 0 that no scheduler raises.

    A NaN, inf or negative rate trains NaN weights or climbs the loss (and a death save would
    revive to them), so it is refused before the first step.
    """
    zero = []
    base_lrs = getattr(scheduler, "base_lrs", None) or []
    for i, group in enumerate(optimizer.param_groups):
        lr = group.get("lr")
        try:
            value = float(lr) if not isinstance(lr, bool) else math.nan
        except (TypeError, ValueError, RuntimeError):
            raise RollToTrainTypeError(bad_value(f"optimizer.param_groups[{i}]['lr']", lr,
                                                 "a learning rate (a number >= 0)")) from None
        if not math.isfinite(value) or value < 0:
            raise RollToTrainError(bad_value(f"optimizer.param_groups[{i}]['lr']", lr, "a finite learning rate >= 0 "
                                                                                      "(nothing was trained)"))
        # a scheduler lifts a 0 when its base rate is not 0 (warm-up) or it cycles up to a max_lr
        raised = scheduler is not None and ((i < len(base_lrs) and base_lrs[i] != 0)
                                            or hasattr(scheduler, "max_lrs") or "max_lr" in group)
        if value == 0 and not raised:
            zero.append(i)
    if zero:
        which = "these groups" if len(zero) > 1 else "this group"
        warnings.warn(f"optimizer.param_groups{zero}['lr']=0: with a learning rate of 0 no step changes the weights "
                      f"of {which}, whatever the dice roll, and no scheduler raises it", ZeroLearningRateWarning,
                      stacklevel=3)


def _field(outputs, name: str):
    """``outputs.name`` or ``outputs[name]`` (a model may return an object or a dict), else ``None``."""
    if isinstance(outputs, Mapping):
        return outputs.get(name)
    return getattr(outputs, name, None)


def _describe(outputs) -> str:
    """A few words on what a model returned, for an error message."""
    if isinstance(outputs, Mapping):
        keys = list(outputs)
        return f"a {type(outputs).__name__} with keys {keys[:6]}{'...' if len(keys) > 6 else ''}"
    if isinstance(outputs, torch.Tensor):
        return f"a tensor of shape {tuple(outputs.shape)}"
    if isinstance(outputs, (tuple, list)):
        return f"a {type(outputs).__name__} of {len(outputs)} items"
    return "None" if outputs is None else f"a {type(outputs).__name__}"


# --- threads: every train() running in this process --------------------------------------------

_TRAINING: dict = {}               # id(trainer) → (trainer, its thread): the train() calls running now
_TRAINING_LOCK = threading.Lock()


def _enter_training(trainer) -> None:
    """Register ``trainer``'s train(); if others run in other threads, warn now and have them warn too."""
    here = threading.current_thread()
    with _TRAINING_LOCK:
        others = [(t, thread) for t, thread in _TRAINING.values() if thread is not here]
        for other, _ in others:
            other._overlap = here.name
        _TRAINING[id(trainer)] = (trainer, here)
    if others:
        _warn(sorted({thread.name for _, thread in others}), stacklevel=4)


def _leave_training(trainer) -> None:
    with _TRAINING_LOCK:
        _TRAINING.pop(id(trainer), None)
        trainer._overlap = None


def _warn_overlap(trainer) -> None:
    """In a running trainer's own thread: warn once that another thread started a train() beside it."""
    with _TRAINING_LOCK:
        name, trainer._overlap = trainer._overlap, None
    if name is not None:
        _warn([name], stacklevel=6)


def _warn(threads: list, stacklevel: int) -> None:
    warnings.warn(f"RollToTrain.train() in thread {threading.current_thread().name!r} overlaps a train() in thread(s) "
                  f"{threads}: dropout and shuffled DataLoaders draw from torch's one global RNG, which the runs now "
                  "share, so the results of both will not be repeatable (nor replayed from their checkpoints). The "
                  "dice are not affected. Train one run at a time, or each in its own process.",
                  ConcurrentTrainingWarning, stacklevel=stacklevel)

