"""The budget tiers: which kind of work may spend an account's budget, and until when not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from syncd.config import Config, load_config
from syncd.connector import AccountRegistry, account_key
from syncd.daemon._budgets import Budgets
from syncd.sampleapp import sample_integration, write_sample_config
from syncd.state import open_store

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()
MIDNIGHT = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
ENV = {"LEFT_TOKEN": "left-token", "RIGHT_TOKEN": "right-token"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _config(directory: Path, *, daily_limit: int = 10, budgets: dict[str, float] | None = None,
            state: dict[str, str] | None = None) -> Config:
    integration = sample_integration("http://127.0.0.1:1", "http://127.0.0.1:2", name="pair")
    daemon = {"state": state or {"path": "state.db"}, **({"budgets": budgets} if budgets else {})}
    write_sample_config(directory, integration, daemon=daemon)
    shipped = Path(__file__).parents[2] / "connectors.d" / "sampleapp.yaml"
    spec = yaml.safe_load(shipped.read_text())
    spec["rate_limit"] = {"daily_limit": daily_limit}
    (directory / "connectors.d").mkdir(exist_ok=True)
    (directory / "connectors.d" / "sampleapp.yaml").write_text(yaml.safe_dump(spec))
    return load_config(directory, environ=ENV)


def _spend(budgets: Budgets, config: Config, side: str, n: int) -> None:
    integration = config.integrations["pair"]
    s = integration.left if side == "left" else integration.right
    spec = config.connectors[s.connector]
    account = AccountRegistry().get(account_key(spec, s.settings), spec.rate_limit)
    for _ in range(n):
        budgets.count(account, 200, httpx.Headers())


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


def test_each_kind_runs_below_its_tier_and_an_operator_always(tmp_path: Path, clock: Clock) -> None:
    config = _config(tmp_path)
    with open_store(tmp_path / "state.db") as store:
        budgets = Budgets(config, store, clock=clock)
        _spend(budgets, config, "left", 3)
        assert budgets.allows("bulk", "pair") is None and budgets.allows("scheduled", "pair") is None
        _spend(budgets, config, "left", 1)  # 40 %: bulk syncs wait
        assert budgets.allows("bulk", "pair") == \
            "API budget of sampleapp at 40% (bulk syncs run below 40%) until 00:00 UTC"
        assert budgets.allows("scheduled", "pair") is None
        _spend(budgets, config, "right", 8)  # the other side's account at 80 %: scheduled cycles wait
        assert budgets.allows("scheduled", "pair") == \
            "API budget of sampleapp at 80% (scheduled cycles run below 80%) until 00:00 UTC"
        assert budgets.allows("operator", "pair") is None
        assert budgets.resumes_at("scheduled", "pair") == MIDNIGHT
        assert [(b["used"], b["limit"], b["percent"]) for b in budgets.accounts("pair")] == [(4, 10, 40.0),
                                                                                           (8, 10, 80.0)]
        assert budgets.accounts("unknown") == []
        clock.now = MIDNIGHT  # the window rolls over
        assert budgets.allows("bulk", "pair") is None and budgets.resumes_at("scheduled", "pair") is None
        assert [b["used"] for b in budgets.usage()] == [0, 0]


def test_new_tiers_apply_at_reconfigure_and_counts_survive_a_new_budgets(tmp_path: Path, clock: Clock) -> None:
    config = _config(tmp_path)
    with open_store(tmp_path / "state.db") as store:
        budgets = Budgets(config, store, clock=clock)
        _spend(budgets, config, "left", 9)
        assert budgets.allows("scheduled", "pair") is not None
        budgets.reconfigure(_config(tmp_path, budgets={"scheduled_below_percent": 95}))
        assert budgets.allows("scheduled", "pair") is None
    with open_store(tmp_path / "state.db") as store:  # a restart
        again = Budgets(config, store, clock=clock)
        assert [b["used"] for b in again.accounts("pair")] == [9, 0]
        assert again.allows("scheduled", "pair") is not None


def test_a_reset_more_than_a_day_away_says_its_date(tmp_path: Path, clock: Clock) -> None:
    config = _config(tmp_path, daily_limit=1)
    with open_store(tmp_path / "state.db") as store:
        budgets = Budgets(config, store, clock=clock)
        _spend(budgets, config, "left", 1)
        clock.now = NOON - 86400 + 1  # the clock went back: the window now ends more than a day later
        reason = budgets.allows("scheduled", "pair")
        assert reason is not None and reason.endswith("until 2026-12-07 00:00 UTC")
