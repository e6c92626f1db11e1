"""rtt_edu.errors: one error base, each error's second base, and the one-line check ``require``."""
import ast
import importlib
import inspect
import pathlib
import re

import pytest
import torch

import rtt_edu
from rtt_edu import errors
from rtt_edu.errors import (
    MAX_SHOWN,
    CheckpointError,
    CheckpointWriteError,
    DiceError,
    NonFiniteTrainingError,
    RollToTrainError,
    RollToTrainTypeError,
    bad_value,
    check_type,
    require,
)

ROOT = pathlib.Path(rtt_edu.__file__).parent

#: each error whose callers catch something besides RollToTrainError → what they catch (its second base).
SECOND_BASES = {
    RollToTrainError: ValueError,                 # every error about a bad value is a ValueError, as before
    RollToTrainTypeError: TypeError,              # a value of the wrong type
    NonFiniteTrainingError: RuntimeError,         # training that cannot go on
    CheckpointWriteError: OSError,                # a file the operating system would not write
}


def _error_classes(module) -> list:
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseException) and not issubclass(cls, Warning) and cls.__module__ == module.__name__]


def test_every_error_in_errors_is_a_rolltotrainerror():
    found = _error_classes(errors)
    assert len(found) >= 7
    for cls in found:
        assert issubclass(cls, RollToTrainError), cls


@pytest.mark.parametrize("cls,second", SECOND_BASES.items(), ids=lambda c: c.__name__)
def test_each_error_keeps_the_base_its_callers_catch(cls, second):
    assert issubclass(cls, RollToTrainError) and issubclass(cls, second)
    with pytest.raises(second):
        raise cls("x=1: expected 2")


def _defined_errors() -> list:
    """(module, class name) of every public exception class defined in the package, found in the source:
    a class whose base's name ends in Error or Exception (private ones, ``_Name``, never leave their module)."""
    found = []
    for path in ROOT.rglob("*.py"):
        parts = ("rtt_edu",) + path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                names = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                if any(re.search(r"(Error|Exception)$", n) for n in names):
                    found.append((module, node.name))
    return found


def test_every_public_error_the_package_defines_is_a_rolltotrainerror():
    found = _defined_errors()
    assert ("rtt_edu.cli", "UsageError") in found and ("rtt_edu.errors", "DiceError") in found
    for module, name in found:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, RollToTrainError), f"{module}.{name} escapes `except RollToTrainError`"


def test_except_rolltotrainerror_catches_a_divergence():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    optimizer = torch.optim.SGD([w], lr=0.1)
    handle = rtt_edu.attach(optimizer, "plain", seed=0, on_nonfinite="raise")
    w.grad = torch.tensor([float("nan")])
    with pytest.raises(RollToTrainError) as err:
        optimizer.step()
    assert isinstance(err.value, NonFiniteTrainingError) and isinstance(err.value, RuntimeError)
    assert w.item() == 1.0                                     # refused before the update
    handle.remove()


# --- require: one line per check ----------------------------------------------------------------

def test_require_returns_the_value_when_the_check_holds():
    lr = 0.1
    assert require(0.0 <= lr, "lr", lr, "a learning rate >= 0") is lr


def test_require_names_the_argument_and_quotes_the_value_in_the_error_asked_for():
    with pytest.raises(RollToTrainError) as err:
        require(False, "lr", -1, "a learning rate >= 0")
    assert type(err.value) is RollToTrainError and str(err.value) == "lr=-1: expected a learning rate >= 0"
    with pytest.raises(DiceError, match=r"^notation='2d0': expected dice with at least 2 sides$"):
        require(False, "notation", "2d0", "dice with at least 2 sides", DiceError)
    with pytest.raises(TypeError, match=r"^rules=3: expected a SavingThrow$"):
        require(False, "rules", 3, "a SavingThrow", RollToTrainTypeError)


def test_require_quotes_only_a_short_prefix_of_a_huge_value():
    with pytest.raises(CheckpointError) as err:
        require(False, "path", "x" * 10_000_000, "a short path", CheckpointError)
    message = str(err.value)
    assert len(message) < MAX_SHOWN + 100 and "(10,000,000 characters)" in message
    assert message == bad_value("path", "x" * 10_000_000, "a short path")


def test_check_type_is_a_type_error_and_a_rolltotrainerror_and_refuses_bool_for_int():
    assert check_type("sides", 20, int, "an integer") == 20
    for bad in ("20", True, 2.5):
        with pytest.raises(RollToTrainTypeError, match=r"^sides=.*: expected an integer$") as err:
            check_type("sides", bad, int, "an integer")
        assert isinstance(err.value, TypeError) and isinstance(err.value, RollToTrainError)
    assert check_type("flag", True, bool, "True or False") is True
