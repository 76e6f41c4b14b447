"""The modules of ``syncd.connector`` import one another without a loop.

A loop hides behind ``if TYPE_CHECKING:`` as well as anywhere else (it still
ties the two modules' designs together, and mypy follows it), so every import
statement of every module counts: read from the source with ``ast``, not
from what Python happened to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import syncd.connector

PACKAGE = "syncd.connector"
PACKAGE_DIR = Path(syncd.connector.__file__).parent


def module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def imported_names(path: Path) -> set[str]:
    """Every module (or module.attribute) named by an import in the file, made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: level 1 is the package itself, for __init__ as for the rest
                base = PACKAGE.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (``from syncd.connector
    import X`` imports the package's ``__init__``, or the submodule X)."""
    modules = {module_name(p): p for p in sorted(PACKAGE_DIR.glob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path):
            if imported in modules:
                targets.add(imported)
            elif imported.rpartition(".")[0] in modules:  # from module import attribute
                targets.add(imported.rpartition(".")[0])
        targets.discard(name)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node, [])
        if cycle:
            return cycle
    return None


def test_the_graph_sees_imports_in_every_form() -> None:
    # A known edge of each kind the package uses, so that an empty graph
    # cannot pass the test below by accident.
    graph = import_graph()
    assert f"{PACKAGE}._connector" in graph[PACKAGE]  # from syncd.connector._connector import …
    assert f"{PACKAGE}._errors" in graph[f"{PACKAGE}._http"]


def test_relative_and_type_checking_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "_example.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import _a\n"
        "from ._b import B\n"
        "if TYPE_CHECKING:\n"
        "    from syncd.connector._c import C\n",
        encoding="utf-8",
    )
    assert {f"{PACKAGE}._a", f"{PACKAGE}._b", f"{PACKAGE}._c"} <= imported_names(source)


def test_find_cycle_names_the_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"b"}, "d": set()}
    assert find_cycle(graph) == ["b", "c", "b"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_connector_modules_import_each_other_without_a_loop() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in syncd.connector (TYPE_CHECKING imports count): " + " -> ".join(cycle or ())
