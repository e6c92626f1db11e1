"""Monsters: each failure mode changes a tiny model's training exactly as its docstring says."""
import copy
import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import linear_model, regression_batch, train_attached
from rtt_edu import ExperienceSystem, RollToTrain, SavingThrow, attach
from rtt_edu.party.classes import Fighter, Paladin
from rtt_edu.party.monsters import (
    CR_XP,
    MONSTERS,
    EncounterTable,
    GradientOoze,
    LossDragon,
    Monster,
    WeightWraith,
    check_chance,
)

LR = 0.1
NEVER_SAVES = 30      # d20 + a small bonus never reaches armour class 30
ALWAYS_SAVES = 1


def constant_rule(m):
    return SavingThrow(dc=11, crit_success=m, success=m, fail=m, crit_fail=m)


make_model = linear_model


def batch(step):
    return regression_batch(step, noise=0.1)


def sgd(params):
    return torch.optim.SGD(params, lr=LR)


def momentum(params):
    return torch.optim.SGD(params, lr=LR, momentum=0.9)


def adam(params):
    return torch.optim.Adam(params, lr=0.05)


def train(steps, rules="plain", make_opt=sgd, observe=True, seed=0, **game):
    return train_attached(steps, rules, make_opt, observe=observe, seed=seed, noise=0.1, **game)


def replay(steps, make_opt=sgd, grad_scale=None, lr_scale=None, clip=None):
    """Plain PyTorch: gradients × grad_scale(t), then clipping, then a step with lr × lr_scale(t)."""
    model = make_model()
    opt = make_opt(model.parameters())
    base = opt.param_groups[0]["lr"]
    for t in range(steps):
        opt.zero_grad()
        x, y = batch(t)
        torch.nn.functional.mse_loss(model(x), y).backward()
        if grad_scale is not None and grad_scale(t) != 1:
            for p in model.parameters():
                p.grad.mul_(grad_scale(t))
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), clip)
        opt.param_groups[0]["lr"] = base * (lr_scale(t) if lr_scale else 1.0)
        opt.step()
        opt.param_groups[0]["lr"] = base
    return model


def assert_same_weights(a, b):
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q), (p, q)


def event_steps(handle, kind):
    return [step for step, _ in handle.history.events(kind)]


# --- the Loss Dragon -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make_opt", [sgd, momentum], ids=["sgd", "momentum"])
def test_the_dragon_multiplies_the_gradients_on_its_turns(make_opt):
    dragon = LossDragon(factor=3.0, armor_class=NEVER_SAVES, hit_points=1e9, turns=3)
    model, handle = train(8, make_opt=make_opt, encounter_schedule={2: dragon})
    assert event_steps(handle, "monster") == [2, 3, 4]
    assert_same_weights(model, replay(8, make_opt, grad_scale=lambda t: 3.0 if 2 <= t <= 4 else 1.0))
    assert not torch.equal(model.weight, replay(8, make_opt).weight)


def test_the_dragon_is_exactly_training_on_k_times_the_loss():
    dragon = LossDragon(factor=2.5, armor_class=NEVER_SAVES, hit_points=1e9, turns=2)
    model, _ = train(4, encounter_schedule={0: dragon})
    ref = make_model()
    opt = sgd(ref.parameters())
    for t in range(4):
        opt.zero_grad()
        x, y = batch(t)
        ((2.5 if t < 2 else 1.0) * torch.nn.functional.mse_loss(ref(x), y)).backward()
        opt.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_adam_barely_notices_the_dragon_while_sgd_does():
    dragon = lambda: LossDragon(factor=10.0, armor_class=NEVER_SAVES, hit_points=1e9, turns=5)  # noqa: E731
    start = make_model().weight.detach().clone()
    moved = {}
    for name, make_opt in (("sgd", sgd), ("adam", adam)):
        with_dragon = train(5, make_opt=make_opt, encounter_schedule={0: dragon()})[0].weight.detach() - start
        plain = replay(5, make_opt).weight.detach() - start
        moved[name] = ((with_dragon - plain).norm() / plain.norm()).item()
    assert moved["adam"] < 1e-3 < 1.0 < moved["sgd"]


def test_a_fighter_s_armour_clips_the_dragon_s_gradients():
    dragon = LossDragon(factor=4.0, armor_class=NEVER_SAVES, hit_points=1e9, turns=3)
    fighter = Fighter(max_norm=0.5, uses=0)
    model, _ = train(6, character_class=fighter, encounter_schedule={1: dragon})
    reference = replay(6, grad_scale=lambda t: 4.0 if 1 <= t <= 3 else 1.0, clip=fighter.armour_norm)
    assert_same_weights(model, reference)


# --- the Gradient Ooze -------------------------------------------------------------------------------

def test_the_ooze_shrinks_the_update_multiplier_on_its_turns():
    ooze = GradientOoze(slow=0.2, armor_class=NEVER_SAVES, hit_points=1e9, turns=4)
    model, handle = train(9, rules="classroom", make_opt=momentum, encounter_schedule={3: ooze})
    for r in handle.records:
        assert r.multiplier == (r.rule_multiplier * 0.2 if 3 <= r.step <= 6 else r.rule_multiplier)
    multipliers = [r.multiplier for r in handle.records]
    assert_same_weights(model, replay(9, momentum, lr_scale=lambda t: multipliers[t]))


def test_a_resisted_ooze_changes_nothing():
    ooze = GradientOoze(slow=0.0, armor_class=ALWAYS_SAVES, hit_points=1e9, turns=4)
    model, handle = train(6, encounter_schedule={0: ooze})
    assert [e["saved"] for _, e in handle.history.events("monster")] == [True] * 4
    assert_same_weights(model, replay(6))


# --- the Weight Wraith ---------------------------------------------------------------------------------

def wraith_noise(weights, sigma, seed):
    """The documented perturbation, by hand: w + sigma · rms(w) · ε, ε from a generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for w in weights:
        eps = torch.randn(w.shape, generator=g, dtype=w.dtype)
        out.append(w + eps * (sigma * w.float().pow(2).mean().sqrt().to(w.dtype)))
    return out


def test_the_wraith_changes_the_weights_even_when_the_multiplier_is_zero():
    wraith = WeightWraith(sigma=0.1, armor_class=NEVER_SAVES, hit_points=1e9, turns=2)
    model, handle = train(4, rules=constant_rule(0.0), encounter_schedule={0: wraith})
    assert [r.multiplier for r in handle.records] == [0.0] * 4
    seeds = [e["seed"] for _, e in handle.history.events("monster")]
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    expected = [p.detach() for p in make_model().parameters()]
    for seed in seeds:
        expected = wraith_noise(expected, 0.1, seed)
    for p, e in zip(model.parameters(), expected):
        assert torch.equal(p, e)
    assert not torch.equal(model.weight, make_model().weight)


def test_the_wraith_noise_comes_from_the_game_s_seed():
    def run(seed):
        wraith = WeightWraith(sigma=0.1, armor_class=NEVER_SAVES, turns=3)
        return train(3, rules=constant_rule(0.0), seed=seed, encounter_schedule={0: wraith})[0].weight.detach()
    assert torch.equal(run(4), run(4))
    assert not torch.equal(run(4), run(5))


def test_the_wraith_noise_is_scaled_to_each_parameter_s_size():
    model = torch.nn.Linear(50, 40)
    with torch.no_grad():
        model.weight.mul_(100.0)
        model.bias.fill_(0.01)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    wraith = WeightWraith(sigma=0.2, armor_class=NEVER_SAVES, turns=1)
    handle = attach(opt, "plain", seed=0, encounter_schedule={0: wraith})
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for p, b in zip(model.parameters(), before):
        relative = ((p - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item()
        assert relative == pytest.approx(0.2, rel=0.2)        # about sigma for a large and a tiny tensor alike
    handle.remove()


# --- saves, damage, defeat and XP -----------------------------------------------------------------------

@pytest.mark.parametrize("intelligence,character_class", [(10, None), (20, None), (30, Paladin(level=18, uses=0))])
def test_the_save_is_d20_plus_the_turn_bonus_and_the_effect_lands_only_on_a_fail(intelligence, character_class):
    ooze = GradientOoze(slow=0.5, armor_class=16, hit_points=1e9, turns=60)
    _, handle = train(60, rules="classroom", intelligence=intelligence, character_class=character_class,
                      encounter_schedule={0: ooze})
    bonus = (intelligence - 10) // 2 + (character_class.aura if character_class else 0)
    attacks = dict(handle.history.events("monster"))
    assert len(attacks) == 60
    for r in handle.records:
        event = attacks[r.step]
        assert 1 + bonus <= event["save"] <= 20 + bonus
        assert event["saved"] == (event["save"] >= 16)
        assert r.multiplier == (r.rule_multiplier if event["saved"] else r.rule_multiplier * 0.5)
    assert {e["saved"] for e in attacks.values()} == ({True} if bonus >= 15 else {True, False})


def test_lowering_the_loss_deals_damage_and_a_defeat_gives_the_challenge_rating_s_xp():
    xp = ExperienceSystem(success_xp=0, crit_xp=0)
    ooze = GradientOoze(armor_class=ALWAYS_SAVES, hit_points=25, challenge_rating=2, turns=50)
    model, handle = train(30, experience=xp, encounter_schedule={2: ooze})
    losses = [r.loss for r in handle.records]
    # by hand: damage = 100 × (lowest − loss) / start while the monster is there
    start, lowest, hp, defeat = losses[2], losses[2], 25.0, None
    for t in range(3, 30):
        if losses[t] < lowest:
            hp -= 100 * (lowest - losses[t]) / start
            lowest = losses[t]
        if hp <= 0:
            defeat = t
            break
    assert defeat is not None and event_steps(handle, "defeat") == [defeat]
    damage = handle.history.events("damage")
    assert sum(e["damage"] for _, e in damage) == pytest.approx(100 * (start - lowest) / start)
    assert xp.xp == CR_XP[2] == 450 and dict(handle.history.events("defeat"))[defeat]["xp"] == 450
    kinds = [e["kind"] for e in handle.records[defeat].events]
    assert kinds.index("defeat") < kinds.index("level_up")              # defeated, then level 2
    assert not any(s > defeat for s in event_steps(handle, "monster"))  # it left at once
    assert_same_weights(model, replay(30))                              # a resisted ooze never touched the update


def test_without_the_loss_a_monster_takes_no_damage_and_leaves_after_its_turns():
    _, handle = train(8, observe=False, encounter_schedule={1: GradientOoze(hit_points=0.001, turns=3)})
    assert event_steps(handle, "damage") == [] and event_steps(handle, "defeat") == []
    assert event_steps(handle, "encounter") == [1, 3]
    assert "leaves unbeaten" in handle.history.events("encounter")[1][1]["message"]


def test_every_encounter_fights_a_fresh_copy_of_the_template():
    template = GradientOoze(armor_class=ALWAYS_SAVES, hit_points=3, turns=4)
    _, handle = train(12, encounter_schedule={0: template, 6: template})
    assert template.hit_points_left == 3 and template.turns_left == 4 and not template.defeated
    appear = [e for _, e in handle.history.events("encounter") if "appears" in e["message"]]
    assert [e["hit_points"] for e in appear] == [3, 3]
    first_hits = [e for s, e in handle.history.events("damage") if s in (1, 7)]
    assert len(first_hits) == 2            # the second encounter did not start from the first one's 0 HP
    for e in first_hits:
        assert e["hit_points_left"] == pytest.approx(max(0.0, 3.0 - e["damage"]))
    assert event_steps(handle, "defeat") == [1, 7]


def test_a_scheduled_monster_replaces_the_one_present():
    _, handle = train(6, encounter_schedule={0: GradientOoze(turns=5, hit_points=1e9), 2: LossDragon(turns=1)})
    messages = [(s, e["message"]) for s, e in handle.history.events("encounter")]
    assert messages[0][0] == 0 and "Gradient Ooze appears" in messages[0][1]
    assert messages[1][0] == 2 and "Gradient Ooze flees" in messages[1][1]
    assert messages[2][0] == 2 and "Loss Dragon appears" in messages[2][1]
    assert [e["monster"] for _, e in handle.history.events("monster")] == [
        "Gradient Ooze", "Gradient Ooze", "Loss Dragon"]


# --- random encounters -----------------------------------------------------------------------------------------

def occupied_turns(chance, turns, n, seed=0):
    w = torch.nn.Parameter(torch.zeros(1))
    w.grad = torch.zeros(1)
    opt = torch.optim.SGD([w], lr=1.0)
    monsters = [GradientOoze(turns=turns), LossDragon(turns=turns), WeightWraith(turns=turns, sigma=0.0)]
    handle = attach(opt, "plain", seed=seed, monsters=monsters, encounter_chance=chance, on_nonfinite="off")
    for _ in range(n):
        opt.step()
    return handle.history


def test_encounter_frequency_and_choice_match_the_exact_renewal_rate():
    p, turns, n = 0.2, 3, 6000
    history = occupied_turns(p, turns, n)
    occupied = len(history.events("monster")) / n
    exact = turns / (turns + (1 - p) / p)         # a monster stays `turns`, then Geometric(p) free turns
    assert occupied == pytest.approx(exact, abs=0.03)
    names = [e["monster"] for _, e in history.events("encounter") if "appears" in e["message"]]
    for name in ("Gradient Ooze", "Loss Dragon", "Weight Wraith"):
        assert names.count(name) / len(names) == pytest.approx(1 / 3, abs=0.06)


def test_chance_one_brings_a_monster_every_free_turn_and_chance_zero_none():
    busy = occupied_turns(1.0, 2, 10)
    assert len(busy.events("monster")) == 10
    assert occupied_turns(0.0, 2, 10).events() == []


def test_same_seed_same_encounters_other_seed_other_encounters():
    logs = [occupied_turns(0.3, 2, 80, seed=s).battle_log() for s in (7, 7, 8)]
    assert logs[0] == logs[1] and logs[0] != logs[2]
    assert any("appears" in line for line in logs[0])


# --- state ----------------------------------------------------------------------------------------------------

def make_trainer(model, seed=3):
    return RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), rules="classroom",
                       loss_fn=torch.nn.MSELoss(), seed=seed, progress=False, use_xp_system=True,
                       monsters=[LossDragon(turns=3), GradientOoze(turns=3), WeightWraith(turns=3)],
                       encounter_chance=0.25, encounter_schedule={7: WeightWraith(armor_class=25, turns=3)})


def loader():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def test_a_checkpoint_in_the_middle_of_an_encounter_resumes_exactly(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    start = copy.deepcopy(model.state_dict())
    trainer = make_trainer(model)
    trainer.train(loader(), epochs=1)                  # 8 steps: the scheduled wraith (step 7) is still there
    table = trainer.master.participants[-1]
    assert table.active is not None and table.active.turns_left == 2
    trainer.save_checkpoint(tmp_path / "run.pt")
    trainer.train(loader(), epochs=1)

    model2 = torch.nn.Linear(3, 1)
    model2.load_state_dict(start)
    resumed = make_trainer(model2, seed=99)
    resumed.load_checkpoint(tmp_path / "run.pt")
    assert resumed.master.participants[-1].active.turns_left == 2
    resumed.train(loader(), epochs=1)
    assert resumed.history == trainer.history
    assert_same_weights(model, model2)
    assert len(trainer.history.events("monster")) >= 4


def test_table_state_names_the_template_and_refuses_a_foreign_one():
    table = EncounterTable([GradientOoze()], schedule={5: LossDragon()})
    assert table.state_dict() == {"active": None}
    other = EncounterTable([GradientOoze()])
    state = {"active": {"source": "schedule", "key": 5, "state": LossDragon().state_dict()}}
    table.load_state_dict(state)
    assert isinstance(table.active, LossDragon) and table.state_dict() == state
    with pytest.raises(ValueError, match="state\\['active'\\]"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="state="):
        other.load_state_dict({"monsters": []})


# --- arguments --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,needle", [
    (lambda: LossDragon(hit_points=-5), "hit_points=-5"),
    (lambda: GradientOoze(hit_points=0), "hit_points=0"),
    (lambda: WeightWraith(hit_points="10"), "hit_points='10'"),
    (lambda: Monster(hit_points=float("inf")), "hit_points=inf"),
    (lambda: LossDragon(armor_class=0), "armor_class=0"),
    (lambda: LossDragon(armor_class=31), "armor_class=31"),
    (lambda: LossDragon(armor_class=12.5), "armor_class=12.5"),
    (lambda: LossDragon(challenge_rating=0.3), "challenge_rating=0.3"),
    (lambda: LossDragon(challenge_rating=31), "challenge_rating=31"),
    (lambda: LossDragon(challenge_rating=True), "challenge_rating=True"),
    (lambda: LossDragon(turns=0), "turns=0"),
    (lambda: LossDragon(factor=0), "factor=0"),
    (lambda: GradientOoze(slow=1.5), "slow=1.5"),
    (lambda: WeightWraith(sigma=-0.1), "sigma=-0.1"),
    (lambda: Monster(name=3), "name=3"),
    (lambda: check_chance(1.5), "encounter_chance=1.5"),
    (lambda: check_chance(-0.1), "encounter_chance=-0.1"),
    (lambda: check_chance(float("nan")), "encounter_chance=nan"),
    (lambda: check_chance("0.5"), "encounter_chance='0.5'"),
    (lambda: EncounterTable("dragon"), "monsters='dragon'"),
    (lambda: EncounterTable([LossDragon]), "monsters=\\[<class"),
    (lambda: EncounterTable([], chance=0.5, schedule={1: LossDragon()}), "monsters=\\[\\]"),
    (lambda: EncounterTable(schedule={-1: LossDragon()}), "encounter_schedule step=-1"),
    (lambda: EncounterTable(schedule={"3": LossDragon()}), "encounter_schedule step='3'"),
    (lambda: EncounterTable(schedule={3: "dragon"}), "encounter_schedule\\[3\\]='dragon'"),
    (lambda: EncounterTable(schedule=[LossDragon()]), "encounter_schedule=\\["),
])
def test_bad_monster_arguments_are_refused_naming_the_argument_and_value(make, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        make()


@pytest.mark.parametrize("chance", [1.5, -0.25])
def test_the_trainer_and_attach_refuse_a_chance_outside_0_1(chance):
    model = make_model()
    with pytest.raises(ValueError, match=f"encounter_chance={chance}"):
        RollToTrain(model, sgd(model.parameters()), monsters=[LossDragon()], encounter_chance=chance)
    with pytest.raises(ValueError, match=f"encounter_chance={chance}"):
        attach(sgd(model.parameters()), encounter_chance=chance)
    assert not sgd(model.parameters())._optimizer_step_pre_hooks


def test_the_monster_table_and_xp_values():
    assert CR_XP[0.125] == 25 and CR_XP[1] == 200 and CR_XP[5] == 1800 and CR_XP[30] == 155000
    assert LossDragon().xp == CR_XP[10] and GradientOoze(challenge_rating=1 / 4).xp == 50
    assert set(MONSTERS.values()) == {LossDragon, GradientOoze, WeightWraith}
    assert math.isclose(sum(1 for _ in CR_XP), 34)
