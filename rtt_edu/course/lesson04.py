"""Lesson 4's set-up: the side-by-side loss curves of the classes, their report, and the level table.

    from rtt_edu.course import lesson04 as c4
    c4.compare(runs)          # one plot per class: its loss beside the reference run's, its actions marked
    c4.report(runs)           # final loss, highest loss, test accuracy and actions of each run
    c4.level_table()          # every class's numbers at levels 1, 5, 9, 13, 17 and 20, rendered
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from IPython.display import Markdown

from rtt_edu.party.classes import Barbarian, Bard, Cleric, Fighter, Paladin, Rogue, Wizard
from rtt_edu.views.plots import PALETTE
from rtt_edu.party.xp import proficiency_bonus

__all__ = ["compare", "report", "level_rows", "level_table", "LEVELS"]

LEVELS = (1, 5, 9, 13, 17, 20)


def compare(runs: dict, reference: str = "no class", log_scale: bool = True):
    """One plot per class: its loss beside the reference run's, each of its actions a vertical line (shown)."""
    names = [n for n in runs if n != reference]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 2.9), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        history = runs[name][0]
        ax.plot(runs[reference][0].losses, color=PALETTE["grey"], lw=1.2, ls="--", label=reference)
        ax.plot(history.losses, color=PALETTE["blue"], lw=1.2, label=name)
        for i, (step, _) in enumerate(history.events("ability")):
            ax.axvline(step, color=PALETTE["vermillion"], lw=0.8, alpha=0.4, label="an action" if i == 0 else None)
        ax.set_title(f"{name}: {len(history.events('ability'))} actions", fontsize=10)
        ax.set_xlabel("step")
        if log_scale:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("training loss")
    fig.tight_layout()
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
