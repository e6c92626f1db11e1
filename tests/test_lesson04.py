"""Lesson 4's code (rtt_edu.course.lesson04): the sharpness is the Hessian's top eigenvalue, and its
self-checks: right answers pass, each known mistake gets its own hint."""
import math

import matplotlib
import pytest
import torch

from helpers import fails, passes

matplotlib.use("Agg")

from rtt_edu.course import lesson04 as c4  # noqa: E402
from rtt_edu.errors import RollToTrainError  # noqa: E402


def test_lesson4_sharpness_is_the_top_hessian_eigenvalue():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    X = torch.randn(20, 2, dtype=torch.float64)
    y = (X[:, 0] > 0).long()
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(vector):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            size = math.prod(shape)
            params[name] = vector[start:start + size].reshape(shape)
            start += size
        return torch.nn.functional.cross_entropy(torch.func.functional_call(model, params, (X,)), y)

    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))
    top = max(eigenvalues.abs()).item()
    value, _ = c4.sharpness(model, X, y, iterations=300)
    assert value == pytest.approx(top, rel=1e-4)


def test_check_effective_lr_and_counts():
    passes(c4.check_effective_lr(0.0475, "classroom", lr=0.1))
    fails(c4.check_effective_lr(0.1, "classroom", lr=0.1), "plain learning rate")
    fails(c4.check_effective_lr(0.475, "classroom", lr=0.1), "Multiply")
    from rtt_edu import SavingThrow
    dc13 = SavingThrow.preset("classroom", dc=13)
    passes(c4.check_effective_lr(0.17, dc13, lr=0.4, before="classroom"))
    fails(c4.check_effective_lr(0.19, dc13, lr=0.4, before="classroom"), "before the change")
    fails(c4.check_effective_lr(None, dc13, lr=0.4), "replace `None`")
    passes(c4.check_expected_count(350, "seed-code", steps=500, kind="skipped"))
    passes(c4.check_expected_count(325, "seed-methodology", steps=500, kind="uphill"))
    fails(c4.check_expected_count(None, "seed-code", steps=500), "replace `None`")
    passes(c4.check_expected_count(210, "seed-code", steps=300, kind="skipped"))
    passes(c4.check_expected_count(210, "seed-readme", steps=300, kind="uphill"))
    fails(c4.check_expected_count(0.7, "seed-code", steps=300), "probability of one step")
    fails(c4.check_expected_count(90, "seed-code", steps=300), "other steps")
    with pytest.raises(RollToTrainError, match="kind="):
        c4.check_expected_count(1, kind="sideways")


def test_check_dc15():
    assert c4.check_dc15("slower") and not c4.check_dc15("faster") and not c4.check_dc15(None)


def test_train_and_test_losses_record_both_losses_of_the_plain_run():
    from rtt_edu.views.widgets import TrainingConfig
    config = TrainingConfig(dataset="moons", noise=0.2, lr=0.5, rules="plain", experience=False, seed=0)
    curves = c4.train_and_test_losses(config, steps=30)
    assert len(curves["train"]) == len(curves["test"]) == 30
    assert curves["train"][-1] < curves["train"][0] and curves["test"][-1] < curves["test"][0]
    assert curves["train"][0] == pytest.approx(c4.sharpness_along(config, steps=1)["losses"][0])
    assert c4.plot_train_test(curves).axes[0].get_xlabel() == "step"


def test_the_quiz_names_its_mistakes():
    fails(c4.check_quiz("a", 1), "lowers the line 2 / lr")
    fails(c4.check_quiz("a", 2), "the test loss gets worse")
    fails(c4.check_quiz("b", 3), "no saving throw")
    with pytest.raises(RollToTrainError, match="number="):
        c4.check_quiz("a", 5)
