"""One game for every rank: the dice under ``torch.distributed`` (DDP, ``torchrun``, ``accelerate launch``).

Data-parallel training keeps one copy of the model per process ("rank"). DDP averages the
gradients, so the replicas stay identical only if every rank applies the *same* update:
the same multiplier to the same step. The dice guarantee it without talking every step:

    every rank rolls from the same two DiceRollers, both seeded from the same seed
    ⇒ every rank draws the same sequence of faces, outcomes and multipliers

The game master has two dice streams: the save's (``master.roller``) and the participants'
(``master.table_roller``, seeded with :func:`~rtt_edu.engine.turns.table_seed`). Classes,
monsters and the experience system draw only from the participants' stream, the same on every
rank, so they stay in step too. Two things need the ranks to talk, and each does it once:

* the seed (:func:`shared_seed`, when the game master is built): with ``seed=None`` rank 0
  draws one and every rank uses it; with a seed, every rank must have passed the same one.
* the loss, when something decides with it (:func:`mean_over_ranks`: the non-finite guard, or
  a participant such as best-loss XP): each rank saw only its shard of the batch, so they
  would decide differently. They all read the mean over ranks instead, which is the loss of
  the global batch. One all-reduce of two numbers per step, and only then.

Outside ``torch.distributed`` (or before ``init_process_group``) every function here is a no-op.
Building a game master under ``torch.distributed`` is a collective call: every rank must build it.
"""
from __future__ import annotations

import secrets

import torch

from rtt_edu.errors import RollToTrainError

SEED_BITS = 63     # seeds drawn for the ranks: non-negative 63-bit ints, like DiceRoller.torch_seed()


def is_distributed() -> bool:
    """True when ``torch.distributed`` is available and a process group is initialised."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank() -> int:
    """This process's rank under ``torch.distributed``; 0 outside it (the one process is the first)."""
    return torch.distributed.get_rank() if is_distributed() else 0


def shared_seed(seed: int | None = None) -> int | None:
    """The seed every rank rolls from.

    Not distributed: ``seed`` unchanged (``None`` still means a fresh, unseeded roller).
    Distributed: one ``all_gather`` of every rank's ``seed``.
      all ``None``        → a seed drawn on rank 0 (from the OS, never the global RNG), used by all;
      all the same int    → that int;
      anything else       → :class:`~rtt_edu.errors.RollToTrainError` on every rank, naming them,
                            since the replicas would drift apart from the first step.
    """
    if not is_distributed():
        return seed
    proposal = secrets.randbits(SEED_BITS)     # used only if rank 0 was given no seed
    gathered = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, (seed, proposal))
    seeds = [given for given, _ in gathered]
    if all(s is None for s in seeds):
        return gathered[0][1]
    if len(set(seeds)) != 1:
        by_rank = ", ".join(f"rank {r}: seed={s!r}" for r, s in enumerate(seeds))
        raise RollToTrainError(f"the ranks passed different seeds ({by_rank}): under torch.distributed every "
                               "rank must roll the same dice, so pass the same seed everywhere, or seed=None "
                               "to share one drawn on rank 0")
    return seed


def mean_over_ranks(loss: torch.Tensor | None, device) -> torch.Tensor | None:
    """The mean of the losses the ranks observed: ``Σ_r loss_r / #ranks that observed one``.

    ``None`` when no rank observed one. Every rank must call it (a rank with no loss passes
    ``None`` and still joins the all-reduce), so a loop that calls ``observe_loss`` on one rank
    only cannot hang. A NaN on any rank makes the mean NaN on all of them, so the non-finite
    guard skips the same step everywhere. The result is a float64 tensor on ``device``: no host
    sync (on NCCL the reduction is queued on the device like DDP's own).
    """
    if not is_distributed():
        return loss
    if loss is None:
        both = torch.zeros(2, dtype=torch.float64, device=device)
    else:
        both = torch.stack([loss.detach().reshape(()).to(device, torch.float64),
                            torch.ones((), dtype=torch.float64, device=device)])
    torch.distributed.all_reduce(both)           # SUM: every backend has it (gloo lacks AVG)
    total, count = both.unbind()
    if loss is None and not bool(count > 0):     # a host read, only on a rank that observed no loss
        return None
    return total / count
