"""The write guard: a daemon whose lease's local deadline passed sends no write.

Real sample apps on 127.0.0.1 and a real state store: the cycles are made
by :class:`syncd.sync.Cycles` with ``write_permit`` as the supervisor gives it
(:meth:`syncd.daemon._cluster.Cluster.permit`), and the deadline passes
for real on a real PostgreSQL lease table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from syncd.config import Config, load_config
from syncd.daemon._cluster import Cluster
from syncd.sampleapp import AuthMode, SampleApp, sample_integration, write_sample_config
from syncd.state import LeaseLost, open_state
from syncd.sync import Cycles

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _config(directory: Path, left: SampleApp, right: SampleApp, state: dict[str, Any]) -> Config:
    write_sample_config(directory, sample_integration(left.url, right.url, name="pair"),
                        daemon={"state": state}, header=False)
    return load_config(directory, environ={"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN})


@pytest.fixture
def apps(sample_app: Callable[..., SampleApp]) -> tuple[SampleApp, SampleApp]:
    return (sample_app(n=4, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1),
            sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2))


@pytest.mark.anyio
async def test_a_refused_write_ends_the_cycle_as_stopped_and_nothing_reaches_the_app(
        apps: tuple[SampleApp, SampleApp], tmp_path: Path) -> None:
    left, right = apps
    config = _config(tmp_path / "config", left, right, {"path": "state.db"})
    asked: list[str] = []

    def may_write(name: str) -> bool:
        asked.append(name)
        return False

    with open_state(config.daemon.state_path) as store:
        summary = await Cycles(config, store, write_permit=lambda name: lambda: may_write(name)).run(
            "pair", origin="scheduled")
    assert summary.stopped and summary.aborted is None
    assert asked == ["pair"]  # asked once, before the first write, which never left
    assert right.store.all() == []
    assert right.requests.matching(method="POST") == []
    assert left.requests.matching(method="GET")  # reading went on as usual


@pytest.mark.anyio
async def test_past_the_local_deadline_a_held_lease_writes_nothing(
        apps: tuple[SampleApp, SampleApp], tmp_path: Path, pg_url: str) -> None:
    left, right = apps
    config = _config(tmp_path / "config", left, right, {"url": pg_url})
    cluster = Cluster(pg_url, lease_seconds=1.0, host="guard-test")
    with open_state(pg_url) as store:
        step = await cluster.renew(["pair"])
        assert step is not None and step.target == 1
        [lease] = await cluster.acquire(["pair"], 1)
        assert cluster.may_write("pair")
        # The local deadline is the send time + 1 s - 0.5 s: past it, no write,
        # though the database's lease has not run out yet.
        await anyio.sleep(0.6)
        assert cluster.owns("pair") and not cluster.may_write("pair")
        cycles = Cycles(config, store, write_permit=cluster.permit)
        try:
            summary = await cycles.run("pair", origin="scheduled")
        finally:
            cycles.close()  # its registry's connection (the shared rates)
        assert summary.stopped
        assert right.store.all() == [] and right.requests.matching(method="POST") == []
        assert cluster.expired() == ["pair"] and not cluster.owns("pair")
        assert lease.token >= 1
    await cluster.leave()


@pytest.fixture
def every_level() -> Iterator[None]:
    """Log events at every level for the test: capture_logs swaps the processors only, and an
    earlier test in this process may have left logging configured above info (it keeps its level)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.mark.anyio
async def test_a_cycle_without_its_lease_commits_nothing_and_logs_no_error_for_its_outcome(
        apps: tuple[SampleApp, SampleApp], tmp_path: Path, pg_url: str, every_level: None) -> None:
    left, right = apps
    config = _config(tmp_path / "config", left, right, {"url": pg_url})
    with open_state(pg_url) as store:
        store.require_fences("this-daemon")  # and no fence held: the lease is gone
        cycles = Cycles(config, store)
        with structlog.testing.capture_logs() as logs, pytest.raises(LeaseLost):
            try:
                await cycles.run("pair", origin="scheduled")
            finally:
                cycles.close()  # its registry's connection (the shared rates)
        assert store.cycles("pair") == []
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []
    assert [e["event"] for e in logs if e["log_level"] == "info"] == [
        "the cycle's outcome is not recorded: the lease is gone"]


@pytest.mark.anyio
async def test_a_permit_taken_under_one_lease_never_writes_under_a_newer_one(pg_url: str) -> None:
    # A cycle takes its permit as it starts. Its lease lost and this daemon holding the
    # integration again under a newer token (another daemon may have synced it in between):
    # the old cycle's plan is stale, so its permit stays refused; a new cycle's is granted.
    cluster = Cluster(pg_url, lease_seconds=20.0, host="permit-test")
    try:
        assert await cluster.renew(["pair"]) is not None
        [first] = await cluster.acquire(["pair"], 1)
        old = cluster.permit("pair")
        assert old()
        await cluster.release(["pair"])
        assert not old() and not cluster.may_write("pair")
        [second] = await cluster.acquire(["pair"], 1)
        assert second.token > first.token
        assert cluster.may_write("pair")  # the lease is held again...
        assert not old()  # ...but not the one the old cycle started under
        assert cluster.permit("pair")()
        assert not cluster.permit("other")()  # never held: refused
    finally:
        await cluster.leave()
