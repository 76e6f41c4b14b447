"""The share each daemon runs (pure arithmetic), and members joining and leaving on a real PostgreSQL."""

from __future__ import annotations

import pytest

from syncd.daemon._cluster import margin, share


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
