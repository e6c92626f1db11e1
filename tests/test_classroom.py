"""The class's runs: every handed-in config replayed as the panel replays it, bad files listed, runs compared."""
import json
import math
import os

import pytest

from rtt_edu.classroom import PROBLEM_KINDS, ClassRuns
from rtt_edu.errors import RollToTrainError
from rtt_edu.science.stats import bootstrap_interval, t_interval
from rtt_edu.views.widgets import TrainingPanel
from rtt_edu.views.widgets.config import TrainingConfig

#: a small class: few points and steps, so a replay takes a few milliseconds.
SMALL = dict(points=120, hidden=8, experience=False)
STEPS = 40


def handed_in(seed, steps=STEPS, **settings) -> dict:
    """What a student's ``panel.config()`` gives for these settings after ``steps`` steps."""
    return {**TrainingConfig.from_dict({**SMALL, **settings, "seed": seed}).to_dict(), "steps": steps}


def write(folder, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")


def replayed_alone(cfg: dict) -> dict:
    """The config replayed by the panel itself, ``TrainingPanel.from_config``: its curves, rolls and accuracy."""
    panel = TrainingPanel.from_config(cfg, figures="static")
    try:
        run = panel.run
        return {"dice": [float(v) for v in run.history.losses], "plain": [float(v) for v in run.plain_losses],
                "multipliers": list(run.history.multipliers), "accuracy": run.accuracy(), "diverged": run.diverged}
    finally:
        panel.close()


@pytest.fixture
def one_class(tmp_path):
    """Four batchable students, one with experience on (replayed alone), one with another rule (alone too)."""
    configs = {"ada": handed_in(3), "bo": handed_in(11), "cy": handed_in(5), "di": handed_in(8),
               "eve": handed_in(2, experience=True), "fay": handed_in(4, rules="lr-dropout")}
    write(tmp_path, {f"{name}.json": cfg for name, cfg in configs.items()})
    return tmp_path, configs


def test_a_run_replayed_alone_equals_the_panels_own_replay_number_for_number(one_class):
    folder, configs = one_class
    runs = ClassRuns.from_folder(folder, batched=False)
    assert runs.students == sorted(configs) and runs.problems == []
    for name, cfg in configs.items():
        run, panel = runs[name], replayed_alone(cfg)
        assert not run.batched
        assert run.dice == panel["dice"] and run.plain == panel["plain"]             # every float, exactly
        assert run.multipliers == panel["multipliers"] and run.accuracy == panel["accuracy"]
        assert len(run.dice) == len(run.plain) == STEPS


def test_batched_runs_have_the_panels_rolls_and_its_losses_to_float_rounding(one_class):
    folder, configs = one_class
    runs = ClassRuns.from_folder(folder)
    assert runs.batches == 1 and [n for n in runs.students if runs[n].batched] == ["ada", "bo", "cy", "di"]
    assert runs["eve"].dice == replayed_alone(configs["eve"])["dice"]   # experience on: alone, exact
    assert not runs["fay"].batched                                     # a rule no one else has: alone
    for name in ("ada", "bo", "di"):
        run, panel = runs[name], replayed_alone(configs[name])
        assert run.multipliers == panel["multipliers"]                 # the same dice, roll for roll
        assert run.accuracy == panel["accuracy"]
        for mine, theirs in ((run.dice, panel["dice"]), (run.plain, panel["plain"])):
            assert len(mine) == len(theirs) == STEPS
            assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7) for a, b in zip(mine, theirs))
    assert len({tuple(runs[n].multipliers) for n in ("ada", "bo", "cy", "di")}) == 4   # each student's own dice


def test_bad_files_are_listed_with_their_reasons_and_the_others_still_show(tmp_path):
    huge_steps = handed_in(1, steps=10 ** 6, points=20000, hidden=256, layers=6)
    write(tmp_path, {
        "ada.json": handed_in(1), "bo.json": handed_in(2),
        "broken.json": '{"lr": 0.1, "steps": 40',
        "binary.json": b"\xff\xfe\x00 not text",
        "nan.json": '{"lr": NaN, "steps": 40}',
        "array.json": "[1, 2, 3]",
        "deep.json": "[" * 50_000 + "]" * 50_000,
        "nested.json": {"rules": json.loads("[" * 12 + "]" * 12), "steps": 40},
        "wide.json": {"monsters": list(range(20_000)), "steps": 40},
        "digits.json": '{"steps": ' + "9" * 5000 + "}",
        "newer.json": {**handed_in(1), "mana": 3},
        "compare.json": {"seeds": 32, "steps": 300, "lr": 0.1},
        "negative.json": {**handed_in(1), "lr": -1},
        "untrained.json": {**handed_in(1), "steps": 0},
        "costly.json": huge_steps,
        "huge.json": " " * 2_000_001,
        "notes.txt": "not a config: ignored",
    })
    (tmp_path / "folder.json").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.json")                    # would block a plain open(): refused, not waited on
    runs = ClassRuns.from_folder(tmp_path)
    assert runs.students == ["ada", "bo"] and all(runs[n].batched for n in runs.students)
    kinds = {p.file: p.kind for p in runs.problems}
    assert kinds == {"broken.json": "not JSON", "binary.json": "not JSON", "nan.json": "not JSON",
                     "array.json": "not JSON", "deep.json": "hostile", "nested.json": "hostile", "wide.json": "hostile",
                     "digits.json": "hostile", "newer.json": "another version", "compare.json": "another version",
                     "negative.json": "invalid", "untrained.json": "empty", "costly.json": "too costly",
                     "huge.json": "too large", "folder.json": "unreadable",
                     **({"pipe.json": "unreadable"} if hasattr(os, "mkfifo") else {})}
    assert set(kinds.values()) <= set(PROBLEM_KINDS)
    reasons = {p.file: p.reason for p in runs.problems}
    assert "line 1" in reasons["broken.json"] and "NaN" in reasons["nan.json"]
    assert "'mana'" in reasons["newer.json"] and "ComparePanel" in reasons["compare.json"]
    assert reasons["negative.json"].startswith("lr=-1: expected")
    assert "steps=1,000,000" in reasons["costly.json"] and "1,000,000 bytes" in reasons["huge.json"]
    assert all(len(p.reason) < 300 for p in runs.problems)          # a short prefix of a bad value, never all of it
    assert [str(p) for p in runs.problems][0].startswith("array.json: not JSON: ")


def test_the_class_budget_and_the_file_cap_name_what_was_left_out(tmp_path):
    write(tmp_path, {f"s{i}.json": handed_in(i) for i in range(4)})
    one = TrainingConfig.from_dict(SMALL)
    from rtt_edu.views.widgets.run import step_work
    runs = ClassRuns.from_folder(tmp_path, max_work=2 * STEPS * step_work(one))
    assert runs.students == ["s0", "s1"] and {p.file: p.kind for p in runs.problems} == {"s2.json": "too costly",
                                                                                       "s3.json": "too costly"}
    capped = ClassRuns.from_folder(tmp_path, max_files=3)
    assert capped.students == ["s0", "s1", "s2"] and [p.kind for p in capped.problems] == ["too many files"]


def test_a_folder_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(RollToTrainError, match="path="):
        ClassRuns.from_folder(tmp_path / "missing")


def test_a_shared_config_is_replayed_once_and_shown_for_each_student(tmp_path):
    write(tmp_path, {"ada.json": handed_in(7), "bo.json": {**handed_in(7), "horizon": 500}, "cy.json": handed_in(9)})
    runs = ClassRuns.from_folder(tmp_path)
    assert runs.students == ["ada", "bo", "cy"]
    assert runs["ada"].dice == runs["bo"].dice and runs["ada"].dice != runs["cy"].dice
    assert runs["bo"].config.horizon == 500


def test_a_diverging_batched_run_is_replayed_alone_and_left_out_of_the_interval(tmp_path):
    write(tmp_path, {"calm1.json": handed_in(1), "calm2.json": handed_in(2), "calm3.json": handed_in(3),
                     "wild1.json": handed_in(1, lr=100.0, rules="seed-readme"),
                     "wild2.json": handed_in(2, lr=100.0, rules="seed-readme")})
    runs = ClassRuns.from_folder(tmp_path)
    wild = [runs[n] for n in ("wild1", "wild2")]
    assert all(not run.batched and any(run.diverged.values()) for run in wild)
    for name in ("wild1", "wild2"):                                     # stopped the panel's way, at the same step
        panel = replayed_alone(handed_in(int(name[-1]), lr=100.0, rules="seed-readme"))
        assert runs[name].diverged == panel["diverged"] and runs[name].dice == panel["dice"]
    table = runs.table()
    assert table.counted == ["calm1", "calm2", "calm3"] and set(table.left_out) == {"wild1", "wild2"}
    assert "diverged at step" in table.left_out["wild1"] and "left out: wild1" in str(table)


def test_each_dice_run_is_paired_with_its_own_plain_run(one_class):
    folder, configs = one_class
    runs = ClassRuns.from_folder(folder, batched=False)
    table = runs.table()
    assert [row["student"] for row in table.rows] == sorted(configs)
    finals = {row["loss_plain"] for row in table.rows}
    assert len(finals) == len(configs)                       # every student's plain run is their own
    for row in [r for r in table.rows if r["student"] in ("ada", "eve", "fay")]:
        cfg = configs[row["student"]]
        plain_rules = replayed_alone({**cfg, "rules": "plain"})            # the same config under the plain rule
        assert row["loss_plain"] == plain_rules["dice"][-1] == runs[row["student"]].plain[-1]
        assert row["accuracy_plain"] == plain_rules["accuracy"]["dice"]
        assert row["loss_diff"] == row["loss_dice"] - row["loss_plain"]
        assert row["accuracy_diff"] == row["accuracy_dice"] - row["accuracy_plain"]


def test_the_interval_of_the_mean_difference_is_the_stats_modules(one_class):
    folder, _ = one_class
    runs = ClassRuns.from_folder(folder)
    table = runs.table(confidence=0.9, resamples=2000, seed=5)
    loss_diffs = [r.dice[-1] - r.plain[-1] for r in runs.runs.values()]
    accuracy_diffs = [r.accuracy["dice"] - r.accuracy["plain"] for r in runs.runs.values()]
    assert table.loss["t"] == t_interval(loss_diffs, 0.9)
    assert table.loss["bootstrap"] == bootstrap_interval(loss_diffs, 0.9, 2000, 5)
    assert table.accuracy["t"] == t_interval(accuracy_diffs, 0.9)
    assert table.loss["n"] == table.accuracy["n"] == len(runs)
    t = table.loss["t"]
    assert f"[{t.lo:+.4f}, {t.hi:+.4f}]" in table.summary()[0] and "90% t interval" in table.summary()[0]
    assert "<table>" in table._repr_html_() and str(table).count("\n") == len(runs) + 2


def test_one_student_gives_a_table_without_an_interval(tmp_path):
    write(tmp_path, {"solo.json": handed_in(1)})
    table = ClassRuns.from_folder(tmp_path).table()
    assert table.loss is None and table.accuracy is None and "at least 2" in table.summary()[0]


def test_the_plot_draws_one_labelled_dice_curve_per_student_over_the_plain_band(one_class):
    folder, _ = one_class
    runs = ClassRuns.from_folder(folder)
    fig = runs.plot()
    assert type(fig.canvas).__name__ == "FigureCanvasAgg"               # headless: no pyplot, no display
    ax = fig.axes[0]
    labelled = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(runs.students) <= set(labelled)
    assert len([label for label in labelled if label in runs.runs]) == len(runs) == 6
    for name in runs.students:
        assert list(labelled[name].get_ydata()) == runs[name].dice
    (band,) = [c for c in ax.collections if c.get_label() == "plain runs: lowest to highest"]
    heights = band.get_paths()[0].vertices[:, 1]
    plain = [v for name in runs.students for v in runs[name].plain]
    assert math.isclose(heights.min(), min(plain)) and math.isclose(heights.max(), max(plain))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert set(runs.students) <= set(legend)
    fig.canvas.draw()                                                   # it renders


def test_a_replay_that_raises_is_a_problem_and_the_class_goes_on(tmp_path, monkeypatch):
    import rtt_edu.classroom as classroom
    real = classroom.ToyRun

    def toy_run(config):
        if config.seed == 13:
            raise RuntimeError("out of memory")
        return real(config)

    monkeypatch.setattr(classroom, "ToyRun", toy_run)
    write(tmp_path, {"ada.json": handed_in(13, experience=True), "bo.json": handed_in(13, experience=True),
                     "cy.json": handed_in(14, experience=True)})
    runs = ClassRuns.from_folder(tmp_path)
    assert runs.students == ["cy"]
    assert [(p.file, p.kind) for p in runs.problems] == [("ada.json", "failed"), ("bo.json", "failed")]
    assert runs.problems[0].reason == "RuntimeError: out of memory"
    assert runs.problems[1].reason == "the same run as ada.json, whose replay failed"
