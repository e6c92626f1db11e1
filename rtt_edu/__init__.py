"""rtt_edu: Roll-to-Train for the classroom.

D&D saving throws decide how much of each weight update a neural network gets. Every
mechanic is a real training technique in costume: a dice multiplier is a random
multiplicative learning rate (its mean is the drift, its variance the temperature).

The library's layers, bottom to top; a module imports only from its own layer or those below it
(``tests/test_imports.py`` checks it)::

    cli        cli.py, __main__.py                  the command line: rtt-edu lessons / lab / demo
    course     course/lessonNN.py, checks.py        each lesson's set-up and self-checks, the quizzes
    views      views/plots.py, views/widgets/,      plots, the notebook panels (dice, training,
               classroom.py                         compare), the class's runs side by side
    science    science/stats.py, experiments.py,    intervals and verdicts, many-seed experiments,
               quadratic.py                         the exact theory of a dice rule on a quadratic
    api        rtt_edu/__init__.py                  the public names below
    training   training/game.py, trainer.py,        GameConfig, attach and the game master's factory;
               checkpoint.py, history_file.py,      the training loop; checkpoints and history files;
               batched.py, optimizers.py, toy.py,   many seeds at once; the optimizer table; the toy
               hf.py                                dice-vs-plain loop; the HuggingFace callback
    party      party/classes.py, monsters.py, xp.py the participants: classes, monsters, experience
    engine     engine/turns.py, hook.py, history.py, one turn of the game around optimizer.step(),
               safety.py, tensors.py, distributed.py the hook, the records, the non-finite guard
    game       game/dice.py, rules.py; data/, models/ dice and saving throws (no torch); toy data, models
    base       errors.py, atomic.py                 one error base and validation helper; atomic writes
"""
from rtt_edu.engine.history import EvalRecord, History, StepRecord
from rtt_edu.engine.hook import AttachHandle
from rtt_edu.engine.safety import DeathSaves, RaiseGuard
from rtt_edu.engine.turns import GameMaster, Participant, Turn
from rtt_edu.errors import (
    CheckpointError,
    CheckpointWriteError,
    ConcurrentTrainingWarning,
    DiceError,
    NegativeDriftWarning,
    NonFiniteTrainingError,
    PanelClosedError,
    RollToTrainError,
    RulesError,
    ZeroLearningRateWarning,
)
from rtt_edu.game.dice import DiceRoller, Roll, ability_modifier
from rtt_edu.game.rules import Margin, SavingThrow
from rtt_edu.party.classes import *  # noqa: F401,F403  (CharacterClass, Wizard, Rogue, ...)
from rtt_edu.party.classes import __all__ as _class_names
from rtt_edu.party.monsters import EncounterTable, GradientOoze, LossDragon, Monster, WeightWraith
from rtt_edu.party.xp import ExperienceSystem, level_for_xp, proficiency_bonus
from rtt_edu.training.game import GameConfig, attach
from rtt_edu.training.trainer import RollToTrain

__version__ = "0.1.0"

__all__ = ["CheckpointWriteError", "DiceRoller", "Roll", "ability_modifier", "CheckpointError", "DiceError",
           "NegativeDriftWarning",
           "NonFiniteTrainingError", "RollToTrainError", "RulesError", "PanelClosedError", "ZeroLearningRateWarning",
           "ConcurrentTrainingWarning", "EvalRecord", "History", "StepRecord", "AttachHandle", "GameConfig", "attach",
           "Monster", "LossDragon", "GradientOoze", "WeightWraith",
           "EncounterTable", "Margin", "SavingThrow", "DeathSaves", "RaiseGuard", "RollToTrain",
           "GameMaster", "Participant", "Turn", "ExperienceSystem", "level_for_xp",
           "proficiency_bonus", *_class_names]
