"""The library's errors and warnings.

Every error the library raises on bad input is a ``RollToTrainError``, which is also a
``ValueError`` (or a ``TypeError`` for a value of the wrong type), so code that already
catches ``ValueError`` keeps working. Messages name the argument and quote the bad value, or a short
prefix of it: :func:`shown` quotes at most :data:`MAX_SHOWN` characters and says how long the rest was,
so a 10 MB string or a 100,000-deep dict in a shared config gives a message of a few lines.
"""


class RollToTrainError(ValueError):
    """Base class of rtt_edu's errors about bad values."""


class DiceError(RollToTrainError):
    """Bad dice notation or dice arguments (``"2d0"``, advantage with disadvantage, ...)."""


class RulesError(RollToTrainError):
    """A saving-throw rule that cannot be built (bad DC, bad band multiplier, ...)."""


class CheckpointError(RollToTrainError):
    """A checkpoint that cannot be written or read: missing, truncated, foreign or unsafe. Names the path."""


class PanelClosedError(RollToTrainError):
    """A panel (or its run) asked to train after ``close()`` removed its dice: make a new panel instead."""


class NonFiniteTrainingError(RuntimeError):
    """Training produced NaN or inf and could not recover (or was told to raise at once)."""


class NegativeDriftWarning(UserWarning):
    """A rule whose expected multiplier is <= 0: on average this rule climbs the loss."""


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


def check_type(name, value, types, expected):
    """Raise ``TypeError`` naming ``name`` unless ``value`` is an instance of ``types``.

    ``bool`` is refused where ``int`` is asked for: ``True`` is not a die size.
    """
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise TypeError(bad_value(name, value, expected))
    if not isinstance(value, types):
        raise TypeError(bad_value(name, value, expected))
    return value


class ZeroLearningRateWarning(UserWarning):
    """A param group with learning rate 0 and nothing scheduled to raise it: no step changes its weights."""


class ConcurrentTrainingWarning(RuntimeWarning):
    """Two ``RollToTrain.train()`` calls overlap in two threads of one process. Dropout and shuffled
    loaders draw from torch's one global RNG, so neither run is repeatable (the dice are not affected)."""
