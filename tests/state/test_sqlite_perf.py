"""The SQLite store takes a bulk sync's writes the way that stays fast.

The sync layer commits one transaction per page of about 100 records; a
first sync of 100,000 contacts is 1,000 of them. What makes that slow is
known and visible without a clock: a commit per row, or a query that scans
a whole side instead of searching its key. These tests read the statements
SQLite runs (its trace callback) and its query plans, so they hold on a
loaded machine. How fast it is belongs to bench/ (bench/sync_cycle.py).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.state import Snapshot, open_store


def _contact(i: int, now: datetime) -> Snapshot:
    fields = {
        "email": f"user{i}@example.com", "first_name": "Ada", "last_name": "Lovelace",
        "phone": "+44 20 7946 0958", "stage": "customer", "tags": ["newsletter", "vip"],
    }
    return Snapshot("left", f"rec-{i:07d}", fields, {**fields, "stage": "lead"}, fields["email"], "0123456789abcdef",
                    now, False, i % 3 == 0, 1)


def _connection(store: Any) -> sqlite3.Connection:
    conn = store._conn  # the store's own connection: what it runs is what is traced
    assert isinstance(conn, sqlite3.Connection)
    return conn


def test_a_page_of_snapshots_is_one_transaction_and_lookups_search_the_key(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    contacts = [_contact(i, now) for i in range(10_000)]
    statements: list[str] = []
    with open_store(tmp_path / "state.db") as store:
        conn = _connection(store)
        conn.set_trace_callback(statements.append)
        for page in range(100):
            with store.transaction("bench") as t:
                t.put_snapshots(contacts[page * 100:(page + 1) * 100])
        writes = list(statements)
        statements.clear()
        ids = [c.record_id for c in contacts[::100]]
        assert len(store.snapshots("bench", "left", ids)) == 100
        assert len(store.digests("bench", "left", ids)) == 100
        reads = list(statements)
        conn.set_trace_callback(None)
        assert store.count("bench", "left") == 10_000
        plans = [" ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
                 for sql in reads if sql.lstrip().upper().startswith("SELECT")]

    commits = [s for s in writes if s.strip().upper().startswith("COMMIT")]
    assert len(commits) == 100  # one a page, not one a row
    # every row of a page goes in through one statement run per row, never a statement a column
    assert sum("INSERT" in s.upper() and "SNAPSHOTS" in s.upper() for s in writes) <= 10_000
    assert plans and all("SCAN" not in p for p in plans), plans  # the key is searched, the side not scanned


def _wal_frames(conn: sqlite3.Connection) -> int:
    """The frames in the WAL since the last checkpoint (each a page written), then a checkpoint."""
    busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next transaction's frames start at 0
    return int(frames)


def test_a_full_reads_marks_rewrite_the_rows_alone(tmp_path: Path) -> None:
    """mark_seen changes the generation only; no index holds it, so a mark
    writes the pages of the table and no index page (an index on the
    generation moved an entry for each row marked: a random page of the
    index each, when the ids came out of order)."""
    now = datetime.now(UTC)
    order = [(i * 7919) % 3000 for i in range(3000)]  # ids out of order, as an API sorted by date lists them
    with open_store(tmp_path / "state.db") as store:
        conn = _connection(store)
        with store.transaction("crm") as t:
            t.put_snapshots(_contact(i, now) for i in order)
        ids = [f"rec-{i:07d}" for i in order]
        _wal_frames(conn)
        with store.transaction("crm") as t:
            for k in range(0, len(ids), 100):
                t.mark_seen("left", ids[k:k + 100], 2)
        marks = _wal_frames(conn)
        # the same rows' hash (a column no index holds) changed in one transaction: the table's pages
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("UPDATE snapshots SET hash = 'x' WHERE integration = 'crm' AND side = 'left'"
                         " AND record_id = ?", [(i,) for i in ids])
        conn.execute("COMMIT")
        table = _wal_frames(conn)
        assert [s.generation for s in store.snapshots("crm", "left", ids[:5]).values()] == [2] * 5
        assert list(store.unseen("crm", "left", 2)) == []
        assert [s.record_id for s in store.unseen("crm", "left", 3)][:3] == ["rec-0000000", "rec-0000001",
                                                                              "rec-0000002"]
    assert 0 < marks <= table, (marks, table)
    with closing(sqlite3.connect(tmp_path / "state.db")) as reader:
        indexes = [sql for (sql,) in reader.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'snapshots' AND sql IS NOT NULL")]
    assert indexes and not [sql for sql in indexes if "generation" in sql], indexes
