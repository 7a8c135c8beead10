"""The library's import structure: it never imports the harness, and its modules import no cycle.

Read from the source with ast (nothing is imported), so a lazy import inside a function counts as much
as one at the top: both run, and a cycle through either breaks as soon as the order of first use changes.
Imports under ``if TYPE_CHECKING:`` never run and do not count.
"""

from __future__ import annotations

import ast
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HARNESS = "zipfit.harness"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "zipfit").rglob("*.py"))}
LIBRARY = sorted(m for m in MODULES if m != HARNESS and not m.startswith(HARNESS + "."))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _string_imports(node: ast.Call) -> list[str]:
    """``importlib.import_module("x")`` and ``__import__("x")`` with a literal name."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
        return [str(node.args[0].value)]
    return []


def imported_modules(module: str) -> set[str]:
    """Every zipfit module ``module`` imports when it runs, at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit_node(other)
                continue
            visit_node(child)

    def visit_node(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"  # `from zipfit.io import shards` imports the module zipfit.io.shards
                found.add(full if full in MODULES else base)
        elif isinstance(node, ast.Call):
            found.update(_string_imports(node))
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return {m for m in found if m in MODULES and m != module}


GRAPH = {module: imported_modules(module) for module in MODULES}


def _mentions_harness(path: Path) -> list[str]:
    """String constants naming the harness's modules (what importlib would be handed), docstrings aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings and (node.value == HARNESS or node.value.startswith(HARNESS + "."))]


def test_the_graph_sees_imports_at_every_depth():
    assert "zipfit.engines.local" in GRAPH["zipfit.engines"]  # top level
    assert "zipfit.engines.ray" in GRAPH["zipfit.engines"]  # inside make_engine
    assert "zipfit.api" in GRAPH["zipfit.harness.cli"]  # inside a handler


@pytest.mark.parametrize("module", LIBRARY)
def test_the_library_never_imports_the_harness(module):
    harness = sorted(m for m in GRAPH[module] if m == HARNESS or m.startswith(HARNESS + "."))
    assert not harness, f"{module} imports {harness}: the harness sits on top of the library, never under it"
    assert not _mentions_harness(MODULES[module]), f"{module} names a harness module in a string"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_library_imports_no_cycle():
    library = {m: {d for d in GRAPH[m] if d in LIBRARY} for m in LIBRARY}
    cycle = _cycle(library)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_harness_imports_no_cycle_either():
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_the_harness_commands_are_registered_as_an_entry_point():
    import tomllib

    project = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["entry-points"]["zipfit.commands"]
    installed = {e.name: e.value for e in entry_points(group="zipfit.commands")}
    assert declared == {"harness": "zipfit.harness.cli:add_commands"}
    assert installed == declared, ("the installed metadata is older than pyproject.toml: run `pip install -e .` "
                                   "so that `zipfit train-eval` and `zipfit experiment` are found")
