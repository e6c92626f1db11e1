"""Self-checks for the lessons: each compares an answer with the exact value and says what is wrong.

    from rtt_edu import exercises as ex
    ex.check_mean(0.475, "classroom")        # ✔ right: E[m] = Σ P(m)·m = 0.4750 ...
    ex.check_mean(0.5, "classroom")          # ✘ not yet: 0.5 is not it. ... (a hint)

One module per lesson (``lesson01`` ... ``lesson09``), each with its own ``__all__``, on top of
:mod:`~rtt_edu.exercises.base` (``Feedback``, reading an answer, ``judge``). Every check returns
a ``Feedback``: it shows as one line in a notebook, and ``bool(feedback)`` is True only when the
answer is right. Expected values are computed from the library (dice, rules,
:mod:`rtt_edu.science.quadratic`, ...), never typed in. Each check knows the usual mistakes (a percentage
instead of a probability, the chance of failing instead of succeeding, E[m²] instead of the
variance, ...) and names the one it sees.

Every ``lessonNN`` module of this package is imported here and the names in its ``__all__``
re-exported, so a new lesson's module (``lesson00.py``, ``lesson10.py``) needs no line in this
file; :data:`LESSONS` maps each lesson number to its module. Two lessons may not export the same
name.
"""
from __future__ import annotations

import importlib
import pkgutil
import re

from rtt_edu.exercises.base import Feedback, _number, judge  # noqa: F401  (_number: ex._number as before)

__all__ = ["Feedback", "judge", "LESSONS"]

#: lesson number → its module of self-checks (``LESSONS[4].check_sneak_factor``).
LESSONS: dict = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if not re.fullmatch(r"lesson\d\d", _info.name):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    LESSONS[int(_info.name[len("lesson"):])] = _module
    if not hasattr(_module, "__all__"):
        raise ImportError(f"rtt_edu.exercises.{_info.name} has no __all__: list the checks it exports")
    for _name in _module.__all__:
        if _name in __all__ and _name not in ("Feedback", "judge"):
            raise ImportError(f"rtt_edu.exercises.{_info.name} exports {_name!r}, which another lesson exports too")
        globals()[_name] = getattr(_module, _name)
        if _name not in __all__:
            __all__.append(_name)
del _info, _module, _name
