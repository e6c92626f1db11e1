"""rtt_edu: Roll-to-Train for the classroom.

D&D saving throws decide how much of each weight update a neural network gets. Every
mechanic is a real training technique in costume: a dice multiplier is a random
multiplicative learning rate (its mean is the drift, its variance the temperature).
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
