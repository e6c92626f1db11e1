"""The class's runs side by side: every student's handed-in config replayed, plotted and compared.

    runs = ClassRuns.from_folder("handed_in/")    # one JSON file per student, as panel.config() gives it
    runs.plot()                                    # every student's dice curve over the band of the plain runs
    runs.table()                                   # final loss and accuracy, each dice run beside its plain twin
    runs.problems                                  # each file it could not use, and why

**What a student hands in.** ``TrainingPanel.config()`` is plain JSON: the panel's settings and the
steps taken. A student saves it (``json.dump(panel.config(), open("ada.json", "w"))``) and the
teacher puts the files in one folder; the file's name without ``.json`` names the student.

**Reading a folder.** Every ``*.json`` file directly in the folder is read, in name order, at most
:data:`MAX_FILES` of them, each with a cap of ``max_bytes`` (:data:`MAX_FILE_BYTES`, 1 MB; a config is
about 600 bytes) before it is parsed. A file that cannot be used is listed in :attr:`ClassRuns.problems`
with its kind (:data:`PROBLEM_KINDS`) and the reason in words; the other students' runs still show.
What is refused, in the order it is checked:

=================  ===========================================================================
``unreadable``     not a regular file (a folder, a pipe, a device), or it cannot be opened
``too large``      more than ``max_bytes`` bytes
``not JSON``       not UTF-8 text, not JSON (NaN and Infinity are not JSON), or not a JSON object
``hostile``        deeper or larger than any config (:data:`~rtt_edu.views.widgets.config.MAX_DEPTH`
                   levels, :data:`~rtt_edu.views.widgets.config.MAX_ITEMS` items), or a number of
                   thousands of digits
``another version`` keys this version of rtt_edu does not know
``invalid``        a setting :class:`~rtt_edu.views.widgets.config.TrainingConfig` refuses
``empty``          ``steps`` is 0 or absent: nothing was trained, nothing to compare
``too costly``     more steps than a panel may replay for that network
                   (:func:`~rtt_edu.views.widgets.run.max_replay_steps`), or more than the class's
                   budget ``max_work`` left after the files before it
``failed``         the replay itself raised (the exception's type and message)
=================  ===========================================================================

Every check is bounded by the file's size, so a folder of hostile files is refused in well under a
second; only the replays take time.

**Replaying.** Each config replays what ``TrainingPanel.from_config`` replays: the same data, the
same initial weights and the same dice (all three from its ``seed``), for its ``steps``. Two ways:

- *alone*: the panel's own two runs (:class:`~rtt_edu.views.widgets.run.ToyRun`), number for number
  what ``from_config`` gives on this machine;
- *batched*: configs that share every setting but their seed, and use no class, monster or
  experience (those act step by step on one optimizer), train together as one
  :class:`~rtt_edu.training.batched.SeedBatch`: every model of the class in one batched pass per
  step. Its dice are the same rolls, roll for roll, so every multiplier is the panel's. Its
  arithmetic (batched matrix products, gradients written out) rounds differently in the last bit,
  so its losses agree with the panel's to float32 rounding (about 10⁻⁶ relative over 300 steps at
  lr ≤ 0.3); a chaotic run (lr ≥ 1) can drift further, as it does between two kinds of CPU. A
  batched run that diverges (its loss not finite, or above
  :data:`~rtt_edu.views.widgets.run.DIVERGE_FACTOR` × its first) is replayed alone, so it stops the
  panel's way.

``batched=False`` replays every config alone. A config shared by several students (the same
settings and seed) is replayed once.

**The comparison** (:meth:`ClassRuns.table`). Each student's dice run is paired with its own plain
run: the same data, the same initial weights, the same steps, no dice. For student s,

    d_s = final(dice run of s) - final(plain run of s)        (final loss, and test accuracy)

and the class's mean difference d̄ gets a t interval and a bootstrap interval
(:func:`rtt_edu.science.stats.paired_summary`). The final loss is the loss at the last step, as
the panel's status line shows it. A pair in which either run diverged is listed, not averaged.
"""
from __future__ import annotations

import html
import json
import math
import os
import stat
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from rtt_edu.errors import RollToTrainError, bad_value, check_type, require, shown
from rtt_edu.science.stats import paired_summary
from rtt_edu.training.batched import SeedBatch
from rtt_edu.views.plots import PALETTE, new_figure
from rtt_edu.views.widgets.config import MAX_DEPTH, MAX_ITEMS, TrainingConfig, rules_from_config
from rtt_edu.views.widgets.run import DIVERGE_FACTOR, MAX_REPLAY_WORK, ToyRun, max_replay_steps, step_work

__all__ = ["ClassRuns", "StudentRun", "ClassTable", "Problem", "PROBLEM_KINDS", "MAX_FILE_BYTES", "MAX_FILES",
           "CLASS_MAX_WORK"]

#: the most bytes read from one file before it is refused as too large (a config is about 600).
MAX_FILE_BYTES = 1_000_000
#: the most files read from one folder; the rest are listed as one problem.
MAX_FILES = 500
#: the most replay work (:func:`~rtt_edu.views.widgets.run.step_work` × steps) for a whole class:
#: five panels' worth, about 100 s on a 2-core laptop replayed alone (30 default runs of 300 steps: 0.24 of it).
CLASS_MAX_WORK = 5 * MAX_REPLAY_WORK

#: a problem's kind → what it means (the module docstring's table).
PROBLEM_KINDS = {
    "unreadable": "not a regular file, or it cannot be opened",
    "too large": "more bytes than max_bytes",
    "not JSON": "not UTF-8 text, not JSON, or not a JSON object",
    "hostile": "nested deeper or larger than any config",
    "another version": "keys this version of rtt_edu does not know",
    "invalid": "a setting the TrainingConfig refuses",
    "empty": "no steps were taken: nothing to compare",
    "too costly": "more steps than a panel may replay, or beyond the class's budget",
    "too many files": "beyond MAX_FILES: not read",
    "failed": "the replay raised an error",
}

#: the settings that act only through the game (a class, monsters, experience): a config using any is replayed alone.
_GAME_FIELDS = ("character_class", "class_level", "monsters", "encounter_chance", "experience", "xp_scale")
_CONFIG_KEYS = frozenset(f.name for f in fields(TrainingConfig)) | {"steps"}


@dataclass(frozen=True)
class Problem:
    """A file of the folder that could not be used."""
    file: str       # the file's name in the folder (or the name given to from_configs)
    kind: str       # a key of PROBLEM_KINDS
    reason: str     # in words, quoting a short prefix of a bad value

    def __str__(self):
        return f"{self.file}: {self.kind}: {self.reason}"


class _Refused(Exception):
    """A config that cannot be used: its kind (a key of PROBLEM_KINDS) and the reason."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass
class StudentRun:
    """One student's config, replayed: the dice run and its plain twin."""
    name: str                   # the student: the file's name without .json
    config: TrainingConfig      # the settings, checked
    steps: int                  # the steps the config asked for
    dice: list                  # the dice run's training loss at each step (before that step's update)
    plain: list                 # the plain run's training loss at each step
    multipliers: list           # the dice run's multiplier at each step
    accuracy: dict              # {"dice": test accuracy, "plain": test accuracy} after the replay
    diverged: dict = field(default_factory=lambda: {"dice": None, "plain": None})  # run → (step, why), as a panel says
    batched: bool = False       # True: trained in a batch with other students (see the module docstring)

    @property
    def final_loss(self) -> dict:
        """``{"dice": ..., "plain": ...}``: each run's loss at its last step (None for a run with no step)."""
        return {"dice": self.dice[-1] if self.dice else None, "plain": self.plain[-1] if self.plain else None}


# --- reading ------------------------------------------------------------------------------------

class _NonStandardNumber(ValueError):
    pass


def _refuse_constant(name):
    raise _NonStandardNumber(name)


def _read_json(path: Path, max_bytes: int):
    """The JSON value in ``path``, read with a cap of ``max_bytes``; ``_Refused`` says why not."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise _Refused("unreadable", f"it cannot be opened ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):     # a pipe or a device may never end; a folder is no config
            raise _Refused("unreadable", "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise _Refused("unreadable", f"it cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise _Refused("too large", f"more than {max_bytes:,} bytes (a config is about 600)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Refused("not JSON", f"not UTF-8 text (byte {exc.start} is {data[exc.start:exc.start + 1]!r})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except _NonStandardNumber as exc:
        raise _Refused("not JSON", f"{exc} is not a JSON number") from None
    except json.JSONDecodeError as exc:
        ends = " (the file ends too early: cut short?)" if exc.pos >= len(text.rstrip()) else ""
        raise _Refused("not JSON", f"{exc.msg} at line {exc.lineno}, column {exc.colno}{ends}") from None
    except RecursionError:
        raise _Refused("hostile", "JSON nested deeper than the parser goes") from None
    except ValueError as exc:                  # e.g. an integer of thousands of digits
        raise _Refused("hostile", f"a value no config holds ({shown(str(exc), 60)})") from None


def _shape_problem(data: dict):
    """Why ``data`` is deeper or larger than any config (as TrainingConfig counts), or None."""
    stack, items = [(value, 1) for value in data.values()], len(data)
    if items > MAX_ITEMS:
        return f"{items:,} keys (a config has {len(_CONFIG_KEYS)})"
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            return f"a value nested more than {MAX_DEPTH} levels deep"
        items += len(node)
        if items > MAX_ITEMS:
            return f"more than {MAX_ITEMS:,} items in all"
        stack.extend((child, depth + 1) for child in children)
    return None


def _checked(data, budget_left: int):
    """(TrainingConfig, steps, work) of a handed-in config, or ``_Refused``: the checks of from_config, classified."""
    if not isinstance(data, dict):
        raise _Refused("not JSON", f"a JSON {type(data).__name__}, not an object of settings ({shown(data)})")
    why = _shape_problem(data)
    if why is not None:
        raise _Refused("hostile", why)
    unknown = [key for key in data if key not in _CONFIG_KEYS]
    if unknown:
        hint = "; it has 'seeds': a ComparePanel's config, not a TrainingPanel's" if "seeds" in data else ""
        raise _Refused("another version", "keys this version of rtt_edu does not know: "
                       + ", ".join(shown(key) for key in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
                       + f" (made by another version, or edited by hand){hint}")
    settings = dict(data)
    steps = settings.pop("steps", 0)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise _Refused("invalid", bad_value("steps", steps, "a number of steps >= 0"))
    try:
        config = TrainingConfig.from_dict(settings)
    except (RollToTrainError, TypeError, ValueError) as exc:
        raise _Refused("invalid", str(exc)) from None
    if steps == 0:
        raise _Refused("empty", "steps=0: the panel took no step, so there is no run to compare")
    limit, work = max_replay_steps(config), step_work(config)
    if steps > limit:
        raise _Refused("too costly", f"steps={steps:,}: at most {limit:,} for this network (a replay may cost "
                                     f"{MAX_REPLAY_WORK:,} units of work, as TrainingPanel.from_config allows)")
    if steps * work > budget_left:
        raise _Refused("too costly", f"steps={steps:,} of {work:,} units each: more than the {budget_left:,} "
                                     "left of the class's budget (max_work) after the files before it")
    return config, steps, steps * work


# --- replaying ----------------------------------------------------------------------------------

def _stop(losses: list):
    """Where a panel's run would stop, as ToyRun decides it: (step, why) or None."""
    first = losses[0] if losses else None
    for step, value in enumerate(losses):
        if not math.isfinite(value):
            return step, "non-finite"
        if step and math.isfinite(first) and value > DIVERGE_FACTOR * abs(first):
            return step, "too large"
    return None


def _replay_alone(name: str, config: TrainingConfig, steps: int) -> StudentRun:
    """The panel's own two runs, trained ``steps`` steps, as ``TrainingPanel.from_config`` trains them."""
    run = ToyRun(config)
    try:
        run.step(steps)
        return StudentRun(name, config, steps, dice=[float(v) for v in run.history.losses],
                          plain=[float(v) for v in run.plain_losses],
                          multipliers=[float(m) for m in run.history.multipliers], accuracy=run.accuracy(),
                          diverged=dict(run.diverged), batched=False)
    finally:
        run.close()


def _run_key(config: TrainingConfig, steps: int) -> dict:
    """The settings a replay depends on: no ``horizon``, and no game setting the config leaves unused."""
    settings = config.to_dict()
    settings.pop("horizon")
    for used, unused in ((config.character_class is not None, "class_level"),
                         (bool(config.monsters), "encounter_chance"), (config.experience, "xp_scale")):
        if not used:
            settings.pop(unused)
    return {**settings, "steps": steps}


def _batch_key(config: TrainingConfig, steps: int):
    """What configs must share to train in one SeedBatch, or None when this one must train alone."""
    if config.character_class is not None or config.monsters or config.experience:
        return None
    settings = _run_key(config, steps)
    settings.pop("seed")
    return json.dumps(settings, sort_keys=True)


def _replay_batch(members: list) -> dict:
    """``members``: [(name, config, steps)] sharing a batch key and distinct seeds → name → StudentRun.

    A seed whose dice or plain run would have stopped in a panel is left out (the caller replays it alone).
    """
    config, steps = members[0][1], members[0][2]
    seeds = [c.seed for _, c, _ in members]
    batch = SeedBatch(config.dataset, seeds=seeds, rules=rules_from_config(config.rules), optimizer=config.optimizer,
                      lr=config.lr, hidden=config.hidden, layers=config.layers, activation=config.activation,
                      points=config.points, noise=config.noise, intelligence=config.intelligence)
    batch.step(steps)
    dice, plain = batch.dice_losses.tolist(), batch.plain_losses.tolist()
    multipliers, accuracy = batch.multipliers.tolist(), batch.test_accuracy()
    out = {}
    for i, (name, member, _) in enumerate(members):
        if _stop(dice[i]) or _stop(plain[i]):
            continue
        out[name] = StudentRun(name, member, steps, dice=dice[i], plain=plain[i], multipliers=multipliers[i],
                               accuracy={"dice": float(accuracy["dice"][i]), "plain": float(accuracy["plain"][i])},
                               batched=True)
    return out


def _progress(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="replaying the class", unit="run")


# --- the class ----------------------------------------------------------------------------------

class ClassRuns:
    """Every student's run, replayed (see the module docstring). Build it with :meth:`from_folder`.

    ``runs``: student → :class:`StudentRun`, in name order; ``problems``: [:class:`Problem`];
    ``batches``: how many batches the batched runs took.
    """

    def __init__(self, runs: dict, problems: list, batches: int = 0):
        self.runs = dict(sorted(runs.items()))
        self.problems = sorted(problems, key=lambda problem: problem.file)
        self.batches = batches

    @property
    def students(self) -> list:
        """The students whose runs replayed, in name order."""
        return list(self.runs)

    def __len__(self):
        return len(self.runs)

    def __getitem__(self, student: str) -> StudentRun:
        return self.runs[student]

    def __repr__(self):
        batched = sum(run.batched for run in self.runs.values())
        problems = len(self.problems)
        return (f"ClassRuns: {len(self.runs)} students' runs ({batched} batched in {self.batches} "
                f"batch{'es' if self.batches != 1 else ''}, {len(self.runs) - batched} alone); "
                f"{problems} problem{'s' if problems != 1 else ''}")

    # --- building -------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, path, *, batched: bool = True, max_bytes: int = MAX_FILE_BYTES, max_files: int = MAX_FILES,
                    max_work: int = CLASS_MAX_WORK, progress: bool = False) -> ClassRuns:
        """Read every ``*.json`` in ``path`` (one student each, named by the file) and replay them.

        ``batched=False`` replays every config alone (the panel's own runs); ``progress=True`` shows
        a bar (tqdm). Files that cannot be used are in ``.problems``.
        """
        check_type("path", path, (str, os.PathLike), "a folder of .json configs")
        folder = Path(path)
        require(folder.is_dir(), "path", str(path), "a folder of .json configs (one file per student)")
        for name, value in (("max_bytes", max_bytes), ("max_files", max_files)):
            check_type(name, value, int, "an integer >= 1")
            require(value >= 1, name, value, "an integer >= 1")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json" and not p.name.startswith("."))
        problems, configs, names = [], {}, {}
        for index, file in enumerate(files):
            if index == max_files:
                problems.append(Problem(f"{len(files) - max_files} more files", "too many files",
                                        f"only the first {max_files} files (by name) are read"))
                break
            if file.stem in names:
                problems.append(Problem(file.name, "invalid", f"{names[file.stem]} already names the student "
                                                              f"{shown(file.stem)}"))
                continue
            names[file.stem] = file.name
            try:
                configs[file.stem] = _read_json(file, max_bytes)
            except _Refused as refused:
                problems.append(Problem(file.name, refused.kind, refused.reason))
        return cls.from_configs(configs, batched=batched, max_work=max_work, progress=progress, files=names,
                                problems=problems)

    @classmethod
    def from_configs(cls, configs: dict, *, batched: bool = True, max_work: int = CLASS_MAX_WORK,
                     progress: bool = False, files: dict | None = None, problems=()) -> ClassRuns:
        """Replay ``configs`` (student → a dict as ``TrainingPanel.config()`` gives it), checked as from_folder does.

        ``files`` names each student's file in the problems (the student's name by default).
        """
        check_type("configs", configs, dict, "a dict: student name → config dict")
        check_type("batched", batched, bool, "True or False")
        check_type("max_work", max_work, int, "a replay budget >= 0 (units of step_work)")
        require(max_work >= 0, "max_work", max_work, "a replay budget >= 0 (units of step_work)")
        files = files or {}
        problems, plans, left = list(problems), {}, max_work
        for name, data in configs.items():
            check_type("student name", name, str, "a string")
            try:
                config, steps, work = _checked(data, left)
            except _Refused as refused:
                problems.append(Problem(files.get(name, name), refused.kind, refused.reason))
                continue
            plans[name], left = (config, steps), left - work
        runs, batches = cls._replay(plans, batched, progress, problems, files)
        return cls(runs, problems, batches)

    @staticmethod
    def _replay(plans: dict, batched: bool, progress: bool, problems: list, files: dict):
        """name → StudentRun for every plan; batches where the runs allow; failures go to ``problems``."""
        same: dict = {}                        # a replay's settings → the first student with them
        twins: dict = {}                       # a student → the student whose identical run they share
        for name, (config, steps) in plans.items():
            twins[name] = same.setdefault(json.dumps(_run_key(config, steps), sort_keys=True), name)
        groups, alone = {}, []
        for name in dict.fromkeys(twins.values()):
            config, steps = plans[name]
            key = _batch_key(config, steps) if batched else None
            if key is None:
                alone.append(name)
            else:
                groups.setdefault(key, []).append(name)
        for key in [k for k, names in groups.items() if len(names) < 2]:
            alone += groups.pop(key)           # one run alone: the panel's own way
        bar = _progress(len(alone) + sum(map(len, groups.values())), progress)
        runs, batches = {}, 0
        try:
            for names in groups.values():
                members = [(name, *plans[name]) for name in names]
                try:
                    done = _replay_batch(members)
                    batches += bool(done)
                except Exception:              # noqa: BLE001 -- replayed alone below, where a failure is named
                    done = {}
                runs.update(done)
                alone += [name for name in names if name not in done]
                if bar is not None:
                    bar.update(len(done))
            for name in alone:
                config, steps = plans[name]
                try:
                    runs[name] = _replay_alone(name, config, steps)
                except Exception as exc:       # noqa: BLE001 -- one student's run never stops the class
                    problems.append(Problem(files.get(name, name), "failed", f"{type(exc).__name__}: {str(exc)[:300]}"))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        for name, first in twins.items():
            if name == first:
                continue
            if first not in runs:
                problems.append(Problem(files.get(name, name), "failed",
                                        f"the same run as {files.get(first, first)[:80]}, whose replay failed"))
                continue
            run = runs[first]
            runs[name] = StudentRun(name, plans[name][0], run.steps, list(run.dice), list(run.plain),
                                    list(run.multipliers), dict(run.accuracy), dict(run.diverged), run.batched)
        return runs, batches

    # --- showing --------------------------------------------------------------------------------
    def plot(self, ax=None, log_scale: bool = False):
        """Every student's dice curve, labelled with the student's name, over the plain runs' band.

        The band spans, at each step, the lowest to the highest loss of the class's plain runs; the
        dashed line is their median. Returns the Figure.
        """
        check_type("log_scale", log_scale, bool, "True or False")
        if ax is None:
            fig, ax = new_figure(figsize=(8.0, 4.2))
        else:
            require(hasattr(ax, "plot") and hasattr(ax, "figure"), "ax", ax, "a matplotlib Axes or None")
            fig = ax.figure
        runs = list(self.runs.values())
        longest = max((max(len(r.dice), len(r.plain)) for r in runs), default=0)
        plain = np.full((max(len(runs), 1), max(longest, 1)), np.nan)
        for i, run in enumerate(runs):
            plain[i, :len(run.plain)] = run.plain
        x = np.arange(plain.shape[1])
        if runs:
            with warnings.catch_warnings():        # a step no run reached stays NaN: a gap, not a warning
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi, median = np.nanmin(plain, 0), np.nanmax(plain, 0), np.nanmedian(plain, 0)
            ax.fill_between(x, lo, hi, color=PALETTE["grey"], alpha=0.25, lw=0,
                            label="plain runs: lowest to highest")
            ax.plot(x, median, color=PALETTE["black"], lw=1.2, ls="--", label="plain runs: median")
        colours = _colours(len(runs))
        for colour, run in zip(colours, runs):
            ax.plot(np.arange(len(run.dice)), run.dice, color=colour, lw=1.0, label=run.name)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        ax.set_title(f"The class's dice runs over the band of their plain runs ({len(runs)} students)", fontsize=10)
        if log_scale:
            ax.set_yscale("log")
        else:
            _limit_y(ax, runs)
        if runs:
            ax.set_xlim(0, max(longest - 1, 1))
            ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
                      ncol=1 if len(runs) <= 16 else 2)
        return fig

    def table(self, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> ClassTable:
        """Each student's final loss and test accuracy, dice beside plain, and the class's mean difference.

        d_s = dice_s - plain_s for each student whose runs both finished; d̄ with a t interval and a
        bootstrap interval at ``confidence`` (:func:`rtt_edu.science.stats.paired_summary`, ``resamples``
        draws from ``seed``); fewer than 2 students: no interval.
        """
        rows, counted, left_out = [], [], {}
        for run in self.runs.values():
            loss, acc = run.final_loss, run.accuracy
            why = [f"the {name} run diverged at step {d[0]} ({d[1]})" for name, d in run.diverged.items() if d]
            if why:
                left_out[run.name] = "; ".join(why)
            else:
                counted.append(run)
            rows.append({"student": run.name, "steps": run.steps, "loss_dice": loss["dice"],
                         "loss_plain": loss["plain"], "loss_diff": _diff(loss["dice"], loss["plain"]),
                         "accuracy_dice": acc["dice"],
                         "accuracy_plain": acc["plain"], "accuracy_diff": _diff(acc["dice"], acc["plain"]),
                         "batched": run.batched, "note": left_out.get(run.name, "")})
        summaries = {"loss": None, "accuracy": None}
        if len(counted) >= 2:
            summaries["loss"] = paired_summary([r.final_loss["dice"] for r in counted],
                                               [r.final_loss["plain"] for r in counted], "lower", confidence,
                                               resamples, seed)
            summaries["accuracy"] = paired_summary([r.accuracy["dice"] for r in counted],
                                                   [r.accuracy["plain"] for r in counted], "higher", confidence,
                                                   resamples, seed)
        return ClassTable(rows, summaries["loss"], summaries["accuracy"], [r.name for r in counted], left_out,
                          confidence)


def _diff(a, b):
    return None if a is None or b is None else a - b


def _colours(n: int) -> list:
    """n distinct colours: matplotlib's tab20 (its darker half first), then tab20b, repeating."""
    from matplotlib import colormaps
    tab20 = list(colormaps["tab20"].colors)
    table = tab20[0::2] + tab20[1::2] + list(colormaps["tab20b"].colors)
    return [table[i % len(table)] for i in range(n)]


def _limit_y(ax, runs) -> None:
    """A y-axis from 0 to the curves' top, capped at 10 × the largest first loss (a diverging curve leaves the top)."""
    values = np.array([v for r in runs for v in (*r.dice, *r.plain) if math.isfinite(v)], dtype=np.float64)
    firsts = [c[0] for r in runs for c in (r.dice, r.plain) if c and math.isfinite(c[0])]
    if not len(values):
        return
    top = float(values.max())
    if firsts:
        top = min(top, 10.0 * max(firsts))
    ax.set_ylim(min(0.0, float(values.min())), top * 1.04 if top > 0 else 1.0)


@dataclass(repr=False)
class ClassTable:
    """The class's final losses and accuracies, dice beside plain, and the intervals of the mean difference.

    ``rows``: one dict a student (``student``, ``steps``, ``loss_dice``, ``loss_plain``, ``loss_diff``,
    ``accuracy_dice``, ``accuracy_plain``, ``accuracy_diff``, ``batched``, ``note``); ``loss`` and
    ``accuracy``: :func:`~rtt_edu.science.stats.paired_summary` of the students in ``counted`` (None
    for fewer than 2); ``left_out``: student → why their pair is not averaged.
    """
    rows: list
    loss: dict | None
    accuracy: dict | None
    counted: list
    left_out: dict
    confidence: float

    def summary(self) -> list:
        """The mean differences in words, one line each (loss, then accuracy)."""
        if self.loss is None:
            return [f"{len(self.counted)} student(s) with both runs finished: at least 2 are needed for an interval"]
        pct = f"{self.confidence:.0%}"
        lines = []
        for name, summary, better, digits in (("final loss", self.loss, "lower", 4),
                                              ("accuracy", self.accuracy, "higher", 3)):
            t, boot = summary["t"], summary["bootstrap"]
            word = _reading(t, better)
            lines.append(f"{name}, dice - plain, mean over {summary['n']} students: {t.estimate:+.{digits}f}; "
                         f"{pct} t interval [{t.lo:+.{digits}f}, {t.hi:+.{digits}f}], bootstrap "
                         f"[{boot.lo:+.{digits}f}, {boot.hi:+.{digits}f}]; dice {better} in {summary['wins']} of "
                         f"{summary['n']}: {word}")
        return lines

    def __str__(self):
        head = f"{'student':<14}{'steps':>6}{'loss dice':>11}{'plain':>9}{'dice-plain':>12}" \
               f"{'acc dice':>10}{'plain':>8}{'dice-plain':>12}  run"
        lines = [head]
        for row in self.rows:
            lines.append(f"{row['student'][:14]:<14}{row['steps']:>6}{_num(row['loss_dice'], 4):>11}"
                         f"{_num(row['loss_plain'], 4):>9}{_num(row['loss_diff'], 4, True):>12}"
                         f"{_num(row['accuracy_dice'], 3):>10}{_num(row['accuracy_plain'], 3):>8}"
                         f"{_num(row['accuracy_diff'], 3, True):>12}  {'batched' if row['batched'] else 'alone'}"
                         + (f"  ({row['note']})" if row["note"] else ""))
        lines += self.summary()
        lines += [f"left out: {name} ({why})" for name, why in self.left_out.items()]
        return "\n".join(lines)

    __repr__ = __str__                     # a notebook's plain-text view shows the table

    def _repr_html_(self):
        cells = ("student", "steps", "loss: dice", "loss: plain", "dice - plain", "accuracy: dice", "accuracy: plain",
                 "dice - plain", "run")
        out = ["<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr></thead><tbody>"]
        for row in self.rows:
            values = (row["student"], row["steps"], _num(row["loss_dice"], 4), _num(row["loss_plain"], 4),
                      _num(row["loss_diff"], 4, True), _num(row["accuracy_dice"], 3), _num(row["accuracy_plain"], 3),
                      _num(row["accuracy_diff"], 3, True),
                      ("batched" if row["batched"] else "alone") + (f": {row['note']}" if row["note"] else ""))
            out.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>")
        out.append("</tbody></table>")
        out += [f"<p>{html.escape(line)}</p>" for line in self.summary()]
        out += [f"<p>left out: {html.escape(name)} ({html.escape(why)})</p>" for name, why in self.left_out.items()]
        return "\n".join(out)


def _reading(interval, better: str) -> str:
    """The interval read as the stats module's verdict reads it: better, worse, or no difference detected."""
    good, bad = (interval.hi < 0, interval.lo > 0) if better == "lower" else (interval.lo > 0, interval.hi < 0)
    return "better" if good else "worse" if bad else "no difference detected"


def _num(value, digits: int, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
