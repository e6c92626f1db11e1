"""``rtt-edu lessons DIR`` never loses a student's lesson: whole files only, damaged lessons set aside,
``--force`` keeps the edited copy, and a full disk changes nothing.

The full disk is real: the command runs in a subprocess whose file-size limit (``RLIMIT_FSIZE``) is
60,000 bytes, below every lesson's size, with ``SIGXFSZ`` ignored so that a write past it fails
with ``EFBIG`` as a write to a full disk fails with ``ENOSPC``.
"""
import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rtt_edu import cli

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LIMIT = 60_000          # bytes a file may grow to in the limited subprocess


def lessons() -> list:
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def edit(path: Path) -> bytes:
    """A student's edit: an answer cell added to the notebook (still a valid notebook); its bytes."""
    notebook = json.loads(path.read_text())
    notebook["cells"].append({"cell_type": "markdown", "id": "mine", "metadata": {}, "source": "my answer"})
    path.write_text(json.dumps(notebook, indent=1))
    return path.read_bytes()


def snapshot(folder: Path) -> dict:
    """Every entry of ``folder`` (hidden ones too) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def full_disk():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def run_cli(args, limited=True, hard_links=True):
    """``rtt-edu ARGS`` in a subprocess, on a full disk unless ``limited`` is false; ``hard_links=False``
    runs it as on a file system without hard links (``os.link`` refused)."""
    code = "import sys\nfrom rtt_edu import cli\n"
    if not hard_links:
        code += ("def refuse(*args, **kwargs):\n    raise PermissionError(1, 'Operation not permitted')\n"
                 "cli.os.link = refuse\n")
    code += "sys.exit(cli.main(sys.argv[1:]))\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=full_disk if limited else None)


@pytest.fixture(scope="module", autouse=True)
def lessons_exceed_the_limit():
    small = [name for name in lessons() if (NOTEBOOKS / name).stat().st_size <= LIMIT]
    assert not small, f"these lessons fit under the {LIMIT}-byte limit, which then tests nothing for them: {small}"


def assert_clear_disk_error(done, name):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("rtt-edu lessons: error: cannot write ") and name in error, done.stderr
    assert "the disk is full or the file is over a size limit" in error
    assert "?token=" not in done.stdout


# --- a full disk ---------------------------------------------------------------------------------------
def test_a_copy_cut_off_by_a_full_disk_leaves_no_half_written_lesson(tmp_path):
    done = run_cli(["lessons", tmp_path / "course"])
    assert snapshot(tmp_path / "course") == {}              # no lesson, no temporary file
    assert_clear_disk_error(done, lessons()[0])
    assert "no half-written file was left" in done.stderr
    again = run_cli(["lessons", tmp_path / "course"], limited=False)
    assert again.returncode == 0 and "copied the" in again.stdout
    assert all(data == (NOTEBOOKS / name).read_bytes() for name, data in snapshot(tmp_path / "course").items())


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard-links", "no-hard-links"])
def test_force_on_a_full_disk_keeps_the_students_edited_lesson(tmp_path, hard_links):
    first = lessons()[0]
    assert run_cli(["lessons", tmp_path], limited=False).returncode == 0
    edit(tmp_path / first)
    before = snapshot(tmp_path)
    done = run_cli(["lessons", tmp_path, "--force"], hard_links=hard_links)
    assert snapshot(tmp_path) == before                     # byte-identical, no backup or temporary file left
    assert_clear_disk_error(done, first)
    assert f"the {first} there is unchanged" in done.stderr


def test_a_damaged_lesson_on_a_full_disk_stays_as_it_was(tmp_path):
    first = lessons()[0]
    damaged = (NOTEBOOKS / first).read_bytes()[:LIMIT]      # what a write cut off at the limit used to leave
    (tmp_path / first).write_bytes(damaged)
    done = run_cli(["lessons", tmp_path])
    assert snapshot(tmp_path) == {first: damaged}
    assert_clear_disk_error(done, first)
    assert "kept" not in done.stdout


# --- damaged lessons and backups -----------------------------------------------------------------------
def test_a_damaged_lesson_is_set_aside_and_replaced_never_reported_as_kept(tmp_path):
    first = lessons()[0]
    assert run_cli(["lessons", tmp_path], limited=False).returncode == 0
    damaged = (NOTEBOOKS / first).read_bytes()[:LIMIT]
    (tmp_path / first).write_bytes(damaged)
    done = run_cli(["lessons", tmp_path], limited=False)
    assert done.returncode == 0, done.stderr
    (backup,) = tmp_path.glob(f"{first[:-len('.ipynb')]}.damaged-*.ipynb")
    assert backup.read_bytes() == damaged and (tmp_path / first).read_bytes() == (NOTEBOOKS / first).read_bytes()
    said = done.stdout.strip().split("; ")
    assert said[0].startswith(f"{first} in {tmp_path}/ was damaged (it is not valid JSON: cut off or broken at line ")
    assert said[0].endswith(f"of its {LIMIT:,} bytes): set aside as {backup.name} and replaced with a fresh copy")
    rest = len(lessons()) - 1
    assert said[1].startswith(f"kept the {rest} lesson{'s' * (rest != 1)} already in {tmp_path}/ as they were")


@pytest.mark.parametrize("content, problem", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "the file is not text"),        # a picture saved under its name
    (b'{"cells": [', "it is not valid JSON: cut off or broken at line 1, column 12 of its 11 bytes"),
    (b"[1, 2]", "it is JSON but not a notebook"),
    (b'{"cells": "x", "nbformat": 4, "metadata": {}}', "it is JSON but not a notebook"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_what_makes_a_lesson_damaged(tmp_path, content, problem):
    path = tmp_path / "00_x.ipynb"
    path.write_bytes(content)
    assert problem in cli.notebook_problem(path)
    path.write_bytes((NOTEBOOKS / lessons()[0]).read_bytes())
    assert cli.notebook_problem(path) is None


def test_a_backups_name_is_listed_by_jupyterlab_opens_as_a_notebook_and_is_never_counted_as_a_lesson(tmp_path):
    contents = pytest.importorskip("jupyter_server.services.contents.filemanager").FileContentsManager()
    lesson = tmp_path / lessons()[0]
    lesson.write_text("x")
    first = cli.backup_path(lesson, "backup", now=0)
    first.write_text("y")
    second = cli.backup_path(lesson, "backup", now=0)         # the same second: the next free name
    assert first != second and first.parent == second.parent == tmp_path
    for path in (first, second, cli.backup_path(lesson, "damaged")):
        assert path.suffix == ".ipynb" and not path.name.startswith(".") and contents.should_list(path.name)
        assert not cli.LESSON_NAME.match(path.name) and path.name.startswith(lesson.stem + ".")
    notes = cli.backup_path(tmp_path / "README.md", "backup")
    assert notes.suffix == ".md" and notes.name.startswith("README.backup-")


def test_force_without_hard_links_keeps_a_copy_of_the_edited_lesson(tmp_path, capsys, monkeypatch):
    first = lessons()[0]
    cli.copy_lessons(tmp_path)
    mine = edit(tmp_path / first)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(cli.os, "link", refuse)
    actions = cli.copy_lessons(tmp_path, force=True)
    copied = actions[first]
    assert copied.action == "replaced" and (tmp_path / copied.backup).read_bytes() == mine
    assert (tmp_path / first).read_bytes() == (NOTEBOOKS / first).read_bytes()
    assert {c.action for name, c in actions.items() if name != first} == {"fresh"}


def test_a_failed_write_says_what_was_done_before_it(tmp_path, capsys, monkeypatch):
    """The second lesson meets a full disk: the first is whole and said so; the second is not made."""
    real = cli.atomic_write
    second = lessons()[1]

    def second_lesson_meets_a_full_disk(path, write, what="file", verify=None):
        def write_then_fail(fh):
            write(fh)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, write_then_fail if Path(path).name == second else write, what, verify)

    monkeypatch.setattr(cli, "atomic_write", second_lesson_meets_a_full_disk)
    with pytest.raises(SystemExit) as exited:
        cli.main(["lessons", str(tmp_path)])
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == f"before the error below: copied 1 lesson into {tmp_path}/\n"
    assert err.splitlines()[-1] == (
        f"rtt-edu lessons: error: cannot write {str(tmp_path / second)!r} (No space left on device: the disk is "
        f"full or the file is over a size limit): no half-written file was left, and the file written before it "
        f"is whole; make room and run the command again")
    assert snapshot(tmp_path) == {lessons()[0]: (NOTEBOOKS / lessons()[0]).read_bytes()}
