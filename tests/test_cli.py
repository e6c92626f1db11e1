"""The ``rtt-edu`` command: lessons from the installed package, JupyterLab's command line, errors.

Commands run in-process through ``main(argv)``; one real subprocess checks ``python -m rtt_edu``.
JupyterLab is not started here: ``cli.run_command`` is replaced by a recorder, and small stand-in
servers check how it waits and reports. tests/test_lab_server.py starts the real JupyterLab.
"""
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rtt_edu import cli
from rtt_edu.game.rules import SavingThrow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def repo_lessons() -> list:
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def repo_notes() -> list:
    """The notes beside the lessons: the course map README.md, the glossary, ..."""
    return sorted(p.name for p in NOTEBOOKS.glob("*.md"))


def edit(path, answer="my answers") -> bytes:
    """A learner's edit: a cell added to the notebook at ``path`` (still a valid notebook); its new bytes."""
    notebook = json.loads(path.read_text())
    notebook["cells"].append({"cell_type": "markdown", "id": "mine", "metadata": {}, "source": answer})
    path.write_text(json.dumps(notebook))
    return path.read_bytes()


def copied_sentence(folder) -> str:
    notes = repo_notes()
    named = ", ".join(notes[:-1]) + " and " + notes[-1] if len(notes) > 1 else notes[0]
    return f"copied the {len(repo_lessons())} lessons with {named} into {folder}/"


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
    calls, runs = [], []

    def fake(cmd, env=None, address=None, lesson=None):
        calls.append(list(cmd))
        runs.append({"env": env, "address": address, "lesson": lesson})
        return fake.status

    fake.status = 0
    monkeypatch.setattr(cli, "run_command", fake)
    fake.calls, fake.runs = calls, runs
    return fake


@pytest.fixture
def as_user(monkeypatch):
    """``as_user(0)`` makes ``rtt-edu lab`` see root, ``as_user(1000)`` an ordinary user."""
    def become(uid):
        monkeypatch.setattr(cli.os, "geteuid", lambda: uid)
    return become


def expected_command(folder, first, port, root, no_browser=False):
    return ([sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.resolve()}",
             f"--LabApp.default_url=/lab/tree/{first}", "--ServerApp.port_retries=0"]
            + ["--allow-root"] * root + ["--no-browser"] * no_browser + [f"--port={port}"])


# --- the lessons in the package ----------------------------------------------------------------
def test_packaged_lessons_are_the_notebooks_folder_in_course_order():
    names = [f.name for f in cli.lesson_files()]
    assert names == repo_lessons()
    assert names == sorted(names) and len(names) >= 1
    root = cli.lessons_folder()
    for name in names:      # the very same bytes, not a stale copy
        assert (root / name).read_bytes() == (NOTEBOOKS / name).read_bytes()


def test_lessons_copies_every_lesson_and_the_course_map(tmp_path, capsys):
    target = tmp_path / "course" / "week1"          # created, parents too
    code, out, _ = run_main(["lessons", str(target)], capsys)
    assert code == 0
    copied = sorted(p.name for p in target.iterdir())
    assert "README.md" in repo_notes()
    assert copied == sorted(repo_lessons() + repo_notes())
    for name in copied:
        assert (target / name).read_bytes() == (NOTEBOOKS / name).read_bytes()
    assert out == copied_sentence(target) + "\n"


def test_lessons_keeps_a_learners_edits_unless_forced_and_then_keeps_them_as_a_backup(tmp_path, capsys):
    first = repo_lessons()[0]
    run_main(["lessons", str(tmp_path)], capsys)
    mine = edit(tmp_path / first)
    code, out, _ = run_main(["lessons", str(tmp_path)], capsys)
    assert code == 0 and (tmp_path / first).read_bytes() == mine
    assert "kept" in out and "--force" in out
    assert out.startswith(f"kept the {len(repo_lessons())} lessons already in {tmp_path}/ as they were")
    code, out, _ = run_main(["lessons", str(tmp_path), "--force"], capsys)
    assert code == 0 and (tmp_path / first).read_bytes() == (NOTEBOOKS / first).read_bytes()
    (backup,) = tmp_path.glob(f"{first[:-len('.ipynb')]}.backup-*.ipynb")
    assert backup.read_bytes() == mine and not cli.LESSON_NAME.match(backup.name)
    rest = len(repo_lessons()) - 1
    assert out == (f"replaced 1 lesson in {tmp_path}/ with a fresh copy from the package, keeping your copy as "
                   f"{backup.name}; {rest} lesson{'s' * (rest != 1)} in {tmp_path}/ already matched the package\n")
    code, out, _ = run_main(["lessons", str(tmp_path), "--force"], capsys)     # nothing left to replace
    assert code == 0 and out == f"{len(repo_lessons())} lessons in {tmp_path}/ already matched the package\n"
    assert list(tmp_path.glob("*.backup-*")) == [backup]


def test_the_copy_report_counts_lessons_copied_and_kept_in_one_sentence(tmp_path, capsys):
    lessons = repo_lessons()
    run_main(["lessons", str(tmp_path)], capsys)
    (tmp_path / lessons[0]).unlink()                 # one lesson missing, the others (and the map) there
    code, out, _ = run_main(["lessons", str(tmp_path)], capsys)
    assert code == 0
    kept = len(lessons) - 1
    assert out == (f"copied 1 lesson into {tmp_path}/; kept the {kept} lesson{'s' * (kept != 1)} already in "
                   f"{tmp_path}/ as they were (your edits stay; `rtt-edu lessons {tmp_path}/ --force` replaces "
                   f"them with fresh copies, keeping yours as backups)\n")


def test_lessons_into_a_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("x")
    code, _, err = run_main(["lessons", str(path)], capsys)
    assert_one_line_error(code, err, "lessons")
    assert "notes.txt" in err and "not a directory" in err
    assert path.read_text() == "x"


# --- lab ------------------------------------------------------------------------------------
def test_lab_copies_the_lessons_and_opens_jupyterlab_on_the_first(tmp_path, capsys, launcher, as_user):
    as_user(1000)
    target = tmp_path / "class"
    code, out, _ = run_main(["lab", str(target)], capsys)
    assert code == 0
    first = repo_lessons()[0]                        # the first by name, whatever the course starts with
    assert (target / first).read_bytes() == (NOTEBOOKS / first).read_bytes()
    (run,) = launcher.runs
    port = run["address"].port
    assert launcher.calls == [expected_command(target, first, port, root=False)]
    assert out == f"{copied_sentence(target)}: opening JupyterLab on {first}\n"
    assert run["lesson"] == first


def test_lab_as_root_passes_allow_root_and_says_so_in_one_line(tmp_path, capsys, launcher, as_user):
    as_user(0)
    code, out, _ = run_main(["lab", str(tmp_path), "--port", "9124"], capsys)
    assert code == 0
    assert launcher.calls == [expected_command(tmp_path, repo_lessons()[0], 9124, root=True)]
    lines = out.splitlines()
    assert lines[1] == cli.ROOT_NOTE and "--allow-root" in lines[1] and len(lines) == 2


def test_lab_hands_jupyterlab_its_token_through_the_environment(tmp_path, capsys, launcher, monkeypatch):
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    run_main(["lab", str(tmp_path), "--port", "9125"], capsys)
    run_main(["lab", str(tmp_path), "--port", "9125"], capsys)
    first, second = launcher.runs
    token = first["address"].token
    assert len(token) >= 32 and token != second["address"].token          # a new secret each time
    assert first["env"]["JUPYTER_TOKEN"] == token
    assert {k: v for k, v in first["env"].items() if k != "JUPYTER_TOKEN"} == dict(os.environ)
    assert not any(token in arg for arg in launcher.calls[0])              # never on the command line (ps)
    assert first["address"].url("/lab/tree/x.ipynb") == f"http://localhost:9125/lab/tree/x.ipynb?token={token}"
    monkeypatch.setenv("JUPYTER_TOKEN", "my-own-token")                  # a token the user chose is kept
    run_main(["lab", str(tmp_path), "--port", "9125"], capsys)
    assert launcher.runs[-1]["address"].token == "my-own-token"


def test_lab_keeps_edited_lessons_and_passes_browser_and_port(tmp_path, capsys, launcher):
    first = repo_lessons()[0]
    port = cli.free_port(20000)
    tmp_path.joinpath(first).write_bytes((NOTEBOOKS / first).read_bytes())
    mine = edit(tmp_path / first)
    code, _, _ = run_main(["lab", str(tmp_path), "--no-browser", "--port", str(port)], capsys)
    assert code == 0 and tmp_path.joinpath(first).read_bytes() == mine
    assert launcher.calls[0][-2:] == ["--no-browser", f"--port={port}"]
    assert launcher.runs[0]["address"].port == port


def test_lab_without_a_port_takes_the_first_free_one_from_8888_and_says_so(tmp_path, capsys, launcher, monkeypatch):
    monkeypatch.setattr(cli, "JUPYTER_PORT", cli.free_port(20000))      # JupyterLab's first choice, free now
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as servers do: TIME_WAIT is no obstacle
        busy.bind(("127.0.0.1", cli.JUPYTER_PORT))                       # ... and now taken by another program
        busy.listen()
        code, out, _ = run_main(["lab", str(tmp_path)], capsys)
        assert code == 0 and cli.port_problem(cli.JUPYTER_PORT) is not None
    port = launcher.runs[0]["address"].port
    assert cli.JUPYTER_PORT < port < cli.JUPYTER_PORT + cli.PORT_TRIES
    assert launcher.calls[0][-1] == f"--port={port}"
    assert f"port {cli.JUPYTER_PORT} is taken by another program: JupyterLab will use port {port}" in out.splitlines()


def test_lab_refuses_a_port_another_program_holds_before_copying_or_printing_anything(tmp_path, capsys, launcher):
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as servers do: TIME_WAIT is no obstacle
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_main(["lab", str(tmp_path / "class"), "--port", str(port)], capsys)
    assert_one_line_error(code, err, "lab")
    assert out == "" and launcher.calls == [] and not (tmp_path / "class").exists()
    assert f"port {port} cannot be used: another program holds it" in err and "--port" in err


def test_lab_default_folder_is_created_in_the_working_directory(tmp_path, capsys, launcher, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_main(["lab"], capsys)[0] == 0
    folder = tmp_path / cli.DEFAULT_LAB_DIR
    assert sorted(p.name for p in folder.glob("*.ipynb")) == repo_lessons()
    assert launcher.calls[0][3] == f"--ServerApp.root_dir={folder.resolve()}"


def test_lab_in_the_lessons_own_folder_copies_nothing(capsys, launcher):
    root = cli.lessons_folder()
    if not (isinstance(root, Path) and root.resolve() == NOTEBOOKS.resolve()):
        pytest.skip("not an editable install: the packaged lessons are not the notebooks/ folder")
    before = {p.name: p.stat().st_mtime_ns for p in NOTEBOOKS.iterdir()}
    code, out, _ = run_main(["lab", str(NOTEBOOKS)], capsys)      # what `make lab` runs
    assert code == 0 and "same" in out and "copied" not in out
    assert out.startswith(f"the {len(repo_lessons())} lessons are already in {NOTEBOOKS}/ (this is a source checkout")
    assert out.splitlines()[0].endswith(f": opening JupyterLab on {repo_lessons()[0]}")
    assert {p.name: p.stat().st_mtime_ns for p in NOTEBOOKS.iterdir()} == before
    assert launcher.calls[0][3] == f"--ServerApp.root_dir={NOTEBOOKS.resolve()}"


def test_lab_returns_jupyterlabs_exit_status(tmp_path, capsys, launcher):
    launcher.status = 3
    assert run_main(["lab", str(tmp_path)], capsys)[0] == 3


# A stand-in for JupyterLab on the port it is given: answers GET /api as Jupyter does (its version, no
# login), then exits 0; exits 5 if any request carried a token (only a browser may send it).
JUPYTER_STAND_IN = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
seen = []
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"version": "2.0"}).encode() if self.path == "/api" else b"not found"
        self.send_response(200 if self.path == "/api" else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = HTTPServer(("localhost", int(sys.argv[1])), Handler)
while not any(path == "/api" for path, _ in seen):
    server.handle_request()
sys.exit(5 if any(token for _, token in seen) else 0)
"""


def test_run_command_prints_the_lesson_url_on_a_line_of_its_own_once_the_server_answers(capsys):
    address = cli.LabAddress(cli.free_port(20000), "s3cret")
    code = cli.run_command([sys.executable, "-c", JUPYTER_STAND_IN, str(address.port)],
                           address=address, lesson="01_roll the dice.ipynb")
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    url = f"http://localhost:{address.port}/lab/tree/01_roll%20the%20dice.ipynb?token=s3cret"
    lines = out.splitlines()
    assert url in lines and lines[lines.index(url) - 1].startswith("JupyterLab is serving the lessons")
    assert f"ssh -L {address.port}:localhost:{address.port}" in out


def test_run_command_says_when_jupyterlab_stops_before_serving(capsys):
    address = cli.LabAddress(cli.free_port(20000), "s3cret")
    code = cli.run_command([sys.executable, "-c", "import sys; sys.exit(3)"], address=address, lesson="a.ipynb")
    out, err = capsys.readouterr()
    assert code == 3 and "token" not in out
    assert err == ("rtt-edu lab: JupyterLab stopped (exit status 3) before it served the lessons; "
                   "its messages above say why\n")


def test_an_address_nothing_listens_on_does_not_answer():
    port = cli.free_port(20000)
    assert not cli.LabAddress(port, "x").is_jupyter()
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as servers do: TIME_WAIT is no obstacle
        busy.bind(("127.0.0.1", port))
        busy.listen()
        assert cli.free_port(port, tries=3) > port                     # the busy one is skipped
        with pytest.raises(cli.UsageError, match=f"no free port from {port} to {port}: choose one with --port"):
            cli.free_port(port, tries=1)


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


def test_every_subpackage_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    folders = {str(Path(name).parent).replace("/", ".") for name in _source_files()
               if name.startswith("rtt_edu/") and name.endswith(".py")}
    assert sorted(set(listed) - {"rtt_edu.lessons"}) == sorted(folders), \
        "[tool.setuptools] packages in pyproject.toml must list every folder of rtt_edu/ with modules"
    assert len(listed) == len(set(listed)) and "rtt_edu.lessons" in listed


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
        assert lessons == set(repo_lessons()) | set(repo_notes())          # data only: no __init__.py
        for name in repo_lessons():
            assert archive.read(f"rtt_edu/lessons/{name}") == (src / "notebooks" / name).read_bytes()   # as built
        modules = {n for n in _source_files() if n.startswith("rtt_edu/") and n.endswith(".py")}
        assert modules <= names, f"missing from the wheel (add the subpackage to pyproject.toml): {modules - names}"
        assert "rtt_edu/views/course.mplstyle" in names          # the lessons' figure style, as package data
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "rtt-edu = rtt_edu.cli:main" in archive.read(entry_points).decode()
    # Installed from the wheel (not the editable install of this checkout), `rtt-edu lessons` copies them.
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    env = dict(os.environ, PYTHONPATH=str(site))
    style = "import matplotlib.pyplot as plt; plt.style.use('rtt_edu.views.course')"
    done = subprocess.run([sys.executable, "-c", style], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]                # a lesson's first cell finds it installed
    done = subprocess.run([sys.executable, "-c", "import sys, rtt_edu.cli as c; print(c.lessons_folder()); "
                           "sys.exit(c.main(['lessons', 'course']))"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    folder, said = done.stdout.splitlines()
    assert folder == str(site / "rtt_edu" / "lessons") and said == copied_sentence("course")
    for name in repo_lessons() + repo_notes():
        assert (tmp_path / "course" / name).read_bytes() == (src / "notebooks" / name).read_bytes()


def test_the_lessons_folder_is_not_a_python_package():
    """A student's file browser shows the course only: no __init__.py among the lessons."""
    assert not list(NOTEBOOKS.glob("*.py"))
    if cli.lessons_folder() != NOTEBOOKS:
        pytest.skip("not an editable install: the package's lessons are a copy of notebooks/")
    assert [f.name for f in cli.lesson_files()] == repo_lessons()


# --- demo ----------------------------------------------------------------------------------------
def hand_written_plain_run(steps, seed):
    """The plain run written out with PyTorch alone: the oracle for the demo's plain run."""
    config = cli.DemoConfig()
    import torch

    from rtt_edu.data import make_dataset
    from rtt_edu.models import mlp
    data = make_dataset(config.dataset, n=config.points, noise=config.noise, seed=seed)
    model = mlp(2, config.hidden, data.classes, seed=seed)
    assert config.optimizer == "momentum"
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
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
