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
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from tqdm.auto import tqdm

from . import checkpoint
from .errors import CheckpointError, RollToTrainError, bad_value, check_type
from .history import EvalRecord, History
from .hook import AttachHandle, build_participants
from .rules import as_rules, warn_if_negative_drift
from .safety import make_guard
from .turns import GameMaster
from .xp import ExperienceSystem

MODES = ("per_mini_batch", "per_accumulation_step")


class RollToTrain:
    """Train ``model`` with ``optimizer``; a saving throw decides how much of each update lands."""

    def __init__(self, model, optimizer, scheduler=None, intelligence: int = 10, character_class=None,
                 use_xp_system=False, rules=None, mode: str = "per_mini_batch", accumulation_steps: int = 1,
                 loss_fn=None, seed: int | None = None, device=None, progress: bool = True,
                 target: str = "update", monsters=None, encounter_chance: float = 0.0,
                 encounter_schedule=None, on_nonfinite: str = "death-save", roller=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(bad_value("model", model, "a torch.nn.Module"))
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(bad_value("optimizer", optimizer, "a torch.optim.Optimizer"))
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise TypeError(bad_value("scheduler", scheduler, "a torch.optim.lr_scheduler scheduler or None"))
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
        self.master = GameMaster(self.rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                                 participants=build_participants(character_class, use_xp_system, monsters,
                                                                 encounter_chance, encounter_schedule,
                                                                 experience_arg="use_xp_system"),
                                 guard=make_guard(on_nonfinite))
        self.master.scheduler = scheduler
        self.character_class = character_class
        warn_if_negative_drift(self.rules, self.master.intelligence_modifier)

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
                return self.loss_fn(getattr(outputs, "logits", outputs), targets), outputs, targets
            loss = getattr(outputs, "loss", None)
            if loss is None:
                raise RollToTrainError("model(**batch) returned no .loss: pass labels in the batch or a loss_fn")
            return loss, getattr(outputs, "logits", None), batch.get("labels")
        if isinstance(batch, (list, tuple)) and len(batch) == 2:
            if self.loss_fn is None:
                raise RollToTrainError("batches are (inputs, targets) but loss_fn=None: pass loss_fn=...")
            inputs, targets = batch
            outputs = self.model(inputs)
            return self.loss_fn(outputs, targets), outputs, targets
        raise RollToTrainError(bad_value("batch", type(batch).__name__,
                                         "an (inputs, targets) pair or a mapping for model(**batch)"))

    # --- training ---------------------------------------------------------------------------
    def train(self, train_dataloader, eval_dataloader=None, epochs: int = 1) -> History:
        """Train ``epochs`` more epochs; evaluate after each one if ``eval_dataloader`` is given."""
        check_type("epochs", epochs, int, "an integer >= 1")
        if epochs < 1:
            raise RollToTrainError(bad_value("epochs", epochs, "an integer >= 1"))
        if train_dataloader is None or not hasattr(train_dataloader, "__iter__") or isinstance(train_dataloader, (str, bytes)):
            raise TypeError(bad_value("train_dataloader", train_dataloader, "an iterable of batches"))
        if eval_dataloader is not None and (not hasattr(eval_dataloader, "__iter__")
                                            or isinstance(eval_dataloader, (str, bytes))):
            raise TypeError(bad_value("eval_dataloader", eval_dataloader, "an iterable of batches or None"))
        handle = AttachHandle(self.optimizer, self.master)
        try:
            for _ in range(epochs):
                self._train_epoch(train_dataloader)
                if eval_dataloader is not None:
                    self.evaluate(eval_dataloader)
                self.master.end_epoch()
        finally:
            handle.remove()
        return self.history

    def _train_epoch(self, loader) -> None:
        self.model.train()
        _set_epoch(loader, self.master.epoch)
        try:
            total = len(loader)
        except TypeError:
            total = None
        bar = tqdm(loader, total=total, desc=f"epoch {self.master.epoch}", disable=not self.progress, leave=False)
        self.optimizer.zero_grad(set_to_none=True)
        window_loss, seen = None, 0
        for batch in bar:
            loss, _, _ = self._forward(batch)
            _check_loss(loss)
            (loss / self.window if self.window != 1 else loss).backward()   # x / 1 is exact: skip it
            window_loss = loss.detach() if window_loss is None else window_loss + loss.detach()
            seen += 1
            if seen == self.window:
                self._step(window_loss, seen, bar)
                window_loss, seen = None, 0
        if seen:
            self._step(window_loss, seen, bar)
        bar.close()

    def _step(self, window_loss, seen: int, bar) -> None:
        """One optimizer step for a window of ``seen`` mini-batches (the hooks roll and scale)."""
        if seen != self.window:   # a shorter last window: average over the batches it has
            grads = [p.grad for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            if grads:
                torch._foreach_mul_(grads, self.window / seen)
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
        if eval_dataloader is None or not hasattr(eval_dataloader, "__iter__") or isinstance(eval_dataloader, (str, bytes)):
            raise TypeError(bad_value("eval_dataloader", eval_dataloader, "an iterable of batches"))
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
            raise RollToTrainError("eval_dataloader yielded no batches")
        loss, correct, counted = torch.stack([loss_sum / count, correct, counted]).tolist()  # one sync
        record = EvalRecord(step=self.master.step, epoch=self.master.epoch, loss=loss,
                            accuracy=correct / counted if scored and counted else None)
        self.history.add_eval(record)
        return record

    # --- checkpoints (see rtt_edu.checkpoint) ---------------------------------------------------
    def state_dict(self) -> dict:
        """Model, optimizer, scheduler, dice, class, monsters, experience, guard and history."""
        return checkpoint.trainer_state(self)

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`; a state that does not fit this trainer changes nothing."""
        checkpoint.load_trainer_state(self, state)

    def save_checkpoint(self, path) -> None:
        """Save everything needed to resume exactly, atomically (temporary file, fsync, rename)."""
        checkpoint.save_state(self.state_dict(), path)

    def load_checkpoint(self, path) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint`. Never runs code from the file.

        Then ``train(..., epochs=n)`` trains n more epochs, exactly as an unbroken run would.
        """
        path = checkpoint.check_path(path)
        state = checkpoint.load_state(path, map_location=self.device)
        try:
            self.load_state_dict(state)
        except RollToTrainError as exc:
            raise CheckpointError(f"path={path!r}: {exc}") from None


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
