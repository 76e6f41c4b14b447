"""The share each daemon runs (pure arithmetic), and members joining and leaving on a real PostgreSQL."""

from __future__ import annotations

import pytest

from syncd.daemon._cluster import Cluster, Step, margin, share
from syncd.state import Fence


@pytest.mark.parametrize("n, d", [(6, 2), (6, 4), (30, 3), (31, 3), (1, 3), (0, 2), (7, 1), (5, 5), (2, 7)])
def test_shares_sum_to_every_integration_and_differ_by_at_most_one(n: int, d: int) -> None:
    shares = [share(n, d, rank) for rank in range(d)]
    assert sum(shares) == n
    assert max(shares) - min(shares) <= 1


def test_the_oldest_members_take_the_remainder() -> None:
    assert [share(31, 3, r) for r in range(3)] == [11, 10, 10]
    assert [share(6, 4, r) for r in range(4)] == [2, 2, 1, 1]
    assert [share(2, 3, r) for r in range(3)] == [1, 1, 0]


def test_a_rank_outside_the_members_runs_nothing() -> None:
    assert share(6, 2, 2) == 0
    assert share(6, 0, 0) == 0
    assert share(6, 2, -1) == 0


def test_the_margin_is_a_tenth_of_the_lease_at_least_half_a_second() -> None:
    assert margin(20) == 2.0
    assert margin(3) == 0.5
    assert margin(1) == 0.5


NAMES = [f"i{n}" for n in range(6)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _tick(cluster: Cluster) -> Step:
    """One renewal as the supervisor makes it: renew, give up the excess (no runner here), acquire up to the share."""
    step = await cluster.renew(NAMES)
    assert step is not None
    if step.excess:
        await cluster.release(sorted(cluster.held())[:step.excess])
    await cluster.acquire(NAMES, step.target - len(cluster.held()))
    return step


@pytest.mark.anyio
async def test_members_joining_and_leaving_split_the_integrations_on_a_real_database(pg_url: str) -> None:
    fenced: dict[str, Fence | None] = {}
    a = Cluster(pg_url, lease_seconds=3, host="a", fence=fenced.__setitem__)
    b = Cluster(pg_url, lease_seconds=3, host="b")
    assert (await _tick(a)).target == 6 and set(a.held()) == set(NAMES)
    assert all(fenced[n] == Fence(a.daemon_id, a.held()[n]) for n in NAMES)  # every acquisition fenced

    assert (await _tick(b)).target == 3  # the newer member: 3 of 6, none free yet
    assert b.held() == {}
    assert (await _tick(a)).excess == 3  # a gives up 3 (their fences cleared) ...
    assert len(a.held()) == 3 and sum(f is None for f in fenced.values()) == 3
    await _tick(b)  # ... and b takes them at its next renewal
    assert len(b.held()) == 3 and set(a.held()) | set(b.held()) == set(NAMES)
    assert {m["host"] for m in a.members()} == {"a", "b"}
    owner = b.owner_of(sorted(a.held())[0])
    assert owner is not None and owner["host"] == "a"

    await b.leave()  # a clean stop: its leases free at once
    assert (await _tick(a)).target == 6 and set(a.held()) == set(NAMES)
    await a.leave()
    assert all(f is None for f in fenced.values())
