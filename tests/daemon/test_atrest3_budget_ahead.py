"""The daemon stores an account's API usage a few requests ahead (SQLite):
what the store says is never below the requests made (a crash cannot lose
one), at most ``AHEAD_REQUESTS`` or a thousandth of the limit above, written
once a stretch of requests instead of after each, and exact after a flush."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import structlog

from syncd.config import Config
from syncd.connector import Account, AccountRegistry, account_key
from syncd.daemon._budgets import AHEAD_REQUESTS, Budgets
from syncd.state import StateError, open_store
from test_budget_tiers import NOON, Clock, _config


class _Counting:
    """The state store, counting the usage rows written."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.puts = 0

    def put_api_usage(self, usage: object) -> None:
        self.puts += 1
        self._store.put_api_usage(usage)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def _left_account(config: Config) -> Account:
    """The account of the integration's left side, as the daemon's registry gives it."""
    side = config.integrations["pair"].left
    spec = config.connectors[side.connector]
    return AccountRegistry().get(account_key(spec, side.settings), spec.rate_limit)


def _stored(path: Path) -> list[int]:
    with open_store(path) as store:
        return [row.used for row in store.api_usage()]


@pytest.mark.parametrize(("daily_limit", "ahead"), [(100_000, AHEAD_REQUESTS), (6_000, 6), (999, 0)])
def test_the_stored_count_is_never_below_the_requests_made(tmp_path: Path, daily_limit: int, ahead: int) -> None:
    config = _config(tmp_path, daily_limit=daily_limit)
    account = _left_account(config)
    with open_store(tmp_path / "state.db") as real:
        store = _Counting(real)
        budgets = Budgets(config, store, clock=Clock(NOON))  # type: ignore[arg-type]
        budgets.ahead = AHEAD_REQUESTS
        for made in range(1, 101):
            budgets.count(account, 200, httpx.Headers())
            [used] = _stored(tmp_path / "state.db")  # as a daemon killed now would leave it
            assert made <= used <= made + ahead
            assert budgets.accounts("pair")[0]["used"] == made  # what the daemon shows is exact
        assert store.puts == (100 if ahead == 0 else -(-100 // (ahead + 1)))
        budgets.flush()
        assert _stored(tmp_path / "state.db") == [100]
    with open_store(tmp_path / "state.db") as store:  # a restart after a clean stop counts on exactly
        again = Budgets(config, store, clock=Clock(NOON))
        assert [b["used"] for b in again.accounts("pair")] == [100, 0]


def test_a_quota_header_or_a_new_window_is_stored_at_once(tmp_path: Path) -> None:
    config = _config(tmp_path, daily_limit=100_000)
    account = _left_account(config)
    clock = Clock(NOON)
    with open_store(tmp_path / "state.db") as store:
        budgets = Budgets(config, store, clock=clock)
        budgets.ahead = AHEAD_REQUESTS
        budgets.count(account, 200, httpx.Headers())
        budgets.count(account, 200, httpx.Headers())
        assert _stored(tmp_path / "state.db") == [1 + AHEAD_REQUESTS]
        clock.now = NOON + 86_400  # the next day's window: its count, stored now
        budgets.count(account, 200, httpx.Headers())
        [row] = store.api_usage()
        assert row.window_start > NOON and row.used == 1 + AHEAD_REQUESTS


class _Failing(_Counting):
    """A state store whose usage writes fail (a full disk, a database gone)."""

    def put_api_usage(self, usage: object) -> None:
        self.puts += 1
        raise StateError("state store x.db: I/O error while committing (disk I/O error): check the disk")


def test_a_store_that_cannot_keep_the_usage_is_said_once_with_its_message_and_counting_goes_on(
        tmp_path: Path) -> None:
    config = _config(tmp_path, daily_limit=999)  # (no count ahead: each request is stored)
    account = _left_account(config)
    with open_store(tmp_path / "state.db") as real:
        store = _Failing(real)
        budgets = Budgets(config, store, clock=Clock(NOON))  # type: ignore[arg-type]
        with structlog.testing.capture_logs() as logs:
            for _ in range(5):
                budgets.count(account, 200, httpx.Headers())
        assert store.puts == 5 and budgets.accounts("pair")[0]["used"] == 5  # in memory
    [said] = [e for e in logs if e["event"].startswith("could not store the API usage")]
    # the store's message, not a traceback (a log line a store error fills with its stack)
    assert "disk I/O error" in said["error"] and "exc_info" not in said, said
