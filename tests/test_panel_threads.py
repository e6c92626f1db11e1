"""A panel's callbacks run on the panel's own thread, whichever thread the widget message came in on.

JupyterLab 4.4+ sends widget messages to kernel subshells (its "commsOverSubshells" setting), and
ipykernel 7 handles each subshell on a thread of its own; it routes a widget's message to the
subshell that last sent on that widget. So a slider's callback may arrive on another thread than
the cells and Play's task: two trainings of one run at once crashed the kernel (SIGSEGV in the
optimizer's ``zero_grad``). These tests send callbacks from other threads, then from a real
kernel's subshell as JupyterLab does, and check that every step ran on the panel's thread, never
two at once.
"""
import asyncio
import json
import os
import sys
import threading
import time

import pytest

from rtt_edu.views.widgets import TrainingPanel
from rtt_edu.views.widgets.run import ToyRun

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def training_threads(monkeypatch):
    """The threads every ToyRun step and dice re-training ran on, and how often two ran at once."""
    seen = {"threads": set(), "at_once": 0, "inside": 0}

    def spy(original):
        def wrapped(self, *args, **kwargs):
            seen["threads"].add(threading.get_ident())
            seen["inside"] += 1
            seen["at_once"] += seen["inside"] > 1
            try:
                return original(self, *args, **kwargs)
            finally:
                seen["inside"] -= 1
        return wrapped

    monkeypatch.setattr(ToyRun, "step", spy(ToyRun.step))
    monkeypatch.setattr(ToyRun, "replace_dice", spy(ToyRun.replace_dice))
    return seen


def from_another_thread(action) -> None:
    """Run ``action`` on a new thread and wait for it (the event loop waits too: nothing runs beside it)."""
    failures = []

    def run():
        try:
            action()
        except BaseException as exc:     # noqa: BLE001  (re-raised in the test's thread)
            failures.append(exc)

    worker = threading.Thread(target=run, name="widget-messages")
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    if failures:
        raise failures[0]


async def settle(panel, turns: int = 20) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def test_a_slider_moved_on_another_thread_retrains_on_the_panels_thread_while_playing(training_threads):
    home = threading.get_ident()

    async def scenario():
        panel = TrainingPanel(figures="static", dataset="xor", character_class="fighter", experience=False)
        panel.controls["play"].click()
        await asyncio.sleep(0)                                 # Play's first slice
        from_another_thread(lambda: setattr(panel.controls["dc"], "value", 15))
        from_another_thread(lambda: setattr(panel.controls["lr"], "value", 0.3))
        await settle(panel)
        assert panel.config()["rules"]["dc"] == 15 and panel.config()["lr"] == 0.3 and panel.error_text == ""
        assert panel.running and panel.steps > panel.horizon   # Play went on after both re-trainings
        from_another_thread(panel.controls["pause"].click)
        await settle(panel)
        assert not panel.running and not panel.controls["play"].disabled

    asyncio.run(scenario())
    assert training_threads["threads"] == {home} and training_threads["at_once"] == 0


def test_play_and_step_clicked_on_another_thread_train_on_the_panels_loop(training_threads):
    home = threading.get_ident()

    async def scenario():
        panel = TrainingPanel(figures="static", experience=False)
        from_another_thread(panel.controls["step"].click)
        await settle(panel, 2)
        assert panel.steps == 1
        from_another_thread(panel.controls["play"].click)   # the clicking thread has no event loop: Play needs none
        await settle(panel, 5)
        assert panel.running and panel.steps > 1 and panel.error_text == ""
        assert panel._task.get_loop() is asyncio.get_running_loop()
        panel.pause()

    asyncio.run(scenario())
    assert training_threads["threads"] == {home} and training_threads["at_once"] == 0


def test_a_panel_used_without_an_event_loop_answers_on_the_callers_thread():
    panel = TrainingPanel(figures="static", experience=False)    # a script: no loop, no kernel
    from_another_thread(lambda: setattr(panel.controls["dc"], "value", 14))
    assert panel.config()["rules"]["dc"] == 14 and panel.steps == panel.horizon


def test_an_ipympl_canvas_draws_on_the_panels_thread():
    home, drawn = threading.get_ident(), []

    async def scenario():
        panel = TrainingPanel(figures="ipympl", experience=False)
        canvas = panel.figure.widget
        canvas.draw = lambda: drawn.append(threading.get_ident())
        # the frontend's "draw" request after draw_idle(), as a comm message handled on another thread
        from_another_thread(lambda: canvas._handle_custom_msg({"type": "draw"}, []))
        await settle(panel, 3)

    asyncio.run(scenario())
    assert drawn == [home]


# --- a real kernel, its widget messages on a subshell and on the main shell, as JupyterLab sends them ---

SETUP = """
import json, threading, torch
from rtt_edu.views.widgets import TrainingPanel
from rtt_edu.views.widgets.run import ToyRun
torch.set_num_threads(1)
arena = TrainingPanel(dataset="xor", lr=0.5, rules="classroom", character_class="fighter",
                      monsters=["dragon", "ooze", "wraith"], encounter_chance=0.05, experience=False, seed=0,
                      figures="static")
seen = {"threads": set(), "at_once": 0, "inside": 0}
def spy(original):
    def wrapped(self, *args, **kwargs):
        seen["threads"].add(threading.current_thread().name)
        seen["inside"] += 1
        seen["at_once"] += seen["inside"] > 1
        try:
            return original(self, *args, **kwargs)
        finally:
            seen["inside"] -= 1
    return wrapped
ToyRun.step, ToyRun.replace_dice = spy(ToyRun.step), spy(ToyRun.replace_dice)
print(json.dumps({name: widget.model_id for name, widget in arena.controls.items()}))
"""

REPORT = """
import asyncio
for _ in range(100):
    await asyncio.sleep(0.02)
print(json.dumps({"threads": sorted(seen["threads"]), "at_once": seen["at_once"], "error": arena.error_text,
                  "config": arena.config(), "running": arena.running}))
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_widget_messages_on_a_kernel_subshell_never_train_beside_play(tmp_path):
    jupyter_client = pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    spec = tmp_path / "kernels" / "rtt-threads"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "rtt threads", "language": "python"}))
    manager = jupyter_client.KernelManager(
        kernel_name="rtt-threads", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
    manager.start_kernel(env=env, cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    try:
        info = client.kernel_info(reply=True, timeout=60)["content"]
        if "kernel subshells" not in info.get("supported_features", []):
            pytest.skip("this ipykernel has no subshells: every widget message runs on the main thread")

        def run(code):
            reply = client.execute_interactive(code, timeout=120, output_hook=lambda m: outputs.append(m))
            assert reply["content"]["status"] == "ok", [m["content"] for m in outputs]
            return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")

        outputs = []
        ids = json.loads(run(SETUP).strip().splitlines()[-1])
        request = client.session.msg("create_subshell_request", {})
        client.control_channel.send(request)
        subshell = client.get_control_msg(timeout=30)["content"]["subshell_id"]

        def send(name, data, on_subshell):
            message = client.session.msg("comm_msg", {"comm_id": ids[name], "data": data})
            if on_subshell:
                message["header"]["subshell_id"] = subshell
            client.shell_channel.send(message)
            time.sleep(0.15)

        click = {"method": "custom", "content": {"event": "click"}}

        def value(v):
            return {"method": "update", "state": {"value": v}, "buffer_paths": []}

        send("play", click, True)                       # Play's task starts from the subshell's message
        time.sleep(0.5)
        for k, (name, v) in enumerate([("dc", 14), ("hidden", 9), ("encounter_chance", 0.1), ("dc", 15),
                                       ("layers", 3), ("class_level", 3), ("noise", 0.2), ("dc", 16)]):
            send(name, value(v), k % 2 == 0)            # the subshell and the main shell in turn
        send("pause", click, False)
        send("step", click, True)
        outputs = []
        report = json.loads(run(REPORT).strip().splitlines()[-1])
        assert manager.is_alive()
        assert report["threads"] == ["MainThread"] and report["at_once"] == 0, report
        assert report["error"] == "" and not report["running"]
        config = report["config"]
        assert (config["rules"]["dc"], config["hidden"], config["layers"], config["class_level"]) == (16, 9, 3, 3)
        assert config["encounter_chance"] == 0.1 and config["noise"] == 0.2
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
