"""Checkpoint format versions: an older file loads through the documented migration, a newer one is
refused naming the version found, the versions read and what to do.

Version 1 is what rtt_edu 0.1.0's ``save_checkpoint`` wrote (``"rtt_edu.checkpoint/1"``, the keys
format, model, optimizer, scheduler, master, participants and history, the history as rows, and
one dice stream: no ``master["table_roller"]``). The tests build that layout from a trainer that
rolls one stream, as the earlier release did.
"""
import copy
import time

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import same
from rtt_edu import DiceRoller, ExperienceSystem, RollToTrain, Wizard
from rtt_edu.errors import CheckpointError
from rtt_edu.party.monsters import GradientOoze, LossDragon
from rtt_edu.training import checkpoint
from rtt_edu.training.checkpoint import upgraded_state
from rtt_edu.training.history_file import history_to_dict

V1_KEYS = {"format", "model", "optimizer", "scheduler", "master", "participants", "history"}
V1_MASTER_KEYS = {"step", "epoch", "rules", "roller", "participants", "guard"}


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=g)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])), batch_size=4)


def build(players=True, **dice):
    torch.manual_seed(0)                       # test-side seeding: the library never does this
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    game = dict(character_class=Wizard(level=3), use_xp_system=ExperienceSystem(xp_scale=20),
                monsters=[LossDragon(), GradientOoze()], encounter_chance=0.5) if players else {}
    return RollToTrain(model, opt, torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.8), rules="classroom",
                       loss_fn=torch.nn.MSELoss(), progress=False, **game, **(dice or {"seed": 11}))


def version_1(trainer) -> dict:
    """``trainer``'s state in the version-1 layout: the keys, the history as rows, one dice stream."""
    assert trainer.master.table_roller is trainer.master.roller, "version 1 rolled one stream"
    state = trainer.state_dict()
    old = {key: state[key] for key in V1_KEYS - {"format", "history"}}
    old.update(format="rtt_edu.checkpoint/1", history=history_to_dict(trainer.history))
    assert set(old["master"]) == V1_MASTER_KEYS and old["history"]["format"] == "rtt_edu.history/1"
    return old


@pytest.fixture
def old_file(tmp_path):
    """A version-1 checkpoint after one epoch, and the one-stream trainer that wrote it."""
    trainer = build(roller=DiceRoller(11))
    trainer.train(loader(), epochs=1)
    path = tmp_path / "old.pt"
    checkpoint.save_state(version_1(trainer), path)
    return path, trainer


def params(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_this_release_writes_version_2():
    assert checkpoint.CHECKPOINT_VERSION == 2 and checkpoint.CHECKPOINT_FORMAT == "rtt_edu.checkpoint/2"
    assert build().state_dict()["format"] == "rtt_edu.checkpoint/2"


def test_a_version_1_file_loads_into_a_trainer_built_with_seed(old_file, tmp_path):
    path, writer = old_file
    resumed = build(seed=11)
    resumed.load_checkpoint(path)              # refused before: state['table_roller']='missing'
    assert resumed.history == writer.history and resumed.master.step == writer.master.step == 8
    same(params(resumed), params(writer))
    same(resumed.optimizer.state_dict(), writer.optimizer.state_dict())
    assert resumed.master.roller.state_dict() == writer.master.roller.state_dict()   # the save's die, where it stopped
    assert resumed.master.table_roller is not resumed.master.roller                  # the participants' own stream
    resumed.train(loader(), epochs=1)
    again = build(seed=11)
    again.load_checkpoint(path)
    again.train(loader(), epochs=1)            # the same file always resumes the same way
    assert again.history == resumed.history
    same(params(again), params(resumed))
    assert resumed.history.total_steps == 16 and resumed.history.event_counts().get("encounter")
    resumed.save_checkpoint(tmp_path / "new.pt")            # saved again: version 2, two streams
    saved = checkpoint.load_state(tmp_path / "new.pt")
    assert saved["format"] == "rtt_edu.checkpoint/2" and "table_roller" in saved["master"]
    later = build(seed=11)
    later.load_checkpoint(tmp_path / "new.pt")
    later.train(loader(), epochs=1)
    resumed.train(loader(), epochs=1)
    assert later.history == resumed.history
    same(params(later), params(resumed))


def test_a_version_1_file_into_a_one_stream_trainer_goes_on_as_the_run_that_wrote_it(old_file):
    path, writer = old_file
    resumed = build(roller=DiceRoller(0))
    resumed.load_checkpoint(path)
    assert resumed.master.table_roller is resumed.master.roller
    resumed.train(loader(), epochs=1)
    writer.train(loader(), epochs=1)
    assert resumed.history == writer.history
    same(params(resumed), params(writer))


def test_without_participants_the_migrated_save_die_rolls_the_faces_the_earlier_release_would(tmp_path):
    writer = build(players=False, roller=DiceRoller(5))
    writer.train(loader(), epochs=1)
    resumed = build(players=False, seed=5)
    resumed.load_state_dict(copy.deepcopy(version_1(writer)))    # a state, not a file, migrates as well
    writer.train(loader(), epochs=1)
    resumed.train(loader(), epochs=1)
    assert resumed.history.column("natural") == writer.history.column("natural")
    assert resumed.history == writer.history
    same(params(resumed), params(writer))


def test_the_migration_leaves_the_state_it_reads_alone(old_file):
    path, _ = old_file
    old = checkpoint.load_state(path)
    before = repr(old["master"]["roller"]), old["format"], sorted(old["master"])
    new = upgraded_state(old, two_streams=True)
    assert new["format"] == "rtt_edu.checkpoint/2" and "table_roller" in new["master"]
    assert (repr(old["master"]["roller"]), old["format"], sorted(old["master"])) == before
    assert upgraded_state(old, two_streams=True)["master"]["table_roller"] == new["master"]["table_roller"]
    assert "table_roller" not in upgraded_state(old, two_streams=False)["master"]


def test_a_later_version_is_refused_naming_the_versions_and_what_to_do(tmp_path):
    writer = build()
    writer.train(loader(), epochs=1)
    future = {**writer.state_dict(), "format": "rtt_edu.checkpoint/3"}
    checkpoint.save_state(future, tmp_path / "future.pt")
    target = build()
    before = (params(target), target.state_dict())
    for attempt in (lambda: target.load_checkpoint(tmp_path / "future.pt"), lambda: target.load_state_dict(future)):
        with pytest.raises(CheckpointError) as err:
            attempt()
        message = str(err.value)
        assert "version 3" in message and "versions 1 to 2" in message and "update rtt_edu" in message
    same(params(target), before[0])
    same(target.state_dict()["master"], before[1]["master"])


@pytest.mark.parametrize("found", ["rtt_edu.checkpoint/0", "rtt_edu.checkpoint/two", "rtt_edu.checkpoint/",
                                   "rtt_edu.checkpoint/" + "9" * 1_000_000, 2, None])
def test_a_format_of_no_version_is_not_a_checkpoint_said_briefly(found, tmp_path):
    state = {**build().state_dict(), "format": found}
    target = build()
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="not an rtt_edu checkpoint") as err:
        target.load_state_dict(state)
    assert time.perf_counter() - start < 1 and len(str(err.value)) < 600
    assert "rtt_edu.checkpoint/2" in str(err.value)


@pytest.mark.parametrize("file_dice, here_dice, advice", [
    (dict(roller=DiceRoller(3)), dict(seed=3), "roller=DiceRoller(seed) in place of seed=seed"),
    (dict(seed=3), dict(roller=DiceRoller(3)), "seed= in place of roller="),
])
def test_a_version_2_file_of_other_dice_streams_is_refused_saying_how_to_build_the_trainer(file_dice, here_dice,
                                                                                           advice, tmp_path):
    writer = build(**file_dice)
    writer.train(loader(), epochs=1)
    writer.save_checkpoint(tmp_path / "run.pt")
    target = build(**here_dice)
    before = params(target)
    with pytest.raises(CheckpointError, match=advice.replace("(", r"\(").replace(")", r"\)")):
        target.load_checkpoint(tmp_path / "run.pt")
    same(params(target), before)
    assert target.master.step == 0


def test_a_version_1_file_with_a_broken_dice_state_is_refused_without_a_raw_error(old_file, tmp_path):
    path, _ = old_file
    old = checkpoint.load_state(path)
    for roller in ({"seed": 11}, {"version": 3, "internal": [float("inf")], "gauss": None}, "d20"):
        broken = {**old, "master": {**old["master"], "roller": roller}}
        target = build(seed=11)
        before = params(target)
        with pytest.raises(CheckpointError, match="game"):
            target.load_state_dict(broken)
        same(params(target), before)
    assert target.master.step == 0
