"""rtt_edu: Roll-to-Train for the classroom.

D&D saving throws decide how much of each weight update a neural network gets. Every
mechanic is a real training technique in costume: a dice multiplier is a random
multiplicative learning rate (its mean is the drift, its variance the temperature).
"""
from .atomic import CheckpointWriteError
from .dice import DiceRoller, Roll, ability_modifier
from .errors import (CheckpointError, DiceError, NegativeDriftWarning, NonFiniteTrainingError,
                     RollToTrainError, RulesError)
from .history import EvalRecord, History, StepRecord
from .hook import AttachHandle, attach
from .monsters import EncounterTable, GradientOoze, LossDragon, Monster, WeightWraith
from .rules import Margin, SavingThrow
from .safety import DeathSaves, RaiseGuard
from .trainer import RollToTrain
from .turns import GameMaster, Participant, Turn
from .xp import ExperienceSystem, level_for_xp, proficiency_bonus
from .classes import *  # noqa: F401,F403  (CharacterClass, Wizard, Rogue, ...)
from .classes import __all__ as _class_names

__version__ = "0.1.0"

__all__ = ["CheckpointWriteError", "DiceRoller", "Roll", "ability_modifier", "CheckpointError", "DiceError", "NegativeDriftWarning",
           "NonFiniteTrainingError", "RollToTrainError", "RulesError", "EvalRecord", "History",
           "StepRecord", "AttachHandle", "attach", "Monster", "LossDragon", "GradientOoze", "WeightWraith",
           "EncounterTable", "Margin", "SavingThrow", "DeathSaves", "RaiseGuard", "RollToTrain",
           "GameMaster", "Participant", "Turn", "ExperienceSystem", "level_for_xp",
           "proficiency_bonus", *_class_names]
