"""Lesson 7's code (rtt_edu.course.lesson07): its self-checks, whose expected values agree with an
independent computation (a seeded run of the experience system)."""
import math

import pytest
import torch

from rtt_edu import ExperienceSystem, SavingThrow, attach
from rtt_edu.course import lesson07 as c7


def test_lesson07_dropout_variance_check():
    rule = SavingThrow.preset("lr-dropout").with_bonus(6)
    assert c7.check_dropout_variance(rule.variance())
    assert not c7.check_dropout_variance(0.8) and "E[m]" in c7.check_dropout_variance(0.8).message


def test_level_checks():
    assert c7.check_proficiency_bonus(4, level=11) and not c7.check_proficiency_bonus(3, level=11)
    rule = SavingThrow.preset("classroom")
    assert c7.check_level_mean(rule.with_bonus(4).expected_multiplier(), "classroom", level=9)
    assert not c7.check_level_mean(rule.expected_multiplier(), "classroom", level=9)
    assert c7.check_first_level_below(13, "lr-dropout", 0.2) and not c7.check_first_level_below(9, "lr-dropout", 0.2)


def test_mean_xp_per_step_against_a_seeded_run():
    """The exact E[XP per step] matches the XP an ExperienceSystem awards in 4000 steps."""
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    xp = ExperienceSystem(add_proficiency=False)
    rule = SavingThrow.preset("lr-dropout").with_bonus(2)
    handle = attach(opt, rule, seed=3, experience=xp)
    steps = 4000
    for _ in range(steps):
        model(torch.ones(1, 1)).sum().backward()
        opt.step()
    handle.remove()
    probs = rule.outcome_probabilities()
    exact = 10 * probs["success"] + 50 * probs["critical_success"]
    sd = math.sqrt(100 * probs["success"] + 2500 * probs["critical_success"] - exact ** 2)
    assert abs(xp.xp / steps - exact) < 4 * sd / math.sqrt(steps)
    assert c7.check_mean_xp_per_step(exact, "lr-dropout", bonus=2)
    assert not c7.check_mean_xp_per_step(10 * probs["success"], "lr-dropout", bonus=2)


def test_quiz_right_letters_wrong_letters_and_none():
    assert [q.right for q in c7.QUIZ] == ["c", "a", "b", "d"]


def test_quiz_answers_agree_with_the_exact_rules():
    classroom, dropout, seed_code = (SavingThrow.preset(n) for n in ("classroom", "lr-dropout", "seed-code"))
    # 1: the crits carry over half of classroom's variance
    mean, probs = classroom.expected_multiplier(), classroom.outcome_probabilities()
    crits = probs["critical_success"] * (1 - mean) ** 2 + probs["critical_fail"] * (-0.5 - mean) ** 2
    assert crits > classroom.variance() / 2
    # 2: +1 of bonus raises lr-dropout's E[m] by 1/20
    assert math.isclose(dropout.with_bonus(3).expected_multiplier() - dropout.with_bonus(2).expected_multiplier(), 0.05)
    # 3: seed-code's variance rises with the bonus
    assert seed_code.with_bonus(6).variance() > seed_code.variance()


def test_quiz_number_is_checked():
    with pytest.raises(ValueError):
        c7.check_quiz("a", 5)
