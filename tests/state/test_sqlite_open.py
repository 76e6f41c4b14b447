"""Opening the SQLite state store: migrations, versions, damaged files, permissions, locks.

Real files under ``tmp_path``; the lock is held by a real second process.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from syncd.state import (
    Intent,
    SideState,
    Snapshot,
    StateCorruptError,
    StateError,
    StateLockedError,
    StateVersionError,
    open_store,
)
from syncd.state._migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate

TABLES = {"integrations", "side_states", "snapshots", "links", "intents", "errors", "conflicts"}


def _pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def _filled(path: Path, n: int = 2000) -> Path:
    with open_store(path) as store, store.transaction("crm") as t:
        t.put_snapshots(
            Snapshot("left", f"r{i:05d}", {"email": f"r{i}@example.com", "note": "x" * 200}, match_key=f"m{i}")
            for i in range(n)
        )
    return path


# --- migrations --------------------------------------------------------------------------------

def test_a_new_file_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as store:
        assert store.integrations() == []
        conn = store._conn
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert TABLES <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert _pragma(path, "user_version") == SCHEMA_VERSION == len(MIGRATIONS)
    assert _pragma(path, "application_id") == APPLICATION_ID
    with open_store(path) as store:  # reopening an up-to-date file changes nothing
        assert store.integrations() == []
    assert _pragma(path, "user_version") == SCHEMA_VERSION


def test_an_empty_existing_file_is_refused_not_taken_for_a_new_store(tmp_path: Path) -> None:
    # A state file truncated to 0 bytes was once silently made a new, empty store (every link and
    # cursor forgotten): syncd makes its files whole (never empty), so an empty one is damage.
    path = tmp_path / "state.db"
    path.touch()
    with pytest.raises(StateCorruptError, match=r"state.db is empty \(0 bytes\)"):
        open_store(path)
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_a_new_store_is_made_whole_beside_the_path_then_linked_into_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as store:
        assert store.integrations() == []
    assert path.stat().st_size > 0 and _pragma(path, "user_version") == SCHEMA_VERSION
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]  # no temporary left


def test_migrations_apply_step_by_step_each_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _filled(path, 10)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        broken = (*MIGRATIONS, ("CREATE TABLE extra (x)", "CREATE TABLE extra (y)"))  # its 2nd statement fails
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(conn, str(path), broken)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0

        later = (*MIGRATIONS, ("CREATE TABLE extra (x)",), ("ALTER TABLE extra ADD COLUMN y",))
        assert migrate(conn, str(path), later) == SCHEMA_VERSION + 2
        assert [row[1] for row in conn.execute("PRAGMA table_info(extra)")] == ["x", "y"]
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 10
    finally:
        conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = _filled(tmp_path / "state.db", 1)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 41}")
    conn.close()

    with pytest.raises(StateVersionError) as caught:
        open_store(path)

    message = str(caught.value)
    assert str(path) in message
    assert f"written by a newer syncd (schema {SCHEMA_VERSION + 41}, this syncd knows {SCHEMA_VERSION})" in message
    assert _pragma(path, "user_version") == SCHEMA_VERSION + 41  # untouched


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="another application") as caught:
        open_store(path)
    assert str(path) in str(caught.value)
    assert _pragma(path, "user_version") == 0


# --- damaged files -----------------------------------------------------------------------------

def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a SQLite database, just some garbage bytes\n" * 100)

    with pytest.raises(StateCorruptError) as caught:
        open_store(path)

    message = str(caught.value)
    assert str(path) in message
    assert "file is not a database" in message  # SQLite's own words
    assert "move it aside and run `syncd reset INTEGRATION`" in message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert caught.value.path == str(path)


def test_a_database_truncated_mid_file(tmp_path: Path) -> None:
    path = _filled(tmp_path / "state.db")
    size = path.stat().st_size
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: everything is in the main file
    with path.open("r+b") as f:
        f.truncate(size // 2)

    with pytest.raises(StateCorruptError) as caught:
        open_store(path)

    message = str(caught.value)
    assert str(path) in message and "move it aside" in message
    assert caught.value.sqlite_message  # what SQLite (or quick_check) said


def test_a_damaged_page_is_found_by_quick_check(tmp_path: Path) -> None:
    path = _filled(tmp_path / "state.db")
    data = bytearray(path.read_bytes())
    data[32:40] = struct.pack(">II", 20, 5)  # the freelist: "page 20, 5 pages", a page in use
    path.write_bytes(bytes(data))

    with pytest.raises(StateCorruptError, match="move it aside") as caught:
        open_store(path)
    message = str(caught.value)
    assert str(path) in message and "quick_check: " in message and "freelist" in message
    assert "\n" not in message


def test_damage_found_later_is_a_state_error_too(tmp_path: Path) -> None:
    path = _filled(tmp_path / "state.db")
    data = bytearray(path.read_bytes())
    for page in range(10, len(data) // 4096, 10):  # wrong cell counts in some b-tree pages
        data[page * 4096 + 3:page * 4096 + 5] = struct.pack(">H", 3)
    path.write_bytes(bytes(data))

    with open_store(path, quick_check=False) as store:  # not checked on open: found when read
        with pytest.raises(StateCorruptError, match="malformed") as caught:
            store.count("crm", "left")
        assert str(path) in str(caught.value) and "move it aside" in str(caught.value)
        with pytest.raises(StateCorruptError), store.transaction("crm") as t:
            t.put_snapshots(Snapshot("left", f"r{i:05d}", {}) for i in range(2000))


def test_damaged_schema_pages(tmp_path: Path) -> None:
    path = _filled(tmp_path / "state.db")
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 3, len(data) - 4096, 4096 * 7):  # scribble over pages' headers
        data[offset:offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))

    with pytest.raises(StateCorruptError, match="malformed") as caught:
        open_store(path)
    assert str(path) in str(caught.value)


# --- permissions -------------------------------------------------------------------------------

def test_file_and_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "syncd" / "state.db"
    old = os.umask(0)  # the modes must not depend on the umask
    try:
        store = open_store(path)
    finally:
        os.umask(old)
    try:
        with store.transaction("crm") as t:
            t.put_snapshots([Snapshot("left", "a", {"email": "a@example.com"})])
        for directory in (tmp_path / "var", tmp_path / "var" / "lib", path.parent):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        store.close()


def test_an_uncreatable_path_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="cannot be created") as caught:
        open_store(blocker / "state.db")
    assert str(blocker / "state.db") in str(caught.value)


# --- locks -------------------------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent("""
    import sys
    from syncd.state import Snapshot, open_store

    store = open_store(sys.argv[1])
    with store.transaction("crm") as t:
        t.put_snapshots([Snapshot("left", "held", {})])
        print("locked", flush=True)
        sys.stdin.read()  # hold the write lock until the parent closes our stdin
    store.close()
""")


def test_a_lock_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _filled(path, 1)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "locked\n"
        with open_store(path, busy_timeout=0.3) as store:  # opening an up-to-date file needs no lock
            assert store.count("crm", "left") == 1  # reads go on, and see only committed data
            start = time.monotonic()
            with pytest.raises(StateLockedError) as caught, store.transaction("crm"):
                pass
            waited = time.monotonic() - start
            assert 0.25 <= waited < 3
            message = str(caught.value)
            assert str(path) in message and "another process" in message and "0.3 s" in message

            child.stdin.close()  # the child commits and exits
            assert child.wait(timeout=10) == 0
            with store.transaction("crm") as t:
                t.put_snapshots([Snapshot("left", "mine", {})])
            assert store.count("crm", "left") == 3
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def test_a_lock_held_while_a_migration_is_due(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode = WAL")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StateLockedError, match="state.db"):
            open_store(path, busy_timeout=0.1)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    with open_store(path) as store:
        assert store.integrations() == []


def test_a_version_1_store_is_upgraded_in_place_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, str(path), MIGRATIONS[:1])
    conn.execute("INSERT INTO integrations (name) VALUES ('crm')")
    conn.execute("INSERT INTO side_states (integration, side, cursor, last_full_read, generation)"
                 " VALUES ('crm', 'left', NULL, NULL, 3)")
    conn.close()
    with open_store(path) as store:
        assert store.side_state("crm", "left") == SideState(generation=3)  # fields unknown: None
        with store.transaction("crm") as t:
            t.set_side_state("left", SideState(generation=4, fields=("email", "first_name")))
        assert store.side_state("crm", "left").fields == ("email", "first_name")
        assert store.disabled_since("crm") is None  # version 3: not disabled
    assert _pragma(path, "user_version") == SCHEMA_VERSION == len(MIGRATIONS)


def test_open_errors_of_a_version_3_store_are_due_at_once_after_the_upgrade(tmp_path: Path) -> None:
    # Before version 5 a failed record was retried by every cycle: none may
    # come out of the upgrade waiting for an operator.
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, str(path), MIGRATIONS[:3])
    conn.execute("INSERT INTO integrations (name) VALUES ('crm')")
    for record_id, resolved in (("L1", None), ("L2", "2026-01-01T00:00:01.000000+00:00")):
        conn.execute("INSERT INTO errors (integration, side, record_id, operation, message, origin, at, resolved_at)"
                     " VALUES ('crm', 'right', ?, 'create', 'boom', 'scheduled',"
                     " '2026-01-01T00:00:00.000000+00:00', ?)", (record_id, resolved))
    conn.close()
    with open_store(path) as store:
        [error] = store.errors("crm")
        assert error.record_id == "L1" and error.next_retry_at == error.at
        [resolved] = [e for e in store.errors("crm", unresolved=False) if e.record_id == "L2"]
        assert resolved.next_retry_at is None


def test_an_intent_of_a_version_8_store_is_kept_and_a_new_one_keeps_its_source(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, str(path), MIGRATIONS[:8])
    conn.execute("INSERT INTO integrations (name) VALUES ('crm')")
    conn.execute("INSERT INTO intents (integration, side, kind, source_id, match_key, fields, created_at)"
                 " VALUES ('crm', 'left', 'create', 'R1', 'a@x.io', '{\"email\":\"a@x.io\"}',"
                 " '2026-01-01T00:00:00.000000+00:00')")
    conn.close()
    with open_store(path) as store:
        [old] = store.open_intents("crm")
        assert (old.source_id, old.fields, old.source_seen) == ("R1", {"email": "a@x.io"}, None)
        with store.transaction("crm") as t:
            t.add_intents([Intent(side="left", kind="create", source_id="R2", fields={"email": "b@x.io"},
                                  source_seen={"email": "b@x.io", "name": "B"})])
        [_, new] = store.open_intents("crm")
        assert new.source_seen == {"email": "b@x.io", "name": "B"}
    assert _pragma(path, "user_version") == SCHEMA_VERSION


def test_a_version_9_store_loses_the_index_on_the_generation_and_keeps_its_candidates(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, str(path), MIGRATIONS[:9])
    conn.execute("INSERT INTO integrations (name) VALUES ('crm')")
    for record_id, generation, deleted in (("c", 1, 0), ("a", 2, 0), ("b", 1, 0), ("d", 1, 1), ("e", 3, 0)):
        conn.execute("INSERT INTO snapshots (integration, side, record_id, seen, generation, deleted)"
                     " VALUES ('crm', 'left', ?, '{}', ?, ?)", (record_id, generation, deleted))
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'snapshots_unseen'").fetchone() == (1,)
    conn.close()
    with open_store(path) as store:
        assert [(s.record_id, s.generation) for s in store.unseen("crm", "left", 3)] == [("a", 2), ("b", 1),
                                                                                          ("c", 1)]
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'snapshots_unseen'").fetchone() == (0,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
