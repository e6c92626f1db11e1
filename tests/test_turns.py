"""The game master and its turns (rtt_edu.engine.turns): one game master per optimizer, every exit path
undone, one factory, a turn with declared fields only, and two seeded dice streams (the save's and the
participants')."""
import warnings

import pytest
import torch

from rtt_edu import (
    DiceRoller,
    ExperienceSystem,
    GameConfig,
    LossDragon,
    NonFiniteTrainingError,
    RollToTrain,
    SavingThrow,
    Wizard,
    attach,
)
from rtt_edu.engine.turns import GameMaster, Turn
from rtt_edu.training.game import build_master

LR = 0.1


def linear():
    torch.manual_seed(0)                       # test-side seeding
    return torch.nn.Linear(4, 2)


def train(model, opt, steps=20, x=None):
    x = torch.ones(3, 4) if x is None else x
    for _ in range(steps):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()


# --- one game master per optimizer (a student re-runs the cell that attaches) -------------------

def test_attaching_twice_replaces_the_first_with_a_warning_and_leaves_the_lr_alone():
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    h1 = attach(opt, seed=0)
    with pytest.warns(RuntimeWarning, match="already had dice attached"):
        h2 = attach(opt, seed=1)
    train(model, opt)
    h1.remove()
    h2.remove()
    assert opt.param_groups[0]["lr"] == LR
    assert len(h1.records) == 0 and len(h2.records) == 20     # only the newest rolled


def test_a_re_attached_cell_trains_exactly_like_a_single_attach():
    runs = []
    for times in (1, 3):
        model = linear()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for _ in range(times):
                handle = attach(opt, "classroom", seed=4)
        train(model, opt)
        handle.remove()
        runs.append(([r.multiplier for r in handle.records], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_attach_then_train_on_the_same_optimizer_scales_each_step_once():
    def run(pre_attach):
        model = linear()
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        if pre_attach:
            attach(opt, seed=9)
        trainer = RollToTrain(model, opt, loss_fn=torch.nn.MSELoss(), seed=2, progress=False)
        data = [(torch.ones(3, 4), torch.zeros(3, 2))] * 10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            trainer.train(data)
        return [p.detach().clone() for p in model.parameters()], opt.param_groups[0]["lr"]
    (alone, lr_alone), (both, lr_both) = run(False), run(True)
    assert lr_alone == lr_both == LR
    assert all(torch.equal(a, b) for a, b in zip(alone, both))


def test_a_trainer_re_attaches_to_its_own_optimizer_silently():
    model = linear()
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=LR), loss_fn=torch.nn.MSELoss(), seed=2,
                          progress=False)
    data = [(torch.ones(3, 4), torch.zeros(3, 2))] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        trainer.train(data)
        trainer.train(data)
    assert trainer.history.total_steps == 8


# --- every exit path leaves the param groups as the plain run would ------------------------------

class Boom(torch.optim.SGD):
    """An SGD whose step raises once, after the pre-hook scaled the rate."""
    fail = False

    def step(self, closure=None):
        if self.fail:
            self.fail = False
            raise RuntimeError("boom")
        return super().step(closure)


def test_an_exception_inside_the_step_is_undone_before_the_next_step_and_by_remove():
    model = linear()
    opt = Boom(model.parameters(), lr=LR)
    handle = attach(opt, SavingThrow(dc=11, crit_success=0.5, success=0.5, fail=0.5, crit_fail=0.5), seed=0)
    opt.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        train(model, opt, steps=1)
    # torch runs no post-hook after a raising step; the next pre-hook aborts the cut-short turn
    train(model, opt, steps=1)
    assert opt.param_groups[0]["lr"] == LR
    opt.fail = True
    with pytest.raises(RuntimeError):
        train(model, opt, steps=1)
    handle.remove()
    assert opt.param_groups[0]["lr"] == LR


@pytest.mark.parametrize("target", ["update", "gradient", "delta"])
def test_the_raise_policy_with_a_wizard_spell_leaves_every_rate_and_gradient_as_it_was(target):
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    handle = attach(opt, "plain", seed=0, target=target, on_nonfinite="raise",
                    character_class=Wizard(level=1, cast_on=1, power=3.0))
    opt.zero_grad()
    model(torch.full((1, 4), float("nan"))).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    weights = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(NonFiniteTrainingError):
        opt.step()
    assert opt.param_groups[0]["lr"] == LR
    assert all(torch.allclose(g, p.grad, rtol=0, atol=0, equal_nan=True) for g, p in zip(grads, model.parameters()))
    assert all(torch.equal(w, p) for w, p in zip(weights, model.parameters()))
    handle.remove()
    assert opt.param_groups[0]["lr"] == LR


def test_a_tensor_learning_rate_comes_back_bit_identical_after_an_abort():
    model = linear()
    lr = torch.tensor(LR)
    opt = Boom(model.parameters(), lr=lr)
    handle = attach(opt, SavingThrow(dc=11, crit_success=0.3, success=0.3, fail=0.3, crit_fail=0.3), seed=0)
    opt.fail = True
    with pytest.raises(RuntimeError):
        train(model, opt, steps=1)
    handle.remove()
    assert opt.param_groups[0]["lr"] is lr and torch.equal(lr, torch.tensor(LR))


# --- two trainers, one roller ---------------------------------------------------------------------

def test_one_roller_handed_to_two_game_masters_is_named_in_a_warning():
    roller = DiceRoller(3)
    first = GameMaster(roller=roller)
    with pytest.warns(RuntimeWarning, match="already rolls for another game master"):
        GameMaster(roller=roller)
    del first


def test_two_game_masters_from_one_seed_have_streams_of_their_own():
    a, b = GameMaster(seed=3), GameMaster(seed=3)
    assert a.roller is not b.roller and a.table_roller is not a.roller
    assert [a.roller.die(20) for _ in range(20)] == [b.roller.die(20) for _ in range(20)]


# --- the save's die has its own stream --------------------------------------------------------------

def naturals(rule, **kwargs):
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handle = attach(opt, rule, seed=7, on_nonfinite="off", **kwargs)
    train(model, opt, steps=40)
    handle.remove()
    return [r.natural for r in handle.records], [r.multiplier for r in handle.records]


def test_a_changed_dc_intelligence_or_band_rereads_the_same_faces_with_classes_and_monsters_present():
    game = dict(monsters=[LossDragon(turns=2)], encounter_chance=0.5)
    base_faces, base_m = naturals(SavingThrow.preset("classroom"), character_class=Wizard(level=3), **game)
    for rule, extra in [(SavingThrow.preset("classroom", dc=15), {}),
                        (SavingThrow.preset("classroom"), dict(intelligence=18)),
                        (SavingThrow.preset("classroom", fail=-0.5), {})]:
        faces, m = naturals(rule, character_class=Wizard(level=3), **game, **extra)
        assert faces == base_faces
        assert m != base_m


def test_the_save_stream_is_the_seed_s_own_dice_and_the_table_stream_another():
    faces, _ = naturals("classroom", monsters=[LossDragon(turns=2)], encounter_chance=0.5)
    roller = DiceRoller(7)
    assert faces == [roller.die(20) for _ in range(40)]


# --- one factory; a turn with declared fields only ---------------------------------------------------

def test_every_entry_point_builds_its_game_master_through_build_master(monkeypatch):
    import rtt_edu.training.game as hook
    import rtt_edu.training.trainer as trainer_module
    built = []

    def counting(game, **kwargs):
        built.append(game)
        return build_master(game, **kwargs)
    monkeypatch.setattr(hook, "build_master", counting)
    monkeypatch.setattr(trainer_module, "build_master", counting)
    model = linear()
    attach(torch.optim.SGD(model.parameters(), lr=LR), seed=0)
    RollToTrain(model, torch.optim.SGD(model.parameters(), lr=LR), loss_fn=torch.nn.MSELoss(), progress=False)
    try:
        import rtt_edu.training.hf as hf
    except ImportError:
        hf = None
    if hf is not None and hf.HF_AVAILABLE:
        monkeypatch.setattr(hf, "build_master", counting)
        hf.RollToTrainCallback(seed=0)
    assert len(built) == (3 if hf is not None and hf.HF_AVAILABLE else 2)
    assert all(isinstance(game, GameConfig) for game in built)


def test_negative_drift_is_warned_once_at_the_caller_line():
    model = linear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attach(torch.optim.SGD(model.parameters(), lr=LR), "seed-readme", seed=0)
    drift = [w for w in caught if "climbs the loss" in str(w.message)]
    assert len(drift) == 1 and drift[0].filename == __file__


def test_a_turn_refuses_undeclared_attributes():
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    turn = Turn(GameMaster(seed=0), opt, 0, 0)
    turn.multiplier = 0.5
    with pytest.raises(AttributeError):
        turn._saved = [1]


def test_a_turn_is_skipped_and_logged_through_its_two_calls_only():
    model = linear()
    turn = Turn(GameMaster(seed=0), torch.optim.SGD(model.parameters(), lr=LR), 0, 0)
    with pytest.raises(AttributeError):
        turn.skipped = True                   # one way to skip a step: turn.skip()
    turn.log("note", "a participant's event", detail=1)
    assert turn.events == ({"kind": "note", "message": "a participant's event", "detail": 1},)
    with pytest.raises(AttributeError):
        turn.events.append({"kind": "sneaky"})   # one way to record one: turn.log()
    turn.skip("held back", kind="skip")
    assert turn.skipped and [e["kind"] for e in turn.events] == ["note", "skip"]


def test_turn_skip_after_the_step_undoes_the_scaled_rate_and_records_a_skip():
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    master = GameMaster(SavingThrow(dc=11, crit_success=0.5, success=0.5, fail=0.5, crit_fail=0.5), seed=0)
    model(torch.ones(1, 4)).sum().backward()
    turn = master.begin(opt)
    assert opt.param_groups[0]["lr"] == LR * 0.5
    turn.skip("the gradient scaler skipped this step", kind="nonfinite")
    assert opt.param_groups[0]["lr"] == LR
    master.end(turn)
    record = master.history.steps[-1]
    assert record.outcome == "skipped" and record.multiplier == 0.0
    assert record.events[-1]["kind"] == "nonfinite" and opt.param_groups[0]["lr"] == LR


def test_master_log_joins_the_newest_record_and_drops_an_event_before_any_step():
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    handle = attach(opt, "plain", seed=0)
    assert handle.master.log("note", "before any step") is None
    train(model, opt, steps=2)
    event = handle.master.log("long_rest", "after the epoch", recovered=1)
    assert handle.records[-1].events[-1] == event == {"kind": "long_rest", "message": "after the epoch", "recovered": 1}
    assert handle.records[0].events == [] and handle.history.battle_log() == ["step 1: after the epoch"]
    handle.remove()


def test_the_experience_system_is_the_game_master_s_and_acts_first():
    xp = ExperienceSystem()
    master = build_master(GameConfig(character_class=Wizard(), experience=xp, seed=0))
    assert master.experience is xp and master.participants[0] is xp
    assert build_master(GameConfig(seed=0)).experience is None
    fresh = build_master(GameConfig(experience=True, seed=0)).experience
    assert isinstance(fresh, ExperienceSystem) and fresh is not xp


def test_a_learning_rate_tensor_shared_by_two_groups_is_scaled_once_and_restored():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 2), torch.nn.Linear(2, 1)
    opt = torch.optim.Adam([{"params": a.parameters()}, {"params": b.parameters()}], lr=torch.tensor(0.1))
    assert opt.param_groups[0]["lr"] is opt.param_groups[1]["lr"]       # torch shares the default
    handle = attach(opt, "classroom", seed=0, on_nonfinite="off", character_class=Wizard(level=1, cast_on=1))
    x = torch.ones(3, 4)
    for _ in range(5):
        opt.zero_grad()
        b(a(x)).pow(2).mean().backward()
        opt.step()
    handle.remove()
    assert all(torch.equal(g["lr"], torch.tensor(0.1)) for g in opt.param_groups)


def test_a_haste_on_a_shared_rate_tensor_steps_at_power_not_power_squared():
    def move(shared):
        torch.manual_seed(0)
        a, b = torch.nn.Linear(4, 2), torch.nn.Linear(2, 1)
        lr = torch.tensor(0.1) if shared else 0.1
        opt = torch.optim.SGD([{"params": a.parameters()}, {"params": b.parameters()}], lr=lr)
        handle = attach(opt, "plain", seed=0, on_nonfinite="off", character_class=Wizard(level=1, cast_on=1, power=2.0))
        before = [p.detach().clone() for p in a.parameters()]
        opt.zero_grad()
        b(a(torch.ones(3, 4))).pow(2).mean().backward()
        opt.step()
        handle.remove()
        return [p.detach() - q for p, q in zip(a.parameters(), before)]
    for shared, plain in zip(move(True), move(False)):
        torch.testing.assert_close(shared, plain)
