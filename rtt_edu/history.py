"""What happened during training: one record per optimizer step, one per evaluation.

Losses are kept as device tensors while training runs and read back to the host in one batch
when the history is read (``history.steps``, ``history.losses``, plots, JSON): the training
step itself never waits for the device.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields

from .errors import RollToTrainError, bad_value, check_type

FORMAT = "rtt_edu.history/1"


@dataclass
class StepRecord:
    """One optimizer step. ``multiplier`` is the scale actually applied to the update."""
    step: int                      # optimizer steps before this one (0-based)
    epoch: int                     # epoch of this step (0-based; 0 under ``attach``)
    natural: int                   # the kept die face
    total: int                     # natural + every modifier
    multiplier: float              # the scale applied to this step's update
    outcome: str                   # critical_success / success / fail / critical_fail / skipped
    lr: float | None = None        # the learning rate of the first param group before scaling
    loss: float | None = None      # the training loss of this step (mean over its batches)
    rule_multiplier: float | None = None  # the rule's value before classes and monsters changed it
    modifier: int = 0              # everything added to the natural face
    dc: int | None = None          # the difficulty class rolled against
    events: list = field(default_factory=list)  # dicts with "kind" and "message" (and details)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalRecord:
    """One evaluation pass: mean loss over the evaluation data, accuracy for classification."""
    step: int
    epoch: int
    loss: float
    accuracy: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_STEP_FIELDS = {f.name for f in fields(StepRecord)}


class LazyRecords:
    """A list of records whose tensor-valued fields are read back in one batch on access."""

    def __init__(self):
        self._items: list = []
        self._pending: list = []   # (record, field name, 0-dim tensor)

    def append(self, record, **tensors):
        """Add ``record``; each keyword is a field whose value is still a device tensor."""
        for name, value in tensors.items():
            if value is not None:
                self._pending.append((record, name, value.detach() if value.requires_grad else value))
        self._items.append(record)

    def flush(self):
        """Read every pending tensor with one host transfer per device."""
        if not self._pending:
            return
        import torch
        by_device: dict = {}
        for entry in self._pending:
            by_device.setdefault(entry[2].device, []).append(entry)
        for entries in by_device.values():
            values = torch.stack([t.reshape(()).to(torch.float64) for _, _, t in entries]).tolist()
            for (record, name, _), value in zip(entries, values):
                setattr(record, name, value)
        self._pending.clear()

    def list(self) -> list:
        self.flush()
        return self._items

    def __len__(self):
        return len(self._items)


class History:
    """The training history: ``steps`` (a :class:`StepRecord` per optimizer step) and ``evals``."""

    def __init__(self, steps=None, evals=None, meta=None):
        self._steps = LazyRecords()
        for record in steps or []:
            self._steps.append(record)
        self.evals: list = list(evals or [])
        self.meta: dict = dict(meta or {})

    # --- recording --------------------------------------------------------------------------
    def add_step(self, record: StepRecord, loss=None, lr=None) -> None:
        """Append a step; ``loss``/``lr`` may be device tensors, read back later in one batch."""
        self._steps.append(record, loss=loss, lr=lr)

    def add_eval(self, record: EvalRecord) -> None:
        self.evals.append(record)

    # --- reading ----------------------------------------------------------------------------
    @property
    def steps(self) -> list:
        return self._steps.list()

    def __len__(self):
        return len(self._steps)

    def column(self, name: str) -> list:
        """One field of every step record, as a list (``history.column("multiplier")``)."""
        if not isinstance(name, str) or name not in _STEP_FIELDS:
            raise RollToTrainError(bad_value("name", name, f"a StepRecord field, one of {sorted(_STEP_FIELDS)}"))
        return [getattr(r, name) for r in self.steps]

    @property
    def losses(self) -> list:
        return self.column("loss")

    @property
    def multipliers(self) -> list:
        return self.column("multiplier")

    def outcome_counts(self) -> dict:
        counts: dict = {}
        for r in self.steps:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return counts

    def events(self, kind: str | None = None) -> list:
        """``(step, event)`` pairs, optionally only those of one ``kind``."""
        return [(r.step, e) for r in self.steps for e in r.events if kind is None or e.get("kind") == kind]

    def battle_log(self) -> list:
        """Readable lines, one per event: ``"step 42: the Loss Dragon appears ..."``."""
        return [f"step {step}: {event['message']}" for step, event in self.events()]

    def plot(self, ax=None, **kwargs):
        """The loss curve coloured by outcome (see :func:`rtt_edu.plots.plot_history`)."""
        from .plots import plot_history
        return plot_history(self, ax=ax, **kwargs)

    # --- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "meta": self.meta, "steps": [r.to_dict() for r in self.steps],
                "evals": [r.to_dict() for r in self.evals]}

    @classmethod
    def from_dict(cls, data) -> "History":
        """Rebuild a history from :meth:`to_dict`; every field is checked (``steps[3].natural='x'``)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise RollToTrainError(bad_value("format", got, f"a history saved by rtt_edu ({FORMAT!r})"))
        for key, kind in (("steps", list), ("evals", list), ("meta", dict)):
            if key in data and not isinstance(data[key], kind):
                raise RollToTrainError(bad_value(key, data[key], f"a {kind.__name__}"))
        steps = [StepRecord(**_checked(s, f"steps[{i}]", _STEP_CHECKS, StepRecord)) for i, s in enumerate(data.get("steps", []))]
        evals = [EvalRecord(**_checked(e, f"evals[{i}]", _EVAL_CHECKS, EvalRecord)) for i, e in enumerate(data.get("evals", []))]
        return cls(steps, evals, data.get("meta", {}))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> "History":
        check_type("text", text, (str, bytes, bytearray), "a JSON string made by History.to_json()")
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            shown = text if len(text) <= 60 else text[:60] + (b"..." if isinstance(text, (bytes, bytearray)) else "...")
            raise RollToTrainError(f"{bad_value('text', shown, 'JSON made by History.to_json()')} ({exc})") from None
        return cls.from_dict(data)

    def save(self, path) -> None:
        """Write JSON atomically: a temporary file in the same folder, fsync, then a rename."""
        from .checkpoint import atomic_write
        data = self.to_json().encode("utf-8")
        atomic_write(path, lambda fh: fh.write(data), "history")

    @classmethod
    def load(cls, path) -> "History":
        check_type("path", path, (str, os.PathLike), "a file path (str or pathlib.Path)")
        path = os.fspath(path)
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RollToTrainError(bad_value("path", path, f"a history JSON file (this one is not UTF-8 text: {exc})")) from None
        except FileNotFoundError:
            raise RollToTrainError(bad_value("path", path, "an existing history JSON file")) from None
        except IsADirectoryError:
            raise RollToTrainError(bad_value("path", path, "a history JSON file, not a folder")) from None
        try:
            return cls.from_json(text)
        except RollToTrainError as exc:
            raise RollToTrainError(f"path={path!r}: {exc}") from None

    def __eq__(self, other):
        return isinstance(other, History) and _nan_equal(self.to_dict(), other.to_dict())

    def __repr__(self):
        return f"History({len(self)} steps, {len(self.evals)} evals)"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_events(v):
    return isinstance(v, list) and all(isinstance(e, dict) and isinstance(e.get("kind"), str)
                                       and isinstance(e.get("message"), str) for e in v)


# field → (test, what it should be); a field not required has ``None`` allowed or a default.
_INT, _NUM = (_is_int, "an integer"), (_is_number, "a number")
_OPT_NUM = (lambda v: v is None or _is_number(v), "a number or null")
_STEP_CHECKS = {"step": _INT, "epoch": _INT, "natural": _INT, "total": _INT, "multiplier": _NUM,
                "outcome": (lambda v: isinstance(v, str), "an outcome name"), "lr": _OPT_NUM, "loss": _OPT_NUM,
                "rule_multiplier": _OPT_NUM, "modifier": _INT, "dc": (lambda v: v is None or _is_int(v), "an integer or null"),
                "events": (_is_events, "a list of {'kind': str, 'message': str, ...} events")}
_EVAL_CHECKS = {"step": _INT, "epoch": _INT, "loss": _NUM, "accuracy": _OPT_NUM}


def _checked(data, where, checks, record_type) -> dict:
    """``data`` if it is a record with known fields of the right types, else ``RollToTrainError``."""
    if not isinstance(data, dict):
        raise RollToTrainError(bad_value(where, data, "a record (a JSON object)"))
    unknown = sorted(set(data) - set(checks))
    if unknown:
        raise RollToTrainError(bad_value(f"{where} fields", unknown, f"only {sorted(checks)}"))
    missing = [f.name for f in fields(record_type)
               if f.default is MISSING and f.default_factory is MISSING and f.name not in data]
    if missing:
        raise RollToTrainError(bad_value(f"{where} fields", sorted(data), f"the fields {missing} as well"))
    for key, value in data.items():
        test, expected = checks[key]
        if not test(value):
            raise RollToTrainError(bad_value(f"{where}.{key}", value, expected))
    return data


def _nan_equal(a, b):
    """Structural equality in which NaN equals NaN (a NaN loss survives a round trip)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_nan_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_nan_equal(x, y) for x, y in zip(a, b))
    return a == b
