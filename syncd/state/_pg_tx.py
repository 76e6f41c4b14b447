"""A transaction of the PostgreSQL store: every write of one integration, committed together.

It is given the :class:`_PgSession` it runs in, never the store (the store
makes transactions, so this module must not import it). A transaction holds
one pooled connection from ``BEGIN`` to ``COMMIT``/``ROLLBACK``; the store's
reads inside the block use that connection, so they see its writes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from syncd.state._errors import StateError
from syncd.state._model import BulkRun, ConflictRow, CycleRow, Intent, RecordErrorRow, Side, SideState, Snapshot
from syncd.state._pg_errors import cannot_connect, from_postgres, shown_url
from syncd.state._rows import check_side as _side
from syncd.state._rows import dump as _dump
from syncd.state._store import KEPT_CYCLES, Transaction, utc_now

P = ParamSpec("P")
R = TypeVar("R")

_RESET_TABLES = ("snapshots", "side_states", "links", "intents", "errors", "conflicts", "cycles", "bulk_runs")

_UPSERT_SNAPSHOT = """
    INSERT INTO snapshots (integration, side, record_id, seen, synced, match_key, hash, updated_at, deleted,
                           dirty, generation)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (integration, side, record_id) DO UPDATE SET
        seen = excluded.seen, synced = excluded.synced, match_key = excluded.match_key,
        hash = excluded.hash, updated_at = excluded.updated_at, deleted = excluded.deleted,
        dirty = excluded.dirty, generation = excluded.generation"""

_UPSERT_ERROR = """
    INSERT INTO errors (integration, side, record_id, operation, message, status, attempts, origin, at,
                        next_retry_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (integration, side, record_id, operation) WHERE resolved_at IS NULL DO UPDATE SET
        message = excluded.message, status = excluded.status, attempts = errors.attempts + 1,
        origin = excluded.origin, at = excluded.at, next_retry_at = excluded.next_retry_at"""


def aware(value: datetime | None) -> datetime | None:
    """*value* as given (PostgreSQL keeps the instant); a naive one is the caller's bug."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive datetime {value.isoformat()} given to the state store: make it aware (UTC)")
    return value


@dataclass(slots=True, eq=False)
class _PgSession:
    """The store's pool and URL, shared with its transactions; ``active`` is
    the transaction open now (one at a time: they do not nest)."""

    pool: ConnectionPool
    url: str
    timeout: float
    active: _PgTransaction | None = None
    closed: bool = False
    shown: str = field(init=False)

    def __post_init__(self) -> None:
        self.shown = shown_url(self.url)

    def error(self, exc: psycopg.Error, doing: str) -> StateError:
        return from_postgres(self.url, exc, doing)

    def check_open(self) -> None:
        if self.closed:
            raise StateError(f"state store {self.shown} is closed", path=self.shown)

    def putconn(self, conn: psycopg.Connection) -> None:
        """Give *conn* back; a broken one means the server dropped the others too
        (a restart): the pool checks its idle ones now, so the next call gets a live one."""
        broken = conn.broken or conn.closed
        self.pool.putconn(conn)
        if broken:
            self.pool.check()

    def getconn(self) -> psycopg.Connection:
        self.check_open()
        try:
            return self.pool.getconn(timeout=self.timeout)
        except psycopg.Error as exc:
            raise cannot_connect(self.url, exc) from exc


class _OnAServer:
    _session: _PgSession


Owner = TypeVar("Owner", bound=_OnAServer)


def pg_guard(doing: str) -> Callable[[Callable[Concatenate[Owner, P], R]], Callable[Concatenate[Owner, P], R]]:
    """Turn a ``psycopg.Error`` raised by the method into a :class:`StateError`."""

    def decorate(method: Callable[Concatenate[Owner, P], R]) -> Callable[Concatenate[Owner, P], R]:
        @functools.wraps(method)
        def wrapper(owner: Owner, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(owner, *args, **kwargs)
            except psycopg.Error as exc:
                raise owner._session.error(exc, doing) from exc

        return wrapper

    return decorate


class _PgTransaction(_OnAServer, Transaction):
    """``BEGIN`` on enter (a pooled connection held until the end); ``COMMIT``
    on a clean exit, ``ROLLBACK`` on any exception."""

    __slots__ = ("_session", "conn", "integration", "_registered")

    def __init__(self, session: _PgSession, integration: str) -> None:
        self._session = session
        self.conn: psycopg.Connection | None = None
        self.integration = integration
        self._registered = False

    def __enter__(self) -> _PgTransaction:
        session = self._session
        session.check_open()
        if session.active is not None:
            raise StateError(
                f"state store {session.shown}: a transaction (for {session.active.integration!r}) is already "
                "open; transactions do not nest", path=session.shown,
            )
        conn = session.getconn()
        try:
            conn.execute("BEGIN")
        except psycopg.Error as exc:
            session.putconn(conn)  # a broken connection is discarded by the pool
            raise session.error(exc, "starting a transaction") from exc
        self.conn = conn
        session.active = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        session = self._session
        if session.active is self:
            session.active = None
        conn, self.conn = self.conn, None
        if conn is None:  # the store was closed inside the block: it rolled back
            return
        try:
            if exc_type is None:
                try:
                    conn.execute("COMMIT")
                except psycopg.Error as error:
                    self._rollback(conn)
                    raise session.error(error, "committing") from error
            else:
                self._rollback(conn, exc)
        finally:
            session.putconn(conn)

    def _rollback(self, conn: psycopg.Connection, cause: BaseException | None = None) -> None:
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error as error:
            if cause is None:
                raise self._session.error(error, "rolling back") from error
            cause.add_note(f"and rolling back the state store failed: {error}")

    def abandon(self) -> None:
        """The store is closing: roll back and give the connection back; the block can write no more."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                self._rollback(conn)
            except StateError:
                pass  # the connection is gone: nothing was committed
            self._session.putconn(conn)

    def _run(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        return self._open_conn().execute(sql, params)

    def _open_conn(self) -> psycopg.Connection:
        """The block's connection, once the integration is registered; StateError outside the block."""
        session = self._session
        conn = self.conn
        if session.active is not self or conn is None:
            raise StateError(
                f"state store {session.shown}: the transaction for {self.integration!r} is not open "
                "(used outside its `with` block)", path=session.shown,
            )
        if not self._registered:
            conn.execute("INSERT INTO integrations (name) VALUES (%s) ON CONFLICT DO NOTHING", (self.integration,))
            self._registered = True
        return conn

    @pg_guard("writing snapshots")
    def put_snapshots(self, snapshots: Iterable[Snapshot]) -> None:
        i = self.integration
        rows = [
            (i, _side(s.side), s.record_id, _dump(s.seen), None if s.synced is None else _dump(s.synced),
             s.match_key, s.hash, aware(s.updated_at), bool(s.deleted), bool(s.dirty), s.generation)
            for s in snapshots
        ]
        conn = self._open_conn()
        if rows:
            with conn.cursor() as cur:
                cur.executemany(_UPSERT_SNAPSHOT, rows)  # pipelined: one round trip per batch

    @pg_guard("marking snapshots seen")
    def mark_seen(self, side: Side, record_ids: Iterable[str], generation: int) -> None:
        self._run("UPDATE snapshots SET generation = %s"
                  " WHERE integration = %s AND side = %s AND record_id = ANY(%s)",
                  (generation, self.integration, _side(side), list(record_ids)))

    @pg_guard("writing the side state")
    def set_side_state(self, side: Side, state: SideState) -> None:
        fields = None if state.fields is None else orjson.dumps(list(state.fields)).decode()
        row = (self.integration, _side(side), aware(state.cursor), aware(state.last_full_read),
               state.generation, fields, state.sync_token)
        self._run(
            """INSERT INTO side_states (integration, side, cursor, last_full_read, generation, fields,
                                        sync_token)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (integration, side) DO UPDATE SET cursor = excluded.cursor,
                   last_full_read = excluded.last_full_read, generation = excluded.generation,
                   fields = excluded.fields, sync_token = excluded.sync_token""",
            row,
        )

    @pg_guard("linking records")
    def link(self, left_id: str, right_id: str) -> None:
        # As SQLite's INSERT OR REPLACE: the old partners of both records lose their links.
        self._run("DELETE FROM links WHERE integration = %s AND (left_id = %s OR right_id = %s)",
                  (self.integration, left_id, right_id))
        self._run("INSERT INTO links (integration, left_id, right_id) VALUES (%s, %s, %s)",
                  (self.integration, left_id, right_id))

    @pg_guard("unlinking a record")
    def unlink(self, side: Side, record_id: str) -> None:
        column = "left_id" if _side(side) == "left" else "right_id"
        self._run(f"DELETE FROM links WHERE integration = %s AND {column} = %s", (self.integration, record_id))

    @pg_guard("recording a write intent")
    def add_intent(self, intent: Intent) -> int:
        row = (
            self.integration, _side(intent.side), intent.kind, intent.source_id, intent.target_id,
            intent.match_key, _dump(intent.fields), aware(intent.created_at or utc_now()),
        )
        found = self._run(
            """INSERT INTO intents (integration, side, kind, source_id, target_id, match_key, fields, created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            row,
        ).fetchone()
        return int(found[0]) if found else 0

    @pg_guard("resolving a write intent")
    def resolve_intent(self, intent_id: int) -> None:
        self._run("DELETE FROM intents WHERE integration = %s AND id = %s", (self.integration, intent_id))

    @pg_guard("recording a record error")
    def add_error(self, error: RecordErrorRow) -> None:
        row = (
            self.integration, _side(error.side), error.record_id, error.operation, error.message, error.status,
            error.attempts, error.origin, aware(error.at or utc_now()), aware(error.next_retry_at),
        )
        self._run(_UPSERT_ERROR, row)

    @pg_guard("resolving record errors")
    def resolve_errors(self, side: Side, record_id: str) -> None:
        self._run(
            """UPDATE errors SET resolved_at = %s
               WHERE integration = %s AND side = %s AND record_id = %s AND resolved_at IS NULL""",
            (utc_now(), self.integration, _side(side), record_id),
        )

    @pg_guard("making record errors due")
    def retry_due(self, side: Side, record_ids: Iterable[str], at: datetime | None = None) -> None:
        when = aware(at or utc_now())
        self._run(
            "UPDATE errors SET next_retry_at = %s WHERE integration = %s AND side = %s"
            " AND record_id = ANY(%s) AND resolved_at IS NULL"
            " AND (next_retry_at IS NULL OR next_retry_at > %s)",
            (when, self.integration, _side(side), list(record_ids), when),
        )

    @pg_guard("recording a conflict")
    def add_conflict(self, conflict: ConflictRow) -> None:
        c = conflict
        row = (
            self.integration, c.left_id, c.right_id, c.field, _dump(c.left_value), _dump(c.right_value),
            c.winner, c.rule, aware(c.at or utc_now()),
        )
        self._run(
            """INSERT INTO conflicts (integration, left_id, right_id, field, left_value, right_value,
                                      winner, rule, at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            row,
        )

    @pg_guard("marking the integration disabled")
    def set_disabled(self, since: datetime | None) -> None:
        self._run("UPDATE integrations SET disabled_since = %s WHERE name = %s", (aware(since), self.integration))

    @pg_guard("recording a cycle")
    def add_cycle(self, cycle: CycleRow) -> None:
        if cycle.outcome not in ("ok", "errors", "aborted", "stopped", "failed"):
            raise ValueError(f"unknown cycle outcome {cycle.outcome!r}")
        row = (self.integration, cycle.origin, aware(cycle.started_at), aware(cycle.ended_at), cycle.outcome,
               _dump(dict(cycle.counts)), cycle.error)
        self._run(
            """INSERT INTO cycles (integration, origin, started_at, ended_at, outcome, counts, error)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""", row)
        # Keep the newest: a cycle every minute for a year would be half a million rows.
        self._run(
            """DELETE FROM cycles WHERE integration = %s AND id <= (
                   SELECT id FROM cycles WHERE integration = %s ORDER BY id DESC LIMIT 1 OFFSET %s)""",
            (self.integration, self.integration, KEPT_CYCLES))

    @pg_guard("recording the bulk sync")
    def put_bulk_run(self, run: BulkRun) -> None:
        self._run(
            """INSERT INTO bulk_runs (integration, state, done, total, failed, started_at, updated_at,
                                      ended_at, message)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (integration) DO UPDATE SET state = excluded.state, done = excluded.done,
                   total = excluded.total, failed = excluded.failed, started_at = excluded.started_at,
                   updated_at = excluded.updated_at, ended_at = excluded.ended_at, message = excluded.message""",
            (self.integration, run.state, run.done, run.total, run.failed, aware(run.started_at),
             aware(run.updated_at), aware(run.ended_at), run.message))

    @pg_guard("resetting the integration")
    def reset(self) -> None:
        for table in _RESET_TABLES:
            self._run(f"DELETE FROM {table} WHERE integration = %s", (self.integration,))
        self._run("DELETE FROM integrations WHERE name = %s", (self.integration,))
        self._registered = False
