"""Fault injection: make the next matching request(s) fail the way APIs fail.

Faults are consumed in the order they were added: a request takes the first
pending fault whose method and path prefix match it (past the fault's
``skip`` first matches), and that fault's ``times`` counts down.  One fault may combine a ``delay`` with one outcome
(an error ``status``, ``malformed``, ``close``), or be a delay alone.
``FaultQueue.wait_hit`` blocks until a fault has hit a request: with a
``delay``, the client is then inside that request. A ``hold`` is a delay
that lasts until the test calls ``Fault.release``: a test that must act
while a request is inside the app does not race a timer (a loaded machine
can take longer than any fixed delay to get there).

``FaultQueue.randomly`` adds the weather to that: a seeded random share of
the requests no queued fault took fails, in a mix of ways
(:mod:`._random_faults`); ``clear`` ends it too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from ._random_faults import RandomFaults


@dataclass(slots=True)
class Fault:
    status: int | None = None  # answer with this error status and a JSON error body
    retry_after: str | None = None  # Retry-After header value, sent verbatim
    delay: float = 0.0  # seconds to wait before answering (for client timeouts)
    malformed: bool = False  # answer 200 with the real body cut in half
    close: bool = False  # drop the connection without any answer
    # close or status only after carrying the request out: the write is done, its answer lost
    # (a proxy's 504, a connection cut on the way back)
    after: bool = False
    body: Any = None  # answer 200 with this JSON instead (an outage answering an empty list)
    path_prefix: str = ""  # only requests whose path starts with this
    method: str | None = None  # only this method (any if None)
    times: int | None = 1  # requests left to hit; None = every request, forever
    skip: int = 0  # matching requests to let through first (the 3rd page: skip=2)
    # only requests with these query parameters (a page of a read fetched
    # among others at once: their order of arrival is not theirs to keep)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    hits: int = 0  # requests this fault has hit so far
    released: threading.Event = field(default_factory=threading.Event)  # ends the delay early

    def release(self) -> None:
        """End this fault's delay now, for the request inside it and any after."""
        self.released.set()

    def wait_out(self, stopping: threading.Event) -> None:
        """Sleep the delay, cut short by :meth:`release` or by the app stopping."""
        end = time.monotonic() + self.delay
        while not (stopping.is_set() or self.released.is_set()):
            left = end - time.monotonic()
            if left <= 0:
                return
            self.released.wait(min(left, 0.05))

    def matches(self, method: str, path: str, query: Mapping[str, str] | None = None) -> bool:
        return ((self.method is None or self.method == method) and path.startswith(self.path_prefix)
                and all((query or {}).get(k) == v for k, v in self.query.items()))


def _drawn(chance: RandomFaults, kind: str) -> Fault:
    """The fault of a kind *chance* drew (see ``KINDS``), already hitting its request."""
    if kind == "429":
        return Fault(status=429, retry_after=chance.retry_after, hits=1)
    if kind in ("500", "503"):
        return Fault(status=int(kind), hits=1)
    if kind == "slow":
        return Fault(delay=chance.slow, hits=1)
    if kind == "close":
        return Fault(close=True, hits=1)
    return Fault(malformed=True, hits=1)


class FaultQueue:
    """Thread-safe; ``add`` from a test while the server answers requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hit = threading.Condition(self._lock)  # notified when a fault hits a request
        self._faults: list[Fault] = []
        self.random: RandomFaults | None = None  # draws for the requests no queued fault takes

    def randomly(self, rate: float, seed: int, *, mix: Mapping[str, float] | None = None,
                 slow: float = 1.0, retry_after: str = "1", method: str | None = None,
                 path_prefix: str = "") -> RandomFaults:
        """From now on, a share *rate* of the requests fail in a random way
        (see :class:`RandomFaults`); returns it (``drawn`` counts by kind)."""
        self.random = RandomFaults(rate, seed, mix=mix, slow=slow, retry_after=retry_after,
                                   method=method, path_prefix=path_prefix)
        return self.random

    def add(self, *, status: int | None = None, retry_after: str | int | datetime | None = None,
            times: int | None = 1, path_prefix: str = "", method: str | None = None,
            delay: float = 0.0, malformed: bool = False, close: bool = False,
            headers: Mapping[str, str] | None = None, skip: int = 0, hold: bool = False,
            query: Mapping[str, str | int] | None = None,
            body: Any = None, after: bool = False) -> Fault:
        """Queue a fault; returns it (its ``hits`` shows how often it fired).

        ``hold``: the request waits until ``Fault.release`` (instead of a ``delay``).

        ``after``: the request is carried out first, then answered with the
        ``status`` or ``close`` (a write that landed, its answer lost).

        ``query``: only requests with these query parameters (``{"offset": 40}``).

        ``body``: answer 200 with this JSON, whatever the request (an API
        down for maintenance that answers ``{"results": []}``), or with these
        bytes as they are (``b""``: an empty answer); the request is not
        acted on.

        ``retry_after``: seconds (``2`` or ``"2"``), an HTTP-date string, or a
        datetime (sent as an HTTP-date).
        """
        if status is not None and not 400 <= status <= 599:
            raise ValueError("a fault status must be an error (400-599)")
        if sum((status is not None, malformed, close, body is not None)) > 1:
            raise ValueError("a fault has at most one of status, malformed, close, body")
        if hold:
            delay = math.inf
        if status is None and body is None and not (malformed or close or delay > 0):
            raise ValueError("a fault needs status, malformed, close, body or delay")
        if after and status is None and not close:
            raise ValueError("after is for a status or close")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        if skip < 0:
            raise ValueError("skip must not be negative")
        if isinstance(retry_after, datetime):
            retry_after = format_datetime(retry_after, usegmt=True)
        fault = Fault(status=status, delay=delay, malformed=malformed, close=close, after=after,
                      retry_after=None if retry_after is None else str(retry_after),
                      path_prefix=path_prefix, method=method.upper() if method else None,
                      times=times, headers=dict(headers or {}), skip=skip,
                      query={k: str(v) for k, v in (query or {}).items()}, body=body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, query: Mapping[str, str] | None = None) -> Fault | None:
        """The fault this request hits, if any (counted as used)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path, query):
                    if fault.skip:
                        fault.skip -= 1
                        continue
                    fault.hits += 1
                    self._hit.notify_all()
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            del self._faults[i]
                    return fault
            chance = self.random
        kind = None if chance is None else chance.draw(method, path)
        return None if chance is None or kind is None else _drawn(chance, kind)

    def wait_hit(self, fault: Fault, hits: int = 1, timeout: float = 10.0) -> None:
        """Block until ``fault`` has hit ``hits`` requests in all.

        A fault hits a request when the request arrives, before any delay:
        with a ``delay`` fault, the request is then waiting inside the app.
        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._hit:
            while fault.hits < hits:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the fault hit {fault.hits} of {hits} requests in {timeout} s: {fault}")
                self._hit.wait(left)

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """No more faults: none queued, none drawn at random."""
        with self._lock:
            self._faults.clear()
            self.random = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)
