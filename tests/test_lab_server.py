"""``rtt-edu lab`` for real: the console script starts JupyterLab, which serves the lessons.

Run as whoever runs the tests (root in CI and in most containers, where JupyterLab refuses to
start without ``--allow-root``): ``rtt-edu lab DIR --no-browser --port PORT`` in its own process
session, until the URL it prints answers. Then ``GET /lab`` must answer 200 and ``GET
/api/contents`` list the first lesson; the process is stopped by its PID and no process of its
session may be left. JupyterLab's folders for config, data and runtime files are the test's own.
"""
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rtt_edu import cli

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
START_TIMEOUT = 150.0      # seconds for JupyterLab to answer on two busy cores
STOP_TIMEOUT = 40.0        # seconds for it to shut down after SIGTERM
URL = re.compile(r"^http://localhost:(\d+)/lab/tree/(\S+)\?token=(\w+)$")

pytestmark = pytest.mark.slow


def first_lesson() -> str:
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rtt_edu_script() -> list:
    """The console script a user types, from this interpreter's environment."""
    script = Path(sys.executable).parent / "rtt-edu"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rtt_edu"]


def session_members(sid: int) -> list:
    """PIDs of the live processes (zombies left out) in the process session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def parent_of(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def command_of(pid: int) -> str:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()


class Output(threading.Thread):
    """Collects a process's output lines as they come."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []

    def run(self):
        for line in iter(self.stream.readline, ""):
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)


def get(url: str, token: str | None = None):
    """(status, body) of a GET, without following redirects (a login redirect stays a 302)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    headers = {"Authorization": f"token {token}"} if token else {}
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.fixture
def lab(tmp_path):
    """``rtt-edu lab DIR --no-browser --port PORT`` running; yields (process, output, DIR, port)."""
    folder, home, port = tmp_path / "course", tmp_path / "jupyter", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(rtt_edu_script() + ["lab", str(folder), "--no-browser", "--port", str(port)],
                               cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Output(process.stdout)
    output.start()
    try:
        yield process, output, folder, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)         # whatever the test left (a no-op once stopped)
        process.wait(timeout=30)
        output.join(timeout=10)


def wait_for_url(process, output) -> re.Match:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for line in output.lines:
            if URL.match(line):
                return URL.match(line)
        if process.poll() is not None:
            output.join(timeout=5)
            pytest.fail(f"rtt-edu lab exited with {process.returncode} before printing its URL:\n"
                        f"{output.text()[-4000:]}")
        time.sleep(0.25)
    pytest.fail(f"rtt-edu lab printed no URL in {START_TIMEOUT:.0f} s:\n{output.text()[-4000:]}")


@pytest.mark.timeout(START_TIMEOUT + STOP_TIMEOUT + 60)
def test_rtt_edu_lab_serves_the_lessons_as_this_user_and_stops_by_its_pid(lab):
    process, output, folder, port = lab
    found = wait_for_url(process, output)
    first = first_lesson()
    assert found.group(1) == str(port) and found.group(2) == first
    token = found.group(3)
    base = f"http://localhost:{port}"

    # What it said before the server came up, in words.
    assert output.lines[0].startswith(f"copied the {len(list(NOTEBOOKS.glob('[0-9][0-9]_*.ipynb')))} lessons")
    assert output.lines[0].endswith(f": opening JupyterLab on {first}")
    assert output.lines.count(cli.ROOT_NOTE) == (1 if os.geteuid() == 0 else 0), output.text()[-3000:]
    assert "Running as root is not recommended" not in output.text()

    # The URL it printed opens the lab; without the token the server asks for a login.
    status, page = get(base + "/lab", token)
    assert status == 200 and b"JupyterLab" in page
    assert get(f"{base}/lab/tree/{first}?token={token}")[0] == 200
    assert get(base + "/api/contents")[0] in (302, 403)
    status, body = get(base + "/api/contents", token)
    assert status == 200
    listed = {item["name"] for item in json.loads(body)["content"]}
    assert first in listed and (folder / first).is_file()

    # The URL was printed once the port's listening sockets were all JupyterLab's, the process that
    # rtt-edu started itself (cli.serving_state): check that premise on the real server.
    members = session_members(process.pid)
    assert len(members) >= 2, f"expected rtt-edu and JupyterLab in the session, found {members}"
    listening = cli._listening_sockets(port)
    (jupyterlab,) = [pid for pid in members if parent_of(pid) == process.pid and "jupyterlab" in command_of(pid)]
    assert listening and listening <= cli._sockets_of(jupyterlab)

    # Stopped by its PID: JupyterLab and everything it started go with it.
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT) == 0, output.text()[-3000:]    # not killed by the signal
    deadline = time.monotonic() + 10
    while session_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_members(process.pid) == [], "processes of rtt-edu lab outlived it"
    with pytest.raises(OSError):
        socket.create_connection(("localhost", port), timeout=2).close()
