"""``RollToTrain``: a small training loop with a saving throw on every optimizer step.

    trainer = RollToTrain(model, optimizer, scheduler, intelligence=15,
                          character_class=Wizard(level=1), use_xp_system=True,
                          loss_fn=nn.CrossEntropyLoss(), seed=0)
    history = trainer.train(train_loader, eval_loader, epochs=3)

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
torch's global RNG. A load is checked against this trainer in full before anything changes
(:func:`check_state`), so a refused file leaves the trainer bit-identical.

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

import copy
import math
import os
import random
import threading
import warnings
from collections.abc import Mapping

import torch
from tqdm.auto import tqdm

from rtt_edu.training import checkpoint
from rtt_edu.atomic import check_path
from rtt_edu.game.dice import DiceRoller
from rtt_edu.engine.distributed import rank
from rtt_edu.errors import (CheckpointError, ConcurrentTrainingWarning, RollToTrainError, ZeroLearningRateWarning,
                     bad_value, check_type)
from rtt_edu.engine.history import EvalRecord, History
from rtt_edu.engine.hook import AttachHandle
from rtt_edu.training.game import build_master
from rtt_edu.game.rules import as_rules
from rtt_edu.engine.tensors import optimizer_params
from rtt_edu.engine.turns import table_seed
from rtt_edu.party.xp import ExperienceSystem

MODES = ("per_mini_batch", "per_accumulation_step")


class RollToTrain:
    """Train ``model`` with ``optimizer``; a saving throw decides how much of each update lands.

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

    def __init__(self, model, optimizer, scheduler=None, intelligence: int = 10, character_class=None,
                 use_xp_system=False, rules=None, mode: str = "per_mini_batch", accumulation_steps: int = 1,
                 loss_fn=None, seed: int | None = None, device=None, progress: bool = True,
                 target: str = "update", monsters=None, encounter_chance: float = 0.0,
                 encounter_schedule=None, on_nonfinite: str = "death-save", roller=None, history=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(bad_value("model", model, "a torch.nn.Module"))
        if next(model.parameters(), None) is None:
            raise RollToTrainError(bad_value("model", model, "a model with parameters to train (this one has none)"))
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(bad_value("optimizer", optimizer, "a torch.optim.Optimizer"))
        if not any(g["params"] for g in optimizer.param_groups):
            raise RollToTrainError(bad_value("optimizer", optimizer, "an optimizer with parameters (its param groups "
                                                                    "are empty)"))
        _check_optimizer_holds_model(optimizer, model)
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise TypeError(bad_value("scheduler", scheduler, "a torch.optim.lr_scheduler scheduler or None"))
        if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
            raise RollToTrainError(f"scheduler={scheduler!r}: expected a scheduler of this trainer's optimizer, but it "
                                   f"was built on another one ({type(scheduler.optimizer).__name__} at "
                                   f"{id(scheduler.optimizer):#x}); build it with scheduler = "
                                   f"{type(scheduler).__name__}(optimizer, ...) on the optimizer passed here")
        if history is not None and not isinstance(history, History):
            raise TypeError(bad_value("history", history, "a rtt_edu History (e.g. History(max_steps=10_000)) or None"))
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
            raise TypeError(bad_value("loss_fn", loss_fn, "a callable loss_fn(outputs, targets) or None"))
        check_type("progress", progress, bool, "True or False")
        self.rules = as_rules(rules)
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
                raise TypeError(bad_value("device", device, "a torch.device or a name like 'cpu' or 'cuda:0'")) from None
            model.to(self.device)
        else:
            self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self.master = build_master(self.rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                                   character_class=character_class, experience=use_xp_system, monsters=monsters,
                                   encounter_chance=encounter_chance, encounter_schedule=encounter_schedule,
                                   on_nonfinite=on_nonfinite, scheduler=scheduler, experience_arg="use_xp_system")
        if history is not None:
            self.master.history = history
        self.character_class = character_class
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
        return next((p for p in self.master.participants if isinstance(p, ExperienceSystem)), None)

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
            raise TypeError(bad_value("on_step", on_step, "a callable on_step(trainer) or None"))
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
            torch.set_rng_state(resume["rng_epoch_start"].cpu())
        rng_epoch_start = torch.get_rng_state()
        batches = iter(loader)
        done = 0
        if resume is not None:
            for done in range(resume["batches"]):
                if next(batches, _END) is _END:
                    _set_rng(resume["rng"])          # as the load left it: the next try starts alike
                    raise RollToTrainError(bad_value("train_dataloader", loader, f"the loader of the checkpoint, "
                                                     f"which had {resume['batches']} batches of epoch "
                                                     f"{self.master.epoch} done (this one has only {done})"))
            done = resume["batches"]
            _set_rng(resume["rng"])
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

    # --- checkpoints (the file format: rtt_edu.training.checkpoint) --------------------------------------
    def state_dict(self) -> dict:
        """Model, optimizer, scheduler, dice, class, monsters, experience, guard, history, the position
        within the epoch and torch's global RNG (see :mod:`rtt_edu.training.checkpoint` for the layout)."""
        master, scheduler = self.master, self.scheduler
        position = None
        if self._position is not None:
            position = {**self._position, "rng_epoch_start": self._position["rng_epoch_start"].clone()}
        return {"format": checkpoint.CHECKPOINT_FORMAT, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "optimizer_type": type(self.optimizer).__name__,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scheduler_type": type(scheduler).__name__ if scheduler is not None else None,
                "master": master.state_dict(), "participants": [type(p).__name__ for p in master.participants],
                "setup": [_setup(p) for p in master.participants],
                "history": self.history.to_dict(columns=True), "rng": _rng_state(), "position": position}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`. The whole state is checked against this trainer first
        (:func:`check_state`); one that does not fit raises :class:`CheckpointError` and changes nothing.

        A state that fits also sets torch's global RNG to the one saved (for dropout and shuffled
        loaders: the one deliberate change of global RNG state in rtt_edu, see the module docstring)."""
        if self._running.locked():
            raise RollToTrainError("load_state_dict() while train() runs on this trainer: wait for it to finish")
        _apply_state(self, check_state(self, state))

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
        raise TypeError(bad_value(name, loader, expected))
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
        raise TypeError(bad_value("loss", loss, "a tensor returned by loss_fn or by the model's .loss"))
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
            raise TypeError(bad_value(f"optimizer.param_groups[{i}]['lr']", lr, "a learning rate (a number >= 0)")) \
                from None
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


# --- loading a checkpoint: check all of it, then apply it -------------------------------------

#: optimizer flags that newer torch versions added to every param group; a file may lack them
_OPTIONAL_GROUP_KEYS = {"foreach", "maximize", "capturable", "differentiable", "fused", "decoupled_weight_decay"}
#: optimizers whose state holds tensors shaped unlike their parameter (factored second moments)
_FACTORED = {"Adafactor"}
_REQUIRED = ("model", "optimizer", "scheduler", "master", "history")


def check_state(trainer, state) -> dict:
    """Check a whole checkpoint ``state`` against ``trainer`` without changing anything.

    The model's entries and shapes; the optimizer's type, param groups (their sizes and settings)
    and per-parameter state; the scheduler's presence, type and settings; the game master's step,
    epoch, rules, roller, every participant (loaded into copies) and the guard; the history; the
    RNG states and the position within an epoch; and that every floating tensor is finite.
    A state of an earlier format version is migrated first (:func:`upgraded_state`); one of a
    later version is refused, naming both. Every problem found is reported in one
    :class:`CheckpointError`. Returns what to apply (the state as this release's version and the
    rebuilt history), for :func:`_apply_state`.
    """
    state = upgraded_state(state, two_streams=trainer.master.table_roller is not trainer.master.roller)
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(bad_value("checkpoint", sorted(state), f"the keys {missing} as well"))
    problems = (_model_problems(trainer.model, state["model"])
                + _optimizer_problems(trainer.optimizer, state["optimizer"], state.get("optimizer_type"))
                + _scheduler_problems(trainer.scheduler, state["scheduler"], state.get("scheduler_type"),
                                      len(trainer.optimizer.param_groups))
                + game_state_problems(trainer.master, state["master"], state.get("participants"), state.get("setup"))
                + _rng_problems(state.get("rng"), state.get("position"), state["master"])
                + _nonfinite_problems(trainer.model, state))
    return {"state": state, "history": resumed_history(trainer.history, state["history"], problems, "this trainer")}


def upgraded_state(state, two_streams: bool) -> dict:
    """``state`` as a checkpoint of this release's version (:data:`checkpoint.CHECKPOINT_VERSION`),
    through one migration per version (:data:`_MIGRATIONS`); a state of this version is returned
    as it is, one of a later version or none is refused (:func:`checkpoint.version`).
    ``two_streams``: whether the game master that loads it rolls the participants' dice from a
    stream of their own (built with ``seed=``) or everything from one roller (``roller=``).
    ``state`` itself is not changed."""
    for version in range(checkpoint.version(state), checkpoint.CHECKPOINT_VERSION):
        state = _MIGRATIONS[version](state, two_streams)
    return state


def _from_version_1(state: dict, two_streams: bool) -> dict:
    """Version 1 to 2 (see :mod:`rtt_edu.training.checkpoint`): a game state without ``table_roller`` was
    written when the save and the participants rolled from one stream. Into a game master with one
    stream it loads as it is; into one with two, the saved stream stays the save's, and the
    participants' stream starts from ``table_seed(n)``, ``n`` the next 63 random bits of a copy of
    the saved stream (so the same file always resumes the same way)."""
    state = {**state, "format": "rtt_edu.training.checkpoint/2"}
    master = state.get("master")
    if two_streams and isinstance(master, Mapping) and "table_roller" not in master:
        seed = _next_bits(master.get("roller"))
        if seed is not None:            # else the saved roller is malformed: the game state's check says so
            state["master"] = {**master, "table_roller": DiceRoller(table_seed(seed)).state_dict()}
    return state


def _next_bits(roller_state):
    """The next 63 random bits of a copy of a saved :class:`DiceRoller` stream, or ``None`` if malformed."""
    try:
        rng = random.Random()
        rng.setstate((roller_state["version"], tuple(int(x) for x in roller_state["internal"]), roller_state["gauss"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return rng.getrandbits(63)


#: format version → the migration of a state of that version to the next one
_MIGRATIONS = {1: _from_version_1}


def resumed_history(own: History, saved, problems: list, what: str) -> History:
    """The saved history, read under ``own``'s bound (``keep``), whatever bound it was saved with:
    a trainer built with ``history=None`` keeps every step from here on, one with a larger bound
    keeps up to that many (the records the file did not hold stay counted, see
    :meth:`History.rebound`). With ``problems`` (or a malformed history) a ``CheckpointError`` that
    lists them all, saying the state does not fit ``what``."""
    history = None
    try:
        history = History.from_dict({**saved, "keep": own.keep} if isinstance(saved, dict) else saved)
    except (RollToTrainError, TypeError, KeyError) as exc:
        problems = problems + [f"the history is malformed ({exc})"]
    if problems:
        raise CheckpointError(f"the checkpoint does not fit {what}: " + "; ".join(problems))
    return history


def _apply_state(trainer, plan) -> None:
    """Apply the state that :func:`check_state` accepted (``plan["state"]``, of this release's
    version): nothing here can fail half-way."""
    state = plan["state"]
    master = state["master"]
    if not master.get("guard"):        # saved under another on_nonfinite policy: fresh tallies
        master = {**master, "guard": None}
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.master.load_state_dict(master)
    trainer.master.history = plan["history"]           # master.last_record reads its newest record
    trainer.rules = trainer.master.rules
    if state.get("rng") is not None:
        _set_rng(state["rng"])
    position = state.get("position")
    trainer._resume = None if position is None else {**position, "rng": state["rng"]}


def _model_problems(model, saved) -> list:
    if not isinstance(saved, Mapping):
        return [f"the model state is a {type(saved).__name__}, not a state_dict"]
    own = model.state_dict()
    problems = []
    missing, unexpected = sorted(own.keys() - saved.keys()), sorted(saved.keys() - own.keys())
    if missing:
        problems.append(f"the model's {missing[:5]}{'...' if len(missing) > 5 else ''} are missing from the file")
    if unexpected:
        problems.append(f"the file has model entries {unexpected[:5]}{'...' if len(unexpected) > 5 else ''} "
                        "this model lacks")
    for key in sorted(own.keys() & saved.keys()):
        theirs = saved[key]
        if not isinstance(theirs, torch.Tensor):
            problems.append(f"model[{key!r}] is a {type(theirs).__name__} in the file")
        elif theirs.shape != own[key].shape:
            problems.append(f"model[{key!r}] has shape {tuple(own[key].shape)} here and {tuple(theirs.shape)} in the file")
    return problems


def _optimizer_problems(optimizer, saved, saved_type) -> list:
    here_type = type(optimizer).__name__
    if saved_type is not None and saved_type != here_type:
        return [f"the optimizer is {here_type} here and {saved_type} in the file (build the trainer with the "
                "optimizer the checkpoint was trained with)"]
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), Mapping):
        return ["the optimizer state is not an optimizer.state_dict()"]
    groups = saved["param_groups"]
    if not all(isinstance(g, Mapping) and isinstance(g.get("params"), list) for g in groups):
        return ["the optimizer's param_groups are malformed"]
    here = [len(g["params"]) for g in optimizer.param_groups]
    there = [len(g["params"]) for g in groups]
    if here != there:
        return [f"the optimizer has param groups of sizes {here} here and {there} in the file"]
    problems = []
    for i, (own, theirs) in enumerate(zip(optimizer.param_groups, groups)):
        lacking = sorted(set(own) - set(theirs) - _OPTIONAL_GROUP_KEYS - {"params", "initial_lr"})
        foreign = sorted(set(theirs) - set(own) - {"params", "initial_lr"})
        if lacking or foreign:
            problems.append(f"param group {i} of the file {'lacks ' + str(lacking) if lacking else ''}"
                            f"{' and ' if lacking and foreign else ''}{'has ' + str(foreign) if foreign else ''}, "
                            f"so it is not {here_type}'s state")
        lr = theirs.get("lr")
        if not isinstance(lr, (int, float, torch.Tensor)) or isinstance(lr, bool):
            problems.append(f"param group {i} of the file has lr={lr!r}")
    if problems:
        return problems
    params = optimizer_params(optimizer)
    ids = [i for g in groups for i in g["params"]]
    if len(ids) != len(set(ids)):
        return ["the optimizer's param_groups name a parameter twice"]
    index = {saved_id: p for saved_id, p in zip(ids, params)}
    for key, entry in saved["state"].items():
        if key not in index:
            problems.append(f"the optimizer state has an entry for parameter {key!r}, which no param group holds")
            continue
        if not isinstance(entry, Mapping):
            problems.append(f"the optimizer state of parameter {key!r} is a {type(entry).__name__}")
            continue
        param = index[key]
        for name, value in entry.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 and here_type not in _FACTORED \
                    and value.shape != param.shape:
                problems.append(f"the optimizer's {name!r} of parameter {key!r} has shape {tuple(value.shape)} "
                                f"in the file, the parameter {tuple(param.shape)}")
    return problems


def _scheduler_problems(scheduler, saved, saved_type, n_groups) -> list:
    has = scheduler is not None
    if has != (saved is not None):
        return [f"this trainer has scheduler={'a scheduler' if has else 'None'} but the checkpoint "
                f"{'has none' if has else 'holds a scheduler state'}"]
    if not has:
        return []
    here_type = type(scheduler).__name__
    if saved_type is not None and saved_type != here_type:
        return [f"the scheduler is {here_type} here and {saved_type} in the file"]
    if not isinstance(saved, Mapping):
        return [f"the scheduler state is a {type(saved).__name__}, not a scheduler.state_dict()"]
    own = scheduler.state_dict()
    lacking = sorted(set(own) - set(saved) - {"verbose", "_is_initial", "_get_lr_called_within_step"})
    if lacking:
        return [f"the scheduler state lacks {lacking}, so it is not {here_type}'s state"]
    foreign = sorted(set(saved) - set(own) - {"verbose", "_is_initial", "_get_lr_called_within_step"})
    if foreign:
        return [f"the scheduler state has {foreign}, which {here_type} does not have"]
    base = saved.get("base_lrs")
    if base is not None and (not isinstance(base, list) or len(base) != n_groups):
        return [f"the scheduler's base_lrs={base!r} do not match the optimizer's {n_groups} param group(s)"]
    last = saved.get("last_epoch")
    if last is not None and not (isinstance(last, int) and not isinstance(last, bool)):
        return [f"the scheduler's last_epoch={last!r} is not an integer"]
    return []


def _setup(participant) -> dict:
    """What a participant is built with and its state does not hold: an encounter table's monsters,
    schedule and chance. Two trainers whose setups differ cannot share a checkpoint."""
    setup = {"type": type(participant).__name__}
    if hasattr(participant, "monsters"):
        setup["monsters"] = [type(m).__name__ for m in participant.monsters]
    if isinstance(getattr(participant, "schedule", None), Mapping):
        setup["schedule"] = [[k, type(m).__name__] for k, m in sorted(participant.schedule.items(), key=repr)]
    if isinstance(getattr(participant, "chance", None), (int, float)):
        setup["chance"] = float(participant.chance)
    return setup


def game_state_problems(master, saved, names=None, setup=None) -> list:
    """What keeps ``saved`` (a ``GameMaster.state_dict()``) from loading into ``master``, as messages.

    ``names`` and ``setup``: the participants' class names and :func:`_setup` descriptions saved
    beside it, if any. The state is loaded into copies of the master's roller, participants and
    guard (a dry run), so nothing of ``master`` changes. The trainer and the HF callback use it.
    """
    here = [type(p).__name__ for p in master.participants]
    if not isinstance(saved, Mapping):
        return [f"the game master's state is a {type(saved).__name__}"]
    missing = [k for k in ("step", "epoch", "rules", "roller", "participants") if k not in saved]
    if missing:
        return [f"the game master's state lacks {missing}"]
    problems = []
    for key in ("step", "epoch"):
        value = saved[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"the game's {key}={value!r} is not a count >= 0")
    if not isinstance(saved["participants"], list):
        return problems + ["the game master's participants are not a list"]
    if names is not None and names != here:
        return problems + [f"the checkpoint's participants are {names} but this trainer has {here} "
                           "(build it with the same character_class, monsters and use_xp_system)"]
    if len(saved["participants"]) != len(here):
        return problems + [f"the checkpoint has {len(saved['participants'])} participant states, this trainer {len(here)}"]
    own_setup = [_setup(p) for p in master.participants]
    if setup is not None and setup != own_setup:
        differ = [f"{o['type']}: {s!r} in the file, {o!r} here" for s, o in zip(setup, own_setup) if s != o]
        return problems + [f"the participants were built differently ({'; '.join(differ) or setup}); build this "
                           "trainer with the same monsters, encounter_chance and encounter_schedule"]
    two_streams = master.table_roller is not master.roller
    if two_streams != ("table_roller" in saved):
        problems.append(_STREAMS[two_streams])
    if problems:
        return problems
    scratch = copy.copy(master)                 # the same master, with copies of all it loads into:
    loaded = {name: value for name, value in vars(master).items()   # rollers, participants, guard
              if name == "participants" or (hasattr(value, "load_state_dict") and name != "scheduler")}
    for name, value in copy.deepcopy(loaded).items():               # one deepcopy: a shared roller stays shared
        setattr(scratch, name, value)
    guard_state = saved.get("guard")
    if not guard_state:
        scratch.guard = None
    try:
        type(master).load_state_dict(scratch, {**saved, "guard": guard_state or None})
    except Exception as exc:    # noqa: BLE001  (any failure of a participant's loader refuses the file)
        where = _which_participant(master, saved)
        return [f"the game state{where} does not load ({type(exc).__name__}: {exc})"]
    return []


#: the dice streams differ (two here?) → what to do
_STREAMS = {
    True: "the checkpoint's game rolls the save and the participants from one dice stream (it was built with "
          "roller=), this one gives the participants a stream of their own (built with seed=): build it with "
          "roller=DiceRoller(seed) in place of seed=seed to resume it",
    False: "the checkpoint's game gives the participants a dice stream of their own (it was built with seed=), "
           "this one rolls everything from one roller (built with roller=): build it with seed= in place of "
           "roller= to resume it",
}


def _which_participant(master, saved) -> str:
    """`` (participant 1, Wizard)``: the first participant whose state fails to load, if one does."""
    for i, (p, s) in enumerate(zip(master.participants, saved["participants"])):
        try:
            copy.deepcopy(p).load_state_dict(s)
        except Exception:     # noqa: BLE001
            return f" of participant {i} ({type(p).__name__})"
    return ""


def _rng_problems(rng, position, master=None) -> list:
    problems = []
    if rng is not None:
        cpu = rng.get("cpu") if isinstance(rng, Mapping) else None
        if not _is_rng(cpu):
            problems.append("the saved RNG state is not torch.get_rng_state()'s")
        cuda = rng.get("cuda") if isinstance(rng, Mapping) else None
        if cuda is not None and not (isinstance(cuda, list) and all(isinstance(t, torch.Tensor) for t in cuda)):
            problems.append("the saved CUDA RNG states are not torch.cuda.get_rng_state_all()'s")
    if position is not None:
        if not isinstance(position, Mapping) or not _is_rng(position.get("rng_epoch_start")) \
                or not isinstance(position.get("batches"), int) or position["batches"] < 0:
            problems.append(f"the position within the epoch is malformed ({_shown(position)})")
        elif rng is None:
            problems.append("the checkpoint has a position within an epoch but no RNG state")
        elif isinstance(master, Mapping) and position.get("epoch") != master.get("epoch"):
            problems.append(f"the position is in epoch {position.get('epoch')!r} but the game in epoch "
                            f"{master.get('epoch')!r}")
    return problems


def _is_rng(value) -> bool:
    own = torch.get_rng_state()
    return isinstance(value, torch.Tensor) and value.dtype == own.dtype and value.shape == own.shape


def _shown(value):
    return sorted(value) if isinstance(value, Mapping) else type(value).__name__


def _nonfinite_problems(model, state) -> list:
    """The model's parameters, the optimizer's state (and a guard's snapshot) must be finite: NaN
    weights never load. Buffers may hold inf on purpose (an attention mask), so they are not checked."""
    names = {name for name, _ in model.named_parameters()}
    params = {k: v for k, v in state["model"].items() if k in names} if isinstance(state["model"], Mapping) else None
    found = []
    for where, tree in (("model", params), ("optimizer", state["optimizer"]),
                        ("guard snapshot", (state["master"] or {}).get("guard") if isinstance(state["master"], Mapping)
                         else None)):
        bad = _first_nonfinite(tree, where)
        if bad:
            found.append(f"{bad} is not finite (NaN or inf): a checkpoint of a run that already diverged")
    return found


def _first_nonfinite(value, where):
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            return None if bool(torch.isfinite(value).all()) else where
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, Mapping):
        return next((b for k, v in value.items() if (b := _first_nonfinite(v, f"{where}[{k!r}]"))), None)
    if isinstance(value, (list, tuple)):
        return next((b for i, v in enumerate(value) if (b := _first_nonfinite(v, f"{where}[{i}]"))), None)
    return None


def _rng_state() -> dict:
    """torch's global RNG: the CPU's, and every CUDA device's where CUDA is already in use."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng(rng) -> None:
    """Set torch's global RNG to a :func:`_rng_state` (states are CPU byte tensors, wherever loaded)."""
    torch.set_rng_state(rng["cpu"].cpu())
    cuda = rng.get("cuda")
    if cuda and torch.cuda.is_available():
        count = torch.cuda.device_count()
        for device, value in enumerate(cuda[:count]):
            torch.cuda.set_rng_state(value.cpu(), device)
