"""Rate limits: requests per second, concurrency and daily counts, shared per account.

Concurrency is read from the sample app's request log (when each request
arrived, how long it took to answer): the server's view of how hard it was
hit. Requests per second are read where the limiter acts, as each request
leaves the client.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from syncd.connector import AccountRegistry
from syncd.sampleapp import RequestRecord

pytestmark = pytest.mark.anyio


def max_in_flight(records: list[RequestRecord]) -> int:
    """The most requests the server was working on at one time."""
    events = sorted([(r.time, 1) for r in records] + [(r.time + r.duration, -1) for r in records],
                    key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


async def get_all(connectors_and_ids: list[tuple[Any, str]]) -> None:
    async with anyio.create_task_group() as tg:
        for c, cid in connectors_and_ids:
            tg.start_soon(c.get, cid)


class SendTimes(httpx.AsyncBaseTransport):
    """httpx's own transport, noting when each request leaves the client: the
    limiter's releases, free of the server thread's scheduling (on a loaded
    machine, the app's arrival times bunch up though the sends did not)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.times: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_requests_per_second_is_honoured(sample_app: Any, make_spec: Any, connect: Any,
                                               concurrent: bool) -> None:
    rate = 10
    app = sample_app(n=20)
    sent = SendTimes()
    async with connect(make_spec(rate_limit={"requests_per_second": rate}), app, transport=sent) as c:
        ids = app.store.ids()[:rate + 1]
        if concurrent:
            await get_all([(c, cid) for cid in ids])
        else:
            for cid in ids:
                await c.get(cid)
    assert len(app.requests) == rate + 1
    times = sorted(sent.times)
    assert len(times) == rate + 1
    gaps = [b - a for a, b in zip(times, times[1:])]
    # evenly spread: no burst, and never more than `rate` requests in any second
    assert min(gaps) >= 0.5 / rate, gaps
    assert times[-1] - times[0] >= 0.9
    assert all(sum(1 for t in times if start <= t < start + 1) <= rate for start in times)


async def test_max_concurrency_is_honoured(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=10)
    app.faults.add(delay=0.2, times=None, path_prefix="/contacts/")
    async with connect(make_spec(rate_limit={"max_concurrency": 2}), app) as c:
        started = anyio.current_time()
        await get_all([(c, cid) for cid in app.store.ids()[:6]])
        elapsed = anyio.current_time() - started
    assert len(app.requests) == 6
    assert max_in_flight(app.requests.all()) == 2
    assert elapsed >= 0.55  # three rounds of two


async def test_without_a_limit_requests_run_concurrently(sample_app: Any, make_spec: Any, connect: Any) -> None:
    # the control for the test above: the app itself does run requests in parallel
    app = sample_app(n=10)
    app.faults.add(delay=0.2, times=None, path_prefix="/contacts/")
    async with connect(make_spec(), app) as c:
        await get_all([(c, cid) for cid in app.store.ids()[:6]])
    assert max_in_flight(app.requests.all()) == 6


async def test_connectors_on_one_account_share_its_limits(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=10)
    app.faults.add(delay=0.15, times=None, path_prefix="/contacts/")
    registry = AccountRegistry()
    limits = {"max_concurrency": 1, "daily_limit": 1000}
    # two integrations, each with its own spec object and connector, one account
    async with connect(make_spec(rate_limit=limits), app, accounts=registry) as a, \
            connect(make_spec(rate_limit=limits), app, accounts=registry) as b:
        assert a.account is b.account
        assert list(registry) == [a.account]
        await get_all([(a, "1000001"), (b, "1000002"), (a, "1000003"), (b, "1000004")])
        assert a.account.requests_today() == 4
        assert a.account.daily_remaining == 996
    assert max_in_flight(app.requests.all()) == 1


async def test_different_credentials_are_different_accounts(sample_app: Any, make_spec: Any,
                                                            connect: Any) -> None:
    app = sample_app(n=10)  # no auth on the app: both tokens are let in
    app.faults.add(delay=0.15, times=None, path_prefix="/contacts/")
    registry = AccountRegistry()
    spec = make_spec(rate_limit={"max_concurrency": 1}, auth={"type": "none"})
    async with connect(spec, app, token="token-of-team-a", accounts=registry) as a, \
            connect(spec, app, token="token-of-team-b", accounts=registry) as b:
        assert a.account is not b.account
        assert len(list(registry)) == 2
        for c in (a, b):  # an account key may be logged: only a digest of the credentials is in it
            assert "token-of-team" not in c.account.key
            assert c.account.key.startswith(f"testapp@{app.url}#")
        await get_all([(a, "1000001"), (b, "1000002")])
        assert a.account.requests_today() == b.account.requests_today() == 1
    assert max_in_flight(app.requests.all()) == 2


async def test_separate_registries_do_not_share(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec()
    async with connect(spec, app) as a, connect(spec, app) as b:
        assert a.account is not b.account  # no registry given: each connector its own


async def test_requests_are_counted_per_day(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=20)
    app.faults.add(status=500, path_prefix="/contacts/1000001")
    registry = AccountRegistry()
    async with connect(make_spec(rate_limit={"daily_limit": 50}), app, accounts=registry) as c:
        await c.get("1000001")  # two attempts: a retry costs quota too
        pages = [p async for p in c.list()]  # 3 pages
        await c.get("999")  # a 404 is a request all the same
        account = c.account
    assert len(pages) == 3
    assert account.requests_today() == len(app.requests) == 6
    assert account.requests_by_day == {datetime.now(UTC).date(): 6}
    assert account.daily_remaining == 44


async def test_no_daily_limit_means_unlimited(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    async with connect(make_spec(), app) as c:
        await c.get("1000001")
        assert c.account.requests_today() == 1
        assert c.account.daily_remaining == float("inf")



async def test_a_reloaded_spec_with_new_limits_applies_them_keeping_the_count(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    registry = AccountRegistry()
    async with connect(make_spec(rate_limit={"max_concurrency": 1}), app, accounts=registry) as c:
        await c.get("1000001")
        before = c.account
    async with connect(make_spec(rate_limit={"max_concurrency": 4}), app, accounts=registry) as c:
        await c.get("1000002")
        after = c.account
    assert after is not before and after.key == before.key
    assert after.concurrency is not None and after.concurrency.total_tokens == 4
    assert after.requests_today() == 2  # the day's count goes on
