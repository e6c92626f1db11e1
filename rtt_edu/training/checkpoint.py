"""Checkpoint files: the format, written atomically, read without ever running code from them.

This module is the file format and its I/O alone. What a trainer puts in a checkpoint, and how
a load is checked against a trainer before anything changes, is :mod:`rtt_edu.training.trainer`'s.

Writing (:func:`save_state`, through :func:`rtt_edu.atomic.atomic_write`): the bytes go to a
temporary file in the target's folder, are flushed to disk (``fsync``), and only then renamed
over the target. A crash, a full disk or a read-only folder leaves the previous file as it was;
a failure is a :class:`~rtt_edu.atomic.CheckpointWriteError` naming the checkpoint.

Reading (:func:`load_state`): ``torch.load(..., weights_only=True)`` accepts tensors and plain
data (dicts, lists, tuples, numbers, strings) only, so a file crafted to run code when unpickled
is refused before any of its code runs. Every failure (missing, empty, truncated, foreign,
unsafe) is a :class:`~rtt_edu.errors.CheckpointError` that names the file.

What a trainer checkpoint holds (``RollToTrain.state_dict()``)::

    format          "rtt_edu.training.checkpoint/2": the format's version number after the slash
    model           model.state_dict()            weights and buffers
    optimizer       optimizer.state_dict()        moments, step counts, param groups
    optimizer_type  the optimizer's class name ("AdamW"), checked on load
    scheduler       scheduler.state_dict() | None
    scheduler_type  the scheduler's class name | None, checked on load
    master          the game master: step, epoch, rules, dice roller, participants
                    (class, monsters, experience), non-finite guard; "table_roller", the
                    participants' own dice stream, unless the trainer was built with
                    ``roller=`` (then one stream rolls everything and a trainer built the same
                    way loads the file)
    participants    the participants' class names, checked on load
    setup           how the participants were built (monsters, schedule, chance), checked on load
    history         History.to_dict(columns=True)
    rng             torch's global RNG (the CPU's, CUDA's where present) when the file was
                    written: what dropout and DataLoader(shuffle=True) draw from
    position        None between train() calls; mid-epoch, {"epoch", "batches" done this
                    epoch, "rng_epoch_start": torch's CPU RNG before the epoch's loader began}

Versions. This release writes version 2 (:data:`CHECKPOINT_VERSION`) and reads versions 1 and 2.
A file of a later version is refused, naming the version found, the versions this release reads
and what to do (update rtt_edu); a file of no version rtt_edu ever wrote is refused as not a
checkpoint.

version 1   ``"rtt_edu.training.checkpoint/1"``, every file rtt_edu wrote before version 2. Such files
            still load, through the migration below. The oldest lack ``optimizer_type``,
            ``scheduler_type``, ``setup``, ``rng`` and ``position`` (written before these
            existed): the checks that need them are skipped, torch's RNG is left as it is, and
            the next ``train()`` starts a new epoch. Their history may be rows
            (``History.to_dict()``), read as well.
version 2   the layout above. What changed: a game state without ``table_roller`` is a run
            built with ``roller=``, and it loads only into a trainer built that way (the
            refusal says so).

Migration from version 1 (:func:`rtt_edu.training.trainer.upgraded_state`). The earliest releases rolled
the save and the participants from one dice stream, whatever the trainer was built with, so a
version-1 game state without ``table_roller`` may come from a trainer built with ``seed=``.
Into a trainer built with ``roller=`` (one stream) such a state loads as it is: the run goes on
as it would have. Into a trainer built with ``seed=`` the saved stream goes on as the save's die,
exactly where it stopped, and the participants' stream starts from ``table_seed(n)``, ``n`` the
next 63 random bits of a copy of the saved stream: the same file always resumes the same way.
From then on the run rolls as this release does, and its participants' rolls differ from those
the earlier release would have made (it drew them from the save's stream). A version-1 state
that has ``table_roller`` is in version 2's layout already. A file saved after the migration is
version 2.
"""
from __future__ import annotations

import collections
import os
import pickle
import re
from collections.abc import Mapping

import torch

from rtt_edu.atomic import CheckpointWriteError, atomic_write, check_path  # noqa: F401  (also importable from here)
from rtt_edu.errors import CheckpointError, bad_value

#: the version this release writes; it reads every version from :data:`OLDEST_VERSION` to this one
CHECKPOINT_VERSION = 2
OLDEST_VERSION = 1
_PREFIX = "rtt_edu.training.checkpoint/"
CHECKPOINT_FORMAT = f"{_PREFIX}{CHECKPOINT_VERSION}"

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

def load_state(path, map_location=None) -> dict:
    """Read a file written by :func:`save_state`; never runs code from it.

    Raises :class:`~rtt_edu.errors.CheckpointError` naming ``path`` when the file is missing,
    empty, truncated, not a PyTorch file, holds anything but tensors and plain values, is a
    PyTorch file of another kind (a bare ``model.state_dict()``, another program's dict), or a
    checkpoint of a version this release does not read (see :func:`version`). The state is
    returned as written, of any version read: :func:`rtt_edu.training.trainer.upgraded_state` migrates it.
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
    try:
        version(state)
    except CheckpointError as exc:
        raise CheckpointError(f"path={path!r}: {exc}") from None
    return state


def version(state) -> int:
    """The format version of a checkpoint ``state`` (``"rtt_edu.training.checkpoint/2"``: 2), if this
    release reads it. Otherwise a :class:`~rtt_edu.errors.CheckpointError` that says what was
    found, what this release reads, and what to do."""
    found = state.get("format") if isinstance(state, dict) else None
    number = found[len(_PREFIX):] if isinstance(found, str) and found.startswith(_PREFIX) else ""
    if number.isdigit() and len(number) < 6:
        number = int(number)
        if OLDEST_VERSION <= number <= CHECKPOINT_VERSION:
            return number
        if number > CHECKPOINT_VERSION:
            raise CheckpointError(f"this checkpoint is format version {number} ({found!r}), written by a newer "
                                  f"rtt_edu; this release reads versions {OLDEST_VERSION} to {CHECKPOINT_VERSION}: "
                                  "update rtt_edu (pip install --upgrade rtt_edu) to load it")
    raise CheckpointError(f"not an rtt_edu checkpoint: {describe(state)}; expected a file written by "
                          f"save_checkpoint() (format {CHECKPOINT_FORMAT!r}, or an earlier version down to "
                          f"{_PREFIX}{OLDEST_VERSION})")


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
        shown = state.get("format")
        if isinstance(shown, (str, bytes)) and len(shown) > 60:
            shown = shown[:60] + (b"..." if isinstance(shown, bytes) else "...")
        return f"format={shown!r}, keys {keys}"
    return f"it holds a {type(state).__name__}"
