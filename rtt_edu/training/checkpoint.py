"""Checkpoints: what a trainer's file holds, written atomically, read without ever running code
from it, and checked in full against the trainer that loads it before anything changes.

    state = trainer_state(trainer)          # RollToTrain.state_dict()
    save_state(state, path); state = load_state(path)
    load_trainer_state(trainer, state)      # RollToTrain.load_state_dict(): check_state, then apply

Writing (:func:`save_state`, through :func:`rtt_edu.atomic.atomic_write`): the bytes go to a
temporary file in the target's folder, are flushed to disk (``fsync``), and only then renamed
over the target. A crash, a full disk or a read-only folder leaves the previous file as it was;
a failure is a :class:`~rtt_edu.atomic.CheckpointWriteError` naming the checkpoint.

Reading (:func:`load_state`): ``torch.load(..., weights_only=True)`` accepts tensors and plain
data (dicts, lists, tuples, numbers, strings) only, so a file crafted to run code when unpickled
is refused before any of its code runs. Every failure (missing, empty, truncated, foreign,
unsafe) is a :class:`~rtt_edu.errors.CheckpointError` that names the file.

What a trainer checkpoint holds (``RollToTrain.state_dict()``)::

    format          "rtt_edu.checkpoint/2": the format's version number after the slash
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
    history         history_to_dict(history, columns=True) (:mod:`rtt_edu.training.history_file`)
    rng             torch's global RNG (the CPU's, CUDA's where present) when the file was
                    written: what dropout and DataLoader(shuffle=True) draw from
    position        None between train() calls; mid-epoch, {"epoch", "batches" done this
                    epoch, "rng_epoch_start": torch's CPU RNG before the epoch's loader began}

Versions: this release writes version 2 (:data:`CHECKPOINT_VERSION`) and reads versions 1 and 2.
A file of a later version is refused, naming the version found, the versions this release reads
and what to do (update rtt_edu); a file of no version rtt_edu writes is refused as not a
checkpoint.

version 1   ``"rtt_edu.checkpoint/1"``, loaded through the migration below. ``optimizer_type``,
            ``scheduler_type``, ``setup``, ``rng`` and ``position`` are optional: where one is
            missing, the check that needs it is skipped, torch's RNG is left as it is, and the
            next ``train()`` starts a new epoch. Its history may be rows
            (``history_to_dict(history)``). One dice stream rolls the save and the
            participants, whatever the trainer was built with.
version 2   the layout above. A game state without ``table_roller`` is a run built with
            ``roller=``, and it loads only into a trainer built that way (the refusal says so).

Migration from version 1 (:func:`upgraded_state`): a version-1 game state without
``table_roller`` loads as it is into a trainer built with ``roller=`` (one stream): the run goes
on as it would have. Into a trainer built with ``seed=`` the saved stream goes on as the save's
die, exactly where it stopped, and the participants' stream starts from ``table_seed(n)``, ``n``
the next 63 random bits of a copy of the saved stream: the same file always resumes the same way,
with the participants rolling from a stream of their own from then on. A version-1 state that has
``table_roller`` is in version 2's layout already. A file saved after the migration is version 2.
"""
from __future__ import annotations

import collections
import copy
import math
import os
import pickle
import random
import re
from collections.abc import Mapping

import torch

from rtt_edu.atomic import atomic_write, check_path
from rtt_edu.engine.history import History
from rtt_edu.engine.tensors import optimizer_params
from rtt_edu.engine.turns import table_seed
from rtt_edu.errors import CheckpointError, RollToTrainError, bad_value
from rtt_edu.game.dice import DiceRoller
from rtt_edu.training.history_file import history_from_dict, history_to_dict

#: the version this release writes; it reads every version from :data:`OLDEST_VERSION` to this one
CHECKPOINT_VERSION = 2
OLDEST_VERSION = 1
_PREFIX = "rtt_edu.checkpoint/"
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
    returned as written, of any version read: :func:`upgraded_state` migrates it.
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
        raise CheckpointError(f"path={path!r}: not a PyTorch checkpoint, or a corrupted one "
                              f"({_first_line(exc)})") from None
    except Exception as exc:   # truncated zip, a text file, a pickle of another protocol, ...
        raise CheckpointError(f"path={path!r}: not a readable PyTorch checkpoint: truncated, corrupted or another "
                              f"kind of file ({type(exc).__name__}: {_first_line(exc)})") from None
    try:
        version(state)
    except CheckpointError as exc:
        raise CheckpointError(f"path={path!r}: {exc}") from None
    return state


def version(state) -> int:
    """The format version of a checkpoint ``state`` (``"rtt_edu.checkpoint/2"``: 2), if this
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


# --- a trainer's state: what it saves, and a load checked in full before it is applied -------

def trainer_state(trainer) -> dict:
    """What ``trainer`` (a :class:`~rtt_edu.training.trainer.RollToTrain`) saves: the layout in
    this module's docstring."""
    master, scheduler, position = trainer.master, trainer.scheduler, trainer._position
    if position is not None:
        position = {**position, "rng_epoch_start": position["rng_epoch_start"].clone()}
    return {"format": CHECKPOINT_FORMAT, "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(), "optimizer_type": type(trainer.optimizer).__name__,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scheduler_type": type(scheduler).__name__ if scheduler is not None else None,
            "master": master.state_dict(), "participants": [type(p).__name__ for p in master.participants],
            "setup": [_setup(p) for p in master.participants],
            "history": history_to_dict(trainer.history, columns=True), "rng": global_rng_state(),
            "position": position}


def load_trainer_state(trainer, state) -> None:
    """Load ``state`` into ``trainer``: :func:`check_state` first (a state that does not fit raises
    :class:`CheckpointError` and changes nothing), then :func:`_apply_state`."""
    _apply_state(trainer, check_state(trainer, state))


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
    """``state`` as a checkpoint of this release's version (:data:`CHECKPOINT_VERSION`), through
    one migration per version (:data:`_MIGRATIONS`); a state of this version is returned as it
    is, one of a later version or none is refused (:func:`version`).
    ``two_streams``: whether the game master that loads it rolls the participants' dice from a
    stream of their own (built with ``seed=``) or everything from one roller (``roller=``).
    ``state`` itself is not changed."""
    for number in range(version(state), CHECKPOINT_VERSION):
        state = _MIGRATIONS[number](state, two_streams)
    return state


def _from_version_1(state: dict, two_streams: bool) -> dict:
    """Version 1 to 2 (see the module docstring): a game state without ``table_roller`` was
    written when the save and the participants rolled from one stream. Into a game master with one
    stream it loads as it is; into one with two, the saved stream stays the save's, and the
    participants' stream starts from ``table_seed(n)``, ``n`` the next 63 random bits of a copy of
    the saved stream (so the same file always resumes the same way)."""
    state = {**state, "format": f"{_PREFIX}2"}
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
        history = history_from_dict(saved, keep=own.keep)
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
        set_global_rng(state["rng"])
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
            problems.append(f"model[{key!r}] has shape {tuple(own[key].shape)} here and {tuple(theirs.shape)} "
                            "in the file")
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
                           "(build it with the same character_class, monsters and experience)"]
    if len(saved["participants"]) != len(here):
        return problems + [f"the checkpoint has {len(saved['participants'])} participant states, "
                           f"this trainer {len(here)}"]
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
              if name == "participants" or (hasattr(value, "load_state_dict") and name not in _NOT_LOADED)}
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


#: a game master's parts with a state of their own that its state does not hold (no dry-run copy)
_NOT_LOADED = {"scheduler", "history"}

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


def global_rng_state() -> dict:
    """torch's global RNG: the CPU's, and every CUDA device's where CUDA is already in use."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def set_global_rng(rng) -> None:
    """Set torch's global RNG to a :func:`global_rng_state` (states are CPU byte tensors, wherever
    loaded): a checkpoint's load, and a resumed epoch's replay of its shuffle, are the one place
    rtt_edu sets global RNG state (see :mod:`rtt_edu.training.trainer`)."""
    torch.set_rng_state(rng["cpu"].cpu())
    cuda = rng.get("cuda")
    if cuda and torch.cuda.is_available():
        count = torch.cuda.device_count()
        for device, value in enumerate(cuda[:count]):
            torch.cuda.set_rng_state(value.cpu(), device)
