"""Character classes: each changes a tiny model's training exactly as its docstring says.

Oracle tests: a run with the class through ``attach`` is compared with a plain PyTorch loop that
applies the documented formula by hand (the boosted learning rate, the clipped gradient, the
skipped step, the rolled-back weights).
"""
import io
import math
import warnings

import pytest
import torch

from helpers import linear_model
from rtt_edu import AttachHandle, GameMaster, NegativeDriftWarning, SavingThrow, attach, proficiency_bonus
from rtt_edu.party.classes import CLASSES, Barbarian, Bard, CharacterClass, Cleric, Fighter, Paladin, Rogue, Wizard
from rtt_edu.party.classes import __all__ as class_names

LR = 0.1


def constant_rule(m):
    return SavingThrow(dc=11, crit_success=m, success=m, fail=m, crit_fail=m)


UPHILL = SavingThrow(dc=11, crit_fail=-1.0, fail=-0.5, success=1.0, crit_success=1.0)


make_model = linear_model


def batch(step, spikes=()):
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(8, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(8, 1, generator=g)
    return x, y * (30.0 if step in spikes else 1.0)


def sgd(params):
    return torch.optim.SGD(params, lr=LR)


def momentum(params):
    return torch.optim.SGD(params, lr=LR, momentum=0.9)


def adam(params):
    return torch.optim.Adam(params, lr=0.01)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def train(character_class, rules, steps, make_opt=sgd, target="update", spikes=(), observe=True,
          scheduler=None, seed=0, corrupt=None):
    """Train through ``attach`` with ``character_class``; returns model, handle and the weights before each step."""
    model = make_model()
    opt = make_opt(model.parameters())
    sched = scheduler(opt) if scheduler else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(opt, rules, seed=seed, target=target, character_class=character_class)
    before = []
    for t in range(steps):
        if corrupt and t in corrupt:
            with torch.no_grad():
                model.weight.add_(corrupt[t])
        before.append(weights(model))
        opt.zero_grad()
        x, y = batch(t, spikes)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if observe:
            handle.observe_loss(loss)
        opt.step()
        if sched is not None:
            sched.step()
    return model, opt, handle, before


def replay(steps, lr_at, make_opt=sgd, skip=(), clip=None, spikes=(), scheduler=None):
    """The plain PyTorch loop: step t uses learning rate ``lr_at(t, scheduled_lr)``; steps in ``skip`` are not taken."""
    model = make_model()
    opt = make_opt(model.parameters())
    sched = scheduler(opt) if scheduler else None
    for t in range(steps):
        opt.zero_grad()
        x, y = batch(t, spikes)
        torch.nn.functional.mse_loss(model(x), y).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), clip)
        if t not in skip:
            scheduled = opt.param_groups[0]["lr"]
            opt.param_groups[0]["lr"] = lr_at(t, scheduled)
            opt.step()
            opt.param_groups[0]["lr"] = scheduled
        if sched is not None:
            sched.step()
    return model


def assert_same_weights(a, b):
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q), (p, q)


def ability_steps(handle, ability):
    return [step for step, e in handle.history.events("ability") if e["ability"] == ability]


# --- the base class --------------------------------------------------------------------------------

def test_every_class_is_exported_and_listed():
    import rtt_edu
    for name in class_names:
        assert getattr(rtt_edu, name) is getattr(__import__("rtt_edu.party.classes", fromlist=[name]), name)
    assert set(CLASSES.values()) <= {getattr(rtt_edu, n) for n in class_names}
    assert len(CLASSES) >= 6


@pytest.mark.parametrize("cls", list(CLASSES.values()))
@pytest.mark.parametrize("level,needle", [(0, "level=0"), (21, "level=21"), ("1", "level='1'"), (True, "level=True"),
                                          (2.0, "level=2.0")])
def test_a_level_outside_1_to_20_is_refused_naming_it(cls, level, needle):
    with pytest.raises((ValueError, TypeError), match=needle.replace("(", r"\(")):
        cls(level=level)


@pytest.mark.parametrize("make,needle", [
    (lambda: Wizard(uses=-1), "uses=-1"), (lambda: Rogue(uses=2.5), "uses=2.5"),
    (lambda: Wizard(spell="fireball"), "spell='fireball'"), (lambda: Wizard(power=0), "power=0"),
    (lambda: Wizard(power=float("nan")), "power=nan"), (lambda: Wizard(cast_on=0), "cast_on=0"),
    (lambda: Fighter(max_norm=-1), "max_norm=-1"), (lambda: Fighter(spike_factor=1), "spike_factor=1"),
    (lambda: Cleric(spike_factor="2"), "spike_factor='2'"),
    (lambda: Bard().distribution(SavingThrow(), bonus=0.5), "bonus=0.5"),
    (lambda: Wizard().load_state_dict({"uses_left": 1}), "state=\\['uses_left'\\]"),
])
def test_bad_class_arguments_are_refused_naming_the_argument_and_value(make, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        make()


def test_a_level_set_later_is_validated_too():
    wizard = Wizard(level=3)
    wizard.level = 20
    assert wizard.max_uses == 11 and wizard.duration == 5
    with pytest.raises(ValueError, match="level=21"):
        wizard.level = 21


def test_the_base_class_hooks_change_nothing():
    plain = train(None, "classroom", 6)[0]
    with_base = train(CharacterClass(level=7), "classroom", 6)[0]
    assert_same_weights(plain, with_base)


# --- Wizard ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["update", "gradient", "delta"])
@pytest.mark.parametrize("make_opt", [sgd, momentum, adam], ids=["sgd", "momentum", "adam"])
def test_wizard_haste_steps_with_power_times_the_learning_rate_then_restores_it(target, make_opt):
    # level 5: duration 2 turns; cast_on=1 casts whenever no spell runs; 2 slots -> steps 0-3 hasted
    wizard = Wizard(level=5, power=3.0, cast_on=1, uses=2)
    model, opt, handle, _ = train(wizard, "plain", 7, make_opt=make_opt, target=target)
    base = opt.defaults["lr"]
    reference = replay(7, lambda t, lr: lr * 3.0 if t < 4 else lr, make_opt=make_opt)
    for p, q in zip(model.parameters(), reference.parameters()):
        if target == "delta":          # p0 + 1 * (p - p0) may round differently from p
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(p, q)
    assert opt.param_groups[0]["lr"] == base
    assert ability_steps(handle, "haste") == [0, 2]
    assert wizard.uses_left == 0 and wizard.spell_turns_left == 0
    # a run without the Wizard really is different
    assert not torch.equal(model.weight, replay(7, lambda t, lr: lr, make_opt=make_opt).weight)


def test_wizard_haste_with_a_tensor_learning_rate_is_restored_exactly():
    wizard = Wizard(level=1, power=2.0, cast_on=1, uses=1)
    make = lambda ps: torch.optim.Adam(ps, lr=torch.tensor(0.01))  # noqa: E731
    model, opt, _, _ = train(wizard, "plain", 3, make_opt=make)
    assert torch.equal(opt.param_groups[0]["lr"], torch.tensor(0.01))
    reference = replay(3, lambda t, lr: lr * 2.0 if t == 0 else lr, make_opt=make)
    assert_same_weights(model, reference)


def expected_casts(naturals, cast_on, slots, duration):
    """The Wizard's rule written out: cast when no spell runs, the face is high enough and a slot is left."""
    casts, running = [], 0
    for t, natural in enumerate(naturals):
        if running == 0 and natural >= cast_on and slots > 0:
            casts.append(t)
            slots -= 1
            running = duration
        running = max(0, running - 1)
    return casts


def test_wizard_warm_restart_returns_to_the_initial_rate_and_the_schedule_resumes():
    steplr = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)  # noqa: E731
    wizard = Wizard(level=5, spell="restart", cast_on=14, uses=3)
    model, opt, handle, _ = train(wizard, "plain", 14, scheduler=steplr)
    naturals = [r.natural for r in handle.records]
    casts = expected_casts(naturals, 14, 3, wizard.duration)
    assert ability_steps(handle, "restart") == casts and casts and casts[0] > 0
    restarted = {t + i for t in casts for i in range(wizard.duration)}
    reference = replay(14, lambda t, lr: LR if t in restarted else lr, scheduler=steplr)
    assert_same_weights(model, reference)
    assert opt.param_groups[0]["lr"] == pytest.approx(LR * 0.7 ** 14)   # the schedule never saw the spell
    assert [r.lr for r in handle.records] == pytest.approx([LR * 0.7 ** t for t in range(14)])


def test_wizard_keeps_a_rescaling_made_by_someone_else_during_its_spell():
    # a death-save revival multiplies the rate during the step; the Wizard keeps that change
    class Halver(CharacterClass):
        def before_step(self, turn):
            turn.optimizer.param_groups[0]["lr"] *= 0.5

    model = make_model()
    opt = sgd(model.parameters())
    master = GameMaster("plain", seed=0, participants=[Wizard(cast_on=1, power=4.0), Halver()])
    handle = AttachHandle(opt, master)
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(batch(0)[0]), batch(0)[1]).backward()
    opt.step()
    assert seen == [LR * 4.0 * 0.5]                # the step used both changes
    assert opt.param_groups[0]["lr"] == pytest.approx(LR * 0.5, rel=1e-12)    # the Wizard undid only its own
    handle.remove()


def test_wizard_gives_the_rate_back_after_a_step_that_raised():
    from rtt_edu import NonFiniteTrainingError
    model = make_model()
    opt = sgd(model.parameters())
    attach(opt, "plain", seed=0, character_class=Wizard(level=1, cast_on=1, uses=2), on_nonfinite="raise")
    opt.zero_grad()
    model(torch.full((1, 3), float("nan"))).sum().backward()
    with pytest.raises(NonFiniteTrainingError):
        opt.step()
    assert opt.param_groups[0]["lr"] == LR                # the spell's rate is undone as the error leaves
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(batch(0)[0]), batch(0)[1]).backward()
    opt.step()
    assert opt.param_groups[0]["lr"] == LR


@pytest.mark.parametrize("level,slots,duration", [(1, 2, 1), (4, 3, 1), (5, 4, 2), (10, 6, 3), (20, 11, 5)])
def test_wizard_level_sets_slots_and_duration(level, slots, duration):
    wizard = Wizard(level=level)
    assert (wizard.max_uses, wizard.uses_left, wizard.duration) == (slots, slots, duration)


def test_a_long_rest_restores_every_use_and_says_so():
    wizard = Wizard(level=1, cast_on=1)
    model, opt, handle, _ = train(wizard, "plain", 5)
    assert wizard.uses_left == 0
    handle.end_epoch()
    assert wizard.uses_left == wizard.max_uses == 2
    last = handle.records[-1].events[-1]
    assert last["kind"] == "long_rest" and "recovers 2 spell slots" in last["message"]
    handle.end_epoch()                      # nothing spent: nothing to say
    assert handle.records[-1].events[-1] is last


# --- Rogue -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level,factor", [(1, 1.25), (3, 1.5), (10, 2.25), (20, 3.5)])
def test_rogue_sneak_attack_multiplies_excellent_steps(level, factor):
    rogue = Rogue(level=level, uses=4)
    assert rogue.sneak_factor == factor
    model, opt, handle, _ = train(rogue, "classroom", 16)
    dc = handle.master.rules.dc
    expected, left = [], 4
    for r in handle.records:
        m = r.rule_multiplier
        if m > 0 and r.total >= dc + 5 and left:
            m, left = m * factor, left - 1
        expected.append(m)
    assert [r.multiplier for r in handle.records] == expected
    assert len(ability_steps(handle, "sneak attack")) == 4
    reference = replay(16, lambda t, lr: lr * expected[t])
    assert_same_weights(model, reference)


def test_rogue_sneaks_on_every_positive_step_with_advantage_but_never_on_an_ascent():
    rules = UPHILL.replace(advantage=True)
    rogue = Rogue(level=1, uses=100)
    _, _, handle, _ = train(rogue, rules, 30)
    for r in handle.records:
        assert r.multiplier == (r.rule_multiplier * 1.25 if r.rule_multiplier > 0 else r.rule_multiplier)
    assert any(r.rule_multiplier < 0 for r in handle.records)
    assert rogue.uses_left == 100 - sum(r.rule_multiplier > 0 for r in handle.records)


# --- Fighter -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", [1, 5, 9, 17])
def test_fighter_armour_clips_the_gradient_norm_to_the_level_s_bound(level):
    fighter = Fighter(level=level, max_norm=0.3, uses=0)     # armour only (no second wind)
    bound = 2 * 0.3 / proficiency_bonus(level)
    assert fighter.armour_norm == pytest.approx(bound)
    model, _, _, _ = train(fighter, "plain", 6, make_opt=momentum)
    reference = replay(6, lambda t, lr: lr, make_opt=momentum, clip=fighter.armour_norm)
    assert_same_weights(model, reference)
    unclipped = replay(6, lambda t, lr: lr, make_opt=momentum)
    assert not torch.equal(model.weight, unclipped.weight)


def test_fighter_armour_clips_before_the_gradient_target_scales():
    fighter = Fighter(max_norm=0.2)
    model, _, _, _ = train(fighter, constant_rule(0.5), 4, target="gradient")
    reference = replay(4, lambda t, lr: lr * 0.5, clip=fighter.armour_norm)   # clip, then scale by m
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=0)


def test_fighter_second_wind_skips_the_update_of_a_loss_spike():
    fighter = Fighter(max_norm=1e6, spike_factor=2.0)
    model, opt, handle, _ = train(fighter, "plain", 9, make_opt=momentum, spikes={5})
    assert [r.outcome == "skipped" for r in handle.records] == [t == 5 for t in range(9)]
    assert ability_steps(handle, "second wind") == [5] and fighter.uses_left == 1
    reference = replay(9, lambda t, lr: lr, make_opt=momentum, skip={5}, spikes={5})
    assert_same_weights(model, reference)      # the spike's gradient never entered the momentum


def test_fighter_without_second_winds_takes_the_spike():
    fighter = Fighter(max_norm=1e6, uses=0)
    model, _, handle, _ = train(fighter, "plain", 9, spikes={5})
    assert not any(r.outcome == "skipped" for r in handle.records)
    assert_same_weights(model, replay(9, lambda t, lr: lr, spikes={5}))


@pytest.mark.parametrize("level,uses", [(1, 2), (3, 2), (4, 3), (9, 3), (10, 4), (20, 4)])
def test_fighter_second_winds_per_level(level, uses):
    assert Fighter(level=level).max_uses == uses


# --- Cleric ------------------------------------------------------------------------------------------

def test_cleric_rolls_back_to_the_best_weights_after_a_spike():
    cleric = Cleric(spike_factor=2.0)
    shove = torch.tensor([[5.0, -5.0, 5.0]])                   # something knocks the weights far away
    model, opt, handle, before = train(cleric, "plain", 10, make_opt=momentum, corrupt={6: shove})
    losses = [r.loss for r in handle.records]
    best = min(range(6), key=lambda t: losses[t])
    assert losses[6] > 2 * min(losses[:6])
    assert handle.records[6].outcome == "skipped" and ability_steps(handle, "revive") == [6]
    assert dict(handle.history.events("ability"))[6]["best_step"] == best
    # right after the revive the weights are exactly those the best loss was measured at
    assert all(torch.equal(w, b) for w, b in zip(before[7], before[best]))
    assert not torch.equal(before[6][0], before[best][0])


def test_cleric_rollback_matches_a_hand_written_rollback():
    model, _, handle, _ = train(Cleric(), "plain", 9, spikes={5})
    assert ability_steps(handle, "revive") == [5]
    # by hand: plain SGD, keep the weights of the lowest loss; at the spike, skip and restore them
    ref = make_model()
    opt = sgd(ref.parameters())
    best_loss, best = math.inf, None
    for t in range(9):
        opt.zero_grad()
        x, y = batch(t, {5})
        loss = torch.nn.functional.mse_loss(ref(x), y)
        loss.backward()
        if t == 5:
            assert loss.item() > 2 * best_loss
            with torch.no_grad():
                for p, w in zip(ref.parameters(), best):
                    p.copy_(w)
            continue
        if loss.item() < best_loss:
            best_loss, best = loss.item(), weights(ref)
        opt.step()
    assert_same_weights(model, ref)


def test_cleric_without_the_loss_does_nothing_and_with_no_revive_left_takes_the_spike():
    blind = train(Cleric(), "plain", 8, spikes={5}, observe=False)[0]
    spent = train(Cleric(uses=0), "plain", 8, spikes={5})[0]
    plain = replay(8, lambda t, lr: lr, spikes={5})
    assert_same_weights(blind, plain)
    assert_same_weights(spent, plain)


@pytest.mark.parametrize("level,uses", [(1, 1), (5, 1), (6, 2), (12, 3), (18, 4)])
def test_cleric_revives_per_level(level, uses):
    assert Cleric(level=level).max_uses == uses


# --- Barbarian -----------------------------------------------------------------------------------------

def test_barbarian_rage_discards_ascent_steps_for_its_turns():
    barbarian = Barbarian(level=1)          # 2 rages of 2 turns
    model, _, handle, _ = train(barbarian, UPHILL, 20)
    expected, left, running = [], 2, 0
    for r in handle.records:
        m = r.rule_multiplier
        if running == 0 and m < 0 and left:
            left, running = left - 1, 2
        if running and m < 0:
            m = 0.0
        running = max(0, running - 1)
        expected.append(m)
    assert [r.multiplier for r in handle.records] == expected
    assert len(ability_steps(handle, "rage")) == 2
    assert any(m < 0 for m in expected)        # once the rages are spent, the ascent comes back
    assert_same_weights(model, replay(20, lambda t, lr: lr * expected[t]))


@pytest.mark.parametrize("level,rages,turns", [(1, 2, 2), (3, 3, 2), (6, 4, 2), (9, 4, 3), (12, 5, 3),
                                               (16, 5, 4), (17, 6, 4), (20, 6, 4)])
def test_barbarian_level_sets_rages_and_their_length(level, rages, turns):
    barbarian = Barbarian(level=level)
    assert (barbarian.max_uses, barbarian.rage_turns) == (rages, turns)


# --- Bard ------------------------------------------------------------------------------------------------

def test_bard_inspiration_rejudges_every_failed_save_with_the_die():
    bard = Bard(level=5, uses=100)
    rules = SavingThrow.preset("seed-readme")          # a fail is a scaled inverse update: the die matters
    model, _, handle, _ = train(bard, rules, 40)
    inspired = dict(handle.history.events("ability"))
    for r in handle.records:
        natural_fails = 1 < r.natural and r.natural < rules.dc
        assert (r.step in inspired) == natural_fails
        if natural_fails:
            d = inspired[r.step]["die"]
            assert 1 <= d <= 8 and r.total == r.natural + d
            assert r.multiplier == rules.multiplier(r.natural, d)
        else:
            assert r.multiplier == r.rule_multiplier
    expected = [r.multiplier for r in handle.records]
    assert_same_weights(model, replay(40, lambda t, lr: lr * expected[t]))


def rolled_multipliers(participant, rules, n):
    """n turns on a one-parameter model with a zero gradient (fast): the multipliers the game applied."""
    w = torch.nn.Parameter(torch.zeros(1))
    w.grad = torch.zeros(1)
    opt = torch.optim.SGD([w], lr=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(opt, rules, seed=1, character_class=participant, on_nonfinite="off")
    for _ in range(n):
        opt.step()
    return [r.multiplier for r in handle.records]


@pytest.mark.parametrize("preset", ["classroom", "seed-readme"])
def test_bard_exact_distribution_matches_seeded_rolls(preset):
    rules = SavingThrow.preset(preset)
    bard = Bard(level=10, uses=10 ** 6)
    exact = bard.distribution(rules)
    assert sum(exact.values()) == pytest.approx(1.0)
    mean = sum(m * p for m, p in exact.items())
    var = sum(p * (m - mean) ** 2 for m, p in exact.items())
    n = 8000
    rolled = rolled_multipliers(bard, rules, n)
    assert abs(sum(rolled) / n - mean) < 4.5 * math.sqrt(var / n)
    assert mean > rules.expected_multiplier()
    for m, p in exact.items():
        count = sum(abs(x - m) < 1e-12 for x in rolled)
        assert abs(count / n - p) < 4.5 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize("level,die", [(1, 6), (4, 6), (5, 8), (9, 8), (10, 10), (14, 10), (15, 12), (20, 12)])
def test_bard_die_per_level(level, die):
    assert Bard(level=level).die == die


# --- Paladin -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", [1, 6, 18])
def test_paladin_rolls_exactly_its_effective_rules(level):
    paladin = Paladin(level=level, uses=1000)
    rules = SavingThrow.preset("classroom")
    effective = paladin.effective_rules(rules)
    assert effective.modifier == rules.modifier + paladin.aura == 1 + level // 6
    _, _, handle, _ = train(paladin, rules, 40, seed=1)    # seed 1: seven natural 1s in 40 rolls
    for r in handle.records:
        assert r.modifier == paladin.aura
        assert r.multiplier == effective.multiplier(r.natural)
    lay = ability_steps(handle, "lay on hands")
    assert lay == [r.step for r in handle.records if r.natural == 1] and lay


def test_paladin_once_lay_on_hands_is_spent_is_exactly_the_rule_with_its_aura():
    paladin = Paladin(level=7, uses=0)
    rules = SavingThrow.preset("classroom")
    _, _, handle, _ = train(paladin, rules, 60)
    assert any(r.natural == 1 for r in handle.records)
    assert [r.multiplier for r in handle.records] == [rules.with_bonus(2).multiplier(r.natural) for r in handle.records]


def test_paladin_exact_mean_matches_seeded_rolls_and_beats_the_plain_rule():
    rules = SavingThrow.preset("classroom")
    paladin = Paladin(level=1, uses=10 ** 6)
    effective = paladin.effective_rules(rules)
    n = 8000
    rolled = rolled_multipliers(paladin, rules, n)
    assert abs(sum(rolled) / n - effective.expected_multiplier()) < 4.5 * math.sqrt(effective.variance() / n)
    assert effective.variance() < rules.variance() and effective.expected_multiplier() > rules.expected_multiplier()


# --- state ---------------------------------------------------------------------------------------------------

STATE_SEED = 5          # a seed under which every class below uses its ability in the first 6 steps
STATEFUL = {
    "wizard": lambda: Wizard(level=5, cast_on=10),
    "wizard-restart": lambda: Wizard(level=10, spell="restart", cast_on=12),
    "rogue": lambda: Rogue(level=4),
    "fighter": lambda: Fighter(level=2, max_norm=0.5, spike_factor=1.3),
    "cleric": lambda: Cleric(level=6, spike_factor=1.2),
    "barbarian": lambda: Barbarian(level=3),
    "bard": lambda: Bard(level=5),
    "paladin": lambda: Paladin(level=3),
}


def run_steps(model, opt, handle, steps, start):
    for t in range(start, start + steps):
        opt.zero_grad()
        x, y = batch(t, spikes={3, 8})
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        handle.observe_loss(loss)
        opt.step()


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_state_round_trips_and_resumes_exactly(name):
    make = STATEFUL[name]
    steplr = lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)  # noqa: E731

    def fresh():
        model = make_model()
        opt = momentum(model.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NegativeDriftWarning)
            return model, opt, attach(opt, UPHILL, seed=STATE_SEED, character_class=make())

    model, opt, handle = fresh()
    sched = steplr(opt)
    for t in range(6):
        run_steps(model, opt, handle, 1, t)
        sched.step()
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "game": handle.state_dict()}, buffer)
    cls_state = handle.master.participants[0].state_dict()
    for t in range(6, 12):
        run_steps(model, opt, handle, 1, t)
        sched.step()

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model2, opt2, handle2 = fresh()
    model2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    sched2 = steplr(opt2)
    sched2.load_state_dict(saved["sched"])
    handle2.load_state_dict(saved["game"])
    loaded = handle2.master.participants[0].state_dict()
    assert loaded.keys() == cls_state.keys()
    for t in range(6, 12):
        run_steps(model2, opt2, handle2, 1, t)
        sched2.step()
    assert [(r.natural, r.multiplier, r.outcome, r.events) for r in handle2.records] == \
           [(r.natural, r.multiplier, r.outcome, r.events) for r in handle.records[6:]]
    assert_same_weights(model, model2)
    assert handle.master.participants[0].state_dict().keys() == handle2.master.participants[0].state_dict().keys()


def test_the_abilities_fired_in_the_state_test_so_it_checks_something():
    fired = {}
    for name, make in STATEFUL.items():
        model = make_model()
        opt = momentum(model.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NegativeDriftWarning)
            handle = attach(opt, UPHILL, seed=STATE_SEED, character_class=make())
        run_steps(model, opt, handle, 6, 0)
        fired[name] = len(handle.history.events("ability"))
    assert all(fired.values()), fired


# --- each class's own exact distribution -------------------------------------------------------------

def test_each_class_distribution_is_its_own_method_and_the_lesson_helper_calls_it():
    from rtt_edu.course.lesson05 import class_distribution
    rule = SavingThrow.preset("seed-readme")
    for make in (Wizard, Rogue, Fighter, Cleric, Barbarian, Bard, Paladin):
        for level in (1, 7):
            cls = make(level=level)
            assert class_distribution(cls, rule, bonus=1) == cls.distribution(rule, bonus=1)
            assert cls.distribution("seed-readme") == cls.distribution(rule)
    # the classes that act on the learning rate, the gradients or the weights leave m alone
    for cls in (Wizard(), Fighter(), Cleric()):
        assert cls.distribution(rule, bonus=2) == rule.with_bonus(2).distribution()
    assert Paladin(level=6).distribution(rule) == Paladin(level=6).effective_rules(rule).distribution()
    barbarian = Barbarian().distribution(rule)
    assert min(barbarian) >= 0 and sum(barbarian.values()) == pytest.approx(1.0)
    assert Rogue(level=5).face_multiplier(rule, 20) == rule.multiplier(20) * Rogue(level=5).sneak_factor


def test_a_new_class_overriding_face_multiplier_gets_its_exact_distribution():
    class Doubler(CharacterClass):
        name = "Doubler"

        def face_multiplier(self, rules, natural, bonus=0):
            return 2 * rules.multiplier(natural, bonus)

    rule = SavingThrow.preset("classroom")
    assert Doubler().distribution(rule) == {2 * m: p for m, p in rule.distribution().items()}
    with pytest.raises(TypeError, match="bonus=0.5"):
        Doubler().distribution(rule, bonus=0.5)
