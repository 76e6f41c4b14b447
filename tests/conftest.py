"""Fixtures shared by every test package."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pg_cluster import Cluster, MissingPostgres, start_cluster
from syncd.sampleapp import SampleApp
from syncd.state import StateStore, open_state


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/e2e/conftest.py: options must be known when pytest
    # starts, before it collects the e2e folder.
    parser.addoption(
        "--crash-sweep", action="store_true", default=False,
        help="e2e: kill syncd at every write of a sync, not only at a few points")
    parser.addoption(
        "--run-slow", action="store_true", default=False,
        help="also run the tests marked slow (large sizes); without it they are deselected")
    parser.addoption(
        "--soak", action="store_true", default=False,
        help="tests/soak at the issue's full sizes (10,000 contacts, 50 kills, ...); "
             "without it they run at a small size")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) the tests marked ``slow`` unless ``--run-slow``
    is given, or ``-m`` names the mark (``-m slow`` runs only them)."""
    if config.getoption("--run-slow") or "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


@pytest.fixture
def sample_app() -> Iterator[Callable[..., SampleApp]]:
    """Start fake contacts apps: ``app = sample_app(n=50, auth=AuthMode.BEARER)``.

    Takes ``SampleApp``'s arguments; every app started is stopped (its
    threads joined, its sockets closed) when the test ends, and the test fails
    if the app itself raised (it answers 500 then, which a client may retry).
    """
    started: list[SampleApp] = []

    def start(**kwargs: Any) -> SampleApp:
        app = SampleApp(**kwargs).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
    for app in started:  # an exception inside the fake app is a bug, even if answered 500
        assert not app.server_errors, app.server_errors


@pytest.fixture
def reference_generator() -> ModuleType:
    """docs/generate_reference.py, imported fresh (it is a script, not a
    package module): the reference and docs/connectors/ pages."""
    name = "_syncd_docs_generate_reference"
    path = Path(__file__).resolve().parents[1] / "docs" / "generate_reference.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster (``pg_cluster.py``), one per test process
    (per xdist worker), started at its first use."""
    try:
        cluster = start_cluster()
    except MissingPostgres as e:
        pytest.fail(str(e), pytrace=False)  # never a skip: the PostgreSQL store must be tested
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A database of this test's own, holding syncd's schema: its URL."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def store_of_each_kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """An open state store of each kind in turn: a SQLite file under
    tmp_path, then a PostgreSQL database of the test's own."""
    target = request.getfixturevalue("pg_url") if request.param == "postgres" else tmp_path / "state.db"
    with open_state(target) as opened:
        yield opened


@pytest.fixture
def sampleapp_process(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start ``python -m syncd.sampleapp`` processes; returns their base URLs."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        port_file = tmp_path / f"port-{len(procs)}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncd.sampleapp", "--port", "0", "--quiet",
             "--port-file", str(port_file), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        # With --quiet the app's first line on stderr says it listens, once
        # the port file is written; an app that hangs instead is killed,
        # which ends the read.
        assert proc.stderr is not None
        killer = threading.Timer(20, proc.kill)
        killer.start()
        try:
            listening = proc.stderr.readline()
        finally:
            killer.cancel()
        if not listening.startswith("sampleapp listening on "):
            raise RuntimeError(f"the sample app did not start: {listening}{proc.stderr.read()}")
        return f"http://127.0.0.1:{port_file.read_text().strip()}"

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, f"the sample app did not exit cleanly on SIGTERM: {err}"
