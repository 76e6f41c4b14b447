"""What only the SQLite store does, beyond the contract every store keeps.

The contract (round trips, transactions, iteration, links, errors, reset)
is ``test_contract.py``, run against SQLite among others. Here: the
in-memory store, how many statements a lookup takes, the query plans, and
SQLite failures becoming StateErrors. Opening, migrations, damaged files,
locks and crashes are in ``test_sqlite_open.py`` and ``test_sqlite_crash.py``.
Every test uses a real SQLite file under ``tmp_path``; nothing is mocked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.state import Snapshot, SQLiteStore, StateError, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with open_store(tmp_path / "state.db") as store:
        yield store


def snap(record_id: str) -> Snapshot:
    return Snapshot("left", record_id, {"email": f"{record_id}@example.com"}, match_key=f"{record_id}@example.com")


def put(store: SQLiteStore, *snapshots: Snapshot) -> None:
    with store.transaction("crm") as t:
        t.put_snapshots(snapshots)


def test_in_memory_store_for_tests() -> None:
    with open_store(":memory:") as store:
        put(store, snap("a"))
        assert list(store.snapshots("crm", "left", ["a"])) == ["a"]


def test_lookups_take_one_query_per_512_ids(store: SQLiteStore) -> None:
    ids = [f"id{i:05d}" for i in range(1200)]
    with store.transaction("crm") as t:
        t.put_snapshots(snap(i) for i in ids)
        for i in ids:
            t.link(i, f"R-{i}")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        assert len(store.snapshots("crm", "left", ids[:100])) == 100
        assert len(store.linked("crm", "left", ids[:100])) == 100
        assert len(store.linked("crm", "right", [f"R-{i}" for i in ids[:100]])) == 100
        assert len(statements) == 3
        statements.clear()
        assert len(store.snapshots("crm", "left", ids)) == 1200
        assert len(statements) == 3
    finally:
        store._conn.set_trace_callback(None)


def test_queries_use_their_indexes(store: SQLiteStore) -> None:
    """No lookup scans a whole side (a guard for the 100,000-record performance)."""
    conn = store._conn
    from syncd.state._sqlite import _SNAPSHOT_COLUMNS as columns

    queries = [
        f"SELECT {columns} FROM snapshots INDEXED BY snapshots_dirty WHERE integration = ? AND side = ?"
        " AND dirty = 1 AND record_id > ? ORDER BY record_id LIMIT ?",
        f"SELECT {columns} FROM snapshots WHERE integration = ? AND side = ?"
        " AND deleted = 0 AND generation < ? AND record_id > ? ORDER BY record_id LIMIT ?",
        f"SELECT {columns} FROM snapshots WHERE integration = ? AND side = ? AND record_id IN (?, ?)",
        "SELECT left_id, right_id FROM links WHERE integration = ? AND left_id IN (?, ?)",
    ]
    for sql in queries:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?")))
        assert plan.startswith("SEARCH") and "TEMP B-TREE" not in plan, (sql, plan)
    # the methods run (INDEXED BY fails loudly if its index cannot serve the query)
    store.by_match_key("crm", "left", "k")
    store.linked("crm", "right", ["x"])
    list(store.dirty("crm", "left"))
    list(store.unseen("crm", "left", 1))


def test_a_failing_reset_is_a_state_error(store: SQLiteStore) -> None:
    """Every method maps a SQLite failure to a StateError, reset too (SQLite refusing its DELETEs here)."""
    with store.transaction("crm") as t:
        t.link("a", "b")

    def refuse_deletes(action: int, *args: object) -> int:
        return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_DELETE else sqlite3.SQLITE_OK

    store._conn.set_authorizer(refuse_deletes)
    try:
        with pytest.raises(StateError, match="resetting the integration.*not authorized"), \
                store.transaction("crm") as t:
            t.reset()
    finally:
        store._conn.set_authorizer(None)
    assert store.linked("crm", "left", ["a"]) == {"a": "b"}


def test_a_closed_store_names_its_file(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    store.close()
    with pytest.raises(StateError, match="s.db") as raised:
        store.snapshots("crm", "left", ["a"])
    assert raised.value.path == str(tmp_path / "s.db")
