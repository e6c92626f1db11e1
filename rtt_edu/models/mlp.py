"""A small multi-layer perceptron, initialised from a seed.

    model = mlp(in_features=2, hidden=(16, 16), out_features=2, activation="relu", seed=0)

The layers, for hidden widths h₁..h_L (``hidden=()`` gives a linear model)::

    x → Linear(in, h₁) → act → Linear(h₁, h₂) → act → ... → Linear(h_L, out) → logits

Initialisation is PyTorch's default for ``nn.Linear`` (Kaiming-uniform with a = √5), written out:
every weight and bias of a layer with ``fan_in`` inputs is drawn from

    U(-1/√fan_in, 1/√fan_in)

but from a ``torch.Generator`` seeded with ``seed``, layer by layer, weight then bias, so the
global torch RNG is neither read nor advanced. Same seed, same weights.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from rtt_edu.errors import RollToTrainTypeError, check_type, require

__all__ = ["mlp", "ACTIVATIONS"]

#: name → activation module class, for menus and panels.
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


def _check_width(name, value):
    check_type(name, value, int, "a positive integer width")
    require(1 <= value <= 65536, name, value, "a width from 1 to 65536")
    return value


def mlp(in_features: int = 2, hidden=(16, 16), out_features: int = 2, activation: str = "relu",
        seed: int = 0) -> nn.Sequential:
    """An ``nn.Sequential`` MLP with ``hidden`` widths (an int is one hidden layer), seeded init."""
    _check_width("in_features", in_features)
    _check_width("out_features", out_features)
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = (hidden,)
    require(isinstance(hidden, (tuple, list)),
            "hidden", hidden, "a tuple of hidden widths such as (16, 16), or an int", RollToTrainTypeError)
    for i, width in enumerate(hidden):
        _check_width(f"hidden[{i}]", width)
    check_type("activation", activation, str, f"one of {sorted(ACTIVATIONS)}")
    require(activation in ACTIVATIONS, "activation", activation, f"one of {sorted(ACTIVATIONS)}")
    check_type("seed", seed, int, "an integer seed")
    generator = torch.Generator().manual_seed(seed)
    widths = [in_features, *hidden, out_features]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layer = nn.utils.skip_init(nn.Linear, fan_in, fan_out)     # no draw from the global RNG
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            for p in (layer.weight, layer.bias):                    # weight, then bias: a fixed order
                p.copy_(torch.rand(p.shape, generator=generator) * (2 * bound) - bound)
        layers.append(layer)
    return nn.Sequential(*layers)
