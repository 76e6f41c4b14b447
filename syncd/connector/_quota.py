"""An account's API budget: how much of its quota window is used.

Two sources count: syncd's own requests (every answer, or a request that
got none) and, where the spec declares them (``rate_limit.quota``), the
quota headers the API sends back, which also count what other tools on the
same account spent. The larger of the two is the account's use: the API
wins when it says more was used, and our own count still holds when the
API says nothing (or answers without the headers, as errors often do).

A window without a reset header lasts ``quota.window`` and starts at a
multiple of it since the Unix epoch: a day's window starts at 00:00 UTC,
an hour's on the hour. A reset header moves the window's end to what the
API says. Nothing here reads the clock: every method takes ``now`` (Unix
seconds), so the window arithmetic is tested without waiting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from syncd.config import QuotaSpec

__all__ = ["QuotaReading", "Usage", "read_quota", "window_of"]

_INT = re.compile(r"[0-9]+")
_USED_OF = re.compile(r"([0-9]+)\s*/\s*([0-9]+)")  # Salesforce: "api-usage=25/15000"


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """What one answer's headers said; None where they said nothing."""

    used: int | None = None
    limit: int | None = None
    resets_at: float | None = None  # Unix seconds


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    m = _INT.search(value)  # "1000", " 1000 ", "1000;w=3600" (the IETF draft's policy suffix)
    return int(m.group()) if m else None


def read_quota(spec: QuotaSpec, headers: Mapping[str, str], now: float) -> QuotaReading | None:
    """The quota the answer's *headers* report, by *spec*; None when they report none.

    A value that is not a number is left out rather than failing the
    request that carried it: a budget is advice, the write is the work.
    """
    usage = _usage(spec, headers)
    limit = _int(headers.get(spec.limit_header)) if spec.limit_header else None
    used: int | None = None
    if spec.used_header:
        raw = headers.get(spec.used_header)
        pair = _USED_OF.search(raw) if raw is not None else None
        if pair is not None:
            used, limit = int(pair.group(1)), int(pair.group(2))
        else:
            used = _int(raw)
    # what the combined usage header says wins over the separate headers
    limit = usage.get("limit", limit)
    used = usage.get("used", used)
    remaining = usage.get("remaining")
    if remaining is None and spec.remaining_header:
        remaining = _int(headers.get(spec.remaining_header))
    if used is None and remaining is not None and limit is not None:
        used = max(0, limit - remaining)
    resets_at: float | None = None
    if spec.reset_header:
        reset = _int(headers.get(spec.reset_header))
        if reset is not None:
            resets_at = float(reset) if spec.reset == "epoch" else now + reset
    if used is None and limit is None and resets_at is None:
        return None
    return QuotaReading(used, limit, resets_at)


def _usage(spec: QuotaSpec, headers: Mapping[str, str]) -> dict[str, int]:
    """The figures ``usage_pattern``'s named groups find in ``usage_header``
    (only those that matched a number)."""
    if spec.usage_header is None or spec.usage_pattern is None:
        return {}
    raw = headers.get(spec.usage_header)
    m = spec.usage_pattern.search(raw) if raw is not None else None
    if m is None:
        return {}
    return {name: n for name, text in m.groupdict().items() if (n := _int(text)) is not None}


def window_of(now: float, seconds: float) -> tuple[float, float]:
    """The window of *seconds* that holds *now*, aligned to the Unix epoch."""
    start = math.floor(now / seconds) * seconds
    return start, start + seconds


@dataclass
class Usage:
    """One account's use of its current quota window (what the state store keeps)."""

    account: str  # the account key: connector@base_url#digest, no secret
    connector: str
    window_start: float
    window_end: float
    used: int = 0  # syncd's own requests in this window
    api_used: int | None = None  # what the API last said was used, if it did
    api_limit: int | None = None  # the limit the API last sent, if it did

    @classmethod
    def new(cls, account: str, connector: str, spec: QuotaSpec, now: float) -> Usage:
        start, end = window_of(now, spec.window_seconds)
        return cls(account, connector, start, end)

    def roll(self, spec: QuotaSpec, now: float) -> bool:
        """Start a new window if this one ended; True if it did."""
        if now < self.window_end:
            return False
        self.window_start, self.window_end = window_of(now, spec.window_seconds)
        self.used, self.api_used = 0, None
        return True

    def count(self, spec: QuotaSpec, now: float, reading: QuotaReading | None) -> None:
        """One request ended, with what its answer's quota headers said (or None)."""
        self.roll(spec, now)
        self.used += 1
        if reading is None:
            return
        if reading.limit is not None:
            self.api_limit = reading.limit
        if reading.used is not None:
            self.api_used = reading.used
        if reading.resets_at is not None and reading.resets_at > now:
            self.window_end = reading.resets_at

    def limit(self, daily_limit: int | None) -> int | None:
        """The budget: the API's own limit when it sends one, else the spec's ``daily_limit``."""
        return self.api_limit if self.api_limit is not None else daily_limit

    @property
    def total(self) -> int:
        return max(self.used, self.api_used or 0)

    @property
    def source(self) -> str:
        return "api" if self.api_used is not None and self.api_used >= self.used else "syncd"

    def percent(self, daily_limit: int | None) -> float | None:
        limit = self.limit(daily_limit)
        return None if not limit else round(100.0 * self.total / limit, 1)
