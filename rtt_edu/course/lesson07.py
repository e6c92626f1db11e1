"""Lesson 7 (where the dice act): the lesson's task, its small network, and its self-checks.

The task: 512 points in the plane, label 1 where x·y > 0 (a checkerboard of four quadrants), a
2-16-1 tanh network with a binary cross-entropy loss.
"""
from __future__ import annotations

import torch
from torch import nn

from rtt_edu import SavingThrow
from rtt_edu.exercises import Feedback, judge

_g = torch.Generator().manual_seed(0)
X = torch.randn(512, 2, generator=_g)             # (512, 2) points
y = (X[:, 0] * X[:, 1] > 0).float()               # (512,) labels: 1 in the first and third quadrants
loss_fn = nn.BCEWithLogitsLoss()


def make_model(seed: int = 0) -> nn.Module:
    """The same small network every time for a given seed: 2 → 16 → 1."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))


def always(m: float) -> SavingThrow:
    """A rule whose every band is m: the dice always say 'scale this step by m'."""
    return SavingThrow(dc=11, crit_fail=m, fail=m, success=m, crit_success=m, name=f"always {m:+g}")


def flat(model) -> torch.Tensor:
    """All parameters of ``model`` as one vector."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


OPTIMIZERS = {
    "SGD": lambda params: torch.optim.SGD(params, lr=0.1),
    "SGD + momentum 0.9": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "Adam": lambda params: torch.optim.Adam(params, lr=0.01),
}


# --- predict, then check ------------------------------------------------------------------------

def check_first_adam_step(answer) -> Feedback:
    """Adam's first step with the gradient scaled by 0.5: the ratio to the plain step is 1 (to 1e-4)."""
    return judge(answer, 1.0, "a number (the ratio of the actual change to the plain change)",
                 "right: about 1. On its first step Adam moves every coordinate by about lr · sign(g): "
                 "halving g changes nothing.",
                 "On the first step m̂ = g and v̂ = g²: what is g / √(g²)?",
                 mistakes=((0.5, "0.5 is what target='update' gives; with target='gradient' Adam divides "
                                 "the scale away."),
                           (0.25, "g is halved in m̂ but g² is quartered in v̂, and Adam divides by √v̂.")),
                 tol=0.01)
