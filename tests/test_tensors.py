"""The optimizer's parameters in order, and float-or-tensor learning rates scaled and restored alike."""
import pytest
import torch

from rtt_edu.engine.tensors import optimizer_params, restore_lrs, saved_lr, scale_lr, scale_lrs, set_lr


def _optimizer(lr):
    """Two groups; a tensor rate is cloned per group (see the shared-tensor test for one shared tensor)."""
    a, b, c = (torch.nn.Parameter(torch.full((2,), float(i))) for i in range(3))
    own = lr.clone() if isinstance(lr, torch.Tensor) else lr
    opt = torch.optim.SGD([{"params": [a, b]}, {"params": [c], "lr": own}], lr=lr)
    return opt, (a, b, c)


def test_optimizer_params_lists_every_group_in_order_and_with_grad_only_those_with_a_gradient():
    opt, (a, b, c) = _optimizer(0.1)
    assert [id(p) for p in optimizer_params(opt)] == [id(a), id(b), id(c)]
    assert optimizer_params(opt, grad=True) == []
    (a.sum() + c.sum()).backward()
    assert [id(p) for p in optimizer_params(opt, grad=True)] == [id(a), id(c)]


@pytest.mark.parametrize("lr", [0.1, torch.tensor(0.1)])
def test_a_rate_scaled_then_set_back_is_the_rate_it_was_float_or_tensor(lr):
    opt, _ = _optimizer(lr)
    group = opt.param_groups[1]
    held = group["lr"]                      # what a scheduler or a compiled step holds
    before = saved_lr(group)
    scale_lr(group, 0.25)
    assert float(group["lr"]) == float(torch.tensor(0.1) * 0.25 if isinstance(lr, torch.Tensor) else 0.1 * 0.25)
    if isinstance(lr, torch.Tensor):
        assert group["lr"] is held and before is not held and float(before) == float(torch.tensor(0.1))
    set_lr(group, before)
    assert float(group["lr"]) == float(torch.tensor(0.1) if isinstance(lr, torch.Tensor) else 0.1)
    set_lr(group, 0.5)
    assert float(group["lr"]) == 0.5 and (group["lr"] is held or not isinstance(lr, torch.Tensor))


@pytest.mark.parametrize("lr", [0.1, torch.tensor(0.1)])
def test_a_step_at_a_scaled_rate_is_the_plain_step_at_that_rate(lr):
    opt, params = _optimizer(lr)
    plain, reference = _optimizer(0.1 * 0.5)
    for ps in (params, reference):
        (ps[0].sum() * 3 + ps[2].sum()).backward()
    for group in opt.param_groups:
        scale_lr(group, 0.5)
    opt.step()
    plain.step()
    for p, q in zip(params, reference):
        assert torch.allclose(p.detach(), q.detach(), rtol=0, atol=1e-7)


@pytest.mark.parametrize("lr", [0.1, torch.tensor(0.1)])
def test_one_tensor_shared_by_every_group_is_scaled_once_and_restored(lr):
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=lr)       # torch shares the default tensor
    before = [float(g["lr"]) for g in opt.param_groups]
    saved = scale_lrs(opt, 0.25)
    expected = [float(torch.as_tensor(x) * 0.25) if isinstance(lr, torch.Tensor) else x * 0.25 for x in before]
    assert [float(g["lr"]) for g in opt.param_groups] == expected
    restore_lrs(opt, saved)
    assert [float(g["lr"]) for g in opt.param_groups] == before
