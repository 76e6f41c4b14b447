"""The PostgreSQL state store: the same contract as SQLite's, on a server.

``state: {url: "postgresql://user@host/db"}`` in syncd.yaml chooses it
(see :func:`syncd.state.open_state`). The schema (drawn in
:mod:`syncd.state._pg_migrations`) is created and migrated by syncd on
open, once even when several daemons open an empty database at the same
moment. What it holds is what the SQLite store holds (see
:mod:`syncd.state._sqlite`): contact data, never credentials.

Connections come from a psycopg_pool ``ConnectionPool`` (autocommit, time
zone UTC): the call that meets a connection the server dropped (a restart,
a failover) raises :class:`StateError` (nothing is retried behind the
caller's back); the connection is discarded and the pool checks its idle
ones at once (a daemon's pool replaces them), so the next read or
transaction gets a live one and the store outlives a database restart. A
daemon's store also gives up on a server that does not answer, and asks it
nothing more until it does (:mod:`syncd.state._pg_watch`). A transaction holds one
connection from ``BEGIN`` to its end, and reads inside its block use it (they
see its writes); reads outside one each borrow a connection for one
statement. Isolation is PostgreSQL's default, READ COMMITTED: one daemon
writes an integration at a time, across daemons too: each runs only the
integrations it holds the lease of (:mod:`syncd.state._leases`), and with
``require_fences`` a transaction commits only while its lease still holds
(the check is in :mod:`syncd.state._pg_tx`).

As with SQLite, one store is used from one thread; transactions do not nest.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

import syncd.state._rows as codec
from syncd.state._check import invariant_problems, version_problem
from syncd.state._errors import StateError
from syncd.state._leases import LEASE_COLUMNS, LEASE_INVARIANTS, Fence, Lease, lease_from_row
from syncd.state._model import (
    AccountUsage,
    BulkRun,
    ConflictRow,
    CycleRow,
    Intent,
    RecordErrorRow,
    Side,
    SideState,
    Snapshot,
)
from syncd.state._pg_errors import cannot_connect, from_postgres, shown_url
from syncd.state._pg_keys import lateral
from syncd.state._pg_migrations import SCHEMA_VERSION, migrate, missing_columns
from syncd.state._pg_tx import _OnAServer, _PgSession, _PgTransaction, pg_guard
from syncd.state._pg_watch import AnswerWatch, probe
from syncd.state._rows import SNAPSHOT_COLUMNS as _SNAPSHOT_COLUMNS
from syncd.state._rows import check_side as _side
from syncd.state._store import StateStore
from syncd.state._usage_sql import usage_params, usage_upsert

__all__ = ["PostgresStore", "open_postgres"]

# The moved reset is compared with NULL: its type is said, as PostgreSQL cannot tell it from a NULL.
USAGE_UPSERT = usage_upsert(lambda name: f"%({name})s::double precision" if name == "moved" else f"%({name})s")

# Connection parameters every connection gets: times come back in UTC. (A server that
# does not answer is given up on by a daemon's AnswerWatch, see open_postgres.)
_OPTIONS = "-c TimeZone=UTC"
_SIDE = "integration = %s AND side = %s"
_BY_RECORD = lateral(_SNAPSHOT_COLUMNS, "snapshots", _SIDE, "record_id")
_DIGESTS = lateral("record_id, hash, deleted", "snapshots", _SIDE, "record_id")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _snapshot(row: tuple[Any, ...]) -> Snapshot:
    return codec.snapshot(row, _utc)


class PostgresStore(_OnAServer, StateStore):
    """The :class:`StateStore` in a PostgreSQL database; made by :func:`open_postgres`."""

    def __init__(self, session: _PgSession) -> None:
        self._session = session
        self.path = session.shown  # what messages and `syncd status` name: the URL, password masked

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[Any]:
        session = self._session
        active = session.active
        if active is not None and active.conn is not None:
            return active.conn.execute(sql, params).fetchall()  # inside a block: see its writes
        conn = session.getconn()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            session.putconn(conn)

    def close(self) -> None:
        """Roll back an open transaction and close the pool. Closing twice is harmless."""
        session = self._session
        if session.closed:
            return
        active, session.active = session.active, None
        if active is not None:
            active.abandon()
        session.closed = True
        if session.watch is not None:
            session.watch.close()
        session.pool.close()

    def transaction(self, integration: str) -> _PgTransaction:
        return _PgTransaction(self._session, integration)

    def require_fences(self, daemon_id: str) -> None:
        """From now on every transaction needs the fence of its integration (:meth:`fence`)."""
        self._session.fenced_for = daemon_id

    def fence(self, name: str, fence: Fence | None) -> None:
        """The fence held for integration *name* (a lease acquired), or None (lost, released)."""
        if fence is None:
            self._session.fences.pop(name, None)
        else:
            self._session.fences[name] = fence

    @pg_guard("reading leases")
    def leases(self) -> dict[str, Lease]:
        rows = self._rows(f"SELECT {LEASE_COLUMNS} FROM leases ORDER BY integration")
        return {lease.integration: lease for lease in map(lease_from_row, rows)}

    @pg_guard("reading the side state")
    def side_state(self, integration: str, side: Side) -> SideState:
        rows = self._rows(f"SELECT {codec.SIDE_STATE_COLUMNS} FROM side_states WHERE integration = %s AND side = %s",
                          (integration, _side(side)))
        return codec.side_state(rows[0], _utc) if rows else SideState()

    # The reads of a list of records: each by its unique key (see _pg_keys): `= ANY(%s)` read every
    # snapshot or link of the side while the statistics lagged behind a growing table.
    @pg_guard("reading snapshots")
    def snapshots(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, Snapshot]:
        rows = self._rows(_BY_RECORD, (list(dict.fromkeys(record_ids)), integration, _side(side)))
        return {row[1]: _snapshot(row) for row in rows}

    @pg_guard("reading snapshot digests")
    def digests(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        rows = self._rows(_DIGESTS, (list(dict.fromkeys(record_ids)), integration, _side(side)))
        return {record_id: (digest, deleted) for record_id, digest, deleted in rows}

    @pg_guard("reading snapshots by match key")
    def by_match_key(self, integration: str, side: Side, match_key: str) -> list[Snapshot]:
        rows = self._rows(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE integration = %s AND side = %s"
            " AND match_key = %s AND NOT deleted ORDER BY record_id", (integration, _side(side), match_key))
        return [_snapshot(row) for row in rows]

    @pg_guard("reading snapshots by match keys")
    def by_match_keys(self, integration: str, side: Side, match_keys: Sequence[str]) -> dict[str, list[Snapshot]]:
        # Not a statement per key: match keys are not unique, and on lagging statistics such a
        # statement read the whole side as `= ANY(%s)` does, once per key (tests/state/
        # test_statewrite3_pg_plans.py measured 3,000 rows per key of a 3,000-row side).
        rows = self._rows(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE integration = %s AND side = %s"
            " AND match_key = ANY(%s) AND NOT deleted ORDER BY record_id",
            (integration, _side(side), list(dict.fromkeys(match_keys))))
        out: dict[str, list[Snapshot]] = {}
        for row in rows:
            snap = _snapshot(row)
            out.setdefault(snap.match_key or "", []).append(snap)
        return out

    @pg_guard("reading links")
    def linked(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, str]:
        mine, other = ("left_id", "right_id") if _side(side) == "left" else ("right_id", "left_id")
        rows = self._rows(lateral(f"{mine}, {other}", "links", "integration = %s", mine),
                          (list(dict.fromkeys(record_ids)), integration))
        return dict(rows)

    def dirty(self, integration: str, side: Side, batch: int = 500) -> Iterator[list[Snapshot]]:
        _side(side)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        base = (f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots"
                " WHERE integration = %s AND side = %s AND dirty")
        return self._keyset(
            f"{base} ORDER BY record_id LIMIT %s",
            f"{base} AND record_id > %s ORDER BY record_id LIMIT %s",
            (integration, side), lambda row: (row[1],), batch, "reading dirty snapshots",
        )

    def unseen(self, integration: str, side: Side, generation: int) -> Iterator[Snapshot]:
        _side(side)
        base = (f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots"
                " WHERE integration = %s AND side = %s AND NOT deleted AND generation < %s")
        # By the primary key (no index holds the generation: mark_seen's updates stay HOT,
        # see _pg_migrations' step 5): the batches together read the side once.
        return itertools.chain.from_iterable(self._keyset(
            f"{base} ORDER BY record_id LIMIT %s",
            f"{base} AND record_id > %s ORDER BY record_id LIMIT %s",
            (integration, side, generation), lambda row: (row[1],), 500,
            "reading unseen snapshots",
        ))

    def _keyset(
        self, first: str, after: str, params: tuple[Any, ...], key: Callable[[Any], tuple[Any, ...]],
        batch: int, doing: str,
    ) -> Iterator[list[Snapshot]]:
        for rows in codec.keyset(self._fetch(doing), first, after, params, key, batch):
            yield [_snapshot(row) for row in rows]

    def _fetch(self, doing: str) -> codec.Fetch:
        """The store's query, its failures as StateError (naming *doing*)."""
        def fetch(sql: str, params: tuple[Any, ...]) -> list[Any]:
            try:
                return self._rows(sql, params)
            except psycopg.Error as exc:
                raise self._session.error(exc, doing) from exc

        return fetch

    @pg_guard("counting snapshots")
    def count(self, integration: str, side: Side, *, deleted: bool = False) -> int:
        rows = self._rows("SELECT count(*) FROM snapshots WHERE integration = %s AND side = %s AND deleted = %s",
                          (integration, _side(side), bool(deleted)))
        return int(rows[0][0])

    @pg_guard("reading a snapshot")
    def any_snapshot(self, integration: str, side: Side) -> Snapshot | None:
        rows = self._rows(f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE integration = %s AND side = %s LIMIT 1",
                          (integration, _side(side)))
        return _snapshot(rows[0]) if rows else None

    @pg_guard("reading write intents")
    def open_intents(self, integration: str) -> list[Intent]:
        rows = self._rows(f"SELECT {codec.INTENT_COLUMNS} FROM intents WHERE integration = %s ORDER BY id",
                          (integration,))
        return [codec.intent(row, _utc) for row in rows]

    @pg_guard("reading record errors")
    def errors(self, integration: str, *, unresolved: bool = True, limit: int = 100) -> list[RecordErrorRow]:
        where = " AND resolved_at IS NULL" if unresolved else ""
        rows = self._rows(
            f"SELECT {codec.ERROR_COLUMNS} FROM errors WHERE integration = %s{where}"
            " ORDER BY at DESC, id DESC LIMIT %s", (integration, limit))
        return [codec.record_error(row, _utc) for row in rows]

    @pg_guard("counting record errors")
    def count_errors(self, integration: str) -> int:
        rows = self._rows("SELECT count(*) FROM errors WHERE integration = %s AND resolved_at IS NULL",
                          (integration,))
        return int(rows[0][0])

    @pg_guard("counting conflicts")
    def count_conflicts(self, integration: str) -> int:
        return int(self._rows("SELECT count(*) FROM conflicts WHERE integration = %s", (integration,))[0][0])

    @pg_guard("reading conflicts")
    def conflicts(self, integration: str, *, limit: int = 100) -> list[ConflictRow]:
        rows = self._rows(f"SELECT {codec.CONFLICT_COLUMNS} FROM conflicts WHERE integration = %s"
                          " ORDER BY at DESC, id DESC LIMIT %s", (integration, limit))
        return [codec.conflict(row, _utc) for row in rows]

    @pg_guard("reading cycles")
    def cycles(self, integration: str, *, limit: int = 10) -> list[CycleRow]:
        rows = self._rows(f"SELECT {codec.CYCLE_COLUMNS} FROM cycles WHERE integration = %s"
                          " ORDER BY id DESC LIMIT %s", (integration, limit))
        return [codec.cycle(row, _utc) for row in rows]

    @pg_guard("reading whether the integration is disabled")
    def disabled_since(self, integration: str) -> datetime | None:
        rows = self._rows("SELECT disabled_since FROM integrations WHERE name = %s", (integration,))
        return _utc(rows[0][0]) if rows else None

    def links(self, integration: str, batch: int = 500) -> Iterator[list[tuple[str, str]]]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        select = "SELECT left_id, right_id FROM links WHERE integration = %s"
        for rows in codec.keyset(self._fetch("reading links"), f"{select} ORDER BY left_id LIMIT %s",
                                 f"{select} AND left_id > %s ORDER BY left_id LIMIT %s", (integration,),
                                 lambda row: (row[0],), batch):
            yield [(left, right) for left, right in rows]

    @pg_guard("counting links")
    def link_count(self, integration: str) -> int:
        return int(self._rows("SELECT count(*) FROM links WHERE integration = %s", (integration,))[0][0])

    @pg_guard("reading the bulk sync")
    def bulk_run(self, integration: str) -> BulkRun | None:
        rows = self._rows(f"SELECT {codec.BULK_COLUMNS} FROM bulk_runs WHERE integration = %s", (integration,))
        return codec.bulk_run(rows[0], _utc) if rows else None

    @pg_guard("listing integrations")
    def integrations(self) -> list[str]:
        return [name for (name,) in self._rows("SELECT name FROM integrations ORDER BY name")]

    @pg_guard("checking the store")
    def check(self) -> list[str]:
        # The server keeps its own tables and constraints sound; what is left to check is the schema
        # (the version row, every table and column), the leases, and syncd's invariants.
        [(version,)] = self._rows("SELECT coalesce(max(version), 0) FROM syncd_schema_version")
        problems = version_problem(int(version), SCHEMA_VERSION)
        conn = self._session.getconn()
        try:
            problems += [f"{part}: missing" for part in missing_columns(conn)]
        finally:
            self._session.putconn(conn)
        problems += [explain(row) for sql, explain in LEASE_INVARIANTS for row in self._rows(sql)]
        return problems + invariant_problems(self._rows)

    @pg_guard("reading API usage")
    def api_usage(self) -> list[AccountUsage]:
        rows = self._rows(
            "SELECT account, connector, window_start, window_end, used, api_used, api_limit"
            " FROM api_usage ORDER BY account")
        return [AccountUsage(*row) for row in rows]

    def _refuse_in_transaction(self) -> None:
        session = self._session
        session.check_open()
        if session.active is not None:
            raise StateError(
                f"state store {self.path}: API usage is stored outside transactions, and one (for "
                f"{session.active.integration!r}) is open", path=self.path)

    @pg_guard("counting API usage")
    def add_api_usage(self, account: str, connector: str, window: tuple[float, float], now: float, *,
                      api_used: int | None = None, api_limit: int | None = None,
                      resets_at: float | None = None) -> AccountUsage:
        self._refuse_in_transaction()
        [row] = self._rows(USAGE_UPSERT, usage_params(account, connector, window, now, api_used, api_limit,
                                                       resets_at))
        return AccountUsage(*row)

    @pg_guard("storing API usage")
    def put_api_usage(self, usage: AccountUsage) -> None:
        self._refuse_in_transaction()
        self._rows(
            """INSERT INTO api_usage (account, connector, window_start, window_end, used, api_used, api_limit)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (account) DO UPDATE SET connector = excluded.connector,
                   window_start = excluded.window_start, window_end = excluded.window_end, used = excluded.used,
                   api_used = excluded.api_used, api_limit = excluded.api_limit RETURNING 1""",
            (usage.account, usage.connector, usage.window_start, usage.window_end, usage.used,
             usage.api_used, usage.api_limit))


def open_postgres(url: str, *, connect_timeout: float = 10.0, pool_size: int = 2,
                  answer_within: float | None = None) -> PostgresStore:
    """Open the store in the database at *url*, creating and migrating its schema as needed.

    One direct connection first: it gives the reason when the server cannot
    be reached (psycopg's own message: refused, unknown host, bad password,
    no such database), and runs the migrations. Then the pool, which opens
    its connections as they are needed. *answer_within* (a daemon's store):
    each call gets an answer within that many seconds or fails, and a server
    that gave none is not asked again until it answers
    (:mod:`syncd.state._pg_watch`). Raises :class:`StateError`.
    """
    shown = shown_url(url)
    kwargs: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout)), "options": _OPTIONS,
                              "autocommit": True}
    try:
        conn = psycopg.connect(url, **kwargs)
    except psycopg.Error as exc:
        raise cannot_connect(url, exc) from exc
    try:
        with conn:
            migrate(conn, shown)
    except psycopg.Error as exc:
        raise from_postgres(url, exc, "creating or migrating the schema") from exc
    pool = ConnectionPool(url, kwargs=kwargs, min_size=1, max_size=pool_size, open=True,
                          name="syncd-state", timeout=connect_timeout)
    session = _PgSession(pool, url, connect_timeout)
    if answer_within is not None:
        session.watch = AnswerWatch(answer_within, functools.partial(probe, url, kwargs, answer_within),
                                    pool.drain)
    return PostgresStore(session)
