"""Lesson 0's code (rtt_edu.course.lesson00): its maths against lesson 2's bowl and PyTorch, its panel
headlessly, and its self-checks."""
import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from helpers import fails, passes  # noqa: E402
from rtt_edu.course import lesson00 as c0  # noqa: E402
from rtt_edu.errors import RollToTrainError  # noqa: E402
from rtt_edu.science import quadratic  # noqa: E402


@pytest.mark.parametrize("w", [-1.5, 0.0, 1.0, 2.25, 3.0])
def test_lesson0_loss_is_lesson2s_bowl_and_its_gradient_is_torchs(w):
    assert c0.loss(w) == pytest.approx(c0.CURVATURE / 2 * (w - c0.TRUE_W) ** 2, abs=1e-12)
    weight = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    x, y = torch.tensor(c0.X, dtype=torch.float64), torch.tensor(c0.Y, dtype=torch.float64)
    (0.5 * ((weight * x - y) ** 2).mean()).backward()
    assert c0.gradient(w) == pytest.approx(weight.grad.item(), abs=1e-12)


@pytest.mark.parametrize("lr", [0.1, 0.4, 0.8, 1.05])
def test_lesson0_steps_multiply_the_error_by_the_step_factor(lr):
    ws = c0.descend(3.0, lr, 6)
    factor = quadratic.step_factor(lr, 1.0, c0.CURVATURE)
    for before, after in zip(ws, ws[1:]):
        assert after - 1 == pytest.approx(factor * (before - 1), rel=1e-12)
    optimizer_w = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([optimizer_w], lr=lr)
    x, y = torch.tensor(c0.X, dtype=torch.float64), torch.tensor(c0.Y, dtype=torch.float64)
    for _ in range(6):
        optimizer.zero_grad()
        (0.5 * ((optimizer_w * x - y) ** 2).mean()).backward()
        optimizer.step()
    assert optimizer_w.item() == pytest.approx(ws[-1], rel=1e-12)


def test_lesson0_refuses_bad_input_by_name():
    with pytest.raises(Exception, match="lr"):
        c0.descend(3.0, float("nan"), 3)
    with pytest.raises(Exception, match="steps"):
        c0.descend(3.0, 0.1, -1)


def test_step_panel_draws_the_slider_and_says_what_happens():
    panel = c0.StepPanel(lr=0.1, steps=8)
    try:
        panel.controls["lr"].value = 0.5
        assert panel.steps() == c0.descend(3.0, 0.5, 8)
        assert list(panel._path.get_xdata())[:2] == [3.0, 1.0]
        assert "lands exactly on the minimum" in panel.status.value
        panel.controls["lr"].value = 1.1
        assert "diverges" in panel.status.value
        assert all(abs(w) < 50 for w in panel._path.get_xdata())        # off-chart weights are not drawn
        panel.controls["lr"].value = 0.8
        assert "zigzags" in panel.status.value
    finally:
        panel.close()
    assert panel.closed
    panel.controls["lr"].value = 0.3            # no callback is left: nothing redraws a closed panel
    assert "zigzags" in panel.status.value


def test_lesson0_checks_know_right_and_wrong():
    assert c0.check_one_step(1.4)
    wrong = c0.check_one_step(4.6)
    assert not wrong and "against" in wrong.message
    assert c0.check_loss(4.0) and "half" in c0.check_loss(8.0).message
    assert c0.check_converges(False, 1.1) and not c0.check_converges(True, 1.1)
    assert not c0.check_converges(None, 0.9)
    assert c0.check_factor(0.36, 0.32) and c0.check_update(-0.2, 2.0, 0.1)


def test_lesson0_plots_keep_the_answers_to_their_predictions():
    ax = c0.plot_data()
    assert all("loss" not in text.get_text() for text in ax.get_legend().get_texts())   # L(3) is asked after it
    fig = c0.plot_steps(lrs=(0.8,), steps=4)
    left, right = fig.axes
    ws = list(left.lines[0].get_ydata())
    assert ws == c0.descend(3.0, 0.8, 4)
    assert all((a - 1) * (b - 1) < 0 for a, b in zip(ws, ws[1:]))          # w zigzags across w* = 1 ...
    losses = list(right.lines[0].get_ydata())
    assert all(b < a for a, b in zip(losses, losses[1:]))                   # ... while its loss falls smoothly


def test_lesson0_quiz_knows_each_letter():
    assert 3 <= len(c0.QUIZ) <= 5
    assert [q.right for q in c0.QUIZ] == ["b", "c", "a", "a"]
    with pytest.raises(RollToTrainError, match="number"):
        c0.check_quiz("a", 0)


def test_lesson0_checks_name_each_mistake():
    fails(c0.check_loss(None), "replace `None`")
    fails(c0.check_loss(8.0), "half")
    fails(c0.check_loss(40.0), "sum of the squares")
    fails(c0.check_loss(20.0), "average over the five")
    fails(c0.check_one_step(4.6), "against")
    fails(c0.check_one_step(-1.0), "forgot to multiply")
    fails(c0.check_one_step(-1.6), "that is the update")
    fails(c0.check_one_step(None), "replace `None`")
    passes(c0.check_factor(0.5, 0.25))
    fails(c0.check_factor(0.5 * 1, 0.25 * 2), "lr·a")
    fails(c0.check_factor(0.75, 0.25), "curvature")
    fails(c0.check_factor(None, 0.25), "replace `None`")
    passes(c0.check_update(-0.2, 2.0, 0.1))
    fails(c0.check_update(0.2, 2.0, 0.1), "sign")
    fails(c0.check_update(1.8, 2.0, 0.1), "new weight")
    fails(c0.check_update(None, 2.0, 0.1), "replace `None`")
    assert "replace `None`" in c0.check_converges(None, 0.9).message
    assert not c0.check_converges(False, 0.9) and c0.check_converges(True, 0.9)
