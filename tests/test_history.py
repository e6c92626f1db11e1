"""A history's bound (rtt_edu.engine.history) under resume: every pair of saved and loaded bounds reads back
consistently.

A run is saved with one bound (``keep="all"``, ``last:N``, ``"summary"``, or ``history=None``) at
the last step of an epoch, before the Wizard's long rest, and resumed into a trainer with another
bound (the same, smaller, larger, all, summary, None). After the resume and ten more steps every
reader works and agrees with an uninterrupted run kept in full: the kept records are its newest
ones, the totals and event counts are its totals, and ``total_steps == first_kept + len``.
"""
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rtt_edu import History, RollToTrain, StepRecord, Wizard  # noqa: E402
from rtt_edu.training.history_file import history_from_json, history_to_json, load_history, save_history  # noqa: E402
from rtt_edu.views.plots import plot_history  # noqa: E402

STEPS_PER_EPOCH = 10
SAVED_AT = 2 * STEPS_PER_EPOCH          # the checkpoint: the last step of epoch 1, before its long rest
TOTAL = 3 * STEPS_PER_EPOCH             # ten more steps after the resume

#: name → (the trainer's ``history`` argument, the most records it keeps: None for every one)
BOUNDS = {
    "all": (lambda: History(), None),
    "last:8": (lambda: History(max_steps=8), 8),
    "smaller last:3": (lambda: History(keep="last:3"), 3),
    "larger last:100": (lambda: History(max_steps=100), 100),
    "summary": (lambda: History(keep="summary"), 0),
    "None": (lambda: None, None),
}


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4 * STEPS_PER_EPOCH, 3, generator=g)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])), batch_size=4)


def build(history):
    torch.manual_seed(0)                       # test-side seeding: the library never does this
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05), rules="classroom", seed=7,
                       character_class=Wizard(level=3), loss_fn=torch.nn.MSELoss(), progress=False, history=history)


@pytest.fixture(scope="module")
def reference():
    trainer = build(History())
    trainer.train(loader(), epochs=3)
    history = trainer.history
    rests = [step for step, e in history.events() if e["kind"] == "long_rest"]
    # the test means something only if a long rest falls on the saved step and on the last one
    assert SAVED_AT - 1 in rests and TOTAL - 1 in rests and history.total_steps == TOTAL
    return history


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name of the saved bound → the checkpoint, saved by ``save_every`` at the last step of epoch 1."""
    folder = tmp_path_factory.mktemp("bounds")
    paths = {}
    for name, (make, _) in BOUNDS.items():
        trainer = build(make())
        paths[name] = folder / f"{name}.pt"
        trainer.train(loader(), epochs=2, save_every=SAVED_AT, checkpoint_path=paths[name])
        assert trainer.history.total_steps == SAVED_AT
    return paths


def held(saved_bound, loaded_bound, more):
    """The records a resumed history holds: what the file held (a summary holds the newest step,
    whose events may still grow) under the loaded bound, then ``more`` steps, within that bound."""
    if saved_bound is None:
        in_file = SAVED_AT
    elif saved_bound == 0:
        in_file = 1
    else:
        in_file = min(saved_bound, SAVED_AT)
    if loaded_bound == 0:
        return 0
    loaded = in_file if loaded_bound is None else min(in_file, loaded_bound)
    return loaded + more if loaded_bound is None else min(loaded + more, loaded_bound)


def check_readers(history, reference, expected_len):
    """Every reader of ``history`` works and agrees with the uninterrupted ``reference``."""
    n = len(history)
    assert n == expected_len and history.total_steps == TOTAL and history.first_kept == TOTAL - n
    assert history.steps == reference.steps[TOTAL - n:]
    assert history.column("natural") == [r.natural for r in reference.steps[TOTAL - n:]]
    assert history.battle_log() == [f"step {step}: {e['message']}" for step, e in reference.events()
                                    if step >= TOTAL - n]
    assert history.event_counts() == reference.event_counts()
    assert history.outcome_counts() == reference.outcome_counts()
    assert history.mean_multiplier() == reference.mean_multiplier()
    newest = history.last()           # the newest step, whatever is kept (a loss still a tensor reads None)
    assert newest == replace(reference.last(), loss=newest.loss) and newest.loss in (None, reference.last().loss)
    fig = plot_history(history)
    try:
        assert list(fig.axes[0].lines[0].get_xdata()) == [r.step for r in reference.steps[TOTAL - n:]]
    finally:
        plt.close(fig)
    again = history_from_json(history_to_json(history))
    assert again == history and again.summary() == history.summary() and again.first_kept == history.first_kept


@pytest.mark.parametrize("loaded", list(BOUNDS))
@pytest.mark.parametrize("saved_as", list(BOUNDS))
def test_every_pair_of_saved_and_loaded_bounds_reads_back_like_an_uninterrupted_run(saved_as, loaded, saved,
                                                                                    reference, tmp_path):
    make, bound = BOUNDS[loaded]
    resumed = build(make())
    resumed.load_checkpoint(saved[saved_as])
    resumed.train(loader(), epochs=2)            # finishes epoch 1 (its long rest), then ten more steps
    expected = held(BOUNDS[saved_as][1], bound, TOTAL - SAVED_AT)
    assert resumed.history.keep == ("all" if bound is None else "summary" if bound == 0 else f"last:{bound}")
    check_readers(resumed.history, reference, expected)
    resumed.save_checkpoint(tmp_path / "again.pt")          # and the state survives a save and a load
    again = build(make())
    again.load_checkpoint(tmp_path / "again.pt")
    assert again.history == resumed.history and again.history.summary() == resumed.history.summary()
    assert again.history.last() == resumed.history.last()


def records(n):
    return [StepRecord(step=i, epoch=0, natural=1 + i % 20, total=1 + i % 20, multiplier=0.5, outcome="success",
                       loss=1.0 / (i + 1), events=[{"kind": "crit", "message": f"crit {i}"}] if i % 20 == 19 else [])
            for i in range(n)]


def test_a_history_of_20_of_57_records_under_a_bound_of_100_holds_20_and_takes_10_more(tmp_path):
    small = History(records(57), max_steps=20)
    save_history(small, tmp_path / "h.json")
    large = History(max_steps=100).rebound(load_history(tmp_path / "h.json"))
    assert (len(large), large.total_steps, large.first_kept) == (20, 57, 37)
    for r in records(67)[57:]:
        large.append_step(**vars(r))
    assert (len(large), large.total_steps, large.first_kept) == (30, 67, 37)
    assert large.steps == records(67)[37:] and large.battle_log() == ["step 39: crit 39", "step 59: crit 59"]
    fig = plot_history(large)
    assert list(fig.axes[0].lines[0].get_xdata()) == list(range(37, 67))
    plt.close(fig)
    assert history_from_json(history_to_json(large)) == large and large.event_counts() == {"crit": 3}
    save_history(large, tmp_path / "h2.json")
    assert load_history(tmp_path / "h2.json") == large


def test_keep_summary_counts_the_long_rest_at_the_end_of_an_epoch():
    full, summary = build(History()), build(History(keep="summary"))
    full.train(loader(), epochs=2)
    summary.train(loader(), epochs=2)
    assert full.history.event_counts()["long_rest"] == 2
    assert summary.history.event_counts() == full.history.event_counts()
    assert len(summary.history) == 0 and summary.master.last_record == full.master.last_record


def test_keep_summary_shows_the_newest_roll_on_the_progress_bar():
    model = torch.nn.Linear(3, 1)
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=torch.nn.MSELoss(), seed=0,
                          progress=True, history=History(keep="summary"))
    trainer.train([(torch.ones(2, 3), torch.ones(2, 1))] * 3)      # the bar reads master.last_record each step
    assert trainer.master.last_record.step == 2 and len(trainer.history) == 0


def test_history_none_keeps_every_step_after_a_load_as_documented(saved):
    trainer = build(None)
    trainer.load_checkpoint(saved["last:8"])
    assert trainer.history.keep == "all" and (len(trainer.history), trainer.history.first_kept) == (8, 12)
    trainer.train(loader(), epochs=2)
    assert len(trainer.history) == 18 and trainer.history.first_kept == 12


def test_the_hf_callback_reads_a_saved_history_under_its_own_bound_too():
    pytest.importorskip("transformers", reason="the 'hf' extra (transformers, accelerate) is not installed")
    pytest.importorskip("accelerate", reason="the 'hf' extra (transformers, accelerate) is not installed")
    from rtt_edu.training.hf import RollToTrainCallback

    def steps(callback, n):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(n):
            model(torch.ones(2, 3)).pow(2).mean().backward()
            callback.on_pre_optimizer_step(None, None, None, optimizer=opt)
            opt.step()
            callback.on_optimizer_step(None, None, None)
            opt.zero_grad()

    saved = RollToTrainCallback(seed=7, on_nonfinite="off", history=History(max_steps=3))
    steps(saved, 8)
    for bound, after_load, after_more in ((None, 3, 7), (History(max_steps=5), 3, 5), (History(keep="summary"), 0, 0)):
        resumed = RollToTrainCallback(seed=1, on_nonfinite="off", history=bound)
        resumed.load_state_dict(saved.state_dict())
        assert (len(resumed.history), resumed.history.total_steps) == (after_load, 8)
        steps(resumed, 4)
        assert (len(resumed.history), resumed.history.first_kept) == (after_more, 12 - after_more)
        assert [r.step for r in resumed.records] == list(range(12 - after_more, 12))
