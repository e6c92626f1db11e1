"""Oracle tests: a step with multiplier m is exactly m times the plain PyTorch step."""
import copy
import warnings

import pytest
import torch

from helpers import seeded
from rtt_edu import NegativeDriftWarning, SavingThrow, attach


def constant_rule(m):
    """A rule whose every band is m, so the multiplier of each step is known in advance."""
    return SavingThrow(dc=11, crit_success=m, success=m, fail=m, crit_fail=m)


OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
    "adam-foreach": lambda ps: torch.optim.Adam(ps, lr=0.01, foreach=True),
    "adam-fused": lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "adamw-tensor-lr": lambda ps: torch.optim.AdamW(ps, lr=torch.tensor(0.01), weight_decay=0.1),
}


def make_model(seed=0):
    return seeded(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)), seed, scale=0.5)


def batch(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)


def backward(model, step):
    x, y = batch(step)
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss


def plain_step_from(model, opt, make_opt, step):
    """The plain step from exactly the current state, on copies: returns each parameter's delta."""
    ref_model = copy.deepcopy(model)
    ref_opt = make_opt(list(ref_model.parameters()))
    ref_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    for p, q in zip(model.parameters(), ref_model.parameters()):
        q.grad = p.grad.clone()
    before = [q.detach().clone() for q in ref_model.parameters()]
    ref_opt.step()
    return [q.detach() - b for q, b in zip(ref_model.parameters(), before)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("m", [1.0, 0.0, -1.0, 0.5, 0.37])
def test_update_target_scales_every_step_exactly(name, m):
    make_opt = OPTIMIZERS[name]
    model = make_model()
    opt = make_opt(list(model.parameters()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)   # m <= 0 is the point here
        handle = attach(opt, constant_rule(m), seed=0)
    lr_before = [g["lr"] if not torch.is_tensor(g["lr"]) else g["lr"].clone() for g in opt.param_groups]
    for step in range(4):
        opt.zero_grad()
        backward(model, step)
        expected = plain_step_from(model, opt, make_opt, step)
        before = [p.detach().clone() for p in model.parameters()]
        opt.step()
        for p, b, e in zip(model.parameters(), before, expected):
            delta = p.detach() - b
            if m == 1.0:
                assert torch.equal(delta, e)
            elif m == 0.0:
                assert not delta.any()
            else:
                torch.testing.assert_close(delta, m * e, rtol=2e-5, atol=1e-7)
    for g, lr in zip(opt.param_groups, lr_before):           # the learning rate is restored after each step
        assert torch.equal(g["lr"], lr) if torch.is_tensor(lr) else g["lr"] == lr
    assert [r.multiplier for r in handle.records] == [m] * 4
    handle.remove()


@pytest.mark.parametrize("make_opt", [lambda ps: torch.optim.RMSprop(ps, lr=0.01),
                                      lambda ps: torch.optim.Adagrad(ps, lr=0.1),
                                      lambda ps: torch.optim.Adam(ps, lr=0.01)])
def test_delta_target_scales_the_parameter_change_of_any_optimizer(make_opt):
    model = make_model()
    opt = make_opt(list(model.parameters()))
    handle = attach(opt, constant_rule(0.25), seed=0, target="delta")
    for step in range(3):
        opt.zero_grad()
        backward(model, step)
        expected = plain_step_from(model, opt, make_opt, step)
        before = [p.detach().clone() for p in model.parameters()]
        opt.step()
        for p, b, e in zip(model.parameters(), before, expected):
            torch.testing.assert_close(p.detach() - b, 0.25 * e, rtol=1e-5, atol=1e-7)
    handle.remove()


def test_gradient_target_scales_sgd_but_adam_shrugs_it_off():
    for name, scales in (("sgd", True), ("adam", False)):
        make_opt = OPTIMIZERS[name]
        model = make_model()
        opt = make_opt(list(model.parameters()))
        handle = attach(opt, constant_rule(0.5), seed=0, target="gradient")
        opt.zero_grad()
        backward(model, 0)
        expected = plain_step_from(model, opt, make_opt, 0)
        before = [p.detach().clone() for p in model.parameters()]
        opt.step()
        for p, b, e in zip(model.parameters(), before, expected):
            delta = p.detach() - b
            if scales:
                torch.testing.assert_close(delta, 0.5 * e)
            else:   # Adam divides by sqrt(v): the 0.5 cancels (up to eps)
                torch.testing.assert_close(delta, e, rtol=1e-3, atol=1e-6)
        handle.remove()


def test_records_follow_a_roller_with_the_same_seed(tiny_sgd):
    from rtt_edu import DiceRoller
    model, opt = tiny_sgd
    rule = SavingThrow.preset("classroom")
    handle = attach(opt, rule, seed=123)
    for _ in range(30):
        opt.zero_grad()
        loss = model(torch.ones(2, 3)).sum()
        loss.backward()
        handle.observe_loss(loss)
        opt.step()
    roller = DiceRoller(seed=123)
    naturals = [roller.roll("d20").natural for _ in range(30)]
    assert [r.natural for r in handle.records] == naturals
    assert [r.multiplier for r in handle.records] == [rule.multiplier(k) for k in naturals]
    assert [r.step for r in handle.records] == list(range(30))
    assert all(isinstance(r.loss, float) for r in handle.records)


def test_remove_restores_a_plain_optimizer(tiny_sgd):
    model, opt = tiny_sgd
    with pytest.warns(NegativeDriftWarning):
        handle = attach(opt, constant_rule(0.0), seed=0)
    handle.remove()
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    assert not all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert len(handle.records) == 0


def test_intelligence_adds_its_modifier_to_every_save(tiny_sgd):
    model, opt = tiny_sgd
    handle = attach(opt, "classroom", seed=5, intelligence=18)   # +4
    for _ in range(20):
        model(torch.ones(1, 3)).sum().backward()
        opt.step()
        opt.zero_grad()
    assert all(r.total == r.natural + 4 and r.modifier == 4 for r in handle.records)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(target="weights"), "target='weights'"), (dict(rules="nope"), "name='nope'"),
    (dict(rules=3), "rules=3"), (dict(intelligence=0), "score=0"), (dict(seed="7"), "seed='7'"),
    (dict(on_nonfinite="ignore"), "on_nonfinite='ignore'"), (dict(use_roller="x"), "use_roller"),
])
def test_bad_attach_arguments_are_refused(tiny_sgd, kwargs, needle):
    model, opt = tiny_sgd
    with pytest.raises((ValueError, TypeError)) as err:
        attach(opt, **kwargs)
    assert needle in str(err.value)
    assert not opt._optimizer_step_pre_hooks


def test_attach_refuses_a_non_optimizer():
    with pytest.raises(TypeError, match="optimizer="):
        attach("adam")


def test_an_owned_handle_is_never_replaced_by_another_game_master(tiny_sgd):
    from rtt_edu import AttachHandle, RollToTrainError
    from rtt_edu.training.game import GameConfig, build_master
    model, opt = tiny_sgd
    owned = AttachHandle(opt, build_master(GameConfig(rules="classroom", seed=0)), owner="a lesson's run")
    with pytest.raises(RollToTrainError, match=r"optimizer=SGD: a lesson's run is training with it now"):
        attach(opt, "classroom", seed=1)
    assert owned.attached and len(opt._optimizer_step_pre_hooks) == 1
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    assert len(owned.records) == 1                   # the owner still rolls every step
    again = AttachHandle(opt, owned.master)          # its own master may attach again (the next train())
    assert again.attached and not owned.attached and len(opt._optimizer_step_pre_hooks) == 1
    again.remove()                                   # a removed handle blocks nothing, and warns of nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        handle = attach(opt, "classroom", seed=1)
    assert handle.attached and not owned.attached and not again.attached
