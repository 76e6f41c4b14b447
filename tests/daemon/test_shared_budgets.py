"""API budgets on a PostgreSQL state: every daemon on the database counts
into one row per account, so what each daemon reads (status, metrics, the
tiers) is the sum over all of them. Two Budgets on two stores of one real
PostgreSQL database stand for two daemons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syncd.config import Config
from syncd.connector import AccountRegistry, account_key
from syncd.daemon._budgets import Budgets
from syncd.state import StateStore, open_state
from test_budget_tiers import NOON, Clock, _config


def _spend(budgets: Budgets, config: Config, n: int) -> None:
    side = config.integrations["pair"].left
    spec = config.connectors[side.connector]
    account = AccountRegistry().get(account_key(spec, side.settings), spec.rate_limit)
    for _ in range(n):
        budgets.count(account, 200, httpx.Headers())


@pytest.fixture
def two_daemons(pg_url: str, tmp_path: Path) -> Iterator[tuple[Config, StateStore, StateStore]]:
    config = _config(tmp_path, state={"url": pg_url})
    with open_state(pg_url) as one, open_state(pg_url) as two:
        yield config, one, two


def test_each_daemon_sees_the_sum_of_every_daemons_requests(two_daemons) -> None:
    config, one_store, two_store = two_daemons
    clock = Clock(NOON)
    one, two = Budgets(config, one_store, clock=clock), Budgets(config, two_store, clock=clock)
    assert one.shared and two.shared
    one.read_every = two.read_every = 0.0  # read the other's share at every look (no waiting in a test)
    _spend(one, config, 3)
    _spend(two, config, 4)
    for budgets in (one, two):
        [left, _right] = budgets.accounts("pair")
        assert (left["used"], left["limit"], left["percent"]) == (7, 10, 70.0)
    assert [u["used"] for u in one.usage()] == [u["used"] for u in two.usage()]
    # the tiers go by the sum: 3 + 4 + 2 = 90 % holds scheduled cycles back (below 90 %) on both
    _spend(one, config, 2)
    assert two.allows("scheduled", "pair") is not None and one.allows("scheduled", "pair") is not None
    # `syncd status` without a daemon reads the same row
    assert [u.used for u in one_store.api_usage()] == [9]
    assert Budgets(config, one_store, clock=clock, read_only=True).accounts("pair")[0]["used"] == 9


def test_a_new_window_starts_from_zero_for_every_daemon(two_daemons) -> None:
    config, one_store, two_store = two_daemons
    clock = Clock(NOON)
    one, two = Budgets(config, one_store, clock=clock), Budgets(config, two_store, clock=clock)
    one.read_every = two.read_every = 0.0
    _spend(one, config, 5)
    clock.now += 86400  # the next day's window
    assert two.accounts("pair")[0]["used"] == 0
    _spend(two, config, 1)
    assert one.accounts("pair")[0]["used"] == 1


def test_on_sqlite_each_daemon_counts_its_own_as_before(tmp_path: Path) -> None:
    config = _config(tmp_path, state={"path": "state.db"})
    with open_state(tmp_path / "state.db") as store:
        budgets = Budgets(config, store, clock=Clock(NOON))
        assert not budgets.shared
        _spend(budgets, config, 2)
        assert budgets.accounts("pair")[0]["used"] == 2
