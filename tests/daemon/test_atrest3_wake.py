"""The runner's wait for its next cycle (``_Wake``): a time or a wake-up
(stop, recheck, ``syncd sync``), whichever comes first, on the event loop."""

from __future__ import annotations

import time

import anyio
import pytest

from syncd.daemon._runner import _Wake

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the daemon's loop (its HTTP transport is asyncio's streams too)


async def test_the_time_comes_first() -> None:
    start = time.monotonic()
    await _Wake().wait(0.05)
    assert 0.04 <= time.monotonic() - start < 2


async def test_a_wake_up_ends_the_wait_at_once_and_one_before_it_too() -> None:
    wake = _Wake()
    async with anyio.create_task_group() as tg:
        tg.start_soon(wake.wait, 60)
        await anyio.sleep(0.01)
        start = time.monotonic()
        wake.set()
    assert time.monotonic() - start < 2
    early = _Wake()
    early.set()
    with anyio.fail_after(2):
        await early.wait(60)


async def test_a_cancelled_wait_leaves_no_timer() -> None:
    wake = _Wake()
    with anyio.move_on_after(0.01):
        await wake.wait(60)
    assert wake._waiter is None
    wake.set()  # after the wait: nothing to wake, no error
