"""A random share of requests fails: the faults real APIs show, mixed, seeded.

``FaultQueue`` injects the faults a test names, one by one; a soak test
wants the weather instead: "30 % of requests fail, somehow". A
``RandomFaults`` set on the queue (``app.faults.randomly(0.3, seed=7)``)
draws, for each request no queued fault took, whether it fails and how:
a 429 with Retry-After, a 500, a 503, a slow answer, a dropped connection
or a malformed body, weighted by ``mix``. The draws come from one RNG
seeded by ``seed``, so a failing run names the seed to replay it with;
the sequence of draws is the seed's, though which concurrent request gets
which draw is up to the thread scheduler.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Final

# What each kind of fault is, as arguments of ``Fault``.
KINDS: Final = ("429", "500", "503", "slow", "close", "malformed")
EVEN_MIX: Final = {kind: 1.0 for kind in KINDS}


class RandomFaults:
    """Each request (matching *method* and *path_prefix*) fails with
    probability *rate*, the kind drawn from *mix* (weights by kind, see
    :data:`KINDS`; missing kinds never happen).

    *slow*: the delay of a slow answer, in seconds (the answer itself is
    the real one: beyond the client's timeout, a write still happens).
    *retry_after*: the Retry-After header of a 429, sent verbatim.
    ``drawn`` counts the faults drawn by kind.
    """

    def __init__(self, rate: float, seed: int, *, mix: Mapping[str, float] | None = None,
                 slow: float = 1.0, retry_after: str = "1", method: str | None = None,
                 path_prefix: str = "") -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a fault rate is between 0 and 1, not {rate}")
        weights = dict(EVEN_MIX if mix is None else mix)
        unknown = sorted(set(weights) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}: the kinds are {', '.join(KINDS)}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("fault weights must not be negative, and one must be more than 0")
        if slow <= 0:
            raise ValueError("a slow answer's delay must be more than 0")
        self.rate = rate
        self.seed = seed
        self.slow = slow
        self.retry_after = retry_after
        self.method = method.upper() if method else None
        self.path_prefix = path_prefix
        self._kinds = [k for k in KINDS if weights.get(k, 0) > 0]
        self._weights = [weights[k] for k in self._kinds]
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.drawn: Counter[str] = Counter()

    def draw(self, method: str, path: str) -> str | None:
        """The kind of fault this request meets (one of :data:`KINDS`), if any;
        ``FaultQueue`` makes the fault."""
        if (self.method is not None and self.method != method) or not path.startswith(self.path_prefix):
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choices(self._kinds, self._weights)[0]
            self.drawn[kind] += 1
        return kind

    def __repr__(self) -> str:
        return f"<RandomFaults rate={self.rate} seed={self.seed} drawn={dict(self.drawn)}>"
