"""Experience and levels: the 5e tables, XP per event, and the proficiency bonus on every save."""
import io
import math

import pytest
import torch

from helpers import linear_model, regression_batch, train_attached
from rtt_edu import ExperienceSystem, RollToTrain, SavingThrow, attach, level_for_xp, proficiency_bonus
from rtt_edu.party.classes import CharacterClass
from rtt_edu.party.monsters import GradientOoze
from rtt_edu.party.xp import MAX_LEVEL, XP_THRESHOLDS, as_experience

# 5e SRD "Character Advancement": (XP, level, proficiency bonus), a few rows written out
SRD_ROWS = [(0, 1, 2), (300, 2, 2), (900, 3, 2), (2700, 4, 2), (6500, 5, 3), (14000, 6, 3), (48000, 9, 4),
            (100000, 12, 4), (120000, 13, 5), (195000, 16, 5), (225000, 17, 6), (355000, 20, 6)]


@pytest.mark.parametrize("xp,level,bonus", SRD_ROWS)
def test_the_srd_table(xp, level, bonus):
    assert level_for_xp(xp) == level and proficiency_bonus(level) == bonus
    if xp:
        assert level_for_xp(xp - 1) == level - 1


def test_levels_are_monotone_and_capped_at_20():
    levels = [level_for_xp(x) for x in range(0, 400001, 500)]
    assert levels == sorted(levels) and levels[-1] == MAX_LEVEL == len(XP_THRESHOLDS)
    assert level_for_xp(10 ** 9) == 20 and level_for_xp(299.5) == 1


@pytest.mark.parametrize("call,needle", [
    (lambda: level_for_xp(-1), "xp=-1"), (lambda: level_for_xp("10"), "xp='10'"),
    (lambda: proficiency_bonus(0), "level=0"), (lambda: proficiency_bonus(21), "level=21"),
    (lambda: ExperienceSystem(crit_xp=-1), "crit_xp=-1"), (lambda: ExperienceSystem(xp=-300), "xp=-300"),
    (lambda: ExperienceSystem(best_loss_xp="5"), "best_loss_xp='5'"),
    (lambda: as_experience("yes", "use_xp_system"), "use_xp_system='yes'"),
])
def test_bad_arguments_name_themselves(call, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        call()


make_model = linear_model


batch = regression_batch


def run(experience, steps, rules="classroom", intelligence=10, observe=False, seed=0, **game):
    return train_attached(steps, rules, lambda params: torch.optim.SGD(params, lr=0.05), observe=observe, seed=seed,
                          experience=experience, intelligence=intelligence, **game)


def test_xp_per_outcome_and_the_bonus_of_the_current_level_on_every_save():
    xp = ExperienceSystem(success_xp=40, crit_xp=200, xp_scale=1.5)
    _, handle = run(xp, 80, intelligence=14)
    rules = handle.master.rules
    total, level_ups = 0, []
    for r in handle.records:
        level = level_for_xp(total)
        bonus = 2 + proficiency_bonus(level)                   # intelligence 14: +2
        assert r.modifier == bonus
        assert r.outcome == rules.outcome(r.natural, bonus) and r.multiplier == rules.multiplier(r.natural, bonus)
        total += round({"critical_success": 200, "success": 40}.get(r.outcome, 0) * 1.5)
        if level_for_xp(total) > level:
            level_ups.append((r.step, level_for_xp(total)))
    assert xp.xp == total and xp.level == level_for_xp(total) >= 3
    assert [(s, e["level"]) for s, e in handle.history.events("level_up")] == level_ups


def test_the_bonus_really_changes_outcomes_near_the_dc():
    # at level 17 (+6), naturals 5..10 succeed at DC 11; at level 1 (+2) only 9 and 10 of them do
    high = ExperienceSystem(xp=XP_THRESHOLDS[16], success_xp=0, crit_xp=0)
    _, handle = run(high, 60)
    assert high.level == 17
    moved = [r for r in handle.records if 5 <= r.natural <= 8]
    assert moved and all(r.outcome == "success" and r.multiplier == 0.75 for r in moved)


class SkipAll(CharacterClass):
    def before_step(self, turn):
        turn.skip()


def test_no_xp_for_a_skipped_step():
    xp = ExperienceSystem(success_xp=10, crit_xp=10)
    _, handle = run(xp, 20, rules="plain", character_class=SkipAll())
    assert all(r.outcome == "skipped" for r in handle.records) and xp.xp == 0


def test_best_loss_xp_rewards_each_new_lowest_loss_after_the_first():
    xp = ExperienceSystem(success_xp=0, crit_xp=0, best_loss_xp=7)
    assert xp.needs_loss and not ExperienceSystem().needs_loss
    _, handle = run(xp, 30, observe=True)
    losses = [r.loss for r in handle.records]
    new_bests = sum(1 for t in range(1, 30) if losses[t] < min(losses[:t]))
    assert new_bests > 3 and xp.xp == 7 * new_bests
    assert xp.best_loss == min(losses)


def test_a_defeated_monster_s_xp_levels_the_model_up():
    xp = ExperienceSystem(success_xp=0, crit_xp=0)
    ooze = GradientOoze(hit_points=2, armor_class=1, challenge_rating=3, turns=20)
    _, handle = run(xp, 12, observe=True, encounter_schedule={0: ooze})
    assert xp.xp == 700 and xp.level == 2
    defeat = [s for s, _ in handle.history.events("defeat")]
    assert len(defeat) == 1 and [s for s, _ in handle.history.events("level_up")] == defeat
    after = [r for r in handle.records if r.step > defeat[0]]
    assert after and all(r.modifier == proficiency_bonus(2) for r in after)


def test_award_returns_the_scaled_xp_and_logs_a_level_up_only_when_one_happens():
    class FakeTurn:
        def __init__(self):
            self.events = []

        def log(self, kind, message, **details):
            self.events.append({"kind": kind, "message": message, **details})

    xp = ExperienceSystem(xp_scale=0.5)
    turn = FakeTurn()
    assert xp.award(401, "a test", turn) == 200 and turn.events == []
    assert xp.award(200, "a test", turn) == 100 and xp.level == 2
    assert turn.events[0]["level"] == 2 and "level 2 (300 XP, a test)" in turn.events[0]["message"]
    assert xp.xp_to_next_level() == 600 and ExperienceSystem(xp=400000).xp_to_next_level() is None


def test_state_round_trips_through_a_weights_only_checkpoint_and_resumes_exactly():
    def fresh():
        model = make_model()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        return model, opt, attach(opt, "classroom", seed=2, experience=ExperienceSystem(best_loss_xp=3, xp_scale=4))

    def steps(model, opt, handle, ts):
        for t in ts:
            opt.zero_grad()
            x, y = batch(t)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            handle.observe_loss(loss)
            opt.step()

    model, opt, handle = fresh()
    steps(model, opt, handle, range(10))
    buffer = io.BytesIO()
    torch.save({"m": model.state_dict(), "o": opt.state_dict(), "g": handle.state_dict()}, buffer)
    steps(model, opt, handle, range(10, 25))
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model2, opt2, handle2 = fresh()
    model2.load_state_dict(saved["m"])
    opt2.load_state_dict(saved["o"])
    handle2.load_state_dict(saved["g"])
    assert handle2.master.participants[0].xp == saved["g"]["participants"][0]["xp"] > 0
    steps(model2, opt2, handle2, range(10, 25))
    xp, xp2 = handle.master.participants[0], handle2.master.participants[0]
    assert (xp.xp, xp.level, xp.best_loss) == (xp2.xp, xp2.level, xp2.best_loss)
    assert [r.modifier for r in handle2.records] == [r.modifier for r in handle.records[10:]]


def test_the_trainer_exposes_the_experience_it_was_given():
    model = make_model()
    mine = ExperienceSystem(success_xp=5)
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05), use_xp_system=mine,
                          loss_fn=torch.nn.MSELoss(), progress=False, seed=0)
    assert trainer.experience is mine
    trainer.train([batch(t) for t in range(10)])
    assert mine.xp == 5 * sum(r.outcome == "success" for r in trainer.history.steps) + \
        50 * sum(r.outcome == "critical_success" for r in trainer.history.steps)
    default = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05), use_xp_system=True, progress=False)
    assert isinstance(default.experience, ExperienceSystem) and default.experience.level == 1
    assert RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05), progress=False).experience is None


@pytest.mark.parametrize("level", [1, 9, 17])
def test_noise_annealing_the_rule_at_a_level_is_exactly_with_bonus(level):
    rules = SavingThrow.preset("lr-dropout")
    at_level = rules.with_bonus(proficiency_bonus(level))
    w = torch.nn.Parameter(torch.zeros(1))
    w.grad = torch.zeros(1)
    opt = torch.optim.SGD([w], lr=1.0)
    xp = ExperienceSystem(xp=XP_THRESHOLDS[level - 1], success_xp=0, crit_xp=0)
    handle = attach(opt, rules, seed=level, experience=xp, on_nonfinite="off")
    n = 4000
    for _ in range(n):
        opt.step()
    rolled = [r.multiplier for r in handle.records]
    mean = sum(rolled) / n
    assert abs(mean - at_level.expected_multiplier()) < 4.5 * math.sqrt(at_level.variance() / n)
    var = sum((m - mean) ** 2 for m in rolled) / n
    assert var == pytest.approx(at_level.variance(), abs=0.03)
    # exact: the variance of lr-dropout falls as the level rises (0.25 at +0 to 0.16 at +6)
    assert at_level.variance() <= rules.variance()
