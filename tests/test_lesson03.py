"""Lesson 3's code (rtt_edu.course.lesson03): the gradient by the chain rule, by Value.backward() and by
torch's autograd agree; the pictures show those numbers; each self-check accepts the right answer and names
each mistake it knows."""
import math
import random

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from rtt_edu.course import lesson03 as c3  # noqa: E402
from rtt_edu.errors import RollToTrainError  # noqa: E402

NAMES = ("x", *c3.PARAMETERS)


def random_nets(seed: int, n: int) -> list:
    rng = random.Random(seed)
    return [c3.TinyNet(x=rng.uniform(-3, 3), t=rng.uniform(-2, 2), w1=rng.uniform(-2, 2), b1=rng.uniform(-2, 2),
                       w2=rng.uniform(-2, 2), b2=rng.uniform(-2, 2)) for _ in range(n)]


def finite_difference(net, name, step=1e-6):
    up = c3.forward(net.replace(**{name: getattr(net, name) + step}))["loss"]
    down = c3.forward(net.replace(**{name: getattr(net, name) - step}))["loss"]
    return (up - down) / (2 * step)


# --- three ways to the gradient -------------------------------------------------------------------------

@pytest.mark.parametrize("net", [c3.LESSON, c3.EXERCISE, *random_nets(seed=3, n=40)])
def test_chain_rule_backward_pass_and_autograd_agree(net):
    by_hand, by_value, by_torch = c3.chain_rule(net), c3.backward_pass(net), c3.autograd(net)
    for name in NAMES:
        assert by_hand[name] == pytest.approx(by_torch[name], rel=1e-12, abs=1e-12), name
        assert by_value[name] == pytest.approx(by_torch[name], rel=1e-12, abs=1e-12), name
        assert by_torch[name] == pytest.approx(finite_difference(net, name), rel=1e-6, abs=1e-7), name


def test_the_forward_pass_is_the_networks_formula():
    for net in random_nets(seed=5, n=20):
        v = c3.forward(net)
        y = net.w2 * math.tanh(net.w1 * net.x + net.b1) + net.b2
        assert v["y"] == pytest.approx(y, rel=1e-15, abs=1e-15)
        assert v["loss"] == pytest.approx(0.5 * (y - net.t) ** 2, rel=1e-14, abs=1e-15)


def test_value_adds_every_path_and_each_op_has_its_local_derivative():
    generator = torch.Generator().manual_seed(11)
    for a0, b0 in torch.empty(20, 2, dtype=torch.float64).uniform_(-2, 2, generator=generator).tolist():
        a, b = c3.Value(a0), c3.Value(b0)
        out = (a * a + 2 * a - b).tanh() * b + (3 - a) * 0.5   # a feeds four nodes, b two: the paths add up
        out.backward()
        ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a0, b0))
        reference = torch.tanh(ta * ta + 2 * ta - tb) * tb + (3 - ta) * 0.5
        reference.backward()
        assert out.data == pytest.approx(reference.item(), rel=1e-12, abs=1e-12)
        assert a.grad == pytest.approx(ta.grad.item(), rel=1e-12, abs=1e-12)
        assert b.grad == pytest.approx(tb.grad.item(), rel=1e-12, abs=1e-12)
        out.backward()                                         # a second call sets the same gradients, not twice
        assert a.grad == pytest.approx(ta.grad.item(), rel=1e-12, abs=1e-12)


def test_the_lessons_printed_digits_hold_on_any_cpu():
    """The lesson prints its numbers with 6 decimals; a last-bit difference between CPUs (math.tanh, torch's
    kernels) must not move any of them."""
    net = c3.LESSON
    printed = [*c3.forward(net).values(), *c3.chain_rule(net).values(), 1 - c3.forward(net)["h"] ** 2,
               *c3.backward_pass(net).values(), *c3.autograd(net).values()]
    for value in printed:
        for nudge in (1 - 1e-12, 1 + 1e-12):
            assert f"{value * nudge:.6f}" == f"{value:.6f}", value


def test_the_lesson_and_exercise_numbers():
    assert c3.LESSON == c3.TinyNet(x=2.0, t=1.0, w1=0.5, b1=-0.5, w2=-1.5, b2=1.0)
    assert c3.forward(c3.LESSON)["z"] == 0.5                      # tanh(0.5) is the lesson's one tanh
    assert c3.chain_rule(c3.LESSON)["w1"] > 0 > c3.forward(c3.LESSON)["y"] - c3.LESSON.t   # w2 < 0 flips it
    assert c3.EXERCISE != c3.LESSON


def test_tiny_net_refuses_bad_numbers_by_name():
    with pytest.raises(RollToTrainError, match="w1"):
        c3.TinyNet(w1=float("nan"))
    with pytest.raises(RollToTrainError, match="x"):
        c3.TinyNet(x="2")
    with pytest.raises(RollToTrainError, match="b2"):
        c3.TinyNet(b2=True)
    with pytest.raises(RollToTrainError, match="changes"):
        c3.LESSON.replace(w3=1.0)
    with pytest.raises(RollToTrainError, match="net"):
        c3.chain_rule({"w1": 0.5})
    assert c3.LESSON.replace(w1=1).w1 == 1.0


def test_no_global_random_state_is_touched():
    state = torch.get_rng_state()
    python_state = random.getstate()
    for net in random_nets(seed=1, n=3):
        c3.autograd(net), c3.backward_pass(net), c3.check_w1_gradient(0.0, net)
    assert torch.equal(state, torch.get_rng_state()) and random.getstate() == python_state


# --- pictures -------------------------------------------------------------------------------------------

def test_the_graph_shows_every_value_and_with_gradients_every_gradient():
    plain = c3.plot_graph(c3.LESSON)
    texts = " | ".join(t.get_text() for t in plain.texts)
    assert "= 0.462117" in texts and "= 0.240246" in texts and "∂L/∂" not in texts
    with_gradients = c3.plot_graph(c3.LESSON, gradients=True)
    texts = " | ".join(t.get_text() for t in with_gradients.texts)
    for name, grad in c3.chain_rule(c3.LESSON).items():
        if name not in ("x", "loss"):
            assert f"∂L/∂{name} = {grad:.6f}".replace("-", "−") in texts, name
    assert "× (1 − h²)\n= 0.786448" in texts
    plt.close("all")


def test_the_tangents_have_the_gradients_slope():
    ax = c3.plot_loss_along(c3.LESSON, "w1")
    (xs, ys) = ax.lines[2].get_data()
    assert (ys[1] - ys[0]) / (xs[1] - xs[0]) == pytest.approx(c3.chain_rule(c3.LESSON)["w1"], rel=1e-9)
    ax = c3.plot_tanh(0.5)
    (xs, ys) = ax.lines[2].get_data()
    assert (ys[1] - ys[0]) / (xs[1] - xs[0]) == pytest.approx(1 - math.tanh(0.5) ** 2, rel=1e-9)
    plt.close("all")


# --- self-checks ----------------------------------------------------------------------------------------

def test_check_sign_accepts_the_sign_and_names_the_flip_through_w2():
    assert c3.check_sign(1, c3.LESSON, "w1")
    wrong = c3.check_sign(-1, c3.LESSON, "w1")
    assert not wrong and "sign of y − t alone" in repr(wrong) and "w2" in repr(wrong)
    assert not c3.check_sign(None) and "replace `None`" in repr(c3.check_sign(None))
    assert not c3.check_sign("+") and "expected +1 or -1" in repr(c3.check_sign("+"))
    for net in random_nets(seed=7, n=10):
        for name in c3.PARAMETERS:
            right = 1 if c3.autograd(net)[name] > 0 else -1
            assert c3.check_sign(right, net, name) and not c3.check_sign(-right, net, name)


def exercise_numbers(net):
    v = c3.forward(net)
    return v, v["y"] - net.t, 1 - v["h"] ** 2


# Each check: (check, the right answer from autograd, [(a mistaken answer, a phrase its feedback must hold)]).
def cases(net):
    v, d_y, slope = exercise_numbers(net)
    g = c3.autograd(net)
    return {
        "w2": (c3.check_w2_gradient, g["w2"], [
            (d_y, "∂L/∂b2"), (-g["w2"], "the sign"), (d_y * net.w2, "multiplies by w2"),
            (d_y ** 2 * v["h"], "not (y − t)²"), (2 * g["w2"], "not 2(y − t)")]),
        "w1": (c3.check_w1_gradient, g["w1"], [
            (d_y * net.w2 * net.x, "forgot tanh's slope"), (-g["w1"], "sign error"),
            (d_y * slope * net.x, "skipped w2"), (d_y * net.w2 * slope, "stopped at z"),
            (d_y * net.w2 * (1 - v["z"] ** 2) * net.x, "not 1 − z²"),
            (d_y * net.w2 * (1 - v["h"]) * net.x, "not 1 − h."), (2 * g["w1"], "cancels the 2")]),
        "x": (c3.check_input_gradient, g["x"], [
            (g["w1"], "that is ∂L/∂w1"), (d_y * net.w2 * slope, "that is ∂L/∂z"), (-g["x"], "sign error"),
            (d_y * net.w2 * net.w1, "forgot tanh's slope")]),
    }


@pytest.mark.parametrize("which", ["w2", "w1", "x"])
def test_gradient_checks_accept_autograds_answer_and_name_each_mistake(which):
    check, right, mistakes = cases(c3.EXERCISE)[which]
    assert check(right) and check(round(right, 3)), check(right)
    assert "autograd" in repr(check(right)) or "∂z/∂x = w1" in repr(check(right))
    assert not check(None) and "replace `None`" in repr(check(None))
    assert not check("0.35") and "expected a number" in repr(check("0.35"))
    for wrong, phrase in mistakes:
        feedback = check(wrong)
        assert not feedback, (wrong, feedback)
        assert phrase in repr(feedback), (phrase, feedback)
        assert " Or: " not in repr(feedback), feedback          # at these numbers each mistake is told apart
    unknown = check(right + 0.3)
    assert not unknown and "is not it." in repr(unknown)


@pytest.mark.parametrize("net", random_nets(seed=9, n=10))
def test_gradient_checks_follow_their_numbers(net):
    for which, (check, right, _) in cases(net).items():
        assert check(right, net), which
        assert not check(right + 0.05, net), which


def test_dice_step_check_accepts_the_scaled_step_and_names_each_mistake():
    net, lr, m = c3.EXERCISE, 0.1, 0.25
    g = c3.autograd(net)["w1"]
    assert c3.check_dice_step(net.w1 - m * lr * g, net, lr, m)
    assert "only scale the step" in repr(c3.check_dice_step(net.w1 - m * lr * g))
    for wrong, phrase in ((net.w1 - lr * g, "a plain step"), (net.w1 + m * lr * g, "added the step"),
                          (-m * lr * g, "that is the update"), (net.w1 - m * g, "forgot the learning rate")):
        feedback = c3.check_dice_step(wrong, net, lr, m)
        assert not feedback and phrase in repr(feedback) and " Or: " not in repr(feedback), feedback
    with pytest.raises(RollToTrainError, match="lr"):
        c3.check_dice_step(0.0, net, lr=float("inf"))
    assert c3.check_dice_step(net.w1 + 0.5 * 0.2 * g, net, lr=0.2, m=-0.5)      # a critical failure climbs


def test_a_mistake_that_gives_the_right_number_is_not_named():
    """With x = 1, forgetting ∂z/∂w1 = x gives the right ∂L/∂w1: that answer is right, not a mistake."""
    net = c3.EXERCISE.replace(x=1.0)
    right = c3.autograd(net)["w1"]
    assert c3.check_w1_gradient(right, net)


