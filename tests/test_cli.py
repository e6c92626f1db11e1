"""The ``rtt-edu`` command: lessons from the installed package, JupyterLab's command line, errors.

Commands run in-process through ``main(argv)``; one real subprocess checks ``python -m rtt_edu``.
JupyterLab is never started: ``cli.run_command`` is replaced by a recorder.
"""
import importlib.metadata
import importlib.resources
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rtt_edu import cli
from rtt_edu.rules import SavingThrow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def repo_lessons() -> list:
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def run_main(argv, capsys):
    """(exit status, stdout, stderr) of ``main(argv)``, whether it returns or exits."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, command):
    assert code == 2
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    prefix = "rtt-edu" + (f" {command}" if command else "") + ": error: "
    assert errors[0].startswith(prefix), err


@pytest.fixture
def launcher(monkeypatch):
    """Records the commands ``rtt-edu lab`` would run instead of starting JupyterLab."""
    calls = []

    def fake(cmd):
        calls.append(list(cmd))
        return fake.status

    fake.status = 0
    monkeypatch.setattr(cli, "run_command", fake)
    fake.calls = calls
    return fake


# --- the lessons in the package ----------------------------------------------------------------
def test_packaged_lessons_are_the_notebooks_folder_in_course_order():
    names = [f.name for f in cli.lesson_files()]
    assert names == repo_lessons()
    assert names == sorted(names) and len(names) >= 1
    root = importlib.resources.files("rtt_edu.lessons")
    for name in names:      # the very same bytes, not a stale copy
        assert (root / name).read_bytes() == (NOTEBOOKS / name).read_bytes()


def test_lessons_copies_every_lesson_and_the_course_map(tmp_path, capsys):
    target = tmp_path / "course" / "week1"          # created, parents too
    code, out, _ = run_main(["lessons", str(target)], capsys)
    assert code == 0
    copied = sorted(p.name for p in target.iterdir())
    assert copied == sorted(repo_lessons() + ["README.md"])
    for name in copied:
        assert (target / name).read_bytes() == (NOTEBOOKS / name).read_bytes()
    assert f"{len(copied)} copied" in out


def test_lessons_keeps_a_learners_edits_unless_forced(tmp_path, capsys):
    first = repo_lessons()[0]
    run_main(["lessons", str(tmp_path)], capsys)
    (tmp_path / first).write_text("my answers")
    code, out, _ = run_main(["lessons", str(tmp_path)], capsys)
    assert code == 0 and (tmp_path / first).read_text() == "my answers"
    assert "kept" in out and "--force" in out
    code, out, _ = run_main(["lessons", str(tmp_path), "--force"], capsys)
    assert code == 0 and (tmp_path / first).read_bytes() == (NOTEBOOKS / first).read_bytes()
    assert "replaced" in out


def test_lessons_into_a_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("x")
    code, _, err = run_main(["lessons", str(path)], capsys)
    assert_one_line_error(code, err, "lessons")
    assert "notes.txt" in err and "not a directory" in err
    assert path.read_text() == "x"


# --- lab ------------------------------------------------------------------------------------
def test_lab_copies_the_lessons_and_opens_jupyterlab_on_the_first(tmp_path, capsys, launcher):
    target = tmp_path / "class"
    code, _, _ = run_main(["lab", str(target)], capsys)
    assert code == 0
    first = repo_lessons()[0]
    assert (target / first).read_bytes() == (NOTEBOOKS / first).read_bytes()
    assert launcher.calls == [[sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={target.resolve()}",
                               f"--LabApp.default_url=/lab/tree/{first}"]]


def test_lab_keeps_edited_lessons_and_passes_browser_and_port(tmp_path, capsys, launcher):
    first = repo_lessons()[0]
    tmp_path.joinpath(first).write_text("edited")
    code, _, _ = run_main(["lab", str(tmp_path), "--no-browser", "--port", "9123"], capsys)
    assert code == 0 and tmp_path.joinpath(first).read_text() == "edited"
    assert launcher.calls[0][-2:] == ["--no-browser", "--port=9123"]


def test_lab_default_folder_is_created_in_the_working_directory(tmp_path, capsys, launcher, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_main(["lab"], capsys)[0] == 0
    folder = tmp_path / cli.DEFAULT_LAB_DIR
    assert sorted(p.name for p in folder.glob("*.ipynb")) == repo_lessons()
    assert launcher.calls[0][3] == f"--ServerApp.root_dir={folder.resolve()}"


def test_lab_in_the_lessons_own_folder_copies_nothing(capsys, launcher):
    root = importlib.resources.files("rtt_edu.lessons")
    if not (isinstance(root, Path) and root.resolve() == NOTEBOOKS.resolve()):
        pytest.skip("not an editable install: the packaged lessons are not the notebooks/ folder")
    before = {p.name: p.stat().st_mtime_ns for p in NOTEBOOKS.iterdir()}
    code, out, _ = run_main(["lab", str(NOTEBOOKS)], capsys)      # what `make lab` runs
    assert code == 0 and "same" in out and "copied" not in out
    assert {p.name: p.stat().st_mtime_ns for p in NOTEBOOKS.iterdir()} == before
    assert launcher.calls[0][3] == f"--ServerApp.root_dir={NOTEBOOKS.resolve()}"


def test_lab_returns_jupyterlabs_exit_status(tmp_path, capsys, launcher):
    launcher.status = 3
    assert run_main(["lab", str(tmp_path)], capsys)[0] == 3


# --- help and errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("command, options", [
    ([], ["lab", "lessons", "demo"]),
    (["lab"], ["DIR", "--no-browser", "--port"]),
    (["lessons"], ["DIR", "--force"]),
    (["demo"], ["--out", "--steps", "--seed", "--preset", "classroom"]),
])
def test_help_of_each_command(command, options, capsys):
    code, out, _ = run_main(command + ["--help"], capsys)
    assert code == 0
    assert out.startswith("usage: " + " ".join(["rtt-edu"] + command))
    for option in options:
        assert option in out


@pytest.mark.parametrize("argv, command, quoted", [
    (["demo", "--steps", "0"], "demo", "'0'"),
    (["demo", "--steps", "many"], "demo", "'many'"),
    (["demo", "--seed", "-1"], "demo", "'-1'"),
    (["demo", "--preset", "lucky"], "demo", "'lucky'"),
    (["demo", "--out", "no/such/folder/plot.png"], "demo", "'no/such/folder'"),
    (["demo", "--out", "plot.txt"], "demo", "'plot.txt'"),
    (["demo", "--frobnicate"], "", "--frobnicate"),
    (["lab", "--port", "70000"], "lab", "'70000'"),
    (["lessons"], "lessons", "DIR"),
    (["roll"], "", "'roll'"),
    ([], "", "COMMAND"),
])
def test_bad_arguments_are_one_line_errors_with_status_2(argv, command, quoted, capsys, launcher):
    code, out, err = run_main(argv, capsys)
    assert_one_line_error(code, err, command)
    assert quoted in err
    assert launcher.calls == [] and out == ""


def test_a_value_the_library_refuses_is_a_one_line_error(monkeypatch, capsys):
    def demo_with_a_bad_rule(args):
        SavingThrow(sides=1)                  # the library's own validation (RulesError)
        raise AssertionError("SavingThrow(sides=1) was accepted")

    monkeypatch.setattr(cli, "cmd_demo", demo_with_a_bad_rule)
    code, _, err = run_main(["demo"], capsys)
    assert_one_line_error(code, err, "demo")
    assert "sides=1: expected a die with 2 to" in err


def test_python_dash_m_rtt_edu_in_a_subprocess(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "rtt_edu", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: rtt-edu")
    for command in ("lab", "lessons", "demo"):
        assert command in done.stdout


def test_the_console_script_is_declared():
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="rtt-edu")
    assert script.value == "rtt_edu.cli:main" and script.load() is cli.main


# --- packaging: the wheel carries the lessons ------------------------------------------------------
def _source_files() -> list:
    """The files git would take: tracked, plus new ones that are not ignored."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.mark.slow
def test_the_wheel_carries_every_module_and_every_lesson(tmp_path):
    src = tmp_path / "src"      # a clean copy: setuptools' build/ folder can keep deleted files
    for name in _source_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((ROOT / name).read_bytes())
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(src), "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("rtt_edu-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        lessons = {n.removeprefix("rtt_edu/lessons/") for n in names if n.startswith("rtt_edu/lessons/")}
        assert lessons == set(repo_lessons()) | {"README.md", "__init__.py"}
        for name in repo_lessons():
            assert archive.read(f"rtt_edu/lessons/{name}") == (NOTEBOOKS / name).read_bytes()
        modules = {n for n in _source_files() if n.startswith("rtt_edu/") and n.endswith(".py")}
        assert modules <= names, f"missing from the wheel (add the subpackage to pyproject.toml): {modules - names}"
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "rtt-edu = rtt_edu.cli:main" in archive.read(entry_points).decode()


# --- demo ----------------------------------------------------------------------------------------
def hand_written_plain_run(steps, seed, config=cli.DemoConfig()):
    """The plain run written out with PyTorch alone: the oracle for the demo's plain run."""
    import torch
    from rtt_edu.data import make_dataset
    from rtt_edu.models import mlp
    data = make_dataset(config.dataset, n=config.points, noise=config.noise, seed=seed)
    model = mlp(2, config.hidden, data.classes, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data.X_train), data.y_train)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_demo_plain_run_is_plain_pytorch_and_the_plain_preset_matches_it():
    plain, dice, _, _ = cli.train_demo(steps=25, seed=2, preset="plain", progress=False)
    assert plain.losses == hand_written_plain_run(25, 2)
    assert dice.losses == plain.losses                   # multiplier 1 on every step: exactly plain
    assert dice.history.multipliers == [1.0] * 25 and dice.mean_multiplier == 1.0


def test_demo_dice_run_rolls_scales_and_levels_up():
    plain, dice, _, _ = cli.train_demo(steps=60, seed=0, preset="classroom", progress=False)
    assert dice.losses[0] == plain.losses[0]             # same data, same initial weights
    multipliers = dice.history.multipliers
    assert len(multipliers) == 60 and set(multipliers) == {1.0, 0.75, 0.25, -0.5}   # the classroom bands
    assert dice.mean_multiplier == sum(multipliers) / 60 and dice.mean_multiplier < 1
    first_scaled = next(i for i, m in enumerate(multipliers) if m != 1.0)
    assert dice.losses[:first_scaled + 1] == plain.losses[:first_scaled + 1]
    assert dice.losses[first_scaled + 1] != plain.losses[first_scaled + 1]
    counts = dice.history.outcome_counts()
    assert dice.crits() == (counts["critical_success"], counts["critical_fail"])
    assert dice.level >= 2 and plain.level is None and plain.crits() is None


def test_demo_command_prints_the_table_saves_the_plot_and_shows_progress(tmp_path, capsys):
    out = tmp_path / "compare.png"
    code, stdout, stderr = run_main(["demo", "--out", str(out), "--steps", "30", "--seed", "1",
                                     "--preset", "lr-dropout"], capsys)
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    plain, dice, _, _ = cli.train_demo(steps=30, seed=1, preset="lr-dropout", progress=False)
    table = cli.demo_table(plain, dice)
    assert table in stdout                               # same seed, same numbers
    rows = table.splitlines()
    assert rows[2].split()[:2] == ["plain", f"{plain.final_loss:.4f}"]
    assert rows[3].split()[:3] == ["dice", "(lr-dropout)", f"{dice.final_loss:.4f}"]
    assert f"{dice.mean_multiplier:.3f}" in rows[3] and f"{dice.crits()[0]} / {dice.crits()[1]}" in rows[3]
    assert "30/30" in stderr                             # the tqdm progress bars
    assert f"plot saved to {out}" in stdout


def test_demo_figure_shows_both_runs():
    plain, dice, data, model = cli.train_demo(steps=15, seed=4, progress=False)
    fig = cli.demo_figure(plain, dice, data, model)
    curves = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].lines}
    assert curves["plain"] == plain.losses and curves["dice"] == dice.losses


def test_demo_depends_on_the_seed():
    a = cli.train_demo(steps=10, seed=5, progress=False)
    b = cli.train_demo(steps=10, seed=6, progress=False)
    assert a[0].losses != b[0].losses and a[1].history.multipliers != b[1].history.multipliers


def test_a_folder_that_cannot_be_created_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run_main(["lessons", str(tmp_path / "notes.txt" / "course")], capsys)
    assert_one_line_error(code, err, "lessons")
    assert "cannot create" in err and "Not a directory" in err
