"""The MLP builder (rtt_edu.models.mlp): its layers, PyTorch's default init from a seed, bad arguments named,
and that it learns the moons."""
import math

import pytest
import torch

from rtt_edu.data.toy import make_dataset
from rtt_edu.errors import RollToTrainError
from rtt_edu.models.mlp import ACTIVATIONS, mlp

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("call,needle", [
    (lambda: mlp(hidden=(16, 0)), "hidden[1]=0"),
    (lambda: mlp(activation="swish"), "activation='swish'"),
    (lambda: mlp(hidden="16"), "hidden='16'"),
])
def test_bad_arguments_are_named(call, needle):
    with pytest.raises((RollToTrainError, TypeError)) as err:
        call()
    assert needle in str(err.value)


def test_mlp_layers_and_seeded_pytorch_default_init():
    model = mlp(in_features=2, hidden=(16, 8), out_features=3, activation="tanh", seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 16), (16, 8), (8, 3)]
    for layer in linears:
        bound = 1 / math.sqrt(layer.in_features)
        for p in (layer.weight, layer.bias):
            assert p.abs().max() <= bound
    big = mlp(in_features=4, hidden=(4096,), seed=1)[0].weight            # 16384 draws of U(-1/2, 1/2)
    assert big.min() < -0.499 and big.max() > 0.499 and abs(big.mean().item()) < 0.01
    assert abs(big.var().item() - 1 / 12) < 0.003                           # the variance of U(-b, b) is b²/3
    same, other = mlp(seed=0), mlp(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(mlp(seed=0).parameters(), same.parameters()))
    assert not torch.equal(same[0].weight, other[0].weight)
    assert [type(m).__name__ for m in mlp(hidden=())] == ["Linear"]
    assert set(ACTIVATIONS) >= {"relu", "tanh"}


def test_the_mlp_never_touches_the_global_rng():
    before = torch.get_rng_state().clone()
    mlp(in_features=3, hidden=(32, 32), seed=1)
    assert torch.equal(before, torch.get_rng_state())


def test_the_mlp_learns_the_moons():
    data = make_dataset("moons", n=400, noise=0.1, seed=0)
    model = mlp(seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(data.X_train), data.y_train).backward()
        optimizer.step()
    accuracy = (model(data.X_test).argmax(1) == data.y_test).float().mean().item()
    assert accuracy > 0.95
