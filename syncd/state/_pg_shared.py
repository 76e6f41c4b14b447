"""What daemons on one PostgreSQL database share per connector account,
outside the state tables: the request rate (this module) and the rotated
refresh tokens (:mod:`syncd.state._pg_refresh_tokens`). Migration 3 makes
their tables; ``syncd reset`` leaves them alone (an account's rate and
token are no integration's state); ``syncd state copy`` leaves the rates
and carries the tokens (:mod:`syncd.state._copy`: a token left behind would
lock its account out).

The rate limit is GCRA (the generic cell rate algorithm): one row per
account holds the *theoretical arrival time* ``tat``, when the next request
would be due were requests spaced exactly ``1/rate`` apart. A request
reserves its slot in one statement that moves ``tat`` on by one interval
and returns how long to wait; the row lock orders two daemons reserving at
the same instant, and all times are the database's clock
(``clock_timestamp()``), so daemons whose clocks differ still agree. A 429's
``Retry-After`` sets ``paused_until``, which every reservation waits for.

Each daemon reserves on a connection of its own (not the store's pool: the
store is used from the event loop's thread; reservations come from worker
threads, see :mod:`syncd.connector._shared_rate`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import structlog

from syncd.state._errors import StateError
from syncd.state._leases import _GRACE, _Watchdog
from syncd.state._pg_errors import cannot_connect, from_postgres

__all__ = ["SHARED_STEP", "OwnConnection", "SharedRates"]

log = structlog.get_logger("syncd.state")

# PostgreSQL migration 3 (see syncd.state._pg_migrations).
SHARED_STEP: tuple[str, ...] = (
    """CREATE TABLE rate_limits (
        account text COLLATE "C" PRIMARY KEY,
        tat timestamptz NOT NULL,
        send_at timestamptz NOT NULL,
        paused_until timestamptz NOT NULL DEFAULT '-infinity'
    )""",
    """CREATE TABLE refresh_tokens (
        account text COLLATE "C" PRIMARY KEY,
        config_digest text NOT NULL DEFAULT '',
        ciphertext bytea,
        access_due timestamptz,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
)

# send_at: the earliest the request may leave (behind the burst's allowance
# and any pause); tat moves on one interval from where the request lands.
# Every expression reads the row as it was (an UPDATE's SET sees the old row).
_RESERVE = """
    INSERT INTO rate_limits AS r (account, tat, send_at)
    VALUES (%(account)s, clock_timestamp() + %(interval)s * interval '1 second', clock_timestamp())
    ON CONFLICT (account) DO UPDATE SET
        send_at = greatest(clock_timestamp(), r.tat - %(tolerance)s * interval '1 second', r.paused_until),
        tat = greatest(r.tat, clock_timestamp(), r.paused_until) + %(interval)s * interval '1 second'
    RETURNING greatest(0, extract(epoch FROM send_at - clock_timestamp()))::float8"""

_PAUSE = """
    INSERT INTO rate_limits AS r (account, tat, send_at, paused_until)
    VALUES (%(account)s, clock_timestamp(), clock_timestamp(), clock_timestamp() + %(seconds)s * interval '1 second')
    ON CONFLICT (account) DO UPDATE SET
        paused_until = greatest(r.paused_until, clock_timestamp() + %(seconds)s * interval '1 second')"""


class OwnConnection:
    """One autocommit connection of this object's own, opened at first use and
    again after a failure; one caller at a time (a lock), from any thread.
    A statement that takes longer than *timeout* is cancelled by the server,
    and a server that does not answer at all has its socket cut a second
    later (the leases' watchdog): a database that hangs holds a request up
    for that long, not for good.
    Failures are :class:`StateError` (password masked)."""

    def __init__(self, url: str, *, timeout: float = 5.0, name: str = "syncd-shared") -> None:
        self.url = url
        self.timeout = timeout
        self.name = name  # application_name: what pg_stat_activity shows
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection (the caller's to close)."""
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self.timeout)),
                                   options=f"-c TimeZone=UTC -c statement_timeout={round(self.timeout * 1000)}",
                                   application_name=self.name)
        except psycopg.Error as exc:
            raise cannot_connect(self.url, exc) from exc

    def run(self, sql: str, params: dict[str, Any], doing: str) -> Any:
        """The first column of the statement's first row (None without one)."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self.connect()
            try:
                with _Watchdog(self._conn, self.timeout + _GRACE):
                    cursor = self._conn.execute(sql, params)
                    row = cursor.fetchone() if cursor.description is not None else None
            except psycopg.Error as exc:
                self._conn.close()  # a fresh one at the next call
                self._conn = None
                raise from_postgres(self.url, exc, doing) from exc
            return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SharedRates:
    """The accounts' request rates, held across every daemon on the database at *url*."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._db = OwnConnection(url, timeout=timeout, name="syncd-rates")
        # Pauses are written by one thread of their own: a 429 is seen in a
        # listener on the event loop, which must not wait for the database.
        self._pauses = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syncd-rate-pause")

    def reserve(self, account: str, interval: float, burst: float = 1.0) -> float:
        """Reserve the account's next request slot: the seconds to wait before sending (blocks: call
        it from a worker thread). *interval*: 1/requests_per_second; *burst*: requests that may go at once."""
        wait = self._db.run(_RESERVE, {"account": account, "interval": interval,
                                       "tolerance": max(0.0, burst - 1.0) * interval},
                            "reserving a request slot")
        return float(wait or 0.0)

    def pause(self, account: str, seconds: float) -> None:
        """No request of *account* leaves any daemon for *seconds* (an answer's Retry-After)."""
        self._db.run(_PAUSE, {"account": account, "seconds": seconds}, "pausing the account's requests")

    def pause_soon(self, account: str, seconds: float) -> None:
        """:meth:`pause`, in the background: for a caller that must not block."""
        try:
            self._pauses.submit(self._pause_logged, account, seconds)
        except RuntimeError:  # closed: a request that ended after its registry (nothing left to hold)
            pass

    def _pause_logged(self, account: str, seconds: float) -> None:
        try:
            self.pause(account, seconds)
        except StateError as e:
            log.warning("could not share a Retry-After pause with the other daemons", account=account,
                        error=str(e))

    def close(self) -> None:
        self._pauses.shutdown(wait=True)
        self._db.close()
