"""The toy loop: full-batch training of a small network, with the dice or without them.

    losses = train_full_batch(model, optimizer, data.X_train, data.y_train, steps=300)          # plain
    handle = attach(optimizer, "classroom", seed=0)
    losses = train_full_batch(model, optimizer, data.X_train, data.y_train, steps=300, handle=handle)   # dice

The dice run and its plain twin are this one loop; they differ only in the hooks :func:`rtt_edu.attach`
put on the dice run's optimizer, so a difference between them is the dice's and nothing else's.
``rtt-edu demo``, the panels' :class:`~rtt_edu.views.widgets.run.ToyRun` and the experiments'
toy tasks (:func:`rtt_edu.science.experiments.toy_run`) all train with it.
"""
from __future__ import annotations

from torch.nn import functional as F

__all__ = ["train_full_batch"]


def train_full_batch(model, optimizer, X, y, steps: int, handle=None, stop=None, losses: list | None = None) -> list:
    """``steps`` full-batch steps of ``model`` on the points ``X`` with labels ``y``; returns ``losses``.

    Step t, from the weights θ_t:

        L_t = CE(f_θ_t(X), y)           the mean cross-entropy over every point, read as a float
        stop(L_t) is true → return      (a run that diverges ends here, without this update)
        ∇L_t;  handle.observe_loss(L_t) the dice run's hooks read the loss (classes, monsters, experience)
        θ_{t+1} = optimizer.step()      plain: the optimizer's update; dice: scaled by the roll, through the hooks

    Each L_t of a step taken is appended to ``losses`` (a new list when ``None``). A
    :class:`~rtt_edu.errors.NonFiniteTrainingError` from the dice's guard passes through, with the
    losses of the steps before it already appended.
    """
    losses = [] if losses is None else losses
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), y)
        value = loss.item()
        if stop is not None and stop(value):
            break
        loss.backward()
        if handle is not None:
            handle.observe_loss(loss)
        optimizer.step()
        losses.append(value)
    return losses
