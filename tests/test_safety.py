"""The non-finite guard (rtt_edu.engine.safety): a NaN or inf update is never applied; death saves,
restoration, recovery, and "raise"."""
import copy
import math
import random
import threading

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rtt_edu import DiceRoller, NonFiniteTrainingError, RollToTrain, attach
from rtt_edu.engine.safety import DeathSaves
from rtt_edu.party.classes import CharacterClass

NAN, INF = float("nan"), float("inf")


class ScriptedRoller(DiceRoller):
    """Rolls exactly the faces it is given, in order: each step's d20, then a death save if one is rolled."""

    def __init__(self, faces):
        super().__init__(seed=0)
        self.faces = list(faces)

    def die(self, sides):
        assert self.faces, "the script ran out of faces"
        return self.faces.pop(0)


def regression(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1)


def seeded_model(seed=0):
    torch.manual_seed(seed)          # test-side seeding only
    return torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))


def all_finite(model):
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class BadOnCalls:
    """A loss function that returns ``value`` (NaN or inf) on chosen calls, MSE otherwise."""

    def __init__(self, bad_calls, value=NAN, finite_grads=False):
        self.bad_calls, self.value, self.finite_grads, self.calls = set(bad_calls), value, finite_grads, 0

    def __call__(self, out, y):
        loss = torch.nn.functional.mse_loss(out, y)
        bad = self.calls in self.bad_calls
        self.calls += 1
        if not bad:
            return loss
        # finite_grads: add a constant inf, whose gradient is 0, so only the loss itself is bad
        return loss + self.value if self.finite_grads else loss * self.value


def watch_finite(optimizer, model):
    """After every optimizer step, note whether every parameter is finite."""
    seen = []
    optimizer.register_step_post_hook(lambda *_: seen.append(all_finite(model)))
    return seen


# --- the trainer: NaN/inf in the loss ------------------------------------------------------------

@pytest.mark.parametrize("value,finite_grads", [(NAN, False), (INF, False), (INF, True), (-INF, True)])
@pytest.mark.parametrize("make_opt", [lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
                                      lambda ps: torch.optim.Adam(ps, lr=0.01)], ids=["sgd-momentum", "adam"])
def test_a_bad_loss_is_never_applied_and_is_recorded(value, finite_grads, make_opt):
    model = seeded_model()
    opt = make_opt(model.parameters())
    bad = {2, 5, 6}
    trainer = RollToTrain(model, opt, rules="plain", loss_fn=BadOnCalls(bad, value, finite_grads), seed=1,
                          progress=False)
    finite_after_each_step = watch_finite(opt, model)
    weights = []
    opt.register_step_pre_hook(lambda *_: weights.append([p.detach().clone() for p in model.parameters()]))
    history = trainer.train(DataLoader(regression(), batch_size=8))

    assert len(finite_after_each_step) == 8 and all(finite_after_each_step)
    steps = history.steps
    for r in steps:
        kinds = {e["kind"] for e in r.events}
        if r.step in bad:
            assert r.outcome == "skipped" and r.multiplier == 0.0 and "nonfinite" in kinds and "death_save" in kinds
            assert not math.isfinite(r.loss)
            after = weights[r.step + 1] if r.step + 1 < len(weights) else list(model.parameters())
            assert all(torch.equal(a, b) for a, b in zip(weights[r.step], after))   # not one weight moved
        else:
            assert r.outcome != "skipped" and "nonfinite" not in kinds and math.isfinite(r.loss)
    for state in opt.state.values():
        assert all(bool(torch.isfinite(t).all()) for t in state.values() if isinstance(t, torch.Tensor))


def test_one_bad_mini_batch_skips_its_whole_accumulation_window():
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    trainer = RollToTrain(model, opt, rules="plain", mode="per_accumulation_step", accumulation_steps=4,
                          loss_fn=BadOnCalls({5}), seed=1, progress=False)
    history = trainer.train(DataLoader(regression(), batch_size=8))
    assert [r.outcome == "skipped" for r in history.steps] == [False, True]
    assert all_finite(model)


# --- attach in a hand-written loop: NaN/inf in the gradients -------------------------------------

def hand_loop(opt, model, handle, n_steps, corrupt=lambda step, model: None, loss_value=lambda step: None):
    """A plain training loop; ``corrupt`` edits gradients between backward and step."""
    data = regression()
    finite = watch_finite(opt, model)
    for step in range(n_steps):
        x, y = data[step * 4:(step + 1) * 4]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        corrupt(step, model)
        bad_loss = loss_value(step)
        handle.observe_loss(loss if bad_loss is None else torch.tensor(bad_loss))
        opt.step()
    return finite


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_a_bad_gradient_edited_between_backward_and_step_is_never_applied(value):
    model = seeded_model()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    handle = attach(opt, "classroom", seed=3)

    def corrupt(step, model):
        if step in (1, 4):
            model[2].weight.grad[0, step % 6] = value

    finite = hand_loop(opt, model, handle, 8, corrupt)
    assert all(finite) and all_finite(model)
    skipped = [r.step for r in handle.records if r.outcome == "skipped"]
    assert skipped == [1, 4]
    message = handle.records[1].events[0]["message"]
    assert message.startswith(f"the gradient of parameter 2 is {'nan' if value != value else 'inf'}")


def test_a_bad_gradient_from_a_backward_hook_is_never_applied():
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    handle = attach(opt, "plain", seed=0)
    calls = []

    def poison(grad):
        calls.append(1)
        return grad * NAN if len(calls) in (3, 4) else grad

    model[0].bias.register_hook(poison)
    finite = hand_loop(opt, model, handle, 6)
    assert all(finite)
    assert [r.outcome for r in handle.records].count("skipped") == 2
    assert all(torch.isfinite(s["momentum_buffer"]).all() for s in opt.state.values())


def test_a_huge_but_finite_gradient_is_not_mistaken_for_inf():
    """max |g| is finite exactly when g is; a sum of squares of 1e30 would overflow float32."""
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-35)
    handle = attach(opt, "plain", seed=0)
    before = model.weight.detach().clone()
    model.weight.grad = torch.full_like(model.weight, 1e30)
    model.bias.grad = torch.zeros_like(model.bias)
    opt.step()
    assert handle.records[0].outcome != "skipped" and not torch.equal(model.weight, before)


class Berserk(CharacterClass):
    """A class whose fury turns the multiplier infinite on every third turn."""

    def after_roll(self, turn):
        if turn.step % 3 == 2:
            turn.multiplier = INF


def test_a_non_finite_multiplier_from_a_participant_is_never_applied():
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    handle = attach(opt, "plain", seed=0, character_class=Berserk())
    finite = hand_loop(opt, model, handle, 6)
    assert all(finite)
    assert [r.outcome == "skipped" for r in handle.records] == [False, False, True, False, False, True]
    assert handle.records[2].events[0]["message"].startswith("the multiplier is inf")


# --- the 5e death saving throw, step by step -----------------------------------------------------

# Each step: "good", or ("bad", the death-save face). Expected after it: (successes, failures, dying).
# 5e SRD: 10+ succeeds, 9- fails, a natural 1 is two failures, a natural 20 regains a hit point;
# three successes stabilise, three failures kill (here: restore and lower the learning rate).
SCENARIOS = {
    "three failures restore": ([("bad", 5), ("bad", 5), ("bad", 5)], [(0, 1, True), (0, 2, True), (0, 0, False)], [2]),
    "a natural 1 is two failures": ([("bad", 1), ("bad", 5)], [(0, 2, True), (0, 0, False)], [1]),
    "a natural 1 after one failure": ([("bad", 5), ("bad", 1)], [(0, 1, True), (0, 0, False)], [1]),
    "three successes stabilise": ([("bad", 12), ("bad", 12), ("bad", 12)],
                                  [(1, 0, True), (2, 0, True), (0, 0, False)], []),
    "10 succeeds and 9 fails": ([("bad", 9), ("bad", 10)], [(0, 1, True), (1, 1, True)], []),
    "a natural 20 at two failures": ([("bad", 5), ("bad", 5), ("bad", 20)],
                                     [(0, 1, True), (0, 2, True), (0, 0, False)], []),
    "a natural 20, then a new crisis": ([("bad", 20), ("bad", 5), ("bad", 5)],
                                        [(0, 0, False), (0, 1, True), (0, 2, True)], []),
    "finite steps count as successes": ([("bad", 5), "good", ("bad", 15), ("bad", 5), ("bad", 5)],
                                        [(0, 1, True), (1, 1, True), (2, 1, True), (2, 2, True), (0, 0, False)], [4]),
    "a finite step is the third success": ([("bad", 12), ("bad", 12), "good"],
                                           [(1, 0, True), (2, 0, True), (0, 0, False)], []),
    "a finite step while well is nothing": (["good", "good"], [(0, 0, False), (0, 0, False)], []),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_death_saves_follow_the_5e_rules(name):
    plan, expected, revived_at = SCENARIOS[name]
    script = []
    for item in plan:
        script += [10] + ([item[1]] if item != "good" else [])
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = attach(opt, "plain", roller=ScriptedRoller(script))
    guard = handle.master.guard
    tallies = []
    opt.register_step_post_hook(lambda *_: tallies.append((guard.successes, guard.failures, guard.dying)))
    hand_loop(opt, model, handle, len(plan), loss_value=lambda step: NAN if plan[step] != "good" else None)
    assert tallies == expected
    assert [r.step for r in handle.records if any(e["kind"] == "revive" for e in r.events)] == revived_at
    assert guard.revivals == len(revived_at)
    events = [e for r in handle.records for e in r.events]
    naturals = [e["natural"] for e in events if e["kind"] == "death_save" and e.get("natural")]
    assert naturals == [item[1] for item in plan if item != "good"]


def reference_5e(steps):
    """An independent tally of 5e death saves: ``steps`` are ``None`` (finite) or the natural rolled."""
    s = f = 0
    dying, out, revivals = False, [], 0
    for natural in steps:
        if natural is None:
            if dying:
                s += 1
        else:
            dying = True
            if natural == 20:
                s, f, dying = 0, 0, False
            elif natural >= 10:
                s += 1
            else:
                f += 1 + (natural == 1)
        if s >= 3:
            s, f, dying = 0, 0, False
        if f >= 3:
            s, f, dying, revivals = 0, 0, False, revivals + 1
        out.append((s, f, dying))
    return out, revivals


def test_seeded_death_saves_agree_with_an_independent_5e_tally():
    plan_rng = random.Random(2024)             # which steps are bad: drawn in the test
    plan = [plan_rng.random() < 0.6 for _ in range(120)]
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    handle = attach(opt, "classroom", seed=8, on_nonfinite=DeathSaves(max_revivals=100))
    guard = handle.master.guard
    tallies = []
    opt.register_step_post_hook(lambda *_: tallies.append((guard.successes, guard.failures, guard.dying)))
    hand_loop(opt, model, handle, 16, loss_value=lambda step: NAN if plan[step] else None)
    data_steps = len(handle.records)
    saves = [next((e["natural"] for e in r.events if e["kind"] == "death_save" and e.get("natural")), None)
             if plan[r.step] else None for r in handle.records]
    expected, revivals = reference_5e(saves)
    assert tallies == expected and guard.revivals == revivals
    assert data_steps == 16 and all_finite(model)


def test_three_failures_restore_weights_and_optimizer_state_and_lower_the_lr():
    """Finite steps between the bad ones were applied; the restoration undoes them too."""
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    plan = ["good", "good", ("bad", 5), "good", ("bad", 5), "good", ("bad", 5), "good"]
    script = [f for item in plan for f in ([10] + ([item[1]] if item != "good" else []))]
    handle = attach(opt, "plain", roller=ScriptedRoller(script))
    after = []     # after each step: weights, optimizer state, learning rate
    opt.register_step_post_hook(lambda o, *_: after.append(([p.detach().clone() for p in model.parameters()],
                                                            copy.deepcopy(o.state_dict()), o.param_groups[0]["lr"])))
    hand_loop(opt, model, handle, len(plan), loss_value=lambda step: NAN if plan[step] != "good" else None)
    assert [r.step for r in handle.records if any(e["kind"] == "revive" for e in r.events)] == [6]
    good_weights, good_state, good_lr = after[1]         # just before the first bad step (2)
    moved_weights, moved_state, _ = after[5]             # finite steps 3 and 5 moved both since
    revived_weights, revived_state, revived_lr = after[6]
    assert not all(torch.equal(a, b) for a, b in zip(moved_weights, good_weights))
    assert all(torch.equal(a, b) for a, b in zip(revived_weights, good_weights))
    for key, state in good_state["state"].items():
        assert not torch.equal(moved_state["state"][key]["momentum_buffer"], state["momentum_buffer"])
        assert torch.equal(revived_state["state"][key]["momentum_buffer"], state["momentum_buffer"])
    assert revived_lr == good_lr * 0.5 == 0.05
    assert handle.records[6].lr == 0.05 and handle.records[7].lr == 0.05
    assert {e["kind"] for e in handle.records[6].events} == {"nonfinite", "death_save", "revive"}


def test_the_trainer_lowers_the_schedulers_base_rates_on_restoration():
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    roller = ScriptedRoller([10, 10, 10, 5, 10, 5, 10, 5] + [10] * 4)
    trainer = RollToTrain(model, opt, sched, rules="plain", loss_fn=BadOnCalls({2, 3, 4}), roller=roller,
                          on_nonfinite="death-save", progress=False)
    history = trainer.train(DataLoader(regression(n=56), batch_size=8))
    assert [r.step for r in history.steps if any(e["kind"] == "revive" for e in r.events)] == [4]
    assert sched.base_lrs == [0.05]
    assert history.steps[4].lr == pytest.approx(0.1 / 5 * 0.5)   # the current scheduled rate, halved
    assert history.steps[5].lr == pytest.approx(0.05 / 6)
    assert history.steps[6].lr == pytest.approx(0.05 / 7)      # LambdaLR keeps the lowered base rate
    assert all_finite(model)


# --- recovery, giving up, and "raise" ------------------------------------------------------------

def test_training_recovers_after_a_burst_of_nan_and_goes_on_learning():
    model = seeded_model()
    data = regression(n=256)
    x, y = data[:]
    start = torch.nn.functional.mse_loss(model(x), y).item()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    trainer = RollToTrain(model, opt, rules="classroom", loss_fn=BadOnCalls(range(4, 14)), seed=6, progress=False)
    history = trainer.train(DataLoader(data, batch_size=8), epochs=3)
    assert {e["kind"] for _, e in history.events()} == {"nonfinite", "death_save", "revive", "crit"}
    assert [r.outcome == "skipped" for r in history.steps] == [4 <= r.step < 14 for r in history.steps]
    assert opt.param_groups[0]["lr"] == 0.01
    assert torch.nn.functional.mse_loss(model(x), y).item() < 0.5 * start
    assert all_finite(model)


def test_an_unrecoverable_run_raises_a_clear_error_and_leaves_finite_weights():
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = RollToTrain(model, opt, rules="plain", loss_fn=BadOnCalls(range(3, 10**6)), seed=2, progress=False,
                          on_nonfinite=DeathSaves(lr_factor=0.1, max_revivals=2))
    with pytest.raises(NonFiniteTrainingError, match=r"cannot recover from NaN/inf.*2 restoration") as err:
        trainer.train(DataLoader(regression(n=800), batch_size=8))
    assert "check the data" in str(err.value)
    assert all_finite(model)
    assert len(trainer.history.events("revive")) == 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1 ** 2)
    assert not opt._optimizer_step_pre_hooks      # the trainer's hooks are gone


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_raise_stops_at_once_without_applying_the_update(where):
    model = seeded_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    handle = attach(opt, "classroom", seed=4, on_nonfinite="raise")
    snapshots = []     # after each step that was applied
    opt.register_step_post_hook(lambda o, *_: snapshots.append(([p.detach().clone() for p in model.parameters()],
                                                                copy.deepcopy(o.state_dict()))))

    def corrupt(step, model):
        if where == "gradient" and step == 3:
            model[0].weight.grad.fill_(INF)

    with pytest.raises(NonFiniteTrainingError, match="step 3: the (loss|gradient of parameter 0) is (nan|inf)"):
        hand_loop(opt, model, handle, 6, corrupt, loss_value=lambda s: NAN if where == "loss" and s == 3 else None)
    weights, state = snapshots[-1]
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))
    assert opt.state_dict()["state"][0]["step"] == state["state"][0]["step"] == 3
    assert opt.param_groups[0]["lr"] == 0.05          # not left scaled by the multiplier
    assert len(handle.records) == 3


def test_off_applies_nan_as_the_optimizer_computes_it():
    """The control: without the guard the NaN lands in the weights."""
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = attach(opt, "plain", seed=0, on_nonfinite="off")
    hand_loop(opt, model, handle, 2, lambda step, m: m[0].weight.grad.fill_(NAN) if step == 1 else None)
    assert not all_finite(model)


def test_the_same_seed_gives_the_same_death_saves():
    def run():
        model = seeded_model()
        trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05), rules="classroom",
                              loss_fn=BadOnCalls(range(2, 20, 2)), seed=12, progress=False)
        return trainer.train(DataLoader(regression(), batch_size=4))
    assert run().battle_log() == run().battle_log()


# --- classes and monsters --------------------------------------------------------------------------

def test_a_monster_that_overflows_the_gradients_is_caught():
    """A Loss Dragon breathing 1e300 (inf in float32) turns the gradients infinite after the roll."""
    from rtt_edu.party.monsters import LossDragon
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    dragon = LossDragon(factor=1e300, armor_class=30, hit_points=1e9, turns=2)    # every save fails
    handle = attach(opt, "plain", seed=0, encounter_schedule={3: dragon})
    finite = hand_loop(opt, model, handle, 7)
    assert all(finite) and all_finite(model)
    assert [r.outcome == "skipped" for r in handle.records] == [False] * 3 + [True, True] + [False] * 2
    events = handle.records[3].events
    assert any(e["kind"] == "nonfinite" and "gradients are not finite" in e["message"] for e in events)


def test_a_wizards_spell_on_a_revival_step_ends_with_the_lowered_rate():
    """The revival lowers the spell's rate; when the spell ends the Wizard keeps that lowering."""
    from rtt_edu.party.classes import Wizard
    model = seeded_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    plan = [("bad", 5), ("bad", 5), ("bad", 5), "good"]
    script = [f for item in plan for f in ([10] + ([item[1]] if item != "good" else []))]
    wizard = Wizard(power=2.0, cast_on=1, uses=100)      # casts Haste on every turn
    handle = attach(opt, "plain", roller=ScriptedRoller(script), character_class=wizard)
    rates = []     # during each step, after the game master's pre-step work (this hook runs after attach's)
    opt.register_step_pre_hook(lambda o, *_: rates.append(o.param_groups[0]["lr"]))
    hand_loop(opt, model, handle, len(plan), loss_value=lambda step: NAN if plan[step] != "good" else None)
    assert [r.step for r in handle.records if any(e["kind"] == "revive" for e in r.events)] == [2]
    assert rates == pytest.approx([0.2, 0.2, 0.1, 0.1])   # Haste doubles the rate; the revival halves the spell's
    assert [r.lr for r in handle.records] == pytest.approx([0.1, 0.1, 0.05, 0.05])   # after: the base rate, halved once
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


# --- the check itself: GradScaler's fused kernel, and the tensors it does not take -------------------
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
BITS = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(t):
    return t.view(BITS[t.element_size()]).clone()


@pytest.mark.parametrize("dtype", FLOATS)
def test_the_check_leaves_every_gradient_bit_identical(dtype):
    from rtt_edu.engine.safety import all_finite as check
    tiny = torch.finfo(dtype).tiny / 4                  # a subnormal
    grads = [torch.tensor([1.5, -0.0, 0.0, tiny, -tiny, torch.finfo(dtype).max], dtype=dtype),
             torch.randn(3, 4, generator=torch.Generator().manual_seed(0)).to(dtype).t()]   # not contiguous
    before, pointers = [_bits(g.contiguous()) for g in grads], [g.data_ptr() for g in grads]
    assert check(grads, torch.tensor(0.5))
    assert [g.data_ptr() for g in grads] == pointers
    for g, bits in zip(grads, before):
        assert torch.equal(_bits(g.contiguous()), bits)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("value", [NAN, INF, -INF])
@pytest.mark.parametrize("where", ["first", "last", "loss"])
def test_the_check_finds_one_bad_element_anywhere(dtype, value, where):
    from rtt_edu.engine.safety import all_finite as check
    grads = [torch.ones(5, dtype=dtype), torch.ones(2, 3, dtype=torch.float32), torch.ones(7, dtype=dtype)]
    loss = torch.tensor(1.0)
    if where == "loss":
        loss = torch.tensor(value)
    else:
        grads[0 if where == "first" else -1][-1] = value
    assert not check(grads, loss)
    assert check(grads[1:2], torch.tensor(1.0))           # the finite tensors alone pass


def test_gradients_the_kernel_does_not_take_are_checked_too():
    from rtt_edu.engine.safety import all_finite as check
    sparse = torch.sparse_coo_tensor([[0, 3]], [1.0, NAN], (5,))
    in_graph = torch.tensor([1.0, INF], requires_grad=True) * 1.0      # a grad from create_graph=True
    integer = torch.tensor([1, 2])
    assert not check([sparse])
    assert not check([in_graph])
    assert check([torch.sparse_coo_tensor([[0]], [2.0], (5,)), torch.ones(2, requires_grad=True) * 1.0, integer])
    assert check([]) and check([], None)


def test_without_the_fused_kernel_every_tensor_takes_the_max_norm_path(monkeypatch):
    from rtt_edu.engine import safety
    monkeypatch.setattr(safety, "_FUSED_CHECK", None)
    grads = [torch.ones(3), torch.ones(2, dtype=torch.float64)]
    assert safety.all_finite(grads, torch.tensor(1.0))
    grads[1][0] = INF
    assert not safety.all_finite(grads, torch.tensor(1.0))
    assert not safety.all_finite(grads[:1], torch.tensor(NAN))


def test_a_bad_step_leaves_no_raised_flag_for_the_next_check():
    """The fused check's ``found`` flags are kept between steps: a step after a bad one must read clean."""
    from rtt_edu.engine.safety import all_finite as check
    good, bad = [torch.ones(3), torch.ones(2, dtype=torch.float64)], [torch.ones(3), torch.tensor([1.0, NAN])]
    for _ in range(3):
        assert not check(bad) and check(good) and check(good, torch.tensor(0.5))
    results = []
    threads = [threading.Thread(target=lambda g=g: results.append((g is good, check(g))))
               for g in [good, bad] * 50]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(results)) == [(False, False), (True, True)]
