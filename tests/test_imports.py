"""The library's layers, read from the source: no module imports from a layer above its own.

Every ``import`` of an rtt_edu module counts, at the top of a module or inside a function alike
(a lazy import is still an arrow). The layers, from the bottom (the map in ``rtt_edu/__init__.py``):

    base      errors, atomic writes
    game      dice and rules (no torch); data, models: the toy data sets and networks
    engine    turns, the game master, history, the optimizer hook, the guard, lr helpers, distributed
    party     character classes, monsters, experience
    training  the game's config and factory, attach, the trainer, checkpoints, batched runs, HF
    api       the package's public names (``rtt_edu/__init__.py``: what ``from rtt_edu import ...`` gives)
    science   statistics, experiments, the exact quadratic
    views     plots, the notebook panels, and the class's runs side by side (classroom)
    course    one module per lesson: its set-up and its self-checks
    cli       the command line

And randomness is injected: no library module seeds, draws from or sets a global random state
(Python's, NumPy's or torch's) except through a generator it is given; the one exception, named in
``RESTORES_SAVED_STATE``, is a checkpoint's load giving back the global RNG state it saved.
"""
import ast
import pathlib
import re

import torch

import rtt_edu

ROOT = pathlib.Path(rtt_edu.__file__).parent

#: layer name → the module prefixes it holds, bottom first.
LAYERS = [
    ("base", ["rtt_edu.errors", "rtt_edu.atomic"]),
    ("game", ["rtt_edu.game", "rtt_edu.data", "rtt_edu.models"]),
    ("engine", ["rtt_edu.engine"]),
    ("party", ["rtt_edu.party"]),
    ("training", ["rtt_edu.training"]),
    ("api", ["rtt_edu"]),                      # the package's __init__ only, not everything under it
    ("science", ["rtt_edu.science"]),
    ("views", ["rtt_edu.views", "rtt_edu.classroom"]),
    ("course", ["rtt_edu.course"]),
    ("cli", ["rtt_edu.cli", "rtt_edu.__main__"]),
]


def layer_of(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "rtt_edu" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add its folder to LAYERS"
    return best[0]


def modules() -> dict:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("rtt_edu",) + path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: pathlib.Path) -> set:
    """Every module ``name`` imports (rtt_edu's or not), resolved to a dotted name."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.update(f"{target}.{a.name}" for a in node.names)
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def edges(mods: dict) -> set:
    """(importer, imported) for every import of an rtt_edu module."""
    found = set()
    for name, path in mods.items():
        for target in imports(name, path):
            while target not in mods and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in mods and target != name and target.startswith("rtt_edu"):
                found.add((name, target))
    return found


def upward(mods: dict) -> list:
    return sorted(f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
                  for a, b in edges(mods) if layer_of(b) > layer_of(a))


def test_every_module_is_in_a_layer():
    for name in modules():
        layer_of(name)


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward(modules()) == []


def missing(mods: dict) -> list:
    """'module:line imports target' for every import of an rtt_edu module that is not in ``mods``."""
    found = []
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                targets = [".".join(base + ([node.module] if node.module else []))]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found += [f"{name}:{node.lineno} imports {t}" for t in targets
                      if t.split(".")[0] == "rtt_edu" and t not in mods]
    return found


def test_every_import_of_rtt_edu_names_a_module_that_exists():
    """A lazy import of a module that is gone fails only when it runs; read from the source, every module
    an rtt_edu module imports from the package is there."""
    assert missing(modules()) == []


def test_the_import_check_sees_a_lazy_import_of_a_removed_module(tmp_path):
    fake = tmp_path / "lesson04.py"
    fake.write_text("def check():\n    from rtt_edu.exercises import judge\n")
    assert missing({"rtt_edu.course.lesson04": fake}) == ["rtt_edu.course.lesson04:2 imports rtt_edu.exercises"]


def test_the_game_layer_knows_no_torch():
    game = {n: p for n, p in modules().items() if n.startswith("rtt_edu.game")}
    assert game, "rtt_edu.game holds the dice and the rules"
    for name, path in game.items():
        assert not any(t == "torch" or t.startswith("torch.") for t in imports(name, path)), name


def test_the_layer_check_sees_an_upward_arrow(tmp_path):
    """A plot imported by a history would be an arrow from the engine up to the views."""
    fake = tmp_path / "history.py"
    fake.write_text("from rtt_edu.views.plots import plot_history\n")
    mods = {"rtt_edu.engine.history": fake, "rtt_edu.views.plots": ROOT / "views" / "plots.py"}
    assert upward(mods) == ["rtt_edu.engine.history (engine) imports rtt_edu.views.plots (views)"]


#: the calls that set or draw from a global random state (Python's, NumPy's or torch's).
GLOBAL_RNG = re.compile(r"\b(?:torch\.(?:manual_seed|seed|set_rng_state|cuda\.manual_seed(?:_all)?|"
                        r"cuda\.set_rng_state(?:_all)?|rand|randn|randint|randperm|bernoulli|multinomial|normal)\(|"
                        r"np\.random\.(?:seed|rand|randn|randint|choice|shuffle|permutation|normal|uniform)\(|"
                        r"numpy\.random\.seed\(|random\.(?:seed|random|randint|choice|shuffle|uniform|gauss)\()")

#: module → the one function allowed to set global RNG state, and why. A checkpoint saves torch's global RNG
#: (dropout and shuffled loaders draw from it) and its load gives that state back, so a resumed run goes on
#: exactly: the user's own randomness returned, nothing seeded and nothing drawn.
RESTORES_SAVED_STATE = {"rtt_edu.training.checkpoint": "set_global_rng"}


def function_lines(path: pathlib.Path, name: str) -> range:
    """The line numbers of the top-level function ``name`` in ``path``."""
    (node,) = [n for n in ast.parse(path.read_text(encoding="utf-8")).body
               if isinstance(n, ast.FunctionDef) and n.name == name]
    return range(node.lineno, node.end_lineno + 1)


def test_no_library_module_touches_global_rng_state():
    """Randomness is injected: every draw names its generator (``generator=``, ``rng.``, a DiceRoller)."""
    offenders = []
    for name, path in sorted(modules().items()):
        allowed = function_lines(path, RESTORES_SAVED_STATE[name]) if name in RESTORES_SAVED_STATE else range(0)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for match in GLOBAL_RNG.finditer(code):
                call = code[match.start():]
                if "generator=" not in call and number not in allowed:
                    offenders.append(f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_rng_grep_catches_a_global_seed():
    assert GLOBAL_RNG.search("    torch.manual_seed(0)")
    assert GLOBAL_RNG.search("x = np.random.randn(3)")
    assert GLOBAL_RNG.search("torch.cuda.set_rng_state(state, 0)")
    assert not GLOBAL_RNG.search("g = torch.Generator().manual_seed(0)")
    assert not GLOBAL_RNG.search("rng = random.Random(seed)")


def test_the_one_function_that_sets_global_rng_state_only_restores_a_saved_one():
    """``set_global_rng`` sets torch's RNG to the state it is given, and draws nothing itself."""
    from rtt_edu.training.checkpoint import global_rng_state, set_global_rng
    saved = global_rng_state()
    expected = torch.rand(3)
    torch.manual_seed(12345)                         # test-side: move the global RNG elsewhere
    set_global_rng(saved)
    assert torch.equal(torch.rand(3), expected)
    set_global_rng(saved)                            # and leave it as the test found it
