"""Request rates held across daemons on one PostgreSQL state: each request
reserves its slot in the database, so two daemons on one account send at
most requests_per_second together, and a 429's Retry-After holds both.

Each "daemon" is an AccountRegistry with SharedRates of its own (its own
connection, nothing shared in memory), as two processes would have.
Requests per second are read as each request leaves its client (see
test_ratelimit.py), from both clients' send times merged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest

from syncd.config import RateLimitSpec
from syncd.connector import AccountRegistry, Connector
from syncd.state import open_state
from syncd.state._pg_shared import SharedRates
from test_ratelimit import SendTimes, get_all

pytestmark = pytest.mark.anyio


@pytest.fixture
def db(pg_url: str) -> str:
    open_state(pg_url).close()  # the schema, as the daemon's store makes it
    return pg_url


@asynccontextmanager
async def daemons(db: str, spec: Any, app: Any, connect: Callable[..., Connector],
                  n: int = 2) -> AsyncIterator[list[tuple[Connector, SendTimes]]]:
    """*n* daemons' connectors to the same account, each noting its sends."""
    async with AsyncExitStack() as stack:
        made = []
        for _ in range(n):
            registry = AccountRegistry(rates=SharedRates(db))
            stack.callback(registry.close)
            sent = SendTimes()
            made.append((await stack.enter_async_context(connect(spec, app, accounts=registry, transport=sent)),
                         sent))
        yield made


def assert_within(times: list[float], rate: int) -> None:
    """What test_ratelimit.py asks of one process, of the sends of all of them merged."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.5 / rate, gaps  # evenly spread: no burst
    assert times[-1] - times[0] >= 0.9 * (len(times) - 1) / rate
    assert all(sum(1 for t in times if start <= t < start + 1) <= rate for start in times)


def rate_rows(db: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT account, paused_until > clock_timestamp() FROM rate_limits").fetchall()


async def test_two_daemons_on_one_account_stay_within_its_rate_together(
        sample_app: Any, make_spec: Any, connect: Any, db: str) -> None:
    rate = 10
    app = sample_app(n=20)
    ids = app.store.ids()
    async with daemons(db, make_spec(rate_limit={"requests_per_second": rate}), app, connect) as made:
        (one, sent_one), (two, sent_two) = made
        # rate + 1 requests in all, half from each, all at once
        work = [(one, cid) for cid in ids[: rate // 2 + 1]] + [(two, cid) for cid in ids[: rate // 2]]
        await get_all(work)
    assert len(sent_one.times) + len(sent_two.times) == rate + 1 and sent_one.times and sent_two.times
    assert_within(sent_one.times + sent_two.times, rate)


async def test_two_processes_on_one_account_stay_within_its_rate_together(
        sample_app: Any, make_spec: Any, db: str) -> None:
    rate = 10
    app = sample_app(n=30)
    spec = make_spec(rate_limit={"requests_per_second": rate})
    ids = app.store.ids()
    sender = Path(__file__).with_name("shared_rate_sender.py")
    procs = [subprocess.Popen([sys.executable, str(sender), str(spec.source), app.url, app.token, db,
                               ",".join(part)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=sender.parent)
             for part in (ids[:rate], ids[rate: 2 * rate])]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:  # both go at once
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0]
    times = [t for out in outputs for t in json.loads(out.splitlines()[-1])]
    assert len(times) == 2 * rate == len(app.requests)
    assert_within(times, rate)


async def test_an_account_without_a_rate_never_asks_the_database(
        sample_app: Any, make_spec: Any, connect: Any, db: str) -> None:
    app = sample_app(n=5)
    async with daemons(db, make_spec(), app, connect) as made:
        await get_all([(c, cid) for c, _ in made for cid in app.store.ids()])
    assert rate_rows(db) == []


async def test_a_retry_after_holds_the_other_daemon_too(
        sample_app: Any, make_spec: Any, connect: Any, db: str) -> None:
    app = sample_app(n=5)
    spec = make_spec(rate_limit={"requests_per_second": 50})
    async with daemons(db, spec, app, connect) as made:
        (one, sent_one), (two, sent_two) = made
        app.faults.add(status=429, retry_after=1, path_prefix="/contacts/")
        async with anyio.create_task_group() as tg:
            tg.start_soon(one.get, app.store.ids()[0])  # a 429, then its own retry after 1 s
            with anyio.fail_after(10):
                while not any(paused for _, paused in rate_rows(db)):  # written in the background
                    await anyio.sleep(0.01)
            assert await two.get(app.store.ids()[1]) is not None  # asked at once: it waits too
    [(account, _)] = rate_rows(db)
    assert account == one.account.key == two.account.key
    assert sorted(r.status for r in app.requests) == [200, 200, 429]
    # the other daemon's request left only once the pause the first one's 429 set was over
    assert sent_two.times[0] - sent_one.times[0] >= 0.9


async def test_a_database_that_stops_answering_falls_back_to_the_daemons_own_rate(
        sample_app: Any, make_spec: Any, connect: Any, db: str) -> None:
    """The server process of the rates' connection is frozen (SIGSTOP: TCP and the statement timeout
    notice nothing): the reservation gives up after its timeout and the request goes out under this
    daemon's own bucket; once the server answers again, reservations are made there again."""
    app = sample_app(n=3)
    rates = SharedRates(db, timeout=1)
    registry = AccountRegistry(rates=rates)
    try:
        async with connect(make_spec(rate_limit={"requests_per_second": 50}), app, accounts=registry) as c:
            assert await c.get(app.store.ids()[0]) is not None  # connected, one slot reserved
            with psycopg.connect(db, autocommit=True) as conn:
                [(pid, tat)] = conn.execute(
                    "SELECT pid, (SELECT tat FROM rate_limits) FROM pg_stat_activity"
                    " WHERE application_name = 'syncd-rates' AND datname = current_database()").fetchall()
            os.kill(pid, signal.SIGSTOP)
            try:
                with anyio.fail_after(30):
                    assert await c.get(app.store.ids()[1]) is not None
            finally:
                os.kill(pid, signal.SIGCONT)
            assert await c.get(app.store.ids()[2]) is not None  # reconnected
            with psycopg.connect(db) as conn:
                assert conn.execute("SELECT tat > %s FROM rate_limits", (tat,)).fetchone() == (True,)
    finally:
        registry.close()
    assert len(app.requests) == 3


def test_a_429_after_the_registry_closed_is_no_error(db: str) -> None:
    registry = AccountRegistry(rates=SharedRates(db))
    account = registry.get("testapp@http://127.0.0.1:1#0", RateLimitSpec(requests_per_second=5))
    registry.close()
    account.answered(429, httpx.Headers({"Retry-After": "1"}))  # a request that ended after it: nothing to hold
    assert rate_rows(db) == []
