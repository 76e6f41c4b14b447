"""A request that finds its account's rate limit and concurrency free goes
on without a trip through the event loop (anyio's ``acquire`` checkpoints
even then: a loop round per request, at rest most of a cycle's requests);
one that must wait still waits its turn."""

from __future__ import annotations

import anyio
import pytest

from syncd.config import RateLimitSpec
from syncd.connector._ratelimit import Account

pytestmark = pytest.mark.anyio


async def test_a_free_slot_is_taken_without_yielding_to_another_task() -> None:
    account = Account("app@http://x#0", RateLimitSpec(requests_per_second=1000, max_concurrency=2))
    ran: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _note(ran))  # runs at the first checkpoint of this task
        async with account.slot():
            assert ran == []  # nothing let the other task in
        await anyio.sleep(0)
    assert ran == ["other"]


async def test_a_slot_in_use_is_still_waited_for_in_turn() -> None:
    account = Account("app@http://x#0", RateLimitSpec(max_concurrency=1))
    order: list[int] = []

    async def request(n: int) -> None:
        async with account.slot():
            order.append(n)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(request, n)
            await anyio.sleep(0)  # started in this order
    assert order == [0, 1, 2, 3]


async def _note(ran: list[str]) -> None:
    ran.append("other")
