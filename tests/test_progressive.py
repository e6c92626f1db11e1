"""The panels draw progressively on the event loop: the first steps (or the first seeds) at once, the rest
in slices, a newer change replacing an unfinished one, and the finished run equal to the one-shot run."""
import asyncio
import time

import numpy as np
import pytest
import torch

from rtt_edu.views.widgets import ComparePanel, TrainingPanel
from rtt_edu.views.widgets.run import CATCH_UP_CHUNK

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = dict(figures="static", horizon=80, experience=False, seed=2)


def drawn(panel) -> dict:
    """What the loss plot shows now (without finishing anything, unlike ``curves()``)."""
    return {name: [float(v) for v in line.get_ydata()] for name, line in panel.loss_view.lines.items()}


def one_shot(steps: int, **changes) -> TrainingPanel:
    """The same panel trained ``steps`` steps and changed with no event loop: re-trained before each change returns."""
    panel = TrainingPanel(**SETTINGS)
    panel.step(steps)
    for name, value in changes.items():
        panel.controls[name].value = value
    return panel


def slow(panel: TrainingPanel) -> TrainingPanel:
    """A few steps a slice, each slice redrawn: the tests see every stage."""
    panel.first_frame_seconds = panel.slice_seconds = panel.frame_interval = 0.0
    panel.train_per_redraw = 0
    return panel


def test_a_dice_change_shows_its_first_steps_in_the_callback_and_the_rest_on_the_event_loop():
    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(80)
    before, draws = drawn(panel), panel.figure.draws
    seen = []

    async def scenario():
        panel.controls["dc"].value = 15
        first = drawn(panel)                     # the callback has returned: the first frame is up
        assert panel.figure.draws == draws + 1 and panel.retraining and panel.running
        assert len(first["dice"]) == CATCH_UP_CHUNK < 80
        assert first["before"] == before["dice"] and first["plain"] == before["plain"]   # the old curve stays
        assert f"re-training… step {CATCH_UP_CHUNK} of 80" in panel.status.value
        while panel.retraining:
            await asyncio.sleep(0)               # the loop is free between two slices
            seen.append(len(drawn(panel)["dice"]))
        await panel.wait()

    asyncio.run(scenario())
    assert seen == sorted(seen) and seen[0] == 2 * CATCH_UP_CHUNK and seen[-1] == 80
    assert "re-training" not in panel.status.value and not panel.running
    reference = one_shot(80, dc=15)
    assert panel.curves() == reference.curves()                     # the same numbers as the one-shot run ...
    assert [r.natural for r in panel.history.steps] == [r.natural for r in reference.history.steps]   # same faces
    assert panel.config() == reference.config()


def test_a_slow_redraw_is_repeated_only_after_four_times_its_time_of_training(monkeypatch):
    panel = slow(TrainingPanel(**SETTINGS))
    panel.train_per_redraw = 4
    panel.step(400)                              # about 0.2 s of re-training: several redraws on the way
    drawing, ends = panel.figure.draw, []

    def slow_draw():                             # a redraw of at least 10 ms, as a large figure's
        time.sleep(0.01)
        drawing()
        ends.append(time.perf_counter())

    monkeypatch.setattr(panel.figure, "draw", slow_draw)
    starts = []

    async def scenario():
        panel.controls["dc"].value = 15
        while panel.retraining:
            await asyncio.sleep(0)
        await panel.wait()

    real_refresh = panel._refresh
    monkeypatch.setattr(panel, "_refresh", lambda: (starts.append(time.perf_counter()), real_refresh()))
    asyncio.run(scenario())
    gaps = [start - end for end, start in zip(ends, starts[1:])][:-1]     # the last one: the curve made whole
    assert len(gaps) >= 1 and all(gap >= 4 * 0.01 for gap in gaps), gaps
    assert panel.curves() == one_shot(400, dc=15).curves()


def test_a_newer_move_replaces_the_unfinished_one(monkeypatch):
    from rtt_edu.views.widgets import run as run_module
    trained = []
    real = run_module.train_full_batch

    def counting(model, optimizer, X, y, steps, handle=None, **kwargs):
        if handle is not None:
            trained.append((handle.master.rules.dc, steps))
        return real(model, optimizer, X, y, steps, handle=handle, **kwargs)

    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(80)
    original = drawn(panel)["dice"]
    monkeypatch.setattr(run_module, "train_full_batch", counting)

    async def scenario():
        panel.controls["dc"].value = 15
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert panel.retraining
        panel.controls["dc"].value = 16          # before DC 15's curve is whole
        assert drawn(panel)["before"] == original           # the faded curve: the last whole one (DC 11)
        await panel.wait()

    asyncio.run(scenario())
    dc15 = sum(steps for dc, steps in trained if dc == 15)
    assert 0 < dc15 < 80 and sum(steps for dc, steps in trained if dc == 16) == 80   # DC 15 stopped where it was
    reference = one_shot(80, dc=16)
    assert panel.curves()["dice"] == reference.curves()["dice"] and panel.curves()["before"] == original


def test_code_that_reads_the_run_after_a_change_gets_the_whole_run():
    """A notebook cell runs inside the kernel's event loop: a change starts progressively, and reading
    ``curves()``, ``history`` or ``run`` in the same cell finishes it there."""
    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(80)
    reference = one_shot(80, character_class="fighter")

    async def cell():
        panel.controls["character_class"].value = "fighter"
        assert panel.retraining
        assert panel.curves() == reference.curves() and not panel.retraining
        assert panel.history.losses == reference.history.losses and len(drawn(panel)["dice"]) == 80

    asyncio.run(cell())
    assert "re-training" not in panel.status.value


def test_a_setting_of_both_runs_fills_in_both_curves():
    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(80)
    old = drawn(panel)["dice"]

    async def scenario():
        panel.controls["lr"].value = 0.3
        first = drawn(panel)
        assert len(first["dice"]) == len(first["plain"]) == CATCH_UP_CHUNK and first["before"] == old
        await panel.wait()

    asyncio.run(scenario())
    fresh = TrainingPanel(**{**SETTINGS, "lr": 0.3})
    fresh.step(80)
    assert panel.curves()["dice"] == fresh.curves()["dice"] and panel.curves()["plain"] == fresh.curves()["plain"]


def test_pause_lets_a_retraining_finish_and_play_goes_on_after_it():
    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(40)

    async def scenario():
        panel.controls["play"].click()
        for _ in range(3):
            await asyncio.sleep(0)
        reached = panel.steps
        panel.controls["dc"].value = 14          # while playing: Play's task catches up first, then plays on
        assert panel.steps == max(reached, 80) and panel.retraining
        target = panel.steps
        await panel.wait()
        assert len(drawn(panel)["dice"]) == target == panel.steps      # nothing played in between
        for _ in range(3):
            await asyncio.sleep(0)
        assert panel.steps > target and panel.running
        panel.controls["dc"].value = 13
        panel.controls["pause"].click()           # during the re-training: it finishes, then nothing runs
        assert panel.running and panel.retraining and not panel.playing
        await panel.wait()
        for _ in range(3):
            await asyncio.sleep(0)
        assert not panel.running and not panel.retraining and not panel.controls["play"].disabled
        return panel.steps

    steps = asyncio.run(scenario())
    assert panel.curves()["dice"] == one_shot(steps, dc=13).curves()["dice"]


def test_without_an_event_loop_a_change_is_whole_before_the_callback_returns():
    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(80)
    draws = panel.figure.draws
    panel.controls["dc"].value = 15
    assert not panel.retraining and len(drawn(panel)["dice"]) == 80 and panel.figure.draws == draws + 1


# --- ComparePanel ------------------------------------------------------------------------------------

def compare(**settings) -> ComparePanel:
    panel = ComparePanel(figures="static", **{"seeds": 12, "steps": 30, **settings})
    panel.first_seeds, panel.slice_seconds, panel.frame_interval = 2, 0.0, 0.0     # a step a group a slice
    return panel


@pytest.mark.parametrize("cores", [1, 2])
def test_compare_shows_the_first_seeds_band_then_refines_to_every_seed(monkeypatch, cores):
    from rtt_edu.views.widgets import compare as compare_module
    monkeypatch.setattr(compare_module, "free_cores", lambda: cores)
    made = []
    real = ComparePanel._new_batch
    monkeypatch.setattr(ComparePanel, "_new_batch", lambda self: made.append(real(self)) or made[-1])
    panel = compare(seeds=40)
    panel.run()
    shown = []                                   # (seeds, steps) of each band drawn

    async def scenario():
        panel.controls["dc"].value = 15
        assert panel.stale and "re-training: 0 of 40 seeds" in panel.state.value and panel.running
        assert (panel.seeds_shown, panel.steps_shown) == (0, 0)       # the old band, faded, until the first slice
        while panel.running:
            await asyncio.sleep(0)
            if (panel.seeds_shown, panel.steps_shown) not in shown:
                shown.append((panel.seeds_shown, panel.steps_shown))
                ax = panel.figure.axes[0]
                assert ax.get_xlim() == (-0.5, 29.5)             # the axes keep the whole run's steps
                if shown[-1] == (2, 1):          # the first frame: the first two seeds' first step
                    assert "re-training: 2 of 40 seeds, step 1 of 30" in panel.progress.get_text()
                if shown[-1] == (2, 30):         # the first band: two seeds, to the last step
                    median = next(line for line in ax.lines if line.get_label() == "dice: median").get_ydata()
                    assert np.allclose(median, np.median(made[-1].losses(2)[0].numpy(), 0), equal_nan=True)
                    assert "2 of 40 seeds" in panel.state.value and "2 of 40 seeds" in panel.progress.get_text()
                    assert "step 30 of 30, 2 of 40 seeds so far" in panel.summary_html.value

    asyncio.run(scenario())
    assert made[-1].spans == [(0, 2), (2, 15), (15, 28), (28, 40)]      # the first group: panel.first_seeds
    assert shown[:30] == [(2, step) for step in range(1, 31)]   # the first seeds step by step
    # then one group a slice on one core; on two, two groups at once (here a step each a slice: they end together)
    assert shown[30:] == ([(15, 30), (28, 30), (40, 30)] if cores == 1 else [(28, 30), (40, 30)])
    assert not panel.stale and panel.state.value == "" and "seeds so far" not in panel.summary_html.value
    title = panel.figure.axes[0].get_title()
    assert "re-training" not in title + panel.progress.get_text() and "out of date" not in title
    reference = compare(seeds=40)
    reference.controls["dc"].value = 15          # no event loop: trained before the callback returns
    assert torch.equal(panel.batch.dice_losses, reference.batch.dice_losses)     # the one-shot numbers
    assert torch.equal(panel.batch.plain_losses, reference.batch.plain_losses)
    assert panel.summary == reference.summary


def test_a_newer_compare_change_cancels_the_unfinished_one(monkeypatch):
    made = []
    real = ComparePanel._new_batch
    monkeypatch.setattr(ComparePanel, "_new_batch", lambda self: made.append(real(self)) or made[-1])
    panel = compare()

    async def scenario():
        panel.controls["dc"].value = 15
        for _ in range(3):
            await asyncio.sleep(0)
        panel.controls["dc"].value = 5
        await panel.wait()

    asyncio.run(scenario())
    assert len(made) == 2 and made[0].steps < 30 and made[0].rules.dc == 15      # DC 15 stopped where it was
    assert panel.batch is made[1] and made[1].steps == 30 and made[1].rules.dc == 5 and panel.seeds_shown == 12


def test_reading_the_compare_summary_in_a_cell_gets_every_seed():
    panel = compare()

    async def cell():
        panel.controls["lr"].value = 0.3
        assert panel.running and panel.stale
        assert panel.summary["seeds"] == 12 and panel.summary["steps"] == 30 and not panel.stale

    asyncio.run(cell())
    assert panel.batch.groups[0]["optimizer"].lr == 0.3 and panel.state.value == ""


def test_the_static_picture_is_of_the_whole_run():
    """The picture a page without a kernel keeps (sent after each cell) never shows half a re-training."""
    panel = slow(TrainingPanel(**SETTINGS))
    panel.step(80)
    compare_panel = compare()

    async def cell():
        panel.controls["dc"].value = 15
        compare_panel.controls["dc"].value = 15
        assert panel.retraining and compare_panel.stale
        assert panel.picture()[:4] == b"\x89PNG" and compare_panel.picture()[:4] == b"\x89PNG"
        assert not panel.retraining and len(drawn(panel)["dice"]) == 80
        assert not compare_panel.stale and compare_panel.seeds_shown == 12

    asyncio.run(cell())
