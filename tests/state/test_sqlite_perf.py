"""How fast the SQLite store takes a bulk sync's writes (run with ``-s`` to see the timings).

The sync layer commits one transaction per page of about 100 records; a
first sync of 100,000 contacts is 1,000 of them. Bounds are loose (a slow
CI machine must pass); the point is to catch a per-row commit or a query
that scans a whole side, which are ten to a thousand times slower.

10,000 snapshots (100 transactions) already show either; the full 100,000
are marked ``slow`` and run with ``--run-slow``.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.state import Snapshot, open_store


def _contact(i: int, now: datetime) -> Snapshot:
    fields = {
        "email": f"user{i}@example.com", "first_name": "Ada", "last_name": "Lovelace",
        "phone": "+44 20 7946 0958", "stage": "customer", "tags": ["newsletter", "vip"],
    }
    return Snapshot("left", f"rec-{i:07d}", fields, {**fields, "stage": "lead"}, fields["email"], "0123456789abcdef",
                    now, False, i % 3 == 0, 1)


@pytest.mark.parametrize("n", [10_000, pytest.param(100_000, marks=pytest.mark.slow)], ids=["10k", "100k"])
def test_snapshots_in_transactions_of_100(tmp_path: Path, n: int) -> None:
    now = datetime.now(UTC)
    contacts = [_contact(i, now) for i in range(n)]
    durations = []
    with open_store(tmp_path / "state.db") as store:
        start = time.perf_counter()
        for page in range(n // 100):
            t0 = time.perf_counter()
            with store.transaction("bench") as t:
                t.put_snapshots(contacts[page * 100:(page + 1) * 100])
            durations.append(time.perf_counter() - t0)
        total = time.perf_counter() - start

        ids = [c.record_id for c in contacts[::n // 100]]
        t0 = time.perf_counter()
        for _ in range(100):
            assert len(store.snapshots("bench", "left", ids)) == 100
        lookup = (time.perf_counter() - t0) / 100
        assert store.count("bench", "left") == n

    median = statistics.median(durations)
    print(f"\n{n:,} snapshots in {n // 100:,} transactions: {total:.2f} s; a 100-snapshot transaction: median "
          f"{median * 1000:.2f} ms, max {max(durations) * 1000:.1f} ms; snapshots(100 ids): {lookup * 1000:.2f} ms")
    assert median < 0.010
    assert total < 15 * n / 100_000  # 15 s for 100,000
    assert lookup < 0.010
