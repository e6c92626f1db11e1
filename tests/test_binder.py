"""The Binder image: binder/ files, README links, and a simulated image that runs every lesson.

repo2docker cannot run here, so ``test_binder_image_runs_every_lesson_within_2_gb`` builds what it
would: a fresh virtual environment from binder/requirements.txt alone, the package installed by
running binder/postBuild, then nbval over the lessons in it while the memory of the whole
process tree (pytest and every kernel) is watched against mybinder.org's 2 GB cap. It takes
minutes, so it runs only with RTT_BINDER_TEST=1 (.ci/run sets it).

Why not a hard limit: ``RLIMIT_AS`` limits one process's *virtual* address space, which
PyTorch's thread pools and allocator arenas reserve far beyond what they touch, and it would
apply to each process alone; Binder's cap (a cgroup) counts the *resident* memory of all the
image's processes together. So the test samples the resident memory of the process tree and
bounds its peak from above with each process's kernel-tracked high-water mark (VmHWM).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/([\w.-]+)\?urlpath=lab/tree/([\w./-]+)")
MEMORY_CAP = 2 * 1024 ** 3     # mybinder.org: 1 GB guaranteed, 2 GB at most


def repo_lessons() -> list:
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def requirement_lines(path=BINDER / "requirements.txt") -> list:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins() -> dict:
    """``{name: version}`` of the requirement lines (options such as --extra-index-url left out)."""
    found = {}
    for line in requirement_lines():
        if not line.startswith("-"):
            name, _, version = line.partition("==")
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


# --- the files ---------------------------------------------------------------------------------------
def test_requirements_pin_everything_with_cpu_only_torch():
    options = [line for line in requirement_lines() if line.startswith("-")]
    assert options == [f"--extra-index-url {CPU_INDEX}"]
    for line in requirement_lines():
        if not line.startswith("-"):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*", line), f"not an exact pin: {line!r}"
    found = pins()
    assert found["torch"].endswith("+cpu"), "torch must be the CPU build from PyTorch's CPU index"
    for name in ("jupyterlab", "ipywidgets", "ipympl", "ipykernel"):
        assert name in found, f"{name} is not pinned"
    assert int(found["ipywidgets"].split(".")[0]) >= 8, "ipywidgets 8 ships its JupyterLab extension prebuilt"


def test_requirements_satisfy_every_dependency_of_the_package():
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement
    from packaging.version import Version
    found = pins()
    for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in found, f"{name} (a dependency in pyproject.toml) is not pinned in binder/requirements.txt"
        assert requirement.specifier.contains(Version(found[name]), prereleases=True), \
            f"{name}=={found[name]} does not satisfy {requirement}"


def fake_python(folder: Path, status: int) -> Path:
    """A ``python`` that records its arguments and working folder, then exits with ``status``."""
    folder.mkdir()
    script = folder / "python"
    script.write_text(f'#!/bin/bash\necho "$PWD|$*" >> "{folder}/calls"\nexit {status}\n')
    script.chmod(0o755)
    return folder


def run_post_build(tmp_path, fake: Path):
    env = dict(os.environ, PATH=f"{fake}:/usr/bin:/bin")
    return subprocess.run(["bash", str(BINDER / "postBuild")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


def test_post_build_installs_the_package_from_the_repository_without_its_dependencies(tmp_path):
    fake = fake_python(tmp_path / "ok", 0)
    done = run_post_build(tmp_path, fake)
    assert done.returncode == 0, done.stderr
    calls = (fake / "calls").read_text().splitlines()
    assert calls[0] == f"{ROOT}|-m pip install --no-deps --no-cache-dir ."
    assert len(calls) == 2 and calls[1].startswith("/|-c ")         # the import check, away from the sources


def test_post_build_fails_loudly(tmp_path):
    fake = fake_python(tmp_path / "broken", 1)
    done = run_post_build(tmp_path, fake)
    assert done.returncode != 0
    assert len((fake / "calls").read_text().splitlines()) == 1      # stopped at the failed install


def test_post_build_is_executable_and_builds_nothing():
    text = (BINDER / "postBuild").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK)
    mode = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], cwd=ROOT, capture_output=True,
                          text=True).stdout.split(" ")[0]
    assert mode in ("", "100755"), "commit binder/postBuild as executable (git update-index --chmod=+x)"
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    assert "jupyter lab build" not in text and "labextension install" not in text
    runtime = re.fullmatch(r"python-3\.(\d+)", (BINDER / "runtime.txt").read_text().strip())
    assert runtime and int(runtime.group(1)) >= 10, "binder/runtime.txt: python-3.X, X >= 10 (requires-python)"


# --- README: a badge for the course and a link per lesson --------------------------------------------
def readme_binder_section() -> str:
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- section:binder -->", "<!-- /section:binder -->"
    assert start in text and end in text, f"README.md has no {start} ... {end} block under its title"
    assert text.index(start) < text.index("\n## "), "the Binder block belongs right under the title"
    return text[text.index(start):text.index(end)]


def test_readme_badge_opens_the_first_lesson_and_every_lesson_has_a_link():
    section = readme_binder_section()
    links = BINDER_LINK.findall(section)
    assert links, "no mybinder.org links in the Binder block"
    assert len({(repo, ref) for repo, ref, _ in links}) == 1, "every link must open the same repository and ref"
    badge = re.search(r"\[!\[[^\]]*\]\(https://mybinder\.org/badge_logo\.svg\)\]\((\S+)\)", section)
    assert badge, "no Binder badge ([![...](https://mybinder.org/badge_logo.svg)](link))"
    lessons = repo_lessons()
    assert badge.group(1).endswith(f"?urlpath=lab/tree/notebooks/{lessons[0]}"), "the badge opens the first lesson"
    targets = [path for _, _, path in links]
    for path in targets:
        assert (ROOT / path).is_file(), f"a README link opens {path}, which does not exist"
    linked = {Path(p).name for p in targets if p.startswith("notebooks/")}
    missing = [name for name in lessons if name not in linked]
    repo, ref, _ = links[0]
    suggested = " · ".join(f"[{int(n[:2])} {n[3:-6].replace('_', ' ')}](https://mybinder.org/v2/gh/{repo}/{ref}"
                           f"?urlpath=lab/tree/notebooks/{n})" for n in missing)
    assert not missing, f"lessons without a Binder link in README.md: {missing}; add {suggested}"


# --- the simulated image -------------------------------------------------------------------------------
def source_files() -> list:
    """What repo2docker copies: the files git would take (tracked, and new ones not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def process_tree(root_pid: int) -> list:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, frontier = [root_pid], [root_pid]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def memory_kb(pid: int) -> tuple:
    """(VmRSS, VmHWM) of ``pid`` in kB, or (0, 0) once it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return 0, 0


class TreeMemory(threading.Thread):
    """Samples a process tree every ``every`` s: the peak of the summed resident memory, and the
    peak of the summed high-water marks (each process's own peak so far), an upper bound of it."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_hwm_bound = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            samples = [memory_kb(pid) for pid in process_tree(self.pid)]
            self.peak_rss = max(self.peak_rss, sum(s[0] for s in samples) * 1024)
            self.peak_hwm_bound = max(self.peak_hwm_bound, sum(s[1] for s in samples) * 1024)
            time.sleep(self.every)


def probe_notebook(path: Path, env_dir: Path) -> None:
    """A notebook that checks its kernel runs in the image's environment with the installed package."""
    source = (f"# NBVAL_CHECK_OUTPUT\nimport sys, rtt_edu, torch\n"
              f"print(sys.prefix == {str(env_dir)!r}, rtt_edu.__file__.startswith({str(env_dir)!r}),"
              f" torch.version.cuda is None)")
    cell = {"cell_type": "code", "execution_count": 1, "id": "probe", "metadata": {}, "source": source,
            "outputs": [{"name": "stdout", "output_type": "stream", "text": "True True True\n"}]}
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [cell], "metadata": {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}}}))


def run(cmd, cwd, env, timeout, what):
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return time.monotonic() - start


@pytest.mark.binder
@pytest.mark.slow
def test_binder_image_runs_every_lesson_within_2_gb(tmp_path):
    if os.environ.get("RTT_BINDER_TEST") != "1":
        pytest.skip("builds a fresh environment from binder/ and runs every lesson (minutes): set RTT_BINDER_TEST=1")
    from importlib.metadata import version
    figures = {}
    repo = tmp_path / "repo"                             # what repo2docker copies into the image
    for name in source_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes((ROOT / name).read_bytes())
    env_dir = tmp_path / "env"
    figures["venv_s"] = run([sys.executable, "-m", "venv", str(env_dir)], tmp_path, None, 300, "venv")
    own_bin = Path(sys.prefix, "bin").resolve()                 # not this environment's python
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if Path(p).resolve() != own_bin]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
           and not k.startswith("JUPYTER")}
    env.update(PATH=os.pathsep.join([str(env_dir / "bin"), *path]), VIRTUAL_ENV=str(env_dir),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"), IPYTHONDIR=str(tmp_path / "ipython"),
               MPLCONFIGDIR=str(tmp_path / "mpl"))
    # The CPU index cannot be reached from here; the very same torch==...+cpu wheel lies in this
    # machine's local wheel folder, so only the --extra-index-url line is left out.
    local = tmp_path / "requirements-local.txt"
    local.write_text("\n".join(line for line in requirement_lines() if not line.startswith("--extra-index-url")))
    figures["requirements_s"] = run(["python", "-m", "pip", "install", "-q", "-r", str(local)], repo, env, 1800,
                                    "pip install -r binder/requirements.txt")
    figures["postbuild_s"] = run(["bash", "binder/postBuild"], repo, env, 600, "binder/postBuild")
    run(["python", "-m", "pip", "install", "-q", f"pytest=={version('pytest')}", f"nbval=={version('nbval')}"],
        repo, env, 600, "installing the test tools (not part of the image)")

    probe_notebook(repo / "notebooks" / "00_binder_probe.ipynb", env_dir)
    log = tmp_path / "nbval.log"
    start = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(["python", "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                                    "notebooks"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT)
        monitor = TreeMemory(process.pid)
        monitor.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        monitor.stopped.set()
        monitor.join()
    figures["nbval_s"] = time.monotonic() - start
    figures["lessons"] = len(list((repo / "notebooks").glob("[0-9][0-9]_*.ipynb"))) - 1
    figures["peak_tree_rss_mb"] = monitor.peak_rss / 2 ** 20
    figures["peak_tree_hwm_bound_mb"] = monitor.peak_hwm_bound / 2 ** 20
    figures["largest_process_mb"] = usage.ru_maxrss / 1024            # exact, from the kernel (kB on Linux)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "binder.json").write_text(json.dumps({k: round(v, 1) for k, v in figures.items()}) + "\n")
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}))

    output = log.read_text(errors="replace")
    assert process.returncode == 0, f"nbval in the Binder environment failed:\n{output[-6000:]}"
    lessons = sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb"))       # the probe included
    cells = sum(cell["cell_type"] == "code" for path in lessons for cell in json.loads(path.read_text())["cells"])
    ran = re.search(r"(\d+) passed(?:, (\d+) skipped)?", output.splitlines()[-1])
    assert ran and int(ran.group(1)) + int(ran.group(2) or 0) == cells, f"expected {cells} cells:\n{output[-2000:]}"
    assert monitor.peak_hwm_bound >= monitor.peak_rss > 0
    peak = max(monitor.peak_hwm_bound, usage.ru_maxrss * 1024)
    assert peak < MEMORY_CAP, f"the lessons' process tree peaked above 2 GB: {figures}"
