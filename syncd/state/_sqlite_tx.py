"""A transaction of the SQLite store: every write of one integration, committed together."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

import orjson

from syncd.state._errors import StateError
from syncd.state._model import ConflictRow, Intent, RecordErrorRow, Side, SideState, Snapshot
from syncd.state._sqlite_rows import (
    _RESET_TABLES,
    _UPSERT_ERROR,
    _UPSERT_SNAPSHOT,
    _chunks,
    _dump,
    _guard,
    _side,
    _time,
)
from syncd.state._store import Transaction

if TYPE_CHECKING:  # the store creates its transactions; only the type is needed here
    from syncd.state._sqlite import SQLiteStore


class _SQLiteTransaction(Transaction):
    """``BEGIN IMMEDIATE`` on enter; ``COMMIT`` on a clean exit, ``ROLLBACK`` on any exception."""

    __slots__ = ("_store", "_conn", "integration", "_open", "_registered")

    def __init__(self, store: SQLiteStore, integration: str) -> None:
        self._store = store
        self._conn = store._conn
        self.integration = integration
        self._open = False
        self._registered = False

    def __enter__(self) -> _SQLiteTransaction:
        store = self._store
        if store._active is not None:
            raise StateError(
                f"state store {store.path}: a transaction (for {store._active.integration!r}) is already open; "
                "transactions do not nest", path=store.path,
            )
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store._error(exc, "starting a transaction") from exc
        store._active = self
        self._open = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        store, conn = self._store, self._conn
        self._open = False
        store._active = None
        if exc_type is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise store._error(error, "committing") from error
        else:
            self._rollback(exc)

    def _rollback(self, cause: BaseException | None = None) -> None:
        try:
            if self._conn.in_transaction:  # some errors (disk full, I/O) have rolled back already
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as error:
            if cause is None:
                raise self._store._error(error, "rolling back") from error
            cause.add_note(f"and rolling back the state store failed: {error}")

    def _check(self) -> None:
        if not self._open:
            raise StateError(
                f"state store {self._store.path}: the transaction for {self.integration!r} is not open "
                "(used outside its `with` block)", path=self._store.path,
            )
        if not self._registered:
            self._conn.execute("INSERT OR IGNORE INTO integrations (name) VALUES (?)", (self.integration,))
            self._registered = True

    @_guard("writing snapshots")
    def put_snapshots(self, snapshots: Iterable[Snapshot]) -> None:
        i = self.integration
        rows = [
            (i, _side(s.side), s.record_id, _dump(s.seen), None if s.synced is None else _dump(s.synced),
             s.match_key, s.hash, _time(s.updated_at), bool(s.deleted), bool(s.dirty), s.generation)
            for s in snapshots
        ]
        self._check()
        if rows:
            self._conn.executemany(_UPSERT_SNAPSHOT, rows)

    @_guard("marking snapshots seen")
    def mark_seen(self, side: Side, record_ids: Iterable[str], generation: int) -> None:
        _side(side)
        self._check()
        # One statement per chunk: a full read marks every record it saw,
        # a page at a time, and a statement per row costs five times more.
        for marks, ids in _chunks(list(record_ids)):
            self._conn.execute(
                "UPDATE snapshots SET generation = ?"
                f" WHERE integration = ? AND side = ? AND record_id IN ({marks})",
                (generation, self.integration, side, *ids),
            )

    @_guard("writing the side state")
    def set_side_state(self, side: Side, state: SideState) -> None:
        fields = None if state.fields is None else orjson.dumps(list(state.fields)).decode()
        row = (self.integration, _side(side), _time(state.cursor), _time(state.last_full_read),
               state.generation, fields)
        self._check()
        self._conn.execute(
            """INSERT INTO side_states (integration, side, cursor, last_full_read, generation, fields)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (integration, side) DO UPDATE SET cursor = excluded.cursor,
                   last_full_read = excluded.last_full_read, generation = excluded.generation,
                   fields = excluded.fields""",
            row,
        )

    @_guard("linking records")
    def link(self, left_id: str, right_id: str) -> None:
        self._check()
        # REPLACE deletes every row that conflicts on either key: the old partners of both.
        self._conn.execute(
            "INSERT OR REPLACE INTO links (integration, left_id, right_id) VALUES (?, ?, ?)",
            (self.integration, left_id, right_id),
        )

    @_guard("unlinking a record")
    def unlink(self, side: Side, record_id: str) -> None:
        column = "left_id" if _side(side) == "left" else "right_id"
        self._check()
        self._conn.execute(f"DELETE FROM links WHERE integration = ? AND {column} = ?", (self.integration, record_id))

    @_guard("recording a write intent")
    def add_intent(self, intent: Intent) -> int:
        row = (
            self.integration, _side(intent.side), intent.kind, intent.source_id, intent.target_id,
            intent.match_key, _dump(intent.fields), _time(intent.created_at or self._store.now()),
        )
        self._check()
        cursor = self._conn.execute(
            """INSERT INTO intents (integration, side, kind, source_id, target_id, match_key, fields, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            row,
        )
        return int(cursor.lastrowid or 0)

    @_guard("resolving a write intent")
    def resolve_intent(self, intent_id: int) -> None:
        self._check()
        self._conn.execute("DELETE FROM intents WHERE integration = ? AND id = ?", (self.integration, intent_id))

    @_guard("recording a record error")
    def add_error(self, error: RecordErrorRow) -> None:
        row = (
            self.integration, _side(error.side), error.record_id, error.operation, error.message, error.status,
            error.attempts, error.origin, _time(error.at or self._store.now()),
        )
        self._check()
        self._conn.execute(_UPSERT_ERROR, row)

    @_guard("resolving record errors")
    def resolve_errors(self, side: Side, record_id: str) -> None:
        row = (_time(self._store.now()), self.integration, _side(side), record_id)
        self._check()
        self._conn.execute(
            """UPDATE errors SET resolved_at = ?
               WHERE integration = ? AND side = ? AND record_id = ? AND resolved_at IS NULL""",
            row,
        )

    @_guard("recording a conflict")
    def add_conflict(self, conflict: ConflictRow) -> None:
        c = conflict
        row = (
            self.integration, c.left_id, c.right_id, c.field, _dump(c.left_value), _dump(c.right_value),
            c.winner, c.rule, _time(c.at or self._store.now()),
        )
        self._check()
        self._conn.execute(
            """INSERT INTO conflicts (integration, left_id, right_id, field, left_value, right_value,
                                      winner, rule, at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            row,
        )

    @_guard("resetting the integration")
    @_guard("marking the integration disabled")
    def set_disabled(self, since: datetime | None) -> None:
        self._check()
        self._conn.execute("UPDATE integrations SET disabled_since = ? WHERE name = ?",
                           (_time(since), self.integration))

    def reset(self) -> None:
        self._check()
        for table in _RESET_TABLES:
            self._conn.execute(f"DELETE FROM {table} WHERE integration = ?", (self.integration,))
        self._conn.execute("DELETE FROM integrations WHERE name = ?", (self.integration,))
        self._registered = False


# --- the store -----------------------------------------------------------------------------------
