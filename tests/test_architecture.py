"""The shape of the code: imports run one way, functions and modules stay readable, every parameter is documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "icezoo"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The icezoo modules an ``ast.ImportFrom`` in ``module`` names (a submodule when the name is one)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not (target == "icezoo" or target.startswith("icezoo.")):
        return []
    named = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
    return named if len(named) == len(node.names) else named + [target]


def import_graph() -> dict[str, set[str]]:
    """Module -> the icezoo modules it imports anywhere (top level or inside functions)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                edges.update(_resolve(name, path.name == "__init__.py", node))
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in MODULES)
        graph[name] = {e for e in edges if e in MODULES and e != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_icezoo_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_registry_is_the_lowest_layer():
    assert import_graph()["icezoo.registry"] <= {"icezoo.errors", "icezoo.typecheck"}


def test_no_function_longer_than_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, long


def _layout_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Layout\n(.*?)(?=^## )", readme, re.S | re.M)
    assert match, "README has no '## Layout' section"
    return match.group(1)


def test_long_modules_are_explained_in_the_readme_layout():
    layout = _layout_section()
    long = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in MODULES.values()
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_MODULE_LINES
    }
    unexplained = [f"{p} ({n} lines)" for p, n in long.items() if p not in layout]
    assert not unexplained, f"modules over {MAX_MODULE_LINES} lines not explained in the README's layout: {unexplained}"


def test_every_builtin_component_documents_every_parameter(cli):
    from icezoo.registry import registry

    missing = [
        f"{e.kind} {e.name}: {p.name}"
        for e in registry.entries()
        if e.source == "core"
        for p in e.params()
        if not p.doc
    ]
    assert not missing, f"parameters without an Args: line: {missing}"
    code, out, _ = cli("describe", "reasoning", "se")
    assert code == 0
    assert re.search(r"^  reduction: int \(default \d+\)\n      \S.+$", out, re.M), out
    assert "Args:" not in out  # the section is shown per parameter, not twice


@pytest.mark.parametrize("doc, expected", [
    ("Summary.\n\nArgs:\n    a: first thing.\n    b: second,\n        wrapped.\n\nReturns:\n    x", {"a": "first thing.", "b": "second, wrapped."}),
    ("Summary.", {}),
])  # fmt: skip
def test_parameter_docs_read_google_style_args(doc, expected):
    from icezoo.registry import parameter_docs

    def f():
        pass

    f.__doc__ = doc
    assert parameter_docs(f) == expected
