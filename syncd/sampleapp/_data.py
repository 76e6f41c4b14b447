"""Deterministic fake contacts and the timestamp format they use.

The generator is the one from ``bench/peers/fakecrm.py`` (same names, tags and
hash), so seed 0 yields the same people; it differs in the timestamp format:
millisecond precision (``2023-01-01T00:00:00.000Z``, HubSpot's form) so that a
contact updated twice within a second still gets a later ``updated_at``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken",
         "Frances", "Edsger", "Radia", "Guido", "Hedy", "Donald", "Sophie", "Tim"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov",
        "Thompson", "Allen", "Dijkstra", "Perlman", "van Rossum", "Lamarr", "Knuth",
        "Wilson", "Berners-Lee"]
TAGS = ["vip", "newsletter", "lead", "customer", "churned", "partner", "beta", "eu",
        "us", "apac", "trial", "enterprise"]
PLANS = ["free", "starter", "pro", "enterprise"]
SOURCES = ["web", "import", "api", "event", "referral"]

FIRST_ID = 1_000_000
_EPOCH_S = 1_672_531_200  # 2023-01-01T00:00:00Z
_US = 1_000_000


def _mix(i: int, salt: int) -> int:
    """Deterministic 32-bit integer hash (no global RNG state)."""
    x = (i * 2654435761 + salt * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x45D9F3B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


# strftime costs microseconds per call; 100,000 contacts need 200,000 stamps,
# so the date part is cached per day and the time part is plain arithmetic.
_day_cache: dict[int, str] = {}


def format_ts(us: int) -> str:
    """Epoch microseconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (truncated to ms)."""
    s, frac = divmod(us, _US)
    day, sec = divmod(s, 86400)
    date = _day_cache.get(day)
    if date is None:
        date = _day_cache[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
    h, rem = divmod(sec, 3600)
    m, sec = divmod(rem, 60)
    return f"{date}T{h:02d}:{m:02d}:{sec:02d}.{frac // 1000:03d}Z"


def parse_ts(text: str) -> int:
    """ISO-8601 with a zone (``Z`` or ``+hh:mm``) -> epoch microseconds.

    A timestamp without a zone is rejected rather than guessed: real APIs
    differ on what they assume, and a connector that drops the ``Z`` is a bug
    the tests should see.
    """
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone (add 'Z')")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def make_contact(i: int, seed: int = 0) -> dict[str, Any]:
    """The ``i``-th generated contact (id ``str(1000000 + i)``); pure."""
    return generate(i, seed)[0]


def generate(i: int, seed: int = 0) -> tuple[dict[str, Any], int]:
    """Contact ``i`` and its updated_at in epoch µs (the store sorts by it)."""
    salt = seed * 7919  # a different seed gives different people, same ids
    mix = _mix
    h = mix(i, 1 + salt)
    first = FIRST[h % len(FIRST)]
    last = LAST[(h >> 8) % len(LAST)]
    created_s = _EPOCH_S + i * 37 + h % 3600
    updated = (created_s + mix(i, 2 + salt) % (86400 * 400)) * _US + (mix(i, 12) % 1000) * 1000
    ntags = mix(i, 3 + salt) % 4
    tags = [TAGS[mix(i, 10 + k + salt) % len(TAGS)] for k in range(ntags)] if ntags else []
    return {
        "id": str(FIRST_ID + i),
        "first_name": first,
        "last_name": last,
        # the index keeps every generated email unique, whatever the seed
        "email": f"{first.lower()}.{last.lower().replace(' ', '')}.{i}@example.com",
        "phone": f"+1-555-{mix(i, 4 + salt) % 1000:03d}-{mix(i, 5 + salt) % 10000:04d}",
        "tags": list(dict.fromkeys(tags)),  # a tag list holds each tag once
        "custom_fields": {
            "plan": PLANS[mix(i, 6 + salt) % len(PLANS)],
            "lifetime_value": round((mix(i, 7 + salt) % 1000000) / 100, 2),
            "source": SOURCES[mix(i, 8 + salt) % len(SOURCES)],
            "score": mix(i, 9 + salt) % 101,
            "opted_in": bool(mix(i, 11 + salt) & 1),
        },
        "created_at": format_ts(created_s * _US),
        "updated_at": format_ts(updated),
    }, updated


class Clock:
    """Wall-clock "now" in whole milliseconds that never repeats or goes back.

    Two updates in the same millisecond must still be ordered, or an
    ``updated_after`` poll could miss the second one.
    """

    def __init__(self) -> None:
        self._last = 0

    def tick(self) -> int:
        """Return the next timestamp (epoch microseconds); call under a lock."""
        now = time.time_ns() // 1_000_000 * 1000
        self._last = max(now, self._last + 1000)
        return self._last
