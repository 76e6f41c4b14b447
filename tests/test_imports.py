"""No import cycles among the modules of a package (DESIGN.md: small modules, imports point down).

A cycle works only by import order, and breaks when a module is imported
first from another place. The graph counts every import a module makes:
at the top, inside functions and under ``if TYPE_CHECKING:`` (mypy follows
those, and a cycle there means two modules each know the other's insides).
A package's ``__init__`` counts as a module; importing a submodule does not
count as importing its parent package (Python does that, but the parent
importing the submodule is not then a cycle).
"""

from __future__ import annotations

import ast
import textwrap
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Packages (as paths from the repository root) whose modules must not import
# each other in a cycle: all of syncd, as one graph, so that a cycle across
# packages counts too.
PACKAGES = ["syncd"]

# The layers of DESIGN.md, top down: a module imports only from its own
# package and from the layers below its own. The top-level modules
# (syncd.expr, syncd._secret, syncd._resources, syncd._logging) are at the
# bottom; the sample app is a tool of the command line's demo and of tests.
LAYERS: list[set[str]] = [
    {"__main__"}, {"cli"}, {"sampleapp", "daemon"}, {"sync"}, {"connector"}, {"state", "config"},
    {"expr"}, {"syncd", "_secret", "_resources", "_logging", "_httpx_cli"},
]


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The known modules an import statement imports (``from p import name`` may name a submodule)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base]) if base else ".".join(package)
    found = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in known:  # a submodule
            found.add(f"{base}.{alias.name}")
        elif base in known:  # a name the module defines
            found.add(base)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module name -> the modules of the same tree it imports, for every ``.py`` under ``root/package``."""
    files = {_module_name(root, path): path for path in sorted((root / package).rglob("*.py"))}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(module, path.name == "__init__.py", node, known)
        graph[module] = edges - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_cycles_within_a_package() -> None:
    problems = {package: cycles(import_graph(REPO, package)) for package in PACKAGES}
    assert problems == {package: [] for package in PACKAGES}, "modules that import each other in a cycle"


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "syncd"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_imports_point_down_the_layers() -> None:
    graph = import_graph(REPO, "syncd")
    upward = sorted(
        f"{module} imports {target}" for module, targets in graph.items() for target in targets
        if _layer(target) < _layer(module))
    assert upward == [], "imports that point up the layers (cli -> daemon -> sync -> connector -> state/config)"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The check can fail: a cycle through a TYPE_CHECKING import, a relative
    import and a function-level import are all found; a clean package is clean."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg._a import A\n",
        "_a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg._b import B\nclass A: ...\n",
        "_b.py": "import pkg._a\nclass B: ...\n",
        "_c.py": "def f():\n    from . import _d\n",
        "_d.py": "from pkg import _c\n",
        "_e.py": "from pkg import A\n",
        "sub/__init__.py": "",
        "sub/_f.py": "from .. import _e\nfrom ._g import G\n",
        "sub/_g.py": "G = 1\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text), encoding="utf-8")

    graph = import_graph(tmp_path, "pkg")

    assert graph["pkg"] == {"pkg._a"}
    assert graph["pkg._e"] == {"pkg"}  # a name from __init__; __init__ does not import _e: no cycle
    assert graph["pkg.sub._f"] == {"pkg._e", "pkg.sub._g"}
    assert cycles(graph) == [["pkg._a", "pkg._b"], ["pkg._c", "pkg._d"]]
    assert cycles(import_graph(tmp_path, "pkg/sub")) == []


def test_a_command_starts_without_the_http_servers_nor_a_progress_bar() -> None:
    # Every command builds the whole parser and sets up logging: what only
    # `syncd run` uses (uvicorn, Starlette, prometheus-client, watchfiles),
    # the bar only `bulk start` draws (tqdm), and what structlog and httpx
    # import on their own when installed (rich; httpx's CLI) cost
    # 0.1 to 0.2 s at each start of `syncd once` from cron.
    code = ("import sys, syncd.cli; syncd.cli.build_parser(); from syncd._logging import configure_logging; "
            "configure_logging('warning'); import httpx; "
            "print(sorted(m for m in ('uvicorn', 'starlette', 'prometheus_client', 'watchfiles', 'tqdm', "
            "'rich', 'httpx._main') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

