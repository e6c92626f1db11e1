"""What happened during training: one record per optimizer step, one per evaluation.

Steps are stored as columns (one list per :class:`StepRecord` field), so recording a step is a
dozen list appends. Losses are kept as device tensors while training runs and read back to the
host in one batch when the history is read (``history.steps``, ``history.losses``, plots, JSON):
the training step itself never waits for the device (every 1024 steps the waiting tensors are
stacked into one, on the device, so they cost 8 bytes a step).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields

import torch

from rtt_edu.atomic import atomic_write
from rtt_edu.errors import RollToTrainError, bad_value, check_type

FORMAT = "rtt_edu.engine.history/1"


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
COLUMNS = tuple(f.name for f in fields(StepRecord))        # the order of a StepRecord's fields
_DEFAULTS = {f.name: f.default for f in fields(StepRecord) if f.default is not MISSING}
_CHUNK = 1024                                               # pending tensors stacked (no sync) in chunks this long


class History:
    """The training history: ``steps`` (a :class:`StepRecord` per optimizer step) and ``evals``.

    Steps are kept column-wise (one list per field, a cheap append per step) and read back as
    :class:`StepRecord` objects, made when first read and cached.

    A long run can bound what is kept::

        History()                      every step record (the default, ``keep="all"``)
        History(max_steps=10_000)      the last 10,000 records (``keep="last:10000"``)
        History(keep="summary")        no records, only the running totals

    Whatever is kept, the running totals cover every step exactly: :meth:`outcome_counts`,
    :meth:`mean_multiplier`, :meth:`event_counts` and :attr:`total_steps`. Everything that reads
    records (``steps``, :meth:`column`, :meth:`events`, :meth:`battle_log`, plots) reads the kept
    ones, and ``len(history)`` counts them: ``total_steps == first_kept + len(history)``, where
    :attr:`first_kept` counts the records dropped, or never held (a history loaded from a file
    that kept fewer, see :meth:`rebound`).

    Under ``keep="summary"`` the newest step is still there for :meth:`last` (its events may grow
    until the next step: a long rest at the end of an epoch), but it is no kept record.
    """

    def __init__(self, steps=None, evals=None, meta=None, *, max_steps: int | None = None, keep: str | None = None):
        self.max_steps = _bound(max_steps, keep)
        self._cols = {name: [] for name in COLUMNS}
        self._start = 0                 # index (over the whole run) of the first stored row
        self._count = 0                 # steps recorded over the whole run
        self._pending: list = []        # (index, field, 0-dim tensor) not yet read back
        self._chunks: list = []         # (indices, fields, stacked float64 tensor): read back on access
        self._records: list = []        # StepRecords made so far, rows [_records_start, ...)
        self._records_start = 0
        self._tail = None               # (index, events list, given StepRecord) of the newest step
        self._newest = None             # keep="summary": the newest step's fields but events (for last())
        self._outcomes: dict = {}
        self._event_kinds: dict = {}
        self._sum, self._carry = 0.0, 0.0   # Σ multiplier, compensated (Neumaier)
        self.evals: list = list(evals or [])
        self.meta: dict = dict(meta or {})
        for record in steps or []:
            self.add_step(record)

    # --- recording --------------------------------------------------------------------------
    def add_step(self, record: StepRecord, loss=None, lr=None) -> None:
        """Append a step; ``loss``/``lr`` may be device tensors, read back later in one batch."""
        r = record
        self.append_step(step=r.step, epoch=r.epoch, natural=r.natural, total=r.total, multiplier=r.multiplier,
                         outcome=r.outcome, lr=r.lr if lr is None else lr, loss=r.loss if loss is None else loss,
                         rule_multiplier=r.rule_multiplier, modifier=r.modifier, dc=r.dc, events=r.events)
        self._tail = (self._tail[0], self._tail[1], record)

    def append_step(self, step, epoch, natural, total, multiplier, outcome, lr=None, loss=None,
                    rule_multiplier=None, modifier=0, dc=None, events=None) -> None:
        """Append a step from its fields (no :class:`StepRecord` is made). ``loss``/``lr`` may be
        device tensors (read back later, in one batch); ``events`` is kept as the very list given,
        so events added to it until the next step still belong to this one."""
        index = self._count
        tail = self._tail
        if tail is not None:
            if tail[1]:
                self._fold_tail()
            elif self.max_steps != 0 and tail[0] >= self._start:
                self._cols["events"][tail[0] - self._start] = None   # no events after all: store nothing
        if self.max_steps != 0:
            if isinstance(lr, torch.Tensor):
                self._pending.append((index, "lr", lr.detach() if lr.requires_grad else lr))
                lr = None
            if isinstance(loss, torch.Tensor):
                self._pending.append((index, "loss", loss.detach() if loss.requires_grad else loss))
                loss = None
            c = self._cols
            c["step"].append(step)
            c["epoch"].append(epoch)
            c["natural"].append(natural)
            c["total"].append(total)
            c["multiplier"].append(multiplier)
            c["outcome"].append(outcome)
            c["lr"].append(lr)
            c["loss"].append(loss)
            c["rule_multiplier"].append(rule_multiplier)
            c["modifier"].append(modifier)
            c["dc"].append(dc)
            c["events"].append(events or None)          # an empty list is stored as None (see _fold_tail)
            if len(self._pending) >= _CHUNK:
                self._stack_pending()
            if self.max_steps is not None and index - self._start >= 2 * self.max_steps + _CHUNK:
                self._trim()
        else:                                             # no records: the newest step's fields, for last()
            if isinstance(loss, torch.Tensor) and loss.requires_grad:
                loss = loss.detach()
            self._newest = (step, epoch, natural, total, multiplier, outcome, lr, loss, rule_multiplier, modifier, dc)
        self._count = index + 1
        outcomes = self._outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        total_m = self._sum
        s = total_m + multiplier                          # Neumaier: Σ exact to about one rounding
        if abs(total_m) >= abs(multiplier):
            self._carry += (total_m - s) + multiplier
        else:
            self._carry += (multiplier - s) + total_m
        self._sum = s
        self._tail = (index, events, None)

    def add_eval(self, record: EvalRecord) -> None:
        self.evals.append(record)

    def _fold_tail(self) -> None:
        """The newest step's events are final once the next step comes: count them, store them."""
        if self._tail is None:
            return
        index, events, _ = self._tail
        if events:
            for e in events:
                kind = e.get("kind")
                self._event_kinds[kind] = self._event_kinds.get(kind, 0) + 1
            if index >= self._start and self.max_steps != 0:
                self._cols["events"][index - self._start] = events
        self._tail = None

    def _stack_pending(self) -> None:
        """Stack the pending tensors per device into one float64 tensor each: memory, no host sync."""
        by_device: dict = {}
        for entry in self._pending:
            by_device.setdefault(entry[2].device, []).append(entry)
        for entries in by_device.values():
            tensors = [t for _, _, t in entries]
            try:                          # one kernel for the lot (same shape and dtype: the usual case)
                values = torch.stack(tensors).reshape(len(tensors)).to(torch.float64)
            except RuntimeError:
                values = torch.stack([t.reshape(()).to(torch.float64) for t in tensors])
            self._chunks.append(([i for i, _, _ in entries], [f for _, f, _ in entries], values))
        self._pending.clear()

    def _trim(self) -> None:
        """Drop the stored rows beyond the last ``max_steps`` (amortised: done once per ``max_steps`` steps)."""
        drop = len(self._cols["step"]) - self.max_steps
        for col in self._cols.values():
            del col[:drop]
        self._start += drop
        self._chunks = [ch for ch in self._chunks if ch[0][-1] >= self._start]
        self._pending = [e for e in self._pending if e[0] >= self._start]

    def _flush(self) -> None:
        """Read every pending tensor back with one host transfer per device and chunk."""
        if self._pending:
            self._stack_pending()
        if not self._chunks:
            return
        start, tail = self._start, self._tail
        for indices, names, values in self._chunks:
            for i, name, value in zip(indices, names, values.tolist()):
                if i >= start:
                    self._cols[name][i - start] = value
                if tail is not None and tail[2] is not None and i == tail[0]:
                    setattr(tail[2], name, value)        # the record the caller holds sees it too
        self._chunks.clear()

    # --- reading ----------------------------------------------------------------------------
    @property
    def bounded(self) -> bool:
        """True when only some step records are kept (``max_steps`` or ``keep``)."""
        return self.max_steps is not None

    @property
    def keep(self) -> str:
        """``"all"``, ``"last:N"`` or ``"summary"``."""
        return "all" if self.max_steps is None else "summary" if self.max_steps == 0 else f"last:{self.max_steps}"

    @property
    def total_steps(self) -> int:
        """Steps recorded over the whole run, kept or not."""
        return self._count

    @property
    def first_kept(self) -> int:
        """The position (over the whole run) of the first kept record: ``steps[0]`` is that step."""
        return self._count - len(self)

    @property
    def steps(self) -> list:
        """The kept step records, oldest first (made on first read and cached)."""
        self._flush()
        first, records = self.first_kept, self._records
        if self._records_start < first:
            del records[:first - self._records_start]
        if self._records_start < first or not records:
            self._records_start = first
        made = self._records_start + len(records)
        if made < self._count:
            c, offset, tail = self._cols, self._start, self._tail
            last_row = self._count - 1 - offset
            for row in range(made - offset, self._count - offset):
                record = StepRecord(*(c[n][row] for n in COLUMNS))
                if record.events is None:
                    is_tail = tail is not None and tail[0] == row + offset and tail[1] is not None
                    record.events = tail[1] if is_tail else []
                    if row == last_row:            # the newest: events may still be added to it
                        self._open_newest(row, record.events)
                records.append(record)
        return records

    def last(self) -> StepRecord | None:
        """The newest step's record, or ``None`` before any step; cheap on every step (nothing is read
        back from the device: a loss or lr still there is ``None`` in it, and in ``steps`` once read).

        Events appended to its ``events`` until the next step belong to that step and are counted by
        :meth:`event_counts`, whatever is kept. Under ``keep="summary"`` it is made afresh from the
        newest step (no record is kept); after loading a file without that step's fields (a summary
        saved as JSON) it is ``None`` until the next step."""
        if self.max_steps == 0:
            return self._summary_last()
        if not len(self):
            return None
        index = self._count - 1
        if self._records and self._records_start + len(self._records) == self._count:
            return self._records[-1]           # made already (and final)
        row = index - self._start
        c = self._cols
        events = c["events"][row]
        if events is None:
            tail = self._tail
            events = tail[1] if tail is not None and tail[0] == index and tail[1] is not None else []
            self._open_newest(row, events)
        return StepRecord(*(c[n][row] for n in COLUMNS[:-1]), events)

    def _summary_last(self) -> StepRecord | None:
        """``keep="summary"``: a record of the newest step, its events list the open one."""
        newest = self._newest
        if newest is None:
            return None
        index, tail = self._count - 1, self._tail
        if tail is None or tail[0] != index or tail[1] is None:
            events = []
            self._tail = (index, events, None if tail is None or tail[0] != index else tail[2])
        else:
            events = tail[1]
        values = [None if isinstance(v, torch.Tensor) else v for v in newest]
        return StepRecord(*values, events)

    def _open_newest(self, row: int, events: list) -> None:
        """The newest step's events list, handed out: it stays this step's until the next one comes."""
        self._cols["events"][row] = events
        index = self._start + row
        if self._tail is None or self._tail[0] != index:
            self._tail = (index, events, None)
        elif self._tail[1] is not events:
            self._tail = (index, events, self._tail[2])

    def __len__(self):
        held = self._count - self._start      # rows from _start on (none under keep="summary")
        return held if self.max_steps is None else min(held, self.max_steps)

    def _kept(self, name: str) -> list:
        self._flush()
        col = self._cols[name]
        return col[len(col) - len(self):]

    def column(self, name: str) -> list:
        """One field of every kept step record, as a list (``history.column("multiplier")``)."""
        if not isinstance(name, str) or name not in _STEP_FIELDS:
            raise RollToTrainError(bad_value("name", name, f"a StepRecord field, one of {sorted(_STEP_FIELDS)}"))
        if name == "events":
            return [r.events for r in self.steps]
        return list(self._kept(name))

    @property
    def losses(self) -> list:
        return self.column("loss")

    @property
    def multipliers(self) -> list:
        return self.column("multiplier")

    def outcome_counts(self) -> dict:
        """How many steps had each outcome, over the whole run (kept records or not)."""
        return dict(self._outcomes)

    def mean_multiplier(self) -> float | None:
        """The mean applied multiplier over the whole run, ``Σ m / steps`` (``None`` before any step)."""
        return (self._sum + self._carry) / self._count if self._count else None

    def event_counts(self) -> dict:
        """How many events of each kind were logged, over the whole run."""
        counts = dict(self._event_kinds)
        if self._tail is not None and self._tail[1]:
            for e in self._tail[1]:
                counts[e.get("kind")] = counts.get(e.get("kind"), 0) + 1
        return counts

    def summary(self) -> dict:
        """The running totals of the whole run: steps, outcomes, mean multiplier, event kinds."""
        return {"steps": self._count, "outcomes": self.outcome_counts(), "mean_multiplier": self.mean_multiplier(),
                "events": self.event_counts(), "kept": len(self), "keep": self.keep}

    def events(self, kind: str | None = None) -> list:
        """``(step, event)`` pairs of the kept records, optionally only those of one ``kind``."""
        return [(r.step, e) for r in self.steps for e in r.events if kind is None or e.get("kind") == kind]

    def battle_log(self) -> list:
        """Readable lines, one per event of the kept records: ``"step 42: the Loss Dragon appears ..."``."""
        return [f"step {step}: {event['message']}" for step, event in self.events()]

    def plot(self, ax=None, **kwargs):
        """The loss curve coloured by outcome (see :func:`rtt_edu.views.plots.plot_history`)."""
        from rtt_edu.views.plots import plot_history      # the one deliberate lazy import: matplotlib only when plotting
        return plot_history(self, ax=ax, **kwargs)

    def rebound(self, other: "History") -> "History":
        """``other``'s records and totals under this history's bound (``keep``).

        A bound larger than ``other``'s (or ``"all"``) keeps every record ``other`` holds, and every
        step recorded from then on up to the bound; the records ``other`` did not hold stay counted
        in :attr:`first_kept` and in the totals."""
        data = other.to_dict(columns=True)
        data["keep"] = self.keep
        return History.from_dict(data)

    # --- JSON ------------------------------------------------------------------------------
    def to_dict(self, columns: bool = False) -> dict:
        """Plain data: the kept records as rows (``format`` /1, JSON's), or ``columns=True``: one 1-D
        tensor per field (``format`` /2, what checkpoints hold: saved and loaded as raw bytes, far
        faster than a dict per step). A bounded history, or one without its first records
        (:attr:`first_kept`), adds its bound and running totals. Under ``keep="summary"`` the
        columns hold the newest step alone (its events may still grow after a load: a long rest)."""
        data = {"format": FORMAT_COLUMNS if columns else FORMAT, "meta": self.meta}
        if columns:                   # straight from the columns: no StepRecord is made
            if self.max_steps == 0:
                cols, events = self._newest_columns()
            else:
                cols = {name: self._kept(name) for name in COLUMNS if name != "events"}
                events = self._kept("events")
            tail = self._tail
            if events and tail is not None and tail[1] and tail[0] == self._count - 1:
                events[-1] = tail[1]  # the newest step's events, still open
            data["columns"] = _pack(cols, events)
        else:
            data["steps"] = [r.to_dict() for r in self.steps]
        data["evals"] = [r.to_dict() for r in self.evals]
        if self.bounded or columns or self.first_kept:
            data["keep"] = self.keep
            data["totals"] = {"steps": self._count, "outcomes": dict(self._outcomes),
                              "multiplier_sum": [self._sum, self._carry], "events": self.event_counts()}
        return data

    def _newest_columns(self) -> tuple:
        """``keep="summary"``: (columns, events) of the newest step alone, or empty ones."""
        newest = self._newest
        if newest is None:
            return {name: [] for name in COLUMNS if name != "events"}, []
        values = [v.item() if isinstance(v, torch.Tensor) else v for v in newest]
        self._newest = tuple(values)       # read back now: last() shows them from here on
        return {name: [value] for name, value in zip(COLUMNS, values)}, [None]

    @classmethod
    def from_dict(cls, data) -> "History":
        """Rebuild a history from :meth:`to_dict`; every field is checked (``steps[3].natural='x'``)."""
        if not isinstance(data, dict) or data.get("format") not in (FORMAT, FORMAT_COLUMNS):
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise RollToTrainError(bad_value("format", got, f"a history saved by rtt_edu ({FORMAT!r})"))
        for key, kind in (("steps", list), ("evals", list), ("meta", dict), ("columns", dict), ("totals", dict)):
            if key in data and not isinstance(data[key], kind):
                raise RollToTrainError(bad_value(key, data[key], f"a {kind.__name__}"))
        keep = data.get("keep", "all")
        if not isinstance(keep, str):
            raise RollToTrainError(bad_value("keep", keep, "'all', 'last:N' or 'summary'"))
        history = cls(meta=data.get("meta", {}), keep=keep)
        history.evals = [EvalRecord(**_checked(e, f"evals[{i}]", _EVAL_CHECKS, EvalRecord))
                         for i, e in enumerate(data.get("evals", []))]
        if data["format"] == FORMAT_COLUMNS:
            cols = _checked_columns(data.get("columns", {}))
        else:
            rows = [_checked(s, f"steps[{i}]", _STEP_CHECKS, StepRecord) for i, s in enumerate(data.get("steps", []))]
            cols = {n: [r.get(n, _DEFAULTS.get(n)) for r in rows] for n in COLUMNS}
            cols["events"] = [r.get("events") or None for r in rows]
        history._load_columns(cols, data.get("totals"))
        return history

    def _load_columns(self, cols: dict, totals) -> None:
        """Take checked columns (and the run's totals, or work them out from the columns)."""
        n = len(cols["step"])
        if totals is None:
            kinds: dict = {}
            for events in cols["events"]:
                for e in events or ():
                    kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
            outcomes: dict = {}
            for o in cols["outcome"]:
                outcomes[o] = outcomes.get(o, 0) + 1
            totals = {"steps": n, "outcomes": outcomes, "multiplier_sum": list(_neumaier(cols["multiplier"])),
                      "events": kinds}
        else:
            _check_totals(totals, n)
        kept = n if self.max_steps is None else min(n, self.max_steps)
        self._cols = {name: list(cols[name][n - kept:]) for name in COLUMNS}
        self._count = totals["steps"]
        self._start = self._records_start = self._count - kept      # the steps before: counted, not held
        self._outcomes = dict(totals["outcomes"])
        self._sum, self._carry = (float(x) for x in totals["multiplier_sum"])
        self._event_kinds = dict(totals["events"])
        events = None
        if self.max_steps == 0 and n:     # keep="summary": the newest step's fields, for last()
            self._newest = tuple(cols[name][-1] for name in COLUMNS[:-1])
            events = cols["events"][-1] or []
        elif kept:
            events = self._cols["events"][-1]
            if events is None:
                events = self._cols["events"][-1] = []
        if events is not None:            # the newest step takes events until the next one: it is the tail again
            for e in events:
                left = self._event_kinds.get(e["kind"], 0) - 1
                if left < 0:
                    raise RollToTrainError(bad_value(f"totals.events[{e['kind'][:40]!r}]", left + 1,
                                                     "a count of at least the newest step's events of that kind"))
                if left:
                    self._event_kinds[e["kind"]] = left
                else:
                    del self._event_kinds[e["kind"]]
            self._tail = (self._count - 1, events, None)

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
        kept = "" if self.max_steps is None and not self.first_kept else f" of {self._count}, keep={self.keep!r}"
        return f"History({len(self)} steps{kept}, {len(self.evals)} evals)"


def _bound(max_steps, keep):
    """``max_steps`` from ``max_steps=`` or ``keep=`` (``None``: keep everything; 0: the totals only)."""
    if max_steps is not None:
        check_type("max_steps", max_steps, int, "a number of step records to keep (>= 1), or None")
        if max_steps < 1:
            raise RollToTrainError(bad_value("max_steps", max_steps, "a number of step records to keep (>= 1), "
                                                                     "or None (keep='summary' keeps none)"))
        if keep not in (None, f"last:{max_steps}"):
            raise RollToTrainError(f"max_steps={max_steps!r} and keep={keep!r}: pass one or the other")
        return max_steps
    if keep is None or keep == "all":
        return None
    if keep == "summary":
        return 0
    if isinstance(keep, str) and keep.startswith("last:") and keep[5:].isdigit() and int(keep[5:]) >= 1:
        return int(keep[5:])
    raise RollToTrainError(bad_value("keep", keep, "'all', 'last:N' (N >= 1) or 'summary'"))


FORMAT_COLUMNS = "rtt_edu.engine.history/2"


def _neumaier(values) -> tuple:
    """(sum, carry) of ``values``, compensated: the sum is ``sum + carry`` to about one rounding."""
    total, carry = 0.0, 0.0
    for v in values:
        t = total + v
        carry += (total - t) + v if abs(total) >= abs(v) else (v - t) + total
        total = t
    return total, carry


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


#: how a column travels in the columns format: 1-D tensors (None where ``none`` is True)
_INT_COLUMNS = ("step", "epoch", "natural", "total", "modifier")
_FLOAT_COLUMNS = ("multiplier",)
_OPTIONAL = {"lr": "float64", "loss": "float64", "rule_multiplier": "float64", "dc": "int64"}


def _pack(cols: dict, events: list) -> dict:
    """Columns as tensors: ints as int64, floats as float64, optional fields with a ``none`` mask,
    outcomes as codes into their names, events only for the steps that have any."""
    packed = {name: torch.tensor(cols[name], dtype=_small_int(cols[name])) for name in _INT_COLUMNS}
    packed["multiplier"] = torch.tensor(cols["multiplier"], dtype=torch.float64)
    for name, dtype in _OPTIONAL.items():
        col = cols[name]
        none = [v is None for v in col]
        values = [(0 if dtype == "int64" else 0.0) if v is None else v for v in col] if any(none) else col
        packed[name] = {"values": torch.tensor(values, dtype=_small_int(values) if dtype == "int64" else torch.float64),
                        "none": torch.tensor(none, dtype=torch.bool)}
    names = sorted(set(cols["outcome"]))
    code = {n: i for i, n in enumerate(names)}
    packed["outcome"] = {"names": names, "codes": torch.tensor([code[o] for o in cols["outcome"]],
                                                               dtype=torch.int8 if len(names) < 128 else torch.int64)}
    rows = [i for i, e in enumerate(events) if e]
    packed["events"] = {"rows": torch.tensor(rows, dtype=torch.int64), "lists": [events[i] for i in rows]}
    return packed


def _small_int(values):
    """int32 where every value fits (die faces, modifiers), else int64: the file stays small."""
    return torch.int32 if all(-2 ** 31 <= v < 2 ** 31 for v in values) else torch.int64


def _checked_columns(packed) -> dict:
    """Lists from :func:`_pack`'s tensors, after checking their kinds, dtypes and lengths."""

    def tensor(value, where, kinds):
        if not isinstance(value, torch.Tensor) or value.ndim != 1 or value.dtype not in kinds:
            shown = f"<tensor {value.dtype} of shape {tuple(value.shape)}>" if isinstance(value, torch.Tensor) else value
            raise RollToTrainError(bad_value(where, shown, f"a 1-D tensor of {' or '.join(map(str, kinds))}"))
        return value

    def part(value, where, keys):
        if not isinstance(value, dict) or any(k not in value for k in keys):
            raise RollToTrainError(bad_value(where, _keys(value), f"a dict with keys {list(keys)}"))
        return value

    missing = [n for n in COLUMNS if n not in packed]
    unknown = sorted(set(packed) - set(COLUMNS))
    if missing or unknown:
        raise RollToTrainError(bad_value("columns", sorted(packed), f"the columns {list(COLUMNS)}"))
    ints, floats = (torch.int64, torch.int32), (torch.float64, torch.float32)
    cols = {name: tensor(packed[name], f"columns.{name}", ints).tolist() for name in _INT_COLUMNS}
    cols["multiplier"] = tensor(packed["multiplier"], "columns.multiplier", floats).tolist()
    for name, dtype in _OPTIONAL.items():
        entry = part(packed[name], f"columns.{name}", ("values", "none"))
        values = tensor(entry["values"], f"columns.{name}.values", ints if dtype == "int64" else floats).tolist()
        none = tensor(entry["none"], f"columns.{name}.none", (torch.bool,))
        if len(none) != len(values):
            raise RollToTrainError(bad_value(f"columns.{name}.none", len(none), f"{len(values)} flags"))
        cols[name] = [None if n else v for v, n in zip(values, none.tolist())] if bool(none.any()) else values
    outcome = part(packed["outcome"], "columns.outcome", ("names", "codes"))
    names = outcome["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RollToTrainError(bad_value("columns.outcome.names", names, "a list of outcome names"))
    codes = tensor(outcome["codes"], "columns.outcome.codes", (*ints, torch.int8))
    if len(codes) and not (0 <= int(codes.min()) and int(codes.max()) < len(names)):
        raise RollToTrainError(bad_value("columns.outcome.codes", f"{int(codes.min())}..{int(codes.max())}",
                                         f"codes into the {len(names)} names"))
    cols["outcome"] = [names[c] for c in codes.tolist()]
    n = len(cols["step"])
    lengths = {name: len(col) for name, col in cols.items()}
    if len(set(lengths.values())) > 1:
        raise RollToTrainError(bad_value("columns", lengths, "columns of one length"))
    sparse = part(packed["events"], "columns.events", ("rows", "lists"))
    rows = tensor(sparse["rows"], "columns.events.rows", ints).tolist()
    lists = sparse["lists"]
    if not isinstance(lists, list) or len(lists) != len(rows) or any(not 0 <= r < n for r in rows):
        raise RollToTrainError(bad_value("columns.events", f"{len(rows)} rows, "
                                         f"{len(lists) if isinstance(lists, list) else lists!r} lists",
                                         f"one list of events per row, rows in 0..{n - 1}"))
    cols["events"] = [None] * n
    for row, events in zip(rows, lists):
        if not _is_events(events):
            raise RollToTrainError(bad_value(f"steps[{row}].events", events, _STEP_CHECKS["events"][1]))
        cols["events"][row] = events
    return cols


def _keys(value):
    return sorted(value) if isinstance(value, dict) else type(value).__name__


def _check_totals(totals, rows: int) -> None:
    ok = (_is_int(totals.get("steps")) and totals["steps"] >= rows
          and isinstance(totals.get("outcomes"), dict)
          and all(isinstance(k, str) and _is_int(v) for k, v in totals["outcomes"].items())
          and isinstance(totals.get("multiplier_sum"), list) and len(totals["multiplier_sum"]) == 2
          and all(_is_number(x) for x in totals["multiplier_sum"])
          and isinstance(totals.get("events"), dict) and all(_is_int(v) for v in totals["events"].values()))
    if not ok:
        raise RollToTrainError(bad_value("totals", totals, f"the running totals of a history of at least {rows} steps"))
