"""The store fixture of the contract files that run each test on both stores
(a file may still define its own ``store``: it takes precedence there)."""

from __future__ import annotations

import pytest

from syncd.state import StateStore


@pytest.fixture
def store(store_of_each_kind: StateStore) -> StateStore:
    """A new store: SQLite in a file under tmp_path, then a PostgreSQL database of the test's own
    (tests/conftest.py's ``store_of_each_kind``)."""
    return store_of_each_kind
