"""A daily quota like a real API's, reported in GitHub-style headers.

With a quota, every request but ``/_health`` counts against ``limit``
requests per window, whoever sends it (syncd, or another tool using the
same account), and every answer says so:

    X-RateLimit-Limit: 1000
    X-RateLimit-Remaining: 990
    X-RateLimit-Reset: 3600        seconds until the window ends

Windows start at multiples of ``window`` seconds since the Unix epoch (a
day's at 00:00 UTC), as syncd's own. The app goes on answering past the
limit: what syncd does with the headers is what is tested, not a refusal.
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["Quota"]


class Quota:
    def __init__(self, limit: int, window: float = 86400.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a quota needs a limit of at least 1 and a window longer than 0 s")
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()  # the server answers from a thread per connection
        self._window_start = 0.0
        self._used = 0

    def spend(self, now: float | None = None) -> list[tuple[str, str]]:
        """Count one request; the headers its answer carries."""
        now = time.time() if now is None else now
        start = math.floor(now / self.window) * self.window
        with self._lock:
            if start != self._window_start:
                self._window_start, self._used = start, 0
            self._used += 1
            used = self._used
        reset = max(1, math.ceil(start + self.window - now))
        return [("X-RateLimit-Limit", str(self.limit)),
                ("X-RateLimit-Remaining", str(max(0, self.limit - used))),
                ("X-RateLimit-Reset", str(reset))]
