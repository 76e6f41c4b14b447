"""Fixtures of the state store tests: the throwaway PostgreSQL cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pg_cluster import Cluster, MissingPostgres, start_cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One cluster per test process (per xdist worker), started on first use."""
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
    """A database of this test's own, with the schema: its URL."""
    return pg_cluster.new_database()
