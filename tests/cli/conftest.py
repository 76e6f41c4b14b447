"""Fixtures for tests that run the real ``syncd`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_syncd(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``syncd ARGS`` as a separate process, the way a sysadmin runs it."""
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=timeout,
    )


@pytest.fixture
def run_syncd() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``syncd ARGS`` as its own process: ``run_syncd("check", "x", env={...})``."""
    return _run_syncd


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
