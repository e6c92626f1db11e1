"""The game's settings in one place (rtt_edu.training.game): a GameConfig, checked when built, that
attach, RollToTrain and the HuggingFace callback accept, and the loose keywords that become one."""
import dataclasses
import inspect
import warnings

import pytest
import torch

from helpers import linear_model, regression_batch
from rtt_edu import (
    DeathSaves,
    ExperienceSystem,
    GameConfig,
    GradientOoze,
    LossDragon,
    RollToTrain,
    RollToTrainError,
    SavingThrow,
    Wizard,
    attach,
)
from rtt_edu.training.game import FIELDS, build_master, game_config

WIZARD_RULES = SavingThrow(dc=11, crit_success=1.0, success=0.75, fail=0.25, crit_fail=-0.5)


def test_every_field_of_the_game_has_a_comment_and_its_own_check():
    source = inspect.getsource(GameConfig)
    lines = {f.name: next(line for line in source.splitlines() if line.strip().startswith(f"{f.name}:"))
             for f in dataclasses.fields(GameConfig)}
    assert all("  # " in line for line in lines.values()), [n for n, line in lines.items() if "  # " not in line]
    assert FIELDS == ("rules", "intelligence", "character_class", "experience", "monsters", "encounter_chance",
                      "encounter_schedule", "target", "on_nonfinite", "seed")


@pytest.mark.parametrize("settings,needle", [
    ({"rules": "nope"}, "rules='nope'"), ({"rules": 42}, "rules=42"),
    ({"intelligence": 0}, "intelligence=0"), ({"intelligence": "15"}, "intelligence='15'"),
    ({"character_class": "wizard"}, "character_class='wizard'"), ({"experience": "yes"}, "experience='yes'"),
    ({"monsters": ["dragon"]}, "monsters=\\['dragon'\\]"), ({"encounter_chance": 1.5}, "encounter_chance=1.5"),
    ({"encounter_chance": 0.5}, "monsters=\\[\\]: expected at least one Monster"),
    ({"encounter_schedule": {-1: LossDragon()}}, "encounter_schedule step=-1"),
    ({"target": "weights"}, "target='weights'"), ({"on_nonfinite": "ignore"}, "on_nonfinite='ignore'"),
    ({"seed": 1.5}, "seed=1.5"), ({"seed": True}, "seed=True"),
])
def test_a_bad_setting_is_refused_when_the_game_is_built_naming_the_field(settings, needle):
    with pytest.raises(RollToTrainError, match=needle):
        GameConfig(**settings)


def test_a_game_is_frozen_its_variants_are_checked_again_and_its_repr_shows_what_differs():
    game = GameConfig(intelligence=15, seed=0)
    assert repr(game) == "GameConfig(intelligence=15, seed=0)" and repr(GameConfig()) == "GameConfig()"
    with pytest.raises(dataclasses.FrozenInstanceError):
        game.intelligence = 8
    assert dataclasses.replace(game, intelligence=8).intelligence == 8
    with pytest.raises(RollToTrainError, match="intelligence=31"):
        dataclasses.replace(game, intelligence=31)
    with pytest.raises(TypeError):
        GameConfig("classroom")                     # keywords only: GameConfig(rules="classroom")


def test_settings_are_normalised_once_so_equal_games_compare_equal():
    dragon = LossDragon()
    game = GameConfig(rules=None, experience=None, monsters=dragon, encounter_schedule={3: dragon})
    assert game.rules == "classroom" and game.experience is False and game.monsters == (dragon,)
    assert game == GameConfig(monsters=[dragon], encounter_schedule={3: dragon})


def run_attached(steps=12, **how):
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handle = attach(opt, **how)
    for t in range(steps):
        opt.zero_grad()
        x, y = regression_batch(t)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        handle.observe_loss(loss)
        opt.step()
    handle.remove()
    return [(r.natural, r.multiplier, r.outcome, [e["kind"] for e in r.events]) for r in handle.records], \
        [p.detach().clone() for p in model.parameters()]


def test_attach_plays_the_same_game_from_keywords_and_from_a_game_config():
    def settings():
        return dict(rules=WIZARD_RULES, seed=3, intelligence=14, character_class=Wizard(level=2, cast_on=15),
                    experience=ExperienceSystem(xp_scale=5), encounter_schedule={2: GradientOoze(armor_class=30)})
    loose, loose_w = run_attached(**settings())
    game, game_w = run_attached(game=GameConfig(**settings()))
    assert loose == game and all(torch.equal(a, b) for a, b in zip(loose_w, game_w))
    assert any("ability" in kinds for _, _, _, kinds in game) and any("monster" in kinds for *_, kinds in game)


def trainer_records(**how):
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    trainer = RollToTrain(model, opt, loss_fn=torch.nn.MSELoss(), progress=False, **how)
    trainer.train([regression_batch(t) for t in range(8)], epochs=2)
    return trainer, [(r.natural, r.multiplier, r.outcome) for r in trainer.history.steps]


def test_the_seed_s_quick_start_keywords_become_the_same_game_as_game_equals():
    quick, a = trainer_records(intelligence=15, character_class=Wizard(level=1), use_xp_system=True, seed=0)
    same, b = trainer_records(game=GameConfig(intelligence=15, character_class=Wizard(level=1), experience=True,
                                              seed=0))
    named, c = trainer_records(intelligence=15, character_class=Wizard(level=1), experience=True, seed=0)
    assert a == b == c
    assert quick.game == dataclasses.replace(same.game, character_class=quick.game.character_class)
    assert quick.experience is quick.master.experience and quick.experience.xp == same.experience.xp > 0
    assert quick.character_class is quick.game.character_class


@pytest.mark.parametrize("call,needle", [
    (lambda opt, model: RollToTrain(model, opt, use_xp_system="yes"), "use_xp_system='yes'"),
    (lambda opt, model: RollToTrain(model, opt, experience="yes"), "experience='yes'"),
    (lambda opt, model: attach(opt, experience="yes"), "experience='yes'"),
    (lambda opt, model: RollToTrain(model, opt, intelligence=31), "intelligence=31"),
    (lambda opt, model: attach(opt, seed="0"), "seed='0'"),
])
def test_an_error_names_the_keyword_the_user_passed(call, needle):
    model = linear_model()
    with pytest.raises((RollToTrainError, TypeError), match=needle):
        call(torch.optim.SGD(model.parameters(), lr=0.1), model)


@pytest.mark.parametrize("call,needle", [
    (lambda opt, model: attach(opt, game=GameConfig(), seed=1), "attach\\(\\) got game= and seed="),
    (lambda opt, model: attach(opt, "plain", game=GameConfig()), "attach\\(\\) got game= and rules="),
    (lambda opt, model: RollToTrain(model, opt, game=GameConfig(), intelligence=15),
     "RollToTrain\\(\\) got game= and intelligence=.*dataclasses.replace\\(game, intelligence=...\\)"),
    (lambda opt, model: RollToTrain(model, opt, use_xp_system=True, experience=True),
     "use_xp_system= and experience=, two names for the game's experience"),
    (lambda opt, model: attach(opt, use_xp_system=True), "unexpected keyword argument 'use_xp_system'"),
    (lambda opt, model: RollToTrain(model, opt, intellect=15), "unexpected keyword argument 'intellect'"),
    (lambda opt, model: attach(opt, game={"seed": 0}), "game=\\{'seed': 0\\}: expected a GameConfig"),
])
def test_a_game_is_given_in_one_place_and_by_known_names(call, needle):
    model = linear_model()
    with pytest.raises(TypeError, match=needle):
        call(torch.optim.SGD(model.parameters(), lr=0.1), model)


def test_build_master_takes_a_game_and_the_engine_s_own_roller_and_scheduler():
    guard = DeathSaves(lr_factor=0.1)
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, 3)
    master = build_master(GameConfig(rules="plain", target="delta", on_nonfinite=guard, intelligence=16, seed=4),
                          scheduler=scheduler)
    assert master.guard is guard and master.scheduler is scheduler and master.intelligence_modifier == 3
    assert master.rules == SavingThrow.preset("plain") and master.roller.seed == 4
    with pytest.raises(RollToTrainError, match="pass one or the other"):
        from rtt_edu import DiceRoller
        build_master(GameConfig(seed=1), roller=DiceRoller(2))
    with pytest.raises(TypeError, match="game='classroom'"):
        build_master("classroom")


def test_game_config_passes_a_game_through_and_builds_one_from_keywords():
    game = GameConfig(seed=2)
    assert game_config(game) is game and game_config(game, {}) is game
    assert game_config(None, {"seed": 2}) == game and game_config() == GameConfig()


def test_the_huggingface_callback_accepts_a_game():
    hf = pytest.importorskip("rtt_edu.training.hf")
    if not hf.HF_AVAILABLE:
        pytest.skip("transformers is not installed")
    game = GameConfig(rules="plain", experience=True, seed=5)
    dice = hf.RollToTrainCallback(game=game, capture_loss=False)
    assert dice.game is game and dice.experience is dice.master.experience and dice.master.roller.seed == 5
    assert hf.RollToTrainCallback("plain", seed=5, experience=True).game == dataclasses.replace(game)
    with pytest.raises(TypeError, match="got game= and seed="):
        hf.RollToTrainCallback(game=game, seed=1)
