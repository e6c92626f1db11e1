"""Character classes: each one a real training technique in costume."""
from __future__ import annotations

from .errors import RollToTrainError, bad_value, check_type
from .turns import Participant


class CharacterClass(Participant):
    """Base class: a ``level`` (1..20) and the turn hooks of :class:`~rtt_edu.turns.Participant`."""

    def __init__(self, level: int = 1):
        check_type("level", level, int, "a level from 1 to 20")
        if not 1 <= level <= 20:
            raise RollToTrainError(bad_value("level", level, "a level from 1 to 20"))
        self.level = level

    def state_dict(self) -> dict:
        return {"level": self.level}

    def load_state_dict(self, state) -> None:
        self.level = state["level"]


class Wizard(CharacterClass):
    """Learning-rate magic (placeholder until the RPG layer lands)."""
__all__ = ["CharacterClass", "Wizard"]
