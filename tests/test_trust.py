"""Trustworthy runs: a refused load changes nothing, resume is exact mid-epoch with dropout and a
shuffled loader, write failures are clear and leave the old file, a long run's history is bounded,
one train() at a time, empty loaders are refused, and no import cycle among the file modules."""
import ast
import copy
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import same
from rtt_edu import CheckpointError, ExperienceSystem, History, RollToTrain, RollToTrainError, StepRecord, Wizard
from rtt_edu.atomic import CheckpointWriteError, atomic_write, temp_pattern
from rtt_edu.party.monsters import GradientOoze, LossDragon, WeightWraith
from rtt_edu.training.history_file import (
    history_from_dict,
    history_from_json,
    history_to_dict,
    history_to_json,
    load_history,
    save_history,
)
from rtt_edu.views.plots import plot_history

pytestmark = pytest.mark.filterwarnings("ignore::rtt_edu.NegativeDriftWarning")
ROOT = Path(__file__).resolve().parents[1]


def regression(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1)


def dropout_mlp():
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))


def monsters():
    return [LossDragon(factor=3.0, turns=2), GradientOoze(turns=2), WeightWraith(sigma=0.1, turns=2)]


def build(init_seed=0, n_monsters=3, **kwargs):
    torch.manual_seed(init_seed)               # test-side seeding: the library never does this
    model = dropout_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.8)
    args = dict(rules="classroom", seed=11, character_class=Wizard(level=5, spell="restart", cast_on=12),
                use_xp_system=ExperienceSystem(xp_scale=20), monsters=monsters()[:n_monsters],
                encounter_chance=0.4, loss_fn=torch.nn.MSELoss(), progress=False)
    return RollToTrain(model, opt, sched, **{**args, **kwargs})


def shuffled(seed=None):
    return DataLoader(regression(), batch_size=4, shuffle=True)     # draws from torch's global RNG


def snapshot(trainer) -> dict:
    """Everything a refused load must leave alone, copied (the RNG included)."""
    return copy.deepcopy({"state": trainer.state_dict(),
                          "params": [p.detach().clone() for p in trainer.model.parameters()],
                          "rules": trainer.rules.to_dict(), "resume": trainer._resume,
                          "last": trainer.master.last_record, "rng": torch.get_rng_state()})


# --- 1. a refused load changes nothing -----------------------------------------------------------

def _adamw_state(state):
    model = dropout_mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return opt.state_dict()


def _cosine_state(state):
    opt = torch.optim.SGD(dropout_mlp().parameters(), lr=0.05)
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=9).state_dict()


def _set(path, value):
    def change(state):
        *keys, last = path
        target = state
        for k in keys:
            target = target[k]
        target[last] = value(state) if callable(value) else value
    return change


def _delete(*path):
    def change(state):
        *keys, last = path
        target = state
        for k in keys:
            target = target[k]
        del target[last]
    return change


def _nan_first_weight(state):
    state["model"]["0.weight"][0, 0] = float("nan")


def _nan_moment(state):
    entry = next(iter(state["optimizer"]["state"].values()))
    entry["momentum_buffer"].view(-1)[0] = float("inf")


def _two_groups(state):
    groups = state["optimizer"]["param_groups"]
    ids = groups[0]["params"]
    groups[:] = [{**groups[0], "params": ids[:2]}, {**groups[0], "params": ids[2:]}]


def _wrong_moment_shape(state):
    entry = next(iter(state["optimizer"]["state"].values()))
    entry["momentum_buffer"] = torch.zeros(2, 2)


def _xp_of(state):
    return state["master"]["participants"][0]


# (name, how the good file is spoiled, text the CheckpointError must contain)
CATALOGUE = [
    ("no model", _delete("model"), "'model'"),
    ("a participant without its xp", lambda s: _xp_of(s).pop("xp"), "participant 0 (ExperienceSystem)"),
    ("a game without its step", _delete("master", "step"), "lacks ['step']"),
    ("a negative step", _set(("master", "step"), -3), "step=-3"),
    ("an AdamW file", lambda s: (_set(("optimizer",), _adamw_state)(s), _set(("optimizer_type",), "AdamW")(s)),
     "SGD here and AdamW in the file"),
    ("an AdamW file of an older version (no type)", _set(("optimizer",), _adamw_state), "not SGD's state"),
    ("another param group layout", _two_groups, "param groups of sizes [4] here and [2, 2] in the file"),
    ("a moment of the wrong shape", _wrong_moment_shape, "has shape (2, 2) in the file"),
    ("a moment for no parameter", lambda s: s["optimizer"]["state"].__setitem__(99, {"momentum_buffer": torch.ones(1)}),
     "parameter 99"),
    ("another scheduler", lambda s: (_set(("scheduler",), _cosine_state)(s),
                                     _set(("scheduler_type",), "CosineAnnealingLR")(s)),
     "StepLR here and CosineAnnealingLR in the file"),
    ("another scheduler of an older version (no type)", _set(("scheduler",), _cosine_state), "not StepLR's state"),
    ("no scheduler", _set(("scheduler",), None), "has none"),
    ("a model key missing", _delete("model", "3.bias"), "['3.bias'] are missing"),
    ("a wider layer", _set(("model", "0.weight"), torch.zeros(32, 3)), "shape (16, 3) here and (32, 3)"),
    ("malformed rules", _set(("master", "rules"), {"dc": "high"}), "game state"),
    ("a NaN weight", _nan_first_weight, "model['0.weight'] is not finite"),
    ("an inf moment", _nan_moment, "momentum_buffer"),
    ("a garbled roller", _set(("master", "roller"), {"x": 1}), "DiceRoller"),
    ("other participants", _set(("participants",), ["Rogue", "ExperienceSystem", "EncounterTable"]),
     "participants are ['Rogue'"),
    ("a wizard without its level", lambda s: s["master"]["participants"][1].pop("level"), "participant 1 (Wizard)"),
    ("fewer monsters", lambda s: s["setup"][2].__setitem__("monsters", ["LossDragon"]), "built differently"),
    ("a history column of floats", _set(("history", "columns", "natural"), torch.zeros(13)),
     "columns.natural='<tensor torch.float32"),
    ("a history column too short", _set(("history", "columns", "step"), torch.arange(12)), "columns of one length"),
    ("a malformed history event", lambda s: s["history"]["columns"]["events"]["lists"].__setitem__(0, ["boom"]),
     "events=['boom']"),
    ("a garbled guard", _set(("master", "guard"), {"dying": True}), "game state"),
    ("a garbled RNG", _set(("rng", "cpu"), torch.zeros(3)), "RNG state"),
    ("a garbled position", _set(("position",), {"batches": "three"}), "position within the epoch"),
    ("a position in another epoch", lambda s: s["position"].__setitem__("epoch", 0), "position is in epoch 0"),
]


@pytest.fixture(scope="module")
def good_state():
    trainer = build()
    states = []
    trainer.train(shuffled(), epochs=2,
                  on_step=lambda t: states.append(t.state_dict()) if t.master.step == 13 else None)
    return copy.deepcopy(states[0])              # mid-epoch: it has a position


@pytest.fixture(scope="module")
def target():
    trainer = build(init_seed=5)
    trainer.train(shuffled(), epochs=1)
    return trainer


def test_the_catalogue_is_large_and_its_good_file_loads(good_state, tmp_path):
    assert len(CATALOGUE) >= 15 and len({name for name, _, _ in CATALOGUE}) == len(CATALOGUE)
    assert good_state["position"] is not None and good_state["master"]["step"] == 13
    fresh = build(init_seed=8)
    torch.save(good_state, tmp_path / "good.pt")
    fresh.load_checkpoint(tmp_path / "good.pt")
    assert fresh.master.step == 13 and fresh._resume["batches"] == 3


@pytest.mark.parametrize("change,needle", [pytest.param(c, n, id=name) for name, c, n in CATALOGUE])
def test_a_malformed_checkpoint_is_refused_and_the_trainer_is_bit_identical(good_state, target, tmp_path,
                                                                           change, needle):
    state = copy.deepcopy(good_state)
    change(state)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    before = snapshot(target)
    with pytest.raises(CheckpointError) as err:
        target.load_checkpoint(path)
    message = str(err.value)
    assert repr(str(path)) in message and needle in message, message
    same(snapshot(target)["state"], before["state"])
    assert all(torch.equal(p, q) for p, q in zip(target.model.parameters(), before["params"]))
    assert target.rules.to_dict() == before["rules"] and target._resume is None
    assert target.master.last_record == before["last"] and torch.equal(torch.get_rng_state(), before["rng"])
    with pytest.raises(CheckpointError):
        target.load_state_dict(state)                   # the same without a file
    same(target.state_dict(), before["state"])


def test_a_three_monster_checkpoint_into_a_one_monster_trainer_changes_nothing(tmp_path):
    three = build()
    three.train(shuffled(), epochs=1)
    three.save_checkpoint(tmp_path / "three.pt")
    one = build(init_seed=3, n_monsters=1)
    one.train(shuffled(), epochs=1)
    before = snapshot(one)
    with pytest.raises(CheckpointError, match="built differently"):
        one.load_checkpoint(tmp_path / "three.pt")
    same(one.state_dict(), before["state"])


def test_a_refused_load_lets_the_try_except_start_fresh_pattern_train_cleanly(tmp_path):
    """``try: load / except CheckpointError: start fresh`` must train exactly as a fresh run."""
    path = tmp_path / "other.pt"
    other = build(n_monsters=1)
    other.train(shuffled(), epochs=1)
    other.save_checkpoint(path)
    fresh, reference = build(init_seed=2), build(init_seed=2)
    torch.manual_seed(7)
    try:
        fresh.load_checkpoint(path)
    except CheckpointError:
        pass
    fresh.train(shuffled(), epochs=1)
    torch.manual_seed(7)
    reference.train(shuffled(), epochs=1)
    same(fresh.state_dict(), reference.state_dict())


# --- 2. resume is exact: dropout, a shuffled loader, mid-epoch -----------------------------------

class Crash(Exception):
    pass


def crash_at(step):
    def on_step(trainer):
        if trainer.master.step == step:
            raise Crash
    return on_step


@pytest.mark.parametrize("mode,window,save_every,crash", [("per_mini_batch", 1, 7, 17), ("per_mini_batch", 1, 10, 10),
                                                          ("per_accumulation_step", 3, 5, 7)])
def test_resume_mid_epoch_with_dropout_and_a_shuffled_loader_is_bit_identical(tmp_path, mode, window, save_every,
                                                                              crash):
    kwargs = dict(mode=mode, accumulation_steps=window)
    torch.manual_seed(123)
    unbroken = build(**kwargs)
    unbroken.train(shuffled(), shuffled(), epochs=3)

    path = tmp_path / "run.pt"
    first = build(**kwargs)
    with pytest.raises(Crash):                       # the kernel dies after step `crash`
        first.train(shuffled(), shuffled(), epochs=3, save_every=save_every, checkpoint_path=path,
                    on_step=crash_at(crash))

    torch.manual_seed(999)                           # another session: the global RNG is elsewhere
    resumed = build(init_seed=4, **kwargs)
    resumed.load_checkpoint(path)
    saved_at = (crash // save_every) * save_every
    assert resumed.master.step == saved_at and len(resumed.history) == saved_at
    resumed.train(shuffled(), shuffled(), epochs=3 - resumed.master.epoch)

    for p, q in zip(unbroken.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    assert resumed.history == unbroken.history
    same(resumed.state_dict(), unbroken.state_dict())   # optimizer, scheduler, dice, classes, RNG: all of it


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resume_mid_epoch_on_cuda_restores_the_cuda_rng_of_dropout(tmp_path):
    torch.manual_seed(123)
    unbroken = build(device="cuda")
    unbroken.train(shuffled(), epochs=2)
    path = tmp_path / "run.pt"
    torch.manual_seed(123)
    first = build(device="cuda")
    with pytest.raises(Crash):
        first.train(shuffled(), epochs=2, save_every=6, checkpoint_path=path, on_step=crash_at(8))
    torch.manual_seed(5)
    torch.cuda.manual_seed_all(5)                    # both generators elsewhere
    resumed = build(init_seed=4, device="cuda")
    resumed.load_checkpoint(path)
    assert torch.load(path, weights_only=True)["rng"]["cuda"]
    resumed.train(shuffled(), epochs=2 - resumed.master.epoch)
    for p, q in zip(unbroken.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    assert resumed.history == unbroken.history


def test_dropout_really_draws_and_the_shuffle_really_changes_without_the_rng_in_the_checkpoint(tmp_path):
    """The test above is only a test if a resume without the saved RNG would differ."""
    path = tmp_path / "run.pt"
    torch.manual_seed(123)
    unbroken = build()
    unbroken.train(shuffled(), epochs=2)
    torch.manual_seed(123)
    first = build()
    first.train(shuffled(), epochs=1)
    first.save_checkpoint(path)
    state = torch.load(path, weights_only=True)
    state["rng"] = None                                  # as files before this release
    resumed = build(init_seed=4)
    resumed.load_state_dict(state)
    torch.manual_seed(5)
    resumed.train(shuffled(), epochs=1)
    assert not all(torch.equal(p, q) for p, q in zip(unbroken.model.parameters(), resumed.model.parameters()))


def test_a_checkpoint_taken_by_a_callback_mid_epoch_resumes_the_same_batches(tmp_path):
    seen_unbroken, seen_resumed = [], []

    class Recording(torch.nn.Module):
        def __init__(self, log):
            super().__init__()
            self.inner, self.log = dropout_mlp(), log

        def forward(self, x):
            self.log.append(x.clone())
            return self.inner(x)

    def make(log, init_seed=0):
        torch.manual_seed(init_seed)
        model = Recording(log)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        return RollToTrain(model, opt, seed=3, loss_fn=torch.nn.MSELoss(), progress=False)

    torch.manual_seed(1)
    make(seen_unbroken).train(shuffled(), epochs=2)
    path = tmp_path / "cb.pt"
    torch.manual_seed(1)
    with pytest.raises(Crash):
        make([]).train(shuffled(), epochs=2, on_step=lambda t: (t.master.step == 6 and t.save_checkpoint(path),
                                                                 t.master.step == 8 and crash_at(8)(t)))
    resumed = make(seen_resumed, init_seed=9)
    resumed.load_checkpoint(path)
    resumed.train(shuffled(), epochs=2 - resumed.master.epoch)
    assert len(seen_resumed) == 20 - 6
    assert all(torch.equal(a, b) for a, b in zip(seen_unbroken[6:], seen_resumed))


def test_a_resumed_epoch_with_a_shorter_loader_is_refused_naming_it(tmp_path):
    path = tmp_path / "run.pt"
    first = build()
    first.train(shuffled(), epochs=1, save_every=13, checkpoint_path=path)
    assert first.master.step == 10
    first.train(shuffled(), epochs=1, save_every=13, checkpoint_path=path)
    resumed = build()
    resumed.load_checkpoint(path)
    short = DataLoader(regression(n=8), batch_size=4, shuffle=True)
    rng_after_load = torch.get_rng_state()
    with pytest.raises(RollToTrainError, match="train_dataloader=.*had 3 batches of epoch 1"):
        resumed.train(short)
    assert torch.equal(torch.get_rng_state(), rng_after_load) and resumed.master.step == 13
    resumed.train(shuffled())                     # the right loader still resumes the epoch
    assert resumed.master.step == 20 and resumed.master.epoch == 2


def test_the_library_leaves_global_rng_state_alone_outside_a_checkpoint_load(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    trainer = RollToTrain(model, opt, rules="classroom", seed=0, character_class=Wizard(level=3),
                          use_xp_system=True, monsters=monsters(), encounter_chance=0.5,
                          loss_fn=torch.nn.MSELoss(), progress=False)
    batches = [(x[None], y[None]) for x, y in regression(n=12)]
    random.seed(1)
    torch_before, py_before = torch.get_rng_state(), random.getstate()
    trainer.train(batches, batches, epochs=2, save_every=5, checkpoint_path=tmp_path / "run.pt")
    trainer.save_checkpoint(tmp_path / "run.pt")
    assert torch.equal(torch.get_rng_state(), torch_before) and random.getstate() == py_before


# --- 3. write failures -----------------------------------------------------------------------------

def saved_once(tmp_path):
    path = tmp_path / "run.pt"
    trainer = build()
    trainer.train(shuffled(), epochs=1)
    trainer.save_checkpoint(path)
    trainer.train(shuffled(), epochs=1)        # the run moves on
    return trainer, path, path.read_bytes()


def test_a_read_only_folder_is_a_checkpoint_error_naming_the_checkpoint(tmp_path, monkeypatch):
    trainer, path, before = saved_once(tmp_path)
    import tempfile

    def refused(*args, dir=None, prefix="", suffix="", **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "x1y2z3" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(CheckpointError) as err:
        trainer.save_checkpoint(path)
    message = str(err.value)
    assert f"path={str(path)!r}" in message and "Permission denied" in message and ".tmp" not in message
    assert isinstance(err.value, OSError) and path.read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_folder(tmp_path):
    trainer, path, before = saved_once(tmp_path)
    os.chmod(tmp_path, 0o500)
    try:
        with pytest.raises(CheckpointError, match="Permission denied"):
            trainer.save_checkpoint(path)
    finally:
        os.chmod(tmp_path, 0o700)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.pt"]


def test_a_write_cut_off_half_way_is_a_checkpoint_error_and_the_old_file_stays(tmp_path, monkeypatch):
    trainer, path, before = saved_once(tmp_path)
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        import io
        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[:1000])
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError) as err:
        trainer.save_checkpoint(path)
    monkeypatch.undo()
    assert f"path={str(path)!r}" in str(err.value) and "file write failed" in str(err.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.pt"]
    fresh = build(init_seed=3)
    fresh.load_checkpoint(path)
    assert fresh.master.step == 10


def test_a_later_save_removes_the_temporary_files_a_killed_save_left(tmp_path):
    path = tmp_path / "run.pt"
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
              "from rtt_edu.atomic import atomic_write\n"
              "def slow(fh):\n    fh.write(b'x' * 100000); fh.flush(); print('writing', flush=True); time.sleep(60)\n"
              f"atomic_write({str(path)!r}, slow)\n")
    killed = []
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed.append(proc.pid)
        left = os.listdir(tmp_path)             # the second writer removed the first one's file
        assert len(left) == 1 and temp_pattern(path).match(left[0]).group(1) == str(proc.pid)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alive = tmp_path / f".run.pt.{sleeper.pid}.abcdefgh.tmp"     # a save in progress in another process
        alive.write_bytes(b"busy")
        (tmp_path / ".run.pt.notes").write_text("not ours")
        (tmp_path / f".other.pt.{killed[0]}.abcdefgh.tmp").write_text("another file's")
        atomic_write(path, lambda fh: fh.write(b"new"))
        assert path.read_bytes() == b"new"
        assert sorted(os.listdir(tmp_path)) == sorted([f".other.pt.{killed[0]}.abcdefgh.tmp", ".run.pt.notes",
                                                       alive.name, "run.pt"])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_history_save_failures_are_clear_too(tmp_path, monkeypatch):
    path = tmp_path / "history.json"
    save_history(History(), path)

    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(CheckpointWriteError, match="No space left on device") as err:
        save_history(History([StepRecord(0, 0, 3, 3, 0.0, "fail")]), path)
    monkeypatch.undo()
    assert repr(str(path)) in str(err.value) and load_history(path) == History()


# --- 4. a bounded history --------------------------------------------------------------------------

def records(n):
    rng = random.Random(0)
    out = []
    for i in range(n):
        natural = rng.randint(1, 20)
        outcome = "critical_fail" if natural == 1 else "fail" if natural < 10 else "success"
        events = [{"kind": "crit", "message": f"natural {natural}"}] if natural in (1, 20) else []
        out.append(StepRecord(step=i, epoch=i // 10, natural=natural, total=natural + 2,
                              multiplier=rng.uniform(-0.5, 1.5), outcome=outcome, lr=0.1, loss=rng.random(),
                              rule_multiplier=0.5, modifier=2, dc=12, events=events))
    return out


@pytest.mark.parametrize("bound", [dict(max_steps=7), dict(keep="last:7"), dict(keep="summary")])
def test_a_bounded_history_keeps_the_last_records_exactly_and_the_totals_of_every_step(bound):
    full, bounded = History(), History(**bound)
    for r in records(3000):
        full.append_step(**vars(copy.deepcopy(r)))
        bounded.append_step(**{**vars(copy.deepcopy(r)), "loss": torch.tensor(r.loss, dtype=torch.float64)})
    kept = 0 if bound.get("keep") == "summary" else 7
    assert len(bounded) == kept and bounded.total_steps == 3000 and bounded.first_kept == 3000 - kept
    assert bounded.steps == full.steps[len(full) - kept:]
    assert bounded.battle_log() == [line for line in full.battle_log()
                                    if int(line.split(":")[0].split()[1]) >= 3000 - kept]
    assert bounded.outcome_counts() == full.outcome_counts() and sum(full.outcome_counts().values()) == 3000
    assert bounded.mean_multiplier() == pytest.approx(math.fsum(full.multipliers) / 3000, rel=1e-15, abs=1e-15)
    assert bounded.event_counts() == full.event_counts() == {"crit": sum(len(r.events) for r in full.steps)}
    assert len(bounded._rows) <= max(kept, 1) + 1024                # the storage is bounded too
    again = history_from_dict(history_to_dict(bounded, columns=True))
    assert again.summary() == bounded.summary() and again.steps == bounded.steps
    assert history_from_json(history_to_json(bounded)).summary() == bounded.summary()


def test_a_bounded_history_plots_what_it_keeps():
    pytest.importorskip("matplotlib")
    bounded = History(records(400), max_steps=50)
    fig = plot_history(bounded)
    xs = list(fig.axes[0].lines[0].get_xdata())
    assert xs == list(range(350, 400))


def test_bad_bounds_are_refused_naming_them():
    for kwargs, needle in [(dict(max_steps=0), "max_steps=0"), (dict(max_steps=2.5), "max_steps=2.5"),
                           (dict(keep="first:3"), "keep='first:3'"), (dict(keep="last:0"), "keep='last:0'"),
                           (dict(max_steps=3, keep="summary"), "max_steps=3 and keep='summary'")]:
        with pytest.raises((ValueError, TypeError), match=needle.replace("(", r"\(")):
            History(**kwargs)


def test_the_trainer_accepts_a_bound_and_resumes_a_bounded_run_exactly(tmp_path):
    torch.manual_seed(1)
    full = build()
    full.train(shuffled(), epochs=3)
    torch.manual_seed(1)
    bounded = build(history=History(max_steps=4))
    bounded.train(shuffled(), epochs=1)
    bounded.save_checkpoint(tmp_path / "b.pt")
    resumed = build(init_seed=6, history=History(max_steps=4))
    resumed.load_checkpoint(tmp_path / "b.pt")
    resumed.train(shuffled(), epochs=2)
    assert resumed.history.steps == full.history.steps[-4:] and resumed.history.total_steps == 30
    assert resumed.history.outcome_counts() == full.history.outcome_counts()
    assert resumed.history.event_counts() == full.history.event_counts()
    assert resumed.history.evals == full.history.evals
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(TypeError, match="history=10"):
        build(history=10)


def test_a_step_is_one_tuple_and_its_device_values_are_read_back_in_one_batch():
    a, b = History(records(50)), History()
    for r in records(50):
        b.append_step(r.step, r.epoch, r.natural, r.total, r.multiplier, r.outcome, r.lr,
                      torch.tensor(r.loss, dtype=torch.float64), r.rule_multiplier, r.modifier, r.dc, r.events)
    assert len(b._rows) == 50 and all(type(row) is tuple for row in b._rows) and b._records == []
    assert a == b and a.steps == b.steps and b.losses == [r.loss for r in records(50)]


def test_tensor_rates_and_losses_of_mixed_shapes_are_read_back_exactly():
    """A tensor learning rate (a capturable optimizer's) and losses of two shapes and dtypes: stacked
    every 1024 steps, read back as the numbers they were."""
    history = History()
    n = 2500
    for i in range(n):
        loss = torch.tensor(i / 8, dtype=torch.float64) if i % 3 else torch.tensor([i / 4], dtype=torch.float32)
        history.append_step(i, 0, 7, 9, 0.5, "success", torch.tensor(0.5 ** (i % 7)), loss)
    assert history.last().lr is None and history.last().loss is None          # still on the device
    assert history.losses == [i / 8 if i % 3 else i / 4 for i in range(n)]
    assert history.column("lr") == [0.5 ** (i % 7) for i in range(n)] and history._chunks == []
    assert history.steps[-1].loss == history.losses[-1] == (n - 1) / 4 and history.last() is history.steps[-1]


def test_the_totals_wait_until_read_and_are_exact_when_read():
    """Recording folds nothing: outcome counts and the compensated sum are brought up to date when read."""
    history = History()
    multipliers = [1e-16 if i % 2 else 1.0 for i in range(5000)]     # a plain sum loses every 1e-16
    for i, m in enumerate(multipliers):
        history.append_step(i, 0, 7, 9, m, "success" if i % 3 else "fail")
    assert history._folded == 0 and history._outcomes == {}
    assert history.outcome_counts() == {"success": 3333, "fail": 1667}
    assert history.mean_multiplier() == math.fsum(multipliers) / 5000 != sum(multipliers) / 5000
    history.append_step(5000, 0, 7, 9, 0.5, "fail")
    assert history.outcome_counts() == {"success": 3333, "fail": 1668} and history._folded == 5001


def test_a_checkpoint_of_the_history_is_made_from_its_columns_without_a_record_per_step():
    history = History(records(200))
    late = []
    history.append_step(200, 20, 4, 6, 0.25, "fail", events=late)
    late.append({"kind": "long_rest", "message": "rest"})           # still the newest step's
    data = history_to_dict(history, columns=True)
    assert history._records == []                                    # no StepRecord was made
    again = history_from_dict(data)
    assert again.steps[-1].events == late and again == history
    assert data["columns"]["natural"].dtype == torch.int32 and data["columns"]["outcome"]["codes"].dtype == torch.int8


def test_the_newest_record_is_cheap_to_read_and_waits_for_no_device():
    history = History()
    for i in range(3):
        history.append_step(i, 0, 12, 14, 0.75, "success", loss=torch.tensor(0.5 + i))
    newest = history.last()
    assert (newest.step, newest.natural, newest.loss) == (2, 12, None) and history._chunks == []
    history.append_step(3, 0, 5, 7, 0.25, "fail", events=[])
    assert history._events == {}                              # a progress bar's reads keep no empty lists
    assert history.steps[2].loss == 2.5 and history.last() is history.steps[-1]


def test_events_added_to_the_newest_step_after_it_was_recorded_belong_to_it():
    """A long rest is logged into the last record after the epoch's last step (classes do this)."""
    history = History(max_steps=3)
    late = []
    history.append_step(0, 0, 5, 5, 0.5, "fail", events=late)
    late.append({"kind": "long_rest", "message": "rest"})
    history.append_step(1, 1, 9, 9, 0.5, "fail")
    assert history.steps[0].events == late and history.event_counts() == {"long_rest": 1}
    record = history.last()
    record.events.append({"kind": "long_rest", "message": "rest again"})
    assert history_to_dict(history)["steps"][1]["events"] == [{"kind": "long_rest", "message": "rest again"}]
    history.append_step(2, 1, 9, 9, 0.5, "fail", events=None)          # recorded without a list
    history.last().events.append({"kind": "long_rest", "message": "a third rest"})
    history.append_step(3, 2, 9, 9, 0.5, "fail")
    assert [len(r.events) for r in history.steps] == [1, 1, 0] and history.event_counts() == {"long_rest": 3}


# --- 5. one train() at a time ----------------------------------------------------------------------

def test_a_second_train_from_another_thread_raises_at_once():
    model = torch.nn.Linear(3, 1)
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), seed=0, loss_fn=torch.nn.MSELoss(),
                          progress=False)
    started, release = threading.Event(), threading.Event()

    def slow_batches():
        for x, y in regression(n=4):
            started.set()
            release.wait(10)
            yield x[None], y[None]

    worker = threading.Thread(target=lambda: trainer.train(slow_batches()))
    worker.start()
    try:
        assert started.wait(10)
        t0 = time.monotonic()
        with pytest.raises(RollToTrainError, match="already running"):
            trainer.train([(torch.zeros(1, 3), torch.zeros(1, 1))])
        with pytest.raises(RollToTrainError, match="while train"):
            trainer.load_state_dict(trainer.state_dict())
        assert time.monotonic() - t0 < 5
    finally:
        release.set()
        worker.join(10)
    assert trainer.master.step == 4 and len(trainer.optimizer._optimizer_step_pre_hooks) == 0
    trainer.train([(torch.zeros(1, 3), torch.zeros(1, 1))])          # free again afterwards
    assert trainer.master.step == 5


# --- 6. bad input ----------------------------------------------------------------------------------

def test_empty_loaders_are_refused_naming_the_argument_before_anything_changes():
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = RollToTrain(model, opt, seed=0, loss_fn=torch.nn.MSELoss(), progress=False)
    before = [p.detach().clone() for p in model.parameters()]
    loader = DataLoader(regression(n=8), batch_size=4)
    for call, needle in [(lambda: trainer.train([]), "train_dataloader=[]"),
                         (lambda: trainer.train(DataLoader(regression(n=0))), "train_dataloader=<torch"),
                         (lambda: trainer.train(loader, []), "eval_dataloader=[]"),
                         (lambda: trainer.evaluate([]), "eval_dataloader=[]")]:
        with pytest.raises(RollToTrainError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            call()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before)) and not opt.state
    with pytest.raises(RollToTrainError, match="yielded none"):
        trainer.train(iter(()))                               # no length: found as it runs
    assert trainer.master.step == 0


def test_a_model_without_parameters_and_a_scheduler_of_another_optimizer_are_refused():
    other = torch.nn.Linear(3, 1)
    with pytest.raises(RollToTrainError, match=r"model=ReLU\(\).*has none"):
        RollToTrain(torch.nn.ReLU(), torch.optim.SGD(other.parameters(), lr=0.1))
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stray = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(model.parameters(), lr=0.1), 3)
    with pytest.raises(RollToTrainError, match="scheduler=.*built on another one"):
        RollToTrain(model, opt, stray)


# --- 7. the history is the record store alone -----------------------------------------------------

def imports_of(path: Path) -> set:
    """Every module the source at ``path`` imports, at the top or inside a function alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_the_history_holds_records_and_its_files_and_plot_live_elsewhere():
    history = imports_of(ROOT / "rtt_edu" / "engine" / "history.py")
    assert not history & {"json", "rtt_edu.atomic", "rtt_edu.views.plots", "rtt_edu.training.history_file"}
    assert not any(hasattr(History, name) for name in ("to_json", "from_json", "save", "load", "plot", "add_step"))
    assert "rtt_edu.engine.history" in imports_of(ROOT / "rtt_edu" / "training" / "history_file.py")
