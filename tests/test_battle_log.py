"""The battle log: every event of classes, monsters and XP, in both modes and through ``attach``."""
import re
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import linear_model
from rtt_edu import ExperienceSystem, NegativeDriftWarning, RollToTrain, attach
from rtt_edu.party.classes import Barbarian, Cleric
from rtt_edu.party.monsters import GradientOoze, LossDragon, WeightWraith
from rtt_edu.training.history_file import history_from_json, history_to_json

N = 96          # samples


def data(batch_size):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3 * torch.randn(N, 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


make_model = linear_model


def game(seed=0):
    """A class, three monsters at random and one on a schedule, and experience."""
    return dict(seed=seed, character_class=Cleric(level=6, spike_factor=1.5),
                use_xp_system=ExperienceSystem(xp_scale=5),
                monsters=[LossDragon(turns=2), GradientOoze(turns=2), WeightWraith(turns=2, sigma=0.01)],
                encounter_chance=0.3, encounter_schedule={1: LossDragon(armor_class=30, hit_points=1e9, turns=2)})


def trainer(mode="per_mini_batch", window=1, seed=1, rules="seed-readme"):
    # seed 1: a random encounter and the scheduled dragon, apart
    model = make_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        return RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5), rules=rules, mode=mode,
                           accumulation_steps=window, loss_fn=torch.nn.MSELoss(), progress=False, **game(seed))


LINE = re.compile(r"^step \d+: .+")
EXAMPLES = {   # kind -> a pattern its lines follow
    "encounter": r"step \d+: (an? (Loss Dragon|Gradient Ooze|Weight Wraith) appears \([\d.e+]+ HP, AC \d+\) "
                 r"for \d+ turns?|the .+ (leaves unbeaten|flees as another monster arrives) \(.+ HP left\))",
    "monster": r"step \d+: the (Loss Dragon breathes fire|Gradient Ooze engulfs the gradients|Weight Wraith drains the "
               r"weights): (.+ \(failed \d+ vs AC \d+\)|resisted \(saved \d+ vs AC \d+\))",
    "damage": r"step \d+: the model hits the .+ for [\d.]+ \([\d.]+ of [\d.e+]+ HP left\)",
    "defeat": r"step \d+: the .+ is defeated: \+\d+ XP",
    "level_up": r"step \d+: level up! level \d+ \(\d+ XP, .+\); proficiency bonus \+\d",
    "crit": r"step \d+: natural (20: critical success|1: critical failure), .+",
    "ability": r"step \d+: the Cleric revives the model: .+",
    "long_rest": r"step \d+: long rest after epoch \d+: the Cleric recovers \d+ revives \(\d+ ready\)",
}


def test_every_event_is_a_readable_line_of_its_step():
    t = trainer()
    history = t.train(data(8), epochs=3)
    log = history.battle_log()
    events = history.events()
    assert len(log) == len(events) and all(LINE.match(line) for line in log)
    kinds = {e["kind"] for _, e in events}
    assert set(EXAMPLES) <= kinds, set(EXAMPLES) - kinds
    for line, (step, event) in zip(log, events):
        assert line.startswith(f"step {step}: ")
        if event["kind"] in EXAMPLES:
            assert re.fullmatch(EXAMPLES[event["kind"]], line), line
    steps = [s for s, _ in events]
    assert steps == sorted(steps)
    # the scheduled dragon: appears at step 1 and breathes fire on steps 1 and 2, a fail each time
    assert re.fullmatch(r"step 1: the Loss Dragon breathes fire: loss x2 this turn \(failed \d+ vs AC 30\)",
                        [line for line in log if line.startswith("step 1: the Loss Dragon")][0])


@pytest.mark.parametrize("mode,window,batch_size", [("per_mini_batch", 1, 8), ("per_accumulation_step", 4, 2)])
def test_events_appear_in_both_modes_in_the_record_of_their_step(mode, window, batch_size):
    t = trainer(mode, window)
    history = t.train(data(batch_size), epochs=2)
    assert len(history) == 2 * N // (batch_size * window) == 24
    at_step = {r.step: [e["kind"] for e in r.events] for r in history.steps}
    assert "encounter" in at_step[1] and at_step[1].count("monster") == 1 and "monster" in at_step[2]
    assert {e["kind"] for _, e in history.events()} >= {"encounter", "monster", "ability", "crit", "level_up"}
    assert t.experience.xp > 0
    assert history.events("long_rest") and all(s in (11, 23) for s, _ in history.events("long_rest"))


def test_one_window_of_four_batches_plays_exactly_like_one_batch_of_four_times_the_size():
    big = trainer("per_mini_batch")
    small = trainer("per_accumulation_step", 4)
    big.train(data(32), epochs=2)
    small.train(data(8), epochs=2)
    a, b = big.history.steps, small.history.steps
    assert len(a) == len(b) == 6
    assert [(r.natural, r.outcome, [(e["kind"], e.get("monster"), e.get("ability")) for e in r.events]) for r in a] == \
           [(r.natural, r.outcome, [(e["kind"], e.get("monster"), e.get("ability")) for e in r.events]) for r in b]
    assert [r.multiplier for r in a] == pytest.approx([r.multiplier for r in b])
    assert [r.loss for r in a] == pytest.approx([r.loss for r in b], rel=1e-5)
    for p, q in zip(big.model.parameters(), small.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_attach_in_a_hand_written_loop_gives_the_same_battle_log_as_the_trainer():
    t = trainer()
    t.train(data(8), epochs=2)

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    settings = game(seed=1)
    settings["experience"] = settings.pop("use_xp_system")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(opt, "seed-readme", **settings)
    for _ in range(2):
        for x, y in data(8):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            handle.observe_loss(loss)
            opt.step()
        handle.end_epoch()
    assert handle.history.battle_log() == t.history.battle_log()
    for p, q in zip(model.parameters(), t.model.parameters()):
        assert torch.equal(p, q)


def test_same_seed_same_battle_log_other_seed_another():
    logs = [trainer(seed=s).train(data(8), epochs=2).battle_log() for s in (3, 3, 4)]
    assert logs[0] == logs[1] and logs[0] != logs[2]


def test_the_battle_log_survives_a_json_round_trip():
    history = trainer().train(data(8), epochs=1)
    again = history_from_json(history_to_json(history))
    assert again.battle_log() == history.battle_log() and again == history


def test_a_class_s_events_through_attach_without_a_loss():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(opt, "seed-readme", seed=1, character_class=Barbarian(), encounter_schedule={2: GradientOoze()})
    for x, y in data(8):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    log = handle.history.battle_log()
    assert any("flies into a rage" in line for line in log)
    assert any(line.startswith("step 2: a Gradient Ooze appears") for line in log)
    assert not any("hits the" in line for line in log)          # no loss reported: no damage
    assert all(r.loss is None for r in handle.records) and len(handle.records) == 12
