"""Self-checks of lessons 5 to 9: each accepts the exact answer, names the usual mistakes, and its
expected value agrees with an independent computation (seeded Monte Carlo or a real run)."""
import math
import statistics
from fractions import Fraction

import pytest
import torch

from rtt_edu import DiceRoller, SavingThrow, attach
from rtt_edu import exercises_advanced as ex
from rtt_edu.data.grammar import FANTASY_RULES
from rtt_edu.science.experiments import t_interval, t_quantile


def test_feedback_shows_its_verdict_and_is_truthy_only_when_right():
    good, bad = ex.Feedback(True, "fine"), ex.Feedback(False, "hint")
    assert bool(good) and not bool(bad)
    assert repr(good) == "✔ fine" and repr(bad) == "✘ not yet: hint" and bad._repr_markdown_() == "✘ not yet: hint"
    assert not any(ord(c) > 0xFFFF or 0x1F000 <= ord(c) for c in repr(good) + repr(bad))    # no emoji: every font


@pytest.mark.parametrize("check", [ex.check_sgd_gradient_ratio, ex.check_adam_first_step, ex.check_epoch_noise,
                                   ex.check_accumulation_rolls, ex.check_proficiency_bonus, ex.check_level_mean,
                                   ex.check_first_level_below, ex.check_mean_xp_per_step, ex.check_mask_probability,
                                   ex.check_context_best_accuracy, ex.check_best_word, ex.check_monster_strike,
                                   ex.check_ooze_factor, ex.check_fighter_clip, ex.check_t_half_width,
                                   ex.check_seeds_needed, ex.check_verdict])
def test_every_check_asks_for_an_answer_instead_of_failing(check):
    feedback = check(None)
    assert not feedback and "replace `None`" in feedback.message
    assert not check(True if check is not ex.check_best_word and check is not ex.check_verdict else 3)


# --- lesson 5 -------------------------------------------------------------------------------------

def test_monster_strike_probability_against_seeded_saves():
    roller = DiceRoller(seed=4)
    n = 40_000
    hits = sum(roller.roll("d20", modifier=2).total < 15 for _ in range(n))
    p = ex.monster_strike_probability(15, 2)
    assert p == Fraction(12, 20)
    assert abs(hits / n - float(p)) < 4 * math.sqrt(float(p) * (1 - p) / n)
    assert ex.check_monster_strike(0.6)
    assert "saves" in ex.check_monster_strike(0.4).message                    # the chance of the save
    assert "ignores the bonus" in ex.check_monster_strike(0.7).message


def test_ooze_factor_and_fighter_clip():
    assert ex.check_ooze_factor(0.55 + 0.45 * 0.1)
    assert not ex.check_ooze_factor(0.1)
    from rtt_edu.party.classes import Fighter
    assert ex.check_fighter_clip(Fighter(level=5, max_norm=1.0).armour_norm, level=5, max_norm=1.0)
    assert not ex.check_fighter_clip(1.0, level=5)


# --- lesson 6 -------------------------------------------------------------------------------------

def test_level_checks():
    assert ex.check_proficiency_bonus(4, level=11) and not ex.check_proficiency_bonus(3, level=11)
    rule = SavingThrow.preset("classroom")
    assert ex.check_level_mean(rule.with_bonus(4).expected_multiplier(), "classroom", level=9)
    assert not ex.check_level_mean(rule.expected_multiplier(), "classroom", level=9)
    assert ex.check_first_level_below(13, "lr-dropout", 0.2) and not ex.check_first_level_below(9, "lr-dropout", 0.2)


def test_mean_xp_per_step_against_a_seeded_run():
    """The exact E[XP per step] matches the XP an ExperienceSystem awards in 4000 steps."""
    from rtt_edu import ExperienceSystem
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
    assert ex.check_mean_xp_per_step(exact, "lr-dropout", bonus=2)
    assert not ex.check_mean_xp_per_step(10 * probs["success"], "lr-dropout", bonus=2)


# --- lesson 7 -------------------------------------------------------------------------------------

def test_epoch_noise_against_simulated_epochs():
    rule = SavingThrow.preset("classroom")
    roller = DiceRoller(seed=9)
    means = [statistics.fmean(rule.multiplier(roller.roll("d20").natural) for _ in range(8)) for _ in range(20_000)]
    expected = math.sqrt(rule.variance() / 8)
    assert statistics.pstdev(means) == pytest.approx(expected, rel=0.03)
    assert ex.check_epoch_noise(expected) and not ex.check_epoch_noise(math.sqrt(rule.variance() / 64))


def test_accumulation_rolls_against_the_trainer():
    from torch.utils.data import DataLoader, TensorDataset

    from rtt_edu import RollToTrain
    data = TensorDataset(torch.randn(100, 2, generator=torch.Generator().manual_seed(0)), torch.zeros(100))
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0))
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), mode="per_accumulation_step",
                          accumulation_steps=16, loss_fn=torch.nn.MSELoss(), seed=0, progress=False)
    trainer.train(DataLoader(data, batch_size=1))
    assert ex.check_accumulation_rolls(len(trainer.history), batches=100, window=16)
    assert "full windows only" in ex.check_accumulation_rolls(6).message


def test_sgd_and_adam_ratio_checks_agree_with_a_real_step():
    def ratio(opt_class, m, **kw):
        changes = []
        for dice in (False, True):
            p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
            opt = opt_class([p], **kw)
            handle = attach(opt, SavingThrow(dc=11, crit_fail=m, fail=m, success=m, crit_success=m),
                            seed=0, target="gradient") if dice else None
            (p * torch.tensor([0.3, 0.1, -0.7])).sum().backward()
            before = p.detach().clone()
            opt.step()
            changes.append(p.detach() - before)
            if handle:
                handle.remove()
        return float(changes[1] @ changes[0] / (changes[0] @ changes[0]))
    assert ex.check_sgd_gradient_ratio(ratio(torch.optim.SGD, 0.25, lr=0.1))
    with pytest.warns(Warning):
        adam = ratio(torch.optim.Adam, -0.5, lr=0.01)
    assert ex.check_adam_first_step(adam) and not ex.check_adam_first_step(-0.5)


# --- lesson 8 -------------------------------------------------------------------------------------

def test_mask_posterior_reads_the_grammar_rules():
    spell = {rhs[0]: Fraction(p) for rhs, p in FANTASY_RULES["SPELL"]}
    assert ex.mask_posterior("the wizard casts a [MASK]") == spell
    det = {rhs[0]: Fraction(p) for rhs, p in FANTASY_RULES["DET"]}
    assert ex.mask_posterior("[MASK] wise knight slays a troll") == det
    assert ex.check_mask_probability(spell["fireball"]) and not ex.check_mask_probability(spell["spell"])
    assert ex.check_context_best_accuracy(float(max(det.values())))
    assert ex.check_best_word("cleric") and not ex.check_best_word("knight")
    with pytest.raises(ValueError, match="no sentence"):
        ex.mask_posterior("the dragon casts a [MASK]")


# --- lesson 9 -------------------------------------------------------------------------------------

def test_statistics_checks():
    diffs = (0.012, -0.004, 0.009, 0.015, 0.003)
    iv = t_interval(diffs)
    assert ex.check_t_half_width((iv.hi - iv.lo) / 2)
    assert "1.96" in ex.check_t_half_width(1.959963984540054 * statistics.stdev(diffs) / math.sqrt(5)).message
    n = next(k for k in range(2, 1000) if t_quantile(0.975, k - 1) * 0.01 / math.sqrt(k) <= 0.002)
    assert ex.check_seeds_needed(n) and not ex.check_seeds_needed(n - 1) and not ex.check_seeds_needed(n + 1)
    assert ex.check_verdict("no difference") and ex.check_verdict("worse", lo=0.001, hi=0.01)
    assert ex.check_verdict("better", lo=0.001, hi=0.01, better="higher") and not ex.check_verdict("worse")
