"""The README is executable documentation: its Python blocks run, its commands exist, its set-up is the Makefile's.

Every ```python block of README.md runs, in a fresh namespace that holds small stand-ins for
what the reader brings (``YourTransformerModel``: the package's tiny BERT; the dataloaders:
a few seeded masked-token batches; for the hand-written loop a small MLP on the moons). A
changed API then breaks this test instead of the reader. The Makefile's PyTorch step is run
against indexes that answer and that do not, with a stand-in ``python`` that records what pip
would have been asked to do.
"""
import contextlib
import functools
import http.server
import io
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from rtt_edu import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BANDS = {1.0, 0.75, 0.25, -0.5}      # the classroom preset's multipliers


def blocks(language: str) -> list:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


# --- the stand-ins ---------------------------------------------------------------------------------
def masked_batches(count: int, seed: int, vocab: int = 64, size: int = 4, length: int = 8) -> list:
    """``count`` HuggingFace-style batches: token ids, and labels at a quarter of the places (-100 elsewhere)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        ids = torch.randint(1, vocab, (size, length), generator=generator)
        hidden = torch.rand(size, length, generator=generator) < 0.25
        hidden[:, 0] = True
        batches.append({"input_ids": ids.masked_fill(hidden, 1), "labels": ids.masked_fill(~hidden, -100)})
    return batches


def your_transformer_model():
    from rtt_edu.models import BertConfig, BertMLM
    return BertMLM(BertConfig.tiny(), seed=0)


def stand_ins() -> dict:
    from rtt_edu.data import make_dataset
    from rtt_edu.models import mlp
    data = make_dataset("moons", n=96, seed=0)
    model = mlp(2, (8,), data.classes, seed=0)
    return {
        "YourTransformerModel": your_transformer_model,
        "train_dataloader": masked_batches(6, seed=1),
        "eval_dataloader": masked_batches(2, seed=2),
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "loader": [(data.X_train[i:i + 24], data.y_train[i:i + 24]) for i in range(0, 72, 24)],
        "loss_fn": torch.nn.functional.cross_entropy,
    }


def run_block(source: str) -> tuple:
    """(namespace, stdout) of one README block run with the stand-ins."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    namespace = stand_ins()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "README.md", "exec"), namespace)
    plt.close("all")
    return namespace, out.getvalue()


# --- the Python blocks -----------------------------------------------------------------------------
def test_the_readme_has_the_quick_start_blocks():
    sources = blocks("python")
    assert len(sources) >= 2
    assert "RollToTrain(" in sources[0] and "attach(" in sources[1]


def test_quick_start_trains_the_model_with_a_wizard_and_experience():
    namespace, _ = run_block(blocks("python")[0])
    trainer, history = namespace["trainer"], namespace["history"]
    assert history is trainer.history
    steps = len(namespace["train_dataloader"])
    assert len(history) == steps and len(history.multipliers) == steps          # one roll per mini-batch
    counts = history.outcome_counts()                                           # XP for each save made
    experience = trainer.experience
    assert experience.xp == experience.success_xp * counts.get("success", 0) + experience.crit_xp * counts.get(
        "critical_success", 0)
    assert type(trainer.character_class).__name__ == "Wizard"
    untrained = your_transformer_model().state_dict()
    trained = namespace["model"].state_dict()
    changed = [name for name, value in trained.items() if not torch.equal(value, untrained[name])]
    assert changed, "the quick start's training changed no weight"
    assert namespace["scheduler"].last_epoch == steps                           # the scheduler stepped too


def test_your_own_loop_rolls_each_step_and_the_handle_undoes_it():
    namespace, out = run_block(blocks("python")[1])
    handle, optimizer = namespace["handle"], namespace["optimizer"]
    records = handle.records
    assert len(records) == len(namespace["loader"])
    assert {r.multiplier for r in records} <= BANDS
    assert out == f"{records[-1].multiplier}\n"
    before = [p.detach().clone() for p in namespace["model"].parameters()]
    x, y = namespace["loader"][0]
    optimizer.zero_grad()
    namespace["loss_fn"](namespace["model"](x), y).backward()
    optimizer.step()                                                            # removed: no roll, no record
    assert len(handle.records) == len(records)
    plain = [b - 0.1 * p.grad for b, p in zip(before, namespace["model"].parameters())]
    assert all(torch.allclose(p, q) for p, q in zip(namespace["model"].parameters(), plain))


def test_the_game_as_one_value_trains_with_the_quick_start_s_settings():
    namespace, out = run_block(blocks("python")[2])
    trainer, game = namespace["trainer"], namespace["game"]
    assert trainer.game is game and trainer.character_class is game.character_class
    assert (game.intelligence, game.experience, game.seed) == (15, True, 0) and trainer.experience.xp > 0
    assert len(namespace["history"]) == len(namespace["loader"]) and out == f"{game!r}\n"


# --- the commands it shows --------------------------------------------------------------------------
def test_every_make_target_and_rtt_edu_command_in_the_readme_exists():
    targets = set(re.findall(r"^([a-z]+):", MAKEFILE, flags=re.M))
    shown = set(re.findall(r"\bmake ([a-z]+)", README))
    assert {"lab", "test", "demo", "bench"} <= shown
    assert shown <= targets, f"the README shows make targets the Makefile lacks: {shown - targets}"
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    used = set(re.findall(r"\brtt-edu ([a-z]+)", README))
    assert used and used <= commands, f"the README shows rtt-edu commands that do not exist: {used - commands}"


def test_the_plain_pip_commands_are_the_makefiles_set_up():
    (commands,) = [b for b in blocks("bash") if "pip install" in b]
    lines = commands.strip().splitlines()
    torch_pin = re.search(r"^TORCH\s*\?=\s*(\S+)", MAKEFILE, flags=re.M).group(1)
    index = re.search(r"^TORCH_INDEX\s*\?=\s*(\S+)", MAKEFILE, flags=re.M).group(1)
    assert index == CPU_INDEX and f"--extra-index-url {CPU_INDEX}" in (ROOT / "binder" / "requirements.txt").read_text()
    assert lines[0] == f"pip install {torch_pin} --index-url {index}"
    assert lines[1] == 'pip install -e ".[lab]"' and lines[2].startswith("rtt-edu lab")
    assert len(lines) == 3


def test_the_readme_gives_both_set_up_times():
    for command in ("make lab", "make test"):
        pattern = command.replace(" ", r"\s+")
        assert re.search(rf"`{pattern}`[^.]*?about \d+ (s|min)", README), \
            f"the README gives no measured set-up time for {command}"


# --- the Makefile's set-up ----------------------------------------------------------------------------
def make(*args, cwd=ROOT, timeout=60) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_make_lab_installs_the_lab_extra_only_and_make_test_adds_the_rest(tmp_path):
    fresh = f"VENV={tmp_path / 'venv'}"                 # nothing there: make shows every step it would take
    lab = make("-n", "lab", fresh).stdout
    assert re.findall(r'install -e "\.\[([a-z,]+)\]"', lab) == ["lab"]
    assert "rtt-edu lab notebooks" in lab
    for target in ("test", "setup"):
        assert 'install -e ".[lab,dev,hf,teacher]"' in make("-n", target, fresh).stdout
    for target in ("lab", "test", "demo", "bench", "setup"):
        steps = make("-n", target, fresh).stdout
        assert steps.index("-m venv") < steps.index("--index-url") < steps.index("install -e")   # torch first


@pytest.fixture
def fake_venv(tmp_path):
    """A virtual environment whose ``python`` runs ``-c`` code for real and records every pip call."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "python"
    script.write_text(f'#!/bin/bash\nif [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\n'
                      f'echo "$*" >> "{tmp_path}/calls"\n'
                      f'case "$*" in *--index-url*) exit "${{FAIL_INDEX:-0}}";; esac\nexit 0\n')
    script.chmod(0o755)

    def install_torch(*args):
        done = make(str(tmp_path / "venv" / ".torch"), f"VENV={tmp_path / 'venv'}", *args)
        calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
        return done, calls

    return install_torch


@pytest.fixture
def index(tmp_path):
    """A package index on 127.0.0.1 that answers (an empty torch/ page)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    (tmp_path / "site" / "whl" / "torch").mkdir(parents=True)
    (tmp_path / "site" / "whl" / "torch" / "index.html").write_text("<html></html>")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path / "site"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torch_comes_from_the_index_when_it_answers(fake_venv, index):
    done, calls = fake_venv(f"TORCH_INDEX={index}")
    assert done.returncode == 0, done.stderr
    assert f"PyTorch: torch==2.13.0 from {index}" in done.stdout
    assert calls == [f"-m pip --quiet install --timeout 30 --retries 2 --index-url {index} torch==2.13.0"]


def test_an_unreachable_index_falls_back_to_the_plain_requirement_in_one_line(fake_venv):
    unreachable = f"http://127.0.0.1:{closed_port()}/whl"
    done, calls = fake_venv(f"TORCH_INDEX={unreachable}", "TORCH=torch==2.6.0")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if line.startswith("PyTorch:")]
    assert said == [f"PyTorch: {unreachable} cannot be reached; installing torch==2.6.0 from the default "
                    f"package index instead"]
    assert calls == ["-m pip --quiet install torch==2.6.0"]


def test_an_index_whose_install_fails_falls_back_too(fake_venv, index, monkeypatch):
    monkeypatch.setenv("FAIL_INDEX", "1")
    done, calls = fake_venv(f"TORCH_INDEX={index}")
    assert done.returncode == 0, done.stderr
    assert f"PyTorch: {index} failed; installing torch==2.13.0 from the default package index instead" in done.stdout
    assert calls[1:] == ["-m pip --quiet install torch==2.13.0"] and "--index-url" in calls[0]


def test_an_empty_index_means_the_default_one(fake_venv):
    done, calls = fake_venv("TORCH_INDEX=")
    assert done.returncode == 0, done.stderr
    assert "(TORCH_INDEX is empty)" in done.stdout and calls == ["-m pip --quiet install torch==2.13.0"]
