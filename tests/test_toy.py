"""Toy datasets (rtt_edu.data.toy): exact shapes, seeded, split as documented, global RNG untouched."""
import math
import random

import numpy as np
import pytest
import torch

from rtt_edu.data.toy import DATASETS, ToyData, make_blobs, make_dataset
from rtt_edu.errors import RollToTrainError

pytestmark = pytest.mark.usefixtures("one_thread")


def global_rng_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone()


def assert_same_rng(before, after):
    assert before[0] == after[0]
    assert np.array_equal(before[1], after[1])
    assert torch.equal(before[2], after[2])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_seed_same_points_other_seed_other_points(name):
    a, b, c = make_dataset(name, seed=3), make_dataset(name, seed=3), make_dataset(name, seed=4)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train)


def test_generators_never_touch_the_global_rng():
    before = global_rng_states()
    for name in DATASETS:
        make_dataset(name, seed=1)
    assert_same_rng(before, global_rng_states())


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_split_sizes_dtypes_and_class_balance(name):
    data = make_dataset(name, n=401, noise=0.1, seed=0, test_fraction=0.25)
    assert isinstance(data, ToyData) and data.name == name
    assert (len(data.X_train), len(data.X_test)) == (401 - 100, 100)        # round(401 · 0.25) = 100 held out
    assert data.X_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.X.shape == (401, 2) and torch.equal(data.X[:301], data.X_train)
    k = data.classes
    expected = [401 // k + (i < 401 % k) for i in range(k)]                 # the first classes get one more
    assert torch.bincount(data.y, minlength=k).tolist() == expected


def test_noise_is_gaussian_jitter_on_the_exact_shape():
    """Same seed: X(σ) - X(0) = σ·ε with the same ε, so it doubles with σ and ε is standard normal."""
    exact = make_dataset("circles", n=4000, noise=0.0, seed=5).X
    d1 = make_dataset("circles", n=4000, noise=0.1, seed=5).X - exact
    d2 = make_dataset("circles", n=4000, noise=0.2, seed=5).X - exact
    assert torch.allclose(d2, 2 * d1, atol=1e-6)
    eps = (d1 / 0.1).double()
    assert abs(eps.mean().item()) < 0.05 and abs(eps.std().item() - 1) < 0.03


def test_exact_shapes_without_noise():
    moons = make_dataset("moons", n=200, noise=0.0, seed=0)
    X, y = moons.X.double() + torch.tensor([0.5, 0.25], dtype=torch.float64), moons.y
    centre = torch.where(y[:, None] == 0, torch.tensor([0.0, 0.0], dtype=torch.float64),
                         torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert torch.allclose((X - centre).norm(dim=1), torch.ones(200, dtype=torch.float64), atol=1e-6)
    circles = make_dataset("circles", n=200, noise=0.0, seed=0)
    radius = circles.X.norm(dim=1)
    assert torch.allclose(radius, torch.where(circles.y == 0, 1.0, 0.5), atol=1e-6)
    xor = make_dataset("xor", n=200, noise=0.0, seed=0)
    assert torch.equal((xor.X[:, 0] * xor.X[:, 1] < 0).long(), xor.y)
    spiral = make_dataset("spiral", n=200, noise=0.0, seed=0)
    r = spiral.X.double().norm(dim=1)
    theta = torch.atan2(spiral.X[:, 1].double(), spiral.X[:, 0].double())
    expected = 4 * math.pi * r + math.pi * spiral.y.double()                 # θ = 4πt + πk, t = r
    gap = torch.remainder(theta - expected + math.pi, 2 * math.pi) - math.pi
    assert gap.abs().max() < 1e-4


def test_blob_centres_sit_on_the_circle():
    data = make_blobs(n=3000, noise=0.0, seed=2, classes=3)
    for k in range(3):
        centre = 1.5 * torch.tensor([math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)])
        mean = data.X[data.y == k].mean(0)
        assert (mean - centre).norm() < 4 * 0.4 / math.sqrt(1000)            # four standard errors


@pytest.mark.parametrize("call,needle", [
    (lambda: make_dataset("spirals"), "name='spirals'"),
    (lambda: make_dataset("moons", n=3), "n=3"),
    (lambda: make_dataset("moons", noise=-0.1), "noise=-0.1"),
    (lambda: make_dataset("moons", noise=float("nan")), "noise=nan"),
    (lambda: make_dataset("moons", test_fraction=1.0), "test_fraction=1.0"),
    (lambda: make_dataset("moons", seed=-1), "seed=-1"),
    (lambda: make_blobs(classes=1), "classes=1"),
])
def test_bad_arguments_are_named(call, needle):
    with pytest.raises((RollToTrainError, TypeError)) as err:
        call()
    assert needle in str(err.value)
