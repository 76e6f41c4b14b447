"""An account's request rate held across every daemon on a PostgreSQL state.

:class:`SharedBucket` takes the place of the in-process
:class:`~syncd.connector._ratelimit.TokenBucket` when the state is
PostgreSQL: each request reserves its slot in the database
(:class:`~syncd.state._pg_shared.SharedRates`, one statement on the
database's clock) from a worker thread, so a slow database holds up that
request and never the event loop, then sleeps the wait it was given. Two
daemons on one account thus send at most ``requests_per_second`` together.
When the database cannot be reached the account falls back to this
process's own bucket (said once): the rate still holds per daemon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import anyio

from syncd.state import StateError

if TYPE_CHECKING:
    from syncd.state._pg_shared import SharedRates

__all__ = ["SharedBucket"]

# Slots are spaced 5 % wider than 1/rate. They are exact on the database's
# clock, but each request leaves after a round trip and a wake-up of its own
# length: with exact spacing, a first request that left late and an eleventh
# that left early would put rate + 1 in one second. The headroom absorbs
# 50 ms of such jitter per second (an in-process bucket anchors each slot on
# its own wake-up instead, which a shared one cannot).
HEADROOM = 0.05

class LocalBucket(Protocol):
    """This process's own limit (:class:`~syncd.connector._ratelimit.TokenBucket`)."""

    async def acquire(self) -> None: ...


class SharedBucket:
    """``rate`` requests per second for account *key*, across daemons; *local*: the fallback."""

    def __init__(self, rates: SharedRates, key: str, rate: float, local: LocalBucket) -> None:
        self.rates = rates
        self.key = key
        self.rate = rate
        self.local = local
        self._failing = False

    async def acquire(self) -> None:
        try:
            wait = await anyio.to_thread.run_sync(self.rates.reserve, self.key, (1.0 + HEADROOM) / self.rate)
        except StateError as e:
            if not self._failing:
                import structlog  # here: a daemon whose database answers never loads it for this

                structlog.get_logger("syncd.connector").warning("the shared request rate cannot be reserved: holding this daemon's own rate "
                            "until the database answers", account=self.key, error=str(e))
            self._failing = True
            await self.local.acquire()
            return
        self._failing = False
        if wait > 0:
            await anyio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Every daemon holds the account's requests for *seconds* (a 429's Retry-After); does not block."""
        self.rates.pause_soon(self.key, seconds)
