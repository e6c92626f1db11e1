"""Trainers beside each other: two threads at once are warned of; a second game master on a running
trainer's optimizer is refused, so the running one never takes a step without its dice."""
import threading
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import linear_model
from rtt_edu import RollToTrain, RollToTrainError, attach
from rtt_edu.engine.hook import _ATTACHED
from rtt_edu.errors import ConcurrentTrainingWarning

pytestmark = pytest.mark.usefixtures("one_thread")
WAIT = 30          # seconds an event may take before the test fails instead of hanging


def loader(n=12, batch_size=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])), batch_size=batch_size)


def trainer(model=None, opt=None, seed=0):
    model = model if model is not None else linear_model(seed)
    opt = opt if opt is not None else torch.optim.SGD(model.parameters(), lr=0.05)
    return RollToTrain(model, opt, loss_fn=torch.nn.MSELoss(), progress=False, seed=seed)


def overlaps(caught):
    return [str(w.message) for w in caught if issubclass(w.category, ConcurrentTrainingWarning)]


# --- two trainers in two threads --------------------------------------------------------------------

def test_two_trainers_training_at_once_in_two_threads_both_warn():
    first, second = trainer(seed=1), trainer(seed=2)
    first_inside, second_inside = threading.Event(), threading.Event()
    failures = []

    def hold_first(t):                      # after its first step, wait until the second is training too
        first_inside.set()
        if t.master.step == 1 and not second_inside.wait(WAIT):
            failures.append("the second trainer never started")

    def run_first():
        try:
            first.train(loader(), on_step=hold_first)
        except BaseException as exc:        # noqa: BLE001  (reported below, in the test's thread)
            failures.append(exc)

    with warnings.catch_warnings(record=True) as caught:    # records the warnings of both threads
        warnings.simplefilter("always")
        thread = threading.Thread(target=run_first, name="first-trainer")
        thread.start()
        assert first_inside.wait(WAIT)
        second.train(loader(), on_step=lambda t: second_inside.set())
        thread.join(WAIT)
    assert not thread.is_alive() and failures == []
    said = sorted(overlaps(caught))
    assert len(said) == 2, said
    assert said[0].startswith("RollToTrain.train() in thread 'MainThread' overlaps a train() in thread(s) "
                              "['first-trainer']")
    assert said[1].startswith("RollToTrain.train() in thread 'first-trainer' overlaps a train() in thread(s) "
                              "['MainThread']")
    assert all("will not be repeatable" in s for s in said)
    assert first.master.step == second.master.step == 3          # both still trained every batch, with dice
    assert len(first.history.steps) == len(second.history.steps) == 3


def test_trainers_one_after_another_in_two_threads_do_not_warn():
    first, second = trainer(seed=1), trainer(seed=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread = threading.Thread(target=lambda: first.train(loader()), name="first-trainer")
        thread.start()
        thread.join(WAIT)
        second.train(loader())
    assert overlaps(caught) == [] and first.master.step == second.master.step == 3


def test_a_trainer_started_from_another_trainers_on_step_in_the_same_thread_does_not_warn():
    inner = trainer(seed=2)           # its own model and optimizer: one thread draws in one repeatable order
    outer = trainer(seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outer.train(loader(), on_step=lambda t: inner.train(loader()) if t.master.step == 1 else None)
    assert overlaps(caught) == [] and outer.master.step == 3 and inner.master.step == 3


# --- a second game master on a running trainer's optimizer -----------------------------------------

def solo_run(steps_batches=10):
    t = trainer(seed=0)
    t.train(loader(n=4 * steps_batches))
    return t


def test_a_second_trainer_on_the_same_optimizer_from_on_step_stops_the_first_with_an_error():
    model = linear_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    first = trainer(model, opt, seed=0)
    seconds = []

    def start_second(t):
        if t.master.step == 3:
            seconds.append(trainer(model, opt, seed=7))
            seconds[0].train(loader())

    with pytest.raises(RollToTrainError, match=r"optimizer=SGD: a RollToTrain.train\(\) \(in thread 'MainThread'\) "
                                               r"is training with it now.*step 3"):
        first.train(loader(n=40), on_step=start_second)
    assert first.master.step == 3 and len(first.history.steps) == 3
    assert seconds[0].master.step == 0 and seconds[0].history.steps == []
    assert opt not in _ATTACHED                      # both gave the optimizer back plain
    reference = solo_run()
    assert [s.natural for s in first.history.steps] == [s.natural for s in reference.history.steps[:3]]


def test_a_first_trainer_that_catches_the_refusal_keeps_its_game_on_every_step():
    model = linear_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    first = trainer(model, opt, seed=0)
    refusals = []

    def start_second(t):
        if t.master.step == 3:
            try:
                trainer(model, opt, seed=7).train(loader())
            except RollToTrainError as exc:
                refusals.append(exc)
            try:
                attach(opt, seed=8)                  # by hand, too
            except RollToTrainError as exc:
                refusals.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error")               # not a warning, and no plain step after one
        first.train(loader(n=40), on_step=start_second)
    reference = solo_run()
    assert len(refusals) == 2
    assert len(first.history.steps) == first.master.step == 10
    assert [s.multiplier for s in first.history.steps] == [s.multiplier for s in reference.history.steps]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reference.model.parameters()))


def test_dice_removed_from_the_optimizer_during_train_stop_it_before_a_plain_step():
    model = linear_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    first = trainer(model, opt, seed=0)
    after = []

    def remove_dice(t):
        if t.master.step == 2:
            _ATTACHED[opt].remove()                  # what no public call can do while train() runs
            after.append([p.detach().clone() for p in model.parameters()])

    with pytest.raises(RollToTrainError, match="removed from its optimizer during train"):
        first.train(loader(n=40), on_step=remove_dice)
    assert first.master.step == 2
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), after[0]))    # no step without dice


def test_a_trainer_attaches_again_after_its_train_returns_and_by_hand_attach_replaces_it_then():
    model = linear_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    first = trainer(model, opt, seed=0)
    first.train(loader())
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # nothing attached after train(): no replacement warning
        handle = attach(opt, seed=1)
    with pytest.warns(RuntimeWarning, match="already had dice attached"):
        first.train(loader())                        # a hand-attached handle is replaced, as before
    assert not handle.attached and first.master.step == 6
