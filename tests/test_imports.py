"""No import cycle among the library's modules.

Every ``import`` of an rtt_edu module is read from the source (at the top of a module or inside
a function alike), and the graph they make must have no cycle, except for the one deliberate
lazy import: ``History.plot`` draws with :mod:`rtt_edu.plots`, which reads histories.
"""
import ast
import pathlib

import rtt_edu

ROOT = pathlib.Path(rtt_edu.__file__).parent
ALLOWED = {("rtt_edu.history", "rtt_edu.plots")}     # History.plot, the one deliberate lazy import


def modules() -> dict:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("rtt_edu",) + path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def edges(mods: dict) -> set:
    """(importer, imported) for every import of an rtt_edu module (not the package's own __init__)."""
    found = set()
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                while t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != name and t != "rtt_edu":
                    found.add((name, t))
    return found


def find_cycle(graph: dict):
    state, stack = {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == "open":
                return stack[stack.index(v):] + [v]
            if v not in state:
                cycle = visit(v)
                if cycle:
                    return cycle
        stack.pop()
        state[u] = "done"
        return None
    for u in sorted(graph):
        if u not in state:
            cycle = visit(u)
            if cycle:
                return cycle
    return None


def test_the_library_s_modules_import_each_other_without_a_cycle():
    mods = modules()
    assert "rtt_edu.turns" in mods and "rtt_edu.history" in mods
    graph = {}
    for a, b in edges(mods) - ALLOWED:
        graph.setdefault(a, set()).add(b)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_the_one_allowed_lazy_import_is_really_there():
    assert ALLOWED <= edges(modules())
