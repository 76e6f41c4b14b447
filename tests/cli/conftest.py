"""Fixtures for tests that run the real ``syncd`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
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
