"""A transaction of the SQLite store: every write of one integration, committed together.

A transaction is given the :class:`_Session` it runs in, never the store:
the store makes transactions, so this module must not import it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import orjson

import syncd.state._rows as codec
from syncd.state._errors import StateError, from_sqlite
from syncd.state._history import child_keys_range, cutoff, prune_due, prune_statements
from syncd.state._model import BulkRun, ConflictRow, CycleRow, Intent, RecordErrorRow, Side, SideState, Snapshot
from syncd.state._rows import check_side as _side
from syncd.state._rows import dump as _dump
from syncd.state._sqlite_rows import (
    _RESET_TABLES,
    _UPDATE_SNAPSHOT_IN_PLACE,
    _UPSERT_ERROR,
    _UPSERT_SNAPSHOT,
    _chunks,
    _guard,
    _time,
)
from syncd.state._store import KEPT_CYCLES, Transaction, utc_now

_LINK = "INSERT OR REPLACE INTO links (integration, left_id, right_id) VALUES (?, ?, ?)"
_INSERT_INTENT = f"INSERT INTO intents ({codec.INSERT_INTENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_RESOLVE_INTENT = "DELETE FROM intents WHERE integration = ? AND id = ?"
_RESOLVE_INTENTS = "DELETE FROM intents WHERE integration = ? AND id BETWEEN ? AND ?"


# Conflicts and resolved record errors past syncd.state._history.KEPT_DAYS.
_PRUNE_HISTORY = prune_statements("?")


@dataclass(slots=True, eq=False)
class _Session:
    """The store's connection, shared with its transactions: what they need of the store.

    ``active`` is the transaction now open on the connection: one at a time
    (transactions do not nest), and a transaction is usable only while it is
    the active one, so the store's ``close`` ends it by clearing ``active``.
    """

    conn: sqlite3.Connection
    path: str
    busy_timeout: float
    active: _SQLiteTransaction | None = None
    # integration -> when (time.monotonic()) its history is next pruned (see _history)
    pruned: dict[str, float] = field(default_factory=dict)

    def error(self, exc: sqlite3.Error, doing: str) -> StateError:
        return from_sqlite(self.path, exc, doing, busy_timeout=self.busy_timeout)


class _SQLiteTransaction(Transaction):
    """``BEGIN IMMEDIATE`` on enter; ``COMMIT`` on a clean exit, ``ROLLBACK`` on any exception."""

    __slots__ = ("_session", "_conn", "integration", "_registered")

    def __init__(self, session: _Session, integration: str) -> None:
        self._session = session
        self._conn = session.conn
        self.integration = integration
        self._registered = False

    # What _guard names in its errors.
    @property
    def path(self) -> str:
        return self._session.path

    @property
    def busy_timeout(self) -> float:
        return self._session.busy_timeout

    def __enter__(self) -> _SQLiteTransaction:
        session = self._session
        if session.active is not None:
            raise StateError(
                f"state store {session.path}: a transaction (for {session.active.integration!r}) is already "
                "open; transactions do not nest", path=session.path,
            )
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise session.error(exc, "starting a transaction") from exc
        session.active = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        session, conn = self._session, self._conn
        session.active = None
        if exc_type is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise session.error(error, "committing") from error
        else:
            self._rollback(exc)

    def _rollback(self, cause: BaseException | None = None) -> None:
        try:
            if self._conn.in_transaction:  # some errors (disk full, I/O) have rolled back already
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as error:
            if cause is None:
                raise self._session.error(error, "rolling back") from error
            cause.add_note(f"and rolling back the state store failed: {error}")

    def _check(self) -> None:
        if self._session.active is not self:
            raise StateError(
                f"state store {self.path}: the transaction for {self.integration!r} is not open "
                "(used outside its `with` block)", path=self.path,
            )
        if not self._registered:
            self._conn.execute("INSERT OR IGNORE INTO integrations (name) VALUES (?)", (self.integration,))
            self._registered = True

    @_guard("writing snapshots")
    def put_snapshots(self, snapshots: Iterable[Snapshot], *, new: bool = False) -> None:
        i = self.integration
        rows = []
        for s in snapshots:
            seen = _dump(s.seen)
            # A snapshot in step holds one dict as both (what the writer makes): encoded once.
            synced = seen if s.synced is s.seen else None if s.synced is None else _dump(s.synced)
            # The flags as ints, not bools: the sqlite3 module binds an exact int directly but
            # looks a bool up as a type to adapt (an AttributeError raised and caught inside,
            # about as costly as the rest of the row's binding).
            rows.append((i, _side(s.side), s.record_id, seen, synced, s.match_key, s.hash, _time(s.updated_at),
                         1 if s.deleted else 0, 1 if s.dirty else 0, s.generation))
        self._check()
        if not rows:
            return
        if new:
            # Records just created: nothing stored to compare with, so no read of the stored
            # keys; the upsert still replaces a row that is there (a wrong hint is only slower).
            self._conn.executemany(_UPSERT_SNAPSHOT, rows)
            return
        in_place, upserts = self._unchanged_keys(rows)
        if in_place:
            self._conn.executemany(_UPDATE_SNAPSHOT_IN_PLACE, in_place)
        if upserts:
            self._conn.executemany(_UPSERT_SNAPSHOT, upserts)

    def _unchanged_keys(self, rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """*rows* (put_snapshots') split into the in-place updates of stored
        snapshots whose match key keeps its value (see
        _UPDATE_SNAPSHOT_IN_PLACE), and the upserts of the rest: new ones,
        changed keys, and a record put twice in one call (in its order)."""
        times = Counter((row[1], row[2]) for row in rows)
        stored: dict[tuple[str, str], tuple[Any, ...]] = {}
        for side in ("left", "right"):
            ids = [row[2] for row in rows if row[1] == side and times[(side, row[2])] == 1]
            for marks, chunk in _chunks(ids):
                for record_id, match_key in self._conn.execute(
                        "SELECT record_id, match_key FROM snapshots"
                        f" WHERE integration = ? AND side = ? AND record_id IN ({marks})",
                        (self.integration, side, *chunk)):
                    stored[(side, record_id)] = (match_key,)  # a 1-tuple: a None key is not a row missing
        in_place, upserts = [], []
        for row in rows:
            i, side, record_id, seen, synced, match_key, digest, updated_at, deleted, dirty, generation = row
            if stored.get((side, record_id)) == (match_key,):
                in_place.append((seen, synced, digest, updated_at, deleted, dirty, generation, i, side, record_id))
            else:
                upserts.append(row)
        return in_place, upserts

    @_guard("marking snapshots synced")
    def mark_synced(self, side: Side, rows: Sequence[tuple[str, str]]) -> None:
        i, side = self.integration, _side(side)
        params: list[tuple[object, ...]] = [(i, side, record_id, digest) for record_id, digest in rows]
        self._check()
        if params:
            self._conn.executemany(
                "UPDATE snapshots SET synced = seen, dirty = 0"
                " WHERE integration = ? AND side = ? AND record_id = ? AND hash = ?", params)

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
               state.generation, fields, state.sync_token)
        self._check()
        self._conn.execute(
            """INSERT INTO side_states (integration, side, cursor, last_full_read, generation, fields,
                                        sync_token)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (integration, side) DO UPDATE SET cursor = excluded.cursor,
                   last_full_read = excluded.last_full_read, generation = excluded.generation,
                   fields = excluded.fields, sync_token = excluded.sync_token""",
            row,
        )

    @_guard("linking records")
    def link(self, left_id: str, right_id: str) -> None:
        self._check()
        # REPLACE deletes every row that conflicts on either key: the old partners of both.
        self._conn.execute(_LINK, (self.integration, left_id, right_id))

    @_guard("unlinking a record")
    def unlink(self, side: Side, record_id: str) -> None:
        column = "left_id" if _side(side) == "left" else "right_id"
        self._check()
        self._conn.execute(f"DELETE FROM links WHERE integration = ? AND {column} = ?", (self.integration, record_id))

    @_guard("recording a write intent")
    def add_intent(self, intent: Intent) -> int:
        row = codec.intent_row(self.integration, intent, _time(intent.created_at or utc_now()))
        self._check()
        cursor = self._conn.execute(_INSERT_INTENT, row)
        return int(cursor.lastrowid or 0)

    @_guard("resolving a write intent")
    def resolve_intent(self, intent_id: int) -> None:
        self._check()
        self._conn.execute(_RESOLVE_INTENT, (self.integration, intent_id))

    def _all_or_none(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        """*sql* for each row, under a savepoint: a row refused leaves none of them written
        (executemany runs row by row, and the rows before the refused one would stay)."""
        conn = self._conn
        conn.execute("SAVEPOINT bulk_rows")
        try:
            conn.executemany(sql, rows)
        except BaseException:
            if conn.in_transaction:  # some errors (disk full, I/O) have rolled back already
                conn.execute("ROLLBACK TO bulk_rows")
                conn.execute("RELEASE bulk_rows")
            raise
        conn.execute("RELEASE bulk_rows")

    @_guard("recording write intents")
    def add_intents(self, intents: Sequence[Intent]) -> list[int]:
        now = _time(utc_now())
        i = self.integration
        rows: list[tuple[object, ...]] = [
            codec.intent_row(i, n, now if n.created_at is None else _time(n.created_at)) for n in intents]
        self._check()
        if not rows:
            return []
        self._all_or_none(_INSERT_INTENT, rows)
        # AUTOINCREMENT gives each row the largest id ever used + 1, and this
        # transaction holds the write lock: the batch's ids are consecutive,
        # the last one the connection's last insert.
        (last,) = self._conn.execute("SELECT last_insert_rowid()").fetchone()
        return list(range(last - len(rows) + 1, last + 1))

    @_guard("linking records")
    def link_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        i = self.integration
        rows: list[tuple[object, ...]] = [(i, left, right) for left, right in pairs]
        self._check()
        if rows:
            # INSERT OR REPLACE row by row: exactly what link() does, in order.
            self._all_or_none(_LINK, rows)

    @_guard("resolving write intents")
    def resolve_intents(self, intent_ids: Iterable[int]) -> None:
        ids = sorted({int(n) for n in intent_ids})
        self._check()
        # A statement per run of consecutive ids, not one per id: add_intents gives a batch
        # consecutive ids, and the writer resolves a batch's intents together.
        runs: list[tuple[object, ...]] = []
        for n in ids:
            if runs and runs[-1][2] == n - 1:
                runs[-1] = (self.integration, runs[-1][1], n)
            else:
                runs.append((self.integration, n, n))
        if runs:
            self._conn.executemany(_RESOLVE_INTENTS, runs)

    @_guard("recording a record error")
    def add_error(self, error: RecordErrorRow) -> None:
        row = (
            self.integration, _side(error.side), error.record_id, error.operation, error.message, error.status,
            error.attempts, error.origin, _time(error.at or utc_now()), _time(error.next_retry_at),
        )
        self._check()
        self._conn.execute(_UPSERT_ERROR, row)

    @_guard("resolving record errors")
    def resolve_errors(self, side: Side, record_id: str, *, writes: bool | None = None) -> None:
        row = (_time(utc_now()), self.integration, _side(side), record_id)
        self._check()
        self._conn.execute(
            f"""UPDATE errors SET resolved_at = ?
                WHERE integration = ? AND side = ? AND record_id = ? AND resolved_at IS NULL
                {codec.operations_clause(writes)}""",
            row,
        )

    @_guard("making record errors due")
    def retry_due(self, side: Side, record_ids: Iterable[str], at: datetime | None = None) -> None:
        _side(side)
        when = _time(at or utc_now())
        self._check()
        for marks, ids in _chunks(list(record_ids)):
            self._conn.execute(
                "UPDATE errors SET next_retry_at = ? WHERE integration = ? AND side = ?"
                f" AND record_id IN ({marks}) AND resolved_at IS NULL"
                " AND (next_retry_at IS NULL OR next_retry_at > ?)",
                (when, self.integration, side, *ids, when),
            )

    @_guard("recording a conflict")
    def add_conflict(self, conflict: ConflictRow) -> None:
        c = conflict
        row = (
            self.integration, c.left_id, c.right_id, c.field, _dump(c.left_value), _dump(c.right_value),
            c.winner, c.rule, _time(c.at or utc_now()),
        )
        self._check()
        self._conn.execute(
            """INSERT INTO conflicts (integration, left_id, right_id, field, left_value, right_value,
                                      winner, rule, at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            row,
        )

    @_guard("marking the integration disabled")
    def set_disabled(self, since: datetime | None) -> None:
        self._check()
        self._conn.execute("UPDATE integrations SET disabled_since = ? WHERE name = ?",
                           (_time(since), self.integration))

    @_guard("recording a cycle")
    def add_cycle(self, cycle: CycleRow) -> None:
        if cycle.outcome not in ("ok", "errors", "aborted", "stopped", "failed"):
            raise ValueError(f"unknown cycle outcome {cycle.outcome!r}")
        row = (self.integration, cycle.origin, _time(cycle.started_at), _time(cycle.ended_at), cycle.outcome,
               _dump(dict(cycle.counts)), cycle.error)
        self._check()
        self._conn.execute(
            """INSERT INTO cycles (integration, origin, started_at, ended_at, outcome, counts, error)
               VALUES (?, ?, ?, ?, ?, ?, ?)""", row)
        # Keep the newest: a cycle every minute for a year would be half a million rows.
        self._conn.execute(
            """DELETE FROM cycles WHERE integration = ? AND id <= (
                   SELECT id FROM cycles INDEXED BY cycles_integration WHERE integration = ?
                   ORDER BY id DESC LIMIT 1 OFFSET ?)""",
            (self.integration, self.integration, KEPT_CYCLES))
        if prune_due(self._session.pruned, self.integration):
            before, (low, high) = _time(cutoff()), child_keys_range(self.integration)
            for one, children in _PRUNE_HISTORY:
                self._conn.execute(one, (self.integration, before))
                self._conn.execute(children, (low, high, before))
    @_guard("recording the bulk sync")
    def put_bulk_run(self, run: BulkRun) -> None:
        self._check()
        self._conn.execute(
            "INSERT OR REPLACE INTO bulk_runs (integration, state, done, total, failed, started_at,"
            " updated_at, ended_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.integration, run.state, run.done, run.total, run.failed, _time(run.started_at),
             _time(run.updated_at), _time(run.ended_at), run.message))

    @_guard("resetting the integration")
    def reset(self) -> None:
        self._check()
        for table in _RESET_TABLES:
            self._conn.execute(f"DELETE FROM {table} WHERE integration = ?", (self.integration,))
        self._conn.execute("DELETE FROM integrations WHERE name = ?", (self.integration,))
        self._registered = False
