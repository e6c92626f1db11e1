"""The game of a training run, built in one place: its settings (``GameConfig``), its game master and ``attach``.

    game = GameConfig(rules="classroom", intelligence=15, character_class=Wizard(level=1), seed=0)
    handle = attach(optimizer, game=game)      # or RollToTrain(..., game=game), RollToTrainCallback(game=game)
    for x, y in data:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        handle.observe_loss(loss)     # optional: puts the loss in the records
        optimizer.step()              # the hooks roll, scale this step, restore, record
    handle.records[-1].multiplier
    handle.remove()

Every entry point also takes the settings as loose keywords (``attach(optimizer, "classroom", seed=0)``,
the seed's ``RollToTrain(..., intelligence=15, use_xp_system=True)``): :func:`game_config` turns them
into a ``GameConfig``, naming the keyword the user passed in any error.

This module sits above the party (classes, monsters, experience) and the engine (the game master,
the optimizer hook): ``attach``, ``RollToTrain`` and the HuggingFace callback all build their game here.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from rtt_edu.engine.hook import AttachHandle, unwrap_optimizer
from rtt_edu.engine.safety import DeathSaves, RaiseGuard, check_policy, make_guard
from rtt_edu.engine.turns import GameMaster, check_intelligence, check_target
from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value, check_type, require
from rtt_edu.game.rules import SavingThrow, as_rules, warn_if_negative_drift
from rtt_edu.party.classes import CharacterClass
from rtt_edu.party.monsters import EncounterTable, check_chance, check_monsters, check_schedule
from rtt_edu.party.xp import ExperienceSystem, as_experience, check_experience


@dataclass(frozen=True, kw_only=True, repr=False)
class GameConfig:
    """The game a training run plays: the rule, and everything that bends it. Checked when built.

    ``GameConfig(rules="classroom", intelligence=15, character_class=Wizard(level=1), seed=0)``; a
    variant is ``dataclasses.replace(game, intelligence=8)``, checked again. A bad value raises at
    once, naming the field and quoting the value. The class, the experience system, the monsters
    and a guard object are the very objects that play: a run spends the Wizard's spell slots and
    adds to the ExperienceSystem's XP, so give each run its own.

    Not here: the engine's dice (``roller=``) and the learning-rate ``scheduler``, which belong to
    the optimizer, and how many mini-batches make one optimizer step, which is the loop's
    (``RollToTrain(mode=..., accumulation_steps=...)``, the HuggingFace ``gradient_accumulation_steps``):
    the game plays one turn per optimizer step in every loop.
    """
    rules: str | SavingThrow = "classroom"         # the saving throw: a SavingThrow or a preset name (None: classroom)
    intelligence: int = 10                         # 1..30; its 5e modifier joins every save (15 → +2, 10 → +0)
    character_class: CharacterClass | None = None  # e.g. Wizard(level=1): acts on every turn (None: no class)
    experience: bool | ExperienceSystem = False    # True: a new ExperienceSystem(), or your own; +proficiency per save
    monsters: tuple = ()                           # Monster templates a random encounter draws from: (LossDragon(),)
    encounter_chance: float = 0.0                  # P(a monster appears) on each turn with none present, 0..1
    encounter_schedule: dict | None = None         # {optimizer step: Monster}: scripted encounters (None: none)
    target: str = "update"                         # what m scales: "update" (the lr), "gradient", "delta" (the change)
    on_nonfinite: str | DeathSaves | RaiseGuard = "death-save"   # NaN/inf: "death-save", "raise", "off" or a guard
    seed: int | None = None                        # seeds both dice streams (None: a fresh seed, shared by all ranks)

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _CHECKS[f.name](getattr(self, f.name), f.name))
        if self.encounter_chance > 0 and not self.monsters:
            raise RollToTrainError(bad_value("monsters", list(self.monsters), "at least one Monster to draw with "
                                                                              f"encounter_chance={self.encounter_chance!r}"))

    def __repr__(self):
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) != f.default]
        return f"GameConfig({', '.join(changed)})"


def _check_rules(rules, name: str):
    """A preset name or a SavingThrow, as given (``None`` is ``"classroom"``)."""
    as_rules(rules)                        # RulesError / TypeError naming rules=
    return "classroom" if rules is None else rules


def _check_intelligence(score, name: str):
    check_intelligence(score, name)        # the modifier is the game master's to work out
    return score


def _check_class(character_class, name: str):
    return require(character_class is None or isinstance(character_class, CharacterClass), name, character_class,
                   "a CharacterClass such as Wizard(level=1), or None", RollToTrainTypeError)


def _check_schedule(schedule, name: str):
    return None if schedule is None else check_schedule(schedule, name)


def _check_seed(seed, name: str):
    return seed if seed is None else check_type(name, seed, int, "an int or None")


#: field → its check: ``check(value, name)`` returns the value (normalised) or raises naming ``name``.
_CHECKS = {
    "rules": _check_rules,
    "intelligence": _check_intelligence,
    "character_class": _check_class,
    "experience": check_experience,
    "monsters": check_monsters,
    "encounter_chance": check_chance,
    "encounter_schedule": _check_schedule,
    "target": check_target,
    "on_nonfinite": check_policy,
    "seed": _check_seed,
}
FIELDS = tuple(f.name for f in fields(GameConfig))


def game_config(game=None, settings=None, *, aliases=None, where: str = "attach") -> GameConfig:
    """The ``GameConfig`` of an entry point: ``game`` as given, or one built from loose keywords.

    ``settings``: the game keywords the caller was given (``{"intelligence": 15}``); ``aliases``:
    other names ``where`` accepts for a field (``RollToTrain``: ``{"use_xp_system": "experience"}``).
    Errors name the keyword the user passed. ``game`` with any loose game keyword is refused: the
    settings of a game are in one place.
    """
    settings = settings or {}
    aliases = aliases or {}
    require(game is None or isinstance(game, GameConfig), "game", game, "a GameConfig(...) or None",
            RollToTrainTypeError)
    given = {}                                       # field → the keyword the user passed for it
    for key in settings:
        name = aliases.get(key, key)
        if name not in _CHECKS:
            raise RollToTrainTypeError(f"{where}() got an unexpected keyword argument {key!r}: expected a setting "
                                       f"of the game, one of {list(FIELDS)} (see GameConfig)")
        if name in given:
            raise RollToTrainTypeError(f"{where}() got {given[name]}= and {key}=, two names for the game's {name}: "
                                       "pass one")
        given[name] = key
    if game is not None:
        if given:
            passed = ", ".join(f"{key}=" for key in settings)
            wanted = ", ".join(f"{name}=..." for name in given)      # the fields, under their own names
            raise RollToTrainTypeError(f"{where}() got game= and {passed}: a game's settings go in one place; pass "
                                       f"game=dataclasses.replace(game, {wanted}) instead")
        return game
    values = {name: _CHECKS[name](settings[key], key) for name, key in given.items()}
    return GameConfig(**values)


def build_master(game: GameConfig | None = None, *, roller=None, scheduler=None, stacklevel: int = 3) -> GameMaster:
    """The one place a :class:`GameMaster` is built from a :class:`GameConfig` (``attach``, ``RollToTrain``
    and the HuggingFace callback all call it), with one warning when the rule, as rolled with the
    intelligence bonus, climbs the loss on average (E[m] <= 0).

    ``roller`` (a :class:`~rtt_edu.game.dice.DiceRoller`, instead of the game's ``seed``) and ``scheduler``
    belong to the engine, not to the game's settings. The participants act in this order:
    experience, class, encounters.
    """
    game = GameConfig() if game is None else game
    require(isinstance(game, GameConfig), "game", game, "a GameConfig(...) or None", RollToTrainTypeError)
    rules = as_rules(game.rules)
    encounters = None
    if game.monsters or game.encounter_schedule or game.encounter_chance:
        encounters = EncounterTable(game.monsters, chance=game.encounter_chance, schedule=game.encounter_schedule)
    master = GameMaster(rules, roller=roller, seed=game.seed, target=game.target, intelligence=game.intelligence,
                        participants=[game.character_class, encounters], experience=as_experience(game.experience),
                        guard=make_guard(game.on_nonfinite), scheduler=scheduler)
    warn_if_negative_drift(rules, master.intelligence_modifier, stacklevel=stacklevel + 1)
    return master


def attach(optimizer, rules=None, *, game: GameConfig | None = None, roller=None, **settings) -> AttachHandle:
    """Roll a saving throw for every ``optimizer.step()`` and scale that step's update.

    The game: ``game=GameConfig(...)``, or its fields as keywords (``rules`` may come second,
    positionally): ``seed``, ``target``, ``intelligence``, ``character_class``, ``experience``,
    ``monsters``, ``encounter_chance``, ``encounter_schedule``, ``on_nonfinite`` (see :class:`GameConfig`).
    ``roller``: a :class:`~rtt_edu.game.dice.DiceRoller` to roll with, instead of a seed.

    ``target="update"`` scales the step's learning rate (exact for every torch optimizer whose step
    is lr × something: SGD, Adam, AdamW, RMSprop, ...; on ASGD, Rprop and LBFGS, whose steps are not,
    it uses ``"delta"`` and warns once), ``"gradient"`` scales the gradients, ``"delta"`` scales the
    parameter change of any optimizer. Attaching to an optimizer that has dice already replaces
    them (with a warning): see :class:`AttachHandle`.
    """
    optimizer = unwrap_optimizer(optimizer)
    if rules is not None:
        settings = {"rules": rules, **settings}
    master = build_master(game_config(game, settings, where="attach"), roller=roller)
    return AttachHandle(optimizer, master)
