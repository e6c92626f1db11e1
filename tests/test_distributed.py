"""Dice under torch.distributed: two CPU processes (gloo) train a DDP model with RollToTrain,
with experience, a Fighter and monsters, all drawing from the shared roller.

Every rank must apply the same multiplier to the same step, or the replicas drift apart. The
oracle is a single process training the same model on the same *global* batches: DDP averages
the ranks' gradients of their half-batch mean losses, which is the gradient of the mean loss
over the whole global batch, so the single process sees the concatenated batch with a mean loss.
"""
import datetime
import math
import os
import sys

import pytest
import torch
import torch.distributed as dist
from torch import nn

from rtt_edu import ExperienceSystem, Fighter, RollToTrain
from rtt_edu.engine.distributed import is_distributed, mean_over_ranks, shared_seed
from rtt_edu.engine.turns import GameMaster
from rtt_edu.errors import RollToTrainError
from rtt_edu.party.monsters import GradientOoze, LossDragon, WeightWraith

WORLD = 2
STEPS = 10          # optimizer steps (global batches) per run
HALF = 4            # rows per rank; a global batch has WORLD * HALF rows
NAN_STEP = 3        # in the second run, rank 1's loss is NaN at this step (its gradients stay finite)

needs_gloo = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available in this torch build")


def _model() -> nn.Module:
    """The same float64 MLP on every rank (weights from a seeded generator, not the global RNG)."""
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return model


def _global_batches():
    """STEPS global batches of WORLD*HALF rows. Rank 1's rows are noisier, so its own loss
    does not follow rank 0's: decisions made on a rank's own loss would differ between ranks."""
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(STEPS):
        x = torch.randn(WORLD * HALF, 4, generator=g, dtype=torch.float64)
        noise = torch.randn(WORLD * HALF, 1, generator=g, dtype=torch.float64)
        noise[HALF:] *= 3.0
        batches.append((x, x[:, :1] - 2 * x[:, 1:2] + noise))
    return batches


class _MSEWithNaN:
    """Mean squared error; at call ``nan_call`` a constant NaN is added: the loss is NaN but,
    since a constant has no gradient, every gradient stays finite (only the loss tells)."""

    def __init__(self, nan_call=None):
        self.calls, self.nan_call = 0, nan_call

    def __call__(self, out, y):
        loss = nn.functional.mse_loss(out, y)
        if self.calls == self.nan_call:
            loss = loss + torch.tensor(math.nan, dtype=loss.dtype)
        self.calls += 1
        return loss


def _train(model, batches, seed, nan_call=None) -> dict:
    params = list(model.parameters())
    trainer = RollToTrain(model, torch.optim.Adam(params, lr=0.05), rules="classroom", seed=seed,
                          loss_fn=_MSEWithNaN(nan_call), progress=False,
                          use_xp_system=ExperienceSystem(success_xp=0, crit_xp=0, best_loss_xp=6500),
                          character_class=Fighter(level=1, max_norm=2.0, spike_factor=1.5),
                          monsters=[LossDragon(), GradientOoze(), WeightWraith(sigma=0.02)], encounter_chance=0.5)
    history = trainer.train(batches, epochs=1)
    return {"params": [p.detach().clone() for p in params], "seed": trainer.roller.seed,
            "records": [r.to_dict() for r in history.steps], "xp": trainer.experience.xp,
            "events": [e["kind"] for r in history.steps for e in r.events]}


def _worker(rank: int, world: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        shard = [(x[rank * HALF:(rank + 1) * HALF], y[rank * HALF:(rank + 1) * HALF]) for x, y in _global_batches()]
        results = {
            "drawn": _train(nn.parallel.DistributedDataParallel(_model()), shard, seed=None),
            "nan": _train(nn.parallel.DistributedDataParallel(_model()), shard, seed=11,
                          nan_call=NAN_STEP if rank == 1 else None),
        }
        try:
            GameMaster(seed=rank)
            results["mismatch"] = None
        except RollToTrainError as exc:
            results["mismatch"] = str(exc)
        torch.save(results, f"{out}/rank{rank}.pt")
        dist.barrier()      # every rank is done with every collective before any rank tears down
    finally:
        dist.destroy_process_group()
    # The results are saved. Leave without the interpreter's teardown: gloo's background threads
    # can abort a process at exit ("terminate called without an active exception", about 1 run
    # in 30 on these machines) after the work is done, which would fail the test for nothing.
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(0)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run both scenarios once on two processes; each rank's results, in rank order."""
    tmp = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_worker, args=(WORLD, str(tmp / "rendezvous"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _reference(seed, nan_call=None) -> dict:
    return _train(_model(), _global_batches(), seed=seed, nan_call=nan_call)


def _assert_same_run(rank_result, reference):
    for got, want in zip(rank_result["params"], reference["params"]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for got, want in zip(rank_result["records"], reference["records"]):
        assert (got["natural"], got["multiplier"], got["outcome"], got["modifier"]) == \
               (want["natural"], want["multiplier"], want["outcome"], want["modifier"])
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-10, nan_ok=True)
    assert len(rank_result["records"]) == len(reference["records"]) == STEPS
    assert rank_result["xp"] == reference["xp"]
    assert rank_result["events"] == reference["events"]     # the class and the monsters acted alike


@needs_gloo
def test_ranks_share_the_seed_drawn_on_rank_0_and_match_one_process(ranks):
    a, b = ranks[0]["drawn"], ranks[1]["drawn"]
    assert a["seed"] is not None and a["seed"] == b["seed"]
    for pa, pb in zip(a["params"], b["params"]):
        assert torch.equal(pa, pb)                      # bit-identical replicas
    reference = _reference(seed=a["seed"])
    _assert_same_run(a, reference)
    _assert_same_run(b, reference)
    multipliers = [r["multiplier"] for r in reference["records"]]
    assert len(set(multipliers)) > 1                    # the dice really varied the steps
    assert reference["xp"] >= 6500                      # best-loss XP (read from the loss) was awarded
    assert {"encounter", "monster"} <= set(reference["events"])


@needs_gloo
def test_a_nan_loss_on_one_rank_is_skipped_on_every_rank(ranks):
    a, b = ranks[0]["nan"], ranks[1]["nan"]
    assert a["seed"] == b["seed"] == 11
    assert a["records"][NAN_STEP]["outcome"] == b["records"][NAN_STEP]["outcome"] == "skipped"
    assert math.isnan(a["records"][NAN_STEP]["loss"])   # rank 0's own loss was finite: it read the mean
    for pa, pb in zip(a["params"], b["params"]):
        assert torch.equal(pa, pb)
    reference = _reference(seed=11, nan_call=NAN_STEP)
    assert reference["records"][NAN_STEP]["outcome"] == "skipped"
    _assert_same_run(a, reference)
    _assert_same_run(b, reference)


@needs_gloo
def test_different_seeds_on_different_ranks_are_refused_on_every_rank(ranks):
    for result in ranks:
        assert result["mismatch"] is not None
        assert "rank 0: seed=0" in result["mismatch"] and "rank 1: seed=1" in result["mismatch"]


def test_outside_torch_distributed_the_seed_and_the_loss_pass_through():
    assert not is_distributed()
    assert shared_seed(5) == 5 and shared_seed(None) is None
    loss = torch.tensor(0.25)
    assert mean_over_ranks(loss, "cpu") is loss and mean_over_ranks(None, "cpu") is None
    assert GameMaster(seed=3).roller.seed == 3
