"""The GPU path: dice steps on CUDA never wait for the device.

Every step runs under ``torch.cuda.set_sync_debug_mode("error")``, which turns any host-device
synchronisation (``.item()``, ``float(tensor)``, a blocking copy) into an error. The default
path with ``on_nonfinite="off"`` and no participant reading the loss must pass: losses stay
device tensors until the history is read, once, after training. (The non-finite guard reads
one flag per step, like AMP's GradScaler, and is therefore left out here.)
"""
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from rtt_edu import DiceRoller, RollToTrain, SavingThrow, attach

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device here: the GPU path is checked on a machine with one")

RULES = SavingThrow.preset("classroom")
LR = 0.05
STEPS = 6


@contextmanager
def no_host_sync():
    """Any host-device synchronisation inside raises a RuntimeError."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def mlp(device="cuda") -> nn.Module:
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 3))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.to(device)


def batches(n=STEPS, device="cuda") -> list:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        x = torch.randn(32, 8, generator=g)
        out.append((x.to(device), (x[:, 0] > 0).long().to(device) + (x[:, 1] > 0).long().to(device)))
    return out


def multipliers_of(seed, n, bonus=0) -> list:
    roller = DiceRoller(seed)
    return [RULES.multiplier(roller.roll("d20").natural, bonus) for _ in range(n)]


def reference_run(optimizer_factory, data, seed, bonus=0):
    """The oracle: a plain loop on the same device with lr × m_k set by hand at step k."""
    model = mlp()
    optimizer = optimizer_factory(model.parameters())
    losses = []
    for (x, y), m in zip(data, multipliers_of(seed, len(data), bonus)):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.param_groups[0]["lr"] = LR * m
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return model, losses


OPTIMIZERS = {
    "momentum-sgd": lambda params: torch.optim.SGD(params, lr=LR, momentum=0.9),
    "adamw": lambda params: torch.optim.AdamW(params, lr=LR, weight_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_roll_to_train_steps_on_cuda_without_a_host_sync(name):
    data = batches()
    model = mlp()
    trainer = RollToTrain(model, OPTIMIZERS[name](model.parameters()), rules=RULES, seed=3,
                          loss_fn=nn.CrossEntropyLoss(), progress=False, on_nonfinite="off",
                          use_xp_system=True)            # XP from saves only: it never reads the loss
    with no_host_sync():
        trainer.train(data, epochs=1)
    reference, losses = reference_run(OPTIMIZERS[name], data, seed=3, bonus=2)   # +2: proficiency at level 1
    for got, want in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert trainer.history.losses == pytest.approx(losses, rel=1e-5)   # read now, in one batch
    assert trainer.history.multipliers == multipliers_of(3, STEPS, bonus=2)


@pytest.mark.parametrize("target", ["update", "gradient", "delta"])
def test_every_target_steps_on_cuda_without_a_host_sync(target):
    data = batches()
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    handle = attach(optimizer, RULES, seed=5, target=target, on_nonfinite="off")
    with no_host_sync():
        for x, y in data:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            handle.observe_loss(loss)
            optimizer.step()
            optimizer.zero_grad()
    handle.remove()
    reference, losses = reference_run(lambda params: torch.optim.SGD(params, lr=LR), data, seed=5)
    for got, want in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)   # plain SGD: all three targets agree
    assert [r.loss for r in handle.records] == pytest.approx(losses, rel=1e-5)


def test_a_tensor_learning_rate_on_the_device_is_scaled_and_restored_without_a_host_sync():
    data = batches()
    model = mlp()
    lr = torch.tensor(LR, device="cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    handle = attach(optimizer, RULES, seed=8, on_nonfinite="off")
    with no_host_sync():
        for x, y in data:
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            optimizer.zero_grad()
            lr.mul_(0.5)                     # a schedule that halves the tensor lr in place
    handle.remove()
    schedule = [LR * 0.5 ** k for k in range(STEPS)]
    assert optimizer.param_groups[0]["lr"].item() == pytest.approx(LR * 0.5 ** STEPS)   # restored each step
    assert [r.lr for r in handle.records] == pytest.approx(schedule)    # each step's own lr, read lazily

    model_ref = mlp()
    optimizer = torch.optim.Adam(model_ref.parameters(), lr=LR, capturable=True)
    for (x, y), m, step_lr in zip(data, multipliers_of(8, STEPS), schedule):
        nn.functional.cross_entropy(model_ref(x), y).backward()
        optimizer.param_groups[0]["lr"] = step_lr * m
        optimizer.step()
        optimizer.zero_grad()
    for got, want in zip(model.parameters(), model_ref.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
