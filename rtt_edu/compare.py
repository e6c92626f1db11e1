"""The batched many-seed trainer's old home: everything now lives in :mod:`rtt_edu.training.batched`.

``from rtt_edu.compare import SeedBatch`` keeps working; new code imports from ``rtt_edu.training.batched``.
"""
from rtt_edu.training.batched import (ACTIVATION_GRADS, BATCHED_OPTIMIZERS, OPTIMIZERS, BatchedAdam, BatchedSGD, SeedBatch,  # noqa: F401
                      one_thread, roll_multiplier)
from rtt_edu.training.batched import __all__  # noqa: F401
