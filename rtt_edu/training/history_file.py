"""A history's two file formats, and their checks: JSON rows, and a checkpoint's columns.

    save_history(history, "history.json")      JSON, written atomically
    history = load_history("history.json")     every field checked (``steps[3].natural='x'``)
    history_to_json(history), history_from_json(text)
    history_to_dict(history, columns=False), history_from_dict(data, keep=None)

Both are made from :meth:`History.state_dict() <rtt_edu.engine.history.History.state_dict>` and
read back through :meth:`History.load_state_dict() <rtt_edu.engine.history.History.load_state_dict>`,
after every field is checked. The ``format`` key says which::

    "rtt_edu.history/1"   JSON's: the kept records as rows ({"step": 0, "natural": 14, ...}), the
                          evals and meta; a bounded history (or one without its first records)
                          adds its bound ("keep") and the run's running totals
    "rtt_edu.history/2"   a checkpoint's: one 1-D tensor per field (ints as int32 where they fit,
                          floats as float64, optional fields with a "none" mask, outcomes as codes
                          into their names, events only for the steps that have any), with the
                          bound and the totals: saved and loaded as raw bytes, far faster than a
                          dict per step

Under ``keep="summary"`` both hold the newest step alone, whose events may still grow after a load
(a long rest at the end of an epoch).
"""
from __future__ import annotations

import json
import os
from dataclasses import MISSING, fields

import torch

from rtt_edu.atomic import atomic_write
from rtt_edu.engine.history import COLUMNS, EvalRecord, History, StepRecord
from rtt_edu.errors import RollToTrainError, bad_value, check_type

ROWS_FORMAT = "rtt_edu.history/1"
COLUMNS_FORMAT = "rtt_edu.history/2"
_DEFAULTS = {f.name: f.default for f in fields(StepRecord) if f.default is not MISSING}


# --- plain data -----------------------------------------------------------------------------

def history_to_dict(history: History, columns: bool = False) -> dict:
    """``history`` as plain data: the kept records as rows (``format`` /1, JSON's), or with
    ``columns=True`` one 1-D tensor per field (``format`` /2, what checkpoints hold)."""
    state = history.state_dict()
    cols = state["columns"]
    data = {"format": COLUMNS_FORMAT if columns else ROWS_FORMAT, "meta": state["meta"]}
    if columns:
        data["columns"] = _pack(cols)
    else:
        data["steps"] = [{**dict(zip(COLUMNS, values)), "events": values[-1] or []} for values in zip(*cols.values())]
    data["evals"] = state["evals"]
    if columns or history.bounded or history.first_kept:
        data["keep"] = state["keep"]
        data["totals"] = state["totals"]
    return data


def history_from_dict(data, keep: str | None = None) -> History:
    """A history from :func:`history_to_dict`'s data, every field checked (``steps[3].natural='x'``).

    ``keep``: the bound to read it under (``"all"``, ``"last:N"``, ``"summary"``), whatever bound it
    was saved with; ``None``: the saved one."""
    if not isinstance(data, dict) or data.get("format") not in (ROWS_FORMAT, COLUMNS_FORMAT):
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise RollToTrainError(bad_value("format", got, f"a history saved by rtt_edu ({ROWS_FORMAT!r})"))
    for key, kind in (("steps", list), ("evals", list), ("meta", dict), ("columns", dict), ("totals", dict)):
        if key in data and not isinstance(data[key], kind):
            raise RollToTrainError(bad_value(key, data[key], f"a {kind.__name__}"))
    saved_keep = data.get("keep", "all")
    if not isinstance(saved_keep, str):
        raise RollToTrainError(bad_value("keep", saved_keep, "'all', 'last:N' or 'summary'"))
    history = History(keep=saved_keep if keep is None else keep)
    evals = [_checked(e, f"evals[{i}]", _EVAL_CHECKS, EvalRecord) for i, e in enumerate(data.get("evals", []))]
    if data["format"] == COLUMNS_FORMAT:
        cols = _checked_columns(data.get("columns", {}))
    else:
        rows = [_checked(s, f"steps[{i}]", _STEP_CHECKS, StepRecord) for i, s in enumerate(data.get("steps", []))]
        cols = {n: [r.get(n, _DEFAULTS.get(n)) for r in rows] for n in COLUMNS}
        cols["events"] = [r.get("events") or None for r in rows]
    totals = data.get("totals")
    if totals is not None:
        _check_totals(totals, len(cols["step"]))
    history.load_state_dict({"meta": data.get("meta", {}), "evals": evals, "columns": cols, "totals": totals})
    return history


# --- JSON files -----------------------------------------------------------------------------

def history_to_json(history: History) -> str:
    return json.dumps(history_to_dict(history), allow_nan=True)


def history_from_json(text) -> History:
    check_type("text", text, (str, bytes, bytearray), "a JSON string made by history_to_json()")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        shown = text if len(text) <= 60 else text[:60] + (b"..." if isinstance(text, (bytes, bytearray)) else "...")
        raise RollToTrainError(f"{bad_value('text', shown, 'JSON made by history_to_json()')} ({exc})") from None
    return history_from_dict(data)


def save_history(history: History, path) -> None:
    """Write ``history`` as JSON atomically: a temporary file in the same folder, fsync, then a rename."""
    check_type("history", history, History, "a rtt_edu History")
    data = history_to_json(history).encode("utf-8")
    atomic_write(path, lambda fh: fh.write(data), "history")


def load_history(path) -> History:
    """Read a file written by :func:`save_history`; every field is checked, a failure names ``path``."""
    check_type("path", path, (str, os.PathLike), "a file path (str or pathlib.Path)")
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RollToTrainError(bad_value("path", path, f"a history JSON file (this one is not UTF-8 text: "
                                                       f"{exc})")) from None
    except FileNotFoundError:
        raise RollToTrainError(bad_value("path", path, "an existing history JSON file")) from None
    except IsADirectoryError:
        raise RollToTrainError(bad_value("path", path, "a history JSON file, not a folder")) from None
    try:
        return history_from_json(text)
    except RollToTrainError as exc:
        raise RollToTrainError(f"path={path!r}: {exc}") from None


# --- the checks of a record -----------------------------------------------------------------

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
                "rule_multiplier": _OPT_NUM, "modifier": _INT,
                "dc": (lambda v: v is None or _is_int(v), "an integer or null"),
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


def _check_totals(totals, rows: int) -> None:
    ok = (_is_int(totals.get("steps")) and totals["steps"] >= rows
          and isinstance(totals.get("outcomes"), dict)
          and all(isinstance(k, str) and _is_int(v) for k, v in totals["outcomes"].items())
          and isinstance(totals.get("multiplier_sum"), list) and len(totals["multiplier_sum"]) == 2
          and all(_is_number(x) for x in totals["multiplier_sum"])
          and isinstance(totals.get("events"), dict) and all(_is_int(v) for v in totals["events"].values()))
    if not ok:
        raise RollToTrainError(bad_value("totals", totals, f"the running totals of a history of at least {rows} steps"))


# --- a checkpoint's columns -----------------------------------------------------------------

#: how a column travels in the columns format: 1-D tensors (None where ``none`` is True)
_INT_COLUMNS = ("step", "epoch", "natural", "total", "modifier")
_OPTIONAL = {"lr": "float64", "loss": "float64", "rule_multiplier": "float64", "dc": "int64"}


def _pack(cols: dict) -> dict:
    """Columns as tensors: ints as int64 (int32 where they fit), floats as float64, optional fields
    with a ``none`` mask, outcomes as codes into their names, events only for the steps that have any."""
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
    events = cols["events"]
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
            shown = (f"<tensor {value.dtype} of shape {tuple(value.shape)}>" if isinstance(value, torch.Tensor)
                     else value)
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
