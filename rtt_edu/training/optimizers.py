"""The optimizers a run can name: one table, each name with PyTorch's optimizer and its batched twin.

    OPTIMIZERS["momentum"].make(model.parameters(), lr=0.1)     # torch.optim.SGD(..., momentum=0.9)
    OPTIMIZERS["momentum"].batched([stack], lr=0.1)            # the same steps for a stack of models
    OPTIMIZERS["momentum"].label                               # "SGD + momentum 0.9", for menus and lessons

A panel, a lesson, the experiments and :class:`~rtt_edu.training.batched.SeedBatch` all read this
table, so a name means the same optimizer everywhere. The batched twins take stacked parameters
(a row per model) and step every model at once; ``step(m)`` scales model b's update by m_b, as
``target="update"`` scales one optimizer's learning rate by m. They are PyTorch's formulas, step
for step (the tests check them against ``torch.optim`` seed by seed):

``sgd``       p ← p - lr·m·g
``momentum``  v ← 0.9·v + g (v₁ = g₁),  p ← p - lr·m·v               (``torch.optim.SGD(momentum=0.9)``)
``adam``      u ← β₁u + (1-β₁)g,  w ← β₂w + (1-β₂)g²,                (``torch.optim.Adam``, β = 0.9, 0.999)
              p ← p - (lr·m / (1-β₁ᵗ)) · u / (√w / √(1-β₂ᵗ) + ε)

Adam's moments advance on every step, a step with m = 0 included, exactly as scaling torch's
learning rate by m does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["OptimizerChoice", "OPTIMIZERS", "BatchedSGD", "BatchedAdam"]


def _scales(lr: float, m) -> list:
    """-lr·m_b for every model, computed in double as torch computes a Python ``lr * m``."""
    return [-(lr * float(mb)) for mb in m]


class BatchedSGD:
    """SGD (optionally with momentum) over stacked parameters; ``step(m)`` scales model b's update by m_b."""

    def __init__(self, params, lr: float, momentum: float = 0.0):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.buffers = None

    @torch.no_grad()
    def step(self, m) -> None:
        self.update(m)

    def update(self, m) -> None:
        """``step(m)`` without its ``torch.no_grad()`` (the batch's loop holds one for every step)."""
        scale = torch.tensor(_scales(self.lr, m), dtype=self.params[0].dtype)
        if self.momentum:
            if self.buffers is None:                               # v₁ = g₁, as torch does
                self.buffers = [p.grad.clone() for p in self.params]
            else:
                for v, p in zip(self.buffers, self.params):
                    v.mul_(self.momentum).add_(p.grad)
            directions = self.buffers
        else:
            directions = [p.grad for p in self.params]
        for p, d in zip(self.params, directions):
            p.addcmul_(d, scale.view(-1, *([1] * (p.ndim - 1))))


class BatchedAdam:
    """Adam over stacked parameters, PyTorch's formula step for step; ``step(m)`` scales the update by m_b."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self, m) -> None:
        self.update(m)

    def update(self, m) -> None:
        """``step(m)`` without its ``torch.no_grad()`` (the batch's loop holds one for every step)."""
        beta1, beta2 = self.betas
        self.t += 1
        bias1, bias2_sqrt = 1 - beta1 ** self.t, (1 - beta2 ** self.t) ** 0.5
        scale = torch.tensor([s / bias1 for s in _scales(self.lr, m)], dtype=self.params[0].dtype)
        for p, u, w in zip(self.params, self.exp_avg, self.exp_avg_sq):
            u.lerp_(p.grad, 1 - beta1)
            w.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (w.sqrt() / bias2_sqrt).add_(self.eps)
            p.addcdiv_(u * scale.view(-1, *([1] * (p.ndim - 1))), denom)   # torch: p + (value·u) / denom


@dataclass(frozen=True)
class OptimizerChoice:
    """One named optimizer: how to build it for one model and for a stack of models."""
    label: str                                  # how menus and lessons name it ("SGD + momentum 0.9")
    torch_class: type                           # the torch.optim class a single run uses
    options: dict                               # its keyword arguments besides lr ({"momentum": 0.9})
    batched_class: type                         # its twin over stacked parameters (BatchedSGD, BatchedAdam)

    def make(self, params, lr: float) -> torch.optim.Optimizer:
        """``torch_class(params, lr=lr, **options)``: the optimizer of one run."""
        return self.torch_class(params, lr=lr, **self.options)

    def batched(self, params, lr: float):
        """``batched_class(params, lr, **options)``: the same optimizer for stacked parameters (a row per model)."""
        return self.batched_class(params, lr, **self.options)


#: name → :class:`OptimizerChoice`: the one table of the optimizers panels, lessons and batched runs name.
OPTIMIZERS: dict[str, OptimizerChoice] = {
    "sgd": OptimizerChoice("SGD", torch.optim.SGD, {}, BatchedSGD),
    "momentum": OptimizerChoice("SGD + momentum 0.9", torch.optim.SGD, {"momentum": 0.9}, BatchedSGD),
    "adam": OptimizerChoice("Adam", torch.optim.Adam, {}, BatchedAdam),
}
