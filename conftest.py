"""nbval's output check for the lessons, with a stated tolerance for the numbers that come out of training.

A lesson cell tagged ``nbval-check-output`` must print what the committed notebook holds. Exact
results (seeded rolls, exact probabilities, counts, rational optima) are the same on every machine,
digit for digit. Results of float training are not: PyTorch picks its kernels by CPU (AVX-512, AVX2,
or its plain ones under ``ATEN_CPU_CAPABILITY=default``), and so does MKL, so the sums are added
in another order and a loss printed as 0.707 on one CPU is 0.708 on another.

A checked cell whose output comes from float training carries a second tag, ``rtt-check-approx``.
In such a cell each decimal number may differ from the committed one by at most
:data:`LAST_DIGIT_UNITS` units in its last printed digit (0.707 against 0.708 passes, 0.707 against
0.710 fails). Everything else stays exact: the text around the numbers, how many decimals each
number has, and every number without a decimal point (counts, steps, seeds). Between PyTorch's
AVX-512, AVX2 and plain kernels the lessons' numbers were measured at most one unit apart; a real
change (lesson 10 at another learning rate) moves them by far more, and the check fails
(``tests/test_notebook_checks.py``).

A number that a last bit can move by more than that (a chaotic run) is not checked at all: it
belongs in a cell without ``nbval-check-output``.

This file is the repository's root conftest, so pytest applies it to ``notebooks/`` and ``tests/``
alike; the lessons folder itself holds only the course.
"""
from __future__ import annotations

import copy
import functools
import re
from decimal import Decimal

APPROX_TAG = "rtt-check-approx"
# How far a decimal number in a cell tagged rtt-check-approx may move, in units of its last printed
# digit. Kernels were measured one unit apart; two leave room for a rounding step on each side.
LAST_DIGIT_UNITS = 2

# A number as the lessons print it: an optional sign, digits, optional decimals, optional exponent.
NUMBER = re.compile(r"[-+]?\d+(?:\.(?P<decimals>\d+))?(?:[eE](?P<exponent>[-+]?\d+))?")


def align_numbers(reference: str, output: str, units: int = LAST_DIGIT_UNITS) -> str:
    """``output`` with each number that is within tolerance of ``reference``'s spelt as there.

    The two texts are compared number by number, in order. A decimal number of ``output`` is
    replaced by the ``reference``'s when both have the same number of decimals and the same
    exponent form and ``|a - b| <= units * 10 ** (exponent - decimals)``; integers are never
    replaced. So ``align_numbers(reference, output) == reference`` exactly when the two agree to
    the tolerance, and whatever still differs is the real difference. Texts with a different count
    of numbers come back unchanged.
    """
    ref_numbers = list(NUMBER.finditer(reference))
    out_numbers = list(NUMBER.finditer(output))
    if len(ref_numbers) != len(out_numbers):
        return output
    pieces, last = [], 0
    for ref, out in zip(ref_numbers, out_numbers):
        pieces.append(output[last:out.start()])
        pieces.append(ref.group() if _within(ref, out, units) else out.group())
        last = out.end()
    pieces.append(output[last:])
    return "".join(pieces)


def numbers_agree(reference: str, output: str, units: int = LAST_DIGIT_UNITS) -> bool:
    """Whether ``output`` is ``reference`` up to the tolerance of :func:`align_numbers`."""
    return align_numbers(reference, output, units) == reference


def _within(ref: re.Match, out: re.Match, units: int) -> bool:
    if ref.group() == out.group():
        return True
    decimals = ref.group("decimals")
    if decimals is None or out.group("decimals") is None or len(decimals) != len(out.group("decimals")):
        return False                                  # integers exact; the printed precision is kept
    if (ref.group("exponent") is None) != (out.group("exponent") is None):
        return False
    step = Decimal(1).scaleb(int(ref.group("exponent") or 0) - len(decimals))
    return abs(Decimal(out.group()) - Decimal(ref.group())) <= units * step


def align_outputs(test: list, ref: list, units: int = LAST_DIGIT_UNITS) -> list:
    """A copy of a cell's new outputs with the tolerated numbers spelt as in the committed ones.

    Streams are paired by name (stdout, stderr); rich outputs by MIME type, in order, as nbval
    pairs them. Images and other non-text data are left alone.
    """
    expected = {}
    for output in ref:
        for key, text in _texts(output):
            expected.setdefault(key, []).append(text)
    aligned, seen = copy.deepcopy(test), {}
    for output in aligned:
        for key, text in _texts(output):
            index = seen[key] = seen.get(key, -1) + 1
            if index < len(expected.get(key, ())):
                _put(output, key, align_numbers(expected[key][index], text, units))
    return aligned


def _texts(output):
    if output.get("output_type") == "stream":
        yield ("stream", output.get("name")), output.get("text", "")
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str) and mime.startswith("text/"):
            yield ("data", mime), value


def _put(output, key, text):
    if key[0] == "stream":
        output["text"] = text
    else:
        output["data"][key[1]] = text


def _approx_compare(item, compare, test, ref, skip_compare=None):
    """nbval's comparison of one cell, after the tolerated numbers are aligned."""
    same = compare(align_outputs(test, ref), ref, skip_compare)
    if not same:
        item.comparison_traceback.append(
            f"(cell tagged {APPROX_TAG}: decimal numbers may differ by {LAST_DIGIT_UNITS} units in their last "
            "printed digit; integers and the text around the numbers must match exactly; see conftest.py)")
    return same


def pytest_collection_modifyitems(items):
    """Give every lesson cell tagged rtt-check-approx the tolerant comparison."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:                               # no nbval: no notebook items either
        return
    for item in items:
        if isinstance(item, IPyNbCell) and APPROX_TAG in item.cell.get("metadata", {}).get("tags", []):
            item.compare_outputs = functools.partial(_approx_compare, item, item.compare_outputs)
