"""Checkpoint files: the format, written atomically, read without ever running code from them.

This module is the file format and its I/O alone. What a trainer puts in a checkpoint, and how
a load is checked against a trainer before anything changes, is :mod:`rtt_edu.trainer`'s.

Writing (:func:`save_state`, through :func:`rtt_edu.atomic.atomic_write`): the bytes go to a
temporary file in the target's folder, are flushed to disk (``fsync``), and only then renamed
over the target. A crash, a full disk or a read-only folder leaves the previous file as it was;
a failure is a :class:`~rtt_edu.atomic.CheckpointWriteError` naming the checkpoint.

Reading (:func:`load_state`): ``torch.load(..., weights_only=True)`` accepts tensors and plain
data (dicts, lists, tuples, numbers, strings) only, so a file crafted to run code when unpickled
is refused before any of its code runs. Every failure (missing, empty, truncated, foreign,
unsafe) is a :class:`~rtt_edu.errors.CheckpointError` that names the file.

What a trainer checkpoint holds (``RollToTrain.state_dict()``)::

    format          "rtt_edu.checkpoint/1"
    model           model.state_dict()            weights and buffers
    optimizer       optimizer.state_dict()        moments, step counts, param groups
    optimizer_type  the optimizer's class name ("AdamW"), checked on load
    scheduler       scheduler.state_dict() | None
    scheduler_type  the scheduler's class name | None, checked on load
    master          the game master: step, epoch, rules, dice roller, participants
                    (class, monsters, experience), non-finite guard
    participants    the participants' class names, checked on load
    history         History.to_dict()
    rng             torch's global RNG (the CPU's, CUDA's where present) when the file was
                    written: what dropout and DataLoader(shuffle=True) draw from
    position        None between train() calls; mid-epoch, {"epoch", "batches" done this
                    epoch, "rng_epoch_start": torch's CPU RNG before the epoch's loader began}

Files without ``optimizer_type``, ``scheduler_type``, ``rng`` or ``position`` (written before
these existed) still load; the checks that need them are skipped.
"""
from __future__ import annotations

import collections
import os
import pickle
import re
from collections.abc import Mapping

import torch

from .atomic import CheckpointWriteError, atomic_write, check_path  # noqa: F401  (also importable from here)
from .errors import CheckpointError, bad_value

CHECKPOINT_FORMAT = "rtt_edu.checkpoint/1"

# What torch.load(weights_only=True) reads back: plain values, containers, tensors.
_PLAIN = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.Size, torch.dtype, torch.device)
_CONTAINERS = (dict, collections.OrderedDict, list, tuple, set, frozenset)


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
        raise CheckpointError(f"path={path!r}: not an rtt_edu checkpoint: {describe(state)}; "
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


def describe(state) -> str:
    """What a loaded object is, in words, for an error that refuses it as a checkpoint."""
    if isinstance(state, dict):
        keys = sorted(map(str, state))[:8]
        if keys and all(isinstance(v, torch.Tensor) for v in state.values()):
            return (f"it holds {len(state)} tensors ({keys}...), like a bare model.state_dict(); "
                    "load that with model.load_state_dict(torch.load(path, weights_only=True))")
        return f"format={state.get('format')!r}, keys {keys}"
    return f"it holds a {type(state).__name__}"
