"""The batched many-seeds trainer (rtt_edu.training.batched) against PyTorch: each seed is exactly its own
sequential run."""
import copy

import pytest
import torch
from torch.nn import functional as F

from rtt_edu import DiceRoller, SavingThrow, attach
from rtt_edu.data.toy import make_dataset
from rtt_edu.errors import RollToTrainError
from rtt_edu.models.mlp import mlp
from rtt_edu.training.batched import ACTIVATION_GRADS, SeedBatch, roll_multiplier
from rtt_edu.training.optimizers import OPTIMIZERS

LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.01}


pytestmark = pytest.mark.usefixtures("one_thread")


def sequential(seed, optimizer, steps, rules="classroom", dataset="moons", hidden=16, layers=2, intelligence=10):
    """Seed ``seed`` trained the ordinary way: the torch optimizer of the same name, attach for the dice."""
    data = make_dataset(dataset, n=400, noise=0.1, seed=seed)
    dice = mlp(2, (hidden,) * layers, data.classes, seed=seed)
    plain = copy.deepcopy(dice)
    opt_d = OPTIMIZERS[optimizer].make(dice.parameters(), LR[optimizer])
    opt_p = OPTIMIZERS[optimizer].make(plain.parameters(), LR[optimizer])
    handle = attach(opt_d, rules, seed=seed, on_nonfinite="off", intelligence=intelligence)
    plain_losses = []
    for _ in range(steps):
        for model, opt in ((dice, opt_d), (plain, opt_p)):
            opt.zero_grad()
            loss = F.cross_entropy(model(data.X_train), data.y_train)
            loss.backward()
            if model is dice:
                handle.observe_loss(loss)
            else:
                plain_losses.append(loss.item())
            opt.step()
    return handle.history, plain_losses, dice, plain


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_each_seed_matches_its_sequential_run(optimizer):
    seeds, steps = [3, 11], 25
    batch = SeedBatch("moons", seeds=seeds, optimizer=optimizer, lr=LR[optimizer], intelligence=14)
    batch.step(steps)
    for i, seed in enumerate(seeds):
        history, plain_losses, dice_model, _ = sequential(seed, optimizer, steps, intelligence=14)
        assert batch.multipliers[i].tolist() == history.multipliers          # the same rolls, exactly
        dice_losses, plain_losses = (torch.tensor(x, dtype=torch.float64) for x in (history.losses, plain_losses))
        assert torch.allclose(batch.dice_losses[i].double(), dice_losses, atol=1e-6, rtol=1e-5)
        assert torch.allclose(batch.plain_losses[i].double(), plain_losses, atol=1e-6, rtol=1e-5)
    assert len(set(batch.multipliers.flatten().tolist())) > 1                  # the dice did vary


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_a_dice_update_is_exactly_m_times_the_plain_update(optimizer):
    batch = SeedBatch("xor", seeds=[0, 1, 2, 3, 4, 5], rules=SavingThrow(dc=11, crit_fail=-0.5, fail=0.0,
                                                                          success=0.5, crit_success=1.0),
                      optimizer=optimizer, lr=LR[optimizer], group_size=5)    # three groups of two seeds
    before = [rows.clone() for rows in batch.parameters()]
    batch.step(1)
    after = batch.parameters()
    m = batch.multipliers[:, 0]
    dice_change, plain_change = after[0] - before[0], after[1] - before[1]
    assert torch.allclose(dice_change.double(), m[:, None] * plain_change.double(), atol=1e-7)
    assert torch.equal(before[0], before[1])                                   # twins start from the same weights
    assert len(batch.groups) == 3 and not torch.equal(before[0][0], before[0][1])   # seeds differ


@pytest.mark.parametrize("activation", sorted(ACTIVATION_GRADS))
@pytest.mark.parametrize("layers", [0, 1, 3])
def test_hand_written_gradients_equal_autograd(activation, layers):
    batch = SeedBatch("blobs", seeds=[0, 1], activation=activation, layers=layers, hidden=8)
    batch.step(3)                                      # away from the initial weights
    group = batch.groups[0]
    loss, grad = batch.loss_and_grad(group)
    flat = group["flat"].clone().requires_grad_()
    reference = F.cross_entropy(batch.forward(flat, group["X"]), group["y"], reduction="none").mean(1)
    reference.sum().backward()
    assert grad.shape == flat.shape == (4, grad.shape[1])
    assert torch.allclose(loss, reference.detach(), atol=1e-6)
    assert torch.allclose(grad, flat.grad, atol=1e-6, rtol=1e-5)


def test_group_size_does_not_change_the_result():
    a = SeedBatch("circles", seeds=5, optimizer="adam", lr=0.01, group_size=1)
    b = SeedBatch("circles", seeds=5, optimizer="adam", lr=0.01, group_size=10)
    a.step(15)
    b.step(15)
    assert torch.allclose(a.dice_losses, b.dice_losses, atol=1e-6) and torch.equal(a.multipliers, b.multipliers)
    assert len(a.groups) == 5 and len(b.groups) == 1         # a group holds at least one seed's dice and plain runs


def test_group_by_group_on_threads_gives_the_same_numbers_as_all_at_once():
    whole = SeedBatch("moons", seeds=7, optimizer="momentum", lr=0.05)
    whole.step(20, workers=1)
    parts = SeedBatch("moons", seeds=7, optimizer="momentum", lr=0.05, group_size=4, first_group=2)
    assert parts.spans == [(0, 1), (1, 3), (3, 5), (5, 7)] and parts.steps == 0
    parts.step(20, groups=[0])                              # the first seed alone, to the end
    assert parts.seeds_at(20) == 1 and parts.steps == 0 and parts.losses(1)[0].shape == (1, 20)
    assert parts._groups[3] is None                         # the last seeds' data are not even built yet
    parts.step(12, groups=[1, 2, 3], workers=2)             # the others on two threads, in two calls
    assert parts.seeds_at(12) == 7 and parts.seeds_at(20) == 1
    parts.step(8, groups=[1, 2, 3], workers=2)
    assert parts.steps == 20 and parts.seeds_at(20) == 7
    for mine, theirs in ((parts.dice_losses, whole.dice_losses), (parts.plain_losses, whole.plain_losses),
                         (parts.multipliers, whole.multipliers), *zip(parts.test_accuracy().values(),
                                                                      whole.test_accuracy().values())):
        assert torch.equal(mine, theirs)
    dice, plain = parts.losses(seeds=3)
    assert torch.equal(dice, whole.dice_losses[:3]) and torch.equal(plain, whole.plain_losses[:3])
    assert torch.equal(parts.test_accuracy(seeds=3)["plain"], whole.test_accuracy()["plain"][:3])


def test_usable_cores_follow_the_affinity_and_free_cores_the_load(monkeypatch):
    from rtt_edu.training import batched
    monkeypatch.setattr(batched.os, "sched_getaffinity", lambda pid: {0})
    assert batched.usable_cores() == 1 and batched.free_cores() == 1
    monkeypatch.setattr(batched.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert 1 <= batched.usable_cores() <= 64
    monkeypatch.setattr(batched, "usable_cores", lambda: 2)
    for load, free in ((0.2, 2), (1.4, 2), (1.6, 1), (6.0, 1)):   # another job on one of two cores: one thread
        monkeypatch.setattr(batched.os, "getloadavg", lambda load=load: (load, load, load))
        assert batched.free_cores() == free


def test_same_settings_same_numbers_and_test_accuracy():
    a, b = SeedBatch("blobs", seeds=[7, 8], layers=1), SeedBatch("blobs", seeds=[7, 8], layers=1)
    a.step(30)
    b.step(30)
    assert torch.equal(a.dice_losses, b.dice_losses) and torch.equal(a.plain_losses, b.plain_losses)
    accuracy = a.test_accuracy()
    assert accuracy["dice"].shape == (2,) and torch.equal(accuracy["plain"], b.test_accuracy()["plain"])
    _, _, _, plain = sequential(8, "sgd", 30, dataset="blobs", layers=1)
    data = make_dataset("blobs", seed=8)
    expected = (plain(data.X_test).argmax(1) == data.y_test).double().mean()
    assert accuracy["plain"][1].item() == pytest.approx(expected.item())


def test_roll_multiplier_reads_the_rule_as_the_game_master_does():
    rule = SavingThrow(dc=14, modifier=1, disadvantage=True, success=0.5, fail=0.1)
    roller = DiceRoller(9)
    got = [roll_multiplier(rule, roller, intelligence=16) for _ in range(200)]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    handle = attach(opt, rule, seed=9, intelligence=16, on_nonfinite="off")
    for _ in range(200):
        opt.param_groups[0]["params"][0].grad = torch.zeros(1)
        opt.step()
    assert got == handle.history.multipliers


@pytest.mark.parametrize("kwargs,needle", [
    (dict(seeds=[1, 1]), "seeds=[1, 1]"), (dict(seeds=[]), "seeds=[]"), (dict(seeds="ab"), "seeds='ab'"),
    (dict(optimizer="rmsprop"), "optimizer='rmsprop'"), (dict(lr=0.0), "lr=0.0"),
    (dict(dataset="iris"), "dataset='iris'"),
    (dict(layers=-1), "layers=-1"), (dict(group_size=0), "group_size=0"), (dict(rules="nope"), "rules='nope'"),
    (dict(first_group=0), "first_group=0"),
])
def test_bad_settings_are_named(kwargs, needle):
    with pytest.raises((RollToTrainError, TypeError)) as err:
        SeedBatch(**kwargs)
    assert needle in str(err.value)
    with pytest.raises(RollToTrainError, match="n=-1"):
        SeedBatch(seeds=2).step(-1)


def test_the_thread_count_is_restored():
    torch.set_num_threads(2)
    SeedBatch(seeds=2).step(2)
    assert torch.get_num_threads() == 2
