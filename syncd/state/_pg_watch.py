"""A daemon's PostgreSQL store held to an answer within a time, and left alone while it has none.

The store's calls are synchronous and the daemon makes them on its event
loop (see :mod:`syncd.state._store`). libpq waits for an answer for ever:
a server that hangs (stopped, stuck on its disk, a network that drops
packets without a reset) would hold the loop, and with it every
integration, the control socket, the metrics, the webhooks and systemd's
watchdog pings, for as long as it hangs. The server's own
``statement_timeout`` never fires in a server that does not run.

:class:`AnswerWatch` is one thread per store. A call *arms* it with the
connection it uses (a read, or a transaction from ``BEGIN`` to its end)
and disarms it when done: two attribute writes under a lock nobody else
holds, nothing per statement. Past the deadline, the thread shuts the
connection's socket down: the blocked call fails at once, and the store
turns *silent*. A silent store fails every call at once with the reason
(its cycle ends failed, as with any store error, and is retried), so that
integrations asking in turn do not each hold the loop for the whole
timeout; meanwhile the thread tries a fresh connection each second, and
the first that answers ends the silence. A connection the pool cannot
give within the timeout (a server that refuses, or does not take
connections) makes the store silent the same way.

Only the daemon arms it (:func:`syncd.state.open_state`'s *answer_within*):
a command (``syncd reset`` of a million records, ``syncd state copy``)
may legitimately take longer, and its user can interrupt it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from syncd.state._leases import _Watchdog, cut

_TICK = 0.25  # how late past its deadline a call may be cut
_PROBE_EVERY = 1.0  # seconds between tries of a silent server


class AnswerWatch:
    """Cuts a call that had no answer within *seconds*, then keeps the store silent until
    *probe* (a fresh connection and a ``SELECT 1``, in this thread) succeeds; *back* runs
    then (the pool replaces its idle connections, made before the silence), and the
    silence ends."""

    def __init__(self, seconds: float, probe: Callable[[], None], back: Callable[[], None]) -> None:
        self.seconds = seconds
        self._probe = probe
        self._back = back
        self._guard = threading.Lock()  # a call ending and its cut do not overlap
        self._armed: tuple[psycopg.Connection, float] | None = None
        self._silent: str | None = None  # why the store is not asked, while it is not
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syncd-state-watch", daemon=True)
        self._thread.start()

    # --- the caller's thread ------------------------------------------------------

    @property
    def silent(self) -> str | None:
        """Why calls fail at once now (the server gave no answer in time), or None."""
        return self._silent

    def arm(self, conn: psycopg.Connection) -> None:
        self._armed = (conn, time.monotonic() + self.seconds)

    def disarm(self) -> None:
        with self._guard:
            self._armed = None

    def no_connection(self, error: str) -> None:
        """The pool gave no connection within the timeout: silent, with *error* as the reason."""
        self._go_silent(f"no connection within {self.seconds:g} s ({error})")

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=1.0)  # a probe under way ends on its own: the thread is a daemon's

    # --- the watch's thread ---------------------------------------------------------

    def _go_silent(self, why: str) -> None:
        if self._silent is None:
            self._silent = f"{why} at {datetime.now(UTC):%H:%M:%S} UTC"

    def _run(self) -> None:
        while not self._closed.wait(_PROBE_EVERY if self._silent is not None else _TICK):
            if self._silent is not None:
                self._try_server()
                continue
            armed = self._armed
            if armed is not None and time.monotonic() > armed[1]:
                self._cut(armed)

    def _cut(self, armed: tuple[psycopg.Connection, float]) -> None:
        with self._guard:
            if self._armed is not armed:
                return  # it ended meanwhile
            self._go_silent(f"no answer within {self.seconds:g} s")
            cut(armed[0])

    def _try_server(self) -> None:
        try:
            self._probe()
            if self._closed.is_set():
                return  # the store closed its pool meanwhile
            self._back()
        except (psycopg.Error, OSError):
            return  # still silent: tried again in a second
        self._silent = None


def probe(url: str, kwargs: dict[str, Any], seconds: float) -> None:
    """Connect afresh and ask ``SELECT 1``, within *seconds* each (raises psycopg.Error)."""
    with psycopg.connect(url, **kwargs) as conn, _Watchdog(conn, seconds):
        conn.execute("SELECT 1")


__all__ = ["AnswerWatch", "probe"]
