"""Experience and levels, from the 5e SRD: luck grows as the model levels up.

XP is earned for successful saves, critical successes, lowering the best loss seen so far
("damage" dealt to the loss) and defeating monsters. Levels follow the SRD's XP table and the
proficiency bonus ``2 + (level - 1) // 4`` (+2 at level 1, +6 at level 17) is added to every
saving throw. A larger bonus raises P(success) and lowers P(fail), so for a rule whose fail
band is a scaled inverse update the multiplier's variance falls as the level rises:
an annealing of the noise, like Neelakantan et al.'s decaying gradient noise.
"""
from __future__ import annotations

import bisect

from rtt_edu.engine.turns import Participant
from rtt_edu.errors import RollToTrainTypeError, bad_value, check_type, require

#: XP needed to reach each level 1..20 (5e SRD, "Character Advancement").
XP_THRESHOLDS = (0, 300, 900, 2700, 6500, 14000, 23000, 34000, 48000, 64000,
                 85000, 100000, 120000, 140000, 165000, 195000, 225000, 265000, 305000, 355000)
MAX_LEVEL = 20


def level_for_xp(xp: int) -> int:
    """The level reached with ``xp`` experience points (1..20)."""
    check_type("xp", xp, (int, float), "a number of experience points >= 0")
    require(xp >= 0, "xp", xp, "a number of experience points >= 0")
    return bisect.bisect_right(XP_THRESHOLDS, xp)


def proficiency_bonus(level: int) -> int:
    """The 5e proficiency bonus: +2 at levels 1-4, +3 at 5-8, ... +6 at 17-20."""
    check_type("level", level, int, "a level from 1 to 20")
    require(1 <= level <= MAX_LEVEL, "level", level, "a level from 1 to 20")
    return 2 + (level - 1) // 4


class ExperienceSystem(Participant):
    """Awards XP each step and adds the proficiency bonus of the current level to every save.

    Per step: ``success_xp`` for a successful save, ``crit_xp`` for a critical success (instead),
    ``best_loss_xp`` when the loss reaches a new best (needs the loss: one host sync per step,
    so it is off unless ``best_loss_xp > 0``), plus a monster's XP when it is defeated
    (``award(xp, why)``). ``xp_scale`` multiplies every award, so short lessons can level up.
    """

    def __init__(self, success_xp: int = 10, crit_xp: int = 50, best_loss_xp: int = 0, xp_scale: float = 1.0,
                 xp: int = 0, add_proficiency: bool = True):
        for name, value in (("success_xp", success_xp), ("crit_xp", crit_xp), ("best_loss_xp", best_loss_xp),
                            ("xp_scale", xp_scale), ("xp", xp)):
            check_type(name, value, (int, float), "a number >= 0")
            require(value >= 0, name, value, "a number >= 0")
        check_type("add_proficiency", add_proficiency, bool, "True or False")
        self.success_xp, self.crit_xp, self.best_loss_xp = success_xp, crit_xp, best_loss_xp
        self.xp_scale = xp_scale
        self.add_proficiency = add_proficiency
        self.xp = int(xp)
        self.best_loss = None

    @property
    def needs_loss(self) -> bool:
        return self.best_loss_xp > 0

    @property
    def level(self) -> int:
        return level_for_xp(self.xp)

    @property
    def proficiency(self) -> int:
        return proficiency_bonus(self.level)

    def xp_to_next_level(self) -> int | None:
        """XP still needed for the next level (``None`` at level 20)."""
        return None if self.level == MAX_LEVEL else XP_THRESHOLDS[self.level] - self.xp

    def award(self, amount, why: str, turn=None) -> int:
        """Add ``amount`` × ``xp_scale`` XP; log a level-up on ``turn`` if one happens."""
        gained = int(round(amount * self.xp_scale))
        before = self.level
        self.xp += gained
        if turn is not None and self.level > before:
            turn.log("level_up", f"level up! level {self.level} ({self.xp} XP, {why}); "
                                 f"proficiency bonus +{self.proficiency}", level=self.level)
        return gained

    # --- turn hooks -------------------------------------------------------------------------
    def before_roll(self, turn) -> None:
        if self.add_proficiency:
            turn.bonus += self.proficiency

    def after_step(self, turn) -> None:
        if turn.skipped:
            return
        if turn.outcome == "critical_success":
            self.award(self.crit_xp, "a critical success", turn)
        elif turn.outcome == "success":
            self.award(self.success_xp, "a successful save", turn)
        if self.best_loss_xp and turn.loss is not None:
            loss = turn.loss_value()
            if loss == loss and (self.best_loss is None or loss < self.best_loss):
                if self.best_loss is not None:
                    self.award(self.best_loss_xp, "a new best loss", turn)
                self.best_loss = loss

    def state_dict(self) -> dict:
        return {"xp": self.xp, "best_loss": self.best_loss}

    def load_state_dict(self, state) -> None:
        self.xp, self.best_loss = int(state["xp"]), state["best_loss"]

    def __repr__(self):
        return f"ExperienceSystem(level={self.level}, xp={self.xp})"


def check_experience(experience, name: str = "experience"):
    """``experience`` if it is ``True``, ``False`` or an :class:`ExperienceSystem` (``None`` is ``False``),
    else a clear error naming ``name``."""
    if experience is None:
        return False
    if isinstance(experience, (bool, ExperienceSystem)):
        return experience
    raise RollToTrainTypeError(bad_value(name, experience, "True, False or an ExperienceSystem"))


def as_experience(experience, name: str = "experience") -> ExperienceSystem | None:
    """``None``/``False`` → no XP, ``True`` → a new default :class:`ExperienceSystem`, or the instance given."""
    experience = check_experience(experience, name)
    if experience is True:
        return ExperienceSystem()
    return None if experience is False else experience
