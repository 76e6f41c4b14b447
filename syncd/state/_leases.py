"""Leases of integrations and cluster membership, kept in the PostgreSQL store.

Several daemons may share one PostgreSQL state; each integration is run by
one of them at a time. Who runs which is decided in two tables (migration 2,
:mod:`syncd.state._pg_migrations`):

- ``cluster_daemons``: one row per live daemon, renewed by its heartbeat;
  a row whose ``expires_at`` passed is a daemon that stopped or hangs.
- ``leases``: one row per integration; a lease is held by ``daemon_id``
  until ``expires_at``. Each acquisition adds 1 to ``token``, the fencing
  token, never reused: a transaction of the state store commits only if
  its daemon still holds the lease with the token it acquired
  (``store.fence``; the check is in :mod:`syncd.state._pg_tx`), so a daemon
  that lost its lease while paused can write nothing after the new holder
  took over.

Every time is the database's clock (``clock_timestamp()``), never a
daemon's: daemons' clocks may differ, the database's is one.

A :class:`LeaseBook` has its OWN connection, not the store's pool: the
daemon calls it from a worker thread, so a hanging database never blocks
the event loop, and a lease renewal never queues behind the store's
transactions. psycopg is imported only when a book connects (a SQLite
installation never does).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from syncd.state._errors import StateError

if TYPE_CHECKING:
    import psycopg

__all__ = ["Fence", "Lease", "LeaseBook", "LeaseLost", "Member", "lease_from_row", "LEASE_COLUMNS", "LEASE_INVARIANTS"]

R = TypeVar("R")


class LeaseLost(StateError):
    """A transaction's fence no longer matches its integration's lease: NOTHING of it was committed.

    (A :class:`StateError` like every failure of the store; kept here, with the leases it is about.)"""


@dataclass(frozen=True, slots=True)
class Lease:
    integration: str
    daemon_id: str | None  # None: free
    host: str | None
    pid: int | None
    token: int  # the fencing token: +1 at every acquisition, never reused
    expires_at: datetime | None  # aware UTC, database clock


@dataclass(frozen=True, slots=True)
class Member:
    daemon_id: str
    host: str
    pid: int
    started_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Fence:
    """What a transaction must still hold to commit: the lease of its integration, with this token."""

    daemon_id: str
    token: int


LEASE_COLUMNS = "integration, daemon_id, host, pid, token, expires_at"
_MEMBER_COLUMNS = "daemon_id, host, pid, started_at, expires_at"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def lease_from_row(row: Sequence[Any]) -> Lease:
    integration, daemon_id, host, pid, token, expires_at = row
    return Lease(integration, daemon_id, host, pid, int(token), _utc(expires_at))


def _member(row: Sequence[Any]) -> Member:
    daemon_id, host, pid, started_at, expires_at = row
    return Member(daemon_id, host, int(pid), started_at.astimezone(UTC), expires_at.astimezone(UTC))


# ``%(lease)s`` is the lease length in seconds; every time is the database's.
_UNTIL = "clock_timestamp() + %(lease)s * interval '1 second'"

_HEARTBEAT = f"""
    INSERT INTO cluster_daemons (daemon_id, host, pid, started_at, expires_at)
    VALUES (%(me)s, %(host)s, %(pid)s, clock_timestamp(), {_UNTIL})
    ON CONFLICT (daemon_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
        expires_at = excluded.expires_at"""

# A member silent for more than a lease after its row expired is gone: its row goes
# (status shows the recently expired ones a little longer, then no more).
_FORGET = "DELETE FROM cluster_daemons WHERE expires_at < clock_timestamp() - %(lease)s * interval '1 second'"

_MEMBERS = (f"SELECT {_MEMBER_COLUMNS} FROM cluster_daemons WHERE expires_at > clock_timestamp()"
            " ORDER BY started_at, daemon_id")

_ENSURE = ("INSERT INTO leases (integration) SELECT DISTINCT unnest(%(names)s::text[])"
           " ON CONFLICT (integration) DO NOTHING")

_HELD = "unnest(%(names)s::text[], %(tokens)s::bigint[]) AS held (integration, token)"

# Only a lease not yet expired is renewed: an expired one may be acquired by
# another daemon at any instant, so it is lost (acquire takes it back, token+1).
_RENEW = f"""
    UPDATE leases SET expires_at = {_UNTIL}
    FROM {_HELD}
    WHERE leases.integration = held.integration AND leases.token = held.token
      AND leases.daemon_id = %(me)s AND leases.expires_at > clock_timestamp()
    RETURNING {", ".join(f"leases.{c.strip()}" for c in LEASE_COLUMNS.split(","))}"""

# SKIP LOCKED: a row another daemon is acquiring, or whose holder's commit is
# checking its fence (FOR SHARE), is skipped, never waited for: two books
# racing split the free leases between them. PostgreSQL checks the WHERE
# again on the row it locked, so a lease taken meanwhile is not taken twice.
_ACQUIRE = f"""
    WITH picked AS (
        SELECT integration FROM leases
        WHERE integration = ANY(%(names)s::text[])
          AND (daemon_id IS NULL OR expires_at IS NULL OR expires_at <= clock_timestamp())
        ORDER BY array_position(%(names)s::text[], integration::text)
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED)
    UPDATE leases SET daemon_id = %(me)s, host = %(host)s, pid = %(pid)s, token = leases.token + 1,
        acquired_at = clock_timestamp(), expires_at = {_UNTIL}
    FROM picked WHERE leases.integration = picked.integration
    RETURNING {", ".join(f"leases.{c.strip()}" for c in LEASE_COLUMNS.split(","))}"""

# The token stays: the next acquisition counts on from it.
_FREE = "daemon_id = NULL, host = NULL, pid = NULL, acquired_at = NULL, expires_at = NULL"
_RELEASE = f"""
    UPDATE leases SET {_FREE} FROM {_HELD}
    WHERE leases.integration = held.integration AND leases.token = held.token AND leases.daemon_id = %(me)s"""
_LEAVE = f"UPDATE leases SET {_FREE} WHERE daemon_id = %(me)s"
_GONE = "DELETE FROM cluster_daemons WHERE daemon_id = %(me)s"

_LEASES = f"SELECT {LEASE_COLUMNS} FROM leases ORDER BY integration"

# What every lease row satisfies (`syncd state check`): held with every field of its holder and a
# term, or free with none of them; its token counts acquisitions, so a held lease has had one.
LEASE_INVARIANTS: tuple[tuple[str, Callable[[Sequence[Any]], str]], ...] = (
    ("SELECT integration, daemon_id, token FROM leases WHERE daemon_id IS NOT NULL AND (host IS NULL"
     " OR pid IS NULL OR acquired_at IS NULL OR expires_at IS NULL OR token < 1)",
     lambda r: f"leases ({r[0]}): held by {r[1]} (token {r[2]}) without its host, pid, term or a token above 0"),
    ("SELECT integration FROM leases WHERE daemon_id IS NULL AND (host IS NOT NULL OR pid IS NOT NULL"
     " OR acquired_at IS NOT NULL OR expires_at IS NOT NULL)",
     lambda r: f"leases ({r[0]}): free, but with a holder's host, pid or term"),
    ("SELECT integration, acquired_at, expires_at FROM leases WHERE expires_at < acquired_at",
     lambda r: f"leases ({r[0]}): expires ({r[2]}) before it was acquired ({r[1]})"),
    ("SELECT integration, token FROM leases WHERE token < 0",
     lambda r: f"leases ({r[0]}): token {r[1]} below 0"),
)


# How long past the statement timeout a call may wait before its socket is cut: the server's own
# timeout (an error it sends) comes first when the server runs at all.
_GRACE = 1.0


class _Watchdog:
    """Cuts the connection's socket if the block takes longer than *seconds*.

    The statement timeout is the server's: a server that hangs (stopped,
    swapping, a network that drops packets without a reset) never sends its
    error, and libpq would wait for the answer for ever, with the lease
    manager's thread. Shutting the socket down from this timer's thread
    makes the blocked read return at once; the connection is then broken
    and the book connects again on its next call.
    """

    def __init__(self, conn: psycopg.Connection, seconds: float) -> None:
        self._conn = conn
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._guard = threading.Lock()  # the block ending and the cut do not overlap
        self._over = False
        self.fired = False

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._guard:
            self._over = True
        self._timer.cancel()

    def _cut(self) -> None:
        with self._guard:
            if self._over:
                return
            self.fired = True
            cut(self._conn)


def cut(conn: psycopg.Connection) -> None:
    """Shut *conn*'s socket down from another thread: a call blocked reading it returns at once,
    and the connection is broken from then on."""
    try:
        # A duplicate of the descriptor: shutdown acts on the socket they share, and closing the
        # duplicate leaves libpq's own descriptor to libpq.
        with socket.socket(fileno=os.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass  # closed meanwhile: nothing left to cut


class LeaseBook:
    """One daemon's view of the lease tables, on its OWN connection (not the store's pool).

    Every method raises :class:`StateError` (password masked) when the
    database cannot be reached or does not answer within *timeout* seconds
    (one more for a server that hangs outright: :class:`_Watchdog`), and
    reconnects on the next call. A book may
    be called from any thread, one call at a time (a lock makes them queue).
    """

    def __init__(self, url: str, *, daemon_id: str, host: str, pid: int, lease_seconds: float,
                 timeout: float = 5.0) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        self.url = url
        self.daemon_id = daemon_id
        self.host = host
        self.pid = pid
        self.lease_seconds = float(lease_seconds)
        self.timeout = float(timeout)
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _params(self, **more: Any) -> dict[str, Any]:
        return {"me": self.daemon_id, "host": self.host, "pid": self.pid, "lease": self.lease_seconds, **more}

    def _connect(self) -> psycopg.Connection:
        import psycopg

        from syncd.state._pg_errors import cannot_connect

        # A statement (or a lock wait) longer than the timeout fails rather than hangs the caller's thread.
        options = f"-c TimeZone=UTC -c statement_timeout={max(1, round(self.timeout * 1000))}"
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self.timeout)),
                                   options=options, application_name=f"syncd-leases {self.daemon_id}"[:63])
        except psycopg.Error as exc:
            raise cannot_connect(self.url, exc) from exc

    def _call(self, doing: str, work: Callable[[psycopg.Connection], R]) -> R:
        """Run *work* in one transaction on the book's connection (made now if there is none)."""
        import psycopg

        from syncd.state._pg_errors import from_postgres, shown_url

        with self._lock:
            shown = shown_url(self.url)
            if self._closed:
                raise StateError(f"state store {shown}: the lease book of {self.daemon_id} is closed", path=shown)
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._drop()
                self._conn = self._connect()
            conn = self._conn
            watchdog = _Watchdog(conn, self.timeout + _GRACE)
            try:
                with watchdog, conn.transaction():
                    return work(conn)
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    self._drop()  # the next call connects again
                if watchdog.fired:
                    raise StateError(
                        f"state store {shown}: {doing}: no answer within {self.timeout:g} s (the server or the "
                        "network hangs): the next call reconnects", path=shown) from exc
                raise from_postgres(self.url, exc, doing) from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a connection already dead cannot fail to close usefully
                pass

    def heartbeat(self) -> list[Member]:
        """Upsert this daemon's member row (alive for a lease from now), forget members expired more
        than a lease ago; the live members by (started_at, daemon_id)."""
        def work(conn: psycopg.Connection) -> list[Member]:
            params = self._params()
            conn.execute(_HEARTBEAT, params)
            conn.execute(_FORGET, params)
            return [_member(row) for row in conn.execute(_MEMBERS).fetchall()]

        return self._call("renewing the cluster membership", work)

    def ensure(self, integrations: Iterable[str]) -> None:
        """A lease row for each integration (free when new)."""
        names = sorted(set(integrations))
        if names:
            self._call("adding leases", lambda conn: conn.execute(_ENSURE, {"names": names}))

    def renew(self, held: Mapping[str, int]) -> dict[str, Lease]:
        """Extend the leases still held with the token given (*held*: name -> token) by a lease from now;
        those returned. The others are lost (expired, released or taken over)."""
        if not held:
            return {}
        params = self._params(names=list(held), tokens=[held[name] for name in held])
        rows = self._call("renewing leases", lambda conn: conn.execute(_RENEW, params).fetchall())
        return {lease.integration: lease for lease in map(lease_from_row, rows)}

    def acquire(self, candidates: Sequence[str], limit: int) -> list[Lease]:
        """Take at most *limit* of the free or expired leases among *candidates* (in their order of
        preference), each with its token + 1; those taken, in that order."""
        names = list(dict.fromkeys(candidates))
        if limit < 1 or not names:
            return []
        params = self._params(names=names, limit=limit)
        rows = self._call("acquiring leases", lambda conn: conn.execute(_ACQUIRE, params).fetchall())
        order = {name: i for i, name in enumerate(names)}
        return sorted(map(lease_from_row, rows), key=lambda lease: order[lease.integration])

    def release(self, held: Mapping[str, int]) -> None:
        """Free the leases still held with the token given; others are left alone."""
        if held:
            params = self._params(names=list(held), tokens=[held[name] for name in held])
            self._call("releasing leases", lambda conn: conn.execute(_RELEASE, params))

    def leave(self) -> None:
        """A clean stop: free every lease of this daemon and delete its member row."""
        def work(conn: psycopg.Connection) -> None:
            params = self._params()
            conn.execute(_LEAVE, params)
            conn.execute(_GONE, params)

        self._call("leaving the cluster", work)

    def leases(self) -> dict[str, Lease]:
        """Every lease row, by integration."""
        rows = self._call("reading leases", lambda conn: conn.execute(_LEASES).fetchall())
        return {lease.integration: lease for lease in map(lease_from_row, rows)}

    def close(self) -> None:
        """Close the connection; closing twice is harmless. The leases stay as they are in the
        database (:meth:`leave` frees them)."""
        with self._lock:
            self._closed = True
            self._drop()

    def __enter__(self) -> LeaseBook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
