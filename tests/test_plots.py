"""Plots: what each one draws is read back from its artists and compared with the exact values."""
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rtt_edu import History, SavingThrow, StepRecord, attach
from rtt_edu.errors import RollToTrainError
from rtt_edu.party.monsters import GradientOoze, LossDragon
from rtt_edu.party.xp import ExperienceSystem
from rtt_edu.views.plots import (
    ALL_OUTCOMES,
    CRITICAL_OUTCOMES,
    DENSE_STEPS,
    LABEL_GAPS,
    OUTCOME_STYLE,
    BandView,
    DistributionView,
    LossCurveView,
    band_stats,
    decision_grid,
    encounter_spans,
    level_ups,
    plot_band,
    plot_decision_boundary,
    plot_distribution,
    plot_history,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def trained_history(steps=60, **kwargs):
    """A seeded dice run of a tiny regression, with its losses observed."""
    g = torch.Generator().manual_seed(0)
    X, w = torch.randn(64, 3, generator=g), torch.randn(3, 1, generator=g)
    model = torch.nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    handle = attach(opt, "classroom", seed=1, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), X @ w)
        loss.backward()
        handle.observe_loss(loss)
        opt.step()
    return handle.history


def record(step, outcome="success", loss=1.0, events=()):
    return StepRecord(step=step, epoch=0, natural=10, total=10, multiplier=1.0, outcome=outcome, loss=loss,
                      events=list(events))


def test_every_step_is_marked_in_its_outcomes_colour():
    history = trained_history(80)
    fig = plot_history(history, plain=[0.5] * 80, marks=ALL_OUTCOMES)
    ax = fig.axes[0]
    dice = next(line for line in ax.lines if line.get_label() == "dice")
    assert np.allclose(dice.get_ydata(), history.losses)
    marked = {}
    for line in ax.lines:
        for x in line.get_xdata() if line.get_linestyle() == "None" else ():
            marked.setdefault(int(x), []).append(line.get_label())
    expected = {r.step: [{"critical_success": "critical success", "critical_fail": "critical failure"}
                         .get(r.outcome, r.outcome)] for r in history.steps}
    assert marked == expected                        # every step once, under its own outcome
    assert len({r.outcome for r in history.steps}) == 4
    plain = next(line for line in ax.lines if line.get_label() == "plain")
    assert list(plain.get_ydata()) == [0.5] * 80


def test_by_default_the_line_shows_every_step_and_only_the_critical_steps_are_marked():
    history = trained_history(80)
    ax = plot_history(history).axes[0]
    dice = next(line for line in ax.lines if line.get_label() == "dice")
    assert len(dice.get_xdata()) == 80                       # the line: every step
    marked = {line.get_label(): sorted(int(x) for x in line.get_xdata())
              for line in ax.lines if line.get_linestyle() == "None" and len(line.get_xdata())}
    critical = {"critical success": "critical_success", "critical failure": "critical_fail"}
    assert marked and set(marked) <= set(critical)
    for label, outcome in critical.items():
        assert marked.get(label, []) == [r.step for r in history.steps if r.outcome == outcome]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "success" not in legend and "fail" not in legend
    only_fails = plot_history(history, marks=("critical_fail",)).axes[0]
    assert {line.get_label() for line in only_fails.lines
            if line.get_linestyle() == "None" and len(line.get_xdata())} <= {"critical failure"}
    assert plot_history(history, legend=False).axes[0].get_legend() is None
    with pytest.raises(RollToTrainError, match="marks="):
        plot_history(history, marks=("natural_7",))


def test_a_static_decision_boundary_takes_the_styles_font_sizes_and_can_leave_its_legend_out():
    import matplotlib
    model = torch.nn.Linear(2, 2)
    X, y = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    with matplotlib.rc_context({"axes.labelsize": 13}):
        ax = plot_decision_boundary(model, X, y).axes[0]
        assert ax.xaxis.label.get_fontsize() == 13 and ax.get_legend() is not None
        assert plot_decision_boundary(model, X, y, legend=False).axes[0].get_legend() is None


def test_encounters_and_level_ups_from_events():
    events = [(2, {"kind": "encounter", "message": "a Loss Dragon appears", "monster": "Loss Dragon", "turns": 3}),
              (3, {"kind": "monster", "message": "breathes"}),
              (4, {"kind": "defeat", "message": "defeated", "monster": "Loss Dragon"}),
              (6, {"kind": "encounter", "message": "an Ooze appears", "monster": "Gradient Ooze", "turns": 4}),
              (8, {"kind": "encounter", "message": "the Ooze flees", "monster": "Gradient Ooze", "hit_points_left": 3}),
              (8, {"kind": "encounter", "message": "a Wraith appears", "monster": "Weight Wraith", "turns": 2}),
              (9, {"kind": "level_up", "message": "level 2", "level": 2}),
              (10, {"kind": "encounter", "message": "gone", "monster": "Weight Wraith", "hit_points_left": 3.0}),
              (12, {"kind": "encounter", "message": "a Dragon appears", "monster": "Loss Dragon", "turns": 9}),
              (14, {"kind": "crit", "message": "natural 20"})]
    assert encounter_spans(events) == [(2, 4, "Loss Dragon"), (6, 8, "Gradient Ooze"), (8, 10, "Weight Wraith"),
                                       (12, 14, "Loss Dragon")]        # the last one is still there at step 14
    assert level_ups(events) == [(9, 2)]


def test_a_real_run_shades_its_encounters_and_marks_its_level_ups():
    history = trained_history(60, monsters=[LossDragon(turns=3)], encounter_schedule={10: GradientOoze(turns=4)},
                              experience=ExperienceSystem(xp_scale=10))
    spans, levels = encounter_spans(history.events()), level_ups(history.events())
    assert spans[0][0] == 10 and spans[0][2] == "Gradient Ooze" and levels
    ax = plot_history(history).axes[0]
    shaded = sorted((round(p.get_x() + 0.5), round(p.get_x() + p.get_width() - 0.5)) for p in ax.patches)
    assert shaded == sorted((a, b) for a, b, _ in spans)
    marked = sorted(int(line.get_xdata()[0]) for line in ax.lines if line.get_linestyle() == ":")
    assert marked == [step for step, _ in levels]
    assert [t.get_text() for t in ax.texts if t.get_text().startswith(" Lv")] == [f" Lv {lv}" for _, lv in levels]


def test_the_view_appends_new_steps_and_starts_over_for_a_new_history():
    fig = Figure()
    view = LossCurveView(fig.subplots())
    history = History([record(0, loss=3.0), record(1, "fail", 2.0)])
    view.update(history)
    history.append_step(**vars(record(2, "critical_fail", 1.5)))
    view.update(history)
    assert list(view.lines["dice"].get_ydata()) == [3.0, 2.0, 1.5]
    assert list(view.markers["critical_fail"].get_xdata()) == [2]
    view.update(History([record(0, "skipped", 9.0)]))
    assert list(view.lines["dice"].get_ydata()) == [9.0] and list(view.markers["skipped"].get_xdata()) == [0]
    assert len(view.markers["fail"].get_xdata()) == 0


def test_a_long_live_curve_fades_the_ordinary_markers_and_keeps_the_critical_ones():
    outcomes = ("success", "fail", "critical_success", "critical_fail", "skipped")
    view = LossCurveView(Figure().subplots())
    steps = [record(s, outcomes[s % 5], loss=1.0) for s in range(DENSE_STEPS)]
    view.update(History(steps))
    assert all(view.markers[name].get_alpha() is None for name in outcomes)         # a short run: every marker
    view.update(History(steps + [record(DENSE_STEPS, "fail", loss=1.0)]))
    for name in outcomes:
        faded = name not in CRITICAL_OUTCOMES
        assert (view.markers[name].get_alpha() == 0.35) is faded, name
        assert (view.markers[name].get_markersize() < OUTCOME_STYLE[name]["markersize"]) is faded, name
    view.update(History(steps[:10]))                                                 # a new, short run: back
    assert view.markers["success"].get_alpha() is None


def test_plot_history_and_its_errors():
    history = trained_history(10)
    fig = plot_history(history)
    assert isinstance(fig, Figure) and fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RollToTrainError, match="observe_loss"):
        plot_history(History([record(0, loss=None)]))
    with pytest.raises(TypeError, match="history="):
        plot_history([1.0, 2.0])


def test_no_figure_is_left_in_pyplot():
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    plot_distribution("classroom")
    plot_history(trained_history(5))
    assert plt.get_fignums() == before


@pytest.mark.parametrize("rule", ["classroom", "seed-code", "seed-readme", "lr-dropout",
                                  SavingThrow(dc=8, advantage=True)])
def test_distribution_points_are_the_exact_distribution(rule):
    fig = plot_distribution(rule)
    rule = rule if isinstance(rule, SavingThrow) else SavingThrow.preset(rule)
    ax = fig.axes[0]
    drawn = {}
    for label, sign in (("m < 0: uphill", lambda m: m < 0), ("m = 0: skipped", lambda m: m == 0),
                        ("m > 0: downhill", lambda m: m > 0)):
        line = next(line for line in ax.lines if line.get_label() == label)
        assert all(sign(m) for m in line.get_xdata())
        drawn.update(zip(line.get_xdata(), line.get_ydata()))
    assert drawn == pytest.approx(rule.distribution())
    mean_line = next(line for line in ax.lines if line.get_label() == "E[m]")
    assert mean_line.get_xdata()[0] == pytest.approx(rule.expected_multiplier())
    assert f"{rule.expected_multiplier():+.4f}" in ax.get_title() and f"{rule.p_skip():.1%}" in ax.get_title()


def test_distribution_view_follows_the_rule():
    view = DistributionView(Figure().subplots())
    view.update(SavingThrow.preset("classroom"))
    view.update(SavingThrow.preset("classroom", dc=20))
    assert view.summary == SavingThrow.preset("classroom", dc=20).summary()
    assert len(view.stems.get_segments()) == len(SavingThrow.preset("classroom", dc=20).distribution())


def test_band_is_median_and_quantiles_over_seeds():
    dice = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [5.0, 6.0, 7.0], [7.0, 8.0, 9.0], [9.0, 10.0, 11.0]])
    plain = torch.tensor(dice[::-1] / 2)
    median, lo, hi = band_stats(dice, (0.25, 0.75))
    assert list(median) == [5.0, 6.0, 7.0] and list(lo) == [3.0, 4.0, 5.0] and list(hi) == [7.0, 8.0, 9.0]
    ax = plot_band(dice, plain, quantiles=(0.25, 0.75)).axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines["dice: median"].get_ydata()) == [5.0, 6.0, 7.0]
    assert list(lines["plain: median"].get_ydata()) == [2.5, 3.0, 3.5]
    assert len(ax.collections) == 2
    with pytest.raises(RollToTrainError, match="quantiles"):
        band_stats(dice, (0.9, 0.1))
    with pytest.raises(RollToTrainError, match="losses"):
        band_stats(np.ones(3))


def test_band_view_updates_in_place_as_runs_grow():
    view = BandView(Figure().subplots())
    view.update(np.ones((4, 3)))
    first = view.bands["dice"]
    view.update(np.arange(20.0).reshape(4, 5), np.zeros((4, 5)))
    assert len(view.lines["dice"].get_ydata()) == 5 and list(view.lines["plain"].get_ydata()) == [0.0] * 5
    assert len(view.ax.collections) == 2 and (view.bands["dice"] is first or not hasattr(first, "set_data"))


class HalfPlanes(torch.nn.Module):
    """Class 1 where x > 0, very sure: logits (0, 50x)."""

    def forward(self, p):
        return torch.stack([torch.zeros(len(p)), 50 * p[:, 0]], 1)


def test_decision_grid_and_boundary_image():
    probs = decision_grid(HalfPlanes(), (-1, 1), (-2, 2), resolution=21)
    xs = np.linspace(-1, 1, 21)
    assert probs.shape == (21, 21, 2)
    assert np.array_equal(probs[..., 1] > 0.5, np.broadcast_to(xs > 0, (21, 21)))   # columns are x, rows are y
    one_logit = decision_grid(lambda p: 50 * p[:, :1], (-1, 1), (-2, 2), resolution=21)
    assert np.allclose(one_logit, probs, atol=1e-6)
    X = torch.tensor([[-0.5, 0.0], [0.5, 0.0], [0.2, 1.0]])
    fig = plot_decision_boundary(HalfPlanes(), X, torch.tensor([0, 1, 1]), resolution=40)
    ax = fig.axes[0]
    image = ax.images[0].get_array()
    left, right = image[20, 2], image[20, 37]
    assert left[2] > left[0] and right[0] > right[2]      # blue-ish left (class 0), red-ish right (class 1)
    assert np.allclose(ax.collections[0].get_offsets(), X.numpy())
    with pytest.raises(RollToTrainError, match="y="):
        plot_decision_boundary(HalfPlanes(), X, torch.tensor([0, 1]))
    with pytest.raises(RollToTrainError, match="X="):
        plot_decision_boundary(HalfPlanes(), torch.ones(3, 3), torch.tensor([0, 1, 1]))


def test_losses_that_diverge_stay_visible_as_gaps():
    median, _, _ = band_stats(np.array([[1.0, math.nan], [1.0, 2.0]]))
    assert median[0] == 1.0 and math.isnan(median[1])


def test_close_level_ups_and_monsters_keep_their_lines_but_not_a_pile_of_labels():
    events = [record(s, events=[{"kind": "level_up", "message": "up", "level": 2 + s}]) for s in range(0, 100, 2)]
    events += [record(100 + s, events=[{"kind": "encounter", "message": "m", "monster": "Loss Dragon", "turns": 1}])
               for s in range(0, 10, 2)]
    ax = Figure().subplots()
    view = LossCurveView(ax)
    view.update(History(events + [record(200)]))
    lines = [line for line in ax.lines if line.get_linestyle() == ":"]
    labels = [t for t in ax.texts if t.get_text().startswith(" Lv")]
    # a line per level-up; labels at least 10% of the 201 steps apart: every 22nd step (11 level-ups)
    assert len(lines) == 50 and len(labels) == 5
    steps = sorted(t.get_position()[0] for t in labels)
    assert min(b - a for a, b in zip(steps, steps[1:])) >= LABEL_GAPS["level"] * 201
    monsters = [t for t in ax.texts if t.get_text() == "Loss Dragon"]
    assert len(ax.patches) == 5 and len(monsters) == 1


def test_the_loss_axis_is_scaled_by_finite_losses_only():
    ax = Figure().subplots()
    view = LossCurveView(ax)
    view.update(History([record(s, loss=0.7 - 0.001 * s) for s in range(50)]), plain=[0.7, 3.0, 1e6, math.inf])
    bottom, top = ax.get_ylim()
    assert bottom == 0.0 and 0.7 <= top < 7.01 and np.isfinite([bottom, top]).all()
    view.set_log_scale(True)
    view.update(History([record(s, loss=0.7 - 0.001 * s) for s in range(50)]), plain=[0.7, 3.0, 1e6, math.inf])
    assert ax.get_yscale() == "log" and 0 < ax.get_ylim()[0] < 0.65 and ax.get_ylim()[1] <= 10 ** 0.5 * 3.0
