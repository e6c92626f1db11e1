"""Lesson 0's code (rtt_edu.course.lesson00): its maths against lesson 2's bowl and PyTorch, its panel
headlessly, and its self-checks."""
import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from rtt_edu.course import lesson00 as c0  # noqa: E402
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
    assert c0.check_factor(0.5, 0.25) and c0.check_update(-0.2, 2.0, 0.1)
