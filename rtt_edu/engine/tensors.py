"""Two small things every part of the game does to an optimizer: list its parameters, and scale its rates.

    optimizer_params(optimizer)             # [p for g in optimizer.param_groups for p in g["params"]]
    optimizer_params(optimizer, grad=True)  # only those with a gradient (the ones a step updates)

A param group's learning rate is a Python float or a 0-d tensor (torch accepts both; a tensor
rate lets a compiled or capturable step read it without a host sync). ``saved_lr``, ``scale_lr``
and ``set_lr`` treat the two alike, changing a tensor in place so that whoever holds it (a
scheduler, a compiled graph) sees the new value:

    saved_lr(group)           a float, or a clone of the tensor (not an alias)
    scale_lr(group, factor)   lr ← factor · lr
    set_lr(group, value)      lr ← value      (value a float or a tensor)

and for every group of an optimizer at once, as one step's multiplier needs:

    saved = scale_lrs(optimizer, m)     every rate × m, the rates before returned
    restore_lrs(optimizer, saved)       every rate back

Groups may share one tensor: ``SGD(groups, lr=torch.tensor(0.1))`` gives every group that
omits its own lr the very same tensor. ``scale_lrs`` scales each distinct tensor once, so a
shared rate becomes m · lr, not m^k · lr for k groups.
"""
from __future__ import annotations

import torch

__all__ = ["optimizer_params", "saved_lr", "scale_lr", "set_lr", "scale_lrs", "restore_lrs"]


def optimizer_params(optimizer, grad: bool = False) -> list:
    """Every parameter of ``optimizer``, group by group in order (with ``grad``: only those with a ``.grad``)."""
    if grad:
        return [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return [p for g in optimizer.param_groups for p in g["params"]]


def saved_lr(group: dict):
    """The group's learning rate, to put back later: the float, or a detached clone of the tensor."""
    lr = group["lr"]
    return lr.detach().clone() if isinstance(lr, torch.Tensor) else lr


def scale_lr(group: dict, factor) -> None:
    """lr ← factor · lr, in place for a tensor rate."""
    lr = group["lr"]
    if isinstance(lr, torch.Tensor):
        lr.mul_(factor)
    else:
        group["lr"] = lr * factor


def set_lr(group: dict, value) -> None:
    """lr ← value, copied into a tensor rate (so its holders see it), assigned for a float rate."""
    lr = group["lr"]
    if isinstance(lr, torch.Tensor):
        lr.copy_(value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=lr.dtype))
    else:
        group["lr"] = float(value) if isinstance(value, torch.Tensor) else value


def scale_lrs(optimizer, factor) -> list:
    """Every group's lr ← factor · lr (a tensor shared by several groups scaled once); returns the rates before."""
    saved = [saved_lr(g) for g in optimizer.param_groups]
    seen = set()
    for group in optimizer.param_groups:
        lr = group["lr"]
        if isinstance(lr, torch.Tensor):
            if id(lr) in seen:
                continue
            seen.add(id(lr))
        scale_lr(group, factor)
    return saved


def restore_lrs(optimizer, saved: list) -> None:
    """Put back the rates ``scale_lrs`` returned, group by group."""
    for group, lr in zip(optimizer.param_groups, saved):
        set_lr(group, lr)
