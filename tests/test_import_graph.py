"""The house stays in order: no import cycles among emofeat/ and cli/, no module too long.

The graph counts every ``import`` and ``from ... import`` in a module, at module level and
inside functions alike (a function-local import is still a dependency, only a later one).
Relative imports are resolved, and ``from pkg import name`` counts as importing
``pkg.name`` when that is a module, otherwise as importing ``pkg`` (its ``__init__``): a
package that re-exports names is a module like any other, so a submodule importing them
from its own package is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emofeat", "cli")
MAX_LINES = 320


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _imported(module: str, path: Path, node: ast.AST, mods: dict[str, Path]) -> list[str]:
    """The modules of ``mods`` that one import statement of ``module`` depends on."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            # ``import a.b.c`` loads a, a.b and a.b.c
            parts = alias.name.split(".")
            found += [n for i in range(1, len(parts) + 1) if (n := ".".join(parts[:i])) in mods]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            if f"{target}.{alias.name}" in mods:  # from pkg import module
                found.append(f"{target}.{alias.name}")
            elif target in mods:  # from module import name (a package's __init__ too)
                found.append(target)
    return [m for m in found if m != module]


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name].update(_imported(name, path, node, mods))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_local_and_relative_imports() -> None:
    graph = import_graph()
    assert "emofeat.store" in graph and "cli" in graph
    assert any(graph.values()), "the graph found imports"


def test_find_cycle_reports_the_loop() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_is_short() -> None:
    long = {str(path.relative_to(ROOT)): n for path in _modules().values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: split them: {long}"
