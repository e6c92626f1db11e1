"""The game of a training run, built in one place: the participants, the game master and ``attach``.

    handle = attach(optimizer, "classroom", seed=0)
    for x, y in data:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        handle.observe_loss(loss)     # optional: puts the loss in the records
        optimizer.step()              # the hooks roll, scale this step, restore, record
    handle.records[-1].multiplier
    handle.remove()

This module sits above the party (classes, monsters, experience) and the engine (the game master,
the optimizer hook): ``attach``, ``RollToTrain`` and the HuggingFace callback all build their game here.
"""
from __future__ import annotations

from rtt_edu.engine.hook import AttachHandle, unwrap_optimizer
from rtt_edu.engine.safety import make_guard
from rtt_edu.engine.turns import GameMaster
from rtt_edu.errors import bad_value
from rtt_edu.game.rules import as_rules, warn_if_negative_drift
from rtt_edu.party.classes import CharacterClass
from rtt_edu.party.monsters import EncounterTable
from rtt_edu.party.xp import as_experience


def build_participants(character_class=None, experience=None, monsters=None, encounter_chance=0.0,
                       encounter_schedule=None, experience_arg: str = "experience"):
    """The participants of a turn, in the order they act: experience, class, encounters.

    ``experience_arg`` is the name the caller gave the experience argument, for error messages.
    """
    participants = [as_experience(experience, experience_arg)]
    if character_class is not None:
        if not isinstance(character_class, CharacterClass):
            raise TypeError(bad_value("character_class", character_class, "a CharacterClass such as Wizard(level=1)"))
        participants.append(character_class)
    if monsters or encounter_schedule or encounter_chance:   # a chance without monsters is refused there
        participants.append(EncounterTable(monsters or [], chance=encounter_chance, schedule=encounter_schedule))
    return [p for p in participants if p is not None]


def build_master(rules=None, *, roller=None, seed=None, target: str = "update", intelligence: int = 10,
                 character_class=None, experience=None, monsters=None, encounter_chance: float = 0.0,
                 encounter_schedule=None, on_nonfinite: str = "death-save", scheduler=None,
                 experience_arg: str = "experience", stacklevel: int = 3) -> GameMaster:
    """The one place a :class:`GameMaster` is built from the user's arguments (``attach``,
    ``RollToTrain`` and the HuggingFace callback all call it), with one warning when the rule,
    as rolled with the intelligence bonus, climbs the loss on average (E[m] <= 0)."""
    rules = as_rules(rules)
    master = GameMaster(rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                        participants=build_participants(character_class, experience, monsters, encounter_chance,
                                                        encounter_schedule, experience_arg),
                        guard=make_guard(on_nonfinite), scheduler=scheduler)
    warn_if_negative_drift(rules, master.intelligence_modifier, stacklevel=stacklevel + 1)
    return master


def attach(optimizer, rules=None, roller=None, seed=None, target: str = "update", *, character_class=None,
           experience=None, monsters=None, encounter_chance: float = 0.0, encounter_schedule=None,
           intelligence: int = 10, on_nonfinite: str = "death-save") -> AttachHandle:
    """Roll a saving throw for every ``optimizer.step()`` and scale that step's update.

    ``target="update"`` scales the step's learning rate (exact for every torch optimizer whose step
    is lr × something: SGD, Adam, AdamW, RMSprop, ...; on ASGD, Rprop and LBFGS, whose steps are not,
    it uses ``"delta"`` and warns once), ``"gradient"`` scales the gradients, ``"delta"`` scales the
    parameter change of any optimizer. Attaching to an optimizer that has dice already replaces
    them (with a warning): see :class:`AttachHandle`.
    """
    optimizer = unwrap_optimizer(optimizer)
    master = build_master(rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                          character_class=character_class, experience=experience, monsters=monsters,
                          encounter_chance=encounter_chance, encounter_schedule=encounter_schedule,
                          on_nonfinite=on_nonfinite)
    return AttachHandle(optimizer, master)
