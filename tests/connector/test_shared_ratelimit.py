"""Request rates held across daemons on one PostgreSQL state: each request
reserves its slot in the database, so two daemons on one account send at
most requests_per_second together, and a 429's Retry-After holds both.

Each "daemon" is an AccountRegistry with SharedRates of its own (its own
connection, nothing shared in memory), as two processes would have.
Requests per second are read as each request leaves its client (see
test_ratelimit.py), from both clients' send times merged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import psycopg
import pytest

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
    times = sorted(sent_one.times + sent_two.times)
    assert len(times) == rate + 1 and sent_one.times and sent_two.times
    gaps = [b - a for a, b in zip(times, times[1:])]
    # as test_ratelimit.py asks of one process: evenly spread, never more than `rate` in any second
    assert min(gaps) >= 0.5 / rate, gaps
    assert times[-1] - times[0] >= 0.9
    assert all(sum(1 for t in times if start <= t < start + 1) <= rate for start in times)


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
