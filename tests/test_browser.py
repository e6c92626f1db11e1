"""The panels in a real browser: JupyterLab on 127.0.0.1, driven through Debian's Chromium by Playwright.

Headless tests set widget values from Python; this one checks what a learner sees: the widgets
render (no "Loading widget", no raw repr), Play makes the loss curve move and Pause stops it, and
moving a DicePanel's DC slider changes its readout. Screenshots go to artifacts/browser/.

Needs /usr/bin/chromium (``apt-get install -y chromium``) and the ``playwright`` package
(``pip install 'rtt_edu[browser]'``; never ``playwright install``: the system browser is used).
Without them the test is skipped, except under CI=true, where it fails.
"""
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
# Flags that work as root with no network (see shared notes); Playwright adds --headless itself.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_NEWS = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
RAW_REPRS = ("TrainingPanel(", "DicePanel(", "<rtt_edu", "IntSlider(", "FloatSlider(", "Button(", "VBox(",
             "HBox(", "Canvas(")


def require_browser():
    """Skip (or, under CI=true, fail) when the browser, Playwright or JupyterLab is missing."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    for module, how in (("playwright", "pip install 'rtt_edu[browser]'"), ("jupyterlab", "pip install jupyterlab")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the {module} package ({how})")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(reason)


# --- JupyterLab, started and stopped by this test ---------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list:
    """PIDs of the processes whose parent is ``pid`` (the server's kernels)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 with its own config, data and runtime folders and a token."""

    def __init__(self, root: Path, home: Path, log: Path, cpus: set | None = None):
        """``cpus``: the CPUs the server and its kernels may run on (``os.sched_setaffinity``, as ``taskset``
        does; every kernel inherits it), or None for all of them."""
        self.root, self.port, self.token = root, free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        config = home / "config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(json.dumps(NO_NEWS))   # no news pop-up
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
        env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
                   MPLBACKEND="module://ipympl.backend_nbagg", JUPYTER_PLATFORM_DIRS="1")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}", "--ServerApp.password=",
               f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = log
        self._log_file = open(log, "wb")
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.process = subprocess.Popen(cmd, cwd=root, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        preexec_fn=pin)
        self.kernel_pids: set = set()

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 90.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                self.api("GET", "status")
                return time.monotonic() - start
            time.sleep(0.25)
        raise AssertionError(f"JupyterLab did not answer /api/status in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self._log_file.flush()
        return self.log.read_bytes()[-chars:].decode(errors="replace")

    def shut_down_kernels(self) -> None:
        """Delete every session and kernel through the REST API (kernels outlive the browser)."""
        self.kernel_pids.update(children_of(self.process.pid))
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}")

    def stop(self) -> None:
        """Stop the server by its PID, then make sure none of its kernels is left running."""
        self.kernel_pids.update(children_of(self.process.pid))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()
        deadline = time.monotonic() + 10
        for pid in self.kernel_pids:
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def serve(tmp_path_factory, name: str, cpus: set | None = None):
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path_factory.mktemp(f"{name}-root")
    server = JupyterLab(root, tmp_path_factory.mktemp(f"{name}-home"), ARTIFACTS / f"{name}.log", cpus=cpus)
    try:
        server.ready_after = server.wait_ready()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.shut_down_kernels()
        server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from serve(tmp_path_factory, "jupyterlab")


@pytest.fixture(scope="module")
def lab_one_core(tmp_path_factory):
    """A JupyterLab whose kernels run on one core, as on mybinder.org (the first CPU this test may use)."""
    yield from serve(tmp_path_factory, "jupyterlab-one-core", cpus={min(os.sched_getaffinity(0))})


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


# --- what the learner does and sees -----------------------------------------------------------------
CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"       # the notebook in the visible tab
PROMPTS_JS = f"[...document.querySelectorAll('{CURRENT} .jp-CodeCell .jp-InputPrompt')]"


def open_and_run_all(page, lab, name: str) -> None:
    """Open ``name`` in a fresh workspace, wait for a connected idle kernel, Run All, and wait
    until every code cell has run."""
    page.goto(f"{lab.url}/lab/workspaces/{secrets.token_hex(4)}/tree/{name}?token={lab.token}")
    page.locator(f"{CURRENT} .jp-Notebook").wait_for(timeout=60_000)
    page.get_by_text(KERNEL_IDLE).first.wait_for(timeout=60_000)    # connected, not just "idle" in the toolbar
    for attempt in range(2):      # a click before the kernel listens can be lost: check it took, once
        page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator("[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(f"() => /\\[(\\*|\\d+)\\]/.test({PROMPTS_JS}[0].textContent)", timeout=15_000)
            break
        except Exception:
            if attempt:
                raise
    every_cell_ran = f"{PROMPTS_JS}.every(p => /\\[\\d+\\]/.test(p.textContent))"     # each prompt reads [n]
    page.wait_for_function(f"() => {PROMPTS_JS}.length > 0 && {every_cell_ran}", timeout=240_000)


def outputs_text(page) -> str:
    return "\n".join(page.locator(f"{CURRENT} .jp-OutputArea-output").all_text_contents())


def assert_widgets_rendered(page) -> None:
    page.wait_for_function(
        f"""() => ![...document.querySelectorAll('{CURRENT} .jp-OutputArea-output')]
                   .some(o => o.textContent.includes('Loading widget'))""", timeout=30_000)
    text = outputs_text(page)
    raw = [r for r in RAW_REPRS if r in text]
    assert not raw, f"raw reprs instead of widgets: {raw}"
    errors = page.locator(f"{CURRENT} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                          ).all_text_contents()
    assert not any("Traceback" in e or "Error" in e for e in errors), errors
    assert page.locator(f"{CURRENT} .jp-OutputArea-output .jupyter-widgets").count() > 0, "no widget rendered"


def shoot(locator, name: str) -> None:
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(ARTIFACTS / name))


def write_notebook(path: Path, cells: list) -> None:
    """A notebook of code cells (no outputs), as JupyterLab would save it."""
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": source} for i, source in enumerate(cells)]}
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def slider(page, label: str):
    """The slider widget whose label reads ``label``."""
    return page.locator(f"{CURRENT} .widget-slider").filter(has=page.locator(".widget-label", has_text=label)).first


def move_slider_right(page, widget, presses: int = 1) -> None:
    handle = widget.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")


def test_harness_a_plain_slider_renders_and_moves(lab, browser):
    write_notebook(lab.root / "harness.ipynb", [
        "import ipywidgets as w\nfrom IPython.display import display",
        "dc = w.IntSlider(value=11, min=1, max=30, description='DC')\n"
        "label = w.HTML(f'value {dc.value}')\n"
        "dc.observe(lambda change: setattr(label, 'value', f'value {change.new}'), 'value')\n"
        "display(w.VBox([dc, label]))",
    ])
    page = browser.new_page()
    try:
        open_and_run_all(page, lab, "harness.ipynb")
        assert_widgets_rendered(page)
        dc = slider(page, "DC")
        assert dc.locator(".widget-readout").text_content().strip() == "11"
        move_slider_right(page, dc)
        page.get_by_text("value 12").wait_for(timeout=10_000)    # the kernel saw the move and answered
        assert dc.locator(".widget-readout").text_content().strip() == "12"
        shoot(page.locator(f"{CURRENT} .jp-OutputArea-output").last, "harness-slider.png")
    finally:
        page.close()
        lab.shut_down_kernels()


# --- the panels --------------------------------------------------------------------------------------
PANEL_CELLS = ["%matplotlib widget\nfrom rtt_edu.views.widgets import DicePanel, TrainingPanel",
               "dice = DicePanel()\ndice",
               "panel = TrainingPanel()\npanel"]


def notebook_showing(lab, panel: str) -> str:
    """The first lesson that shows ``panel`` (copied into the server's folder), else a small
    generated notebook with both panels; returns its name."""
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        if any(f"{panel}(" in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
            shutil.copy(path, lab.root / path.name)
            return path.name
    name = "panels.ipynb"
    if not (lab.root / name).exists():
        write_notebook(lab.root / name, PANEL_CELLS)
    return name


def output_with(page, inner: str):
    """The cell output that contains ``inner`` (a selector)."""
    return page.locator(f"{CURRENT} .jp-OutputArea-output").filter(has=page.locator(inner)).first


def figure_digest(figure) -> str:
    """A hash of what a figure shows: an ipympl canvas's pixels, or a screenshot of a static image."""
    if figure.evaluate("el => el.tagName") == "CANVAS":
        data = figure.evaluate("c => c.toDataURL('image/png')").encode()
    else:
        data = figure.screenshot()
    return hashlib.sha256(data).hexdigest()


def wait_for_change(figure, before: str, timeout: float) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        now = figure_digest(figure)
        if now != before:
            return now
        time.sleep(0.25)
    raise AssertionError(f"the figure did not change within {timeout} s")


def wait_until_still(figure, quiet: float = 1.0, timeout: float = 15.0) -> str:
    """The digest once two snapshots ``quiet`` seconds apart agree (a last frame may be in flight)."""
    end = time.monotonic() + timeout
    last = figure_digest(figure)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = figure_digest(figure)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the figure kept changing for {timeout} s after Pause")


def test_training_panel_play_moves_the_loss_curve_and_pause_stops_it(lab, browser):
    name = notebook_showing(lab, "TrainingPanel")
    page = browser.new_page()
    try:
        open_and_run_all(page, lab, name)
        assert_widgets_rendered(page)
        panel = output_with(page, "button:has-text('Play')")
        figure = panel.locator(".jupyter-matplotlib-canvas-div canvas, .widget-image").first
        figure.wait_for(timeout=30_000)
        play, pause = panel.locator("button", has_text="Play"), panel.locator("button", has_text="Pause")
        status = panel.locator(".widget-html-content").filter(has_text="test accuracy").first   # "step N  loss ..."
        shoot(panel, "training-panel-ready.png")
        before = wait_until_still(figure)

        play.click()
        frames = [before]
        for _ in range(3):          # not one redraw: the curve keeps moving while it plays
            frames.append(wait_for_change(figure, frames[-1], timeout=20))
        assert len(set(frames)) == 4, "the loss curve did not keep changing while playing"
        assert pause.is_enabled() and not play.is_enabled()
        shoot(panel, "training-panel-playing.png")

        pause.click()
        play.wait_for(state="visible")
        page.wait_for_function("b => !b.disabled", arg=play.element_handle(), timeout=15_000)
        still = wait_until_still(figure, quiet=2.0)      # a last frame may still be on its way
        counter = status.text_content()
        time.sleep(3.0)
        assert figure_digest(figure) == still, "the loss curve still changed after Pause"
        assert status.text_content() == counter, "training went on after Pause"
        assert not pause.is_enabled()
        shoot(panel, "training-panel-paused.png")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "training-panel-failure.png"), full_page=True)
        raise
    finally:
        page.close()
        lab.shut_down_kernels()


def test_dice_panel_dc_slider_changes_the_readout(lab, browser):
    from rtt_edu import SavingThrow
    name = notebook_showing(lab, "DicePanel")
    page = browser.new_page()
    try:
        open_and_run_all(page, lab, name)
        assert_widgets_rendered(page)
        dc = slider(page, "DC")
        panel = output_with(page, ".widget-slider:has(.widget-label:text-is('DC'))")
        start = int(dc.locator(".widget-readout").text_content())
        readout = panel.locator(".widget-html-content").filter(has_text="E[m]").first
        before = readout.text_content()
        generated = name == "panels.ipynb"      # DicePanel(): the classroom rule, so the figures are known
        rule = SavingThrow.preset("classroom")
        if generated:
            assert f"{rule.replace(dc=start).summary()['mean']:+.4f}" in before
        shoot(panel, "dice-panel-before.png")

        move_slider_right(page, dc)
        page.wait_for_function("([el, old]) => el.textContent !== old", arg=[readout.element_handle(), before],
                               timeout=15_000)
        assert int(dc.locator(".widget-readout").text_content()) == start + 1
        if generated:                         # the kernel's exact E[m] for DC + 1, shown in the page
            assert f"{rule.replace(dc=start + 1).summary()['mean']:+.4f}" in readout.text_content()
        shoot(panel, "dice-panel-after.png")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "dice-panel-failure.png"), full_page=True)
        raise
    finally:
        page.close()
        lab.shut_down_kernels()


# --- the layout at JupyterLab's width, before and after every interaction ----------------------------
LAYOUT_VIEWPORT = {"width": 1280, "height": 900}
# Every control and readout is a leaf widget view (a box only holds them): none may be clipped or
# overlap another, no text in one may be cut off, and the output may not scroll sideways.
LAYOUT_JS = """
(out) => {
  const area = out.getBoundingClientRect();
  const leaves = [...out.querySelectorAll('.jupyter-widgets')].filter(el => {
    if (el.classList.contains('widget-box')) return false;
    const outer = el.parentElement.closest('.jupyter-widgets');
    return !outer || outer.classList.contains('widget-box');
  });
  const boxes = leaves.map(el => ({el, r: el.getBoundingClientRect(),
      name: `${el.tagName.toLowerCase()}.${String(el.className).replace(/ +/g, '.')} ` +
            `'${(el.querySelector('.widget-label') || el).textContent.trim().slice(0, 30)}'`}))
    .filter(b => b.r.width > 0.5 && b.r.height > 0.5);
  const problems = [];
  for (const b of boxes) {
    if (b.r.left < area.left - 0.5 || b.r.right > area.right + 0.5 || b.r.top < area.top - 0.5 ||
        b.r.bottom > area.bottom + 0.5)
      problems.push(`outside the output area: ${b.name} ${JSON.stringify(b.r)} vs ${JSON.stringify(area)}`);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].r, c = boxes[j].r;
    const w = Math.min(a.right, c.right) - Math.max(a.left, c.left);
    const h = Math.min(a.bottom, c.bottom) - Math.max(a.top, c.top);
    if (w > 1 && h > 1) problems.push(`overlap: ${boxes[i].name} and ${boxes[j].name}`);
  }
  const cut = out.querySelectorAll('.widget-dropdown select, .widget-label, .widget-readout, ' +
                                   '.widget-toggle-button, .widget-html-content, .widget-button');
  for (const el of cut) {
    if (el.getBoundingClientRect().width > 0 && el.scrollWidth > el.clientWidth + 1)
      problems.push(`text cut off: ${el.className} '${(el.value || el.textContent).slice(0, 40)}' ` +
                    `(scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth})`);
  }
  if (out.scrollWidth > out.clientWidth + 1)
    problems.push(`the output scrolls sideways: ${out.scrollWidth} > ${out.clientWidth}`);
  return {problems, leaves: boxes.length};
}
"""


def lesson_panel_cell() -> str:
    """Lesson 4's first code cell that builds a TrainingPanel, if the lesson has one."""
    for path in sorted((ROOT / "notebooks").glob("04_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "TrainingPanel(" in source and "from_config" not in source:
                return source
    return ('panel = TrainingPanel(dataset="moons", noise=0.2, lr=0.5, rules="classroom", experience=False, seed=0)'
            "\npanel")


# The lesson's panel, trained to its horizon; a watcher that reports, once each dc move's re-training has
# finished on the kernel's event loop (the panel draws its first steps at once and fills in the rest), what
# the kernel drew: the plain curve's data (unchanged?) and the "before" curve (the old dice curve?). It
# waits without blocking (await panel.wait()), so the fill-in runs as it does for a learner; the panel's
# observe runs it on the panel's thread, after the panel's own handler.
WATCHER_CELL = (
    "import asyncio\n"
    "_panel = [v for v in list(globals().values()) if isinstance(v, TrainingPanel)][-1]\n"
    "if _panel.steps == 0:\n    _panel.step(_panel.horizon)\n"
    "_seen = {'plain': _panel.curves()['plain'], 'dice': _panel.curves()['dice']}\n"
    "_check = w.HTML('no move yet')\n"
    "async def _report(dc):\n"
    "    await _panel.wait()\n"
    "    now = _panel.curves()\n"
    "    _check.value = (f\"dc {dc}: plain unchanged {now['plain'] == _seen['plain']}, \"\n"
    "                    f\"before is the old dice curve {now['before'] == _seen['dice']}, \"\n"
    "                    f\"dice changed {now['dice'] != _seen['dice']}\")\n"
    "    _seen['dice'] = now['dice']\n"
    "_panel.observe(_panel.controls['dc'], lambda change: asyncio.ensure_future(_report(change['new'])))\n"
    "_check")

LAYOUT_CELLS = [       # the lessons' figures: matplotlib inline, so each panel shows its figure as a PNG
    "%matplotlib inline\nfrom rtt_edu.views.widgets import ComparePanel, DicePanel, TrainingPanel\n"
    "import ipywidgets as w",
    "DicePanel()",
    lesson_panel_cell(),
    WATCHER_CELL,
    "ComparePanel(seeds=8, steps=100)",
]


def open_file_browser(page) -> None:
    if not page.locator("#filebrowser").is_visible():
        page.locator(".jp-SideBar [data-id='filebrowser'], .jp-SideBar li[title*='File Browser']").first.click()
    page.locator("#filebrowser").wait_for(state="visible", timeout=10_000)


def assert_layout(output, what: str) -> None:
    result = output.evaluate(LAYOUT_JS)
    assert result["leaves"] > 0, f"{what}: no controls found"
    assert not result["problems"], f"{what}: " + "; ".join(result["problems"][:12])


def assert_dc_move_bends_the_curve(page, outputs, training) -> None:
    """One press on the dc slider of the lesson's panel: the dice curve's image changes within 1 s, and once
    the re-training is whole the watcher (WATCHER_CELL) reports the plain curve unchanged and the old dice
    curve kept as "before"."""
    figure = training.locator(".widget-image").first
    before = figure.evaluate("img => img.src")
    dc = training.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text="DC")).first
    handle = dc.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    start = time.monotonic()
    handle.press("ArrowRight")
    page.wait_for_function("([img, old]) => img.src !== old", arg=[figure.element_handle(), before],
                           timeout=5_000, polling=20)
    elapsed = time.monotonic() - start
    print(f"the dice curve's image changed {elapsed * 1000:.0f} ms after the dc key press")
    assert elapsed < 1.0, f"the dice curve changed {elapsed:.2f} s after the dc slider moved"
    check = outputs.filter(has_text="plain unchanged").first
    check.wait_for(timeout=10_000)
    report = check.text_content()
    assert "plain unchanged True" in report and "before is the old dice curve True" in report, report
    assert "dice changed True" in report, report
    status = training.locator(".widget-html-content").filter(has_text="test accuracy").first
    page.wait_for_function("el => !el.textContent.includes('re-training')", arg=status.element_handle(),
                           timeout=10_000)                     # the status line says the curve is whole


def test_every_panel_fits_jupyterlab_at_1280_by_900_and_the_dc_slider_bends_the_curve(lab, browser):
    write_notebook(lab.root / "layout.ipynb", LAYOUT_CELLS)
    page = browser.new_page()
    page.set_viewport_size(LAYOUT_VIEWPORT)
    try:
        open_and_run_all(page, lab, "layout.ipynb")
        open_file_browser(page)
        assert_widgets_rendered(page)
        outputs = page.locator(f"{CURRENT} .jp-OutputArea-output")
        dice = outputs.filter(has=page.locator(".widget-label", has_text="modifier")).first
        training = outputs.filter(has=page.locator("button", has_text="Play")).first
        compare = outputs.filter(has=page.locator("button", has_text="Run")).first
        for output, name in ((dice, "dice"), (training, "training"), (compare, "compare")):
            output.scroll_into_view_if_needed()
            assert_layout(output, f"{name} panel as first shown")
            shoot(output, f"layout-{name}-panel.png")

        assert_dc_move_bends_the_curve(page, outputs, training)
        assert_layout(training, "training panel after a dc move")
        shoot(training, "layout-training-panel-after-dc.png")

        dice_dc = dice.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text="DC")).first
        move_slider_right(page, dice_dc, presses=4)
        time.sleep(1.0)
        assert_layout(dice, "dice panel after a DC move")

        compare.locator("button", has_text="Run").click()
        compare.locator("text=step 100 of 100").wait_for(timeout=60_000)
        assert_layout(compare, "compare panel after Run")
        shoot(compare, "layout-compare-panel-after-run.png")
        lr = compare.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text="learning rate")).first
        move_slider_right(page, lr)
        time.sleep(1.5)
        assert_layout(compare, "compare panel after an lr move")
        shoot(compare, "layout-compare-panel-after-lr.png")
        page.screenshot(path=str(ARTIFACTS / "layout-page.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "layout-failure.png"), full_page=True)
        raise
    finally:
        page.close()
        lab.shut_down_kernels()


ONE_CORE_CELLS = [
    "%matplotlib inline\nimport os\nfrom rtt_edu.views.widgets import TrainingPanel\nimport ipywidgets as w\n"
    "print(f'the kernel may run on {len(os.sched_getaffinity(0))} core(s)')",
    lesson_panel_cell(),
    WATCHER_CELL,
]


def test_on_one_core_the_dc_slider_still_bends_the_curve_within_a_second(lab_one_core, browser):
    """As on mybinder.org, which gives a kernel about one core: the kernel is pinned to one CPU."""
    write_notebook(lab_one_core.root / "one_core.ipynb", ONE_CORE_CELLS)
    page = browser.new_page()
    page.set_viewport_size(LAYOUT_VIEWPORT)
    try:
        open_and_run_all(page, lab_one_core, "one_core.ipynb")
        assert_widgets_rendered(page)
        assert "the kernel may run on 1 core(s)" in outputs_text(page)
        outputs = page.locator(f"{CURRENT} .jp-OutputArea-output")
        training = outputs.filter(has=page.locator("button", has_text="Play")).first
        assert_dc_move_bends_the_curve(page, outputs, training)
        shoot(training, "one-core-training-panel-after-dc.png")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "one-core-failure.png"), full_page=True)
        raise
    finally:
        page.close()
        lab_one_core.shut_down_kernels()
