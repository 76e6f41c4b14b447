"""A thread-safe log of every request the fake app served.

Tests read it to check what a client really sent (headers, query, body) and
how often: "the client retried exactly twice", "the token was in the header,
not the query".
"""

from __future__ import annotations

import threading
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


class RequestLog:
    """Append-only (until ``clear()``) list of ``RequestRecord``."""

    def __init__(self, listener: Callable[[RequestRecord], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.listener = listener

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
        if self.listener is not None:
            self.listener(record)

    def all(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def matching(self, method: str | None = None, path_prefix: str = "") -> list[RequestRecord]:
        """Records with this method (any if None) whose path starts with the prefix."""
        return [r for r in self.all()
                if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)]

    def last(self) -> RequestRecord:
        """The most recent record (IndexError if none)."""
        with self._lock:
            return self._records[-1]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.all())
