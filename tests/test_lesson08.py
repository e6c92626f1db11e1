"""Lesson 8's code (rtt_edu.course.lesson08): its task and its self-checks, whose expected values agree
with an independent computation (simulated epochs, the trainer, a real optimizer step)."""
import math
import statistics

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rtt_edu import DiceRoller, RollToTrain, SavingThrow, attach
from rtt_edu.course import lesson06 as c6
from rtt_edu.course import lesson08 as c8


def test_lesson08_first_adam_step_check():
    assert c8.check_first_adam_step(1.0)
    assert "update" in c8.check_first_adam_step(0.5).message


def test_lesson08_optimizers_are_the_librarys_at_the_lessons_learning_rates():
    params = [torch.nn.Parameter(torch.zeros(2))]
    built = {label: make(params) for label, make in c8.OPTIMIZERS.items()}
    assert list(built) == ["SGD", "SGD + momentum 0.9", "Adam"]
    assert [(type(o), o.defaults["lr"]) for o in built.values()] == [
        (torch.optim.SGD, 0.1), (torch.optim.SGD, 0.1), (torch.optim.Adam, 0.01)]
    assert [o.defaults.get("momentum") for o in built.values()][:2] == [0, 0.9]


def test_lesson08_trains_lesson06s_network_on_lesson06s_points():
    X, y = c6.quadrants(seed=0)
    assert torch.equal(c8.X, X) and torch.equal(c8.y, y) and c8.make_model is c6.make_model


def test_epoch_noise_against_simulated_epochs():
    rule = SavingThrow.preset("classroom")
    roller = DiceRoller(seed=9)
    means = [statistics.fmean(rule.multiplier(roller.roll("d20").natural) for _ in range(8)) for _ in range(20_000)]
    expected = math.sqrt(rule.variance() / 8)
    assert statistics.pstdev(means) == pytest.approx(expected, rel=0.03)
    assert c8.check_epoch_noise(expected) and not c8.check_epoch_noise(math.sqrt(rule.variance() / 64))


def test_accumulation_rolls_against_the_trainer():
    data = TensorDataset(torch.randn(100, 2, generator=torch.Generator().manual_seed(0)), torch.zeros(100))
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), mode="per_accumulation_step",
                          accumulation_steps=16, loss_fn=torch.nn.MSELoss(), seed=0, progress=False)
    trainer.train(DataLoader(data, batch_size=1))
    assert c8.check_accumulation_rolls(len(trainer.history), batches=100, window=16)
    assert "full windows only" in c8.check_accumulation_rolls(6).message


def test_sgd_and_adam_ratio_checks_agree_with_a_real_step():
    def ratio(opt_class, m, **kw):
        changes = []
        for dice in (False, True):
            p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
            opt = opt_class([p], **kw)
            handle = attach(opt, SavingThrow(dc=11, crit_fail=m, fail=m, success=m, crit_success=m),
                            seed=0, target="gradient") if dice else None
            (p * torch.tensor([0.3, 0.1, -0.7])).sum().backward()
            before = p.detach().clone()
            opt.step()
            changes.append(p.detach() - before)
            if handle:
                handle.remove()
        return float(changes[1] @ changes[0] / (changes[0] @ changes[0]))
    assert c8.check_sgd_gradient_ratio(ratio(torch.optim.SGD, 0.25, lr=0.1))
    with pytest.warns(Warning):
        adam = ratio(torch.optim.Adam, -0.5, lr=0.01)
    assert c8.check_adam_first_step(adam) and not c8.check_adam_first_step(-0.5)


def test_quiz_right_letters_wrong_letters_and_none():
    assert [q.right for q in c8.QUIZ] == ["c", "a", "b", "d", "a"]
    with pytest.raises(ValueError):
        c8.check_quiz("a", 0)


def test_quiz_1_adam_divides_a_constant_scale_away():
    """Quiz 1's answer: Adam's step with every gradient times 10 is the plain step (up to ε)."""
    def steps(scale):
        p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
        opt = torch.optim.Adam([p], lr=0.01)
        for k in range(5):
            opt.zero_grad()
            (scale * (p * torch.tensor([0.3, 0.1 * k, -0.7])).sum()).backward()
            opt.step()
        return p.detach()
    assert torch.allclose(steps(10.0), steps(1.0), atol=1e-6)


def test_quiz_3_a_skipped_update_step_still_feeds_adam():
    """Quiz 3's answer: m = 0 with target='update' leaves the weights but changes Adam's averages."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.Adam([p], lr=0.01)
    with pytest.warns(Warning):                   # a rule of m = 0 makes no progress: the library says so
        handle = attach(opt, SavingThrow(dc=11, crit_fail=0.0, fail=0.0, success=0.0, crit_success=0.0),
                        seed=0, target="update")
    (p * torch.tensor([0.5, 0.25])).sum().backward()
    opt.step()
    handle.remove()
    assert torch.equal(p.detach(), torch.tensor([1.0, -2.0])) and float(opt.state[p]["exp_avg_sq"].sum()) > 0
