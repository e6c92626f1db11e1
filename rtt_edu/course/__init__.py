"""The lessons' code, one module per lesson (``rtt_edu.course.lesson00`` ... ``lesson10``).

A lesson's module holds what its notebook calls so that each cell shows only the idea it teaches:

- its set-up (building a figure's data, a long table's layout, the lesson's task and network);
- its self-checks: ``check_...(answer, ...)`` compares an answer with the exact value computed by
  the library and returns a :class:`~rtt_edu.course.checks.Feedback`, one line in a notebook
  (``✔ right: ...`` or ``✘ not yet: ...`` with a hint naming the mistake it sees).

    from rtt_edu.course import lesson02 as c2
    c2.check_mean(0.475, "classroom")        # ✔ right: E[m] = Σ P(m)·m = 0.4750 ...
    c2.check_mean(0.5, "classroom")          # ✘ not yet: 0.5 is not it: that is P(success), ...

:mod:`rtt_edu.course.checks` holds what every check shares: ``Feedback``, ``read_number`` and ``judge``.
"""
