"""A transaction of the PostgreSQL store: every write of one integration, committed together.

It is given the :class:`_PgSession` it runs in, never the store (the store
makes transactions, so this module must not import it). A transaction holds
one pooled connection from ``BEGIN`` to ``COMMIT``/``ROLLBACK``; the store's
reads inside the block use that connection, so they see its writes.

Fencing (several daemons on one database, :mod:`syncd.state._leases`): once
``store.require_fences(daemon_id)`` was called, a transaction for an
integration needs the fence (lease and token) the daemon holds for it. With
none, ``__enter__`` raises :class:`LeaseLost` and begins nothing. Right
before ``COMMIT``, one statement checks that the lease is still held with
that token and not expired, by the database's clock, and locks the row FOR
SHARE until the commit ends: a competing acquire (``FOR UPDATE SKIP
LOCKED``) skips the row meanwhile, so a commit is always strictly before a
takeover, never after it. No row: the
transaction rolls back and raises :class:`LeaseLost`; nothing was committed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

import syncd.state._rows as codec
from syncd.state._errors import StateError
from syncd.state._history import child_keys_range, cutoff, prune_due, prune_statements
from syncd.state._leases import Fence, LeaseLost
from syncd.state._model import BulkRun, ConflictRow, CycleRow, Intent, RecordErrorRow, Side, SideState, Snapshot
from syncd.state._pg_errors import cannot_connect, from_postgres, shown_url
from syncd.state._pg_keys import for_each_key
from syncd.state._pg_watch import AnswerWatch
from syncd.state._rows import check_side as _side
from syncd.state._rows import dump as _dump
from syncd.state._rows import last_links
from syncd.state._store import KEPT_CYCLES, Transaction, utc_now

P = ParamSpec("P")
R = TypeVar("R")

# Not `leases`: a reset forgets the integration's state, not who runs it.
_RESET_TABLES = ("snapshots", "side_states", "links", "intents", "errors", "conflicts", "cycles", "bulk_runs")

_UPSERT_SNAPSHOTS = """
    INSERT INTO snapshots (integration, side, record_id, seen, synced, match_key, hash, updated_at, deleted,
                           dirty, generation)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                         %s::timestamptz[], %s::boolean[], %s::boolean[], %s::bigint[])
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

_UNLINK_LEFT = "DELETE FROM links WHERE integration = %s AND left_id = %s"
_UNLINK_RIGHT = "DELETE FROM links WHERE integration = %s AND right_id = %s"

_RESOLVE_INTENT = "DELETE FROM intents WHERE integration = %s AND id = %s"

_ANALYSE_FIRST = 1_000  # snapshots put before a process first analyses the table (see _PgSession.grew)

_INSERT_INTENT = f"""
    INSERT INTO intents ({codec.INSERT_INTENT_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"""

# The one statement a fenced transaction adds (see the module's docstring).
_FENCE_CHECK = """SELECT 1 FROM leases WHERE integration = %s AND daemon_id = %s AND token = %s
                  AND expires_at > clock_timestamp() FOR SHARE"""


# Conflicts and resolved record errors past syncd.state._history.KEPT_DAYS.
_PRUNE_HISTORY = prune_statements("%s")


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
    # Fencing: the daemon whose fences every transaction needs (None: none needed), and
    # the fence it holds per integration (set and cleared by its lease manager).
    fenced_for: str | None = None
    fences: dict[str, Fence] = field(default_factory=dict)
    # Snapshots this process has put, by integration, since it last analysed the table, and the
    # count at which it analyses again: see grew().
    put_since_analyse: dict[str, int] = field(default_factory=dict)
    analyse_at: dict[str, int] = field(default_factory=dict)
    # integration -> when (time.monotonic()) its history is next pruned (see _history)
    pruned: dict[str, float] = field(default_factory=dict)
    # A daemon's store: each call held to an answer in time, none asked of a silent server
    # (see syncd.state._pg_watch); None: a command's, which waits as long as the server takes.
    watch: AnswerWatch | None = None

    def __post_init__(self) -> None:
        self.shown = shown_url(self.url)

    def error(self, exc: psycopg.Error, doing: str) -> StateError:
        watch = self.watch
        if watch is not None and watch.silent is not None and isinstance(exc, psycopg.OperationalError):
            return self.silenced(f"{doing}: {watch.silent}")  # the watch cut this call
        return from_postgres(self.url, exc, doing)

    def silenced(self, what: str) -> StateError:
        return StateError(
            f"state store {self.shown}: {what}: the server or the network is stuck; not asked again until "
            "a fresh connection answers (tried each second)", path=self.shown)

    def check_open(self) -> None:
        if self.closed:
            raise StateError(f"state store {self.shown} is closed", path=self.shown)

    def putconn(self, conn: psycopg.Connection) -> None:
        """Give *conn* back; a broken one means the server dropped the others too
        (a restart): the pool checks its idle ones now, so the next call gets a live one.
        A daemon's pool replaces them instead: checking is a round trip each, which a
        server that hangs would not answer, on the daemon's event loop."""
        broken = conn.broken or conn.closed
        if self.watch is not None:
            self.watch.disarm()
        self.pool.putconn(conn)
        if broken:
            if self.watch is not None:
                self.pool.drain()
            else:
                self.pool.check()

    def grew(self, conn: psycopg.Connection, integration: str, rows: int) -> None:
        """*rows* snapshots of *integration* were just committed on *conn*: analyse the table
        once this process has put 1,000 since it last did, then each time that count doubles.

        The plan of `by_match_keys`' `= ANY` comes from the table's statistics, and autovacuum
        takes them up to a minute late (or never, where it is off): an initial sync grows a side
        from nothing in that time, and a side that looks empty was scanned whole for each batch
        (quadratic: 60,000 rows read for 100 keys in tests/state/test_statewrite3_pg_plans.py).
        Best effort: another process analysing or vacuuming the table holds a lock this waits
        for a moment only, and then it is done at the next growth."""
        done = self.put_since_analyse[integration] = self.put_since_analyse.get(integration, 0) + rows
        due = self.analyse_at.get(integration, _ANALYSE_FIRST)
        if done < due:
            return
        try:
            conn.execute("BEGIN")
            conn.execute("SET LOCAL lock_timeout = '200ms'")
            if self.watch is not None:
                # A daemon's: the server gives up on it (an error, below) well before the watch
                # would take a slow ANALYZE of a large table for a server that hangs.
                self.watch.arm(conn)
                conn.execute(f"SET LOCAL statement_timeout = '{max(1, round(self.watch.seconds * 500))}ms'")
            conn.execute("ANALYZE snapshots")
            conn.execute("COMMIT")
        except psycopg.Error as error:
            # The block is committed: nothing of it is lost, only these statistics (asked for again
            # at the next commit that puts snapshots); said, not raised.
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            if not isinstance(error, psycopg.errors.LockNotAvailable):
                import structlog  # only here: a store that never fails so loads no logging

                structlog.get_logger("syncd.state").warning(
                    "could not analyse the snapshots table (PostgreSQL); autovacuum will",
                    state=self.shown, error=str(error).strip())
            return
        self.put_since_analyse[integration] = 0
        self.analyse_at[integration] = max(due, done) * 2

    def getconn(self) -> psycopg.Connection:
        self.check_open()
        watch = self.watch
        if watch is None:
            try:
                return self.pool.getconn(timeout=self.timeout)
            except psycopg.Error as exc:
                raise cannot_connect(self.url, exc) from exc
        if watch.silent is not None:
            raise self.silenced(f"not asked: {watch.silent}")
        try:
            conn = self.pool.getconn(timeout=self.timeout)
        except psycopg.Error as exc:
            if isinstance(exc, PoolTimeout):
                watch.no_connection(" ".join(str(exc).split()))
            raise cannot_connect(self.url, exc) from exc
        watch.arm(conn)
        return conn


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

    __slots__ = ("_session", "conn", "integration", "_registered", "_fence", "_put")

    def __init__(self, session: _PgSession, integration: str) -> None:
        self._session = session
        self.conn: psycopg.Connection | None = None
        self.integration = integration
        self._registered = False
        self._fence: Fence | None = None  # held when the block began; it must still hold at COMMIT
        self._put = 0  # snapshots put by this block (see _PgSession.grew)

    def __enter__(self) -> _PgTransaction:
        session = self._session
        session.check_open()
        if session.active is not None:
            raise StateError(
                f"state store {session.shown}: a transaction (for {session.active.integration!r}) is already "
                "open; transactions do not nest", path=session.shown,
            )
        if session.fenced_for is not None:
            self._fence = session.fences.get(self.integration)
            if self._fence is None:
                raise self._lost(None, "no transaction was begun")
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
                    held = self._still_fenced(conn)
                    if held:
                        conn.execute("COMMIT")
                except psycopg.Error as error:
                    self._rollback(conn)
                    raise session.error(error, "committing") from error
                if not held:
                    self._rollback(conn)
                    raise self._lost(conn, "nothing of this transaction was committed")
                if self._put:
                    session.grew(conn, self.integration, self._put)
            else:
                self._rollback(conn, exc)
        finally:
            session.putconn(conn)

    def _still_fenced(self, conn: psycopg.Connection) -> bool:
        """Whether the fence held at ``__enter__`` still holds (the lease manager has not cleared
        or replaced it, and the database agrees); True when no fence is required."""
        fence = self._fence
        if fence is None:
            return True
        if self._session.fences.get(self.integration) != fence:
            return False  # lost (or lost and taken again: a newer token): no need to ask the database
        return conn.execute(_FENCE_CHECK, (self.integration, fence.daemon_id, fence.token)).fetchone() is not None

    def _lost(self, conn: psycopg.Connection | None, outcome: str) -> LeaseLost:
        """The LeaseLost for this transaction, naming the lease's holder now when it can be read."""
        session = self._session
        fence = self._fence
        if fence is None:
            what = f"the lease of {self.integration} is not held by daemon {session.fenced_for}: {outcome}"
        else:
            what = f"the lease of {self.integration} was lost (token {fence.token}): {outcome}"
        holder = self._holder(conn) if conn is not None else self._holder_now()
        return LeaseLost(f"{what} ({holder + '; ' if holder else ''}state store {session.shown})",
                         path=session.shown)

    def _holder_now(self) -> str | None:
        """:meth:`_holder` on a connection borrowed for it (no transaction is open)."""
        try:
            conn = self._session.getconn()
        except StateError:
            return None
        try:
            return self._holder(conn)
        finally:
            self._session.putconn(conn)

    def _holder(self, conn: psycopg.Connection) -> str | None:
        """Who holds the lease now, as words; None if that cannot be read (the error that matters is
        the lost lease)."""
        try:
            row = conn.execute("SELECT daemon_id, host, pid, token, expires_at > clock_timestamp()"
                               " FROM leases WHERE integration = %s", (self.integration,)).fetchone()
        except psycopg.Error:
            return None
        if row is None:
            return "it has no lease row"
        daemon_id, host, pid, token, live = row
        if daemon_id is None:
            return f"nobody holds it now (token {token})"
        state = "holds it now" if live else "held it until it expired"
        return f"daemon {daemon_id} (host {host}, pid {pid}) {state} with token {token}"

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
    def put_snapshots(self, snapshots: Iterable[Snapshot], *, new: bool = False) -> None:
        # *new* changes nothing here: the upsert reads nothing first.
        i = self.integration
        rows = [
            (i, _side(s.side), s.record_id, _dump(s.seen), None if s.synced is None else _dump(s.synced),
             s.match_key, s.hash, aware(s.updated_at), bool(s.deleted), bool(s.dirty), s.generation)
            for s in snapshots
        ]
        conn = self._open_conn()
        if rows:
            # One statement for the batch, the rows as arrays: a statement per
            # row (executemany, pipelined) was one round trip but a parse,
            # plan and executor start per row on the server. A row given
            # twice would be updated twice by one INSERT (refused): the last
            # one given is kept, as upserting them one by one leaves it.
            last = {(row[1], row[2]): row for row in rows}
            if len(last) < len(rows):
                rows = list(last.values())
            conn.execute(_UPSERT_SNAPSHOTS, [list(column) for column in zip(*rows)])
            self._put += len(rows)

    @pg_guard("marking snapshots synced")
    def mark_synced(self, side: Side, rows: Sequence[tuple[str, str]]) -> None:
        side = _side(side)
        ids, digests = [record_id for record_id, _ in rows], [digest for _, digest in rows]
        conn = self._open_conn()
        if ids:
            # A statement per row by its primary key (pipelined: one round trip). One join with
            # the ids as arrays was planned from the table's statistics, and while they lag
            # behind a growing table it read every snapshot of the side: 240 ms a batch at 8,000.
            for_each_key(conn, "UPDATE snapshots SET synced = seen, dirty = false"
                         " WHERE integration = %s AND side = %s AND record_id = %s AND hash = %s",
                         [(self.integration, side, record_id, digest) for record_id, digest in zip(ids, digests)])

    @pg_guard("marking snapshots seen")
    def mark_seen(self, side: Side, record_ids: Iterable[str], generation: int) -> None:
        i, side = self.integration, _side(side)
        # By primary key, a statement per record (see _pg_keys): `= ANY(%s)` read every
        # snapshot of the side while the statistics lagged behind a growing table.
        for_each_key(self._open_conn(), "UPDATE snapshots SET generation = %s"
                     " WHERE integration = %s AND side = %s AND record_id = %s",
                     [(generation, i, side, record_id) for record_id in dict.fromkeys(record_ids)])

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
        # By one unique key each (`left_id = … OR right_id = …` scanned every link: see link_many).
        self._run(_UNLINK_LEFT, (self.integration, left_id))
        self._run(_UNLINK_RIGHT, (self.integration, right_id))
        self._run("INSERT INTO links (integration, left_id, right_id) VALUES (%s, %s, %s)",
                  (self.integration, left_id, right_id))

    @pg_guard("unlinking a record")
    def unlink(self, side: Side, record_id: str) -> None:
        column = "left_id" if _side(side) == "left" else "right_id"
        self._run(f"DELETE FROM links WHERE integration = %s AND {column} = %s", (self.integration, record_id))

    @pg_guard("recording a write intent")
    def add_intent(self, intent: Intent) -> int:
        row = codec.intent_row(self.integration, intent, aware(intent.created_at or utc_now()))
        found = self._run(_INSERT_INTENT, row).fetchone()
        return int(found[0]) if found else 0

    @pg_guard("resolving a write intent")
    def resolve_intent(self, intent_id: int) -> None:
        self._run(_RESOLVE_INTENT, (self.integration, intent_id))

    @pg_guard("recording write intents")
    def add_intents(self, intents: Sequence[Intent]) -> list[int]:
        now = utc_now()
        i = self.integration
        rows = [codec.intent_row(i, n, now if n.created_at is None else aware(n.created_at)) for n in intents]
        conn = self._open_conn()
        if not rows:
            return []
        ids: list[int] = []
        with conn.cursor() as cur:
            # Pipelined: one round trip for the batch; one result per row, in the rows' order.
            cur.executemany(_INSERT_INTENT, rows, returning=True)
            while True:
                found = cur.fetchone()
                ids.append(int(found[0]) if found else 0)
                if not cur.nextset():
                    break
        return ids

    @pg_guard("linking records")
    def link_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        conn = self._open_conn()
        if not pairs:
            return
        # What linking one by one leaves: every older link of a record of the
        # batch is gone, and of the batch's pairs those no later pair shares
        # a record with. Two statements for the batch, not two per pair.
        lefts, rights = [left for left, _ in pairs], [right for _, right in pairs]
        kept = last_links(pairs)
        with conn.cursor() as cur:
            # Statements by one unique key each (pipelined: one round trip), always an index
            # lookup. `= ANY(array)`, or one statement with `left_id = … OR right_id = …`
            # (prepared: a generic plan), were planned from the table's statistics, and while
            # they lag behind a growing table (an initial sync) they scanned every link.
            i = self.integration
            cur.executemany(_UNLINK_LEFT, [(i, x) for x in lefts])
            cur.executemany(_UNLINK_RIGHT, [(i, x) for x in rights])
        conn.execute("INSERT INTO links (integration, left_id, right_id)"
                     " SELECT %s, l, r FROM unnest(%s::text[], %s::text[]) AS u(l, r)",
                     (self.integration, [left for left, _ in kept], [right for _, right in kept]))

    @pg_guard("resolving write intents")
    def resolve_intents(self, intent_ids: Iterable[int]) -> None:
        ids = [int(n) for n in intent_ids]
        conn = self._open_conn()
        # By primary key, a statement per intent (see _pg_keys): `id = ANY(%s)` read every intent,
        # and a large sync leaves many dead ones behind until autovacuum comes.
        for_each_key(conn, _RESOLVE_INTENT, [(self.integration, n) for n in dict.fromkeys(ids)])

    @pg_guard("recording a record error")
    def add_error(self, error: RecordErrorRow) -> None:
        row = (
            self.integration, _side(error.side), error.record_id, error.operation, error.message, error.status,
            error.attempts, error.origin, aware(error.at or utc_now()), aware(error.next_retry_at),
        )
        self._run(_UPSERT_ERROR, row)

    @pg_guard("resolving record errors")
    def resolve_errors(self, side: Side, record_id: str, *, writes: bool | None = None) -> None:
        self._run(
            f"""UPDATE errors SET resolved_at = %s
                WHERE integration = %s AND side = %s AND record_id = %s AND resolved_at IS NULL
                {codec.operations_clause(writes)}""",
            (utc_now(), self.integration, _side(side), record_id),
        )

    @pg_guard("making record errors due")
    def retry_due(self, side: Side, record_ids: Iterable[str], at: datetime | None = None) -> None:
        when = aware(at or utc_now())
        i, side = self.integration, _side(side)
        # A statement per record, by the unresolved errors' unique index (see _pg_keys).
        for_each_key(self._open_conn(),
                     "UPDATE errors SET next_retry_at = %s WHERE integration = %s AND side = %s"
                     " AND record_id = %s AND resolved_at IS NULL"
                     " AND (next_retry_at IS NULL OR next_retry_at > %s)",
                     [(when, i, side, record_id, when) for record_id in dict.fromkeys(record_ids)])

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
        if prune_due(self._session.pruned, self.integration):
            before, (low, high) = cutoff(), child_keys_range(self.integration)
            for one, children in _PRUNE_HISTORY:
                self._run(one, (self.integration, before))
                self._run(children, (low, high, before))

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
