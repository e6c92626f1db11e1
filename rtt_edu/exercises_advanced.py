"""Self-checks for lessons 5 to 9, kept here for the lessons and code that import this module.

They live in :mod:`rtt_edu.exercises`, one module per lesson (``lesson05`` ... ``lesson09``), with
``Feedback`` in :mod:`rtt_edu.exercises.base`; every name this module had is re-exported.
"""
from __future__ import annotations

from rtt_edu.exercises.base import Feedback, _close, _number  # noqa: F401  (_close, _number: the former helpers)
from rtt_edu.exercises.lesson05 import check_fighter_clip, check_monster_strike, check_ooze_factor, monster_strike_probability
from rtt_edu.exercises.lesson06 import (check_first_level_below, check_level_mean, check_mean_xp_per_step,
                                 check_proficiency_bonus)
from rtt_edu.exercises.lesson07 import (check_accumulation_rolls, check_adam_first_step, check_epoch_noise,
                                 check_sgd_gradient_ratio)
from rtt_edu.exercises.lesson08 import (_grammar, check_best_word, check_context_best_accuracy,  # noqa: F401
                                 check_mask_probability, mask_posterior)
from rtt_edu.exercises.lesson09 import check_seeds_needed, check_t_half_width, check_verdict

__all__ = ["Feedback",
           # lesson 5
           "monster_strike_probability", "check_monster_strike", "check_ooze_factor", "check_fighter_clip",
           # lesson 6
           "check_proficiency_bonus", "check_level_mean", "check_first_level_below", "check_mean_xp_per_step",
           # lesson 7
           "check_sgd_gradient_ratio", "check_adam_first_step", "check_epoch_noise", "check_accumulation_rolls",
           # lesson 8
           "mask_posterior", "check_mask_probability", "check_context_best_accuracy", "check_best_word",
           # lesson 9
           "check_t_half_width", "check_seeds_needed", "check_verdict"]
