"""Per-account request limits, shared by every integration on that account.

An *account* is one connector talking to one base URL with one set of
credentials.  Two integrations that use the same HubSpot token share one
:class:`Account`: one token bucket (``requests_per_second``), one
concurrency limit (``max_concurrency``) and one daily request count.  The
:class:`AccountRegistry` is owned by whoever runs the integrations (the
daemon, ``syncd once``, ``syncd check``) and passed in explicitly.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import anyio

from syncd.config import RateLimitSpec


class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``burst``.

    The default burst is one request: requests are spaced ``1/rate`` apart,
    so no one-second window ever holds more than ``rate`` of them.  (A
    bucket as deep as ``rate`` would let a full second's worth go at once
    and then ``rate`` more within that same second: twice the declared
    limit, which an API enforcing it answers with 429s.)
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else 1.0
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        # The lock queues waiters in arrival order, so a burst of callers is
        # spread out evenly instead of all waking at once.
        async with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                await anyio.sleep(wait)
                self.updated = time.monotonic()
                self.tokens = 0.0
            else:
                self.tokens -= 1


@dataclass
class Account:
    key: str
    limits: RateLimitSpec
    bucket: TokenBucket | None = None
    concurrency: anyio.CapacityLimiter | None = None
    requests_by_day: dict[date, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limits.requests_per_second:
            self.bucket = TokenBucket(float(self.limits.requests_per_second))
        if self.limits.max_concurrency:
            self.concurrency = anyio.CapacityLimiter(self.limits.max_concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for the rate limit and a concurrency slot; count the request."""
        if self.concurrency is not None:
            await self.concurrency.acquire()
        try:
            if self.bucket is not None:
                await self.bucket.acquire()
            today = datetime.now(UTC).date()
            self.requests_by_day[today] = self.requests_by_day.get(today, 0) + 1
            yield
        finally:
            if self.concurrency is not None:
                self.concurrency.release()

    def requests_today(self) -> int:
        return self.requests_by_day.get(datetime.now(UTC).date(), 0)

    @property
    def daily_remaining(self) -> float:
        limit = self.limits.daily_limit
        return math.inf if not limit else max(0, limit - self.requests_today())


class AccountRegistry:
    """One :class:`Account` per (connector, base URL, credentials)."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    @staticmethod
    def account_key(connector: str, base_url: str, credentials: tuple[str, ...]) -> str:
        # Credentials go in only as a digest: the key may be logged.
        digest = hashlib.sha256("\0".join(credentials).encode()).hexdigest()[:16]
        return f"{connector}@{base_url}#{digest}"

    def get(self, key: str, limits: RateLimitSpec) -> Account:
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = Account(key, limits)
        elif account.limits != limits:
            # The spec changed (a daemon reload): new limits from now on,
            # the day's request count carried over.
            account = self._accounts[key] = Account(key, limits, requests_by_day=account.requests_by_day)
        return account

    def __iter__(self):
        return iter(self._accounts.values())
