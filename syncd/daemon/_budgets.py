"""API budgets: how much of each connector account's quota is used, and
which kind of work may still spend it.

Every request any account makes is counted here (the daemon registers
:meth:`Budgets.count` with its :class:`~syncd.connector.AccountRegistry`),
together with what the API's quota headers say (``rate_limit.quota``; see
:mod:`syncd.connector._quota`), and stored in the state store after each
one, so a restart goes on with the window's count and ``syncd status``
without a daemon can show it.

The tiers of ``syncd.yaml``'s ``budgets:`` say below which share of its
budget an account must be for each kind of work to run (Intercom's API
usage tiers): ``bulk`` below ``bulk_below_percent``, ``scheduled`` (cycles
and their automatic retries) below ``scheduled_below_percent``;
``operator`` (an operator's ``syncd errors --retry``) always. The runner,
the bulk sync and the retries ask :meth:`Budgets.allows` before they start
and at each checkpoint; held back, they wait for :meth:`Budgets.resumes_at`.

A daemon on SQLite stores the count a few requests ahead (:attr:`Budgets.ahead`):
the row says up to :data:`AHEAD_REQUESTS` more than were made, capped at a
thousandth of the account's limit, and is written again only once the
requests catch up with it (or the window, or what the API's quota headers
said, changed). A crash (kill -9, power) then counts at most that many
requests too many, never one too few: the budget still holds. A clean stop
stores the exact count (:meth:`Budgets.flush`). At rest this saves a write
a request (about 4 % of a daemon's CPU with 1,000 integrations).

On PostgreSQL (``state.url``) several daemons spend the same accounts, so
the count is the database's: each request adds one with
:meth:`StateStore.add_api_usage` (one statement, window rolled over in it),
and what this daemon reads (status, metrics, the tiers) is the database's
row, read again when older than :data:`SHARED_READ_SECONDS`: the sum over
every daemon. On SQLite one daemon owns the file and counts in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import structlog

from syncd.config import Config, RateLimitSpec
from syncd.connector import Account, ConnectorError, Usage, account_key, read_quota, window_of
from syncd.state import AccountUsage, StateError, StateStore

__all__ = ["Budgets", "Kind"]

log = structlog.get_logger("syncd.daemon")

Kind = Literal["bulk", "scheduled", "operator"]
_KIND_NAMES = {"bulk": "bulk syncs", "scheduled": "scheduled cycles"}
# How stale the other daemons' share of a shared count may be when read: the
# tiers are asked at every checkpoint, a query each time would be waste.
SHARED_READ_SECONDS = 1.0
# How far ahead of the requests made the stored count may be (SQLite, the daemon):
# what a crash may over-count, at most a thousandth of the account's limit.
AHEAD_REQUESTS = 16


@dataclass(frozen=True, slots=True)
class _AccountOf:
    key: str
    connector: str
    limits: RateLimitSpec


class Budgets:
    """The daemon's API budgets: one per connector account, kept across reloads."""

    def __init__(self, config: Config, store: StateStore, *, clock: Callable[[], float] = time.time,
                 read_only: bool = False) -> None:
        self.store = store
        self._clock = clock
        # `syncd status` without a daemon reads the budgets; it never writes the store.
        self._read_only = read_only
        self._usage: dict[str, Usage] = {}
        # What the store holds of each account (window start, used): the count stored ahead.
        self._stored: dict[str, tuple[float, int]] = {}
        # Requests the stored count may run ahead (the daemon sets AHEAD_REQUESTS): 0, every request stored.
        self.ahead = 0
        self._store_failed = False
        # Counted in the database, shared by every daemon on it (PostgreSQL).
        self.shared = config.daemon.state_url is not None
        self.read_every = SHARED_READ_SECONDS
        self._read_at = -SHARED_READ_SECONDS
        try:
            self._read()
        except StateError as e:  # (the store's message says it all: no traceback)
            log.error("could not read the API usage from the state store: counting from zero", error=str(e))
        self.tiers = config.daemon.budgets
        self._accounts: dict[str, tuple[_AccountOf, ...]] = {}
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """Take the tiers and the integrations' accounts of *config* (at start-up and each reload)."""
        self.tiers = config.daemon.budgets
        accounts: dict[str, tuple[_AccountOf, ...]] = {}
        for name, integration in config.integrations.items():
            sides: dict[str, _AccountOf] = {}
            for side in (integration.left, integration.right):
                spec = config.connectors[side.connector]
                try:
                    key = account_key(spec, side.settings)
                except ConnectorError:  # a required setting missing: its cycle says so, not a budget
                    continue
                sides.setdefault(key, _AccountOf(key, spec.name, spec.rate_limit))
            accounts[name] = tuple(sides.values())
        self._accounts = accounts

    # --- counting ----------------------------------------------------------------

    def _read(self) -> None:
        for row in self.store.api_usage():
            self._usage[row.account] = _usage(row)
            self._stored[row.account] = (row.window_start, row.used)
        self._read_at = time.monotonic()

    def count(self, account: Account, status: int | None, headers: httpx.Headers | None) -> None:
        """An :class:`~syncd.connector.AccountRegistry` listener: one request of *account* ended."""
        now = self._clock()
        quota = account.limits.quota
        if self.shared and not self._read_only and self._add(account, now, headers):
            return
        usage = self._usage.get(account.key)
        if usage is None:
            usage = self._usage[account.key] = Usage.new(account.key, account.connector, quota, now)
        reading = read_quota(quota, headers, now) if headers is not None else None
        usage.count(quota, now, reading)
        if self.shared:  # shared: never replace the row every daemon adds to with this one's count
            return
        stored = self._stored.get(account.key)
        if (reading is not None or stored is None or stored[0] != usage.window_start
                or usage.used > stored[1]):
            limit = usage.limit(account.limits.daily_limit)
            self._save(usage, min(self.ahead, limit // 1000) if limit else self.ahead)

    def flush(self) -> None:
        """Store each account's exact count where the stored one is ahead (the daemon stops)."""
        for usage in self._usage.values():
            if not self.shared and self._stored.get(usage.account) != (usage.window_start, usage.used):
                self._save(usage)

    def _add(self, account: Account, now: float, headers: httpx.Headers | None) -> bool:
        """Count the request in the database (PostgreSQL); False when it could not be (then in memory)."""
        quota = account.limits.quota
        reading = read_quota(quota, headers, now) if headers is not None else None
        try:
            row = self.store.add_api_usage(
                account.key, account.connector, window_of(now, quota.window_seconds), now,
                api_used=reading.used if reading else None, api_limit=reading.limit if reading else None,
                resets_at=reading.resets_at if reading else None)
        except StateError as e:
            if not self._store_failed:
                log.error("could not count the API usage in the state store: counting this "
                          "daemon's requests in memory until it answers (those are not added to it)", error=str(e))
            self._store_failed = True
            return False
        self._store_failed = False
        self._usage[account.key] = _usage(row)
        return True

    def _save(self, usage: Usage, ahead: int = 0) -> None:
        """Store *usage*, its count *ahead* requests ahead of the ones made."""
        if self._read_only:
            return
        try:
            self.store.put_api_usage(AccountUsage(usage.account, usage.connector, usage.window_start,
                                                  usage.window_end, usage.used + ahead, usage.api_used,
                                                  usage.api_limit))
        except StateError as e:
            # Counting goes on in memory; said once, not after every request.
            if not self._store_failed:
                log.error("could not store the API usage: a restart will count this window from zero", error=str(e))
            self._store_failed = True
        else:
            self._store_failed = False
            self._stored[usage.account] = (usage.window_start, usage.used + ahead)

    def _current(self, account: _AccountOf, now: float) -> Usage:
        """The account's usage in the window that holds *now* (rolled over, and stored, if it ended)."""
        if self.shared and time.monotonic() - self._read_at >= self.read_every:
            try:
                self._read()  # the other daemons' requests too
            except StateError:
                self._read_at = time.monotonic()  # said by the next count; read again a second later
        usage = self._usage.get(account.key)
        if usage is None:
            return Usage.new(account.key, account.connector, account.limits.quota, now)
        # Shared: the next request rolls the database's row over; not stored from here.
        if usage.roll(account.limits.quota, now) and not self.shared:
            self._save(usage)
        return usage

    # --- reading -----------------------------------------------------------------

    def accounts(self, integration: str) -> list[dict[str, Any]]:
        """The ``budget`` of an integration's status entry: one per distinct account of its two sides."""
        now = self._clock()
        return [self._entry(a, self._current(a, now)) for a in self._accounts.get(integration, ())]

    def usage(self) -> list[dict[str, Any]]:
        """Every account the config's integrations use, once each (for metrics), by account key."""
        now = self._clock()
        unique = {a.key: a for accounts in self._accounts.values() for a in accounts}
        return [self._entry(a, self._current(a, now)) for _, a in sorted(unique.items())]

    @staticmethod
    def _entry(account: _AccountOf, usage: Usage) -> dict[str, Any]:
        return {
            "account": account.key, "connector": account.connector, "used": usage.total,
            "limit": usage.limit(account.limits.daily_limit), "percent": usage.percent(account.limits.daily_limit),
            "window_resets_at": usage.window_end, "source": usage.source,
        }

    # --- the tiers ---------------------------------------------------------------

    def _tier(self, kind: Kind) -> float | None:
        if kind == "bulk":
            return self.tiers.bulk_below_percent
        if kind == "scheduled":
            return self.tiers.scheduled_below_percent
        return None  # an operator's retry: the operator decided to spend

    def _over(self, kind: Kind, integration: str) -> list[tuple[_AccountOf, Usage, float]]:
        tier = self._tier(kind)
        if tier is None:
            return []
        now = self._clock()
        over = []
        for account in self._accounts.get(integration, ()):
            usage = self._current(account, now)
            limit = usage.limit(account.limits.daily_limit)
            if limit and 100.0 * usage.total / limit >= tier:
                over.append((account, usage, 100.0 * usage.total / limit))
        return over

    def allows(self, kind: Kind, integration: str) -> str | None:
        """None when work of *kind* for *integration* may spend its accounts'
        budgets now; else why not (for a log line and ``paused`` in status)."""
        over = self._over(kind, integration)
        if not over:
            return None
        account, usage, percent = max(over, key=lambda o: o[1].window_end)
        return (f"API budget of {account.connector} at {percent:.0f}% ({_KIND_NAMES[kind]} run below "
                f"{self._tier(kind):g}%) until {_clock_text(usage.window_end, self._clock())}")

    def resumes_at(self, kind: Kind, integration: str) -> float | None:
        """When every account held back by *kind*'s tier has a new window; None if none is held back."""
        over = self._over(kind, integration)
        return max(usage.window_end for _, usage, _ in over) if over else None


def _usage(row: AccountUsage) -> Usage:
    return Usage(row.account, row.connector, row.window_start, row.window_end, row.used, row.api_used,
                 row.api_limit)


def _clock_text(at: float, now: float) -> str:
    when = datetime.fromtimestamp(at, UTC)
    text = when.strftime("%H:%M" if when.second == 0 else "%H:%M:%S")
    if at - now > 86400:  # within a day the time alone is clear ("until 00:00 UTC")
        text = f"{when:%Y-%m-%d} {text}"
    return f"{text} UTC"
