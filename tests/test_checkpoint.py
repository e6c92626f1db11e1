"""Checkpoints: exact resume, atomic writes, files that are refused with a clear error."""
import os
import pickle
from fractions import Fraction

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from helpers import same
from rtt_edu import Barbarian, Bard, Cleric, ExperienceSystem, Fighter, Paladin, Rogue, RollToTrain, Wizard
from rtt_edu.errors import CheckpointError
from rtt_edu.party.classes import CharacterClass
from rtt_edu.party.monsters import GradientOoze, LossDragon, WeightWraith
from rtt_edu.training.history_file import load_history, save_history

EPOCHS, SPLIT = 4, 2
pytestmark = pytest.mark.filterwarnings("ignore::rtt_edu.NegativeDriftWarning")   # seed-readme climbs on purpose


def regression(n=40, seed=0, nan_rows=()):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    x[list(nan_rows)] = float("nan")      # bad rows: their batch has a NaN loss and NaN gradients
    return TensorDataset(x, y)


def mlp(batch_norm=True):
    layers = [torch.nn.Linear(3, 8)] + ([torch.nn.BatchNorm1d(8)] if batch_norm else []) + \
             [torch.nn.ReLU(), torch.nn.Linear(8, 1)]
    return torch.nn.Sequential(*layers)


def fixed_loader(**kw):
    return DataLoader(regression(**kw), batch_size=8, shuffle=False)


def seeded_shuffle_loader():
    data = regression()
    sampler = DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=7)
    return DataLoader(data, batch_size=8, sampler=sampler)


# name → how to build one run: model, optimizer, scheduler, trainer arguments, loaders.
# Each is built twice: the resumed trainer gets fresh objects and different initial weights.
CONFIGS = {
    "sgd-momentum-steplr": dict(
        model=mlp, opt=lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
        sched=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.8),
        kwargs=lambda: dict(rules="classroom"), train=fixed_loader, eval=lambda: fixed_loader(n=16, seed=1)),
    "adamw-cosine-accumulation-xp": dict(
        model=mlp, opt=lambda ps: torch.optim.AdamW(ps, lr=0.01),
        sched=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20),
        kwargs=lambda: dict(rules="seed-methodology", mode="per_accumulation_step", accumulation_steps=2,
                            use_xp_system=True, intelligence=15),
        train=fixed_loader, eval=lambda: fixed_loader(n=16, seed=1)),
    "seeded-shuffle": dict(
        model=mlp, opt=lambda ps: torch.optim.Adam(ps, lr=0.01), sched=None,
        kwargs=lambda: dict(rules="seed-code", target="delta"), train=seeded_shuffle_loader, eval=None),
    "nan-batches-mid-crisis": dict(   # batches 3, 4 and 0 of every epoch are poisoned: 3 bad steps in a row
        model=lambda: mlp(batch_norm=False), opt=lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
        sched=lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.97),
        kwargs=lambda: dict(rules="plain", seed=8),      # seed 8: dying at the split, revived just after it
        train=lambda: fixed_loader(nan_rows=[*range(0, 8), *range(24, 40)]), eval=None),
}

ALL_MONSTERS = lambda: [LossDragon(factor=3.0, turns=2), GradientOoze(turns=2), WeightWraith(sigma=0.1, turns=2)]  # noqa: E731


def rpg(character_class, opt=lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), sched=None, **kwargs):
    """A config with a character class (built afresh for each trainer), monsters and experience."""
    return dict(model=mlp, opt=opt, sched=sched, train=fixed_loader, eval=lambda: fixed_loader(n=16, seed=1),
                kwargs=lambda: dict(character_class=character_class(), **{
                    k: (v() if callable(v) else v) for k, v in kwargs.items()}))


CONFIGS.update({
    "wizard-restart-monsters-xp": rpg(
        lambda: Wizard(level=5, spell="restart", cast_on=12), rules="classroom", monsters=ALL_MONSTERS,
        encounter_chance=0.4, use_xp_system=lambda: ExperienceSystem(xp_scale=20, best_loss_xp=5),
        sched=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.7),
        seed=9),                                         # seed 9: an Ooze is under way at the split
    "cleric-scheduled-monsters": rpg(
        lambda: Cleric(level=6, spike_factor=1.3), rules="seed-methodology", use_xp_system=True,
        encounter_schedule=lambda: {3: WeightWraith(sigma=0.3, turns=4), 11: LossDragon(factor=5.0, turns=6)},
        opt=lambda ps: torch.optim.AdamW(ps, lr=0.01),
        sched=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)),
    "fighter-ooze-accumulation": rpg(
        lambda: Fighter(level=4, max_norm=0.5, spike_factor=1.3), rules="classroom", monsters=lambda: [GradientOoze()],
        encounter_chance=0.5, mode="per_accumulation_step", accumulation_steps=2),
    "barbarian-dragon": rpg(lambda: Barbarian(level=3), rules="seed-readme", monsters=lambda: [LossDragon()],
                            encounter_chance=0.3, use_xp_system=True),
    "bard-xp": rpg(lambda: Bard(level=5), rules="seed-methodology",
                   use_xp_system=lambda: ExperienceSystem(xp_scale=30)),
    "paladin-wraith": rpg(lambda: Paladin(level=6), rules="seed-code", monsters=lambda: [WeightWraith(sigma=0.2)],
                          encounter_chance=0.3, use_xp_system=True, intelligence=8),
    "rogue-xp": rpg(lambda: Rogue(level=7), rules="classroom", intelligence=16,
                    use_xp_system=lambda: ExperienceSystem(xp_scale=25)),
})


def build(config, init_seed=0):
    torch.manual_seed(init_seed)            # test-side seeding: the library never does this
    model = config["model"]()
    opt = config["opt"](model.parameters())
    sched = config["sched"](opt) if config["sched"] else None
    kwargs = {"seed": 11, **config["kwargs"]()}
    return RollToTrain(model, opt, sched, loss_fn=torch.nn.MSELoss(), progress=False, **kwargs)


def fit(trainer, config, epochs):
    return trainer.train(config["train"](), config["eval"]() if config["eval"] else None, epochs=epochs)


def assert_same_run(a, b):
    for (k, x), (k2, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert k == k2 and torch.equal(x, y), k
    assert a.history == b.history
    same(a.state_dict(), b.state_dict())    # optimizer, scheduler, dice, participants, guard: all of it


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_resume_is_bit_identical_to_an_unbroken_run(name, tmp_path):
    config = CONFIGS[name]
    unbroken = build(config)
    fit(unbroken, config, EPOCHS)

    first = build(config)
    fit(first, config, SPLIT)
    first.save_checkpoint(tmp_path / "run.pt")
    resumed = build(config, init_seed=99)   # fresh model, optimizer, scheduler; other initial weights
    assert not all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), first.model.parameters()))
    resumed.load_checkpoint(tmp_path / "run.pt")
    same(resumed.state_dict(), first.state_dict())
    fit(resumed, config, EPOCHS - SPLIT)

    assert_same_run(unbroken, resumed)
    assert resumed.master.epoch == EPOCHS
    assert [r.epoch for r in resumed.history.steps] == [r.epoch for r in unbroken.history.steps]


def test_the_nan_config_really_crosses_the_checkpoint_while_dying():
    """The mid-crisis case above is only a test if the guard is dying when the checkpoint is taken
    and restores its snapshot (taken before the checkpoint) after it."""
    config = CONFIGS["nan-batches-mid-crisis"]
    trainer = build(config)
    fit(trainer, config, SPLIT)
    guard = trainer.master.guard
    assert guard.dying and guard._snapshot is not None and guard._snapshot["step"] < trainer.master.step
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    fit(trainer, config, 1)
    revived = [step for step, _ in trainer.history.events("revive")]
    assert revived and revived[0] == SPLIT * 5


def test_the_rpg_configs_really_carry_monsters_and_class_state_across_the_checkpoint():
    """The RPG resume cases are only tests if something is under way when the checkpoint is taken."""
    from rtt_edu.party.monsters import EncounterTable
    active, cleric_weights = [], None
    for name in sorted(CONFIGS):
        trainer = build(CONFIGS[name])
        fit(trainer, CONFIGS[name], SPLIT)
        for p in trainer.master.participants:
            if isinstance(p, EncounterTable) and p.active is not None:
                active.append((name, p.active.name, p.active.turns_left))
            if isinstance(p, Cleric):
                cleric_weights = p.best_weights
    assert len(active) >= 2 and all(turns_left >= 1 for _, _, turns_left in active), active
    assert cleric_weights is not None


def test_a_seeded_shuffle_is_told_the_epoch_so_a_resumed_run_draws_the_next_order(tmp_path):
    config = CONFIGS["seeded-shuffle"]
    trainer = build(config)
    loader = config["train"]()
    trainer.train(loader, epochs=2)
    assert loader.sampler.epoch == 1
    trainer.save_checkpoint(tmp_path / "run.pt")
    resumed = build(config, init_seed=4)
    resumed.load_checkpoint(tmp_path / "run.pt")
    fresh_loader = config["train"]()
    resumed.train(fresh_loader)
    assert fresh_loader.sampler.epoch == 2
    orders = [list(loader.sampler)]
    loader.sampler.set_epoch(0)
    orders.append(list(loader.sampler))
    assert orders[0] != orders[1]       # the order really changes from epoch to epoch


def test_after_loading_train_epochs_n_trains_n_more(tmp_path):
    config = CONFIGS["sgd-momentum-steplr"]
    trainer = build(config)
    fit(trainer, config, 1)
    trainer.save_checkpoint(tmp_path / "one.pt")
    resumed = build(config, init_seed=5)
    resumed.load_checkpoint(tmp_path / "one.pt")
    assert len(resumed.history) == 5 and resumed.master.step == 5 and resumed.master.epoch == 1
    assert resumed.master.last_record == trainer.history.steps[-1]
    fit(resumed, config, 3)
    assert len(resumed.history) == 20 and [r.step for r in resumed.history.steps] == list(range(20))
    assert [r.epoch for r in resumed.history.steps] == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    assert resumed.scheduler.last_epoch == 20 and len(resumed.history.evals) == 4


def test_state_dict_load_state_dict_round_trip_without_files():
    config = CONFIGS["adamw-cosine-accumulation-xp"]
    trainer = build(config)
    fit(trainer, config, 1)
    other = build(config, init_seed=3)
    other.load_state_dict(trainer.state_dict())
    same(other.state_dict(), trainer.state_dict())
    assert other.experience.xp == trainer.experience.xp > 0


# --- atomic writes -----------------------------------------------------------------------------

def trained(config_name="sgd-momentum-steplr", epochs=1):
    config = CONFIGS[config_name]
    trainer = build(config)
    fit(trainer, config, epochs)
    return trainer


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    trainer = trained()
    trainer.save_checkpoint(path)
    saved_weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    saved_bytes = path.read_bytes()
    fit(trainer, CONFIGS["sgd-momentum-steplr"], 1)          # the run moves on

    real_save = torch.save

    def crash_half_way(obj, f, *args, **kwargs):
        import io
        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint(path)
    monkeypatch.undo()

    assert os.listdir(tmp_path) == ["run.pt"]          # no temporary file left behind
    assert path.read_bytes() == saved_bytes
    fresh = build(CONFIGS["sgd-momentum-steplr"], init_seed=1)
    fresh.load_checkpoint(path)
    for k, v in fresh.model.state_dict().items():
        assert torch.equal(v, saved_weights[k])
    assert len(fresh.history) == 5


def test_an_interrupt_after_writing_but_before_the_rename_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "history.json"
    history = trained().history
    save_history(history, path)
    before = path.read_bytes()
    longer = trained(epochs=2).history

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_history(longer, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["history.json"] and path.read_bytes() == before
    assert load_history(path) == history != longer


def test_saving_keeps_the_file_permissions_and_replaces_the_old_file(tmp_path):
    path = tmp_path / "run.pt"
    trainer = trained()
    trainer.save_checkpoint(path)
    os.chmod(path, 0o640)
    fit(trainer, CONFIGS["sgd-momentum-steplr"], 1)
    trainer.save_checkpoint(path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    fresh = build(CONFIGS["sgd-momentum-steplr"], init_seed=2)
    fresh.load_checkpoint(path)
    assert len(fresh.history) == 10


class Hoarder(CharacterClass):
    """A class whose state holds something ``weights_only`` cannot read (a Fraction)."""

    def state_dict(self):
        return {"level": self.level, "luck": Fraction(1, 3)}


def test_a_state_that_could_not_be_loaded_safely_is_refused_at_save_time(tmp_path):
    path = tmp_path / "run.pt"
    model = mlp()
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), character_class=Hoarder(),
                          loss_fn=torch.nn.MSELoss(), progress=False)
    with pytest.raises(CheckpointError) as err:
        trainer.save_checkpoint(path)
    message = str(err.value)
    assert "['master']['participants'][0]['luck']" in message and "Fraction(1, 3)" in message
    assert repr(str(path)) in message and os.listdir(tmp_path) == []


# --- files that are refused ------------------------------------------------------------------

class RunsCode:
    """Unpickling this calls ``open(marker, "w")``: a checkpoint crafted to run code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted_files(tmp_path, marker):
    """Three ways to smuggle code into a .pt file."""
    legit = trained().state_dict()
    legit["history"]["meta"]["note"] = RunsCode(marker)    # an otherwise perfect checkpoint
    torch.save(legit, tmp_path / "nested.pt")
    torch.save({"format": "rtt_edu.checkpoint/1", "model": RunsCode(marker)}, tmp_path / "torch_zip.pt")
    with open(tmp_path / "raw_pickle.pt", "wb") as fh:
        pickle.dump({"model": RunsCode(marker)}, fh, protocol=2)
    return ["nested.pt", "torch_zip.pt", "raw_pickle.pt"]


def test_a_checkpoint_crafted_to_run_code_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    names = crafted_files(tmp_path, marker)
    assert not marker.exists()
    trainer = trained()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    for name in names:
        path = str(tmp_path / name)
        with pytest.raises(CheckpointError) as err:
            trainer.load_checkpoint(path)
        assert repr(path) in str(err.value) and "refused" in str(err.value), str(err.value)
        assert "open" in str(err.value)                  # says what it would have called
        assert not marker.exists()
    assert all(torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    assert len(trainer.history) == 5


def bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "missing":
        pass
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("epoch 3: loss 0.25\n")
    elif kind == "truncated":
        trained().save_checkpoint(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "foreign":
        torch.save({"epoch": 3, "net": {"w": torch.ones(2)}, "notes": "another program's file"}, path)
    elif kind == "bare-state-dict":
        torch.save(mlp().state_dict(), path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    return path


@pytest.mark.parametrize("kind,needle", [
    ("missing", "nothing is there"), ("empty", "empty"), ("folder", "not a folder"),
    ("text", "not a readable PyTorch checkpoint"), ("truncated", "truncated"),
    ("foreign", "not an rtt_edu checkpoint"), ("bare-state-dict", "model.load_state_dict"),
    ("tensor", "holds a Tensor"),
])
def test_missing_truncated_and_foreign_files_give_a_clear_error_naming_them(tmp_path, kind, needle):
    path = bad_file(tmp_path, kind)
    trainer = trained()
    before = trainer.state_dict()
    with pytest.raises(CheckpointError) as err:
        trainer.load_checkpoint(path)
    assert repr(str(path)) in str(err.value) and needle in str(err.value), str(err.value)
    same(trainer.state_dict(), before)


def other_trainer(kind):
    if kind == "wider-model":
        model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                    torch.nn.Linear(16, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return RollToTrain(model, opt, torch.optim.lr_scheduler.StepLR(opt, 3), loss_fn=torch.nn.MSELoss(),
                           progress=False)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if kind == "no-scheduler":
        return RollToTrain(model, opt, loss_fn=torch.nn.MSELoss(), progress=False)
    if kind == "with-xp":
        return RollToTrain(model, opt, torch.optim.lr_scheduler.StepLR(opt, 3), use_xp_system=True,
                           loss_fn=torch.nn.MSELoss(), progress=False)
    if kind == "two-param-groups":
        params = list(model.parameters())
        opt = torch.optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
        return RollToTrain(model, opt, torch.optim.lr_scheduler.StepLR(opt, 3), loss_fn=torch.nn.MSELoss(),
                           progress=False)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind,needles", [
    ("wider-model", ["shape (16, 3) here and (8, 3) in the file", "'0.weight'"]),
    ("no-scheduler", ["scheduler=None", "holds a scheduler state"]),
    ("with-xp", ["participants are []", "['ExperienceSystem']"]),
    ("two-param-groups", ["param groups of sizes [2, 4] here and [6] in the file"]),
])
def test_a_checkpoint_of_another_setup_is_refused_and_changes_nothing(tmp_path, kind, needles):
    path = tmp_path / "run.pt"
    trained().save_checkpoint(path)
    trainer = other_trainer(kind)
    before = trainer.state_dict()
    with pytest.raises(CheckpointError) as err:
        trainer.load_checkpoint(path)
    message = str(err.value)
    assert repr(str(path)) in message and all(n in message for n in needles), message
    same(trainer.state_dict(), before)


@pytest.mark.parametrize("path", [42, None, b"run.pt", ["run.pt"]])
def test_a_path_that_is_not_a_path_is_a_type_error_naming_it(path):
    trainer = trained()
    for method in (trainer.save_checkpoint, trainer.load_checkpoint):
        named = f"path={path!r}".replace("[", r"\[").replace("]", r"\]")
        with pytest.raises((TypeError, CheckpointError), match=named):
            method(path)


def test_saving_into_a_missing_folder_names_it(tmp_path):
    path = tmp_path / "no" / "such" / "run.pt"
    with pytest.raises(CheckpointError, match="is missing") as err:
        trained().save_checkpoint(path)
    assert repr(str(path)) in str(err.value)


def test_a_checkpoint_saved_under_another_nonfinite_policy_resumes_with_fresh_death_saves(tmp_path):
    path = tmp_path / "run.pt"
    config = CONFIGS["sgd-momentum-steplr"]
    first = build(config)
    first.master.guard = None                      # as if built with on_nonfinite="off"
    fit(first, config, 1)
    first.save_checkpoint(path)
    resumed = build(config, init_seed=3)
    resumed.load_checkpoint(path)
    guard = resumed.master.guard
    assert (guard.successes, guard.failures, guard.revivals, guard.dying) == (0, 0, 0, False)
    assert len(resumed.history) == 5
