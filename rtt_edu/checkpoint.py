"""Checkpoint files: written atomically, read without ever running code from them.

Writing (:func:`atomic_write`): the bytes go to a temporary file in the target's folder, are
flushed to disk (``fsync``), and only then renamed over the target (``os.replace`` is atomic on
POSIX and Windows). A crash while writing leaves the previous file as it was and no temporary
file behind.

Reading (:func:`load_state`): ``torch.load(..., weights_only=True)`` accepts tensors and plain
data (dicts, lists, tuples, numbers, strings) only, so a file crafted to run code when unpickled
is refused before any of its code runs. Every failure (missing, empty, truncated, foreign,
unsafe) is a :class:`~rtt_edu.errors.CheckpointError` that names the file.

What a trainer checkpoint holds (``RollToTrain.state_dict()``)::

    format        "rtt_edu.checkpoint/1"
    model         model.state_dict()            weights and buffers
    optimizer     optimizer.state_dict()        moments, step counts, param groups
    scheduler     scheduler.state_dict() | None
    master        the game master: step, epoch, rules, dice roller, participants
                  (class, monsters, experience), non-finite guard
    participants  the participants' class names, checked on load
    history       History.to_dict()
"""
from __future__ import annotations

import collections
import contextlib
import os
import pickle
import re
import tempfile
from collections.abc import Mapping

import torch

from .errors import CheckpointError, RollToTrainError, bad_value, check_type

CHECKPOINT_FORMAT = "rtt_edu.checkpoint/1"

# What torch.load(weights_only=True) reads back: plain values, containers, tensors.
_PLAIN = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.Size, torch.dtype, torch.device)
_CONTAINERS = (dict, collections.OrderedDict, list, tuple, set, frozenset)


# --- paths and atomic writes -----------------------------------------------------------------

def check_path(path, name: str = "path") -> str:
    """``path`` as a string; ``TypeError`` naming it unless it is a ``str`` or ``os.PathLike``."""
    check_type(name, path, (str, os.PathLike), "a file path (str or pathlib.Path)")
    path = os.fspath(path)
    if isinstance(path, bytes) or not path:
        raise CheckpointError(bad_value(name, path, "a non-empty file path"))
    return path


def atomic_write(path, write, what: str = "file", verify=None) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    ``verify(temporary_path)``, if given, runs before the rename and may raise to abandon the write.
    """
    path = check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointError(bad_value("path", path, f"a {what} path in an existing folder ({folder!r} is missing)"))
    if os.path.isdir(path):
        raise CheckpointError(bad_value("path", path, f"a {what} path, not a folder"))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _file_mode(path) -> int:
    """Keep an existing file's permissions; a new file gets the usual ``0o666 & ~umask``."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- saving ----------------------------------------------------------------------------------

def find_unsafe(value, where: str = "state"):
    """The first ``(key path, value)`` that ``weights_only=True`` could not read back, else ``None``."""
    if isinstance(value, _PLAIN):
        return None
    if isinstance(value, Mapping) and type(value) in (dict, collections.OrderedDict):
        for key, item in value.items():
            bad = find_unsafe(key, f"{where} key") or find_unsafe(item, f"{where}[{key!r}]")
            if bad:
                return bad
        return None
    if type(value) in _CONTAINERS:
        for i, item in enumerate(value):
            bad = find_unsafe(item, f"{where}[{i}]")
            if bad:
                return bad
        return None
    return where, value


def save_state(state: dict, path) -> None:
    """Write ``state`` with ``torch.save``, atomically, refusing what could not be loaded safely."""
    path = check_path(path)
    bad = find_unsafe(state)
    if bad is not None:
        where, value = bad
        raise CheckpointError(f"path={path!r}: cannot save {where} = {value!r} of type {type(value).__qualname__}: "
                              "a checkpoint holds tensors and plain values only (a state_dict() returned something "
                              "else), or it could not be loaded with torch.load(weights_only=True)")

    def verify(tmp):
        unsafe = _unsafe_globals(tmp)
        if unsafe:
            raise CheckpointError(f"path={path!r}: the state holds {unsafe}, which torch.load(weights_only=True) "
                                  "refuses; the checkpoint was not written")

    atomic_write(path, lambda fh: torch.save(state, fh), "checkpoint", verify)


def _unsafe_globals(filename) -> list:
    check = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)   # torch >= 2.5
    return check(filename) if check is not None else []


# --- loading ---------------------------------------------------------------------------------

def load_state(path, map_location=None, format: str = CHECKPOINT_FORMAT) -> dict:
    """Read a file written by :func:`save_state`; never runs code from it.

    Raises :class:`~rtt_edu.errors.CheckpointError` naming ``path`` when the file is missing,
    empty, truncated, not a PyTorch file, holds anything but tensors and plain values, or is a
    PyTorch file of another kind (a bare ``model.state_dict()``, another program's dict).
    """
    path = check_path(path)
    if not os.path.exists(path):
        raise CheckpointError(bad_value("path", path, "an existing checkpoint file (nothing is there)"))
    if os.path.isdir(path):
        raise CheckpointError(bad_value("path", path, "a checkpoint file, not a folder"))
    if os.path.getsize(path) == 0:
        raise CheckpointError(bad_value("path", path, "a checkpoint file (this one is empty)"))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickler_reason(str(exc))
        if reason is not None:
            raise CheckpointError(f"path={path!r}: refused: the file holds objects other than tensors and plain "
                                  f"values, and loading them could run code ({reason}). It was not loaded; only "
                                  "load files from people you trust.") from None
        raise CheckpointError(f"path={path!r}: not a PyTorch checkpoint, or a corrupted one ({_first_line(exc)})") from None
    except Exception as exc:   # truncated zip, a text file, a pickle of another protocol, ...
        raise CheckpointError(f"path={path!r}: not a readable PyTorch checkpoint: truncated, corrupted or another "
                              f"kind of file ({type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != format:
        raise CheckpointError(f"path={path!r}: not an rtt_edu checkpoint: {_describe(state)}; "
                              f"expected a file written by save_checkpoint() (format {format!r})")
    return state


def _unpickler_reason(message: str):
    """What the weights-only unpickler refused (``"Unsupported global: GLOBAL io.open ..."``), if it refused."""
    if "Weights only load failed" not in message:
        return None
    found = re.search(r"WeightsUnpickler error: \s*([^\n]+)", message)
    return found.group(1).split(" was not an allowed global")[0].strip() if found else "unsupported content"


def _first_line(exc) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:200] if text else repr(exc)) or type(exc).__name__


def _describe(state) -> str:
    if isinstance(state, dict):
        keys = sorted(map(str, state))[:8]
        if keys and all(isinstance(v, torch.Tensor) for v in state.values()):
            return (f"it holds {len(state)} tensors ({keys}...), like a bare model.state_dict(); "
                    "load that with model.load_state_dict(torch.load(path, weights_only=True))")
        return f"format={state.get('format')!r}, keys {keys}"
    return f"it holds a {type(state).__name__}"


# --- a trainer's state -----------------------------------------------------------------------

def trainer_state(trainer) -> dict:
    """Everything needed to resume ``trainer`` exactly (see the module docstring)."""
    master = trainer.master
    return {"format": CHECKPOINT_FORMAT, "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
            "master": master.state_dict(),
            "participants": [type(p).__name__ for p in master.participants],
            "history": trainer.history.to_dict()}


def check_trainer_state(trainer, state) -> None:
    """Refuse a state that does not fit ``trainer`` before anything is changed.

    Checks the format, the model's parameter names and shapes, the optimizer's param groups,
    the scheduler, the participants (class, monsters, experience), the rules, the roller and
    the history: a mismatch is reported in one message, and the trainer stays as it was.
    """
    from .dice import DiceRoller
    from .history import History
    from .rules import SavingThrow

    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not an rtt_edu checkpoint: {_describe(state)}; expected format {CHECKPOINT_FORMAT!r}")
    missing = [k for k in ("model", "optimizer", "scheduler", "master", "history") if k not in state]
    if missing:
        raise CheckpointError(bad_value("checkpoint", sorted(state), f"the keys {missing} as well"))
    problems = _model_problems(trainer.model, state["model"]) + _optimizer_problems(trainer.optimizer,
                                                                                   state["optimizer"])
    has_scheduler = trainer.scheduler is not None
    if has_scheduler != (state["scheduler"] is not None):
        problems.append(f"this trainer has scheduler={'a scheduler' if has_scheduler else 'None'} but the checkpoint "
                        f"{'has none' if has_scheduler else 'holds a scheduler state'}")
    master, names = state["master"], state.get("participants")
    here = [type(p).__name__ for p in trainer.master.participants]
    if not isinstance(master, dict) or not isinstance(master.get("participants"), list):
        problems.append("the game master's state is malformed")
    elif names is not None and names != here:
        problems.append(f"the checkpoint's participants are {names} but this trainer has {here} "
                        "(build it with the same character_class, monsters and use_xp_system)")
    elif len(master["participants"]) != len(here):
        problems.append(f"the checkpoint has {len(master['participants'])} participant states, this trainer {len(here)}")
    if problems:
        raise CheckpointError("the checkpoint does not fit this trainer: " + "; ".join(problems))
    try:
        SavingThrow.from_dict(master["rules"])
        DiceRoller().load_state_dict(master["roller"])
        History.from_dict(state["history"])
        guard = trainer.master.guard
        if guard is not None and master.get("guard"):
            type(guard)().load_state_dict(master["guard"])     # a dry run on a fresh guard
    except (RollToTrainError, TypeError, KeyError) as exc:
        raise CheckpointError(f"the checkpoint's game state is malformed ({type(exc).__name__}: {exc})") from None


def load_trainer_state(trainer, state) -> None:
    """Check ``state`` against ``trainer`` (:func:`check_trainer_state`), then restore every part."""
    from .history import History
    check_trainer_state(trainer, state)
    if not state["master"].get("guard"):     # saved under another on_nonfinite policy: fresh tallies
        state = {**state, "master": {**state["master"], "guard": None}}
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.master.load_state_dict(state["master"])
    trainer.master.history = History.from_dict(state["history"])
    trainer.master.last_record = trainer.history.steps[-1] if len(trainer.history) else None
    trainer.rules = trainer.master.rules


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


def _optimizer_problems(optimizer, saved) -> list:
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), Mapping):
        return ["the optimizer state is not an optimizer.state_dict()"]
    here = [len(g["params"]) for g in optimizer.param_groups]
    try:
        there = [len(g["params"]) for g in saved["param_groups"]]
    except (TypeError, KeyError):
        return ["the optimizer's param_groups are malformed"]
    if here != there:
        return [f"the optimizer has param groups of sizes {here} here and {there} in the file"]
    return []
