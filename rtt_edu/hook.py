"""Roll-to-Train in anyone's training loop: ``attach`` the dice to an optimizer.

    handle = attach(optimizer, "classroom", seed=0)
    for x, y in data:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        handle.observe_loss(loss)     # optional: puts the loss in the records
        optimizer.step()              # the hooks roll, scale this step, restore, record
    handle.records[-1].multiplier
    handle.remove()

The hooks are torch's ``register_step_pre_hook`` / ``register_step_post_hook``, so they wrap
every optimizer implementation (for-loop, foreach, fused) with no change to the loop.
"""
from __future__ import annotations

from .rules import as_rules, warn_if_negative_drift
from .safety import make_guard
from .turns import GameMaster


def build_participants(character_class=None, experience=None, monsters=None, encounter_chance=0.0,
                       encounter_schedule=None, experience_arg: str = "experience"):
    """The participants of a turn, in the order they act: experience, class, encounters.

    ``experience_arg`` is the name the caller gave the experience argument, for error messages.
    """
    from .xp import as_experience
    participants = [as_experience(experience, experience_arg)]
    if character_class is not None:
        from .classes import CharacterClass
        if not isinstance(character_class, CharacterClass):
            from .errors import bad_value
            raise TypeError(bad_value("character_class", character_class, "a CharacterClass such as Wizard(level=1)"))
        participants.append(character_class)
    if monsters or encounter_schedule or encounter_chance:   # a chance without monsters is refused there
        from .monsters import EncounterTable
        participants.append(EncounterTable(monsters or [], chance=encounter_chance, schedule=encounter_schedule))
    return [p for p in participants if p is not None]


class AttachHandle:
    """What ``attach`` returns: ``.records``, ``.history``, ``.master``, ``.observe_loss()``, ``.remove()``."""

    def __init__(self, optimizer, master: GameMaster):
        optimizer = unwrap_optimizer(optimizer)      # hooks go on the optimizer that really steps
        self.optimizer = optimizer
        self.master = master
        self._turn = None
        self._handles = [optimizer.register_step_pre_hook(self._pre),
                         optimizer.register_step_post_hook(self._post)]

    def _pre(self, optimizer, args, kwargs):
        self._turn = self.master.begin(optimizer)

    def _post(self, optimizer, args, kwargs):
        turn, self._turn = self._turn, None
        if turn is not None:
            self.master.end(turn)

    def observe_loss(self, loss) -> None:
        """Give this step's loss to the records (kept on its device until read)."""
        self.master.observe_loss(loss)

    @property
    def records(self) -> list:
        """One :class:`~rtt_edu.history.StepRecord` per optimizer step since ``attach``."""
        return self.master.history.steps

    @property
    def history(self):
        return self.master.history

    def end_epoch(self) -> None:
        """Tell participants an epoch ended (limited uses recover)."""
        self.master.end_epoch()

    def state_dict(self) -> dict:
        return self.master.state_dict()

    def load_state_dict(self, state) -> None:
        self.master.load_state_dict(state)

    def remove(self) -> None:
        """Unregister both hooks; the optimizer is plain again."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def unwrap_optimizer(optimizer):
    """The torch optimizer inside a wrapper such as accelerate's ``AcceleratedOptimizer`` (``.optimizer``).

    A wrapper steps its inner optimizer once per real update (accelerate skips the
    accumulation micro-steps), so the hooks go on the inner one: one roll per update.
    """
    import torch
    inner = optimizer
    while isinstance(getattr(inner, "optimizer", None), torch.optim.Optimizer):
        inner = inner.optimizer
    if not isinstance(inner, torch.optim.Optimizer):
        from .errors import bad_value
        raise TypeError(bad_value("optimizer", optimizer, "a torch.optim.Optimizer (or accelerate's wrapper of one)"))
    return inner


def attach(optimizer, rules=None, roller=None, seed=None, target: str = "update", *, character_class=None,
           experience=None, monsters=None, encounter_chance: float = 0.0, encounter_schedule=None,
           intelligence: int = 10, on_nonfinite: str = "death-save") -> AttachHandle:
    """Roll a saving throw for every ``optimizer.step()`` and scale that step's update.

    ``target="update"`` scales the step's learning rate (exact for SGD, momentum, Adam, AdamW),
    ``"gradient"`` scales the gradients, ``"delta"`` scales the parameter change of any optimizer.
    """
    optimizer = unwrap_optimizer(optimizer)
    rules = as_rules(rules)
    master = GameMaster(rules, roller=roller, seed=seed, target=target, intelligence=intelligence,
                        participants=build_participants(character_class, experience, monsters,
                                                        encounter_chance, encounter_schedule),
                        guard=make_guard(on_nonfinite))
    warn_if_negative_drift(rules, master.intelligence_modifier)
    return AttachHandle(optimizer, master)
