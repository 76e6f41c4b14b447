"""The store fixture of the contract files that run each test on both stores
(a file may still define its own ``store``: it takes precedence there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.state import StateStore, open_state, open_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A new store: SQLite in a file under tmp_path, or a PostgreSQL database of the test's own."""
    if request.param == "postgres":
        opened = open_state(request.getfixturevalue("pg_url"))
    else:
        opened = open_store(tmp_path / "state.db")
    with opened:
        yield opened
