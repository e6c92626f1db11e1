"""What happened during training: one record per optimizer step, one per evaluation.

Recording a step appends one tuple of its fields, and its loss to a list of their own
(:meth:`History.append_step`); everything else waits until the history is read. The
:class:`StepRecord` objects are made when first read (and cached), and the running totals (steps
per outcome, the compensated sum of the multipliers) are brought up to date when read, or when a
bounded history lets its oldest rows go. A loss or a learning rate may be a device tensor: the
step never waits for the device. Every 1024 steps the tensors waiting are stacked into one on
their device (8 bytes a step), and read back to the host in one transfer when the history is
read (``history.steps``, ``history.losses``, a plot, a file).

This module is the record store alone: a history as plain data is :meth:`History.state_dict`;
its files (JSON, and its part of a checkpoint) are :mod:`rtt_edu.training.history_file`'s, and its
picture is :func:`rtt_edu.views.plots.plot_history`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch

from rtt_edu.errors import RollToTrainError, bad_value, check_type


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


COLUMNS = tuple(f.name for f in fields(StepRecord))      # a StepRecord's fields, in order
ROW = tuple(n for n in COLUMNS if n not in ("loss", "events"))   # a recorded row: the loss and events live apart
_INDEX = {name: i for i, name in enumerate(ROW)}
_LR, _MULTIPLIER, _OUTCOME = _INDEX["lr"], _INDEX["multiplier"], _INDEX["outcome"]
_BEFORE_LOSS = COLUMNS.index("loss")                      # the row fields that come before the loss in a record
_CHUNK = 1024                   # steps between two settlings: device values stacked, old rows dropped


class History:
    """The training history: ``steps`` (a :class:`StepRecord` per optimizer step) and ``evals``.

    A step is recorded as one tuple (:meth:`append_step`) and read back as a :class:`StepRecord`,
    made when first read and cached.

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

    __slots__ = ("max_steps", "evals", "meta", "_rows", "_losses", "_start", "_events", "_open", "_folded",
                 "_outcomes", "_sum", "_carry", "_event_kinds", "_scanned", "_chunks", "_settle_at", "_records",
                 "_records_start")

    def __init__(self, steps=None, evals=None, meta=None, *, max_steps: int | None = None, keep: str | None = None):
        self.max_steps = _bound(max_steps, keep)
        self.evals: list = list(evals or [])
        self.meta: dict = dict(meta or {})
        self._clear()
        for r in steps or []:
            self.append_step(r.step, r.epoch, r.natural, r.total, r.multiplier, r.outcome, r.lr, r.loss,
                             r.rule_multiplier, r.modifier, r.dc, r.events)

    def _clear(self) -> None:
        self._rows: list = []           # a tuple of ROW fields per step: steps _start, _start + 1, ...
        self._losses: list = []         # their losses: floats, None, or device tensors not read back yet
        self._start = 0
        self._events: dict = {}         # step → its events, for the steps before the newest that have any
        self._open = None               # the newest step's events: it takes events until the next step
        self._folded = 0                # the steps before this one are in the totals below
        self._outcomes: dict = {}
        self._sum, self._carry = 0.0, 0.0   # Σ multiplier, compensated (see _neumaier)
        self._event_kinds: dict = {}    # event kind → count, over the steps whose events are final
        self._scanned = 0               # the rows of the steps before this one hold no tensor
        self._chunks: list = []         # (field, steps, float64 tensor): device values not read back yet
        self._settle_at = _CHUNK        # len(_rows) at which _settle runs next
        self._records: list = []        # StepRecords made so far, of steps _records_start, ...
        self._records_start = 0

    # --- recording --------------------------------------------------------------------------
    def append_step(self, step, epoch, natural, total, multiplier, outcome, lr=None, loss=None,
                    rule_multiplier=None, modifier=0, dc=None, events=None) -> None:
        """Record one step: its fields, in :class:`StepRecord`'s order (the one way to add a step).

        ``lr`` and ``loss`` may be detached device tensors: they are read back later, in one batch.
        ``events`` is kept as the very list given, so events added to it until the next step
        belong to this step."""
        rows = self._rows
        if self._open:                  # the previous step's events are final now
            self._close(self._start + len(rows) - 1)
        rows.append((step, epoch, natural, total, multiplier, outcome, lr, rule_multiplier, modifier, dc))
        self._losses.append(loss)
        self._open = events
        if len(rows) >= self._settle_at:
            self._settle()

    def add_eval(self, record: EvalRecord) -> None:
        self.evals.append(record)

    def _close(self, index: int) -> None:
        """Step ``index``'s events are final (the next step came): keep them and count their kinds."""
        events, kinds = self._open, self._event_kinds
        self._events[index] = events
        for e in events:
            kind = e.get("kind")
            kinds[kind] = kinds.get(kind, 0) + 1

    def _settle(self) -> None:
        """Every 1024 steps: a bounded history lets its oldest rows go, and the device values
        waiting are stacked into one tensor per device (no host sync)."""
        keep = self.max_steps
        if keep is not None and len(self._rows) > max(keep, 1):
            self._drop(len(self._rows) - max(keep, 1))      # keep="summary" holds the newest, for last()
        self._stack()
        self._settle_at = len(self._rows) + _CHUNK

    def _drop(self, n: int) -> None:
        """Let the ``n`` oldest rows go, their steps counted in the totals first."""
        self._fold(self._start + n)
        del self._rows[:n]
        del self._losses[:n]
        self._start += n
        start = self._start
        if self._events:
            self._events = {i: e for i, e in self._events.items() if i >= start}
        self._chunks = [ch for ch in self._chunks if ch[1][-1] >= start]
        self._scanned = max(self._scanned, start)

    def _fold(self, upto: int | None = None) -> None:
        """Bring the totals up to step ``upto`` (every step recorded, by default)."""
        rows, start = self._rows, self._start
        new = rows[self._folded - start:len(rows) if upto is None else upto - start]
        if not new:
            return
        outcomes = self._outcomes
        for row in new:
            outcome = row[_OUTCOME]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self._sum, self._carry = _neumaier((row[_MULTIPLIER] for row in new), self._sum, self._carry)
        self._folded += len(new)

    def _stack(self) -> None:
        """Stack the device values of the steps not scanned yet into one float64 tensor per device
        and field: the losses (the usual case: one tensor a step), and tensor learning rates."""
        losses, start, first = self._losses, self._start, self._scanned
        at = [i for i in range(first - start, len(losses))
              if losses[i].__class__ is not float and isinstance(losses[i], torch.Tensor)]
        if at:
            self._stack_field("loss", [start + i for i in at], [losses[i] for i in at])
            for i in at:
                losses[i] = None        # the chunk holds its value now
        rows = self._rows
        at = [i for i in range(first - start, len(rows))
              if rows[i][_LR].__class__ is not float and isinstance(rows[i][_LR], torch.Tensor)]
        if at:
            self._stack_field("lr", [start + i for i in at], [rows[i][_LR] for i in at])
            for i in at:
                rows[i] = rows[i][:_LR] + (None,) + rows[i][_LR + 1:]
        self._scanned = start + len(rows)

    def _stack_field(self, name: str, steps: list, tensors: list) -> None:
        """One chunk ``(name, steps, float64 values)`` per device from the scalar ``tensors`` of ``steps``."""
        if steps[-1] - steps[0] == len(steps) - 1:
            steps = range(steps[0], steps[-1] + 1)   # every step of the stretch: no list of indices to keep
        with torch.no_grad():
            try:                        # one kernel for the lot (one device, one shape: the usual case)
                self._chunks.append((name, steps, torch.stack(tensors).reshape(len(tensors)).to(torch.float64)))
                return
            except RuntimeError:
                pass
            by_device: dict = {}
            for step, t in zip(steps, tensors):
                by_device.setdefault(t.device, []).append((step, t.reshape(()).to(torch.float64)))
            for pairs in by_device.values():
                self._chunks.append((name, [step for step, _ in pairs], torch.stack([t for _, t in pairs])))

    def _flush(self) -> None:
        """Read every device value back, with one host transfer per chunk."""
        self._stack()
        if not self._chunks:
            return
        rows, losses, start = self._rows, self._losses, self._start
        for name, steps, values in self._chunks:
            for i, value in zip(steps, values.tolist()):
                if i < start:
                    continue
                if name == "loss":
                    losses[i - start] = value
                else:
                    rows[i - start] = rows[i - start][:_LR] + (value,) + rows[i - start][_LR + 1:]
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
        return self._start + len(self._rows)

    @property
    def first_kept(self) -> int:
        """The position (over the whole run) of the first kept record: ``steps[0]`` is that step."""
        return self.total_steps - len(self)

    def __len__(self):
        held = len(self._rows)
        return held if self.max_steps is None else min(held, self.max_steps)

    @property
    def steps(self) -> list:
        """The kept step records, oldest first (made on first read and cached)."""
        self._flush()
        count = self.total_steps
        first = count - len(self)
        records = self._records
        if self._records_start < first or not records:
            del records[:first - self._records_start]
            self._records_start = first
        made = self._records_start + len(records)
        if made < count:
            rows, losses, start, events = self._rows, self._losses, self._start, self._events
            for index in range(made, count - 1):
                records.append(_record(rows[index - start], losses[index - start], events.get(index) or []))
            records.append(_record(rows[-1], losses[-1], self._newest_events()))
        return records

    def last(self) -> StepRecord | None:
        """The newest step's record, or ``None`` before any step; cheap on every step (nothing is read
        back from the device: a loss or lr still there is ``None`` in it, and in ``steps`` once read).

        Events appended to its ``events`` until the next step belong to that step and are counted by
        :meth:`event_counts`, whatever is kept. Under ``keep="summary"`` it is made afresh from the
        newest step (no record is kept); after loading a file without that step's fields it is
        ``None`` until the next step."""
        rows = self._rows
        if not rows:
            return None
        records = self._records
        if records and self._records_start + len(records) == self._start + len(rows):
            return records[-1]                 # made already (and final)
        row, loss = rows[-1], self._losses[-1]
        if row[_LR].__class__ is not float and isinstance(row[_LR], torch.Tensor):
            row = row[:_LR] + (None,) + row[_LR + 1:]
        if loss.__class__ is not float and isinstance(loss, torch.Tensor):
            loss = None
        return _record(row, loss, self._newest_events())

    def _newest_events(self) -> list:
        """The newest step's events list, handed out: it stays this step's until the next one comes."""
        if self._open is None:
            self._open = []
        return self._open

    def column(self, name: str) -> list:
        """One field of every kept step record, as a list (``history.column("multiplier")``)."""
        if not isinstance(name, str) or name not in COLUMNS:
            raise RollToTrainError(bad_value("name", name, f"a StepRecord field, one of {sorted(COLUMNS)}"))
        if name == "events":
            return [r.events for r in self.steps]
        self._flush()
        rows, losses = self._rows, self._losses
        if name == "loss":
            return losses[len(losses) - len(self):]
        i = _INDEX[name]
        return [row[i] for row in rows[len(rows) - len(self):]]

    @property
    def losses(self) -> list:
        return self.column("loss")

    @property
    def multipliers(self) -> list:
        return self.column("multiplier")

    def outcome_counts(self) -> dict:
        """How many steps had each outcome, over the whole run (kept records or not)."""
        self._fold()
        return dict(self._outcomes)

    def mean_multiplier(self) -> float | None:
        """The mean applied multiplier over the whole run, ``Σ m / steps`` (``None`` before any step)."""
        self._fold()
        count = self.total_steps
        return (self._sum + self._carry) / count if count else None

    def event_counts(self) -> dict:
        """How many events of each kind were logged, over the whole run."""
        counts = dict(self._event_kinds)
        for e in self._open or ():
            counts[e.get("kind")] = counts.get(e.get("kind"), 0) + 1
        return counts

    def summary(self) -> dict:
        """The running totals of the whole run: steps, outcomes, mean multiplier, event kinds."""
        return {"steps": self.total_steps, "outcomes": self.outcome_counts(), "mean_multiplier": self.mean_multiplier(),
                "events": self.event_counts(), "kept": len(self), "keep": self.keep}

    def events(self, kind: str | None = None) -> list:
        """``(step, event)`` pairs of the kept records, optionally only those of one ``kind``."""
        return [(r.step, e) for r in self.steps for e in r.events if kind is None or e.get("kind") == kind]

    def battle_log(self) -> list:
        """Readable lines, one per event of the kept records: ``"step 42: the Loss Dragon appears ..."``."""
        return [f"step {step}: {event['message']}" for step, event in self.events()]

    def rebound(self, other: History) -> History:
        """``other``'s records and totals under this history's bound (``keep``).

        A bound larger than ``other``'s (or ``"all"``) keeps every record ``other`` holds, and every
        step recorded from then on up to the bound; the records ``other`` did not hold stay counted
        in :attr:`first_kept` and in the totals."""
        history = History(keep=self.keep)
        history.load_state_dict(other.state_dict())
        return history

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The history as plain data (every value read back from the device)::

            keep      "all", "last:N" or "summary"
            meta      the history's ``meta`` dict
            evals     one dict per EvalRecord
            columns   field → list, one entry per kept record (under keep="summary": the newest
                      step alone, whose events may still grow after a load); events are a list
                      or None (none logged)
            totals    {"steps", "outcomes", "multiplier_sum": [sum, carry], "events"}: the run's

        The files (JSON, a checkpoint's columns) are made from it by :mod:`rtt_edu.training.history_file`."""
        self._flush()
        self._fold()
        rows, count = self._rows, self.total_steps
        n = len(self) if self.max_steps != 0 else min(len(rows), 1)
        held = rows[len(rows) - n:]
        columns = {name: list(values) for name, values in zip(ROW, zip(*held))} if held else \
            {name: [] for name in ROW}
        columns["loss"] = self._losses[len(rows) - n:]
        columns = {name: columns[name] for name in COLUMNS[:-1]}       # in a StepRecord's order
        first = count - len(held)
        columns["events"] = [_copied(self._events.get(i)) for i in range(first, count - 1)] + \
            ([_copied(self._open)] if held else [])
        return {"keep": self.keep, "meta": dict(self.meta), "evals": [asdict(e) for e in self.evals],
                "columns": columns,
                "totals": {"steps": count, "outcomes": dict(self._outcomes), "multiplier_sum": [self._sum, self._carry],
                           "events": self.event_counts()}}

    def load_state_dict(self, state: dict) -> None:
        """Take a :meth:`state_dict` (saved under any bound) under this history's own bound.

        A bound smaller than the state's keeps its newest records; a larger one (or ``"all"``)
        keeps all it holds, and the steps it did not hold stay counted in :attr:`first_kept` and
        the totals. Without ``totals`` the state holds every step, and the totals are worked out
        from it. A state read from a file is checked by :mod:`rtt_edu.training.history_file` first;
        here only its shape is (columns of one length, totals of at least as many steps)."""
        columns, totals = state["columns"], state.get("totals")
        n = len(columns["step"])
        lengths = {name: len(columns[name]) for name in COLUMNS}
        if any(length != n for length in lengths.values()):
            raise RollToTrainError(bad_value("state['columns']", lengths, "columns of one length"))
        if totals is not None and totals["steps"] < n:
            raise RollToTrainError(bad_value("state['totals']['steps']", totals["steps"], f"at least {n} steps"))
        rows = list(zip(*(columns[name] for name in ROW)))
        losses = list(columns["loss"])
        events = columns["events"]
        self._clear()
        self.meta = dict(state.get("meta") or {})
        self.evals = [EvalRecord(**e) for e in state.get("evals", ())]
        count = n if totals is None else totals["steps"]
        self._rows, self._losses, self._start = rows, losses, count - n
        for i, e in enumerate(events[:-1]):
            if e:
                self._events[self._start + i] = list(e)
        self._open = list(events[-1]) if n and events[-1] is not None else None
        if totals is None:              # every step is here: the totals are worked out from them
            self._folded = 0
            for e in self._events.values():
                for event in e:
                    self._event_kinds[event["kind"]] = self._event_kinds.get(event["kind"], 0) + 1
        else:
            self._folded = count
            self._outcomes = dict(totals["outcomes"])
            self._sum, self._carry = (float(x) for x in totals["multiplier_sum"])
            self._event_kinds = kinds = dict(totals["events"])
            for e in self._open or ():          # the newest step's events are counted while open
                left = kinds.get(e["kind"], 0) - 1
                if left < 0:
                    raise RollToTrainError(bad_value(f"totals.events[{e['kind'][:40]!r}]", left + 1,
                                                     "a count of at least the newest step's events of that kind"))
                if left:
                    kinds[e["kind"]] = left
                else:
                    del kinds[e["kind"]]
        self._scanned = self._start
        keep = self.max_steps
        if keep is not None and n > max(keep, 1):
            self._drop(n - max(keep, 1))
        self._records_start = self._start
        self._settle_at = len(self._rows) + _CHUNK

    def __eq__(self, other):
        return isinstance(other, History) and _nan_equal(self.state_dict(), other.state_dict())

    def __repr__(self):
        kept = "" if self.max_steps is None and not self.first_kept else f" of {self.total_steps}, keep={self.keep!r}"
        return f"History({len(self)} steps{kept}, {len(self.evals)} evals)"


def _record(row: tuple, loss, events: list) -> StepRecord:
    """A StepRecord from a row, its loss and its events."""
    return StepRecord(*row[:_BEFORE_LOSS], loss, *row[_BEFORE_LOSS:], events)


def _copied(events):
    """A step's events as a list of their own (``None`` when none were logged)."""
    return list(events) if events else None


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


def _neumaier(values, total: float = 0.0, carry: float = 0.0) -> tuple:
    """``(total, carry)`` after adding ``values`` to a compensated sum (Neumaier's): the sum is
    ``total + carry``, exact to about one rounding whatever the number of terms."""
    for v in values:
        t = total + v
        carry += (total - t) + v if abs(total) >= abs(v) else (v - t) + total
        total = t
    return total, carry


def _nan_equal(a, b):
    """Structural equality in which NaN equals NaN (a NaN loss survives a round trip)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_nan_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_nan_equal(x, y) for x, y in zip(a, b))
    return a == b
