"""The library's errors and warnings.

Every error the library raises on bad input is a ``RollToTrainError``, which is also a
``ValueError`` (or a ``TypeError`` for a value of the wrong type), so code that already
catches ``ValueError`` keeps working. Messages name the argument and quote the bad value.
"""


class RollToTrainError(ValueError):
    """Base class of rtt_edu's errors about bad values."""


class DiceError(RollToTrainError):
    """Bad dice notation or dice arguments (``"2d0"``, advantage with disadvantage, ...)."""


class RulesError(RollToTrainError):
    """A saving-throw rule that cannot be built (bad DC, bad band multiplier, ...)."""


class CheckpointError(RollToTrainError):
    """A checkpoint that cannot be written or read: missing, truncated, foreign or unsafe. Names the path."""


class NonFiniteTrainingError(RuntimeError):
    """Training produced NaN or inf and could not recover (or was told to raise at once)."""


class NegativeDriftWarning(UserWarning):
    """A rule whose expected multiplier is <= 0: on average this rule climbs the loss."""


def bad_value(name, value, expected):
    """The library's one message format: ``name=value: expected ...``."""
    return f"{name}={value!r}: expected {expected}"


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
