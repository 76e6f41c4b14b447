"""Cycles: the one way to start a cycle, over a real state store and real sample apps.

Each test writes a config joining two sample apps on 127.0.0.1, as a
sysadmin would, and starts cycles through :class:`syncd.sync.Cycles` the
way the daemon and the commands do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sync_support import write_pair

import syncd.sync._factory
from syncd.config import Config, load_config
from syncd.connector import AccountRegistry, Connector
from syncd.sampleapp import AuthMode, SampleApp
from syncd.state import StateError, open_store
from syncd.sync import Cycles

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"
Pair = tuple[Config, SampleApp, SampleApp]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pair(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Callable[..., Pair]:
    """``pair(left_n, right_n, right_token=...)``: two apps joined by ``pair``, its config loaded."""
    def make(left_n: int = 5, right_n: int = 0, right_token: str = RIGHT_TOKEN) -> Pair:
        left = sample_app(n=left_n, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
        right = sample_app(n=right_n, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        directory = tmp_path / "config"
        write_pair(directory, left.url, right.url, """\
match: {left: email, right: email}
create: both
fields:
  - {left: email, right: email}
  - {left: first_name, right: first_name}
""")
        return load_config(directory, environ={"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": right_token}), left, right

    return make


@pytest.fixture
def connectors(monkeypatch: pytest.MonkeyPatch) -> list[Connector]:
    """Every connector the factory makes from now on, kept to look at afterwards."""
    made: list[Connector] = []

    class Recorded(Connector):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(syncd.sync._factory, "Connector", Recorded)
    return made


@pytest.mark.anyio
async def test_a_cycle_run_by_the_factory_syncs_both_apps_and_checkpoints_in_the_store(pair: Any) -> None:
    config, left, right = pair(left_n=5, right_n=2)

    with Cycles.open(config) as cycles:
        summary = await cycles.run("pair", origin="once")

        assert summary.aborted is None and not summary.stopped and summary.errors == 0
        assert summary.read == {"left": 5, "right": 2}
        assert summary.created == {"left": 2, "right": 5}
        assert sorted(c["email"] for c in left.store.all()) == sorted(c["email"] for c in right.store.all())
        # What the cycle did is in the store: cursors, one snapshot per record, no open intent.
        for side in ("left", "right"):
            assert cycles.store.side_state("pair", side).cursor is not None
            assert cycles.store.count("pair", side) == 7
        assert cycles.store.open_intents("pair") == []

        # The next cycle reads back its own writes and sends nothing back.
        assert (await cycles.run("pair", origin="once")).write_count == 0

    with open_store(config.daemon.state_path) as store:  # committed to the file
        assert store.count("pair", "left") == store.count("pair", "right") == 7


@pytest.mark.anyio
async def test_a_dry_run_writes_nothing_and_lists_the_writes(pair: Any) -> None:
    config, _, right = pair(left_n=3)

    with Cycles.open(config) as cycles:
        summary = await cycles.run("pair", origin="once", dry_run=True)

    assert right.store.all() == []
    assert [(w.side, w.action) for w in summary.writes] == [("right", "create")] * 3


def test_the_store_the_factory_opens_is_closed_on_exit_even_after_an_error(pair: Any) -> None:
    config, _, _ = pair()
    with Cycles.open(config) as cycles:
        assert cycles.store.integrations() == []
    with pytest.raises(StateError, match="closed database"):
        cycles.store.integrations()

    with pytest.raises(RuntimeError), Cycles.open(config) as cycles:
        raise RuntimeError("a caller failing")
    with pytest.raises(StateError, match="closed database"):
        cycles.store.integrations()


@pytest.mark.anyio
async def test_a_store_the_caller_passes_stays_open(pair: Any, tmp_path: Path) -> None:
    config, _, _ = pair(left_n=2)
    with open_store(tmp_path / "own.db") as store:
        summary = await Cycles(config, store).run("pair", origin="once")
        assert summary.created == {"left": 0, "right": 2}
        assert store.count("pair", "right") == 2  # still open, and the cycle used it


@pytest.mark.anyio
async def test_a_cycles_connectors_are_closed_after_run(pair: Any, connectors: list[Connector]) -> None:
    config, _, _ = pair(left_n=2)
    with Cycles.open(config) as cycles:
        assert (await cycles.run("pair", origin="once")).aborted is None
    assert len(connectors) == 2 and all(c.client.is_closed for c in connectors)


@pytest.mark.anyio
async def test_an_aborted_cycle_closes_its_connectors_too(pair: Any, connectors: list[Connector]) -> None:
    config, _, _ = pair(left_n=2, right_token="not-the-right-one")
    with Cycles.open(config) as cycles:
        summary = await cycles.run("pair", origin="once")
    assert summary.aborted is not None and "401" in summary.aborted
    assert len(connectors) == 2 and all(c.client.is_closed for c in connectors)


@pytest.mark.anyio
async def test_a_cycle_block_keeps_its_connectors_open_until_it_ends(pair: Any) -> None:
    config, left, _ = pair(left_n=2)
    with Cycles.open(config) as cycles:
        async with cycles.cycle("pair", origin="webhook") as cycle:
            sides = cycle.ctx.connectors
            assert cycle.ctx.origin == "webhook"
            # One record, through the cycle's own connector: it reads only
            # what the integration compares (and the match key).
            [found] = await sides["left"].find("email", left.store.all()[0]["email"])
            assert set(found.fields) == {"email", "first_name"}
        assert sides["left"].client.is_closed and sides["right"].client.is_closed

        with pytest.raises(RuntimeError):
            async with cycles.cycle("pair", origin="webhook") as cycle:
                sides = cycle.ctx.connectors
                raise RuntimeError("a caller failing")
        assert sides["left"].client.is_closed and sides["right"].client.is_closed


@pytest.mark.anyio
async def test_cycles_share_one_plan_per_config_and_one_account_per_app_account(pair: Any) -> None:
    config, _, _ = pair()
    accounts = AccountRegistry()
    with open_store(config.daemon.state_path) as store:
        cycles = Cycles(config, store, accounts)
        async with cycles.cycle("pair", origin="once") as a, cycles.cycle("pair", origin="once") as b:
            assert a.ctx.plan is b.ctx.plan  # compiled once for this config
            assert a.ctx.connectors["left"].account is b.ctx.connectors["left"].account
            assert a.ctx.connectors["left"].account is not a.ctx.connectors["right"].account

        # A reload brings a new config: a new Cycles over the same store and
        # accounts compiles its own plan and still shares the rate limits.
        new = load_config(config.directory, environ={"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN})
        async with Cycles(new, store, accounts).cycle("pair", origin="scheduled") as c:
            assert c.ctx.plan is not a.ctx.plan and c.ctx.integration is new.integrations["pair"]
            assert c.ctx.connectors["left"].account is a.ctx.connectors["left"].account


@pytest.mark.anyio
async def test_an_unknown_integration_is_a_key_error_before_any_connector(
        pair: Any, connectors: list[Connector]) -> None:
    config, _, _ = pair()
    with Cycles.open(config) as cycles, pytest.raises(KeyError):
        await cycles.run("nope", origin="once")
    assert connectors == []


@pytest.mark.anyio
async def test_each_cycle_is_kept_in_the_store_with_its_outcome_and_counts(pair: Any) -> None:
    config, _, _ = pair(left_n=3, right_n=0)
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="manual")
        await cycles.run("pair", origin="scheduled", dry_run=True)  # a dry run is not a cycle that happened
        last = cycles.store.cycles("pair")
    assert [(c.origin, c.outcome, c.error) for c in last] == [("manual", "ok", None)]
    assert last[0].counts["created"] == {"left": 0, "right": 3}
    assert last[0].ended_at >= last[0].started_at


@pytest.mark.anyio
async def test_an_aborted_cycle_is_kept_with_its_reason_and_no_secret(pair: Any) -> None:
    config, _, _ = pair(left_n=2, right_token="not-the-right-one")
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="scheduled")
        (last,) = cycles.store.cycles("pair")
    assert last.outcome == "aborted" and last.error is not None and "401" in last.error
    assert "not-the-right-one" not in last.error and RIGHT_TOKEN not in last.error


@pytest.mark.anyio
async def test_a_cycle_that_raises_is_kept_as_failed(pair: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config, _, _ = pair(left_n=2)

    async def broken(self: Any) -> Any:
        raise RuntimeError("a bug in a cycle")

    monkeypatch.setattr(syncd.sync._factory.Cycle, "run", broken)  # a bug cannot be made to happen otherwise
    with Cycles.open(config) as cycles:
        with pytest.raises(RuntimeError):
            await cycles.run("pair", origin="scheduled")
        (last,) = cycles.store.cycles("pair")
    assert (last.outcome, last.error, last.counts) == ("failed", "RuntimeError: a bug in a cycle", {})
