"""Per-account request limits, shared by every integration on that account.

An *account* is one connector talking to one base URL with one set of
credentials.  Two integrations that use the same HubSpot token share one
:class:`Account`: one token bucket (``requests_per_second``), one
concurrency limit (``max_concurrency``) and one daily request count.  The
:class:`AccountRegistry` is owned by whoever runs the integrations (the
daemon, ``syncd once``, ``syncd check``) and passed in explicitly.

Every answer the account gets (or a request that got none) is passed to
the registry's listeners (:meth:`AccountRegistry.listen`): the daemon's
metrics count requests by connector and status there, and the API budget
reads the quota headers, without the connector knowing either.

A 429's ``Retry-After`` holds every request of the account in this
process (:attr:`Account.paused_until`), not only the refused one: pages of
a read fetched at once would otherwise each run into the limit.

On a PostgreSQL state (:meth:`AccountRegistry.for_state`) the request rate
is held across every daemon on the database (see
:mod:`syncd.connector._shared_rate`) and a 429's ``Retry-After`` pauses the
account on all of them; an account without ``requests_per_second`` never
asks the database.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import anyio
import httpx

from syncd.config import DaemonSettings, RateLimitSpec
from syncd.connector._auth import OAuth2
from syncd.connector._kept_clients import KeptClients
from syncd.connector._retry_after import parse_retry_after
from syncd.connector._shared_rate import SharedBucket
from syncd.connector._tokens import TokenStore
from syncd.connector._transport import AsyncH11Transport, proxy_configured

if TYPE_CHECKING:
    from syncd.state._pg_shared import SharedRates

# (account, HTTP status or None when no answer came, the answer's headers or None)
Listener = Callable[["Account", int | None, httpx.Headers | None], None]


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
        # spread out evenly instead of all waking at once. A free lock is
        # taken at once (see _take).
        await _take(self._lock)
        try:
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
        finally:
            self._lock.release()


@functools.lru_cache(maxsize=4096)  # a connector of every cycle asks again for the same account
def _account_key(connector: str, base_url: str, credentials: tuple[str, ...]) -> str:
    # Credentials go in only as a digest: the key may be logged.
    digest = hashlib.sha256("\0".join(credentials).encode()).hexdigest()[:16]
    return f"{connector}@{base_url}#{digest}"


async def _take(lock: anyio.Lock | anyio.CapacityLimiter) -> None:
    """Acquire *lock*: at once when it is free (no waiter before us), else in turn.
    anyio's ``acquire`` yields to the event loop even for a free one (a
    checkpoint): a round of the loop for each request, for nothing."""
    try:
        lock.acquire_nowait()
    except anyio.WouldBlock:
        await lock.acquire()


@dataclass
class Account:
    key: str
    limits: RateLimitSpec
    bucket: TokenBucket | SharedBucket | None = None
    concurrency: anyio.CapacityLimiter | None = None
    requests_by_day: dict[date, int] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)  # the registry's, shared
    # The OAuth 2 flow every connector of the account shares: one cached
    # token, one refresh (a rotated refresh token is valid once).
    oauth: OAuth2 | None = None
    # The rates every daemon on a PostgreSQL state shares; None: this process's own bucket.
    rates: SharedRates | None = None
    # Until when (time.monotonic()) a 429's Retry-After holds every request
    # of the account in this process, not only the one that got it: pages
    # fetched at once (a list's `concurrency`) would each run into the limit.
    paused_until: float = 0.0

    @property
    def connector(self) -> str:
        """The connector's name (the key starts with it)."""
        return self.key.split("@", 1)[0]

    def answered(self, status: int | None, headers: httpx.Headers | None = None) -> None:
        """One request ended: an HTTP answer, or none (*status* None: a
        timeout, a refused connection). A listener that fails is a bug of
        its own; it must not fail the request, so it is left out of it."""
        if status == 429 and headers is not None:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            if retry_after:
                self.paused_until = max(self.paused_until, time.monotonic() + retry_after)
                if isinstance(self.bucket, SharedBucket):
                    self.bucket.pause(retry_after)  # the other daemons wait too, not only this request
        for listener in self.listeners:
            try:
                listener(self, status, headers)
            except Exception:  # noqa: BLE001 - see above
                import structlog

                structlog.get_logger("syncd.connector").exception("request listener failed")

    def oauth2(self, flow: OAuth2) -> OAuth2:
        """The account's shared flow; *flow* (just built) becomes it unless
        an equivalent one is already there."""
        if self.oauth is not None and self.oauth.params() == flow.params():
            self.oauth.attach(flow.masker)
            return self.oauth
        self.oauth = flow
        return flow

    def __post_init__(self) -> None:
        if self.limits.requests_per_second:
            rate = float(self.limits.requests_per_second)
            self.bucket = TokenBucket(rate)
            if self.rates is not None:
                self.bucket = SharedBucket(self.rates, self.key, rate, local=self.bucket)
        if self.limits.max_concurrency:
            self.concurrency = anyio.CapacityLimiter(self.limits.max_concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait out a 429's pause, then for the rate limit and a concurrency slot; count the request."""
        while (pause := self.paused_until - time.monotonic()) > 0:
            await anyio.sleep(pause)
        if self.concurrency is not None:
            await _take(self.concurrency)
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


def tokens_for_state(settings: DaemonSettings) -> TokenStore:
    """Where rotated refresh tokens are kept for *settings*' state: ``tokens.json`` beside a
    SQLite file, or the PostgreSQL database's ``refresh_tokens`` table, encrypted."""
    if settings.state_url is None:
        return TokenStore.beside(settings.state_path)
    # Imported here: psycopg and cryptography only with a PostgreSQL state.
    from syncd.connector._db_tokens import database_tokens

    return database_tokens(settings)


class AccountRegistry:
    """One :class:`Account` per (connector, base URL, credentials)."""

    def __init__(self, tokens: TokenStore | None = None, rates: SharedRates | None = None) -> None:
        self.tokens = tokens  # where rotated refresh tokens are kept; None: in memory only
        self.rates = rates  # the request rates shared with other daemons (PostgreSQL); None: per process
        self._accounts: dict[str, Account] = {}
        self._listeners: list[Listener] = []  # shared by every account, present and future
        # Each account's HTTP transport kept across cycles (keep_connections); None: each connector its own.
        self._kept: dict[str, AsyncH11Transport] | None = None
        # The connectors' idle HTTP clients, kept with the transports (see _kept_clients).
        self.clients: KeptClients | None = None

    @classmethod
    def for_state(cls, settings: DaemonSettings) -> AccountRegistry:
        """The registry for a process on *settings*' state: on SQLite, tokens in ``tokens.json``
        beside it and rates per process; on PostgreSQL, both shared in the database."""
        if settings.state_url is None:
            return cls(tokens_for_state(settings))
        from syncd.state._pg_shared import SharedRates  # here: psycopg only with a PostgreSQL state

        return cls(tokens_for_state(settings), SharedRates(settings.state_url.reveal()))

    def close(self) -> None:
        """Close the shared rates' connection and pause thread (PostgreSQL), at the end of its use."""
        if self.rates is not None:
            self.rates.close()

    def keep_connections(self) -> None:
        """From now on, connectors of one account share one HTTP transport that outlives them,
        its connections kept alive from cycle to cycle (the daemon: a cycle no longer opens
        new TCP connections, nor a TLS handshake, to an app it asked a moment ago); the
        caller closes them (:meth:`close_connections`). Not where a proxy is configured:
        httpx's own transport, which honours it, is made for each connector then."""
        if self._kept is None and not proxy_configured():
            self._kept = {}
            self.clients = KeptClients()

    def kept_transport(self, key: str, make: Callable[[], AsyncH11Transport]) -> AsyncH11Transport | None:
        """Account *key*'s kept transport (made by *make* at first use); None unless connections are kept."""
        if self._kept is None:
            return None
        transport = self._kept.get(key)
        if transport is None:
            transport = self._kept[key] = make()
        return transport

    def close_idle_connections(self) -> None:
        """Close every kept connection not in use now (a reload: accounts may have gone),
        and forget the idle clients (their specs or settings may have changed)."""
        if self.clients is not None:
            self.clients.clear()
        for transport in (self._kept or {}).values():
            transport.close_idle()

    async def close_connections(self) -> None:
        """Close the kept transports and their connections (the daemon stops)."""
        kept, self._kept = self._kept, ({} if self._kept is not None else None)
        if self.clients is not None:
            self.clients.clear()
        for transport in (kept or {}).values():
            await transport.aclose()

    def listen(self, listener: Listener) -> None:
        """Call *listener* after every request of every account (see :meth:`Account.answered`)."""
        self._listeners.append(listener)

    @staticmethod
    def account_key(connector: str, base_url: str, credentials: tuple[str, ...]) -> str:
        return _account_key(connector, base_url, credentials)

    def get(self, key: str, limits: RateLimitSpec) -> Account:
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = Account(key, limits, listeners=self._listeners, rates=self.rates)
        elif account.limits != limits:
            # The spec changed (a daemon reload): new limits from now on,
            # the day's request count carried over.
            account = self._accounts[key] = Account(key, limits, requests_by_day=account.requests_by_day,
                                                    listeners=self._listeners, oauth=account.oauth,
                                                    rates=self.rates)
        return account

    def __iter__(self) -> Iterator[Account]:
        return iter(self._accounts.values())
