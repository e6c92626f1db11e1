"""Lesson 6 (monsters): the arena's set-up, the verdict of a fight, and the lesson's self-checks.

The arena: 512 points in the plane, label 1 where x·y > 0 (four quadrants), a 2-16-1 tanh network,
SGD at lr 0.5 (or Adam at 0.02) and the ``classroom`` dice, 240 steps of 64 points; a monster
appears at step ``AT`` = 120. Every run starts from the same weights with the same dice seed.
Lesson 8 trains the same network on the same points.

The self-checks (the chance of a strike, the ooze's expected factor, the Fighter's clip) compare an
answer with the exact value computed by the library and name the mistake they see; the prediction about
Adam after a loss spike and the quiz are multiple-choice questions (``checks.Question``).
"""
from __future__ import annotations

import math
import statistics
from fractions import Fraction

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rtt_edu import RollToTrain
from rtt_edu.course.checks import Feedback, Question, ask, choose, judge, read_number
from rtt_edu.party.xp import proficiency_bonus

__all__ = ["AT", "WINDOW", "quadrants", "make_model", "fight", "window", "excess", "fight_verdict", "adam_step_sizes",
           "strikes", "later_ratio", "verdict_table", "verdict_summary", "dice_jitter", "dragon_turns", "encounters",
           "epoch_ratio", "check_strike_ac30", "ADAM_AFTER_DRAGON", "check_adam_after_dragon",
           "check_same_monsters", "monster_strike_probability", "check_monster_strike",
           "check_ooze_factor", "check_fighter_clip", "QUIZ", "check_quiz"]

AT = 120                      # the step the monster appears
WINDOW = 40                   # steps read after it
UNHARMED_EXCESS = 0.02        # mean excess loss below this: unharmed
SPIKE = 2.0                   # peak above SPIKE × the loss before: a spike
REPAIRED = 1.25               # loss 20-40 steps on within 25% of the run without a monster: repaired


def quadrants(seed: int = 0):
    """512 points of N(0, 1)², label 1 where x·y > 0."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(512, 2, generator=g)
    return X, (X[:, 0] * X[:, 1] > 0).float()


def _linear(fan_in: int, fan_out: int, generator: torch.Generator) -> nn.Linear:
    """An ``nn.Linear`` with PyTorch's default init drawn from ``generator``: the weight Kaiming-uniform with
    a = √5, that is U(±1/√fan_in), then the bias U(±1/√fan_in), the draws ``nn.Linear`` itself makes."""
    layer = nn.utils.skip_init(nn.Linear, fan_in, fan_out)          # no draw from the global RNG
    bound = 1 / math.sqrt(fan_in)
    with torch.no_grad():
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def make_model(seed: int = 0) -> nn.Module:
    """The arena's network, 2 → 16 → tanh → 1, the same weights every time for a given seed.

    The weights are the ones ``nn.Linear`` draws from torch's global RNG once it is seeded with ``seed``,
    drawn here from a ``torch.Generator`` seeded with ``seed``: the global RNG is neither read nor advanced.
    """
    generator = torch.Generator().manual_seed(seed)
    return nn.Sequential(_linear(2, 16, generator), nn.Tanh(), _linear(16, 1, generator), nn.Flatten(0))


def fight(monster=None, character_class=None, epochs: int = 30, optimizer: str = "sgd", rules="classroom",
          seed: int = 5):
    """One run of the arena (``epochs`` × 8 steps); returns its history (losses, battle log)."""
    X, y = quadrants()
    loader = DataLoader(TensorDataset(X, y), batch_size=64)          # 8 mini-batches per epoch
    model = make_model()
    opt = (torch.optim.SGD(model.parameters(), lr=0.5) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=0.02))
    trainer = RollToTrain(model, opt, rules=rules, character_class=character_class,
                          encounter_schedule={AT: monster} if monster is not None else None,
                          loss_fn=nn.BCEWithLogitsLoss(), seed=seed, progress=False)
    return trainer.train(loader, epochs=epochs)


def window(history):
    """The losses of the WINDOW steps from the monster's arrival."""
    return history.losses[AT:AT + WINDOW]


def excess(history, base) -> float:
    """Mean loss of the window minus the same class's mean with no monster."""
    return statistics.fmean(window(history)) - statistics.fmean(window(base))


def fight_verdict(history, base) -> str:
    """unharmed / slowed / repaired / hurt, by the thresholds above."""
    before = statistics.fmean(history.losses[AT - 10:AT])
    peak = max(window(history))
    later = (statistics.fmean(history.losses[AT + 20:AT + WINDOW])
             / statistics.fmean(base.losses[AT + 20:AT + WINDOW]))
    if excess(history, base) < UNHARMED_EXCESS:
        return "unharmed"
    if peak < SPIKE * before:
        return "slowed"
    return "repaired" if later < REPAIRED else "hurt"


def adam_step_sizes(factor: float = 100.0, turns: int = 3, steps: int = AT + 121):
    """|Δw| of every step of plain Adam (lr 0.02) on the arena, with the loss × ``factor`` on the
    ``turns`` steps from ``AT`` (a Loss Dragon no save resists) and without: two lists of floats."""
    X, y = quadrants()
    loss_fn = nn.BCEWithLogitsLoss()
    sizes = []
    for dragon in (False, True):
        model = make_model()
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        out = []
        for step in range(steps):
            i = (step % 8) * 64
            before = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
            opt.zero_grad()
            loss = loss_fn(model(X[i:i + 64]), y[i:i + 64])
            (loss * (factor if dragon and AT <= step < AT + turns else 1.0)).backward()
            opt.step()
            out.append(float((torch.cat([p.detach().reshape(-1) for p in model.parameters()]) - before).norm()))
        sizes.append(out)
    return sizes[0], sizes[1]


def strikes(history) -> int:
    """How many of the monsters' turns struck (a failed save)."""
    return sum(1 for _, e in history.events("monster") if not e["saved"])


def later_ratio(history, base) -> float:
    """Mean loss 20 to 40 steps after the arrival, over the same class's run without a monster."""
    return (statistics.fmean(history.losses[AT + 20:AT + WINDOW])
            / statistics.fmean(base.losses[AT + 20:AT + WINDOW]))


def verdict_table(runs: dict, baseline: dict):
    """The fights as a rendered Markdown table: peak, excess, strikes, the later ratio, the verdict."""
    from IPython.display import Markdown
    lines = ["| monster | class | peak loss | excess | strikes | loss 20-40 steps on ÷ no monster | verdict |",
             "|---|---|---:|---:|---:|---:|---|"]
    for (m, c), h in runs.items():
        lines.append(f"| {m} | {c} | {max(window(h)):.3f} | {excess(h, baseline[c]):+.3f} | {strikes(h)} | "
                     f"{later_ratio(h, baseline[c]):.2f} | **{fight_verdict(h, baseline[c])}** |")
    return Markdown("\n".join(lines))


def verdict_summary(runs: dict, baseline: dict) -> str:
    """One plain-text line per monster: each class's verdict."""
    out = []
    for m in dict.fromkeys(m for m, _ in runs):
        verdicts = (f"{c} {fight_verdict(h, baseline[c])}" for (mm, c), h in runs.items() if mm == m)
        out.append(f"{m}: " + ", ".join(verdicts))
    return "\n".join(out)


def dice_jitter(seeds=range(6)) -> float:
    """The standard deviation, over dice seeds, of the undisturbed run's mean loss in the window."""
    return statistics.stdev(statistics.fmean(window(fight(None, None, seed=s))) for s in seeds)


def epoch_ratio(history, base, steps) -> list:
    """For each step t of ``steps``: the mean loss of steps t−7..t (one epoch, all 8 mini-batches) of
    ``history`` over the same mean of ``base``. Above 1: the run is behind the run it is compared with."""
    return [statistics.fmean(history.losses[t - 7:t + 1]) / statistics.fmean(base.losses[t - 7:t + 1])
            for t in steps]


def dragon_turns(history) -> list:
    """(step, natural face, multiplier) of the steps a monster was present."""
    present = {step for step, _ in history.events("monster")}
    return [(r.step, r.natural, r.multiplier) for r in history.steps if r.step in present]


# --- predict, then check ------------------------------------------------------------------------

def check_strike_ac30(answer) -> Feedback:
    """P(strike) of an AC 30 monster against a bonus of +2: every face strikes, so 1."""
    return judge(answer, 1.0, "a probability (a Fraction or a float)",
                 "right: 1. Even d20 = 20 with +2 is 22 < 30, so every face strikes; a bonus removes faces only "
                 "once AC − bonus ≤ 21.",
                 "Count the faces k = 1..20 with k + 2 < 30.",
                 mistakes=((Fraction(18, 20), "'+b removes b faces' holds only while AC ≤ 21: here all 20 faces "
                                              "strike before and after the bonus."),
                           (Fraction(27, 20), "a probability cannot exceed 1: the d20 has only 20 faces.")))


ADAM_AFTER_DRAGON = Question(
    topic="Adam's steps after three steps on 100 × the loss", right="c",
    why="The hundredfold gradients put squares 10,000 times the usual into Adam's running mean, and it forgets "
        "slowly: long after the dragon, each step is an ordinary gradient divided by a root that is still too big.",
    wrong={"a": "the dragon has left: the gradients are ordinary again. Adam divides by its running mean of "
                "squared gradients; it never multiplies a later step by the old ones.",
           "b": "Adam's steps keep one size while the gradients keep one scale. Here the running mean still "
                "holds the hundredfold squares, and it forgets slowly: what does dividing by it do?"})


def check_adam_after_dragon(answer) -> Feedback:
    """Predict: Adam's steps 40 to 120 steps after a loss spike are smaller than usual, (c)."""
    return choose(answer, ADAM_AFTER_DRAGON)


def check_same_monsters(answer) -> Feedback:
    """After a DC change, do the same monsters come and strike on the same steps? Yes: True."""
    if answer is None:
        return Feedback(False, "replace `None` with True or False, then run the cell again.")
    if not isinstance(answer, bool):
        return Feedback(False, f"answer={answer!r}: expected True or False.")
    if answer:
        return Feedback(True, "right: True. The save's die has its own seeded stream; the monsters roll on "
                              "another one, so the DC changes the multipliers, not the monsters.")
    return Feedback(False, "the DC is read by the dice rule only; the monsters come and roll their saves on a "
                           "stream of their own.")


def encounters(history) -> list:
    """(step, monster, saved) of every monster turn of ``history``."""
    return [(step, e["monster"], e["saved"]) for step, e in history.events("monster")]


# --- exercises ----------------------------------------------------------------------------------

def monster_strike_probability(armor_class: int, bonus: int = 0) -> Fraction:
    """Exact P(d20 + bonus < AC): the chance a monster strikes on one turn."""
    return Fraction(sum(1 for k in range(1, 21) if k + bonus < armor_class), 20)


def check_monster_strike(answer, armor_class: int = 15, bonus: int = 2) -> Feedback:
    """P(strike) = #{k in 1..20 : k + bonus < AC} / 20."""
    expected = monster_strike_probability(armor_class, bonus)
    value = read_number(answer, "a probability (a Fraction or a float)")
    if isinstance(value, Feedback):
        return value
    if abs(value - float(expected)) <= 1e-3:
        return Feedback(True, f"right: faces 1..{armor_class - 1 - bonus} fail to reach AC {armor_class} with "
                              f"{bonus:+d}: P(strike) = {expected}.")
    if abs(value - float(1 - expected)) <= 1e-3:
        return Feedback(False, f"{value:g} is the chance the model *saves*. The monster strikes on a failed save.")
    if abs(value - float(monster_strike_probability(armor_class))) <= 1e-3:
        return Feedback(False, f"{value:g} ignores the bonus {bonus:+d}: a face k saves when "
                               f"k {bonus:+d} >= {armor_class}.")
    return Feedback(False, f"{value:g} is not it. Count the faces k of a d20 with k {bonus:+d} < {armor_class}.")


def check_ooze_factor(answer, slow: float = 0.1, armor_class: int = 10, bonus: int = 0) -> Feedback:
    """E[factor] = P(save) · 1 + P(strike) · slow."""
    p = float(monster_strike_probability(armor_class, bonus))
    expected = (1 - p) + p * slow
    return judge(answer, expected, "a number (the expected factor on the update)",
                 f"right: {1 - p:.2f} × 1 + {p:.2f} × {slow:g} = {expected:.4f}.",
                 f"First P(strike) = P(d20 {bonus:+d} < {armor_class}); a struck turn scales the update by "
                 f"{slow:g}, a saved one leaves it alone.", tol=1e-3)


def check_fighter_clip(answer, level: int = 5, max_norm: float = 1.0) -> Feedback:
    """The Fighter's armour: gradients clipped to norm 2 · max_norm / proficiency_bonus(level)."""
    expected = 2 * max_norm / proficiency_bonus(level)
    return judge(answer, expected, "a number (a gradient norm)",
                 f"right: 2 × {max_norm:g} / {proficiency_bonus(level)} = {expected:.4f}: the armour tightens as the "
                 "proficiency bonus grows.",
                 "The armour norm is 2 × max_norm / proficiency_bonus(level); the bonus at level 5 is +3.", tol=1e-3)


# --- quiz ---------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="which defence undoes weights corrupted between two steps, with no save rolled", right="b",
             why="Like the Weight Wraith's noise, the damage lands on the weights, not on a gradient: the loss "
                 "spikes on the next step, and the Cleric restores the best weights it kept.",
             wrong={"a": "clipping shrinks the gradient, but here the damage is done to the weights between two "
                         "steps: no gradient carries it.",
                    "c": "a bonus only helps a save, and no save is rolled: the chip strikes whatever the dice say.",
                    "d": "a rollback repairs it: one class keeps a copy of the best weights and restores it after "
                         "a loss spike."}),
    Question(topic="how long a Fighter's step is against a Loss Dragon ten times stronger", right="c",
             why="Clipping scales any gradient longer than the armour norm back to that norm: a hundredfold and a "
                 "thousandfold gradient both become a step of the same length.",
             wrong={"a": "clipping caps the gradient's norm at the armour norm, whatever the factor: a longer "
                         "gradient is not a longer step once it is clipped.",
                    "b": "clipping rescales to a fixed norm; it does not punish a long gradient with an even "
                         "shorter step.",
                    "d": "skipping a spiking step is the Cleric's technique; the Fighter only clips the gradient."}),
    Question(topic="what a save bonus does against a Loss Dragon of AC 25", right="a",
             why="20 + 2 = 22 < 25: every turn still strikes; but the same +2 lifts the dice rule's own save, a "
                 "bigger multiplier m, and m multiplies the hundredfold gradient.",
             wrong={"b": "P(strike) is #{k : k + 2 < 25} / 20 = 1: even a natural 20 with +2 falls short of AC 25.",
                    "c": "the aura adds to every save, the dice rule's own too: it changes the multiplier m of "
                         "each step, the dragon's turns included."}),
    Question(topic="what makes a Gradient Ooze leave sooner", right="b",
             why="Every resisted turn is an ordinary step that lowers the loss and hurts the Ooze; a bonus "
                 "(AC 14 ≤ 21) turns striking faces into resisting ones, so it is defeated sooner.",
             wrong={"a": "a struck step does not move at all; clipping can shrink a gradient, not make a zero "
                         "step move.",
                    "c": "the Ooze makes no spike: the Cleric's test never fires, and the best weights kept are "
                         "no better than the current ones."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
