"""Lesson 5 (character classes): the side-by-side loss curves of the classes, their report, the level
table, a class's exact multiplier distribution, and the lesson's self-checks.

    from rtt_edu.course import lesson05 as c5
    c5.compare(runs)          # one plot per class: its loss beside the reference run's, its actions marked
    c5.report(runs)           # final loss, highest loss, test accuracy and actions of each run
    c5.level_table()          # every class's numbers at levels 1, 5, 9, 13, 17 and 20, rendered
    c5.class_distribution(Rogue(), "classroom")   # exact m → P(m) while the Rogue acts on every turn
    c5.check_sneak_factor(1.75, level=5)          # ✔ right: 1 + ⌈5/2⌉/4 = 1 + 3/4 = 1.75.

The self-checks (the classes' techniques, the Rogue's factor, the Fighter's armour, a class's mean, and
the quiz: ``QUIZ``, ``check_quiz``) compare an answer with the exact value computed by the library and
name the mistake they see.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from IPython.display import Markdown

from rtt_edu.course.checks import Feedback, Question, ask, judge
from rtt_edu.errors import check_type, require
from rtt_edu.game.rules import as_rules
from rtt_edu.party.classes import Barbarian, Bard, CharacterClass, Cleric, Fighter, Paladin, Rogue, Wizard
from rtt_edu.party.xp import proficiency_bonus
from rtt_edu.views.plots import PALETTE

__all__ = ["compare", "report", "level_rows", "level_table", "LEVELS", "class_distribution", "TECHNIQUES",
           "check_technique", "BATTLE_LOG", "check_battle_log",
           "check_sneak_factor", "check_armour_norm", "check_class_mean", "QUIZ", "check_quiz"]

LEVELS = (1, 5, 9, 13, 17, 20)


def compare(runs: dict, reference: str = "no class", log_scale: bool = True):
    """One plot per class: its loss beside the reference run's, each of its actions a vertical line (shown)."""
    names = [n for n in runs if n != reference]
    fig, axes = plt.subplots(1, len(names), figsize=(min(4.6 * len(names), 11.0), 3.4), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes[0], names):
        history = runs[name][0]
        ax.plot(runs[reference][0].losses, color=PALETTE["grey"], lw=1.2, ls="--", label=reference)
        ax.plot(history.losses, color=PALETTE["blue"], lw=1.2, label=name)
        for i, (step, _) in enumerate(history.events("ability")):
            ax.axvline(step, color=PALETTE["vermillion"], lw=0.8, alpha=0.4, label="an action" if i == 0 else None)
        ax.set_title(f"{name}: {len(history.events('ability'))} actions")
        ax.set_xlabel("step")
        if log_scale:
            ax.set_yscale("log")
        ax.legend(loc="upper right")
    axes[0][0].set_ylabel("training loss")
    plt.show()


def report(runs: dict) -> None:
    """One line per run: final loss, highest loss, test accuracy, number of class actions."""
    for name, (history, accuracy) in runs.items():
        losses = history.losses
        print(f"{name:10s} final loss {losses[-1]:.3f}   highest loss {max(losses):7.3f}   "
              f"test accuracy {accuracy:.3f}   actions {len(history.events('ability')):3d}")


def level_rows(levels=LEVELS) -> list:
    """[(level, proficiency bonus, {column: value})] of every class's level formulas."""
    rows = []
    for level in levels:
        w, r, f, c = Wizard(level=level), Rogue(level=level), Fighter(level=level), Cleric(level=level)
        b, d, p = Barbarian(level=level), Bard(level=level), Paladin(level=level)
        rows.append((level, proficiency_bonus(level), {
            "Wizard slots / turns": f"{w.max_uses} / {w.duration}",
            "Rogue factor / uses": f"{r.sneak_factor:.2f} / {r.max_uses}",
            "Fighter clip": f"{f.armour_norm:.3f}",
            "Cleric revives": f"{c.max_uses}",
            "Barbarian rages / turns": f"{b.max_uses} / {b.rage_turns}",
            "Bard die / uses": f"d{d.die} / {d.max_uses}",
            "Paladin aura / uses": f"{p.aura:+d} / {p.max_uses}",
        }))
    return rows


def level_table(levels=LEVELS) -> Markdown:
    """The level rows as a rendered table (a cell never wraps mid-number)."""
    rows = level_rows(levels)
    header = ["level", "proficiency bonus", *rows[0][2]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([str(level), f"{bonus:+d}", *values.values()]) + " |" for level, bonus, values in rows]
    return Markdown("\n".join(lines))


def class_distribution(character_class, rules="classroom", bonus: int = 0) -> dict:
    """Exact m → P(m) of ``rules`` rolled with ``bonus`` while ``character_class`` acts on every turn.

    The same as ``character_class.distribution(rules, bonus)``: each class overrides its own.
    """
    check_type("character_class", character_class, CharacterClass, "an instance of a CharacterClass "
               "(Wizard, Rogue, Fighter, Cleric, Barbarian, Bard or Paladin)")
    return character_class.distribution(rules, bonus)


# --- exercises ----------------------------------------------------------------------------------

#: class → the training technique it stands for (the names lesson 5 lists).
TECHNIQUES = {
    "Wizard": "learning-rate bursts",
    "Rogue": "a heavier upper tail",
    "Fighter": "gradient clipping",
    "Cleric": "rollback to the best weights",
    "Barbarian": "no ascent steps",
    "Bard": "re-rolling fails",
    "Paladin": "a bonus to every save",
}


def check_technique(answer, character_class: str = "Cleric", who: str | None = None) -> Feedback:
    """Which technique of :data:`TECHNIQUES` does ``character_class`` stand for? (case-insensitive)

    ``who`` names the class in the hints (default "the <class>"); until the answer is right, the
    feedback says only ``who``, so a question may hide the class.
    """
    require(character_class in TECHNIQUES, "character_class", character_class, f"one of {sorted(TECHNIQUES)}")
    expected = TECHNIQUES[character_class]
    who = who or f"the {character_class}"
    if answer is None:
        return Feedback(False, "replace `None` with one of the technique names in quotes, then run the cell again.")
    if not isinstance(answer, str):
        return Feedback(False, f"answer={answer!r}: expected a technique name in quotes, such as 'gradient clipping'.")
    given = " ".join(answer.lower().split())
    if given == expected:
        return Feedback(True, f"right: the {character_class} stands for {expected}.")
    owner = next((cls for cls, name in TECHNIQUES.items() if name == given), None)
    if owner is not None:
        return Feedback(False, f"{answer!r} is the {owner}'s technique. What does {who} change: "
                               "the multiplier, the learning rate, the gradients or the weights?")
    return Feedback(False, f"{answer!r} is not one of the names: {', '.join(repr(n) for n in TECHNIQUES.values())}.")


#: exercise 1's battle-log line, its class's name left out (the Bard's Bardic Inspiration).
BATTLE_LOG = "step 23: +d6 rolled 4, total 12 vs DC 11: success, multiplier +0.75"


def check_battle_log(answer) -> Feedback:
    """Exercise 1: which technique of :data:`TECHNIQUES` wrote :data:`BATTLE_LOG`, its class left unnamed?"""
    return check_technique(answer, "Bard", who="the class that wrote this line")


def check_sneak_factor(answer, level: int = 5) -> Feedback:
    """The Rogue's sneak-attack factor at ``level``: 1 + ⌈level / 2⌉ / 4."""
    expected = Rogue(level=level).sneak_factor
    dice = math.ceil(level / 2)
    mistakes = [(1 + level / 2 / 4, f"⌈{level}/2⌉ rounds *up* to {dice} sneak-attack dice."),
                (dice / 4, "the factor is 1 plus the extra: the step keeps its own size too."),
                (1 + level / 4, "a rogue has ⌈level/2⌉ sneak-attack dice, not one per level.")]
    return judge(answer, expected, "a number (the factor)",
                 f"right: 1 + ⌈{level}/2⌉/4 = 1 + {dice}/4 = {expected:g}.",
                 "The factor is 1 + ⌈level / 2⌉ / 4.", mistakes, tol=1e-9)


def check_armour_norm(answer, level: int = 9, max_norm: float = 1.0) -> Feedback:
    """The Fighter's clipping norm: 2 · max_norm / proficiency_bonus(level)."""
    bonus = proficiency_bonus(level)
    expected = 2 * max_norm / bonus
    mistakes = [(max_norm / bonus, "the armour is *2* × max_norm / proficiency bonus."),
                (2 * max_norm / 2, f"that uses the level-1 bonus +2; at level {level} the bonus is +{bonus}."),
                (2 * max_norm * bonus, "the armour tightens with level: divide by the bonus.")]
    return judge(answer, expected, "a gradient norm",
                 f"right: proficiency +{bonus} at level {level}, so ‖g‖ is clipped to 2 × {max_norm:g} / {bonus} "
                 f"= {expected:g}.",
                 "armour_norm = 2 × max_norm / proficiency_bonus(level); the bonus is 2 + (level − 1) // 4.",
                 mistakes, tol=1e-9)


def check_class_mean(answer, character_class, rules="classroom") -> Feedback:
    """E[m] of ``rules`` while ``character_class`` acts on every turn (``character_class.distribution(rules)``)."""
    rule = as_rules(rules)
    dist = class_distribution(character_class, rule)
    expected = math.fsum(m * p for m, p in dist.items())
    name = type(character_class).__name__
    return judge(answer, expected, "a number (the mean multiplier)",
                 f"right: with the {name}, E[m] = {expected:.4f} (without it {rule.expected_multiplier():.4f}).",
                 f"Go face by face: which faces does the {name} change, and to what? Then sum P(m)·m.",
                 [(rule.expected_multiplier(), f"that is E[m] without the {name}.")], tol=5e-4)


# --- the quiz -------------------------------------------------------------------------------------

QUIZ = (
    Question(topic="which class acts before a spike and which after",
             right="a",
             why="clipping shortens the step that would throw the weights far, so the spike is smaller; a "
                 "revive sees the spike first, then goes back to the best weights.",
             wrong={"b": "the Cleric needs to see a spiked loss before it revives: it cannot act first. "
                         "Clipping acts on the gradient of the step itself.",
                    "c": "the Fighter's armour clips every step's gradient, before the weights move.",
                    "d": "a rollback needs a spike to react to: the Cleric cannot foresee one."}),
    Question(topic="what no ascent does to drift and temperature",
             right="c",
             why="the −0.5 of a natural 1 becomes 0: the mean rises from 0.475 to 0.5, and the values bunch "
                 "closer together (Var[m] 0.118 → 0.081).",
             wrong={"a": "raising the lowest value cannot lower the mean: E[m] = Σ P(m)·m grows.",
                    "b": "the value that moves, −0.5, was the one farthest from the mean: the spread shrinks.",
                    "d": "one value changes, from −0.5 to 0, on 5 % of the faces: both moments move."}),
    Question(topic="why a skipped full-batch step spikes again",
             right="b",
             why="a skipped step leaves the weights where they were, and with the whole training set in every "
                 "step the data are the same too: the same loss comes back.",
             wrong={"a": "the rolls are independent: a natural 1 is as likely as ever, 5 %, and the spike "
                         "repeats whatever the roll.",
                    "c": "clipping only ever shortens a step; and the skipped step moved nothing.",
                    "d": "the running mean leaves spikes out, and it moves slowly (0.9 old + 0.1 new)."}),
    Question(topic="what limits the Wizard and the Rogue",
             right="d",
             why="spell slots and sneak attacks are spent and recover only at a long rest: a budget of longer "
                 "steps per epoch.",
             wrong={"a": "a longer step is often faster progress (the Wizard and the Rogue end lower); only "
                         "past 2 / sharpness does it overshoot.",
                    "b": "a Rogue's sneak attack on a natural 20 gives m = 1.25: the dice allow m > 1.",
                    "c": "they act on the good rolls: the Wizard on a natural 18 or more, the Rogue on a total "
                         "5 above the DC."}),
)


def check_quiz(answer, number: int) -> Feedback:
    """The end-of-lesson quiz: question ``number`` (1 to ``len(QUIZ)``), answered with a letter."""
    return ask(QUIZ, answer, number)
