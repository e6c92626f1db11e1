"""The panels, headless: set control values, click buttons, then read state, plotted data and history."""
import asyncio
import json

import numpy as np
import pytest
import torch

from rtt_edu import SavingThrow
from rtt_edu.errors import RollToTrainError
from rtt_edu.views.widgets import ComparePanel, DicePanel, TrainingConfig, TrainingPanel, figure_mode, rule_verdict

pytestmark = pytest.mark.usefixtures("one_thread")


def line(ax, label):
    return next(line for line in ax.lines if line.get_label() == label)


# --- DicePanel ---------------------------------------------------------------------------------------

def test_dice_panel_follows_every_slider_with_exact_figures():
    panel = DicePanel(figures="static")
    assert set(panel.controls) == {"die", "dc", "modifier", "roll", "preset"}
    before = panel.readout.value
    panel.controls["dc"].value = 17
    rule = SavingThrow.preset("classroom", dc=17)
    assert panel.rules == rule
    assert f"{rule.expected_multiplier():+.4f}" in panel.readout.value and panel.readout.value != before
    ax = panel.figure.axes[0]
    drawn = dict(zip(line(ax, "m > 0: downhill").get_xdata(), line(ax, "m > 0: downhill").get_ydata()))
    assert drawn == pytest.approx({m: p for m, p in rule.distribution().items() if m > 0})
    panel.controls["roll"].value = "advantage"
    assert panel.rules.advantage and "9.75%" in panel.readout.value     # P(natural 20) = 39/400 with advantage
    panel.controls["modifier"].value = 3
    assert panel.rules.modifier == 3 and panel.rules.summary() == panel.view.summary
    panel.controls["die"].value = 100
    assert panel.rules.sides == 100 and panel.controls["dc"].max == 110
    assert panel.figure.widget.value[:4] == b"\x89PNG"


def test_a_preset_sets_its_bands_and_dc_in_one_update():
    panel = DicePanel(figures="static")
    draws = panel.figure.draws
    panel.controls["preset"].value = "seed-readme"
    assert panel.rules == SavingThrow.preset("seed-readme")
    assert panel.controls["dc"].value == 15 and panel.figure.draws == draws + 1
    assert "climbs the loss" in panel.verdict.value


def test_verdicts_in_plain_words():
    assert "climbs the loss" in rule_verdict(SavingThrow.preset("seed-readme"))
    assert "slowly" in rule_verdict(SavingThrow.preset("seed-code")) and "70% of steps do nothing" in rule_verdict(
        SavingThrow.preset("seed-code"))
    assert "no randomness" in rule_verdict(SavingThrow.preset("plain"))
    assert "5% of steps go uphill" in rule_verdict(SavingThrow.preset("classroom"))
    assert "no progress" in rule_verdict(SavingThrow(crit_success=1.0, crit_fail=-1.0, success=0.0, fail=0.0))
    advantage = SavingThrow.preset("classroom", advantage=True)
    assert "0.25% of steps go uphill" in rule_verdict(advantage)   # 1/400, not "0%"


def test_dice_panel_with_an_ipympl_canvas():
    panel = DicePanel(figures="ipympl", rules=SavingThrow(dc=9, sides=12))
    assert type(panel.figure.widget).__name__ == "Canvas" and panel.controls["die"].value == 12
    panel.controls["dc"].value = 4
    assert panel.rules.dc == 4 and panel.view.summary == SavingThrow(dc=4, sides=12).summary()
    assert figure_mode("auto") == "static"          # asking for a canvas did not switch matplotlib's backend
    with pytest.raises(RollToTrainError, match="figures='svg'"):
        figure_mode("svg")


# --- TrainingPanel -----------------------------------------------------------------------------------

def test_step_button_trains_both_runs_and_the_lines_show_them():
    panel = TrainingPanel(figures="static", experience=False)
    assert {"play", "pause", "step", "reset", "dataset", "lr", "rules", "monsters", "seed"} <= set(panel.controls)
    panel.controls["step"].click()
    assert panel.steps == 1 and len(panel.history) == 1
    assert panel.history.losses[0] == panel.plain_losses[0]          # same data, same initial weights
    panel.step(14)
    ax = panel.figure.axes[0]
    assert list(line(ax, "dice").get_ydata()) == panel.history.losses
    assert list(line(ax, "plain").get_ydata()) == panel.plain_losses
    last = panel.history.steps[-1]
    assert "step 15" in panel.status.value and f"<b>{last.natural}</b>" in panel.last_roll.value
    assert panel.history.losses != panel.plain_losses                 # the dice changed the run


def test_the_plain_twin_is_the_dice_run_with_the_plain_rule():
    dice = TrainingPanel(figures="static", rules="plain", experience=False, optimizer="adam", lr=0.01)
    dice.step(20)
    assert dice.history.losses == dice.plain_losses


def test_config_round_trip_reproduces_the_history_exactly():
    panel = TrainingPanel(figures="static", dataset="xor", optimizer="momentum", lr=0.03, character_class="fighter",
                          monsters=["dragon", "wraith"], encounter_chance=0.2, xp_scale=20.0, seed=5)
    panel.step(40)
    cfg = json.loads(json.dumps(panel.config()))
    assert cfg["steps"] == 40 and set(cfg) == set(TrainingConfig().to_dict()) | {"steps"}
    again = TrainingPanel.from_config(cfg, figures="static")
    assert again.history == panel.history and again.plain_losses == panel.plain_losses
    assert any(e["kind"] == "encounter" for _, e in panel.history.events())       # the monsters came
    assert again.battle_log.value == panel.battle_log.value


def test_custom_rules_survive_the_config():
    rule = SavingThrow(dc=7, success=0.5, fail=0.2, name="mine")
    panel = TrainingPanel(figures="static", rules=rule, experience=False)
    assert panel.controls["rules"].value == "custom" and panel.run.rules == rule
    panel.step(5)
    again = TrainingPanel.from_config(json.loads(json.dumps(panel.config())), figures="static")
    assert again.run.rules == rule and again.history == panel.history


@pytest.mark.parametrize("cfg,needle", [
    ({"learning_rate": 0.1}, "config key='learning_rate'"), ({"lr": -0.1}, "lr=-0.1"),
    ({"dataset": "iris"}, "dataset='iris'"),
    ({"monsters": ["goblin"]}, "monsters=['goblin']"), ({"rules": "chaos"}, "rules='chaos'"),
    ({"character_class": "necromancer"}, "character_class='necromancer'"), ({"steps": -5}, "steps=-5"),
    ({"seed": 1.5}, "seed=1.5"), ({"experience": "yes"}, "experience='yes'"),
])
def test_bad_configs_are_refused_naming_key_and_value(cfg, needle):
    with pytest.raises(RollToTrainError) as err:
        TrainingPanel.from_config(cfg, figures="static")
    assert needle in str(err.value)


def test_a_setting_retrains_both_runs_to_the_horizon_and_reset_replays_it():
    panel = TrainingPanel(figures="static", horizon=40)
    panel.step(10)
    first = panel.history
    panel.controls["reset"].click()
    assert panel.steps == 0
    panel.step(10)
    assert panel.history == first
    panel.controls["dataset"].value = "circles"           # re-trained at once: the plot is not emptied
    assert panel.steps == 40 and panel.config()["dataset"] == "circles"
    assert len(panel.curves()["dice"]) == len(panel.curves()["plain"]) == 40
    assert panel.curves()["before"] == first.losses        # the old dice curve, faded
    offsets = panel.boundary_view.train.get_offsets()
    assert np.allclose(offsets, panel.run.data.X_train.numpy()) and panel.run.data.name == "circles"
    panel.controls["lr"].value = 0.3
    panel.controls["monsters"].value = ("ooze",)
    assert panel.config()["lr"] == 0.3 and panel.config()["monsters"] == ["ooze"]
    panel.controls["character_class"].value = "wizard"
    assert panel.config()["character_class"] == "wizard"
    assert type(panel.run.handle.master.participants[-2]).__name__ == "Wizard"
    panel.controls["character_class"].value = "none"
    assert panel.config()["character_class"] is None


def test_the_xp_bar_and_battle_log_follow_the_run():
    panel = TrainingPanel(figures="static", xp_scale=50.0, monsters=["ooze"], encounter_chance=1.0)
    panel.step(12)
    experience = panel.run.experience
    assert experience.level > 1 and panel.xp_bar.description == f"Lv {experience.level}"
    assert f"{experience.xp} XP" in panel.xp_label.value
    assert "Gradient Ooze appears" in panel.battle_log.value
    off = TrainingPanel(figures="static", experience=False)
    assert off.xp_bar.description == "XP off"


def test_an_error_inside_a_callback_shows_in_the_panel():
    panel = TrainingPanel(figures="static")
    panel.controls["seed"].value = -1                 # refused: the run stays as it was
    assert "seed=-1" in panel.error_text and panel.config()["seed"] == 0

    def boom(n):
        raise RuntimeError("the dice fell off the table")
    panel.run.step = boom
    panel.controls["step"].click()                    # does not raise: the panel shows it
    assert panel.error_text == "RuntimeError: the dice fell off the table"
    assert any("the dice fell off the table" in o.get("text", "") for o in panel.output.outputs)
    panel.controls["play"].click()                    # no event loop outside a kernel: said so, not hidden
    assert "event loop" in panel.error_text and not panel.running


def test_play_trains_on_the_event_loop_and_pause_stops_it():
    panel = TrainingPanel(figures="static")
    panel.steps_per_frame = 3

    async def scenario():
        panel.controls["play"].click()
        assert panel.running and panel.steps == 0          # the click returned before any training
        assert panel.controls["play"].disabled and not panel.controls["pause"].disabled
        for _ in range(4):
            await asyncio.sleep(0)
        assert panel.steps > 0 and panel.steps % 3 == 0
        panel.controls["lr"].value = 0.3                    # a slider answers while playing: both re-train
        assert panel.steps == panel.horizon and panel.config()["lr"] == 0.3
        assert panel.retraining and "re-training" in panel.status.value
        await panel.wait()                                  # Play's task trained the owed steps first ...
        assert len(line(panel.figure.axes[0], "plain").get_ydata()) == panel.horizon
        for _ in range(3):
            await asyncio.sleep(0)
        assert panel.steps > panel.horizon and panel.running    # ... then went on playing
        panel.controls["pause"].click()
        stopped = panel.steps
        for _ in range(4):
            await asyncio.sleep(0)
        assert panel.steps == stopped and not panel.running and not panel.controls["play"].disabled
        assert len(line(panel.figure.axes[0], "dice").get_ydata()) == stopped

    asyncio.run(scenario())


def test_pause_then_play_at_once_keeps_playing():
    panel = TrainingPanel(figures="static", experience=False)

    async def scenario():
        panel.controls["play"].click()
        await asyncio.sleep(0)
        panel.controls["pause"].click()
        panel.controls["play"].click()                  # before the paused task has finished
        for _ in range(4):
            await asyncio.sleep(0)
        assert panel.running and panel.playing
        before = panel.steps
        await asyncio.sleep(0)
        assert panel.steps > before
        panel.pause()

    asyncio.run(scenario())


def test_play_stops_by_itself_at_max_steps():
    panel = TrainingPanel(figures="static", experience=False)
    panel.max_steps, panel.steps_per_frame = 6, 4

    async def scenario():
        panel.controls["play"].click()
        while panel.running:
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert panel.steps == 6 and not panel.playing and not panel.controls["play"].disabled
    assert len(line(panel.figure.axes[0], "plain").get_ydata()) == 6


def test_an_error_while_playing_shows_and_stops_play():
    panel = TrainingPanel(figures="static")

    async def scenario():
        panel.controls["play"].click()
        await asyncio.sleep(0)
        panel.run.step = lambda n: 1 / 0
        for _ in range(3):
            await asyncio.sleep(0)
        assert "ZeroDivisionError" in panel.error_text and not panel.running

    asyncio.run(scenario())


def test_close_cancels_play_and_unregisters_callbacks():
    panel = TrainingPanel(figures="static")

    async def scenario():
        panel.controls["play"].click()
        await asyncio.sleep(0)
        task = panel._task
        panel.close()
        await asyncio.sleep(0)
        assert task.cancelled() or task.done()

    asyncio.run(scenario())
    panel.controls["dataset"].value = "xor"           # nothing listens any more
    assert panel.config()["dataset"] == "moons" and panel.error_text == ""
    assert panel.widget.comm is None and panel.controls["step"].comm is None
    assert not panel.run.dice_optimizer._optimizer_step_pre_hooks            # the dice hooks are gone


def test_training_panel_draws_on_an_ipympl_canvas():
    panel = TrainingPanel(figures="ipympl", experience=False)
    panel.step(3)
    assert type(panel.figure.widget).__name__ == "Canvas"
    assert list(line(panel.figure.axes[0], "dice").get_ydata()) == panel.history.losses
    bundle = panel._repr_mimebundle_()
    assert "model_id" in bundle["application/vnd.jupyter.widget-view+json"]
    assert bundle["text/plain"] == "TrainingPanel(dataset='moons', rules='classroom', seed=0)"


# --- the dice playground -----------------------------------------------------------------------------

SAME_FACES = [("dc", 15), ("intelligence", 16), ("crit_success", 0.5), ("success", 0.4), ("fail", -0.25),
              ("crit_fail", 0.5), ("success_margin", 0.02), ("fail_margin", -0.01), ("crit_success_margin", 0.03),
              ("crit_fail_margin", 0.01)]


def faces(panel):
    return [record.natural for record in panel.history.steps]


@pytest.mark.parametrize("name,value", SAME_FACES)
def test_a_dice_control_rereads_the_same_faces_and_redraws_at_once(name, value):
    panel = TrainingPanel(figures="static", horizon=80)
    panel.step(80)
    drawn, seen, draws = panel.curves(), faces(panel), panel.figure.draws
    assert 20 in seen and 1 in seen and drawn["before"] == []          # the crit bands are read in these steps
    panel.controls[name].value = value
    now = panel.curves()
    assert faces(panel) == seen                          # the same dice ...
    assert now["dice"] != drawn["dice"]                  # ... read by the new rule: the curve bent
    assert now["plain"] == drawn["plain"] and now["before"] == drawn["dice"]
    assert panel.figure.draws == draws + 1 and panel.steps == 80
    if name == "intelligence":                           # an ability score, not part of the rule
        assert panel.controls["rules"].value == "classroom" and panel.config()["intelligence"] == value
        assert "modifier +3" in panel.dice.modifier_label.value
    else:
        assert panel.controls["rules"].value == "custom" and panel.config()["rules"] == panel.run.rules.to_dict()


@pytest.mark.parametrize("name,value", [("die", 12), ("roll", "advantage"), ("roll", "disadvantage"),
                                        ("rules", "lr-dropout")])
def test_the_die_the_roll_and_a_preset_change_the_dice_run_only(name, value):
    panel = TrainingPanel(figures="static", horizon=60)
    panel.step(60)
    drawn = panel.curves()
    panel.controls[name].value = value
    now = panel.curves()
    assert now["dice"] != drawn["dice"] and now["plain"] == drawn["plain"] and now["before"] == drawn["dice"]
    assert panel.controls["rules"].value == ("lr-dropout" if name == "rules" else "custom")
    panel.controls["seed"].value = 3                     # not a dice setting: both runs re-train, the rule stays
    assert panel.curves()["plain"] != now["plain"] and panel.controls["rules"].value == (
        "lr-dropout" if name == "rules" else "custom")


def test_a_dice_change_trains_to_the_horizon_or_to_the_step_reached():
    panel = TrainingPanel(figures="static", horizon=30, experience=False)
    assert panel.curves() == {"dice": [], "plain": [], "before": []}
    panel.controls["dc"].value = 12                     # at step 0: both runs to the horizon
    assert panel.steps == 30 and len(panel.curves()["plain"]) == 30 and panel.curves()["before"] == []
    panel.step(15)
    first = panel.curves()["dice"]
    panel.controls["dc"].value = 13                     # past the horizon: to the step reached
    assert panel.steps == 45 and len(panel.curves()["dice"]) == 45 and panel.curves()["before"] == first
    fresh = TrainingPanel(figures="static", horizon=30, experience=False,
                          rules=SavingThrow.preset("classroom").replace(dc=13, name=None))
    fresh.step(45)
    assert fresh.history.losses == panel.history.losses         # re-training is the run from step 0
    panel.controls["horizon"].value = 60                # a longer horizon extends both runs
    assert panel.steps == 60 and panel.config()["horizon"] == 60
    panel.controls["character_class"].value = "wizard"  # the game is the dice run's: the plain run stays
    assert panel.curves()["plain"][:60] == fresh.plain_losses + panel.plain_losses[45:60]


def test_every_preset_is_exactly_the_dice_controls():
    from rtt_edu.game.rules import PRESETS
    from rtt_edu.views.widgets.dice_controls import DiceControls
    dice = DiceControls("classroom")
    for name in PRESETS:
        dice.controls["rules"].value = name
        preset = SavingThrow.preset(name)
        assert dice.rule() == preset
        dice.controls["dc"].value = preset.dc                  # a no-op move: the controls read as a rule
        dice.controls["rules"].value = "custom"
        assert dice.rule() == preset.replace(name=None)


def test_a_custom_rule_round_trips_through_the_config():
    from rtt_edu.game.rules import Margin
    rule = SavingThrow(dc=9, sides=12, success=Margin(0.02, 0.1, lo=0.0, hi=0.5), fail=0.2, crit_fail=-0.3)
    panel = TrainingPanel(figures="static", rules=rule, horizon=40, intelligence=14)
    assert panel.controls["die"].value == 12 and panel.controls["success"].value == 0.1
    assert panel.controls["success_margin"].value == 0.02 and panel.run.rules == rule
    panel.controls["dc"].value = 8
    panel.controls["roll"].value = "advantage"
    panel.controls["fail_margin"].value = 0.015
    expected = rule.replace(dc=8, advantage=True, fail=Margin(0.015, 0.2))
    assert panel.run.rules == expected and panel.run.rules.bands["success"].hi == 0.5   # the clamps are kept
    cfg = json.loads(json.dumps(panel.config()))
    again = TrainingPanel.from_config(cfg, figures="static")
    assert again.run.rules == expected and again.config() == cfg
    assert again.history == panel.history and again.curves()["dice"] == panel.curves()["dice"]
    assert {n: again.controls[n].value for n in again.dice.controls} == {n: panel.controls[n].value
                                                                         for n in panel.dice.controls}


def test_a_divergence_is_said_in_words_and_the_axes_stay_readable():
    panel = TrainingPanel(figures="static", horizon=120, optimizer="momentum")
    lr = panel.controls["lr"]
    lr.value = lr.options[-1][1]                         # the slider's maximum
    status = panel.status.value
    diverged = {name: at for name, at in panel.run.diverged.items() if at is not None}
    assert diverged and "nan" not in status.lower() and "inf" not in status.lower()
    for name, (step, _) in diverged.items():
        assert f"{name} diverged at step {step}" in status and f"lr {lr.value:g} is too large" in status
    bottom, top = panel.figure.axes[0].get_ylim()
    assert np.isfinite([bottom, top]).all() and top < 20
    for name in ("dice", "plain"):
        assert np.isfinite(panel.curves()[name]).all()
    assert np.isfinite(panel.boundary_view.image.get_array()).all()
    panel.controls["log_scale"].value = True
    assert panel.figure.axes[0].get_yscale() == "log" and np.isfinite(panel.figure.axes[0].get_ylim()).all()


def test_the_figure_has_a_caption_and_a_legend_beside_the_axes():
    panel = TrainingPanel(figures="static")
    assert "plain run" in panel.caption.value and "dice run" in panel.caption.value
    labels = [t.get_text() for legend in panel.legend_figure.figure.legends for t in legend.get_texts()]
    entries = {"dice", "plain", "critical success", "success", "fail", "critical failure", "class 0", "class 1"}
    assert entries <= set(labels)
    assert panel.legend_figure.widget.value[:4] == b"\x89PNG" and panel.figure.axes[0].get_legend() is None
    markers = {line.get_label(): line.get_marker() for line in panel.loss_view.markers.values()}
    assert len(set(markers.values())) == len(markers)           # no two outcomes differ by colour alone


# --- ComparePanel ------------------------------------------------------------------------------------

def test_compare_panel_bands_are_the_seeds_medians():
    panel = ComparePanel(figures="static")
    panel.controls["seeds"].value = 3
    panel.controls["steps"].value = 20
    panel.controls["run"].click()                      # no event loop here: it trains at once
    batch = panel.batch
    assert batch.steps == 20 and len(batch.seeds) == 3
    ax = panel.figure.axes[0]
    assert np.allclose(line(ax, "dice: median").get_ydata(), np.median(batch.dice_losses.numpy(), 0))
    assert np.allclose(line(ax, "plain: median").get_ydata(), np.median(batch.plain_losses.numpy(), 0))
    final = batch.dice_losses[:, -1] < batch.plain_losses[:, -1]
    assert panel.summary["dice_lower_final_loss"] == int(final.sum())
    assert f"{panel.summary['dice_lower_final_loss']} of 3 seeds" in panel.summary_html.value


def test_a_seed_in_the_compare_panel_is_that_seed_in_the_training_panel():
    compare = ComparePanel(figures="static", seeds=2, steps=15, rules="seed-methodology", optimizer="adam", lr=0.01)
    compare.run()
    single = TrainingPanel(figures="static", seed=1, rules="seed-methodology", optimizer="adam", lr=0.01,
                           experience=False)
    single.step(15)
    assert compare.batch.multipliers[1].tolist() == single.history.multipliers
    single_losses = torch.tensor(single.history.losses, dtype=torch.float64)
    assert torch.allclose(compare.batch.dice_losses[1].double(), single_losses,
                          atol=1e-6)


def test_compare_panel_runs_in_slices_on_the_event_loop():
    panel = ComparePanel(figures="static", seeds=2, steps=40)
    panel.slice_seconds = 0.0                           # a step a slice

    async def scenario():
        panel.controls["run"].click()
        assert panel.running and panel.controls["run"].disabled and panel.seeds_shown == 0
        await asyncio.sleep(0)
        assert panel.running and panel.steps_shown == 1  # one slice, drawn, then the loop was free again
        await panel.wait()
        assert panel.seeds_shown == 2 and panel.summary["steps"] == 40 and not panel.controls["run"].disabled

    asyncio.run(scenario())
    cfg = json.loads(json.dumps(panel.config()))
    assert ComparePanel.from_config(cfg, figures="static").config() == cfg
    with pytest.raises(RollToTrainError, match="seeds=0"):
        ComparePanel.from_config({**cfg, "seeds": 0}, figures="static")


def test_compare_panel_is_live():
    panel = ComparePanel(figures="static", seeds=3, steps=20)
    assert panel.batch is None and "press Run" in panel.summary_html.value
    panel.controls["dc"].value = 15                   # a cheap change trains at once, even before Run
    assert panel.batch is not None and panel.batch.rules.dc == 15 and panel.summary["steps"] == 20
    panel.run()
    before = panel.batch.dice_losses.clone()
    plain = panel.batch.plain_losses.clone()
    panel.controls["dc"].value = 5                    # cheap: re-trained before the callback returned
    assert not panel.stale and panel.batch.rules.dc == 5 and panel.controls["rules"].value == "custom"
    assert not torch.equal(panel.batch.dice_losses, before) and torch.equal(panel.batch.plain_losses, plain)
    ax = panel.figure.axes[0]
    assert np.allclose(line(ax, "dice: median").get_ydata(), np.median(panel.batch.dice_losses.numpy(), 0))
    assert "re-train" not in panel.state.value and "press Run" not in panel.summary_html.value


def test_a_slow_compare_change_is_marked_out_of_date_then_retrained_on_the_event_loop():
    panel = ComparePanel(figures="static", seeds=2, steps=20)
    panel.run()
    panel.live_seconds = 0.0                          # every change now counts as slow
    first = panel.batch
    panel.controls["lr"].value = 0.3                  # no event loop: marked, and left for Run
    assert panel.stale and "out of date" in panel.state.value and panel.batch is first
    assert "out of date" in panel.figure.axes[0].get_title()
    panel.controls["run"].click()
    assert not panel.stale and panel.batch is not first and panel.batch.groups[0]["optimizer"].lr == 0.3

    async def scenario():
        panel.controls["seeds"].value = 4             # an event loop: re-trained at once, group by group
        assert panel.stale and "re-training" in panel.state.value and panel.running
        panel.controls["seeds"].value = 5             # a second change starts again
        await panel.wait()

    asyncio.run(scenario())
    assert not panel.stale and len(panel.batch.seeds) == 5 and panel.summary["steps"] == 20
    assert panel.state.value == "" and panel.figure.axes[0].get_title() == "median and 10%-90% band over seeds"


def test_compare_panel_says_when_seeds_diverge_and_never_prints_nan():
    panel = ComparePanel(figures="static", seeds=3, steps=60, optimizer="adam", lr=3.0)
    panel.run()
    text = panel.summary_html.value
    assert "nan" not in text.lower() and "diverged" in text and panel.summary["diverged"]["plain"] == 3
    assert np.isfinite(panel.figure.axes[0].get_ylim()).all()


def test_an_untrained_compare_panel_says_so_on_its_axes_until_it_has_run():
    panel = ComparePanel(figures="static", seeds=2, steps=10)
    assert panel.view.ax.get_title().startswith("not trained yet")
    panel.run()
    assert panel.view.ax.get_title() == "median and 10%-90% band over seeds"
    assert all(len(line.get_ydata()) == 10 for line in panel.view.lines.values() if len(line.get_ydata()))
