"""The ``rtt-edu`` command (also ``python -m rtt_edu``): the course on your own machine.

    rtt-edu lab [DIR]      copy the lessons into DIR if missing there, open JupyterLab on the first one
                           (as any user: as root it passes --allow-root) and print its URL with the token
    rtt-edu lessons DIR    copy the lessons into DIR (a file already there is kept unless --force)
    rtt-edu demo           train the toy MLP plain and with dice in the terminal, print a table,
                           save the comparison plot

The lessons travel inside the package as data, in ``rtt_edu/lessons/`` (in the repository they
are the ``notebooks/`` folder, which is not a Python package), so ``pip install rtt_edu`` users
get the whole course.

A student's lesson is never lost: every file is written whole or not at all (the checkpoints'
``atomic_write``); a lesson that is not a valid notebook is set aside and replaced, and
``--force`` keeps the edited copy it replaces, both under a name beside it that JupyterLab lists
(``00_what_is_learning.backup-20250101-120000.ipynb``). A full disk leaves every file as it was.

``rtt-edu lab`` refuses a ``--port`` that another program holds before it prints or copies
anything (without ``--port`` it takes the next free port and says so), and prints the URL with
the token only once the server on the port is the JupyterLab it started.

Bad arguments, values the library refuses and folders that cannot be written end as argparse
errors do: the usage, one ``rtt-edu CMD: error: ...`` line on stderr, exit status 2 (no
traceback). ``main(argv)`` returns the exit status instead of exiting, for tests.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.resources
import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rtt_edu.atomic import atomic_write
from rtt_edu.errors import CheckpointError, RollToTrainError

PROG = "rtt-edu"
LESSON_NAME = re.compile(r"^\d\d_\w+\.ipynb$")   # 01_roll_the_dice.ipynb
COURSE_MAP = "README.md"                          # the teachers' map of the course, copied beside the lessons
NOTE_SUFFIX = ".md"                               # the course's notes (the map, the glossary), copied beside them
DEFAULT_LAB_DIR = "rtt-edu-lessons"


class UsageError(RollToTrainError):
    """A bad argument found after parsing: reported as ``rtt-edu CMD: error: ...``, exit status 2.

    A :class:`~rtt_edu.errors.RollToTrainError`, as every error the library raises on purpose.
    """


# --- lessons ----------------------------------------------------------------------------------
def lessons_folder():
    """The folder of the packaged lessons, or ``None`` where this installation has none.

    An installed package (a wheel, Binder's ``pip install .``) carries the ``notebooks/`` folder as
    data in ``rtt_edu/lessons/``, which is not a Python package. An editable install (``make
    setup``, ``pip install -e .``) or a source checkout has no copy: the lessons are the
    ``notebooks/`` folder beside ``rtt_edu/``."""
    installed = importlib.resources.files("rtt_edu") / "lessons"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "notebooks"
    return None


def lesson_files() -> list:
    """The packaged lesson notebooks, in course order (``pathlib`` or ``importlib.resources`` paths)."""
    root = lessons_folder()
    if root is None:
        return []
    return sorted((f for f in root.iterdir() if LESSON_NAME.match(f.name)), key=lambda f: f.name)


def note_files() -> list:
    """The course's notes that travel with the lessons: the course map (README.md), the glossary the
    lessons link to, ... (every packaged ``.md`` file), by name."""
    root = lessons_folder()
    if root is None:
        return []
    return sorted((f for f in root.iterdir() if f.name.endswith(NOTE_SUFFIX) and f.is_file()), key=lambda f: f.name)


@dataclass(frozen=True)
class Copied:
    """What ``copy_lessons`` did with one file."""
    action: str                 # a key of COPY_ACTIONS
    backup: str | None = None   # name of the copy kept beside it: the edited ("replaced") or damaged ("repaired") one
    problem: str | None = None  # why the lesson there was not a notebook ("repaired")


COPY_ACTIONS = {
    "copied": "was missing: copied",
    "kept": "already there: left as it is (a learner's edits are never overwritten without --force)",
    "fresh": "--force, but already the package's own copy: nothing to replace",
    "replaced": "--force: replaced with the package's copy, the copy that was there kept as `backup`",
    "repaired": "not a valid notebook (cut off, or not a notebook): set aside as `backup`, replaced",
    "same": "the folder is where the package's lessons live (a source checkout): nothing to copy",
}
BACKUP_LABELS = {"replaced": "backup", "repaired": "damaged"}   # 00_x.backup-20250101-120000.ipynb


class LessonCopyError(UsageError):
    """A lesson or note could not be written; ``done`` holds what was done before (``{name: Copied}``)."""

    def __init__(self, message: str, done: dict):
        super().__init__(message)
        self.done = done


def notebook_problem(path) -> str | None:
    """Why the file at ``path`` is not a Jupyter notebook JupyterLab can open, or ``None`` when it is one:
    JSON holding an object with a list of ``cells``, an integer ``nbformat`` and a ``metadata`` object."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if not data.strip():
        return "the file is empty"
    try:
        notebook = json.loads(data)
    except UnicodeDecodeError:
        return "the file is not text"
    except ValueError as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        return f"it is not valid JSON: cut off or broken{where} of its {len(data):,} bytes"
    except RecursionError:
        return "its JSON is nested too deeply to be a notebook"
    if not (isinstance(notebook, dict) and isinstance(notebook.get("cells"), list)
            and isinstance(notebook.get("nbformat"), int) and isinstance(notebook.get("metadata"), dict)):
        return "it is JSON but not a notebook: it lacks a list of cells, an nbformat or a metadata object"
    return None


def backup_path(path: Path, label: str, now: float | None = None) -> Path:
    """A free name beside ``path`` for a copy kept aside: ``00_x.ipynb`` -> ``00_x.backup-20250101-120000.ipynb``.

    JupyterLab lists it (no leading dot, no ``~``) and opens it as a notebook; it does not match
    ``LESSON_NAME``, so it is never counted or copied as a lesson."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for n in range(1, 1000):
        candidate = path.with_name(f"{path.stem}.{label}-{stamp}{'' if n == 1 else f'-{n}'}{path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
    raise UsageError(f"too many copies of {path.name!r} kept in {str(path.parent)!r} this second")


def _keep_aside(dest: Path, label: str) -> Path:
    """A second name for ``dest`` beside it (a hard link: no space needed, nothing half-written), or, on a
    file system without hard links, a copy written atomically."""
    while True:
        backup = backup_path(dest, label)
        try:
            os.link(dest, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue                          # taken since backup_path looked: the next name
        except OSError:
            data = dest.read_bytes()
            atomic_write(backup, lambda fh, data=data: fh.write(data), what="copy of your lesson")
            return backup


def _write(dest: Path, data: bytes) -> None:
    atomic_write(dest, lambda fh: fh.write(data), what="lesson")


def _copy_one(source, dest: Path, force: bool) -> Copied:
    if isinstance(source, Path) and dest.exists() and dest.resolve() == source.resolve():
        return Copied("same")
    if not dest.exists():
        _write(dest, source.read_bytes())
        return Copied("copied")
    problem = notebook_problem(dest) if LESSON_NAME.match(dest.name) else None
    if problem is None and not force:
        return Copied("kept")
    data = source.read_bytes()
    if problem is None and dest.read_bytes() == data:
        return Copied("fresh")
    action = "replaced" if problem is None else "repaired"
    backup = _keep_aside(dest, BACKUP_LABELS[action])
    try:
        _write(dest, data)
    except (CheckpointError, OSError):
        _forget_backup(backup, dest)
        raise
    return Copied(action, backup=backup.name, problem=problem)


def _forget_backup(backup: Path, dest: Path) -> None:
    """Remove ``backup`` after a write to ``dest`` failed, if ``dest`` still holds those very bytes."""
    with contextlib.suppress(OSError):
        if os.path.samefile(backup, dest) or backup.read_bytes() == dest.read_bytes():
            os.remove(backup)


FULL_DISK = tuple(getattr(errno, name) for name in ("ENOSPC", "EFBIG", "EDQUOT") if hasattr(errno, name))


def _write_error(dest: Path, exc: Exception, done: dict) -> LessonCopyError:
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    reason = getattr(cause, "strerror", None) or str(exc)
    if getattr(cause, "errno", None) in FULL_DISK:
        reason += ": the disk is full or the file is over a size limit"
    state = f"the {dest.name} there is unchanged" if dest.exists() else "no half-written file was left"
    earlier = sum(1 for copied in done.values() if copied.action in ("copied", "replaced", "repaired"))
    before = {0: "", 1: ", and the file written before it is whole"}.get(
        earlier, f", and the {earlier} files written before it are whole")
    return LessonCopyError(f"cannot write {str(dest)!r} ({reason}): {state}{before}; make room and run the "
                           f"command again", done)


def copy_lessons(directory, force: bool = False) -> dict:
    """Copy the lessons and the notes beside them (the course map, the glossary) into ``directory``;
    returns ``{file name: Copied}`` (the actions are ``COPY_ACTIONS``).

    Every file is written whole or not at all (``rtt_edu.atomic.atomic_write``). A lesson already
    there is kept unless ``force``, or unless it is not a valid notebook: then, and with ``force``
    when it differs from the package's copy, it is first kept under a second name beside it
    (``backup_path``). A write that fails (a full disk) leaves that file as it was, removes the
    second name it made, and raises ``LessonCopyError`` holding what was done before it."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{str(directory)!r} is a file, not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {str(directory)!r}: {exc.strerror}") from None
    done = {}
    for source in lesson_files() + note_files():
        dest = target / source.name
        try:
            done[source.name] = _copy_one(source, dest, force)
        except (CheckpointError, OSError) as exc:
            raise _write_error(dest, exc, done) from None
    return done


def _lessons(n: int) -> str:
    return f"{n} lesson" + ("" if n == 1 else "s")


def _names(names: list) -> str:
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def describe_copy(directory, actions: dict, total: int | None = None) -> str:
    """What ``copy_lessons`` did, in words, e.g. "copied the 11 lessons with README.md into week1/".

    Lessons are counted (out of ``total``, all of them when not given); notes are named only when
    they were copied; every copy kept aside is named, and every damaged lesson with its problem."""
    folder = str(directory).rstrip("/") + "/"
    lessons = {name: copied.action for name, copied in actions.items() if LESSON_NAME.match(name)}
    counts = {action: list(lessons.values()).count(action) for action in COPY_ACTIONS}
    everyone = len(lessons) if total is None else total
    if everyone and counts["same"] == everyone:
        return (f"the {_lessons(everyone)} are already in {folder} (this is a source checkout: "
                f"the package's lessons are these same files)")
    parts = []
    if counts["copied"]:
        what = f"the {_lessons(everyone)}" if counts["copied"] == everyone else f"{_lessons(counts['copied'])}"
        notes = [name for name, copied in actions.items() if copied.action == "copied" and not LESSON_NAME.match(name)]
        if notes:
            what += " with " + _names(notes)
        parts.append(f"copied {what} into {folder}")
    for name, copied in actions.items():
        if copied.action == "repaired":
            parts.append(f"{name} in {folder} was damaged ({copied.problem}): set aside as {copied.backup} and "
                         f"replaced with a fresh copy")
    replaced = [copied.backup for copied in actions.values() if copied.action == "replaced"]
    if replaced:
        notes = [name for name, copied in actions.items()
                 if copied.action == "replaced" and not LESSON_NAME.match(name)]
        what = _names(([_lessons(counts["replaced"])] if counts["replaced"] else []) + notes)
        copies, yours = ("a fresh copy", "your copy") if len(replaced) == 1 else ("fresh copies", "your copies")
        parts.append(f"replaced {what} in {folder} with {copies} from the package, keeping {yours} as "
                     f"{_names(replaced)}")
    if counts["fresh"]:
        parts.append(f"{_lessons(counts['fresh'])} in {folder} already matched the package")
    if counts["kept"]:
        parts.append(f"kept the {_lessons(counts['kept'])} already in {folder} as they were (your edits stay; "
                     f"`{PROG} lessons {folder} --force` replaces them with fresh copies, keeping yours as backups)")
    return "; ".join(parts)


def _copy_and_describe(directory, force: bool = False) -> str:
    """``copy_lessons`` in words; when a write fails, what was done before it is printed first."""
    total = len(lesson_files())
    try:
        actions = copy_lessons(directory, force=force)
    except LessonCopyError as exc:
        if exc.done:
            print(f"before the error below: {describe_copy(directory, exc.done, total)}", flush=True)
        raise
    return describe_copy(directory, actions, total)


def cmd_lessons(args) -> int:
    print(_copy_and_describe(args.dir, force=args.force))
    return 0


# --- lab --------------------------------------------------------------------------------------
JUPYTER_PORT = 8888         # JupyterLab's own first choice; the next free port above it otherwise
PORT_TRIES = 50             # ports tried from JUPYTER_PORT on (JupyterLab's ServerApp.port_retries)
READY_TIMEOUT = 120.0       # seconds to wait for the server's first answer before printing the URL anyway
STOP_TIMEOUT = 20.0         # seconds JupyterLab gets to shut its kernels down before it is killed
POLL_EVERY = 0.2            # seconds between two looks at whether JupyterLab serves yet
ROOT_NOTE = "running as root (as in most containers): passing --allow-root, without which JupyterLab refuses to start"


@dataclass(frozen=True)
class LabAddress:
    """Where ``rtt-edu lab``'s JupyterLab answers, and the token that opens it.

    The port and the token are chosen before JupyterLab starts (the token reaches it as the
    ``JUPYTER_TOKEN`` environment variable, out of ``ps`` listings), so the URL printed for the
    learner is the one the server really has. The token is never sent anywhere by this command:
    only the learner's browser sends it, once ``serving_state`` has found the server to be the
    JupyterLab that this command started."""
    port: int
    token: str
    host: str = "localhost"

    def url(self, path: str = "/lab") -> str:
        """``path`` on the server with the token: what a browser opens without a login page."""
        return f"http://{self.host}:{self.port}{path}?token={self.token}"

    def is_jupyter(self) -> bool:
        """True when the port answers ``GET /api`` as a Jupyter server does without a login: a JSON
        object with its ``version``. Sends no token, and goes through no proxy."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://{self.host}:{self.port}/api", timeout=2) as response:
                answer = json.loads(response.read(4096))
        except (OSError, ValueError):
            return False
        return isinstance(answer, dict) and "version" in answer


def is_root() -> bool:
    """Whether this process runs as root (never on Windows, which has no ``geteuid``)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def port_problem(port: int, host: str = "localhost") -> str | None:
    """Why JupyterLab could not listen on ``port`` of ``host`` now, or ``None`` when it can.

    Found by binding the port here as JupyterLab (tornado) will: every address ``host`` names,
    ``SO_REUSEADDR`` on (so a port left in TIME_WAIT by a server that stopped counts as free),
    IPv6 sockets IPv6-only. A ``::1`` that cannot be bound at all (IPv6 switched off, as in many
    containers) is skipped, as JupyterLab skips it."""
    try:
        addresses = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{host} cannot be resolved ({exc.strerror})"
    for family, kind, proto, _, sockaddr in addresses:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue                                         # an address family this machine lacks
        with probe:
            if os.name != "nt":                              # on Windows it would let two servers share a port
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                    continue
                if exc.errno == errno.EADDRINUSE:
                    return f"another program holds it (it is listening on {host}:{port})"
                return f"it cannot be opened here ({exc.strerror})"
    return None


def free_port(first: int | None = None, tries: int = PORT_TRIES) -> int:
    """The first port from ``first`` (``JUPYTER_PORT``) on that JupyterLab can listen on (``port_problem``)."""
    first = JUPYTER_PORT if first is None else first
    for port in range(first, first + tries):
        if port_problem(port) is None:
            return port
    raise UsageError(f"no free port from {first} to {first + tries - 1}: choose one with --port")


def _listening_sockets(port: int) -> set | None:
    """Inodes of the TCP sockets listening on ``port`` (Linux's ``/proc/net/tcp*``); ``None`` without ``/proc``."""
    found, readable = set(), False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            fields = row.split()        # sl local_address rem_address st ... inode: st 0A is LISTEN
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if readable else None


def _sockets_of(pid: int) -> set | None:
    """Inodes of the sockets process ``pid`` holds open (``/proc/PID/fd``); ``None`` where that cannot be read."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    found = set()
    for name in names:
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{name}")
            if link.startswith("socket:["):
                found.add(link[len("socket:["):-1])
    return found


def serving_state(process: subprocess.Popen, address: LabAddress) -> str:
    """Whether ``process`` (the JupyterLab this command started) serves at ``address`` yet.

    ``"stopped"``: it has ended. ``"foreign"``: another program listens on the port. ``"starting"``:
    nothing answers there yet. ``"ours"``: the port's listening sockets are all the process's own
    (where ``/proc`` tells; elsewhere that it is still running must do) and it answers as a Jupyter
    server. Nothing sent on the way carries the token."""
    if process.poll() is not None:
        return "stopped"
    listening, own = _listening_sockets(address.port), _sockets_of(process.pid)
    if listening is not None and own is not None:
        if listening - own:
            return "foreign"
        if not listening:
            return "starting"
    if not address.is_jupyter():
        return "starting"
    return "ours" if process.poll() is None else "stopped"


def jupyterlab_command(directory, first_lesson: str, no_browser: bool = False, port: int | None = None,
                       allow_root: bool = False) -> list:
    """The command line that serves ``directory`` in JupyterLab and opens ``first_lesson``.

    With ``port``, JupyterLab takes exactly that port or stops (``port_retries=0``), so the URL
    printed for it is right."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={Path(directory).resolve()}",
           f"--LabApp.default_url=/lab/tree/{first_lesson}"]
    if port is not None:
        cmd.append("--ServerApp.port_retries=0")
    if allow_root:
        cmd.append("--allow-root")
    if no_browser:
        cmd.append("--no-browser")
    if port is not None:
        cmd.append(f"--port={port}")
    return cmd


def _stop(process: subprocess.Popen) -> int:
    """Ask JupyterLab to shut down (SIGTERM: it stops its kernels), kill it if it does not; its status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.kill()
    return process.wait()


def run_command(cmd: list, env: dict | None = None, address: LabAddress | None = None,
                lesson: str | None = None) -> int:
    """Run JupyterLab's ``cmd`` in the foreground until it ends; its exit status (130 after Ctrl+C).

    Once it serves at ``address`` (``serving_state``), the URL of ``lesson`` (with the token) is
    printed on a line of its own, for a machine without a browser or one reached over SSH. Ctrl+C,
    or SIGTERM sent to this process, shuts JupyterLab down with its kernels."""
    process = subprocess.Popen(cmd, env=env)
    forwarding = threading.current_thread() is threading.main_thread()
    if forwarding:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
    try:
        if address is not None:
            _announce_when_serving(process, address, lesson)
        return process.wait()
    except KeyboardInterrupt:
        _stop(process)
        return 130
    finally:
        if forwarding:
            signal.signal(signal.SIGTERM, previous)


def _announce_when_serving(process: subprocess.Popen, address: LabAddress, lesson: str | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while (state := serving_state(process, address)) != "ours":
        if state == "stopped":
            print(f"{PROG} lab: JupyterLab stopped (exit status {process.returncode}) before it served the "
                  f"lessons; its messages above say why", file=sys.stderr, flush=True)
            return
        if time.monotonic() > deadline:
            if state == "foreign":
                print(f"{PROG} lab: another program holds port {address.port}, so JupyterLab cannot serve the "
                      f"lessons there; Ctrl+C stops it, then choose another port with --port", file=sys.stderr,
                      flush=True)
                return
            print(f"JupyterLab has not answered for {READY_TIMEOUT:.0f} s; once it does, open:", flush=True)
            break
        time.sleep(POLL_EVERY)
    else:
        print(f"JupyterLab is serving the lessons. Open this address in a browser (from another machine, "
              f"forward the port first: ssh -L {address.port}:localhost:{address.port} THIS-MACHINE):", flush=True)
    print(address.url(f"/lab/tree/{urllib.parse.quote(lesson)}" if lesson else "/lab"), flush=True)
    print("Ctrl+C here stops JupyterLab.", flush=True)


def lab_port(requested: int | None) -> tuple:
    """(the port JupyterLab will take, a line to print or ``None``): ``requested`` if it is free, else a
    ``UsageError`` that names it; without one, the first free port from ``JUPYTER_PORT`` on."""
    if requested is not None:
        problem = port_problem(requested)
        if problem is not None:
            raise UsageError(f"port {requested} cannot be used: {problem}. Choose another with --port, or leave "
                             f"--port out to take a free one")
        return requested, None
    port = free_port()
    if port == JUPYTER_PORT:
        return port, None
    return port, f"port {JUPYTER_PORT} is taken by another program: JupyterLab will use port {port}"


def cmd_lab(args) -> int:
    if importlib.util.find_spec("jupyterlab") is None:          # not imported: its own process does
        print(f"{PROG} lab: JupyterLab is not installed: pip install 'rtt_edu[lab]'", file=sys.stderr)
        return 1
    lessons = lesson_files()
    if not lessons:
        print(f"{PROG} lab: this installation has no lessons (no rtt_edu/lessons/ folder)", file=sys.stderr)
        return 1
    port, port_note = lab_port(args.port)         # before anything is copied or printed
    first = lessons[0].name
    print(f"{_copy_and_describe(args.dir)}: opening JupyterLab on {first}")
    if port_note:
        print(port_note)
    root = is_root()
    if root:
        print(ROOT_NOTE)
    address = LabAddress(port, os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24))
    cmd = jupyterlab_command(args.dir, first, args.no_browser, address.port, allow_root=root)
    sys.stdout.flush()
    return run_command(cmd, env=dict(os.environ, JUPYTER_TOKEN=address.token), address=address, lesson=first)


# --- demo -------------------------------------------------------------------------------------
@dataclass
class DemoConfig:
    """The toy problem of ``rtt-edu demo``: both runs share data, initial weights and optimizer."""
    dataset: str = "moons"      # rtt_edu.data.DATASETS name
    points: int = 400           # train + test points
    noise: float = 0.25         # Gaussian jitter of the points (moons overlap a little)
    hidden: tuple = (16, 16)    # MLP hidden widths
    optimizer: str = "momentum"  # a name in rtt_edu.training.optimizers.OPTIMIZERS (SGD with momentum 0.9)
    lr: float = 0.1             # its learning rate (the dice scale it step by step)


@dataclass
class DemoRun:
    """One run of the demo: its per-step training losses and, for the dice run, its History."""
    name: str
    losses: list                # full-batch training loss before each step
    final_loss: float           # training loss after the last step
    test_accuracy: float
    history: object = None      # rtt_edu.History of the dice run (None for plain)
    level: int | None = None    # experience level reached (dice run)

    @property
    def mean_multiplier(self) -> float:
        """Mean dice multiplier over the steps (1 for the plain run: every step in full)."""
        return 1.0 if self.history is None else self.history.mean_multiplier()

    def crits(self) -> tuple:
        """(critical successes, critical failures) rolled; ``None`` for the plain run."""
        if self.history is None:
            return None
        counts = self.history.outcome_counts()
        return counts.get("critical_success", 0), counts.get("critical_fail", 0)


def train_demo(steps: int = 300, seed: int = 0, preset: str = "classroom", config: DemoConfig | None = None,
               progress: bool = True) -> tuple:
    """(plain run, dice run, data, dice model): the same MLP from the same seed on the same points,
    trained by the toy loop (:func:`rtt_edu.training.toy.train_full_batch`), once plain and once with
    ``preset``'s saving throw on every step (with experience, so the model levels up)."""
    import torch
    from tqdm.auto import tqdm

    from rtt_edu.data import make_dataset
    from rtt_edu.game.rules import SavingThrow
    from rtt_edu.models import mlp
    from rtt_edu.training.game import attach
    from rtt_edu.training.optimizers import OPTIMIZERS
    from rtt_edu.training.toy import train_full_batch

    config = DemoConfig() if config is None else config
    data = make_dataset(config.dataset, n=config.points, noise=config.noise, seed=seed)
    rules = SavingThrow.preset(preset)
    runs, models = [], []
    for name in ("plain", f"dice ({preset})"):
        model = mlp(2, config.hidden, data.classes, seed=seed)
        optimizer = OPTIMIZERS[config.optimizer].make(model.parameters(), config.lr)
        handle = None if name == "plain" else attach(optimizer, rules, seed=seed, experience=True)
        losses = []
        for _ in tqdm(range(steps), desc=f"{name:>16}", unit="step", disable=not progress):
            train_full_batch(model, optimizer, data.X_train, data.y_train, 1, handle=handle, losses=losses)
        with torch.no_grad():
            final = torch.nn.functional.cross_entropy(model(data.X_train), data.y_train).item()
            accuracy = (model(data.X_test).argmax(-1) == data.y_test).double().mean().item()
        run = DemoRun(name, losses, final, accuracy)
        if handle is not None:
            handle.remove()
            run.history = handle.history
            run.level = handle.master.experience.level
        runs.append(run)
        models.append(model)
    return runs[0], runs[1], data, models[1]


def demo_table(plain: DemoRun, dice: DemoRun) -> str:
    """The terminal table: one row per run."""
    header = f"{'run':<22}{'final loss':>11}{'test acc':>10}{'mean mult':>11}{'crits (20/1)':>14}{'level':>7}"
    rows = [header, "-" * len(header)]
    for run in (plain, dice):
        crits = run.crits()
        rows.append(f"{run.name:<22}{run.final_loss:>11.4f}{run.test_accuracy:>10.3f}{run.mean_multiplier:>11.3f}"
                    f"{'-' if crits is None else f'{crits[0]} / {crits[1]}':>14}"
                    f"{'-' if run.level is None else run.level:>7}")
    return "\n".join(rows)


def demo_figure(plain: DemoRun, dice: DemoRun, data, model):
    """Two panels: both loss curves (dice steps marked by outcome), and the dice model's regions."""
    from rtt_edu.views.plots import new_figure, plot_decision_boundary, plot_history
    fig, (left, right) = new_figure(figsize=(11.0, 4.0), ncols=2)
    plot_history(dice.history, ax=left, plain=plain.losses, title=f"{dice.name} vs plain, same seed")
    plot_decision_boundary(model, data.X_train, data.y_train, ax=right, X_test=data.X_test, y_test=data.y_test)
    right.set_title(f"{dice.name}: decision regions, test accuracy {dice.test_accuracy:.3f}")
    return fig


def cmd_demo(args) -> int:
    plain, dice, data, model = train_demo(args.steps, args.seed, args.preset)
    print(demo_table(plain, dice))
    try:
        demo_figure(plain, dice, data, model).savefig(args.out, dpi=110)
    except OSError as exc:
        raise UsageError(f"cannot write {str(args.out)!r}: {exc.strerror}") from None
    print(f"plot saved to {args.out}")
    return 0


# --- argument parsing ---------------------------------------------------------------------------
def _whole_number(lo: int, hi: int | None, expected: str):
    """An argparse ``type``: the text as an int from ``lo`` to ``hi`` (no upper bound when ``None``).

    Anything else is argparse's usage error ``argument --NAME: expected <expected>, got 'TEXT'``.
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_positive_int = _whole_number(1, None, "a whole number >= 1")
_seed = _whole_number(0, None, "a whole number >= 0")
_port = _whole_number(1, 65535, "a port number from 1 to 65535")


def _image_path(text: str) -> Path:
    """A plot file whose folder exists and whose suffix matplotlib can write."""
    path = Path(text)
    if path.suffix.lower().lstrip(".") not in ("png", "pdf", "svg", "jpg", "jpeg"):
        raise argparse.ArgumentTypeError(f"expected a .png, .pdf, .svg or .jpg file name, got {text!r}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {str(path.parent)!r} of {text!r} does not exist")
    return path


def _preset_names() -> list:
    from rtt_edu.game.rules import PRESETS
    return sorted(PRESETS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Roll-to-Train for the classroom: the lessons, JupyterLab and a terminal demo.")
    from rtt_edu import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lab = sub.add_parser("lab", help="copy the lessons into DIR if needed and open JupyterLab on the first one",
                         description="Copy the lessons into DIR (files already there are kept) and open "
                                     "JupyterLab there on the first lesson. Ctrl+C stops it.")
    lab.add_argument("dir", nargs="?", default=DEFAULT_LAB_DIR, metavar="DIR",
                     help=f"folder for the lessons (default: ./{DEFAULT_LAB_DIR})")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser; print the URL only")
    lab.add_argument("--port", type=_port, default=None, help="port for JupyterLab (default: its own choice)")
    lab.set_defaults(handler=cmd_lab, parser=lab)

    lessons = sub.add_parser("lessons", help="copy the lessons into DIR",
                             description="Copy the lesson notebooks and the course map into DIR.")
    lessons.add_argument("dir", metavar="DIR", help="folder to copy the lessons into (created if missing)")
    lessons.add_argument("--force", action="store_true", help="replace lesson files already in DIR")
    lessons.set_defaults(handler=cmd_lessons, parser=lessons)

    demo = sub.add_parser("demo", help="train the toy MLP plain and with dice; a table and a plot",
                          description="Train the same small MLP on the same toy data from the same seed, once "
                                      "plain and once with a saving throw on every step; print a table and "
                                      "save a plot of both loss curves and the dice run's decision regions.")
    demo.add_argument("--out", type=_image_path, default=Path("demo.png"), metavar="FILE.png",
                      help="where to save the comparison plot (default: demo.png)")
    demo.add_argument("--steps", type=_positive_int, default=300, metavar="N",
                      help="optimizer steps for each run (default: 300)")
    demo.add_argument("--seed", type=_seed, default=0, metavar="S",
                      help="seed for the data, the initial weights and the dice (default: 0)")
    demo.add_argument("--preset", choices=_preset_names(), default="classroom", metavar="NAME",
                      help="the saving-throw rule: " + ", ".join(_preset_names()) + " (default: classroom)")
    demo.set_defaults(handler=cmd_demo, parser=demo)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (``SystemExit`` from argparse passes through)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except RollToTrainError as exc:             # a UsageError, or a value the library refused
        args.parser.error(str(exc))   # usage, then one line on stderr; exit status 2


if __name__ == "__main__":
    sys.exit(main())
