"""What a panel's run is: a dataclass config with a comment on every field, checked eagerly.

A config is plain JSON (strings, numbers, booleans, lists, null), so a teacher can hand one to a
class: ``TrainingPanel.from_config(cfg)`` rebuilds the same data, the same initial weights and the
same dice, and replays the same steps. Every check names the key and quotes the bad value (a short
prefix of it, :func:`rtt_edu.errors.shown`)::

    TrainingConfig.from_dict({"lr": -1})      # RollToTrainError: lr=-1: expected a finite learning rate > 0

A config comes from a file someone else wrote, so it is built or refused at once: a value nested
deeper than :data:`MAX_DEPTH` levels or holding more than :data:`MAX_ITEMS` items is refused before
it is read (a real config is a few levels deep: ``rules`` → ``success`` → ``margin`` → ``scale``), a
rule's die and multipliers are bounded (:mod:`rtt_edu.game.rules`), and so are the steps a panel replays
(:func:`rtt_edu.views.widgets.run.max_replay_steps`).

The menus (datasets, activations, optimizers, rules, classes, monsters) are dispatch tables read
from the modules that define them.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from rtt_edu.data.toy import DATASETS
from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value, require, shown
from rtt_edu.game.rules import PRESETS, SavingThrow
from rtt_edu.models.mlp import ACTIVATIONS
from rtt_edu.party.classes import CLASSES
from rtt_edu.party.monsters import MONSTERS
from rtt_edu.training.optimizers import OPTIMIZERS

__all__ = ["TrainingConfig", "CompareConfig", "LR_CHOICES", "class_choices", "monster_choices", "rules_from_config",
           "rules_to_config"]

#: learning rates on a log scale, for the panels' slider.
LR_CHOICES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: the deepest nesting a config value may have (lists and dicts inside it), and the most items in all.
MAX_DEPTH = 8
MAX_ITEMS = 10_000


def class_choices() -> dict:
    """Character class name → class (``rtt_edu.party.classes.CLASSES``), e.g. ``{"wizard": Wizard, ...}``."""
    return dict(CLASSES)


def monster_choices() -> dict:
    """Monster name → class (``rtt_edu.party.monsters.MONSTERS``), e.g. ``{"dragon": LossDragon, ...}``."""
    return dict(MONSTERS)


def rules_from_config(value) -> SavingThrow:
    """A config's ``rules`` (a preset name or ``SavingThrow.to_dict()``) as a SavingThrow."""
    if isinstance(value, SavingThrow):
        return value
    if isinstance(value, str):
        require(value in PRESETS, "rules", value, _rules_expected())
        return SavingThrow.preset(value)
    if isinstance(value, dict):
        try:
            return SavingThrow.from_dict(value)
        except (TypeError, ValueError) as exc:
            raise RollToTrainError(f"rules={shown(value)}: not a valid rule ({exc})") from None
    raise RollToTrainTypeError(bad_value("rules", value, _rules_expected()))


def _rules_expected() -> str:
    return f"a preset name, one of {sorted(PRESETS)}, or a dict from SavingThrow.to_dict()"


def rules_to_config(rule: SavingThrow):
    """The preset's name when ``rule`` is exactly that preset, else the rule's dict."""
    if rule.name in PRESETS and SavingThrow.preset(rule.name) == rule:
        return rule.name
    return rule.to_dict()


# --- checks: key → (test, what is expected) ------------------------------------------------------

def _int_in(lo, hi):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi,
            f"an integer from {lo} to {hi}")


def _number_in(lo, hi, what):
    return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi,
            what)


def _one_of(table_fn, what):
    return (lambda v: isinstance(v, str) and v in table_fn(), what)


def _monster_list(v):
    names = monster_choices()
    return isinstance(v, list) and all(isinstance(m, str) and m in names for m in v) and len(set(v)) == len(v)


_CHECKS = {
    "dataset": _one_of(lambda: DATASETS, f"a dataset name, one of {sorted(DATASETS)}"),
    "noise": _number_in(0, 2, "a noise standard deviation from 0 to 2"),
    "points": _int_in(20, 20000),
    "hidden": _int_in(1, 256),
    "layers": _int_in(0, 6),
    "activation": _one_of(lambda: ACTIVATIONS, f"an activation, one of {sorted(ACTIVATIONS)}"),
    "optimizer": _one_of(lambda: OPTIMIZERS, f"an optimizer, one of {sorted(OPTIMIZERS)}"),
    "lr": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= 100,
           "a finite learning rate > 0 (at most 100)"),
    "intelligence": _int_in(1, 30),
    "character_class": (lambda v: v is None or (isinstance(v, str) and v in class_choices()),
                        "None or a class name (rtt_edu.party.classes.CLASSES)"),
    "class_level": _int_in(1, 20),
    "monsters": (_monster_list, "a list of distinct monster names (rtt_edu.party.monsters.MONSTERS)"),
    "encounter_chance": _number_in(0, 1, "a probability from 0 to 1"),
    "experience": (lambda v: isinstance(v, bool), "True or False"),
    "xp_scale": _number_in(0, 1000, "an XP multiplier from 0 to 1000"),
    "seed": _int_in(0, 2 ** 63 - 1),
    "seeds": _int_in(1, 1024),
    "steps": _int_in(0, 1_000_000),
    "horizon": _int_in(1, 100_000),
}


_TOO_DEEP = f"a JSON value nested at most {MAX_DEPTH} levels deep (this one is deeper than {MAX_DEPTH})"
_TOO_MANY = f"a JSON value of at most {MAX_ITEMS:,} items in all"


def _check_shape(key, value) -> None:
    """Refuse a value nested deeper than MAX_DEPTH or with more than MAX_ITEMS items, walking at most that much."""
    stack, items = [(value, 1)], 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (list, tuple, dict)):
            continue
        require(depth <= MAX_DEPTH, key, value, _TOO_DEEP)
        items += len(node)
        require(items <= MAX_ITEMS, key, value, _TOO_MANY)
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def _menu(key) -> str:
    """What a refused ``character_class`` or ``monsters`` lists after what it expected: the names to choose from."""
    choices = {"character_class": class_choices, "monsters": monster_choices}.get(key)
    return f": {sorted(choices())}" if choices else ""


def _validate(cls, data: dict) -> dict:
    """``data`` checked against ``cls``'s fields: unknown keys and bad values raise, naming them."""
    require(isinstance(data, dict), "config", data, f"a dict with keys among {sorted(f.name for f in fields(cls))}")
    names = [f.name for f in fields(cls)]
    for key in data:
        require(key in names, "config key", key, f"one of {sorted(names)}")
    for key, value in data.items():
        _check_shape(key, value)
        if key == "rules":
            rules_from_config(value)
            continue
        test, expected = _CHECKS[key]
        require(test(value), key, value, expected + _menu(key))
    return data


class _Config:
    def __post_init__(self):
        if isinstance(getattr(self, "monsters", None), tuple):
            self.monsters = list(self.monsters)
        self.rules = rules_to_config(rules_from_config(self.rules))   # a preset name or a plain dict
        _validate(type(self), asdict(self))

    def to_dict(self) -> dict:
        """JSON-ready: the rule as a preset name or a dict, every other field as it is."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """Check ``data`` (missing keys take their defaults) and build the config."""
        data = _validate(cls, data)
        return cls(**{k: (list(v) if isinstance(v, list) else v) for k, v in data.items()})

    def replace(self, **changes):
        """A checked copy with some fields changed."""
        return type(self).from_dict({**self.to_dict(), **changes})


@dataclass
class TrainingConfig(_Config):
    """One dice run and its plain twin on a toy dataset (the :class:`TrainingPanel`'s settings)."""
    dataset: str = "moons"            # a name in rtt_edu.data.DATASETS
    noise: float = 0.1                # std of the Gaussian jitter added to every point
    points: int = 400                 # points generated; a quarter are held out for testing
    hidden: int = 16                  # width of every hidden layer
    layers: int = 2                   # hidden layers (0: a linear model)
    activation: str = "relu"          # a name in rtt_edu.models.ACTIVATIONS
    optimizer: str = "sgd"            # a name in rtt_edu.training.optimizers.OPTIMIZERS (sgd, momentum, adam)
    lr: float = 0.1                   # learning rate of both runs; the dice scale it each step
    rules: object = "classroom"       # a SavingThrow preset name, or SavingThrow.to_dict()
    intelligence: int = 10            # ability score 1..30; its modifier adds to every save
    character_class: str | None = None  # a name in rtt_edu.party.classes.CLASSES, or None
    class_level: int = 1              # the class's level, 1..20
    monsters: list = field(default_factory=list)  # names in rtt_edu.party.monsters.MONSTERS that may appear
    encounter_chance: float = 0.02    # chance per step, while none is present, that a monster appears
    experience: bool = True           # XP and levels: the proficiency bonus adds to every save
    xp_scale: float = 1.0             # multiplies every XP award (larger: faster levels)
    seed: int = 0                     # the data, the initial weights (shared by both runs) and the dice
    horizon: int = 300                # a changed setting re-trains to this step (or to the step reached)


@dataclass
class CompareConfig(_Config):
    """Many seeds of dice and plain runs (the :class:`ComparePanel`'s settings)."""
    dataset: str = "moons"            # a name in rtt_edu.data.DATASETS
    noise: float = 0.1                # std of the Gaussian jitter added to every point
    points: int = 400                 # points generated per seed; a quarter are held out
    hidden: int = 16                  # width of every hidden layer
    layers: int = 2                   # hidden layers (0: a linear model)
    activation: str = "relu"          # a name in rtt_edu.models.ACTIVATIONS
    optimizer: str = "sgd"            # sgd, momentum or adam (rtt_edu.training.optimizers.OPTIMIZERS)
    lr: float = 0.1                   # learning rate of every run
    rules: object = "classroom"       # a SavingThrow preset name, or SavingThrow.to_dict()
    intelligence: int = 10            # ability score 1..30; its modifier adds to every save
    seeds: int = 32                   # seeds 0..seeds-1, each a dice run and a plain run
    steps: int = 300                  # optimizer steps of every run
