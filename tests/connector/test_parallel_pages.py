"""Pages fetched at once (a list's ``concurrency``), handed over in order.

Every test reads a real sample app over 127.0.0.1 and checks what its
request log saw: how many requests were inside the app at once, when each
arrived, which pages were asked for. What the caller gets must be what a
read of one page at a time gets: the same pages, in order, and on an error
the pages before the failed one and none after it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

import anyio
import pytest

from syncd.connector import ApiError, Page
from syncd.sampleapp import max_in_flight

pytestmark = pytest.mark.anyio

SIZE = 7
OFFSET = {
    "path": "/offset/contacts", "params": {"count": SIZE}, "records": "members",
    "pagination": {"type": "offset", "param": "offset", "limit_param": "count", "total": "total_items"},
    "concurrency": 4,
}
OFFSET_NO_TOTAL = {**OFFSET, "pagination": {"type": "offset", "param": "offset", "limit_param": "count"}}
PAGES = {
    "path": "/pages/contacts", "params": {"per_page": SIZE}, "records": "items",
    "pagination": {"type": "page_number", "param": "page", "total_pages": "meta.total_pages"},
    "concurrency": 4,
}
PAGES_NO_TOTAL = {**PAGES, "pagination": {"type": "page_number", "param": "page"}}
STYLES = {"offset": OFFSET, "offset_no_total": OFFSET_NO_TOTAL, "pages": PAGES, "pages_no_total": PAGES_NO_TOTAL}


def fetches() -> set[asyncio.Task[Any]]:
    """The reader's page fetches still running."""
    return {t for t in asyncio.all_tasks() if "_pages.<locals>.fetch" in t.get_coro().__qualname__}


async def no_fetch_left(timeout: float = 2.0) -> bool:
    """Whether every page fetch has ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (running := fetches()) and (left := deadline - time.monotonic()) > 0:
        await asyncio.wait(running, timeout=left)
    return not fetches()


async def read(c: Any) -> list[Page]:
    return [page async for page in c.list()]


async def read_while(c: Any, meanwhile: Callable[[], Awaitable[None]]) -> list[Page]:
    """Every page of ``c``'s list, read in a task while ``meanwhile`` runs (a test acting on the app)."""
    pages: list[Page] = []

    async def collect() -> None:
        pages.extend(await read(c))

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        await meanwhile()
    return pages


def ids(pages: list[Page]) -> list[str]:
    return [r.id for page in pages for r in page.records]


def list_requests(app: Any) -> list[Any]:
    return [r for r in app.requests.all() if r.path in ("/offset/contacts", "/pages/contacts")]


@pytest.mark.parametrize("style", STYLES)
async def test_parallel_pages_arrive_in_order_under_random_delays(
        sample_app: Any, make_spec: Any, connect: Any, style: str) -> None:
    app = sample_app(n=100)  # 15 pages of 7, the last one of 2
    async with connect(make_spec(replace_list={**STYLES[style], "concurrency": 1}), app) as c:
        one_at_a_time = await read(c)
    rng = random.Random(15)
    app.faults.add(delay=0.001, times=1)  # (a request per fault, in the order they arrive)
    for _ in range(30):
        app.faults.add(delay=rng.uniform(0.0, 0.08), times=1)
    app.requests.clear()
    async with connect(make_spec(replace_list=STYLES[style]), app) as c:
        pages = await read(c)
    assert [p.number for p in pages] == [p.number for p in one_at_a_time]
    assert ids(pages) == ids(one_at_a_time) == app.store.ids()
    assert 1 < max_in_flight(list_requests(app)) <= 4
    assert await no_fetch_left()


async def test_parallel_at_most_concurrency_requests_are_inside_the_app(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=100)
    held = app.faults.add(hold=True, times=None, path_prefix="/offset/contacts", skip=1)  # every page but the first
    async with connect(make_spec(replace_list=OFFSET), app) as c:
        async with aclosing(c.list()) as pages:
            first = await pages.__anext__()
            await anyio.to_thread.run_sync(lambda: app.faults.wait_hit(held, 4))  # pages 2-5 at once
            await anyio.sleep(0.3)
            assert held.hits == 4  # and no fifth while the caller is on page 1
            held.release()
            rest = [page async for page in pages]
    assert ids([first, *rest]) == app.store.ids()
    assert max_in_flight(list_requests(app)) <= 4


async def test_parallel_reads_keep_the_accounts_rate_limit(sample_app: Any, make_spec: Any, connect: Any) -> None:
    rate = 10
    app = sample_app(n=SIZE * 25)  # 25 pages (+ an empty one without a total): 2.4 s at 10 a second
    async with connect(make_spec(replace_list=OFFSET, rate_limit={"requests_per_second": rate}), app) as c:
        pages = await read(c)
    assert ids(pages) == app.store.ids()
    times = sorted(r.time for r in list_requests(app))
    assert len(times) == 25
    # Read at the app: arrival times bunch up a little on a loaded machine, never by a whole request.
    assert times[-1] - times[0] >= 0.9 * (len(times) - 1) / rate
    assert all(sum(1 for t in times if start <= t < start + 1) <= rate + 1 for start in times)


async def test_parallel_a_failed_page_hands_over_the_pages_before_it_only(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=100)
    broken = app.faults.add(status=500, times=None, path_prefix="/offset/contacts", query={"offset": 2 * SIZE})
    got: list[Page] = []
    async with connect(make_spec(replace_list=OFFSET), app) as c:
        with pytest.raises(ApiError) as raised:
            async for page in c.list():
                got.append(page)
        assert await no_fetch_left()  # the pages fetched after it were dropped, their tasks ended
    assert [p.number for p in got] == [1, 2]
    assert ids(got) == app.store.ids()[: 2 * SIZE]
    assert raised.value.status == 500
    assert "page 3 of the read" in str(raised.value)
    assert broken.hits == 4  # every retry (FAST_RETRY: 4 attempts)
    asked = {r.query["offset"] for r in list_requests(app)}
    assert str(3 * SIZE) in asked  # page 4 was fetched meanwhile, and not handed over


async def test_parallel_a_caller_that_stops_takes_every_fetch_with_it(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=100)
    held = app.faults.add(hold=True, times=None, path_prefix="/offset/contacts", skip=1)
    async with connect(make_spec(replace_list=OFFSET), app) as c:
        async with aclosing(c.list()) as pages:
            await pages.__anext__()
            await anyio.to_thread.run_sync(lambda: app.faults.wait_hit(held, 4))
        assert await no_fetch_left()
        held.release()


async def test_parallel_429_retry_after_pauses_every_page_fetch_of_the_account(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=100)
    # Page 2 is held until page 3 has been refused: the caller then takes
    # page 2 and the window asks for page 6, which must wait out the pause too.
    held = app.faults.add(hold=True, path_prefix="/offset/contacts", query={"offset": SIZE})
    refused = app.faults.add(status=429, retry_after="1", path_prefix="/offset/contacts",
                             query={"offset": 2 * SIZE})
    async def refuse_then_release() -> None:
        await anyio.to_thread.run_sync(lambda: app.faults.wait_hit(refused))
        await anyio.sleep(0.2)  # the 429 reaches the client
        held.release()

    async with connect(make_spec(replace_list=OFFSET), app) as c:
        pages = await read_while(c, refuse_then_release)
    assert ids(pages) == app.store.ids()
    log = list_requests(app)
    [answer] = [r for r in log if r.status == 429]
    answered = answer.time + answer.duration
    after = [r for r in log if r.time > answered + 0.1]  # (those sent before the 429 came back aside)
    assert {r.query["offset"] for r in after} >= {str(2 * SIZE), str(5 * SIZE)}  # page 3's retry, page 6
    assert min(r.time for r in after) >= answered + 0.9


@pytest.mark.parametrize("style", ["offset", "pages"])
@pytest.mark.parametrize("n", [SIZE * 10, SIZE * 10 - 4])
async def test_parallel_a_known_total_stops_exactly_at_the_last_page(
        sample_app: Any, make_spec: Any, connect: Any, style: str, n: int) -> None:
    app = sample_app(n=n)
    async with connect(make_spec(replace_list=STYLES[style]), app) as c:
        pages = await read(c)
        assert not c.last_run_has_more
    assert [p.number for p in pages] == list(range(1, 11))
    assert ids(pages) == app.store.ids()
    assert len(list_requests(app)) == 10  # nothing asked for past the last page


@pytest.mark.parametrize("style", ["offset_no_total", "pages_no_total"])
async def test_parallel_without_a_total_the_first_short_page_ends_the_read(
        sample_app: Any, make_spec: Any, connect: Any, style: str) -> None:
    app = sample_app(n=SIZE * 10 - 4)  # page 10 is short
    async with connect(make_spec(replace_list=STYLES[style]), app) as c:
        pages = await read(c)
        assert await no_fetch_left()
    assert [p.number for p in pages] == list(range(1, 11))
    assert ids(pages) == app.store.ids()  # pages fetched past the end were not handed over
    assert len(list_requests(app)) >= 10


async def test_parallel_max_pages_asks_for_no_page_past_it(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=100)
    spec = make_spec(replace_list={**OFFSET, "pagination": {**OFFSET["pagination"], "max_pages": 3}})
    got: list[Page] = []
    async with connect(spec, app) as c:
        with pytest.raises(Exception, match="max_pages=3"):
            async for page in c.list():
                got.append(page)
    assert [p.number for p in got] == [1, 2, 3]
    assert len(list_requests(app)) == 3


async def test_parallel_a_guess_the_read_does_not_confirm_is_dropped(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # The app starts answering shorter pages while pages 2 and 3 are inside
    # it: page 2 is short though the total says more, so page 3 was asked for
    # at the wrong offset. It is dropped, and the read goes on from the offset
    # page 2 gives, as a read of one page at a time does.
    app = sample_app(n=40)
    held = app.faults.add(hold=True, times=2, path_prefix="/offset/contacts", skip=1)
    async with connect(make_spec(replace_list={**OFFSET, "concurrency": 2}), app) as c:
        async with aclosing(c.list()) as pages:
            first = await pages.__anext__()
            await anyio.to_thread.run_sync(lambda: app.faults.wait_hit(held, 2))
            app.max_page_size = 3
            held.release()
            rest = [page async for page in pages]
        assert await no_fetch_left()
    assert ids([first, *rest]) == app.store.ids()
    assert [len(p.records) for p in rest][:2] == [3, 3]
    assert [p.number for p in rest] == list(range(2, len(rest) + 2))


async def test_parallel_a_page_size_capped_by_the_app_is_guessed_from_the_first_page(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=40, max_page_size=5, default_page_size=5)  # asked for 7 a page, the app answers 5
    async with connect(make_spec(replace_list=OFFSET), app) as c:
        pages = await read(c)
    assert ids(pages) == app.store.ids()
    assert sorted(int(r.query["offset"]) for r in list_requests(app)) == list(range(0, 40, 5))


async def test_parallel_an_error_past_the_end_of_the_data_is_not_the_reads(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # Without a total, pages past the end are asked for before the short page
    # that ends the read is seen; an API that refuses them (a 400 for an offset
    # out of range) must not fail a read that one page at a time would finish.
    app = sample_app(n=SIZE * 10 - 4)
    last = app.faults.add(hold=True, path_prefix="/offset/contacts", query={"offset": 9 * SIZE})
    refused = app.faults.add(status=400, times=None, path_prefix="/offset/contacts", query={"offset": 10 * SIZE})
    async def refuse_then_release() -> None:
        await anyio.to_thread.run_sync(lambda: app.faults.wait_hit(refused))  # asked for, refused
        last.release()  # and only then is the short page that ends the read seen

    async with connect(make_spec(replace_list=OFFSET_NO_TOTAL), app) as c:
        pages = await read_while(c, refuse_then_release)
        assert await no_fetch_left()
    assert ids(pages) == app.store.ids()
    assert [p.number for p in pages] == list(range(1, 11))
