"""Reading ahead: the next page is asked for while the caller uses this one.

The server prepares page N+1 while the reader normalises page N and its
caller uses it. What the caller sees does not change: pages in order, an
error on a page after the pages before it, nothing asked for past
``max_pages``; a caller that stops or is cancelled takes the page ahead with it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import pytest

from syncd.connector import ApiError

pytestmark = pytest.mark.anyio

CURSOR = {
    "path": "/cursor/contacts", "params": {"limit": 7}, "records": "results",
    "pagination": {"type": "cursor", "cursor": "paging.next.after", "param": "after"},
}


def others() -> set[asyncio.Task[Any]]:
    """The reader's tasks (the page ahead) still running."""
    return {t for t in asyncio.all_tasks() if "_pages.<locals>.fetch" in t.get_coro().__qualname__}


async def settle(timeout: float = 2.0) -> None:
    """Wait until the reader's tasks have ended (a cancelled one included),
    for at most ``timeout`` seconds: the caller then asserts they did."""
    deadline = time.monotonic() + timeout
    while (running := others()) and (left := deadline - time.monotonic()) > 0:
        await asyncio.wait(running, timeout=left)


async def served(app: Any, count: int) -> None:
    """Wait until the app has served ``count`` requests (the event loop runs on meanwhile)."""
    await anyio.to_thread.run_sync(lambda: app.requests.wait_for(count))


async def all_served(app: Any) -> None:
    """Wait until the app has answered everything it was sent: call it once
    the client is closed; a request it did not send will not appear later."""
    await anyio.to_thread.run_sync(app.wait_idle)


async def test_the_next_page_is_asked_for_while_the_caller_uses_this_one(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)  # 5 pages of 7
    async with connect(make_spec(replace_list=CURSOR), app) as c:
        pages = c.list()
        first = await pages.__anext__()
        await served(app, 2)  # page 2 is asked for while the caller is on page 1
        await settle()  # and nothing more:
        assert len(app.requests) == 2
        rest = [page async for page in pages]
    assert [p.number for p in [first, *rest]] == [1, 2, 3, 4, 5]
    assert [r.id for p in [first, *rest] for r in p.records] == app.store.ids()
    assert len(app.requests) == 5  # once each, nothing past the last page


async def test_an_error_on_the_page_ahead_comes_after_the_page_before(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    app.faults.add(status=404, skip=1, path_prefix="/cursor/")  # page 2 fails (404: not retried)
    got: list[int] = []
    async with connect(make_spec(replace_list=CURSOR), app) as c:
        with pytest.raises(ApiError, match="404"):
            async for page in c.list():
                got.append(page.number)
    assert got == [1]
    assert not others()


async def test_a_caller_that_stops_early_takes_the_page_ahead_with_it(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    app.faults.add(delay=5.0, skip=1, path_prefix="/cursor/")  # page 2 is slow
    async with connect(make_spec(replace_list=CURSOR), app) as c:
        pages = c.list()
        await pages.__anext__()
        assert others()  # page 2 on its way
        started = time.monotonic()
        await pages.aclose()
        await settle()
        assert time.monotonic() - started < 1 and not others()
        # The connection the cancelled request was on is not reused.
        record = await c.get("1000001")
    assert record is not None and record.id == "1000001"


async def test_a_cancelled_caller_cancels_the_page_ahead(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    app.faults.add(delay=5.0, skip=1, path_prefix="/cursor/")
    got: list[int] = []
    async with connect(make_spec(replace_list=CURSOR), app) as c:
        started = time.monotonic()
        with anyio.move_on_after(0.3):
            async for page in c.list():
                got.append(page.number)
        await settle()
        assert time.monotonic() - started < 1 and not others()
    assert got == [1]


async def test_nothing_is_asked_for_past_max_pages(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    capped = {**CURSOR, "pagination": {**CURSOR["pagination"], "max_pages": 5}}
    async with connect(make_spec(replace_list=capped), app) as c:
        pages = [page async for page in c.list()]
        await settle()
    await all_served(app)
    assert len(pages) == 5 and len(app.requests) == 5


async def test_a_first_page_probe_does_not_read_ahead(sample_app: Any, make_spec: Any, connect: Any) -> None:
    from syncd.connector._probe import probe

    app = sample_app(n=30)
    async with connect(make_spec(replace_list=CURSOR), app) as c:
        result = await probe(c)
    await all_served(app)
    assert result.pages == 1 and result.more_pages
    assert len(app.requests) == 1  # `syncd check` costs one request a side
