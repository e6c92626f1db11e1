"""Two-dimensional toy datasets, generated from a seed: moons, circles, xor, spiral and blobs.

    data = make_dataset("moons", n=400, noise=0.1, seed=0)      # or make_moons(n=400, ...)
    data.X_train.shape, data.y_train.shape                      # (300, 2) float32, (300,) int64
    data.X_test, data.y_test                                    # the held-out quarter
    data.X, data.y                                              # every point, train first

Every generator draws from its own ``numpy.random.Generator`` built from ``seed`` (never the global
numpy, random or torch state), so the same seed gives the same points on every machine. Each
shape is exact before noise; ``noise`` is the standard deviation of Gaussian jitter N(0, noise²)
added to both coordinates of every point. Points are split evenly between the classes (the first
classes get one more when ``n`` does not divide), shuffled with the same generator, and the last
``round(n × test_fraction)`` of the shuffle are the test set.

==========  ======================================================================  =========
name        exact shape (before noise), class k                                     classes
==========  ======================================================================  =========
moons       k=0: (cos t, sin t); k=1: (1 - cos t, 1/2 - sin t), t evenly on [0, π],   2
            shifted by (-1/2, -1/4) to centre them
circles     radius 1 (k=0) and 1/2 (k=1), angle uniform on [0, 2π)                    2
xor         u uniform on [-1, 1]²; class 1 where u₁·u₂ < 0                            2
spiral      t evenly on [0.05, 1]: t·(cos θ, sin θ), θ = 4πt + πk (two turns each)    2
blobs       centre 1.5·(cos 2πk/K, sin 2πk/K) + N(0, 0.4²) spread, k = 0..K-1         K (3)
==========  ======================================================================  =========
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rtt_edu.errors import check_type, require

__all__ = ["ToyData", "make_moons", "make_circles", "make_xor", "make_spiral", "make_blobs",
           "make_dataset", "DATASETS"]

MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class ToyData:
    """A seeded 2-D classification set, split into train and test tensors."""
    X_train: torch.Tensor   # (n_train, 2) float32 points
    y_train: torch.Tensor   # (n_train,) int64 class labels 0..classes-1
    X_test: torch.Tensor    # (n_test, 2) float32
    y_test: torch.Tensor    # (n_test,) int64
    classes: int            # number of classes (the MLP's out_features)
    name: str               # the dataset's name in DATASETS

    @property
    def X(self) -> torch.Tensor:
        """Every point, train then test: (n, 2)."""
        return torch.cat([self.X_train, self.X_test])

    @property
    def y(self) -> torch.Tensor:
        """Every label, train then test: (n,)."""
        return torch.cat([self.y_train, self.y_test])


def _per_class(n: int, classes: int) -> list:
    """n points split evenly between classes; the first ``n % classes`` classes get one more."""
    return [n // classes + (k < n % classes) for k in range(classes)]


def _moons(rng, counts):
    parts = []
    for k, m in enumerate(counts):
        t = np.linspace(0.0, math.pi, m)
        xy = np.stack([np.cos(t), np.sin(t)], 1) if k == 0 else np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
        parts.append(xy - np.array([0.5, 0.25]))
    return parts


def _circles(rng, counts):
    radii = (1.0, 0.5)
    parts = []
    for k, m in enumerate(counts):
        angle = rng.uniform(0.0, 2 * math.pi, m)
        parts.append(radii[k] * np.stack([np.cos(angle), np.sin(angle)], 1))
    return parts


def _xor(rng, counts):
    parts = []
    for k, m in enumerate(counts):   # u₁ from [-1, 1], u₂ with the sign that puts u in class k
        u1 = rng.uniform(-1.0, 1.0, m)
        u2 = rng.uniform(0.0, 1.0, m) * np.where(u1 >= 0, 1.0, -1.0) * (1.0 if k == 0 else -1.0)
        parts.append(np.stack([u1, u2], 1))
    return parts


def _spiral(rng, counts):
    parts = []
    for k, m in enumerate(counts):
        t = np.linspace(0.05, 1.0, m)
        theta = 4 * math.pi * t + math.pi * k
        parts.append(t[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1))
    return parts


def _blobs(rng, counts):
    parts = []
    for k, m in enumerate(counts):
        angle = 2 * math.pi * k / len(counts)
        centre = 1.5 * np.array([math.cos(angle), math.sin(angle)])
        parts.append(centre + rng.normal(0.0, 0.4, (m, 2)))
    return parts


def _check(n, noise, seed, test_fraction, classes):
    check_type("n", n, int, "a number of points (int)")
    require(2 * classes <= n <= MAX_POINTS, "n", n, f"between {2 * classes} and {MAX_POINTS} points")
    check_type("noise", noise, (int, float), "a noise standard deviation >= 0")
    require(math.isfinite(noise) and noise >= 0, "noise", noise, "a finite noise standard deviation >= 0")
    check_type("seed", seed, int, "an integer seed >= 0")
    require(seed >= 0, "seed", seed, "an integer seed >= 0")
    check_type("test_fraction", test_fraction, (int, float), "a fraction in [0, 1)")
    require(0 <= test_fraction < 1, "test_fraction", test_fraction, "a fraction in [0, 1)")
    n_test = round(n * test_fraction)
    require(n - n_test >= classes, "test_fraction", test_fraction,
            f"a fraction leaving at least {classes} training points of n={n}")
    return n_test


def _build(name, shape, n, noise, seed, test_fraction, classes=2) -> ToyData:
    """Exact shape, then Gaussian jitter, then a seeded shuffle and split; all from one generator."""
    n_test = _check(n, noise, seed, test_fraction, classes)
    rng = np.random.default_rng(seed)
    counts = _per_class(n, classes)
    X = np.concatenate(shape(rng, counts))
    y = np.concatenate([np.full(m, k) for k, m in enumerate(counts)])
    X = X + rng.normal(0.0, 1.0, X.shape) * noise          # N(0, noise²) on each coordinate
    order = rng.permutation(n)
    X = torch.as_tensor(X[order], dtype=torch.float32)
    y = torch.as_tensor(y[order], dtype=torch.int64)
    cut = n - n_test
    return ToyData(X[:cut].contiguous(), y[:cut].contiguous(), X[cut:].contiguous(), y[cut:].contiguous(),
                   classes, name)


def make_moons(n: int = 400, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25) -> ToyData:
    """Two interleaving half circles (see the module table)."""
    return _build("moons", _moons, n, noise, seed, test_fraction)


def make_circles(n: int = 400, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25) -> ToyData:
    """A circle of radius 1 around one of radius 1/2."""
    return _build("circles", _circles, n, noise, seed, test_fraction)


def make_xor(n: int = 400, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25) -> ToyData:
    """Four quadrants, opposite quadrants in the same class: no straight line separates them."""
    return _build("xor", _xor, n, noise, seed, test_fraction)


def make_spiral(n: int = 400, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25) -> ToyData:
    """Two interleaved spirals of two turns each: the hardest of the five."""
    return _build("spiral", _spiral, n, noise, seed, test_fraction)


def make_blobs(n: int = 400, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25,
               classes: int = 3) -> ToyData:
    """``classes`` Gaussian blobs with centres evenly on a circle of radius 1.5."""
    check_type("classes", classes, int, "a number of classes from 2 to 10")
    require(2 <= classes <= 10, "classes", classes, "a number of classes from 2 to 10")
    return _build("blobs", _blobs, n, noise, seed, test_fraction, classes)


#: name → generator ``f(n, noise, seed, test_fraction) -> ToyData``, for menus and panels.
DATASETS = {"moons": make_moons, "circles": make_circles, "xor": make_xor, "spiral": make_spiral,
            "blobs": make_blobs}


def make_dataset(name: str = "moons", n: int = 400, noise: float = 0.1, seed: int = 0,
                 test_fraction: float = 0.25) -> ToyData:
    """The dataset called ``name`` in :data:`DATASETS`."""
    check_type("name", name, str, f"a dataset name, one of {sorted(DATASETS)}")
    require(name in DATASETS, "name", name, f"one of {sorted(DATASETS)}")
    return DATASETS[name](n=n, noise=noise, seed=seed, test_fraction=test_fraction)
