"""What the tutorial's two fake APIs share: records in memory, a clock, throttling.

Each fake (fake_larkspur.py, the tutorial's API; fake_rookery.py, the
eleventh app) keeps its records in the shape its reference page gives and
answers in that shape; this base holds them in creation order, stamps them
with the wall clock in milliseconds (syncd's incremental reads compare them
with the time of its previous read), and lets a test make the next answers
429s.
"""

from __future__ import annotations

import time
from typing import Any

from fakes import FakeApi, Reply


class StoreFake(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, dict[str, Any]] = {}  # by id as text, in creation order
        self.throttled = 0  # answer this many of the next requests 429
        self.throttled_seen = 0  # 429s answered so far
        self._last_ms = 0

    def now_ms(self) -> int:
        """The wall clock in milliseconds, never twice the same: two writes in
        one millisecond still order."""
        with self.lock:
            self._last_ms = max(self._last_ms + 1, int(time.time() * 1000))
            return self._last_ms

    def throttle(self, reply: Reply) -> Reply | None:
        """``reply`` (a 429) if a test asked for one more, else None."""
        with self.lock:
            if self.throttled <= 0:
                return None
            self.throttled -= 1
            self.throttled_seen += 1
        return reply


def unknown(given: set[str] | dict[str, Any], allowed: frozenset[str]) -> list[str]:
    return sorted(set(given) - allowed)
