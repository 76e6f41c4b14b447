"""The ``Retry-After`` header: how long an API asks to be left alone (a 429, a 503).

Read by the sender (:mod:`syncd.connector._http`: that request waits) and by
the account (:mod:`syncd.connector._ratelimit`: on a PostgreSQL state every
daemon waits), hence a module of its own.
"""

from __future__ import annotations

import email.utils
import time

__all__ = ["parse_retry_after"]

_RETRY_AFTER_CAP = 3600.0  # a Retry-After beyond an hour is treated as an hour


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _RETRY_AFTER_CAP)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - now), _RETRY_AFTER_CAP)
