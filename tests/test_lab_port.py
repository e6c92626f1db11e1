"""``rtt-edu lab`` on a port another program holds: refused at once, and the token goes to no one.

A plain ``http.server`` (standing for any other web server) records every request it gets. The
real ``rtt-edu lab --port P`` must refuse P before it prints or copies anything, and the server
must see no request at all, let alone one with the token. And while JupyterLab starts, a server
that only looks like Jupyter (it answers ``/api`` with a version) is never announced as the lab.
"""
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rtt_edu import cli


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET like a Jupyter server's ``/api`` (a JSON version, no login), and records it."""

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers)))
        body = json.dumps({"version": "2.14.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_server():
    """Another program's web server on localhost, recording the requests it gets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def rtt_edu_script() -> list:
    script = Path(sys.executable).parent / "rtt-edu"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rtt_edu"]


def test_rtt_edu_lab_refuses_a_port_another_server_holds_and_sends_it_nothing(tmp_path, other_server):
    port = other_server.server_address[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    done = subprocess.run(rtt_edu_script() + ["lab", str(tmp_path / "course"), "--port", str(port), "--no-browser"],
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)          # JupyterLab is never started: it ends as soon as Python has started
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""                                          # no URL, no token, nothing copied
    assert "http://" not in done.stderr and "token" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"rtt-edu lab: error: port {port} cannot be used: another program holds it (it is listening on "
        f"localhost:{port}). Choose another with --port, or leave --port out to take a free one")
    assert not (tmp_path / "course").exists()
    assert other_server.requests == []


def test_the_port_is_checked_on_every_address_jupyterlab_listens_on(other_server):
    port = other_server.server_address[1]
    assert "another program holds it" in cli.port_problem(port)
    assert cli.port_problem(port, host="127.0.0.1") is not None
    with socket.socket() as probe:                                   # and free once the other server is gone
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert cli.port_problem(free) is None


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc to see who listens on a port")
def test_a_server_that_looks_like_jupyter_is_never_announced_while_jupyterlab_starts(other_server, capsys):
    """JupyterLab (here a process that never binds the port) has not taken the port yet, and another
    program that answers /api as Jupyter does holds it: no URL, no token, no request to it."""
    port = other_server.server_address[1]
    address = cli.LabAddress(port, "s3cret")
    assert address.is_jupyter()                                      # it does look like Jupyter
    other_server.requests.clear()
    code = cli.run_command([sys.executable, "-c", "import time; time.sleep(2)"], address=address, lesson="a.ipynb")
    out, err = capsys.readouterr()
    assert code == 0 and out == "" and "s3cret" not in err
    assert err == ("rtt-edu lab: JupyterLab stopped (exit status 0) before it served the lessons; "
                   "its messages above say why\n")
    assert other_server.requests == []


def test_the_readiness_check_sends_no_token(other_server):
    address = cli.LabAddress(other_server.server_address[1], "s3cret")
    assert address.is_jupyter()
    (path, headers), = other_server.requests
    assert path == "/api" and not any(key.lower() in ("authorization", "cookie") for key in headers)
    assert "s3cret" not in json.dumps(headers)
