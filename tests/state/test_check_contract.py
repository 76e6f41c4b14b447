"""``StateStore.check``: the store's integrity and syncd's invariants, against both stores.

A sound store, full of what a sync leaves (snapshots, links, a pending intent,
an open error), has no problem; each invariant broken by hand (raw SQL on the
database, as damage or a bug would leave it) is one line naming the table and
the key. Then what only one store checks: SQLite's own integrity check, and
PostgreSQL's leases and schema (a half schema is refused at open).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from syncd.state import (
    Intent,
    RecordErrorRow,
    Snapshot,
    StateCorruptError,
    StateStore,
    open_state,
    open_store,
)

Raw = Callable[[str], None]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return str(tmp_path / "state.db")


@pytest.fixture
def store(target: str) -> Iterator[StateStore]:
    with open_state(target) as store:
        with store.transaction("crm") as t:
            t.put_snapshots([Snapshot("left", f"L{i}", {"email": f"{i}@x"}) for i in range(3)])
            t.put_snapshots([Snapshot("right", f"R{i}", {"email": f"{i}@x"}) for i in range(3)])
            t.link("L0", "R0")
            t.link("L1", "R1")
            t.add_intent(Intent(side="right", kind="create", source_id="L2", fields={"email": "2@x"}))
            t.add_intent(Intent(side="right", kind="update", source_id="L1", target_id="R1", fields={}))
            t.add_error(RecordErrorRow(side="left", record_id="L2", operation="create", message="no"))
        yield store


@pytest.fixture
def raw(target: str) -> Iterator[Raw]:
    """SQL on the store's database behind its back (foreign keys off on SQLite, as a bug would have them)."""
    if target.startswith("postgresql://"):
        with psycopg.connect(target, autocommit=True) as conn:
            yield lambda sql: None if conn.execute(sql) else None
        return
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield lambda sql: None if conn.execute(sql) else None
    finally:
        conn.close()


def test_a_store_as_a_sync_leaves_it_is_sound(store: StateStore) -> None:
    assert store.check() == []


def test_an_empty_store_is_sound(target: str) -> None:
    with open_state(target) as store:
        assert store.check() == []


def test_a_record_linked_twice(store: StateStore, raw: Raw) -> None:
    raw("DROP INDEX links_right")
    raw("INSERT INTO links (integration, left_id, right_id) VALUES ('crm', 'L2', 'R1')")
    assert store.check() == ["links (crm, right R1): linked 2 times"]


def test_a_link_to_a_record_without_a_snapshot(store: StateStore, raw: Raw) -> None:
    raw("DELETE FROM snapshots WHERE side = 'right' AND record_id = 'R0'")
    assert store.check() == ["links (crm, right R0): linked to left L0, but no snapshot of right R0"]
    raw("DELETE FROM snapshots WHERE side = 'left' AND record_id = 'L0'")
    assert store.check() == ["links (crm, left L0): linked to right R0, but no snapshot of left L0",
                             "links (crm, right R0): linked to left L0, but no snapshot of right R0"]


def test_a_pending_intent_without_its_records(store: StateStore, raw: Raw) -> None:
    raw("DELETE FROM snapshots WHERE side = 'left' AND record_id = 'L2'")
    [line] = store.check()
    assert line.startswith("intents (crm, id ") and line.endswith(
        "): pending create of right from a source record L2 that has no snapshot")
    raw("DELETE FROM snapshots WHERE side = 'left' AND record_id = 'L2'")
    raw("UPDATE intents SET target_id = 'gone' WHERE kind = 'update'")
    assert store.check()[1].endswith("): pending update of right record gone, which has no snapshot")


def test_an_open_error_without_an_attempt(store: StateStore, raw: Raw) -> None:
    raw("UPDATE errors SET attempts = 0, status = 422")
    [line] = store.check()
    assert line.startswith("errors (crm, id ") and line.endswith("): open error of left L2 counts 0 attempts")
    raw("UPDATE errors SET operation = 'delete', status = NULL")
    [line] = store.check()
    assert line.endswith("): open error of left L2 counts 0 attempts")
    raw("UPDATE errors SET attempts = -1, operation = 'create'")
    [line] = store.check()
    assert line.endswith("): open error of left L2 counts -1 attempts")


def test_a_create_a_crash_cut_short_counts_no_attempt_yet(store: StateStore, raw: Raw) -> None:
    raw("UPDATE errors SET attempts = 0, status = NULL")  # the fixture's error is a create's
    assert store.check() == []


def test_an_update_a_crash_cut_short_counts_no_attempt_yet(store: StateStore, raw: Raw) -> None:
    raw("UPDATE errors SET attempts = 0, status = NULL, operation = 'update'")
    assert store.check() == []


# --- SQLite only ---------------------------------------------------------------------------------

def test_sqlite_damage_and_foreign_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as store:
        with store.transaction("crm") as t:
            t.put_snapshots([Snapshot("left", f"L{i:05}", {"email": "x" * 200}) for i in range(2000)])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("INSERT INTO side_states (integration, side) VALUES ('ghost', 'left')")
    conn.close()
    with open_store(path) as store:
        assert store.check() == ["side_states (a row): no integrations row for it (foreign key 0)"]
    data = bytearray(path.read_bytes())
    page = 4096
    middle = len(data) // page // 2 * page
    data[middle + 8:middle + 200] = b"\xff" * 192  # a b-tree page's cell pointers and cells
    path.write_bytes(bytes(data))
    with open_store(path, quick_check=False) as store:
        problems = store.check()
    assert problems[0].startswith("integrity_check: "), problems
    assert problems[-1] == "syncd's invariants were not checked: the database is damaged"


# --- PostgreSQL only -----------------------------------------------------------------------------

def test_postgres_leases_are_sane(pg_url: str) -> None:
    with open_state(pg_url) as store, psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO leases (integration, daemon_id, host, pid, token, acquired_at, expires_at)"
                     " VALUES ('crm', 'd1', 'h', 1, 3, now(), now() + interval '1 minute')")
        conn.execute("INSERT INTO leases (integration) VALUES ('free')")
        assert store.check() == []
        conn.execute("INSERT INTO leases (integration, daemon_id, token) VALUES ('half', 'd2', 0)")
        conn.execute("INSERT INTO leases (integration, host) VALUES ('stale', 'h')")
        conn.execute("UPDATE leases SET expires_at = acquired_at - interval '1 s' WHERE integration = 'crm'")
        assert store.check() == [
            "leases (half): held by d2 (token 0) without its host, pid, term or a token above 0",
            "leases (stale): free, but with a holder's host, pid or term",
            store.check()[2],
        ]
        assert store.check()[2].startswith("leases (crm): expires (")


def test_postgres_columns_are_what_the_migrations_create(pg_url: str) -> None:
    from syncd.state._pg_migrations import COLUMNS, missing_columns

    open_state(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        assert missing_columns(conn) == []
        rows = conn.execute("SELECT table_name::text, column_name::text FROM information_schema.columns"
                            " WHERE table_schema = current_schema()").fetchall()
    made: dict[str, set[str]] = {}
    for table, column in rows:
        made.setdefault(table, set()).add(column)
    assert made == {table: set(columns) for table, columns in COLUMNS.items()}


@pytest.mark.parametrize("damage, lacks", [
    ("DROP TABLE links", "lacks links "),
    ("ALTER TABLE snapshots DROP COLUMN hash", "lacks snapshots.hash "),
    ("ALTER TABLE leases RENAME COLUMN token TO t", "lacks leases.token "),
])
def test_postgres_half_a_schema_is_refused_at_open_and_left_as_it_is(pg_url: str, damage: str, lacks: str) -> None:
    open_state(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(damage)
        with pytest.raises(StateCorruptError) as caught:
            open_state(pg_url)
        assert lacks in str(caught.value) and "does not create tables over a half schema" in str(caught.value)
        assert conn.execute("SELECT to_regclass('links') IS NOT NULL").fetchone() == (damage != "DROP TABLE links",)


def test_postgres_tables_without_their_version_row_are_refused(pg_url: str) -> None:
    open_state(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE syncd_schema_version")
        with pytest.raises(StateCorruptError, match="holds syncd's tables api_usage, bulk_runs, "):
            open_state(pg_url)
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'snapshots'"
                            ).fetchone() == (1,)
