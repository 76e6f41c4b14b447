"""Fixtures for the connector tutorial's tests: the tutorial's API and the
eleventh app, fakes served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

# The fakes' HTTP server (fakes.py) is shared with the vendor spec tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connector_specs"))

from fakes import FakeApi  # noqa: E402


@pytest.fixture
def fake_api() -> Iterator[Callable[..., Any]]:
    """``fake_api(FakeRookery, members=5)``: a running fake, stopped after the
    test, which then fails on any error inside the fake (answered 500, which
    syncd would retry)."""
    started: list[FakeApi] = []
    with ExitStack() as stack:
        yield lambda cls, **kwargs: started.append(stack.enter_context(cls(**kwargs))) or started[-1]
    errors = [error for fake in started for error in fake.server_errors]
    assert not errors, errors[0]
