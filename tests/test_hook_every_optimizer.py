"""The optimizer hook (rtt_edu.engine.hook) on every optimizer of ``torch.optim``: exact, or it says so; a step
rolled at m moves the weights by m × the plain step.

For each optimizer class in ``torch.optim`` two copies start from the same weights and the same
optimizer state (after a few plain steps, so momentum buffers, step counts and Rprop's step sizes
are all warmed up), see the same gradients, and step once: one plainly, one with the dice attached
under a rule whose every band is m. The dice copy must move by m times the plain copy's move, in
float64, under the target the library uses for that optimizer (``"update"``, or ``"delta"`` where
the step is not linear in the learning rate, with a warning naming the optimizer).
"""
import copy
import inspect
import warnings

import pytest
import torch

from rtt_edu import SavingThrow, attach
from rtt_edu.engine.turns import NOT_LINEAR_IN_LR

OPTIMIZERS = sorted((cls for cls in vars(torch.optim).values()
                     if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)
                     and cls is not torch.optim.Optimizer), key=lambda cls: cls.__name__)
KWARGS = {"SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), "LBFGS": dict(lr=0.5, max_iter=3),
          "Adam": dict(lr=0.01, weight_decay=0.01), "AdamW": dict(lr=0.01, weight_decay=0.1)}


def constant(m: float) -> SavingThrow:
    return SavingThrow(dc=11, crit_success=m, success=m, fail=m, crit_fail=m)


def problem(cls):
    """(model, loss of the model) for one optimizer: an embedding with sparse gradients for SparseAdam,
    matrices only for Muon (it steps 2-D parameters), a small net otherwise; float64 throughout."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=g, dtype=torch.float64)
    y = torch.randn(16, 3, generator=g, dtype=torch.float64)
    torch.manual_seed(0)                                   # test-side seeding
    if cls is torch.optim.SparseAdam:
        model = torch.nn.Embedding(10, 3, sparse=True).double()
        ids = torch.randint(0, 10, (16,), generator=g)
        return model, lambda: (model(ids) - y).pow(2).mean()
    bias = cls is not torch.optim.Muon
    nn = torch.nn
    model = nn.Sequential(nn.Linear(4, 5, bias=bias), nn.Tanh(), nn.Linear(5, 3, bias=bias)).double()
    return model, lambda: (model(x) - y).pow(2).mean()


def step(optimizer, loss_of):
    def closure():
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        return loss
    if isinstance(optimizer, torch.optim.LBFGS):
        optimizer.step(closure)
    else:
        closure()
        optimizer.step()


def warmed_twins(cls):
    """Two copies of one problem with the same weights and optimizer state, after three plain steps:
    ``(optimizer, loss_of, twin_optimizer, twin_loss_of, weights_before, model, twin)``."""
    model, loss_of = problem(cls)
    optimizer = cls(model.parameters(), **KWARGS.get(cls.__name__, {}))
    for _ in range(3):                                      # warm the optimizer's state up
        step(optimizer, loss_of)
    twin, twin_loss = problem(cls)
    twin.load_state_dict(model.state_dict())
    twin_opt = cls(twin.parameters(), **KWARGS.get(cls.__name__, {}))
    twin_opt.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    before = [p.detach().clone() for p in model.parameters()]
    return optimizer, loss_of, twin_opt, twin_loss, before, model, twin


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("m", [0.5, -0.25])
def test_a_step_rolled_at_m_moves_the_weights_m_times_the_plain_step(cls, m):
    optimizer, loss_of, twin_opt, twin_loss, before, model, twin = warmed_twins(cls)
    step(optimizer, loss_of)                                # the plain step
    expect_delta = cls in NOT_LINEAR_IN_LR
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        handle = attach(twin_opt, constant(m), seed=0, on_nonfinite="off")
        step(twin_opt, twin_loss)                           # the same step, rolled at m
    handle.remove()
    said = [str(w.message) for w in caught if cls.__name__ in str(w.message) and "delta" in str(w.message)]
    assert bool(said) == expect_delta, [str(w.message) for w in caught]
    assert handle.records[-1].multiplier == m
    for p0, plain, dice in zip(before, model.parameters(), twin.parameters()):
        plain_move, dice_move = plain.detach() - p0, dice.detach() - p0
        assert plain_move.abs().max() > 0, "the plain step must move the weights for this to test anything"
        torch.testing.assert_close(dice_move, m * plain_move, rtol=1e-9, atol=1e-14)


def test_the_optimizers_whose_step_is_not_linear_in_lr_really_are_not():
    """Why NOT_LINEAR_IN_LR lists them: scaling their lr for one warmed-up step is not m × the step."""
    for cls in NOT_LINEAR_IN_LR:
        optimizer, loss_of, twin_opt, twin_loss, before, model, twin = warmed_twins(cls)
        step(optimizer, loss_of)
        for g in twin_opt.param_groups:
            g["lr"] *= 0.5
        step(twin_opt, twin_loss)
        off = max(((d.detach() - p0) - 0.5 * (p.detach() - p0)).abs().max().item()
                  for p0, p, d in zip(before, model.parameters(), twin.parameters()))
        assert off > 1e-8, cls.__name__
