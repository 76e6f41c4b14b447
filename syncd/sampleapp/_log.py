"""A thread-safe log of every request the fake app served.

Tests read it to check what a client really sent (headers, query, body) and
how often: "the client retried exactly twice", "the token was in the header,
not the query".  A test that must know a request was served waits for it
(:meth:`RequestLog.wait_for`) rather than sleeping and hoping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, form fields (dict) for form posts, else None
    status: int | None  # None: the connection was dropped without an answer
    time: float  # time.time() when the request arrived
    duration: float  # seconds until the answer was ready (delays included)


def max_in_flight(records: list[RequestRecord]) -> int:
    """The most of these requests the app was working on at one time (from
    when each arrived to when its answer was ready): how hard a client hit it."""
    events = sorted([(r.time, 1) for r in records] + [(r.time + r.duration, -1) for r in records])
    current = peak = 0  # (an end sorts before a start at the same instant)
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def _matches(record: RequestRecord, method: str | None, path_prefix: str) -> bool:
    return (method is None or record.method == method.upper()) and record.path.startswith(path_prefix)


class RequestLog:
    """Append-only (until ``clear()``) list of ``RequestRecord``."""

    def __init__(self, listener: Callable[[RequestRecord], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified on append and clear
        self._version = 0  # counts appends and clears
        self._records: list[RequestRecord] = []
        self.listener = listener

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._version += 1
            self._changed.notify_all()
        if self.listener is not None:
            self.listener(record)

    def all(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def matching(self, method: str | None = None, path_prefix: str = "") -> list[RequestRecord]:
        """Records with this method (any if None) whose path starts with the prefix."""
        return [r for r in self.all() if _matches(r, method, path_prefix)]

    def wait_for(self, count: int = 1, *, method: str | None = None, path_prefix: str = "",
                 where: Callable[[RequestRecord], bool] | None = None,
                 timeout: float = 10.0) -> list[RequestRecord]:
        """Block until at least ``count`` logged requests match; return the matching ones.

        A request matches as in :meth:`matching`, and ``where(record)`` must
        hold too if given. A request is logged once its answer is ready (just
        before it is sent), so a record seen here is a request the app served.
        Raises ``TimeoutError`` (saying what was logged) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        seen = -1  # the version of the log last looked at
        while True:
            with self._lock:
                while self._version == seen and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)
                seen, records = self._version, list(self._records)
            matched = [r for r in records if _matches(r, method, path_prefix) and (where is None or where(r))]
            if len(matched) >= count:
                return matched
            if time.monotonic() >= deadline:
                what = f"{method.upper() if method else 'any method'} {path_prefix or '/'}..."
                logged = [f"{r.method} {r.path} {r.status}" for r in records[-20:]]
                raise TimeoutError(f"{len(matched)} of {count} requests ({what}"
                                   f"{' meeting the condition' if where else ''}) logged in {timeout} s; "
                                   f"the last ones logged: {logged}")

    def last(self) -> RequestRecord:
        """The most recent record (IndexError if none)."""
        with self._lock:
            return self._records[-1]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._version += 1
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.all())
