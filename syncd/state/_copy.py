"""Copying a whole state store into another, empty one (``syncd state copy``).

Both stores hold the same tables (drawn in :mod:`syncd.state._migrations`)
in their own types: SQLite keeps times as ISO-8601 text and flags as 0/1,
PostgreSQL as ``timestamptz`` and ``boolean``. Each table's columns are
listed here with their kind; a row read from the source is decoded into
Python values (aware datetimes, bools) and encoded for the target, so the
copy goes either way, and from one store of a kind to another of the same.

The source is read in one snapshot (a read transaction), table by table in
key order and in batches; the target is written in ONE transaction: it
holds everything or nothing. Before it writes, the target must be empty
(every table): a copy never merges into or overwrites a store in use.
Both stores were opened, hence migrated, by this syncd, so both are at its
schema version. Ids (intents, errors, conflicts, cycles) are copied as
they are, and each id counter is carried over too, so an id deleted in the
source is never handed out again by the target.

The rotated refresh tokens go along when a *tokens* carrier is given (the
connector's :class:`~syncd.connector._token_copy.CarriedTokens`: this layer
holds no key and no ``tokens.json``): a PostgreSQL source's
``refresh_tokens`` rows are handed to it from the same snapshot before
anything is written (it decrypts them, and may refuse); a PostgreSQL
target gets its encrypted rows in the same target transaction; a SQLite
target's ``tokens.json`` is written by the carrier just before the commit,
and removed again when the commit fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import psycopg

from syncd.state._errors import TargetNotEmpty, from_sqlite
from syncd.state._pg_errors import from_postgres
from syncd.state._sqlite import SQLiteStore
from syncd.state._sqlite_rows import _parse_time, _time
from syncd.state._store import StateStore

__all__ = ["TABLES", "SealedToken", "TokenCarrier", "copy_state"]

Kind = Literal["value", "time", "flag"]
_V: Kind = "value"
_T: Kind = "time"
_F: Kind = "flag"

# (table, ((column, kind), …), key order, has an id counter), parents first
# (every other table references integrations). PostgreSQL's `leases` and
# `cluster_daemons` are left out on purpose: they say which daemon runs what
# now, not state, and a copy made while they hold rows would hand out leases
# to daemons of the source.
TABLES: tuple[tuple[str, tuple[tuple[str, Kind], ...], str, bool], ...] = (
    ("integrations", (("name", _V), ("disabled_since", _T)), "name", False),
    ("side_states", (("integration", _V), ("side", _V), ("cursor", _T), ("last_full_read", _T),
                     ("generation", _V), ("fields", _V), ("sync_token", _V)), "integration, side", False),
    ("snapshots", (("integration", _V), ("side", _V), ("record_id", _V), ("seen", _V), ("synced", _V),
                   ("match_key", _V), ("hash", _V), ("updated_at", _T), ("deleted", _F), ("dirty", _F),
                   ("generation", _V)), "integration, side, record_id", False),
    ("links", (("integration", _V), ("left_id", _V), ("right_id", _V)), "integration, left_id", False),
    ("intents", (("id", _V), ("integration", _V), ("side", _V), ("kind", _V), ("source_id", _V),
                 ("target_id", _V), ("match_key", _V), ("fields", _V), ("created_at", _T),
                 ("source_seen", _V)), "id", True),
    ("errors", (("id", _V), ("integration", _V), ("side", _V), ("record_id", _V), ("operation", _V),
                ("message", _V), ("status", _V), ("attempts", _V), ("origin", _V), ("at", _T),
                ("resolved_at", _T), ("next_retry_at", _T)), "id", True),
    ("conflicts", (("id", _V), ("integration", _V), ("left_id", _V), ("right_id", _V), ("field", _V),
                   ("left_value", _V), ("right_value", _V), ("winner", _V), ("rule", _V), ("at", _T)), "id", True),
    ("cycles", (("id", _V), ("integration", _V), ("origin", _V), ("started_at", _T), ("ended_at", _T),
                ("outcome", _V), ("counts", _V), ("error", _V)), "id", True),
    ("bulk_runs", (("integration", _V), ("state", _V), ("done", _V), ("total", _V), ("failed", _V),
                   ("started_at", _T), ("updated_at", _T), ("ended_at", _T), ("message", _V)), "integration", False),
    ("api_usage", (("account", _V), ("connector", _V), ("window_start", _V), ("window_end", _V), ("used", _V),
                   ("api_used", _V), ("api_limit", _V)), "account", False),
)


# A `refresh_tokens` row as a copy carries it: account key, config digest, ciphertext.
SealedToken = tuple[str, str, bytes]


class TokenCarrier(Protocol):
    """The rotated refresh tokens that go with a copy. Its exceptions end the copy, nothing written."""

    def take(self, rows: list[SealedToken]) -> None:
        """The PostgreSQL source's tokens, read in the copy's snapshot before anything is written."""

    def sealed(self) -> list[SealedToken]:
        """The rows for a PostgreSQL target, written in its transaction."""
        ...

    def write_beside(self) -> None:
        """Write a SQLite target's ``tokens.json`` (called just before the target commits)."""

    def discard(self) -> None:
        """Remove what :meth:`write_beside` wrote: the target's commit failed."""


class _End(Protocol):
    """One store's side of a copy, in its own SQL and types."""

    path: str

    def reading(self) -> AbstractContextManager[None]: ...
    def writing(self) -> AbstractContextManager[None]: ...
    def rows(self, table: str, columns: tuple[tuple[str, Kind], ...], order: str,
             batch: int) -> Iterator[list[tuple[Any, ...]]]: ...
    def count(self, table: str) -> int: ...
    def insert(self, table: str, columns: tuple[tuple[str, Kind], ...], rows: list[tuple[Any, ...]]) -> None: ...
    def last_id(self, table: str) -> int: ...
    def set_last_id(self, table: str, value: int) -> None: ...


def _names(columns: tuple[tuple[str, Kind], ...]) -> str:
    return ", ".join(name for name, _ in columns)


class _SQLiteEnd:
    def __init__(self, store: SQLiteStore) -> None:
        self.path = store.path
        self._conn = store._conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[None]:
        self._conn.execute(begin)
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def reading(self) -> AbstractContextManager[None]:
        return self._transaction("BEGIN")  # WAL: one snapshot from the first read to the end

    def writing(self) -> AbstractContextManager[None]:
        return self._transaction("BEGIN IMMEDIATE")

    def rows(self, table: str, columns: tuple[tuple[str, Kind], ...], order: str,
             batch: int) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self._conn.execute(f"SELECT {_names(columns)} FROM {table} ORDER BY {order}")
        kinds = [kind for _, kind in columns]
        while rows := cursor.fetchmany(batch):
            yield [tuple(_parse_time(v) if k == _T else (None if v is None else bool(v)) if k == _F else v
                         for v, k in zip(row, kinds, strict=True)) for row in rows]

    def count(self, table: str) -> int:
        return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def insert(self, table: str, columns: tuple[tuple[str, Kind], ...], rows: list[tuple[Any, ...]]) -> None:
        kinds = [kind for _, kind in columns]
        marks = ", ".join("?" * len(columns))
        self._conn.executemany(
            f"INSERT INTO {table} ({_names(columns)}) VALUES ({marks})",
            [tuple(_time(v) if k == _T else (None if v is None else int(v)) if k == _F else v
                   for v, k in zip(row, kinds, strict=True)) for row in rows])

    def last_id(self, table: str) -> int:
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        return int(row[0]) if row else 0

    def set_last_id(self, table: str, value: int) -> None:
        # AUTOINCREMENT keeps the highest id ever given in sqlite_sequence (no unique key: update, else add).
        if self._conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?",
                              (value, table)).rowcount == 0:
            self._conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value))


class _PgEnd:
    def __init__(self, store: Any) -> None:  # a PostgresStore (imported only when one is open)
        self.path = store.path
        self._session = store._session
        self.url: str = store._session.url  # for error messages, which mask its password
        self._conn: psycopg.Connection | None = None

    @contextmanager
    def _transaction(self, isolation: str) -> Iterator[None]:
        conn = self._session.getconn()
        try:
            with conn.transaction():
                conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
                self._conn = conn
                yield
        finally:
            self._conn = None
            self._session.putconn(conn)

    def reading(self) -> AbstractContextManager[None]:
        return self._transaction("REPEATABLE READ READ ONLY")  # one snapshot of every table

    def writing(self) -> AbstractContextManager[None]:
        return self._transaction("READ COMMITTED")

    @property
    def conn(self) -> psycopg.Connection:
        assert self._conn is not None, "used outside reading() or writing()"
        return self._conn

    def rows(self, table: str, columns: tuple[tuple[str, Kind], ...], order: str,
             batch: int) -> Iterator[list[tuple[Any, ...]]]:
        # A server-side cursor: a table of millions of snapshots is never in memory at once.
        with self.conn.cursor(name=f"syncd_copy_{table}") as cursor:
            cursor.execute(f"SELECT {_names(columns)} FROM {table} ORDER BY {order}")
            while rows := cursor.fetchmany(batch):
                yield [tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row) for row in rows]

    def count(self, table: str) -> int:
        row = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def insert(self, table: str, columns: tuple[tuple[str, Kind], ...], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join(["%s"] * len(columns))
        # The ids are GENERATED ALWAYS: the source's are kept, so the system value is overridden.
        overriding = " OVERRIDING SYSTEM VALUE" if columns[0][0] == "id" else ""
        with self.conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({_names(columns)}){overriding} VALUES ({marks})", rows)

    def last_id(self, table: str) -> int:
        row = self.conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
        assert row is not None and row[0] is not None
        mark = self.conn.execute(f"SELECT last_value, is_called FROM {row[0]}").fetchone()
        return int(mark[0]) if mark and mark[1] else 0

    def set_last_id(self, table: str, value: int) -> None:
        self.conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, true)", (table, value))

    def tokens(self) -> list[SealedToken]:
        # A row without ciphertext is only a lock taken before a first refresh: no token to carry.
        return [(account, digest, bytes(ciphertext)) for account, digest, ciphertext in self.conn.execute(
            "SELECT account, config_digest, ciphertext FROM refresh_tokens WHERE ciphertext IS NOT NULL"
            " ORDER BY account").fetchall()]

    def insert_tokens(self, rows: list[SealedToken]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany("INSERT INTO refresh_tokens (account, config_digest, ciphertext) VALUES (%s, %s, %s)",
                               rows)


def _end(store: StateStore) -> _End:
    if isinstance(store, SQLiteStore):
        return _SQLiteEnd(store)
    from syncd.state._postgres import PostgresStore  # psycopg_pool only when a PostgreSQL store is open

    if isinstance(store, PostgresStore):
        return _PgEnd(store)
    raise TypeError(f"cannot copy {type(store).__name__}: neither a SQLite nor a PostgreSQL store")


def copy_state(source: StateStore, target: StateStore, *, batch: int = 1000,
               tokens: TokenCarrier | None = None) -> dict[str, int]:
    """Copy every row of *source* into the empty *target*, in one target
    transaction; returns the rows copied per table (every table named).
    *tokens*: the rotated refresh tokens to carry along (see the module's text).

    Raises :class:`TargetNotEmpty` (nothing written) when the target holds
    any row, :class:`StateError` for any other failure (nothing written);
    what *tokens* raises ends the copy too, nothing written.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    src, dst = _end(source), _end(target)
    copied: dict[str, int] = {}
    beside = False  # a SQLite target's tokens.json was written (by the carrier)
    try:
        with src.reading(), dst.writing():
            held = {table: n for table, *_ in TABLES if (n := dst.count(table))}
            if tokens is not None and isinstance(dst, _PgEnd) and (n := dst.count("refresh_tokens")):
                held["refresh_tokens"] = n
            if held:
                shown = ", ".join(f"{table}: {n}" for table, n in held.items())
                raise TargetNotEmpty(
                    f"state store {dst.path} is not empty ({shown}): copy only into a new database or "
                    f"file, never over a store in use; nothing was written", path=dst.path)
            if tokens is not None and isinstance(src, _PgEnd):
                tokens.take(src.tokens())  # first: a token that cannot be carried stops the copy at once
            for table, columns, order, counted in TABLES:
                copied[table] = 0
                for rows in src.rows(table, columns, order, batch):
                    dst.insert(table, columns, rows)
                    copied[table] += len(rows)
                if counted and (last := max(src.last_id(table), dst.last_id(table))):
                    dst.set_last_id(table, last)
            if tokens is not None and isinstance(dst, _PgEnd):
                dst.insert_tokens(tokens.sealed())
            elif tokens is not None:
                beside = True
                tokens.write_beside()
    except BaseException as exc:
        if beside and tokens is not None:
            tokens.discard()  # the target did not commit: its tokens.json goes too
        if isinstance(exc, sqlite3.Error):
            raise from_sqlite(dst.path, exc, "copying the state store (nothing was written)") from exc
        if isinstance(exc, psycopg.Error):
            url = next(end.url for end in (dst, src) if isinstance(end, _PgEnd))
            raise from_postgres(url, exc, "copying the state store (nothing was written)") from exc
        raise
    return copied
