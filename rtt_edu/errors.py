"""The library's errors and warnings, and its one way to check an argument.

Every error the library raises on purpose is a :class:`RollToTrainError` (the command line's
``UsageError`` too), so ``except RollToTrainError`` catches them all. ``RollToTrainError`` is also
a ``ValueError``, so code that already catches ``ValueError`` keeps working; the errors that were
something else first keep that as a second base::

    RollToTrainError(ValueError)                             a bad value
    ├── DiceError, RulesError, PanelClosedError
    ├── CheckpointError                                      a checkpoint that cannot be written or read
    │   └── CheckpointWriteError(CheckpointError, OSError)
    ├── RollToTrainTypeError(RollToTrainError, TypeError)    a value of the wrong type
    ├── NonFiniteTrainingError(RollToTrainError, RuntimeError)
    └── rtt_edu.cli.UsageError                               a command line that cannot be carried out

Messages name the argument and quote the bad value, or a short prefix of it: :func:`shown` quotes at
most :data:`MAX_SHOWN` characters and says how long the rest was, so a 10 MB string or a
100,000-deep dict in a shared config gives a message of a few lines. A check is one line, as
``torch.optim`` writes its own (``if not 0.0 <= lr: raise ValueError(...)``)::

    lr = require(math.isfinite(lr) and lr >= 0, "lr", lr, "a finite learning rate >= 0")
    level = check_type("level", level, int, "a level from 1 to 20")
"""


class RollToTrainError(ValueError):
    """Base class of every error rtt_edu raises on purpose; also a ``ValueError`` (a bad value)."""


class DiceError(RollToTrainError):
    """Bad dice notation or dice arguments (``"2d0"``, advantage with disadvantage, ...)."""


class RulesError(RollToTrainError):
    """A saving-throw rule that cannot be built (bad DC, bad band multiplier, ...)."""


class CheckpointError(RollToTrainError):
    """A checkpoint that cannot be written or read: missing, truncated, foreign or unsafe. Names the path."""


class CheckpointWriteError(CheckpointError, OSError):
    """A file could not be written (read-only folder, full disk, ...). Names the target path.

    Also an ``OSError``, so code that catches the operating system's error keeps working.
    """


class PanelClosedError(RollToTrainError):
    """A panel (or its run) asked to train after ``close()`` removed its dice: make a new panel instead."""


class RollToTrainTypeError(RollToTrainError, TypeError):
    """A value of the wrong type (a string where a number is asked for). Also a ``TypeError``."""


class NonFiniteTrainingError(RollToTrainError, RuntimeError):
    """Training produced NaN or inf and could not recover (or was told to raise at once).

    Also a ``RuntimeError``, as it was before it joined :class:`RollToTrainError`.
    """


class NegativeDriftWarning(UserWarning):
    """A rule whose expected multiplier is <= 0: on average this rule climbs the loss."""


class ZeroLearningRateWarning(UserWarning):
    """A param group with learning rate 0 and nothing scheduled to raise it: no step changes its weights."""


class ConcurrentTrainingWarning(RuntimeWarning):
    """Two ``RollToTrain.train()`` calls overlap in two threads of one process. Dropout and shuffled
    loaders draw from torch's one global RNG, so neither run is repeatable (the dice are not affected)."""


#: the most characters of a bad value a message quotes (then "…" and the value's length).
MAX_SHOWN = 200
_MAX_DEPTH = 8        # nested containers shown; deeper ones are "..."


def shown(value, limit: int = MAX_SHOWN) -> str:
    """``repr(value)``, or its first ``limit`` characters followed by ``… (N characters)`` / ``… (N items)``.

    Containers are walked only as far as the prefix needs (at most ``_MAX_DEPTH`` levels), so a huge or
    deeply nested value costs no more to quote than a short one and never hits the recursion limit.
    """
    text = _prefix(value, limit + 1, 0)
    if len(text) <= limit:
        return text
    size = ""
    if isinstance(value, (str, bytes)):
        size = f" ({len(value):,} characters)"
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        size = f" ({len(value):,} items)"
    return text[:limit] + "…" + size


def _prefix(value, limit: int, depth: int) -> str:
    """At least the first ``limit`` characters of ``repr(value)`` (exactly it when shorter)."""
    limit = max(limit, 1)
    if isinstance(value, (str, bytes)):
        return repr(value[:limit])[:limit] if len(value) > limit else repr(value)
    brackets = {list: "[]", tuple: "()", dict: "{}", set: "{}", frozenset: "{}"}.get(type(value))
    if brackets is None:
        try:
            return repr(value)[:limit]
        except RecursionError:                 # a nested subclass of dict or list, say
            return f"<{type(value).__name__} nested too deep to show>"
    if depth >= _MAX_DEPTH:
        return brackets[0] + "..." + brackets[1]
    if not value:
        return repr(value)
    parts, used = [], 1
    items = value.items() if isinstance(value, dict) else value
    for item in items:
        if isinstance(value, dict):
            key, item = item
            part = _prefix(key, limit - used, depth + 1) + ": " + _prefix(item, limit - used, depth + 1)
        else:
            part = _prefix(item, limit - used, depth + 1)
        parts.append(part)
        used += len(part) + 2
        if used > limit:                       # longer than the prefix asked for: the rest is not walked
            return brackets[0] + ", ".join(parts) + ", ..."
    tail = "," if type(value) is tuple and len(value) == 1 else ""
    return brackets[0] + ", ".join(parts) + tail + brackets[1]


def bad_value(name, value, expected):
    """The library's one message format: ``name=value: expected ...``, the value :func:`shown` (a short prefix)."""
    return f"{name}={shown(value)}: expected {expected}"


def require(ok: bool, name: str, value, expected: str, error: type = RollToTrainError):
    """``value`` when ``ok``, else ``error(bad_value(name, value, expected))``: a check in one line.

    ``ok`` is the condition the value must meet, written out at the call, as ``torch.optim`` writes
    ``if not 0.0 <= lr``; ``error`` is :class:`RollToTrainError` or one of its subclasses. Every
    argument is evaluated before the check, so each must be cheap and safe to compute for a good
    value too (check a value's type with :func:`check_type` first).
    """
    if not ok:
        raise error(bad_value(name, value, expected))
    return value


def check_type(name, value, types, expected):
    """``value`` when it is an instance of ``types``, else :class:`RollToTrainTypeError` naming ``name``.

    ``bool`` is refused where ``int`` is asked for: ``True`` is not a die size.
    """
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise RollToTrainTypeError(bad_value(name, value, expected))
    if not isinstance(value, types):
        raise RollToTrainTypeError(bad_value(name, value, expected))
    return value
